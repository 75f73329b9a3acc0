#include "image.h"

#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h> /* before jpeglib.h, which needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "bmpimg.h"
#include "gifimg.h"
#include "heifimg.h"
#include "pngcheck.h"
#include "pnmimg.h"
#include "rawimg.h"
#include "stbimage.h"
#include "tgaimg.h"
#include "tiffimg.h"
#include "webpimg.h"

#define PRECISION_BITS (32 - 8 - 2) /* Pillow's fixed point for 8-bit resampling */

static const float openai_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float openai_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

/* ---- EXIF ---- */

static unsigned tiff_u16(const unsigned char *p, int le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }
static uint32_t tiff_u32(const unsigned char *p, int le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The offset of tag's entry in the first IFD of the (classic) TIFF
 * structure t of n bytes, 0 when it has none. */
static size_t tiff_tag(const unsigned char *t, size_t n, unsigned tag)
{
    if (n < 8 || (memcmp(t, "II*\0", 4) && memcmp(t, "MM\0*", 4)))
        return 0;
    int le = t[0] == 'I';
    uint32_t ifd = tiff_u32(t + 4, le);
    if (ifd > n - 2)
        return 0;
    unsigned count = tiff_u16(t + ifd, le);
    for (unsigned k = 0; k < count; k++) {
        size_t e = ifd + 2 + (size_t)k * 12;
        if (e + 12 > n)
            return 0;
        if (tiff_u16(t + e, le) == tag)
            return e;
    }
    return 0;
}

int image_tiff_orientation(const unsigned char *t, size_t n)
{
    size_t e = tiff_tag(t, n, 0x0112);
    int le = n > 0 && t[0] == 'I';
    if (!e || tiff_u16(t + e + 2, le) != 3)
        return 1;
    unsigned v = tiff_u16(t + e + 8, le);
    return v >= 1 && v <= 8 ? (int)v : 1;
}

/* Calls fn on each JPEG marker segment before the image data (seg points
 * past the length field) until fn returns nonzero; returns that, or 0. */
static int jpeg_segments(const unsigned char *buf, size_t len,
                         int (*fn)(unsigned marker, const unsigned char *seg, size_t n, void *ctx), void *ctx)
{
    if (len < 4 || buf[0] != 0xff || buf[1] != 0xd8)
        return 0;
    for (size_t p = 2; p + 4 <= len;) {
        if (buf[p] != 0xff)
            return 0;
        unsigned marker = buf[p + 1];
        if (marker == 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker == 0x01 || marker == 0xff) {
            p += marker == 0xff ? 1 : 2;
            continue;
        }
        if (marker == 0xda || marker == 0xd9)
            return 0;
        size_t seg = (size_t)buf[p + 2] << 8 | buf[p + 3];
        if (seg < 2 || seg > len - p - 2)
            return 0;
        int r = fn(marker, buf + p + 4, seg - 2, ctx);
        if (r)
            return r;
        p += 2 + seg;
    }
    return 0;
}

static int exif_segment(unsigned marker, const unsigned char *seg, size_t n, void *ctx)
{
    (void)ctx;
    if (marker != 0xe1 || n < 6 || memcmp(seg, "Exif\0\0", 6))
        return 0;
    return image_tiff_orientation(seg + 6, n - 6);
}

/* The EXIF orientation (1..8) of a JPEG, 1 when it has none. */
static int exif_orientation(const unsigned char *buf, size_t len)
{
    int o = jpeg_segments(buf, len, exif_segment, NULL);
    return o ? o : 1;
}

static int sof_segment(unsigned marker, const unsigned char *seg, size_t n, void *ctx)
{
    /* SOF0..SOF15 but DHT (c4), JPG (c8) and DAC (cc): precision, height, width */
    if (marker < 0xc0 || marker > 0xcf || marker == 0xc4 || marker == 0xc8 || marker == 0xcc || n < 5)
        return 0;
    uint64_t *wh = ctx;
    wh[0] = (uint64_t)seg[3] << 8 | seg[4];
    wh[1] = (uint64_t)seg[1] << 8 | seg[2];
    return 1;
}

/* ---- formats, by their magic bytes ---- */

enum format { JPEG = 1, PNG, GIF, BMP, PNM, WEBP, TIFF, HEIF, RAW, TGA };

/* What a file's header says, read before any decoder runs. */
struct header {
    enum format format;
    uint64_t w, h;  /* 0 x 0 for a JPEG whose frame header is not found: libjpeg checks it */
    int palette;    /* Pillow opens it in mode "P", which it resizes with nearest neighbour */
    int tiff;       /* a RAW that is a TIFF: read as one when LibRaw does not know it */
    int grey16;     /* a 16-bit grey PNG: Pillow's mode "I" */
    int channels;   /* what stb_image is to make, 0: as many as the file has */
};

/* PNG: IHDR's size, bit depth (b[24]) and colour type (b[25]). Pillow opens
 * colour type 3 as mode "P" and 1-bit grey as mode "1", both resized with
 * nearest neighbour; a tRNS colour of grey or RGB it keeps apart from the
 * pixels (the image stays "L" or "RGB", resized without alpha), so those
 * are decoded to the colour type's own channels. */
static void png_header(const unsigned char *b, struct header *hd)
{
    static const int channels[7] = {1, 0, 3, 0, 2, 0, 4}; /* by colour type; 3: RGB(A) from the palette */
    int depth = b[24], type = b[25];
    *hd = (struct header){.format = PNG, .w = load_be32(b + 16), .h = load_be32(b + 20),
                          .palette = type == 3 || (type == 0 && depth == 1), .grey16 = depth == 16 && type == 0,
                          .channels = type < 7 ? channels[type] : 0};
}

/* HEIF and AVIF: an ISO-BMFF file whose first box is ftyp with one of
 * their major brands (mif1 and msf1 are the generic HEIF ones). */
static int heif_brand(const unsigned char *b, size_t len)
{
    static const char brands[][5] = {"heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs",
                                     "mif1", "msf1", "avif", "avis"};
    if (len < 12 || memcmp(b + 4, "ftyp", 4))
        return 0;
    for (size_t k = 0; k < sizeof brands / sizeof brands[0]; k++)
        if (!memcmp(b + 8, brands[k], 4))
            return 1;
    return 0;
}

/* Camera RAW: Fujifilm's RAF, Olympus's ORF, Panasonic's RW2, Canon's CR3
 * (ISO-BMFF), CR2 (a TIFF marked "CR" after its header), and TIFFs with a
 * DNGVersion tag or SubIFDs, where cameras keep the raw image (NEF, ARW,
 * PEF...): *tiff tells that LibRaw may turn out not to know it. */
static int raw_magic(const unsigned char *b, size_t len, int *tiff)
{
    *tiff = len >= 8 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4));
    if (*tiff)
        return (len >= 10 && b[8] == 'C' && b[9] == 'R') || tiff_tag(b, len, 0xc612) || tiff_tag(b, len, 0x014a);
    return (len >= 16 && !memcmp(b, "FUJIFILMCCD-RAW", 15)) ||
           (len >= 4 && (!memcmp(b, "IIRO", 4) || !memcmp(b, "IIRS", 4) || !memcmp(b, "MMOR", 4) ||
                         !memcmp(b, "IIU\0", 4))) ||
           (len >= 12 && !memcmp(b + 4, "ftypcrx ", 8));
}

/* The format, by the first bytes only (never the name), and the size the
 * header claims. TGA, which has no magic, is tried last, by all of its header
 * fields (tgaimg_probe). Formats stb_image knows but we do not document (PSD,
 * HDR, PIC) are refused here without any decoder running. */
static int read_header(const unsigned char *b, size_t len, struct header *hd, char *err)
{
    *hd = (struct header){0};
    if (len >= 3 && !memcmp(b, "\xff\xd8\xff", 3)) {
        uint64_t wh[2] = {0, 0};
        jpeg_segments(b, len, sof_segment, wh);
        *hd = (struct header){.format = JPEG, .w = wh[0], .h = wh[1]};
    } else if (len >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) {
        if (len < 26 || memcmp(b + 12, "IHDR", 4))
            return error(err, "truncated PNG: no IHDR header");
        png_header(b, hd);
    } else if (len >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) {
        hd->format = GIF; /* gifimg.c reads its header, and so on */
    } else if (bmpimg_probe(b, len)) {
        hd->format = BMP; /* or a DIB; bmpimg.c reads its header */
    } else if (pnmimg_probe(b, len)) {
        hd->format = PNM; /* pnmimg.c reads its header, and so on */
    } else if (raw_magic(b, len, &hd->tiff)) {
        hd->format = RAW;
    } else if (len >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) {
        hd->format = WEBP; /* webpimg.c reads its header, and so on */
    } else if (len >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4) || !memcmp(b, "II+\0", 4) ||
                            !memcmp(b, "MM\0+", 4))) {
        hd->format = TIFF; /* classic or BigTIFF */
    } else if (heif_brand(b, len)) {
        hd->format = HEIF;
    } else if (tgaimg_probe(b, len)) {
        hd->format = TGA; /* tgaimg.c checks its size */
    } else
        return error(err, "not an image of a supported kind: it starts like no JPEG, PNG, GIF, BMP, PNM, WebP, TIFF, "
                          "HEIF, AVIF, camera RAW or TGA");
    return 0;
}

/* Turns img as EXIF orientation o says the camera was held. */
static int orient(struct image_pixels *im, int o)
{
    if (o <= 1 || o > 8)
        return 0;
    int W = im->w, H = im->h, c = im->c * (im->grey16 ? 2 : 1), swap = o >= 5; /* c: bytes a pixel */
    int ow = swap ? H : W, oh = swap ? W : H;
    unsigned char *out = malloc((size_t)ow * oh * c);
    if (!out)
        return -1;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = W - 1 - x, sy = y; break;
            case 3: sx = W - 1 - x, sy = H - 1 - y; break;
            case 4: sx = x, sy = H - 1 - y; break;
            case 5: sx = y, sy = x; break;
            case 6: sx = y, sy = H - 1 - x; break;
            case 7: sx = W - 1 - y, sy = H - 1 - x; break;
            default: sx = W - 1 - y, sy = x; break; /* 8 */
            }
            memcpy(out + ((size_t)y * ow + x) * c, im->px + ((size_t)sy * W + sx) * c, (size_t)c);
        }
    free(im->px);
    im->px = out;
    im->w = ow;
    im->h = oh;
    return 0;
}

/* ---- Pillow's resampling ---- */

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
static inline void resample_h(const struct image_pixels *in, int y0, struct image_pixels *out, const int *bounds, const int32_t *kk,
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
static void resample_v(const struct image_pixels *in, int ybase, struct image_pixels *out, const int *bounds, const int32_t *kk,
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
static int resize_crop(struct image_pixels *im, int nw, int nh, int left, int top, int R)
{
    int c = im->c, rc = -1, hks = 0, vks = 0, *hb = NULL, *vb = NULL;
    int32_t *hk = NULL, *vk = NULL, *acc = NULL;
    struct image_pixels h = {0}, v = {0};
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
    h = (struct image_pixels){.px = malloc((size_t)R * (y1 - y0) * c), .w = R, .h = y1 - y0, .c = c, .cmyk = im->cmyk};
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
        v = (struct image_pixels){.px = malloc((size_t)R * R * c), .w = R, .h = R, .c = c, .cmyk = im->cmyk};
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

/* The resize and crop of resize_crop for 16-bit grey held as Pillow's mode
 * "I" (32-bit ints): double weights, each pass rounded, nothing clipped
 * till the crop becomes 8-bit grey, clamped to 0..255 as Pillow's "I" to
 * "RGB" conversion does (so that most of a 16-bit image is white, as in
 * the reference). */
static int resize_crop_i32(struct image_pixels *im, int nw, int nh, int left, int top, int R)
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
    *im = (struct image_pixels){.px = out, .w = R, .h = R, .c = 1};
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
static int resize_nearest(struct image_pixels *im, int nw, int nh, int left, int top, int R)
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
    *im = (struct image_pixels){.px = out, .w = R, .h = R, .c = im->c, .cmyk = im->cmyk};
    return 0;
}

/* Pillow's RGBA <-> RGBa (premultiplied) conversions, alpha last. */
static void premultiply(struct image_pixels *im, int undo)
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

/* ---- JPEG, by libjpeg-turbo: the decoder Pillow uses, so the same pixels ---- */

/* libjpeg's progressive scripts have about 10 scans; each scan costs a pass
 * over the whole image, so a file of thousands (35 s for 4,000) is refused,
 * as djpeg -maxscans does */
#define JPEG_MAX_SCANS 100

struct jpeg_err {
    struct jpeg_error_mgr mgr;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    int truncated;
    char msg[JMSG_LENGTH_MAX];
};

static void jpeg_fail(j_common_ptr c)
{
    struct jpeg_err *e = (struct jpeg_err *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jump, 1);
}

static void jpeg_warn(j_common_ptr c, int level)
{
    /* Pillow refuses a file that ends early; other warnings pass silently */
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF)
        ((struct jpeg_err *)c->err)->truncated = 1;
}

/* libjpeg calls this between the steps of its input, scans included */
static void jpeg_progress(j_common_ptr c)
{
    struct jpeg_err *e = (struct jpeg_err *)c->err;
    int scan = ((j_decompress_ptr)c)->input_scan_number;
    if (scan > JPEG_MAX_SCANS) {
        snprintf(e->msg, sizeof e->msg, "more than %d scans (scan %d)", JPEG_MAX_SCANS, scan);
        longjmp(e->jump, 1);
    }
}

/* Pillow 9.4 reads the first EXIF block of a JPEG as it opens it when no
 * JFIF block before it gave the resolution in dots per inch (unit 1), and
 * fails on a TIFF header it cannot read: one of its byte order marks and
 * fewer than 8 bytes, or little-endian BigTIFF's (it reads 8 of its 16).
 * ctx: the dpi flag. Returns 1 for such a block, 2 for any other. */
static int short_exif_segment(unsigned marker, const unsigned char *seg, size_t n, void *ctx)
{
    static const char marks[][5] = {"MM\0*", "II*\0", "MM*\0", "II\0*", "MM\0+", "II+\0"};
    int *dpi = ctx;
    if (marker == 0xe0 && n >= 12 && !memcmp(seg, "JFIF", 4) && seg[7] == 1)
        *dpi = 1;
    if (marker != 0xe1 || n < 5 || memcmp(seg, "Exif\0", 5))
        return 0;
    if (*dpi)
        return 2;
    if (n >= 6 && seg[5] == 0) /* Pillow strips "Exif\0\0" only */
        seg += 6, n -= 6;
    for (size_t k = 0; n >= 4 && k < sizeof marks / sizeof marks[0]; k++)
        if (!memcmp(seg, marks[k], 4))
            return n < 8 || !memcmp(seg, "II+\0", 4) ? 1 : 2;
    return 2;
}

/* A JPEG Pillow refuses for its EXIF block (a camera's preview, which
 * Pillow never opens, is not checked) */
static int jpeg_exif_cut_short(const unsigned char *buf, size_t len, char *err)
{
    int dpi = 0;
    if (jpeg_segments(buf, len, short_exif_segment, &dpi) == 1)
        return error(err, "JPEG whose EXIF block is cut short in its TIFF header");
    return 0;
}

static int decode_jpeg(const unsigned char *buf, size_t len, uint64_t max_pixels, int draft, struct image_pixels *im,
                       char *err)
{
    struct jpeg_decompress_struct cinfo;
    struct jpeg_err je = {0};
    unsigned char *volatile px = NULL;
    cinfo.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = jpeg_fail;
    je.mgr.emit_message = jpeg_warn;
    if (setjmp(je.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(px);
        return error(err, "cannot decode JPEG: %s", je.msg);
    }
    jpeg_create_decompress(&cinfo);
    je.progress.progress_monitor = jpeg_progress;
    cinfo.progress = &je.progress;
    jpeg_mem_src(&cinfo, buf, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    uint64_t pixels = (uint64_t)cinfo.image_width * cinfo.image_height;
    if (pixels > max_pixels) {
        jpeg_destroy_decompress(&cinfo);
        return error(err, "image of %u x %u pixels is over the limit of %llu pixels", cinfo.image_width,
                     cinfo.image_height, (unsigned long long)max_pixels);
    }
    /* draft: libjpeg's DCT-domain downscaling by 2, 4 or 8, as long as the
     * shorter side stays at least twice what the resize needs */
    unsigned short_side = cinfo.image_width < cinfo.image_height ? cinfo.image_width : cinfo.image_height;
    for (unsigned d = 8; draft && d > 1; d /= 2)
        if (short_side / d >= 2 * (unsigned)draft) {
            cinfo.scale_num = 1;
            cinfo.scale_denom = d;
            break;
        }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int c = cinfo.output_components;
    size_t stride = (size_t)cinfo.output_width * c;
    if (!(px = malloc(stride * cinfo.output_height))) {
        jpeg_destroy_decompress(&cinfo);
        return error(err, "out of memory for a %u x %u image", cinfo.output_width, cinfo.output_height);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = px + cinfo.output_scanline * stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    /* Adobe's CMYK is stored inverted; Pillow reads it as "CMYK;I" */
    if (cmyk && cinfo.saw_Adobe_marker)
        for (size_t k = 0; k < stride * cinfo.output_height; k++)
            px[k] = (unsigned char)(255 - px[k]);
    if (je.truncated) {
        jpeg_destroy_decompress(&cinfo);
        free(px);
        return error(err, "truncated JPEG: the file ends before its image does");
    }
    /* the rest of the file is read here, and may fail: px is ours till then */
    jpeg_finish_decompress(&cinfo);
    *im = (struct image_pixels){.px = px, .w = (int)cinfo.output_width, .h = (int)cinfo.output_height, .c = c, .cmyk = cmyk};
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

/* ---- PNG, by stb_image ---- */

/* No block stb_image allocates for a true file is larger than the IDAT
 * chunks it gathers (less than twice the file) or 8 bytes a pixel (16-bit
 * RGBA) and one a row; more means a stream that inflates past its header. */
static int decode_stb(const unsigned char *buf, size_t len, const struct header *hd, struct image_pixels *im, char *err)
{
    /* a PNG's chunks as Pillow checks them, once its size has passed */
    if (hd->format == PNG && pngcheck_chunks(buf, len, err) < 0)
        return -1;
    size_t max_alloc = (size_t)(8 * hd->w * hd->h + hd->h) + 2 * len + (1 << 20);
    im->grey16 = hd->grey16;
    im->px = hd->grey16 ? stbimage_decode16(buf, len, max_alloc, &im->w, &im->h, err)
                        : stbimage_decode(buf, len, max_alloc, hd->channels, &im->w, &im->h, &im->c, err);
    im->c = hd->grey16 ? 1 : im->c;
    if (!im->px)
        return -1;
    if ((uint64_t)im->w != hd->w || (uint64_t)im->h != hd->h) {
        free(im->px);
        im->px = NULL;
        return error(err, "decoded %d x %d pixels where the header says %llu x %llu", im->w, im->h,
                     (unsigned long long)hd->w, (unsigned long long)hd->h);
    }
    return 0;
}

/* ---- camera RAW, by LibRaw: its preview JPEG by libjpeg ---- */

static int decode_raw(const unsigned char *buf, size_t len, const struct image_opts *o, int tiff,
                      struct image_pixels *im, char *err)
{
    struct rawimg_opts ro = {.max_pixels = o->max_pixels, .min_side = o->resolution, .full = o->raw_full};
    unsigned char *jpeg;
    size_t jpeg_len;
    int rc = rawimg_decode(buf, len, &ro, im, &jpeg, &jpeg_len, err);
    if (rc == RAWIMG_UNKNOWN && tiff)
        return tiffimg_decode(buf, len, o->max_pixels, im, err);
    if (rc < 0 || !jpeg)
        return rc < 0 ? -1 : 0;
    int transform = im->transform;
    rc = decode_jpeg(jpeg, jpeg_len, o->max_pixels, o->draft ? o->resolution : 0, im, err);
    im->transform = transform; /* the preview is stored as the sensor was, turned as LibRaw says */
    free(jpeg);
    return rc;
}

/* Python's round(): halves to even. */
static int round_half_even(double v)
{
    double r = nearbyint(v); /* the default rounding mode is to nearest, ties to even */
    return (int)r;
}

int image_check_size(uint64_t w, uint64_t h, uint64_t max_pixels, char *err)
{
    if (w == 0 || h == 0)
        return error(err, "image of %llu x %llu pixels has no pixels", (unsigned long long)w, (unsigned long long)h);
    if (w > STBIMAGE_MAX_SIDE || h > STBIMAGE_MAX_SIDE || w * h > max_pixels)
        return error(err, "image of %llu x %llu pixels is over the limit of %llu pixels (%d a side)",
                     (unsigned long long)w, (unsigned long long)h, (unsigned long long)max_pixels,
                     STBIMAGE_MAX_SIDE);
    return 0;
}

/* Step 1: the header's checks, then the pixels. */
static int decode(const unsigned char *buf, size_t len, const struct image_opts *o, struct image_pixels *im,
                  char *err)
{
    struct header hd;
    if (len == 0)
        return error(err, "empty file");
    if (len > INT32_MAX)
        return error(err, "file too large to be an image");
    if (read_header(buf, len, &hd, err) < 0)
        return -1;
    switch (hd.format) {
    case JPEG:
        /* a frame header not found (0 x 0) is left to libjpeg */
        if ((hd.w && hd.h && image_check_size(hd.w, hd.h, o->max_pixels, err) < 0) ||
            jpeg_exif_cut_short(buf, len, err) < 0)
            return -1;
        return decode_jpeg(buf, len, o->max_pixels, o->draft ? o->resolution : 0, im, err);
    case WEBP: return webpimg_decode(buf, len, o->max_pixels, im, err);
    case TIFF: return tiffimg_decode(buf, len, o->max_pixels, im, err);
    case HEIF: return heifimg_decode(buf, len, o->max_pixels, im, err);
    case RAW: return decode_raw(buf, len, o, hd.tiff, im, err);
    case BMP: return bmpimg_decode(buf, len, o->max_pixels, im, err);
    case GIF: return gifimg_decode(buf, len, o->max_pixels, im, err);
    case PNM: return pnmimg_decode(buf, len, o->max_pixels, im, err);
    case TGA: return tgaimg_decode(buf, len, o->max_pixels, im, err);
    default:
        if (image_check_size(hd.w, hd.h, o->max_pixels, err) < 0)
            return -1;
        im->palette = hd.palette;
        return decode_stb(buf, len, &hd, im, err);
    }
}

/* Step 3: the shorter side resized to R, the longer to int(R * long /
 * short), which must be an int as in Pillow (whose sizes are C ints), and
 * the centre R x R kept; im becomes that crop. With squash, both sides
 * resized to R, nothing cropped. */
static int resize_centre(struct image_pixels *im, int R, int squash, char *err)
{
    double longer = (double)R * (im->w <= im->h ? im->h : im->w) / (im->w <= im->h ? im->w : im->h);
    if (longer > INT_MAX && !squash)
        return error(err, "image of %d x %d pixels is too thin to resize", im->w, im->h);
    int nw = im->w <= im->h || squash ? R : (int)longer, nh = im->w <= im->h && !squash ? (int)longer : R;
    int top = round_half_even((nh - R) / 2.0), left = round_half_even((nw - R) / 2.0);
    if (im->grey16)
        return resize_crop_i32(im, nw, nh, left, top, R) < 0 ? error(err, "out of memory resizing") : 0;
    if (im->palette)
        return resize_nearest(im, nw, nh, left, top, R) < 0 ? error(err, "out of memory resizing") : 0;
    int alpha = (im->c == 2 || (im->c == 4 && !im->cmyk)) && (im->w != nw || im->h != nh);
    if (alpha)
        premultiply(im, 0);
    if (resize_crop(im, nw, nh, left, top, R) < 0)
        return error(err, "out of memory resizing a %d x %d image", im->w, im->h);
    if (alpha)
        premultiply(im, 1);
    return 0;
}

/* Step 4: the R x R crop to RGB planes of (v / 255 - mean) / std. */
static void normalise(const struct image_pixels *im, const struct image_opts *o, float *out)
{
    const float *mean = o->mean ? o->mean : openai_mean, *stdev = o->std ? o->std : openai_std;
    int R = o->resolution;
    for (int y = 0; y < R; y++)
        for (int x = 0; x < R; x++) {
            const unsigned char *px = im->px + ((size_t)y * R + x) * im->c;
            unsigned char rgb[3];
            for (int ch = 0; ch < 3; ch++) {
                if (im->cmyk) { /* Pillow's cmyk2rgb */
                    unsigned nk = 255 - px[3], tmp = px[ch] * nk + 128;
                    int v = (int)nk - (int)(((tmp >> 8) + tmp) >> 8);
                    rgb[ch] = (unsigned char)(v < 0 ? 0 : v);
                } else
                    rgb[ch] = px[im->c >= 3 ? ch : 0];
                float v = (float)rgb[ch] / 255.0f;
                out[((size_t)ch * R + y) * R + x] = (v - mean[ch]) / stdev[ch];
            }
        }
}

int image_preprocess(const unsigned char *buf, size_t len, const struct image_opts *o, float *out, char *err)
{
    struct image_pixels im = {0};
    int rc = -1;
    if (decode(buf, len, o, &im, err) < 0)
        goto done;
    /* step 2: as the camera was held */
    int turn = im.transform ? im.transform : !o->exif ? 1 : im.orientation ? im.orientation : exif_orientation(buf, len);
    if (orient(&im, turn) < 0) {
        error(err, "out of memory turning a %d x %d image", im.w, im.h);
        goto done;
    }
    if (resize_centre(&im, o->resolution, o->squash, err) < 0)
        goto done;
    normalise(&im, o, out);
    rc = 0;
done:
    free(im.px); /* stb_image allocates with malloc too */
    return rc;
}
