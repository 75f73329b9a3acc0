/* libFuzzer target: the tokenizer on arbitrary bytes (not only UTF-8); and
 * the mojibake repair alone on the bytes read as Windows-1252 (C1 controls
 * where it has holes), which makes garbled text far likelier than UTF-8
 * does: the repair must not lengthen the text nor make a code point that
 * is not one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codepages.h"
#include "mojibake.h"
#include "tokenizer.h"

static void repair(const struct mojibake *m, const uint8_t *data, size_t size)
{
    uint32_t *text = malloc(size * sizeof *text + 1);
    char err[ERR_LEN];
    if (!text)
        return;
    for (size_t i = 0; i < size; i++) {
        uint32_t c = data[i] >= 0x80 ? codepages[0][data[i] - 0x80] : data[i];
        text[i] = c ? c : data[i];
    }
    size_t n = size;
    if (mojibake_fix(m, text, &n, err) < 0 || n > size)
        abort();
    for (size_t i = 0; i < n; i++)
        if (text[i] > 0x10ffff || (text[i] >= 0xd800 && text[i] <= 0xdfff))
            abort();
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tokenizer *t;
    static struct mojibake *m;
    char err[ERR_LEN];
    if (!t && !(t = tokenizer_open(err)))
        abort();
    if (!m && !(m = mojibake_open(err)))
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
    repair(m, data, size);
    return 0;
}
