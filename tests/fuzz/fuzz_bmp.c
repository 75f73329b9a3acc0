/* libFuzzer target: fuzz_image's, over a corpus of BMP and DIB files (bmpimg.c). */
#include "fuzz_image.c"
