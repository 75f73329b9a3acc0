/* libFuzzer target: vector files (.npy header, CSV, raw) and a search of
 * what they hold with a k taken from the input.
 *
 *     make fuzz-vecfile FUZZ_SECONDS=600
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"
#include "vecfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    /* the first byte: a raw file's dimension; the second: log2 of k */
    int dim = data[0] % 64 + 1;
    size_t k = (size_t)1 << (data[1] % 64);
    char err[ERR_LEN];
    struct vecfile *v = vecfile_parse(data + 2, size - 2, dim, err);
    if (!v)
        return 0;
    float *q = calloc((size_t)v->dim, sizeof *q);
    if (q) {
        q[0] = 1;
        size_t n;
        const struct vecfile *dbs[2] = {v, v};
        free(search_top_k(dbs, 2, q, k, 2, &n, err));
    }
    free(q);
    vecfile_close(v);
    return 0;
}
