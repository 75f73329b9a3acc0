/* Past the f32 roof, the whole image tower: CLIP's ViT run here with the
 * four large products of every block (attention in_proj and out_proj, MLP
 * c_fc and c_proj) in bfloat16 with float32 accumulation, everything else
 * in float32 as clippie computes it (vit.c, model/transformer.c), against
 * clippie's own vit_encode in the same run: the batch rate (medians of
 * interleaved runs) and the cosine of each image vector to clippie's.
 * Two bf16 backends: oneDNN's matmul (Debian's libdnnl 2.6) and a kernel of
 * our own on vdpbf16ps (AVX512-BF16). A prototype for issue 29's --fast,
 * in bench/ only: nothing here is part of clippie.
 *
 *     bench/bf16tower [-p] [-r RUNS] [-b BATCH,...] [-k dnnl,own] MODEL.weights [IMAGE...]
 *
 * built by bench/bf16tower.sh. The batches are random pixels; images given
 * are preprocessed as clippie does (image_preprocess) and their vectors'
 * cosines reported beside the batch's.
 */
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blas.h"
#include "image.h"
#include "measure.h"
#include "transformer.h"
#include "vit.h"
#include "weights.h"

#define CHECK(call)                                                                                                    \
    do {                                                                                                               \
        dnnl_status_t s_ = (call);                                                                                     \
        if (s_ != dnnl_success) {                                                                                      \
            fprintf(stderr, "bf16tower: %s failed (%d)\n", #call, (int)s_);                                            \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

/* OpenBLAS's: the kernels it picked for this CPU (OPENBLAS_CORETYPE) */
extern char *openblas_get_corename(void) __attribute__((weak));

#define BF16 __attribute__((target("avx512f,avx512bw,avx512bf16")))

static void *must(void *p)
{
    if (!p) {
        fprintf(stderr, "bf16tower: out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- bfloat16 ---- */

/* out[n] = in[n] rounded to bfloat16, to nearest even (vcvtneps2bf16, as
 * util_float_to_bf16 but for subnormals, which it takes as zero). */
BF16 static void to_bf16(uint16_t *out, const float *in, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(out + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(in + i)));
    for (; i < n; i++)
        out[i] = util_float_to_bf16(in[i]);
}

/* m's [N, K] as bfloat16 [N, K], whatever m's dtype (float16 goes through
 * float32 exactly, then is rounded). malloc'd. */
static uint16_t *matrix_bf16(const struct weights_tensor *m, int N, int K)
{
    size_t n = (size_t)N * (size_t)K;
    float *f = must(malloc(n * sizeof *f));
    uint16_t *h = must(malloc(n * sizeof *h));
    transformer_to_float(f, m, 0, n);
    to_bf16(h, f, n);
    free(f);
    return h;
}

/* ---- our own kernel: y[M, N] += x[M, K] @ W[N, K]^T on vdpbf16ps ---- */

#define MR 12  /* rows of a tile: 2 x MR accumulators, two weight vectors and a broadcast in 32 registers */
#define NR 32  /* columns of a tile, of a packed panel */
#define KC 256 /* K of a block: a panel's share (NR x KC bf16, 16 KiB) stays in L1 across a row block */
#define MC 240 /* rows of a block: x's share (MC x KC bf16, 120 KiB) stays in L2 across the panels */

/* W [N, K] (K even) packed as panels of NR columns, each [K/2][NR][2]:
 * the pair (W[c][2k], W[c][2k+1]) of the panel's column c at [k][c], what
 * vdpbf16ps multiplies with a broadcast pair of x; columns past N are 0. */
static uint16_t *own_pack(const uint16_t *w, int N, int K)
{
    size_t panels = (size_t)(N + NR - 1) / NR;
    uint16_t *p = must(calloc(panels * (size_t)K * NR, sizeof *p));
    for (int c = 0; c < N; c++)
        for (int k = 0; k < K; k++)
            p[((size_t)(c / NR) * (size_t)(K / 2) + (size_t)(k / 2)) * 2 * NR + (size_t)(c % NR) * 2 + (size_t)(k % 2)] =
                w[(size_t)c * K + k];
    return p;
}

/* One tile: y[rows, NR] (cols of them stored) += a[rows, 2 kp] @ b's kp
 * pairs; rows a constant at each call site so that the accumulators stay
 * in registers. */
BF16 static inline __attribute__((always_inline)) void own_tile(float *y, int ldy, const uint16_t *a, int lda,
                                                                const uint16_t *b, int kp, int rows, __mmask16 m0,
                                                                __mmask16 m1)
{
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
    for (int r = 0; r < rows; r++) {
        c0[r] = _mm512_maskz_loadu_ps(m0, y + (size_t)r * ldy);
        c1[r] = _mm512_maskz_loadu_ps(m1, y + (size_t)r * ldy + 16);
    }
    for (int k = 0; k < kp; k++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + (size_t)k * 2 * NR);
        __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + (size_t)k * 2 * NR + NR);
#pragma GCC unroll 12
        for (int r = 0; r < rows; r++) {
            int32_t pair;
            memcpy(&pair, a + (size_t)r * lda + 2 * (size_t)k, sizeof pair);
            __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
            c0[r] = _mm512_dpbf16_ps(c0[r], av, b0);
            c1[r] = _mm512_dpbf16_ps(c1[r], av, b1);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < rows; r++) {
        _mm512_mask_storeu_ps(y + (size_t)r * ldy, m0, c0[r]);
        _mm512_mask_storeu_ps(y + (size_t)r * ldy + 16, m1, c1[r]);
    }
}

#define OWN_CASE(R)                                                                                                    \
    case R: own_tile(y, ldy, a, lda, b, kp, R, m0, m1); break

BF16 static void own_tile_any(float *y, int ldy, const uint16_t *a, int lda, const uint16_t *b, int kp, int rows,
                              int cols)
{
    __mmask16 m0 = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? 0xffff : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
    switch (rows) {
        OWN_CASE(1); OWN_CASE(2); OWN_CASE(3); OWN_CASE(4); OWN_CASE(5); OWN_CASE(6);
        OWN_CASE(7); OWN_CASE(8); OWN_CASE(9); OWN_CASE(10); OWN_CASE(11); OWN_CASE(12);
    }
}

/* y[M, N] += x[M, K] @ W^T, W packed by own_pack; one thread. Blocked as
 * GotoBLAS does: K blocks, row blocks, panels, tiles. */
static void own_product(float *y, const uint16_t *x, const uint16_t *packed, int M, int K, int N)
{
    int panels = (N + NR - 1) / NR;
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        for (int m0 = 0; m0 < M; m0 += MC) {
            int mc = M - m0 < MC ? M - m0 : MC;
            for (int p = 0; p < panels; p++) {
                const uint16_t *b = packed + ((size_t)p * (size_t)(K / 2) + (size_t)(k0 / 2)) * 2 * NR;
                int cols = N - p * NR < NR ? N - p * NR : NR;
                for (int m = m0; m < m0 + mc; m += MR)
                    own_tile_any(y + (size_t)m * N + (size_t)p * NR, N, x + (size_t)m * K + k0, K, b, kc / 2,
                                 m0 + mc - m < MR ? m0 + mc - m : MR, cols);
            }
        }
    }
}

/* ---- oneDNN's matmul ---- */

static dnnl_engine_t engine;

/* W [N, K] bf16 given to oneDNN as its transpose [K, N] (strides of W^T),
 * reordered once into the layout oneDNN's matmul picks for rows rows, as
 * a model's weights would be at load. */
static void *dnnl_pack(const uint16_t *w, int N, int K, int rows, dnnl_memory_desc_t *md)
{
    dnnl_memory_desc_t src_md, any_md, user_md, dst_md;
    dnnl_dims_t src_dims = {rows, K}, wei_dims = {K, N}, dst_dims = {rows, N};
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, 2, src_dims, dnnl_bf16, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&any_md, 2, wei_dims, dnnl_bf16, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&user_md, 2, wei_dims, dnnl_bf16, dnnl_ba));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 2, dst_dims, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t desc;
    CHECK(dnnl_matmul_desc_init(&desc, &src_md, &any_md, NULL, &dst_md));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL));
    *md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_desc_destroy(pd);
    void *packed = must(malloc(dnnl_memory_desc_get_size(md)));
    dnnl_memory_t from, to;
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t reorder;
    dnnl_stream_t stream;
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    CHECK(dnnl_memory_create(&from, &user_md, engine, (void *)w));
    CHECK(dnnl_memory_create(&to, md, engine, packed));
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, &user_md, engine, md, engine, NULL));
    CHECK(dnnl_primitive_create(&reorder, rpd));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    CHECK(dnnl_primitive_execute(reorder, stream, 2, args));
    CHECK(dnnl_stream_wait(stream));
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(from);
    dnnl_memory_destroy(to);
    dnnl_stream_destroy(stream);
    return packed;
}

/* A matmul of one shape, y[M, N] += x[M, K] @ W (the sum post-op adds
 * what y held: the bias, or the residual and the bias), with its memories
 * whose data handles are set at each call. */
struct dnnl_prim {
    int M, K, N;
    const void *wmd; /* the weights' layout it was made for */
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst;
};

static void dnnl_prim_open(struct dnnl_prim *p, int M, int K, int N, const dnnl_memory_desc_t *wmd)
{
    dnnl_memory_desc_t src_md, dst_md;
    dnnl_dims_t src_dims = {M, K}, dst_dims = {M, N};
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, 2, src_dims, dnnl_bf16, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 2, dst_dims, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t desc;
    CHECK(dnnl_matmul_desc_init(&desc, &src_md, wmd, NULL, &dst_md));
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    CHECK(dnnl_primitive_attr_create(&attr));
    CHECK(dnnl_post_ops_create(&po));
    CHECK(dnnl_post_ops_append_sum(po, 1.0f));
    CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL));
    const char *impl;
    CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, (void *)&impl));
    if (getenv("BF16TOWER_VERBOSE"))
        fprintf(stderr, "oneDNN matmul %dx%dx%d: %s\n", M, K, N, impl);
    CHECK(dnnl_primitive_create(&p->prim, pd));
    CHECK(dnnl_memory_create(&p->src, &src_md, engine, DNNL_MEMORY_NONE));
    CHECK(dnnl_memory_create(&p->wei, wmd, engine, DNNL_MEMORY_NONE));
    CHECK(dnnl_memory_create(&p->dst, &dst_md, engine, DNNL_MEMORY_NONE));
    dnnl_primitive_desc_destroy(pd);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    p->M = M, p->K = K, p->N = N, p->wmd = wmd;
}

static void dnnl_prim_close(struct dnnl_prim *p)
{
    dnnl_primitive_destroy(p->prim);
    dnnl_memory_destroy(p->src);
    dnnl_memory_destroy(p->wei);
    dnnl_memory_destroy(p->dst);
}

/* ---- the tower ---- */

enum backend { DNNL, OWN };
static const char *backend_names[] = {"oneDNN", "own vdpbf16ps"};

/* One Linear's weight [N, K] in a backend's form. */
struct mat16 {
    int N, K;
    void *packed;           /* own_pack's panels, or oneDNN's layout */
    dnnl_memory_desc_t md;  /* oneDNN: the layout */
};

struct block16 {
    struct mat16 in_proj, out_proj, c_fc, c_proj;
};

struct tower16;

#define MAX_PRIMS 32

struct lane16 {
    struct tower16 *tw;
    struct transformer *t; /* float32 scratch (ln, qkv, hidden, scores) and the head */
    float *patches, *emb, *x, *pooled;
    uint16_t *x16;         /* [max_rows, max(W, mlp)]: a product's x rounded */
    dnnl_stream_t stream;
    struct dnnl_prim prims[MAX_PRIMS];
    int nprims, threads;   /* threads: oneDNN's, for this lane's products */
    const float *pixels;
    float *out;
    int n;
};

struct tower16 {
    const struct weights *w;
    enum backend be;
    int nlanes, max_batch;
    struct block16 *blocks;
    struct lane16 *lanes;
};

static void mat16_open(struct mat16 *m, enum backend be, const struct weights_tensor *wt, int N, int K, int rows)
{
    uint16_t *h = matrix_bf16(wt, N, K);
    m->N = N, m->K = K;
    if (be == OWN)
        m->packed = own_pack(h, N, K);
    else
        m->packed = dnnl_pack(h, N, K, rows, &m->md);
    free(h);
}

/* The lane's matmul for this shape and weight layout, made on first use. */
static struct dnnl_prim *lane_prim(struct lane16 *l, int M, const struct mat16 *m)
{
    for (int i = 0; i < l->nprims; i++) {
        struct dnnl_prim *p = &l->prims[i];
        if (p->M == M && p->K == m->K && p->N == m->N && dnnl_memory_desc_equal(p->wmd, &m->md))
            return p;
    }
    if (l->nprims == MAX_PRIMS) {
        fprintf(stderr, "bf16tower: more than %d matmul shapes\n", MAX_PRIMS);
        exit(1);
    }
    dnnl_prim_open(&l->prims[l->nprims], M, m->K, m->N, &m->md);
    return &l->prims[l->nprims++];
}

/* y[rows, N] = x[rows, K] @ W[N, K]^T + bias (with residual: y +=), the
 * product in bf16 with float32 accumulation, as transformer_linear is in
 * float32. */
static void linear16(struct lane16 *l, float *y, const float *x, const struct mat16 *m, const float *bias, int rows,
                     int residual)
{
    int K = m->K, N = m->N;
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * N;
        if (residual)
            for (int i = 0; i < N; i++)
                yr[i] += bias[i];
        else
            memcpy(yr, bias, (size_t)N * sizeof(float));
    }
    to_bf16(l->x16, x, (size_t)rows * (size_t)K);
    if (l->tw->be == OWN) {
        own_product(y, l->x16, m->packed, rows, K, N);
        return;
    }
    struct dnnl_prim *p = lane_prim(l, rows, m);
    CHECK(dnnl_memory_set_data_handle(p->src, l->x16));
    CHECK(dnnl_memory_set_data_handle(p->wei, m->packed));
    CHECK(dnnl_memory_set_data_handle(p->dst, y));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, p->src}, {DNNL_ARG_WEIGHTS, p->wei}, {DNNL_ARG_DST, p->dst}};
    /* y[rows, N] += x16[rows, K] @ W^T[K, N] */
    CHECK(dnnl_primitive_execute(p->prim, l->stream, 3, args));
    CHECK(dnnl_stream_wait(l->stream));
}

/* Attention of one image's rows qkv [S, 3W], non-causal, for nq query rows
 * from row 0: out [nq, W]. The same float32 math as transformer.c's. */
static void attention(struct transformer *t, const float *qkv, int S, int nq, float *out)
{
    int W = t->width, D = t->head_dim;
    const float scale = 1.0f / sqrtf((float)D);
    for (int h = 0; h < t->heads; h++) {
        const float *q = qkv + h * D, *k = qkv + W + h * D, *v = k + W;
        float *s = t->scores + (size_t)h * S * S;
        /* s[nq, S] = q[nq, D] @ k[S, D]^T * scale */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, S, D, scale, q, 3 * W, k, 3 * W, 0.0f, s, S);
        for (int i = 0; i < nq; i++) {
            float *row = s + (size_t)i * S, max = row[0], sum = 0;
            for (int j = 1; j < S; j++)
                max = row[j] > max ? row[j] : max;
            for (int j = 0; j < S; j++)
                sum += row[j] = expf(row[j] - max);
            for (int j = 0; j < S; j++)
                row[j] /= sum;
        }
        /* out[nq, D] (head h's columns) = s[nq, S] @ v[S, D] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, D, S, 1.0f, s, S, v, 3 * W, 0.0f, out + h * D, W);
    }
}

/* x += attention(ln_1(x)); x += mlp(ln_2(x)) for n images of S rows in x;
 * with out, only each image's class token (its row 0) goes on past
 * attention, into out [n, W]. */
static void block16(struct lane16 *l, const struct weights_block *b, const struct block16 *m, float *x, int n,
                    int S, float *out)
{
    struct transformer *t = l->t;
    int W = t->width, rows = n * S;
    transformer_layernorm(t->ln, x, b->ln_1_weight, b->ln_1_bias, rows, W, t->eps);
    linear16(l, t->qkv, t->ln, &m->in_proj, b->in_proj_bias, rows, 0); /* qkv[rows, 3W] */
    for (int i = 0; i < n; i++)
        attention(t, t->qkv + (size_t)i * S * 3 * W, S, out ? 1 : S, t->ln + (size_t)i * (out ? 1 : S) * W);
    if (out) {
        for (int i = 0; i < n; i++)
            memcpy(out + (size_t)i * W, x + (size_t)i * S * W, (size_t)W * sizeof(float));
        x = out;
        rows = n;
    }
    linear16(l, x, t->ln, &m->out_proj, b->out_proj_bias, rows, 1); /* x[rows, W] += */
    transformer_layernorm(t->ln, x, b->ln_2_weight, b->ln_2_bias, rows, W, t->eps);
    linear16(l, t->hidden, t->ln, &m->c_fc, b->c_fc_bias, rows, 0); /* hidden[rows, mlp] */
    transformer_activate(t->hidden, (size_t)rows * (size_t)t->mlp, t->activation);
    linear16(l, x, t->hidden, &m->c_proj, b->c_proj_bias, rows, 1); /* x[rows, W] += */
}

/* The lane's images through the tower: vit.c's lane_encode (CLIP) with
 * block16 for transformer_block. */
static void *lane_encode(void *arg)
{
    struct lane16 *l = arg;
    const struct weights *w = l->tw->w;
    int n = l->n, G = (int)w->cfg.vision_grid, P = (int)w->cfg.vision_patch, W = (int)w->cfg.vision_width,
        E = (int)w->cfg.embed_dim, R = G * P, S = G * G + 1, K = 3 * P * P;
    omp_set_num_threads(l->threads);
    for (int i = 0; i < n; i++)
        for (int gy = 0; gy < G; gy++)
            for (int gx = 0; gx < G; gx++) {
                float *row = l->patches + ((size_t)(i * G + gy) * G + gx) * K;
                for (int ch = 0; ch < 3; ch++)
                    for (int py = 0; py < P; py++)
                        memcpy(row + (ch * P + py) * P, l->pixels + (((size_t)i * 3 + ch) * R + gy * P + py) * R + gx * P,
                               (size_t)P * sizeof(float));
            }
    /* emb[n*G*G, W] = patches[n*G*G, 3PP] @ conv1[W, 3PP]^T, in float32 */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n * G * G, W, K, 1.0f, l->patches, K,
                transformer_expand(l->t, &w->conv1_weight, (size_t)W * K), K, 0.0f, l->emb, W);
    for (int i = 0; i < n; i++) {
        float *x = l->x + (size_t)i * S * W;
        const float *pos = w->visual_positional_embedding, *emb = l->emb + (size_t)i * G * G * W;
        for (int k = 0; k < W; k++)
            x[k] = w->class_embedding[k] + pos[k];
        for (size_t k = W; k < (size_t)S * W; k++)
            x[k] = emb[k - W] + pos[k];
    }
    transformer_layernorm(l->x, l->x, w->ln_pre_weight, w->ln_pre_bias, n * S, W, w->cfg.ln_eps);
    uint32_t last = w->cfg.vision_layers - 1;
    for (uint32_t b = 0; b < last; b++)
        block16(l, &w->visual_blocks[b], &l->tw->blocks[b], l->x, n, S, NULL);
    block16(l, &w->visual_blocks[last], &l->tw->blocks[last], l->x, n, S, l->pooled);
    transformer_project(l->t, l->out, l->pooled, n, w->ln_post_weight, w->ln_post_bias, &w->visual_proj, W, E);
    return NULL;
}

static struct tower16 *tower16_open(const struct weights *w, enum backend be, int max_batch, int nlanes)
{
    const struct weights_config *c = &w->cfg;
    int W = (int)c->vision_width, M = (int)c->vision_mlp, S = (int)(c->vision_grid * c->vision_grid) + 1;
    int per_lane = (max_batch + nlanes - 1) / nlanes;
    size_t G2 = (size_t)c->vision_grid * c->vision_grid, P = c->vision_patch, wide = (size_t)(M > 3 * W ? M : 3 * W);
    struct tower16 *tw = must(calloc(1, sizeof *tw));
    *tw = (struct tower16){w, be, nlanes, max_batch, must(calloc(c->vision_layers, sizeof *tw->blocks)),
                           must(calloc((size_t)nlanes, sizeof *tw->lanes))};
    for (uint32_t b = 0; b < c->vision_layers; b++) {
        const struct weights_block *wb = &w->visual_blocks[b];
        struct block16 *m = &tw->blocks[b];
        mat16_open(&m->in_proj, be, &wb->in_proj_weight, 3 * W, W, per_lane * S);
        mat16_open(&m->out_proj, be, &wb->out_proj_weight, W, W, per_lane * S);
        mat16_open(&m->c_fc, be, &wb->c_fc_weight, M, W, per_lane * S);
        mat16_open(&m->c_proj, be, &wb->c_proj_weight, W, M, per_lane * S);
    }
    size_t expand = transformer_expand_need(&w->conv1_weight, (size_t)W * 3 * P * P, 0);
    expand = transformer_expand_need(&w->visual_proj, (size_t)W * c->embed_dim, expand);
    for (int i = 0; i < nlanes; i++) {
        struct lane16 *l = &tw->lanes[i];
        char err[ERR_LEN];
        struct transformer_opts o = {.width = W, .heads = (int)c->vision_heads, .mlp = M, .max_rows = per_lane * S,
                                     .max_seq = S, .activation = (enum weights_activation)c->activation,
                                     .eps = c->ln_eps, .threads = 1, .huge_pages = 1, .expand_floats = expand};
        l->tw = tw;
        if (!(l->t = transformer_open(&o, err))) {
            fprintf(stderr, "bf16tower: %s\n", err);
            exit(1);
        }
        l->patches = must(util_scratch((size_t)per_lane * G2 * 3 * P * P * sizeof(float)));
        l->emb = must(util_scratch((size_t)per_lane * G2 * (size_t)W * sizeof(float)));
        l->x = must(util_scratch((size_t)per_lane * (size_t)S * (size_t)W * sizeof(float)));
        l->pooled = must(malloc((size_t)per_lane * (size_t)W * sizeof(float)));
        l->x16 = must(util_scratch((size_t)per_lane * (size_t)S * wide * sizeof(uint16_t)));
        if (be == DNNL)
            CHECK(dnnl_stream_create(&l->stream, engine, dnnl_stream_default_flags));
    }
    return tw;
}

static void tower16_close(struct tower16 *tw)
{
    if (!tw)
        return;
    for (uint32_t b = 0; b < tw->w->cfg.vision_layers; b++) {
        free(tw->blocks[b].in_proj.packed);
        free(tw->blocks[b].out_proj.packed);
        free(tw->blocks[b].c_fc.packed);
        free(tw->blocks[b].c_proj.packed);
    }
    for (int i = 0; i < tw->nlanes; i++) {
        struct lane16 *l = &tw->lanes[i];
        for (int k = 0; k < l->nprims; k++)
            dnnl_prim_close(&l->prims[k]);
        if (l->stream)
            dnnl_stream_destroy(l->stream);
        transformer_close(l->t);
        free(l->patches);
        free(l->emb);
        free(l->x);
        free(l->pooled);
        free(l->x16);
    }
    free(tw->lanes);
    free(tw->blocks);
    free(tw);
}

/* out[count, E] for count images, split between the lanes as vit_encode
 * does (a lane of one thread each; a lone lane gives oneDNN every core). */
static void tower16_encode(struct tower16 *tw, const float *pixels, int count, float *out)
{
    const struct weights_config *c = &tw->w->cfg;
    size_t R = (size_t)c->vision_grid * c->vision_patch;
    for (int i = 0; i < count; i += tw->max_batch) {
        int n = count - i < tw->max_batch ? count - i : tw->max_batch;
        int lanes = n < tw->nlanes ? n : tw->nlanes, at = i;
        blas_threads(lanes > 1 ? 1 : 0);
        for (int k = 0; k < lanes; k++) {
            struct lane16 *l = &tw->lanes[k];
            l->threads = lanes > 1 ? 1 : (int)sysconf(_SC_NPROCESSORS_ONLN);
            l->n = n / lanes + (k < n % lanes);
            l->pixels = pixels + (size_t)at * 3 * R * R;
            l->out = out + (size_t)at * c->embed_dim;
            at += l->n;
        }
        util_parallel(lane_encode, tw->lanes, sizeof *tw->lanes, lanes);
    }
}

/* ---- the driver ---- */

/* Multiply-adds x 2 of one image through the tower (bench/latency.c's count). */
static double image_flops(const struct weights_config *c)
{
    double S = c->vision_grid * c->vision_grid + 1.0, W = c->vision_width, P = c->vision_patch;
    double per_layer = 2 * S * (4 * W * W + 2 * W * c->vision_mlp) + 2 * 2 * S * S * W;
    return 2 * (S - 1) * 3 * P * P * W + c->vision_layers * per_layer;
}

static double cosine(const float *a, const float *b, int n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++)
        ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return ab / sqrt(aa * bb);
}

/* Prints the least and the median cosine of count vectors of v to ref's. */
static void report_cosines(const char *what, const char *backend, const float *ref, const float *v, int count, int E,
                           char *const *names)
{
    double *c = must(malloc((size_t)count * sizeof *c)), least = 2;
    int worst = 0;
    for (int i = 0; i < count; i++) {
        c[i] = cosine(ref + (size_t)i * E, v + (size_t)i * E, E);
        if (c[i] < least)
            least = c[i], worst = i;
    }
    printf("| %s | %s | %d | %.7f%s%s%s | %.7f |\n", what, backend, count, least, names ? " (" : "",
           names ? names[worst] : "", names ? ")" : "", median(c, count));
    free(c);
}

static void encode(int which, struct vit *v, struct tower16 **tw, const float *px, int n, float *out)
{
    if (which == 0)
        vit_encode(v, px, n, out);
    else
        tower16_encode(tw[which - 1], px, n, out);
}

/* Runs f32 and each backend on the batch, interleaved (the order turning
 * each run), and prints the medians of wall and CPU time (all threads:
 * on a loaded machine the work done, where the wall time also counts the
 * waits for a core) and the ratios to f32's. */
static void measure_batch(const struct weights_config *cfg, struct vit *v, struct tower16 **tw, int ntw,
                          const float *px, int B, int runs)
{
    int E = (int)cfg->embed_dim, kinds = 1 + ntw;
    double *t[3], *c[3], *ratio[2], *cratio[2], flops = image_flops(cfg) * B;
    float *out = must(malloc((size_t)B * (size_t)E * sizeof *out));
    for (int k = 0; k < kinds; k++) {
        t[k] = must(malloc((size_t)runs * sizeof *t[k]));
        c[k] = must(malloc((size_t)runs * sizeof *c[k]));
        if (k) {
            ratio[k - 1] = must(malloc((size_t)runs * sizeof *ratio[k - 1]));
            cratio[k - 1] = must(malloc((size_t)runs * sizeof *cratio[k - 1]));
        }
        encode(k, v, tw, px, B, out); /* warm: weights paged in, primitives made */
    }
    for (int r = 0; r < runs; r++) {
        for (int j = 0; j < kinds; j++) {
            int k = (r + j) % kinds;
            struct clocks a = clocks_now();
            encode(k, v, tw, px, B, out);
            struct clocks b = clocks_now();
            t[k][r] = b.wall - a.wall;
            c[k][r] = b.cpu - a.cpu;
        }
        for (int k = 1; k < kinds; k++) {
            ratio[k - 1][r] = t[0][r] / t[k][r];
            cratio[k - 1][r] = c[0][r] / c[k][r];
        }
    }
    double med[3], cmed[3];
    for (int k = 0; k < kinds; k++)
        med[k] = median(t[k], runs), cmed[k] = median(c[k], runs);
    for (int k = 0; k < kinds; k++) {
        printf("| %d | %s | %.1f ms | %.1f | %.1f | %.1f ms |", B,
               k ? backend_names[tw[k - 1]->be] : "clippie f32 (vit_encode)", med[k] * 1e3 / B, B / med[k],
               flops / med[k] / 1e9, cmed[k] * 1e3 / B);
        if (k)
            printf(" %.2fx (%.2fx) | %.2fx (%.2fx) |\n", med[0] / med[k], median(ratio[k - 1], runs), cmed[0] / cmed[k],
                   median(cratio[k - 1], runs));
        else
            printf(" 1 | 1 |\n");
    }
    for (int k = 0; k < kinds; k++) {
        free(t[k]);
        free(c[k]);
        if (k) {
            free(ratio[k - 1]);
            free(cratio[k - 1]);
        }
    }
    free(out);
}

/* The cosines of each backend's vectors to vit_encode's for count images. */
static void measure_cosines(const char *what, const struct weights_config *cfg, struct vit *v, struct tower16 **tw,
                            int ntw, const float *px, int count, char *const *names)
{
    int E = (int)cfg->embed_dim;
    float *ref = must(malloc((size_t)count * (size_t)E * sizeof *ref)), *out = must(malloc((size_t)count * (size_t)E * sizeof *out));
    vit_encode(v, px, count, ref);
    for (int k = 0; k < ntw; k++) {
        tower16_encode(tw[k], px, count, out);
        report_cosines(what, backend_names[tw[k]->be], ref, out, count, E, names);
    }
    free(ref);
    free(out);
}

/* The instructions' own ceilings, one core: n rounds of 16 independent
 * vdpbf16ps (64 flops each) or vfmadd231ps (32), in GFLOP/s of CPU time.
 * x is passed through an empty asm each round so that no round can be
 * folded away. */
BF16 static double peak_bf16(long n)
{
    __m512 a[16];
    __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = x;
    for (int i = 0; i < 16; i++)
        a[i] = _mm512_setzero_ps();
    double t = clocks_now().cpu;
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            a[i] = _mm512_dpbf16_ps(a[i], x, y);
        __asm__("" : "+v"(x));
    }
    t = clocks_now().cpu - t;
    volatile float sink = 0;
    for (int i = 0; i < 16; i++)
        sink += _mm512_reduce_add_ps(a[i]);
    return (double)n * 16 * 64 / t / 1e9;
}

BF16 __attribute__((target("fma"))) static double peak_fma(long n)
{
    __m512 a[16], x = _mm512_set1_ps(1e-9f), y = _mm512_set1_ps(1.0f);
    for (int i = 0; i < 16; i++)
        a[i] = _mm512_setzero_ps();
    double t = clocks_now().cpu;
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            a[i] = _mm512_fmadd_ps(x, y, a[i]);
        __asm__("" : "+v"(x));
    }
    t = clocks_now().cpu - t;
    volatile float sink = 0;
    for (int i = 0; i < 16; i++)
        sink += _mm512_reduce_add_ps(a[i]);
    return (double)n * 16 * 32 / t / 1e9;
}

/* One product's three ways on one thread, y[M, N] = x[M, K] @ W[N, K]^T
 * (the bf16 ways rounding x each call): the median CPU seconds of runs. */
static void time_product(int runs, int M, int K, int N, double sec[3])
{
    float *x = must(malloc((size_t)M * K * sizeof *x)), *w = must(malloc((size_t)N * K * sizeof *w));
    float *y = must(malloc((size_t)M * N * sizeof *y));
    uint16_t *x16 = must(malloc((size_t)M * K * sizeof *x16)), *w16 = must(malloc((size_t)N * K * sizeof *w16));
    for (size_t i = 0; i < (size_t)M * K; i++)
        x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (size_t i = 0; i < (size_t)N * K; i++)
        w[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    to_bf16(w16, w, (size_t)N * K);
    uint16_t *own = own_pack(w16, N, K);
    dnnl_memory_desc_t md;
    void *packed = dnnl_pack(w16, N, K, M, &md);
    struct dnnl_prim p;
    dnnl_prim_open(&p, M, K, N, &md);
    dnnl_stream_t stream;
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    CHECK(dnnl_memory_set_data_handle(p.src, x16));
    CHECK(dnnl_memory_set_data_handle(p.wei, packed));
    CHECK(dnnl_memory_set_data_handle(p.dst, y));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, p.src}, {DNNL_ARG_WEIGHTS, p.wei}, {DNNL_ARG_DST, p.dst}};
    double *t[3];
    for (int k = 0; k < 3; k++)
        t[k] = must(malloc((size_t)runs * sizeof *t[k]));
    for (int r = -2; r < runs; r++)
        for (int j = 0; j < 3; j++) {
            int k = (r + 3 + j) % 3;
            double a = clocks_now().cpu;
            if (k == 0) /* y[M, N] = x[M, K] @ w[N, K]^T */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, 0.0f, y, N);
            else {
                to_bf16(x16, x, (size_t)M * K);
                if (k == 1)
                    own_product(y, x16, own, M, K, N);
                else {
                    CHECK(dnnl_primitive_execute(p.prim, stream, 3, args));
                    CHECK(dnnl_stream_wait(stream));
                }
            }
            if (r >= 0)
                t[k][r] = clocks_now().cpu - a;
        }
    for (int k = 0; k < 3; k++) {
        sec[k] = median(t[k], runs);
        free(t[k]);
    }
    dnnl_stream_destroy(stream);
    dnnl_prim_close(&p);
    free(packed);
    free(own);
    free(w16);
    free(x16);
    free(y);
    free(w);
    free(x);
}

/* The four products of a block at a lane's rows, one thread each way. */
static void measure_products(const struct weights_config *c, int M, int runs)
{
    int W = (int)c->vision_width, mlp = (int)c->vision_mlp;
    const int shapes[4][2] = {{W, 3 * W}, {W, W}, {W, mlp}, {mlp, W}}; /* K, N */
    const char *names[4] = {"in_proj", "out_proj", "c_fc", "c_proj"};
    blas_threads(1);
    omp_set_num_threads(1);
    double pb = 0, pf = 0; /* the best of five each, alternating: a ceiling */
    for (int i = 0; i < 5; i++) {
        double b = peak_bf16(10000000), f = peak_fma(10000000);
        pb = b > pb ? b : pb, pf = f > pf ? f : pf;
    }
    printf("instruction ceilings, one core (CPU time): vdpbf16ps zmm %.1f GFLOP/s, vfmadd231ps zmm %.1f GFLOP/s: "
           "bf16 / f32 = %.2fx\n", pb, pf, pb / pf);
    printf("| product, one thread | M x K x N | sgemm GFLOP/s | own vdpbf16ps (x rounded) | oneDNN (x rounded) | own / sgemm | oneDNN / sgemm |\n"
           "|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < 4; i++) {
        int K = shapes[i][0], N = shapes[i][1];
        double sec[3], f = 2.0 * M * K * N / 1e9;
        time_product(runs, M, K, N, sec);
        printf("| %s | %d x %d x %d | %.1f | %.1f | %.1f | %.2fx | %.2fx |\n", names[i], M, K, N, f / sec[0],
               f / sec[1], f / sec[2], sec[0] / sec[1], sec[0] / sec[2]);
    }
    blas_threads(0);
}

static void loadavg(const char *when)
{
    char buf[128] = "";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fgets(buf, sizeof buf, f))
        buf[strcspn(buf, "\n")] = 0;
    if (f)
        fclose(f);
    time_t now = time(NULL);
    char ts[32];
    strftime(ts, sizeof ts, "%H:%M:%S UTC", gmtime(&now));
    printf("load %s (%s): %s\n", when, ts, buf);
}

int main(int argc, char **argv)
{
    int runs = 9, opt, batches[8] = {32, 64}, nb = 2, want[2] = {1, 1}, products = 0;
    while ((opt = getopt(argc, argv, "pr:b:k:")) != -1) {
        if (opt == 'p')
            products = 1;
        else if (opt == 'r')
            runs = atoi(optarg) < 1 ? 1 : atoi(optarg);
        else if (opt == 'b') {
            nb = 0;
            for (char *s = strtok(optarg, ","); s && nb < 8; s = strtok(NULL, ",")) /* -b 0: none */
                if (atoi(s) > 0)
                    batches[nb++] = atoi(s);
        } else if (opt == 'k') {
            want[0] = strstr(optarg, "dnnl") != NULL;
            want[1] = strstr(optarg, "own") != NULL;
        } else {
            fprintf(stderr, "usage: bf16tower [-p] [-r RUNS] [-b BATCH,...] [-k dnnl,own] MODEL.weights [IMAGE...]\n");
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: bf16tower [-p] [-r RUNS] [-b BATCH,...] [-k dnnl,own] MODEL.weights [IMAGE...]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* rows as they come, when sent to a file */
    char err[ERR_LEN];
    struct weights *w = weights_open(argv[optind], err);
    if (!w) {
        fprintf(stderr, "bf16tower: %s\n", err);
        return 1;
    }
    const struct weights_config *cfg = &w->cfg;
    if (cfg->family != WEIGHTS_CLIP) {
        fprintf(stderr, "bf16tower: CLIP's image tower only\n");
        return 1;
    }
    if (!__builtin_cpu_supports("avx512bf16")) {
        fprintf(stderr, "bf16tower: the CPU lacks AVX512-BF16\n");
        return 1;
    }
    int lanes = (int)sysconf(_SC_NPROCESSORS_ONLN), maxb = 1, R = (int)(cfg->vision_grid * cfg->vision_patch);
    for (int i = 0; i < nb; i++)
        maxb = batches[i] > maxb ? batches[i] : maxb;
    int nimg = argc - optind - 1;
    maxb = nimg > maxb ? nimg : maxb;
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    struct vit *v = vit_open(w, maxb, lanes, err);
    if (!v) {
        fprintf(stderr, "bf16tower: %s\n", err);
        return 1;
    }
    struct tower16 *tw[2];
    int ntw = 0;
    for (int k = 0; k < 2; k++)
        if (want[k])
            tw[ntw++] = tower16_open(w, (enum backend)k, maxb, lanes);
    printf("model %s: %s weights, width %u, %u layers, %d px, %.2f GFLOP an image; %d lanes of 1 thread; medians of "
           "%d interleaved runs; OpenBLAS kernels: %s\n",
           argv[optind], w->visual_blocks[0].c_fc_weight.dtype == WEIGHTS_F32 ? "float32" : "half-precision",
           cfg->vision_width, cfg->vision_layers, R, image_flops(cfg) / 1e9, lanes, runs,
           openblas_get_corename ? openblas_get_corename() : "?");
    loadavg("before");
    if (products)
        measure_products(cfg, 32 * (int)(cfg->vision_grid * cfg->vision_grid + 1), runs);
    size_t per = 3 * (size_t)R * R;
    float *px = must(malloc((size_t)maxb * per * sizeof *px));
    srand(1);
    /* random pixels over the span normalised photos take */
    for (size_t i = 0; i < (size_t)maxb * per; i++)
        px[i] = 4.0f * (float)rand() / (float)RAND_MAX - 1.9f;
    if (nb)
        printf("| batch | tower | wall an image | images/s | GFLOP/s | CPU an image | wall vs f32 (median of run ratios) | "
               "CPU vs f32 (median of run ratios) |\n|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < nb; i++)
        measure_batch(cfg, v, tw, ntw, px, batches[i], runs);
    loadavg("after");
    printf("| images | backend | count | least cosine to f32 | median |\n|---|---|---|---|---|\n");
    measure_cosines("random pixels", cfg, v, tw, ntw, px, maxb, NULL);
    if (nimg > 0) {
        struct image_opts io = {.resolution = R, .exif = 1, .max_pixels = IMAGE_MAX_PIXELS, .mean = cfg->image_mean,
                                .std = cfg->image_std, .squash = cfg->resize == WEIGHTS_RESIZE_SQUASH};
        char **names = must(malloc((size_t)nimg * sizeof *names));
        int got = 0;
        for (int i = 0; i < nimg; i++) {
            unsigned char *buf = NULL;
            size_t len;
            const char *path = argv[optind + 1 + i];
            if (util_read_file(path, (size_t)1 << 30, &buf, &len, err) < 0 ||
                image_preprocess(buf, len, &io, px + (size_t)got * per, err) < 0) {
                fprintf(stderr, "bf16tower: skipped %s: %s\n", path, err);
                free(buf);
                continue;
            }
            free(buf);
            const char *base = strrchr(path, '/');
            names[got++] = (char *)(base ? base + 1 : path);
        }
        if (got)
            measure_cosines("photos and fixtures", cfg, v, tw, ntw, px, got, names);
        free(names);
    }
    free(px);
    for (int k = 0; k < ntw; k++)
        tower16_close(tw[k]);
    vit_close(v);
    weights_close(w);
    dnnl_engine_destroy(engine);
    return 0;
}
