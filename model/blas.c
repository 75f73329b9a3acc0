/* blas.c - the CBLAS library, loaded on first use, with OpenBLAS told its
 * kernels where it does not know the CPU (see blas.h). */
#include "blas.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct blas_api blas;
static const char *const blas_names[] = {BLAS_API(UTIL_LIB_NAME)};
static struct util_lib lib = UTIL_LIB(BLAS_SONAME, blas_names, blas);

/* OpenBLAS's own functions, absent from other CBLAS libraries */
static struct {
    char *(*corename)(void);
    char *(*config)(void);
    void (*set_threads)(int);
    int (*get_threads)(void);
    void (*shutdown)(void);
} openblas;
static const char *chosen; /* the kernels blas_load named, or NULL */

static void find_openblas(void)
{
    /* POSIX: a data pointer from dlsym holds a function's address */
    void *f[5] = {util_lib_optional(&lib, "openblas_get_corename"), util_lib_optional(&lib, "openblas_get_config"),
                  util_lib_optional(&lib, "openblas_set_num_threads"),
                  util_lib_optional(&lib, "openblas_get_num_threads"), util_lib_optional(&lib, "blas_thread_shutdown_")};
    memcpy(&openblas, f, sizeof openblas);
}

/* The kernels to name when OpenBLAS fell back to Prescott's on a CPU that
 * has more (the fallback for a model it does not know, never its choice for
 * a CPU with AVX2), else NULL: those 0.3.21 gives Sapphire Rapids (Cooperlake
 * with AVX512-BF16, else SkylakeX), or Haswell's for AVX2 with FMA. */
static const char *better_kernels(void)
{
#if defined(__x86_64__)
    if (!openblas.corename || strcasecmp(openblas.corename(), "Prescott") != 0 || getenv("OPENBLAS_CORETYPE"))
        return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return __builtin_cpu_supports("avx512bf16") ? "Cooperlake" : "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
#endif
    return NULL;
}

/* Loads the library, again with its kernels named where it took Prescott's;
 * util_lib keeps the outcome, and its message, for every later call. */
static void load(void)
{
    char err[ERR_LEN];
    if (util_lib_load(&lib, err) < 0)
        return;
    find_openblas();
    const char *kernels = better_kernels();
    if (kernels) {
        /* OpenBLAS reads OPENBLAS_CORETYPE when it initialises, so it is
         * loaded again; unset after, so clippie's children see what it saw */
        util_lib_unload(&lib);
        setenv("OPENBLAS_CORETYPE", kernels, 1);
        int loaded = util_lib_load(&lib, err);
        unsetenv("OPENBLAS_CORETYPE");
        if (loaded < 0)
            return;
        find_openblas();
        if (openblas.corename && strcasecmp(openblas.corename(), kernels) == 0)
            chosen = kernels;
    }
    /* its threads, started as it loaded, spin and take a core from
     * clippie's own until a product that wants them (blas_threads) */
    blas_idle();
}

int blas_load(char *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, load);
    return util_lib_load(&lib, err);
}

int blas_threads(int n)
{
    /* only changes are passed on: setting OpenBLAS's count starts its
     * threads, even those blas_idle sent away and the same count */
    static int initial, current;
    int was = current;
    if (!openblas.set_threads || !openblas.get_threads || n == current)
        return was;
    if (!initial)
        initial = openblas.get_threads();
    openblas.set_threads(n > 0 ? n : initial);
    current = n;
    return was;
}

void blas_idle(void)
{
    if (openblas.shutdown)
        openblas.shutdown();
}

void blas_probe_values(float *v, size_t n, uint32_t *state)
{
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u; /* a simple LCG */
        v[i] = ((float)(*state >> 8) / 16777216.0f - 0.5f) * (float)(1u << (*state % 7));
    }
}

static int splits_exact; /* blas_splits_exact's outcome */

static void try_splits(void)
{
    enum { M = 50, K = 768, CHUNKS = 4, N = CHUNKS * BLAS_SPLIT_COLS };
    float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
    float *one = calloc((size_t)M * N, sizeof(float)), *split = calloc((size_t)M * N, sizeof(float));
    if (x && w && one && split) {
        uint32_t r = 1;
        blas_probe_values(x, (size_t)M * K, &r);
        blas_probe_values(w, (size_t)N * K, &r);
        /* one[M, N] += x[M, K] @ w[N, K]^T, then the same a chunk at a time */
        blas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, 1.0f, one, N);
        for (int c = 0; c < N; c += BLAS_SPLIT_COLS)
            blas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, BLAS_SPLIT_COLS, K, 1.0f, x, K,
                             w + (size_t)c * K, K, 1.0f, split + c, N);
        splits_exact = !memcmp(one, split, sizeof(float) * M * N);
    }
    free(x), free(w), free(one), free(split);
}

int blas_splits_exact(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, try_splits);
    return splits_exact;
}

int blas_describe(char *out, size_t size, char *err)
{
    if (blas_load(err) < 0)
        return -1;
    if (!openblas.config)
        snprintf(out, size, "%s, a CBLAS library (not OpenBLAS)", BLAS_SONAME);
    else if (chosen)
        snprintf(out, size, "%s (kernels named by clippie: OpenBLAS does not know this CPU and took Prescott's)",
                 openblas.config());
    else
        snprintf(out, size, "%s", openblas.config());
    return 0;
}
