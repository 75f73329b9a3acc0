/* index.h - a photo library's vectors in SQLite, kept up to date a file at
 * a time, searched through a flat cache beside it.
 *
 *     struct index *ix = index_open("photos.clippie", INDEX_WRITE, err);
 *     index_bind_model(ix, &model, err);            // the first run records it
 *     struct index_plan plan;
 *     index_plan(ix, &files, &plan, err);           // what the walk found vs. the index
 *     for each batch of plan.todo: embed; index_put(ix, files, vecs, n, err);
 *     index_remove(ix, plan.gone, plan.ngone, err);
 *     index_refresh_cache(ix, err);
 *     index_close(ix);
 *
 * The database (tables clippie_meta, clippie_roots, clippie_files) is the
 * truth: each batch is one transaction, so a run killed at any moment loses
 * at most the batch in flight, and the next run picks up where it stopped.
 * Paths are stored as the bytes the filesystem gave (BLOBs), newlines and
 * invalid UTF-8 included. Every change bumps a generation number; the cache
 * (INDEX-vectors: ids and float32 vectors in path order, memory-mapped by
 * searches) counts as valid only for the database it was made from (a
 * random identity recorded in both) and the generation it was made from,
 * and is rebuilt from the database when stale, written to a fresh name
 * beside it and renamed into place. One writer at a time: a second is
 * refused (an advisory lock on INDEX); readers never wait.
 *
 * An index is untrusted input: it is opened with SQLite's defences for
 * hostile databases (no triggers, views or schema functions, cell sizes
 * checked, values of at most 1 MiB, each statement's work bounded by the
 * file's size), refused unless its schema is exactly clippie's, and every
 * value read from it is checked; errors name the value at fault. A path is
 * a file's name, never an SQLite URI.
 */
#ifndef INDEX_H
#define INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "vecfile.h"
#include "walk.h"
#include "weights.h"

#define INDEX_MAX_DESC 512

enum index_mode { INDEX_READ, INDEX_WRITE, INDEX_CREATE };

/* What made the vectors: a model (identified by a hash of its header and
 * projections, which any two trained models differ in) and preprocessing. */
struct index_model {
    char id[33];                /* hex */
    int dim;
    int exif, draft;            /* the preprocessing options */
    char desc[INDEX_MAX_DESC];  /* for people: the file it came from, its shape */
};

struct index;

/* What the file at path is, by its first bytes: 1 an SQLite database (an
 * index, or foreign: index_open tells), 0 missing, -1 with err anything
 * else (not a regular file, empty, not SQLite). */
int index_probe(const char *path, char *err);

/* Opens an index: READ for searching, WRITE to update one that exists
 * (taking the writer's lock), CREATE to make it when missing. NULL with err
 * naming the file: not SQLite, SQLite but not a clippie index (naming the
 * view, trigger or other table it holds), a meta value out of range,
 * corrupt, being updated by another process.
 *
 * A reader sees one state of the index from index_open to index_close (one
 * read transaction), whatever a writer commits meanwhile. It never writes
 * (queries only); it opens the file read-write where it can, so that, the
 * last to close, it leaves no -wal or -shm file behind, and as immutable
 * where the folder cannot be written. */
struct index *index_open(const char *path, enum index_mode mode, char *err);
void index_close(struct index *ix);

/* The model a file w at path gives, with the preprocessing options. */
void index_model_of(const struct weights *w, const char *path, int exif, int draft, struct index_model *m);

/* Records m in an index that has no model yet; refuses (naming both) one
 * whose vectors came from another model or preprocessing. */
int index_bind_model(struct index *ix, const struct index_model *m, char *err);

/* The recorded model (id "" when none yet). */
int index_model(struct index *ix, struct index_model *m, char *err);

/* The roots recorded (absolute paths, malloc'd array of malloc'd strings
 * for the caller to free), and adding to them. */
int index_roots(struct index *ix, char ***roots, size_t *n, char *err);
int index_add_roots(struct index *ix, char *const *roots, size_t n, char *err);

/* Shard k of n (0 <= k < n) or the whole library (n = 0): recorded by the
 * first run, refused when another is asked for later. */
int index_bind_shard(struct index *ix, unsigned k, unsigned n, char *err);

struct index_plan {
    size_t *todo;        /* indexes into the walk's files: to embed */
    size_t ntodo, nnew, nchanged, nunchanged;
    int64_t *gone;       /* ids of entries under the roots no longer on disk */
    size_t ngone;
};

/* Compares the walk's files (those of the index's shard) with the entries
 * under roots: new files and files whose size, mtime or inode changed go to
 * todo, entries under roots no longer found go to gone (so a root that
 * could not be read must be left out of roots, or its entries would go). */
int index_plan(struct index *ix, const struct walk *files, char *const *roots, size_t nroots, struct index_plan *p,
               char *err);
void index_plan_free(struct index_plan *p);

/* Stores the vectors of n files (vecs [n, dim]) in one transaction,
 * replacing older entries of the same paths. */
int index_put(struct index *ix, const struct walk_file *const *files, const float *vecs, size_t n, char *err);

/* Deletes n entries by id in one transaction. */
int index_remove(struct index *ix, const int64_t *ids, size_t n, char *err);

/* The vectors in path order, from the cache (rebuilt first when stale and
 * the index was opened for writing; read from the database otherwise). The
 * view lives until index_close. */
const struct vecfile *index_vectors(struct index *ix, char *err);

/* Rewrites the cache when stale (after an update). */
int index_refresh_cache(struct index *ix, char *err);

/* The path of row `row` of index_vectors's view; malloc'd, for the caller
 * to free. NULL with err. */
char *index_path_of(struct index *ix, size_t row, char *err);

/* Calls fn for every entry in path order: its path and vector. Stops with
 * fn's nonzero return. */
int index_each(struct index *ix, int (*fn)(void *ctx, const char *path, const float *vec), void *ctx, char *err);

/* Copies the entries of the index at path (same model) into ix; of two
 * entries of one path, the newer file wins. */
int index_merge_from(struct index *ix, const char *path, char *err);

#endif
