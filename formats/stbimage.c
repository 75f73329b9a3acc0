/* stb_image built in, with only the formats clippie documents; see stbimage.h. */
#include "stbimage.h"

#include <limits.h>
#include <stdlib.h>

#include "util.h"

/* the largest single allocation the decoder may make, set per call, and
 * whether it asked for more */
static _Thread_local size_t alloc_limit;
static _Thread_local int over_limit;

static void *limited_malloc(size_t n) { return n <= alloc_limit ? malloc(n) : (over_limit = 1, NULL); }
static void *limited_realloc(void *p, size_t n) { return n <= alloc_limit ? realloc(p, n) : (over_limit = 1, NULL); }

#define STBI_MALLOC(n) limited_malloc(n)
#define STBI_REALLOC(p, n) limited_realloc(p, n)
#define STBI_FREE(p) free(p)

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC /* no stbi_ symbol leaves this file */
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_MAX_DIMENSIONS STBIMAGE_MAX_SIDE

/* third-party code: its warnings under our -Wextra -Wshadow are not ours to
 * fix; those found after inlining point into the function below, hence no pop */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <stb/stb_image.h>

/* grey16: 16-bit samples, one channel; want: channels, 0 for the file's */
static unsigned char *decode(const unsigned char *buf, size_t len, size_t max_alloc, int want, int *w, int *h,
                             int *c, int grey16, char *err)
{
    if (len > INT_MAX) {
        error(err, "file of %zu bytes too large to decode", len);
        return NULL;
    }
    alloc_limit = max_alloc;
    over_limit = 0;
    unsigned char *px = grey16 ? (unsigned char *)stbi_load_16_from_memory(buf, (int)len, w, h, c, want)
                               : stbi_load_from_memory(buf, (int)len, w, h, c, want);
    if (want) /* stb_image tells the file's channels, not those it made */
        *c = want;
    if (!px && over_limit)
        error(err, "cannot decode: the data would take over %zu bytes (more than its header says)", max_alloc);
    else if (!px)
        error(err, "cannot decode: %s", stbi_failure_reason());
    return px;
}

unsigned char *stbimage_decode(const unsigned char *buf, size_t len, size_t max_alloc, int want, int *w, int *h,
                               int *c, char *err)
{
    return decode(buf, len, max_alloc, want, w, h, c, 0, err);
}

unsigned char *stbimage_decode16(const unsigned char *buf, size_t len, size_t max_alloc, int *w, int *h, char *err)
{
    int c;
    return decode(buf, len, max_alloc, 1, w, h, &c, 1, err);
}
