/* test_index: the index module against what a search needs while others
 * change the index (issue 26, row 11), and its cache's binding to its
 * database (row 4), through the module's API.
 *
 *     tests/test_index tests/fixtures
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "index.h"

#define DIM 4

/* Stores the files named, file k's vector (base + k + 1, base + k + 2, ...). */
static void put(struct index *ix, const char *const *names, size_t n, float base)
{
    struct walk_file f[8];
    const struct walk_file *p[8];
    float v[8 * DIM];
    char err[ERR_LEN] = "";
    for (size_t k = 0; k < n; k++) {
        f[k] = (struct walk_file){.path = (char *)names[k], .size = 1, .mtime_ns = 1, .ino = k + 1};
        p[k] = &f[k];
        for (int d = 0; d < DIM; d++)
            v[k * DIM + d] = base + (float)(k + 1) + (float)d;
    }
    CHECK(index_put(ix, p, v, n, err) == 0, "put: %s", err);
}

static struct index *made(const char *path)
{
    char err[ERR_LEN] = "";
    struct index_model m = {.id = "0123456789abcdef0123456789abcdef", .dim = DIM, .exif = 1, .desc = "test"};
    struct index *ix = index_open(path, INDEX_CREATE, err);
    CHECK(ix != NULL, "create: %s", err);
    if (ix)
        CHECK(index_bind_model(ix, &m, err) == 0, "bind: %s", err);
    return ix;
}

/* A search's rows keep naming the files they were read with, whatever a
 * refresh commits meanwhile, though it reuses their ids. */
static void snapshot(const char *dir)
{
    char path[4096], err[ERR_LEN] = "";
    const char *before[] = {"/p/a.jpg", "/p/b.jpg", "/p/c.jpg"}, *after[] = {"/q/x.jpg", "/q/y.jpg", "/q/z.jpg"};
    snprintf(path, sizeof path, "%s/snap.clippie", dir);
    struct index *w = made(path);
    if (!w)
        return;
    put(w, before, 3, 0);
    CHECK(index_refresh_cache(w, err) == 0, "cache: %s", err);
    index_close(w);

    struct index *r = index_open(path, INDEX_READ, err);
    CHECK(r != NULL, "reader: %s", err);
    const struct vecfile *v = r ? index_vectors(r, err) : NULL;
    CHECK(v && v->rows == 3, "vectors: %s", err);
    if (!v)
        goto out;
    /* a refresh: every file gone, three new ones (ids 1 to 3 again) */
    w = index_open(path, INDEX_WRITE, err);
    CHECK(w != NULL, "writer: %s", err);
    if (w) {
        int64_t ids[] = {1, 2, 3};
        CHECK(index_remove(w, ids, 3, err) == 0, "remove: %s", err);
        put(w, after, 3, 100);
        CHECK(index_refresh_cache(w, err) == 0, "cache: %s", err);
        index_close(w);
    }
    for (size_t row = 0; row < 3; row++) {
        char *name = index_path_of(r, row, err);
        CHECK(name && !strcmp(name, before[row]), "row %zu names %s, not %s", row, name ? name : err, before[row]);
        free(name);
        CHECK(v->data[row * DIM] == (float)(row + 1), "row %zu's vector changed under the search", row);
    }
    /* a later reader sees the new state */
    struct index *r2 = index_open(path, INDEX_READ, err);
    char *name = r2 && index_vectors(r2, err) ? index_path_of(r2, 0, err) : NULL;
    CHECK(name && !strcmp(name, "/q/x.jpg"), "a later search: %s", name ? name : err);
    free(name);
    index_close(r2);
out:
    index_close(r);
}

/* The cache of another database at the same name (the index deleted and
 * made anew, the same generation) is not taken for this one's. */
static void bound_cache(const char *dir)
{
    char path[4096], err[ERR_LEN] = "";
    const char *one[] = {"/one/a.jpg", "/one/b.jpg"}, *two[] = {"/two/a.jpg", "/two/b.jpg"};
    snprintf(path, sizeof path, "%s/bound.clippie", dir);
    for (int pass = 0; pass < 2; pass++) {
        unlink(path);
        struct index *w = made(path);
        if (!w)
            return;
        put(w, pass ? two : one, 2, pass ? 100.0f : 0.0f);
        CHECK(index_refresh_cache(w, err) == 0, "cache: %s", err);
        index_close(w);
    }
    struct index *r = index_open(path, INDEX_READ, err);
    const struct vecfile *v = r ? index_vectors(r, err) : NULL;
    char *name = v ? index_path_of(r, 1, err) : NULL;
    CHECK(name && !strcmp(name, "/two/b.jpg"), "the second index's row 1: %s", name ? name : err);
    CHECK(v && v->data[DIM] == 102, "the second index's row 1 has the vector of the first's");
    free(name);
    index_close(r);
}

int main(int argc, char **argv)
{
    (void)argc, (void)argv;
    char dir[] = "/tmp/test_index.XXXXXX", cmd[64];
    if (!mkdtemp(dir))
        return 1;
    snapshot(dir);
    bound_cache(dir);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_index: cannot remove %s\n", dir);
    return check_done("test_index");
}
