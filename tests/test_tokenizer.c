/* tokenizer against openai/CLIP's reference: every text of
 * fixtures/tokens.txt and fixtures/mojibake.txt (made by
 * make_token_fixtures.py) must get exactly the reference ids; plus invalid
 * UTF-8, the length limit, and mojibake repair's bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mojibake.h"
#include "tokenizer.h"

/* tokens.txt: the text's bytes in hex; its length, or -1 */
static long unhex(const char *s, size_t n, char *out)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned v;
        if (sscanf(s + i, "%2x", &v) != 1)
            return -1;
        out[i / 2] = (char)v;
    }
    return (long)(n / 2);
}

/* mojibake.txt: the text's bytes, some written \xHH; its length, or -1 */
static long unescape(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (s[i] == '\\') {
            if (n - i < 4 || s[i + 1] != 'x' || sscanf(s + i + 2, "%2x", &v) != 1)
                return -1;
            out[o++] = (char)v;
            i += 3;
        } else
            out[o++] = s[i];
    }
    return (long)o;
}

static void test_reference(struct tokenizer *t, const char *dir, const char *name,
                           long (*decode)(const char *, size_t, char *), int least)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f)
        return;
    static char line[1 << 20], text[1 << 19];
    int mismatches = 0, lines = 0;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        long len = decode(line, (size_t)(tab - line), text);
        if (len < 0)
            continue;
        int32_t want[4096];
        int nwant = 0;
        for (char *p = tab + 1, *end; nwant < 4096; p = end) {
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            want[nwant++] = (int32_t)v;
        }
        int32_t *ids;
        size_t replaced;
        char err[ERR_LEN];
        int n = tokenizer_encode(t, text, (size_t)len, &ids, &replaced, err);
        int ok = n == nwant && !memcmp(ids, want, (size_t)n * sizeof *ids);
        if (!ok && ++mismatches <= 25) {
            fprintf(stderr, "%s: mismatch for '%.*s' (line %d):\n  want", name, (int)len, text, lines + 1);
            for (int k = 0; k < nwant; k++)
                fprintf(stderr, " %d", want[k]);
            fprintf(stderr, "\n  got ");
            for (int k = 0; k < n; k++)
                fprintf(stderr, " %d", ids[k]);
            fprintf(stderr, "\n");
        }
        free(ids);
        lines++;
    }
    fclose(f);
    CHECK(lines >= least, "%s: only %d reference texts", name, lines);
    CHECK(mismatches == 0, "%s: %d of %d texts tokenized differently from the reference", name, mismatches, lines);
}

static void test_invalid(struct tokenizer *t)
{
    int32_t *ids;
    size_t replaced;
    char err[ERR_LEN];
    /* a lone continuation byte and a truncated sequence become U+FFFD, the
     * reference's token for it being 4210 */
    int n = tokenizer_encode(t, "a\x80" "b\xe2\x82", 5, &ids, &replaced, err);
    CHECK(n > 2 && replaced == 2, "invalid UTF-8: n %d replaced %zu", n, replaced);
    free(ids);
    n = tokenizer_encode(t, "\xef\xbf\xbd", 3, &ids, &replaced, err);
    int32_t *ids2;
    int n2 = tokenizer_encode(t, "\xff", 1, &ids2, &replaced, err);
    CHECK(n == n2 && !memcmp(ids, ids2, (size_t)n * sizeof *ids) && replaced == 1,
          "a bad byte must tokenize as U+FFFD does");
    free(ids);
    free(ids2);
    static char big[TOKENIZER_MAX_BYTES + 2];
    memset(big, 'a', sizeof big);
    CHECK(tokenizer_encode(t, big, sizeof big, &ids, &replaced, err) < 0 && strstr(err, "limit"),
          "an over-long text was accepted");
    n = tokenizer_encode(t, big, TOKENIZER_MAX_BYTES, &ids, &replaced, err);
    CHECK(n > 2, "the longest allowed text failed: %s", err);
    free(ids);
}

/* Tokenizes a and b; are the ids the same? */
static int same_ids(struct tokenizer *t, const char *a, size_t na, const char *b, size_t nb)
{
    int32_t *x = NULL, *y = NULL;
    size_t replaced;
    char err[ERR_LEN];
    int n = tokenizer_encode(t, a, na, &x, &replaced, err), m = tokenizer_encode(t, b, nb, &y, &replaced, err);
    int same = n > 2 && n == m && !memcmp(x, y, (size_t)n * sizeof *x);
    free(x);
    free(y);
    return same;
}

/* The repair alone (ftfy's docstring example), and the longest text the
 * tokenizer takes, doubly garbled, repaired whole within the work bound as
 * ftfy repairs it: U+00C3 U+0083 U+00C2 U+00A9 is "é" written as UTF-8 and
 * read as latin-1, twice. */
static void test_mojibake(struct tokenizer *t)
{
    char err[ERR_LEN];
    struct mojibake *m = mojibake_open(err);
    CHECK(m != NULL, "mojibake_open: %s", err);
    uint32_t cafe[] = {'c', 'a', 'f', 0xc3, 0xa9};
    size_t n = 5;
    CHECK(m && mojibake_fix(m, cafe, &n, err) == 0 && n == 4 && cafe[3] == 0xe9, "caf\\xc3\\xa9 not repaired");
    mojibake_close(m);
    static char garbled[TOKENIZER_MAX_BYTES], clean[TOKENIZER_MAX_BYTES / 4];
    for (size_t i = 0; i < sizeof clean / 2; i++) {
        memcpy(garbled + 8 * i, "\xc3\x83\xc2\x83\xc3\x82\xc2\xa9", 8);
        memcpy(clean + 2 * i, "\xc3\xa9", 2);
    }
    CHECK(same_ids(t, garbled, sizeof garbled, clean, sizeof clean), "64 KiB of doubly garbled text not repaired");
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/fixtures";
    char err[ERR_LEN];
    struct tokenizer *t = tokenizer_open(err);
    CHECK(t != NULL, "open: %s", err);
    if (!t)
        return check_done("test_tokenizer");
    test_reference(t, dir, "tokens.txt", unhex, 5000);
    test_reference(t, dir, "mojibake.txt", unescape, 4500);
    test_invalid(t);
    test_mojibake(t);
    tokenizer_close(t);
    return check_done("test_tokenizer");
}
