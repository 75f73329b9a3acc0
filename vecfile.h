/* vecfile.h - reads files of embedding vectors: .npy, raw float32, CSV.
 *
 *     struct vecfile *v = vecfile_open("photos.npy", 0, err);  // "-" is stdin
 *     for (size_t r = 0; r < v->rows; r++) use(v->data + r * v->dim);
 *     vecfile_close(v);
 *
 * The kind is sniffed: the NumPy magic means .npy (float32, C order, 1 or 2
 * dimensions); otherwise text made only of numbers, commas, signs and
 * whitespace is CSV (one vector a line); anything else is raw little-endian
 * float32 rows of `dim` values (dim must then be given). Files are
 * memory-mapped, not copied, where their layout allows (npy and raw files);
 * CSV and stdin are read into memory. Values are not checked: a reader
 * that needs finite vectors checks what it computes from them.
 */
#ifndef VECFILE_H
#define VECFILE_H

#include <stddef.h>

#include "util.h"

struct vecfile {
    const float *data; /* rows x dim, row-major */
    size_t rows;
    int dim;
    void *map;    /* private: the mapping, or NULL */
    size_t size;  /* private: its length */
    float *owned; /* private: data read into memory */
};

/* dim: the dimension raw files have (0: unknown). NULL with err on error. */
struct vecfile *vecfile_open(const char *path, int dim, char *err);
void vecfile_close(struct vecfile *v);

/* cos(x, q) of n floats, q of unit length; NaN or infinite when x is all
 * zeros or not finite. */
float vecfile_cosine(const float *x, const float *q, int n);

struct vecfile_hit {
    float score; /* cosine similarity */
    size_t row;
};

/* The k rows of v most similar (cosine) to the unit vector q, best first,
 * ties in row order, into best[k]; scanned by `threads` threads. Returns how
 * many (at most k), or -1 with err naming the first row that is all zeros,
 * NaN or infinite. */
long vecfile_top_k(const struct vecfile *v, const float *q, size_t k, int threads, struct vecfile_hit *best,
                   char *err);

/* Parses an .npy header in buf: its rows, dim and the data's offset. */
int vecfile_parse_npy(const unsigned char *buf, size_t len, size_t *rows, int *dim, size_t *offset, char *err);

#endif
