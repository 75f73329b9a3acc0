/* tgaimg.h - Truevision TGA (Targa) pixels, as Pillow 9.4 reads them, for
 * image.c.
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
 *     struct image_pixels im;
 *     if (tgaimg_probe(buf, len) && tgaimg_decode(buf, len, max_pixels, &im, err) < 0) ...
 *     free(im.px);
 *
 * Colour-mapped images come out as RGB with im.palette set (Pillow's mode
 * "P", resized with nearest neighbour); grey + alpha and 32-bit as 2 and 4
 * channels. The size is checked against max_pixels, and against the bytes
 * the file has, before anything is allocated; a file that ends before its
 * last pixel is refused, as Pillow does. Thread-safe.
 */
#ifndef TGAIMG_H
#define TGAIMG_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* 1 when the len bytes start with a TGA header of a kind described above. */
int tgaimg_probe(const unsigned char *buf, size_t len);

/* The pixels of a file tgaimg_probe took; -1 with err. */
int tgaimg_decode(const unsigned char *buf, size_t len, uint64_t max_pixels, struct image_pixels *im, char *err);

#endif
