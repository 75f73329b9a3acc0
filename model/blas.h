/* blas.h - the CBLAS library (Debian's libblas.so.3, OpenBLAS behind it),
 * loaded on first use rather than when clippie starts, so that it can be
 * told which kernels to run before it initialises.
 *
 * OpenBLAS picks its kernels by the CPU's model number when it loads and
 * falls back to the oldest 64-bit ones (Prescott's, SSE3) for a model it
 * does not know: Debian 12's 0.3.21 does so on Intel's Emerald Rapids
 * (family 6, model 207), where its products then run 3 to 5 times slower
 * than on the AVX-512 kernels it gives Sapphire Rapids. blas_load loads it
 * again with OPENBLAS_CORETYPE naming the kernels it gives the closest CPU
 * it knows, only in that case (and never over the user's own setting): on
 * every CPU OpenBLAS knows, its choice and so every vector stays as it was.
 *
 *     char err[ERR_LEN];
 *     if (blas_load(err) < 0) return -1;   // "cannot load libblas.so.3: ..."
 *     blas.cblas_sgemm(CblasRowMajor, ...);
 */
#ifndef BLAS_H
#define BLAS_H

#include <cblas.h>

#include "util.h"

/* The functions clippie calls, declared from cblas.h. */
#define BLAS_API(X) X(cblas_sgemm) X(cblas_sgemv)
struct blas_api {
    BLAS_API(UTIL_LIB_POINTER)
};
/* Filled by blas_load; read-only after. */
extern struct blas_api blas;

/* 0 once blas's functions can be called, else -1 with err naming the
 * library and what the loader said. Loads once; later calls return at once.
 * It may set and unset an environment variable: call it while no other
 * thread of clippie's reads the environment (textenc_open and vit_open call
 * it beside one that maps in weights). OpenBLAS's own threads are sent away
 * after the load (see blas_idle). */
int blas_load(char *err);

/* Threads each BLAS call may use, where the BLAS can be told (OpenBLAS);
 * 0 restores what it used at the first call. Threads that each run a
 * tower on their own share of a batch set 1, so that the BLAS's threads
 * and theirs don't fight over the cores. Call it from one thread only. */
int blas_threads(int n); /* the count before, to give back */

/* OpenBLAS's worker threads spin for a while (about 0.1 s) waiting for
 * work after each product, taking a core from whatever runs instead: work
 * that does no large products sends them away. OpenBLAS starts them again
 * if a product comes after all. */
void blas_idle(void);

/* Whether a product split into chunks of BLAS_SPLIT_COLS columns (y's
 * columns [c, c + BLAS_SPLIT_COLS), each its own call) gives y bit for bit
 * as one product of all columns does, on this library's kernels:
 * SkylakeX's and Prescott's do, Haswell's (OpenBLAS 0.3.21) do not. Tried
 * once, on a product of the shape of an image's (50 rows, 768 long, 4
 * chunks); blas loaded. */
#define BLAS_SPLIT_COLS 128
int blas_splits_exact(void);

/* n values for a probe product such as blas_splits_exact's, going on from
 * *state (start it at 1): all their mantissa bits and a spread of
 * exponents, so that any other order of the product's sums shows in its
 * bits. */
void blas_probe_values(float *v, size_t n, uint32_t *state);

/* What the library says of itself (OpenBLAS's configuration and kernels,
 * and whether blas_load chose them), for --version: into out, NUL-ended.
 * -1 with err if it cannot be loaded. */
int blas_describe(char *out, size_t size, char *err);

#endif
