/* modelcfg.h - what a model's JSON configs say that its tensors cannot:
 * OpenCLIP's open_clip_config.json, or Hugging Face transformers' config.json
 * with preprocessor_config.json.
 *
 *     struct modelcfg m;
 *     char err[ERR_LEN];
 *     if (modelcfg_openclip(json, len, &m, err) < 0)
 *         fprintf(stderr, "open_clip_config.json: %s\n", err);
 *
 * The plain CLIP ViT is accepted (pre-LayerNorm blocks, class-token
 * pooling, argmax text pooling, CLIP's BPE vocabulary, bicubic resize and
 * centre crop, or squash), and OpenCLIP's SigLIP 2 (a timm SigLIP ViT known
 * by name, its activation from a table of timm's models; a text tower
 * without causal mask pooled at the last position, projected with a bias;
 * Gemma's tokenizer with open_clip's "canonicalize" cleaning). Every setting that would make another model is
 * refused by name, with the family it belongs to when known (SigLIP, CoCa,
 * timm or Hugging Face towers, ...); OpenCLIP settings this reader does not
 * know are refused too, rather than ignored. The parsers take (buffer,
 * length) of untrusted bytes, at most MODELCFG_MAX_JSON of them.
 */
#ifndef MODELCFG_H
#define MODELCFG_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define MODELCFG_MAX_JSON (1u << 20)

/* What a config says; 0 (or -1 for activation) where it says nothing. The
 * widths, layers, sizes are for checking against the tensors' shapes. */
struct modelcfg {
    uint32_t family; /* enum weights_family */
    int activation; /* enum weights_activation, or -1: the image tower's (CLIP: both towers') */
    int text_activation; /* SigLIP: enum weights_activation */
    uint32_t resize; /* enum weights_resize */
    uint32_t embed_dim, image_size, vision_width, vision_layers, vision_patch, vision_heads, vision_mlp;
    uint32_t context_length, vocab_size, text_width, text_layers, text_heads, text_mlp;
    float ln_eps;
    int have_norm;   /* image_mean and image_std set */
    float image_mean[3], image_std[3];
};

/* OpenCLIP's open_clip_config.json: {"model_cfg": {...}, "preprocess_cfg": {...}}
 * (a bare model config, as in OpenCLIP's model_configs/, is also taken, with
 * OpenCLIP's default preprocessing). Unset fields take OpenCLIP's defaults.
 * A SigLIP config leaves vision_layers 0 unless timm_model_kwargs gives
 * depth (the tensors tell). */
int modelcfg_openclip(const char *json, size_t len, struct modelcfg *m, char *err);

/* transformers' CLIPModel config.json and preprocessor_config.json. */
int modelcfg_hf(const char *config, size_t len, const char *preproc, size_t plen, struct modelcfg *m, char *err);

#endif
