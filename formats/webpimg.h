/* webpimg.h - WebP pixels by libwebp, for image.c.
 *
 * Decoded as Pillow 9.4 decodes it, through libwebp's animation decoder
 * (which reads stills too): the first frame on the canvas, RGBA when the
 * file's alpha flag is set, else RGB; the orientation from its EXIF chunk.
 *
 *     struct image_pixels im;
 *     if (webpimg_decode(buf, len, max_pixels, &im, err) < 0) ...  // err: "cannot decode WebP: ..."
 *     free(im.px);
 *
 * The canvas size is read (WebPGetFeatures) and checked against max_pixels
 * before anything is decoded. Thread-safe.
 */
#ifndef WEBPIMG_H
#define WEBPIMG_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* libwebp's decoder version, as WebPGetDecoderVersion gives it (0x010204 for
 * 1.2.4); -1 when it cannot be loaded (libwebp loads on first use) */
int webpimg_version(void);

int webpimg_decode(const unsigned char *buf, size_t len, uint64_t max_pixels, struct image_pixels *im, char *err);

#endif
