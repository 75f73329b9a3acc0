/* dupes.c - every pair of vectors compared in tiles, the close ones joined. */
#include "dupes.h"

#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "search.h"
#include "util.h"

#define TILE_ROWS 512   /* rows of a tile: a tile's scores stay in the caches */
#define TILE_COLS 4096

/* The group of i, halving the path to it as it goes. */
static size_t find(size_t *root, size_t i)
{
    while (root[i] != i) {
        root[i] = root[root[i]];
        i = root[i];
    }
    return i;
}

/* The lower root becomes the other's: a group is named by its first row. */
static void join(size_t *root, size_t a, size_t b)
{
    a = find(root, a), b = find(root, b);
    if (a != b)
        root[a > b ? a : b] = a < b ? a : b;
}

/* The rows of v as unit vectors, in a malloc'd copy [rows, dim]. */
static float *unit_copy(const struct vecfile *v, char *err)
{
    size_t n;
    if (size_mul(v->rows, (size_t)v->dim, &n) < 0 || size_mul(n, sizeof(float), &n) < 0)
        return error(err, "%zu vectors of %d are too many", v->rows, v->dim), NULL;
    float *u = malloc(n ? n : 1);
    if (!u)
        return error(err, "out of memory"), NULL;
    memcpy(u, v->data, n);
    for (size_t r = 0; r < v->rows; r++)
        if (search_unit(u + r * (size_t)v->dim, v->dim) < 0) {
            free(u);
            return error(err, "vector %zu is all zeros, NaN or infinite", r + 1), NULL;
        }
    return u;
}

/* The pairs of the tile at rows r0, columns c0 (c0 >= r0) at or above t. */
static void tile(const float *u, size_t rows, int dim, size_t r0, size_t c0, float t, float *s, size_t *root)
{
    size_t nr = rows - r0 < TILE_ROWS ? rows - r0 : TILE_ROWS, nc = rows - c0 < TILE_COLS ? rows - c0 : TILE_COLS;
    /* s[nr, nc] = u[r0 : r0 + nr, dim] @ u[c0 : c0 + nc, dim]^T */
    blas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)nc, dim, 1.0f, u + r0 * (size_t)dim, dim,
                u + c0 * (size_t)dim, dim, 0.0f, s, (int)nc);
    /* a float product of a unit vector with itself may fall short of 1 by
     * a few units in the last place: identical vectors must still group */
    t -= 1e-5f;
    for (size_t i = 0; i < nr; i++)
        for (size_t j = r0 + i + 1 > c0 ? r0 + i + 1 - c0 : 0; j < nc; j++)
            if (s[i * nc + j] >= t)
                join(root, r0 + i, c0 + j);
}

int dupes_find(const struct vecfile *v, float threshold, size_t **root, char *err)
{
    if (blas_load(err) < 0)
        return -1;
    float *u = unit_copy(v, err), *s = malloc((size_t)TILE_ROWS * TILE_COLS * sizeof *s);
    size_t *r = malloc((v->rows ? v->rows : 1) * sizeof *r);
    if (!u || !s || !r) {
        if (u)
            error(err, "out of memory");
        free(u), free(s), free(r);
        return -1;
    }
    for (size_t i = 0; i < v->rows; i++)
        r[i] = i;
    /* the upper triangle: each tile of rows against the columns from its own
     * first row on */
    for (size_t r0 = 0; r0 < v->rows; r0 += TILE_ROWS)
        for (size_t c0 = r0; c0 < v->rows; c0 += TILE_COLS)
            tile(u, v->rows, v->dim, r0, c0, threshold, s, r);
    for (size_t i = 0; i < v->rows; i++)
        r[i] = find(r, i);
    free(u);
    free(s);
    *root = r;
    return 0;
}
