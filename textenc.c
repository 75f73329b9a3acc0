#include "textenc.h"

#include <stdlib.h>
#include <string.h>

struct textenc *textenc_open(const struct weights *w, int max_batch, char *err)
{
    struct textenc *e = calloc(1, sizeof *e);
    if (!e)
        goto oom;
    const struct weights_config *c = &w->cfg;
    int C = (int)c->context_length, W = (int)c->text_width;
    e->w = w;
    e->max_batch = max_batch;
    e->x = malloc((size_t)max_batch * C * W * sizeof(float));
    e->pooled = malloc((size_t)max_batch * W * sizeof(float));
    if (!e->x || !e->pooled)
        goto oom;
    if (!(e->t = transformer_open(W, max_batch * C, C, (enum weights_activation)c->activation, err)))
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
    free(e);
}

/* Encodes texts [0, n) of the arguments, n <= max_batch. */
static void encode_batch(struct textenc *e, const int32_t *const *ids, const int *lens, int n, float *out)
{
    const struct weights *w = e->w;
    int W = (int)w->cfg.text_width, E = (int)w->cfg.embed_dim, seq = 0;
    for (int i = 0; i < n; i++)
        seq = lens[i] > seq ? lens[i] : seq;
    /* shorter texts are padded with copies of token 0: the mask keeps their
     * real positions from ever seeing the padding */
    for (int i = 0; i < n; i++)
        for (int p = 0; p < seq; p++) {
            int32_t id = p < lens[i] ? ids[i][p] : 0;
            float *x = e->x + ((size_t)i * seq + p) * W;
            const float *tok = w->token_embedding + (size_t)id * W, *pos = w->positional_embedding + (size_t)p * W;
            for (int k = 0; k < W; k++)
                x[k] = tok[k] + pos[k];
        }
    for (uint32_t l = 0; l < w->cfg.text_layers; l++)
        transformer_block(e->t, &w->text_blocks[l], e->x, n, seq, 1);
    size_t eot[n]; /* n <= max_batch */
    for (int i = 0; i < n; i++)
        eot[i] = (size_t)i * seq + lens[i] - 1;
    transformer_project(out, e->pooled, e->x, eot, n, w->ln_final_weight, w->ln_final_bias, w->text_projection, W, E);
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
    for (int i = 0; i < count; i += e->max_batch) {
        int n = count - i < e->max_batch ? count - i : e->max_batch;
        encode_batch(e, ids + i, lens + i, n, out + (size_t)i * c->embed_dim);
    }
    return 0;
}
