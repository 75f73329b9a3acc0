/* libFuzzer target: fuzz_image's, over a corpus of WebP files (webpimg.c's glue). */
#include "fuzz_image.c"
