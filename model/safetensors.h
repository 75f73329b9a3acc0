/* safetensors.h - the directory of a .safetensors file: its tensors' names,
 * dtypes, shapes and byte ranges, every one checked against the file.
 *
 *     unsigned char first[8];                 // read the file's first 8 bytes
 *     uint64_t n;
 *     if (safetensors_header_len(first, 8, file_size, &n, err) < 0) ...
 *     // read the first 8 + n bytes into buf
 *     struct safetensors *s = safetensors_parse(buf, 8 + n, file_size, err);
 *     for (size_t i = 0; i < s->ntensors; i++)
 *         use(s->tensors[i].name, s->tensors[i].begin, s->tensors[i].end);
 *     safetensors_close(s);
 *
 * The format: a little-endian u64 n, n bytes of JSON mapping each tensor's
 * name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets from the
 * end of the header), then the data. As the reference implementation does,
 * this refuses a header longer than the file or SAFETENSORS_MAX_HEADER, a
 * byte range that disagrees with its dtype and shape, ranges that overlap,
 * leave holes, or do not end where the file ends, and two tensors of one
 * name. The JSON is parsed by cJSON, its node count bounded first. The
 * directory owns every string it hands out; buf may be freed once parsed.
 */
#ifndef SAFETENSORS_H
#define SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define SAFETENSORS_MAX_HEADER (16u << 20)
#define SAFETENSORS_MAX_DIMS 8
#define SAFETENSORS_MAX_NODES (1u << 19) /* JSON values: bounds cJSON's memory, about 64 bytes each */

/* JSON values in n bytes of text (commas, brackets and colons outside
 * strings, plus one), counted before cJSON builds them, to bound its
 * memory: at most limit + 1 (counting stops there). Also for spm.c's
 * tokenizer.json. */
size_t safetensors_json_values(const unsigned char *p, size_t n, size_t limit);

struct safetensors_tensor {
    const char *name;
    const char *dtype;      /* as the header spells it: "F32", "F16", "BF16", "I64", ... */
    size_t elem;            /* bytes per element of that dtype */
    int ndim;
    uint64_t shape[SAFETENSORS_MAX_DIMS];
    uint64_t begin, end;    /* the data's bytes, from the start of the file */
};

struct safetensors {
    struct safetensors_tensor *tensors; /* in the order of their data */
    size_t ntensors;
    uint64_t data_start;                /* 8 + the header's length */
    void *json;                         /* private: owns the strings */
};

/* The header length a file of file_size bytes starting with p (len >= 8)
 * declares, checked against the file and SAFETENSORS_MAX_HEADER. */
int safetensors_header_len(const unsigned char *p, size_t len, uint64_t file_size, uint64_t *n, char *err);

/* Parses the header in buf (the file's first len bytes, len >= 8 + its
 * header length) of a file of file_size bytes. NULL with err set when
 * anything is malformed or inconsistent. */
struct safetensors *safetensors_parse(const unsigned char *buf, size_t len, uint64_t file_size, char *err);
void safetensors_close(struct safetensors *s);

/* The tensor named name, or NULL. */
const struct safetensors_tensor *safetensors_find(const struct safetensors *s, const char *name);

#endif
