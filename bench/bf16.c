/* Past the f32 roof: bfloat16 products with float32 accumulation through
 * oneDNN's matmul (Debian's libdnnl 2.6: AVX512-BF16, AMX where the CPU has
 * it) against OpenBLAS's cblas_sgemm, in the same run, for the image tower's
 * products as clippie computes them, y[M, N] = x[M, K] @ W[N, K]^T, with
 * M = 50 rows an image: one image, and a batch of 32. It prints each rate in
 * GFLOP/s (medians), the bf16 time with and without rounding x to bf16 (the
 * tower's activations are float32), and the worst cosine between a row of
 * the bf16 product and the float32 one.
 *
 *     bench/bf16 [RUNS]           # built by bench/bf16.sh
 */
#include <cblas.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(call)                                                                                                    \
    do {                                                                                                               \
        dnnl_status_t s_ = (call);                                                                                     \
        if (s_ != dnnl_success) {                                                                                      \
            fprintf(stderr, "bf16: %s failed (%d)\n", #call, (int)s_);                                                 \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* float32 to bfloat16, rounding to nearest even (no NaNs here). */
static void to_bf16(uint16_t *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &in[i], sizeof u);
        out[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
}

static float *random_floats(size_t n)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; p && i < n; i++)
        p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}

/* The worst cosine between rows of a and b, both [M, N]. */
static double worst_cosine(const float *a, const float *b, int M, int N)
{
    double worst = 1;
    for (int i = 0; i < M; i++) {
        double ab = 0, aa = 0, bb = 0;
        for (int j = 0; j < N; j++) {
            double x = a[(size_t)i * N + j], y = b[(size_t)i * N + j];
            ab += x * y, aa += x * x, bb += y * y;
        }
        double c = ab / sqrt(aa * bb);
        worst = c < worst ? c : worst;
    }
    return worst;
}

struct bf16_matmul {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst;
    uint16_t *x16;
    void *packed;
};

/* The matmul of bf16 x [M, K] and W [N, K] (handed over as [K, N] with
 * strides of W^T), W reordered once into the layout oneDNN picks, as a
 * model's weights would be at load. */
static void bf16_open(struct bf16_matmul *m, dnnl_engine_t engine, dnnl_stream_t stream, const uint16_t *w16, float *y,
                      int M, int K, int N)
{
    dnnl_memory_desc_t src_md, wei_md, wei_user_md, dst_md;
    dnnl_dims_t src_dims = {M, K}, wei_dims = {K, N}, dst_dims = {M, N};
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, 2, src_dims, dnnl_bf16, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&wei_md, 2, wei_dims, dnnl_bf16, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&wei_user_md, 2, wei_dims, dnnl_bf16, dnnl_ba));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 2, dst_dims, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t desc;
    CHECK(dnnl_matmul_desc_init(&desc, &src_md, &wei_md, NULL, &dst_md));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL));
    const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    m->engine = engine, m->stream = stream;
    m->x16 = malloc((size_t)M * (size_t)K * sizeof *m->x16);
    m->packed = malloc(dnnl_memory_desc_get_size(chosen));
    CHECK(dnnl_primitive_create(&m->prim, pd));
    CHECK(dnnl_memory_create(&m->src, &src_md, engine, m->x16));
    CHECK(dnnl_memory_create(&m->wei, chosen, engine, m->packed));
    CHECK(dnnl_memory_create(&m->dst, &dst_md, engine, y));
    /* the weights into oneDNN's layout, once */
    dnnl_memory_t user;
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t reorder;
    CHECK(dnnl_memory_create(&user, &wei_user_md, engine, (void *)w16));
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, &wei_user_md, engine, chosen, engine, NULL));
    CHECK(dnnl_primitive_create(&reorder, rpd));
    dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, m->wei}};
    CHECK(dnnl_primitive_execute(reorder, stream, 2, rargs));
    CHECK(dnnl_stream_wait(stream));
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(user);
    dnnl_primitive_desc_destroy(pd);
}

static void bf16_close(struct bf16_matmul *m)
{
    dnnl_primitive_destroy(m->prim);
    dnnl_memory_destroy(m->src);
    dnnl_memory_destroy(m->wei);
    dnnl_memory_destroy(m->dst);
    free(m->x16);
    free(m->packed);
}

static void bf16_run(struct bf16_matmul *m)
{
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, m->src}, {DNNL_ARG_WEIGHTS, m->wei}, {DNNL_ARG_DST, m->dst}};
    CHECK(dnnl_primitive_execute(m->prim, m->stream, 3, args));
    CHECK(dnnl_stream_wait(m->stream));
}

/* Median seconds of runs calls of one of the three products below. */
enum product { SGEMM, BF16, BF16_ROUNDING_X };

static double time_product(enum product p, int runs, struct bf16_matmul *m, const float *x, const float *w, float *y,
                           int M, int K, int N)
{
    double *t = malloc((size_t)runs * sizeof *t);
    for (int i = -3; i < runs; i++) {
        double a = seconds();
        if (p == SGEMM) /* y[M, N] = x[M, K] @ w[N, K]^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, 0.0f, y, N);
        else {
            if (p == BF16_ROUNDING_X)
                to_bf16(m->x16, x, (size_t)M * (size_t)K);
            bf16_run(m);
        }
        if (i >= 0)
            t[i] = seconds() - a;
    }
    qsort(t, (size_t)runs, sizeof *t, by_value);
    double med = t[runs / 2];
    free(t);
    return med;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 21;
    runs = runs < 1 ? 1 : runs;
    /* the four products of a ViT-B/32 layer (width 768, MLP 3072): [N, K] */
    static const int shapes[][2] = {{2304, 768}, {768, 768}, {3072, 768}, {768, 3072}};
    static const char *names[] = {"attention in_proj", "attention out_proj", "MLP c_fc", "MLP c_proj"};
    static const int images[] = {1, 32};
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    srand(1);
    printf("| product | images | M x K x N | sgemm GFLOP/s | bf16 GFLOP/s | bf16 with x rounded GFLOP/s | ratio | worst row cosine |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (size_t b = 0; b < sizeof images / sizeof *images; b++) {
            int N = shapes[s][0], K = shapes[s][1], M = 50 * images[b];
            float *x = random_floats((size_t)M * (size_t)K), *w = random_floats((size_t)N * (size_t)K);
            float *y = malloc((size_t)M * (size_t)N * sizeof *y), *y16 = malloc((size_t)M * (size_t)N * sizeof *y16);
            uint16_t *w16 = malloc((size_t)N * (size_t)K * sizeof *w16);
            to_bf16(w16, w, (size_t)N * (size_t)K);
            struct bf16_matmul m;
            bf16_open(&m, engine, stream, w16, y16, M, K, N);
            double flops = 2.0 * M * K * N;
            double ts = time_product(SGEMM, runs, &m, x, w, y, M, K, N);
            double tr = time_product(BF16_ROUNDING_X, runs, &m, x, w, y16, M, K, N);
            double tb = time_product(BF16, runs, &m, x, w, y16, M, K, N);
            printf("| %s | %d | %d x %d x %d | %.1f | %.1f | %.1f | %.2fx | %.7f |\n", names[s], images[b], M, K, N,
                   flops / ts / 1e9, flops / tb / 1e9, flops / tr / 1e9, ts / tr, worst_cosine(y, y16, M, N));
            bf16_close(&m);
            free(w16);
            free(y16);
            free(y);
            free(w);
            free(x);
        }
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
    return 0;
}
