/* convert.h - PyTorch CLIP checkpoint (.pt zip) to a clippie weights file.
 *
 *     char err[ERR_LEN];
 *     struct convert_info info;
 *     if (convert_checkpoint("ViT-B-32.pt", "ViT-B-32.weights", WEIGHTS_QUICK_GELU, -1, &info, err) < 0)
 *         fprintf(stderr, "%s\n", err);
 *
 * Reads OpenAI's TorchScript archives and OpenCLIP-style torch.save
 * state_dicts (float32, float16 or bfloat16 storages, any view). The large
 * matrices keep the checkpoint's precision (lossless), or take the one
 * asked for; the rest is stored as float32. The output
 * is written to a temporary file beside it and renamed into place only when
 * complete: on failure nothing is left behind.
 */
#ifndef CONVERT_H
#define CONVERT_H

#include <stdint.h>

#include "util.h"
#include "weights.h"

struct convert_info {
    struct weights_config cfg;
    uint64_t params;       /* elements converted */
    size_t tensors[3];     /* tensors read from float32, float16, bfloat16 storages */
    size_t stored[3];      /* tensors written as float32, float16, bfloat16 */
    double max_rounding;   /* the largest relative error storing introduced (0: lossless) */
    const char *shape;     /* "ViT-B/32" when the shapes are a released model's, else NULL */
    const char *release;   /* "ViT-B-32.pt" when the file is OpenAI's release (by SHA-256), else NULL */
};

/* dtype: enum weights_dtype for the large matrices, or -1 to keep the
 * checkpoint's. */
int convert_checkpoint(const char *in, const char *out, enum weights_activation act, int dtype,
                       struct convert_info *info, char *err);

#endif
