/* dupes.h - near-duplicate photos: the groups of vectors joined by pairs
 * whose cosine is at or above a threshold (a pair joins two groups, so a
 * chain of close photos is one group).
 *
 *     size_t *root;
 *     dupes_find(vectors, 0.95f, &root, err);   // root[i]: row i's group (a row index)
 *
 * Every pair is compared, in tiles of rows whose products go to the BLAS
 * on every core: N^2 D / 2 multiply-adds for N rows of D. Identical
 * vectors (byte-identical files) always score 1 and group.
 */
#ifndef DUPES_H
#define DUPES_H

#include <stddef.h>

#include "vecfile.h"

/* *root gets a malloc'd array of v->rows group ids (a row of the group),
 * for the caller to free. threshold in (0, 1]. -1 with err: out of memory,
 * or a row all zeros or not finite. */
int dupes_find(const struct vecfile *v, float threshold, size_t **root, char *err);

#endif
