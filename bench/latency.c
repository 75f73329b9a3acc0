/* The in-process latency driver: with a model loaded and warmed, the time of
 * one caption (tokenize + text tower), of one image (the model only, on
 * random pixels), a batch's rate, and the sgemm rate of the BLAS on every core
 * measured in the same run (the roof a batch is held to: the kernels clippie
 * runs, model/blas.c), as medians of wall and CPU time.
 *
 *     bench/latency MODEL.weights [RUNS [caption|image]]   # built by bench/latency.sh
 *
 * With "caption", the caption alone (for a profiler: callgrind's
 * --toggle-collect=textenc_encode); with "image", the caption and the lone
 * image (for perf, whose profile the batch would otherwise fill).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas.h"
#include "measure.h"
#include "textenc.h"
#include "tokenizer.h"
#include "vit.h"

static const char CAPTION[] = "a photo of a dog on the beach";

struct caption {
    struct tokenizer *tok;
    struct textenc *enc;
    float *vec;
    char err[ERR_LEN];
};

static int run_caption(void *ctx)
{
    struct caption *c = ctx;
    int32_t *ids = NULL;
    size_t replaced;
    int n = tokenizer_encode(c->tok, CAPTION, strlen(CAPTION), &ids, &replaced, c->err);
    const int32_t *list[1] = {ids};
    int rc = n < 0 ? -1 : textenc_encode(c->enc, list, &n, 1, c->vec, c->err);
    free(ids);
    return rc;
}

struct images {
    struct vit *v;
    const float *pixels;
    int count;
    float *vecs;
};

static int run_images(void *ctx)
{
    struct images *m = ctx;
    vit_encode(m->v, m->pixels, m->count, m->vecs);
    return 0;
}

/* c[M, N] = a[M, K] @ b[K, N]: the image tower's MLP product for a batch. */
struct sgemm {
    int M, K, N;
    const float *a, *b;
    float *c;
};

static int run_sgemm(void *ctx)
{
    struct sgemm *g = ctx;
    blas_threads(0); /* every core: the batch's lanes set one each */
    blas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->M, g->N, g->K, 1.0f, g->a, g->K, g->b, g->N, 0.0f, g->c,
                g->N);
    return 0;
}

/* Multiply-adds x 2 of one image through the tower: the patch embedding,
 * and per layer the four attention projections, the two MLP products and
 * the two attention products of S x S. */
static double image_flops(const struct weights_config *c)
{
    double S = c->vision_grid * c->vision_grid + 1.0, W = c->vision_width, P = c->vision_patch;
    double per_layer = 2 * S * (4 * W * W + 2 * W * c->vision_mlp) + 2 * 2 * S * S * W;
    return 2 * (S - 1) * 3 * P * P * W + c->vision_layers * per_layer;
}

/* Times one image, a batch and the sgemm, and prints them. */
static void report_images(const struct weights_config *cfg, struct images *one, struct images *batch,
                          struct sgemm *g, int runs, int batch_runs)
{
    struct clocks t1, tb, ts;
    measure((struct task){run_images, one}, runs, &t1);
    measure((struct task){run_images, batch}, batch_runs, &tb);
    measure((struct task){run_sgemm, g}, runs, &ts);
    int B = batch->count;
    double flops = image_flops(cfg), sgemm_rate = 2.0 * g->M * g->K * g->N / ts.wall / 1e9;
    double batch_rate = flops * B / tb.wall / 1e9;
    printf("| one image (model only) | %.2f ms | cpu %.2f ms | %.1f GFLOP/s |\n", t1.wall * 1e3, t1.cpu * 1e3,
           flops / t1.wall / 1e9);
    printf("| batch of %d images | %.2f ms an image | cpu %.2f ms an image | %.1f GFLOP/s = %.0f%% of sgemm |\n", B,
           tb.wall * 1e3 / B, tb.cpu * 1e3 / B, batch_rate, 100 * batch_rate / sgemm_rate);
    printf("| sgemm [%d x %d] @ [%d x %d] | %.2f ms | cpu %.2f ms | %.1f GFLOP/s |\n", g->M, g->K, g->K, g->N,
           ts.wall * 1e3, ts.cpu * 1e3, sgemm_rate);
}

static float *random_floats(size_t n)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; p && i < n; i++)
        p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: latency MODEL.weights [RUNS [caption|image]]\n");
        return 2;
    }
    int runs = argc >= 3 ? atoi(argv[2]) : 15, caption_only = argc == 4 && !strcmp(argv[3], "caption"),
        image_only = argc == 4 && !strcmp(argv[3], "image"), lanes = (int)sysconf(_SC_NPROCESSORS_ONLN);
    lanes = lanes < 1 ? 1 : lanes;
    char err[ERR_LEN];
    struct weights *w = weights_open(argv[1], err);
    if (!w) {
        fprintf(stderr, "latency: %s\n", err);
        return 1;
    }
    const struct weights_config *cfg = &w->cfg;
    int R = (int)(cfg->vision_patch * cfg->vision_grid), B = vit_batch(w, lanes), E = (int)cfg->embed_dim;
    struct caption cap = {.tok = tokenizer_open(err), .vec = malloc((size_t)E * sizeof(float))};
    cap.enc = cap.tok ? textenc_open(w, 77, lanes, err) : NULL;
    struct images one = {vit_open(w, 1, lanes, err), NULL, 1, malloc((size_t)E * sizeof(float))};
    struct images batch = {vit_open(w, B, lanes, err), NULL, B, malloc((size_t)B * (size_t)E * sizeof(float))};
    srand(1);
    one.pixels = batch.pixels = random_floats((size_t)B * 3 * (size_t)R * (size_t)R);
    /* [M=1600 x lanes, K=Wv] @ [Wv, mlp]: a batch's MLP product, each lane's
     * share 1600 rows; the BLAS loaded by vit_open */
    struct sgemm g = {1600 * lanes, (int)cfg->vision_width, (int)cfg->vision_mlp, NULL, NULL, NULL};
    g.a = random_floats((size_t)g.M * (size_t)g.K);
    g.b = random_floats((size_t)g.K * (size_t)g.N);
    g.c = malloc((size_t)g.M * (size_t)g.N * sizeof(float));
    if (!cap.enc || !one.v || !batch.v || !cap.vec || !one.vecs || !batch.vecs || !one.pixels || !g.a || !g.b ||
        !g.c) {
        fprintf(stderr, "latency: %s\n", cap.enc && one.v && batch.v ? "out of memory" : err);
        return 1;
    }
    struct clocks tc;
    int batch_runs = runs / 3 < 3 ? 3 : runs / 3;
    if (measure((struct task){run_caption, &cap}, runs, &tc) < 0) {
        fprintf(stderr, "latency: %s\n", cap.err);
        return 1;
    }
    printf("model %s: %s weights, image %d px, %.2f GFLOP an image; %d threads; medians of %d runs (batch %d)\n",
           argv[1], w->visual_blocks[0].c_fc_weight.dtype == WEIGHTS_F16 ? "float16" : "float32", R,
           image_flops(cfg) / 1e9, lanes, runs, batch_runs);
    printf("| one caption (tokenize + text tower) | %.2f ms | cpu %.2f ms |\n", tc.wall * 1e3, tc.cpu * 1e3);
    if (image_only) {
        struct clocks t1;
        measure((struct task){run_images, &one}, runs, &t1);
        printf("| one image (model only) | %.2f ms | cpu %.2f ms |\n", t1.wall * 1e3, t1.cpu * 1e3);
    } else if (!caption_only)
        report_images(cfg, &one, &batch, &g, runs, batch_runs);
    free(g.c);
    free((float *)g.b);
    free((float *)g.a);
    free((float *)one.pixels);
    free(batch.vecs);
    free(one.vecs);
    free(cap.vec);
    vit_close(batch.v);
    vit_close(one.v);
    textenc_close(cap.enc);
    tokenizer_close(cap.tok);
    weights_close(w);
    return 0;
}
