/* matmul.h - the products of a lone image's or a few texts' rows with a
 * layer's weights, y[rows, out] += x[rows, in] @ w[out, in]^T, on AVX-512,
 * reading float16 and bfloat16 weights as they lie in the file, and giving
 * the sums the BLAS gives, bit for bit.
 *
 * OpenBLAS's SkylakeX and Cooperlake kernels (0.3.21) sum each element of
 * such a product in one chain of fused multiply-adds over a block of the
 * long dimension at a time, from zero, adding each block's sum to y in
 * turn; its level-3 driver cuts the blocks by its GEMM_Q (448 and 320).
 * matmul_exact finds the block length whose sums equal the BLAS's on a
 * probe product, or says no (other kernels, other CPUs), where callers go
 * on calling the BLAS. For 50 rows the BLAS packs, and the caller expands,
 * every weight twice over: 40% of an image's time (bench/RESULTS.md).
 *
 * x is packed once a product, a tile's rows k by k; then each thread takes
 * a share of the columns, MATMUL_COLS at a time: their weights converted to
 * float32 and transposed into its scratch wt, once, then multiplied with
 * every row:
 *
 *     matmul_pack(xp, x, rows, in);
 *     struct matmul m = {y, out, xp, &weight, rows, in};
 *     matmul_columns(&m, first, n, wt);     // columns [first, first + n)
 */
#ifndef MATMUL_H
#define MATMUL_H

#include "weights.h"

/* Columns of w converted at a time: wt holds MATMUL_COLS * in floats. */
#define MATMUL_COLS 32

/* Whether matmul_columns gives what the BLAS's sgemm does: an AVX-512 CPU
 * and a probe product of the BLAS's equal bit for bit, tried once; the BLAS
 * loaded (blas_load). Its product runs the BLAS on one thread, then gives
 * back the count the caller had set (blas_threads), changing nothing where
 * that was one, as under a batch's lanes. */
int matmul_exact(void);

/* The block length matmul_exact found (the BLAS's GEMM_Q), or 0: for
 * --version. */
int matmul_block(void);

/* xp [rows * in] = x [rows, in], each tile's rows k by k (matmul_columns's
 * order). */
void matmul_pack(float *xp, const float *x, int rows, int in);

struct matmul {
    float *y; /* [rows, ldy] */
    int ldy;
    const float *xp;                /* x packed by matmul_pack */
    const struct weights_tensor *w; /* [ldy, in], float32, float16 or bfloat16 */
    int rows, in;
};

/* y[:, first .. first + n) += x @ w[first .. first + n, :]^T, the same sums
 * as the BLAS's (matmul_exact); wt: MATMUL_COLS * in floats of the thread's
 * own. Shares of disjoint columns may run on threads at once. */
void matmul_columns(const struct matmul *m, int first, int n, float *wt);

#endif
