/* gifimg.h - a GIF's first frame, as Pillow 9.4 reads it, for image.c.
 *
 * Pillow opens a GIF's first frame without composing it: the canvas (the
 * logical screen, grown to hold the frame) is filled with the frame's
 * transparent index, or 0 without one, and the frame is decoded onto it
 * with its transparent pixels kept as their index. It is mode "P" (resized
 * with nearest neighbour, then looked up in the frame's colour table, or
 * the global one; indices past the table are grey) unless there is no
 * colour table or it is the grey ramp 0, 1, 2...: then mode "L", the index
 * being the grey level, resized with bicubic. So is this.
 *
 *     struct image_pixels im;
 *     if (gifimg_decode(buf, len, max_pixels, &im, err) < 0) ...  // err: "truncated GIF: ..."
 *     free(im.px);
 *
 * im is RGB with im.palette set, or grey. The canvas size is checked
 * against max_pixels before anything is allocated. Refused, as Pillow
 * refuses them: no image descriptor, a colour table or graphic control
 * block cut short, an LZW code size over 12, a code past the next free
 * one, and image data that ends (end code, or the file) before the frame's
 * last pixel. Thread-safe.
 */
#ifndef GIFIMG_H
#define GIFIMG_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

int gifimg_decode(const unsigned char *buf, size_t len, uint64_t max_pixels, struct image_pixels *im, char *err);

#endif
