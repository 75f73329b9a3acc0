/* transformer.h - what both towers share: LayerNorm and the residual block.
 *
 *     struct transformer *t = transformer_open(W, max_rows, max_seq, WEIGHTS_QUICK_GELU, err);
 *     // x: [rows, W], nseq sequences one after another, lens[i] rows each
 *     for (int l = 0; l < layers; l++)
 *         transformer_block(t, &blocks[l], x, nseq, lens, causal);
 *     transformer_close(t);
 *
 * A transformer owns scratch buffers sized once for max_rows rows of width W
 * and sequences up to max_seq long: no allocation happens per call.
 */
#ifndef TRANSFORMER_H
#define TRANSFORMER_H

#include "util.h"
#include "weights.h"

struct transformer {
    int width, heads, max_rows, max_seq;
    enum weights_activation activation;
    float *ln;     /* [max_rows, W]: LayerNorm output, then attention output */
    float *qkv;    /* [max_rows, 3W] */
    float *hidden; /* [max_rows, 4W] */
    float *scores; /* [heads, max_seq, max_seq] */
};

struct transformer *transformer_open(int width, int max_rows, int max_seq, enum weights_activation act, char *err);
void transformer_close(struct transformer *t);

/* out[r] = LayerNorm(x[r]) * weight + bias for rows r, eps 1e-5; out may be x. */
void transformer_layernorm(float *out, const float *x, const float *weight, const float *bias, int rows, int width);

/* x += attention(ln_1(x)); x += mlp(ln_2(x)), for nseq independent sequences
 * stored one after another, lens[i] rows each (together at most max_rows,
 * each at most max_seq); causal: position i attends to 0..i only. Sequences
 * of different lengths need no padding: only attention sees the boundaries. */
void transformer_block(struct transformer *t, const struct weights_block *b, float *x, int nseq, const int *lens,
                       int causal);

/* y[rows, out] = x[rows, in] @ weight^T + bias: a Linear layer, weight [out, in];
 * with residual set, the result is added to y instead. */
void transformer_linear(float *y, const float *x, const float *weight, const float *bias, int rows, int in, int out,
                        int residual);

/* Each tower's head: out[i] = LayerNorm(x[rows[i]]) @ proj for i < n, with
 * proj [W, E]; pooled [n, W] is scratch. */
void transformer_project(float *out, float *pooled, const float *x, const size_t *rows, int n, const float *ln_weight,
                         const float *ln_bias, const float *proj, int width, int embed);

#endif
