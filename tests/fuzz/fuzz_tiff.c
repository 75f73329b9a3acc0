/* libFuzzer target: fuzz_image's, over a corpus of TIFF files (tiffimg.c's glue). */
#include "fuzz_image.c"
