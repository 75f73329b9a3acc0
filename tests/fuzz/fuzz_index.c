/* libFuzzer target: an index file (a database image) and the cache beside
 * it, through what a search and a dump do (open, model, vectors, top k,
 * the hits' paths, every entry) and what a refresh does first (open for
 * writing, roots, the cache rewritten).
 *
 *     make fuzz-index FUZZ_SECONDS=600
 *
 * An input is the database's length (4 bytes, little-endian), the
 * database, then the cache (tests/craft_index --seed DB [CACHE] makes one;
 * tests/fuzz/make_index_corpus.sh made the seeds).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index.h"
#include "search.h"

static char dir[64], db[128];

static const char *const suffixes[] = {"", "-vectors", "-wal", "-shm", "-journal"};

static void clean(void)
{
    char p[160];
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        snprintf(p, sizeof p, "%s%s", db, suffixes[i]);
        unlink(p);
    }
}

static void remove_dir(void)
{
    clean();
    rmdir(dir);
}

static int put(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int rc = f && fwrite(p, 1, n, f) == n ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    return rc;
}

static int each(void *ctx, const char *path, const float *vec)
{
    (void)path;
    *(float *)ctx += vec[0];
    return 0;
}

static void search(struct index *ix)
{
    char err[ERR_LEN];
    struct index_model m;
    float sum = 0;
    if (index_model(ix, &m, err) < 0)
        return;
    const struct vecfile *v = index_vectors(ix, err);
    float *q = v ? calloc((size_t)v->dim, sizeof *q) : NULL;
    if (q) {
        q[0] = 1;
        size_t n;
        struct search_hit *hits = search_top_k(&v, 1, q, 4, 1, &n, err);
        for (size_t i = 0; hits && i < n; i++)
            free(index_path_of(ix, hits[i].row, err));
        free(hits);
    }
    free(q);
    index_each(ix, each, &sum, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ERR_LEN], cache[160];
    if (!*dir) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_index.XXXXXX");
        if (!mkdtemp(dir))
            abort();
        snprintf(db, sizeof db, "%s/i.clippie", dir);
        atexit(remove_dir);
    }
    if (size < 4)
        return 0;
    size_t n = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
    n = n < size - 4 ? n : size - 4;
    snprintf(cache, sizeof cache, "%s-vectors", db);
    clean();
    if (put(db, data + 4, n) < 0 || (size - 4 > n && put(cache, data + 4 + n, size - 4 - n) < 0))
        abort();
    struct index *ix = index_open(db, INDEX_READ, err);
    if (ix)
        search(ix);
    index_close(ix);
    if ((ix = index_open(db, INDEX_WRITE, err))) {
        char **roots;
        size_t nroots;
        if (index_roots(ix, &roots, &nroots, err) == 0) {
            for (size_t i = 0; i < nroots; i++)
                free(roots[i]);
            free(roots);
        }
        index_refresh_cache(ix, err);
        search(ix);
    }
    index_close(ix);
    return 0;
}
