/* pixels: what image_preprocess makes of one file, for comparisons with
 * Pillow (tests/pillow_corpus.py): 3 x RES x RES float32 to stdout, or the
 * error on stderr and exit 1. EXIF orientation is not applied, as
 * `embed-image --no-exif-orientation` reads photos.
 *
 *     tests/pixels RES FILE > pixels.f32
 */
#include <stdio.h>
#include <stdlib.h>

#include "image.h"
#include "util.h"

int main(int argc, char **argv)
{
    int res = argc == 3 ? atoi(argv[1]) : 0;
    if (res < 1 || res > 1024) {
        fprintf(stderr, "usage: pixels RES FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 2;
    }
    size_t len = 0, cap = 1 << 16;
    unsigned char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + len, 1, cap - len, f)) > 0;)
        if ((len += got) == cap)
            buf = realloc(buf, cap *= 2);
    fclose(f);
    float *px = malloc(3 * sizeof *px * (size_t)res * (size_t)res);
    char err[ERR_LEN] = "";
    struct image_opts o = {.resolution = res, .exif = 0, .max_pixels = IMAGE_MAX_PIXELS};
    if (!buf || !px) {
        fprintf(stderr, "out of memory\n");
        return 2;
    }
    int rc = image_preprocess(buf, len, &o, px, err);
    if (rc == 0)
        fwrite(px, sizeof *px, 3 * (size_t)res * (size_t)res, stdout);
    else
        fprintf(stderr, "%s\n", err);
    free(buf);
    free(px);
    return rc == 0 ? 0 : 1;
}
