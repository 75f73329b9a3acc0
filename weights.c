#include "weights.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define BLOCK_TENSORS 12

void weights_config_openai(struct weights_config *c)
{
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, sd[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    c->vision_heads = c->vision_width / 64;
    c->text_heads = c->text_width / 64;
    c->vision_mlp = 4 * c->vision_width;
    c->text_mlp = 4 * c->text_width;
    c->ln_eps = 1e-5f;
    memcpy(c->image_mean, mean, sizeof mean);
    memcpy(c->image_std, sd, sizeof sd);
}

int weights_config_check(const struct weights_config *c, char *err)
{
    const struct { const char *name; uint32_t v, lo, hi; } f[] = {
        {"activation", c->activation, 0, 2},
        {"family", c->family, 0, 1},
        {"resize", c->resize, 0, 1},
        {"embedding size", c->embed_dim, 1, 16384},
        {"image width", c->vision_width, 64, 8192},
        {"image layers", c->vision_layers, 1, 256},
        {"patch size", c->vision_patch, 1, 1024},
        {"patch grid", c->vision_grid, 1, 1024},
        {"context length", c->context_length, 2, 4096},
        {"vocabulary size", c->vocab_size, 1, 1u << 20},
        {"text width", c->text_width, 64, 8192},
        {"text layers", c->text_layers, 1, 256},
        {"image heads", c->vision_heads, 1, 256},
        {"text heads", c->text_heads, 1, 256},
        {"image MLP width", c->vision_mlp, 8, 65536},
        {"text MLP width", c->text_mlp, 8, 65536},
    };
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
        if (f[k].v < f[k].lo || f[k].v > f[k].hi)
            return error(err, "%s %u is out of range [%u, %u]", f[k].name, f[k].v, f[k].lo, f[k].hi);
    if (c->vision_width % 64 || c->text_width % 64)
        return error(err, "widths %u and %u must be multiples of 64", c->vision_width, c->text_width);
    if (c->vision_width % c->vision_heads || c->text_width % c->text_heads)
        return error(err, "widths %u and %u are not divided by %u and %u heads", c->vision_width, c->text_width,
                     c->vision_heads, c->text_heads);
    if (c->vision_mlp % 8 || c->text_mlp % 8)
        return error(err, "MLP widths %u and %u must be multiples of 8", c->vision_mlp, c->text_mlp);
    if (!(c->ln_eps > 0 && c->ln_eps < 1))
        return error(err, "LayerNorm epsilon %g is out of range (0, 1)", (double)c->ln_eps);
    for (int k = 0; k < 3; k++)
        if (!isfinite(c->image_mean[k]) || !(c->image_std[k] > 0 && c->image_std[k] < 1e6f))
            return error(err, "pixel mean %g or deviation %g is out of range", (double)c->image_mean[k],
                         (double)c->image_std[k]);
    if (c->vision_patch * c->vision_grid > 8192)
        return error(err, "image resolution %u is too large", c->vision_patch * c->vision_grid);
    if (c->family == WEIGHTS_CLIP) {
        if (c->text_activation || c->text_causal || c->text_pool || c->pad_id || c->eos_id || c->tok_merges ||
            c->tok_chars || c->tok_added || c->tok_strings || c->tok_unk)
            return error(err, "a CLIP model with SigLIP's settings");
        return 0;
    }
    const struct { const char *name; uint32_t v, lo, hi; } g[] = {
        {"text activation", c->text_activation, 0, 2},
        {"causal flag", c->text_causal, 0, 1},
        {"text pooling", c->text_pool, 0, 1},
        {"padding id", c->pad_id, 0, c->vocab_size - 1},
        {"end id", c->eos_id, 0, c->vocab_size - 1},
        {"tokenizer merges", c->tok_merges, 0, SPM_MAX_MERGES},
        {"tokenizer characters", c->tok_chars, 0, SPM_MAX_VOCAB},
        {"tokenizer added tokens", c->tok_added, 0, SPM_MAX_ADDED},
        {"tokenizer strings", c->tok_strings, 0, SPM_MAX_ADDED * SPM_MAX_PIECE},
    };
    for (size_t k = 0; k < sizeof g / sizeof g[0]; k++)
        if (g[k].v < g[k].lo || g[k].v > g[k].hi)
            return error(err, "%s %u is out of range [%u, %u]", g[k].name, g[k].v, g[k].lo, g[k].hi);
    if (c->tok_unk != UINT32_MAX && c->tok_unk >= c->vocab_size)
        return error(err, "unknown token %u is outside the vocabulary of %u", c->tok_unk, c->vocab_size);
    if (c->vocab_size > SPM_MAX_VOCAB)
        return error(err, "vocabulary of %u is over the tokenizer's %u", c->vocab_size, SPM_MAX_VOCAB);
    if (c->embed_dim != c->vision_width)
        return error(err, "SigLIP's image embedding is its width: %u and %u differ", c->embed_dim, c->vision_width);
    return 0;
}

struct specs {
    struct weights_spec *s;
    size_t n;
};

static struct weights_spec *add(struct specs *sp, int visual, const float **slot, const char *name, uint32_t ndim,
                                uint32_t d0, uint32_t d1, uint32_t d2, uint32_t d3)
{
    struct weights_spec *s = &sp->s[sp->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ndim = ndim;
    s->shape[0] = d0, s->shape[1] = d1, s->shape[2] = d2, s->shape[3] = d3;
    s->visual = visual;
    s->slot = slot;
    return s;
}

/* A matrix that may be half precision. */
static void add_matrix(struct specs *sp, int visual, struct weights_tensor *matrix, const char *name, uint32_t ndim,
                       uint32_t d0, uint32_t d1, uint32_t d2, uint32_t d3)
{
    struct weights_spec *s = add(sp, visual, NULL, name, ndim, d0, d1, d2, d3);
    s->halves = 1;
    s->matrix = matrix;
}

/* A tokenizer table: int32 or bytes. */
static void add_table(struct specs *sp, const void **raw, const char *name, uint32_t dtype, uint32_t ndim, uint32_t d0,
                      uint32_t d1)
{
    struct weights_spec *s = add(sp, 0, NULL, name, ndim, d0, d1, 0, 0);
    s->table = 1;
    s->dtype = dtype;
    s->raw = raw;
}

#define SLOT(w, field) ((w) ? &(w)->field : NULL)
#define RAW(w, field) ((w) ? (const void **)&(w)->field : NULL)

static void add_blocks(struct specs *sp, int visual, const char *prefix, uint32_t layers, uint32_t W, uint32_t M,
                       struct weights_block *blocks)
{
    for (uint32_t l = 0; l < layers; l++) {
        struct weights_block *b = blocks ? &blocks[l] : NULL;
        const struct {
            const char *suffix;
            const float **slot;
            struct weights_tensor *matrix;
            uint32_t ndim, d0, d1;
        } t[BLOCK_TENSORS] = {
            {"ln_1.weight", SLOT(b, ln_1_weight), NULL, 1, W, 0},
            {"ln_1.bias", SLOT(b, ln_1_bias), NULL, 1, W, 0},
            {"attn.in_proj_weight", NULL, SLOT(b, in_proj_weight), 2, 3 * W, W},
            {"attn.in_proj_bias", SLOT(b, in_proj_bias), NULL, 1, 3 * W, 0},
            {"attn.out_proj.weight", NULL, SLOT(b, out_proj_weight), 2, W, W},
            {"attn.out_proj.bias", SLOT(b, out_proj_bias), NULL, 1, W, 0},
            {"ln_2.weight", SLOT(b, ln_2_weight), NULL, 1, W, 0},
            {"ln_2.bias", SLOT(b, ln_2_bias), NULL, 1, W, 0},
            {"mlp.c_fc.weight", NULL, SLOT(b, c_fc_weight), 2, M, W},
            {"mlp.c_fc.bias", SLOT(b, c_fc_bias), NULL, 1, M, 0},
            {"mlp.c_proj.weight", NULL, SLOT(b, c_proj_weight), 2, W, M},
            {"mlp.c_proj.bias", SLOT(b, c_proj_bias), NULL, 1, W, 0},
        };
        for (int k = 0; k < BLOCK_TENSORS; k++) {
            char name[WEIGHTS_NAME_MAX];
            snprintf(name, sizeof name, "%sresblocks.%u.%s", prefix, l, t[k].suffix);
            if (t[k].ndim == 2)
                add_matrix(sp, visual, t[k].matrix, name, 2, t[k].d0, t[k].d1, 0, 0);
            else
                add(sp, visual, t[k].slot, name, t[k].ndim, t[k].d0, t[k].d1, 0, 0);
        }
    }
}

#define SIGLIP_TENSORS 31 /* tensors outside the blocks: siglip_specs */

static size_t spec_count(const struct weights_config *c)
{
    return (c->family == WEIGHTS_SIGLIP ? SIGLIP_TENSORS : 14) + BLOCK_TENSORS * ((size_t)c->text_layers + c->vision_layers);
}

/* SigLIP 2: text tower, tokenizer, image tower (timm's names in convert.c) */
static void siglip_specs(struct specs *sp, const struct weights_config *c, struct weights *w)
{
    uint32_t Wt = c->text_width, Wv = c->vision_width, E = c->embed_dim, P = c->vision_patch, M = c->vision_mlp;
    struct weights_head *p = w ? &w->pool : NULL;
    add(sp, 0, SLOT(w, logit_scale), "logit_scale", 0, 0, 0, 0, 0);
    add(sp, 0, SLOT(w, logit_bias), "logit_bias", 0, 0, 0, 0, 0);
    add_matrix(sp, 0, SLOT(w, token_embedding), "token_embedding.weight", 2, c->vocab_size, Wt, 0, 0);
    add(sp, 0, SLOT(w, positional_embedding), "positional_embedding", 2, c->context_length, Wt, 0, 0);
    add_blocks(sp, 0, "transformer.", c->text_layers, Wt, c->text_mlp, w ? w->text_blocks : NULL);
    add(sp, 0, SLOT(w, ln_final_weight), "ln_final.weight", 1, Wt, 0, 0, 0);
    add(sp, 0, SLOT(w, ln_final_bias), "ln_final.bias", 1, Wt, 0, 0, 0);
    add_matrix(sp, 0, SLOT(w, text_projection), "text_projection.weight", 2, E, Wt, 0, 0);
    add(sp, 0, SLOT(w, text_projection_bias), "text_projection.bias", 1, E, 0, 0, 0);
    add_table(sp, RAW(w, tokenizer.merges), "tokenizer.merges", WEIGHTS_I32, 2, c->tok_merges, SPM_MERGE_COLS);
    add_table(sp, RAW(w, tokenizer.chars), "tokenizer.chars", WEIGHTS_I32, 2, c->tok_chars, SPM_CHAR_COLS);
    add_table(sp, RAW(w, tokenizer.bytes), "tokenizer.bytes", WEIGHTS_I32, 1, 256, 0);
    add_table(sp, RAW(w, tokenizer.added), "tokenizer.added", WEIGHTS_I32, 2, c->tok_added, SPM_ADDED_COLS);
    add_table(sp, RAW(w, tokenizer.strings), "tokenizer.strings", WEIGHTS_U8, 1, c->tok_strings, 0);
    add_matrix(sp, 1, SLOT(w, conv1_weight), "visual.conv1.weight", 4, Wv, 3, P, P);
    add(sp, 1, SLOT(w, conv1_bias), "visual.conv1.bias", 1, Wv, 0, 0, 0);
    add(sp, 1, SLOT(w, visual_positional_embedding), "visual.positional_embedding", 2, c->vision_grid * c->vision_grid,
        Wv, 0, 0);
    add_blocks(sp, 1, "visual.transformer.", c->vision_layers, Wv, M, w ? w->visual_blocks : NULL);
    add(sp, 1, SLOT(w, ln_post_weight), "visual.ln_post.weight", 1, Wv, 0, 0, 0);
    add(sp, 1, SLOT(w, ln_post_bias), "visual.ln_post.bias", 1, Wv, 0, 0, 0);
    add(sp, 1, SLOT(p, latent), "visual.attn_pool.latent", 1, Wv, 0, 0, 0);
    add_matrix(sp, 1, SLOT(p, q_weight), "visual.attn_pool.q.weight", 2, Wv, Wv, 0, 0);
    add(sp, 1, SLOT(p, q_bias), "visual.attn_pool.q.bias", 1, Wv, 0, 0, 0);
    add_matrix(sp, 1, SLOT(p, kv_weight), "visual.attn_pool.kv.weight", 2, 2 * Wv, Wv, 0, 0);
    add(sp, 1, SLOT(p, kv_bias), "visual.attn_pool.kv.bias", 1, 2 * Wv, 0, 0, 0);
    add_matrix(sp, 1, SLOT(p, proj_weight), "visual.attn_pool.proj.weight", 2, Wv, Wv, 0, 0);
    add(sp, 1, SLOT(p, proj_bias), "visual.attn_pool.proj.bias", 1, Wv, 0, 0, 0);
    add(sp, 1, SLOT(p, norm_weight), "visual.attn_pool.norm.weight", 1, Wv, 0, 0, 0);
    add(sp, 1, SLOT(p, norm_bias), "visual.attn_pool.norm.bias", 1, Wv, 0, 0, 0);
    add_matrix(sp, 1, SLOT(p, fc1_weight), "visual.attn_pool.mlp.fc1.weight", 2, M, Wv, 0, 0);
    add(sp, 1, SLOT(p, fc1_bias), "visual.attn_pool.mlp.fc1.bias", 1, M, 0, 0, 0);
    add_matrix(sp, 1, SLOT(p, fc2_weight), "visual.attn_pool.mlp.fc2.weight", 2, Wv, M, 0, 0);
    add(sp, 1, SLOT(p, fc2_bias), "visual.attn_pool.mlp.fc2.bias", 1, Wv, 0, 0, 0);
}

struct weights_spec *weights_specs(const struct weights_config *c, struct weights *w, size_t *n)
{
    struct specs sp = {calloc(spec_count(c), sizeof *sp.s), 0};
    if (!sp.s)
        return NULL;
    if (c->family == WEIGHTS_SIGLIP) {
        siglip_specs(&sp, c, w);
        *n = sp.n;
        return sp.s;
    }
    uint32_t Wt = c->text_width, Wv = c->vision_width, E = c->embed_dim, P = c->vision_patch;
    add(&sp, 0, SLOT(w, logit_scale), "logit_scale", 0, 0, 0, 0, 0);
    add_matrix(&sp, 0, SLOT(w, token_embedding), "token_embedding.weight", 2, c->vocab_size, Wt, 0, 0);
    add(&sp, 0, SLOT(w, positional_embedding), "positional_embedding", 2, c->context_length, Wt, 0, 0);
    add_blocks(&sp, 0, "transformer.", c->text_layers, Wt, c->text_mlp, w ? w->text_blocks : NULL);
    add(&sp, 0, SLOT(w, ln_final_weight), "ln_final.weight", 1, Wt, 0, 0, 0);
    add(&sp, 0, SLOT(w, ln_final_bias), "ln_final.bias", 1, Wt, 0, 0, 0);
    add_matrix(&sp, 0, SLOT(w, text_projection), "text_projection", 2, Wt, E, 0, 0);
    add_matrix(&sp, 1, SLOT(w, conv1_weight), "visual.conv1.weight", 4, Wv, 3, P, P);
    add(&sp, 1, SLOT(w, class_embedding), "visual.class_embedding", 1, Wv, 0, 0, 0);
    add(&sp, 1, SLOT(w, visual_positional_embedding), "visual.positional_embedding", 2,
        c->vision_grid * c->vision_grid + 1, Wv, 0, 0);
    add(&sp, 1, SLOT(w, ln_pre_weight), "visual.ln_pre.weight", 1, Wv, 0, 0, 0);
    add(&sp, 1, SLOT(w, ln_pre_bias), "visual.ln_pre.bias", 1, Wv, 0, 0, 0);
    add_blocks(&sp, 1, "visual.transformer.", c->vision_layers, Wv, c->vision_mlp, w ? w->visual_blocks : NULL);
    add(&sp, 1, SLOT(w, ln_post_weight), "visual.ln_post.weight", 1, Wv, 0, 0, 0);
    add(&sp, 1, SLOT(w, ln_post_bias), "visual.ln_post.bias", 1, Wv, 0, 0, 0);
    add_matrix(&sp, 1, SLOT(w, visual_proj), "visual.proj", 2, Wv, E, 0, 0);
    *n = sp.n;
    return sp.s;
}

size_t weights_spec_numel(const struct weights_spec *s)
{
    /* config limits keep this far below SIZE_MAX */
    size_t n = 1;
    for (uint32_t d = 0; d < s->ndim; d++)
        n *= s->shape[d];
    return n;
}

float weights_spec_value(const struct weights_spec *s, size_t i)
{
    if (s->table)
        return s->dtype == WEIGHTS_I32 ? (float)((const int32_t *)*s->raw)[i] : (float)((const unsigned char *)*s->raw)[i];
    if (!s->halves)
        return (*s->slot)[i];
    const struct weights_tensor *m = s->matrix;
    if (m->dtype == WEIGHTS_F32)
        return ((const float *)m->data)[i];
    uint16_t h = ((const uint16_t *)m->data)[i];
    return m->dtype == WEIGHTS_F16 ? util_half_to_float(h) : util_bf16_to_float(h);
}

const char *weights_shape_str(char *buf, int ndim, const uint64_t *shape)
{
    size_t n = (size_t)snprintf(buf, WEIGHTS_SHAPE_LEN, "[");
    for (int d = 0; d < ndim && d < 8; d++)
        n += (size_t)snprintf(buf + n, WEIGHTS_SHAPE_LEN - n, "%s%llu", d ? ", " : "", (unsigned long long)shape[d]);
    snprintf(buf + n, WEIGHTS_SHAPE_LEN - n, "]");
    return buf;
}

/* struct weights_config's fields in the order the header stores them */
static const size_t config_fields[] = {
    offsetof(struct weights_config, activation),     offsetof(struct weights_config, embed_dim),
    offsetof(struct weights_config, vision_width),   offsetof(struct weights_config, vision_layers),
    offsetof(struct weights_config, vision_patch),   offsetof(struct weights_config, vision_grid),
    offsetof(struct weights_config, context_length), offsetof(struct weights_config, vocab_size),
    offsetof(struct weights_config, text_width),     offsetof(struct weights_config, text_layers),
    offsetof(struct weights_config, vision_heads),   offsetof(struct weights_config, text_heads),
    offsetof(struct weights_config, vision_mlp),     offsetof(struct weights_config, text_mlp),
    offsetof(struct weights_config, ln_eps),         offsetof(struct weights_config, image_mean[0]),
    offsetof(struct weights_config, image_mean[1]),  offsetof(struct weights_config, image_mean[2]),
    offsetof(struct weights_config, image_std[0]),   offsetof(struct weights_config, image_std[1]),
    offsetof(struct weights_config, image_std[2]),   offsetof(struct weights_config, family),
    offsetof(struct weights_config, text_activation), offsetof(struct weights_config, text_causal),
    offsetof(struct weights_config, text_pool),      offsetof(struct weights_config, pad_id),
    offsetof(struct weights_config, eos_id),         offsetof(struct weights_config, resize),
    offsetof(struct weights_config, tok_merges),     offsetof(struct weights_config, tok_chars),
    offsetof(struct weights_config, tok_added),      offsetof(struct weights_config, tok_strings),
    offsetof(struct weights_config, tok_unk),
};
#define CONFIG_FIELDS (sizeof config_fields / sizeof config_fields[0])

/* the layout weights.h documents: a field added to the config must be added
 * to config_fields and to the header (with a new format version) */
_Static_assert(sizeof(struct weights_config) == CONFIG_FIELDS * sizeof(uint32_t) && sizeof(float) == sizeof(uint32_t),
               "every config field is stored, each in 4 bytes");
_Static_assert(WEIGHTS_HDR_CONFIG + CONFIG_FIELDS * 4 == WEIGHTS_HDR_COUNT, "the config fills its header slot");
_Static_assert(WEIGHTS_HDR_END <= WEIGHTS_HEADER_SIZE && sizeof WEIGHTS_MAGIC <= WEIGHTS_HDR_VERSION,
               "the header holds its fields");
_Static_assert(WEIGHTS_NAME_MAX <= WEIGHTS_ENT_NDIM && WEIGHTS_ENT_SHAPE + 4 * 4 <= WEIGHTS_ENT_DTYPE &&
                   WEIGHTS_ENT_DTYPE + 4 <= WEIGHTS_ENT_OFFSET && WEIGHTS_ENT_OFFSET + 8 == WEIGHTS_ENTRY_SIZE,
               "an entry holds its fields");

/* Field k's 4 bytes (a float's are its bits), read and written by memcpy. */
static uint32_t get_field(const struct weights_config *c, size_t k)
{
    uint32_t v;
    memcpy(&v, (const char *)c + config_fields[k], sizeof v);
    return v;
}

static void set_field(struct weights_config *c, size_t k, uint32_t v)
{
    memcpy((char *)c + config_fields[k], &v, sizeof v);
}

static void header(unsigned char out[WEIGHTS_HEADER_SIZE], const struct weights_config *c, uint32_t count)
{
    memset(out, 0, WEIGHTS_HEADER_SIZE);
    memcpy(out + WEIGHTS_HDR_MAGIC, WEIGHTS_MAGIC, sizeof WEIGHTS_MAGIC);
    store_u32(out + WEIGHTS_HDR_VERSION, WEIGHTS_VERSION);
    for (size_t k = 0; k < CONFIG_FIELDS; k++)
        store_u32(out + WEIGHTS_HDR_CONFIG + 4 * k, get_field(c, k));
    store_u32(out + WEIGHTS_HDR_COUNT, count);
}

static void entry(unsigned char *out, const struct weights_spec *s, uint64_t offset)
{
    memset(out, 0, WEIGHTS_ENTRY_SIZE);
    memcpy(out + WEIGHTS_ENT_NAME, s->name, strlen(s->name));
    store_u32(out + WEIGHTS_ENT_NDIM, s->ndim);
    for (int d = 0; d < 4; d++)
        store_u32(out + WEIGHTS_ENT_SHAPE + 4 * d, s->shape[d]);
    store_u32(out + WEIGHTS_ENT_DTYPE, s->dtype);
    store_u64(out + WEIGHTS_ENT_OFFSET, offset);
}

int weights_layout(const struct weights_config *c, const struct weights_spec *specs, size_t n, unsigned char **head,
                   size_t *head_len, uint64_t **offsets)
{
    *head_len = WEIGHTS_HEADER_SIZE + n * WEIGHTS_ENTRY_SIZE;
    *head = calloc(1, *head_len);
    *offsets = calloc(n ? n : 1, sizeof **offsets);
    if (!*head || !*offsets) {
        free(*head);
        free(*offsets);
        return -1;
    }
    uint64_t end = *head_len;
    for (size_t k = 0; k < n; k++) {
        uint64_t align = (k > 0 && specs[k].visual && !specs[k - 1].visual) ? WEIGHTS_TOWER_ALIGN : WEIGHTS_ALIGN;
        (*offsets)[k] = (end + align - 1) / align * align;
        end = (*offsets)[k] + weights_spec_numel(&specs[k]) * weights_dtype_size(specs[k].dtype);
        entry(*head + WEIGHTS_HEADER_SIZE + k * WEIGHTS_ENTRY_SIZE, &specs[k], (*offsets)[k]);
    }
    header(*head, c, (uint32_t)n);
    store_u32(*head + WEIGHTS_HDR_CRC, (uint32_t)crc32(0, *head, (uInt)*head_len));
    return 0;
}

static void read_config(const unsigned char *h, struct weights_config *c)
{
    for (size_t k = 0; k < CONFIG_FIELDS; k++)
        set_field(c, k, load_u32(h + WEIGHTS_HDR_CONFIG + 4 * k));
}

static const unsigned char *find_entry(const unsigned char *dir, uint32_t count, const char *name)
{
    size_t len = strlen(name);
    for (uint32_t k = 0; k < count; k++) {
        const unsigned char *e = dir + (size_t)k * WEIGHTS_ENTRY_SIZE;
        if (!memcmp(e, name, len) && e[len] == 0)
            return e;
    }
    return NULL;
}

static int bind(struct weights *w, const char *path, char *err)
{
    const unsigned char *base = w->map;
    uint32_t count = load_u32(base + WEIGHTS_HDR_COUNT);
    const unsigned char *dir = base + WEIGHTS_HEADER_SIZE;
    size_t n;
    struct weights_spec *specs = weights_specs(&w->cfg, w, &n);
    if (!specs)
        return error(err, "out of memory");
    int rc = -1;
    uint64_t dir_end = WEIGHTS_HEADER_SIZE + (uint64_t)count * WEIGHTS_ENTRY_SIZE;
    for (size_t k = 0; k < n; k++) {
        const struct weights_spec *s = &specs[k];
        const unsigned char *e = find_entry(dir, count, s->name);
        if (!e) {
            error(err, "%s: missing tensor %s", path, s->name);
            goto done;
        }
        uint32_t ndim = load_u32(e + WEIGHTS_ENT_NDIM);
        uint64_t got[4], want[4];
        int same = ndim == s->ndim;
        for (int d = 0; d < 4; d++) {
            got[d] = load_u32(e + WEIGHTS_ENT_SHAPE + 4 * d);
            want[d] = s->shape[d];
            same &= got[d] == want[d];
        }
        if (!same) {
            char gs[WEIGHTS_SHAPE_LEN], ws[WEIGHTS_SHAPE_LEN];
            if (ndim > 4)
                error(err, "%s: tensor %s has %u dimensions, expected %s", path, s->name, ndim,
                      weights_shape_str(ws, (int)s->ndim, want));
            else
                error(err, "%s: tensor %s has shape %s, expected %s", path, s->name,
                      weights_shape_str(gs, (int)ndim, got), weights_shape_str(ws, (int)s->ndim, want));
            goto done;
        }
        uint32_t dtype = load_u32(e + WEIGHTS_ENT_DTYPE);
        if (s->table ? dtype != s->dtype : dtype > WEIGHTS_BF16 || (dtype != WEIGHTS_F32 && !s->halves)) {
            error(err, "%s: tensor %s has dtype %u, expected %s", path, s->name, dtype,
                  s->table ? (s->dtype == WEIGHTS_I32 ? "3 (int32)" : "4 (bytes)")
                  : s->halves ? "0 (float32), 1 (float16) or 2 (bfloat16)" : "0 (float32)");
            goto done;
        }
        uint64_t off = load_u64(e + WEIGHTS_ENT_OFFSET);
        uint64_t bytes = (uint64_t)weights_spec_numel(s) * weights_dtype_size(dtype);
        if (off % WEIGHTS_ALIGN || off < dir_end || off > w->size || bytes > w->size - off) {
            error(err, "%s: tensor %s at offset %llu (%llu bytes) lies outside the file's %zu bytes or is misaligned",
                  path, s->name, (unsigned long long)off, (unsigned long long)bytes, w->size);
            goto done;
        }
        if (s->table)
            *s->raw = base + off;
        else if (s->halves)
            *s->matrix = (struct weights_tensor){base + off, dtype};
        else
            *s->slot = (const float *)(base + off);
    }
    rc = 0;
done:
    free(specs);
    return rc;
}

float weights_probability(const struct weights *w, float cosine)
{
    if (!w->logit_bias)
        return -1;
    double z = exp((double)*w->logit_scale) * cosine + *w->logit_bias;
    return (float)(1 / (1 + exp(-z)));
}

/* Maps the file at an address that is a multiple of WEIGHTS_TOWER_ALIGN, so
 * that the kernel's fault-around windows line up with the file's towers. */
static void *map_aligned(int fd, size_t size)
{
    size_t pages = (size + WEIGHTS_PAGE - 1) / WEIGHTS_PAGE * WEIGHTS_PAGE;
    char *area = mmap(NULL, pages + WEIGHTS_TOWER_ALIGN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        return NULL;
    char *at = (char *)(((uintptr_t)area + WEIGHTS_TOWER_ALIGN - 1) & ~(uintptr_t)(WEIGHTS_TOWER_ALIGN - 1));
    if (mmap(at, size, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
        munmap(area, pages + WEIGHTS_TOWER_ALIGN);
        return NULL;
    }
    /* give back the reservation's unused head and tail */
    if (at > area)
        munmap(area, (size_t)(at - area));
    if (area + WEIGHTS_TOWER_ALIGN > at)
        munmap(at + pages, (size_t)(area + WEIGHTS_TOWER_ALIGN - at));
    return at;
}

/* Opens path (util_open_regular: a FIFO is refused, not waited on) and
 * maps it whole into w, refusing a file without room for a header. */
static int map_file(struct weights *w, const char *path, char *err)
{
    char why[ERR_LEN];
    struct stat st;
    int fd = util_open_regular(path, &st, why), rc = -1;
    if (fd < 0)
        error(err, "%s: %s", path, why);
    else if (st.st_size < WEIGHTS_HEADER_SIZE)
        error(err, "%s: not a clippie weights file (too short for its header)", path);
    else if (!(w->map = map_aligned(fd, (size_t)st.st_size)))
        error(err, "%s: cannot map: %s", path, strerror(errno));
    else {
        w->size = (size_t)st.st_size;
        rc = 0;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Checks magic, version and checksum, and reads the config into w. */
static int check_header(struct weights *w, const char *path, char *err)
{
    const unsigned char *h = w->map;
    if (memcmp(h + WEIGHTS_HDR_MAGIC, WEIGHTS_MAGIC, sizeof WEIGHTS_MAGIC))
        return error(err, "%s: not a clippie weights file (bad magic); make one with clippie convert", path);
    if (load_u32(h + WEIGHTS_HDR_VERSION) < WEIGHTS_VERSION)
        return error(err, "%s: made by an older clippie (weights format %u, this one reads %d): convert again", path,
                     load_u32(h + WEIGHTS_HDR_VERSION), WEIGHTS_VERSION);
    if (load_u32(h + WEIGHTS_HDR_VERSION) != WEIGHTS_VERSION)
        return error(err, "%s: weights format version %u, this clippie reads version %d", path,
                     load_u32(h + WEIGHTS_HDR_VERSION), WEIGHTS_VERSION);
    uint32_t count = load_u32(h + WEIGHTS_HDR_COUNT);
    uint64_t dir_end = WEIGHTS_HEADER_SIZE + (uint64_t)count * WEIGHTS_ENTRY_SIZE;
    if (dir_end > w->size)
        return error(err, "%s: truncated: its directory of %u tensors needs %llu bytes, the file has %zu", path,
                     count, (unsigned long long)dir_end, w->size);
    unsigned char hdr[WEIGHTS_HEADER_SIZE];
    memcpy(hdr, h, sizeof hdr);
    store_u32(hdr + WEIGHTS_HDR_CRC, 0);
    uLong crc = crc32(crc32(0, hdr, sizeof hdr), h + WEIGHTS_HEADER_SIZE, (uInt)(dir_end - WEIGHTS_HEADER_SIZE));
    if (crc != load_u32(h + WEIGHTS_HDR_CRC))
        return error(err, "%s: corrupted: header or tensor directory fails its checksum", path);
    read_config(h, &w->cfg);
    char why[ERR_LEN];
    if (weights_config_check(&w->cfg, why) < 0)
        return error(err, "%s: %s", path, why);
    if (count != spec_count(&w->cfg))
        return error(err, "%s: holds %u tensors, its config needs %zu", path, count, spec_count(&w->cfg));
    return 0;
}

struct weights *weights_open(const char *path, char *err)
{
    struct weights *w = calloc(1, sizeof *w);
    if (!w) {
        error(err, "out of memory");
        return NULL;
    }
    if (map_file(w, path, err) < 0 || check_header(w, path, err) < 0)
        goto fail;
    w->text_blocks = calloc(w->cfg.text_layers, sizeof *w->text_blocks);
    w->visual_blocks = calloc(w->cfg.vision_layers, sizeof *w->visual_blocks);
    if (!w->text_blocks || !w->visual_blocks) {
        error(err, "out of memory");
        goto fail;
    }
    if (bind(w, path, err) < 0)
        goto fail;
    if (w->cfg.family == WEIGHTS_SIGLIP) {
        const struct weights_config *c = &w->cfg;
        w->tokenizer.n_merges = c->tok_merges;
        w->tokenizer.n_chars = c->tok_chars;
        w->tokenizer.n_added = c->tok_added;
        w->tokenizer.strings_len = c->tok_strings;
        w->tokenizer.vocab = c->vocab_size;
        w->tokenizer.unk = c->tok_unk == UINT32_MAX ? -1 : (int32_t)c->tok_unk;
        char why[ERR_LEN];
        if (spm_check(&w->tokenizer, why) < 0) {
            error(err, "%s: %s", path, why);
            goto fail;
        }
    }
    return w;
fail:
    weights_close(w);
    return NULL;
}

void weights_close(struct weights *w)
{
    if (!w)
        return;
    if (w->map)
        munmap(w->map, w->size);
    free(w->text_blocks);
    free(w->visual_blocks);
    free(w);
}
