#include "vecfile.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DIM 65536

/* Finds 'key': in an npy header dict and returns what follows it, or NULL. */
static const char *dict_value(const char *h, size_t n, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl + 1 < n; i++)
        if (!memcmp(h + i, key, kl)) {
            const char *p = h + i + kl;
            while (p < h + n && (*p == ' ' || *p == ':'))
                p++;
            return p < h + n ? p : NULL;
        }
    return NULL;
}

int vecfile_parse_npy(const unsigned char *buf, size_t len, size_t *rows, int *dim, size_t *offset, char *err)
{
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6))
        return error(err, "not an .npy file");
    size_t hlen, start;
    if (buf[6] == 1)
        hlen = load_u16(buf + 8), start = 10;
    else if ((buf[6] == 2 || buf[6] == 3) && len >= 12)
        hlen = load_u32(buf + 8), start = 12;
    else
        return error(err, ".npy version %d is not supported", buf[6]);
    if (hlen > len - start || hlen > 65536)
        return error(err, ".npy header runs past the end of the file");
    const char *h = (const char *)buf + start;
    const char *descr = dict_value(h, hlen, "'descr'"), *fo = dict_value(h, hlen, "'fortran_order'"),
               *shape = dict_value(h, hlen, "'shape'");
    if (!descr || !fo || !shape)
        return error(err, ".npy header lacks descr, fortran_order or shape");
    if ((size_t)(h + hlen - descr) < 6 || (memcmp(descr, "'<f4'", 5) && memcmp(descr, "'|f4'", 5)))
        return error(err, ".npy data is not little-endian float32 ('<f4')");
    if ((size_t)(h + hlen - fo) < 5 || memcmp(fo, "False", 5))
        return error(err, ".npy data is in Fortran order");
    if (*shape != '(')
        return error(err, ".npy shape is not a tuple");
    unsigned long long d[3];
    int nd = 0;
    const char *p = shape + 1, *end = h + hlen;
    while (p < end && *p != ')' && nd < 3) {
        char *q;
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        if (p < end && *p == ')')
            break;
        errno = 0;
        d[nd] = strtoull(p, &q, 10);
        if (q == p || errno || q > end)
            return error(err, ".npy shape is malformed");
        nd++;
        p = q;
    }
    if (nd == 1)
        d[1] = d[0], d[0] = 1;
    if (nd < 1 || nd > 2 || d[1] == 0 || d[1] > MAX_DIM)
        return error(err, ".npy shape must be (rows, dim) with dim 1..%d", MAX_DIM);
    size_t bytes;
    *offset = start + hlen;
    if (size_mul(d[0], d[1] * sizeof(float), &bytes) < 0 || bytes > len - *offset)
        return error(err, ".npy holds %llu x %llu floats but only %zu bytes of data", d[0], d[1], len - *offset);
    *rows = (size_t)d[0];
    *dim = (int)d[1];
    return 0;
}

static int looks_like_csv(const unsigned char *b, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n && i < 4096; i++)
        if (!strchr("0123456789+-.eE, \t\r\nnaifNAIF", b[i]) || !b[i])
            return 0;
    return 1;
}

static int parse_csv(struct vecfile *v, const char *text, size_t n, char *err)
{
    size_t cap = 0, count = 0, line = 1;
    int dim = 0, col = 0;
    const char *p = text, *end = text + n;
    char num[64];
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        if (p < end && *p == '\n') {
            if (col) {
                if (dim && col != dim)
                    return error(err, "line %zu has %d values, earlier lines %d", line, col, dim);
                dim = col;
                v->rows++;
            }
            col = 0;
            line++;
            p++;
            continue;
        }
        size_t k = 0;
        while (p < end && *p != ',' && *p != '\n' && *p != ' ' && *p != '\t' && *p != '\r' && k < sizeof num - 1)
            num[k++] = *p++;
        num[k] = 0;
        char *q;
        float f = strtof(num, &q);
        if (!k || *q)
            return error(err, "line %zu: '%s' is not a number", line, num);
        if (count == cap) {
            cap = cap ? 2 * cap : 4096;
            float *o = realloc(v->owned, cap * sizeof *o);
            if (!o)
                return error(err, "out of memory");
            v->owned = o;
        }
        v->owned[count++] = f;
        col++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end && *p == ',')
            p++;
    }
    if (col) {
        if (dim && col != dim)
            return error(err, "line %zu has %d values, earlier lines %d", line, col, dim);
        dim = col;
        v->rows++;
    }
    v->dim = dim;
    v->data = v->owned;
    return 0;
}

static unsigned char *read_stream(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        unsigned char *b = realloc(buf, cap *= 2);
        if (!b)
            free(buf);
        buf = b;
    }
    if (buf && ferror(f)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

struct vecfile *vecfile_open(const char *path, int dim, char *err)
{
    struct vecfile *v = calloc(1, sizeof *v);
    unsigned char *buf = NULL;
    size_t len = 0;
    char why[ERR_LEN];
    if (!v) {
        error(err, "out of memory");
        return NULL;
    }
    const char *name = strcmp(path, "-") ? path : "standard input";
    if (!strcmp(path, "-")) {
        if (!(buf = read_stream(stdin, &len))) {
            error(err, "%s: read failed", name);
            goto fail;
        }
        v->map = buf; /* freed, not unmapped: size 0 says so */
    } else {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            error(err, "%s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            goto fail;
        }
        len = (size_t)st.st_size;
        if (len) {
            /* not MAP_POPULATE: the threads of a search fault the pages in
             * in parallel, which measured 25 ms against 34 for 100k x 512 */
            buf = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
            if (buf == MAP_FAILED) {
                buf = NULL;
                error(err, "%s: cannot map: %s", path, strerror(errno));
                close(fd);
                goto fail;
            }
            v->map = buf;
            v->size = len;
        }
        close(fd);
    }
    if (len == 0) {
        error(err, "%s: empty, no vectors", name);
        goto fail;
    }
    if (len >= 6 && !memcmp(buf, "\x93NUMPY", 6)) {
        size_t off;
        if (vecfile_parse_npy(buf, len, &v->rows, &v->dim, &off, why) < 0) {
            error(err, "%s: %s", name, why);
            goto fail;
        }
        if (off % sizeof(float)) {
            error(err, "%s: .npy data is not aligned for float32", name);
            goto fail;
        }
        v->data = (const float *)(buf + off);
    } else if (looks_like_csv(buf, len)) {
        if (parse_csv(v, (const char *)buf, len, why) < 0) {
            error(err, "%s: %s", name, why);
            goto fail;
        }
    } else {
        if (dim <= 0) {
            error(err, "%s: raw float32 vectors need their dimension (--dim)", name);
            goto fail;
        }
        if (len % ((size_t)dim * sizeof(float))) {
            error(err, "%s: %zu bytes is not a whole number of %d-float vectors", name, len, dim);
            goto fail;
        }
        v->rows = len / ((size_t)dim * sizeof(float));
        v->dim = dim;
        v->data = (const float *)buf;
    }
    if (v->rows == 0) {
        error(err, "%s: no vectors", name);
        goto fail;
    }
    return v;
fail:
    vecfile_close(v);
    return NULL;
}

void vecfile_close(struct vecfile *v)
{
    if (!v)
        return;
    if (v->map && v->size)
        munmap(v->map, v->size);
    else
        free(v->map);
    free(v->owned);
    free(v);
}

typedef float v8sf __attribute__((vector_size(32)));

/* One pass over x for both the dot product and the
 * norm, in eight lanes and two sets of sums so that neither waits on the
 * other. Built for AVX2 + FMA and for any x86-64, chosen at load time. */
__attribute__((target_clones("arch=x86-64-v3", "default"))) float vecfile_cosine(const float *x, const float *q, int n)
{
    v8sf dot[2] = {{0}}, sq[2] = {{0}};
    int d = 0;
    for (; d + 16 <= n; d += 16)
        for (int h = 0; h < 2; h++) {
            v8sf a, b;
            memcpy(&a, x + d + 8 * h, sizeof a);
            memcpy(&b, q + d + 8 * h, sizeof b);
            dot[h] += a * b;
            sq[h] += a * a;
        }
    float sd = 0, ss = 0;
    for (; d < n; d++)
        sd += x[d] * q[d], ss += x[d] * x[d];
    for (int l = 0; l < 8; l++)
        sd += dot[0][l] + dot[1][l], ss += sq[0][l] + sq[1][l];
    return sd / sqrtf(ss);
}

struct scan {
    const struct vecfile *v;
    const float *q;
    size_t first, last, k, n, bad; /* rows [first, last); bad: a row that is not finite, or SIZE_MAX */
    struct vecfile_hit *best;
};

static void *scan_rows(void *arg)
{
    struct scan *s = arg;
    for (size_t r = s->first; r < s->last; r++) {
        float score = vecfile_cosine(s->v->data + r * s->v->dim, s->q, s->v->dim);
        if (!isfinite(score)) {
            s->bad = r;
            break;
        }
        if (s->n == s->k && score <= s->best[s->n - 1].score)
            continue;
        size_t at = s->n < s->k ? s->n++ : s->n - 1;
        for (; at > 0 && s->best[at - 1].score < score; at--)
            s->best[at] = s->best[at - 1];
        s->best[at] = (struct vecfile_hit){score, r};
    }
    return NULL;
}

long vecfile_top_k(const struct vecfile *v, const float *q, size_t k, int threads, struct vecfile_hit *best,
                   char *err)
{
    /* a thread per 4096 rows at most: fewer rows are not worth one */
    size_t most = v->rows / 4096 + 1;
    threads = util_threads((size_t)threads > most ? (int)most : threads);
    struct scan s[UTIL_MAX_THREADS];
    struct vecfile_hit *hits = malloc((size_t)threads * k * sizeof *hits);
    if (!hits)
        return error(err, "out of memory");
    for (int t = 0; t < threads; t++)
        s[t] = (struct scan){v, q, v->rows * t / threads, v->rows * (t + 1) / threads, k, 0, SIZE_MAX, hits + t * k};
    util_parallel(scan_rows, s, sizeof *s, threads);
    for (int t = 0; t < threads; t++)
        if (s[t].bad != SIZE_MAX) {
            free(hits);
            return error(err, "vector %zu is all zeros, NaN or infinite", s[t].bad + 1);
        }
    /* merge: a range's rows all precede the next range's, so taking from the
     * earlier range on equal scores keeps row order */
    size_t at[UTIL_MAX_THREADS] = {0};
    long n = 0;
    while ((size_t)n < k) {
        int pick = -1;
        for (int t = 0; t < threads; t++)
            if (at[t] < s[t].n && (pick < 0 || s[t].best[at[t]].score > s[pick].best[at[pick]].score))
                pick = t;
        if (pick < 0)
            break;
        best[n++] = s[pick].best[at[pick]++];
    }
    free(hits);
    return n;
}
