#include "util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int error(char *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int util_grow(void *pp, size_t *cap, size_t need, size_t elem, size_t limit)
{
    void **p = pp;
    if (need <= *cap)
        return 0;
    if (need > limit)
        return -1;
    size_t c = *cap ? *cap : 16, bytes;
    while (c < need)
        c *= 2;
    if (c > limit)
        c = limit;
    if (size_mul(c, elem, &bytes) < 0)
        return -1;
    void *q = realloc(*p, bytes);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

#define HUGE_PAGE ((size_t)2 << 20)

void *util_scratch(size_t n)
{
    size_t rounded;
    if (n == 0 || size_add(n, HUGE_PAGE - 1, &rounded) < 0)
        return NULL;
    rounded -= rounded % HUGE_PAGE;
    void *p = aligned_alloc(HUGE_PAGE, rounded);
    if (p) /* advice only: refused, the pages are small ones */
        madvise(p, rounded, MADV_HUGEPAGE);
    return p;
}

void util_parallel(void *(*fn)(void *), void *args, size_t size, int n)
{
    pthread_t th[UTIL_MAX_THREADS];
    int started[UTIL_MAX_THREADS] = {0};
    char *a = args;
    for (int i = 1; i < n; i++)
        started[i] = pthread_create(&th[i], NULL, fn, a + i * size) == 0;
    for (int i = 0; i < n; i++)
        if (!started[i])
            fn(a + i * size);
    for (int i = 1; i < n; i++)
        if (started[i])
            pthread_join(th[i], NULL);
}
