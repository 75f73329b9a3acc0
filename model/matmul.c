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

/* Rows a tile takes at most: 12 x 2 accumulators. */
#define TILE_ROWS 12

/* Tile t's rows [*r0, *r1) of rows, the tiles as even as they go: 50 rows
 * as 5 of 10, not 4 of 12 and one of 2, whose few accumulators would wait
 * on each other. */
static int tile_rows(int rows, int t, int *r0, int *r1)
{
    int tiles = (rows + TILE_ROWS - 1) / TILE_ROWS;
    *r0 = rows * t / tiles, *r1 = rows * (t + 1) / tiles;
    return tiles;
}

#if UTIL_V3_KERNELS
#define V4 __attribute__((target("arch=x86-64-v4")))

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

/* The weights of the next columns, read from memory into L2 while these
 * compute: n rows of row bytes from at (NULL: none), elements of size
 * bytes, the row tile's k0 on. */
struct prefetch {
    const char *at;
    size_t row, size;
    int n;
};

/* y[r][c] += the sums over k0 <= k < k1 of xp[k][r] * wt[k][c], for nr rows
 * and nv vectors of 16 columns (the last masked by last): one accumulator
 * each (at most 12 x 2 = 24 of the 32 registers), one fused multiply-add a
 * k, as the BLAS's kernel does; then one rounding into y, as its
 * (C + alpha * sum) with alpha 1. Constant nr and nv keep the accumulators
 * in registers; xp, the tile's rows packed k by k, lets one pointer reach
 * them all. Each k also fetches a line of the next columns' weights. */
V4 static inline __attribute__((always_inline)) void tile(float *y, size_t ldy, const float *xp, const float *wt,
                                                          int k0, int k1, int nr, int nv, __mmask16 last,
                                                          const struct prefetch *pf)
{
    __m512 acc[12][2];
    for (int r = 0; r < nr; r++)
        for (int v = 0; v < nv; v++)
            acc[r][v] = _mm512_setzero_ps();
    for (int k = k0; k < k1; k++) {
        int c = (k - k0) & (MATMUL_COLS - 1);
        if (pf->at && c < pf->n)
            for (size_t l = 0; l < pf->size / 2; l++) /* a row's 32 elements a pass */
                _mm_prefetch(pf->at + (size_t)c * pf->row + (size_t)(k - k0 - c) * pf->size + 64 * l, _MM_HINT_T1);
        __m512 w[2];
        for (int v = 0; v < nv; v++)
            w[v] = _mm512_load_ps(wt + (size_t)k * MATMUL_COLS + 16 * (size_t)v);
        for (int r = 0; r < nr; r++) {
            __m512 b = _mm512_set1_ps(xp[(size_t)k * (size_t)nr + (size_t)r]);
            for (int v = 0; v < nv; v++)
                acc[r][v] = _mm512_fmadd_ps(w[v], b, acc[r][v]);
        }
    }
    for (int r = 0; r < nr; r++)
        for (int v = 0; v < nv; v++) {
            float *p = y + (size_t)r * ldy + 16 * (size_t)v;
            __mmask16 m = v == nv - 1 ? last : 0xffff;
            _mm512_mask_storeu_ps(p, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, p), acc[r][v]));
        }
}

#define TILE_CASE(NR, NV)                                                                                            \
    case (NR) * 4 + (NV): tile(y, ldy, xp, wt, k0, k1, NR, NV, last, pf); break
#define TILE_CASES(NR) TILE_CASE(NR, 1); TILE_CASE(NR, 2)

V4 static void tile_any(float *y, size_t ldy, const float *xp, const float *wt, int k0, int k1, int nr, int nv,
                        __mmask16 last, const struct prefetch *pf)
{
    switch (nr * 4 + nv) {
        TILE_CASES(1); TILE_CASES(2); TILE_CASES(3); TILE_CASES(4); TILE_CASES(5); TILE_CASES(6);
        TILE_CASES(7); TILE_CASES(8); TILE_CASES(9); TILE_CASES(10); TILE_CASES(11); TILE_CASES(12);
    }
}

/* Sixteen elements of a row of w from at as float32, exactly; those past
 * take zero. */
V4 static inline __attribute__((always_inline)) __m512 load16(const char *at, __mmask16 take, uint32_t dtype)
{
    if (dtype == WEIGHTS_F32)
        return _mm512_maskz_loadu_ps(take, at);
    __m256i h = _mm256_maskz_loadu_epi16(take, at);
    return dtype == WEIGHTS_F16 ? _mm512_cvtph_ps(h) : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* convert_columns for one dtype, its rows' starts in rows[16 * half + i]
 * (NULL: a column past the matrix's, zero). */
V4 static inline __attribute__((always_inline)) void convert_typed(float *wt, const char *const *rows, int in,
                                                                   uint32_t dtype)
{
    size_t es = weights_dtype_size(dtype);
    for (int half = 0; half < MATMUL_COLS / 16; half++)
        for (int k0 = 0; k0 < in; k0 += 16) {
            int nk = in - k0 < 16 ? in - k0 : 16;
            __mmask16 take = (__mmask16)((1u << nk) - 1);
            __m512 v[16];
            for (int i = 0; i < 16; i++) {
                const char *at = rows[16 * half + i];
                v[i] = at ? load16(at + (size_t)k0 * es, take, dtype) : _mm512_setzero_ps();
            }
            transpose16(v);
            for (int j = 0; j < nk; j++)
                _mm512_store_ps(wt + (size_t)(k0 + j) * MATMUL_COLS + 16 * (size_t)half, v[j]);
        }
}

/* wt[k][c] = w[row + c][k] as float32, exactly, for c < nc, and zero for
 * nc <= c < MATMUL_COLS: sixteen rows and sixteen elements at a time,
 * converted, then transposed in registers. */
V4 static void convert_columns(float *wt, const struct weights_tensor *w, size_t row, int nc, int in)
{
    const char *rows[MATMUL_COLS];
    size_t es = weights_dtype_size(w->dtype);
    for (int c = 0; c < MATMUL_COLS; c++)
        rows[c] = c < nc ? (const char *)w->data + (row + (size_t)c) * (size_t)in * es : NULL;
    if (w->dtype == WEIGHTS_F16)
        convert_typed(wt, rows, in, WEIGHTS_F16);
    else if (w->dtype == WEIGHTS_BF16)
        convert_typed(wt, rows, in, WEIGHTS_BF16);
    else
        convert_typed(wt, rows, in, WEIGHTS_F32);
}

V4 static void columns_v4(const struct matmul *m, int first, int n, float *wt)
{
    size_t es = weights_dtype_size(m->w->dtype), in = (size_t)m->in;
    int r0, r1, tiles = tile_rows(m->rows, 0, &r0, &r1);
    for (int o = first; o < first + n; o += MATMUL_COLS) {
        int nc = first + n - o < MATMUL_COLS ? first + n - o : MATMUL_COLS, nv = (nc + 15) / 16;
        __mmask16 last = (__mmask16)(nc - 16 * (nv - 1) == 16 ? 0xffff : (1u << (nc - 16 * (nv - 1))) - 1);
        convert_columns(wt, m->w, (size_t)o, nc, m->in);
        int next = first + n - (o + nc);
        next = next < MATMUL_COLS ? next : MATMUL_COLS;
        /* the blocks in the BLAS's order, each added to y on its own */
        for (int k0 = 0, k1; k0 < m->in; k0 = k1) {
            k1 = block_end(k0, m->in);
            for (int t = 0; t < tiles; t++) {
                tile_rows(m->rows, t, &r0, &r1);
                struct prefetch pf = {t == 0 && next > 0 ? (const char *)m->w->data + ((size_t)(o + nc) * in + (size_t)k0) * es : NULL,
                                      in * es, es, next};
                tile_any(m->y + (size_t)r0 * (size_t)m->ldy + (size_t)o, (size_t)m->ldy, m->xp + (size_t)r0 * in, wt,
                         k0, k1, r1 - r0, nv, last, &pf);
            }
        }
    }
}

static int have_v4(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("f16c") &&
           __builtin_cpu_supports("fma");
}
#endif

void matmul_pack(float *xp, const float *x, int rows, int in)
{
    int r0, r1;
    for (int t = 0, tiles = 1; t < tiles; t++) {
        tiles = tile_rows(rows, t, &r0, &r1);
        float *p = xp + (size_t)r0 * (size_t)in;
        for (int k = 0; k < in; k++)
            for (int r = r0; r < r1; r++)
                *p++ = x[(size_t)r * (size_t)in + (size_t)k];
    }
}

void matmul_columns(const struct matmul *m, int first, int n, float *wt)
{
#if UTIL_V3_KERNELS
    columns_v4(m, first, n, wt);
#else
    (void)m, (void)first, (void)n, (void)wt; /* matmul_exact said no */
#endif
}

/* A product of 50 rows (an image's) and a long dimension of 1096, which
 * the BLAS cuts into whole blocks, then two halves whose split is rounded:
 * it tells every known block length from the others. 27 columns take it
 * just past the BLAS's kernels for small matrices (27 x 50 > 1200), which
 * sum otherwise. */
static void probe(void)
{
#if UTIL_V3_KERNELS
    /* The block lengths of the kernels matmul_exact knows: Cooperlake's and
     * SkylakeX's GEMM_Q in OpenBLAS's param.h. */
    static const int known_q[] = {320, 448};
    enum { M = 50, K = 1096, N = 27 };
    if (!have_v4())
        return;
    float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
    float *bias = malloc(sizeof(float) * M * N), *blas_y = malloc(sizeof(float) * M * N);
    float *y = malloc(sizeof(float) * M * N), *wt = aligned_alloc(64, sizeof(float) * MATMUL_COLS * K);
    float *xp = malloc(sizeof(float) * M * K);
    if (x && w && bias && blas_y && y && wt && xp) {
        uint32_t r = 1;
        blas_probe_values(x, (size_t)M * K, &r);
        blas_probe_values(w, (size_t)N * K, &r);
        blas_probe_values(bias, (size_t)M * N, &r);
        /* the BLAS on one thread, as under a lone image's shares */
        int threads = blas_threads(1);
        memcpy(blas_y, bias, sizeof(float) * M * N);
        /* blas_y[M, N] += x[M, K] @ w[N, K]^T */
        blas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, 1.0f, blas_y, N);
        blas_threads(threads);
        struct weights_tensor wm = {.data = w, .dtype = WEIGHTS_F32};
        matmul_pack(xp, x, M, K);
        for (size_t i = 0; i < sizeof known_q / sizeof *known_q; i++) {
            block_q = known_q[i];
            memcpy(y, bias, sizeof(float) * M * N);
            matmul_columns(&(struct matmul){y, N, xp, &wm, M, K}, 0, N, wt);
            if (!memcmp(y, blas_y, sizeof(float) * M * N))
                break;
            block_q = 0;
        }
    }
    free(x), free(w), free(bias), free(blas_y), free(y), free(wt), free(xp);
#endif
}

int matmul_exact(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, probe);
    return block_q != 0;
}

int matmul_block(void) { return matmul_exact() ? block_q : 0; }
