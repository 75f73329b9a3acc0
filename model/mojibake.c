#include "mojibake.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "codepages.h"

/* ---- character classes ----
 * ftfy's badness heuristic sorts the few hundred characters that UTF-8
 * mojibake is made of into categories and calls unlikely neighbours bad;
 * its detector of UTF-8-looking runs uses what bytes 0x80.. are in the
 * usual encodings. Each character gets a mask of these bits. */
enum {
    COMMON   = 1 << 0,  /* in many contexts: no-break space, dashes, '...' */
    C1       = 1 << 1,  /* U+0080..U+009F */
    BAD      = 1 << 2,  /* nearly only in mojibake */
    LAW      = 1 << 3,  /* pilcrow, section sign */
    CUR      = 1 << 4,  /* currency */
    START    = 1 << 5,  /* opening punctuation */
    END      = 1 << 6,  /* closing punctuation */
    NUM      = 1 << 7,  /* numeric signs */
    KAO      = 1 << 8,  /* letters of kaomoji faces */
    UPACC    = 1 << 9,  /* accented capitals */
    LOACC    = 1 << 10, /* accented small letters */
    UPCOM    = 1 << 11, /* Greek, Cyrillic capitals */
    LOCOM    = 1 << 12, /* Greek, Cyrillic small letters */
    BOX      = 1 << 13, /* box drawing */
    LOWER    = 1 << 14, /* a-z */
    UPPER    = 1 << 15, /* A-Z */
    SPACE    = 1 << 16, /* Python's str.isspace(), the regex's \s */
    LITERAL  = 1 << 17, /* starts one of the heuristic's literal sequences */
    F2       = 1 << 18, /* decodes from a UTF-8 lead byte 0xc2..0xdf */
    F3       = 1 << 19, /* ... 0xe0..0xef */
    F4       = 1 << 20, /* ... 0xf0, 0xf3 */
    CONT     = 1 << 21, /* ... a continuation byte 0x80..0xbf, or is a space */
    STRICT   = 1 << 22, /* a continuation that punctuation does not explain */
};
#define ACC (UPACC | LOACC)
/* what a bad sequence can start with (see is_bad) */
#define STARTS (C1 | BAD | LAW | CUR | START | END | NUM | ACC | LOCOM | BOX | LOWER | UPPER | SPACE | LITERAL)

/* Code points, and ranges R(first, last). */
#define R(lo, hi) ((uint32_t)(hi) << 16 | (lo))

static const uint32_t s_common[] = {0xa0, 0xad, 0xb7, 0xb4, R(0x2013, 0x2015), 0x2026, 0x2019};
static const uint32_t s_c1[] = {R(0x80, 0x9f)};
static const uint32_t s_bad[] = {0xa6, 0xa4, 0xa8, 0xac, 0xaf, 0xb8, 0x192, 0x2c6, 0x2c7, 0x2d8, 0x2db, 0x2dc, 0x2020,
    0x2021, 0x2030, 0x2310, 0x25ca, 0xfffd, 0xaa, 0xba};
static const uint32_t s_law[] = {0xb6, 0xa7};
static const uint32_t s_cur[] = {0xa2, 0xa3, 0xa5, 0x20a7, 0x20ac};
static const uint32_t s_start[] = {0xa1, 0xab, 0xbf, 0xa9, 0x384, 0x385, 0x2018, 0x201a, 0x201c, 0x201e, 0x2022,
    0x2039, 0xf8ff};
static const uint32_t s_end[] = {0xae, 0xbb, 0x2dd, 0x201d, 0x203a, 0x2122};
static const uint32_t s_num[] = {R(0xb1, 0xb3), 0xb9, R(0xbc, 0xbe), 0xd7, 0xb5, 0xf7, 0x2044, 0x2202, 0x2206, 0x220f,
    0x2211, 0x221a, 0x221e, 0x2229, 0x222b, 0x2248, 0x2260, 0x2261, 0x2264, 0x2265, 0x2116};
static const uint32_t s_kao[] = {R(0xd2, 0xd6), R(0xd9, 0xdc), R(0xf2, 0xf6), R(0xf8, 0xfc), 0x150, 0x14c, 0x16a,
    0x172, 0xb0};
static const uint32_t s_upacc[] = {R(0xc0, 0xd1), 0xd8, 0xdc, 0xdd, 0x100, 0x102, 0x104, 0x106, 0x10c, 0x10e, 0x110,
    0x112, 0x116, 0x118, 0x11a, 0x11e, 0x122, 0x12a, 0x130, 0x136, 0x139, 0x13b, 0x13d, 0x141, 0x143, 0x145, 0x147,
    0x152, 0x158, 0x15a, 0x15e, 0x160, 0x162, 0x164, 0x16e, 0x170, 0x178, 0x179, 0x17b, 0x17d, 0x490};
static const uint32_t s_loacc[] = {0xdf, R(0xe0, 0xf1), 0xfc, 0x101, 0x103, 0x105, 0x107, 0x10d, 0x10f, 0x111, 0x113,
    0x117, 0x119, 0x11b, 0x11f, 0x123, 0x12b, 0x12f, 0x137, 0x13a, 0x13c, 0x13e, 0x142, 0x153, 0x155, 0x15b, 0x15f,
    0x161, 0x165, 0x17a, 0x17c, 0x17e, 0x491, 0xfb01, 0xfb02};
static const uint32_t s_upcom[] = {0xde, R(0x391, 0x3a9), 0x386, R(0x388, 0x38a), 0x38c, 0x38e, 0x38f, 0x3aa, 0x3ab,
    R(0x401, 0x42f)};
static const uint32_t s_locom[] = {R(0x3b1, 0x3c9), R(0x3ac, 0x3b0), R(0x430, 0x45f)};
static const uint32_t s_box[] = {0x2502, 0x250c, 0x2510, 0x2518, 0x251c, 0x2524, 0x252c, 0x253c, R(0x2550, 0x256c),
    0x2580, 0x2584, 0x2588, 0x258c, R(0x2590, 0x2593)};
static const uint32_t s_lower[] = {R('a', 'z')};
static const uint32_t s_upper[] = {R('A', 'Z')};
static const uint32_t s_space[] = {R(0x09, 0x0d), R(0x1c, 0x20), 0x85, 0xa0, 0x1680, R(0x2000, 0x200a), 0x2028,
    0x2029, 0x202f, 0x205f, 0x3000};
static const uint32_t s_literal[] = {R(0x152, 0x153), R(0xc2, 0xc3), 0xce, 0xd0, R(0xd7, 0xd9), 0xe0, 0x221a, 0x2248,
    0x201a, 0x432, R(0x412, 0x413), R(0x420, 0x421), 0x3b2, R(0x392, 0x393), R(0x39e, 0x39f), 0x101};

#define SPANS(bit, s) {bit, s, sizeof s / sizeof s[0]}
static const struct {
    uint32_t bit;
    const uint32_t *s;
    size_t n;
} categories[] = {
    SPANS(COMMON, s_common), SPANS(C1, s_c1),       SPANS(BAD, s_bad),       SPANS(LAW, s_law),
    SPANS(CUR, s_cur),       SPANS(START, s_start), SPANS(END, s_end),       SPANS(NUM, s_num),
    SPANS(KAO, s_kao),       SPANS(UPACC, s_upacc), SPANS(LOACC, s_loacc),   SPANS(UPCOM, s_upcom),
    SPANS(LOCOM, s_locom),   SPANS(BOX, s_box),     SPANS(LOWER, s_lower),   SPANS(UPPER, s_upper),
    SPANS(SPACE, s_space),   SPANS(LITERAL, s_literal),
};

/* The encodings tried, in ftfy's order: latin-1, then the codepages of
 * codepages.h; the Windows ones sloppy (undefined bytes read as latin-1,
 * U+FFFD written as 0x1a). */
#define ENCODINGS (1 + CODEPAGES)
#define MACROMAN 8
static int sloppy(int e) { return e >= 1 && e <= 6; }

#define LOW 0x600  /* classes below this are looked up directly */
#define HIGH_MAX 256

struct mojibake {
    uint32_t low[LOW];
    struct hi { uint32_t c, bits; } high[HIGH_MAX]; /* the rest, sorted */
    size_t nhigh;
    uint16_t decode[ENCODINGS][128];                /* byte 0x80 + i -> code point */
    struct rev { uint16_t c; uint8_t byte; } encode[ENCODINGS][129]; /* sorted by c */
    size_t nencode[ENCODINGS];
};

static int cmp_hi(const void *a, const void *b)
{
    uint32_t x = ((const struct hi *)a)->c, y = ((const struct hi *)b)->c;
    return x < y ? -1 : x > y;
}

static int cmp_rev(const void *a, const void *b)
{
    return (int)((const struct rev *)a)->c - (int)((const struct rev *)b)->c;
}

static uint32_t cls(const struct mojibake *m, uint32_t c)
{
    if (c < LOW)
        return m->low[c];
    struct hi key = {c, 0}, *h = bsearch(&key, m->high, m->nhigh, sizeof *m->high, cmp_hi);
    return h ? h->bits : 0;
}

static int mark(struct mojibake *m, uint32_t c, uint32_t bits)
{
    if (c < LOW) {
        m->low[c] |= bits;
        return 0;
    }
    for (size_t k = 0; k < m->nhigh; k++)
        if (m->high[k].c == c) {
            m->high[k].bits |= bits;
            return 0;
        }
    if (m->nhigh == HIGH_MAX)
        return -1;
    m->high[m->nhigh++] = (struct hi){c, bits};
    return 0;
}

/* The clue bits, from latin-1 and the strict Windows codepages. */
static int mark_clues(struct mojibake *m)
{
    static const uint32_t loose[] = {0x2013, 0x2014, 0x2015, 0x2018, 0x2019, 0x201a,
                                     0x201c, 0x201d, 0x201e, 0x2022, 0x2026};
    int bad = mark(m, ' ', CONT);
    for (int e = -1; e < 6; e++)
        for (int b = 0x80; b < 0x100; b++) {
            uint32_t c = e < 0 ? (uint32_t)b : codepages[e][b - 0x80], bits = 0;
            if (!c)
                continue;
            if (b <= 0xbf) {
                bits = CONT | STRICT;
                for (size_t k = 0; k < sizeof loose / sizeof loose[0]; k++)
                    if (c == loose[k])
                        bits = CONT;
            } else if (b >= 0xc2 && b <= 0xdf)
                bits = F2;
            else if (b >= 0xe0 && b <= 0xef)
                bits = F3;
            else if (b == 0xf0 || b == 0xf3)
                bits = F4;
            bad |= mark(m, c, bits);
        }
    return bad;
}

static void build_encodings(struct mojibake *m)
{
    for (int e = 0; e < ENCODINGS; e++) {
        size_t n = 0;
        for (int i = 0; i < 128; i++) {
            uint16_t c = e == 0 ? (uint16_t)(0x80 + i) : codepages[e - 1][i];
            if (!c) /* only the Windows codepages have holes, and are sloppy */
                c = (uint16_t)(0x80 + i);
            m->decode[e][i] = c;
            m->encode[e][n++] = (struct rev){c, (uint8_t)(0x80 + i)};
        }
        if (sloppy(e))
            m->encode[e][n++] = (struct rev){0xfffd, 0x1a};
        qsort(m->encode[e], n, sizeof m->encode[e][0], cmp_rev);
        m->nencode[e] = n;
    }
}

struct mojibake *mojibake_open(char *err)
{
    struct mojibake *m = calloc(1, sizeof *m);
    if (!m) {
        error(err, "out of memory for the mojibake tables");
        return NULL;
    }
    int bad = 0;
    for (size_t k = 0; k < sizeof categories / sizeof categories[0]; k++)
        for (size_t i = 0; i < categories[k].n; i++) {
            uint32_t lo = categories[k].s[i] & 0xffff, hi = categories[k].s[i] >> 16;
            for (uint32_t c = lo; c <= (hi ? hi : lo); c++)
                bad |= mark(m, c, categories[k].bit);
        }
    bad |= mark_clues(m);
    if (bad) { /* HIGH_MAX too small: a build error, not a runtime one */
        free(m);
        error(err, "mojibake tables: more than %d characters above U+%04X", HIGH_MAX, LOW);
        return NULL;
    }
    qsort(m->high, m->nhigh, sizeof *m->high, cmp_hi);
    build_encodings(m);
    return m;
}

void mojibake_close(struct mojibake *m) { free(m); }

/* ---- the badness heuristic ---- */

static int is_word(uint32_t c) /* the regex's \w: Python's str.isalnum() or '_' */
{
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return c == '_' || (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

static int in(uint32_t c, const uint32_t *set, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (c == set[k])
            return 1;
    return 0;
}

#define IN(c, ...) in(c, (const uint32_t[]){__VA_ARGS__}, sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))
#define NONE 0xffffffffu

/* ftfy's sequences of categories that make a text bad, starting at t[i]. */
static int bad_pair_at(uint32_t a, uint32_t b, uint32_t c, const uint32_t *t, size_t n, size_t i)
{
    return (a & C1) || ((a & (BAD | ACC | BOX | START | END | CUR | NUM | LAW)) && (b & BAD)) ||
           ((a & (LOWER | UPPER)) && (b & (LOCOM | UPCOM)) && (c & BAD)) ||
           ((a & BAD) && (b & (ACC | BOX | START | END | CUR | NUM | LAW))) ||
           ((a & (LOACC | LOCOM | BOX | END | CUR | NUM)) && (b & UPACC)) ||
           ((a & (BOX | END | CUR | NUM)) && (b & LOACC)) || ((a & (LOACC | BOX | END)) && (b & CUR)) ||
           ((a & SPACE) && (b & UPACC) && (c & CUR)) || ((a & (UPACC | BOX)) && (b & (NUM | LAW))) ||
           ((a & (ACC | BOX | CUR | END)) && (b & START) && (c & NUM)) ||
           ((a & (ACC | CUR | NUM | BOX | LAW)) && (b & END) && (c & START)) ||
           ((a & (CUR | NUM | BOX)) && (b & START)) || ((a & LOWER) && (b & UPACC) && (c & (START | CUR))) ||
           ((a & BOX) && (b & KAO)) || ((a & (ACC | CUR | NUM | START | END | LAW)) && (b & BOX)) ||
           ((a & BOX) && (b & END)) || ((a & ACC) && (b & (START | END)) && i + 2 < n && is_word(t[i + 2])) ||
           ((a & UPACC) && i + 1 < n && t[i + 1] == 0xb0);
}

static int is_lower(uint32_t c) { return c >= 'a' && c <= 'z'; }
static int is_letter(uint32_t c) { return is_lower(c | 0x20) && c < 128; }

/* ftfy's literal sequences: common mojibake of particular encodings.
 * Those the heuristic starts with a letter before 'Ã' or 'Â' are looked
 * for from that character, looking back. */
static int bad_literal_at(const struct mojibake *m, const uint32_t *t, size_t n, size_t i)
{
    uint32_t x[7];
    for (size_t k = 0; k < 7; k++)
        x[k] = i + k < n ? t[i + k] : NONE;
    uint32_t b = cls(m, x[1]), p = i > 0 ? t[i - 1] : NONE, pp = i > 1 ? t[i - 2] : NONE;
    uint32_t arabic = COMMON | CUR | BAD | NUM | START;
    switch (x[0]) {
    case 0x152: case 0x153: return x[1] != NONE && !is_letter(x[1]);
    case 0xd7: return IN(x[1], 0xb2, 0xb3);
    case 0xd8: case 0xd9:
        return ((b & arabic) || IN(x[1], 0x178, 0x160, 0xae, 0xb0, 0xb5, 0xbb)) && IN(x[2], 0xd8, 0xd9) &&
               ((cls(m, x[3]) & arabic) || IN(x[3], 0x178, 0x160, 0xae, 0xb0, 0xb5, 0xbb));
    case 0xe0: return IN(x[1], 0xb2, 0xb5, 0xb9, 0xbc, 0xbd, 0xbe);
    case 0x221a: return IN(x[1], 0xb1, 0x2202, 0x2020, 0x2260, 0xae, 0x2122, 0xb4, 0x2264, 0x2265, 0xa5, 0xb5, 0xf8);
    case 0x2248: return IN(x[1], 0xb0, 0xa2);
    case 0x201a:
        return (x[1] == 0xc4 && IN(x[2], 0xec, 0xee, 0xef, 0xf2, 0xf4, 0xfa, 0xf9, 0xfb, 0x2020, 0xb0, 0xa2, 0x3c0)) ||
               (IN(x[1], 0xe2, 0xf3) && IN(x[2], 0xe0, 0xe4, 0xb0, 0xea));
    case 0x432: return x[1] == 0x402;
    case 0x413:
        if (x[1] == 0x45e && x[2] == 0x412 && x[3] == 0x402 && x[4] == 0x412 && x[5] != NONE && x[5] != '\n' &&
            (is_letter(x[6]) || x[6] == ' '))
            return 1;
        /* fall through */
    case 0x412: case 0x420: case 0x421:
        return ((b & (C1 | BAD | START | END | CUR)) || IN(x[1], 0xb0, 0xb5)) && IN(x[2], 0x412, 0x413, 0x420, 0x421);
    case 0x3b2: return x[1] == 0x20ac && IN(x[2], 0x2122, 0xa0, 0x386, 0xad, 0xae, 0xb0);
    case 0x392: case 0x393: case 0x39e: case 0x39f:
        return ((b & (C1 | BAD | START | END | CUR)) || x[1] == 0xb0) && IN(x[2], 0x392, 0x393, 0x39e, 0x39f);
    case 0x101: return x[1] == 0x20ac;
    }
    if (IN(x[0], 0xc2, 0xc3, 0xce, 0xd0) &&
        (IN(x[1], 0x20ac, 0x153, 0x160, 0x161, 0xa2, 0xa3, 0x178, 0x17e, 0xa0, 0xad, 0xae, 0xa9, 0xb0, 0xb7, 0xbb,
            0x2013, 0x2014, 0xb4) ||
         (b & (START | END))))
        return 1;
    if (x[0] == 0xc3 && IN(x[1], 0xa0, 0xa1))
        return 1;
    if (IN(x[0], 0xc2, 0xc3) && x[1] == ' ' &&
        (i == 0 || is_lower(p) || ((cls(m, p) & SPACE) && is_lower(pp))))
        return 1;
    return x[0] == 0xc2 && p != NONE && (is_lower(p) || IN(p, '.', ',', '?', '!') || (cls(m, p) & END)) &&
           (x[1] == ' ' || (b & (START | END)));
}

/* ftfy's is_bad: does any of its sequences occur in t? */
static int is_bad(const struct mojibake *m, const uint32_t *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t a = cls(m, t[i]);
        if (!(a & STARTS))
            continue;
        uint32_t b = i + 1 < n ? cls(m, t[i + 1]) : 0;
        /* every sequence starting at an ASCII character goes on with a
         * Greek, Cyrillic or accented letter */
        if (t[i] < 128 && !(b & (LOCOM | UPCOM | UPACC)))
            continue;
        uint32_t c = i + 2 < n ? cls(m, t[i + 2]) : 0;
        if (bad_pair_at(a, b, c, t, n, i) || ((a & LITERAL) && bad_literal_at(m, t, n, i)))
            return 1;
    }
    return 0;
}

/* ---- bytes: re-encoding, ftfy's byte repairs, decoding ---- */

/* t in encoding e, one byte a character; -1 when one has no byte there. */
static int encode(const struct mojibake *m, int e, const uint32_t *t, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i] < 0x80 && !(t[i] == 0x1a && sloppy(e))) { /* 0x1a stands for U+FFFD there */
            out[i] = (unsigned char)t[i];
            continue;
        }
        struct rev key = {(uint16_t)t[i], 0}, *r = NULL;
        if (t[i] <= 0xffff)
            r = bsearch(&key, m->encode[e], m->nencode[e], sizeof key, cmp_rev);
        if (!r)
            return -1;
        out[i] = r->byte;
    }
    return 0;
}

static int cont(unsigned b) { return b >= 0x80 && b <= 0xbf; }
static int cont_a0(unsigned b) { return cont(b) && b != 0x85 && b != 0xa0; } /* not what a space hides */

/* Bytes i.. of b, 0 past the end (0 is in no class tested). */
static void window(const unsigned char *b, size_t n, size_t i, unsigned char *x, size_t k)
{
    for (size_t j = 0; j < k; j++)
        x[j] = i + j < n ? b[i + j] : 0;
}

/* Length of UTF-8 at b[i] whose 0xa0 a Windows program made a space (for
 * the lead bytes that make likely characters), 0 if none. */
static size_t altered_at(const unsigned char *b, size_t n, size_t i)
{
    unsigned char x[4];
    window(b, n, i, x, 4);
    if ((x[0] == 0xc2 || x[0] == 0xc3 || x[0] == 0xc5 || x[0] == 0xce || x[0] == 0xd0 || x[0] == 0xd9) && x[1] == ' ')
        return 2;
    if ((x[0] == 0xe2 || x[0] == 0xe3) && x[1] == ' ' && cont_a0(x[2]))
        return 3;
    if (x[0] >= 0xe0 && x[0] <= 0xe3 && cont_a0(x[1]) && x[2] == ' ')
        return 3;
    if (x[0] == 0xf0 && ((x[1] == ' ' && cont(x[2]) && cont(x[3])) || (cont(x[1]) && x[2] == ' ' && cont(x[3])) ||
                         (cont(x[1]) && cont(x[2]) && x[3] == ' ')))
        return 4;
    return 0;
}

static int has_altered(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (altered_at(b, n, i))
            return 1;
    return 0;
}

static int follows(const unsigned char *b, size_t n, size_t i, const char *s)
{
    size_t k = strlen(s);
    return n - i >= k && !memcmp(b + i, s, k);
}

/* ftfy's restore_byte_a0, from in to out (at most 1.5 n bytes): "Ã " as
 * "à " unless a word follows that Portuguese writes after "à", then the
 * spaces of altered_at as 0xa0. */
static size_t restore_a0(const unsigned char *in, size_t n, unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (in[i] == 0xc3 && i + 1 < n && in[i + 1] == ' ' && !follows(in, n, i + 2, " ") &&
            !follows(in, n, i + 2, "quele") && !follows(in, n, i + 2, "quela") && !follows(in, n, i + 2, "quilo") &&
            !follows(in, n, i + 2, "s ")) {
            memcpy(out + o, "\xc3\xa0 ", 3);
            o += 3;
            i += 2;
        } else
            out[o++] = in[i++];
    }
    for (size_t i = 0; i < o;) {
        size_t k = altered_at(out, o, i);
        for (size_t j = i; j < i + k; j++)
            out[j] = out[j] == ' ' ? 0xa0 : out[j];
        i += k ? k : 1;
    }
    return o;
}

static int lost(unsigned b) { return b == 0x1a || b == '?'; } /* a byte a sloppy codec lost */
static int cont_or_lost(unsigned b) { return b == 0x1a || cont(b); }

/* Length of UTF-8 at b[i] with lost bytes (0x1a, or once '?'), 0 if none. */
static size_t lossy_at(const unsigned char *b, size_t n, size_t i)
{
    unsigned char x[6];
    window(b, n, i, x, 6);
    if (x[0] >= 0xc2 && x[0] <= 0xdf && (x[1] == 0x1a || (x[0] <= 0xc3 && x[1] == '?')))
        return 2;
    if (x[0] == 0xed && x[1] >= 0xa0 && x[1] <= 0xaf && x[3] == 0xed && x[4] >= 0xb0 && x[4] <= 0xbf &&
        ((lost(x[2]) && (lost(x[5]) || cont(x[5]))) || ((lost(x[2]) || cont(x[2])) && lost(x[5]))))
        return 6;
    if (x[0] >= 0xe0 && x[0] <= 0xef &&
        ((lost(x[1]) && cont_or_lost(x[2])) || (cont_or_lost(x[1]) && lost(x[2]))))
        return 3;
    if (x[0] >= 0xf0 && x[0] <= 0xf4 &&
        ((lost(x[1]) && cont_or_lost(x[2]) && cont_or_lost(x[3])) ||
         (cont_or_lost(x[1]) && lost(x[2]) && cont_or_lost(x[3])) ||
         (cont_or_lost(x[1]) && cont_or_lost(x[2]) && lost(x[3]))))
        return 4;
    return x[0] == 0x1a;
}

/* ftfy's replace_lossy_sequences, from in to out (at most 3 n bytes): each
 * of them, and each other 0x1a, becomes U+FFFD. */
static size_t replace_lossy(const unsigned char *in, size_t n, unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = lossy_at(in, n, i);
        if (k) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i += k;
        } else
            out[o++] = in[i++];
    }
    return o;
}

/* Length of the valid UTF-8 sequence at b[i], as Python checks it, 0 if none. */
static size_t utf8_length(const unsigned char *b, size_t n, size_t i)
{
    unsigned lead = b[i], lo = 0x80, hi = 0xbf;
    size_t k = lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3
             : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    if (k == 0 || n - i < k)
        return 0;
    lo = lead == 0xe0 ? 0xa0 : lead == 0xf0 ? 0x90 : 0x80;
    hi = lead == 0xed ? 0x9f : lead == 0xf4 ? 0x8f : 0xbf;
    for (size_t j = 1; j < k; j++, lo = 0x80, hi = 0xbf)
        if (b[i + j] < lo || b[i + j] > hi)
            return 0;
    return k;
}

/* The bytes as ftfy's utf-8-variants codec reads them, strictly: UTF-8,
 * also Java's 0xc0 0x80 for U+0000 and CESU-8's surrogate pairs. Its
 * regular expressions let a final '\n' stand for the last byte of either
 * (the '$' of Python matches before it), and so does this. -1 when the
 * bytes are not that or make more than cap code points. */
static int decode_utf8(const unsigned char *b, size_t n, uint32_t *out, size_t cap, size_t *nout)
{
    size_t o = 0;
    for (size_t i = 0; i < n; o++) {
        if (o == cap)
            return -1;
        if (b[i] == 0xc0 && n - i >= 2 && (b[i + 1] == 0x80 || (b[i + 1] == '\n' && n - i == 2))) {
            out[o] = 0;
            i += 2;
            continue;
        }
        if (b[i] == 0xed && n - i >= 6 && b[i + 1] >= 0xa0 && b[i + 1] <= 0xaf && cont(b[i + 2]) && b[i + 3] == 0xed &&
            b[i + 4] >= 0xb0 && b[i + 4] <= 0xbf && (cont(b[i + 5]) || (b[i + 5] == '\n' && n - i == 6))) {
            out[o] = 0x10000 + ((uint32_t)(b[i + 1] & 0x0f) << 16) + ((uint32_t)(b[i + 2] & 0x3f) << 10) +
                     ((uint32_t)(b[i + 4] & 0x0f) << 6) + (b[i + 5] & 0x3fu);
            i += 6;
            continue;
        }
        size_t k = utf8_length(b, n, i);
        if (!k)
            return -1;
        uint32_t c = k == 1 ? b[i] : b[i] & (0x7fu >> k);
        for (size_t j = 1; j < k; j++)
            c = c << 6 | (b[i + j] & 0x3fu);
        out[o] = c;
        i += k;
    }
    *nout = o;
    return 0;
}

/* ---- the repair ---- */

struct fixer {
    const struct mojibake *m;
    size_t work, budget; /* code points visited, and the most allowed */
    int oom;
};

static int fix(struct fixer *f, uint32_t *t, size_t *n, int depth);

static int same(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    return na == nb && (!na || !memcmp(a, b, na * sizeof *a));
}

/* The text encoded in encoding e, repaired as bytes, decoded as UTF-8 into
 * out (at most n code points); -1 when it does not decode. bytes: two
 * buffers of 5 n bytes. */
static int redecode(const struct mojibake *m, int e, const uint32_t *t, size_t n, uint32_t *out, size_t *nout,
                    unsigned char *bytes[2])
{
    unsigned char *a = bytes[0], *b = bytes[1], *swap;
    if (encode(m, e, t, n, a) < 0)
        return -1;
    size_t nb = n;
    /* MacRoman is left alone: there a space after an en dash looks altered */
    if (e != MACROMAN && has_altered(a, nb)) {
        nb = restore_a0(a, nb, b);
        swap = a, a = b, b = swap;
    }
    if (sloppy(e)) {
        nb = replace_lossy(a, nb, b);
        a = b;
    }
    return decode_utf8(a, nb, out, n, nout);
}

/* Length of what would be one UTF-8 sequence read in latin-1 or a Windows
 * codepage at t[k] (a space may stand for 0xa0), 0 if none; the shortest
 * first, as the regular expression tries them. */
static size_t sequence_at(const struct mojibake *m, const uint32_t *t, size_t n, size_t k)
{
    static const uint32_t lead[4] = {0, F2, F3, F4};
    uint32_t a = cls(m, t[k]);
    for (size_t more = 1; more <= 3; more++) {
        if (!(a & lead[more]) || n - k <= more)
            continue;
        size_t j = 1;
        while (j <= more && (cls(m, t[k + j]) & CONT))
            j++;
        if (j > more)
            return more + 1;
    }
    return 0;
}

/* Length of ftfy's UTF8_DETECTOR_RE match at t[i]: a run of sequence_at
 * not right after a character that is only a continuation; 0 if none. */
static size_t clue_run(const struct mojibake *m, const uint32_t *t, size_t n, size_t i)
{
    if (i > 0 && (cls(m, t[i - 1]) & STRICT))
        return 0;
    size_t k = i, len;
    while (k < n && (len = sequence_at(m, t, n, k)))
        k += len;
    return k - i;
}

/* ftfy's decode_inconsistent_utf8: each run of clue_run that is bad on its
 * own, shorter than the text, repaired alone. 1 if anything changed. */
static int fix_runs(struct fixer *f, const uint32_t *t, size_t n, uint32_t *out, size_t *nout, int depth)
{
    size_t o = 0;
    int changed = 0;
    for (size_t i = 0; i < n && !f->oom;) {
        size_t k = clue_run(f->m, t, n, i), len = k;
        if (!k) {
            out[o++] = t[i++];
            continue;
        }
        memcpy(out + o, t + i, k * sizeof *t);
        if (k < n && depth < MOJIBAKE_MAX_DEPTH && is_bad(f->m, t + i, k) && fix(f, out + o, &len, depth + 1) == 0)
            changed |= !same(out + o, len, t + i, k);
        o += len;
        i += k;
    }
    *nout = o;
    return changed;
}

/* One step of ftfy's fix_encoding: t into out (never longer); 1 if the
 * text changed. */
static int fix_step(struct fixer *f, const uint32_t *t, size_t n, uint32_t *out, size_t *nout, unsigned char *bytes[2],
                    int depth)
{
    for (int e = 0; e < ENCODINGS; e++)
        if (redecode(f->m, e, t, n, out, nout, bytes) == 0)
            return !same(t, n, out, *nout);
    if (fix_runs(f, t, n, out, nout, depth))
        return 1;
    /* C1 controls read as Windows-1252, where it has them */
    int changed = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = t[i] >= 0x80 && t[i] <= 0x9f ? f->m->decode[1][t[i] - 0x80] : t[i];
        changed |= out[i] != t[i];
    }
    *nout = n;
    return changed;
}

static int plain(const uint32_t *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (t[i] >= 0x80)
            return 0;
    return 1;
}

/* ftfy's fix_encoding: steps until the text stays as it is. */
static int fix(struct fixer *f, uint32_t *t, size_t *n, int depth)
{
    if (plain(t, *n) || !is_bad(f->m, t, *n))
        return 0;
    size_t size, nb;
    if (size_mul(*n, 5, &nb) < 0 || size_add(nb, 8, &nb) < 0 || size_mul(*n, sizeof *t, &size) < 0 ||
        size_add(size, 2 * nb, &size) < 0)
        return f->oom = 1, -1;
    uint32_t *out = malloc(size);
    if (!out)
        return f->oom = 1, -1;
    unsigned char *bytes[2] = {(unsigned char *)(out + *n), (unsigned char *)(out + *n) + nb};
    for (int s = 0; s < MOJIBAKE_MAX_STEPS && f->work <= f->budget && !f->oom; s++) {
        f->work += *n;
        size_t k = 0;
        if (s > 0 && (plain(t, *n) || !is_bad(f->m, t, *n)))
            break;
        if (!fix_step(f, t, *n, out, &k, bytes, depth))
            break;
        memcpy(t, out, k * sizeof *t);
        *n = k;
    }
    free(out);
    return f->oom ? -1 : 0;
}

int mojibake_fix(const struct mojibake *m, uint32_t *text, size_t *n, char *err)
{
    struct fixer f = {m, 0, 64 * *n + 4096, 0};
    if (fix(&f, text, n, 0) < 0)
        return error(err, "out of memory while repairing mojibake");
    return 0;
}
