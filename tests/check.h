/* check.h - the tests' assertion helper: CHECK(cond, fmt, ...) reports and
 * counts a failure and goes on; check_done() prints the plain closing line
 * "name: N passed, N failed" and gives the exit status. */
#ifndef CHECK_H
#define CHECK_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (cond)                                                                                                      \
            check_passed++;                                                                                            \
        else {                                                                                                         \
            check_failed++;                                                                                            \
            fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);                                                      \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
        }                                                                                                              \
    } while (0)

/* err contains want. */
#define CHECK_MSG(err, want) CHECK(strstr((err), (want)) != NULL, "message '%s' lacks '%s'", (err), (want))

/* The whole file at path, malloc'd (a NUL after its *len bytes), or NULL. */
static inline unsigned char *slurp(const char *path, size_t *len)
{
    unsigned char *buf = NULL;
    char err[ERR_LEN];
    return util_read_file(path, SIZE_MAX / 2, &buf, len, err) < 0 ? NULL : buf;
}

/* A test's scratch folder: scratch_open() makes it (mkdtemp), scratch(name)
 * names a file in it (four names at a time stay valid), scratch_close()
 * removes it and all it holds. */
static inline char *scratch_dir(void)
{
    static char dir[] = "/tmp/clippie-test-XXXXXX";
    return dir;
}

static inline int scratch_open(void)
{
    if (mkdtemp(scratch_dir()))
        return 0;
    perror("mkdtemp");
    return -1;
}

static inline const char *scratch(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", scratch_dir(), name);
    return buf[k];
}

static inline int scratch_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static inline void scratch_close(void)
{
    if (nftw(scratch_dir(), scratch_remove, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "could not remove %s\n", scratch_dir());
}

static inline int check_done(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
