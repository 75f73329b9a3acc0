/* matmul.c - products of tens to a few hundred rows on AVX-512, the BLAS's
 * sums bit for bit, float16 weights read as they are (see matmul.h). */
#include "matmul.h"

#include "blas.h"

#if UTIL_V3_KERNELS
#include <immintrin.h>
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The BLAS's block of the long dimension (GEMM_Q), found by matmul_exact;
 * its driver rounds a block it halves to its GEMM_UNROLL_M, 16 for both
 * AVX-512 kernels. */
static int block_q;
#define BLOCK_UNROLL 16

/* Where the block from k0 on ends, by OpenBLAS's level-3 driver
 * (driver/level3/level3.c): whole blocks while two more fit, then the rest
 * in two halves, the first rounded up to the unroll. */
static int block_end(int k0, int in)
{
    int left = in - k0;
    if (left >= 2 * block_q)
        return k0 + block_q;
    if (left > block_q)
        return k0 + (left / 2 + BLOCK_UNROLL - 1) / BLOCK_UNROLL * BLOCK_UNROLL;
    return in;
}

#if UTIL_V3_KERNELS
#define V4 __attribute__((target("arch=x86-64-v4")))

/* The 16 x 16 floats of v transposed: v[i][j] becomes v[j][i]. Pairs of
 * rows interleaved, then fours, then the 128-bit quarters gathered: after
 * the second step v[4i + j]'s quarter q holds column 4q + j of rows 4i ..
 * 4i + 3. */
V4 static inline __attribute__((always_inline)) void transpose16(__m512 v[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        v[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        v[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        v[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        v[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int j = 0; j < 4; j++) {
        __m512 a = _mm512_shuffle_f32x4(v[j], v[4 + j], 0x88), b = _mm512_shuffle_f32x4(v[j], v[4 + j], 0xdd);
        __m512 c = _mm512_shuffle_f32x4(v[8 + j], v[12 + j], 0x88), d = _mm512_shuffle_f32x4(v[8 + j], v[12 + j], 0xdd);
        t[j] = _mm512_shuffle_f32x4(a, c, 0x88);
        t[8 + j] = _mm512_shuffle_f32x4(a, c, 0xdd);
        t[4 + j] = _mm512_shuffle_f32x4(b, d, 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(b, d, 0xdd);
    }
    for (int i = 0; i < 16; i++)
        v[i] = t[i];
}

/* dst[c][r] = src[r][c] for r < rows, c < cols, and dst[c][rows .. pad)
 * zero (pad >= rows), 16 x 16 at a time: a strided pass over either
 * matrix would find its lines mapped to a few of L1's sets. */
V4 static void transpose(float *dst, size_t ldd, const float *src, size_t lds, int rows, int cols, int pad)
{
    for (int r0 = 0; r0 < pad; r0 += 16) {
        int nr = rows - r0 < 16 ? rows - r0 : 16;
        __mmask16 store = (__mmask16)(pad - r0 < 16 ? (1u << (pad - r0)) - 1 : 0xffff);
        for (int c0 = 0; c0 < cols; c0 += 16) {
            int nc = cols - c0 < 16 ? cols - c0 : 16;
            __mmask16 load = (__mmask16)((1u << nc) - 1);
            __m512 v[16];
            for (int i = 0; i < 16; i++)
                v[i] = i < nr ? _mm512_maskz_loadu_ps(load, src + (size_t)(r0 + i) * lds + (size_t)c0)
                              : _mm512_setzero_ps();
            transpose16(v);
            for (int j = 0; j < nc; j++)
                _mm512_mask_storeu_ps(dst + (size_t)(c0 + j) * ldd + (size_t)r0, store, v[j]);
        }
    }
}

V4 static void pack_v4(float *xt, const float *x, int rows, int in)
{
    transpose(xt, (size_t)matmul_rows16(rows), x, (size_t)in, rows, in, matmul_rows16(rows));
}

/* The weights of the next tile's columns, read from memory into L2 while
 * this tile computes: its rows are MATMUL_COLS apart by row bytes, at is
 * element k0's (NULL: none), size an element's bytes. */
struct prefetch {
    const char *at;
    size_t row, size;
};

/* yt[c][v] += the sums over k0 <= k < k1 of xt[k][v] * wt[c][k], for nc
 * columns of w and nv vectors of 16 rows: one accumulator each (at most
 * 6 x 4 = 24 of the 32 registers), one fused multiply-add a k, as the
 * BLAS's kernel does; then one rounding into y, as its (C + alpha * sum)
 * with alpha 1. Constant nv and nc keep the accumulators in registers. */
V4 static inline __attribute__((always_inline)) void tile(float *yt, size_t ldyt, const float *xt, size_t ldxt,
                                                          const float *wt, size_t ldw, int k0, int k1, int nv, int nc,
                                                          const struct prefetch *pf)
{
    __m512 acc[MATMUL_COLS][4];
    for (int c = 0; c < nc; c++)
        for (int v = 0; v < nv; v++)
            acc[c][v] = _mm512_setzero_ps();
    for (int k = k0; k < k1; k++) {
        if (pf->at && !((k - k0) & 15))
            for (int c = 0; c < MATMUL_COLS; c++)
                _mm_prefetch(pf->at + (size_t)c * pf->row + (size_t)(k - k0) * pf->size, _MM_HINT_T1);
        __m512 a[4];
        for (int v = 0; v < nv; v++)
            a[v] = _mm512_load_ps(xt + (size_t)k * ldxt + 16 * (size_t)v);
        for (int c = 0; c < nc; c++) {
            __m512 b = _mm512_set1_ps(wt[(size_t)c * ldw + (size_t)k]);
            for (int v = 0; v < nv; v++)
                acc[c][v] = _mm512_fmadd_ps(a[v], b, acc[c][v]);
        }
    }
    for (int c = 0; c < nc; c++)
        for (int v = 0; v < nv; v++) {
            float *p = yt + (size_t)c * ldyt + 16 * (size_t)v;
            _mm512_store_ps(p, _mm512_add_ps(_mm512_load_ps(p), acc[c][v]));
        }
}

#define TILE_CASE(NV, NC)                                                                                            \
    case (NV) * 8 + (NC): tile(yt, ldyt, xt, ldxt, wt, ldw, k0, k1, NV, NC, pf); break
#define TILE_CASES(NV)                                                                                               \
    TILE_CASE(NV, 1); TILE_CASE(NV, 2); TILE_CASE(NV, 3); TILE_CASE(NV, 4); TILE_CASE(NV, 5); TILE_CASE(NV, 6)

V4 static void tile_any(float *yt, size_t ldyt, const float *xt, size_t ldxt, const float *wt, size_t ldw, int k0,
                        int k1, int nv, int nc, const struct prefetch *pf)
{
    switch (nv * 8 + nc) {
        TILE_CASES(1); TILE_CASES(2); TILE_CASES(3); TILE_CASES(4);
    }
}

/* wt[c][0 .. in) = w's row `row + c` as float32, exactly, for nc rows. */
V4 static void convert_rows(float *wt, const struct weights_tensor *w, size_t row, int nc, int in)
{
    for (int c = 0; c < nc; c++) {
        const uint16_t *h = (const uint16_t *)w->data + (row + (size_t)c) * (size_t)in;
        float *o = wt + (size_t)c * (size_t)in;
        int k = 0;
        for (; k + 16 <= in; k += 16) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(h + k));
            _mm512_storeu_ps(o + k, w->dtype == WEIGHTS_F16
                                        ? _mm512_cvtph_ps(v)
                                        : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16)));
        }
        for (; k < in; k++)
            o[k] = w->dtype == WEIGHTS_F16 ? util_half_to_float(h[k]) : util_bf16_to_float(h[k]);
    }
}

V4 static void columns_v4(const struct matmul *m, int first, int n, float *wt)
{
    size_t r16 = (size_t)matmul_rows16(m->rows), in = (size_t)m->in;
    int nvec = (int)(r16 / 16);
    /* y's columns transposed in, the padding rows zero (never a denormal
     * to slow the adds) */
    transpose(m->yt + (size_t)first * r16, r16, m->y + first, (size_t)m->ldy, m->rows, n, (int)r16);
    for (int o = first; o < first + n; o += MATMUL_COLS) {
        int nc = first + n - o < MATMUL_COLS ? first + n - o : MATMUL_COLS;
        const float *wo = (const float *)m->w->data + (size_t)o * in;
        if (m->w->dtype != WEIGHTS_F32) {
            convert_rows(wt, m->w, (size_t)o, nc, m->in);
            wo = wt;
        }
        /* the blocks in the BLAS's order, each added to y on its own */
        size_t es = weights_dtype_size(m->w->dtype);
        const char *next = o + 2 * MATMUL_COLS <= first + n ? (const char *)m->w->data + (size_t)(o + MATMUL_COLS) * in * es : NULL;
        for (int k0 = 0, k1; k0 < m->in; k0 = k1) {
            k1 = block_end(k0, m->in);
            for (int v = 0; v < nvec; v += 4) {
                struct prefetch pf = {v == 0 && next ? next + (size_t)k0 * es : NULL, in * es, es};
                tile_any(m->yt + (size_t)o * r16 + 16 * (size_t)v, r16, m->xt + 16 * (size_t)v, r16, wo, in, k0, k1,
                         nvec - v < 4 ? nvec - v : 4, nc, &pf);
            }
        }
    }
    transpose(m->y + first, (size_t)m->ldy, m->yt + (size_t)first * r16, r16, n, m->rows, n);
}

static int have_v4(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("f16c") &&
           __builtin_cpu_supports("fma");
}
#endif

void matmul_pack(float *xt, const float *x, int rows, int in)
{
#if UTIL_V3_KERNELS
    pack_v4(xt, x, rows, in);
#else
    (void)xt, (void)x, (void)rows, (void)in; /* matmul_exact said no */
#endif
}

void matmul_columns(const struct matmul *m, int first, int n, float *wt)
{
#if UTIL_V3_KERNELS
    columns_v4(m, first, n, wt);
#else
    (void)m, (void)first, (void)n, (void)wt; /* matmul_exact said no */
#endif
}

/* The block lengths of the kernels matmul_exact knows: Cooperlake's and
 * SkylakeX's GEMM_Q in OpenBLAS's param.h. */
static const int known_q[] = {320, 448};

/* A product of 50 rows (an image's) and a long dimension of 1096, which
 * the BLAS cuts into whole blocks, then two halves whose split is rounded:
 * it tells every known block length from the others. 27 columns take it
 * just past the BLAS's kernels for small matrices (27 x 50 > 1200), which
 * sum otherwise. */
static void probe(void)
{
#if UTIL_V3_KERNELS
    enum { M = 50, K = 1096, N = 27 };
    if (!have_v4())
        return;
    size_t r16 = (size_t)matmul_rows16(M);
    float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
    float *bias = malloc(sizeof(float) * M * N), *blas_y = malloc(sizeof(float) * M * N);
    float *y = malloc(sizeof(float) * M * N), *xt = aligned_alloc(64, sizeof(float) * r16 * K);
    float *yt = aligned_alloc(64, sizeof(float) * r16 * N);
    if (x && w && bias && blas_y && y && xt && yt) {
        /* values with all their mantissa bits and a spread of exponents,
         * so that any other order of the sums shows */
        uint32_t r = 1;
        for (size_t i = 0; i < (size_t)M * K + (size_t)N * K + (size_t)M * N; i++) {
            r = r * 1664525u + 1013904223u;
            float v = ((float)(r >> 8) / 16777216.0f - 0.5f) * (float)(1u << (r % 7));
            if (i < (size_t)M * K)
                x[i] = v;
            else if (i < (size_t)M * K + (size_t)N * K)
                w[i - (size_t)M * K] = v;
            else
                bias[i - (size_t)M * K - (size_t)N * K] = v;
        }
        /* the BLAS on one thread, as under a lone image's shares */
        int threads = blas_threads(1);
        memcpy(blas_y, bias, sizeof(float) * M * N);
        /* blas_y[M, N] += x[M, K] @ w[N, K]^T */
        blas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, 1.0f, blas_y, N);
        blas_threads(threads);
        struct weights_tensor wt = {.data = w, .dtype = WEIGHTS_F32};
        matmul_pack(xt, x, M, K);
        for (size_t i = 0; i < sizeof known_q / sizeof *known_q; i++) {
            block_q = known_q[i];
            memcpy(y, bias, sizeof(float) * M * N);
            matmul_columns(&(struct matmul){y, N, xt, yt, &wt, M, K}, 0, N, NULL);
            if (!memcmp(y, blas_y, sizeof(float) * M * N))
                break;
            block_q = 0;
        }
    }
    free(x), free(w), free(bias), free(blas_y), free(y), free(xt), free(yt);
#endif
}

int matmul_exact(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, probe);
    return block_q != 0;
}
