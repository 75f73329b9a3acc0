/* libFuzzer target: fuzz_image's, over a corpus of PBM, PGM and PPM files (pnmimg.c). */
#include "fuzz_image.c"
