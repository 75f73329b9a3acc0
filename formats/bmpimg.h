/* bmpimg.h - BMP and DIB pixels as Pillow 9.4's BmpImagePlugin reads them, for
 * image.c.
 *
 *     if (bmpimg_probe(buf, len)) {
 *         struct image_pixels im;
 *         if (bmpimg_decode(buf, len, max_pixels, &im, err) < 0) ...  // err: "truncated BMP: ..."
 *         free(im.px);
 *     }
 *
 * A BMP starts with "BM"; a DIB (a BMP without that file header, as the
 * Windows clipboard holds it) with the size of its info header, as Pillow
 * tells it: 12, 40, 64, 108 or 124. Headers of OS/2 (12 and 64 bytes) and
 * Windows (40, 108, 124); 1, 4 and 8 bits a pixel through a palette, raw or
 * RLE8/RLE4, and 16, 24 and 32 bits raw or with the bit-field masks Pillow
 * knows. What Pillow does with the odd ones, this does too: the pixel data
 * where the header's offset says, a palette's missing entries as grey (i, i,
 * i), a palette of black and white or of greys read as Pillow's mode "1" or
 * "L" (bits of the row read as that mode's), RLE runs clipped at the row's
 * end, a file that ends before its rows do refused. What Pillow refuses is
 * refused with the reason. The output, as image.h says: mode "1" and "P"
 * (its palette applied: 3 bytes a pixel) with palette set, so that they
 * are resized with nearest neighbour; "L" grey; "RGB"; "RGBA" with alpha.
 * Work and memory go with the file's length and its w x h, which is
 * checked against max_pixels before anything is allocated. Thread-safe.
 */
#ifndef BMPIMG_H
#define BMPIMG_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* 1 when the first bytes are a BMP's or a DIB's, as Pillow tells them. */
int bmpimg_probe(const unsigned char *buf, size_t len);

/* Decodes len bytes into *im (im->px malloc'd: the caller frees it); -1
 * with err. */
int bmpimg_decode(const unsigned char *buf, size_t len, uint64_t max_pixels, struct image_pixels *im, char *err);

#endif
