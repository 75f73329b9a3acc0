#include "vit.h"

#include "blas.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct vit_lane {
    const struct weights *w;
    struct transformer *t;
    /* scratch for the lane's share of vit_open's max_batch images */
    float *patches; /* [max_batch * G*G, 3*P*P]: image patches laid out as conv1's weight rows */
    float *emb;     /* [max_batch * G*G, Wv]: patch embeddings */
    float *x;       /* [max_batch * (G*G+1), Wv] residual stream */
    float *pooled;  /* [max_batch, Wv]: the last block's class-token rows (SigLIP: the pooled ones) */
    int *lens;      /* [max_batch]: every image is G*G+1 tokens (SigLIP: G*G) */
    size_t *cls;    /* [max_batch]: the row of each image's class token */
    const float *pixels; /* this lane's share of a vit_encode call */
    float *out;
    int n;
};

struct vit {
    const struct weights *w;
    int max_batch, nlanes;
    struct vit_lane *lanes; /* [nlanes] */
};

#define VIT_LANE_ROWS 1600 /* rows a lane's products aim for (vit_batch) */
#define VIT_MAX_BATCH 128  /* images at a time, whatever the lanes: bounds the callers' pixel buffers */

/* Tokens of an image: the patches, and CLIP's class token. */
static int tokens(const struct weights_config *c)
{
    return (int)(c->vision_grid * c->vision_grid) + (c->family == WEIGHTS_SIGLIP ? 0 : 1);
}

/* The floats of the largest half-precision matrix of the image tower. */
static size_t vit_matrix_floats(const struct weights *w)
{
    const struct weights_config *c = &w->cfg;
    size_t W = c->vision_width, K = 3 * (size_t)c->vision_patch * c->vision_patch, M = c->vision_mlp;
    size_t most = transformer_expand_need(&w->conv1_weight, W * K, 0);
    if (c->family == WEIGHTS_SIGLIP) {
        const struct weights_head *p = &w->pool;
        most = transformer_expand_need(&p->q_weight, W * W, most);
        most = transformer_expand_need(&p->kv_weight, 2 * W * W, most);
        most = transformer_expand_need(&p->proj_weight, W * W, most);
        most = transformer_expand_need(&p->fc1_weight, M * W, most);
        most = transformer_expand_need(&p->fc2_weight, W * M, most);
    } else
        most = transformer_expand_need(&w->visual_proj, W * c->embed_dim, most);
    for (uint32_t l = 0; l < c->vision_layers; l++)
        most = transformer_block_need(&w->visual_blocks[l], (int)W, (int)c->vision_mlp, most);
    return most;
}

static int lane_open(struct vit_lane *l, const struct weights *w, int max_batch, char *err)
{
    const struct weights_config *c = &w->cfg;
    size_t G2 = (size_t)c->vision_grid * c->vision_grid, P = c->vision_patch, W = c->vision_width;
    l->w = w;
    l->patches = util_scratch(max_batch * G2 * 3 * P * P * sizeof(float));
    l->emb = util_scratch(max_batch * G2 * W * sizeof(float));
    l->x = util_scratch(max_batch * (G2 + 1) * W * sizeof(float));
    l->pooled = malloc(max_batch * W * sizeof(float));
    l->lens = malloc(max_batch * sizeof *l->lens);
    l->cls = malloc(max_batch * sizeof *l->cls);
    if (!l->patches || !l->emb || !l->x || !l->pooled || !l->lens || !l->cls)
        return error(err, "out of memory for the image encoder");
    int seq = tokens(c);
    for (int i = 0; i < max_batch; i++) {
        l->lens[i] = seq;
        l->cls[i] = (size_t)i * (size_t)seq;
    }
    struct transformer_opts o = {.width = (int)W, .heads = (int)c->vision_heads, .mlp = (int)c->vision_mlp,
                                 .max_rows = max_batch * seq, .max_seq = seq,
                                 .activation = (enum weights_activation)c->activation, .eps = c->ln_eps,
                                 .threads = 1, .huge_pages = 1, .expand_floats = vit_matrix_floats(w)};
    l->t = transformer_open(&o, err);
    return l->t ? 0 : -1;
}

static void lane_close(struct vit_lane *l)
{
    transformer_close(l->t);
    free(l->patches);
    free(l->emb);
    free(l->x);
    free(l->pooled);
    free(l->lens);
    free(l->cls);
}

int vit_batch(const struct weights *w, int nlanes)
{
    nlanes = util_threads(nlanes);
    int seq = tokens(&w->cfg), per_lane = VIT_LANE_ROWS / seq;
    per_lane = per_lane > VIT_MAX_BATCH / nlanes ? VIT_MAX_BATCH / nlanes : per_lane;
    return nlanes * (per_lane > 1 ? per_lane : 1);
}

/* Every image reads every matrix of the tower. */
static void *populate_vision(void *arg)
{
    const struct vit *v = arg;
    const struct weights *w = v->w;
    const struct weights_config *c = &w->cfg;
    for (uint32_t l = 0; l < c->vision_layers; l++)
        transformer_populate_block(&w->visual_blocks[l], (int)c->vision_width, (int)c->vision_mlp);
    transformer_populate(&w->conv1_weight, (size_t)c->vision_width * 3 * c->vision_patch * c->vision_patch);
    if (c->family == WEIGHTS_CLIP)
        transformer_populate(&w->visual_proj, (size_t)c->vision_width * c->embed_dim);
    return NULL;
}

struct vit *vit_open(const struct weights *w, int max_batch, int nlanes, char *err)
{
    nlanes = util_threads(nlanes);
    struct vit *v = calloc(1, sizeof *v);
    if (!v || !(v->lanes = calloc((size_t)nlanes, sizeof *v->lanes))) {
        free(v);
        error(err, "out of memory for the image encoder");
        return NULL;
    }
    v->w = w;
    v->max_batch = max_batch;
    v->nlanes = nlanes;
    /* the weights mapped in while the lanes open, the first loading the
     * BLAS (as textenc_open does) */
    struct util_job populate;
    util_job_start(&populate, populate_vision, v);
    int opened = 0;
    while (opened < nlanes && lane_open(&v->lanes[opened], w, (max_batch + nlanes - 1) / nlanes, err) == 0)
        opened++;
    util_job_wait(&populate);
    if (opened < nlanes) {
        vit_close(v);
        return NULL;
    }
    return v;
}

void vit_close(struct vit *v)
{
    if (!v)
        return;
    for (int i = 0; v->lanes && i < v->nlanes; i++)
        lane_close(&v->lanes[i]);
    free(v->lanes);
    free(v);
}

/* SigLIP's head (timm's AttentionPoolLatent): for each of n images of seq
 * rows in x [n*seq, W], the latent query attends over its rows, then
 * out = y + mlp(norm(y)) of the attention's projection y; out [n, W]. */
static void attention_pool(struct vit_lane *l, const float *x, int n, int seq, float *out)
{
    const struct weights *w = l->w;
    const struct weights_head *p = &w->pool;
    struct transformer *t = l->t;
    int W = (int)w->cfg.vision_width, M = (int)w->cfg.vision_mlp, H = t->heads, D = t->head_dim;
    /* q: the lane's pooled rows, which SigLIP does not use otherwise */
    float *q = l->pooled, *kv = t->qkv, *att = l->emb, *s = t->scores;
    /* q[1, W] = latent[1, W] @ Wq[W, W]^T + bq: the same query for every image */
    transformer_linear(t, q, p->latent, &p->q_weight, p->q_bias, 1, W, W, 0);
    /* kv[n*seq, 2W] = x @ Wkv[2W, W]^T + bkv: keys, then values */
    transformer_linear(t, kv, x, &p->kv_weight, p->kv_bias, n * seq, W, 2 * W, 0);
    const float scale = 1.0f / sqrtf((float)D);
    for (int i = 0; i < n; i++)
        for (int h = 0; h < H; h++) {
            const float *k = kv + (size_t)i * seq * 2 * W + h * D, *v = k + W;
            /* s[seq] = k[seq, D] @ q[D] * scale */
            blas.cblas_sgemv(CblasRowMajor, CblasNoTrans, seq, D, scale, k, 2 * W, q + h * D, 1, 0.0f, s, 1);
            float max = s[0], sum = 0;
            for (int j = 1; j < seq; j++)
                max = s[j] > max ? s[j] : max;
            for (int j = 0; j < seq; j++)
                sum += s[j] = expf(s[j] - max);
            for (int j = 0; j < seq; j++)
                s[j] /= sum;
            /* att[i, head h] = v[seq, D]^T @ s[seq] */
            blas.cblas_sgemv(CblasRowMajor, CblasTrans, seq, D, 1.0f, v, 2 * W, s, 1, 0.0f, att + (size_t)i * W + h * D, 1);
        }
    /* out[n, W] = att[n, W] @ Wproj[W, W]^T + bproj */
    transformer_linear(t, out, att, &p->proj_weight, p->proj_bias, n, W, W, 0);
    transformer_layernorm(att, out, p->norm_weight, p->norm_bias, n, W, w->cfg.ln_eps);
    transformer_linear(t, t->hidden, att, &p->fc1_weight, p->fc1_bias, n, W, M, 0); /* [n, M] */
    transformer_activate(t->hidden, (size_t)n * (size_t)M, (enum weights_activation)w->cfg.activation);
    transformer_linear(t, out, t->hidden, &p->fc2_weight, p->fc2_bias, n, M, W, 1); /* out[n, W] += */
}

/* SigLIP's tower after the patch embedding emb [n*G*G, W]: learned
 * positions (no class token, no first LayerNorm), the blocks over every
 * row, the final LayerNorm, the attention pool. */
static void siglip_tower(struct vit_lane *l, int n)
{
    const struct weights *w = l->w;
    int W = (int)w->cfg.vision_width, seq = tokens(&w->cfg);
    for (int i = 0; i < n * seq; i++) {
        float *x = l->x + (size_t)i * W;
        const float *e = l->emb + (size_t)i * W, *pos = w->visual_positional_embedding + (size_t)(i % seq) * W;
        for (int k = 0; k < W; k++)
            x[k] = e[k] + w->conv1_bias[k] + pos[k];
    }
    for (uint32_t b = 0; b < w->cfg.vision_layers; b++)
        transformer_block(l->t, &w->visual_blocks[b], l->x, n, l->lens, 0);
    transformer_layernorm(l->x, l->x, w->ln_post_weight, w->ln_post_bias, n * seq, W, w->cfg.ln_eps);
    attention_pool(l, l->x, n, seq, l->out);
}

/* The lane's images, at most its share of max_batch, through the tower. */
static void *lane_encode(void *arg)
{
    struct vit_lane *l = arg;
    const struct weights *w = l->w;
    int n = l->n, G = (int)w->cfg.vision_grid, P = (int)w->cfg.vision_patch, W = (int)w->cfg.vision_width,
        E = (int)w->cfg.embed_dim, R = G * P, seq = G * G + 1, K = 3 * P * P;
    /* conv1 with stride P is a matrix product over non-overlapping patches */
    for (int i = 0; i < n; i++)
        for (int gy = 0; gy < G; gy++)
            for (int gx = 0; gx < G; gx++) {
                float *row = l->patches + ((size_t)(i * G + gy) * G + gx) * K;
                for (int ch = 0; ch < 3; ch++)
                    for (int py = 0; py < P; py++) {
                        const float *src = l->pixels + (((size_t)i * 3 + ch) * R + gy * P + py) * R + gx * P;
                        memcpy(row + (ch * P + py) * P, src, (size_t)P * sizeof(float));
                    }
            }
    /* emb[n*G*G, W] = patches[n*G*G, 3PP] @ conv1[W, 3PP]^T: one product for
     * all images, so conv1 is packed once */
    memset(l->emb, 0, (size_t)n * G * G * W * sizeof(float));
    transformer_product(l->t, l->emb, l->patches, &w->conv1_weight, n * G * G, K, W);
    if (w->cfg.family == WEIGHTS_SIGLIP) {
        siglip_tower(l, n);
        return NULL;
    }
    /* token 0 of each image is the class embedding; patches follow */
    for (int i = 0; i < n; i++) {
        float *x = l->x + (size_t)i * seq * W;
        const float *pos = w->visual_positional_embedding, *emb = l->emb + (size_t)i * G * G * W;
        for (int k = 0; k < W; k++)
            x[k] = w->class_embedding[k] + pos[k];
        for (size_t k = W; k < (size_t)seq * W; k++)
            x[k] = emb[k - W] + pos[k];
    }
    transformer_layernorm(l->x, l->x, w->ln_pre_weight, w->ln_pre_bias, n * seq, W, w->cfg.ln_eps);
    uint32_t last = w->cfg.vision_layers - 1;
    for (uint32_t b = 0; b < last; b++)
        transformer_block(l->t, &w->visual_blocks[b], l->x, n, l->lens, 0);
    transformer_block_pick(l->t, &w->visual_blocks[last], l->x, n, l->lens, 0, l->cls, l->pooled);
    transformer_project(l->t, l->out, l->pooled, n, w->ln_post_weight, w->ln_post_bias, &w->visual_proj, W, E);
    return NULL;
}

void vit_encode(struct vit *v, const float *pixels, int count, float *out)
{
    const struct weights_config *c = &v->w->cfg;
    size_t R = (size_t)c->vision_grid * c->vision_patch;
    for (int i = 0; i < count; i += v->max_batch) {
        int n = count - i < v->max_batch ? count - i : v->max_batch;
        int lanes = n < v->nlanes ? n : v->nlanes, at = i;
        /* the BLAS runs one thread under the lanes, and under an image
         * alone whose products share out their columns themselves */
        blas_threads(lanes > 1 || transformer_shares() ? 1 : 0);
        for (int k = 0; k < lanes; k++) {
            struct vit_lane *l = &v->lanes[k];
            transformer_set_threads(l->t, lanes > 1 ? 1 : v->nlanes);
            l->n = n / lanes + (k < n % lanes);
            l->pixels = pixels + (size_t)at * 3 * R * R;
            l->out = out + (size_t)at * c->embed_dim;
            at += l->n;
        }
        util_parallel(lane_encode, v->lanes, sizeof *v->lanes, lanes);
    }
}
