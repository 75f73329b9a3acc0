/* libFuzzer target: the tokenizer on arbitrary bytes (not only UTF-8). */
#include <stdint.h>
#include <stdlib.h>

#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tokenizer *t;
    char err[ERR_LEN];
    if (!t && !(t = tokenizer_open(err)))
        abort();
    int32_t *ids;
    size_t replaced;
    int n = tokenizer_encode(t, (const char *)data, size, &ids, &replaced, err);
    if (n >= 0) {
        if (n < 2 || ids[0] != TOKENIZER_SOT || ids[n - 1] != TOKENIZER_EOT)
            abort();
        for (int k = 0; k < n; k++)
            if (ids[k] < 0 || ids[k] > TOKENIZER_EOT)
                abort();
        free(ids);
    }
    return 0;
}
