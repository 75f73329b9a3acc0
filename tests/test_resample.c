/* resample_crop against Pillow: fixtures/resample.ref (made by
 * tests/make_resample_fixtures.py with Debian's python3-pil) holds small
 * random images of each mode clippie resizes (grey, grey + alpha, RGB,
 * RGBA, CMYK, palette, 16-bit grey), and the bytes Pillow's
 * resize(BICUBIC) + crop makes of them: they must be equal, byte for byte.
 * Plus the crop's own bookkeeping: the output size, and alpha 0 left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "resample.h"
#include "util.h"

struct reader {
    unsigned char *buf;
    size_t len, pos;
};

static int take_u32(struct reader *r, int *v)
{
    if (r->len - r->pos < 4)
        return -1;
    const unsigned char *p = r->buf + r->pos;
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    r->pos += 4;
    *v = u <= 1 << 20 ? (int)u : -1;
    return *v < 0 ? -1 : 0;
}

static const unsigned char *take(struct reader *r, size_t n)
{
    if (r->len - r->pos < n)
        return NULL;
    r->pos += n;
    return r->buf + r->pos - n;
}

static const char *const kinds[] = {"plain", "palette", "grey16", "CMYK"};

/* One case of the file: 1 when read and checked, 0 at the end, -1 when the file is cut short */
static int run_case(struct reader *r, int n)
{
    int f[9]; /* kind w h nw nh left top R c */
    for (int k = 0; k < 9; k++)
        if (take_u32(r, &f[k]) < 0)
            return k == 0 && r->pos == r->len ? 0 : -1;
    int kind = f[0], w = f[1], h = f[2], R = f[7], c = f[8], grey16 = kind == 2;
    size_t in_len = (size_t)w * h * c * (grey16 ? 2 : 1), out_len = (size_t)R * R * c;
    const unsigned char *in = take(r, in_len), *want = take(r, out_len);
    if (kind > 3 || !in || !want)
        return -1;
    struct decoder_pixels im = {.px = malloc(in_len), .w = w, .h = h, .c = c, .palette = kind == 1,
                                .grey16 = grey16, .cmyk = kind == 3};
    for (size_t i = 0; grey16 && i < in_len / 2; i++) /* little-endian in the file, native in the pixels */
        ((uint16_t *)im.px)[i] = (uint16_t)(in[2 * i] | in[2 * i + 1] << 8);
    if (!grey16)
        memcpy(im.px, in, in_len);
    char err[ERR_LEN];
    int rc = resample_crop(&im, f[3], f[4], f[5], f[6], R, err);
    CHECK(rc == 0 && im.w == R && im.h == R && im.c == c, "case %d (%s %d x %d, c %d): rc %d, %d x %d x %d", n,
          kinds[kind], w, h, c, rc, im.w, im.h, im.c);
    size_t bad = 0, first = 0;
    for (size_t i = 0; rc == 0 && i < out_len; i++)
        if (im.px[i] != want[i] && !bad++)
            first = i;
    CHECK(rc == 0 && bad == 0, "case %d (%s %d x %d c %d to %d x %d, crop %d at %d, %d): %zu of %zu bytes differ, "
          "the first at %zu: %d, Pillow %d", n, kinds[kind], w, h, c, f[3], f[4], R, f[5], f[6], bad, out_len, first,
          rc == 0 ? im.px[first] : -1, want[first]);
    free(im.px);
    return 1;
}

static void test_pillow(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/resample.ref", dir);
    struct reader r = {0};
    char err[ERR_LEN];
    CHECK(util_read_file(path, 1 << 20, &r.buf, &r.len, err) == 0, "%s", err);
    int n = 0, rc = -1;
    while (r.buf && (rc = run_case(&r, n)) > 0)
        n++;
    CHECK(r.buf && rc == 0 && n == 49, "%s: %d cases, then %s", path, n, rc < 0 ? "cut short" : "the end");
    free(r.buf);
}

/* An image of one opaque colour keeps it, down and up, premultiplied or
 * not: each output pixel's weights sum to one (a check with no Pillow in
 * it). */
static void test_flat(void)
{
    static const int sizes[][5] = {{30, 20, 15, 10, 10}, {7, 5, 28, 20, 20}, {333, 100, 67, 20, 20}};
    for (int s = 0; s < 3; s++)
        for (int c = 3; c <= 4; c++) {
            const int *z = sizes[s];
            struct decoder_pixels im = {.px = malloc((size_t)z[0] * z[1] * c), .w = z[0], .h = z[1], .c = c};
            for (int p = 0; p < z[0] * z[1]; p++)
                memcpy(im.px + p * c, "\x40\x81\xc7\xff", (size_t)c);
            char err[ERR_LEN];
            int rc = resample_crop(&im, z[2], z[3], 0, 0, z[4], err), same = rc == 0;
            for (int p = 0; same && p < z[4] * z[4]; p++)
                same = !memcmp(im.px + p * c, "\x40\x81\xc7\xff", (size_t)c);
            CHECK(same, "flat %d x %d x %d to %d x %d changed colour (rc %d)", z[0], z[1], c, z[2], z[3], rc);
            free(im.px);
        }
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/fixtures";
    test_pillow(dir);
    test_flat();
    return check_done("test_resample");
}
