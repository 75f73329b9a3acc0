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

#include <sys/stat.h>

#include "check.h"
#include "image.h"
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

static void write_file(const char *dir, const char *name, const char *bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(bytes, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
}

/* The walk of lib, planned against ix (and applied). */
static void plan_of(struct index *ix, const char *lib, struct walk *w, struct index_plan *p)
{
    char err[ERR_LEN] = "", *roots[1] = {(char *)lib};
    *w = (struct walk){0};
    CHECK(walk_add(w, lib) == 0, "walk");
    CHECK(index_plan(ix, w, roots, 1, p, err) == 0, "plan: %s", err);
    CHECK(index_apply(ix, w, p, err) == 0, "apply: %s", err);
}

/* Stores the plan's files to embed, file k's vector made from its first byte. */
static void embed(struct index *ix, struct walk *w, const struct index_plan *p)
{
    const struct walk_file *f[8];
    float v[8 * DIM];
    char err[ERR_LEN] = "";
    for (size_t k = 0; k < p->ntodo && k < 8; k++) {
        f[k] = &w->files[p->todo[k]];
        const char *base = strrchr(f[k]->path, '/') + 1;
        for (int d = 0; d < DIM; d++)
            v[k * DIM + d] = (float)base[0] + (float)d;
    }
    CHECK(index_put(ix, f, v, p->ntodo, err) == 0, "put: %s", err);
}

/* Issue 25: a renamed file is moved (its inode), a copy reuses a vector
 * (its bytes), a failure is not tried again while unchanged, and an
 * entry's date is EXIF's or its mtime's. */
static void plans(const char *dir)
{
    char path[4096], lib[4096], from[4200], to[4200], err[ERR_LEN] = "";
    struct walk w;
    struct index_plan p;
    snprintf(path, sizeof path, "%s/plan.clippie", dir);
    snprintf(lib, sizeof lib, "%s/lib", dir);
    CHECK(mkdir(lib, 0755) == 0, "mkdir %s", lib);
    write_file(lib, "a.jpg", "AAAA");
    write_file(lib, "b.jpg", "BBBB");
    struct index *ix = made(path);
    if (!ix)
        return;
    plan_of(ix, lib, &w, &p);
    CHECK(p.nnew == 2 && p.ntodo == 2 && p.nreuse == 0, "first plan: %zu new, %zu to embed", p.nnew, p.ntodo);
    embed(ix, &w, &p);
    index_plan_free(&p);
    walk_free(&w);
    snprintf(from, sizeof from, "%s/a.jpg", lib);
    snprintf(to, sizeof to, "%s/c.jpg", lib);
    CHECK(rename(from, to) == 0, "rename");
    write_file(lib, "d.jpg", "BBBB"); /* a copy of b.jpg */
    write_file(lib, "e.jpg", "EEEE");
    plan_of(ix, lib, &w, &p);
    CHECK(p.nmoved == 1 && p.ncopied == 1 && p.nnew == 1 && p.ngone == 0 && p.nunchanged == 1,
          "second plan: %zu moved, %zu copied, %zu new, %zu gone, %zu unchanged", p.nmoved, p.ncopied, p.nnew,
          p.ngone, p.nunchanged);
    const struct walk_file *bad[1] = {p.ntodo == 1 ? &w.files[p.todo[0]] : NULL};
    const char *why[1] = {"not an image"};
    if (bad[0])
        CHECK(index_put_failed(ix, bad, why, 1, err) == 0, "failed: %s", err);
    index_plan_free(&p);
    walk_free(&w);
    plan_of(ix, lib, &w, &p);
    CHECK(p.nknown == 1 && p.ntodo == 0 && p.nunchanged == 3, "third plan: %zu known, %zu to embed, %zu unchanged",
          p.nknown, p.ntodo, p.nunchanged);
    index_plan_free(&p);
    walk_free(&w);
    CHECK(index_refresh_cache(ix, err) == 0, "cache: %s", err);
    /* the moved entry kept a's vector, the copy has b's */
    const struct vecfile *v = index_vectors(ix, err);
    int64_t *dates = v ? index_dates(ix, err) : NULL;
    CHECK(v && v->rows == 3 && dates, "vectors: %s", err);
    for (size_t r = 0; v && dates && r < v->rows; r++) {
        char *name = index_path_of(ix, r, err);
        const char *base = name ? strrchr(name, '/') + 1 : "?";
        float want = *base == 'c' ? 'a' : 'b'; /* embed() made vectors from the names */
        CHECK(v->data[r * DIM] == want, "%s has the vector of %c", base, (char)v->data[r * DIM]);
        CHECK(dates[r] != INDEX_NO_DATE, "%s has no date", base);
        free(name);
    }
    free(dates);
    index_close(ix);
}

/* EXIF dates: DateTimeOriginal in the Exif IFD, else DateTime in IFD0. */
static void exif_dates(void)
{
    static const unsigned char original[] = {
        'M', 'M', 0, '*', 0, 0, 0, 8,                                  /* big-endian TIFF, IFD0 at 8 */
        0, 1, 0x87, 0x69, 0, 4, 0, 0, 0, 1, 0, 0, 0, 26, 0, 0, 0, 0,   /* Exif IFD at 26 */
        0, 1, 0x90, 0x03, 0, 2, 0, 0, 0, 20, 0, 0, 0, 44, 0, 0, 0, 0, /* DateTimeOriginal at 44 */
        '2', '0', '1', '9', ':', '0', '6', ':', '0', '1', ' ', '1', '2', ':', '0', '0', ':', '0', '0', 0};
    static const unsigned char app1[] = {0xff, 0xd8, 0xff, 0xe1, 0, sizeof original + 8, 'E', 'x', 'i', 'f', 0, 0};
    int64_t t = 0;
    CHECK(image_date(original, sizeof original, &t) == 0 && t == 1559390400, "TIFF DateTimeOriginal: %lld",
          (long long)t);
    unsigned char buf[sizeof app1 + sizeof original];
    memcpy(buf, app1, sizeof app1);
    memcpy(buf + sizeof app1, original, sizeof original);
    t = 0;
    CHECK(image_date(buf, sizeof buf, &t) == 0 && t == 1559390400, "JPEG DateTimeOriginal: %lld", (long long)t);
    CHECK(image_date(buf, 40, &t) < 0, "a date cut short is no date");
    static const unsigned char datetime[] = {
        'I', 'I', '*', 0, 8, 0, 0, 0,                                  /* little-endian TIFF, IFD0 at 8 */
        1, 0, 0x32, 0x01, 2, 0, 20, 0, 0, 0, 26, 0, 0, 0, 0, 0, 0, 0, /* DateTime at 26 */
        '2', '0', '1', '5', ':', '0', '2', ':', '0', '3', ' ', '0', '4', ':', '0', '5', ':', '0', '6', 0};
    CHECK(image_date(datetime, sizeof datetime, &t) == 0 && t == 1422936306, "TIFF DateTime: %lld", (long long)t);
}

int main(int argc, char **argv)
{
    (void)argc, (void)argv;
    char dir[] = "/tmp/test_index.XXXXXX", cmd[64];
    if (!mkdtemp(dir))
        return 1;
    snapshot(dir);
    bound_cache(dir);
    plans(dir);
    exif_dates();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_index: cannot remove %s\n", dir);
    return check_done("test_index");
}
