/* resample.c - Pillow's resampling (Resample.c's bicubic, ImagingScaleAffine's
 * nearest, the RGBA <-> RGBa conversions) to a crop; see resample.h. */
#include "resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2) /* Pillow's fixed point for 8-bit resampling */

static double bicubic(double x)
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Pillow's precompute_coeffs for the n output positions from first on of
 * a resize from in to out pixels: for each, the first input index, the
 * count, and weights that sum to 1. Each position's depend on it alone, so
 * a crop costs what it keeps, whatever out is. On failure the caller frees
 * whatever *bounds and *kk hold. */
static int coeffs_d(int in, int out, int first, int n, int **bounds, double **kk)
{
    double scale = (double)in / out, fscale = scale < 1.0 ? 1.0 : scale, support = 2.0 * fscale;
    int ksize = (int)ceil(support) * 2 + 1;
    *bounds = malloc((size_t)n * 2 * sizeof **bounds);
    *kk = malloc((size_t)n * ksize * sizeof **kk);
    if (!*bounds || !*kk)
        return -1;
    for (int i = 0; i < n; i++) {
        double center = (first + i + 0.5) * scale, ww = 0.0, *k = *kk + (size_t)i * ksize;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        xmin = xmin < 0 ? 0 : xmin;
        xmax = (xmax > in ? in : xmax) - xmin;
        for (int x = 0; x < xmax; x++)
            ww += k[x] = bicubic((x + xmin - center + 0.5) * (1.0 / fscale)); /* as Pillow: not / fscale */
        for (int x = 0; x < ksize; x++)
            k[x] = x < xmax && ww != 0.0 ? k[x] / ww : 0.0;
        (*bounds)[2 * i] = xmin;
        (*bounds)[2 * i + 1] = xmax;
    }
    return ksize;
}

/* The same weights in Pillow's 8-bit fixed point (normalize_coeffs_8bpc). */
static int coeffs(int in, int out, int first, int n, int **bounds, int32_t **kk)
{
    double *d = NULL;
    int ksize = coeffs_d(in, out, first, n, bounds, &d);
    *kk = ksize < 0 ? NULL : malloc((size_t)n * ksize * sizeof **kk);
    for (size_t x = 0; *kk && x < (size_t)n * ksize; x++)
        (*kk)[x] = (int32_t)(d[x] < 0 ? -0.5 + d[x] * (1 << PRECISION_BITS) : 0.5 + d[x] * (1 << PRECISION_BITS));
    free(d);
    return *kk ? ksize : -1;
}

static unsigned char clip8(int32_t v)
{
    v >>= PRECISION_BITS;
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Sums stay in int32 as in Pillow: the weights of a pixel add up to
 * 1 << PRECISION_BITS and their magnitudes to less than 1.3 times that. */
#define HALF (1 << (PRECISION_BITS - 1))

/* The horizontal pass for c channels (a constant where inlined): out's rows
 * are in's rows from y0 on, its columns those bounds and kk describe. */
static inline void resample_h(const struct decoder_pixels *in, int y0, struct decoder_pixels *out, const int *bounds, const int32_t *kk,
                              int ksize, int c)
{
    for (int y = 0; y < out->h; y++) {
        const unsigned char *row = in->px + (size_t)(y0 + y) * in->w * c;
        unsigned char *o = out->px + (size_t)y * out->w * c;
        for (int x = 0; x < out->w; x++) {
            const int32_t *k = kk + (size_t)x * ksize;
            const unsigned char *p = row + (size_t)bounds[2 * x] * c;
            int32_t ss[4] = {HALF, HALF, HALF, HALF};
            for (int i = 0; i < bounds[2 * x + 1]; i++)
                for (int ch = 0; ch < c; ch++)
                    ss[ch] += p[i * c + ch] * k[i];
            for (int ch = 0; ch < c; ch++)
                o[x * c + ch] = clip8(ss[ch]);
        }
    }
}

/* The vertical pass, whole rows at a time (which vectorises): out's rows
 * are those bounds and kk describe; in holds the input rows from ybase on. */
static void resample_v(const struct decoder_pixels *in, int ybase, struct decoder_pixels *out, const int *bounds, const int32_t *kk,
                       int ksize, int32_t *acc)
{
    size_t len = (size_t)in->w * in->c;
    for (int y = 0; y < out->h; y++) {
        const int32_t *k = kk + (size_t)y * ksize;
        for (size_t e = 0; e < len; e++)
            acc[e] = HALF;
        for (int i = 0; i < bounds[2 * y + 1]; i++) {
            const unsigned char *r = in->px + (size_t)(bounds[2 * y] - ybase + i) * len;
            int32_t w = k[i];
            for (size_t e = 0; e < len; e++)
                acc[e] += r[e] * w;
        }
        unsigned char *o = out->px + (size_t)y * len;
        for (size_t e = 0; e < len; e++)
            o[e] = clip8(acc[e]);
    }
}

/* Pillow's Image.resize(size, BICUBIC) to nw x nh (a pass only along an axis
 * whose size changes, horizontal first), then torchvision's R x R crop at
 * (left, top); only the kept pixels are computed, which gives the same
 * values: every output pixel of a pass has its own weights. Memory and time
 * go with R and the input rows the crop reads, not with nw x nh. */
static int resize_bicubic(struct decoder_pixels *im, int nw, int nh, int left, int top, int R)
{
    int c = im->c, rc = -1, hks = 0, vks = 0, *hb = NULL, *vb = NULL;
    int32_t *hk = NULL, *vk = NULL, *acc = NULL;
    struct decoder_pixels h = {0}, v = {0};
    /* the input rows the kept output rows read */
    int y0 = top, y1 = top + R;
    if (im->h != nh) {
        if ((vks = coeffs(im->h, nh, top, R, &vb, &vk)) < 0)
            goto done;
        y0 = vb[0];
        y1 = 0;
        for (int y = 0; y < R; y++)
            y1 = vb[2 * y] + vb[2 * y + 1] > y1 ? vb[2 * y] + vb[2 * y + 1] : y1;
    }
    h = (struct decoder_pixels){.px = malloc((size_t)R * (y1 - y0) * c), .w = R, .h = y1 - y0, .c = c, .cmyk = im->cmyk};
    if (!h.px)
        goto done;
    if (im->w != nw) {
        if ((hks = coeffs(im->w, nw, left, R, &hb, &hk)) < 0)
            goto done;
        switch (c) {
        case 1: resample_h(im, y0, &h, hb, hk, hks, 1); break;
        case 2: resample_h(im, y0, &h, hb, hk, hks, 2); break;
        case 3: resample_h(im, y0, &h, hb, hk, hks, 3); break;
        default: resample_h(im, y0, &h, hb, hk, hks, 4); break;
        }
    } else
        for (int y = 0; y < h.h; y++)
            memcpy(h.px + (size_t)y * R * c, im->px + ((size_t)(y0 + y) * im->w + left) * c, (size_t)R * c);
    if (im->h != nh) {
        v = (struct decoder_pixels){.px = malloc((size_t)R * R * c), .w = R, .h = R, .c = c, .cmyk = im->cmyk};
        if (!v.px || !(acc = malloc((size_t)R * c * sizeof *acc)))
            goto done;
        resample_v(&h, y0, &v, vb, vk, vks, acc);
        free(h.px);
        h = v;
        v.px = NULL;
    }
    free(im->px);
    *im = h;
    h.px = NULL;
    rc = 0;
done:
    free(h.px);
    free(v.px);
    free(acc);
    free(hb);
    free(hk);
    free(vb);
    free(vk);
    return rc;
}

/* Pillow's rounding of its 32-bit resampling passes (ROUND_UP) */
static int32_t round_up(double v) { return (int32_t)(v >= 0.0 ? v + 0.5f : v - 0.5f); }

/* The resize and crop of resize_bicubic for 16-bit grey held as Pillow's mode
 * "I" (32-bit ints): double weights, each pass rounded, nothing clipped
 * till the crop becomes 8-bit grey, clamped to 0..255 as Pillow's "I" to
 * "RGB" conversion does (so that most of a 16-bit image is white, as in
 * the reference). */
static int resize_i32(struct decoder_pixels *im, int nw, int nh, int left, int top, int R)
{
    const uint16_t *in = (const uint16_t *)im->px;
    int rc = -1, hks = 0, vks = 0, *hb = NULL, *vb = NULL, y0 = top, y1 = top + R;
    double *hk = NULL, *vk = NULL;
    int32_t *h = NULL;
    unsigned char *out = malloc((size_t)R * R);
    if (!out || (im->h != nh && (vks = coeffs_d(im->h, nh, top, R, &vb, &vk)) < 0) ||
        (im->w != nw && (hks = coeffs_d(im->w, nw, left, R, &hb, &hk)) < 0))
        goto done;
    if (im->h != nh) { /* the input rows the kept output rows read */
        y0 = vb[0], y1 = 0;
        for (int y = 0; y < R; y++)
            y1 = vb[2 * y] + vb[2 * y + 1] > y1 ? vb[2 * y] + vb[2 * y + 1] : y1;
    }
    if (!(h = malloc((size_t)R * (y1 - y0) * sizeof *h)))
        goto done;
    for (int y = y0; y < y1; y++) /* horizontal pass, or the crop's columns */
        for (int x = 0; x < R; x++) {
            const uint16_t *row = in + (size_t)y * im->w;
            double ss = 0.0;
            for (int i = 0; im->w != nw && i < hb[2 * x + 1]; i++)
                ss += row[hb[2 * x] + i] * hk[(size_t)x * hks + i];
            h[(size_t)(y - y0) * R + x] = im->w != nw ? round_up(ss) : row[left + x];
        }
    for (int y = 0; y < R; y++) /* vertical pass, or the crop's rows */
        for (int x = 0; x < R; x++) {
            double ss = 0.0;
            for (int i = 0; im->h != nh && i < vb[2 * y + 1]; i++)
                ss += h[(size_t)(vb[2 * y] - y0 + i) * R + x] * vk[(size_t)y * vks + i];
            int32_t v = im->h != nh ? round_up(ss) : h[(size_t)y * R + x];
            out[(size_t)y * R + x] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    free(im->px);
    *im = (struct decoder_pixels){.px = out, .w = R, .h = R, .c = 1};
    out = NULL;
    rc = 0;
done:
    free(out);
    free(h);
    free(hb);
    free(hk);
    free(vb);
    free(vk);
    return rc;
}

/* Pillow's NEAREST resize (ImagingScaleAffine) of n positions from a
 * resize of in to out pixels, from first on: source positions accumulated
 * from the first pixel centre, as Pillow does (which a product would not
 * always equal), so the time goes with first + n. */
static void nearest_index(int in, int out, int first, int n, int *idx)
{
    double s = (double)in / out, pos = s * 0.5;
    for (int x = 0; x < first + n; x++, pos += s)
        if (x >= first)
            idx[x - first] = (int)pos < in ? (int)pos : in - 1;
}

/* Pillow's NEAREST resize to nw x nh, used for palette images, and the
 * R x R crop at (left, top), which is all it computes. */
static int resize_nearest(struct decoder_pixels *im, int nw, int nh, int left, int top, int R)
{
    unsigned char *out = malloc((size_t)R * R * im->c);
    int *xin = malloc((size_t)R * sizeof *xin), *yin = malloc((size_t)R * sizeof *yin);
    if (!out || !xin || !yin) {
        free(out);
        free(xin);
        free(yin);
        return -1;
    }
    nearest_index(im->w, nw, left, R, xin);
    nearest_index(im->h, nh, top, R, yin);
    for (int y = 0; y < R; y++)
        for (int x = 0; x < R; x++)
            memcpy(out + ((size_t)y * R + x) * im->c, im->px + ((size_t)yin[y] * im->w + xin[x]) * im->c,
                   (size_t)im->c);
    free(xin);
    free(yin);
    free(im->px);
    *im = (struct decoder_pixels){.px = out, .w = R, .h = R, .c = im->c, .cmyk = im->cmyk};
    return 0;
}

/* Pillow's RGBA <-> RGBa (premultiplied) conversions, alpha last. */
static void premultiply(struct decoder_pixels *im, int undo)
{
    int a = im->c - 1;
    for (size_t p = 0; p < (size_t)im->w * im->h; p++) {
        unsigned char *px = im->px + p * im->c;
        unsigned alpha = px[a], tmp;
        for (int ch = 0; ch < a; ch++) {
            if (!undo) {
                tmp = px[ch] * alpha + 128;
                px[ch] = (unsigned char)(((tmp >> 8) + tmp) >> 8);
            } else if (alpha != 255 && alpha != 0) {
                unsigned v = 255 * px[ch] / alpha;
                px[ch] = (unsigned char)(v > 255 ? 255 : v);
            }
        }
    }
}

int resample_crop(struct decoder_pixels *im, int nw, int nh, int left, int top, int R, char *err)
{
    if (im->grey16)
        return resize_i32(im, nw, nh, left, top, R) < 0 ? error(err, "out of memory resizing") : 0;
    if (im->palette)
        return resize_nearest(im, nw, nh, left, top, R) < 0 ? error(err, "out of memory resizing") : 0;
    int alpha = (im->c == 2 || (im->c == 4 && !im->cmyk)) && (im->w != nw || im->h != nh);
    if (alpha)
        premultiply(im, 0);
    if (resize_bicubic(im, nw, nh, left, top, R) < 0)
        return error(err, "out of memory resizing a %d x %d image", im->w, im->h);
    if (alpha)
        premultiply(im, 1);
    return 0;
}
