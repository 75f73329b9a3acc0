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
    int exif, draft, raw_full;  /* the preprocessing options */
    uint64_t max_pixels;        /* 0: the default (and an index made before it was recorded) */
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

/* The roots recorded (canonical paths, malloc'd array of malloc'd strings:
 * index_free_strings), and replacing them. */
int index_roots(struct index *ix, char ***roots, size_t *n, char *err);
int index_set_roots(struct index *ix, char *const *roots, size_t n, char *err);
void index_free_strings(char **s, size_t n);

/* Drops the root (as recorded) and every entry and known failure under it;
 * *removed: the entries dropped. -1 with err when root is not recorded. */
int index_forget(struct index *ix, const char *root, size_t *removed, char *err);

/* The --exclude patterns recorded, and replacing them (as index_roots). */
int index_excludes(struct index *ix, char ***patterns, size_t *n, char *err);
int index_set_excludes(struct index *ix, char *const *patterns, size_t n, char *err);

/* Shard k of n (0 <= k < n) asked for, or none (n = 0: the one recorded, or
 * the whole library): recorded by the first run, refused when another is
 * asked for later. */
int index_bind_shard(struct index *ix, unsigned k, unsigned n, char *err);

/* A file of the walk that needs no decoding: moved (its entry id renamed)
 * or a copy (a new entry with entry id's vector). */
struct index_reuse {
    size_t file;
    int64_t id;
    int moved;
};

struct index_plan {
    size_t *todo;        /* indexes into the walk's files: to embed */
    size_t ntodo, nnew, nchanged, nunchanged;
    size_t nknown;       /* files that failed before, unchanged since: not tried */
    int64_t *gone;       /* ids of entries under the roots no longer on disk */
    size_t ngone;
    struct index_reuse *reuse; /* moves and copies */
    size_t nreuse, nmoved, ncopied;
    size_t *dated, ndated, dcap; /* unchanged files whose date and hash are new */
    char **failgone;     /* known failures no longer on disk */
    size_t nfailgone;
};

/* Compares the walk's files (those of the index's shard) with the entries
 * under roots: new files and files whose size, mtime or inode changed go to
 * todo, unless an entry gone has their inode (moved) or an entry their
 * bytes (a copy): those go to reuse; entries under roots no longer found
 * go to gone (so a root that could not be read must be left out of roots,
 * or its entries would go). Known failures unchanged are passed over. The
 * files to embed and copies are read (SHA-256, EXIF date): their facts. */
int index_plan(struct index *ix, struct walk *files, char *const *roots, size_t nroots, struct index_plan *p,
               char *err);
void index_plan_free(struct index_plan *p);

/* Applies a plan's moves, copies, dates and failures gone, in one
 * transaction (before the files to embed are embedded). */
int index_apply(struct index *ix, const struct walk *files, const struct index_plan *p, char *err);

/* Records n files that could not be embedded (why[i]: the reason), not
 * tried again while their size, mtime and inode stay. */
int index_put_failed(struct index *ix, const struct walk_file *const *files, const char *const *why, size_t n,
                     char *err);

/* What --info shows. */
struct index_status {
    long long generation, refreshed; /* refreshed: Unix time, 0 never */
    size_t photos, failed;
};
int index_status(struct index *ix, struct index_status *s, char *err);
/* Records now as the last refresh. */
int index_touch(struct index *ix, char *err);
/* Calls fn for every known failure: its path and reason. */
int index_each_failed(struct index *ix, void (*fn)(void *ctx, const char *path, const char *why), void *ctx,
                      char *err);

/* The date of each row of index_vectors's view (wall-clock seconds, as
 * EXIF records dates), INDEX_NO_DATE when unknown; malloc'd [rows]. */
#define INDEX_NO_DATE INT64_MIN
int64_t *index_dates(struct index *ix, char *err);

/* Stores the vectors of n files (vecs [n, dim]) in one transaction,
 * replacing older entries of the same paths (and their facts, when known;
 * and their failures). */
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
