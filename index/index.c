/* index.c - the photo index: an SQLite database, opened as untrusted input
 * (SQLite's defences on, the schema checked against clippie's, every value
 * read validated), and the flat cache of its vectors beside it. */
#include "index.h"

#include "image.h"
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
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FORMAT "clippie-index 1"
#define CACHE_MAGIC "CLIPPIEV"
#define CACHE_VERSION 3 /* 3: the database's identity in the header */
#define CACHE_HEADER 64
#define CACHE_ALIGN 4096 /* the vectors start on a page: written in one go, they fill large page-cache folios, which a search maps with few faults */
#define IDENTITY_LEN 32  /* hex digits of the 16 random bytes naming a database */
#define MAX_DIM 65536    /* far above any CLIP's embedding (1,280 at most) */
#define MAX_SHARDS 1000000
#define MAX_VALUE (1 << 20) /* the longest string or blob SQLite hands over: paths, a vector of MAX_DIM floats */
/* The work one statement may do, in SQLite's virtual-machine steps: a
 * legitimate statement of clippie's touches each row a bounded number of
 * times (no sorts, no recursion), so it stays within a few steps per byte
 * of the database; a hostile schema or a damaged file is cut off. */
#define STEPS_PER_BYTE 16
#define STEPS_BASE 10000000
#define PROGRESS_EVERY 1000 /* steps between two calls of the progress handler */

struct index {
    sqlite3 *db;
    char *path;
    enum index_mode mode;
    int lock_fd;            /* the writer's lock, or -1 */
    int dim;
    long long budget;       /* progress-handler calls a statement may take */
    long long spent;        /* by the statement running */
    int snapshot;           /* a reader: one read transaction from open to close */
    int extended;           /* holds the entries past SCHEMA_BASE */
    struct vecfile view;    /* index_vectors's answer */
    void *map;              /* the cache's mapping, or NULL */
    size_t map_len;
    float *owned;           /* vectors read from the database instead */
    int64_t *ids;           /* the view's rows' ids: in the map, or owned */
    int64_t *owned_ids;
};

/* Every entry of sqlite_schema in an index, exactly as SQLite records it:
 * anything else (a view, a trigger, a virtual table, another index, a
 * table of another shape) is refused before any statement reads it. */
static const struct schema_entry {
    const char *type, *name, *table, *sql;
} schema[] = {
    {"table", "clippie_meta", "clippie_meta",
     "CREATE TABLE clippie_meta(key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID"},
    {"table", "clippie_roots", "clippie_roots", "CREATE TABLE clippie_roots(path BLOB PRIMARY KEY) WITHOUT ROWID"},
    /* vectors apart from the files' metadata: a refresh scans the metadata
     * alone, 100 bytes a file rather than 2 KB */
    {"table", "clippie_files", "clippie_files",
     "CREATE TABLE clippie_files(id INTEGER PRIMARY KEY, path BLOB NOT NULL UNIQUE, size INTEGER NOT NULL,"
     " mtime_ns INTEGER NOT NULL, ino INTEGER NOT NULL, dev INTEGER NOT NULL)"},
    {"index", "sqlite_autoindex_clippie_files_1", "clippie_files", NULL},
    {"table", "clippie_vectors", "clippie_vectors",
     "CREATE TABLE clippie_vectors(id INTEGER PRIMARY KEY REFERENCES clippie_files(id), vector BLOB NOT NULL)"},
    /* from here on, the entries an index made before them lacks (all of
     * them or none): a writer adds them, a reader does without */
    /* files that could not be embedded, not tried again while unchanged */
    {"table", "clippie_failed", "clippie_failed",
     "CREATE TABLE clippie_failed(path BLOB PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
     " ino INTEGER NOT NULL, reason TEXT NOT NULL) WITHOUT ROWID"},
    {"table", "clippie_excludes", "clippie_excludes",
     "CREATE TABLE clippie_excludes(pattern BLOB PRIMARY KEY) WITHOUT ROWID"},
    /* an entry's date (wall-clock seconds) and its bytes' SHA-256 (NULL
     * for an entry dated after the fact: its bytes were not all read) */
    {"table", "clippie_info", "clippie_info",
     "CREATE TABLE clippie_info(id INTEGER PRIMARY KEY, date INTEGER NOT NULL, sha256 BLOB)"},
    {"index", "clippie_info_sha256", "clippie_info", "CREATE INDEX clippie_info_sha256 ON clippie_info(sha256)"},
};
#define SCHEMA_ENTRIES (sizeof schema / sizeof schema[0])
#define SCHEMA_BASE 5 /* the entries every index holds */

/* ---- SQLite glue: errors name the file and say what SQLite said ---- */

static int db_error(struct index *ix, char *err)
{
    if (ix->spent > ix->budget)
        return error(err, "%s: a statement ran past %lld steps: a damaged or hostile index", ix->path,
                     ix->budget * PROGRESS_EVERY);
    return error(err, "%s: %s", ix->path, sqlite3_errmsg(ix->db));
}

/* The progress handler: nonzero interrupts the statement. */
static int progress(void *ctx)
{
    struct index *ix = ctx;
    return ++ix->spent > ix->budget;
}

static int exec(struct index *ix, const char *sql, char *err)
{
    ix->spent = 0;
    return sqlite3_exec(ix->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_error(ix, err);
}

/* sqlite3_step with the statement's work bounded afresh. */
static int step(struct index *ix, sqlite3_stmt *st)
{
    ix->spent = 0;
    return sqlite3_step(st);
}

static sqlite3_stmt *prepare(struct index *ix, const char *sql, char *err)
{
    sqlite3_stmt *st = NULL;
    ix->spent = 0;
    if (sqlite3_prepare_v2(ix->db, sql, -1, &st, NULL) != SQLITE_OK)
        db_error(ix, err);
    return st;
}

/* The work allowed to a statement over bytes of database files. */
static void budget_for(struct index *ix, long long bytes)
{
    ix->budget += (bytes > 0 ? bytes : 0) / PROGRESS_EVERY * STEPS_PER_BYTE;
}

/* A value read as an integer: SQLite's INTEGER, or text that is one
 * (meta_set records dim, exif and draft as text). -1 when neither. (A
 * column's type is asked first: reading it as text may convert it.) */
static int column_int(sqlite3_stmt *st, int col, long long *v)
{
    int type = sqlite3_column_type(st, col);
    if (type == SQLITE_INTEGER) {
        *v = sqlite3_column_int64(st, col);
        return 0;
    }
    const char *t = type == SQLITE_TEXT ? (const char *)sqlite3_column_text(st, col) : NULL, *p = t;
    if (!t)
        return -1;
    p += *p == '-';
    if (*p < '0' || *p > '9' || strspn(p, "0123456789") != strlen(p) || strlen(p) > 18)
        return -1;
    *v = strtoll(t, NULL, 10);
    return 0;
}

/* What a value that is not what was wanted is, for messages: never a
 * hostile file's bytes. */
static const char *column_kind(sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_NULL: return "NULL";
    case SQLITE_INTEGER: return "an integer";
    case SQLITE_FLOAT: return "a real number";
    case SQLITE_TEXT: return "text";
    default: return "a blob";
    }
}

/* A path read from an index (an entry's, a root's): bytes (BLOB or TEXT),
 * at least one, no NUL. NULL with err naming what of the index is at fault. */
static const char *column_path(struct index *ix, sqlite3_stmt *st, int col, size_t *len, const char *what,
                               char *err)
{
    int type = sqlite3_column_type(st, col);
    const char *p = type == SQLITE_BLOB || type == SQLITE_TEXT ? sqlite3_column_blob(st, col) : NULL;
    *len = p ? (size_t)sqlite3_column_bytes(st, col) : 0;
    if (!p || !*len)
        error(err, "%s: %s's path is %s, not a file's path", ix->path, what,
              type == SQLITE_BLOB || type == SQLITE_TEXT ? "empty" : column_kind(st, col));
    else if (memchr(p, 0, *len))
        error(err, "%s: %s's path holds a NUL byte", ix->path, what);
    else
        return p;
    return NULL;
}

/* ---- the meta table, read whole and checked ---- */

struct meta {
    long long generation, dim, exif, draft, raw_full, max_pixels, refreshed;
    char model[33], desc[INDEX_MAX_DESC], shard[64], identity[IDENTITY_LEN + 1];
    unsigned shard_k, shard_n;
};

static int is_hex(const char *s, size_t n) { return strlen(s) == n && strspn(s, "0123456789abcdef") == n; }

/* A text value of meta into out (cap bytes): printable, shorter than cap. */
static int meta_text(struct index *ix, sqlite3_stmt *st, const char *key, char *out, size_t cap, char *err)
{
    const unsigned char *t = sqlite3_column_type(st, 1) == SQLITE_TEXT ? sqlite3_column_text(st, 1) : NULL;
    if (!t)
        return error(err, "%s: meta %s is %s, not text", ix->path, key, column_kind(st, 1));
    size_t n = (size_t)sqlite3_column_bytes(st, 1);
    if (n >= cap)
        return error(err, "%s: meta %s is %zu bytes long, more than %zu", ix->path, key, n, cap - 1);
    for (size_t i = 0; i < n; i++)
        if (t[i] < 0x20 || t[i] == 0x7f) /* it is printed in messages: no terminal controls */
            return error(err, "%s: meta %s holds a control character", ix->path, key);
    memcpy(out, t, n + 1);
    return 0;
}

static int meta_number(struct index *ix, sqlite3_stmt *st, const char *key, long long lo, long long hi,
                       long long *v, char *err)
{
    if (column_int(st, 1, v) < 0)
        return error(err, "%s: meta %s is %s, not an integer", ix->path, key, column_kind(st, 1));
    if (*v < lo || *v > hi)
        return error(err, "%s: meta %s is %lld, %s than %lld", ix->path, key, *v, *v < lo ? "less" : "more",
                     *v < lo ? lo : hi);
    return 0;
}

/* One row of meta into m; unknown keys are left for later clippies. */
static int meta_row(struct index *ix, sqlite3_stmt *st, struct meta *m, unsigned *seen, char *err)
{
    static const char *const keys[] = {"format",     "generation", "model",    "dim",        "exif",     "draft",
                                       "model_desc", "shard",      "identity", "raw_full", "max_pixels", "refreshed"};
    char format[64];
    const char *key = (const char *)sqlite3_column_text(st, 0);
    size_t k = 0;
    while (key && k < sizeof keys / sizeof *keys && strcmp(key, keys[k]))
        k++;
    if (!key || k == sizeof keys / sizeof *keys)
        return 0;
    *seen |= 1u << k;
    switch (k) {
    case 0:
        if (meta_text(ix, st, key, format, sizeof format, err) < 0)
            return -1;
        return strcmp(format, FORMAT) ? error(err, "%s: index format '%s', this clippie reads '%s'", ix->path, format,
                                              FORMAT)
                                      : 0;
    case 1: return meta_number(ix, st, key, 0, INT64_MAX / 2, &m->generation, err);
    case 2:
        if (meta_text(ix, st, key, m->model, sizeof m->model, err) < 0)
            return -1;
        return *m->model && !is_hex(m->model, 32) ? error(err, "%s: meta model is not a model's id", ix->path) : 0;
    case 3: return meta_number(ix, st, key, 0, MAX_DIM, &m->dim, err);
    case 4: return meta_number(ix, st, key, 0, 1, &m->exif, err);
    case 5: return meta_number(ix, st, key, 0, 1, &m->draft, err);
    case 6: return meta_text(ix, st, key, m->desc, sizeof m->desc, err);
    case 7: {
        int end = 0;
        if (meta_text(ix, st, key, m->shard, sizeof m->shard, err) < 0)
            return -1;
        if (!*m->shard)
            return 0;
        if (sscanf(m->shard, "%u/%u%n", &m->shard_k, &m->shard_n, &end) != 2 || m->shard[end] ||
            m->shard_k >= m->shard_n || m->shard_n > MAX_SHARDS || m->shard[0] < '0' || m->shard[0] > '9')
            return error(err, "%s: meta shard '%s' is not K/N with K < N", ix->path, m->shard);
        return 0;
    }
    case 9: return meta_number(ix, st, key, 0, 1, &m->raw_full, err);
    case 10: return meta_number(ix, st, key, 0, INT64_MAX / 2, &m->max_pixels, err);
    case 11: return meta_number(ix, st, key, 0, INT64_MAX / 2, &m->refreshed, err);
    default:
        if (meta_text(ix, st, key, m->identity, sizeof m->identity, err) < 0)
            return -1;
        return is_hex(m->identity, IDENTITY_LEN) ? 0 : error(err, "%s: meta identity is not %d hex digits", ix->path,
                                                             IDENTITY_LEN);
    }
}

/* The whole meta table, every value checked; identity "" when the index
 * predates it. */
static int read_meta(struct index *ix, struct meta *m, char *err)
{
    static const char *const required[] = {"format", "generation", "model", "dim", "exif", "draft", "model_desc",
                                           "shard"};
    sqlite3_stmt *st = prepare(ix, "SELECT key, value FROM clippie_meta", err);
    unsigned seen = 0;
    int rc = st ? 0 : -1, s = SQLITE_DONE;
    *m = (struct meta){0};
    while (!rc && (s = step(ix, st)) == SQLITE_ROW)
        rc = meta_row(ix, st, m, &seen, err);
    if (!rc && s != SQLITE_DONE)
        rc = db_error(ix, err);
    sqlite3_finalize(st);
    for (size_t k = 0; !rc && k < sizeof required / sizeof *required; k++)
        if (!(seen & 1u << k))
            rc = error(err, "%s: not a clippie index (no meta %s)", ix->path, required[k]);
    if (!rc && !*m->model != !m->dim)
        rc = error(err, "%s: meta dim is %lld %s", ix->path, m->dim,
                   *m->model ? "for a model: a model's dimension is at least 1" : "but no model is recorded");
    if (!rc)
        ix->dim = (int)m->dim;
    return rc;
}

static int meta_set(struct index *ix, const char *key, const char *value, char *err)
{
    sqlite3_stmt *st = prepare(ix, "INSERT OR REPLACE INTO clippie_meta VALUES(?, ?)", err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int rc = step(ix, st) == SQLITE_DONE ? 0 : db_error(ix, err);
    sqlite3_finalize(st);
    return rc;
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

/* A file name as an SQLite URI (file:PATH?QUERY): every byte but the plain
 * ones percent-encoded, so that a name is always the file of that name
 * (one starting "file:" or holding '?' or '#' too). malloc'd. */
static char *uri_of(const char *path, const char *query)
{
    size_t n = strlen(path), at = 0;
    char *u = malloc(3 * n + strlen(query) + 16);
    if (!u)
        return NULL;
    /* "file:" then "//" (an empty authority) before an absolute path, which
     * could itself begin with "//" */
    at += (size_t)sprintf(u, "file:%s", path[0] == '/' ? "//" : "");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("/._-~", *p))
            u[at++] = (char)*p;
        else
            at += (size_t)sprintf(u + at, "%%%02X", *p);
    sprintf(u + at, "%s%s", *query ? "?" : "", query);
    return u;
}

/* SQLite's defences for a database that may be hostile (its "defense
 * against the dark arts"): no triggers, views or functions with side
 * effects run from the schema, no writes to the schema, every cell's size
 * checked, values and statements kept small, every statement's work
 * bounded. */
static int defend(struct index *ix, char *err)
{
    static const int limits[][2] = {
        {SQLITE_LIMIT_LENGTH, MAX_VALUE},         {SQLITE_LIMIT_SQL_LENGTH, 100000},
        {SQLITE_LIMIT_COLUMN, 32},                {SQLITE_LIMIT_EXPR_DEPTH, 32},
        {SQLITE_LIMIT_COMPOUND_SELECT, 4},        {SQLITE_LIMIT_VDBE_OP, 25000},
        {SQLITE_LIMIT_FUNCTION_ARG, 8},           {SQLITE_LIMIT_ATTACHED, 1}, /* a merge's source */
        {SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 64},   {SQLITE_LIMIT_VARIABLE_NUMBER, 16},
        {SQLITE_LIMIT_TRIGGER_DEPTH, 1},          {SQLITE_LIMIT_WORKER_THREADS, 0},
    };
    static const int off[] = {SQLITE_DBCONFIG_ENABLE_TRIGGER, SQLITE_DBCONFIG_ENABLE_VIEW,
                              SQLITE_DBCONFIG_TRUSTED_SCHEMA, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION};
    for (size_t i = 0; i < sizeof limits / sizeof *limits; i++)
        sqlite3_limit(ix->db, limits[i][0], limits[i][1]);
    if (sqlite3_db_config(ix->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL) != SQLITE_OK)
        return db_error(ix, err);
    for (size_t i = 0; i < sizeof off / sizeof *off; i++)
        if (sqlite3_db_config(ix->db, off[i], 0, (int *)NULL) != SQLITE_OK)
            return db_error(ix, err);
    sqlite3_progress_handler(ix->db, PROGRESS_EVERY, progress, ix);
    sqlite3_busy_timeout(ix->db, 10000);
    return exec(ix, "PRAGMA trusted_schema=OFF; PRAGMA cell_size_check=ON; PRAGMA mmap_size=0", err);
}

/* Opens the database file at ix->path through uri_of(query). */
static int open_db(struct index *ix, const char *query, int flags, char *err)
{
    char *uri = uri_of(ix->path, query);
    if (!uri)
        return error(err, "out of memory");
    int rc = sqlite3_open_v2(uri, &ix->db, flags | SQLITE_OPEN_URI, NULL);
    free(uri);
    if (rc != SQLITE_OK)
        return ix->db ? db_error(ix, err) : error(err, "out of memory");
    return defend(ix, err);
}

/* Makes a new index: the schema, the meta values and a random identity
 * (which the cache beside it is bound to). */
static int create(struct index *ix, char *err)
{
    unsigned char r[IDENTITY_LEN / 2];
    char sql[1024], id[IDENTITY_LEN + 1];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return error(err, "no random numbers for the index's identity: %s", strerror(errno));
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(id + 2 * i, 3, "%02x", r[i]);
    if (exec(ix, "PRAGMA journal_mode=WAL", err) < 0 || begin(ix, err) < 0)
        return -1;
    for (size_t i = 0; i < SCHEMA_ENTRIES; i++)
        if (schema[i].sql && exec(ix, schema[i].sql, err) < 0)
            return rollback(ix);
    snprintf(sql, sizeof sql,
             "INSERT INTO clippie_meta VALUES('format', '" FORMAT "'), ('generation', 0), ('model', ''), ('dim', 0),"
             " ('exif', 1), ('draft', 0), ('model_desc', ''), ('shard', ''), ('identity', '%s')",
             id);
    return exec(ix, sql, err) < 0 || exec(ix, "COMMIT", err) < 0 ? rollback(ix) : 0;
}

/* Gives an index made before identities one, so that its cache is bound. */
static int add_identity(struct index *ix, char *err)
{
    unsigned char r[IDENTITY_LEN / 2];
    char id[IDENTITY_LEN + 1];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return error(err, "no random numbers for the index's identity: %s", strerror(errno));
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(id + 2 * i, 3, "%02x", r[i]);
    return meta_set(ix, "identity", id, err);
}

/* Gives an index made before them the tables past SCHEMA_BASE. */
static int extend(struct index *ix, char *err)
{
    if (begin(ix, err) < 0)
        return -1;
    for (size_t i = SCHEMA_BASE; i < SCHEMA_ENTRIES; i++)
        if (exec(ix, schema[i].sql, err) < 0)
            return rollback(ix);
    if (exec(ix, "COMMIT", err) < 0)
        return rollback(ix);
    ix->extended = 1;
    return 0;
}

/* sqlite_schema holds exactly clippie's tables and index: named refusals
 * for anything else, before any statement touches the tables. */
static int check_schema(struct index *ix, char *err)
{
    sqlite3_stmt *st = prepare(ix, "SELECT type, name, tbl_name, sql FROM sqlite_schema", err);
    unsigned found = 0;
    int rc = st ? 0 : -1, s = SQLITE_DONE;
    while (!rc && (s = step(ix, st)) == SQLITE_ROW) {
        const char *f[4];
        for (int c = 0; c < 4; c++)
            f[c] = (const char *)sqlite3_column_text(st, c);
        size_t k = 0;
        while (k < SCHEMA_ENTRIES && !(f[0] && f[1] && !strcmp(f[0], schema[k].type) && !strcmp(f[1], schema[k].name)))
            k++;
        if (k < SCHEMA_ENTRIES && f[2] && !strcmp(f[2], schema[k].table) &&
            (schema[k].sql ? f[3] && !strcmp(f[3], schema[k].sql) : !f[3])) {
            found |= 1u << k;
            continue;
        }
        /* the names are the file's: shown only when they are printable */
        const char *name = f[1] && strspn(f[1], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
                                          strlen(f[1]) && strlen(f[1]) < 64 ? f[1] : "(unprintable name)";
        const char *type = !f[0] ? "an entry" : !strcmp(f[0], "view") ? "a view" : !strcmp(f[0], "trigger") ? "a trigger"
                           : !strcmp(f[0], "index") ? "an index" : "a table";
        if (f[3] && !strncmp(f[3], "CREATE VIRTUAL TABLE", 20))
            type = "a virtual table";
        rc = k < SCHEMA_ENTRIES ? error(err, "%s: not a clippie index: its %s %s is not as clippie makes it", ix->path,
                                        schema[k].type, name)
                                : error(err, "%s: not a clippie index: it holds %s named %s, which clippie does not make",
                                        ix->path, type, name);
    }
    if (!rc && s != SQLITE_DONE)
        rc = db_error(ix, err);
    sqlite3_finalize(st);
    if (!rc && !(found & 1))
        rc = error(err, "%s: an SQLite database, but not a clippie index", ix->path);
    for (size_t k = 1; !rc && k < SCHEMA_BASE; k++)
        if (!(found & 1u << k))
            rc = error(err, "%s: not a clippie index: no %s %s", ix->path, schema[k].type, schema[k].name);
    unsigned later = ((1u << SCHEMA_ENTRIES) - 1) & ~((1u << SCHEMA_BASE) - 1);
    ix->extended = (found & later) == later;
    for (size_t k = SCHEMA_BASE; !rc && found & later && k < SCHEMA_ENTRIES; k++)
        if (!(found & 1u << k))
            rc = error(err, "%s: not a clippie index: no %s %s", ix->path, schema[k].type, schema[k].name);
    return rc;
}

/* The writer's lock: flock on the database file, which SQLite's own
 * (fcntl) locks do not see, held for the whole run. */
static int lock(struct index *ix, char *err)
{
    ix->lock_fd = open(ix->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (ix->lock_fd < 0)
        return error(err, "%s: %s", ix->path, strerror(errno));
    if (flock(ix->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return error(err, "%s is being updated by another clippie: try again when it is done", ix->path);
    return 0;
}

/* A reader's first read, which opens the write-ahead log: -1 when SQLite
 * cannot create it or its shared-memory file (a read-only folder), the
 * case for opening the file as immutable. */
static int first_read(struct index *ix, char *err)
{
    sqlite3_stmt *st = prepare(ix, "SELECT count(*) FROM sqlite_schema", err);
    int rc = st && step(ix, st) == SQLITE_ROW ? 0 : -1;
    if (st && rc < 0)
        db_error(ix, err);
    sqlite3_finalize(st);
    return rc;
}

static int cannot_write(struct index *ix)
{
    int code = sqlite3_errcode(ix->db);
    return code == SQLITE_CANTOPEN || code == SQLITE_READONLY;
}

/* A reader: read-write where it may (so that, the last to close, SQLite
 * removes the -wal and -shm files), queries only; immutable where the
 * folder is read-only. One read transaction from here to index_close: a
 * search sees one state of the index whatever a refresh commits meanwhile. */
static int open_reader(struct index *ix, char *err)
{
    if (open_db(ix, "", SQLITE_OPEN_READWRITE, err) < 0 || exec(ix, "PRAGMA query_only=ON; BEGIN", err) < 0)
        return -1;
    if (first_read(ix, err) < 0) {
        if (!cannot_write(ix))
            return -1;
        sqlite3_close(ix->db);
        ix->db = NULL;
        if (open_db(ix, "immutable=1", SQLITE_OPEN_READONLY, err) < 0 || exec(ix, "BEGIN", err) < 0 ||
            first_read(ix, err) < 0)
            return -1;
    }
    ix->snapshot = 1;
    return 0;
}

struct index *index_open(const char *path, enum index_mode mode, char *err)
{
    struct index *ix = calloc(1, sizeof *ix);
    struct meta m;
    struct stat st;
    if (!ix || !(ix->path = strdup(path))) {
        free(ix);
        error(err, "out of memory");
        return NULL;
    }
    ix->lock_fd = -1;
    ix->mode = mode;
    ix->budget = STEPS_BASE / PROGRESS_EVERY;
    int kind = index_probe(path, err), created = 0;
    if (kind < 0 || (kind == 0 && mode != INDEX_CREATE)) {
        if (kind == 0)
            error(err, "%s: no such index", path);
        goto fail;
    }
    if (kind == 1 && stat(path, &st) == 0)
        budget_for(ix, st.st_size);
    if (mode == INDEX_READ ? open_reader(ix, err) < 0
                           : open_db(ix, "", SQLITE_OPEN_READWRITE | (kind ? 0 : SQLITE_OPEN_CREATE), err) < 0)
        goto fail;
    if (kind == 0) {
        created = 1;
        if (create(ix, err) < 0)
            goto fail;
    }
    if (check_schema(ix, err) < 0 || read_meta(ix, &m, err) < 0 || (mode != INDEX_READ && lock(ix, err) < 0))
        goto fail;
    if (mode != INDEX_READ && !*m.identity && add_identity(ix, err) < 0)
        goto fail;
    if (mode != INDEX_READ && !ix->extended && extend(ix, err) < 0)
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
    if (ix->snapshot)
        sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL);
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
    /* SigLIP's image embedding comes out of its attention pool's projection
     * (its width is the image tower's, as visual_proj's would be) */
    const struct weights_tensor *proj[2] = {&w->text_projection,
                                            c->family == WEIGHTS_SIGLIP ? &w->pool.proj_weight : &w->visual_proj};
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
    m->raw_full = 0;
    m->max_pixels = 0;
    snprintf(m->desc, sizeof m->desc, "%s (image %ux%u, patch %u, width %u; text width %u; embedding %u)", path,
             c->vision_grid * c->vision_patch, c->vision_grid * c->vision_patch, c->vision_patch, c->vision_width,
             c->text_width, c->embed_dim);
    for (char *p = m->desc; *p; p++) /* read back, a description with controls would be refused (see meta_text) */
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

int index_model(struct index *ix, struct index_model *m, char *err)
{
    struct meta meta;
    if (read_meta(ix, &meta, err) < 0)
        return -1;
    memcpy(m->id, meta.model, sizeof m->id);
    memcpy(m->desc, meta.desc, sizeof m->desc);
    m->dim = (int)meta.dim;
    m->exif = (int)meta.exif;
    m->draft = (int)meta.draft;
    m->raw_full = (int)meta.raw_full;
    m->max_pixels = (uint64_t)meta.max_pixels;
    return 0;
}

/* The preprocessing options as the command line spells them. */
static void options_text(const struct index_model *m, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s%s", m->exif ? "" : " --no-exif-orientation", m->draft ? " --draft" : "",
             m->raw_full ? " --raw-full" : "");
    if (m->max_pixels)
        snprintf(out + strlen(out), cap - strlen(out), " --max-pixels %llu", (unsigned long long)m->max_pixels);
    if (!*out)
        snprintf(out, cap, " the default options");
}

int index_bind_model(struct index *ix, const struct index_model *m, char *err)
{
    struct index_model have;
    char dim[16], px[32], a[160], b[160];
    if (index_model(ix, &have, err) < 0)
        return -1;
    if (!have.id[0]) {
        if (m->dim < 1 || m->dim > MAX_DIM || !is_hex(m->id, 32))
            return error(err, "%s: a model of dimension %d cannot be recorded", ix->path, m->dim);
        snprintf(dim, sizeof dim, "%d", m->dim);
        snprintf(px, sizeof px, "%llu", (unsigned long long)m->max_pixels);
        if (begin(ix, err) < 0)
            return -1;
        if (meta_set(ix, "model", m->id, err) < 0 || meta_set(ix, "model_desc", m->desc, err) < 0 ||
            meta_set(ix, "dim", dim, err) < 0 || meta_set(ix, "exif", m->exif ? "1" : "0", err) < 0 ||
            meta_set(ix, "draft", m->draft ? "1" : "0", err) < 0 ||
            meta_set(ix, "raw_full", m->raw_full ? "1" : "0", err) < 0 || meta_set(ix, "max_pixels", px, err) < 0 ||
            commit(ix, err) < 0)
            return rollback(ix);
        ix->dim = m->dim;
        return 0;
    }
    if (strcmp(have.id, m->id))
        return error(err, "%s was made with another model: the index's is %s (id %s), this one %s (id %s)", ix->path,
                     have.desc, have.id, m->desc, m->id);
    if (have.exif != m->exif || have.draft != m->draft || have.raw_full != m->raw_full ||
        have.max_pixels != m->max_pixels) {
        options_text(&have, a, sizeof a);
        options_text(m, b, sizeof b);
        return error(err, "%s was made with%s, not with%s: a plain 'clippie index %s' uses the recorded options;"
                     " other options need a new index", ix->path, a, b, ix->path);
    }
    return 0;
}

/* ---- roots and shards ---- */

/* The strings a query's first column gives (paths: bytes, no NUL), as a
 * malloc'd array of malloc'd strings. */
static int read_strings(struct index *ix, const char *sql, const char *what, char ***out, size_t *n, char *err)
{
    sqlite3_stmt *st = prepare(ix, sql, err);
    size_t cap = 0;
    int rc;
    *out = NULL;
    *n = 0;
    if (!st)
        return -1;
    while ((rc = step(ix, st)) == SQLITE_ROW) {
        size_t len;
        const char *p = column_path(ix, st, 0, &len, what, err);
        if (!p || util_grow(out, &cap, *n + 1, sizeof **out, SIZE_MAX / 16) < 0 || !((*out)[*n] = strndup(p, len))) {
            rc = p ? SQLITE_NOMEM : SQLITE_MISMATCH;
            break;
        }
        (*n)++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        index_free_strings(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc == SQLITE_DONE ? 0 : rc == SQLITE_NOMEM ? error(err, "out of memory") : rc == SQLITE_MISMATCH ? -1
                                                                                     : db_error(ix, err);
}

void index_free_strings(char **s, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        free(s[i]);
    free(s);
}

int index_roots(struct index *ix, char ***roots, size_t *n, char *err)
{
    return read_strings(ix, "SELECT path FROM clippie_roots ORDER BY path", "a root", roots, n, err);
}

/* Replaces the rows of table (one BLOB column) with strs, in one
 * transaction; not a change of the entries: the cache stays valid. */
static int set_strings(struct index *ix, const char *table, char *const *strs, size_t n, char *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM %s", table);
    if (begin(ix, err) < 0 || exec(ix, sql, err) < 0)
        return rollback(ix);
    snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO %s VALUES(?)", table);
    sqlite3_stmt *st = prepare(ix, sql, err);
    int rc = st ? 0 : -1;
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_blob(st, 1, strs[i], (int)strlen(strs[i]), SQLITE_STATIC);
        rc = step(ix, st) == SQLITE_DONE ? 0 : db_error(ix, err);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc < 0 ? rollback(ix) : exec(ix, "COMMIT", err) < 0 ? rollback(ix) : 0;
}

int index_set_roots(struct index *ix, char *const *roots, size_t n, char *err)
{
    return set_strings(ix, "clippie_roots", roots, n, err);
}

int index_excludes(struct index *ix, char ***patterns, size_t *n, char *err)
{
    *patterns = NULL;
    *n = 0;
    return ix->extended ? read_strings(ix, "SELECT pattern FROM clippie_excludes ORDER BY pattern", "an exclude",
                                       patterns, n, err)
                        : 0;
}

int index_set_excludes(struct index *ix, char *const *patterns, size_t n, char *err)
{
    return set_strings(ix, "clippie_excludes", patterns, n, err);
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
    char want[64] = "";
    struct meta m;
    if (read_meta(ix, &m, err) < 0)
        return -1;
    const char *have = m.shard;
    if (n)
        snprintf(want, sizeof want, "%u/%u", k, n);
    if (!n || !strcmp(have, want)) /* none asked: the recorded one */
        return 0;
    sqlite3_stmt *st = prepare(ix, "SELECT count(*) FROM clippie_files", err);
    int empty = st && step(ix, st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == 0;
    sqlite3_finalize(st);
    if (!empty)
        return error(err, "%s holds %s, not shard %s: a plain 'clippie index %s' refreshes it; another shard needs"
                     " a new index", ix->path, *have ? have : "the whole library (no --shard)", want, ix->path);
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

#define HEAD_BYTES (1 << 20) /* where a JPEG's EXIF is: the whole file is read only when it has none there */

/* The mtime as wall-clock seconds in the local zone, as EXIF records dates. */
static int64_t local_mtime(const struct walk_file *f)
{
    time_t t = (time_t)(f->mtime_ns / 1000000000);
    struct tm tm;
    return localtime_r(&t, &tm) ? (int64_t)t + tm.tm_gmtoff : (int64_t)t;
}

/* What a file's bytes say, into f->facts: its date (EXIF's, else the
 * mtime's) and, when f->facts->hashed asks, its SHA-256 (else only its
 * first HEAD_BYTES are read, unless the date is not among them). known
 * stays 0 when it cannot be read (the decoder will then say why). */
static void read_facts(struct walk_file *f)
{
    struct walk_facts *x = f->facts;
    unsigned char *buf = NULL;
    size_t len = 0;
    char e[ERR_LEN];
    if (!x->hashed && f->size > HEAD_BYTES) {
        int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        ssize_t n = fd >= 0 && (buf = malloc(HEAD_BYTES)) ? util_read_full(fd, buf, HEAD_BYTES, 0) : -1;
        if (fd >= 0)
            close(fd);
        int dated = n > 0 && image_date(buf, (size_t)n, &x->date) == 0;
        free(buf);
        buf = NULL;
        if (n <= 0)
            return;
        if (dated) {
            x->known = 1;
            return;
        }
    }
    if (util_read_file(f->path, (size_t)1 << 31, &buf, &len, e) < 0)
        return;
    if (x->hashed) {
        struct sha256_ctx h;
        sha256_init(&h);
        sha256_update(&h, len, buf);
        sha256_digest(&h, sizeof x->sha256, x->sha256);
    }
    if (image_date(buf, len, &x->date) < 0)
        x->date = local_mtime(f);
    x->known = 1;
    free(buf);
}

/* The facts of files[which[0..n)], on every core (reading is most of a
 * first index's plan). */
struct facts_job {
    struct walk *files;
    const size_t *which;
    size_t n, t, threads;
};

static void *facts_thread(void *arg)
{
    struct facts_job *j = arg;
    for (size_t i = j->t; i < j->n; i += j->threads)
        read_facts(&j->files->files[j->which[i]]);
    return NULL;
}

static void read_all_facts(struct walk *files, const size_t *which, size_t n)
{
    struct facts_job jobs[UTIL_MAX_THREADS];
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = util_threads((int)(n < (size_t)(cores > 0 ? cores : 1) ? n : (size_t)cores));
    for (int t = 0; t < threads; t++)
        jobs[t] = (struct facts_job){files, which, n, (size_t)t, (size_t)threads};
    if (n)
        util_parallel(facts_thread, jobs, sizeof *jobs, threads);
}

/* Asks for file at's facts: -1 when out of memory. */
static int want_facts(struct walk *files, size_t at, int hashed, int changed, size_t **which, size_t *n, size_t *cap)
{
    struct walk_file *f = &files->files[at];
    if (!f->facts && !(f->facts = calloc(1, sizeof *f->facts)))
        return -1;
    f->facts->hashed = hashed;
    f->facts->changed = changed;
    if (util_grow(which, cap, *n + 1, sizeof **which, SIZE_MAX / 16) < 0)
        return -1;
    (*which)[(*n)++] = at;
    return 0;
}

/* An entry under a root whose file the walk did not find: moved, or gone. */
struct gone_entry {
    int64_t id, size, mtime_ns, ino, dev;
    int taken; /* by a move */
};

static int by_inode(const void *a, const void *b)
{
    const struct gone_entry *x = a, *y = b;
    return x->dev != y->dev ? (x->dev > y->dev) - (x->dev < y->dev) : (x->ino > y->ino) - (x->ino < y->ino);
}

/* The entry a file's SHA-256 names, 0 when none. */
static int64_t entry_of_hash(struct index *ix, sqlite3_stmt *st, const unsigned char *sha)
{
    sqlite3_bind_blob(st, 1, sha, 32, SQLITE_STATIC);
    int64_t id = step(ix, st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return id;
}

static int add_reuse(struct index_plan *p, size_t *cap, size_t file, int64_t id, int moved)
{
    if (util_grow(&p->reuse, cap, p->nreuse + 1, sizeof *p->reuse, SIZE_MAX / 64) < 0)
        return -1;
    p->reuse[p->nreuse++] = (struct index_reuse){file, id, moved};
    moved ? p->nmoved++ : p->ncopied++;
    return 0;
}

/* The next row of st, its path (column col) into *path and the walk's file
 * of that path into *hit (NULL if the walk has none): 1, 0 past the last
 * row, -1 with err. For the scans of the entries and the failures. */
static int next_row(struct index *ix, sqlite3_stmt *st, int col, const char *what, const struct walk_file **sorted,
                    size_t m, struct blob *path, const struct walk_file ***hit, char *err)
{
    int s = step(ix, st);
    if (s != SQLITE_ROW)
        return s == SQLITE_DONE ? 0 : db_error(ix, err);
    if (!(path->p = column_path(ix, st, col, &path->n, what, err)))
        return -1;
    *hit = bsearch(path, sorted, m, sizeof *sorted, blob_vs_file);
    return 1;
}

/* Whether path lies under one of the roots walked. */
static int under_roots(struct blob path, char *const *roots, size_t nroots)
{
    for (size_t r = 0; r < nroots; r++)
        if (under(path.p, path.n, roots[r]))
            return 1;
    return 0;
}

/* The entries' rows against the sorted walk: seen[i] 2 when file i is
 * unchanged (3 when it still needs its facts), 1 changed; entries under
 * a root not found go to *gone. */
static int scan_entries(struct index *ix, const struct walk_file **sorted, size_t m, char *seen, char *const *roots,
                        size_t nroots, struct gone_entry **gone, size_t *ngone, char *err)
{
    size_t cap = 0;
    sqlite3_stmt *st = prepare(ix,
                               ix->extended ? "SELECT f.id, f.path, f.size, f.mtime_ns, f.ino, f.dev, i.id IS NULL"
                                              " FROM clippie_files f LEFT JOIN clippie_info i USING (id)"
                                            : "SELECT id, path, size, mtime_ns, ino, dev, 1 FROM clippie_files",
                               err);
    int rc = st ? 1 : -1;
    struct blob path;
    const struct walk_file **hit = NULL;
    while (rc > 0 && (rc = next_row(ix, st, 1, "an entry", sorted, m, &path, &hit, err)) > 0) {
        struct gone_entry g = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
                               sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5), 0};
        if (hit) {
            const struct walk_file *f = *hit;
            int same = f->size == g.size && f->mtime_ns == g.mtime_ns && (int64_t)f->ino == g.ino;
            seen[hit - sorted] = (char)(same ? 2 + sqlite3_column_int(st, 6) : 1);
        } else if (under_roots(path, roots, nroots)) {
            if (util_grow(gone, &cap, *ngone + 1, sizeof **gone, SIZE_MAX / 64) < 0)
                rc = error(err, "out of memory");
            else
                (*gone)[(*ngone)++] = g;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* The known failures against the walk: a file failed before and unchanged
 * since is seen 4; a failure whose file is gone from under the roots is
 * dropped from the table. */
static int scan_failed(struct index *ix, const struct walk_file **sorted, size_t m, char *seen, char *const *roots,
                       size_t nroots, struct index_plan *p, char *err)
{
    size_t cap = 0;
    sqlite3_stmt *st = prepare(ix, "SELECT path, size, mtime_ns, ino FROM clippie_failed", err);
    int rc = st ? 1 : -1;
    struct blob path;
    const struct walk_file **hit = NULL;
    while (rc > 0 && (rc = next_row(ix, st, 0, "a failure", sorted, m, &path, &hit, err)) > 0) {
        if (hit) {
            const struct walk_file *f = *hit;
            if (!seen[hit - sorted] && f->size == sqlite3_column_int64(st, 1) &&
                f->mtime_ns == sqlite3_column_int64(st, 2) && (int64_t)f->ino == sqlite3_column_int64(st, 3))
                seen[hit - sorted] = 4;
            else if (!seen[hit - sorted]) /* tried again: counted as changed */
                seen[hit - sorted] = 1;
        } else if (under_roots(path, roots, nroots)) {
            if (util_grow(&p->failgone, &cap, p->nfailgone + 1, sizeof *p->failgone, SIZE_MAX / 64) < 0 ||
                !(p->failgone[p->nfailgone] = strndup(path.p, path.n)))
                rc = error(err, "out of memory");
            else
                p->nfailgone++;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* New files: moved (the inode, size and mtime of an entry gone), copies
 * (the bytes of a known entry), or to embed; changed files to embed;
 * unchanged ones without a date given theirs. */
static int plan_new(struct index *ix, struct walk *files, const struct walk_file **sorted, size_t m, char *seen,
                    struct gone_entry *gone, size_t ngone, struct index_plan *p, char *err)
{
    size_t rcap = 0, *which = NULL, nwhich = 0, wcap = 0;
    int rc = 0;
    if (ngone) /* (gone is NULL when none) */
        qsort(gone, ngone, sizeof *gone, by_inode);
    for (size_t i = 0; !rc && i < m; i++) {
        size_t at = (size_t)(sorted[i] - files->files);
        const struct walk_file *f = sorted[i];
        if (seen[i] == 2 || seen[i] == 4) {
            seen[i] == 2 ? p->nunchanged++ : p->nknown++;
            continue;
        }
        if (seen[i] == 3) { /* unchanged, from before dates were recorded */
            p->nunchanged++;
            rc = want_facts(files, at, 0, 0, &which, &nwhich, &wcap);
            continue;
        }
        if (!seen[i]) {
            struct gone_entry key = {.dev = (int64_t)f->dev, .ino = (int64_t)f->ino};
            struct gone_entry *g = ngone ? bsearch(&key, gone, ngone, sizeof *gone, by_inode) : NULL;
            if (g && !g->taken && g->size == f->size && g->mtime_ns == f->mtime_ns) {
                g->taken = 1;
                rc = add_reuse(p, &rcap, at, g->id, 1);
                continue;
            }
        }
        rc = want_facts(files, at, 1, seen[i] == 1, &which, &nwhich, &wcap);
    }
    if (rc) {
        free(which);
        return error(err, "out of memory");
    }
    read_all_facts(files, which, nwhich);
    sqlite3_stmt *st = ix->extended ? prepare(ix, "SELECT id FROM clippie_info WHERE sha256 = ? LIMIT 1", err) : NULL;
    rc = !ix->extended || st ? 0 : -1;
    for (size_t k = 0; !rc && k < nwhich; k++) {
        struct walk_file *f = &files->files[which[k]];
        if (!f->facts->hashed) { /* an unchanged file dated */
            if (f->facts->known && util_grow(&p->dated, &p->dcap, p->ndated + 1, sizeof *p->dated, SIZE_MAX / 16) < 0)
                rc = error(err, "out of memory");
            else if (f->facts->known)
                p->dated[p->ndated++] = which[k];
            continue;
        }
        int64_t id = st && f->facts->known && !f->facts->changed ? entry_of_hash(ix, st, f->facts->sha256) : 0;
        if (id) {
            struct gone_entry *g = NULL;
            for (size_t j = 0; j < ngone && !g; j++) /* a move across disks: the bytes of an entry gone */
                if (gone[j].id == id && !gone[j].taken)
                    g = &gone[j];
            if (g)
                g->taken = 1;
            if (add_reuse(p, &rcap, which[k], id, g != NULL) < 0)
                rc = error(err, "out of memory");
            continue;
        }
        f->facts->changed ? p->nchanged++ : p->nnew++;
        p->todo[p->ntodo++] = which[k];
    }
    sqlite3_finalize(st);
    free(which);
    for (size_t k = 0; !rc && k < ngone; k++)
        if (!gone[k].taken)
            p->gone[p->ngone++] = gone[k].id;
    return rc;
}

int index_plan(struct index *ix, struct walk *files, char *const *roots, size_t nroots, struct index_plan *p,
               char *err)
{
    struct meta meta;
    struct gone_entry *gone = NULL;
    size_t ngone = 0;
    const struct walk_file **sorted = malloc((files->n + 1) * sizeof *sorted);
    char *seen = calloc(files->n + 1, 1);
    *p = (struct index_plan){.todo = malloc((files->n + 1) * sizeof *p->todo)};
    int rc = !sorted || !seen || !p->todo ? error(err, "out of memory") : read_meta(ix, &meta, err);
    size_t m = 0;
    for (size_t i = 0; !rc && i < files->n; i++)
        if (index_in_shard(files->files[i].path, meta.shard_k, meta.shard_n))
            sorted[m++] = &files->files[i];
    if (!rc)
        qsort(sorted, m, sizeof *sorted, by_path);
    size_t u = 0; /* one file named twice (by two PATHs) is one file */
    for (size_t i = 0; i < m; i++)
        if (!u || strcmp(sorted[u - 1]->path, sorted[i]->path))
            sorted[u++] = sorted[i];
    m = u;
    if (!rc)
        rc = scan_entries(ix, sorted, m, seen, roots, nroots, &gone, &ngone, err);
    if (!rc && ix->extended)
        rc = scan_failed(ix, sorted, m, seen, roots, nroots, p, err);
    if (!rc && !(p->gone = malloc((ngone + 1) * sizeof *p->gone)))
        rc = error(err, "out of memory");
    if (!rc)
        rc = plan_new(ix, files, sorted, m, seen, gone, ngone, p, err);
    free(gone);
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
    free(p->reuse);
    free(p->dated);
    index_free_strings(p->failgone, p->nfailgone);
    *p = (struct index_plan){0};
}

/* A file's facts into clippie_info for entry id (none known: nothing). */
static int put_info(struct index *ix, sqlite3_stmt *si, int64_t id, const struct walk_file *f, char *err)
{
    if (!si || !f->facts || !f->facts->known)
        return 0;
    sqlite3_bind_int64(si, 1, id);
    sqlite3_bind_int64(si, 2, f->facts->date);
    if (f->facts->hashed)
        sqlite3_bind_blob(si, 3, f->facts->sha256, 32, SQLITE_STATIC);
    else
        sqlite3_bind_null(si, 3);
    int rc = step(ix, si) == SQLITE_DONE ? 0 : db_error(ix, err);
    sqlite3_reset(si);
    return rc;
}

static int unfail(struct index *ix, sqlite3_stmt *sf, const char *path, char *err)
{
    if (!sf)
        return 0;
    sqlite3_bind_blob(sf, 1, path, (int)strlen(path), SQLITE_STATIC);
    int rc = step(ix, sf) == SQLITE_DONE ? 0 : db_error(ix, err);
    sqlite3_reset(sf);
    return rc;
}

#define PUT_INFO "INSERT OR REPLACE INTO clippie_info VALUES(?, ?, ?)"
#define UNFAIL "DELETE FROM clippie_failed WHERE path = ?"

int index_apply(struct index *ix, const struct walk *files, const struct index_plan *p, char *err)
{
    if (!p->nreuse && !p->ndated && !p->nfailgone)
        return 0;
    if (begin(ix, err) < 0)
        return -1;
    sqlite3_stmt *mv = prepare(ix, "UPDATE clippie_files SET path = ?, size = ?, mtime_ns = ?, ino = ?, dev = ?"
                                   " WHERE id = ?", err),
                 *cp = prepare(ix, "INSERT INTO clippie_files(path, size, mtime_ns, ino, dev) VALUES(?,?,?,?,?)"
                                   " RETURNING id", err),
                 *cv = prepare(ix, "INSERT INTO clippie_vectors SELECT ?, vector FROM clippie_vectors WHERE id = ?", err),
                 *si = ix->extended ? prepare(ix, PUT_INFO, err) : NULL,
                 *sf = ix->extended ? prepare(ix, UNFAIL, err) : NULL;
    int rc = mv && cp && cv && (!ix->extended || (si && sf)) ? 0 : -1;
    for (size_t i = 0; !rc && i < p->nreuse; i++) {
        const struct walk_file *f = &files->files[p->reuse[i].file];
        sqlite3_stmt *st = p->reuse[i].moved ? mv : cp;
        int64_t id = p->reuse[i].id;
        sqlite3_bind_blob(st, 1, f->path, (int)strlen(f->path), SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, f->size);
        sqlite3_bind_int64(st, 3, f->mtime_ns);
        sqlite3_bind_int64(st, 4, (int64_t)f->ino);
        sqlite3_bind_int64(st, 5, (int64_t)f->dev);
        if (p->reuse[i].moved) {
            sqlite3_bind_int64(st, 6, id);
            rc = step(ix, st) == SQLITE_DONE ? 0 : db_error(ix, err);
        } else if (step(ix, st) != SQLITE_ROW) {
            rc = db_error(ix, err);
        } else { /* a copy: a new entry with the known one's vector */
            id = sqlite3_column_int64(st, 0);
            sqlite3_reset(st);
            sqlite3_bind_int64(cv, 1, id);
            sqlite3_bind_int64(cv, 2, p->reuse[i].id);
            rc = step(ix, cv) == SQLITE_DONE ? 0 : db_error(ix, err);
            sqlite3_reset(cv);
        }
        sqlite3_reset(st);
        if (!rc)
            rc = put_info(ix, si, id, f, err);
        if (!rc)
            rc = unfail(ix, sf, f->path, err);
    }
    for (size_t i = 0; !rc && i < p->nfailgone; i++)
        rc = unfail(ix, sf, p->failgone[i], err);
    sqlite3_stmt *id_of = rc ? NULL : prepare(ix, "SELECT id FROM clippie_files WHERE path = ?", err);
    for (size_t i = 0; !rc && id_of && i < p->ndated; i++) {
        const struct walk_file *f = &files->files[p->dated[i]];
        sqlite3_bind_blob(id_of, 1, f->path, (int)strlen(f->path), SQLITE_STATIC);
        if (step(ix, id_of) == SQLITE_ROW)
            rc = put_info(ix, si, sqlite3_column_int64(id_of, 0), f, err);
        sqlite3_reset(id_of);
    }
    sqlite3_finalize(id_of);
    sqlite3_finalize(mv);
    sqlite3_finalize(cp);
    sqlite3_finalize(cv);
    sqlite3_finalize(si);
    sqlite3_finalize(sf);
    return rc < 0 ? rollback(ix) : commit(ix, err);
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
                 *sv = prepare(ix, "INSERT OR REPLACE INTO clippie_vectors VALUES(?, ?)", err),
                 *si = ix->extended ? prepare(ix, PUT_INFO, err) : NULL,
                 *sf = ix->extended ? prepare(ix, UNFAIL, err) : NULL;
    int rc = st && sv && (!ix->extended || (si && sf)) ? 0 : -1;
    for (size_t i = 0; !rc && i < n; i++) {
        const struct walk_file *f = files[i];
        sqlite3_bind_blob(st, 1, f->path, (int)strlen(f->path), SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, f->size);
        sqlite3_bind_int64(st, 3, f->mtime_ns);
        sqlite3_bind_int64(st, 4, (int64_t)f->ino);
        sqlite3_bind_int64(st, 5, (int64_t)f->dev);
        rc = step(ix, st) == SQLITE_ROW ? 0 : db_error(ix, err);
        int64_t id = rc ? 0 : sqlite3_column_int64(st, 0);
        sqlite3_bind_int64(sv, 1, id);
        sqlite3_bind_blob(sv, 2, vecs + i * (size_t)ix->dim, ix->dim * (int)sizeof(float), SQLITE_STATIC);
        sqlite3_reset(st);
        if (!rc)
            rc = step(ix, sv) == SQLITE_DONE ? 0 : db_error(ix, err);
        sqlite3_reset(sv);
        if (!rc)
            rc = put_info(ix, si, id, f, err);
        if (!rc)
            rc = unfail(ix, sf, f->path, err);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(sv);
    sqlite3_finalize(si);
    sqlite3_finalize(sf);
    return rc < 0 ? rollback(ix) : commit(ix, err);
}

int index_put_failed(struct index *ix, const struct walk_file *const *files, const char *const *why, size_t n,
                     char *err)
{
    if (!n || !ix->extended)
        return 0;
    if (begin(ix, err) < 0)
        return -1;
    sqlite3_stmt *st = prepare(ix, "INSERT OR REPLACE INTO clippie_failed VALUES(?, ?, ?, ?, ?)", err);
    int rc = st ? 0 : -1;
    for (size_t i = 0; !rc && i < n; i++) {
        char reason[256];
        snprintf(reason, sizeof reason, "%s", why[i]);
        for (char *c = reason; *c; c++) /* read back, it is printed: no controls */
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
        sqlite3_bind_blob(st, 1, files[i]->path, (int)strlen(files[i]->path), SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, files[i]->size);
        sqlite3_bind_int64(st, 3, files[i]->mtime_ns);
        sqlite3_bind_int64(st, 4, (int64_t)files[i]->ino);
        sqlite3_bind_text(st, 5, reason, -1, SQLITE_TRANSIENT);
        rc = step(ix, st) == SQLITE_DONE ? 0 : db_error(ix, err);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    /* not entries: the cache stays valid */
    return rc < 0 ? rollback(ix) : exec(ix, "COMMIT", err) < 0 ? rollback(ix) : 0;
}

int index_remove(struct index *ix, const int64_t *ids, size_t n, char *err)
{
    if (!n)
        return 0;
    if (begin(ix, err) < 0)
        return -1;
    sqlite3_stmt *st = prepare(ix, "DELETE FROM clippie_files WHERE id = ?", err),
                 *sv = prepare(ix, "DELETE FROM clippie_vectors WHERE id = ?", err),
                 *si = ix->extended ? prepare(ix, "DELETE FROM clippie_info WHERE id = ?", err) : NULL;
    int rc = st && sv && (!ix->extended || si) ? 0 : -1;
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_int64(st, 1, ids[i]);
        sqlite3_bind_int64(sv, 1, ids[i]);
        rc = step(ix, st) == SQLITE_DONE && step(ix, sv) == SQLITE_DONE ? 0 : db_error(ix, err);
        if (!rc && si) {
            sqlite3_bind_int64(si, 1, ids[i]);
            rc = step(ix, si) == SQLITE_DONE ? 0 : db_error(ix, err);
            sqlite3_reset(si);
        }
        sqlite3_reset(st);
        sqlite3_reset(sv);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(sv);
    sqlite3_finalize(si);
    return rc < 0 ? rollback(ix) : commit(ix, err);
}

int index_forget(struct index *ix, const char *root, size_t *removed, char *err)
{
    char **roots;
    size_t n, k = 0;
    int64_t *ids = NULL;
    size_t cap = 0;
    *removed = 0;
    if (index_roots(ix, &roots, &n, err) < 0)
        return -1;
    while (k < n && strcmp(roots[k], root))
        k++;
    int rc = k == n ? error(err, "%s: not a root of %s", root, ix->path) : 0;
    sqlite3_stmt *st = rc ? NULL : prepare(ix, "SELECT id, path FROM clippie_files", err);
    while (!rc && st && step(ix, st) == SQLITE_ROW) {
        size_t plen;
        const char *p = column_path(ix, st, 1, &plen, "an entry", err);
        if (!p)
            rc = -1;
        else if (under(p, plen, root) && util_grow(&ids, &cap, *removed + 1, sizeof *ids, SIZE_MAX / 16) < 0)
            rc = error(err, "out of memory");
        else if (under(p, plen, root))
            ids[(*removed)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (!rc) {
        free(roots[k]);
        roots[k] = roots[--n];
        rc = index_set_roots(ix, roots, n, err);
    }
    if (!rc)
        rc = index_remove(ix, ids, *removed, err);
    if (!rc && ix->extended) { /* and its known failures */
        sqlite3_stmt *sf = prepare(ix, "SELECT path FROM clippie_failed", err);
        char **gone = NULL;
        size_t ng = 0, gcap = 0;
        while (sf && step(ix, sf) == SQLITE_ROW) {
            size_t plen;
            const char *p = column_path(ix, sf, 0, &plen, "a failure", err);
            if (p && under(p, plen, root) && util_grow(&gone, &gcap, ng + 1, sizeof *gone, SIZE_MAX / 16) == 0 &&
                (gone[ng] = strndup(p, plen)))
                ng++;
        }
        sqlite3_finalize(sf);
        struct index_plan p = {.failgone = gone, .nfailgone = ng};
        rc = index_apply(ix, NULL, &p, err);
        index_plan_free(&p);
    }
    free(ids);
    index_free_strings(roots, n);
    return rc;
}

/* ---- reading ---- */

/* An entry's vector, checked: a BLOB of dim floats. NULL with err. */
static const void *column_vector(struct index *ix, sqlite3_stmt *st, int col, int64_t id, char *err)
{
    size_t vbytes = (size_t)ix->dim * sizeof(float);
    if (sqlite3_column_type(st, col) != SQLITE_BLOB) {
        error(err, "%s: entry %lld's vector is %s, not %d floats", ix->path, (long long)id, column_kind(st, col),
              ix->dim);
        return NULL;
    }
    const void *v = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    if (!v || n != vbytes) {
        error(err, "%s: entry %lld's vector is %zu bytes, not %zu (%d floats)", ix->path, (long long)id, n, vbytes,
              ix->dim);
        return NULL;
    }
    return v;
}

/* The dimension for reading vectors: -1 with err when no model (and so no
 * vector) was ever recorded. */
static int vector_dim(struct index *ix, char *err)
{
    struct meta m;
    if (read_meta(ix, &m, err) < 0)
        return -1;
    return ix->dim ? 0 : error(err, "%s: an empty index, no vectors", ix->path);
}

int index_each(struct index *ix, int (*fn)(void *ctx, const char *path, const float *vec), void *ctx, char *err)
{
    if (vector_dim(ix, err) < 0)
        return -1;
    sqlite3_stmt *st = prepare(
        ix, "SELECT path, vector, id FROM clippie_files JOIN clippie_vectors USING (id) ORDER BY path", err);
    int rc = st ? 0 : -1, s = SQLITE_DONE;
    size_t vbytes = (size_t)ix->dim * sizeof(float);
    float *vec = malloc(vbytes);
    char *path = NULL;
    if (!vec)
        rc = error(err, "out of memory");
    while (!rc && (s = step(ix, st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 2);
        size_t plen;
        const void *v = column_vector(ix, st, 1, id, err), *p = v ? column_path(ix, st, 0, &plen, "an entry", err) : NULL;
        if (!p) {
            rc = -1;
            break;
        }
        memcpy(vec, v, vbytes); /* aligned, whatever SQLite's buffer is */
        free(path);
        if (!(path = strndup(p, plen)))
            rc = error(err, "out of memory");
        else
            rc = fn(ctx, path, vec);
    }
    if (!rc && s != SQLITE_DONE)
        rc = db_error(ix, err);
    free(path);
    free(vec);
    sqlite3_finalize(st);
    return rc;
}

char *index_path_of(struct index *ix, size_t row, char *err)
{
    if (!ix->ids || row >= ix->view.rows) {
        error(err, "%s: no row %zu in the index's vectors", ix->path, row);
        return NULL;
    }
    sqlite3_stmt *st = prepare(ix, "SELECT path FROM clippie_files WHERE id = ?", err);
    char *out = NULL;
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, ix->ids[row]);
    int s = step(ix, st);
    if (s == SQLITE_ROW) {
        size_t plen;
        const char *p = column_path(ix, st, 0, &plen, "an entry", err);
        if (p && !(out = strndup(p, plen)))
            error(err, "out of memory");
    } else if (s == SQLITE_DONE) /* a reader's snapshot holds every id of its vectors: a cache not of this database */
        error(err, "%s: its cache names entry %lld, which it does not hold", ix->path, (long long)ix->ids[row]);
    else
        db_error(ix, err);
    sqlite3_finalize(st);
    return out;
}

/* The rows of the database read into memory: ids and vectors, in path
 * order, within one read transaction (the reader's snapshot, or one of
 * their own) so that m's generation matches them. On failure *ids and
 * *vecs are NULL. */
static int read_all(struct index *ix, int64_t **ids, float **vecs, size_t *rows, struct meta *m, char *err)
{
    size_t cap = 0, vcap = 0;
    int own = sqlite3_get_autocommit(ix->db), s = SQLITE_DONE;
    *ids = NULL, *vecs = NULL, *rows = 0;
    if (own && exec(ix, "BEGIN", err) < 0)
        return -1;
    int rc = read_meta(ix, m, err) < 0 ? -1 : !ix->dim ? error(err, "%s: an empty index, no vectors", ix->path) : 0;
    sqlite3_stmt *st = rc ? NULL : prepare(ix, "SELECT id, vector FROM clippie_files JOIN clippie_vectors USING (id) ORDER BY path", err);
    size_t vbytes = (size_t)ix->dim * sizeof(float);
    if (!rc && !st)
        rc = -1;
    while (!rc && (s = step(ix, st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const void *v = column_vector(ix, st, 1, id, err);
        if (!v)
            rc = -1;
        else if (util_grow(ids, &cap, *rows + 1, sizeof **ids, SIZE_MAX / 16) < 0 ||
                 util_grow(vecs, &vcap, (*rows + 1) * (size_t)ix->dim, sizeof **vecs, SIZE_MAX / 16) < 0)
            rc = error(err, "out of memory");
        else {
            (*ids)[*rows] = id;
            memcpy(*vecs + *rows * (size_t)ix->dim, v, vbytes);
            (*rows)++;
        }
    }
    if (!rc && s != SQLITE_DONE)
        rc = db_error(ix, err);
    sqlite3_finalize(st);
    if (own)
        sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL);
    if (rc < 0) { /* the caller's pointers may be the index's own: none left to free twice */
        free(*ids);
        free(*vecs);
        *ids = NULL, *vecs = NULL, *rows = 0;
    }
    return rc;
}

/* The identity's 16 bytes, as the cache records them; -1 when the index
 * predates identities (its cache cannot be told from another's). */
static int identity_bytes(const struct meta *m, unsigned char *out)
{
    if (!*m->identity)
        return -1;
    for (size_t i = 0; i < IDENTITY_LEN / 2; i++) {
        unsigned v;
        sscanf(m->identity + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
    return 0;
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

/* Maps the cache when it is whole, of this database (its identity) and of
 * the generation m describes. */
static int map_cache(struct index *ix, const struct meta *m)
{
    char *path = cache_path(ix), e[ERR_LEN];
    unsigned char id[IDENTITY_LEN / 2];
    struct stat st;
    if (identity_bytes(m, id) < 0 || !ix->dim) {
        free(path);
        return -1;
    }
    int fd = path ? util_open_regular(path, &st, e) : -1;
    free(path);
    if (fd < 0)
        return -1;
    size_t len = (size_t)st.st_size;
    unsigned char *p = len >= CACHE_HEADER ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    close(fd);
    if (p == MAP_FAILED)
        return -1;
    uint64_t rows = load_u64(p + 24), off = rows <= len / 8 ? cache_data_offset(rows) : 0;
    size_t bytes;
    if (memcmp(p, CACHE_MAGIC, 8) || load_u32(p + 8) != CACHE_VERSION || load_u32(p + 12) != (uint32_t)ix->dim ||
        load_u64(p + 16) != (uint64_t)m->generation || memcmp(p + 40, id, sizeof id) ||
        rows > len / 8 || load_u64(p + 32) != off || size_mul(rows, (size_t)ix->dim * sizeof(float), &bytes) < 0 ||
        off > len || bytes != len - off) {
        munmap(p, len);
        return -1;
    }
    ix->map = p;
    ix->map_len = len;
    ix->ids = (int64_t *)(p + CACHE_HEADER);
    ix->view = (struct vecfile){.data = (const float *)(p + off), .rows = rows, .dim = ix->dim};
    return 0;
}
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
 * header and ids in one write, the vectors in another (see CACHE_ALIGN).
 * The file is new (mkostemp's O_EXCL, and no link followed): whatever lies
 * at any name beside the index (a link to another file, a FIFO) is never
 * opened for writing. */
static int write_cache(struct index *ix, const int64_t *ids, const float *vecs, size_t rows, const struct meta *m,
                       char *err)
{
    char *path = cache_path(ix), *tmp = path ? malloc(strlen(path) + 8) : NULL;
    uint64_t off = cache_data_offset(rows);
    unsigned char *h = tmp ? calloc(1, off) : NULL;
    struct stat st;
    int rc = -1, fd = -1;
    if (!h) {
        free(path);
        free(tmp);
        return error(err, "out of memory");
    }
    sprintf(tmp, "%s.XXXXXX", path);
    memcpy(h, CACHE_MAGIC, 8);
    store_u32(h + 8, CACHE_VERSION);
    store_u32(h + 12, (uint32_t)ix->dim);
    store_u64(h + 16, (uint64_t)m->generation);
    store_u64(h + 24, rows);
    store_u64(h + 32, off);
    identity_bytes(m, h + 40); /* an index without one was given one when opened for writing */
    for (size_t i = 0; i < rows; i++) /* little-endian on any host */
        store_u64(h + CACHE_HEADER + 8 * i, (uint64_t)ids[i]);
    /* as readable as the index it serves (mkostemp makes it the owner's alone) */
    if ((fd = mkostemp(tmp, O_CLOEXEC | O_NOFOLLOW)) >= 0 &&
        (stat(ix->path, &st) < 0 || fchmod(fd, st.st_mode & 0644) == 0) && write_all(fd, h, off) == 0 &&
        write_all(fd, vecs, rows * (size_t)ix->dim * sizeof *vecs) == 0 && fsync(fd) == 0)
        rc = 0;
    if (fd >= 0 && close(fd) != 0)
        rc = -1;
    if (rc == 0)
        rc = rename(tmp, path);
    if (rc < 0) {
        error(err, "%s: %s", fd < 0 ? path : tmp, strerror(errno));
        if (fd >= 0)
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
    struct meta m;
    if (read_meta(ix, &m, err) < 0)
        return -1;
    if (!ix->dim || map_cache(ix, &m) == 0) /* no model yet: no vectors to cache */
        return 0;
    if (read_all(ix, &ids, &vecs, &rows, &m, err) < 0)
        return -1;
    int rc = write_cache(ix, ids, vecs, rows, &m, err);
    free(ids);
    free(vecs);
    return rc;
}

const struct vecfile *index_vectors(struct index *ix, char *err)
{
    struct meta m;
    size_t rows;
    if (ix->map || ix->owned)
        return &ix->view;
    if (vector_dim(ix, err) < 0 || read_meta(ix, &m, err) < 0)
        return NULL;
    if (map_cache(ix, &m) == 0)
        return ix->view.rows ? &ix->view : (error(err, "%s: an empty index, no vectors", ix->path), NULL);
    if (read_all(ix, &ix->owned_ids, &ix->owned, &rows, &m, err) < 0)
        return NULL;
    /* a writer keeps the cache fresh for the searches after it */
    if (ix->mode != INDEX_READ)
        write_cache(ix, ix->owned_ids, ix->owned, rows, &m, NULL);
    ix->ids = ix->owned_ids;
    ix->view = (struct vecfile){.data = ix->owned, .rows = rows, .dim = ix->dim};
    return rows ? &ix->view : (error(err, "%s: an empty index, no vectors", ix->path), NULL);
}

/* ---- what --info and the date filters read ---- */

static long long count_of(struct index *ix, const char *sql, char *err)
{
    sqlite3_stmt *st = prepare(ix, sql, err);
    long long n = st && step(ix, st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    if (st && n < 0)
        db_error(ix, err);
    sqlite3_finalize(st);
    return n;
}

int index_status(struct index *ix, struct index_status *s, char *err)
{
    struct meta m;
    if (read_meta(ix, &m, err) < 0)
        return -1;
    long long photos = count_of(ix, "SELECT count(*) FROM clippie_files", err),
              failed = ix->extended ? count_of(ix, "SELECT count(*) FROM clippie_failed", err) : 0;
    if (photos < 0 || failed < 0)
        return -1;
    *s = (struct index_status){m.generation, m.refreshed, (size_t)photos, (size_t)failed};
    return 0;
}

int index_touch(struct index *ix, char *err)
{
    char now[32];
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    return meta_set(ix, "refreshed", now, err);
}

int index_each_failed(struct index *ix, void (*fn)(void *ctx, const char *path, const char *why), void *ctx,
                      char *err)
{
    if (!ix->extended)
        return 0;
    sqlite3_stmt *st = prepare(ix, "SELECT path, reason FROM clippie_failed ORDER BY path", err);
    int rc = st ? 0 : -1, s = SQLITE_DONE;
    while (!rc && (s = step(ix, st)) == SQLITE_ROW) {
        size_t plen;
        const char *p = column_path(ix, st, 0, &plen, "a failure", err);
        const char *why = sqlite3_column_type(st, 1) == SQLITE_TEXT ? (const char *)sqlite3_column_text(st, 1) : NULL;
        char *path = p ? strndup(p, plen) : NULL, reason[256];
        if (!path) {
            rc = p ? error(err, "out of memory") : -1;
            break;
        }
        snprintf(reason, sizeof reason, "%s", why ? why : "?");
        for (char *c = reason; *c; c++) /* the file's bytes: no terminal controls */
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
        fn(ctx, path, reason);
        free(path);
    }
    if (!rc && s != SQLITE_DONE)
        rc = db_error(ix, err);
    sqlite3_finalize(st);
    return rc;
}

struct id_row {
    int64_t id;
    size_t row;
};

static int by_id(const void *a, const void *b)
{
    const struct id_row *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

int64_t *index_dates(struct index *ix, char *err)
{
    if (!index_vectors(ix, err))
        return NULL;
    size_t rows = ix->view.rows;
    int64_t *dates = malloc(rows * sizeof *dates);
    struct id_row *map = malloc(rows * sizeof *map);
    if (!dates || !map) {
        free(dates);
        free(map);
        error(err, "out of memory");
        return NULL;
    }
    for (size_t r = 0; r < rows; r++) {
        dates[r] = INDEX_NO_DATE;
        map[r] = (struct id_row){ix->ids[r], r};
    }
    qsort(map, rows, sizeof *map, by_id);
    sqlite3_stmt *st = ix->extended ? prepare(ix, "SELECT id, date FROM clippie_info", err) : NULL;
    int rc = !ix->extended || st ? 0 : -1, s = SQLITE_DONE;
    while (st && (s = step(ix, st)) == SQLITE_ROW) {
        struct id_row key = {sqlite3_column_int64(st, 0), 0}, *hit = bsearch(&key, map, rows, sizeof *map, by_id);
        if (hit && sqlite3_column_type(st, 1) == SQLITE_INTEGER)
            dates[hit->row] = sqlite3_column_int64(st, 1);
    }
    if (st && s != SQLITE_DONE)
        rc = db_error(ix, err);
    sqlite3_finalize(st);
    free(map);
    if (rc < 0) {
        free(dates);
        return NULL;
    }
    return dates;
}

/* ---- merging ---- */

static int no_op(void *ctx, const char *path, const float *vec)
{
    (void)ctx, (void)path, (void)vec;
    return 0;
}

/* The index at path, read whole and checked as any index (its schema, its
 * meta, every entry's path and vector, its roots): its model into m. */
static int check_source(const char *path, struct index_model *m, long long *bytes, int *extended, char *err)
{
    struct index *src = index_open(path, INDEX_READ, err);
    char **roots = NULL;
    size_t n = 0;
    struct stat st;
    if (!src)
        return -1;
    int rc = index_model(src, m, err);
    if (!rc && !m->id[0])
        rc = error(err, "%s: an index with no model yet", path);
    if (!rc && (index_each(src, no_op, NULL, err) < 0 || index_roots(src, &roots, &n, err) < 0))
        rc = -1;
    for (size_t i = 0; i < n; i++)
        free(roots[i]);
    free(roots);
    *bytes = stat(path, &st) == 0 ? st.st_size : 0;
    *extended = src->extended;
    index_close(src);
    return rc;
}

int index_merge_from(struct index *ix, const char *path, char *err)
{
    struct index_model m, have;
    long long bytes, budget = ix->budget;
    int extended;
    if (check_source(path, &m, &bytes, &extended, err) < 0 || index_model(ix, &have, err) < 0)
        return -1;
    if (have.id[0] && strcmp(have.id, m.id))
        return error(err, "made with another model than the indexes before it: %s (id %s), not %s (id %s)", m.desc,
                     m.id, have.desc, have.id);
    if (index_bind_model(ix, &m, err) < 0)
        return -1;
    char *uri = uri_of(path, "");
    sqlite3_stmt *st = uri ? prepare(ix, "ATTACH DATABASE ? AS src", err) : NULL;
    if (!st) {
        free(uri);
        return uri ? -1 : error(err, "out of memory");
    }
    sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
    int rc = step(ix, st) == SQLITE_DONE ? 0 : db_error(ix, err);
    sqlite3_finalize(st);
    free(uri);
    if (rc < 0)
        return -1;
    struct stat out;
    /* the statements below read the source and all this index holds so far */
    budget_for(ix, bytes + (stat(ix->path, &out) == 0 ? out.st_size : 0));
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
             "DELETE FROM clippie_info WHERE id IN (SELECT dst FROM won);",
             err) < 0 ||
        (extended && exec(ix,
                          "INSERT OR REPLACE INTO clippie_info SELECT f.id, i.date, i.sha256 FROM won"
                          " JOIN src.clippie_files s ON s.id = won.src JOIN clippie_files f ON f.path = s.path"
                          " JOIN src.clippie_info i ON i.id = won.src;"
                          "INSERT OR IGNORE INTO clippie_failed SELECT * FROM src.clippie_failed;"
                          "INSERT OR IGNORE INTO clippie_excludes SELECT * FROM src.clippie_excludes;",
                          err) < 0) ||
        exec(ix, "DROP TABLE temp.won; INSERT OR IGNORE INTO clippie_roots SELECT path FROM src.clippie_roots;", err) < 0 ||
        commit(ix, err) < 0)
        rc = rollback(ix);
    sqlite3_exec(ix->db, "DETACH DATABASE src", NULL, NULL, NULL);
    ix->budget = budget;
    return rc;
}
