/* weights.h - clippie's native weights file: mmap, validate, hand out pointers.
 *
 *     char err[ERR_LEN];
 *     struct weights *w = weights_open("ViT-B-32.weights", err);
 *     if (!w) fprintf(stderr, "%s\n", err);
 *     const float *emb = w->token_embedding;     // points into the mapping
 *     weights_close(w);                          // unmaps: every pointer dies
 *
 * File layout (all little-endian):
 *   header    256 bytes: magic "CLIPPIE\0", format version, the config below
 *             in the order of struct weights_config, the tensor count, and a
 *             CRC-32 of the header and directory (taken with this field 0)
 *   directory one 96-byte entry per tensor: name[64] (NUL-padded), ndim,
 *             shape[4], dtype, u64 offset of its data from file start
 *             (the fields' offsets: enum weights_header_field, weights_entry_field)
 *   data      tensors, each at a multiple of 64 bytes; the image tower's
 *             start at a multiple of 64 KiB, so that text-only use never
 *             maps them in (fault-around stays within 64 KiB windows). The
 *             large matrices (struct weights_tensor) are float32, float16
 *             or bfloat16, as the checkpoint had them; the rest is float32,
 *             but SigLIP's tokenizer tables (int32 and bytes, spm.h).
 * Two families: CLIP (OpenAI's ViT) and SigLIP 2 (a timm ViT pooled by a
 * latent query, a text tower without causal mask read at its last
 * position, Gemma's tokenizer stored in the file). Format 3 added SigLIP;
 * files of formats 1 and 2 are refused with "convert again".
 * Opening reads only the header and directory: tensor pages are faulted in
 * when a forward pass first reads them.
 */
#ifndef WEIGHTS_H
#define WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "spm.h"
#include "util.h"

#define WEIGHTS_MAGIC "CLIPPIE"
#define WEIGHTS_VERSION 3
#define WEIGHTS_HEADER_SIZE 256
#define WEIGHTS_ENTRY_SIZE 96
#define WEIGHTS_NAME_MAX 64
#define WEIGHTS_ALIGN 64
#define WEIGHTS_PAGE 4096
#define WEIGHTS_TOWER_ALIGN 65536 /* the kernel maps in page-cache pages up to 64 KiB around a fault */

/* Byte offsets in the header; all fields are u32 unless said otherwise. */
enum weights_header_field {
    WEIGHTS_HDR_MAGIC = 0,    /* char[8]: WEIGHTS_MAGIC, NUL-padded */
    WEIGHTS_HDR_VERSION = 8,  /* WEIGHTS_VERSION */
    WEIGHTS_HDR_CONFIG = 12,  /* struct weights_config, field by field in its order (floats as their bits) */
    WEIGHTS_HDR_COUNT = 144,  /* tensors in the directory */
    WEIGHTS_HDR_CRC = 148,    /* CRC-32 of header and directory, taken with this field 0 */
    WEIGHTS_HDR_END = 152,    /* zero up to WEIGHTS_HEADER_SIZE */
};

/* Byte offsets in a directory entry. */
enum weights_entry_field {
    WEIGHTS_ENT_NAME = 0,    /* char[WEIGHTS_NAME_MAX], NUL-padded */
    WEIGHTS_ENT_NDIM = 64,   /* u32 */
    WEIGHTS_ENT_SHAPE = 68,  /* u32[4], unused dimensions 0 */
    WEIGHTS_ENT_DTYPE = 84,  /* u32: enum weights_dtype */
    WEIGHTS_ENT_OFFSET = 88, /* u64: the tensor's data, from the start of the file */
};

/* GELU_TANH: GELU's tanh approximation (timm's gelu_tanh, torch's approximate="tanh") */
enum weights_activation { WEIGHTS_QUICK_GELU = 0, WEIGHTS_GELU = 1, WEIGHTS_GELU_TANH = 2 };

enum weights_family { WEIGHTS_CLIP = 0, WEIGHTS_SIGLIP = 1 };

/* the text's vector: at its end token, its last id (CLIP); at the context's last position (SigLIP) */
enum weights_pool { WEIGHTS_POOL_EOT = 0, WEIGHTS_POOL_LAST = 1 };

/* preprocessing: shortest side to the resolution, then the centre crop; or straight to the square */
enum weights_resize { WEIGHTS_RESIZE_CROP = 0, WEIGHTS_RESIZE_SQUASH = 1 };

enum weights_dtype { WEIGHTS_F32 = 0, WEIGHTS_F16 = 1, WEIGHTS_BF16 = 2, WEIGHTS_I32 = 3, WEIGHTS_U8 = 4 };

/* Bytes per element of a dtype. */
static inline size_t weights_dtype_size(uint32_t dtype)
{
    return dtype == WEIGHTS_F32 || dtype == WEIGHTS_I32 ? 4 : dtype == WEIGHTS_U8 ? 1 : 2;
}

/* Hyperparameters: OpenAI's are all inferred from tensor shapes (heads of
 * width 64, MLPs 4 times as wide, LayerNorm's epsilon 1e-5, OpenAI's
 * pixel mean and deviation); the image resolution is patch * grid. */
struct weights_config {
    uint32_t activation;     /* enum weights_activation: the image tower's (CLIP: both towers') */
    uint32_t embed_dim;      /* E: text_projection [Wt, E] */
    uint32_t vision_width;   /* Wv: visual.conv1.weight [Wv, 3, P, P] */
    uint32_t vision_layers;  /* visual.transformer.resblocks.N */
    uint32_t vision_patch;   /* P */
    uint32_t vision_grid;    /* G: visual.positional_embedding [G*G+1, Wv] */
    uint32_t context_length; /* C: positional_embedding [C, Wt] */
    uint32_t vocab_size;     /* V: token_embedding.weight [V, Wt] */
    uint32_t text_width;     /* Wt: ln_final.weight [Wt] */
    uint32_t text_layers;    /* transformer.resblocks.N */
    uint32_t vision_heads;   /* attention heads of the image tower */
    uint32_t text_heads;
    uint32_t vision_mlp;     /* the MLP's hidden width: visual...mlp.c_fc.weight [mlp, Wv] */
    uint32_t text_mlp;
    float ln_eps;            /* LayerNorm's epsilon */
    float image_mean[3];     /* the preprocessing's per-channel mean and deviation */
    float image_std[3];
    /* format 3 on; CLIP's text tower is always causal, read at the end
     * token, of the image tower's activation: its text_* fields are 0 */
    uint32_t family;         /* enum weights_family */
    uint32_t text_activation; /* SigLIP: enum weights_activation */
    uint32_t text_causal;    /* SigLIP: 1 when position i attends to 0..i only (0 as released) */
    uint32_t text_pool;      /* SigLIP: enum weights_pool (LAST as released) */
    uint32_t pad_id;         /* SigLIP: the id filling a text to the context length */
    uint32_t eos_id;         /* SigLIP: the id ending a text */
    uint32_t resize;         /* enum weights_resize (either family) */
    uint32_t tok_merges;     /* SigLIP: rows of the tokenizer's tables (spm.h) */
    uint32_t tok_chars;
    uint32_t tok_added;
    uint32_t tok_strings;    /* bytes of the added tokens' text */
    uint32_t tok_unk;        /* the unknown token's id, or UINT32_MAX */
};

/* A large matrix, in the precision the checkpoint had: computed in float32. */
struct weights_tensor {
    const void *data;
    uint32_t dtype;          /* enum weights_dtype */
};

/* One residual block (prefix "transformer.resblocks.N." or
 * "visual.transformer.resblocks.N."); W is the tower's width. */
struct weights_block {
    const float *ln_1_weight;     /* ln_1.weight [W] */
    const float *ln_1_bias;       /* ln_1.bias [W] */
    struct weights_tensor in_proj_weight;  /* attn.in_proj_weight [3W, W]: q, k, v rows */
    const float *in_proj_bias;    /* attn.in_proj_bias [3W] */
    struct weights_tensor out_proj_weight; /* attn.out_proj.weight [W, W] */
    const float *out_proj_bias;   /* attn.out_proj.bias [W] */
    const float *ln_2_weight;     /* ln_2.weight [W] */
    const float *ln_2_bias;       /* ln_2.bias [W] */
    struct weights_tensor c_fc_weight;     /* mlp.c_fc.weight [mlp, W] */
    const float *c_fc_bias;       /* mlp.c_fc.bias [mlp] */
    struct weights_tensor c_proj_weight;   /* mlp.c_proj.weight [W, mlp] */
    const float *c_proj_bias;     /* mlp.c_proj.bias [W] */
};

/* SigLIP's attention-pool head (timm's AttentionPoolLatent, prefix
 * "visual.attn_pool."): the latent query attends over the tokens, then
 * x + mlp(norm(x)); W the image width, M its MLP width. */
struct weights_head {
    const float *latent;          /* latent [W] */
    struct weights_tensor q_weight;   /* q.weight [W, W] */
    const float *q_bias;          /* q.bias [W] */
    struct weights_tensor kv_weight;  /* kv.weight [2W, W]: k rows, then v */
    const float *kv_bias;         /* kv.bias [2W] */
    struct weights_tensor proj_weight; /* proj.weight [W, W] */
    const float *proj_bias;       /* proj.bias [W] */
    const float *norm_weight;     /* norm.weight [W] */
    const float *norm_bias;       /* norm.bias [W] */
    struct weights_tensor fc1_weight; /* mlp.fc1.weight [M, W] */
    const float *fc1_bias;        /* mlp.fc1.bias [M] */
    struct weights_tensor fc2_weight; /* mlp.fc2.weight [W, M] */
    const float *fc2_bias;        /* mlp.fc2.bias [W] */
};

struct weights {
    struct weights_config cfg;
    const float *logit_scale;          /* logit_scale [] */
    const float *logit_bias;           /* SigLIP: logit_bias []; CLIP: NULL */
    /* text tower */
    struct weights_tensor token_embedding; /* token_embedding.weight [V, Wt] */
    const float *positional_embedding; /* positional_embedding [C, Wt] */
    struct weights_block *text_blocks; /* [text_layers] */
    const float *ln_final_weight;      /* ln_final.weight [Wt] */
    const float *ln_final_bias;        /* ln_final.bias [Wt] */
    struct weights_tensor text_projection; /* CLIP: text_projection [Wt, E];
                                              SigLIP: text_projection.weight [E, Wt] (a Linear) */
    const float *text_projection_bias; /* SigLIP: text_projection.bias [E] */
    /* image tower */
    struct weights_tensor conv1_weight; /* visual.conv1.weight [Wv, 3, P, P] */
    const float *conv1_bias;           /* SigLIP: visual.conv1.bias [Wv] */
    const float *class_embedding;      /* CLIP: visual.class_embedding [Wv] */
    const float *visual_positional_embedding; /* visual.positional_embedding [G*G+1, Wv] (SigLIP: [G*G, Wv]) */
    const float *ln_pre_weight;        /* CLIP: visual.ln_pre.weight [Wv] */
    const float *ln_pre_bias;          /* CLIP: visual.ln_pre.bias [Wv] */
    struct weights_block *visual_blocks; /* [vision_layers] */
    const float *ln_post_weight;       /* visual.ln_post.weight [Wv] */
    const float *ln_post_bias;         /* visual.ln_post.bias [Wv] */
    struct weights_tensor visual_proj;  /* CLIP: visual.proj [Wv, E] */
    struct weights_head pool;          /* SigLIP */
    /* SigLIP's tokenizer: tokenizer.merges, .chars, .bytes, .added (int32), .strings (bytes) */
    struct spm_tables tokenizer;

    void *map; /* the whole file, read-only */
    size_t size;
};

/* What one tensor of a model must be: its state_dict name, shape, dtype,
 * and (when the spec was made for a struct weights) where its pointer goes:
 * slot for float32 tensors, matrix for those that may be half precision. */
struct weights_spec {
    char name[WEIGHTS_NAME_MAX];
    uint32_t ndim;
    uint32_t shape[4];
    int visual;        /* belongs to the image tower */
    int halves;        /* may be float16 or bfloat16 (a struct weights_tensor) */
    int table;         /* SigLIP's tokenizer tables: dtype I32 or U8 as made, never a checkpoint's */
    uint32_t dtype;    /* enum weights_dtype: F32 as made; weights_layout writes it */
    const float **slot;
    struct weights_tensor *matrix;
    const void **raw;  /* tables */
};

/* Sets the fields that OpenAI's models fix from the widths: heads of 64,
 * MLPs 4 times as wide, epsilon 1e-5, OpenAI's pixel mean and deviation. */
void weights_config_openai(struct weights_config *c);

/* Checks a config's values are in range; -1 with err set otherwise. */
int weights_config_check(const struct weights_config *c, char *err);

/* Every tensor a model of config c has, text tower first. Returns a malloc'd
 * array the caller frees, with its length in *n; w may be NULL (no slots),
 * otherwise its block arrays must be allocated. NULL only when out of memory. */
struct weights_spec *weights_specs(const struct weights_config *c, struct weights *w, size_t *n);

/* Elements in a spec's tensor. */
size_t weights_spec_numel(const struct weights_spec *s);

/* Element i of a bound spec's tensor, as float32, whatever its dtype. */
float weights_spec_value(const struct weights_spec *s, size_t i);

/* Room for any shape weights_shape_str formats (up to 8 dimensions). */
#define WEIGHTS_SHAPE_LEN 192

/* Formats the ndim (at most 8) sizes of shape as "[768, 3, 32, 32]" ("[]"
 * for a scalar) into buf, of WEIGHTS_SHAPE_LEN bytes; returns buf. */
const char *weights_shape_str(char *buf, int ndim, const uint64_t *shape);

/* SigLIP's probability that a text and an image match, from their cosine:
 * sigmoid(exp(logit_scale) * cosine + logit_bias), the sigmoid loss's own
 * reading; CLIP models have no bias: -1. */
float weights_probability(const struct weights *w, float cosine);

/* Maps and validates path; NULL with err naming the file and the problem. */
struct weights *weights_open(const char *path, char *err);
void weights_close(struct weights *w);

/* Lays out a weights file for the n specs of config c: *head gets the header
 * and directory (checksum included) that open the file, *offsets where each
 * tensor's data (of its spec's dtype) starts. Both malloc'd for the caller to free; -1 when
 * out of memory. */
int weights_layout(const struct weights_config *c, const struct weights_spec *specs, size_t n, unsigned char **head,
                   size_t *head_len, uint64_t **offsets);

#endif
