/* image.h - photo bytes to the model's input, as CLIP's preprocess does it.
 *
 *     struct image_opts o = {.resolution = 224, .exif = 1, .max_pixels = IMAGE_MAX_PIXELS};
 *     float *px = malloc(3 * 224 * 224 * sizeof *px);
 *     if (image_preprocess(buf, len, &o, px, err) < 0) ...   // err: "not an image of a supported kind: ..."
 *
 * The format is told by the first bytes, never the name. JPEGs (baseline,
 * progressive, grey, CMYK) are decoded by libjpeg-turbo, as Pillow does it;
 * PNG by stb_image (stbimage.h, after pngcheck.h's chunk checks); BMP and
 * DIB (bmpimg.h), GIF's first frame (gifimg.h), PNM (P1 to P6, pnmimg.h) and
 * TGA (tgaimg.h) by decoders of our own, as Pillow 9.4 reads them; WebP by libwebp (webpimg.h), TIFF by libtiff (tiffimg.h), HEIC/HEIF
 * and AVIF by libheif (heifimg.h), camera RAW by LibRaw (rawimg.h). TGA,
 * which has no magic bytes, is told by all of its header fields, and only
 * when no other format's magic matched. Anything else is "not an image",
 * refused before any decoder runs.
 * Before any pixel is decoded, the size the header claims is checked against
 * max_pixels and 2^20 pixels a side; a JPEG of more than 100 scans and a
 * truncated JPEG or PNM are errors. Then (step by step in image.c: decode,
 * orient, resize + crop, normalise), as Pillow + torchvision do: the shorter side
 * resized to the resolution with Pillow's antialiased BICUBIC (8-bit fixed
 * point, horizontal then vertical pass), centre crop, RGB, /255, mean/std.
 * Like Pillow, images with alpha are resized premultiplied, and palette
 * images (PNG, GIF, TGA, BMP) and bitmaps (1-bit PNG, PBM) with nearest
 * neighbour; alpha is then dropped, not composited. A PNG's tRNS colour, as
 * in Pillow, does not make grey or RGB an image with alpha.
 * With exif set, a JPEG's or WebP's EXIF orientation is applied first (the
 * published pipeline ignores it); TIFF's Orientation tag, HEIF's container
 * transformations and a RAW's flip are applied whatever exif says. 16-bit
 * grey PNGs, PGMs and 16/32-bit grey TIFFs are resized in 32-bit ints, as
 * Pillow's mode "I".
 * Memory: the decoded pixels and a few rows of the crop, whatever the
 * resized size. Thread-safe: no state outside the call.
 */
#ifndef IMAGE_H
#define IMAGE_H

#include <stddef.h>
#include <stdint.h>

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

/* ---- for the decoder modules (bmpimg.c, gifimg.c, pnmimg.c, tgaimg.c, webpimg.c, tiffimg.c, heifimg.c,
 * rawimg.c) ---- */

/* Decoded pixels: h rows of w pixels of c samples (1 grey, 2 grey + alpha,
 * 3 RGB, 4 RGBA or CMYK), one byte each but for grey16. */
struct image_pixels {
    unsigned char *px; /* malloc'd: whoever holds the struct frees it */
    int w, h, c;
    int cmyk;          /* c == 4 holds C, M, Y, K rather than RGBA */
    int grey16;        /* c == 1 of native uint16 samples, resized as Pillow's mode "I" */
    int palette;       /* resized with nearest neighbour, as Pillow does modes "P" and "1" */
    int orientation;   /* EXIF orientation (1..8) applied when exif is set; 0: the JPEG's own */
    int transform;     /* orientation (1..8) applied whatever exif says, in its place: part of
                          decoding, as Pillow's TIFF loader and LibRaw do it */
};

/* 0 when a w x h image is within max_pixels and 2^20 pixels a side and not
 * empty, else -1 with err: "image of W x H pixels is over the limit...". */
int image_check_size(uint64_t w, uint64_t h, uint64_t max_pixels, char *err);

/* The Orientation tag (1..8) in the first IFD of the TIFF structure t of n
 * bytes (EXIF data); 1 when there is none. */
int image_tiff_orientation(const unsigned char *t, size_t n);

#endif
