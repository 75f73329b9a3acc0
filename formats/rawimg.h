/* rawimg.h - camera RAW (DNG, CR2, CR3, NEF, ARW, RAF, ORF, RW2...) by
 * LibRaw, for image.c. Not the reference pipeline: the camera's own
 * rendering or LibRaw's demosaic, never what Pillow would make.
 *
 *     struct rawimg_opts ro = {.max_pixels = max, .min_side = 224};
 *     unsigned char *jpeg = NULL;
 *     size_t jpeg_len;
 *     if (rawimg_decode(buf, len, &ro, &im, &jpeg, &jpeg_len, err) < 0) ...  // err: "cannot decode camera RAW: ..."
 *     if (jpeg) ... decode the preview JPEG, then free(jpeg); else im holds the pixels
 *
 * The embedded preview is used when its shorter side is at least min_side:
 * a JPEG comes back in *jpeg (malloc'd, the caller decodes and frees it),
 * a bitmap in im. Else the raw data is demosaiced by LibRaw at half size
 * (full: whole size) with the camera's white balance, to 8-bit sRGB. The
 * camera's orientation comes back in im->transform (EXIF's numbering).
 * The raw and output sizes LibRaw reads when it opens the file are checked
 * against max_pixels before anything is unpacked, and LibRaw's allocations
 * are capped. Thread-safe (libraw_r). LibRaw is loaded on the first call
 * (util_lib_load): without it, RAW files get "cannot load libraw_r.so.20".
 */
#ifndef RAWIMG_H
#define RAWIMG_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

struct rawimg_opts {
    uint64_t max_pixels;
    int min_side; /* the smallest preview used: the model's resolution */
    int full;     /* full-size demosaic, never the preview */
};

/* What rawimg_decode returns when LibRaw does not know the file (a TIFF
 * that only looked like a camera's may then be read as a TIFF). */
#define RAWIMG_UNKNOWN (-2)

/* LibRaw's version, "0.20.2-Release"; NULL when it cannot be loaded */
const char *rawimg_version(void);

int rawimg_decode(const unsigned char *buf, size_t len, const struct rawimg_opts *o, struct image_pixels *im,
                  unsigned char **jpeg, size_t *jpeg_len, char *err);

#endif
