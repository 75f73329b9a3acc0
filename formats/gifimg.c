/* gifimg.c - a GIF's first frame, as Pillow 9.4 reads it.
 *
 * Pillow opens a GIF's first frame without composing it: the canvas (the
 * logical screen, grown to hold the frame) is filled with the frame's
 * transparent index, or 0 without one, and the frame is decoded onto it
 * with its transparent pixels kept as their index. It is mode "P" (resized
 * with nearest neighbour, then looked up in the frame's colour table, or
 * the global one; indices past the table are grey) unless there is no
 * colour table or it is the grey ramp 0, 1, 2...: then mode "L", the index
 * being the grey level, resized with bicubic. So is this.
 *
 * im is RGB with im.palette set, or grey. The canvas size is checked
 * against max_pixels before anything is allocated. Refused, as Pillow
 * refuses them: no image descriptor, a colour table or graphic control
 * block cut short, an LZW code size over 12, a code past the next free
 * one, and image data that ends (end code, or the file) before the frame's
 * last pixel. Thread-safe.
 * See decoder.h.
 */
#include "decoder.h"

#include <stdlib.h>
#include <string.h>

#define LZW_BITS 12
#define LZW_TABLE (1 << LZW_BITS)

/* The first frame, as the blocks before its image data describe it. */
struct frame {
    size_t w, h;              /* the canvas */
    size_t x0, y0, fw, fh;    /* the frame on it */
    int interlace, bits;      /* bits: the LZW minimum code size */
    int trans;                /* the transparent index, -1 for none */
    const unsigned char *pal; /* its colour table of pal_n entries; NULL: mode "L" */
    int pal_n;
    size_t data;              /* where the image data's sub-blocks start */
};

/* A colour table of n entries, or NULL when it is the grey ramp 0, 1, 2...,
 * which Pillow does not keep (the image is then mode "L"). */
static const unsigned char *colour_table(const unsigned char *p, int n)
{
    for (int k = 0; k < n; k++)
        if (p[3 * k] != k || p[3 * k + 1] != k || p[3 * k + 2] != k)
            return p;
    return NULL;
}

/* Pillow's data(): a sub-block at *p, its length byte then its bytes, cut
 * short by the end of the file; its length, 0 for the empty one. */
static size_t sub_block(const unsigned char *b, size_t len, size_t *p, const unsigned char **blk)
{
    if (*p >= len)
        return 0;
    size_t n = b[(*p)++];
    n = n < len - *p ? n : len - *p;
    *blk = b + *p;
    *p += n;
    return n;
}

/* An extension at *p (past its '!'): a graphic control block gives the
 * transparent index; the rest is skipped as Pillow skips it (after an
 * empty first sub-block, only a comment stops). */
static int extension(const unsigned char *b, size_t len, size_t *p, int *trans, char *err)
{
    const unsigned char *blk = NULL;
    if (*p >= len)
        return error(err, "truncated GIF: an extension without its label");
    int label = b[(*p)++];
    size_t n = sub_block(b, len, p, &blk);
    if (label == 0xf9) {
        if (n < 1 || ((blk[0] & 1) && n < 4))
            return error(err, "bad GIF: graphic control block of %zu bytes", n);
        if (blk[0] & 1)
            *trans = blk[3];
    }
    if (n || label != 0xfe)
        while (sub_block(b, len, p, &blk))
            ;
    return 0;
}

/* The image descriptor at *p (past its ','): the frame's place, its own
 * colour table, the LZW code size. */
static int descriptor(const unsigned char *b, size_t len, size_t *p, struct frame *f, char *err)
{
    if (len - *p < 9)
        return error(err, "truncated GIF: image descriptor cut short");
    const unsigned char *d = b + *p;
    f->x0 = load_u16(d), f->y0 = load_u16(d + 2), f->fw = load_u16(d + 4), f->fh = load_u16(d + 6);
    f->interlace = !!(d[8] & 0x40);
    *p += 9;
    if (d[8] & 0x80) {
        int n = 2 << (d[8] & 7);
        if (len - *p < (size_t)3 * n)
            return error(err, "truncated GIF: the frame's colour table of %d entries is cut short", n);
        f->pal = colour_table(b + *p, n), f->pal_n = n;
        *p += (size_t)3 * n;
    }
    if (*p >= len)
        return error(err, "truncated GIF: no LZW code size");
    f->bits = b[(*p)++];
    f->data = *p;
    if (f->bits > LZW_BITS)
        return error(err, "bad GIF: LZW code size %d (at most %d)", f->bits, LZW_BITS);
    if (!f->fw || !f->fh)
        return error(err, "bad GIF: frame of %zu x %zu pixels", f->fw, f->fh);
    return 0;
}

/* The screen, the global colour table and the blocks up to the first image
 * descriptor; bytes that start no block are skipped, as Pillow does. */
static int read_frame(const unsigned char *b, size_t len, struct frame *f, char *err)
{
    *f = (struct frame){.trans = -1};
    if (len < 13)
        return error(err, "truncated GIF header");
    f->w = load_u16(b + 6), f->h = load_u16(b + 8);
    size_t p = 13;
    if (b[10] & 0x80) {
        int n = 2 << (b[10] & 7);
        if (len - p < (size_t)3 * n)
            return error(err, "truncated GIF: its colour table of %d entries is cut short", n);
        f->pal = colour_table(b + p, n), f->pal_n = n;
        p += (size_t)3 * n;
    }
    while (p < len && b[p] != ';') {
        int c = b[p++];
        if (c == '!' && extension(b, len, &p, &f->trans, err) < 0)
            return -1;
        if (c == ',') { /* the frame's own colour table, if any, takes the global one's place */
            if (descriptor(b, len, &p, f, err) < 0)
                return -1;
            f->w = f->x0 + f->fw > f->w ? f->x0 + f->fw : f->w; /* Pillow grows the canvas */
            f->h = f->y0 + f->fh > f->h ? f->y0 + f->fh : f->h;
            return 0;
        }
    }
    return error(err, "bad GIF: no image in it");
}

/* The LZW decoder's state: the image data as sub-blocks, bits read but not
 * used, the string table, and where the next pixel goes. */
struct lzw {
    const unsigned char *b;
    size_t len, p, left; /* left: bytes left in the current sub-block */
    uint32_t bitbuf;
    int bitcount;
    size_t x, y, step;
    int pass; /* the interlaced passes: 1 to 3 the one running, 0 the last */
    uint16_t link[LZW_TABLE];
    unsigned char suffix[LZW_TABLE], stack[LZW_TABLE]; /* an entry: its prefix code and last byte */
};

/* The next code of size bits, -1 at the end of the file. As in Pillow, the
 * data runs on past an empty sub-block, and a sub-block must be whole. */
static int read_code(struct lzw *z, int size)
{
    while (z->bitcount < size) {
        if (!z->left) {
            if (z->p >= z->len || z->b[z->p] >= z->len - z->p)
                return -1;
            z->left = z->b[z->p++];
            continue;
        }
        z->bitbuf |= (uint32_t)z->b[z->p++] << z->bitcount;
        z->bitcount += 8;
        z->left--;
    }
    int c = (int)(z->bitbuf & ((1u << size) - 1));
    z->bitbuf >>= size;
    z->bitcount -= size;
    return c;
}

/* Stores a pixel, then moves on as Pillow's NEWLINE does (rows 0, 8, 16...,
 * then 4, 12..., 2, 6..., 1, 3... when interlaced); 1 when the frame is
 * full. */
static int put(struct lzw *z, const struct frame *f, unsigned char *canvas, unsigned char v)
{
    canvas[(f->y0 + z->y) * f->w + f->x0 + z->x] = v;
    if (++z->x < f->fw)
        return 0;
    z->x = 0;
    z->y += z->step;
    while (z->y >= f->fh) {
        switch (z->pass) {
        case 1: z->y = 4, z->pass = 2; break;
        case 2: z->y = 2, z->step = 4, z->pass = 3; break;
        case 3: z->y = 1, z->step = 2, z->pass = 0; break;
        default: return 1;
        }
    }
    return 0;
}

/* The frame's pixels onto the canvas, by Pillow's rules: a code past the
 * next free one is an error, the table stops growing when full, and the
 * data must not end before the last pixel. */
static int lzw_decode(struct lzw *z, const struct frame *f, unsigned char *canvas, char *err)
{
    int clear = 1 << f->bits, next = clear + 2, size = f->bits + 1, fresh = 1, last = 0, lastfirst = 0;
    for (;;) {
        int c = read_code(z, size), n = 0;
        if (c < 0 || c == clear + 1)
            return error(err, "truncated GIF: the image data ends at pixel %zu of row %zu of %zu", z->x, z->y, f->fh);
        if (c == clear) {
            next = clear + 2, size = f->bits + 1, fresh = 1;
            continue;
        }
        if (fresh) { /* the first code after a clear is a pixel */
            if (c > clear)
                return error(err, "bad GIF: code %d after a clear code", c);
            last = lastfirst = c, fresh = 0;
        } else {
            int code = c;
            if (c > next)
                return error(err, "bad GIF: code %d past the next free one, %d", c, next);
            if (c == next) /* the last string and its own first byte */
                z->stack[n++] = (unsigned char)lastfirst, c = last;
            for (; c >= clear; c = z->link[c])
                z->stack[n++] = z->suffix[c];
            lastfirst = c;
            if (next < LZW_TABLE) {
                z->suffix[next] = (unsigned char)c, z->link[next] = (uint16_t)last;
                if (next == (1 << size) - 1 && size < LZW_BITS)
                    size++;
                next++;
            }
            last = code;
        }
        if (put(z, f, canvas, (unsigned char)lastfirst))
            return 0;
        while (n > 0)
            if (put(z, f, canvas, z->stack[--n]))
                return 0;
    }
}

/* The canvas of indices to RGB through the colour table (indices past it
 * grey, as Pillow's palette starts as a grey ramp); the indices stay as
 * grey levels when there is none. */
static int to_pixels(const struct frame *f, unsigned char *canvas, struct decoder_pixels *im, char *err)
{
    *im = (struct decoder_pixels){.px = canvas, .w = (int)f->w, .h = (int)f->h, .c = 1};
    if (!f->pal)
        return 0;
    unsigned char *rgb = malloc(f->w * f->h * 3);
    if (!rgb) {
        free(canvas);
        im->px = NULL;
        return error(err, "out of memory for a %zu x %zu GIF", f->w, f->h);
    }
    for (size_t k = 0; k < f->w * f->h; k++)
        for (int ch = 0; ch < 3; ch++)
            rgb[3 * k + ch] = canvas[k] < f->pal_n ? f->pal[3 * canvas[k] + ch] : canvas[k];
    free(canvas);
    *im = (struct decoder_pixels){.px = rgb, .w = (int)f->w, .h = (int)f->h, .c = 3, .palette = 1};
    return 0;
}

static int gifimg_decode(const unsigned char *buf, size_t len, const struct decoder_opts *o, struct decoder_pixels *im,
                         char *err)
{
    struct frame f;
    *im = (struct decoder_pixels){0};
    if (read_frame(buf, len, &f, err) < 0 || decoder_check_size(f.w, f.h, o->max_pixels, err) < 0)
        return -1;
    /* the canvas starts as the transparent index, or 0 */
    unsigned char *canvas = malloc(f.w * f.h);
    struct lzw *z = malloc(sizeof *z);
    if (!canvas || !z) {
        free(canvas);
        free(z);
        return error(err, "out of memory for a %zu x %zu GIF", f.w, f.h);
    }
    memset(canvas, f.trans < 0 ? 0 : f.trans, f.w * f.h);
    *z = (struct lzw){.b = buf, .len = len, .p = f.data, .step = f.interlace ? 8 : 1, .pass = f.interlace};
    int rc = lzw_decode(z, &f, canvas, err);
    free(z);
    if (rc < 0) {
        free(canvas);
        return -1;
    }
    return to_pixels(&f, canvas, im, err);
}

static int gifimg_probe(const unsigned char *buf, size_t len)
{
    return len >= 6 && (!memcmp(buf, "GIF87a", 6) || !memcmp(buf, "GIF89a", 6));
}

const struct decoder gifimg_decoder = {
    .name = "GIF",
    .extensions = "gif",
    .probe = gifimg_probe,
    .decode = gifimg_decode,
};
