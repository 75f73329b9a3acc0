/* pnmimg.c - PBM, PGM and PPM pixels (P1 to P6), as Pillow 9.4 reads
 * them.
 *
 * The header: "P1" to "P6" and a whitespace byte, then width, height and
 * (but for bitmaps) the maximum value, as numbers of at most 10 digits
 * between whitespace and #-comments; the raw pixels start after the one
 * whitespace byte that ends the last number. Pillow's modes, and so ours:
 * bitmaps (P1 plain, P4 raw, 1 black) are mode "1", resized with nearest
 * neighbour; grey (P2, P5) is "L", or "I" when the maximum value is over
 * 255 (16-bit samples, resized as Pillow's 32-bit ints); colour (P3, P6)
 * is "RGB". Samples are scaled to 0..255 (0..65535 for "I") as Pillow
 * does, round(v / maxval * top) with halves to even; a raw sample over the
 * maximum is clipped, a plain one refused.
 *
 * im is 1 or 3 bytes a pixel, or native uint16 grey with im.grey16 set.
 * The size is checked against max_pixels, and against the bytes the file
 * has (a plain sample takes at least one), before anything is allocated;
 * a file that ends before its last sample is refused. Thread-safe.
 * See decoder.h.
 */
#include "decoder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Pillow's whitespace: space, tab, LF, VT, FF, CR */
static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static int pnmimg_probe(const unsigned char *b, size_t len)
{
    return len >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && is_space(b[2]);
}

struct pnm {
    int kind;                 /* 1 to 6: P1 to P6 */
    uint64_t w, h, maxval;
    size_t p;                 /* where the pixels start */
    int c, grey16, bitmap;    /* Pillow's mode: "L"/"RGB" by c, "I", "1" */
    unsigned top;             /* what maxval is scaled to */
    size_t samples;           /* w * h * c */
    unsigned char *out;
};

/* A comment at *p: from '#' to the end of its line, the CR or LF included. */
static void skip_comment(const unsigned char *b, size_t len, size_t *p)
{
    while (*p < len && b[*p] != '\r' && b[*p] != '\n')
        ++*p;
    if (*p < len)
        ++*p;
}

/* A number of the header (Pillow's _read_token): whitespace and comments
 * skipped, at most 10 digits, ended by one whitespace byte (read) or the
 * end of the file; a comment inside it does not end it. */
static int number(const unsigned char *b, size_t len, size_t *p, uint64_t *v, char *err)
{
    size_t n = 0;
    for (*v = 0; *p < len;) {
        unsigned char c = b[(*p)++];
        if (c == '#')
            skip_comment(b, len, p);
        else if (is_space(c) && n)
            break;
        else if (!is_space(c)) {
            if (++n > 10)
                return error(err, "bad PNM header: a number of over 10 digits");
            if (c < '0' || c > '9')
                return error(err, "bad PNM header: '%c' in a number", c);
            *v = *v * 10 + (c - '0');
        }
    }
    return n ? 0 : error(err, "truncated PNM header");
}

static int read_header(const unsigned char *b, size_t len, struct pnm *m, char *err)
{
    *m = (struct pnm){.kind = b[1] - '0', .p = 3, .maxval = 1};
    m->bitmap = m->kind == 1 || m->kind == 4;
    if (number(b, len, &m->p, &m->w, err) < 0 || number(b, len, &m->p, &m->h, err) < 0 ||
        (!m->bitmap && number(b, len, &m->p, &m->maxval, err) < 0))
        return -1;
    if (m->maxval == 0 || m->maxval > 65535)
        return error(err, "PNM of maximum value %llu (1 to 65535)", (unsigned long long)m->maxval);
    m->c = m->kind % 3 == 0 ? 3 : 1;
    m->grey16 = m->c == 1 && m->maxval > 255;
    m->top = m->grey16 ? 65535 : 255;
    return 0;
}

/* Pillow's round(v / maxval * top), halves to even, at most top. */
static unsigned scale(const struct pnm *m, uint64_t v)
{
    if (m->maxval == m->top)
        return v > m->top ? m->top : (unsigned)v;
    double r = nearbyint((double)v / (double)m->maxval * m->top);
    return r > m->top ? m->top : (unsigned)r;
}

static void store(struct pnm *m, size_t k, unsigned v)
{
    if (m->grey16)
        ((uint16_t *)(void *)m->out)[k] = (uint16_t)v;
    else
        m->out[k] = (unsigned char)v;
}

/* P4, P5, P6: bits (1 black, rows padded to bytes), or samples of one or
 * two big-endian bytes; the caller has checked that they are all there. */
static void read_raw(struct pnm *m, const unsigned char *b)
{
    const unsigned char *d = b + m->p;
    size_t row = (m->w + 7) / 8;
    for (size_t k = 0; m->bitmap && k < m->samples; k++) {
        size_t x = k % m->w, y = k / m->w;
        m->out[k] = d[y * row + x / 8] >> (7 - x % 8) & 1 ? 0 : 255;
    }
    for (size_t k = 0; !m->bitmap && k < m->samples; k++)
        store(m, k, scale(m, m->maxval > 255 ? (unsigned)d[2 * k] << 8 | d[2 * k + 1] : d[k]));
}

/* P1: every byte but whitespace and comments is a pixel, '1' black and '0'
 * white, with or without whitespace between; any other byte after the
 * header Pillow refuses. */
static int read_plain_bits(struct pnm *m, const unsigned char *b, size_t len, char *err)
{
    size_t k = 0;
    for (size_t p = m->p; p < len;) {
        unsigned char c = b[p++];
        if (c == '#')
            skip_comment(b, len, &p);
        else if (c == '0' || c == '1') {
            if (k < m->samples)
                m->out[k++] = c == '1' ? 0 : 255;
        } else if (!is_space(c))
            return error(err, "bad PBM: '%c' among its pixels", c);
    }
    return k == m->samples ? 0 : error(err, "truncated PNM: %zu pixels of %zu", k, m->samples);
}

/* P2, P3: samples as numbers of at most 10 digits between whitespace; a
 * comment inside one does not end it, as Pillow cuts comments out first. */
static int read_plain(struct pnm *m, const unsigned char *b, size_t len, char *err)
{
    size_t p = m->p;
    for (size_t k = 0; k < m->samples; k++) {
        uint64_t v = 0;
        size_t n = 0;
        while (p < len) {
            unsigned char c = b[p++];
            if (c == '#')
                skip_comment(b, len, &p);
            else if (is_space(c) && n)
                break;
            else if (!is_space(c)) {
                if (++n > 10 || c < '0' || c > '9')
                    return error(err, "bad PNM: sample %zu is not a number of at most 10 digits", k);
                v = v * 10 + (c - '0');
            }
        }
        if (!n)
            return error(err, "truncated PNM: %zu samples of %zu", k, m->samples);
        if (v > m->maxval)
            return error(err, "bad PNM: sample %llu over the maximum value %llu", (unsigned long long)v,
                         (unsigned long long)m->maxval);
        store(m, k, scale(m, v));
    }
    return 0;
}

static int pnmimg_decode(const unsigned char *buf, size_t len, const struct decoder_opts *o, struct decoder_pixels *im,
                         char *err)
{
    struct pnm m;
    *im = (struct decoder_pixels){0};
    if (!pnmimg_probe(buf, len))
        return error(err, "not a PNM: no P1 to P6 and whitespace");
    if (read_header(buf, len, &m, err) < 0 || decoder_check_size(m.w, m.h, o->max_pixels, err) < 0)
        return -1;
    m.samples = m.w * m.h * m.c;
    /* the least the pixels take: all of them when raw, a byte a sample when plain */
    size_t have = len - m.p, least = m.kind <= 3 ? m.samples
                                   : m.bitmap   ? (m.w + 7) / 8 * m.h
                                                : m.samples * (m.maxval > 255 ? 2 : 1);
    if (have < least)
        return error(err, "truncated PNM: %zu bytes of pixels, %zu expected", have, least);
    if (!(m.out = malloc(m.samples * (m.grey16 ? 2 : 1))))
        return error(err, "out of memory for a %llu x %llu PNM", (unsigned long long)m.w, (unsigned long long)m.h);
    int rc = m.kind == 1 ? read_plain_bits(&m, buf, len, err) : m.kind <= 3 ? read_plain(&m, buf, len, err) : 0;
    if (rc < 0) {
        free(m.out);
        return -1;
    }
    if (m.kind > 3)
        read_raw(&m, buf);
    *im = (struct decoder_pixels){.px = m.out, .w = (int)m.w, .h = (int)m.h, .c = m.c, .grey16 = m.grey16,
                                .palette = m.bitmap};
    return 0;
}

const struct decoder pnmimg_decoder = {
    .name = "PNM",
    .extensions = "pnm ppm pgm pbm",
    .probe = pnmimg_probe,
    .decode = pnmimg_decode,
};
