/* The checks Pillow 9.4's PngImagePlugin makes of a PNG's chunks; see
 * pngcheck.h. */
#include "pngcheck.h"

#include <stdint.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#include "util.h"

#define TEXT_CHUNK (1u << 20)   /* Pillow's MAX_TEXT_CHUNK (ImageFile.SAFEBLOCK) */
#define TEXT_MEMORY (64u << 20) /* Pillow's MAX_TEXT_MEMORY */
/* All compressed chunks together, profiles and unnamed text included, which
 * Pillow inflates without a total: without it a 50 MB file of 1 MiB bombs
 * would cost 50 GB of inflating. Stricter than Pillow. */
#define INFLATE_TOTAL (64u << 20)

struct walk {
    uint64_t text;   /* text bytes so far */
    uint64_t inflated; /* bytes every compressed chunk so far inflated to */
    int64_t seq;     /* the last APNG sequence number, -1 before any */
    uint32_t frames; /* acTL's frame count (and the default image), 0 without a valid one */
    uint32_t w, h;   /* IHDR's size */
};

/* The bytes the zlib stream z of n bytes inflates to, counted until past
 * limit; -1 for a corrupt stream, -2 when zlib has no memory to start. A
 * stream cut short counts what it gave, as Python's decompressobj does. */
static long long inflated(const unsigned char *z, size_t n, size_t limit)
{
    unsigned char out[16384];
    z_stream s = {.next_in = z, .avail_in = (uInt)n};
    size_t total = 0;
    int rc;
    if (inflateInit(&s) != Z_OK)
        return -2;
    do {
        s.next_out = out, s.avail_out = sizeof out;
        rc = inflate(&s, Z_NO_FLUSH);
        total += sizeof out - s.avail_out;
    } while (rc == Z_OK && total <= limit);
    inflateEnd(&s);
    return rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR ? (long long)total : -1;
}

static int add_text(struct walk *w, uint64_t n, char *err)
{
    w->text += n;
    return w->text > TEXT_MEMORY ? error(err, "PNG with over %u MiB of text (Pillow's limit)", TEXT_MEMORY >> 20) : 0;
}

/* Compressed text or a profile: over 1 MiB refused, a corrupt stream
 * ignored, as Pillow does; count: it is text Pillow keeps. */
static int compressed(struct walk *w, const char *type, const unsigned char *z, size_t n, int count, char *err)
{
    long long got = inflated(z, n, TEXT_CHUNK);
    if (got == -2)
        return error(err, "out of memory inflating a PNG's %s chunk", type);
    if (got > 0 && (w->inflated += (uint64_t)got) > INFLATE_TOTAL)
        return error(err, "PNG whose compressed chunks inflate to over %u MiB in all", INFLATE_TOTAL >> 20);
    if (got > (long long)TEXT_CHUNK)
        return error(err, "PNG whose %s chunk inflates to over 1 MiB (Pillow's limit against decompression bombs)",
                     type);
    return count && got > 0 ? add_text(w, (uint64_t)got, err) : 0;
}

/* iTXt: keyword, compression flag and method, language and translated
 * keyword (each ended by a NUL), then the text; k: the keyword's length. */
static int itxt(struct walk *w, const unsigned char *d, size_t n, size_t k, char *err)
{
    if (k == n || n - k - 1 < 2)
        return 0;
    const unsigned char *end = d + n, *lang = memchr(d + k + 3, 0, (size_t)(end - d - k - 3));
    const unsigned char *tk = lang ? memchr(lang + 1, 0, (size_t)(end - lang - 1)) : NULL;
    if (!tk)
        return 0;
    if (!d[k + 1])
        return add_text(w, (size_t)(end - tk - 1), err);
    return d[k + 2] ? 0 : compressed(w, "iTXt", tk + 1, (size_t)(end - tk - 1), 1, err);
}

/* tEXt, zTXt, iTXt, iCCP, as Pillow's chunk_ functions read them. */
static int text_chunk(struct walk *w, const unsigned char *type, const unsigned char *d, size_t n, char *err)
{
    const unsigned char *nul = memchr(d, 0, n);
    size_t k = nul ? (size_t)(nul - d) : n; /* the keyword's (or name's) length */
    if (!memcmp(type, "tEXt", 4))
        return k ? add_text(w, nul ? n - k - 1 : 0, err) : 0;
    if (!memcmp(type, "zTXt", 4)) {
        if (k + 1 >= n) /* nothing after the keyword: method 0, no text */
            return 0;
        if (d[k + 1])
            return error(err, "PNG with an unknown compression method %d in its zTXt chunk", d[k + 1]);
        return compressed(w, "zTXt", d + k + 2, n - k - 2, k > 0, err);
    }
    if (!memcmp(type, "iCCP", 4)) {
        if (!nul)
            return error(err, "PNG whose iCCP chunk has no profile name");
        return k + 2 <= n ? compressed(w, "iCCP", d + k + 2, n - k - 2, 0, err) : 0;
    }
    return itxt(w, d, n, k, err);
}

/* acTL, fcTL, fdAT: sequence numbers 0, 1, 2... (an fdAT never first),
 * frames within the image. */
static int apng_chunk(struct walk *w, const unsigned char *type, const unsigned char *d, size_t n, char *err)
{
    if (!memcmp(type, "acTL", 4)) {
        if (n < 8)
            return error(err, "APNG whose acTL chunk is cut short (%zu bytes)", n);
        uint32_t f = load_be32(d); /* a second acTL undoes the first, as in Pillow */
        w->frames = w->frames ? 0 : f && f <= 0x80000000u ? f : 0;
        return 0;
    }
    int fctl = !memcmp(type, "fcTL", 4);
    if (n < (fctl ? 26u : 4u))
        return error(err, "APNG whose %.4s chunk is cut short (%zu bytes)", (const char *)type, n);
    uint32_t seq = load_be32(d);
    if ((!fctl && w->seq < 0) || (int64_t)seq != w->seq + 1)
        return error(err, "APNG whose %.4s chunk is out of sequence (number %u after %lld)", (const char *)type, seq,
                     (long long)w->seq);
    w->seq = seq;
    if (fctl && ((uint64_t)load_be32(d + 12) + load_be32(d + 4) > w->w || (uint64_t)load_be32(d + 16) + load_be32(d + 8) > w->h))
        return error(err, "APNG whose frame lies outside its %u x %u image", w->w, w->h);
    return 0;
}

static int chunk(struct walk *w, const unsigned char *type, const unsigned char *d, size_t n, char *err)
{
    static const char texts[][5] = {"tEXt", "zTXt", "iTXt", "iCCP"}, apng[][5] = {"acTL", "fcTL", "fdAT"};
    for (size_t k = 0; k < 4; k++)
        if (!memcmp(type, texts[k], 4))
            return text_chunk(w, type, d, n, err);
    for (size_t k = 0; k < 3; k++)
        if (!memcmp(type, apng[k], 4))
            return apng_chunk(w, type, d, n, err);
    return 0;
}

int pngcheck_chunks(const unsigned char *b, size_t len, char *err)
{
    struct walk w = {.seq = -1, .w = load_be32(b + 16), .h = load_be32(b + 20)};
    int data = 0; /* past the first IDAT or fdAT */
    for (size_t p = 8; len - p >= 12;) {
        size_t n = load_be32(b + p);
        const unsigned char *type = b + p + 4, *d = b + p + 8;
        if (n > len - p - 12)
            break;
        int image = !memcmp(type, "IDAT", 4) || !memcmp(type, "fdAT", 4);
        if (!data && !n && !memcmp(type, "IDAT", 4))
            return error(err, "PNG whose first IDAT chunk is empty");
        if (data && (!memcmp(type, "IEND", 4) || (!memcmp(type, "fcTL", 4) && w.frames > 1)))
            return 0;
        if (!data && !image && crc32(crc32(0, type, 4), d, (uInt)n) != load_be32(d + n))
            return error(err, "PNG whose %.4s chunk fails its CRC", (const char *)type);
        if (chunk(&w, type, d, n, err) < 0)
            return -1;
        /* an APNG's IDAT with no fcTL before it is a frame of its own */
        if (!data && !memcmp(type, "IDAT", 4) && w.frames && w.seq < 0)
            w.frames++;
        data |= image;
        p += 12 + n;
    }
    return 0;
}
