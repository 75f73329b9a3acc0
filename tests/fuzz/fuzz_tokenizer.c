/* libFuzzer target: the tokenizer on arbitrary bytes (not only UTF-8); and
 * the mojibake repair alone on the bytes read as Windows-1252 (C1 controls
 * where it has holes), which makes garbled text far likelier than UTF-8
 * does: the repair must not lengthen the text nor make a code point that
 * is not one. Also SigLIP's cleaning on the bytes, and input starting with
 * '{' read as a tokenizer.json (spm_build), whose tables, when accepted,
 * then encode a few texts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codepages.h"
#include "spm.h"
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

/* A tokenizer.json: refused cleanly, or tables that encode within the vocabulary. */
static void tokenizer_json(const uint8_t *data, size_t size)
{
    struct spm_build b;
    char err[ERR_LEN];
    if (spm_build((const char *)data, size, &b, err) < 0)
        return;
    static const char *const texts[] = {"", "a", "a dog on a beach", "\xe2\x96\x81\xe2\x96\x81 x", "\xf0\x9f\xa6\x84 \xe6\x97\xa5"};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        int32_t *ids;
        size_t n;
        if (spm_encode(&b.t, texts[k], strlen(texts[k]), &ids, &n, err) == 0) {
            for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || (uint32_t)ids[i] >= b.t.vocab)
                    abort();
            free(ids);
        }
    }
    spm_build_free(&b);
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
    char *clean;
    size_t len;
    if (tokenizer_canonicalize(t, (const char *)data, size, &clean, &len, &replaced, err) == 0) {
        if (strlen(clean) > len || len > 4 * size)
            abort();
        free(clean);
    }
    if (size && data[0] == '{')
        tokenizer_json(data, size);
    return 0;
}
