/* texts.c - texts to vectors in batches, for embed-text and similarity:
 * tokenized, cut to the model's context with a warning, encoded. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define TEXT_FULL_LENGTH 32 /* full-length texts the encoder's scratch holds */

void cli_texts_close(struct cli_texts *m)
{
    for (int k = 0; k < m->n; k++)
        free(m->ids[k]);
    tokenizer_close(m->tok);
    textenc_close(m->enc);
    free(m->vec);
}

int cli_texts_open(struct cli_texts *m, struct weights *w)
{
    char err[ERR_LEN];
    *m = (struct cli_texts){.w = w};
    if (!(m->vec = malloc((size_t)CLI_TEXT_BATCH * w->cfg.embed_dim * sizeof *m->vec)))
        return cli_texts_close(m), cli_fail(EXIT_FAILED, "out of memory");
    if (!(m->tok = tokenizer_open(err)) || !(m->enc = textenc_open(w, TEXT_FULL_LENGTH, cli_cores(), err)))
        return cli_texts_close(m), cli_fail(EXIT_FAILED, "%s", err);
    return 0;
}

/* Tokenizes text number `index` into the batch, cutting it to the context
 * length with a warning. */
int cli_texts_add(struct cli_texts *m, const char *text, int index)
{
    char err[ERR_LEN];
    size_t replaced, len = strlen(text);
    /* only the first 77 tokens count: a text over the tokenizer's limit is
     * read up to a space within it, and is then cut below like any other */
    if (len > TOKENIZER_MAX_BYTES) {
        len = TOKENIZER_MAX_BYTES;
        while (len > 0 && text[len] != ' ')
            len--;
        len = len ? len : TOKENIZER_MAX_BYTES;
    }
    const struct weights_config *c = &m->w->cfg;
    int siglip = c->family == WEIGHTS_SIGLIP;
    /* SigLIP's whole text, then cut below as transformers cuts it (the first
     * context - 1 ids, then the end token) */
    int n = siglip ? tokenizer_encode_spm(m->tok, &m->w->tokenizer, (int32_t)c->eos_id, UINT32_MAX, text, len,
                                          &m->ids[m->n], &replaced, err)
                   : tokenizer_encode(m->tok, text, len, &m->ids[m->n], &replaced, err);
    if (n < 0)
        return cli_fail(EXIT_FAILED, "text %d: %s", index, err);
    if (replaced)
        cli_warning("text %d: %zu invalid UTF-8 sequences read as U+FFFD", index, replaced);
    int C = (int)c->context_length;
    if (n > C) {
        cli_warning("text %d (\"%.40s%s\") has %d tokens, cut to the model's %d", index, text,
                strlen(text) > 40 ? "..." : "", n, C);
        m->ids[m->n][C - 1] = siglip ? (int32_t)c->eos_id : TOKENIZER_EOT;
        n = C;
    }
    m->lens[m->n++] = n;
    return 0;
}

/* Encodes the texts added into m->vec [n, E] and empties the batch. */
int cli_texts_run(struct cli_texts *m)
{
    char err[ERR_LEN];
    int rc = textenc_encode(m->enc, (const int32_t *const *)m->ids, m->lens, m->n, m->vec, err);
    for (int k = 0; k < m->n; k++) {
        free(m->ids[k]);
        m->ids[k] = NULL;
    }
    return rc < 0 ? cli_fail(EXIT_FAILED, "%s", err) : 0;
}
