/* transformer_few_rows against the same product summed in double: every row
 * count it serves (1 to 16, so every block size and remainder), widths from
 * the tiny test model's to a B/32 MLP's, one to three threads (the larger
 * products are split between them). Then the whole residual block
 * (LayerNorm, attention, MLP) against the same block in double: head widths
 * of 64 and others, causal or not, sequences of different lengths packed,
 * every row or only the picked ones, the three activations. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "check.h"
#include "matmul.h"
#include "transformer.h"

static float *randoms(size_t n)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)rand() / (float)RAND_MAX * 2 - 1;
    return v;
}

static void test_product(int rows, int in, int out, int threads)
{
    float *x = randoms((size_t)rows * in), *w = randoms((size_t)out * in), *y = randoms((size_t)rows * out);
    double *want = malloc((size_t)rows * out * sizeof *want);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < out; j++) {
            double s = y[(size_t)r * out + j];
            for (int k = 0; k < in; k++)
                s += (double)x[(size_t)r * in + k] * w[(size_t)j * in + k];
            want[(size_t)r * out + j] = s;
        }
    struct weights_tensor wt = {w, WEIGHTS_F32};
    transformer_few_rows(threads, y, x, &wt, rows, in, out);
    /* per row, relative to the row's size, as the model tests measure vectors */
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        double d = 0, n = 0;
        for (int j = 0; j < out; j++) {
            double e = y[(size_t)r * out + j] - want[(size_t)r * out + j];
            d += e * e;
            n += want[(size_t)r * out + j] * want[(size_t)r * out + j];
        }
        worst = fmax(worst, sqrt(d / n));
    }
    CHECK(worst <= 1e-6, "%d rows x %d -> %d on %d threads: relative error %.3g", rows, in, out, threads, worst);
    free(x);
    free(w);
    free(y);
    free(want);
}

/* transformer_product's shares (columns split between threads: matmul's
 * tiles, or a chunk of half-precision weights expanded at a time for the
 * BLAS) against one BLAS product of all columns: bit for bit, for an
 * image's 50 rows, an SigLIP B/16's 196, a B/16's 197, an L/14's patch
 * embedding (588 long), the most rows shared (256) and column counts no
 * tile or chunk divides, float32, float16 and bfloat16 weights, one to
 * three threads; and a shape too small to share (the tiny test model's)
 * through the one product. */
static void test_shares(int rows, int in, int out, uint32_t dtype)
{
    char err[ERR_LEN] = "";
    struct transformer_opts o = {.width = 768, .heads = 12, .mlp = 3072, .max_rows = 256, .max_seq = 256,
                                 .activation = WEIGHTS_QUICK_GELU, .eps = 1e-5f, .threads = 1,
                                 .expand_floats = (size_t)3072 * 1024};
    struct transformer *t = transformer_open(&o, err);
    CHECK(t != NULL, "transformer_open: %s", err);
    if (!t)
        return;
    float *x = randoms((size_t)rows * in), *y0 = randoms((size_t)rows * out), *y = malloc((size_t)rows * out * 4);
    float *wf = randoms((size_t)out * in);
    uint16_t *wh = malloc((size_t)out * in * sizeof *wh);
    for (size_t i = 0; i < (size_t)out * in; i++) /* halves in (-1, 1) */
        wh[i] = (uint16_t)((rand() & 0x3bff) | (rand() & 1) << 15);
    struct weights_tensor wt = {dtype != WEIGHTS_F32 ? (void *)wh : (void *)wf, dtype};
    float *wexp = malloc((size_t)out * in * sizeof *wexp), *want = malloc((size_t)rows * out * sizeof *want);
    transformer_to_float(wexp, &wt, 0, (size_t)out * in);
    memcpy(want, y0, (size_t)rows * out * sizeof *want);
    blas_threads(1);
    /* want[rows, out] += x[rows, in] @ wexp[out, in]^T, one product */
    blas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x, in, wexp, in, 1.0f, want, out);
    for (int threads = 1; threads <= 3; threads++) {
        memcpy(y, y0, (size_t)rows * out * sizeof *y);
        transformer_set_threads(t, threads);
        transformer_product(t, y, x, &wt, rows, in, out);
        CHECK(!memcmp(y, want, (size_t)rows * out * sizeof *y), "%d rows x %d -> %d, %s weights, %d threads: not "
              "bitwise the product of all columns", rows, in, out, dtype == WEIGHTS_F32 ? "float32" : dtype == WEIGHTS_F16 ? "float16" : "bfloat16",
              threads);
    }
    free(x), free(y0), free(y), free(wf), free(wh), free(wexp), free(want);
    transformer_close(t);
}

/* ---- the residual block, in double ---- */

static void layernorm(double *out, const double *x, const float *w, const float *b, int n)
{
    double m = 0, v = 0;
    for (int i = 0; i < n; i++)
        m += x[i];
    m /= n;
    for (int i = 0; i < n; i++)
        v += (x[i] - m) * (x[i] - m);
    v /= n;
    for (int i = 0; i < n; i++)
        out[i] = (x[i] - m) / sqrt(v + 1e-5) * w[i] + b[i];
}

/* y[out] = x[in] @ w[out, in]^T + b */
static void linear(double *y, const double *x, const float *w, const float *b, int in, int out)
{
    for (int j = 0; j < out; j++) {
        double s = b[j];
        for (int k = 0; k < in; k++)
            s += x[k] * w[(size_t)j * in + k];
        y[j] = s;
    }
}

static double act(double v, enum weights_activation a)
{
    /* GELU's tanh form as torch writes it */
    return a == WEIGHTS_GELU        ? 0.5 * v * (1 + erf(v / sqrt(2)))
           : a == WEIGHTS_GELU_TANH ? 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)))
                                    : v / (1 + exp(-1.702 * v));
}

/* One sequence of n rows of width W through the block, in place. */
static void ref_block(const struct weights_block *b, double *x, int n, int W, int heads, int mlp, int causal,
                      enum weights_activation a)
{
    int D = W / heads;
    double *ln = malloc((size_t)n * W * sizeof *ln), *qkv = malloc((size_t)n * 3 * W * sizeof *qkv);
    double *att = calloc((size_t)n * W, sizeof *att), *h = malloc((size_t)mlp * sizeof *h), *p = malloc(n * sizeof *p);
    for (int r = 0; r < n; r++) {
        layernorm(ln + (size_t)r * W, x + (size_t)r * W, b->ln_1_weight, b->ln_1_bias, W);
        linear(qkv + (size_t)r * 3 * W, ln + (size_t)r * W, b->in_proj_weight.data, b->in_proj_bias, W, 3 * W);
    }
    for (int hd = 0; hd < heads; hd++)
        for (int i = 0; i < n; i++) {
            int last = causal ? i : n - 1;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j <= last; j++) {
                double s = 0;
                for (int d = 0; d < D; d++)
                    s += qkv[(size_t)i * 3 * W + hd * D + d] * qkv[(size_t)j * 3 * W + W + hd * D + d];
                p[j] = s / sqrt(D);
                mx = fmax(mx, p[j]);
            }
            for (int j = 0; j <= last; j++)
                sum += p[j] = exp(p[j] - mx);
            for (int j = 0; j <= last; j++)
                for (int d = 0; d < D; d++)
                    att[(size_t)i * W + hd * D + d] += p[j] / sum * qkv[(size_t)j * 3 * W + 2 * W + hd * D + d];
        }
    for (int r = 0; r < n; r++) {
        double *xr = x + (size_t)r * W, o[512];
        linear(o, att + (size_t)r * W, b->out_proj_weight.data, b->out_proj_bias, W, W);
        for (int k = 0; k < W; k++)
            xr[k] += o[k];
        layernorm(ln, xr, b->ln_2_weight, b->ln_2_bias, W);
        linear(h, ln, b->c_fc_weight.data, b->c_fc_bias, W, mlp);
        for (int k = 0; k < mlp; k++)
            h[k] = act(h[k], a);
        linear(o, h, b->c_proj_weight.data, b->c_proj_bias, mlp, W);
        for (int k = 0; k < W; k++)
            xr[k] += o[k];
    }
    free(ln);
    free(qkv);
    free(att);
    free(h);
    free(p);
}

/* Random values that dtype holds exactly: *f gets them as float32, the
 * returned tensor as dtype (the same memory when float32). */
static struct weights_tensor random_matrix(size_t n, uint32_t dtype, const float **f)
{
    float *v = randoms(n);
    if (dtype == WEIGHTS_F32) {
        *f = v;
        return (struct weights_tensor){v, dtype};
    }
    uint16_t *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) {
        h[i] = dtype == WEIGHTS_F16 ? util_float_to_half(v[i]) : util_float_to_bf16(v[i]);
        uint32_t bits = (uint32_t)h[i] << 16;
        if (dtype == WEIGHTS_F16)
            v[i] = util_half_to_float(h[i]);
        else
            memcpy(&v[i], &bits, sizeof bits);
    }
    *f = v;
    return (struct weights_tensor){h, dtype};
}

/* A block of dtype matrices (*typed) and the same as float32 (*exact). */
static void random_block(int W, int mlp, uint32_t dtype, struct weights_block *typed, struct weights_block *exact)
{
    const float *f[4];
    struct weights_block b = {
        .ln_1_weight = randoms((size_t)W), .ln_1_bias = randoms((size_t)W),
        .in_proj_weight = random_matrix((size_t)3 * W * W, dtype, &f[0]), .in_proj_bias = randoms((size_t)3 * W),
        .out_proj_weight = random_matrix((size_t)W * W, dtype, &f[1]), .out_proj_bias = randoms((size_t)W),
        .ln_2_weight = randoms((size_t)W), .ln_2_bias = randoms((size_t)W),
        .c_fc_weight = random_matrix((size_t)mlp * W, dtype, &f[2]), .c_fc_bias = randoms((size_t)mlp),
        .c_proj_weight = random_matrix((size_t)W * mlp, dtype, &f[3]), .c_proj_bias = randoms((size_t)W),
    };
    *typed = *exact = b;
    exact->in_proj_weight = (struct weights_tensor){f[0], WEIGHTS_F32};
    exact->out_proj_weight = (struct weights_tensor){f[1], WEIGHTS_F32};
    exact->c_fc_weight = (struct weights_tensor){f[2], WEIGHTS_F32};
    exact->c_proj_weight = (struct weights_tensor){f[3], WEIGHTS_F32};
}

static void free_block(struct weights_block *typed, struct weights_block *exact)
{
    const void *p[] = {typed->ln_1_weight, typed->ln_1_bias, typed->in_proj_weight.data, typed->in_proj_bias,
                       typed->out_proj_weight.data, typed->out_proj_bias, typed->ln_2_weight, typed->ln_2_bias,
                       typed->c_fc_weight.data, typed->c_fc_bias, typed->c_proj_weight.data, typed->c_proj_bias};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++)
        free((void *)p[i]);
    if (typed->c_fc_weight.dtype != WEIGHTS_F32) {
        free((void *)exact->in_proj_weight.data);
        free((void *)exact->out_proj_weight.data);
        free((void *)exact->c_fc_weight.data);
        free((void *)exact->c_proj_weight.data);
    }
}

/* Sequences of lens[] rows packed as the towers pack them, through
 * transformer_block (or _pick, with the last row of each picked), with
 * matrices of dtype: against the block in double, and bit for bit against
 * the same block with the matrices' float32 expansion. A few rows (one
 * text) take the few-rows kernel, more the BLAS. */
static void test_block(int W, int heads, int mlp, int causal, enum weights_activation a, int pick, uint32_t dtype,
                       int few)
{
    static const int many[] = {5, 1, 12, 7}, one[] = {3};
    const int *lens = few ? one : many;
    int nseq = few ? 1 : 4, rows = 0, worst_at = -1;
    for (int s = 0; s < nseq; s++)
        rows += lens[s];
    struct transformer_opts o = {.width = W, .heads = heads, .mlp = mlp, .max_rows = rows, .max_seq = 12,
                                 .activation = a, .eps = 1e-5f, .threads = 2,
                                 .expand_floats = (size_t)(3 * W > mlp ? 3 * W : mlp) * (size_t)W};
    char err[ERR_LEN];
    struct transformer *t = transformer_open(&o, err);
    struct weights_block b, exact;
    random_block(W, mlp, dtype, &b, &exact);
    float *x = randoms((size_t)rows * W), *out = malloc((size_t)nseq * W * sizeof *out);
    float *x2 = malloc((size_t)rows * W * sizeof *x2), *out2 = malloc((size_t)nseq * W * sizeof *out2);
    double *want = malloc((size_t)rows * W * sizeof *want), worst = 0;
    size_t picks[4];
    memcpy(x2, x, (size_t)rows * W * sizeof *x2);
    for (int i = 0; i < rows * W; i++)
        want[i] = x[i];
    for (int s = 0, at = 0; s < nseq; at += lens[s++]) {
        ref_block(&exact, want + (size_t)at * W, lens[s], W, heads, mlp, causal, a);
        picks[s] = (size_t)(at + lens[s] - 1);
    }
    CHECK(t != NULL, "transformer_open: %s", err);
    if (!t)
        return;
    if (pick) {
        transformer_block_pick(t, &b, x, nseq, lens, causal, picks, out);
        transformer_block_pick(t, &exact, x2, nseq, lens, causal, picks, out2);
    } else {
        transformer_block(t, &b, x, nseq, lens, causal);
        transformer_block(t, &exact, x2, nseq, lens, causal);
    }
    for (int r = 0; r < (pick ? nseq : rows); r++) {
        const float *got = pick ? out + (size_t)r * W : x + (size_t)r * W;
        const double *w = want + (pick ? picks[r] : (size_t)r) * W;
        double d = 0, n = 0;
        for (int k = 0; k < W; k++)
            d += (got[k] - w[k]) * (got[k] - w[k]), n += w[k] * w[k];
        if (sqrt(d / n) > worst)
            worst = sqrt(d / n), worst_at = r;
    }
    static const char *const names[] = {"f32", "f16", "bf16"};
    CHECK(worst <= 1e-5, "block W %d, %d heads, MLP %d, %s, %s%s, %s, %d rows: relative error %.3g (row %d)", W,
          heads, mlp, causal ? "causal" : "not causal", a == WEIGHTS_GELU ? "gelu" : a == WEIGHTS_GELU_TANH ? "gelu_tanh" : "quick_gelu",
          pick ? ", picked rows" : "", names[dtype], rows, worst, worst_at);
    CHECK(pick ? !memcmp(out, out2, (size_t)nseq * W * sizeof *out) : !memcmp(x, x2, (size_t)rows * W * sizeof *x),
          "block W %d with %s matrices differs from their float32 expansion (%d rows)", W, names[dtype], rows);
    transformer_close(t);
    free_block(&b, &exact);
    free(x);
    free(x2);
    free(out);
    free(out2);
    free(want);
}

/* Half-precision conversion: every float16 and bfloat16 value, through the
 * kernels' vector path (F16C where the CPU has it; also the portable one),
 * equals the scalar conversion. */
static void test_to_float(void)
{
    uint16_t *h = malloc(65536 * sizeof *h);
    float *f = malloc(65536 * sizeof *f);
    for (int i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    int bad = 0;
    for (uint32_t dtype = WEIGHTS_F16; dtype <= WEIGHTS_BF16; dtype++) {
        struct weights_tensor m = {h, dtype};
        transformer_to_float(f, &m, 0, 65536);
        for (int i = 0; i < 65536; i++) {
            uint32_t bits = (uint32_t)i << 16, got, want;
            float w = dtype == WEIGHTS_F16 ? util_half_to_float((uint16_t)i) : 0;
            if (dtype == WEIGHTS_BF16)
                memcpy(&w, &bits, sizeof w);
            memcpy(&got, &f[i], 4);
            memcpy(&want, &w, 4);
            bad += isnan(w) ? !isnan(f[i]) : got != want; /* F16C quiets signalling NaNs: a NaN all the same */
        }
    }
    CHECK(bad == 0, "%d of 131072 half-precision values convert otherwise than the scalar way", bad);
    free(h);
    free(f);
}

/* An image-sized block (one sequence of 50 rows, width 512, 8 heads, GELU)
 * on one thread and on two and three, where LayerNorm's rows, the
 * activation's elements and attention's heads are shared out between them:
 * bit for bit the same (three threads would cut the activation off its
 * vectors of 8, and its erf, but for the shares' alignment). */
static void test_steps_shared(void)
{
    enum { W = 512, MLP = 2048, ROWS = 50 };
    struct transformer_opts o = {.width = W, .heads = 8, .mlp = MLP, .max_rows = ROWS, .max_seq = ROWS,
                                 .activation = WEIGHTS_GELU, .eps = 1e-5f, .threads = 1,
                                 .expand_floats = (size_t)3 * W * W > (size_t)MLP * W ? (size_t)3 * W * W : (size_t)MLP * W};
    char err[ERR_LEN];
    struct transformer *t = transformer_open(&o, err);
    CHECK(t != NULL, "transformer_open: %s", err);
    if (!t)
        return;
    struct weights_block b, exact;
    random_block(W, MLP, WEIGHTS_F16, &b, &exact);
    float *x0 = randoms((size_t)ROWS * W), *one = malloc((size_t)ROWS * W * sizeof *one);
    float *x = malloc((size_t)ROWS * W * sizeof *x);
    const int lens[1] = {ROWS};
    blas_threads(1);
    memcpy(one, x0, (size_t)ROWS * W * sizeof *one);
    transformer_block(t, &b, one, 1, lens, 0);
    for (int threads = 2; threads <= 3; threads++) {
        memcpy(x, x0, (size_t)ROWS * W * sizeof *x);
        transformer_set_threads(t, threads);
        transformer_block(t, &b, x, 1, lens, 0);
        CHECK(!memcmp(x, one, (size_t)ROWS * W * sizeof *x), "a block of %d rows on %d threads differs from one thread's",
              ROWS, threads);
    }
    transformer_close(t);
    free_block(&b, &exact);
    free(x0), free(one), free(x);
}

/* On the AVX-512 kernels whose sums matmul knows (OpenBLAS's Cooperlake
 * and SkylakeX), its probe must say yes: the shares tests above then ran
 * matmul, not the BLAS. */
static void test_matmul_taken(void)
{
    char what[512], err[ERR_LEN];
    CHECK(blas_describe(what, sizeof what, err) == 0, "blas_describe: %s", err);
    int known = strstr(what, "Cooperlake") || strstr(what, "SkylakeX") || strstr(what, "COOPERLAKE") ||
                strstr(what, "SKYLAKEX");
#if UTIL_V3_KERNELS
    int v4 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    int v4 = 0;
#endif
    CHECK(!(known && v4) || matmul_exact(), "BLAS %s on an AVX-512 CPU: matmul_exact says no", what);
}

int main(void)
{
    static const int shapes[][2] = {{64, 192}, {512, 512}, {512, 2048}, {2048, 512}};
    srand(1);
    for (int rows = 1; rows <= 16; rows++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int threads = 1; threads <= 3; threads++)
                test_product(rows, shapes[s][0], shapes[s][1], threads);
    /* head widths 64 (OpenAI's), 80 (ViT-H/14's), 32; MLPs 4W and others */
    static const int blocks[][3] = {{128, 2, 512}, {160, 2, 640}, {96, 3, 352}, {64, 1, 200}};
    for (size_t s = 0; s < sizeof blocks / sizeof *blocks; s++)
        for (int causal = 0; causal <= 1; causal++)
            for (int pick = 0; pick <= 1; pick++)
                for (uint32_t dtype = WEIGHTS_F32; dtype <= WEIGHTS_BF16; dtype++)
                    for (int few = 0; few <= 1; few++)
                        test_block(blocks[s][0], blocks[s][1], blocks[s][2], causal,
                                   (enum weights_activation)((s + (size_t)causal) % 3), pick, dtype, few);
    test_to_float();
    static const int shares[][3] = {{50, 768, 768}, {50, 768, 2304}, {50, 3072, 768}, {49, 3072, 768},
                                    {196, 768, 3072}, {197, 768, 2304}, {256, 588, 1024}, {33, 1096, 130},
                                    {100, 3072, 1001}, {17, 64, 192}};
    for (size_t s = 0; s < sizeof shares / sizeof *shares; s++)
        for (uint32_t dtype = WEIGHTS_F32; dtype <= WEIGHTS_BF16; dtype++)
            test_shares(shares[s][0], shares[s][1], shares[s][2], dtype);
    test_matmul_taken();
    test_steps_shared();
    /* the kernels a CPU without AVX2, FMA and F16C runs */
    transformer_portable(1);
    test_to_float();
    for (uint32_t dtype = WEIGHTS_F32; dtype <= WEIGHTS_BF16; dtype++)
        for (int pick = 0; pick <= 1; pick++)
            test_block(160, 2, 640, 1, WEIGHTS_GELU, pick, dtype, 1);
    transformer_portable(0);
    return check_done("test_transformer");
}
