/* weights.h - clippie's native weights file: mmap, validate, hand out pointers.
 *
 *     char err[ERR_LEN];
 *     struct weights *w = weights_open("ViT-B-32.weights", err);
 *     if (!w) fprintf(stderr, "%s\n", err);
 *     const float *emb = w->token_embedding;     // points into the mapping
 *     weights_close(w);                          // unmaps: every pointer dies
 *
 * File layout (all little-endian):
 *   header    128 bytes: magic "CLIPPIE\0", format version, the config below
 *             in the order of struct weights_config, the tensor count, and a
 *             CRC-32 of the header and directory (taken with this field 0)
 *   directory one 96-byte entry per tensor: name[64] (NUL-padded), ndim,
 *             shape[4], dtype, u64 offset of its data from file start
 *             (the fields' offsets: enum weights_header_field, weights_entry_field)
 *   data      tensors, each at a multiple of 64 bytes; the image tower's
 *             start at a multiple of 64 KiB, so that text-only use never
 *             maps them in (fault-around stays within 64 KiB windows). The
 *             large matrices (struct weights_tensor) are float32, float16
 *             or bfloat16, as the checkpoint had them; the rest is float32.
 * Opening reads only the header and directory: tensor pages are faulted in
 * when a forward pass first reads them.
 */
#ifndef WEIGHTS_H
#define WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define WEIGHTS_MAGIC "CLIPPIE"
#define WEIGHTS_VERSION 2
#define WEIGHTS_HEADER_SIZE 128
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
    WEIGHTS_HDR_COUNT = 96,   /* tensors in the directory */
    WEIGHTS_HDR_CRC = 100,    /* CRC-32 of header and directory, taken with this field 0 */
    WEIGHTS_HDR_END = 104,    /* zero up to WEIGHTS_HEADER_SIZE */
};

/* Byte offsets in a directory entry. */
enum weights_entry_field {
    WEIGHTS_ENT_NAME = 0,    /* char[WEIGHTS_NAME_MAX], NUL-padded */
    WEIGHTS_ENT_NDIM = 64,   /* u32 */
    WEIGHTS_ENT_SHAPE = 68,  /* u32[4], unused dimensions 0 */
    WEIGHTS_ENT_DTYPE = 84,  /* u32: enum weights_dtype */
    WEIGHTS_ENT_OFFSET = 88, /* u64: the tensor's data, from the start of the file */
};

enum weights_activation { WEIGHTS_QUICK_GELU = 0, WEIGHTS_GELU = 1 };

enum weights_dtype { WEIGHTS_F32 = 0, WEIGHTS_F16 = 1, WEIGHTS_BF16 = 2 };

/* Bytes per element of a dtype. */
static inline size_t weights_dtype_size(uint32_t dtype) { return dtype == WEIGHTS_F32 ? 4 : 2; }

/* Hyperparameters: OpenAI's are all inferred from tensor shapes (heads of
 * width 64, MLPs 4 times as wide, LayerNorm's epsilon 1e-5, OpenAI's
 * pixel mean and deviation); the image resolution is patch * grid. */
struct weights_config {
    uint32_t activation;     /* enum weights_activation */
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

struct weights {
    struct weights_config cfg;
    const float *logit_scale;          /* logit_scale [] */
    /* text tower */
    struct weights_tensor token_embedding; /* token_embedding.weight [V, Wt] */
    const float *positional_embedding; /* positional_embedding [C, Wt] */
    struct weights_block *text_blocks; /* [text_layers] */
    const float *ln_final_weight;      /* ln_final.weight [Wt] */
    const float *ln_final_bias;        /* ln_final.bias [Wt] */
    struct weights_tensor text_projection; /* text_projection [Wt, E] */
    /* image tower */
    struct weights_tensor conv1_weight; /* visual.conv1.weight [Wv, 3, P, P] */
    const float *class_embedding;      /* visual.class_embedding [Wv] */
    const float *visual_positional_embedding; /* visual.positional_embedding [G*G+1, Wv] */
    const float *ln_pre_weight;        /* visual.ln_pre.weight [Wv] */
    const float *ln_pre_bias;          /* visual.ln_pre.bias [Wv] */
    struct weights_block *visual_blocks; /* [vision_layers] */
    const float *ln_post_weight;       /* visual.ln_post.weight [Wv] */
    const float *ln_post_bias;         /* visual.ln_post.bias [Wv] */
    struct weights_tensor visual_proj;  /* visual.proj [Wv, E] */

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
    uint32_t dtype;    /* enum weights_dtype: F32 as made; weights_layout writes it */
    const float **slot;
    struct weights_tensor *matrix;
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
