/* libFuzzer target: fuzz_image's, over a corpus of PNG files (pngcheck.c's chunk checks, stb_image). */
#include "fuzz_image.c"
