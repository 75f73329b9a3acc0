/* decoder.h - what every image decoder is: one constant table entry (its
 * name, file extensions, probe, decode, version and the library it loads),
 * the pixels it makes, the options it takes and the checks they share.
 *
 *     const struct decoder *d = &bmpimg_decoder;          // or image.h's image_format_at(i)
 *     struct decoder_opts o = {.max_pixels = 100000000, .resolution = 224};
 *     struct decoder_pixels im;
 *     if (d->probe(buf, len) && d->decode(buf, len, &o, &im, err) < 0) ...  // err: "truncated BMP: ..."
 *     free(im.px);
 *
 * A decoder is one file, formats/NAME.c, defining `const struct decoder
 * NAME_decoder` and nothing else exported; the format it reads is described
 * at the top of that file. The decoders are listed once, in DECODER_LIST
 * below, in the order image.c tries their probes. Adding a format is its
 * file plus its line in that list: image.c's table, the folder walk's
 * extensions, the "not an image" message, the help's list and --version
 * all come from the entries.
 * A decoder checks the size the file claims (decoder_check_size) before it
 * allocates any pixel, takes (buffer, length) and checks every read, and
 * never prints. Thread-safe, all of them: no state outside the call but the
 * libraries loaded on first use (util_lib_load).
 */
#ifndef DECODER_H
#define DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* The longest side decoded (stb_image's STBI_MAX_DIMENSIONS in stbimage.c) */
#define DECODER_MAX_SIDE (1 << 20)

/* Decoded pixels: h rows of w pixels of c samples (1 grey, 2 grey + alpha,
 * 3 RGB, 4 RGBA or CMYK), one byte each but for grey16. */
struct decoder_pixels {
    unsigned char *px; /* malloc'd: whoever holds the struct frees it */
    int w, h, c;
    int cmyk;          /* c == 4 holds C, M, Y, K rather than RGBA */
    int grey16;        /* c == 1 of native uint16 samples, resized as Pillow's mode "I" */
    int palette;       /* resized with nearest neighbour, as Pillow does modes "P" and "1" */
    int orientation;   /* EXIF orientation (1..8) applied when asked (--no-exif-orientation
                          skips it); 0: none */
    int transform;     /* orientation (1..8) applied whatever is asked, in its place: part of
                          decoding, as Pillow's TIFF loader and LibRaw do it; 0: none */
};

struct decoder_opts {
    uint64_t max_pixels; /* refuse larger images before decoding them */
    int resolution;      /* the side the image is to be resized to (RAW: the smallest
                            preview taken; JPEG: what draft keeps) */
    int draft;           /* JPEG: decode downscaled in the DCT domain (by 2, 4 or 8, the
                            shorter side staying at least twice resolution) */
    int raw_full;        /* camera RAW: full-size demosaic, never the preview */
    int preview;         /* the file is another's embedded preview (RAW's JPEG), which
                            Pillow never opens: its refusals of odd headers do not apply */
};

struct decoder {
    const char *name;       /* "JPEG": in messages, the help and --version */
    const char *extensions; /* "jpg jpeg jpe": the file names the folder walk takes
                               (lower case, compared without case), space-separated */
    /* 1 when the first bytes are this format's: a magic, never the name */
    int (*probe)(const unsigned char *buf, size_t len);
    /* The pixels of a file probe took, into *im (zeroed first, im->px
     * malloc'd: the caller frees it, also after a failure); -1 with err. */
    int (*decode)(const unsigned char *buf, size_t len, const struct decoder_opts *o, struct decoder_pixels *im,
                  char *err);
    /* What decodes it and its version into out, "libheif 1.15.1" (the
     * library loaded if it is not yet); -1 when the library cannot load.
     * NULL: clippie's own code, built in. */
    int (*version)(char *out, size_t size);
    const char *library;    /* the library loaded on first use, by its SONAME
                               ("libheif.so.1"); NULL: linked in or built in */
};

/* Every decoder, X(NAME) for NAME_decoder of formats/NAME.c, in the order
 * image.c tries their probes. A file is the first format whose probe takes
 * it, so: the camera RAWs before TIFF, as most of them are TIFFs (a RAW
 * LibRaw does not know is then read by the TIFF decoder); TGA last, as it
 * has no magic and is told by all of its header fields, which other
 * formats' first bytes could happen to fit. The rest have magics that
 * cannot overlap. */
#define DECODER_LIST(X) \
    X(jpegimg) \
    X(pngimg) \
    X(gifimg) \
    X(bmpimg) \
    X(pnmimg) \
    X(rawimg) \
    X(webpimg) \
    X(tiffimg) \
    X(heifimg) \
    X(tgaimg)

#define DECODER_DECLARE(name) extern const struct decoder name##_decoder;
DECODER_LIST(DECODER_DECLARE)

/* 0 when a w x h image is within max_pixels and DECODER_MAX_SIDE a side and
 * not empty, else -1 with err: "image of W x H pixels is over the limit...". */
int decoder_check_size(uint64_t w, uint64_t h, uint64_t max_pixels, char *err);

/* The offset of tag's 12-byte entry in the first IFD of the classic TIFF
 * structure t of n bytes (EXIF data, or a TIFF file), 0 when it has none. */
size_t decoder_tiff_tag(const unsigned char *t, size_t n, unsigned tag);

/* The date a TIFF structure (EXIF data) records: DateTimeOriginal, else
 * DateTime, as seconds from 1970 counting its calendar time as UTC (EXIF
 * has no zone). -1 when it records none. */
int decoder_tiff_date(const unsigned char *t, size_t n, int64_t *secs);

/* The Orientation tag (1..8) in that first IFD; 1 when there is none. */
int decoder_tiff_orientation(const unsigned char *t, size_t n);

#endif
