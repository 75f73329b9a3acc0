/* search.h - cosine similarity and the best matches among vector files.
 *
 *     search_unit(q, dim);                              // queries are unit vectors
 *     const struct vecfile *dbs[] = {photos, more};
 *     size_t n;
 *     struct search_hit *best = search_top_k(dbs, 2, q, 10, threads, &n, err);
 *     for (size_t i = 0; i < n; i++) use(best[i].db, best[i].row, best[i].score);
 *     free(best);
 *
 * Several files are searched as one: one ranking, ties in file order, then
 * row order. A row that is all zeros, NaN or infinite is an error naming
 * it, never a silent score.
 */
#ifndef SEARCH_H
#define SEARCH_H

#include <stddef.h>

#include "vecfile.h"

/* cos(x, q) of n floats, q of unit length; NaN or infinite when x is all
 * zeros or not finite. */
float search_cosine(const float *x, const float *q, int n);

/* Scales v[n] to unit length; -1 (v unchanged) when it is all zeros or not
 * finite. */
int search_unit(float *v, int n);

struct search_hit {
    float score; /* cosine similarity */
    size_t db;   /* index into the files searched */
    size_t row;  /* row within that file */
};

/* The k rows of the ndb files most similar to the unit vector q (of their
 * dimension, which they share), best first; k larger than the rows means
 * all rows. Returns a malloc'd array of *n hits for the caller to free, or
 * NULL with err and *n the index of the file at fault (ndb when none: out
 * of memory). threads: how many scan. */
struct search_hit *search_top_k(const struct vecfile *const *dbs, size_t ndb, const float *q, size_t k, int threads,
                                size_t *n, char *err);

#endif
