/* resample.h - Pillow 9.4's Image.resize(size, BICUBIC) and a square crop of
 * its result, pixels in, pixels out, to the same bytes as Pillow.
 *
 *     struct decoder_pixels im = ...;                     // 640 x 480 RGB
 *     if (resample_crop(&im, 298, 224, 37, 0, 224, err) < 0) ...  // err: "out of memory resizing ..."
 *     // im: the 224 x 224 crop at (37, 0) of the 298 x 224 resize
 *
 * As Pillow does it for the image's mode: antialiased bicubic (a = -0.5,
 * support 2 x the scale) in 8-bit fixed point (22 bits of fraction),
 * horizontal pass then vertical, a pass only along an axis whose size
 * changes; images with alpha (c 2, or 4 but CMYK) premultiplied first and
 * divided back after; palette and bitmap images (palette set) by nearest
 * neighbour (ImagingScaleAffine's accumulated positions); 16-bit grey
 * (grey16, Pillow's mode "I") in doubles rounded to 32-bit ints after each
 * pass, then clamped to 0..255 grey as Pillow's conversion to RGB does.
 * Only the kept pixels are computed (every output pixel of a pass has its
 * own weights, so the values are the same): time and memory go with the
 * crop and the input rows it reads, not with nw x nh. Thread-safe.
 */
#ifndef RESAMPLE_H
#define RESAMPLE_H

#include "decoder.h"

/* Resizes im to nw x nh and keeps the R x R pixels at (left, top), which
 * must lie inside nw x nh; im becomes that crop (its old pixels freed; a
 * grey16 image becomes 8-bit grey). -1 with err when out of memory: im
 * then still holds pixels, which its holder frees. */
int resample_crop(struct decoder_pixels *im, int nw, int nh, int left, int top, int R, char *err);

#endif
