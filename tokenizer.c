#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "entities.h"
#include "mojibake.h"
#include "vocab.bpe.h"

#define RANK_SLOTS (1u << 17) /* > 2 x VOCAB_MERGES, a power of two */
#define CACHE_SLOTS (1u << 16)
#define EMPTY 0xffffffffu
#define MAX_FTFY_ROUNDS 64

struct cache_entry {
    char *key;
    size_t len;
    int32_t *ids;
    int n;
};

struct tokenizer {
    int32_t byte_id[256];          /* token of each byte's stand-in character */
    struct { uint32_t key; int32_t rank; } ranks[RANK_SLOTS]; /* key a << 16 | b, EMPTY where free */
    uint32_t width[0xfff0 - 0xff01][2]; /* ftfy's width fix: NFKC of U+FF01.., 0 where unchanged */
    struct cache_entry *cache;      /* word -> ids, emptied when half full */
    uint32_t *used;                 /* [CACHE_SLOTS / 2]: the slots taken, so that emptying
                                       touches only those pages of the cache */
    size_t cached;
    struct mojibake *mojibake;
};

/* A growing array of code points; push records allocation failure in oom. */
struct cps {
    uint32_t *c;
    size_t n, cap;
    int oom;
};

static void push(struct cps *b, uint32_t c)
{
    if (b->n == b->cap && util_grow(&b->c, &b->cap, b->n + 1, sizeof *b->c, SIZE_MAX / sizeof *b->c) < 0) {
        b->oom = 1;
        return;
    }
    b->c[b->n++] = c;
}

static void push_utf8(struct cps *b, const char *s)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_int32_t c;
    utf8proc_ssize_t k;
    while (*p && (k = utf8proc_iterate(p, -1, &c)) > 0) {
        push(b, (uint32_t)c);
        p += k;
    }
}

static uint32_t hash_pair(uint32_t key) { return (key * 2654435761u) >> 15; }

struct tokenizer *tokenizer_open(char *err)
{
    /* the merge table is filled whole: on a huge page where the system
     * gives one, a single page fault rather than one per 4 KiB */
    struct tokenizer *t = util_scratch(sizeof *t);
    if (t)
        memset(t, 0, sizeof *t);
    if (!t || !(t->cache = calloc(CACHE_SLOTS, sizeof *t->cache)) ||
        !(t->used = malloc(CACHE_SLOTS / 2 * sizeof *t->used))) {
        tokenizer_close(t);
        error(err, "out of memory for the tokenizer");
        return NULL;
    }
    if (!(t->mojibake = mojibake_open(err))) {
        tokenizer_close(t);
        return NULL;
    }
    /* bytes that print stand for themselves and come first; the rest follow */
    int next = 0;
    for (int b = 0; b < 256; b++)
        if ((b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff))
            t->byte_id[b] = next++;
    for (int b = 0; b < 256; b++)
        if (!((b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)))
            t->byte_id[b] = next++;
    for (uint32_t h = 0; h < RANK_SLOTS; h++)
        t->ranks[h].key = EMPTY;
    for (int r = 0; r < VOCAB_MERGES; r++) {
        uint32_t key = (uint32_t)vocab_merges[r][0] << 16 | vocab_merges[r][1], h = hash_pair(key);
        while (t->ranks[h].key != EMPTY)
            h = (h + 1) & (RANK_SLOTS - 1);
        t->ranks[h].key = key;
        t->ranks[h].rank = r;
    }
    for (uint32_t c = 0xff01; c < 0xfff0; c++) {
        utf8proc_uint8_t in[8], *out = NULL;
        utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)c, in);
        in[n] = 0;
        if (utf8proc_map(in, n, &out, UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT) > 0) {
            utf8proc_int32_t d;
            utf8proc_ssize_t k = utf8proc_iterate(out, -1, &d);
            /* every NFKC form in this block is one code point */
            if (k > 0 && out[k] == 0 && (uint32_t)d != c)
                t->width[c - 0xff01][0] = (uint32_t)d;
        }
        free(out);
    }
    return t;
}

static void cache_clear(struct tokenizer *t)
{
    for (size_t k = 0; k < t->cached; k++) {
        struct cache_entry *e = &t->cache[t->used[k]];
        free(e->key);
        free(e->ids);
        *e = (struct cache_entry){0};
    }
    t->cached = 0;
}

void tokenizer_close(struct tokenizer *t)
{
    if (!t)
        return;
    if (t->cache && t->used)
        cache_clear(t);
    free(t->cache);
    free(t->used);
    mojibake_close(t->mojibake);
    free(t);
}

/* ---- text cleaning, on code points ---- */

static const uint16_t cp1252[32] = {
    /* 0x80..0x9f as Windows-1252; its five holes stay as they are */
    0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
    0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
};

static const struct { uint32_t c; const char *to; } ligatures[] = {
    {0x132, "IJ"}, {0x133, "ij"}, {0x149, "\xca\xbcn"}, {0x1f1, "DZ"}, {0x1f2, "Dz"}, {0x1f3, "dz"},
    {0x1c4, "D\xc5\xbd"}, {0x1c5, "D\xc5\xbe"}, {0x1c6, "d\xc5\xbe"}, {0x1c7, "LJ"}, {0x1c8, "Lj"}, {0x1c9, "lj"},
    {0x1ca, "NJ"}, {0x1cb, "Nj"}, {0x1cc, "nj"}, {0xfb00, "ff"}, {0xfb01, "fi"}, {0xfb02, "fl"}, {0xfb03, "ffi"},
    {0xfb04, "ffl"}, {0xfb05, "\xc5\xbft"}, {0xfb06, "st"},
};

static int is_ws(uint32_t c) /* the regex module's \s */
{
    return (c >= 9 && c <= 13) || c == ' ' || c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
           c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

static int is_space(uint32_t c) /* Python's str.isspace() */
{
    return is_ws(c) || (c >= 0x1c && c <= 0x1f);
}

static int is_alnum_ascii(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_name_stop(uint32_t c)
{
    return c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' || c == ';';
}

static int is_digit(uint32_t c, int base)
{
    return base == 16 ? (c < 128 && strchr("0123456789abcdefABCDEF", (int)c) && c) : (c >= '0' && c <= '9');
}

static int cmp_entity(const void *key, const void *e)
{
    return strcmp(key, ((const struct entity *)e)->name);
}

/* The value of entity name (UTF-8, no '&'), or NULL. */
static const char *lookup(const struct entity *table, size_t n, const char *name)
{
    const struct entity *e = bsearch(name, table, n, sizeof *table, cmp_entity);
    return e ? e->value : NULL;
}

#define LOOKUP(table, name) lookup(table, sizeof table / sizeof table[0], name)

/* Copies code points [from, to) of b as ASCII into out (at most cap - 1);
 * -1 when one is not ASCII, so cannot be part of an entity name. */
static int ascii(const struct cps *b, size_t from, size_t to, char *out, size_t cap)
{
    if (to - from >= cap)
        return -1;
    for (size_t k = from; k < to; k++) {
        if (b->c[k] >= 128)
            return -1;
        out[k - from] = (char)b->c[k];
    }
    out[to - from] = 0;
    return 0;
}

/* Python's html.unescape of a numeric reference: what it turns num into. */
static void numeric_charref(struct cps *out, uint64_t num)
{
    if (num == 0)
        push(out, 0xfffd);
    else if (num == 0x0d)
        push(out, '\r');
    else if (num >= 0x80 && num <= 0x9f)
        push(out, cp1252[num - 0x80]);
    else if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff)
        push(out, 0xfffd);
    else if ((num >= 1 && num <= 8) || (num >= 0x0e && num <= 0x1f) || (num >= 0x7f && num <= 0x9f) || num == 0x0b ||
             (num >= 0xfdd0 && num <= 0xfdef) || (num & 0xfffe) == 0xfffe)
        ; /* dropped */
    else
        push(out, (uint32_t)num);
}

/* Parses digits of base at b->c[*k...]; the value saturates above 0x10ffff. */
static int parse_number(const struct cps *b, size_t *k, int base, uint64_t *num)
{
    size_t start = *k;
    *num = 0;
    while (*k < b->n && is_digit(b->c[*k], base)) {
        uint32_t c = b->c[*k];
        uint32_t d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
        if (*num <= 0x10ffff)
            *num = *num * (uint64_t)base + d;
        (*k)++;
    }
    return *k > start;
}

/* One pass of Python's html.unescape. */
static void html_unescape(const struct cps *in, struct cps *out)
{
    for (size_t i = 0; i < in->n;) {
        if (in->c[i] != '&') {
            push(out, in->c[i++]);
            continue;
        }
        size_t k = i + 1;
        if (k < in->n && in->c[k] == '#') {
            int base = k + 1 < in->n && (in->c[k + 1] == 'x' || in->c[k + 1] == 'X') ? 16 : 10;
            k += base == 16 ? 2 : 1;
            uint64_t num;
            if (!parse_number(in, &k, base, &num)) {
                push(out, in->c[i++]);
                continue;
            }
            if (k < in->n && in->c[k] == ';')
                k++;
            numeric_charref(out, num);
            i = k;
            continue;
        }
        /* named: up to 32 characters outside "\t\n\f <&#;", then an optional ';' */
        while (k < in->n && k - i <= 32 && !is_name_stop(in->c[k]))
            k++;
        if (k == i + 1) {
            push(out, in->c[i++]);
            continue;
        }
        if (k < in->n && in->c[k] == ';')
            k++;
        /* the whole name, else its longest known prefix of two or more */
        const char *v = NULL;
        char name[40];
        size_t x = k - i - 1;
        for (; x >= 2 && !v; x--)
            if (ascii(in, i + 1, i + 1 + x, name, sizeof name) == 0)
                v = LOOKUP(html5_entities, name);
        if (v) {
            push_utf8(out, v);
            for (size_t r = i + 1 + x + 1; r < k; r++)
                push(out, in->c[r]);
        } else
            for (size_t r = i; r < k; r++)
                push(out, in->c[r]);
        i = k;
    }
}

/* ftfy's unescape_html: only complete "&name;" and "&#...;" references. */
static void ftfy_unescape(const struct cps *in, struct cps *out)
{
    for (size_t i = 0; i < in->n;) {
        size_t k = i + 1;
        if (in->c[i] == '&') {
            int hash = k < in->n && in->c[k] == '#';
            k += (size_t)hash;
            size_t start = k;
            while (k < in->n && k - start < 25 && is_alnum_ascii(in->c[k]))
                k++;
            if (k > start && k - start <= 24 && k < in->n && in->c[k] == ';') {
                char name[32];
                ascii(in, i + 1, k + 1, name, sizeof name);
                const char *v = LOOKUP(ftfy_entities, name);
                if (v) {
                    push_utf8(out, v);
                    i = k + 1;
                    continue;
                }
                /* "&#65;" decodes only when the number is all of it */
                size_t d = start;
                int base = hash && (in->c[d] == 'x' || in->c[d] == 'X') ? 16 : 10;
                d += base == 16;
                uint64_t num;
                if (hash && parse_number(in, &d, base, &num) && d == k && num != ';') {
                    numeric_charref(out, num);
                    i = k + 1;
                    continue;
                }
            }
        }
        push(out, in->c[i++]);
    }
}

static int is_control(uint32_t c) /* what ftfy's remove_control_chars drops */
{
    return c <= 8 || c == 0x0b || (c >= 0x0e && c <= 0x1f) || c == 0x7f || (c >= 0x206a && c <= 0x206f) ||
           c == 0xfeff || (c >= 0xfff9 && c <= 0xfffc);
}

/* ftfy's per-character fixes, in its order: C1 controls, ligatures, width,
 * quotes, line breaks, terminal escapes, control characters. */
static void ftfy_chars(const struct tokenizer *t, const struct cps *in, struct cps *out)
{
    struct cps a = {0}, b = {0};
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->c[i];
        if (c >= 0x80 && c <= 0x9f)
            c = cp1252[c - 0x80];
        size_t l = 0;
        while (l < sizeof ligatures / sizeof ligatures[0] && ligatures[l].c != c)
            l++;
        if (l < sizeof ligatures / sizeof ligatures[0]) {
            push_utf8(&a, ligatures[l].to);
            continue;
        }
        push(&a, c);
    }
    for (size_t i = 0; i < a.n; i++) {
        uint32_t c = a.c[i];
        if (c == 0x3000)
            c = ' ';
        else if (c >= 0xff01 && c < 0xfff0 && t->width[c - 0xff01][0])
            c = t->width[c - 0xff01][0];
        if (c == 0x2bc || (c >= 0x2018 && c <= 0x201b))
            c = '\'';
        else if (c >= 0x201c && c <= 0x201f)
            c = '"';
        if (c == '\r' && i + 1 < a.n && a.c[i + 1] == '\n')
            continue;
        if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85)
            c = '\n';
        push(&b, c);
    }
    for (size_t i = 0; i < b.n; i++) {
        if (b.c[i] == 0x1b && i + 1 < b.n && b.c[i + 1] == '[') {
            size_t k = i + 2;
            while (k < b.n && (b.c[k] == ';' || utf8proc_category((utf8proc_int32_t)b.c[k]) == UTF8PROC_CATEGORY_ND))
                k++;
            if (k < b.n && b.c[k] < 128 && ((b.c[k] | 0x20) >= 'a' && (b.c[k] | 0x20) <= 'z')) {
                i = k;
                continue;
            }
        }
        if (!is_control(b.c[i]))
            push(out, b.c[i]);
    }
    out->oom |= a.oom | b.oom;
    free(a.c);
    free(b.c);
}

static void nfc(struct cps *b)
{
    /* utf8proc normalises UTF-8: convert, map, convert back */
    size_t cap = b->n * 4 + 1;
    utf8proc_uint8_t *s = malloc(cap), *out = NULL;
    if (!s) {
        b->oom = 1;
        return;
    }
    size_t len = 0;
    for (size_t i = 0; i < b->n; i++)
        len += (size_t)utf8proc_encode_char((utf8proc_int32_t)b->c[i], s + len);
    utf8proc_ssize_t n = utf8proc_map(s, (utf8proc_ssize_t)len, &out, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    free(s);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    b->n = 0;
    for (utf8proc_ssize_t k = 0; k < n;) {
        utf8proc_int32_t c;
        k += utf8proc_iterate(out + k, n - k, &c);
        push(b, (uint32_t)c);
    }
    free(out);
}

static int same(const struct cps *a, const struct cps *b)
{
    return a->n == b->n && (!a->n || !memcmp(a->c, b->c, a->n * sizeof *a->c));
}

/* ftfy.fix_text: per line, the fixes repeated until nothing changes: HTML
 * entities, mojibake, then the per-character fixes and NFC. Entities are
 * left alone from the first line holding '<' on, as ftfy does. */
static void ftfy(const struct tokenizer *t, const struct cps *in, struct cps *out)
{
    int unescape = 1;
    for (size_t start = 0; start < in->n;) {
        size_t end = start;
        while (end < in->n && in->c[end++] != '\n')
            ;
        struct cps seg = {0}, next = {0};
        for (size_t k = start; k < end; k++) {
            push(&seg, in->c[k]);
            unescape &= in->c[k] != '<';
        }
        for (int round = 0; round < MAX_FTFY_ROUNDS && !seg.oom; round++) {
            struct cps tmp = {0};
            next.n = 0;
            if (unescape)
                ftfy_unescape(&seg, &tmp);
            else
                for (size_t k = 0; k < seg.n; k++)
                    push(&tmp, seg.c[k]);
            if (!tmp.oom && mojibake_fix(t->mojibake, tmp.c, &tmp.n, NULL) < 0)
                tmp.oom = 1;
            ftfy_chars(t, &tmp, &next);
            free(tmp.c);
            nfc(&next);
            next.oom |= tmp.oom;
            int done = same(&seg, &next);
            struct cps swap = seg;
            seg = next;
            next = swap;
            if (done)
                break;
        }
        for (size_t k = 0; k < seg.n; k++)
            push(out, seg.c[k]);
        out->oom |= seg.oom | next.oom;
        free(seg.c);
        free(next.c);
        start = end;
    }
}

/* whitespace runs to one space, then Python's strip() */
static void whitespace(const struct cps *in, struct cps *out)
{
    for (size_t i = 0; i < in->n; i++) {
        if (is_ws(in->c[i])) {
            while (i + 1 < in->n && is_ws(in->c[i + 1]))
                i++;
            push(out, ' ');
        } else
            push(out, in->c[i]);
    }
    size_t a = 0, b = out->n;
    while (a < b && is_space(out->c[a]))
        a++;
    while (b > a && is_space(out->c[b - 1]))
        b--;
    if (a)
        memmove(out->c, out->c + a, (b - a) * sizeof *out->c);
    out->n = b - a;
}

static int is_cased(uint32_t c)
{
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c ||
           utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c;
}

static int is_case_ignorable(uint32_t c)
{
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    static const uint32_t mid[] = {0x27, 0x2e, 0x3a, 0xb7, 0x387, 0x5f4, 0x2018, 0x2019, 0x2024, 0x2027,
                                   0xfe13, 0xfe52, 0xfe55, 0xff07, 0xff0e, 0xff1a};
    for (size_t i = 0; i < sizeof mid / sizeof mid[0]; i++)
        if (c == mid[i])
            return 1;
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

/* Python's str.lower(): full mappings (U+0130) and the final sigma rule. */
static void lower(const struct cps *in, struct cps *out)
{
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->c[i];
        if (c == 0x130) {
            push(out, 'i');
            push(out, 0x307);
        } else if (c == 0x3a3) {
            size_t k = i;
            while (k > 0 && is_case_ignorable(in->c[k - 1]))
                k--;
            int before = k > 0 && is_cased(in->c[k - 1]);
            k = i + 1;
            while (k < in->n && is_case_ignorable(in->c[k]))
                k++;
            int after = k < in->n && is_cased(in->c[k]);
            push(out, before && !after ? 0x3c2 : 0x3c3);
        } else
            push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
    }
}

/* ---- pre-tokenizing and BPE ---- */

static int is_letter(uint32_t c)
{
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

static int is_number(uint32_t c)
{
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

/* Does s (ASCII) match b at i, ignoring case as the regex does ('ſ' is 's')? */
static int match_at(const struct cps *b, size_t i, const char *s)
{
    for (; *s; s++, i++) {
        if (i >= b->n)
            return 0;
        uint32_t c = b->c[i] == 0x17f ? 's' : b->c[i];
        if (c != (uint32_t)*s)
            return 0;
    }
    return 1;
}

/* Length of the regex match at i, 0 for whitespace (skipped). */
static size_t piece_at(const struct cps *b, size_t i)
{
    static const char *const fixed[] = {"<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++)
        if (match_at(b, i, fixed[k]))
            return strlen(fixed[k]);
    size_t k = i;
    if (is_letter(b->c[i])) {
        while (k < b->n && is_letter(b->c[k]))
            k++;
        return k - i;
    }
    if (is_number(b->c[i]))
        return 1;
    if (is_ws(b->c[i]))
        return 0;
    while (k < b->n && !is_ws(b->c[k]) && !is_letter(b->c[k]) && !is_number(b->c[k]))
        k++;
    return k - i;
}

#define NO_RANK INT32_MAX

static int32_t rank_of(const struct tokenizer *t, int32_t a, int32_t b)
{
    uint32_t key = (uint32_t)a << 16 | (uint32_t)b;
    for (uint32_t h = hash_pair(key); t->ranks[h].key != EMPTY; h = (h + 1) & (RANK_SLOTS - 1))
        if (t->ranks[h].key == key)
            return t->ranks[h].rank;
    return NO_RANK;
}

/* BPE of one piece, in place: sym holds n byte tokens on entry; rank and
 * fresh are scratch of n entries. As the reference does, each round merges
 * every occurrence, left to right, of the pair with the lowest rank. */
static int bpe(const struct tokenizer *t, int32_t *sym, int32_t *rank, unsigned char *fresh, int n)
{
    sym[n - 1] += 256; /* the last symbol carries </w> */
    for (int i = 0; i + 1 < n; i++)
        rank[i] = rank_of(t, sym[i], sym[i + 1]);
    while (n > 1) {
        int32_t best = NO_RANK;
        for (int i = 0; i + 1 < n; i++)
            best = rank[i] < best ? rank[i] : best;
        if (best == NO_RANK)
            break;
        int32_t a = vocab_merges[best][0], b = vocab_merges[best][1];
        int m = 0;
        for (int i = 0; i < n; m++) {
            int merge = i + 1 < n && sym[i] == a && sym[i + 1] == b;
            sym[m] = merge ? 512 + best : sym[i];
            rank[m] = merge ? NO_RANK : rank[i];
            fresh[m] = (unsigned char)merge;
            i += merge ? 2 : 1;
        }
        n = m;
        /* only pairs touching a merged symbol have new ranks */
        for (int i = 0; i + 1 < n; i++)
            if (fresh[i] || fresh[i + 1])
                rank[i] = rank_of(t, sym[i], sym[i + 1]);
    }
    return n;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

struct ids {
    int32_t *v;
    size_t n, cap;
    int oom;
};

static void add_ids(struct ids *o, const int32_t *v, int n)
{
    size_t need = o->n + (size_t)n;
    if (need > o->cap && util_grow(&o->v, &o->cap, need, sizeof *o->v, SIZE_MAX / sizeof *o->v) < 0) {
        o->oom = 1;
        return;
    }
    memcpy(o->v + o->n, v, (size_t)n * sizeof *v);
    o->n += (size_t)n;
}

/* The ids of one piece (UTF-8 bytes), from the cache when it was seen before. */
static void encode_piece(struct tokenizer *t, const char *s, size_t len, struct ids *out)
{
    if (len == 15 && !memcmp(s, "<|startoftext|>", 15)) {
        add_ids(out, &(int32_t){TOKENIZER_SOT}, 1);
        return;
    }
    if (len == 13 && !memcmp(s, "<|endoftext|>", 13)) {
        add_ids(out, &(int32_t){TOKENIZER_EOT}, 1);
        return;
    }
    size_t h = hash_bytes(s, len) & (CACHE_SLOTS - 1);
    for (; t->cache[h].key; h = (h + 1) & (CACHE_SLOTS - 1))
        if (t->cache[h].len == len && !memcmp(t->cache[h].key, s, len)) {
            add_ids(out, t->cache[h].ids, t->cache[h].n);
            return;
        }
    int32_t *sym = malloc(len * (2 * sizeof *sym + 1));
    if (!sym) {
        out->oom = 1;
        return;
    }
    for (size_t i = 0; i < len; i++)
        sym[i] = t->byte_id[(unsigned char)s[i]];
    int n = bpe(t, sym, sym + len, (unsigned char *)(sym + 2 * len), (int)len);
    add_ids(out, sym, n);
    char *key = malloc(len);
    if (t->cached >= CACHE_SLOTS / 2 || !key) {
        free(key);
        free(sym);
        if (t->cached >= CACHE_SLOTS / 2)
            cache_clear(t);
        return;
    }
    memcpy(key, s, len);
    t->cache[h] = (struct cache_entry){key, len, sym, n};
    t->used[t->cached++] = (uint32_t)h;
}

/* After a step wrote *spare from *cur: makes the result current again. */
static void then(struct cps *cur, struct cps *spare)
{
    struct cps t = *cur;
    *cur = *spare;
    *spare = t;
    spare->n = 0;
}

/* One cleaning step from *cur to *spare; the result becomes *cur. */
static void step(void (*fn)(const struct cps *, struct cps *), struct cps *cur, struct cps *spare)
{
    fn(cur, spare);
    then(cur, spare);
}

/* Bytes of the invalid sequence at s that become one U+FFFD: its longest
 * prefix that could start a valid character (Python's "replace" handler). */
static utf8proc_ssize_t bad_utf8_length(const unsigned char *s, size_t n)
{
    unsigned char lead = s[0];
    size_t want = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 1;
    size_t k = 1;
    for (; k < want && k < n; k++) {
        unsigned char lo = 0x80, hi = 0xbf;
        if (k == 1)
            lo = lead == 0xe0 ? 0xa0 : lead == 0xf0 ? 0x90 : 0x80, hi = lead == 0xed ? 0x9f : lead == 0xf4 ? 0x8f : 0xbf;
        if (s[k] < lo || s[k] > hi)
            break;
    }
    return (utf8proc_ssize_t)k;
}

/* Decodes len bytes into *a (bad sequences as U+FFFD, counted in *replaced)
 * and applies open_clip's basic_clean but for its strip: ftfy, then HTML
 * unescaped twice; *b is scratch. */
static void basic_clean(struct tokenizer *t, const char *text, size_t len, struct cps *a, struct cps *b, size_t *replaced)
{
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &c);
        if (k < 0) {
            c = 0xfffd;
            k = bad_utf8_length((const unsigned char *)text + i, len - i);
            (*replaced)++;
        }
        push(a, (uint32_t)c);
        i += (size_t)k;
    }
    /* printable ASCII without '&' is what most captions are, and nothing
     * of ftfy's or of the HTML unescaping changes it */
    int plain = 1;
    for (size_t i = 0; i < len && plain; i++)
        plain = text[i] >= 0x20 && text[i] <= 0x7e && text[i] != '&';
    if (!plain) {
        ftfy(t, a, b);
        then(a, b);
        step(html_unescape, a, b);
        step(html_unescape, a, b);
    }
}

int tokenizer_encode(struct tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *replaced, char *err)
{
    *ids = NULL;
    *replaced = 0;
    if (len > TOKENIZER_MAX_BYTES)
        return error(err, "text of %zu bytes is over the %d-byte limit", len, TOKENIZER_MAX_BYTES);
    struct cps a = {0}, b = {0};
    struct ids out = {0};
    basic_clean(t, text, len, &a, &b, replaced);
    step(whitespace, &a, &b);
    step(lower, &a, &b);
    add_ids(&out, &(int32_t){TOKENIZER_SOT}, 1);
    char *piece = malloc(a.n * 4 + 1);
    for (size_t i = 0; piece && i < a.n;) {
        size_t n = piece_at(&a, i), bytes = 0;
        if (n == 0) {
            i++;
            continue;
        }
        for (size_t k = i; k < i + n; k++)
            bytes += (size_t)utf8proc_encode_char((utf8proc_int32_t)a.c[k], (utf8proc_uint8_t *)piece + bytes);
        encode_piece(t, piece, bytes, &out);
        i += n;
    }
    add_ids(&out, &(int32_t){TOKENIZER_EOT}, 1);
    int oom = a.oom || b.oom || out.oom || !piece;
    free(piece);
    free(a.c);
    free(b.c);
    if (oom) {
        free(out.v);
        return error(err, "out of memory while tokenizing");
    }
    *ids = out.v;
    return (int)out.n;
}

/* canonicalize_text's step before lowering: '_' to a space, Python's
 * string.punctuation (ASCII's) removed */
static void strip_punctuation(const struct cps *in, struct cps *out)
{
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->c[i];
        if (c == '_')
            push(out, ' ');
        else if (!(c < 0x80 && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~", (int)c) && c))
            push(out, c);
    }
}

/* " ".join(text.split()): runs of Python's whitespace to one space, none at the ends */
static void split_join(const struct cps *in, struct cps *out)
{
    for (size_t i = 0; i < in->n; i++) {
        if (is_space(in->c[i]))
            continue;
        if (out->n)
            push(out, ' ');
        while (i < in->n && !is_space(in->c[i]))
            push(out, in->c[i++]);
    }
}

int tokenizer_canonicalize(struct tokenizer *t, const char *text, size_t len, char **out, size_t *out_len,
                           size_t *replaced, char *err)
{
    *out = NULL;
    *out_len = 0;
    *replaced = 0;
    if (len > TOKENIZER_MAX_BYTES)
        return error(err, "text of %zu bytes is over the %d-byte limit", len, TOKENIZER_MAX_BYTES);
    struct cps a = {0}, b = {0};
    basic_clean(t, text, len, &a, &b, replaced);
    step(strip_punctuation, &a, &b);
    step(lower, &a, &b);
    step(split_join, &a, &b);
    char *s = a.oom || b.oom ? NULL : malloc(a.n * 4 + 1);
    size_t n = 0;
    for (size_t i = 0; s && i < a.n; i++)
        n += (size_t)utf8proc_encode_char((utf8proc_int32_t)a.c[i], (utf8proc_uint8_t *)s + n);
    free(a.c);
    free(b.c);
    if (!s)
        return error(err, "out of memory while tokenizing");
    s[n] = 0;
    *out = s;
    *out_len = n;
    return 0;
}

int tokenizer_encode_spm(struct tokenizer *t, const struct spm_tables *s, int32_t eos, uint32_t context,
                         const char *text, size_t len, int32_t **ids, size_t *replaced, char *err)
{
    *ids = NULL;
    char *clean;
    size_t n, count;
    if (tokenizer_canonicalize(t, text, len, &clean, &n, replaced, err) < 0)
        return -1;
    int32_t *v;
    int rc = spm_encode(s, clean, n, &v, &count, err);
    free(clean);
    if (rc < 0)
        return -1;
    /* transformers truncates the text's ids to leave room for the end token */
    count = count > context - 1 ? context - 1 : count;
    int32_t *r = realloc(v, (count + 1) * sizeof *r);
    if (!r) {
        free(v);
        return error(err, "out of memory while tokenizing");
    }
    r[count] = eos;
    *ids = r;
    return (int)count + 1;
}
