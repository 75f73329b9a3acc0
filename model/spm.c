/* spm.c - Gemma's SentencePiece BPE from tokenizer.json, and encoding with it (spm.h). */
#include "spm.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

/* ---- building the tables from tokenizer.json ---- */

/* piece text -> id, open addressing over the cJSON strings (borrowed) */
struct vocab_map {
    const char **key;
    int32_t *id;
    size_t slots; /* a power of two, at least twice the pieces */
};

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int32_t map_get(const struct vocab_map *m, const char *s, size_t n)
{
    for (size_t h = hash_str(s, n) & (m->slots - 1);; h = (h + 1) & (m->slots - 1)) {
        if (!m->key[h])
            return -1;
        if (!strncmp(m->key[h], s, n) && m->key[h][n] == 0)
            return m->id[h];
    }
}

static void map_put(struct vocab_map *m, const char *s, int32_t id)
{
    size_t h = hash_str(s, strlen(s)) & (m->slots - 1);
    while (m->key[h])
        h = (h + 1) & (m->slots - 1);
    m->key[h] = s;
    m->id[h] = id;
}

static int is_false(const cJSON *v) { return !v || cJSON_IsNull(v) || cJSON_IsFalse(v); }

static int is_empty(const cJSON *v) { return !v || cJSON_IsNull(v) || (cJSON_IsString(v) && !v->valuestring[0]); }

/* A whole number in [0, limit), or -1. */
static int32_t get_id(const cJSON *v, uint32_t limit)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < limit) || v->valuedouble != (double)(int32_t)v->valuedouble)
        return -1;
    return (int32_t)v->valuedouble;
}

/* The settings of tokenizer.json outside the model: only Gemma's. */
static int check_pipeline(const cJSON *root, char *err)
{
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer"),
                *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"),
                *type = cJSON_GetObjectItemCaseSensitive(norm, "type"),
                *pat = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(norm, "pattern"), "String"),
                *content = cJSON_GetObjectItemCaseSensitive(norm, "content");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "Replace") || !cJSON_IsString(pat) ||
        strcmp(pat->valuestring, " ") || !cJSON_IsString(content) || strcmp(content->valuestring, "\xe2\x96\x81"))
        return error(err, "tokenizer.json: the normalizer is not Gemma's (spaces replaced by U+2581): not supported");
    if (!cJSON_IsNull(pre) && pre)
        return error(err, "tokenizer.json: a pre_tokenizer is set (Gemma's has none): not supported");
    return 0;
}

static int check_model(const cJSON *model, char *err)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type"),
                *fb = cJSON_GetObjectItemCaseSensitive(model, "byte_fallback"),
                *fuse = cJSON_GetObjectItemCaseSensitive(model, "fuse_unk"),
                *drop = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE"))
        return error(err, "tokenizer.json: model.type is not \"BPE\": only SentencePiece BPE vocabularies (Gemma's) are"
                          " supported");
    if (!cJSON_IsTrue(fb))
        return error(err, "tokenizer.json: model.byte_fallback is not true: only byte-fallback BPE (Gemma's) is supported");
    if (fuse && !cJSON_IsNull(fuse) && !cJSON_IsTrue(fuse))
        return error(err, "tokenizer.json: model.fuse_unk is false: not supported");
    if (drop && !cJSON_IsNull(drop) && !(cJSON_IsNumber(drop) && drop->valuedouble == 0))
        return error(err, "tokenizer.json: model.dropout is set: not supported");
    if (!is_false(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges")))
        return error(err, "tokenizer.json: model.ignore_merges is true: not supported");
    if (!is_empty(cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix")) ||
        !is_empty(cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix")))
        return error(err, "tokenizer.json: a subword prefix or word suffix is set: not supported");
    return 0;
}

/* Fills the vocabulary's map and size from model.vocab and added_tokens. */
static int read_vocab(const cJSON *vocab, const cJSON *added, struct vocab_map *m, uint32_t *size, char *err)
{
    int n = cJSON_GetArraySize(vocab), na = cJSON_GetArraySize(added);
    if (!cJSON_IsObject(vocab) || n < 1 || (uint32_t)n > SPM_MAX_VOCAB)
        return error(err, "tokenizer.json: model.vocab must be an object of 1 to %u pieces", SPM_MAX_VOCAB);
    if (!cJSON_IsArray(added) || (uint32_t)na > SPM_MAX_ADDED)
        return error(err, "tokenizer.json: added_tokens must be a list of at most %u", SPM_MAX_ADDED);
    for (m->slots = 1; m->slots < 2 * (size_t)(n + na); m->slots *= 2)
        ;
    m->key = calloc(m->slots, sizeof *m->key);
    m->id = calloc(m->slots, sizeof *m->id);
    if (!m->key || !m->id)
        return error(err, "out of memory for tokenizer.json's vocabulary");
    *size = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab)
    {
        int32_t id = get_id(v, SPM_MAX_VOCAB);
        size_t len = strlen(v->string);
        if (id < 0 || !len || len > SPM_MAX_PIECE)
            return error(err, "tokenizer.json: piece \"%.40s\" has no id below %u, or is empty or too long", v->string,
                         SPM_MAX_VOCAB);
        if (map_get(m, v->string, len) >= 0)
            return error(err, "tokenizer.json: piece \"%.40s\" appears twice", v->string);
        map_put(m, v->string, id);
        *size = (uint32_t)id + 1 > *size ? (uint32_t)id + 1 : *size;
    }
    cJSON_ArrayForEach(v, added)
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
        int32_t id = get_id(cJSON_GetObjectItemCaseSensitive(v, "id"), SPM_MAX_VOCAB);
        if (!cJSON_IsString(c) || id < 0)
            return error(err, "tokenizer.json: an added token lacks its content or an id below %u", SPM_MAX_VOCAB);
        int32_t have = map_get(m, c->valuestring, strlen(c->valuestring));
        if (have >= 0 && have != id)
            return error(err, "tokenizer.json: added token \"%.40s\" is %d, the vocabulary says %d", c->valuestring, id, have);
        if (have < 0)
            map_put(m, c->valuestring, id);
        *size = (uint32_t)id + 1 > *size ? (uint32_t)id + 1 : *size;
    }
    return 0;
}

static int cmp_pair(const void *a, const void *b)
{
    const int32_t *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* One merge, "left right" or ["left", "right"], into row (left, right, rank, merged). */
static int read_merge(const cJSON *v, const struct vocab_map *m, int32_t rank, int32_t *row, char *err)
{
    char buf[2 * SPM_MAX_PIECE + 2];
    const char *a, *b;
    size_t la, lb;
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring, *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' '))
            return error(err, "tokenizer.json: merge %d (\"%.40s\") is not two pieces and one space", rank, s);
        a = s, la = (size_t)(sp - s), b = sp + 1, lb = strlen(b);
    } else {
        const cJSON *x = cJSON_GetArrayItem(v, 0), *y = cJSON_GetArrayItem(v, 1);
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsString(x) || !cJSON_IsString(y))
            return error(err, "tokenizer.json: merge %d is neither \"a b\" nor [\"a\", \"b\"]", rank);
        a = x->valuestring, la = strlen(a), b = y->valuestring, lb = strlen(b);
    }
    if (la > SPM_MAX_PIECE || lb > SPM_MAX_PIECE)
        return error(err, "tokenizer.json: merge %d has a piece over %d bytes", rank, SPM_MAX_PIECE);
    memcpy(buf, a, la);
    memcpy(buf + la, b, lb);
    row[SPM_MERGE_LEFT] = map_get(m, a, la);
    row[SPM_MERGE_RIGHT] = map_get(m, b, lb);
    row[SPM_MERGE_RANK] = rank;
    row[SPM_MERGE_ID] = map_get(m, buf, la + lb);
    if (row[SPM_MERGE_LEFT] < 0 || row[SPM_MERGE_RIGHT] < 0 || row[SPM_MERGE_ID] < 0)
        return error(err, "tokenizer.json: merge %d (\"%.*s\" + \"%.*s\") names a piece not in the vocabulary", rank,
                     (int)(la < 40 ? la : 40), a, (int)(lb < 40 ? lb : 40), b);
    return 0;
}

static int read_merges(const cJSON *merges, const struct vocab_map *m, struct spm_build *b, char *err)
{
    int n = cJSON_GetArraySize(merges);
    if (!cJSON_IsArray(merges) || (uint32_t)n > SPM_MAX_MERGES)
        return error(err, "tokenizer.json: model.merges must be a list of at most %u", SPM_MAX_MERGES);
    if (!(b->merges = malloc(((size_t)n ? (size_t)n : 1) * SPM_MERGE_COLS * sizeof *b->merges)))
        return error(err, "out of memory for tokenizer.json's merges");
    int32_t rank = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, merges)
    {
        if (read_merge(v, m, rank, b->merges + (size_t)rank * SPM_MERGE_COLS, err) < 0)
            return -1;
        rank++;
    }
    qsort(b->merges, (size_t)n, SPM_MERGE_COLS * sizeof *b->merges, cmp_pair);
    for (int k = 1; k < n; k++)
        if (!cmp_pair(b->merges + (size_t)k * SPM_MERGE_COLS, b->merges + (size_t)(k - 1) * SPM_MERGE_COLS))
            return error(err, "tokenizer.json: merges %d and %d join the same two pieces: readers disagree on which counts",
                         b->merges[(size_t)(k - 1) * SPM_MERGE_COLS + SPM_MERGE_RANK],
                         b->merges[(size_t)k * SPM_MERGE_COLS + SPM_MERGE_RANK]);
    b->t.merges = b->merges;
    b->t.n_merges = (uint32_t)n;
    return 0;
}

/* The one-character pieces, sorted by code point, and the byte pieces. */
static int read_chars(const cJSON *vocab, const struct vocab_map *m, struct spm_build *b, char *err)
{
    size_t n = 0;
    const cJSON *v;
    if (!(b->bytes = malloc(256 * sizeof *b->bytes)) ||
        !(b->chars = malloc((size_t)cJSON_GetArraySize(vocab) * SPM_CHAR_COLS * sizeof *b->chars)))
        return error(err, "out of memory for tokenizer.json's pieces");
    cJSON_ArrayForEach(v, vocab)
    {
        const unsigned char *s = (const unsigned char *)v->string;
        uint32_t cp;
        size_t len = strlen(v->string);
        if (len == 1 && s[0] < 0x80)
            cp = s[0];
        else if (len == 2 && (s[0] & 0xe0) == 0xc0 && (s[1] & 0xc0) == 0x80)
            cp = (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
        else if (len == 3 && (s[0] & 0xf0) == 0xe0 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80)
            cp = (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
        else if (len == 4 && (s[0] & 0xf8) == 0xf0 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80)
            cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 | (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
        else
            continue;
        b->chars[n * SPM_CHAR_COLS + SPM_CHAR_CP] = (int32_t)cp;
        b->chars[n * SPM_CHAR_COLS + SPM_CHAR_ID] = map_get(m, v->string, len);
        n++;
    }
    qsort(b->chars, n, SPM_CHAR_COLS * sizeof *b->chars, cmp_pair);
    for (int k = 0; k < 256; k++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", k);
        b->bytes[k] = map_get(m, name, 6);
    }
    b->t.chars = b->chars;
    b->t.n_chars = (uint32_t)n;
    b->t.bytes = b->bytes;
    return 0;
}

/* The added tokens, matched in the raw text: only unnormalised, unstripped ones. */
static int read_added(const cJSON *added, struct spm_build *b, char *err)
{
    size_t n = (size_t)cJSON_GetArraySize(added), total = 0, k = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, added) total += strlen(cJSON_GetObjectItemCaseSensitive(v, "content")->valuestring);
    if (!(b->added = malloc((n ? n : 1) * SPM_ADDED_COLS * sizeof *b->added)) || !(b->strings = malloc(total ? total : 1)))
        return error(err, "out of memory for tokenizer.json's added tokens");
    total = 0;
    cJSON_ArrayForEach(v, added)
    {
        const char *c = cJSON_GetObjectItemCaseSensitive(v, "content")->valuestring;
        size_t len = strlen(c);
        static const char *const flags[] = {"normalized", "lstrip", "rstrip", "single_word"};
        for (int f = 0; f < 4; f++)
            if (!is_false(cJSON_GetObjectItemCaseSensitive(v, flags[f])))
                return error(err, "tokenizer.json: added token \"%.40s\" has %s set: not supported", c, flags[f]);
        if (!len || len > SPM_MAX_PIECE)
            return error(err, "tokenizer.json: an added token is empty or over %d bytes", SPM_MAX_PIECE);
        b->added[k * SPM_ADDED_COLS + SPM_ADDED_ID] = get_id(cJSON_GetObjectItemCaseSensitive(v, "id"), SPM_MAX_VOCAB);
        b->added[k * SPM_ADDED_COLS + SPM_ADDED_OFFSET] = (int32_t)total;
        b->added[k * SPM_ADDED_COLS + SPM_ADDED_LEN] = (int32_t)len;
        memcpy(b->strings + total, c, len);
        total += len;
        k++;
    }
    b->t.added = b->added;
    b->t.n_added = (uint32_t)n;
    b->t.strings = b->strings;
    b->t.strings_len = (uint32_t)total;
    return 0;
}

int spm_build(const char *json, size_t len, struct spm_build *b, char *err)
{
    memset(b, 0, sizeof *b);
    if (len > SPM_MAX_JSON)
        return error(err, "tokenizer.json is %zu bytes, more than the %u taken", len, SPM_MAX_JSON);
    if (safetensors_json_values((const unsigned char *)json, len, SPM_MAX_VALUES) > SPM_MAX_VALUES)
        return error(err, "tokenizer.json holds more than %u JSON values", SPM_MAX_VALUES);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0), *none = cJSON_CreateArray();
    struct vocab_map m = {0};
    int rc = -1;
    if (!none) {
        error(err, "out of memory");
        goto done;
    }
    if (!root || !cJSON_IsObject(root)) {
        error(err, "tokenizer.json is not a JSON object%s", root ? "" : " (malformed JSON)");
        goto done;
    }
    for (; end < json + len; end++)
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
            error(err, "tokenizer.json has content after its JSON object");
            goto done;
        }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model"),
                *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab"),
                *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens"),
                *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (!added)
        added = none; /* no added tokens */
    if (check_pipeline(root, err) < 0 || check_model(model, err) < 0 || read_vocab(vocab, added, &m, &b->t.vocab, err) < 0 ||
        read_merges(cJSON_GetObjectItemCaseSensitive(model, "merges"), &m, b, err) < 0 || read_chars(vocab, &m, b, err) < 0 ||
        read_added(added, b, err) < 0)
        goto done;
    b->t.unk = -1;
    if (cJSON_IsString(unk) && (b->t.unk = map_get(&m, unk->valuestring, strlen(unk->valuestring))) < 0) {
        error(err, "tokenizer.json: the unknown token \"%.40s\" is not in the vocabulary", unk->valuestring);
        goto done;
    }
    b->pad = map_get(&m, "<pad>", 5);
    b->eos = map_get(&m, "<eos>", 5);
    b->bos = map_get(&m, "<bos>", 5);
    rc = 0;
done:
    free(m.key);
    free(m.id);
    cJSON_Delete(root);
    cJSON_Delete(none);
    if (rc < 0)
        spm_build_free(b);
    return rc;
}

void spm_build_free(struct spm_build *b)
{
    if (!b)
        return;
    free(b->merges);
    free(b->chars);
    free(b->bytes);
    free(b->added);
    free(b->strings);
    memset(b, 0, sizeof *b);
}

int spm_check(const struct spm_tables *t, char *err)
{
    if (t->vocab < 1 || t->vocab > SPM_MAX_VOCAB || t->unk >= (int32_t)t->vocab || t->unk < -1)
        return error(err, "tokenizer: vocabulary of %u or unknown token %d out of range", t->vocab, t->unk);
    for (int k = 0; k < 256; k++)
        if (t->bytes[k] < -1 || t->bytes[k] >= (int32_t)t->vocab)
            return error(err, "tokenizer: byte piece %d has id %d, outside the vocabulary", k, t->bytes[k]);
    for (uint32_t k = 0; k < t->n_added; k++) {
        const int32_t *a = t->added + (size_t)k * SPM_ADDED_COLS;
        if (a[SPM_ADDED_ID] < 0 || a[SPM_ADDED_ID] >= (int32_t)t->vocab || a[SPM_ADDED_OFFSET] < 0 ||
            a[SPM_ADDED_LEN] < 1 || a[SPM_ADDED_LEN] > SPM_MAX_PIECE ||
            (uint32_t)a[SPM_ADDED_OFFSET] + (uint32_t)a[SPM_ADDED_LEN] > t->strings_len)
            return error(err, "tokenizer: added token %u lies outside its strings or the vocabulary", k);
    }
    return 0;
}

/* ---- encoding ---- */

struct sym {
    int32_t id, prev, next; /* prev/next: neighbours in the word, -1 at its ends */
    int gone;               /* merged into its left neighbour */
};

struct cand { /* a merge of symbol pos with its next, to become id */
    int32_t rank, pos, id;
};

struct out {
    int32_t *v;
    size_t n, cap;
};

static int push_id(struct out *o, int32_t id)
{
    if (o->n == o->cap && util_grow(&o->v, &o->cap, o->n + 1, sizeof *o->v, SIZE_MAX / sizeof *o->v) < 0)
        return -1;
    o->v[o->n++] = id;
    return 0;
}

/* The merge of pieces (a, b): 1 with its rank and result, 0 when none. */
static int find_merge(const struct spm_tables *t, int32_t a, int32_t b, int32_t *rank, int32_t *id)
{
    size_t lo = 0, hi = t->n_merges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const int32_t *r = t->merges + mid * SPM_MERGE_COLS;
        if (r[SPM_MERGE_LEFT] < a || (r[SPM_MERGE_LEFT] == a && r[SPM_MERGE_RIGHT] < b))
            lo = mid + 1;
        else if (r[SPM_MERGE_LEFT] == a && r[SPM_MERGE_RIGHT] == b) {
            *rank = r[SPM_MERGE_RANK];
            *id = r[SPM_MERGE_ID];
            return 1;
        } else
            hi = mid;
    }
    return 0;
}

static int32_t find_char(const struct spm_tables *t, uint32_t cp)
{
    size_t lo = 0, hi = t->n_chars;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t c = t->chars[mid * SPM_CHAR_COLS + SPM_CHAR_CP];
        if (c < cp)
            lo = mid + 1;
        else if (c > cp)
            hi = mid;
        else
            return t->chars[mid * SPM_CHAR_COLS + SPM_CHAR_ID];
    }
    return -1;
}

static int cand_less(const struct cand *a, const struct cand *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(struct cand *h, size_t *n, struct cand c)
{
    size_t i = (*n)++;
    while (i > 0 && cand_less(&c, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static struct cand heap_pop(struct cand *h, size_t *n)
{
    struct cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && cand_less(&h[c + 1], &h[c]))
            c++;
        if (!cand_less(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = last;
    return top;
}

/* Queues the merge of symbol pos with its next, if the vocabulary has one. */
static void propose(const struct spm_tables *t, const struct sym *s, int32_t pos, struct cand *h, size_t *nh)
{
    int32_t rank, id;
    if (pos >= 0 && s[pos].next >= 0 && find_merge(t, s[pos].id, s[s[pos].next].id, &rank, &id))
        heap_push(h, nh, (struct cand){rank, pos, id});
}

/* The symbols of one word (UTF-8 of valid text, ' ' read as U+2581), before merging. */
static size_t word_symbols(const struct spm_tables *t, const unsigned char *s, size_t len, struct sym *sym)
{
    size_t n = 0;
    int last_unk = 0;
    for (size_t i = 0; i < len;) {
        size_t k = s[i] < 0x80 ? 1 : s[i] < 0xe0 ? 2 : s[i] < 0xf0 ? 3 : 4;
        k = k > len - i ? len - i : k;
        uint32_t cp = k == 1 ? s[i] : k == 2 ? (uint32_t)(s[i] & 0x1f) << 6 : k == 3 ? (uint32_t)(s[i] & 0x0f) << 12 : (uint32_t)(s[i] & 0x07) << 18;
        for (size_t j = 1; j < k; j++)
            cp |= (uint32_t)(s[i + j] & 0x3f) << (6 * (k - 1 - j));
        if (cp == ' ')
            cp = 0x2581;
        int32_t id = find_char(t, cp);
        int fallback = id < 0;
        for (size_t j = 0; fallback && j < k; j++)
            fallback = t->bytes[s[i + j]] >= 0;
        if (id >= 0)
            sym[n++].id = id, last_unk = 0;
        else if (fallback) {
            for (size_t j = 0; j < k; j++)
                sym[n++].id = t->bytes[s[i + j]];
            last_unk = 0;
        } else if (t->unk >= 0 && !last_unk) /* a run of unknown characters is one unknown token */
            sym[n++].id = t->unk, last_unk = 1;
        i += k;
    }
    for (size_t i = 0; i < n; i++) {
        sym[i].prev = (int32_t)i - 1;
        sym[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
        sym[i].gone = 0;
    }
    return n;
}

/* BPE of one word into o; sym and heap have room for 4 * len entries. */
static int encode_word(const struct spm_tables *t, const unsigned char *s, size_t len, struct sym *sym, struct cand *h,
                       struct out *o, char *err)
{
    size_t n = word_symbols(t, s, len, sym), nh = 0;
    for (size_t i = 0; i + 1 < n; i++)
        propose(t, sym, (int32_t)i, h, &nh);
    while (nh) {
        struct cand c = heap_pop(h, &nh);
        struct sym *a = &sym[c.pos];
        int32_t rank, id;
        /* stale: merged away, at the end, or the pair is no longer this merge's */
        if (a->gone || a->next < 0 || !find_merge(t, a->id, sym[a->next].id, &rank, &id) || id != c.id)
            continue;
        if (c.id < 0 || (uint32_t)c.id >= t->vocab)
            return error(err, "tokenizer: a merge makes id %d, outside the vocabulary of %u", c.id, t->vocab);
        struct sym *b = &sym[a->next];
        a->id = c.id;
        a->next = b->next;
        b->gone = 1;
        if (b->next >= 0)
            sym[b->next].prev = c.pos;
        propose(t, sym, a->prev, h, &nh);
        propose(t, sym, c.pos, h, &nh);
    }
    for (int32_t i = n ? 0 : -1; i >= 0; i = sym[i].next) {
        if (sym[i].id < 0 || (uint32_t)sym[i].id >= t->vocab)
            return error(err, "tokenizer: piece id %d is outside the vocabulary of %u", sym[i].id, t->vocab);
        if (push_id(o, sym[i].id) < 0)
            return error(err, "out of memory while tokenizing");
    }
    return 0;
}

/* The longest added token at s (of len bytes): its index, or -1. *work
 * counts the bytes compared (the callers bound it). */
static int32_t added_at(const struct spm_tables *t, const unsigned char *s, size_t len, const int32_t *first,
                        const int32_t *chain, size_t *work)
{
    int32_t best = -1, best_len = 0;
    for (int32_t k = first[s[0]]; k >= 0; k = chain[k]) {
        const int32_t *a = t->added + (size_t)k * SPM_ADDED_COLS;
        size_t n = (size_t)a[SPM_ADDED_LEN];
        *work += n;
        if ((int32_t)n > best_len && n <= len && !memcmp(s, t->strings + a[SPM_ADDED_OFFSET], n))
            best = k, best_len = (int32_t)n;
    }
    return best;
}

int spm_encode(const struct spm_tables *t, const char *text, size_t len, int32_t **ids, size_t *n, char *err)
{
    *ids = NULL;
    *n = 0;
    if (len > SPM_MAX_TEXT)
        return error(err, "text of %zu bytes is over the tokenizer's %u", len, SPM_MAX_TEXT);
    if (spm_check(t, err) < 0)
        return -1;
    const unsigned char *s = (const unsigned char *)text;
    /* a byte-fallback word has a symbol per byte, and each merge queues at most two candidates */
    struct sym *sym = malloc((len ? len : 1) * sizeof *sym);
    struct cand *h = malloc((len ? 3 * len : 1) * sizeof *h);
    int32_t first[256], *chain = malloc((t->n_added ? t->n_added : 1) * sizeof *chain);
    struct out o = {0};
    int rc = -1;
    if (!sym || !h || !chain) {
        error(err, "out of memory while tokenizing");
        goto done;
    }
    /* the added tokens by first byte, each list in table order */
    memset(first, 0xff, sizeof first);
    for (int32_t k = (int32_t)t->n_added - 1; k >= 0; k--) {
        unsigned char c = t->strings[t->added[(size_t)k * SPM_ADDED_COLS + SPM_ADDED_OFFSET]];
        chain[k] = first[c];
        first[c] = k;
    }
    /* Gemma's added tokens cost a few bytes a position; tables made to cost
     * more (thousands of long tokens of one first byte) are refused here */
    size_t start = 0, work = 0, budget = SPM_WORK_PER_BYTE * len + SPM_WORK_PER_BYTE * 1024;
    for (size_t i = 0; i <= len;) {
        int32_t k = i < len ? added_at(t, s + i, len - i, first, chain, &work) : -1;
        if (work > budget) {
            error(err, "tokenizer: its added tokens take over %d bytes of matching a byte of text", SPM_WORK_PER_BYTE);
            goto done;
        }
        if (k < 0 && i < len) {
            i++;
            continue;
        }
        if (i > start && encode_word(t, s + start, i - start, sym, h, &o, err) < 0)
            goto done;
        if (k < 0)
            break;
        if (push_id(&o, t->added[(size_t)k * SPM_ADDED_COLS + SPM_ADDED_ID]) < 0) {
            error(err, "out of memory while tokenizing");
            goto done;
        }
        i += (size_t)t->added[(size_t)k * SPM_ADDED_COLS + SPM_ADDED_LEN];
        start = i;
    }
    *ids = o.v;
    *n = o.n;
    o.v = NULL;
    rc = 0;
done:
    free(o.v);
    free(sym);
    free(h);
    free(chain);
    return rc;
}
