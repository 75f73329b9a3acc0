/* stbimage.h - PNG pixels by stb_image, for pngimg.c (BMP is bmpimg.c's; GIF,
 * PNM and TGA have decoders of their own, as Pillow reads them).
 *
 * stb_image is compiled into stbimage.c from Debian's header (libstb-dev)
 * with only this format, so that it is built with our flags and the
 * sanitizers and libFuzzer instrument it. The caller decides the format from
 * the magic bytes and checks the header's size first (pngimg.c does).
 *
 *     int w, h, c;
 *     unsigned char *px = stbimage_decode(buf, len, 64 << 20, &w, &h, &c, err);
 *     if (!px) ...   // err: "cannot decode: corrupt PNG"
 *     free(px);
 *
 * Thread-safe: stb_image's failure reason and the allocation limit are
 * per thread.
 */
#ifndef STBIMAGE_H
#define STBIMAGE_H

#include <stddef.h>

/* The longest side decoded (stb_image's STBI_MAX_DIMENSIONS). */
#define STBIMAGE_MAX_SIDE (1 << 20)

/* Decodes len bytes into h rows of w pixels of c bytes (1 grey, 2 grey +
 * alpha, 3 RGB, 4 RGBA), malloc'd: the caller frees them. c is want unless
 * want is 0: then as many as the file has (with an alpha channel for a PNG's
 * tRNS colour). No allocation of the decoder is larger than max_alloc bytes,
 * so that a stream that inflates past what its header claims fails instead.
 * NULL with err. */
unsigned char *stbimage_decode(const unsigned char *buf, size_t len, size_t max_alloc, int want, int *w, int *h,
                               int *c, char *err);

/* The same for a 16-bit grey PNG: h rows of w native uint16 samples
 * (transparency, if any, dropped). */
unsigned char *stbimage_decode16(const unsigned char *buf, size_t len, size_t max_alloc, int *w, int *h, char *err);

#endif
