/* weights.h - clippie's native weights file: mmap, validate, hand out pointers.
 *
 *     char err[ERR_LEN];
 *     struct weights *w = weights_open("ViT-B-32.weights", err);
 *     if (!w) fprintf(stderr, "%s\n", err);
 *     const float *emb = w->token_embedding;     // points into the mapping
 *     weights_close(w);                          // unmaps: every pointer dies
 *
 * File layout (all little-endian):
 *   header    64 bytes: magic "CLIPPIE\0", format version, the config below
 *             in the order of struct weights_config, the tensor count, and a
 *             CRC-32 of the header and directory (taken with this field 0)
 *   directory one 96-byte entry per tensor: name[64] (NUL-padded), ndim,
 *             shape[4], 4 bytes zero, u64 offset of its data from file start
 *             (the fields' offsets: enum weights_header_field, weights_entry_field)
 *   data      float32 tensors, each at a multiple of 64 bytes; the image
 *             tower's start at a multiple of 64 KiB, so that text-only use
 *             never maps them in (fault-around stays within 64 KiB windows)
 * Opening reads only the header and directory: tensor pages are faulted in
 * when a forward pass first reads them.
 */
#ifndef WEIGHTS_H
#define WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define WEIGHTS_MAGIC "CLIPPIE"
#define WEIGHTS_VERSION 1
#define WEIGHTS_HEADER_SIZE 64
#define WEIGHTS_ENTRY_SIZE 96
#define WEIGHTS_NAME_MAX 64
#define WEIGHTS_ALIGN 64
#define WEIGHTS_PAGE 4096
#define WEIGHTS_TOWER_ALIGN 65536 /* the kernel maps in page-cache pages up to 64 KiB around a fault */

/* Byte offsets in the header; all fields are u32 unless said otherwise. */
enum weights_header_field {
    WEIGHTS_HDR_MAGIC = 0,    /* char[8]: WEIGHTS_MAGIC, NUL-padded */
    WEIGHTS_HDR_VERSION = 8,  /* WEIGHTS_VERSION */
    WEIGHTS_HDR_CONFIG = 12,  /* struct weights_config, field by field in its order */
    WEIGHTS_HDR_COUNT = 52,   /* tensors in the directory */
    WEIGHTS_HDR_CRC = 56,     /* CRC-32 of header and directory, taken with this field 0 */
    WEIGHTS_HDR_END = 60,     /* zero up to WEIGHTS_HEADER_SIZE */
};

/* Byte offsets in a directory entry. */
enum weights_entry_field {
    WEIGHTS_ENT_NAME = 0,    /* char[WEIGHTS_NAME_MAX], NUL-padded */
    WEIGHTS_ENT_NDIM = 64,   /* u32 */
    WEIGHTS_ENT_SHAPE = 68,  /* u32[4], unused dimensions 0; then 4 bytes zero */
    WEIGHTS_ENT_OFFSET = 88, /* u64: the tensor's data, from the start of the file */
};

enum weights_activation { WEIGHTS_QUICK_GELU = 0, WEIGHTS_GELU = 1 };

/* Hyperparameters, all inferred from tensor shapes (CLIP.md). Heads are
 * width / 64 in both towers; the image resolution is patch * grid. */
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
};

/* One residual block (prefix "transformer.resblocks.N." or
 * "visual.transformer.resblocks.N."); W is the tower's width. */
struct weights_block {
    const float *ln_1_weight;     /* ln_1.weight [W] */
    const float *ln_1_bias;       /* ln_1.bias [W] */
    const float *in_proj_weight;  /* attn.in_proj_weight [3W, W]: q, k, v rows */
    const float *in_proj_bias;    /* attn.in_proj_bias [3W] */
    const float *out_proj_weight; /* attn.out_proj.weight [W, W] */
    const float *out_proj_bias;   /* attn.out_proj.bias [W] */
    const float *ln_2_weight;     /* ln_2.weight [W] */
    const float *ln_2_bias;       /* ln_2.bias [W] */
    const float *c_fc_weight;     /* mlp.c_fc.weight [4W, W] */
    const float *c_fc_bias;       /* mlp.c_fc.bias [4W] */
    const float *c_proj_weight;   /* mlp.c_proj.weight [W, 4W] */
    const float *c_proj_bias;     /* mlp.c_proj.bias [W] */
};

struct weights {
    struct weights_config cfg;
    const float *logit_scale;          /* logit_scale [] */
    /* text tower */
    const float *token_embedding;      /* token_embedding.weight [V, Wt] */
    const float *positional_embedding; /* positional_embedding [C, Wt] */
    struct weights_block *text_blocks; /* [text_layers] */
    const float *ln_final_weight;      /* ln_final.weight [Wt] */
    const float *ln_final_bias;        /* ln_final.bias [Wt] */
    const float *text_projection;      /* text_projection [Wt, E] */
    /* image tower */
    const float *conv1_weight;         /* visual.conv1.weight [Wv, 3, P, P] */
    const float *class_embedding;      /* visual.class_embedding [Wv] */
    const float *visual_positional_embedding; /* visual.positional_embedding [G*G+1, Wv] */
    const float *ln_pre_weight;        /* visual.ln_pre.weight [Wv] */
    const float *ln_pre_bias;          /* visual.ln_pre.bias [Wv] */
    struct weights_block *visual_blocks; /* [vision_layers] */
    const float *ln_post_weight;       /* visual.ln_post.weight [Wv] */
    const float *ln_post_bias;         /* visual.ln_post.bias [Wv] */
    const float *visual_proj;          /* visual.proj [Wv, E] */

    void *map; /* the whole file, read-only */
    size_t size;
};

/* What one tensor of a model must be: its state_dict name, shape, and (when
 * the spec was made for a struct weights) where its pointer goes. */
struct weights_spec {
    char name[WEIGHTS_NAME_MAX];
    uint32_t ndim;
    uint32_t shape[4];
    int visual;        /* belongs to the image tower */
    const float **slot;
};

/* Checks a config's values are in range; -1 with err set otherwise. */
int weights_config_check(const struct weights_config *c, char *err);

/* Every tensor a model of config c has, text tower first. Returns a malloc'd
 * array the caller frees, with its length in *n; w may be NULL (no slots),
 * otherwise its block arrays must be allocated. NULL only when out of memory. */
struct weights_spec *weights_specs(const struct weights_config *c, struct weights *w, size_t *n);

/* Elements in a spec's tensor. */
size_t weights_spec_numel(const struct weights_spec *s);

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
 * tensor's float32 data starts. Both malloc'd for the caller to free; -1 when
 * out of memory. */
int weights_layout(const struct weights_config *c, const struct weights_spec *specs, size_t n, unsigned char **head,
                   size_t *head_len, uint64_t **offsets);

#endif
