#include "textenc.h"

#include <stdlib.h>
#include <string.h>

struct textenc *textenc_open(const struct weights *w, int max_batch, int threads, char *err)
{
    struct textenc *e = calloc(1, sizeof *e);
    if (!e)
        goto oom;
    const struct weights_config *c = &w->cfg;
    int C = (int)c->context_length, W = (int)c->text_width;
    e->w = w;
    e->max_rows = max_batch * C;
    /* every text has at least one token, so a batch holds at most max_rows */
    e->x = malloc((size_t)e->max_rows * W * sizeof(float));
    e->pooled = malloc((size_t)e->max_rows * W * sizeof(float));
    e->eot = malloc((size_t)e->max_rows * sizeof *e->eot);
    if (!e->x || !e->pooled || !e->eot)
        goto oom;
    if (!(e->t = transformer_open(W, e->max_rows, C, (enum weights_activation)c->activation, threads, 0, err)))
        goto fail;
    return e;
oom:
    error(err, "out of memory for the text encoder");
fail:
    textenc_close(e);
    return NULL;
}

void textenc_close(struct textenc *e)
{
    if (!e)
        return;
    transformer_close(e->t);
    free(e->x);
    free(e->pooled);
    free(e->eot);
    free(e);
}

/* Encodes texts [0, n) of the arguments, whose tokens fit max_rows. They
 * are packed one after another, without padding. */
static void encode_batch(struct textenc *e, const int32_t *const *ids, const int *lens, int n, float *out)
{
    const struct weights *w = e->w;
    int W = (int)w->cfg.text_width, E = (int)w->cfg.embed_dim;
    size_t row = 0;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < lens[i]; p++, row++) {
            float *x = e->x + row * W;
            const float *tok = w->token_embedding + (size_t)ids[i][p] * W, *pos = w->positional_embedding + (size_t)p * W;
            for (int k = 0; k < W; k++)
                x[k] = tok[k] + pos[k];
        }
    /* each text's vector is read at its end-of-text token, its last */
    row = 0;
    for (int i = 0; i < n; i++) {
        row += (size_t)lens[i];
        e->eot[i] = row - 1;
    }
    uint32_t last = w->cfg.text_layers - 1;
    for (uint32_t l = 0; l < last; l++)
        transformer_block(e->t, &w->text_blocks[l], e->x, n, lens, 1);
    transformer_block_pick(e->t, &w->text_blocks[last], e->x, n, lens, 1, e->eot, e->pooled);
    transformer_project(out, e->pooled, n, w->ln_final_weight, w->ln_final_bias, w->text_projection, W, E);
}

int textenc_encode(struct textenc *e, const int32_t *const *ids, const int *lens, int count, float *out, char *err)
{
    const struct weights_config *c = &e->w->cfg;
    for (int i = 0; i < count; i++) {
        if (lens[i] < 1 || lens[i] > (int)c->context_length)
            return error(err, "text %d has %d tokens, the model takes 1 to %u", i + 1, lens[i], c->context_length);
        for (int p = 0; p < lens[i]; p++)
            if (ids[i][p] < 0 || (uint32_t)ids[i][p] >= c->vocab_size)
                return error(err, "text %d: token id %d is outside the model's vocabulary of %u", i + 1, ids[i][p],
                             c->vocab_size);
    }
    /* as many texts at a time as their tokens fit the scratch: long matrix
     * products are the efficient ones */
    for (int i = 0; i < count;) {
        int n = 0, rows = 0;
        while (i + n < count && rows + lens[i + n] <= e->max_rows)
            rows += lens[i + n++];
        encode_batch(e, ids + i, lens + i, n, out + (size_t)i * c->embed_dim);
        i += n;
    }
    return 0;
}
