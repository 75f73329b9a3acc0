/* libFuzzer target: a safetensors file's bytes through the header parser;
 * whatever it accepts must tile the file's data exactly, each range
 * agreeing with its dtype and shape. */
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ERR_LEN];
    struct safetensors *s = safetensors_parse(data, size, size, err);
    if (!s)
        return 0;
    uint64_t at = s->data_start;
    for (size_t k = 0; k < s->ntensors; k++) {
        const struct safetensors_tensor *t = &s->tensors[k];
        uint64_t bytes = t->elem;
        for (int d = 0; d < t->ndim; d++)
            bytes *= t->shape[d];
        if (t->begin != at || t->end - t->begin != bytes || !t->name || !t->dtype ||
            safetensors_find(s, t->name) == NULL)
            abort();
        at = t->end;
    }
    if (at != size)
        abort();
    safetensors_close(s);
    return 0;
}
