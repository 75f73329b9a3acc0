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

/* The offset of tag's entry in the IFD at offset ifd, 0 when none. */
static size_t ifd_tag(const unsigned char *t, size_t n, int le, uint32_t ifd, unsigned tag)
{
    if (n < 2 || ifd > n - 2)
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

size_t decoder_tiff_tag(const unsigned char *t, size_t n, unsigned tag)
{
    if (n < 8 || (memcmp(t, "II*\0", 4) && memcmp(t, "MM\0*", 4)))
        return 0;
    return ifd_tag(t, n, t[0] == 'I', tiff_u32(t + 4, t[0] == 'I'), tag);
}

/* "YYYY:MM:DD HH:MM:SS" of the ASCII entry at e as seconds (the calendar
 * counted as UTC: EXIF gives no zone). -1 when not such a date. */
static int tiff_date_at(const unsigned char *t, size_t n, int le, size_t e, int64_t *secs)
{
    if (!e || tiff_u16(t + e + 2, le) != 2 || tiff_u32(t + e + 4, le) < 19)
        return -1;
    uint32_t at = tiff_u32(t + e + 8, le);
    if (at > n || n - at < 19)
        return -1;
    const unsigned char *d = t + at;
    int v[6], len[6] = {4, 2, 2, 2, 2, 2}, pos = 0;
    for (int k = 0; k < 6; k++, pos++) {
        v[k] = 0;
        for (int i = 0; i < len[k]; i++, pos++) {
            if (d[pos] < '0' || d[pos] > '9')
                return -1;
            v[k] = v[k] * 10 + d[pos] - '0';
        }
    }
    if (v[0] < 1800 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
        return -1;
    /* days from the civil date (Howard Hinnant's algorithm) */
    int y = v[0] - (v[1] <= 2), era = y / 400;
    int yoe = y - era * 400, mp = (v[1] + 9) % 12, doy = (153 * mp + 2) / 5 + v[2] - 1;
    int64_t days = (int64_t)era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    *secs = days * 86400 + v[3] * 3600 + v[4] * 60 + v[5];
    return 0;
}

int decoder_tiff_date(const unsigned char *t, size_t n, int64_t *secs)
{
    if (n < 8 || (memcmp(t, "II*\0", 4) && memcmp(t, "MM\0*", 4)))
        return -1;
    int le = t[0] == 'I';
    uint32_t ifd0 = tiff_u32(t + 4, le);
    size_t sub = ifd_tag(t, n, le, ifd0, 0x8769); /* the Exif IFD */
    if (sub && tiff_u16(t + sub + 2, le) == 4 &&
        tiff_date_at(t, n, le, ifd_tag(t, n, le, tiff_u32(t + sub + 8, le), 0x9003), secs) == 0)
        return 0; /* DateTimeOriginal */
    return tiff_date_at(t, n, le, ifd_tag(t, n, le, ifd0, 0x0132), secs); /* DateTime */
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
