/* tiffimg.c - TIFF pixels by libtiff, read from memory.
 *
 * The first page, as Pillow 9.4 opens it: grey (1, 2, 4, 8 bits; 1-bit
 * resized with nearest neighbour as Pillow's mode "1"), grey + alpha, RGB,
 * RGBA (associated alpha undone as Pillow does; four samples and no
 * ExtraSamples tag are RGBA too), palette (with alpha: Pillow's "PA",
 * resized here as RGBA), CMYK, CIELab (to sRGB by LittleCMS, as Pillow's
 * convert("RGB"), but before the resize) and YCbCr (JPEG-compressed
 * through libjpeg's RGB, else libtiff's RGBA reader), in strips or tiles,
 * contiguous or planar, any compression libtiff decodes. 16-bit samples
 * of RGB and CMYK keep their high byte, as Pillow does. One grey sample
 * of 16 or 32 bits (Pillow's modes "I;16", "I", "F": unsigned, signed or
 * float) is kept whole in im->grey16, clamped to 0..65535 and floats
 * truncated, and resized as mode "I", which the conversion to RGB clamps
 * to 0..255 (Pillow 9.4 cannot resize "I;16": it refuses what this reads
 * as its mode "I" copy). A tag of the layout found twice in the first
 * directory with different values is refused: Pillow takes the last,
 * libtiff the first.
 * The Orientation tag comes back in im->transform: Pillow's TIFF loader
 * applies it whatever the pipeline asks (and exif_transpose then applies
 * it a second time, which is not reproduced).
 *
 * The size in the tags is checked against max_pixels before any pixel is
 * decoded, no single allocation of libtiff's may exceed 8 bytes a pixel
 * of max_pixels, and the strips or tiles decoded in all are bounded
 * (chunk_work), libtiff's RGBA reader's as the strip/tile path's. Thread-safe: libtiff's messages go to this call.
 * See decoder.h.
 */
#include "decoder.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lcms2.h>
#include <tiffio.h>

/* libtiff, and LittleCMS for CIELab, are loaded on first use (util.h) */
#define TIFF_API(X) X(TIFFGetVersion) X(TIFFOpenOptionsAlloc) X(TIFFOpenOptionsFree) X(TIFFOpenOptionsSetMaxSingleMemAlloc) X(TIFFOpenOptionsSetErrorHandlerExtR) X(TIFFOpenOptionsSetWarningHandlerExtR) X(TIFFClientOpenExt) X(TIFFClose) X(TIFFGetField) X(TIFFGetFieldDefaulted) X(TIFFSetField) X(TIFFIsTiled) X(TIFFComputeStrip) X(TIFFComputeTile) X(TIFFReadEncodedStrip) X(TIFFReadEncodedTile) X(TIFFReadRGBAImageOriented)
static struct {
    TIFF_API(UTIL_LIB_POINTER)
} tiff;
static const char *const tiff_names[] = {TIFF_API(UTIL_LIB_NAME)};
static struct util_lib tiff_lib = UTIL_LIB(TIFFIMG_SONAME, tiff_names, tiff);

#define LCMS_API(X) X(cmsCreateLab2Profile) X(cmsCreate_sRGBProfile) X(cmsCreateTransform) X(cmsDoTransform) X(cmsDeleteTransform) X(cmsCloseProfile)
static struct {
    LCMS_API(UTIL_LIB_POINTER)
} lcms;
static const char *const lcms_names[] = {LCMS_API(UTIL_LIB_NAME)};
static struct util_lib lcms_lib = UTIL_LIB(LCMS_SONAME, lcms_names, lcms);

/* libtiff's version's first line, "LIBTIFF, Version 4.5.0" */
static int tiffimg_version(char *out, size_t size)
{
    if (util_lib_load(&tiff_lib, NULL) < 0)
        return -1;
    const char *v = tiff.TIFFGetVersion();
    snprintf(out, size, "%.*s", (int)strcspn(v, "\n"), v);
    return 0;
}

/* ---- libtiff reading from the buffer ---- */

struct source {
    const unsigned char *buf;
    size_t len, pos;
    char msg[ERR_LEN]; /* libtiff's first error */
};

static tmsize_t src_read(thandle_t h, void *p, tmsize_t n)
{
    struct source *s = h;
    size_t k = s->pos < s->len ? s->len - s->pos : 0;
    if (n <= 0)
        return 0;
    if ((size_t)n < k)
        k = (size_t)n;
    memcpy(p, s->buf + s->pos, k);
    s->pos += k;
    return (tmsize_t)k;
}

static tmsize_t src_write(thandle_t h, void *p, tmsize_t n)
{
    (void)h, (void)p, (void)n;
    return 0;
}

/* a position past the end is allowed (reads there return nothing) */
static toff_t src_seek(thandle_t h, toff_t off, int whence)
{
    struct source *s = h;
    uint64_t base = whence == SEEK_CUR ? s->pos : whence == SEEK_END ? s->len : 0;
    if (off > SIZE_MAX - base)
        return (toff_t)-1;
    s->pos = (size_t)(base + off);
    return s->pos;
}

static int src_close(thandle_t h)
{
    (void)h;
    return 0;
}

static toff_t src_size(thandle_t h) { return ((struct source *)h)->len; }

/* libtiff reads strips straight from the buffer, which it never writes in mode "r" */
static int src_map(thandle_t h, void **base, toff_t *size)
{
    struct source *s = h;
    *base = (void *)s->buf;
    *size = s->len;
    return 1;
}

static void src_unmap(thandle_t h, void *base, toff_t size) { (void)h, (void)base, (void)size; }

__attribute__((format(printf, 4, 0))) static int on_error(TIFF *tif, void *user, const char *module,
                                                          const char *fmt, va_list ap)
{
    struct source *s = user;
    (void)tif, (void)module;
    if (!s->msg[0])
        vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    return 1; /* handled: libtiff's global handler would print it */
}

__attribute__((format(printf, 4, 0))) static int on_warning(TIFF *tif, void *user, const char *module,
                                                            const char *fmt, va_list ap)
{
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

/* ---- the first directory as Pillow's own parser sees it ---- */

/* Tags that say how the pixels are laid out: of two copies Pillow takes
 * the last, libtiff the first, so two that differ are refused */
static const uint16_t layout_tags[] = {256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317, 322, 323, 324, 325, 338, 339};
#define N_LAYOUT_TAGS (sizeof layout_tags / sizeof layout_tags[0])

struct raw_ifd {
    int extra;     /* the file has an ExtraSamples tag (libtiff makes one up when it has not) */
    unsigned twice; /* a layout tag found twice with different values, else 0 */
};

static uint64_t get(const unsigned char *p, int n, int le)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[le ? n - 1 - i : i];
    return v;
}

/* The entries of the first IFD (classic or BigTIFF) that lie within the
 * file; libtiff, which opens the file first, reports the rest. */
static void scan_ifd(const unsigned char *b, size_t len, struct raw_ifd *r)
{
    *r = (struct raw_ifd){0};
    if (len < 16)
        return;
    int le = b[0] == 'I', big = get(b + 2, 2, le) == 43;
    size_t esize = big ? 20 : 12, csize = big ? 8 : 2, first[N_LAYOUT_TAGS] = {0};
    uint64_t off = get(b + (big ? 8 : 4), big ? 8 : 4, le);
    if (off > len || len - off < csize)
        return;
    uint64_t n = get(b + off, (int)csize, le);
    for (uint64_t k = 0; k < n && (len - off - csize) / esize > k; k++) {
        size_t e = (size_t)(off + csize + k * esize);
        unsigned tag = (unsigned)get(b + e, 2, le);
        r->extra |= tag == TIFFTAG_EXTRASAMPLES;
        for (size_t i = 0; i < N_LAYOUT_TAGS; i++)
            if (tag == layout_tags[i] && first[i] && memcmp(b + first[i], b + e, esize))
                r->twice = tag;
            else if (tag == layout_tags[i])
                first[i] = e;
    }
}

/* ---- the tags, as Pillow's OPEN_INFO reads them ---- */

struct layout {
    uint32_t w, h;
    uint16_t bps, spp, planar, photo, sfmt;
    int keep;             /* samples kept a pixel: 1 grey, 2 grey + alpha, 3 RGB or palette, 4 RGBA or CMYK */
    int wide;             /* one grey sample of 16 or 32 bits kept whole, clamped to 0..65535: Pillow's
                             modes "I;16", "I" and "F", which its conversion to RGB clamps to 0..255 */
    int assoc;            /* RGBA of associated (premultiplied) alpha */
    uint16_t *cmap[3];    /* palette: libtiff's colour map, 1 << bps entries */
    unsigned char lut[256]; /* samples of bps <= 8 to bytes: grey scaled to 8 bits, inverted for min-is-white */
};

/* Grey, as Pillow's OPEN_INFO has it: 1 to 8 bits (8 with alpha), and one
 * sample of 16 bits (unsigned or signed) or 32 (unsigned, signed or float),
 * which Pillow does not invert for min-is-white. */
static int grey_keep(const struct layout *l, int small)
{
    if (l->sfmt == SAMPLEFORMAT_UINT && (l->spp == 1 || (l->spp == 2 && l->bps == 8)) && small)
        return l->spp;
    if (l->spp == 1 && (l->bps == 16 || l->bps == 32) && l->sfmt >= SAMPLEFORMAT_UINT &&
        l->sfmt <= (l->bps == 32 ? SAMPLEFORMAT_IEEEFP : SAMPLEFORMAT_INT))
        return 1;
    return 0;
}

/* The samples kept a pixel, 0 for a kind Pillow does not open, -1 for
 * YCbCr read by libtiff's RGBA reader. extra: the ExtraSamples tag's
 * first value, -1 without one (then Pillow takes RGBA's fourth for alpha). */
static int keep_samples(TIFF *tif, struct layout *l, int extra, uint16_t compression)
{
    int spp = l->spp, small = l->bps == 1 || l->bps == 2 || l->bps == 4 || l->bps == 8;
    if (l->photo == PHOTOMETRIC_MINISWHITE || l->photo == PHOTOMETRIC_MINISBLACK)
        return grey_keep(l, small);
    if (l->sfmt != SAMPLEFORMAT_UINT)
        return 0;
    switch (l->photo) {
    case PHOTOMETRIC_RGB:
        if (spp < 3 || (l->bps != 8 && l->bps != 16))
            return 0;
        l->assoc = spp >= 4 && extra == EXTRASAMPLE_ASSOCALPHA;
        return spp >= 4 && extra != EXTRASAMPLE_UNSPECIFIED ? 4 : 3;
    case PHOTOMETRIC_PALETTE: /* with alpha: Pillow's "PA" */
        return (spp == 1 || (spp == 2 && l->bps == 8)) && small &&
                       tiff.TIFFGetField(tif, TIFFTAG_COLORMAP, &l->cmap[0], &l->cmap[1], &l->cmap[2])
                   ? spp
                   : 0;
    case PHOTOMETRIC_SEPARATED: return spp >= 4 && (l->bps == 8 || l->bps == 16) ? 4 : 0;
    case PHOTOMETRIC_CIELAB: return spp == 3 && l->bps == 8 ? 3 : 0;
    case PHOTOMETRIC_YCBCR:
        /* JPEG in one plane: libjpeg makes the RGB, as in Pillow; others go to libtiff's RGBA reader */
        return compression == COMPRESSION_JPEG && l->planar == PLANARCONFIG_CONTIG && spp == 3 && l->bps == 8 &&
                       tiff.TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB)
                   ? 3
                   : -1;
    }
    return 0;
}

static int read_layout(TIFF *tif, const struct raw_ifd *raw, struct layout *l, char *err)
{
    uint16_t nextra = 0, *extra = NULL, compression = 1;
    if (!tiff.TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &l->w) || !tiff.TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &l->h))
        return error(err, "cannot decode TIFF: no image width or length");
    if (raw->twice)
        return error(err, "cannot decode TIFF: its first directory has tag %u twice, with different values",
                     raw->twice);
    tiff.TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &l->bps);
    tiff.TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &l->spp);
    tiff.TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &l->planar);
    tiff.TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &l->sfmt);
    tiff.TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &nextra, &extra);
    tiff.TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &compression);
    if (!tiff.TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &l->photo))
        l->photo = PHOTOMETRIC_MINISWHITE; /* Pillow's default too */
    l->keep = keep_samples(tif, l, raw->extra && nextra > 0 ? extra[0] : -1, compression);
    if (!l->keep)
        return error(err, "TIFF of photometric interpretation %u with %d samples of %d bits is not supported (sample format %u)",
                     l->photo, l->spp, l->bps, l->sfmt);
    l->wide = l->keep == 1 && l->bps > 8 && l->photo != PHOTOMETRIC_PALETTE;
    for (int v = 0; v < 256 && l->bps <= 8; v++) {
        int grey = l->photo == PHOTOMETRIC_MINISWHITE || l->photo == PHOTOMETRIC_MINISBLACK;
        int s = grey ? v * 255 / ((1 << l->bps) - 1) : v;
        l->lut[v] = (unsigned char)(l->photo == PHOTOMETRIC_MINISWHITE ? 255 - s : s);
    }
    return 0;
}

/* ---- the samples, strip by strip or tile by tile ---- */

/* Sample i of a row of bps-bit samples (16-bit ones in native order, as
 * libtiff leaves them). */
static unsigned sample(const unsigned char *row, size_t i, int bps)
{
    if (bps == 8)
        return row[i];
    if (bps == 16) {
        uint16_t v;
        memcpy(&v, row + 2 * i, 2);
        return v;
    }
    size_t bit = i * (size_t)bps;
    return (unsigned)(row[bit / 8] >> (8 - bps - bit % 8)) & ((1u << bps) - 1);
}

/* A wide grey sample (see struct layout) from its bytes in native order;
 * a float truncated, as Pillow's conversion from "F" does, NaN to 0. */
static uint16_t wide_sample(const unsigned char *p, const struct layout *l)
{
    double v;
    if (l->bps == 16 && l->sfmt == SAMPLEFORMAT_INT) {
        int16_t i16;
        memcpy(&i16, p, 2);
        v = i16;
    } else if (l->bps == 16) {
        uint16_t u16;
        memcpy(&u16, p, 2);
        v = u16;
    } else if (l->sfmt == SAMPLEFORMAT_IEEEFP) {
        float f;
        memcpy(&f, p, 4);
        v = f;
    } else if (l->sfmt == SAMPLEFORMAT_INT) {
        int32_t i32;
        memcpy(&i32, p, 4);
        v = i32;
    } else {
        uint32_t u32;
        memcpy(&u32, p, 4);
        v = u32;
    }
    return !(v > 0) ? 0 : v >= 65535 ? 65535 : (uint16_t)v;
}

/* A decoded chunk (strip or tile) of ch rows of cw pixels of n samples
 * from channel first on, into im at (x0, y0), clipped to the image. */
struct chunk {
    const unsigned char *buf;
    size_t rowbytes;
    uint32_t x0, y0, cw, ch;
    int n, first;
};

static void put_chunk(const struct chunk *k, const struct layout *l, struct decoder_pixels *im)
{
    uint32_t rows = l->h - k->y0 < k->ch ? l->h - k->y0 : k->ch, cols = l->w - k->x0 < k->cw ? l->w - k->x0 : k->cw;
    size_t bytes = l->wide ? 2 : 1; /* a kept sample */
    for (uint32_t r = 0; r < rows; r++) {
        const unsigned char *row = k->buf + r * k->rowbytes;
        unsigned char *out = im->px + ((size_t)(k->y0 + r) * l->w + k->x0) * l->keep * bytes;
        for (uint32_t x = 0; x < cols; x++)
            for (int s = 0; s < k->n && k->first + s < l->keep; s++) {
                int c = k->first + s;
                size_t i = (size_t)x * k->n + s, o = (size_t)x * l->keep + c;
                if (l->wide) {
                    uint16_t v = wide_sample(row + i * (l->bps / 8), l);
                    memcpy(out + 2 * o, &v, 2);
                    continue;
                }
                unsigned v = sample(row, i, l->bps);
                /* 16 bits: the high byte, as Pillow's ";16N" unpackers keep; CIELab's
                 * signed a and b made unsigned, as Pillow's "LAB" unpacker does */
                v = l->bps == 16 ? v >> 8 : c == 0 ? l->lut[v] : l->photo == PHOTOMETRIC_CIELAB ? v ^ 0x80 : v;
                out[o] = (unsigned char)v;
            }
    }
}

/* The strips or tiles: their size (*cw x *ch pixels, *bytes decoded) and
 * count (*chunks, planes included). A chunk may be no larger than 64 MiB
 * or 8 bytes a pixel of the image, and all of them together no larger
 * than 4 times that: libtiff inflates each chunk whole, and chunks may all
 * point at one small compressed stream (tiles far wider than the image,
 * say), so a small file could cost terabytes of inflating within every
 * single chunk's limit. The same bound for libtiff's RGBA reader, which
 * reads the same chunks (a 569 KB YCbCr file of 16,384 tiles of 4,000,000
 * x 64 pixels, all one stream, took an estimated 30 minutes). */
static int chunk_work(TIFF *tif, const struct layout *l, int planes, uint32_t *cw, uint32_t *ch, uint64_t *rowbytes,
                      uint64_t *bytes, char *err)
{
    int tiled = tiff.TIFFIsTiled(tif), separate = l->planar == PLANARCONFIG_SEPARATE && l->spp > 1;
    *cw = l->w, *ch = l->h;
    if (tiled && (!tiff.TIFFGetField(tif, TIFFTAG_TILEWIDTH, cw) || !tiff.TIFFGetField(tif, TIFFTAG_TILELENGTH, ch)))
        return error(err, "cannot decode TIFF: tiled without a tile size");
    if (!tiled && (!tiff.TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, ch) || *ch == 0 || *ch > l->h))
        *ch = l->h;
    if (*cw == 0 || *ch == 0)
        return error(err, "cannot decode TIFF: tiles of %u x %u pixels", *cw, *ch);
    *rowbytes = ((uint64_t)*cw * (separate ? 1 : l->spp) * l->bps + 7) / 8, *bytes = *rowbytes * *ch;
    uint64_t limit = ((uint64_t)64 << 20) + 8 * (uint64_t)l->w * l->h, total;
    if (*bytes / *ch != *rowbytes || *bytes > limit)
        return error(err, "cannot decode TIFF: %s of %u x %u pixels for an image of %u x %u", tiled ? "tiles" : "strips",
                     *cw, *ch, l->w, l->h);
    uint64_t chunks = ((uint64_t)l->w + *cw - 1) / *cw * (((uint64_t)l->h + *ch - 1) / *ch) * (uint64_t)planes;
    if (__builtin_mul_overflow(chunks, *bytes, &total) || total / 4 > limit)
        return error(err, "cannot decode TIFF: %llu %s of %llu bytes for an image of %u x %u, over the work limit",
                     (unsigned long long)chunks, tiled ? "tiles" : "strips", (unsigned long long)*bytes, l->w, l->h);
    return 0;
}

/* Every strip or tile of every plane the kept samples are in. */
static int read_chunks(TIFF *tif, struct source *src, const struct layout *l, struct decoder_pixels *im, char *err)
{
    int tiled = tiff.TIFFIsTiled(tif), separate = l->planar == PLANARCONFIG_SEPARATE && l->spp > 1;
    int planes = separate ? (l->spp < l->keep ? l->spp : l->keep) : 1;
    uint32_t cw, ch;
    uint64_t rowbytes, bytes;
    if (chunk_work(tif, l, planes, &cw, &ch, &rowbytes, &bytes, err) < 0)
        return -1;
    struct chunk k = {.cw = cw, .ch = ch, .n = separate ? 1 : l->spp};
    k.rowbytes = (size_t)rowbytes;
    unsigned char *buf = malloc((size_t)bytes);
    if (!buf)
        return error(err, "out of memory for a TIFF %s of %llu bytes", tiled ? "tile" : "strip",
                     (unsigned long long)bytes);
    k.buf = buf;
    for (int p = 0; p < planes; p++)
        for (uint64_t y = 0; y < l->h; y += ch) /* 64 bits: a tile may be taller than 2^32 - h */
            for (uint64_t x = 0; x < l->w; x += cw) {
                k.x0 = (uint32_t)x, k.y0 = (uint32_t)y, k.first = p;
                tmsize_t n = tiled ? tiff.TIFFReadEncodedTile(tif, tiff.TIFFComputeTile(tif, k.x0, k.y0, 0, (uint16_t)p), buf,
                                                         (tmsize_t)bytes)
                                   : tiff.TIFFReadEncodedStrip(tif, tiff.TIFFComputeStrip(tif, k.y0, (uint16_t)p), buf,
                                                          (tmsize_t)bytes);
                if (n < 0) {
                    free(buf);
                    return error(err, "cannot decode TIFF: %s", src->msg[0] ? src->msg : "bad strip or tile");
                }
                memset(buf + n, 0, (size_t)(bytes - (uint64_t)n)); /* a short chunk reads as zeros */
                put_chunk(&k, l, im);
            }
    free(buf);
    return 0;
}

/* ---- after the samples: as Pillow's unpackers leave them ---- */

/* Pillow's "RGBa" unpacker: associated alpha undone, truncating. */
static void unassociate(struct decoder_pixels *im)
{
    for (size_t p = 0; p < (size_t)im->w * im->h; p++) {
        unsigned char *px = im->px + p * 4;
        unsigned a = px[3];
        for (int c = 0; c < 3 && a != 255; c++) {
            unsigned v = a ? px[c] * 255u / a : 0;
            px[c] = (unsigned char)(v > 255 ? 255 : v);
        }
    }
}

/* Palette indices (and alpha, Pillow's "PA") to RGB (and alpha), each
 * colour the high byte of libtiff's 16-bit map (Pillow: b // 256). */
static int expand_palette(const struct layout *l, struct decoder_pixels *im)
{
    size_t n = (size_t)im->w * im->h;
    int c = im->c + 2;
    unsigned char *rgb = malloc(n * c);
    if (!rgb)
        return -1;
    for (size_t p = 0; p < n; p++) {
        const unsigned char *in = im->px + p * im->c;
        for (int ch = 0; ch < 3; ch++)
            rgb[p * c + ch] = (unsigned char)(l->cmap[ch][in[0]] >> 8);
        if (c == 4)
            rgb[p * 4 + 3] = in[1];
    }
    free(im->px);
    im->px = rgb;
    im->c = c;
    return 0;
}

/* CIELab to sRGB by LittleCMS, as Pillow's convert("RGB") does it: its
 * Lab (v2, D50) and sRGB profiles, perceptual intent. Pillow converts
 * after the resize, this before it. */
static int lab_to_rgb(struct decoder_pixels *im, char *err)
{
    if (util_lib_load(&lcms_lib, err) < 0)
        return -1;
    cmsHPROFILE lab = lcms.cmsCreateLab2Profile(NULL), srgb = lcms.cmsCreate_sRGBProfile();
    cmsHTRANSFORM t = NULL;
    if (lab && srgb)
        t = lcms.cmsCreateTransform(lab, COLORSPACE_SH(PT_LabV2) | CHANNELS_SH(3) | BYTES_SH(1), srgb, TYPE_RGB_8,
                               INTENT_PERCEPTUAL, 0);
    for (int y = 0; t && y < im->h; y++) { /* a row at a time: a pixel count must fit in 32 bits */
        unsigned char *row = im->px + (size_t)y * im->w * 3;
        lcms.cmsDoTransform(t, row, row, (cmsUInt32Number)im->w);
    }
    if (t)
        lcms.cmsDeleteTransform(t);
    if (lab)
        lcms.cmsCloseProfile(lab);
    if (srgb)
        lcms.cmsCloseProfile(srgb);
    return t ? 0 : error(err, "cannot convert a %d x %d CIELab TIFF: LittleCMS made no transform", im->w, im->h);
}

/* YCbCr that is not JPEG in one plane: libtiff's RGBA reader, as Pillow's
 * fallback; alpha dropped (it is opaque). */
static int read_rgba(TIFF *tif, struct source *src, const struct layout *l, struct decoder_pixels *im, char *err)
{
    uint32_t cw, ch;
    uint64_t rowbytes, bytes;
    int planes = l->planar == PLANARCONFIG_SEPARATE && l->spp > 1 ? l->spp : 1; /* it reads every plane */
    if (chunk_work(tif, l, planes, &cw, &ch, &rowbytes, &bytes, err) < 0)
        return -1;
    uint32_t *raster = malloc((size_t)l->w * l->h * sizeof *raster);
    if (!raster)
        return error(err, "out of memory for a %u x %u TIFF", l->w, l->h);
    if (!tiff.TIFFReadRGBAImageOriented(tif, l->w, l->h, raster, ORIENTATION_TOPLEFT, 0)) {
        free(raster);
        return error(err, "cannot decode TIFF: %s", src->msg[0] ? src->msg : "bad YCbCr data");
    }
    for (size_t p = 0; p < (size_t)l->w * l->h; p++) {
        im->px[p * 3] = (unsigned char)TIFFGetR(raster[p]);
        im->px[p * 3 + 1] = (unsigned char)TIFFGetG(raster[p]);
        im->px[p * 3 + 2] = (unsigned char)TIFFGetB(raster[p]);
    }
    free(raster);
    return 0;
}

static int read_image(TIFF *tif, struct source *src, uint64_t max_pixels, struct decoder_pixels *im, char *err)
{
    struct layout l = {0};
    struct raw_ifd raw;
    uint16_t orientation = 1;
    scan_ifd(src->buf, src->len, &raw);
    if (read_layout(tif, &raw, &l, err) < 0 || decoder_check_size(l.w, l.h, max_pixels, err) < 0)
        return -1;
    int rgba = l.keep < 0;
    l.keep = rgba ? 3 : l.keep;
    *im = (struct decoder_pixels){.px = malloc((size_t)l.w * l.h * l.keep * (l.wide ? 2 : 1)), .w = (int)l.w,
                                .h = (int)l.h, .c = l.keep, .grey16 = l.wide};
    if (!im->px)
        return error(err, "out of memory for a %u x %u TIFF", l.w, l.h);
    if ((rgba ? read_rgba(tif, src, &l, im, err) : read_chunks(tif, src, &l, im, err)) < 0)
        return -1;
    if (l.assoc)
        unassociate(im);
    if (l.photo == PHOTOMETRIC_PALETTE && expand_palette(&l, im) < 0)
        return error(err, "out of memory for a %u x %u TIFF", l.w, l.h);
    if (l.photo == PHOTOMETRIC_CIELAB && lab_to_rgb(im, err) < 0)
        return -1;
    im->cmyk = l.photo == PHOTOMETRIC_SEPARATED;
    /* modes "P" and "1" are resized with nearest neighbour ("PA" is not) */
    im->palette = (l.photo == PHOTOMETRIC_PALETTE && l.keep == 1) || (l.keep == 1 && l.bps == 1);
    tiff.TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &orientation);
    im->transform = orientation >= 1 && orientation <= 8 ? orientation : 1;
    return 0;
}

static int tiffimg_decode(const unsigned char *buf, size_t len, const struct decoder_opts *o, struct decoder_pixels *im,
                          char *err)
{
    struct source src = {.buf = buf, .len = len};
    *im = (struct decoder_pixels){0};
    if (util_lib_load(&tiff_lib, err) < 0)
        return -1;
    TIFFOpenOptions *opts = tiff.TIFFOpenOptionsAlloc();
    if (!opts)
        return error(err, "out of memory opening a TIFF");
    uint64_t limit = o->max_pixels < (1ull << 40) ? 8 * o->max_pixels + (16 << 20) : 1ull << 43;
    tiff.TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)limit);
    tiff.TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, &src);
    tiff.TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, &src);
    TIFF *tif = tiff.TIFFClientOpenExt("TIFF", "r", &src, src_read, src_write, src_seek, src_close, src_size, src_map,
                                  src_unmap, opts);
    tiff.TIFFOpenOptionsFree(opts);
    if (!tif)
        return error(err, "cannot decode TIFF: %s", src.msg[0] ? src.msg : "bad header");
    int rc = read_image(tif, &src, o->max_pixels, im, err);
    tiff.TIFFClose(tif);
    if (rc < 0) {
        free(im->px);
        im->px = NULL;
    }
    return rc;
}

/* classic TIFF or BigTIFF */
static int tiffimg_probe(const unsigned char *b, size_t len)
{
    return len >= 4 &&
           (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4) || !memcmp(b, "II+\0", 4) || !memcmp(b, "MM\0+", 4));
}

const struct decoder tiffimg_decoder = {
    .name = "TIFF",
    .extensions = "tif tiff",
    .probe = tiffimg_probe,
    .decode = tiffimg_decode,
    .version = tiffimg_version,
    .library = TIFFIMG_SONAME,
};
