/* pngcheck.h - the checks Pillow 9.4 makes of a PNG's chunks, which
 * stb_image does not, for pngimg.c.
 *
 * Refused, as Pillow refuses them:
 *   - a chunk before the image data whose CRC is wrong (Pillow checks
 *     those, and only those);
 *   - a zTXt of a compression method other than 0, the only one the PNG
 *     spec defines; an iCCP with no profile name;
 *   - a zTXt, iCCP or compressed iTXt that inflates to over 1 MiB, or text
 *     of over 64 MiB in all (Pillow's limits against decompression bombs;
 *     iTXt counted in bytes where Pillow counts characters);
 *   - APNG chunks cut short (acTL, fcTL, fdAT), out of sequence, or a
 *     frame outside the image;
 *   - an empty first IDAT (stb_image would add 0 to a null pointer).
 * Chunks after the image data are read as Pillow reads them when it loads
 * the first frame: up to IEND, or to the next frame's fcTL in an
 * animation (of two frames or more, the IDAT image counted when no fcTL
 * comes before it), without their CRCs. A chunk cut short by the end of the file
 * ends the walk (stb_image judges the rest).
 *
 *     if (pngcheck_chunks(buf, len, err) < 0) ...  // err: "PNG whose zTXt chunk inflates to over 1 MiB ..."
 *
 * Time: the bytes of the chunks, and at most 1 MiB of inflating a chunk
 * and 64 MiB for all of them (that total is stricter than Pillow, which has
 * none for profiles). No allocation but zlib's state, freed before it
 * returns. Thread-safe.
 */
#ifndef PNGCHECK_H
#define PNGCHECK_H

#include <stddef.h>

/* 0 when the PNG of len bytes (its signature and IHDR already checked)
 * passes, else -1 with err. */
int pngcheck_chunks(const unsigned char *buf, size_t len, char *err);

#endif
