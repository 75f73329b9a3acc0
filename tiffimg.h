/* tiffimg.h - TIFF pixels by libtiff, read from memory, for image.c.
 *
 * The first page, as Pillow 9.4 opens it: grey (1, 2, 4, 8 bits; 1-bit
 * resized with nearest neighbour as Pillow's mode "1"), grey + alpha, RGB,
 * RGBA (associated alpha undone as Pillow does), palette, CMYK, and YCbCr
 * (JPEG-compressed through libjpeg's RGB, else libtiff's RGBA reader), in
 * strips or tiles, contiguous or planar, any compression libtiff decodes.
 * 16-bit samples keep their high byte, as Pillow does for RGB and CMYK;
 * 16-bit grey, which Pillow 9.4 cannot resize (mode "I;16"), likewise.
 * The Orientation tag comes back in im->transform: Pillow's TIFF loader
 * applies it whatever the pipeline asks (and exif_transpose then applies
 * it a second time, which is not reproduced).
 *
 *     struct image_pixels im;
 *     if (tiffimg_decode(buf, len, max_pixels, &im, err) < 0) ...  // err: "cannot decode TIFF: ..."
 *     free(im.px);
 *
 * The size in the tags is checked against max_pixels before any pixel is
 * decoded, and no single allocation of libtiff's may exceed 8 bytes a
 * pixel of max_pixels. Thread-safe: libtiff's messages go to this call.
 */
#ifndef TIFFIMG_H
#define TIFFIMG_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

int tiffimg_decode(const unsigned char *buf, size_t len, uint64_t max_pixels, struct image_pixels *im, char *err);

#endif
