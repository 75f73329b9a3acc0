/* libFuzzer target: fuzz_image's, over a corpus of TGA files (tgaimg.c, told by its header fields). */
#include "fuzz_image.c"
