#include "transformer.h"

#include "blas.h"
#include "matmul.h"

#if UTIL_V3_KERNELS
#include <immintrin.h> /* the AVX-512 few-rows kernel, built for x86-64-v4 alone */
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FEW_ROWS TRANSFORMER_FEW_ROWS
#define FEW_ROWS_SPLIT (1 << 20)
/* Products of up to this many rows (one image's, one long text's) have
 * their columns shared out between t's threads, each calling the BLAS on
 * its own (linear_share): expanding a whole half-precision matrix for them
 * wrote and read back 4 bytes a weight from memory for a product of 50
 * rows, and the BLAS's own threads woke for each. */
#define SHARE_ROWS 256
/* A share expands this many columns of a half-precision matrix at a time,
 * into scratch that stays in L2 (128 x 3072 floats: 1.5 MB) while the BLAS
 * reads them: the chunk blas_splits_exact tries. */
#define CHUNK_COLS BLAS_SPLIT_COLS
_Static_assert(MATMUL_COLS <= CHUNK_COLS, "matmul converts its columns into a thread's chunk");
/* OpenBLAS 0.3.21 (SkylakeX's kernels) runs products of up to 100^3
 * multiply-adds through other kernels, which sum in another order: a
 * product is shared out only where its every share stays above that, and
 * so gives what one product of all columns gives, bit for bit. */
#define BLAS_SMALL 1e6

typedef float v8sf __attribute__((vector_size(32)));
typedef float v4sf __attribute__((vector_size(16)));
typedef int32_t v8si __attribute__((vector_size(32)));

/* By pointer: a vector passed by value would travel differently in the
 * AVX2 build of a caller than in this function's default build. */
static float sum8(const v8sf *v)
{
    float s = 0;
    for (int l = 0; l < 8; l++)
        s += (*v)[l];
    return s;
}

typedef uint16_t v8hu __attribute__((vector_size(16)));

/* Eight weights from element i of a matrix, as float32, exactly. float16:
 * with f16c, one vcvtph2ps (the caller is built for x86-64-v3); without,
 * its bits placed in a float's and scaled by 2^112 (which makes subnormals
 * right too), infinities and NaNs given their exponent back. bfloat16 is a
 * float's upper half. */
static inline __attribute__((always_inline)) void load8(v8sf *out, const void *m, size_t i, uint32_t dtype, int f16c)
{
    if (dtype == WEIGHTS_F32) {
        memcpy(out, (const float *)m + i, sizeof *out);
        return;
    }
    v8hu h;
    memcpy(&h, (const uint16_t *)m + i, sizeof h);
#if UTIL_V3_KERNELS
    if (dtype == WEIGHTS_F16 && f16c) {
        /* asm: the intrinsic would not compile into the build for any x86-64,
         * where this branch is never taken */
        __asm__("vcvtph2ps %1, %0" : "=x"(*out) : "x"(h));
        return;
    }
#else
    (void)f16c;
#endif
    v8si u = __builtin_convertvector(h, v8si), bits;
    if (dtype == WEIGHTS_BF16) {
        u <<= 16;
        memcpy(out, &u, sizeof *out);
        return;
    }
    v8si mag = (u & 0x7fff) << 13;
    v8sf f;
    memcpy(&f, &mag, sizeof f);
    f *= 0x1p112f;
    memcpy(&bits, &f, sizeof bits);
    bits |= (((u & 0x7c00) == 0x7c00) & 0x7f800000) | (u & 0x8000) << 16;
    memcpy(out, &bits, sizeof *out);
}

static inline __attribute__((always_inline)) void to_float(float *out, const struct weights_tensor *m, size_t first,
                                                           size_t n, int f16c)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8sf v;
        if (m->dtype == WEIGHTS_F16)
            load8(&v, m->data, first + i, WEIGHTS_F16, f16c);
        else
            load8(&v, m->data, first + i, WEIGHTS_BF16, f16c);
        memcpy(out + i, &v, sizeof v);
    }
    for (const uint16_t *h = (const uint16_t *)m->data + first; i < n; i++)
        out[i] = m->dtype == WEIGHTS_F16 ? util_half_to_float(h[i]) : util_bf16_to_float(h[i]);
}

/* The kernels below are built for x86-64-v3 (AVX2, FMA, F16C) and for any
 * x86-64; use_v3 picks once, by the CPU (transformer_portable: never). */
static int portable;

void transformer_portable(int on) { portable = on; }

#if UTIL_V3_KERNELS
static int use_v3(void)
{
    static int v3 = -1;
    if (v3 < 0)
        v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    return v3 && !portable;
}

__attribute__((target("arch=x86-64-v3"))) static void to_float_v3(float *out, const struct weights_tensor *m,
                                                                  size_t first, size_t n)
{
    to_float(out, m, first, n, 1);
}
#endif

static void to_float_any(float *out, const struct weights_tensor *m, size_t first, size_t n)
{
    to_float(out, m, first, n, 0);
}

void transformer_to_float(float *out, const struct weights_tensor *m, size_t first, size_t n)
{
    if (m->dtype == WEIGHTS_F32)
        memcpy(out, (const float *)m->data + first, n * sizeof *out);
#if UTIL_V3_KERNELS
    else if (use_v3())
        to_float_v3(out, m, first, n);
#endif
    else
        to_float_any(out, m, first, n);
}

size_t transformer_block_need(const struct weights_block *b, int width, int mlp, size_t most)
{
    size_t W = (size_t)width, M = (size_t)mlp;
    most = transformer_expand_need(&b->in_proj_weight, 3 * W * W, most);
    most = transformer_expand_need(&b->out_proj_weight, W * W, most);
    most = transformer_expand_need(&b->c_fc_weight, M * W, most);
    return transformer_expand_need(&b->c_proj_weight, W * M, most);
}

void transformer_populate(const struct weights_tensor *m, size_t n)
{
    util_populate(m->data, n * weights_dtype_size(m->dtype));
}

void transformer_populate_block(const struct weights_block *b, int width, int mlp)
{
    size_t W = (size_t)width, M = (size_t)mlp;
    transformer_populate(&b->in_proj_weight, 3 * W * W);
    transformer_populate(&b->out_proj_weight, W * W);
    transformer_populate(&b->c_fc_weight, M * W);
    transformer_populate(&b->c_proj_weight, W * M);
}

/* A share of an expansion: elements [first, first + n) */
struct expand_share {
    float *out;
    const struct weights_tensor *m;
    size_t first, n;
};

static void *expand_run(void *arg)
{
    struct expand_share *s = arg;
    transformer_to_float(s->out + s->first, s->m, s->first, s->n);
    return NULL;
}

const float *transformer_expand(struct transformer *t, const struct weights_tensor *m, size_t n)
{
    if (m->dtype == WEIGHTS_F32)
        return m->data;
    /* sized by the caller's expand_floats, which counts every matrix it has */
    n = n < t->wbuf_floats ? n : t->wbuf_floats;
    /* a lane alone (one image) has every core: the expansion reads the
     * matrix from memory, as fast as the cores reading it share out */
    struct expand_share s[UTIL_MAX_THREADS];
    int k = 0, threads = n < FEW_ROWS_SPLIT ? 1 : t->threads;
    size_t per = (n / (size_t)threads + 63) & ~(size_t)63;
    for (size_t first = 0; first < n; first += per, k++)
        s[k] = (struct expand_share){t->wbuf, m, first, n - first < per ? n - first : per};
    util_parallel(expand_run, s, sizeof *s, k);
    return t->wbuf;
}

/* The same sum in a tree, three vector steps instead of eight serial adds. */
static inline float sum8_tree(const v8sf *v)
{
    v4sf h = __builtin_shufflevector(*v, *v, 0, 1, 2, 3) + __builtin_shufflevector(*v, *v, 4, 5, 6, 7);
    h += __builtin_shufflevector(h, h, 2, 3, 0, 1);
    return h[0] + h[1];
}

struct transformer *transformer_open(const struct transformer_opts *o, char *err)
{
    if (o->width < 8 || o->width % 8 || o->mlp < 8 || o->mlp % 8 || o->heads < 1 || o->width % o->heads ||
        o->max_rows < 1 || o->max_seq < 1) {
        error(err, "transformer of width %d, %d heads, MLP width %d: not a shape clippie runs", o->width, o->heads,
              o->mlp);
        return NULL;
    }
    if (blas_load(err) < 0)
        return NULL;
    struct transformer *t = calloc(1, sizeof *t);
    if (!t)
        goto oom;
    *t = (struct transformer){.width = o->width, .heads = o->heads, .head_dim = o->width / o->heads, .mlp = o->mlp,
                              .max_rows = o->max_rows, .max_seq = o->max_seq, .activation = o->activation, .eps = o->eps,
                              .threads = util_threads(o->threads)};
    size_t rows = (size_t)o->max_rows, w = (size_t)o->width, s = (size_t)o->max_seq;
    void *(*alloc)(size_t) = o->huge_pages ? util_scratch : malloc;
    t->ln = alloc(rows * w * sizeof(float));
    t->qkv = alloc(rows * 3 * w * sizeof(float));
    t->hidden = alloc(rows * (size_t)o->mlp * sizeof(float));
    t->scores = malloc((size_t)t->heads * s * s * sizeof(float));
    /* written whole for each matrix: on huge pages whatever huge_pages says */
    if (o->expand_floats && !(t->wbuf = util_scratch(o->expand_floats * sizeof(float))))
        goto oom;
    t->wbuf_floats = o->expand_floats;
    /* a chunk a thread, for as many threads as transformer_set_threads may
     * give: only the pages of the threads that run are ever touched */
    t->chunk_in = o->width > o->mlp ? o->width : o->mlp;
    t->chunk = util_scratch((size_t)UTIL_MAX_THREADS * CHUNK_COLS * (size_t)t->chunk_in * sizeof(float));
    /* matmul's packed x, for the products of up to SHARE_ROWS rows */
    t->xp = malloc((size_t)(o->max_rows < SHARE_ROWS ? o->max_rows : SHARE_ROWS) * (size_t)t->chunk_in * sizeof(float));
    if (!t->ln || !t->qkv || !t->hidden || !t->scores || !t->chunk || !t->xp)
        goto oom;
    return t;
oom:
    transformer_close(t);
    error(err, "out of memory for transformer scratch (%d rows of width %d)", o->max_rows, o->width);
    return NULL;
}

void transformer_set_threads(struct transformer *t, int n) { t->threads = util_threads(n); }

void transformer_close(struct transformer *t)
{
    if (!t)
        return;
    free(t->ln);
    free(t->qkv);
    free(t->hidden);
    free(t->scores);
    free(t->wbuf);
    free(t->chunk);
    free(t->xp);
    free(t);
}

/* Sums in eight float lanes, as PyTorch's vectorised LayerNorm does in
 * float. Built for AVX2 + FMA and for any x86-64, chosen at load time. */
UTIL_X86_64_V3 void
transformer_layernorm(float *out, const float *x, const float *weight, const float *bias, int rows, int width,
                      float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * width;
        float *o = out + (size_t)r * width;
        v8sf acc = {0};
        int i = 0;
        for (; i + 8 <= width; i += 8) {
            v8sf v;
            memcpy(&v, xr + i, sizeof v);
            acc += v;
        }
        float sum = sum8(&acc);
        for (; i < width; i++)
            sum += xr[i];
        float mean = sum / (float)width, sq = 0;
        acc = (v8sf){0};
        for (i = 0; i + 8 <= width; i += 8) {
            v8sf v;
            memcpy(&v, xr + i, sizeof v);
            v -= mean;
            acc += v * v;
        }
        sq = sum8(&acc);
        for (; i < width; i++)
            sq += (xr[i] - mean) * (xr[i] - mean);
        float inv = 1.0f / sqrtf(sq / (float)width + eps);
        for (i = 0; i < width; i++)
            o[i] = (xr[i] - mean) * inv * weight[i] + bias[i];
    }
}

/* y[m..m+MR, n..n+2] += x[m..m+MR, :] @ w[n..n+2, :]^T, in a multiple of 8,
 * y's rows ldy apart: MR x 2 dot products in eight lanes, each weight vector
 * loaded once for all MR rows. With pf set, the 2 * in floats from pf on are
 * prefetched on the way, one cache line per step. */
static inline __attribute__((always_inline)) void few_rows_block(float *y, int ldy, const float *x, const void *w,
                                                                 size_t at, int in, int MR, const char *pf,
                                                                 uint32_t dtype, int f16c)
{
    v8sf acc[4][2] = {{{0}}};
    size_t es = weights_dtype_size(dtype);
    for (int k = 0; k < in; k += 8) {
        if (pf)
            __builtin_prefetch(pf + 2 * (size_t)k * es);
        v8sf b0, b1;
        load8(&b0, w, at + (size_t)k, dtype, f16c);
        load8(&b1, w, at + (size_t)in + (size_t)k, dtype, f16c);
        for (int r = 0; r < MR; r++) {
            v8sf a;
            memcpy(&a, x + (size_t)r * in + k, sizeof a);
            acc[r][0] += a * b0;
            acc[r][1] += a * b1;
        }
    }
    for (int r = 0; r < MR; r++) {
        y[(size_t)r * ldy] += sum8_tree(&acc[r][0]);
        y[(size_t)r * ldy + 1] += sum8_tree(&acc[r][1]);
    }
}

/* y[rows, n] += x[rows, in] @ w[n, in]^T for a few rows, y's rows ldy apart.
 * OpenBLAS first copies (packs) all of w, which for a handful of rows costs
 * more than the product itself; here each pair of weight rows is read from
 * memory once, straight from the map, and used against every row while it
 * sits in L1. The hardware prefetcher stops at every 4 KiB page, so the
 * next pair is prefetched by hand while the first rows work on this
 * one. in and n are even, in a multiple of 8 (widths are multiples of 64). */
static inline __attribute__((always_inline)) void few_rows_typed(float *y, int ldy, const float *x, const void *w,
                                                                 size_t first, int rows, int in, int n, uint32_t dtype,
                                                                 int f16c)
{
    size_t es = weights_dtype_size(dtype);
    for (int j = 0; j < n; j += 2) {
        size_t at = (first + (size_t)j) * (size_t)in;
        const char *pf = j + 2 < n ? (const char *)w + (at + (size_t)2 * in) * es : NULL;
        int m = 0;
        for (; m + 4 <= rows; m += 4, pf = NULL)
            few_rows_block(y + (size_t)m * ldy + j, ldy, x + (size_t)m * in, w, at, in, 4, pf, dtype, f16c);
        float *ym = y + (size_t)m * ldy + j;
        const float *xm = x + (size_t)m * in;
        switch (rows - m) {
        case 3: few_rows_block(ym, ldy, xm, w, at, in, 3, pf, dtype, f16c); break;
        case 2: few_rows_block(ym, ldy, xm, w, at, in, 2, pf, dtype, f16c); break;
        case 1: few_rows_block(ym, ldy, xm, w, at, in, 1, pf, dtype, f16c); break;
        }
    }
}

/* Columns [first, first + n) of the product; one copy of the kernel per
 * dtype, with the same order of operations: float16 weights give exactly
 * what their float32 expansion gives. */
#define FEW_ROWS_DTYPES(F16C)                                                                                        \
    if (w->dtype == WEIGHTS_F16)                                                                                     \
        few_rows_typed(y, ldy, x, w->data, first, rows, in, n, WEIGHTS_F16, F16C);                                  \
    else if (w->dtype == WEIGHTS_BF16)                                                                               \
        few_rows_typed(y, ldy, x, w->data, first, rows, in, n, WEIGHTS_BF16, F16C);                                 \
    else                                                                                                             \
        few_rows_typed(y, ldy, x, w->data, first, rows, in, n, WEIGHTS_F32, F16C)

#if UTIL_V3_KERNELS
__attribute__((target("arch=x86-64-v3"))) static void few_rows_v3(float *y, int ldy, const float *x,
                                                                  const struct weights_tensor *w, size_t first,
                                                                  int rows, int in, int n)
{
    FEW_ROWS_DTYPES(1);
}
#endif

static void few_rows_any(float *y, int ldy, const float *x, const struct weights_tensor *w, size_t first, int rows,
                         int in, int n)
{
    FEW_ROWS_DTYPES(0);
}

#if UTIL_V3_KERNELS
/* The AVX-512 form of few_rows_block for all rows at once: the pair of
 * columns shares one 16-lane accumulator a row, lanes 0-7 column n's and
 * 8-15 column n + 1's, with x's eight floats in both halves. Every lane
 * then sums the same products, fused the same way, in the same order as
 * few_rows_block's eight-lane accumulators, and the halves are summed by
 * the same tree: the result is bitwise the same, for half the multiply-add
 * instructions, and each weight is converted once for all rows rather than
 * once a block of four. */
__attribute__((target("arch=x86-64-v4"))) static inline __attribute__((always_inline)) void few_rows_block16(float *y, int ldy, const float *x, const void *w,
                                                                   size_t at, int in, int MR, const char *pf,
                                                                   uint32_t dtype)
{
    __m512 acc[FEW_ROWS];
    for (int r = 0; r < MR; r++)
        acc[r] = _mm512_setzero_ps();
    size_t es = weights_dtype_size(dtype);
    for (int k = 0; k < in; k += 8) {
        if (pf)
            __builtin_prefetch(pf + 2 * (size_t)k * es);
        /* the two columns' eight weights, as float32 */
        __m512 b;
        if (dtype == WEIGHTS_F32)
            b = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps((const float *)w + at + (size_t)k)),
                                   _mm256_loadu_ps((const float *)w + at + (size_t)in + (size_t)k), 1);
        else {
            const uint16_t *h = (const uint16_t *)w + at + (size_t)k;
            __m256i hh = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)h)),
                                                 _mm_loadu_si128((const __m128i *)(h + in)), 1);
            b = dtype == WEIGHTS_F16 ? _mm512_cvtph_ps(hh)
                                     : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(hh), 16));
        }
        for (int r = 0; r < MR; r++) {
            /* x's eight floats in both halves */
            __m512 a = _mm512_broadcast_f32x8(_mm256_loadu_ps(x + (size_t)r * in + k));
            acc[r] = _mm512_fmadd_ps(a, b, acc[r]);
        }
    }
    for (int r = 0; r < MR; r++) {
        v8sf lo, hi;
        memcpy(&lo, &acc[r], sizeof lo);
        memcpy(&hi, (char *)&acc[r] + 32, sizeof hi);
        y[(size_t)r * ldy] += sum8_tree(&lo);
        y[(size_t)r * ldy + 1] += sum8_tree(&hi);
    }
}

#define FEW_ROWS_CASE(MR)                                                                                            \
    case MR: few_rows_block16(y + j, ldy, x, w, at, in, MR, pf, dtype); break

/* few_rows_typed with few_rows_block16: one block of all rows (at most
 * FEW_ROWS, a constant count each so that the accumulators stay in the 32
 * vector registers). */
__attribute__((target("arch=x86-64-v4"))) static inline __attribute__((always_inline)) void few_rows_typed16(float *y, int ldy, const float *x, const void *w,
                                                                   size_t first, int rows, int in, int n,
                                                                   uint32_t dtype)
{
    size_t es = weights_dtype_size(dtype);
    for (int j = 0; j < n; j += 2) {
        size_t at = (first + (size_t)j) * (size_t)in;
        const char *pf = j + 2 < n ? (const char *)w + (at + (size_t)2 * in) * es : NULL;
        switch (rows) {
            FEW_ROWS_CASE(1); FEW_ROWS_CASE(2); FEW_ROWS_CASE(3); FEW_ROWS_CASE(4);
            FEW_ROWS_CASE(5); FEW_ROWS_CASE(6); FEW_ROWS_CASE(7); FEW_ROWS_CASE(8);
            FEW_ROWS_CASE(9); FEW_ROWS_CASE(10); FEW_ROWS_CASE(11); FEW_ROWS_CASE(12);
            FEW_ROWS_CASE(13); FEW_ROWS_CASE(14); FEW_ROWS_CASE(15); FEW_ROWS_CASE(16);
        }
    }
}

__attribute__((target("arch=x86-64-v4"))) static void few_rows_v4(float *y, int ldy, const float *x,
                                                                  const struct weights_tensor *w, size_t first,
                                                                  int rows, int in, int n)
{
    if (w->dtype == WEIGHTS_F16)
        few_rows_typed16(y, ldy, x, w->data, first, rows, in, n, WEIGHTS_F16);
    else if (w->dtype == WEIGHTS_BF16)
        few_rows_typed16(y, ldy, x, w->data, first, rows, in, n, WEIGHTS_BF16);
    else
        few_rows_typed16(y, ldy, x, w->data, first, rows, in, n, WEIGHTS_F32);
}

/* AVX-512 F, DQ, BW and VL (x86-64-v4), which few_rows_v4 is built for */
static int use_v4(void)
{
    static int v4 = -1;
    if (v4 < 0)
        v4 = use_v3() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    return v4 && !portable;
}
#endif

static void few_rows(float *y, int ldy, const float *x, const struct weights_tensor *w, size_t first, int rows, int in,
                     int n)
{
#if UTIL_V3_KERNELS
    if (rows <= FEW_ROWS && use_v4()) {
        few_rows_v4(y, ldy, x, w, first, rows, in, n);
        return;
    }
    if (use_v3()) {
        few_rows_v3(y, ldy, x, w, first, rows, in, n);
        return;
    }
#endif
    few_rows_any(y, ldy, x, w, first, rows, in, n);
}

/* A share of a few-rows product: columns [first, first + n) */
struct few_rows_share {
    float *y;
    const float *x;
    const struct weights_tensor *w;
    int rows, in, out, first, n;
};

static void *few_rows_run(void *arg)
{
    struct few_rows_share *s = arg;
    few_rows(s->y + s->first, s->out, s->x, s->w, (size_t)s->first, s->rows, s->in, s->n);
    return NULL;
}

/* Starting a thread costs tens of microseconds, a B/32 text layer's product
 * hundreds; products smaller than FEW_ROWS_SPLIT multiply-adds stay on the
 * calling thread. */
void transformer_few_rows(int threads, float *y, const float *x, const struct weights_tensor *w, int rows, int in,
                          int out)
{
    if ((size_t)rows * in * out < FEW_ROWS_SPLIT)
        threads = 1;
    struct few_rows_share s[UTIL_MAX_THREADS];
    int per = (out / 2 + threads - 1) / threads * 2, k = 0;
    for (int first = 0; first < out; first += per, k++)
        s[k] = (struct few_rows_share){y, x, w, rows, in, out, first, out - first < per ? out - first : per};
    util_parallel(few_rows_run, s, sizeof *s, k);
}

/* A share of a product of up to SHARE_ROWS rows: columns [first, first + n)
 * of y, with its own chunk of scratch */
struct linear_share {
    float *y, *chunk;
    const float *x;
    const struct weights_tensor *w;
    int rows, in, out, first, n;
};

static void *linear_run(void *arg)
{
    struct linear_share *s = arg;
    /* float32 weights are read where they are, in the same chunks as the
     * expanded float16 ones, so that both make the same products */
    for (int c = s->first; c < s->first + s->n; c += CHUNK_COLS) {
        int nc = s->first + s->n - c < CHUNK_COLS ? s->first + s->n - c : CHUNK_COLS;
        const float *wc = (const float *)s->w->data + (size_t)c * s->in;
        if (s->w->dtype != WEIGHTS_F32) {
            transformer_to_float(s->chunk, s->w, (size_t)c * s->in, (size_t)nc * s->in);
            wc = s->chunk;
        }
        /* y[rows, c..c+nc] += x[rows, in] @ w[c..c+nc, in]^T: each element
         * the same sum, in the same order, as in one product of all columns */
        blas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->rows, nc, s->in, 1.0f, s->x, s->in, wc, s->in,
                         1.0f, s->y + c, s->out);
    }
    return NULL;
}

void transformer_linear(struct transformer *t, float *y, const float *x, const struct weights_tensor *weight,
                   const float *bias, int rows, int in, int out, int residual)
{
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * out;
        if (residual)
            for (int i = 0; i < out; i++)
                yr[i] += bias[i];
        else
            memcpy(yr, bias, (size_t)out * sizeof(float));
    }
    if (rows <= FEW_ROWS)
        transformer_few_rows(t->threads, y, x, weight, rows, in, out);
    else
        transformer_product(t, y, x, weight, rows, in, out);
}

/* A share of matmul's columns: [first, first + n) */
struct matmul_share {
    const struct matmul *m;
    int first, n;
    float *wt;
};

static void *matmul_run(void *arg)
{
    struct matmul_share *s = arg;
    matmul_columns(s->m, s->first, s->n, s->wt);
    return NULL;
}

int transformer_shares(void) { return matmul_exact() || blas_splits_exact(); }

/* Thread i of n's share [*first, *end) of out columns: whole units of
 * width columns (the last cut at out), as evenly as they go. */
static void share_columns(int out, int width, int i, int n, int *first, int *end)
{
    int units = (out + width - 1) / width;
    *first = units * i / n * width;
    *end = units * (i + 1) / n * width;
    *end = *end < out ? *end : out;
}

void transformer_product(struct transformer *t, float *y, const float *x, const struct weights_tensor *weight,
                         int rows, int in, int out)
{
    int shared = rows <= SHARE_ROWS && in <= t->chunk_in && (double)rows * in * CHUNK_COLS > BLAS_SMALL;
    if (shared && matmul_exact()) {
        /* the BLAS's sums without its packing or the expansion before it;
         * a share a thread of MATMUL_COLS columns at a time, as evenly as
         * they go, each thread's converted into its chunk */
        matmul_pack(t->xp, x, rows, in);
        struct matmul m = {y, out, t->xp, weight, rows, in};
        struct matmul_share s[UTIL_MAX_THREADS];
        for (int i = 0, first, end; i < t->threads; i++) {
            share_columns(out, MATMUL_COLS, i, t->threads, &first, &end);
            s[i] = (struct matmul_share){&m, first, end - first, t->chunk + (size_t)i * CHUNK_COLS * (size_t)t->chunk_in};
        }
        util_parallel(matmul_run, s, sizeof *s, t->threads);
        return;
    }
    if (shared && out % CHUNK_COLS == 0 && blas_splits_exact()) {
        /* a share a thread, its columns whole chunks, as evenly as they go */
        struct linear_share s[UTIL_MAX_THREADS];
        for (int i = 0, first, end; i < t->threads; i++) {
            share_columns(out, CHUNK_COLS, i, t->threads, &first, &end);
            s[i] = (struct linear_share){y, t->chunk + (size_t)i * CHUNK_COLS * (size_t)t->chunk_in, x, weight,
                                         rows, in, out, first, end - first};
        }
        util_parallel(linear_run, s, sizeof *s, t->threads);
        return;
    }
    /* the BLAS takes float32: half-precision weights are expanded first,
     * once for all rows (a batch's worth of work beside it) */
    const float *wf = transformer_expand(t, weight, (size_t)out * (size_t)in);
    /* y[rows, out] += x[rows, in] @ weight[out, in]^T */
    blas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x, in, wf, in, 1.0f, y, out);
}

/* Attention of one sequence, qkv [seq, 3W], for its nq query rows from row
 * first on, heads [h0, h1): out [nq, W], those heads' columns. */
static void attention(struct transformer *t, const float *qkv, int seq, int first, int nq, float *out, int causal,
                      int h0, int h1)
{
    int W = t->width;
    const int D = t->head_dim;
    const float scale = 1.0f / sqrtf((float)D);
    for (int h = h0; h < h1; h++) {
        const float *q = qkv + (size_t)first * 3 * W + h * D, *k = qkv + W + h * D, *v = k + W;
        float *s = t->scores + (size_t)h * seq * seq;
        /* s[nq, seq] = q[nq, 64] @ k[seq, 64]^T * scale */
        blas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, seq, D, scale, q, 3 * W, k, 3 * W, 0.0f, s,
                    seq);
        for (int i = 0; i < nq; i++) {
            float *row = s + (size_t)i * seq;
            int n = causal ? first + i + 1 : seq;
            float max = row[0], sum = 0;
            for (int j = 1; j < n; j++)
                max = row[j] > max ? row[j] : max;
            for (int j = 0; j < n; j++)
                sum += row[j] = expf(row[j] - max);
            for (int j = 0; j < n; j++)
                row[j] /= sum;
            for (int j = n; j < seq; j++)
                row[j] = 0;
        }
        /* out[nq, 64] (head h's columns) = s[nq, seq] @ v[seq, 64] */
        blas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, D, seq, 1.0f, s, seq, v, 3 * W, 0.0f,
                    out + h * D, W);
    }
}

/* *px = e^x for 8 lanes to within a few ulp: Cephes' expf (Cody-Waite reduction,
 * degree-5 polynomial), in GCC vector types since libm's expf is scalar. */
static inline void exp8(v8sf *px)
{
    v8sf x = *px;
    const v8sf lo = {-87, -87, -87, -87, -87, -87, -87, -87}, hi = {88, 88, 88, 88, 88, 88, 88, 88};
    v8si below = x < lo, above = x > hi;
    x = (v8sf)(((v8si)x & ~below) | ((v8si)lo & below));
    x = (v8sf)(((v8si)x & ~above) | ((v8si)hi & above));
    /* round to nearest by the 1.5 * 2^23 trick */
    v8sf n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    x = x - n * 0.693359375f - n * -2.12194440e-4f;
    v8sf p = 1.9875691500e-4f * x + 1.3981999507e-3f;
    p = p * x + 8.3334519073e-3f;
    p = p * x + 4.1665795894e-2f;
    p = p * x + 1.6666665459e-1f;
    p = p * x + 5.0000001201e-1f;
    p = p * x * x + x + 1.0f;
    v8si e = (__builtin_convertvector(n, v8si) + 127) << 23;
    *px = p * (v8sf)e;
}

/* *pv = GELU, 0.5 x (1 + erf(x / sqrt 2)), for 8 lanes: erf by Abramowitz and
 * Stegun's 7.1.26 (absolute error under 1.5e-7, a few float ulp near 1;
 * libm's scalar erff costs 9 times as much), 1 + erf taken as erfc's
 * product itself for x < 0, so that no cancellation loses the small values. */
static inline void gelu8(v8sf *pv)
{
    v8sf v = *pv;
    v8si neg = v < 0;
    v8sf a = (v8sf)((v8si)v & 0x7fffffff) * (float)M_SQRT1_2, t = 1.0f / (1.0f + 0.3275911f * a);
    v8sf p = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
    v8sf e = -a * a;
    exp8(&e);
    v8sf tail = p * e, two = 2.0f - tail; /* erfc(|x| / sqrt 2), and 1 + erf for x >= 0 */
    *pv = 0.5f * v * (v8sf)((neg & (v8si)tail) | (~neg & (v8si)two));
}

/* Built for AVX2 + FMA and for any x86-64, chosen when the program loads. */
UTIL_X86_64_V3 static void activate(float *x, size_t n,
                                                                                  enum weights_activation act)
{
    size_t i = 0;
    /* GELU's tanh form, 0.5 x (1 + tanh(u)) with u = sqrt(2 / pi) (x + 0.044715 x^3)
     * as torch has it, is x / (1 + e^(-2u)): QuickGELU's shape, vectorised alike */
    const float beta = (float)(M_SQRT2 * M_2_SQRTPI * 0.5);
    if (act == WEIGHTS_GELU)
        for (; i + 8 <= n; i += 8) {
            v8sf v;
            memcpy(&v, x + i, sizeof v);
            gelu8(&v);
            memcpy(x + i, &v, sizeof v);
        }
    if (act == WEIGHTS_QUICK_GELU || act == WEIGHTS_GELU_TANH)
        for (; i + 8 <= n; i += 8) {
            v8sf v;
            memcpy(&v, x + i, sizeof v);
            v8sf e = act == WEIGHTS_QUICK_GELU ? v * -1.702f : (v + 0.044715f * v * v * v) * (-2.0f * beta);
            exp8(&e);
            v = v / (1.0f + e);
            memcpy(x + i, &v, sizeof v);
        }
    for (; i < n; i++)
        x[i] = act == WEIGHTS_GELU        ? 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2))
               : act == WEIGHTS_GELU_TANH ? x[i] / (1.0f + expf(-2.0f * beta * (x[i] + 0.044715f * x[i] * x[i] * x[i])))
                                          : x[i] / (1.0f + expf(-1.702f * x[i]));
}

void transformer_activate(float *x, size_t n, enum weights_activation act) { activate(x, n, act); }

/* The steps between products: a share of LayerNorm's rows, of the
 * activation's elements, or of attention's heads, each the same split or
 * not. */
enum step_kind { STEP_LAYERNORM, STEP_ACTIVATE, STEP_ATTENTION };
struct step {
    enum step_kind kind;
    struct transformer *t;
    int first, end;        /* rows, elements or heads */
    float *out;            /* LayerNorm's [rows, W], the activated [n], attention's [nq, W] */
    const float *x, *w, *b; /* LayerNorm's input and parameters */
    const float *qkv;      /* attention's sequence, and its rows and queries */
    int seq, q0, nq, causal;
};

static void *step_run(void *arg)
{
    struct step *s = arg;
    size_t W = (size_t)s->t->width;
    if (s->kind == STEP_LAYERNORM)
        transformer_layernorm(s->out + (size_t)s->first * W, s->x + (size_t)s->first * W, s->w, s->b,
                              s->end - s->first, (int)W, s->t->eps);
    else if (s->kind == STEP_ACTIVATE)
        activate(s->out + s->first, (size_t)(s->end - s->first), s->t->activation);
    else
        attention(s->t, s->qkv, s->seq, s->q0, s->nq, s->out, s->causal, s->first, s->end);
    return NULL;
}

/* A step over [0, n), shared between t's threads when its work (in
 * multiply-adds or elements) repays waking them, as an image's 50 rows do
 * and a caption's few do not; each share's start a multiple of align
 * (the activation's vectors of 8, so that its scalar tail stays where it
 * was). */
#define STEP_SPLIT 16384
static void step(struct transformer *t, struct step s, int n, size_t work, int align)
{
    struct step shares[UTIL_MAX_THREADS];
    int k = work < STEP_SPLIT ? 1 : t->threads < n ? t->threads : n, per = (n / k + align - 1) / align * align;
    for (int i = 0; i < k; i++) {
        shares[i] = s;
        shares[i].first = per * i < n ? per * i : n;
        shares[i].end = i == k - 1 || per * (i + 1) > n ? n : per * (i + 1);
    }
    util_parallel(step_run, shares, sizeof *shares, k);
}

static void layernorm(struct transformer *t, float *out, const float *x, const float *w, const float *b, int rows)
{
    step(t, (struct step){.kind = STEP_LAYERNORM, .t = t, .out = out, .x = x, .w = w, .b = b}, rows,
         (size_t)rows * (size_t)t->width, 1);
}

/* With pick, only row pick[i] of each sequence goes on past attention
 * (keys and values still come from every row), into out [nseq, W];
 * without, every row does, in place in x. */
static void block(struct transformer *t, const struct weights_block *b, float *x, int nseq, const int *lens,
                  int causal, const size_t *pick, float *out)
{
    int W = t->width, rows = 0;
    for (int s = 0; s < nseq; s++)
        rows += lens[s];
    layernorm(t, t->ln, x, b->ln_1_weight, b->ln_1_bias, rows);
    transformer_linear(t, t->qkv, t->ln, &b->in_proj_weight, b->in_proj_bias, rows, W, 3 * W, 0); /* [rows, 3W] */
    for (int s = 0, at = 0; s < nseq; at += lens[s++]) {
        int first = pick ? (int)pick[s] - at : 0, nq = pick ? 1 : lens[s];
        struct step a = {.kind = STEP_ATTENTION, .t = t, .out = t->ln + (size_t)(pick ? s : at) * W,
                         .qkv = t->qkv + (size_t)at * 3 * W, .seq = lens[s], .q0 = first, .nq = nq, .causal = causal};
        /* heads on threads of ours call the BLAS at once: only where it
         * runs one thread of its own (transformer_shares' contract) */
        step(t, a, t->heads, transformer_shares() ? (size_t)nq * (size_t)lens[s] * (size_t)W : 0, 1);
    }
    if (pick) {
        for (int s = 0; s < nseq; s++)
            memcpy(out + (size_t)s * W, x + pick[s] * W, (size_t)W * sizeof(float));
        x = out;
        rows = nseq;
    }
    transformer_linear(t, x, t->ln, &b->out_proj_weight, b->out_proj_bias, rows, W, W, 1); /* x[rows, W] += */
    layernorm(t, t->ln, x, b->ln_2_weight, b->ln_2_bias, rows);
    transformer_linear(t, t->hidden, t->ln, &b->c_fc_weight, b->c_fc_bias, rows, W, t->mlp, 0); /* [rows, mlp] */
    size_t n = (size_t)rows * (size_t)t->mlp;
    step(t, (struct step){.kind = STEP_ACTIVATE, .t = t, .out = t->hidden}, (int)n, n, 8);
    transformer_linear(t, x, t->hidden, &b->c_proj_weight, b->c_proj_bias, rows, t->mlp, W, 1); /* x[rows, W] += */
}

void transformer_block(struct transformer *t, const struct weights_block *b, float *x, int nseq, const int *lens,
                       int causal)
{
    block(t, b, x, nseq, lens, causal, NULL, NULL);
}

void transformer_block_pick(struct transformer *t, const struct weights_block *b, float *x, int nseq, const int *lens,
                            int causal, const size_t *pick, float *out)
{
    block(t, b, x, nseq, lens, causal, pick, out);
}

void transformer_project(struct transformer *t, float *out, float *x, int n, const float *ln_weight,
                         const float *ln_bias, const struct weights_tensor *proj, int width, int embed)
{
    transformer_layernorm(x, x, ln_weight, ln_bias, n, width, t->eps);
    const float *pf = transformer_expand(t, proj, (size_t)width * (size_t)embed);
    /* out[n, E] = x[n, W] @ proj[W, E] */
    blas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, embed, width, 1.0f, x, width, pf, embed, 0.0f, out,
                embed);
}
