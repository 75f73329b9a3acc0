/* tiffimg.h - TIFF pixels by libtiff, read from memory, for image.c.
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

/* libtiff's version, "LIBTIFF, Version 4.5.0\n..."; NULL when it cannot
 * be loaded (libtiff, and LittleCMS for CIELab, load on first use) */
const char *tiffimg_version(void);

int tiffimg_decode(const unsigned char *buf, size_t len, uint64_t max_pixels, struct image_pixels *im, char *err);

#endif
