/* convert.h - a CLIP checkpoint to a clippie weights file.
 *
 *     char err[ERR_LEN];
 *     struct convert_info info;
 *     struct convert_opts o = {.activation = -1, .dtype = -1};
 *     if (convert_model("CLIP-ViT-B-32-laion2B-s34B-b79K/", "b32.weights", &o, &info, err) < 0)
 *         fprintf(stderr, "%s\n", err);
 *
 * Takes, recognised by content, not by name:
 *   - OpenAI's released TorchScript archives (ViT-B-32.pt, ...): QuickGELU,
 *     heads of width 64, OpenAI's pixel mean and deviation;
 *   - OpenCLIP state_dicts, as torch.save zip archives
 *     (open_clip_pytorch_model.bin, epoch_N.pt with its names under
 *     "state_dict.module.") or .safetensors (open_clip_model.safetensors),
 *     with open_clip_config.json beside them for what shapes cannot tell;
 *   - Hugging Face transformers CLIPModel (model.safetensors or
 *     pytorch_model.bin) with config.json and preprocessor_config.json
 *     beside it: its names mapped to OpenAI's, q, k and v joined;
 *   - SigLIP 2: OpenCLIP's hub folders (timm's image tower, open_clip_config.json,
 *     tokenizer.json) and transformers' SiglipModel folders (config.json,
 *     preprocessor_config.json, tokenizer.json); the tokenizer's tables
 *     are stored in the weights file;
 *   - a folder holding one of open_clip_model.safetensors,
 *     open_clip_pytorch_model.bin, model.safetensors, pytorch_model.bin
 *     (the first found, in that order).
 * float32, float16 or bfloat16 tensors. What neither the tensors nor a
 * config say (activation, attention heads) is taken from opts, and refused
 * with the option to pass when opts does not say either; an option that
 * contradicts the config is refused. Other model families (SigLIP v1,
 * NaFlex, CoCa, other timm or ResNet towers, multilingual text) are
 * refused by name. The large
 * matrices keep the checkpoint's precision (lossless) or take the one asked
 * for; the rest is stored as float32. The output is written to a temporary
 * file beside it and renamed into place only when complete: on failure
 * nothing is left behind.
 */
#ifndef CONVERT_H
#define CONVERT_H

#include <limits.h>
#include <stdint.h>

#include "util.h"
#include "weights.h"

struct convert_opts {
    int activation;      /* enum weights_activation, or -1: as the config says */
    int dtype;           /* enum weights_dtype for the large matrices, or -1 to keep the checkpoint's */
    uint32_t vision_heads, text_heads; /* attention heads per tower, or 0: as the config says */
    int heads_of_64;     /* no config and no heads given: assume OpenAI's head width 64 (convert_checkpoint) */
};

struct convert_info {
    struct weights_config cfg;
    uint64_t params;       /* elements converted */
    size_t tensors[3];     /* tensors read from float32, float16, bfloat16 storages */
    size_t stored[3];      /* tensors written as float32, float16, bfloat16 */
    double max_rounding;   /* the largest relative error storing introduced (0: lossless) */
    const char *shape;     /* "ViT-B/32" when the shapes are a released model's, else NULL */
    const char *release;   /* "ViT-B-32.pt" when the file is OpenAI's release (by SHA-256), else NULL */
    /* what was found, for the one line convert prints */
    const char *family;    /* "OpenAI CLIP", "OpenCLIP", "OpenCLIP training checkpoint", "Hugging Face CLIPModel",
                              "OpenCLIP SigLIP 2", "Hugging Face SiglipModel" */
    const char *format;    /* "TorchScript archive", "torch.save archive", "safetensors" */
    const char *activation_from; /* "OpenAI's release", "--activation", or the config's file name */
    const char *heads_from;      /* likewise, or "head width 64" (heads_of_64) */
    char file[PATH_MAX];   /* the tensors' file read (the one chosen in a folder) */
    char config[PATH_MAX]; /* the config read beside it, "" when none */
};

/* libzip's version, "1.7.3", which convert loads on first use (util_lib_load);
 * NULL when it cannot be loaded */
const char *convert_zip_version(void);

int convert_model(const char *in, const char *out, const struct convert_opts *opts, struct convert_info *info,
                  char *err);

/* convert_model with activation act given, and heads of width 64 unless a
 * config says otherwise: the interface before OpenCLIP configs were read. */
int convert_checkpoint(const char *in, const char *out, enum weights_activation act, int dtype,
                       struct convert_info *info, char *err);

#endif
