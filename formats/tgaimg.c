/* tgaimg.c - Truevision TGA (Targa) pixels, as Pillow 9.4 reads them.
 *
 * TGA has no magic bytes, so a file is taken for one only when all of its
 * 18-byte header is one Pillow reads (tgaimg_probe) and no other format's
 * magic matched first: colour-mapped 8-bit (colour map of 16, 24 or 32-bit
 * entries, at most 256), true-colour 16 (5 bits a channel, the alpha bit
 * ignored), 24 or 32-bit (with alpha), grey 8-bit or 16-bit (grey + alpha),
 * uncompressed or run-length encoded, in any of the four origins, with no
 * colour-map fields set when there is no colour map. The 15-bit, 1-bit and
 * interleaved kinds Pillow refuses, or reads oddly, are left out.
 *
 * Colour-mapped images come out as RGB with im.palette set (Pillow's mode
 * "P", resized with nearest neighbour); grey + alpha and 32-bit as 2 and 4
 * channels. The size is checked against max_pixels, and against the bytes
 * the file has, before anything is allocated; a file that ends before its
 * last pixel is refused, as Pillow does. Thread-safe.
 * See decoder.h.
 */
#include "decoder.h"

#include <stdlib.h>
#include <string.h>

/* The 18-byte header: ID length, colour-map type, image type, colour map
 * (first entry, entries, bits an entry), x and y origin, width, height,
 * bits a pixel, descriptor (alpha bits, right-to-left 0x10, top-down 0x20). */
enum { ID_LEN = 0, MAP_TYPE = 1, TYPE = 2, MAP_FIRST = 3, MAP_LEN = 5, MAP_DEPTH = 7, WIDTH = 12, HEIGHT = 14,
       DEPTH = 16, FLAGS = 17, HEADER = 18 };

static int tgaimg_probe(const unsigned char *b, size_t len)
{
    if (len < HEADER || b[MAP_TYPE] > 1 || (b[FLAGS] & 0xc0) || (b[FLAGS] & 0x0f) > 8 || !load_u16(b + WIDTH) ||
        !load_u16(b + HEIGHT))
        return 0;
    /* types 1, 2, 3 (colour-mapped, true-colour, grey), 8 more when run-length encoded */
    int type = b[TYPE], kind = type & 3, depth = b[DEPTH];
    if ((type & 0xf4) || !kind)
        return 0;
    if (b[MAP_TYPE] != (kind == 1))
        return 0;
    if (kind == 1)
        return depth == 8 && (b[MAP_DEPTH] == 16 || b[MAP_DEPTH] == 24 || b[MAP_DEPTH] == 32) &&
               load_u16(b + MAP_LEN) && load_u16(b + MAP_FIRST) + load_u16(b + MAP_LEN) <= 256;
    if (b[3] | b[4] | b[5] | b[6] | b[7])
        return 0;
    return kind == 2 ? depth == 16 || depth == 24 || depth == 32 : depth == 8 || depth == 16;
}

struct tga {
    size_t w, h;
    int bpp;      /* bytes a pixel in the file */
    int c;        /* channels out */
    int palette;  /* 8-bit indices into pal */
    int top;      /* the first row stored is the top one */
    int right;    /* the first pixel of a row is the rightmost */
    unsigned char pal[256 * 3];
};

/* Pillow's "BGR;5" unpacking: 5 bits a channel, blue lowest, to 0..255
 * truncated; the top bit (alpha) ignored. */
static void bgr15(const unsigned char *p, unsigned char *o)
{
    unsigned v = p[0] | p[1] << 8;
    o[0] = (unsigned char)((v >> 10 & 31) * 255 / 31);
    o[1] = (unsigned char)((v >> 5 & 31) * 255 / 31);
    o[2] = (unsigned char)((v & 31) * 255 / 31);
}

/* The colour map of n entries of mb bytes from entry first on. As in
 * Pillow, the entries before first are black, those after the map grey
 * (Pillow's palette starts as a grey ramp). */
static void read_map(struct tga *t, const unsigned char *m, int first, int n, int mb)
{
    for (int k = 0; k < 256; k++)
        memset(t->pal + 3 * k, k < first ? 0 : k, 3);
    for (int k = 0; k < n; k++, m += mb) {
        unsigned char *o = t->pal + 3 * (first + k);
        if (mb == 2)
            bgr15(m, o);
        else
            o[0] = m[2], o[1] = m[1], o[2] = m[0];
    }
}

/* Stores the i-th pixel of the file, p, where the origin puts it. */
static void put(const struct tga *t, unsigned char *out, size_t i, const unsigned char *p)
{
    size_t x = i % t->w, y = i / t->w;
    if (t->right)
        x = t->w - 1 - x;
    if (!t->top)
        y = t->h - 1 - y;
    unsigned char *o = out + (y * t->w + x) * t->c;
    if (t->palette)
        memcpy(o, t->pal + 3 * p[0], 3);
    else if (t->bpp == 2 && t->c == 3)
        bgr15(p, o);
    else if (t->c >= 3) {
        o[0] = p[2], o[1] = p[1], o[2] = p[0];
        if (t->c == 4)
            o[3] = p[3];
    } else
        memcpy(o, p, (size_t)t->c); /* grey, grey + alpha */
}

/* Run-length packets: a header byte, then one pixel repeated (top bit
 * set) or (low 7 bits) + 1 pixels. As in Pillow, pixels of a packet of
 * pixels may run on into the next row (which the format does not allow),
 * a repeated one may not, and pixels past the last are ignored. */
static int read_rle(const struct tga *t, const unsigned char *d, size_t n, unsigned char *out, char *err)
{
    size_t total = t->w * t->h, bpp = (size_t)t->bpp, p = 0;
    for (size_t i = 0; i < total;) {
        if (p >= n)
            return error(err, "truncated TGA: the run-length data ends at pixel %zu of %zu", i, total);
        size_t count = (d[p] & 0x7f) + 1u, run = d[p++] & 0x80;
        if (run && i % t->w + count > t->w)
            return error(err, "bad TGA: a run of %zu pixels from pixel %zu crosses the end of row %zu", count, i,
                         i / t->w);
        if (n - p < (run ? 1 : count) * bpp)
            return error(err, "truncated TGA: the run-length data ends at pixel %zu of %zu", i, total);
        for (size_t k = 0; k < count && i < total; k++, i++)
            put(t, out, i, d + p + (run ? 0 : k * bpp));
        p += (run ? 1 : count) * bpp;
    }
    return 0;
}

/* The header's fields into t; the offset of the pixel data, or -1 with err. */
static long read_header(const unsigned char *b, size_t len, struct tga *t, char *err)
{
    int kind = b[TYPE] & 3, depth = b[DEPTH];
    size_t off = HEADER + (size_t)b[ID_LEN];
    *t = (struct tga){.w = load_u16(b + WIDTH), .h = load_u16(b + HEIGHT), .bpp = depth / 8,
                      .palette = kind == 1, .top = !!(b[FLAGS] & 0x20), .right = !!(b[FLAGS] & 0x10)};
    t->c = kind == 3 ? t->bpp : depth == 32 ? 4 : 3;
    if (t->palette) {
        int first = load_u16(b + MAP_FIRST), n = load_u16(b + MAP_LEN), mb = b[MAP_DEPTH] / 8;
        if (len < off + (size_t)n * mb)
            return error(err, "truncated TGA: its colour map of %d entries is cut short", n);
        read_map(t, b + off, first, n, mb);
        off += (size_t)n * mb;
    }
    if (len <= off)
        return error(err, "truncated TGA: no pixel data");
    return (long)off;
}

static int tgaimg_decode(const unsigned char *buf, size_t len, const struct decoder_opts *o, struct decoder_pixels *im,
                         char *err)
{
    struct tga t;
    long off;
    *im = (struct decoder_pixels){0};
    if (!tgaimg_probe(buf, len))
        return error(err, "not a TGA of a kind Pillow reads");
    if ((off = read_header(buf, len, &t, err)) < 0 || decoder_check_size(t.w, t.h, o->max_pixels, err) < 0)
        return -1;
    const unsigned char *d = buf + off;
    size_t n = len - (size_t)off, total = t.w * t.h, rle = buf[TYPE] & 8;
    /* the least data that can hold every pixel: a packet makes at most 128 */
    size_t least = rle ? (total + 127) / 128 * (1 + (size_t)t.bpp) : total * t.bpp;
    if (n < least)
        return error(err, "truncated TGA: %zu bytes of pixel data, %zu at least for %zu x %zu pixels", n, least,
                     t.w, t.h);
    if (!(im->px = malloc(total * t.c)))
        return error(err, "out of memory for a %zu x %zu TGA", t.w, t.h);
    if (rle && read_rle(&t, d, n, im->px, err) < 0) {
        free(im->px);
        im->px = NULL;
        return -1;
    }
    for (size_t i = 0; !rle && i < total; i++)
        put(&t, im->px, i, d + i * t.bpp);
    im->w = (int)t.w, im->h = (int)t.h, im->c = t.c, im->palette = t.palette;
    return 0;
}

const struct decoder tgaimg_decoder = {
    .name = "TGA",
    .extensions = "tga icb vda vst",
    .probe = tgaimg_probe,
    .decode = tgaimg_decode,
};
