/* image.h - photo bytes to the model's input, as CLIP's preprocess does it.
 *
 *     struct image_opts o = {.resolution = 224, .exif = 1, .max_pixels = IMAGE_MAX_PIXELS};
 *     float *px = malloc(3 * 224 * 224 * sizeof *px);
 *     if (image_preprocess(buf, len, &o, px, err) < 0) ...   // err: "not an image of a supported kind: ..."
 *
 * The format is told by the first bytes, never the name: the first decoder
 * in decoder.h's list whose probe takes the file decodes it (each in its
 * own file, formats/NAME.c, which says what it reads and how it follows
 * Pillow). Anything else is "not an image", refused before any decoder
 * runs.
 * Before any pixel is decoded, the size the header claims is checked against
 * max_pixels and 2^20 pixels a side. Then (step by step in image.c: decode,
 * orient, resize + crop, normalise), as Pillow + torchvision do: the shorter side
 * resized to the resolution with Pillow's antialiased BICUBIC (resample.h:
 * 8-bit fixed point, horizontal then vertical pass), centre crop, RGB, /255, mean/std.
 * Like Pillow, images with alpha are resized premultiplied, and palette
 * images (PNG, GIF, TGA, BMP) and bitmaps (1-bit PNG, PBM) with nearest
 * neighbour; alpha is then dropped, not composited. A PNG's tRNS colour, as
 * in Pillow, does not make grey or RGB an image with alpha.
 * With exif set, the EXIF orientation a decoder found (JPEG's, WebP's) is
 * applied first (the published pipeline ignores it); the turns that are
 * part of decoding (TIFF's Orientation tag, HEIF's container
 * transformations, a RAW's flip) are applied whatever exif says. 16-bit
 * grey PNGs, PGMs and 16/32-bit grey TIFFs are resized in 32-bit ints, as
 * Pillow's mode "I".
 * Memory: the decoded pixels and a few rows of the crop, whatever the
 * resized size. Thread-safe: no state outside the call.
 */
#ifndef IMAGE_H
#define IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "decoder.h"
#include "util.h"

#define IMAGE_MAX_PIXELS 100000000ull /* 100 megapixels */

struct image_opts {
    int resolution;      /* R: output is [3, R, R] */
    int exif;            /* apply the EXIF orientation */
    uint64_t max_pixels; /* refuse larger images before decoding them */
    int draft;           /* decode large JPEGs downscaled (DCT domain): much
                            faster, no longer the reference's exact pixels */
    int raw_full;        /* camera RAW: full-size demosaic rather than the
                            preview or a half-size one */
    const float *mean;   /* [3]: the model's pixel mean and deviation, as its */
    const float *std;    /* weights file has them; NULL: OpenAI's */
    int squash;          /* resize straight to R x R, no crop (OpenCLIP's resize_mode
                            "squash": SigLIP, DFN5B), as the weights file says */
};

/* Decodes and preprocesses len bytes into out[3 * R * R]; -1 with err. */
int image_preprocess(const unsigned char *buf, size_t len, const struct image_opts *o, float *out, char *err);

/* The date a photo's EXIF data records (DateTimeOriginal, else DateTime):
 * seconds from 1970 counting its calendar time as UTC, EXIF having no zone.
 * The EXIF block is looked for where JPEG (APP1), HEIF and AVIF (an
 * "Exif\0\0" item), WebP (EXIF chunk), PNG (eXIf) and TIFF (and RAW) files
 * keep it. -1 when none is found. */
int image_date(const unsigned char *buf, size_t len, int64_t *secs);

/* The formats, from the decoders' table in the order their probes are
 * tried: image_format_at(i) for i < image_format_count() (NULL past the
 * end); their names, extensions, versions and libraries (decoder.h). */
size_t image_format_count(void);
const struct decoder *image_format_at(size_t i);

/* 1 when the file name ends in an extension one of the formats claims
 * (".JPG" as ".jpg"): what the folder walk takes. */
int image_has_extension(const char *name);

/* The formats' names into out[size] (size > 0, cut short if need be),
 * with conjunction before the last: " or " gives "JPEG, PNG, ... or TGA". */
void image_format_names(char *out, size_t size, const char *conjunction);

#endif
