/* Makes a synthetic photo library for the index benchmarks: N empty files
 * named like photos (1,000 a folder) under DIR, and an index of them with
 * random unit vectors, bound to MODEL, as if `clippie index` had made it.
 *
 *     bench/mkindex MODEL.weights DIR INDEX N
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index.h"
#include "search.h"

/* SHA-256 of no bytes */
#define EMPTY_SHA256                                                                                                  \
    {0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,                   \
     0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55}

int main(int argc, char **argv)
{
    char err[ERR_LEN], path[PATH_MAX], root[PATH_MAX];
    if (argc != 5 || !realpath(argv[2], root)) {
        fprintf(stderr, "usage: mkindex MODEL DIR INDEX N (DIR must exist)\n");
        return 2;
    }
    size_t n = strtoull(argv[4], NULL, 10);
    struct weights *w = weights_open(argv[1], err);
    struct index *ix = w ? index_open(argv[3], INDEX_CREATE, err) : NULL;
    struct index_model m;
    if (!ix) {
        fprintf(stderr, "mkindex: %s\n", err);
        return 1;
    }
    index_model_of(w, argv[1], 1, 0, &m);
    char *roots[1] = {root};
    if (index_bind_model(ix, &m, err) < 0 || index_set_roots(ix, roots, 1, err) < 0) {
        fprintf(stderr, "mkindex: %s\n", err);
        return 1;
    }
    enum { BATCH = 10000 };
    struct walk_file *files = calloc(BATCH, sizeof *files);
    const struct walk_file **ptrs = calloc(BATCH, sizeof *ptrs);
    struct walk_facts *facts = calloc(BATCH, sizeof *facts);
    float *vecs = malloc((size_t)BATCH * m.dim * sizeof *vecs);
    srand(1);
    for (size_t done = 0; done < n;) {
        size_t b = n - done < BATCH ? n - done : BATCH;
        for (size_t i = 0; i < b; i++, done++) {
            snprintf(path, sizeof path, "%s/%03zu", root, done / 1000);
            mkdir(path, 0755);
            snprintf(path, sizeof path, "%s/%03zu/IMG_%06zu.jpg", root, done / 1000, done);
            int fd = open(path, O_WRONLY | O_CREAT, 0644);
            struct stat st;
            if (fd < 0 || fstat(fd, &st) < 0) {
                perror(path);
                return 1;
            }
            close(fd);
            free(files[i].path);
            files[i] = (struct walk_file){realpath(path, NULL), st.st_size,
                                          (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec, st.st_ino,
                                          st.st_dev, &facts[i]};
            /* what index_plan finds in an empty file: its hash, no EXIF date */
            facts[i] = (struct walk_facts){.date = st.st_mtim.tv_sec, .sha256 = EMPTY_SHA256, .hashed = 1, .known = 1};
            ptrs[i] = &files[i];
            float *v = vecs + i * (size_t)m.dim;
            for (int k = 0; k < m.dim; k++)
                v[k] = (float)rand() / RAND_MAX - 0.5f;
            search_unit(v, m.dim);
        }
        if (index_put(ix, ptrs, vecs, b, err) < 0) {
            fprintf(stderr, "mkindex: %s\n", err);
            return 1;
        }
    }
    if (index_refresh_cache(ix, err) < 0) {
        fprintf(stderr, "mkindex: %s\n", err);
        return 1;
    }
    index_close(ix);
    weights_close(w);
    return 0;
}
