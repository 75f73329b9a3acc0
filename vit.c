#include "vit.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

struct vit *vit_open(const struct weights *w, int max_batch, char *err)
{
    struct vit *v = calloc(1, sizeof *v);
    if (!v)
        goto oom;
    const struct weights_config *c = &w->cfg;
    size_t G2 = (size_t)c->vision_grid * c->vision_grid, P = c->vision_patch, W = c->vision_width;
    v->w = w;
    v->max_batch = max_batch;
    v->patches = malloc(max_batch * G2 * 3 * P * P * sizeof(float));
    v->x = malloc(max_batch * (G2 + 1) * W * sizeof(float));
    v->pooled = malloc(max_batch * W * sizeof(float));
    v->lens = malloc(max_batch * sizeof *v->lens);
    v->cls = malloc(max_batch * sizeof *v->cls);
    if (!v->patches || !v->x || !v->pooled || !v->lens || !v->cls)
        goto oom;
    for (int i = 0; i < max_batch; i++) {
        v->lens[i] = (int)G2 + 1;
        v->cls[i] = (size_t)i * (G2 + 1);
    }
    if (!(v->t = transformer_open((int)W, max_batch * (int)(G2 + 1), (int)(G2 + 1),
                                  (enum weights_activation)c->activation, err)))
        goto fail;
    return v;
oom:
    error(err, "out of memory for the image encoder");
fail:
    vit_close(v);
    return NULL;
}

void vit_close(struct vit *v)
{
    if (!v)
        return;
    transformer_close(v->t);
    free(v->patches);
    free(v->x);
    free(v->pooled);
    free(v->lens);
    free(v->cls);
    free(v);
}

static void encode_batch(struct vit *v, const float *pixels, int n, float *out)
{
    const struct weights *w = v->w;
    int G = (int)w->cfg.vision_grid, P = (int)w->cfg.vision_patch, W = (int)w->cfg.vision_width,
        E = (int)w->cfg.embed_dim, R = G * P, seq = G * G + 1, K = 3 * P * P;
    /* conv1 with stride P is a matrix product over non-overlapping patches */
    for (int i = 0; i < n; i++)
        for (int gy = 0; gy < G; gy++)
            for (int gx = 0; gx < G; gx++) {
                float *row = v->patches + ((size_t)(i * G + gy) * G + gx) * K;
                for (int ch = 0; ch < 3; ch++)
                    for (int py = 0; py < P; py++) {
                        const float *src = pixels + (((size_t)i * 3 + ch) * R + gy * P + py) * R + gx * P;
                        memcpy(row + (ch * P + py) * P, src, (size_t)P * sizeof(float));
                    }
            }
    /* token 0 of each image is the class embedding; patches follow */
    for (int i = 0; i < n; i++) {
        float *x = v->x + (size_t)i * seq * W;
        memcpy(x, w->class_embedding, (size_t)W * sizeof(float));
        /* x[1 + g, W] = patches[G*G, 3PP] @ conv1[W, 3PP]^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, G * G, W, K, 1.0f, v->patches + (size_t)i * G * G * K, K,
                    w->conv1_weight, K, 0.0f, x + W, W);
        for (size_t k = 0; k < (size_t)seq * W; k++)
            x[k] += w->visual_positional_embedding[k];
    }
    transformer_layernorm(v->x, v->x, w->ln_pre_weight, w->ln_pre_bias, n * seq, W);
    for (uint32_t l = 0; l < w->cfg.vision_layers; l++)
        transformer_block(v->t, &w->visual_blocks[l], v->x, n, v->lens, 0);
    transformer_project(out, v->pooled, v->x, v->cls, n, w->ln_post_weight, w->ln_post_bias, w->visual_proj, W, E);
}

void vit_encode(struct vit *v, const float *pixels, int count, float *out)
{
    const struct weights_config *c = &v->w->cfg;
    size_t R = (size_t)c->vision_grid * c->vision_patch;
    for (int i = 0; i < count; i += v->max_batch) {
        int n = count - i < v->max_batch ? count - i : v->max_batch;
        encode_batch(v, pixels + (size_t)i * 3 * R * R, n, out + (size_t)i * c->embed_dim);
    }
}
