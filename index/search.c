#include "search.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FULL_SORT_K 256     /* past this many hits, sorting every score beats keeping a sorted list */
#define ROWS_PER_THREAD 4096 /* fewer rows are not worth a thread */

typedef float v8sf __attribute__((vector_size(32)));

/* One pass over x for both the dot product and the norm, in eight lanes and
 * two sets of sums so that neither waits on the other. Built for AVX2 + FMA
 * and for any x86-64, chosen at load time. */
UTIL_X86_64_V3 float search_cosine(const float *x, const float *q, int n)
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

int search_unit(float *v, int n)
{
    double s = 0;
    for (int k = 0; k < n; k++)
        s += (double)v[k] * v[k];
    if (!isfinite(s) || s == 0)
        return -1;
    float inv = (float)(1.0 / sqrt(s));
    for (int k = 0; k < n; k++)
        v[k] *= inv;
    return 0;
}

/* A share of the rows of all files, numbered as if they were one. */
struct scan {
    const struct vecfile *const *dbs;
    const size_t *start;          /* start[i]: the first row of file i, in all rows */
    const float *q;
    size_t first, last;           /* rows [first, last) */
    size_t k, n;                  /* at most k best kept, n so far */
    size_t bad;                   /* the first row that is not finite, or SIZE_MAX */
    int keep_all;                 /* every score, unsorted, rather than the best k */
    struct search_hit *best;
};

static int better(const struct search_hit *a, const struct search_hit *b)
{
    return a->score > b->score || (a->score == b->score && (a->db < b->db || (a->db == b->db && a->row < b->row)));
}

static int by_rank(const void *a, const void *b) { return better(a, b) ? -1 : better(b, a) ? 1 : 0; }

static void *scan_rows(void *arg)
{
    struct scan *s = arg;
    size_t db = 0;
    for (size_t g = s->first; g < s->last; g++) {
        while (g >= s->start[db + 1])
            db++;
        const struct vecfile *v = s->dbs[db];
        size_t r = g - s->start[db];
        struct search_hit h = {search_cosine(v->data + r * (size_t)v->dim, s->q, v->dim), db, r};
        if (!isfinite(h.score)) {
            s->bad = g;
            break;
        }
        if (s->keep_all) {
            s->best[s->n++] = h;
            continue;
        }
        if (s->n == s->k && h.score <= s->best[s->n - 1].score)
            continue;
        size_t at = s->n < s->k ? s->n++ : s->n - 1;
        for (; at > 0 && s->best[at - 1].score < h.score; at--)
            s->best[at] = s->best[at - 1];
        s->best[at] = h;
    }
    return NULL;
}

/* Merges the threads' sorted lists: a share's rows all precede the next
 * share's, so taking from the earlier one on equal scores keeps row order. */
static size_t merge(struct scan *s, int threads, size_t k, struct search_hit *out)
{
    size_t at[UTIL_MAX_THREADS] = {0}, n = 0;
    while (n < k) {
        int pick = -1;
        for (int t = 0; t < threads; t++)
            if (at[t] < s[t].n && (pick < 0 || s[t].best[at[t]].score > s[pick].best[at[pick]].score))
                pick = t;
        if (pick < 0)
            break;
        out[n++] = s[pick].best[at[pick]++];
    }
    return n;
}

struct search_hit *search_top_k(const struct vecfile *const *dbs, size_t ndb, const float *q, size_t k, int threads,
                                size_t *n, char *err)
{
    size_t *start = malloc((ndb + 1) * sizeof *start), total = 0, bytes;
    struct search_hit *hits = NULL, *out = NULL;
    struct scan s[UTIL_MAX_THREADS];
    if (!start)
        goto oom;
    for (size_t i = 0; i < ndb; i++)
        start[i] = total, total += dbs[i]->rows;
    start[ndb] = total;
    k = k < total ? k : total;
    int keep_all = k > FULL_SORT_K;
    size_t most = total / ROWS_PER_THREAD + 1, per;
    threads = util_threads((size_t)threads > most ? (int)most : threads);
    per = keep_all ? (total + (size_t)threads - 1) / (size_t)threads : k;
    if (size_mul(per, (size_t)threads * sizeof *hits, &bytes) < 0 || !(hits = malloc(bytes ? bytes : 1)) ||
        !(out = malloc(k ? k * sizeof *out : 1)))
        goto oom;
    for (int t = 0; t < threads; t++)
        s[t] = (struct scan){dbs,  start,    q, total * (size_t)t / (size_t)threads, total * (size_t)(t + 1) / (size_t)threads,
                             k,    0,        SIZE_MAX, keep_all, hits + (size_t)t * per};
    util_parallel(scan_rows, s, sizeof *s, threads);
    for (int t = 0; t < threads; t++)
        if (s[t].bad != SIZE_MAX) {
            size_t db = 0;
            while (s[t].bad >= start[db + 1])
                db++;
            error(err, "vector %zu is all zeros, NaN or infinite", s[t].bad - start[db] + 1);
            *n = db;
            goto fail;
        }
    if (keep_all) { /* the shares lie end to end in hits: sort them as one */
        size_t all = 0;
        for (int t = 0; t < threads; t++) {
            memmove(hits + all, s[t].best, s[t].n * sizeof *hits);
            all += s[t].n;
        }
        qsort(hits, all, sizeof *hits, by_rank);
        memcpy(out, hits, k * sizeof *out);
        *n = k;
    } else
        *n = merge(s, threads, k, out);
    free(hits);
    free(start);
    return out;
oom:
    error(err, "out of memory");
    *n = ndb;
fail:
    free(hits);
    free(out);
    free(start);
    return NULL;
}
