#include "textenc.h"

#include "blas.h"

#include <stdlib.h>
#include <string.h>

struct textenc_lane {
    const struct weights *w;
    struct transformer *t;
    float *x;                  /* [max_rows, Wt] residual stream, texts packed */
    float *pooled;             /* [max_rows, Wt]: the last block's end-of-text rows */
    size_t *eot;               /* [max_rows]: row of each text's pooled token */
    int *seq;                  /* [max_rows]: rows of each text (SigLIP: the context, padded) */
    const int32_t *const *ids; /* this lane's share of a textenc_encode call */
    const int *lens;
    float *out;
    int n;
};

struct textenc {
    const struct weights *w;
    int max_rows; /* tokens a lane holds: its share of max_batch full-length texts */
    int nlanes;
    struct textenc_lane *lanes; /* [nlanes] */
};

/* The floats of the largest half-precision matrix of the text tower (the
 * token embedding is read a row at a time, never expanded whole). */
static size_t text_matrix_floats(const struct weights *w)
{
    const struct weights_config *c = &w->cfg;
    size_t most = transformer_expand_need(&w->text_projection, (size_t)c->text_width * c->embed_dim, 0);
    for (uint32_t l = 0; l < c->text_layers; l++)
        most = transformer_block_need(&w->text_blocks[l], (int)c->text_width, (int)c->text_mlp, most);
    return most;
}

static int lane_open(struct textenc_lane *l, const struct weights *w, int max_rows, char *err)
{
    const struct weights_config *c = &w->cfg;
    int W = (int)c->text_width;
    l->w = w;
    l->x = malloc((size_t)max_rows * W * sizeof(float));
    l->pooled = malloc((size_t)max_rows * W * sizeof(float));
    l->eot = malloc((size_t)max_rows * sizeof *l->eot);
    l->seq = malloc((size_t)max_rows * sizeof *l->seq);
    if (!l->x || !l->pooled || !l->eot || !l->seq)
        return error(err, "out of memory for the text encoder");
    uint32_t act = c->family == WEIGHTS_SIGLIP ? c->text_activation : c->activation;
    struct transformer_opts o = {.width = (int)W, .heads = (int)c->text_heads, .mlp = (int)c->text_mlp,
                                 .max_rows = max_rows, .max_seq = (int)c->context_length,
                                 .activation = (enum weights_activation)act, .eps = c->ln_eps,
                                 .threads = 1, .expand_floats = text_matrix_floats(w)};
    l->t = transformer_open(&o, err);
    return l->t ? 0 : -1;
}

static void lane_close(struct textenc_lane *l)
{
    transformer_close(l->t);
    free(l->x);
    free(l->pooled);
    free(l->eot);
    free(l->seq);
}

/* Every text reads every matrix but the token embedding. */
static void *populate_text(void *arg)
{
    const struct textenc *e = arg;
    const struct weights_config *c = &e->w->cfg;
    for (uint32_t l = 0; l < c->text_layers; l++)
        transformer_populate_block(&e->w->text_blocks[l], (int)c->text_width, (int)c->text_mlp);
    transformer_populate(&e->w->text_projection, (size_t)c->text_width * c->embed_dim);
    return NULL;
}

struct textenc *textenc_open(const struct weights *w, int max_batch, int threads, char *err)
{
    threads = util_threads(threads);
    struct textenc *e = calloc(1, sizeof *e);
    if (!e || !(e->lanes = calloc((size_t)threads, sizeof *e->lanes))) {
        free(e);
        error(err, "out of memory for the text encoder");
        return NULL;
    }
    e->w = w;
    e->nlanes = threads;
    /* the weights mapped in while the lanes open, the first loading the
     * BLAS: milliseconds each, of which the two sharing the time save some
     * (1.5 ms of a one-off caption on a 2-core VM: both wait on the
     * kernel's lock of the address space) */
    struct util_job populate;
    util_job_start(&populate, populate_text, e);
    /* every lane holds at least one full-length text */
    e->max_rows = (max_batch + threads - 1) / threads * (int)w->cfg.context_length;
    int opened = 0;
    while (opened < threads && lane_open(&e->lanes[opened], w, e->max_rows, err) == 0)
        opened++;
    util_job_wait(&populate);
    if (opened < threads) {
        textenc_close(e);
        return NULL;
    }
    return e;
}

void textenc_close(struct textenc *e)
{
    if (!e)
        return;
    for (int i = 0; e->lanes && i < e->nlanes; i++)
        lane_close(&e->lanes[i]);
    free(e->lanes);
    free(e);
}

/* Rows a text of len ids takes: CLIP's stop at its end token (the causal
 * mask makes padding irrelevant); SigLIP's run to the context's end,
 * padded, since every position sees every other. */
static int rows_of(const struct weights_config *c, int len)
{
    return c->family == WEIGHTS_SIGLIP ? (int)c->context_length : len;
}

/* The lane's texts, whose tokens fit its max_rows, packed one after
 * another, through the tower. */
static void *lane_encode(void *arg)
{
    struct textenc_lane *l = arg;
    const struct weights *w = l->w;
    const struct weights_config *c = &w->cfg;
    int n = l->n, W = (int)c->text_width, E = (int)c->embed_dim, siglip = c->family == WEIGHTS_SIGLIP;
    size_t row = 0;
    for (int i = 0; i < n; i++) {
        l->seq[i] = rows_of(c, l->lens[i]);
        for (int p = 0; p < l->seq[i]; p++, row++) {
            float *x = l->x + row * W;
            const float *pos = w->positional_embedding + (size_t)p * W;
            int32_t id = p < l->lens[i] ? l->ids[i][p] : (int32_t)c->pad_id;
            transformer_to_float(x, &w->token_embedding, (size_t)id * W, (size_t)W);
            for (int k = 0; k < W; k++)
                x[k] += pos[k];
        }
        /* CLIP reads its end token, its last id; SigLIP the context's last position */
        l->eot[i] = row - (size_t)l->seq[i] + (size_t)(siglip && c->text_pool == WEIGHTS_POOL_LAST ? l->seq[i] : l->lens[i]) - 1;
    }
    int causal = siglip ? (int)c->text_causal : 1;
    uint32_t last = c->text_layers - 1;
    for (uint32_t b = 0; b < last; b++)
        transformer_block(l->t, &w->text_blocks[b], l->x, n, l->seq, causal);
    transformer_block_pick(l->t, &w->text_blocks[last], l->x, n, l->seq, causal, l->eot, l->pooled);
    if (!siglip) {
        transformer_project(l->t, l->out, l->pooled, n, w->ln_final_weight, w->ln_final_bias, &w->text_projection, W, E);
        return NULL;
    }
    transformer_layernorm(l->pooled, l->pooled, w->ln_final_weight, w->ln_final_bias, n, W, c->ln_eps);
    /* out[n, E] = pooled[n, W] @ proj[E, W]^T + bias: a Linear */
    transformer_linear(l->t, l->out, l->pooled, &w->text_projection, w->text_projection_bias, n, W, E, 0);
    return NULL;
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
    /* rounds of as many texts as the lanes' scratch holds (long matrix
     * products are the efficient ones), shared out by tokens; a text that
     * would overfill its lane waits for the next round */
    for (int i = 0; i < count;) {
        int rows = 0, lanes = 0;
        for (int j = i; j < count && rows + rows_of(c, lens[j]) <= e->max_rows * e->nlanes; j++)
            rows += rows_of(c, lens[j]);
        int share = (rows + e->nlanes - 1) / e->nlanes;
        for (; lanes < e->nlanes && i < count; lanes++) {
            struct textenc_lane *l = &e->lanes[lanes];
            l->ids = ids + i;
            l->lens = lens + i;
            l->out = out + (size_t)i * c->embed_dim;
            l->n = 0;
            for (int lr = 0; i < count && lr < share && lr + rows_of(c, lens[i]) <= e->max_rows; lr += rows_of(c, lens[i++]))
                l->n++;
        }
        /* the BLAS runs one thread under the lanes, under a text alone of
         * few rows (which skip it) and under one whose products share out
         * their columns themselves */
        blas_threads(lanes > 1 || rows <= TRANSFORMER_FEW_ROWS || transformer_shares() ? 1 : 0);
        transformer_set_threads(e->lanes[0].t, lanes > 1 ? 1 : e->nlanes);
        util_parallel(lane_encode, e->lanes, sizeof *e->lanes, lanes);
    }
    return 0;
}
