/* check.h - the tests' assertion helper: CHECK(cond, fmt, ...) reports and
 * counts a failure and goes on; check_done() prints the plain closing line
 * "name: N passed, N failed" and gives the exit status. */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>
#include <string.h>

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

static inline int check_done(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
