/* decoder.c - the checks every decoder shares: the size limit and the TIFF
 * structure's orientation (EXIF data is one); see decoder.h. */
#include "decoder.h"

#include <string.h>

int decoder_check_size(uint64_t w, uint64_t h, uint64_t max_pixels, char *err)
{
    if (w == 0 || h == 0)
        return error(err, "image of %llu x %llu pixels has no pixels", (unsigned long long)w, (unsigned long long)h);
    if (w > DECODER_MAX_SIDE || h > DECODER_MAX_SIDE || w * h > max_pixels)
        return error(err, "image of %llu x %llu pixels is over the limit of %llu pixels (%d a side)",
                     (unsigned long long)w, (unsigned long long)h, (unsigned long long)max_pixels,
                     DECODER_MAX_SIDE);
    return 0;
}

static unsigned tiff_u16(const unsigned char *p, int le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }
static uint32_t tiff_u32(const unsigned char *p, int le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

size_t decoder_tiff_tag(const unsigned char *t, size_t n, unsigned tag)
{
    if (n < 8 || (memcmp(t, "II*\0", 4) && memcmp(t, "MM\0*", 4)))
        return 0;
    int le = t[0] == 'I';
    uint32_t ifd = tiff_u32(t + 4, le);
    if (ifd > n - 2)
        return 0;
    unsigned count = tiff_u16(t + ifd, le);
    for (unsigned k = 0; k < count; k++) {
        size_t e = ifd + 2 + (size_t)k * 12;
        if (e + 12 > n)
            return 0;
        if (tiff_u16(t + e, le) == tag)
            return e;
    }
    return 0;
}

int decoder_tiff_orientation(const unsigned char *t, size_t n)
{
    size_t e = decoder_tiff_tag(t, n, 0x0112);
    int le = n > 0 && t[0] == 'I';
    if (!e || tiff_u16(t + e + 2, le) != 3)
        return 1;
    unsigned v = tiff_u16(t + e + 8, le);
    return v >= 1 && v <= 8 ? (int)v : 1;
}
