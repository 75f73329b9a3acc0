/* libFuzzer target: fuzz_image's, over a corpus of camera RAW files (rawimg.c's glue). */
#include "fuzz_image.c"
