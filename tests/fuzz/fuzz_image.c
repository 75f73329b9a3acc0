/* libFuzzer target: image decoding, EXIF and preprocessing. */
#include <stdint.h>
#include <stdlib.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static float px[3 * 32 * 32];
    char err[ERR_LEN];
    /* small limits keep each run fast; the code paths are the same */
    struct image_opts o = {.resolution = 32, .exif = 1, .max_pixels = 1 << 20};
    image_preprocess(data, size, &o, px, err);
    return 0;
}
