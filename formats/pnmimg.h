/* pnmimg.h - PBM, PGM and PPM pixels (P1 to P6), as Pillow 9.4 reads
 * them, for image.c.
 *
 * The header: "P1" to "P6" and a whitespace byte, then width, height and
 * (but for bitmaps) the maximum value, as numbers of at most 10 digits
 * between whitespace and #-comments; the raw pixels start after the one
 * whitespace byte that ends the last number. Pillow's modes, and so ours:
 * bitmaps (P1 plain, P4 raw, 1 black) are mode "1", resized with nearest
 * neighbour; grey (P2, P5) is "L", or "I" when the maximum value is over
 * 255 (16-bit samples, resized as Pillow's 32-bit ints); colour (P3, P6)
 * is "RGB". Samples are scaled to 0..255 (0..65535 for "I") as Pillow
 * does, round(v / maxval * top) with halves to even; a raw sample over the
 * maximum is clipped, a plain one refused.
 *
 *     struct image_pixels im;
 *     if (pnmimg_decode(buf, len, max_pixels, &im, err) < 0) ...  // err: "truncated PNM: ..."
 *     free(im.px);
 *
 * im is 1 or 3 bytes a pixel, or native uint16 grey with im.grey16 set.
 * The size is checked against max_pixels, and against the bytes the file
 * has (a plain sample takes at least one), before anything is allocated;
 * a file that ends before its last sample is refused. Thread-safe.
 */
#ifndef PNMIMG_H
#define PNMIMG_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* 1 when the len bytes start like a PNM: "P1" to "P6", then whitespace. */
int pnmimg_probe(const unsigned char *buf, size_t len);

int pnmimg_decode(const unsigned char *buf, size_t len, uint64_t max_pixels, struct image_pixels *im, char *err);

#endif
