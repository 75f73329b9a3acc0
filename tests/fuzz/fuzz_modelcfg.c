/* libFuzzer target: bytes as an OpenCLIP config, and split at the first
 * NUL (or in two) as a Hugging Face config.json and preprocessor_config.json;
 * whatever is accepted must be a config the weights file can hold (CLIP's
 * or SigLIP 2's). */
#include <stdlib.h>
#include <string.h>

#include "modelcfg.h"
#include "weights.h"

static void check(const struct modelcfg *m)
{
    if (m->activation < WEIGHTS_QUICK_GELU || m->activation > WEIGHTS_GELU_TANH || m->resize > WEIGHTS_RESIZE_SQUASH)
        abort();
    if (m->family == WEIGHTS_SIGLIP && ((m->text_activation != WEIGHTS_GELU && m->text_activation != WEIGHTS_GELU_TANH) ||
                                        m->activation == WEIGHTS_QUICK_GELU))
        abort();
    if (!(m->ln_eps > 0) || !m->image_size || !m->vision_heads || !m->text_heads || !m->have_norm)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ERR_LEN];
    struct modelcfg m;
    const char *s = (const char *)data;
    if (modelcfg_openclip(s, size, &m, err) == 0)
        check(&m);
    const char *nul = memchr(s, 0, size);
    size_t half = nul ? (size_t)(nul - s) : size / 2;
    if (modelcfg_hf(s, half, s + half + (nul != NULL), size - half - (nul != NULL), &m, err) == 0)
        check(&m);
    return 0;
}
