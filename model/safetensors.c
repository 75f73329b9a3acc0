#include "safetensors.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *name; size_t size; } dtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
    {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"I64", 8},     {"U64", 8}, {"F64", 8},
};

int safetensors_header_len(const unsigned char *p, size_t len, uint64_t file_size, uint64_t *n, char *err)
{
    if (len < 8 || file_size < 8)
        return error(err, "safetensors file shorter than its 8-byte header length");
    *n = load_u64(p);
    if (*n > SAFETENSORS_MAX_HEADER)
        return error(err, "safetensors header claims %llu bytes, more than the %u allowed",
                     (unsigned long long)*n, SAFETENSORS_MAX_HEADER);
    if (*n > file_size - 8)
        return error(err, "safetensors header claims %llu bytes, the file has %llu after the length",
                     (unsigned long long)*n, (unsigned long long)(file_size - 8));
    return 0;
}

size_t safetensors_json_values(const unsigned char *p, size_t n, size_t limit)
{
    size_t count = 1;
    int in_string = 0;
    for (size_t k = 0; k < n && count <= limit; k++) {
        if (in_string) {
            if (p[k] == '\\')
                k++;
            else if (p[k] == '"')
                in_string = 0;
        } else if (p[k] == '"')
            in_string = 1;
        else
            count += p[k] == ',' || p[k] == '[' || p[k] == '{' || p[k] == ':';
    }
    return count;
}

/* A JSON number that is a whole number within 2^53 (exact in a double). */
static int get_u64(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0) ||
        v->valuedouble != floor(v->valuedouble))
        return -1;
    *out = (uint64_t)v->valuedouble;
    return 0;
}

/* One entry: "name": {"dtype": "F32", "shape": [...], "data_offsets": [b, e]} */
static int parse_tensor(const cJSON *o, uint64_t data_size, struct safetensors_tensor *t, char *err)
{
    const char *name = o->string;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(o, "dtype"), *shape = cJSON_GetObjectItemCaseSensitive(o, "shape"),
                *offs = cJSON_GetObjectItemCaseSensitive(o, "data_offsets"), *v;
    if (!cJSON_IsObject(o) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
        return error(err, "safetensors tensor %.100s lacks a dtype, shape or data_offsets", name);
    t->name = name;
    t->dtype = dt->valuestring;
    for (size_t k = 0; k < sizeof dtypes / sizeof dtypes[0] && !t->elem; k++)
        if (!strcmp(dt->valuestring, dtypes[k].name))
            t->elem = dtypes[k].size;
    if (!t->elem)
        return error(err, "safetensors tensor %.100s has unknown dtype %.32s", name, dt->valuestring);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > SAFETENSORS_MAX_DIMS)
        return error(err, "safetensors tensor %.100s has %d dimensions, more than %d", name, ndim, SAFETENSORS_MAX_DIMS);
    t->ndim = ndim;
    uint64_t bytes = t->elem, d = 0;
    cJSON_ArrayForEach(v, shape)
    {
        if (get_u64(v, &t->shape[d]) < 0 || __builtin_mul_overflow(bytes, t->shape[d], &bytes))
            return error(err, "safetensors tensor %.100s: a bad shape", name);
        d++;
    }
    uint64_t b, e;
    if (cJSON_GetArraySize(offs) != 2 || get_u64(cJSON_GetArrayItem(offs, 0), &b) < 0 ||
        get_u64(cJSON_GetArrayItem(offs, 1), &e) < 0 || e < b)
        return error(err, "safetensors tensor %.100s: data_offsets must be two whole numbers, begin <= end", name);
    if (e > data_size)
        return error(err, "safetensors tensor %.100s ends at byte %llu of data, the file holds %llu", name,
                     (unsigned long long)e, (unsigned long long)data_size);
    if (e - b != bytes)
        return error(err, "safetensors tensor %.100s spans %llu bytes, its dtype and shape need %llu", name,
                     (unsigned long long)(e - b), (unsigned long long)bytes);
    t->begin = b, t->end = e;
    return 0;
}

static int by_begin(const void *a, const void *b)
{
    const struct safetensors_tensor *p = a, *q = b;
    return p->begin != q->begin ? (p->begin > q->begin) - (p->begin < q->begin) : (p->end > q->end) - (p->end < q->end);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct safetensors_tensor *)a)->name, ((const struct safetensors_tensor *)b)->name);
}

/* The ranges, sorted, must tile the data exactly: no overlap, no hole, no
 * tail; and no name may appear twice. */
static int check_ranges(struct safetensors *s, uint64_t data_size, char *err)
{
    qsort(s->tensors, s->ntensors, sizeof *s->tensors, by_name);
    for (size_t k = 1; k < s->ntensors; k++)
        if (!strcmp(s->tensors[k - 1].name, s->tensors[k].name))
            return error(err, "safetensors header names tensor %.100s twice", s->tensors[k].name);
    qsort(s->tensors, s->ntensors, sizeof *s->tensors, by_begin);
    uint64_t at = 0;
    for (size_t k = 0; k < s->ntensors; k++) {
        const struct safetensors_tensor *t = &s->tensors[k];
        if (t->begin < at)
            return error(err, "safetensors tensors %.100s and %.100s overlap (bytes %llu to %llu of data)",
                         s->tensors[k - 1].name, t->name, (unsigned long long)t->begin, (unsigned long long)at);
        if (t->begin > at)
            return error(err, "safetensors data has a hole before tensor %.100s (bytes %llu to %llu)", t->name,
                         (unsigned long long)at, (unsigned long long)t->begin);
        at = t->end;
    }
    if (at != data_size)
        return error(err, "safetensors data holds %llu bytes, its tensors %llu", (unsigned long long)data_size,
                     (unsigned long long)at);
    return 0;
}

static int parse_header(struct safetensors *s, const unsigned char *buf, uint64_t n, uint64_t file_size, char *err)
{
    if (safetensors_json_values(buf + 8, n, SAFETENSORS_MAX_NODES) > SAFETENSORS_MAX_NODES)
        return error(err, "safetensors header holds more than %u JSON values", SAFETENSORS_MAX_NODES);
    cJSON *root = cJSON_ParseWithLength((const char *)buf + 8, n);
    s->json = root;
    if (!cJSON_IsObject(root))
        return error(err, "safetensors header is not a JSON object%s", root ? "" : " (malformed JSON)");
    size_t count = (size_t)cJSON_GetArraySize(root);
    if (!(s->tensors = calloc(count ? count : 1, sizeof *s->tensors)))
        return error(err, "out of memory");
    uint64_t data_size = file_size - s->data_start;
    const cJSON *o;
    cJSON_ArrayForEach(o, root)
    {
        if (o->string && !strcmp(o->string, "__metadata__")) {
            if (!cJSON_IsObject(o))
                return error(err, "safetensors __metadata__ is not an object");
            continue;
        }
        if (parse_tensor(o, data_size, &s->tensors[s->ntensors], err) < 0)
            return -1;
        s->ntensors++;
    }
    if (check_ranges(s, data_size, err) < 0)
        return -1;
    for (size_t k = 0; k < s->ntensors; k++)
        s->tensors[k].begin += s->data_start, s->tensors[k].end += s->data_start;
    return 0;
}

struct safetensors *safetensors_parse(const unsigned char *buf, size_t len, uint64_t file_size, char *err)
{
    uint64_t n;
    if (safetensors_header_len(buf, len, file_size, &n, err) < 0)
        return NULL;
    if (n > len - 8) {
        error(err, "safetensors header of %llu bytes, only %zu read", (unsigned long long)n, len - 8);
        return NULL;
    }
    struct safetensors *s = calloc(1, sizeof *s);
    if (!s) {
        error(err, "out of memory");
        return NULL;
    }
    s->data_start = 8 + n;
    if (parse_header(s, buf, n, file_size, err) < 0) {
        safetensors_close(s);
        return NULL;
    }
    return s;
}

void safetensors_close(struct safetensors *s)
{
    if (!s)
        return;
    cJSON_Delete(s->json);
    free(s->tensors);
    free(s);
}

const struct safetensors_tensor *safetensors_find(const struct safetensors *s, const char *name)
{
    for (size_t k = 0; k < s->ntensors; k++)
        if (!strcmp(s->tensors[k].name, name))
            return &s->tensors[k];
    return NULL;
}
