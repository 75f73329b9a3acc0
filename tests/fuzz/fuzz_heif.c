/* libFuzzer target: fuzz_image's, over a corpus of HEIC and AVIF files (heifimg.c's glue). */
#include "fuzz_image.c"
