/* The peer's in-process latency driver: bench/latency.c's measurements made
 * through clip.cpp's own API (monatis/clip.cpp, built by bench/clipcpp.sh in
 * /tmp): with a model loaded and warmed, one caption (clip_tokenize +
 * clip_text_encode), one image (clip_image_encode on random preprocessed
 * pixels: the model only) and a batch (clip_image_batch_encode), as medians
 * of wall and CPU time over RUNS runs after three warm-up calls.
 *
 *     clipcpp_driver MODEL.gguf [RUNS [BATCH [THREADS]]]   # defaults 15, 4, 2
 *
 * BATCH defaults to 4, the batch of clip.cpp's own tests/benchmark.cpp: its
 * compute buffer is sized per model (get_mem_req_by_size), not per batch.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "measure.h"

static const char CAPTION[] = "a photo of a dog on the beach";

/* What every measured call needs: the model, its threads, the inputs. */
struct peer {
    struct clip_ctx *ctx;
    int threads;
    struct clip_image_f32_batch batch; /* batch.size images; the first alone is "one image" */
    float *vecs;                       /* batch.size x projection_dim */
};

/* A measured call: the peer and how many images */
struct call {
    struct peer *p;
    int count;
};

static int run_caption(void *ctx)
{
    struct peer *p = ((struct call *)ctx)->p;
    struct clip_tokens toks = {NULL, 0};
    bool ok = clip_tokenize(p->ctx, CAPTION, &toks) && clip_text_encode(p->ctx, p->threads, &toks, p->vecs, true);
    free(toks.data); /* clip.cpp allocates it with new[] of int: plain data, and glibc's operator new is malloc */
    return ok ? 0 : -1;
}

static int run_images(void *ctx)
{
    struct call *c = ctx;
    struct peer *p = c->p;
    struct clip_image_f32_batch b = {p->batch.data, (size_t)c->count};
    return clip_image_batch_encode(p->ctx, p->threads, &b, p->vecs, true) ? 0 : -1;
}

/* Multiply-adds x 2 of one image through the tower (as bench/latency.c):
 * the patch embedding, and per layer the four attention projections, the
 * two MLP products and the two attention products of S x S. */
static double image_flops(const struct clip_vision_hparams *h)
{
    double g = h->image_size / h->patch_size, S = g * g + 1, W = h->hidden_size, P = h->patch_size;
    double per_layer = 2 * S * (4 * W * W + 2 * W * h->n_intermediate) + 2 * 2 * S * S * W;
    return 2 * (S - 1) * 3 * P * P * W + h->n_layer * per_layer;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 5) {
        fprintf(stderr, "usage: clipcpp_driver MODEL.gguf [RUNS [BATCH [THREADS]]]\n");
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 15, B = argc > 3 ? atoi(argv[3]) : 4;
    struct peer p = {.ctx = clip_model_load(argv[1], 0), .threads = argc > 4 ? atoi(argv[4]) : 2};
    if (!p.ctx || runs < 1 || B < 1) {
        fprintf(stderr, "clipcpp_driver: %s\n", p.ctx ? "bad RUNS or BATCH" : "cannot load the model");
        return 1;
    }
    const struct clip_vision_hparams *h = clip_get_vision_hparams(p.ctx);
    int R = h->image_size, E = h->projection_dim;
    size_t n = 3 * (size_t)R * (size_t)R;
    p.batch.size = (size_t)B;
    p.batch.data = calloc((size_t)B, sizeof *p.batch.data);
    p.vecs = malloc((size_t)B * (size_t)E * sizeof *p.vecs);
    srand(1);
    for (int i = 0; p.batch.data && i < B; i++) {
        struct clip_image_f32 *im = &p.batch.data[i];
        *im = (struct clip_image_f32){R, R, malloc(n * sizeof(float)), n};
        for (size_t j = 0; im->data && j < n; j++)
            im->data[j] = (float)rand() / (float)RAND_MAX * 4 - 2; /* normalised pixels, NHWC */
    }
    for (int i = 0; p.batch.data && i < B; i++)
        if (!p.batch.data[i].data)
            p.vecs = (free(p.vecs), NULL);
    if (!p.batch.data || !p.vecs) {
        fprintf(stderr, "clipcpp_driver: out of memory\n");
        return 1;
    }
    struct clocks tc, t1, tb;
    int batch_runs = runs / 3 < 3 ? 3 : runs / 3;
    struct call one = {&p, 1}, batch = {&p, B};
    if (measure((struct task){run_caption, &one}, runs, &tc) || measure((struct task){run_images, &one}, runs, &t1) ||
        measure((struct task){run_images, &batch}, batch_runs, &tb)) {
        fprintf(stderr, "clipcpp_driver: clip.cpp failed\n");
        return 1;
    }
    double flops = image_flops(h);
    printf("clip.cpp model %s: image %d px, %.2f GFLOP an image; %d threads; medians of %d runs (batch %d)\n", argv[1],
           R, flops / 1e9, p.threads, runs, batch_runs);
    printf("| one caption (tokenize + text tower) | %.2f ms | cpu %.2f ms |\n", tc.wall * 1e3, tc.cpu * 1e3);
    printf("| one image (model only) | %.2f ms | cpu %.2f ms | %.1f GFLOP/s |\n", t1.wall * 1e3, t1.cpu * 1e3,
           flops / t1.wall / 1e9);
    printf("| batch of %d images | %.2f ms an image | cpu %.2f ms an image | %.1f GFLOP/s |\n", B, tb.wall * 1e3 / B,
           tb.cpu * 1e3 / B, flops * B / tb.wall / 1e9);
    for (int i = 0; i < B; i++)
        free(p.batch.data[i].data);
    free(p.batch.data);
    free(p.vecs);
    clip_free(p.ctx);
    return 0;
}
