/* vecfile.h - files of embedding vectors: .npy, CSV and raw float32, read
 * and written.
 *
 *     struct vecfile *v = vecfile_open("photos.npy", 0, err);  // "-" is stdin
 *     for (size_t r = 0; r < v->rows; r++) use(v->data + r * v->dim);
 *     vecfile_close(v);
 *
 *     struct vecfile_writer *w = vecfile_writer_open(stdout, VECFILE_NPY, 512, err);
 *     vecfile_write(w, rows, n, err);     // as many times as there are rows
 *     vecfile_writer_sync(w, err);        // after each batch: a file cut here is valid
 *     vecfile_writer_close(w, err);       // the .npy header, a final flush
 *
 * Reading sniffs the kind from the bytes, never the name: the NumPy magic
 * means .npy (float32, float64 or float16 of either byte order, C order, 1
 * or 2 dimensions; the header is parsed as the Python dict literal it is,
 * and numpy's own refusals are ours); text (printable ASCII and whitespace)
 * is CSV, one vector a line, with one non-numeric first line taken for a
 * header and skipped; anything else is raw little-endian float32 rows of
 * `dim` values (dim must then be given). Files are memory-mapped, not
 * copied, where their layout allows (little-endian float32 .npy, raw);
 * the rest and stdin are read into memory. Values are not checked: a reader
 * that needs finite vectors checks what it computes from them (search.h).
 */
#ifndef VECFILE_H
#define VECFILE_H

#include <stddef.h>
#include <stdio.h>

#include "util.h"

#define VECFILE_MAX_DIM 65536

struct vecfile {
    const float *data; /* rows x dim, row-major */
    size_t rows;
    int dim;
    void *map;    /* private: the mapping, or NULL */
    size_t size;  /* private: its length */
    void *owned;  /* private: data read or converted into memory */
};

/* Opens path ("-": standard input), which must be a regular file, a pipe
 * or a terminal when "-". dim: the dimension raw files have (0: unknown).
 * NULL with err naming the file on error. */
struct vecfile *vecfile_open(const char *path, int dim, char *err);

/* The same parse over len bytes in memory, which the caller keeps alive
 * and unchanged while the result is in use. */
struct vecfile *vecfile_parse(const unsigned char *buf, size_t len, int dim, char *err);

void vecfile_close(struct vecfile *v);

enum vecfile_format { VECFILE_RAW, VECFILE_CSV, VECFILE_NPY };

/* The format named s ("raw", "csv", "npy") into *f; -1 for another name. */
int vecfile_format_parse(const char *s, enum vecfile_format *f);
/* The names the parser takes, for messages and help: "raw, csv or npy". */
const char *vecfile_format_names(void);

/* A writer of dim-float rows to f, which it does not close. An .npy needs
 * the row count in its header: to a regular file it is rewritten by each
 * sync, to a pipe the rows wait in memory until close. NULL when out of
 * memory. */
struct vecfile_writer *vecfile_writer_open(FILE *f, enum vecfile_format fmt, int dim, char *err);

/* Writes n rows of dim floats. -1 with err on a write error. */
int vecfile_write(struct vecfile_writer *w, const float *rows, size_t n, char *err);

/* Flushes what was written; an .npy file's header then counts every row
 * written, so that a run killed later leaves a valid file. */
int vecfile_writer_sync(struct vecfile_writer *w, char *err);

/* Finishes the output (the .npy header, the held rows) and frees w, also
 * on error; NULL is fine. -1 with err when anything failed to be written. */
int vecfile_writer_close(struct vecfile_writer *w, char *err);

#endif
