/* transformer.h - what both towers share: LayerNorm and the residual block.
 *
 *     struct transformer_opts o = {.width = W, .heads = W / 64, .mlp = 4 * W, .max_rows = rows,
 *                                  .max_seq = seq, .activation = WEIGHTS_QUICK_GELU, .eps = 1e-5f,
 *                                  .threads = 2};
 *     struct transformer *t = transformer_open(&o, err);
 *     // x: [rows, W], nseq sequences one after another, lens[i] rows each
 *     for (int l = 0; l < layers - 1; l++)
 *         transformer_block(t, &blocks[l], x, nseq, lens, causal);
 *     transformer_block_pick(t, &blocks[layers - 1], x, nseq, lens, causal, rows, pooled);
 *     transformer_project(t, out, pooled, nseq, ln_weight, ln_bias, &proj, W, E);
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
    int width, heads, head_dim, mlp, max_rows, max_seq;
    int threads; /* for products of a few rows, which skip the BLAS, and for expanding
                    half-precision matrices for it: transformer_set_threads */
    enum weights_activation activation;
    float eps;     /* LayerNorm's */
    float *ln;     /* [max_rows, W]: LayerNorm output, then attention output */
    float *qkv;    /* [max_rows, 3W] */
    float *hidden; /* [max_rows, mlp] */
    float *scores; /* [heads, max_seq, max_seq] */
    float *wbuf;   /* [wbuf_floats]: a half-precision matrix expanded to float32 */
    size_t wbuf_floats;
    float *chunk;  /* [UTIL_MAX_THREADS, CHUNK_COLS, chunk_in]: a thread's columns expanded */
    int chunk_in;  /* the longest row a chunk holds: max(width, mlp) */
    float *xp;     /* [min(max_rows, 256), chunk_in]: a product's x packed for matmul */
};

struct transformer_opts {
    int width;    /* W: the residual stream's */
    int heads;    /* attention heads: W / heads is the head width */
    int mlp;      /* the MLP's hidden width (4W in OpenAI's models) */
    int max_rows; /* rows of all the sequences of one call together */
    int max_seq;  /* rows of one sequence */
    enum weights_activation activation;
    float eps;    /* LayerNorm's epsilon */
    int threads;  /* for products of a few rows and expansions (1 to UTIL_MAX_THREADS) */
    size_t expand_floats; /* the largest float16 or bfloat16 matrix the caller
                             will have expanded for the BLAS (0: none) */
    int huge_pages; /* scratch on huge pages (util_scratch), for callers
                       that fill all max_rows rows every time (the image
                       tower); a one-off text touches a few rows, where each
                       huge page would cost 2 MiB of zeroing at first touch */
};

/* Scratch for the shape o gives; NULL with err when out of memory or the
 * shape is not one the kernels take (W and mlp multiples of 8, heads
 * dividing W). */
struct transformer *transformer_open(const struct transformer_opts *o, char *err);
void transformer_close(struct transformer *t);

/* Threads for the products of a few rows and the expansions of half-
 * precision matrices from the next call on (1 to UTIL_MAX_THREADS): a text
 * or an image alone takes all the cores, a lane of a batch one. */
void transformer_set_threads(struct transformer *t, int n);

/* out[r] = LayerNorm(x[r]) * weight + bias for rows r; out may be x. */
void transformer_layernorm(float *out, const float *x, const float *weight, const float *bias, int rows, int width,
                           float eps);

/* With on set, the few-rows products and half-precision expansions take
 * the kernels built for any x86-64 even where the CPU has AVX2, FMA and
 * F16C: what a CPU without them gets (tests). Call it from one thread,
 * between products. */
void transformer_portable(int on);

/* Elements [first, first + n) of m as float32 into out, exactly. */
void transformer_to_float(float *out, const struct weights_tensor *m, size_t first, size_t n);

/* For sizing expand_floats: most, or n when m of n floats is half
 * precision and larger; and the same over a block's matrices. */
static inline size_t transformer_expand_need(const struct weights_tensor *m, size_t n, size_t most)
{
    return m->dtype != WEIGHTS_F32 && n > most ? n : most;
}
size_t transformer_block_need(const struct weights_block *b, int width, int mlp, size_t most);

/* Maps in a matrix's pages, and a block's four, before the forward pass
 * reads them (util_populate). */
void transformer_populate(const struct weights_tensor *m, size_t n);
void transformer_populate_block(const struct weights_block *b, int width, int mlp);

/* m's first n elements as float32: m's own data when it is float32, else
 * expanded into t's scratch (valid until the next call on t). */
const float *transformer_expand(struct transformer *t, const struct weights_tensor *m, size_t n);

/* x += attention(ln_1(x)); x += mlp(ln_2(x)), for nseq independent sequences
 * stored one after another, lens[i] rows each (together at most max_rows,
 * each at most max_seq); causal: position i attends to 0..i only. Sequences
 * of different lengths need no padding: only attention sees the boundaries. */
void transformer_block(struct transformer *t, const struct weights_block *b, float *x, int nseq, const int *lens,
                       int causal);

/* y[rows, out] = x[rows, in] @ weight[out, in]^T + bias: a Linear layer;
 * with residual set, the result is added to y instead. in a multiple of 8
 * and out even (few rows skip the BLAS: transformer_few_rows); else as
 * transformer_product. */
void transformer_linear(struct transformer *t, float *y, const float *x, const struct weights_tensor *weight,
                        const float *bias, int rows, int in, int out, int residual);

/* y[rows, out] += x[rows, in] @ weight[out, in]^T, the BLAS's sums whatever
 * the shape. Where transformer_shares(), products of a few hundred rows
 * share out their columns between t's threads: matmul's tiles, which read
 * half-precision weights as they are (matmul_exact), or else each thread
 * calling the BLAS on its columns; the BLAS should then run one thread
 * (blas_threads(1)). Other products are one, on the BLAS's threads where t
 * has more than one. rows up to max_rows when weight is half precision
 * (the larger products expand it into t's scratch, which expand_floats
 * must cover). */
void transformer_product(struct transformer *t, float *y, const float *x, const struct weights_tensor *weight,
                         int rows, int in, int out);

/* Whether transformer_product shares out columns: only where that gives
 * the bits of one BLAS product (matmul_exact, blas_splits_exact), so that
 * a vector never depends on how the work was split. */
int transformer_shares(void);

/* Products of up to this many rows skip the BLAS (transformer_few_rows). */
#define TRANSFORMER_FEW_ROWS 16

/* x[n] = act(x[n]): QuickGELU, GELU or GELU's tanh form (as torch computes each). */
void transformer_activate(float *x, size_t n, enum weights_activation act);

/* y[rows, out] += x[rows, in] @ w[out, in]^T without the BLAS, for the few
 * rows (up to 16) where packing w would cost OpenBLAS more than the product:
 * each weight is read once, and the columns are shared between threads
 * threads (the calling one among them) when the product is large enough
 * to pay for starting them. in a multiple of 8, out even. */
void transformer_few_rows(int threads, float *y, const float *x, const struct weights_tensor *w, int rows, int in,
                          int out);

/* A tower's last block, where only one row of each sequence counts (the
 * class token, the end-of-text token): it reads x like transformer_block
 * but writes just those rows, out[i] for x's row pick[i], and spares the
 * work of the others after attention. x is left as scratch. */
void transformer_block_pick(struct transformer *t, const struct weights_block *b, float *x, int nseq, const int *lens,
                            int causal, const size_t *pick, float *out);

/* Each tower's head: out[n, E] = LayerNorm(x[n, W]) @ proj[W, E], x
 * overwritten. */
void transformer_project(struct transformer *t, float *out, float *x, int n, const float *ln_weight,
                         const float *ln_bias, const struct weights_tensor *proj, int width, int embed);

#endif
