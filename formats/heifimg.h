/* heifimg.h - HEIC/HEIF and AVIF pixels by libheif, for image.c.
 *
 * The primary image, decoded by libheif with the container's
 * transformations (rotation, mirror, crop), which is how a phone shows
 * the photo; its EXIF orientation is then not applied again. 8-bit RGB,
 * or RGBA when it has an alpha image; images of more bits are reduced to
 * 8 by libheif.
 *
 *     struct image_pixels im;
 *     if (heifimg_decode(buf, len, max_pixels, &im, err) < 0) ...  // err: "cannot decode HEIF: ..."
 *     free(im.px);
 *
 * Before libheif allocates anything, the sizes the file claims are checked
 * against max_pixels: a primary grid or overlay image's canvas, and every
 * HEVC sequence parameter set's picture (libheif 1.15 allocates both as
 * they say, whatever the container's image size); then the primary
 * image's size, and the decoded image must be that size. AV1 sequence
 * headers are not read (they sit in the coded data). Thread-safe.
 */
#ifndef HEIFIMG_H
#define HEIFIMG_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* libheif's version, "1.15.1"; NULL when it cannot be loaded */
const char *heifimg_version(void);

int heifimg_decode(const unsigned char *buf, size_t len, uint64_t max_pixels, struct image_pixels *im, char *err);

#endif
