/* The folder walk (walk.h): the order and the names it takes, in a small
 * tree; and a tree of 3,000 nested folders (issue 26: the recursive walk
 * overflowed the stack from ~1,900), walked in a thread of 1 MiB of stack,
 * which a recursion of PATH_MAX buffers would overflow long before. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "walk.h"

struct skips {
    int n;
    char why[64];
};

static void on_skip(void *ctx, const char *path, const char *why)
{
    struct skips *s = ctx;
    (void)path;
    s->n++;
    snprintf(s->why, sizeof s->why, "%s", why);
}

/* An empty file at dir/name (dir an open folder) */
static int touch(int dir, const char *name)
{
    int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    return fd < 0 ? -1 : close(fd);
}

static int make_path(const char *root, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    if (rel[strlen(rel) - 1] == '/')
        return mkdir(path, 0700);
    return touch(AT_FDCWD, path);
}

static void test_order(const char *root)
{
    static const char *const made[] = {"b.jpg", "a/", "a/z.png", "a/c.txt", "c/", "c/d/", "c/d/e.gif",
                                       ".hidden.jpg", ".h/", ".h/in.jpg", "x.JPG", "y.tiff.txt", "z.heic"};
    static const char *const want[] = {"a/z.png", "b.jpg", "c/d/e.gif", "x.JPG", "z.heic"};
    int ok = 1;
    for (size_t k = 0; k < sizeof made / sizeof made[0]; k++)
        ok &= make_path(root, made[k]) == 0;
    CHECK(ok, "cannot make the small tree in %s", root);
    struct skips s = {0};
    struct walk w = {.skip = on_skip, .ctx = &s};
    CHECK(walk_add(&w, root) == 0, "walk of %s failed", root);
    CHECK(w.n == 5 && w.not_images == 2 && s.n == 0, "%zu files, %zu not images, %d skipped", w.n, w.not_images,
          s.n);
    for (size_t k = 0; k < w.n && k < 5; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", root, want[k]);
        CHECK(!strcmp(w.files[k].path, path), "file %zu: %s, not %s", k, w.files[k].path, path);
    }
    walk_free(&w);
}

/* levels nested folders "a" under root, x.jpg at level mid and y.jpg at
 * the bottom, made one level at a time (a path that deep cannot be named) */
static int make_deep(const char *root, int levels, int mid)
{
    int fd = open(root, O_RDONLY | O_DIRECTORY);
    for (int level = 1; fd >= 0 && level <= levels; level++) {
        int next = mkdirat(fd, "a", 0700) == 0 ? openat(fd, "a", O_RDONLY | O_DIRECTORY) : -1;
        close(fd);
        fd = next;
        if (fd >= 0 && level == mid && touch(fd, "x.jpg") < 0)
            fd = (close(fd), -1);
    }
    int rc = fd >= 0 && touch(fd, "y.jpg") == 0 ? 0 : -1;
    if (fd >= 0)
        close(fd);
    return rc;
}

struct deep {
    const char *root;
    struct walk w;
    struct skips s;
    int rc;
};

static void *walk_deep(void *arg)
{
    struct deep *d = arg;
    d->w = (struct walk){.skip = on_skip, .ctx = &d->s};
    d->rc = walk_add(&d->w, d->root);
    return NULL;
}

static void test_deep(const char *root)
{
    CHECK(make_deep(root, 3000, 2000) == 0, "cannot make 3,000 nested folders in %s", root);
    struct deep d = {.root = root};
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    CHECK(pthread_create(&t, &attr, walk_deep, &d) == 0 && pthread_join(t, NULL) == 0, "no thread for the walk");
    pthread_attr_destroy(&attr);
    /* x.jpg at 2,000 levels is within PATH_MAX (4,096 bytes), y.jpg at 3,000 is not */
    size_t want = strlen(root) + 2 * 2000 + strlen("/x.jpg");
    CHECK(d.rc == 0 && d.w.n == 1 && strlen(d.w.files[0].path) == want &&
              !strcmp(d.w.files[0].path + want - 6, "/x.jpg"),
          "deep walk: rc %d, %zu files, the first %.40s...", d.rc, d.w.n, d.w.n ? d.w.files[0].path : "");
    CHECK(d.s.n == 1 && !strcmp(d.s.why, "path too long"), "deep walk: %d skipped, the last for '%s'", d.s.n, d.s.why);
    walk_free(&d.w);
}

int main(void)
{
    char small[] = "/tmp/clippie-walk-XXXXXX", deep[] = "/tmp/clippie-walk-XXXXXX";
    CHECK(mkdtemp(small) && mkdtemp(deep), "no temporary folders");
    test_order(small);
    test_deep(deep);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", small, deep);
    CHECK(system(cmd) == 0, "cannot remove %s and %s", small, deep);
    return check_done("test_walk");
}
