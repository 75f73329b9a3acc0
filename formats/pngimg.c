/* pngimg.c - PNG by stb_image (stbimage.h), after the checks Pillow 9.4
 * makes of its chunks (pngcheck.h).
 *
 * Pillow's modes, and so ours: colour type 3 (palette) is mode "P" and 1-bit
 * grey mode "1", both resized with nearest neighbour; 16-bit grey is mode
 * "I", kept whole (im->grey16) and resized in 32-bit ints; a tRNS colour of
 * grey or RGB Pillow keeps apart from the pixels (the image stays "L" or
 * "RGB", resized without alpha), so those are decoded to the colour type's
 * own channels. IHDR's size is checked against max_pixels before any chunk
 * is inflated, and no allocation of stb_image's may be larger than the
 * image can need. See decoder.h.
 */
#include "decoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pngcheck.h"
#include "stbimage.h"

/* What IHDR says: size, bit depth (b[24]) and colour type (b[25]) */
struct ihdr {
    uint64_t w, h;
    int palette;  /* Pillow opens it in mode "P" or "1", which it resizes with nearest neighbour */
    int grey16;   /* a 16-bit grey PNG: Pillow's mode "I" */
    int channels; /* what stb_image is to make, 0: as many as the file has */
};

static struct ihdr read_ihdr(const unsigned char *b)
{
    static const int channels[7] = {1, 0, 3, 0, 2, 0, 4}; /* by colour type; 3: RGB(A) from the palette */
    int depth = b[24], type = b[25];
    return (struct ihdr){.w = load_be32(b + 16), .h = load_be32(b + 20),
                         .palette = type == 3 || (type == 0 && depth == 1), .grey16 = depth == 16 && type == 0,
                         .channels = type < 7 ? channels[type] : 0};
}

/* No block stb_image allocates for a true file is larger than the IDAT
 * chunks it gathers (less than twice the file) or 8 bytes a pixel (16-bit
 * RGBA) and one a row; more means a stream that inflates past its header. */
static int pngimg_decode(const unsigned char *buf, size_t len, const struct decoder_opts *o, struct decoder_pixels *im,
                      char *err)
{
    *im = (struct decoder_pixels){0};
    if (len < 26 || memcmp(buf + 12, "IHDR", 4))
        return error(err, "truncated PNG: no IHDR header");
    struct ihdr hd = read_ihdr(buf);
    /* the chunks as Pillow checks them, once the size has passed */
    if (decoder_check_size(hd.w, hd.h, o->max_pixels, err) < 0 || pngcheck_chunks(buf, len, err) < 0)
        return -1;
    size_t max_alloc = (size_t)(8 * hd.w * hd.h + hd.h) + 2 * len + (1 << 20);
    im->palette = hd.palette;
    im->grey16 = hd.grey16;
    im->px = hd.grey16 ? stbimage_decode16(buf, len, max_alloc, &im->w, &im->h, err)
                       : stbimage_decode(buf, len, max_alloc, hd.channels, &im->w, &im->h, &im->c, err);
    im->c = hd.grey16 ? 1 : im->c;
    if (!im->px)
        return -1;
    if ((uint64_t)im->w != hd.w || (uint64_t)im->h != hd.h) {
        free(im->px);
        im->px = NULL;
        return error(err, "decoded %d x %d pixels where the header says %llu x %llu", im->w, im->h,
                     (unsigned long long)hd.w, (unsigned long long)hd.h);
    }
    return 0;
}

static int pngimg_probe(const unsigned char *buf, size_t len) { return len >= 8 && !memcmp(buf, "\x89PNG\r\n\x1a\n", 8); }

static int pngimg_version(char *out, size_t size)
{
    snprintf(out, size, "stb_image (built in)");
    return 0;
}

const struct decoder pngimg_decoder = {
    .name = "PNG",
    .extensions = "png",
    .probe = pngimg_probe,
    .decode = pngimg_decode,
    .version = pngimg_version,
};
