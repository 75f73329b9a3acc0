/* libFuzzer target: fuzz_image's, over a corpus of GIF files (gifimg.c's LZW decoder). */
#include "fuzz_image.c"
