/* tokenizer against openai/CLIP's reference: every text of
 * fixtures/tokens.txt and fixtures/mojibake.txt (made by
 * make_token_fixtures.py) must get exactly the reference ids; plus invalid
 * UTF-8, the length limit, and mojibake repair's bounds. SigLIP 2's: every
 * text of fixtures/spm-texts.txt (make_spm_fixtures.py) must be cleaned as
 * open_clip cleans it and get the ids the JavaScript port of transformers'
 * tokenizer gives with the small model fixtures/spm-small.json, and with
 * Gemma's tokenizer.json when CLIPPIE_GEMMA_TOKENIZER names it (CI fetches
 * it; 17 MB are not committed); and sentencepiece's own ids, but where the
 * text holds U+2581 (sentencepiece reads a space as U+2581 before it finds
 * the added tokens, transformers after). */
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

static int build(const char *path, struct spm_build *b)
{
    size_t len;
    char *json = (char *)slurp(path, &len), err[ERR_LEN] = "";
    int rc = json ? spm_build(json, len, b, err) : -1;
    CHECK(rc == 0, "%s: %s", path, json ? err : "cannot read");
    free(json);
    return rc;
}

/* space-separated ids into want[]; their count */
static int parse_ids(const char *s, int32_t *want, int cap)
{
    int n = 0;
    for (char *end; n < cap; s = end) {
        long v = strtol(s, &end, 10);
        if (end == s)
            break;
        want[n++] = (int32_t)v;
    }
    return n;
}

/* does spm_encode of text give the ids of the reference, field `which` of its line? */
static int same_spm(const struct spm_tables *t, const char *text, size_t len, char *const *fields, int which,
                    const char *what, int *shown)
{
    static int32_t want[1 << 16];
    int nwant = parse_ids(fields[which], want, 1 << 16);
    int32_t *ids;
    size_t n;
    char err[ERR_LEN];
    int ok = spm_encode(t, text, len, &ids, &n, err) == 0 && n == (size_t)nwant && (!n || !memcmp(ids, want, n * sizeof *ids));
    if (!ok && ++*shown <= 10)
        fprintf(stderr, "%s: ids differ for '%.*s' (want %.80s)\n", what, (int)len, text, fields[which]);
    free(ids);
    return ok;
}

static void test_siglip(struct tokenizer *t, const char *dir)
{
    char path[512];
    struct spm_build small, gemma;
    snprintf(path, sizeof path, "%s/spm-small.json", dir);
    if (build(path, &small) < 0)
        return;
    const char *gpath = getenv("CLIPPIE_GEMMA_TOKENIZER");
    int have_gemma = gpath && *gpath && build(gpath, &gemma) == 0;
    snprintf(path, sizeof path, "%s/spm-texts.txt", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    static char line[1 << 20], text[1 << 18], want[1 << 18];
    int lines = 0, cleaned = 0, js = 0, sp = 0, sp_skipped = 0, gem = 0, shown = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *fields[5], *p = line;
        line[strcspn(line, "\n")] = 0;
        int nf = 0;
        for (; nf < 5 && p; nf++) {
            fields[nf] = p;
            if ((p = strchr(p, '\t')))
                *p++ = 0;
        }
        if (nf < 5)
            continue;
        long len = unhex(fields[0], strlen(fields[0]), text), wlen = unhex(fields[1], strlen(fields[1]), want);
        char *clean, err[ERR_LEN];
        size_t n, replaced;
        lines++;
        if (tokenizer_canonicalize(t, text, (size_t)len, &clean, &n, &replaced, err) < 0) {
            CHECK(0, "canonicalize: %s", err);
            continue;
        }
        if (n == (size_t)wlen && !memcmp(clean, want, n))
            cleaned++;
        else if (++shown <= 10)
            fprintf(stderr, "cleaning '%.*s' gives '%s', open_clip's '%.*s'\n", (int)len, text, clean, (int)wlen, want);
        js += same_spm(&small.t, want, (size_t)wlen, fields, 2, "small model", &shown);
        if (memmem(want, (size_t)wlen, "\xe2\x96\x81", 3))
            sp_skipped++;
        else
            sp += same_spm(&small.t, want, (size_t)wlen, fields, 3, "small model (sentencepiece)", &shown);
        if (have_gemma)
            gem += same_spm(&gemma.t, want, (size_t)wlen, fields, 4, "Gemma", &shown);
        free(clean);
    }
    if (f)
        fclose(f);
    CHECK(lines >= 2000, "spm-texts.txt: only %d texts", lines);
    CHECK(cleaned == lines, "%d of %d texts cleaned unlike open_clip", lines - cleaned, lines);
    CHECK(js == lines, "%d of %d texts tokenized unlike the reference (small model)", lines - js, lines);
    CHECK(sp == lines - sp_skipped, "%d of %d texts tokenized unlike sentencepiece", lines - sp_skipped - sp,
          lines - sp_skipped);
    if (have_gemma) {
        CHECK(gem == lines, "%d of %d texts tokenized unlike the reference (Gemma)", lines - gem, lines);
        printf("test_tokenizer: Gemma's tokenizer.json: %d of %d texts as the reference\n", gem, lines);
        spm_build_free(&gemma);
    } else
        printf("test_tokenizer: Gemma's tokenizer.json skipped (CLIPPIE_GEMMA_TOKENIZER not set)\n");

    /* the framing: cut to context - 1, end token appended, no BOS */
    int32_t *ids;
    size_t replaced;
    char err[ERR_LEN];
    int n = tokenizer_encode_spm(t, &small.t, 1, 8, "A Dog!", 6, &ids, &replaced, err);
    int32_t *plain;
    size_t np;
    CHECK(spm_encode(&small.t, "a dog", 5, &plain, &np, err) == 0 && n == (int)np + 1 && ids[n - 1] == 1 &&
              !memcmp(ids, plain, np * sizeof *ids),
          "SigLIP framing of 'A Dog!'");
    free(ids);
    free(plain);
    n = tokenizer_encode_spm(t, &small.t, 1, 8, "a b c d e f g h i j k l", 23, &ids, &replaced, err);
    CHECK(n == 8 && ids[7] == 1, "a long text is cut to 7 ids and the end token (%d)", n);
    free(ids);
    n = tokenizer_encode_spm(t, &small.t, 1, 64, "!!!", 3, &ids, &replaced, err);
    CHECK(n == 1 && ids[0] == 1, "punctuation alone is the end token alone (%d)", n);
    free(ids);
    spm_build_free(&small);
}

/* hostile or foreign tokenizer.json: refused, naming what is wrong */
static void test_spm_refused(const char *dir)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/spm-small.json", dir);
    char *good = (char *)slurp(path, &len);
    CHECK(good != NULL, "cannot read %s", path);
    if (!good)
        return;
    static const struct { const char *from, *to, *want; } cases[] = {
        {"\"type\":\"BPE\"", "\"type\":\"Unigram\"", "model.type is not \"BPE\""},
        {"\"byte_fallback\":true", "\"byte_fallback\":false", "model.byte_fallback is not true"},
        {"\"pre_tokenizer\":null", "\"pre_tokenizer\":{\"type\":\"Metaspace\"}", "a pre_tokenizer is set"},
        {"\"content\":\"\u2581\"}", "\"content\":\"_\"}", "the normalizer is not Gemma's"},
        {"\"ignore_merges\":false", "\"ignore_merges\":true", "model.ignore_merges is true"},
        {"\"normalized\":false", "\"normalized\":true", "has normalized set"},
        {"\"merges\":[\"", "\"merges\":[\"nosuchpiece x\",\"", "names a piece not in the vocabulary"},
        {"\"merges\":[\"", "\"merges\":[\"a b c\",\"", "is not two pieces and one space"},
        {"\"merges\":[\"", "\"merges\":[7,\"", "is neither"},
        {"\"<pad>\":0", "\"<pad>\":-1", "has no id below"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *at = strstr(good, cases[k].from);
        CHECK(at != NULL, "fixture lacks %s", cases[k].from);
        if (!at)
            continue;
        size_t head = (size_t)(at - good), fl = strlen(cases[k].from), tl = strlen(cases[k].to);
        char *bad = malloc(len + tl + 1);
        memcpy(bad, good, head);
        memcpy(bad + head, cases[k].to, tl);
        memcpy(bad + head + tl, at + fl, len - head - fl);
        struct spm_build b;
        char err[ERR_LEN] = "";
        CHECK(spm_build(bad, len - fl + tl, &b, err) < 0, "case %zu accepted", k);
        CHECK_MSG(err, cases[k].want);
        free(bad);
    }
    /* a merge twice: readers disagree on which rank counts */
    const char *m = strstr(good, "\"merges\":[\"");
    if (m) {
        const char *first = m + 10, *end = strchr(first + 1, '"') + 1;
        size_t head = (size_t)(first - good), ml = (size_t)(end - first);
        char *bad = malloc(len + ml + 2);
        memcpy(bad, good, head);
        memcpy(bad + head, first, ml);
        bad[head + ml] = ',';
        memcpy(bad + head + ml + 1, first, len - head);
        struct spm_build b;
        char err[ERR_LEN] = "";
        CHECK(spm_build(bad, len + ml + 1, &b, err) < 0, "a repeated merge was accepted");
        CHECK_MSG(err, "join the same two pieces");
        free(bad);
    }
    /* tables whose added tokens would cost minutes to match: refused */
    static int32_t added[2000 * SPM_ADDED_COLS], bytes[256], none[1];
    static unsigned char as[1000];
    memset(as, 'a', sizeof as);
    memset(bytes, 0xff, sizeof bytes);
    for (int k = 0; k < 2000; k++) {
        added[k * SPM_ADDED_COLS + SPM_ADDED_ID] = 5;
        added[k * SPM_ADDED_COLS + SPM_ADDED_OFFSET] = 0;
        added[k * SPM_ADDED_COLS + SPM_ADDED_LEN] = 1000 - k % 7;
    }
    struct spm_tables hostile = {.merges = none, .chars = none, .bytes = bytes, .added = added, .strings = as,
                                 .n_added = 2000, .strings_len = sizeof as, .vocab = 10, .unk = 3};
    static char text[4000]; /* runs of 990 a's: no token matches, every one is tried */
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = i % 991 == 990 ? 'b' : 'a';
    int32_t *ids = NULL;
    size_t nids;
    char err[ERR_LEN] = "";
    CHECK(spm_encode(&hostile, text, sizeof text, &ids, &nids, err) < 0, "a hostile added-token table was matched");
    CHECK_MSG(err, "added tokens take over 4096 bytes of matching a byte of text");
    free(ids);
    struct spm_build b;
    char *two = malloc(len + 3);
    memcpy(two, good, len);
    memcpy(two + len, "{}", 2);
    CHECK(spm_build(two, len + 2, &b, err) < 0, "content after the object was accepted");
    CHECK_MSG(err, "content after its JSON object");
    CHECK(spm_build(good, len / 2, &b, err) < 0, "half a file was accepted");
    CHECK_MSG(err, "malformed JSON");
    /* a value bomb: 48 MiB of zeros in a list, refused before cJSON builds 25 million nodes */
    size_t nb = 48u << 20;
    char *bomb = malloc(nb + 16);
    strcpy(bomb, "{\"a\":[");
    for (size_t k = 6; k < nb; k += 2)
        memcpy(bomb + k, "0,", 2);
    strcpy(bomb + nb, "0]}");
    CHECK(spm_build(bomb, strlen(bomb), &b, err) < 0, "a value bomb was accepted");
    CHECK_MSG(err, "more than 4194304 JSON values");
    free(bomb);
    free(two);
    free(good);
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
    test_siglip(t, dir);
    test_spm_refused(dir);
    tokenizer_close(t);
    return check_done("test_tokenizer");
}
