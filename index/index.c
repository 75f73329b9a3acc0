#include "index.h"

#include "transformer.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT "clippie-index 1"
#define CACHE_MAGIC "CLIPPIEV"
#define CACHE_VERSION 2
#define CACHE_HEADER 64
#define CACHE_ALIGN 4096 /* the vectors start on a page: written in one go, they fill large page-cache folios, which a search maps with few faults */

struct index {
    sqlite3 *db;
    char *path;
    enum index_mode mode;
    int lock_fd;            /* the writer's lock, or -1 */
    int dim;
    struct vecfile view;    /* index_vectors's answer */
    void *map;              /* the cache's mapping, or NULL */
    size_t map_len;
    float *owned;           /* vectors read from the database instead */
    int64_t *ids;           /* the view's rows' ids: in the map, or owned */
    int64_t *owned_ids;
};

static const char schema[] =
    "CREATE TABLE clippie_meta(key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE clippie_roots(path BLOB PRIMARY KEY) WITHOUT ROWID;"
    /* vectors apart from the files' metadata: a refresh scans the metadata
     * alone, 100 bytes a file rather than 2 KB */
    "CREATE TABLE clippie_files(id INTEGER PRIMARY KEY, path BLOB NOT NULL UNIQUE, size INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL, ino INTEGER NOT NULL, dev INTEGER NOT NULL);"
    "CREATE TABLE clippie_vectors(id INTEGER PRIMARY KEY REFERENCES clippie_files(id), vector BLOB NOT NULL);"
    "INSERT INTO clippie_meta VALUES('format', '" FORMAT "'), ('generation', 0), ('model', ''), ('dim', 0),"
    " ('exif', 1), ('draft', 0), ('model_desc', ''), ('shard', '');";

/* ---- SQLite glue: errors name the file and say what SQLite said ---- */

static int db_error(struct index *ix, char *err)
{
    return error(err, "%s: %s", ix->path, sqlite3_errmsg(ix->db));
}

static int exec(struct index *ix, const char *sql, char *err)
{
    return sqlite3_exec(ix->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_error(ix, err);
}

static sqlite3_stmt *prepare(struct index *ix, const char *sql, char *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ix->db, sql, -1, &st, NULL) != SQLITE_OK)
        db_error(ix, err);
    return st;
}

/* A meta value as text into out (cap bytes); -1 when missing. */
static int meta_get(struct index *ix, const char *key, char *out, size_t cap, char *err)
{
    sqlite3_stmt *st = prepare(ix, "SELECT value FROM clippie_meta WHERE key = ?", err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    else
        rc == SQLITE_DONE ? error(err, "%s: not a clippie index (no %s)", ix->path, key) : db_error(ix, err);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int meta_set(struct index *ix, const char *key, const char *value, char *err)
{
    sqlite3_stmt *st = prepare(ix, "INSERT OR REPLACE INTO clippie_meta VALUES(?, ?)", err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(ix, err);
    sqlite3_finalize(st);
    return rc;
}

static long long meta_int(struct index *ix, const char *key, char *err)
{
    char v[32];
    return meta_get(ix, key, v, sizeof v, err) < 0 ? -1 : strtoll(v, NULL, 10);
}

static int begin(struct index *ix, char *err) { return exec(ix, "BEGIN IMMEDIATE", err); }

/* Commits a change of the entries, bumping the generation that the cache
 * is checked by. */
static int commit(struct index *ix, char *err)
{
    if (exec(ix, "UPDATE clippie_meta SET value = value + 1 WHERE key = 'generation'", err) < 0 ||
        exec(ix, "COMMIT", err) < 0) {
        sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static int rollback(struct index *ix)
{
    sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* ---- opening ---- */

static int is_sqlite(const unsigned char *head, size_t n) { return n >= 16 && !memcmp(head, "SQLite format 3", 16); }

int index_probe(const char *path, char *err)
{
    struct stat st;
    unsigned char head[16];
    char why[ERR_LEN];
    if (stat(path, &st) < 0 && errno == ENOENT)
        return 0;
    int fd = util_open_regular(path, &st, why);
    if (fd < 0)
        return error(err, "%s: %s", path, why);
    ssize_t n = read(fd, head, sizeof head);
    close(fd);
    if (n == 0)
        return error(err, "%s: empty, not a clippie index", path);
    return is_sqlite(head, n > 0 ? (size_t)n : 0) ? 1 : error(err, "%s: not a clippie index (not SQLite)", path);
}

static int check_format(struct index *ix, char *err)
{
    char v[64];
    sqlite3_stmt *st = prepare(ix, "SELECT 1 FROM sqlite_master WHERE name = 'clippie_meta'", err);
    if (!st)
        return -1;
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (!found)
        return error(err, "%s: an SQLite database, but not a clippie index", ix->path);
    if (meta_get(ix, "format", v, sizeof v, err) < 0)
        return -1;
    if (strcmp(v, FORMAT))
        return error(err, "%s: index format '%s', this clippie reads '%s'", ix->path, v, FORMAT);
    if (exec(ix, "SELECT 1 FROM clippie_files LIMIT 1; SELECT 1 FROM clippie_vectors LIMIT 1", err) < 0) /* the tables are there */
        return -1;
    return (ix->dim = (int)meta_int(ix, "dim", err)) < 0 ? -1 : 0;
}

/* The writer's lock: flock on the database file, which SQLite's own
 * (fcntl) locks do not see, held for the whole run. */
static int lock(struct index *ix, char *err)
{
    ix->lock_fd = open(ix->path, O_RDONLY | O_CLOEXEC);
    if (ix->lock_fd < 0)
        return error(err, "%s: %s", ix->path, strerror(errno));
    if (flock(ix->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return error(err, "%s is being updated by another clippie: try again when it is done", ix->path);
    return 0;
}

struct index *index_open(const char *path, enum index_mode mode, char *err)
{
    struct index *ix = calloc(1, sizeof *ix);
    if (!ix || !(ix->path = strdup(path))) {
        free(ix);
        error(err, "out of memory");
        return NULL;
    }
    ix->lock_fd = -1;
    ix->mode = mode;
    int kind = index_probe(path, err), created = 0;
    if (kind < 0 || (kind == 0 && mode != INDEX_CREATE)) {
        if (kind == 0)
            error(err, "%s: no such index", path);
        goto fail;
    }
    int flags = mode == INDEX_READ ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &ix->db, flags, NULL) != SQLITE_OK) {
        db_error(ix, err);
        goto fail;
    }
    sqlite3_busy_timeout(ix->db, 10000);
    if (kind == 0) {
        created = 1;
        if (exec(ix, "PRAGMA journal_mode=WAL", err) < 0 || begin(ix, err) < 0 || exec(ix, schema, err) < 0 ||
            exec(ix, "COMMIT", err) < 0)
            goto fail;
    }
    if (check_format(ix, err) < 0 || (mode != INDEX_READ && lock(ix, err) < 0))
        goto fail;
    return ix;
fail:
    index_close(ix);
    if (created)
        unlink(path);
    return NULL;
}

void index_close(struct index *ix)
{
    if (!ix)
        return;
    if (ix->map)
        munmap(ix->map, ix->map_len);
    free(ix->owned);
    free(ix->owned_ids);
    sqlite3_close(ix->db);
    if (ix->lock_fd >= 0)
        close(ix->lock_fd);
    free(ix->path);
    free(ix);
}

/* ---- the model ---- */

void index_model_of(const struct weights *w, const char *path, int exif, int draft, struct index_model *m)
{
    const struct weights_config *c = &w->cfg;
    struct sha256_ctx h;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&h);
    sha256_update(&h, sizeof *c, (const uint8_t *)c);
    /* the projections as float32: a model's float16 file and its float32
     * expansion give the same vectors, and so the same identity */
    const struct weights_tensor *proj[2] = {&w->text_projection, &w->visual_proj};
    size_t n[2] = {(size_t)c->text_width * c->embed_dim, (size_t)c->vision_width * c->embed_dim};
    for (int k = 0; k < 2; k++) {
        float *f = malloc(n[k] * sizeof *f);
        if (f) { /* out of memory: an identity that matches nothing */
            transformer_to_float(f, proj[k], 0, n[k]);
            sha256_update(&h, n[k] * sizeof *f, (const uint8_t *)f);
        }
        free(f);
    }
    sha256_update(&h, sizeof(float), (const uint8_t *)w->logit_scale);
    sha256_digest(&h, sizeof d, d);
    for (int i = 0; i < 16; i++)
        snprintf(m->id + 2 * i, 3, "%02x", d[i]);
    m->dim = (int)c->embed_dim;
    m->exif = exif;
    m->draft = draft;
    snprintf(m->desc, sizeof m->desc, "%s (image %ux%u, patch %u, width %u; text width %u; embedding %u)", path,
             c->vision_grid * c->vision_patch, c->vision_grid * c->vision_patch, c->vision_patch, c->vision_width,
             c->text_width, c->embed_dim);
}

int index_model(struct index *ix, struct index_model *m, char *err)
{
    long long exif = meta_int(ix, "exif", err), draft = meta_int(ix, "draft", err);
    if (exif < 0 || draft < 0 || meta_get(ix, "model", m->id, sizeof m->id, err) < 0 ||
        meta_get(ix, "model_desc", m->desc, sizeof m->desc, err) < 0)
        return -1;
    m->dim = ix->dim;
    m->exif = (int)exif;
    m->draft = (int)draft;
    return 0;
}

int index_bind_model(struct index *ix, const struct index_model *m, char *err)
{
    struct index_model have;
    char dim[16];
    if (index_model(ix, &have, err) < 0)
        return -1;
    if (!have.id[0]) {
        snprintf(dim, sizeof dim, "%d", m->dim);
        if (begin(ix, err) < 0)
            return -1;
        if (meta_set(ix, "model", m->id, err) < 0 || meta_set(ix, "model_desc", m->desc, err) < 0 ||
            meta_set(ix, "dim", dim, err) < 0 || meta_set(ix, "exif", m->exif ? "1" : "0", err) < 0 ||
            meta_set(ix, "draft", m->draft ? "1" : "0", err) < 0 || commit(ix, err) < 0)
            return rollback(ix);
        ix->dim = m->dim;
        return 0;
    }
    if (strcmp(have.id, m->id))
        return error(err, "%s was made with another model: %s (id %s), not %s (id %s)", ix->path, have.desc, have.id,
                     m->desc, m->id);
    if (have.exif != m->exif || have.draft != m->draft)
        return error(err, "%s was made with%s EXIF orientation and%s --draft: give the same options", ix->path,
                     have.exif ? "" : "out", have.draft ? "" : "out");
    return 0;
}

/* ---- roots and shards ---- */

int index_roots(struct index *ix, char ***roots, size_t *n, char *err)
{
    sqlite3_stmt *st = prepare(ix, "SELECT path FROM clippie_roots ORDER BY path", err);
    size_t cap = 0;
    int rc;
    *roots = NULL;
    *n = 0;
    if (!st)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (util_grow(roots, &cap, *n + 1, sizeof **roots, SIZE_MAX / 16) < 0 ||
            !((*roots)[*n] = strndup(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0)))) {
            rc = SQLITE_NOMEM;
            break;
        }
        (*n)++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : rc == SQLITE_NOMEM ? error(err, "out of memory") : db_error(ix, err);
}

int index_add_roots(struct index *ix, char *const *roots, size_t n, char *err)
{
    if (begin(ix, err) < 0)
        return -1;
    sqlite3_stmt *st = prepare(ix, "INSERT OR IGNORE INTO clippie_roots VALUES(?)", err);
    int rc = st ? 0 : -1;
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_blob(st, 1, roots[i], (int)strlen(roots[i]), SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(ix, err);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    /* roots are not entries: the cache stays valid */
    return rc < 0 ? rollback(ix) : exec(ix, "COMMIT", err) < 0 ? rollback(ix) : 0;
}

/* Whether path belongs to shard k of n: a hash of its bytes, the same on
 * every machine and run. */
static int index_in_shard(const char *path, unsigned k, unsigned n)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a: fixed by its definition, on every machine */
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return n == 0 || h % n == k;
}

int index_bind_shard(struct index *ix, unsigned k, unsigned n, char *err)
{
    char have[64], want[64] = "";
    if (meta_get(ix, "shard", have, sizeof have, err) < 0)
        return -1;
    if (n)
        snprintf(want, sizeof want, "%u/%u", k, n);
    if (!strcmp(have, want))
        return 0;
    sqlite3_stmt *st = prepare(ix, "SELECT count(*) FROM clippie_files", err);
    int empty = st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == 0;
    sqlite3_finalize(st);
    if (!empty)
        return error(err, "%s holds %s, not %s", ix->path, *have ? have : "the whole library (no --shard)",
                     *want ? want : "the whole library");
    return meta_set(ix, "shard", want, err);
}

/* ---- updating ---- */

static int under(const char *path, size_t plen, const char *root)
{
    size_t n = strlen(root);
    return plen >= n && !memcmp(path, root, n) && (plen == n || path[n] == '/' || (n && root[n - 1] == '/'));
}

static int by_path(const void *a, const void *b)
{
    return strcmp((*(const struct walk_file *const *)a)->path, (*(const struct walk_file *const *)b)->path);
}

/* An entry's path as SQLite holds it (bytes, no NUL), against a file of
 * the sorted walk, in by_path's order. */
struct blob {
    const char *p;
    size_t n;
};

static int blob_vs_file(const void *key, const void *file)
{
    const struct blob *b = key;
    const char *path = (*(const struct walk_file *const *)file)->path;
    size_t n = strlen(path);
    int r = memcmp(b->p, path, b->n < n ? b->n : n);
    return r ? r : (b->n > n) - (b->n < n);
}

static int plan_grow(struct index_plan *p, size_t *cap, int64_t id, char *err)
{
    if (util_grow(&p->gone, cap, p->ngone + 1, sizeof *p->gone, SIZE_MAX / 16) < 0)
        return error(err, "out of memory");
    p->gone[p->ngone++] = id;
    return 0;
}

int index_plan(struct index *ix, const struct walk *files, char *const *roots, size_t nroots, struct index_plan *p,
               char *err)
{
    char shard[64];
    unsigned k = 0, n = 0;
    size_t gcap = 0;
    const struct walk_file **sorted = malloc((files->n + 1) * sizeof *sorted);
    *p = (struct index_plan){.todo = malloc((files->n + 1) * sizeof *p->todo)};
    if (!sorted || !p->todo) {
        free(sorted);
        return error(err, "out of memory");
    }
    if (meta_get(ix, "shard", shard, sizeof shard, err) < 0) {
        free(sorted);
        return -1;
    }
    sscanf(shard, "%u/%u", &k, &n);
    size_t m = 0;
    for (size_t i = 0; i < files->n; i++)
        if (index_in_shard(files->files[i].path, k, n))
            sorted[m++] = &files->files[i];
    qsort(sorted, m, sizeof *sorted, by_path);
    /* every entry: unchanged, changed, or gone when under a root */
    sqlite3_stmt *st = prepare(ix, "SELECT id, path, size, mtime_ns, ino FROM clippie_files", err);
    char *seen = calloc(m + 1, 1);
    int rc = !st ? -1 : !seen ? error(err, "out of memory") : 0;
    while (!rc) {
        int step = sqlite3_step(st);
        if (step != SQLITE_ROW) {
            rc = step == SQLITE_DONE ? 0 : db_error(ix, err);
            break;
        }
        const char *path = sqlite3_column_blob(st, 1);
        size_t plen = (size_t)sqlite3_column_bytes(st, 1);
        struct blob key = {path ? path : "", plen};
        const struct walk_file **hit = bsearch(&key, sorted, m, sizeof *sorted, blob_vs_file);
        if (hit) {
            const struct walk_file *f = *hit;
            seen[hit - sorted] = (char)(1 + (f->size == sqlite3_column_int64(st, 2) &&
                                             f->mtime_ns == sqlite3_column_int64(st, 3) &&
                                             (int64_t)f->ino == sqlite3_column_int64(st, 4)));
            continue;
        }
        for (size_t r = 0; !rc && r < nroots; r++)
            if (under(path ? path : "", plen, roots[r])) {
                rc = plan_grow(p, &gcap, sqlite3_column_int64(st, 0), err);
                break;
            }
    }
    sqlite3_finalize(st);
    for (size_t i = 0; !rc && i < m; i++) {
        if (seen[i] == 2) {
            p->nunchanged++;
            continue;
        }
        seen[i] ? p->nchanged++ : p->nnew++;
        p->todo[p->ntodo++] = (size_t)(sorted[i] - files->files);
    }
    free(seen);
    free(sorted);
    if (rc < 0)
        index_plan_free(p);
    return rc;
}

void index_plan_free(struct index_plan *p)
{
    free(p->todo);
    free(p->gone);
    *p = (struct index_plan){0};
}

int index_put(struct index *ix, const struct walk_file *const *files, const float *vecs, size_t n, char *err)
{
    if (!n)
        return 0;
    if (begin(ix, err) < 0)
        return -1;
    sqlite3_stmt *st = prepare(ix,
                               "INSERT INTO clippie_files(path, size, mtime_ns, ino, dev) VALUES(?,?,?,?,?)"
                               " ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,"
                               " ino = excluded.ino, dev = excluded.dev RETURNING id",
                               err),
                 *sv = prepare(ix, "INSERT OR REPLACE INTO clippie_vectors VALUES(?, ?)", err);
    int rc = st && sv ? 0 : -1;
    for (size_t i = 0; !rc && i < n; i++) {
        const struct walk_file *f = files[i];
        sqlite3_bind_blob(st, 1, f->path, (int)strlen(f->path), SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, f->size);
        sqlite3_bind_int64(st, 3, f->mtime_ns);
        sqlite3_bind_int64(st, 4, (int64_t)f->ino);
        sqlite3_bind_int64(st, 5, (int64_t)f->dev);
        rc = sqlite3_step(st) == SQLITE_ROW ? 0 : db_error(ix, err);
        sqlite3_bind_int64(sv, 1, rc ? 0 : sqlite3_column_int64(st, 0));
        sqlite3_bind_blob(sv, 2, vecs + i * (size_t)ix->dim, ix->dim * (int)sizeof(float), SQLITE_STATIC);
        sqlite3_reset(st);
        if (!rc)
            rc = sqlite3_step(sv) == SQLITE_DONE ? 0 : db_error(ix, err);
        sqlite3_reset(sv);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(sv);
    return rc < 0 ? rollback(ix) : commit(ix, err);
}

int index_remove(struct index *ix, const int64_t *ids, size_t n, char *err)
{
    if (!n)
        return 0;
    if (begin(ix, err) < 0)
        return -1;
    sqlite3_stmt *st = prepare(ix, "DELETE FROM clippie_files WHERE id = ?", err),
                 *sv = prepare(ix, "DELETE FROM clippie_vectors WHERE id = ?", err);
    int rc = st && sv ? 0 : -1;
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_int64(st, 1, ids[i]);
        sqlite3_bind_int64(sv, 1, ids[i]);
        rc = sqlite3_step(st) == SQLITE_DONE && sqlite3_step(sv) == SQLITE_DONE ? 0 : db_error(ix, err);
        sqlite3_reset(st);
        sqlite3_reset(sv);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(sv);
    return rc < 0 ? rollback(ix) : commit(ix, err);
}

/* ---- reading ---- */

int index_each(struct index *ix, int (*fn)(void *ctx, const char *path, const float *vec), void *ctx, char *err)
{
    sqlite3_stmt *st = prepare(ix, "SELECT path, vector FROM clippie_files JOIN clippie_vectors USING (id) ORDER BY path", err);
    int rc = st ? 0 : -1, step;
    size_t vbytes = (size_t)ix->dim * sizeof(float);
    float *vec = malloc(vbytes ? vbytes : 1);
    char *path = NULL;
    if (!vec)
        rc = error(err, "out of memory");
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if ((size_t)sqlite3_column_bytes(st, 1) != vbytes) {
            rc = error(err, "%s: an entry's vector is %d bytes, not %zu", ix->path, sqlite3_column_bytes(st, 1), vbytes);
            break;
        }
        memcpy(vec, sqlite3_column_blob(st, 1), vbytes); /* aligned, whatever SQLite's buffer is */
        const void *p = sqlite3_column_blob(st, 0);
        free(path);
        if (!(path = strndup(p ? p : "", (size_t)sqlite3_column_bytes(st, 0))))
            rc = error(err, "out of memory");
        else
            rc = fn(ctx, path, vec);
    }
    if (!rc && step != SQLITE_DONE)
        rc = db_error(ix, err);
    free(path);
    free(vec);
    sqlite3_finalize(st);
    return rc;
}

char *index_path_of(struct index *ix, size_t row, char *err)
{
    sqlite3_stmt *st = prepare(ix, "SELECT path FROM clippie_files WHERE id = ?", err);
    char *out = NULL;
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, ix->ids[row]);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(st, 0);
        if (!(out = strndup(p ? p : "", (size_t)sqlite3_column_bytes(st, 0))))
            error(err, "out of memory");
    } else
        error(err, "%s: entry %lld vanished during the search", ix->path, (long long)ix->ids[row]);
    sqlite3_finalize(st);
    return out;
}

/* The rows of the database read into memory: ids and vectors, in path
 * order, within one read transaction so that *generation matches them. */
static int read_all(struct index *ix, int64_t **ids, float **vecs, size_t *rows, long long *generation, char *err)
{
    size_t cap = 0, vcap = 0, vbytes = (size_t)ix->dim * sizeof(float);
    int rc = exec(ix, "BEGIN", err), step = SQLITE_DONE;
    *ids = NULL, *vecs = NULL, *rows = 0;
    if (rc < 0)
        return -1;
    *generation = meta_int(ix, "generation", err);
    sqlite3_stmt *st = *generation < 0 ? NULL : prepare(ix, "SELECT id, vector FROM clippie_files JOIN clippie_vectors USING (id) ORDER BY path", err);
    rc = st ? 0 : -1;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if ((size_t)sqlite3_column_bytes(st, 1) != vbytes)
            rc = error(err, "%s: an entry's vector is %d bytes, not %zu", ix->path, sqlite3_column_bytes(st, 1), vbytes);
        else if (util_grow(ids, &cap, *rows + 1, sizeof **ids, SIZE_MAX / 16) < 0 ||
                 util_grow(vecs, &vcap, (*rows + 1) * (size_t)ix->dim, sizeof **vecs, SIZE_MAX / 16) < 0)
            rc = error(err, "out of memory");
        else {
            (*ids)[*rows] = sqlite3_column_int64(st, 0);
            memcpy(*vecs + *rows * (size_t)ix->dim, sqlite3_column_blob(st, 1), vbytes);
            (*rows)++;
        }
    }
    if (!rc && step != SQLITE_DONE)
        rc = db_error(ix, err);
    sqlite3_finalize(st);
    sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL);
    if (rc < 0) {
        free(*ids);
        free(*vecs);
    }
    return rc;
}

static char *cache_path(const struct index *ix)
{
    size_t n = strlen(ix->path) + sizeof "-vectors";
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s-vectors", ix->path);
    return p;
}

static uint64_t cache_data_offset(uint64_t rows)
{
    uint64_t end = CACHE_HEADER + rows * 8;
    return (end + CACHE_ALIGN - 1) / CACHE_ALIGN * CACHE_ALIGN;
}

/* Maps the cache when it is whole and of the current generation. */
static int map_cache(struct index *ix, long long generation)
{
    char *path = cache_path(ix), e[ERR_LEN];
    struct stat st;
    int fd = path ? util_open_regular(path, &st, e) : -1;
    free(path);
    if (fd < 0)
        return -1;
    size_t len = (size_t)st.st_size;
    unsigned char *m = len >= CACHE_HEADER ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    close(fd);
    if (m == MAP_FAILED)
        return -1;
    uint64_t rows = load_u64(m + 24), off = load_u64(m + 32), bytes;
    if (memcmp(m, CACHE_MAGIC, 8) || load_u32(m + 8) != CACHE_VERSION || (int)load_u32(m + 12) != ix->dim ||
        (long long)load_u64(m + 16) != generation || rows > len / 8 || off != cache_data_offset(rows) ||
        size_mul(rows, (size_t)ix->dim * sizeof(float), &bytes) < 0 || off + bytes != len) {
        munmap(m, len);
        return -1;
    }
    ix->map = m;
    ix->map_len = len;
    ix->ids = (int64_t *)(m + CACHE_HEADER);
    ix->view = (struct vecfile){.data = (const float *)(m + off), .rows = rows, .dim = ix->dim};
    return 0;
}

/* Writes the cache beside the database, renamed into place when whole. */
static int write_all(int fd, const void *p, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t w = write(fd, (const char *)p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* Writes the cache beside the database, renamed into place when whole: the
 * header and ids in one write, the vectors in another (see CACHE_ALIGN). */
static int write_cache(struct index *ix, const int64_t *ids, const float *vecs, size_t rows, long long generation,
                       char *err)
{
    char *path = cache_path(ix), *tmp = path ? malloc(strlen(path) + 8) : NULL;
    uint64_t off = cache_data_offset(rows);
    unsigned char *h = tmp ? calloc(1, off) : NULL;
    int rc = -1, fd = -1;
    if (!h) {
        free(path);
        free(tmp);
        return error(err, "out of memory");
    }
    sprintf(tmp, "%s.part", path);
    memcpy(h, CACHE_MAGIC, 8);
    store_u32(h + 8, CACHE_VERSION);
    store_u32(h + 12, (uint32_t)ix->dim);
    store_u64(h + 16, (uint64_t)generation);
    store_u64(h + 24, rows);
    store_u64(h + 32, off);
    for (size_t i = 0; i < rows; i++) /* little-endian on any host */
        store_u64(h + CACHE_HEADER + 8 * i, (uint64_t)ids[i]);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) >= 0 && write_all(fd, h, off) == 0 &&
        write_all(fd, vecs, rows * (size_t)ix->dim * sizeof *vecs) == 0 && fsync(fd) == 0)
        rc = 0;
    if (fd >= 0 && close(fd) != 0)
        rc = -1;
    if (rc == 0)
        rc = rename(tmp, path);
    if (rc < 0) {
        error(err, "%s: %s", tmp, strerror(errno));
        unlink(tmp);
    }
    free(h);
    free(tmp);
    free(path);
    return rc;
}

int index_refresh_cache(struct index *ix, char *err)
{
    int64_t *ids;
    float *vecs;
    size_t rows;
    long long gen = meta_int(ix, "generation", err);
    if (gen < 0)
        return -1;
    if (map_cache(ix, gen) == 0)
        return 0;
    if (read_all(ix, &ids, &vecs, &rows, &gen, err) < 0)
        return -1;
    int rc = write_cache(ix, ids, vecs, rows, gen, err);
    free(ids);
    free(vecs);
    return rc;
}

const struct vecfile *index_vectors(struct index *ix, char *err)
{
    if (ix->map || ix->owned)
        return &ix->view;
    long long gen = meta_int(ix, "generation", err);
    if (gen < 0)
        return NULL;
    if (map_cache(ix, gen) == 0)
        return ix->view.rows ? &ix->view : (error(err, "%s: an empty index, no vectors", ix->path), NULL);
    size_t rows;
    if (read_all(ix, &ix->owned_ids, &ix->owned, &rows, &gen, err) < 0)
        return NULL;
    /* a writer keeps the cache fresh for the searches after it */
    if (ix->mode != INDEX_READ)
        write_cache(ix, ix->owned_ids, ix->owned, rows, gen, NULL);
    ix->ids = ix->owned_ids;
    ix->view = (struct vecfile){.data = ix->owned, .rows = rows, .dim = ix->dim};
    return rows ? &ix->view : (error(err, "%s: an empty index, no vectors", ix->path), NULL);
}

/* ---- merging ---- */

int index_merge_from(struct index *ix, const char *path, char *err)
{
    struct index *src = index_open(path, INDEX_READ, err);
    struct index_model m;
    if (!src)
        return -1;
    int rc = index_model(src, &m, err);
    if (!rc && !m.id[0])
        rc = error(err, "%s: an index with no model yet", path);
    if (!rc)
        rc = index_bind_model(ix, &m, err);
    index_close(src);
    if (rc < 0)
        return -1;
    sqlite3_stmt *st = prepare(ix, "ATTACH DATABASE ? AS src", err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(ix, err);
    sqlite3_finalize(st);
    if (rc < 0)
        return -1;
    if (begin(ix, err) < 0 ||
        exec(ix,
             "CREATE TEMP TABLE won AS SELECT s.id AS src, f.id AS dst FROM src.clippie_files s"
             " LEFT JOIN clippie_files f USING (path) WHERE f.id IS NULL OR s.mtime_ns > f.mtime_ns;"
             "INSERT INTO clippie_files(path, size, mtime_ns, ino, dev)"
             " SELECT path, size, mtime_ns, ino, dev FROM src.clippie_files WHERE id IN (SELECT src FROM won)"
             " ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,"
             " ino = excluded.ino, dev = excluded.dev;"
             "INSERT OR REPLACE INTO clippie_vectors SELECT f.id, v.vector FROM won"
             " JOIN src.clippie_files s ON s.id = won.src JOIN clippie_files f ON f.path = s.path"
             " JOIN src.clippie_vectors v ON v.id = won.src;"
             "DROP TABLE temp.won;"
             "INSERT OR IGNORE INTO clippie_roots SELECT path FROM src.clippie_roots;",
             err) < 0 ||
        commit(ix, err) < 0)
        rc = rollback(ix);
    sqlite3_exec(ix->db, "DETACH DATABASE src", NULL, NULL, NULL);
    return rc;
}
