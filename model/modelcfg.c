#include "modelcfg.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "weights.h"

/* How a config key is treated. Every key of the parts of an OpenCLIP config
 * this reads must be listed: an unknown one may change the model. */
enum rule_kind {
    USED,      /* read by the parser */
    IGNORED,   /* training only, or only meaningful with a setting refused elsewhere */
    UNSET,     /* must be false, null, 0 or "": anything else makes another model */
    NOT_FALSE, /* must be null or true (a bias that the plain model has) */
    EQUALS,    /* must be null or the string `value` */
};

struct rule {
    const char *key;
    enum rule_kind kind;
    const char *value; /* EQUALS: the one value accepted */
    const char *why;   /* what a refused value means */
};

static const struct rule model_rules[] = {
    {"embed_dim", USED, 0, 0},
    {"quick_gelu", USED, 0, 0},
    {"vision_cfg", USED, 0, 0},
    {"text_cfg", USED, 0, 0},
    {"cast_dtype", IGNORED, 0, 0},
    {"init_logit_scale", IGNORED, 0, 0},
    {"custom_text", UNSET, 0, "a custom text tower (CoCa, multilingual or Hugging Face text models) is not supported"},
    {"init_logit_bias", UNSET, 0, "a SigLIP-style model (sigmoid loss) is not supported"},
    {"multimodal_cfg", UNSET, 0, "a CoCa model (with a text decoder) is not supported"},
};

/* settings either tower may have, refused alike in both */
static const struct rule tower_rules[] = {
    {"ls_init_value", UNSET, 0, "layer scale is not supported"},
    {"final_ln_after_pool", UNSET, 0, "the final LayerNorm after pooling is not supported"},
    {"act_kwargs", UNSET, 0, "a configured activation is not supported"},
    {"norm_kwargs", UNSET, 0, "a configured LayerNorm is not supported"},
    {"qk_norm", UNSET, 0, "query and key normalisation is not supported"},
    {"scaled_cosine_attn", UNSET, 0, "cosine attention is not supported"},
    {"scale_heads", UNSET, 0, "per-head attention scales are not supported"},
    {"scale_attn_inner", UNSET, 0, "extra attention LayerNorms are not supported"},
    {"scale_attn", UNSET, 0, "extra attention LayerNorms are not supported"},
    {"scale_fc", UNSET, 0, "extra MLP LayerNorms are not supported"},
    {"block_type", EQUALS, "default", "only the default residual block is supported"},
};

static const struct rule vision_rules[] = {
    {"layers", USED, 0, 0},
    {"width", USED, 0, 0},
    {"head_width", USED, 0, 0},
    {"mlp_ratio", USED, 0, 0},
    {"patch_size", USED, 0, 0},
    {"image_size", USED, 0, 0},
    {"patch_dropout", IGNORED, 0, 0},
    {"output_tokens", IGNORED, 0, 0},
    {"attn_pooler_queries", IGNORED, 0, 0},
    {"attn_pooler_heads", IGNORED, 0, 0},
    {"timm_model_pretrained", IGNORED, 0, 0},
    {"timm_pool", IGNORED, 0, 0},
    {"timm_proj", IGNORED, 0, 0},
    {"timm_proj_bias", IGNORED, 0, 0},
    {"timm_drop", IGNORED, 0, 0},
    {"timm_drop_path", IGNORED, 0, 0},
    {"timm_model_kwargs", IGNORED, 0, 0},
    {"timm_model_name", UNSET, 0, "timm image towers (SigLIP, EVA, ConvNeXt, ...) are not supported"},
    {"eva_model_name", UNSET, 0, "EVA image towers are not supported"},
    {"image_seq_len", UNSET, 0, "a fixed image token count is not supported"},
    {"attentional_pool", UNSET, 0, "attentional pooling (CoCa) is not supported"},
    {"no_ln_pre", UNSET, 0, "a tower without its first LayerNorm is not supported"},
    {"input_patchnorm", UNSET, 0, "patch normalisation is not supported"},
    {"global_average_pool", UNSET, 0, "average pooling is not supported"},
    {"pos_embed_type", EQUALS, "learnable", "only learned position embeddings are supported"},
    {"pool_type", EQUALS, "tok", "only class-token pooling is supported"},
};

static const struct rule text_rules[] = {
    {"context_length", USED, 0, 0},
    {"vocab_size", USED, 0, 0},
    {"width", USED, 0, 0},
    {"heads", USED, 0, 0},
    {"layers", USED, 0, 0},
    {"mlp_ratio", USED, 0, 0},
    {"pad_id", UNSET, 0, "CLIP's tokenizer pads with 0"},
    {"output_tokens", IGNORED, 0, 0},
    {"tiktoken_name", IGNORED, 0, 0},
    {"hf_model_pretrained", IGNORED, 0, 0},
    {"hf_proj_type", IGNORED, 0, 0},
    {"hf_pooler_type", IGNORED, 0, 0},
    {"hf_model_config", IGNORED, 0, 0},
    /* ModernTextTransformer's settings: only with text_arch "modern", refused */
    {"attention_mode", IGNORED, 0, 0},
    {"pos_embed", IGNORED, 0, 0},
    {"rope_temperature", IGNORED, 0, 0},
    {"mlp_type", IGNORED, 0, 0},
    {"norm_eps", IGNORED, 0, 0},
    {"attn_gated", IGNORED, 0, 0},
    {"pre_norm", IGNORED, 0, 0},
    {"norm_placement", IGNORED, 0, 0},
    {"zero_init_residual", IGNORED, 0, 0},
    {"reg_tokens", IGNORED, 0, 0},
    {"value_residual", IGNORED, 0, 0},
    {"gate_bias", IGNORED, 0, 0},
    {"attention_bias", NOT_FALSE, 0, "attention without biases is not supported"},
    {"mlp_bias", NOT_FALSE, 0, "an MLP without biases is not supported"},
    {"text_arch", EQUALS, "clip", "only CLIP's text transformer is supported"},
    {"hf_model_name", UNSET, 0, "Hugging Face text towers (multilingual, XLM-R, ...) are not supported"},
    {"hf_tokenizer_name", UNSET, 0, "only CLIP's own BPE vocabulary is supported"},
    {"tokenizer_mode", UNSET, 0, "only CLIP's own tokenizer is supported"},
    {"tokenizer_kwargs", UNSET, 0, "only CLIP's own tokenizer settings are supported"},
    {"tokenizer_type", UNSET, 0, "only CLIP's own tokenizer is supported"},
    {"variable_text", UNSET, 0, "variable-length text is not supported"},
    {"bos_id", UNSET, 0, "only CLIP's own tokenizer is supported"},
    {"eos_id", UNSET, 0, "only argmax pooling on CLIP's end token is supported"},
    {"embed_cls", UNSET, 0, "a class token in the text tower (CoCa) is not supported"},
    {"no_causal_mask", UNSET, 0, "a text tower without the causal mask is not supported"},
    {"proj_bias", UNSET, 0, "a text projection with a bias is not supported"},
    {"norm_type", UNSET, 0, "only LayerNorm is supported"},
    {"pool_type", EQUALS, "argmax", "only argmax pooling (CLIP's end token) is supported"},
    {"proj_type", EQUALS, "linear", "only a linear text projection is supported"},
};

static const struct rule preprocess_rules[] = {
    {"size", USED, 0, 0},
    {"mean", USED, 0, 0},
    {"std", USED, 0, 0},
    {"fill_color", IGNORED, 0, 0},
    {"mode", EQUALS, "RGB", "only RGB input is supported"},
    {"interpolation", EQUALS, "bicubic", "only bicubic resizing is implemented"},
    {"resize_mode", USED, 0, 0},
};

static int falsy(const cJSON *v)
{
    return cJSON_IsNull(v) || cJSON_IsFalse(v) || (cJSON_IsNumber(v) && v->valuedouble == 0) ||
           (cJSON_IsString(v) && !v->valuestring[0]);
}

/* The value as a message shows it. */
static const char *shown(const cJSON *v, char *buf, size_t len)
{
    if (cJSON_IsString(v))
        snprintf(buf, len, "\"%.200s\"", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(buf, len, "%g", v->valuedouble);
    else
        snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "true" : cJSON_IsFalse(v) ? "false" : cJSON_IsNull(v) ? "null" : "set");
    return buf;
}

/* No key of object o twice: Python's json reads the last, cJSON the first.
 * Objects of more than MAX_KEYS keys are refused (the check is quadratic). */
#define MAX_KEYS 1024
static int unique_keys(const cJSON *o, const char *where, char *err)
{
    int n = cJSON_GetArraySize(o), k = 0;
    if (n > MAX_KEYS)
        return error(err, "%s has %d keys, more than a config's %d", where, n, MAX_KEYS);
    for (const cJSON *v = o ? o->child : NULL; v; v = v->next, k++)
        for (const cJSON *w = o->child; w != v; w = w->next)
            if (v->string && w->string && !strcmp(v->string, w->string))
                return error(err, "%s.%s appears twice: JSON readers disagree on which counts", where, v->string);
    return 0;
}

static const struct rule *find_rule(const char *key, const struct rule *rules, size_t n)
{
    for (size_t k = 0; key && k < n; k++)
        if (!strcmp(key, rules[k].key))
            return &rules[k];
    return NULL;
}

/* Every key of object o (named where) must be in rules, with a value its
 * rule allows; tower: o is a vision_cfg or text_cfg, which tower_rules
 * cover too. */
static int check_keys(const cJSON *o, const char *where, const struct rule *rules, size_t n, int tower, char *err)
{
    if (unique_keys(o, where, err) < 0)
        return -1;
    const cJSON *v;
    cJSON_ArrayForEach(v, o)
    {
        const struct rule *r = find_rule(v->string, rules, n);
        if (!r && tower)
            r = find_rule(v->string, tower_rules, sizeof tower_rules / sizeof tower_rules[0]);
        if (!r)
            return error(err, "%s.%s is a setting this converter does not know: refusing to guess what it does", where,
                         v->string ? v->string : "?");
        int bad = (r->kind == UNSET && !falsy(v)) || (r->kind == NOT_FALSE && !cJSON_IsNull(v) && !cJSON_IsTrue(v)) ||
                  (r->kind == EQUALS && !cJSON_IsNull(v) &&
                   !(cJSON_IsString(v) && !strcmp(v->valuestring, r->value)) &&
                   !(!strcmp(r->value, "default") && falsy(v)));
        char buf[256];
        if (bad)
            return error(err, "%s.%s is %s: %s", where, r->key, shown(v, buf, sizeof buf), r->why);
    }
    return 0;
}

/* An integer field in [1, 1 << 24], or def when absent or null. */
static int get_uint(const cJSON *o, const char *where, const char *key, uint32_t def, uint32_t *out, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return 0;
    }
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!(d >= 1 && d <= (1 << 24)) || d != floor(d))
        return error(err, "%s.%s must be a whole number from 1 to %d", where, key, 1 << 24);
    *out = (uint32_t)d;
    return 0;
}

/* A number field in (0, 1e6], or def when absent or null. */
static int get_num(const cJSON *o, const char *where, const char *key, double def, double *out, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0 && v->valuedouble <= 1e6))
        return error(err, "%s.%s must be a positive number", where, key);
    *out = v->valuedouble;
    return 0;
}

/* An image size: a number, or a square [h, w]; def when absent. */
static int get_size(const cJSON *o, const char *where, const char *key, uint32_t def, uint32_t *out, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsArray(v)) {
        const cJSON *h = cJSON_GetArrayItem(v, 0), *w = cJSON_GetArrayItem(v, 1);
        if (cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(h) || !cJSON_IsNumber(w) || h->valuedouble != w->valuedouble)
            return error(err, "%s.%s must be a number or a square [height, width]: only square images are supported",
                         where, key);
        v = h;
        if (!(v->valuedouble >= 1 && v->valuedouble <= 1 << 16) || v->valuedouble != floor(v->valuedouble))
            return error(err, "%s.%s must be a whole number from 1 to %d", where, key, 1 << 16);
        *out = (uint32_t)v->valuedouble;
        return 0;
    }
    return get_uint(o, where, key, def, out, err);
}

/* Three numbers (a mean or deviation per channel), or def when absent. */
static int get_rgb(const cJSON *o, const char *where, const char *key, const float *def, float *out, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        memcpy(out, def, 3 * sizeof *out);
        return 0;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3)
        return error(err, "%s.%s must be three numbers (red, green, blue)", where, key);
    for (int k = 0; k < 3; k++) {
        const cJSON *x = cJSON_GetArrayItem(v, k);
        if (!cJSON_IsNumber(x) || !(fabs(x->valuedouble) <= 1e3))
            return error(err, "%s.%s must be three numbers (red, green, blue)", where, key);
        out[k] = (float)x->valuedouble;
    }
    return 0;
}

static cJSON *parse(const char *json, size_t len, const char *what, char *err)
{
    if (len > MODELCFG_MAX_JSON) {
        error(err, "%s is %zu bytes, more than a config's %u", what, len, MODELCFG_MAX_JSON);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        error(err, "%s is not a JSON object%s", what, root ? "" : " (malformed JSON)");
        cJSON_Delete(root);
        return NULL;
    }
    /* Python's json refuses anything but whitespace after the value: a
     * second object, or a NUL and more, would be read differently there */
    for (; end < json + len; end++)
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
            error(err, "%s has content after its JSON object (at byte %zu)", what, (size_t)(end - json));
            cJSON_Delete(root);
            return NULL;
        }
    return root;
}

/* The object at key, or an empty one when absent; NULL (err set) when not an object. */
static const cJSON *section(const cJSON *o, const char *where, const char *key, const cJSON *empty, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return empty;
    if (!cJSON_IsObject(v)) {
        error(err, "%s.%s is not an object", where, key);
        return NULL;
    }
    return v;
}

/* Released models' MLPs are 2.67 (SigLIP's so400m: 3.74) to 4 times their
 * width; far outside that a ratio is a broken config, whatever the widths. */
static int check_ratio(const char *at, double ratio, char *err)
{
    if (!(ratio >= 0.25 && ratio <= 16))
        return error(err, "%s.mlp_ratio %g is outside [0.25, 16]: not a model's MLP", at, ratio);
    return 0;
}

static const float openai_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f},
                   openai_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

static int openclip_vision(const cJSON *v, struct modelcfg *m, char *err)
{
    const char *at = "model_cfg.vision_cfg";
    if (check_keys(v, at, vision_rules, sizeof vision_rules / sizeof vision_rules[0], 1, err) < 0)
        return -1;
    if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(v, "layers")))
        return error(err, "%s.layers is a list: a ResNet image tower, not supported", at);
    uint32_t head_width = 64;
    double ratio = 4;
    if (get_uint(v, at, "layers", 12, &m->vision_layers, err) < 0 || get_uint(v, at, "width", 768, &m->vision_width, err) < 0 ||
        get_uint(v, at, "head_width", 64, &head_width, err) < 0 || get_num(v, at, "mlp_ratio", 4.0, &ratio, err) < 0 ||
        get_uint(v, at, "patch_size", 16, &m->vision_patch, err) < 0 ||
        get_size(v, at, "image_size", 224, &m->image_size, err) < 0)
        return -1;
    if (m->vision_width % head_width)
        return error(err, "%s: width %u is not a multiple of head_width %u", at, m->vision_width, head_width);
    m->vision_heads = m->vision_width / head_width;
    m->vision_mlp = (uint32_t)(m->vision_width * ratio); /* OpenCLIP: int(width * mlp_ratio) */
    return check_ratio(at, ratio, err);
}

static int openclip_text(const cJSON *t, struct modelcfg *m, char *err)
{
    const char *at = "model_cfg.text_cfg";
    double ratio = 4;
    if (check_keys(t, at, text_rules, sizeof text_rules / sizeof text_rules[0], 1, err) < 0 ||
        get_uint(t, at, "context_length", 77, &m->context_length, err) < 0 ||
        get_uint(t, at, "vocab_size", 49408, &m->vocab_size, err) < 0 ||
        get_uint(t, at, "width", 512, &m->text_width, err) < 0 || get_uint(t, at, "heads", 8, &m->text_heads, err) < 0 ||
        get_uint(t, at, "layers", 12, &m->text_layers, err) < 0 || get_num(t, at, "mlp_ratio", 4.0, &ratio, err) < 0)
        return -1;
    m->text_mlp = (uint32_t)(m->text_width * ratio);
    return check_ratio(at, ratio, err);
}

/* resize_mode: "shortest" (OpenCLIP's default) or "squash" */
static int get_resize(const cJSON *p, const char *at, uint32_t *out, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "resize_mode");
    char buf[256];
    if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && !strcmp(v->valuestring, "shortest")))
        *out = WEIGHTS_RESIZE_CROP;
    else if (cJSON_IsString(v) && !strcmp(v->valuestring, "squash"))
        *out = WEIGHTS_RESIZE_SQUASH;
    else
        return error(err, "%s.resize_mode is %s: only \"shortest\" (resize and centre crop) and \"squash\" are"
                     " implemented", at, shown(v, buf, sizeof buf));
    return 0;
}

static int openclip_preprocess(const cJSON *p, struct modelcfg *m, char *err)
{
    const char *at = "preprocess_cfg";
    uint32_t size;
    if (check_keys(p, at, preprocess_rules, sizeof preprocess_rules / sizeof preprocess_rules[0], 0, err) < 0 ||
        get_size(p, at, "size", m->image_size, &size, err) < 0 ||
        get_rgb(p, at, "mean", openai_mean, m->image_mean, err) < 0 ||
        get_rgb(p, at, "std", openai_std, m->image_std, err) < 0 || get_resize(p, at, &m->resize, err) < 0)
        return -1;
    if (size != m->image_size)
        return error(err, "preprocess_cfg.size %u differs from model_cfg.vision_cfg.image_size %u", size, m->image_size);
    m->have_norm = 1;
    return 0;
}

/* ---- SigLIP 2: a timm image tower, OpenCLIP's text tower without causal mask ---- */

static const struct rule siglip_model_rules[] = {
    {"embed_dim", USED, 0, 0},
    {"vision_cfg", USED, 0, 0},
    {"text_cfg", USED, 0, 0},
    {"cast_dtype", IGNORED, 0, 0},
    {"init_logit_scale", IGNORED, 0, 0},
    {"init_logit_bias", IGNORED, 0, 0}, /* the checkpoint holds logit_bias */
    {"custom_text", IGNORED, 0, 0},
    {"quick_gelu", UNSET, 0, "SigLIP's activations come from timm's model and from text_cfg.act_kwargs"},
    {"multimodal_cfg", UNSET, 0, "a CoCa model (with a text decoder) is not supported"},
};

static const struct rule siglip_vision_rules[] = {
    {"image_size", USED, 0, 0},
    {"timm_model_name", USED, 0, 0},
    {"timm_model_kwargs", USED, 0, 0},
    {"timm_model_pretrained", IGNORED, 0, 0},
    {"timm_drop", IGNORED, 0, 0},
    {"timm_drop_path", IGNORED, 0, 0},
    {"patch_dropout", IGNORED, 0, 0},
    {"timm_proj_bias", IGNORED, 0, 0}, /* only with a projection, refused below */
    {"timm_pool", EQUALS, "map", "only SigLIP's attention pooling (\"map\") is supported"},
    {"timm_proj", EQUALS, "none", "only SigLIP's tower without a projection after pooling is supported"},
    {"image_seq_len", UNSET, 0, "a NaFlex variant (variable image sequence) is not supported"},
};

static const struct rule siglip_text_rules[] = {
    {"context_length", USED, 0, 0},
    {"vocab_size", USED, 0, 0},
    {"width", USED, 0, 0},
    {"heads", USED, 0, 0},
    {"layers", USED, 0, 0},
    {"mlp_ratio", USED, 0, 0},
    {"tokenizer_kwargs", USED, 0, 0},
    {"no_causal_mask", USED, 0, 0},
    {"proj_bias", USED, 0, 0},
    {"norm_kwargs", USED, 0, 0},
    {"act_kwargs", USED, 0, 0},
    {"hf_tokenizer_name", IGNORED, 0, 0}, /* the folder's tokenizer.json is read */
    {"output_tokens", IGNORED, 0, 0},
    {"pad_id", IGNORED, 0, 0}, /* read only with a padding mask or argmax pooling, both refused */
    {"eos_id", IGNORED, 0, 0},
    {"pool_type", EQUALS, "last", "only pooling at the last position (SigLIP's) is supported"},
    {"proj_type", EQUALS, "linear", "only a linear text projection is supported"},
    {"use_pad_mask", UNSET, 0, "a padding mask is not supported"},
    {"embed_cls", UNSET, 0, "a class token in the text tower (CoCa) is not supported"},
    {"norm_type", UNSET, 0, "only LayerNorm is supported"},
    {"attention_bias", NOT_FALSE, 0, "attention without biases is not supported"},
    {"mlp_bias", NOT_FALSE, 0, "an MLP without biases is not supported"},
    {"hf_model_name", UNSET, 0, "Hugging Face text towers are not supported"},
    {"tokenizer_mode", UNSET, 0, "only SigLIP's tokenizer is supported"},
    {"text_arch", EQUALS, "clip", "only OpenCLIP's text transformer is supported"},
};

/* timm's SigLIP ViTs (vision_transformer.py): the activation is the model's,
 * not the config's: exact GELU unless act_layer='gelu_tanh' */
static const struct {
    const char *name;
    uint32_t patch, width, heads;
    double mlp_ratio;
    int act;
} timm_siglip[] = {
    {"vit_base_patch16_siglip_224", 16, 768, 12, 4.0, WEIGHTS_GELU},
    {"vit_base_patch16_siglip_256", 16, 768, 12, 4.0, WEIGHTS_GELU},
    {"vit_base_patch16_siglip_384", 16, 768, 12, 4.0, WEIGHTS_GELU},
    {"vit_base_patch16_siglip_512", 16, 768, 12, 4.0, WEIGHTS_GELU},
    {"vit_base_patch32_siglip_256", 32, 768, 12, 4.0, WEIGHTS_GELU_TANH},
    {"vit_large_patch16_siglip_256", 16, 1024, 16, 4.0, WEIGHTS_GELU},
    {"vit_large_patch16_siglip_384", 16, 1024, 16, 4.0, WEIGHTS_GELU},
    {"vit_large_patch16_siglip_512", 16, 1024, 16, 4.0, WEIGHTS_GELU_TANH},
    {"vit_so400m_patch14_siglip_224", 14, 1152, 16, 3.7362, WEIGHTS_GELU},
    {"vit_so400m_patch14_siglip_378", 14, 1152, 16, 3.7362, WEIGHTS_GELU},
    {"vit_so400m_patch14_siglip_384", 14, 1152, 16, 3.7362, WEIGHTS_GELU},
    {"vit_so400m_patch16_siglip_256", 16, 1152, 16, 3.7362, WEIGHTS_GELU_TANH},
    {"vit_so400m_patch16_siglip_384", 16, 1152, 16, 3.7362, WEIGHTS_GELU_TANH},
    {"vit_so400m_patch16_siglip_512", 16, 1152, 16, 3.7362, WEIGHTS_GELU_TANH},
    {"vit_giantopt_patch16_siglip_256", 16, 1536, 16, 4.0, WEIGHTS_GELU_TANH},
    {"vit_giantopt_patch16_siglip_384", 16, 1536, 16, 4.0, WEIGHTS_GELU_TANH},
};

/* The image tower: timm's model by name, its widths as timm_model_kwargs may change them. */
static int siglip_vision(const cJSON *v, struct modelcfg *m, char *err)
{
    const char *at = "model_cfg.vision_cfg";
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(v, "timm_model_name");
    if (check_keys(v, at, siglip_vision_rules, sizeof siglip_vision_rules / sizeof siglip_vision_rules[0], 0, err) < 0)
        return -1;
    if (!cJSON_IsString(name))
        return error(err, "%s.timm_model_name is not a string", at);
    size_t k = 0, n = sizeof timm_siglip / sizeof timm_siglip[0];
    while (k < n && strcmp(name->valuestring, timm_siglip[k].name))
        k++;
    if (k == n)
        return error(err, "%s.timm_model_name is \"%.100s\": %s", at, name->valuestring,
                     strstr(name->valuestring, "naflex") ? "a NaFlex variant, not supported"
                     : strstr(name->valuestring, "siglip_gap") ? "a SigLIP tower pooled by averaging, not supported"
                     : "not one of timm's SigLIP ViTs this converter knows (only SigLIP 2 image towers are supported)");
    double ratio = timm_siglip[k].mlp_ratio;
    m->vision_patch = timm_siglip[k].patch;
    m->vision_width = timm_siglip[k].width;
    m->vision_heads = timm_siglip[k].heads;
    m->activation = timm_siglip[k].act;
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(v, "timm_model_kwargs"), *e;
    const char *kat = "model_cfg.vision_cfg.timm_model_kwargs";
    if (kw && !cJSON_IsNull(kw)) {
        if (!cJSON_IsObject(kw) || unique_keys(kw, kat, err) < 0)
            return error(err, "%s is not an object with each key once", kat);
        cJSON_ArrayForEach(e, kw) if (strcmp(e->string, "depth") && strcmp(e->string, "embed_dim") &&
                                      strcmp(e->string, "num_heads") && strcmp(e->string, "mlp_ratio"))
            return error(err, "%s.%s is not supported (only depth, embed_dim, num_heads, mlp_ratio)", kat, e->string);
        if (get_uint(kw, kat, "depth", 0, &m->vision_layers, err) < 0 ||
            get_uint(kw, kat, "embed_dim", m->vision_width, &m->vision_width, err) < 0 ||
            get_uint(kw, kat, "num_heads", m->vision_heads, &m->vision_heads, err) < 0 ||
            get_num(kw, kat, "mlp_ratio", ratio, &ratio, err) < 0 || check_ratio(kat, ratio, err) < 0)
            return -1;
    }
    m->vision_mlp = (uint32_t)(m->vision_width * ratio); /* timm: int(dim * mlp_ratio) */
    return get_size(v, at, "image_size", 224, &m->image_size, err);
}

/* {"key": "value"} exactly, or absent (when absent_ok) */
static int only_string(const cJSON *o, const char *at, const char *key, const char *value, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsObject(o) && cJSON_GetArraySize(o) == 1 && cJSON_IsString(v) && !strcmp(v->valuestring, value)
               ? 0
               : error(err, "%s is not {\"%s\": \"%s\"}: not supported", at, key, value);
}

static int siglip_text(const cJSON *t, struct modelcfg *m, char *err)
{
    const char *at = "model_cfg.text_cfg";
    double ratio = 4, eps = 1e-5;
    const cJSON *tk = cJSON_GetObjectItemCaseSensitive(t, "tokenizer_kwargs"),
                *act = cJSON_GetObjectItemCaseSensitive(t, "act_kwargs"),
                *norm = cJSON_GetObjectItemCaseSensitive(t, "norm_kwargs");
    if (check_keys(t, at, siglip_text_rules, sizeof siglip_text_rules / sizeof siglip_text_rules[0], 1, err) < 0 ||
        get_uint(t, at, "context_length", 64, &m->context_length, err) < 0 ||
        get_uint(t, at, "vocab_size", 256000, &m->vocab_size, err) < 0 ||
        get_uint(t, at, "width", 768, &m->text_width, err) < 0 || get_uint(t, at, "heads", 12, &m->text_heads, err) < 0 ||
        get_uint(t, at, "layers", 12, &m->text_layers, err) < 0 || get_num(t, at, "mlp_ratio", 4.0, &ratio, err) < 0 ||
        check_ratio(at, ratio, err) < 0)
        return -1;
    m->text_mlp = (uint32_t)(m->text_width * ratio);
    if (m->vocab_size == 32000 || m->vocab_size == 250000)
        return error(err, "%s.vocab_size is %u: SigLIP v1 (a T5 SentencePiece vocabulary) is not supported, only SigLIP 2"
                     " (Gemma's 256,000 pieces)", at, m->vocab_size);
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "no_causal_mask")))
        return error(err, "%s.no_causal_mask is not true: SigLIP's text tower has no causal mask", at);
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "proj_bias")))
        return error(err, "%s.proj_bias is not true: SigLIP's text projection has a bias", at);
    if (only_string(tk, "model_cfg.text_cfg.tokenizer_kwargs", "clean", "canonicalize", err) < 0)
        return -1;
    m->text_activation = WEIGHTS_GELU; /* nn.GELU */
    if (act && !cJSON_IsNull(act)) {
        const cJSON *ap = cJSON_GetObjectItemCaseSensitive(act, "approximate");
        if (!cJSON_IsObject(act) || cJSON_GetArraySize(act) != 1 || !cJSON_IsString(ap) ||
            (strcmp(ap->valuestring, "tanh") && strcmp(ap->valuestring, "none")))
            return error(err, "%s.act_kwargs is not {\"approximate\": \"tanh\" or \"none\"}: not supported", at);
        m->text_activation = strcmp(ap->valuestring, "tanh") ? WEIGHTS_GELU : WEIGHTS_GELU_TANH;
    }
    if (norm && !cJSON_IsNull(norm)) {
        if (!cJSON_IsObject(norm) || cJSON_GetArraySize(norm) != 1 || get_num(norm, at, "eps", 1e-5, &eps, err) < 0)
            return error(err, "%s.norm_kwargs is not {\"eps\": x}: not supported", at);
    }
    /* timm's towers take 1e-6; one epsilon serves both */
    if (fabs(eps - 1e-6) > 1e-12)
        return error(err, "%s.norm_kwargs.eps is %g, the image tower's 1e-6: towers of different epsilons are not"
                     " supported", at, eps);
    m->ln_eps = 1e-6f;
    return 0;
}

static int siglip_config(const cJSON *model, const cJSON *pre, const cJSON *empty, struct modelcfg *m, char *err)
{
    const cJSON *v, *t;
    if (check_keys(model, "model_cfg", siglip_model_rules, sizeof siglip_model_rules / sizeof siglip_model_rules[0], 0,
                   err) < 0 ||
        !(v = section(model, "model_cfg", "vision_cfg", empty, err)) ||
        !(t = section(model, "model_cfg", "text_cfg", empty, err)) || siglip_vision(v, m, err) < 0 ||
        siglip_text(t, m, err) < 0 || get_uint(model, "model_cfg", "embed_dim", 768, &m->embed_dim, err) < 0)
        return -1;
    /* OpenCLIP's SigLIP defaults (_slpcfg): mean and std 0.5, squash */
    static const float half[3] = {0.5f, 0.5f, 0.5f};
    uint32_t size;
    const char *at = "preprocess_cfg";
    if (check_keys(pre, at, preprocess_rules, sizeof preprocess_rules / sizeof preprocess_rules[0], 0, err) < 0 ||
        get_size(pre, at, "size", m->image_size, &size, err) < 0 || get_rgb(pre, at, "mean", half, m->image_mean, err) < 0 ||
        get_rgb(pre, at, "std", half, m->image_std, err) < 0)
        return -1;
    m->resize = WEIGHTS_RESIZE_SQUASH;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(pre, "resize_mode");
    if (r && !cJSON_IsNull(r) && get_resize(pre, at, &m->resize, err) < 0)
        return -1;
    if (size != m->image_size)
        return error(err, "preprocess_cfg.size %u differs from model_cfg.vision_cfg.image_size %u", size, m->image_size);
    m->have_norm = 1;
    m->family = WEIGHTS_SIGLIP;
    return 0;
}

int modelcfg_openclip(const char *json, size_t len, struct modelcfg *m, char *err)
{
    memset(m, 0, sizeof *m);
    cJSON *root = parse(json, len, "the config", err), *empty = cJSON_CreateObject();
    int rc = -1;
    if (!root || !empty)
        goto done;
    const cJSON *model = root, *pre = empty, *v, *t, *q;
    if (cJSON_GetObjectItemCaseSensitive(root, "model_cfg")) { /* a hub file; else a bare model config */
        if (!(model = section(root, "config", "model_cfg", empty, err)) ||
            !(pre = section(root, "config", "preprocess_cfg", empty, err)))
            goto done;
    }
    /* SigLIP 2: a timm image tower (of a SigLIP name, refused by name otherwise) and a custom text tower */
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(model, "vision_cfg");
    const cJSON *tn = cJSON_IsObject(vc) ? cJSON_GetObjectItemCaseSensitive(vc, "timm_model_name") : NULL;
    if (cJSON_IsString(tn) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "custom_text"))) {
        rc = siglip_config(model, pre, empty, m, err);
        goto done;
    }
    if (check_keys(model, "model_cfg", model_rules, sizeof model_rules / sizeof model_rules[0], 0, err) < 0 ||
        !(v = section(model, "model_cfg", "vision_cfg", empty, err)) ||
        !(t = section(model, "model_cfg", "text_cfg", empty, err)) || openclip_vision(v, m, err) < 0 ||
        openclip_text(t, m, err) < 0 || openclip_preprocess(pre, m, err) < 0 ||
        get_uint(model, "model_cfg", "embed_dim", 512, &m->embed_dim, err) < 0)
        goto done;
    q = cJSON_GetObjectItemCaseSensitive(model, "quick_gelu");
    if (q && !cJSON_IsBool(q) && !cJSON_IsNull(q)) {
        error(err, "model_cfg.quick_gelu must be true or false");
        goto done;
    }
    m->activation = cJSON_IsTrue(q) ? WEIGHTS_QUICK_GELU : WEIGHTS_GELU; /* OpenCLIP's default: nn.GELU */
    m->ln_eps = 1e-5f; /* OpenCLIP's LayerNorm: torch's default */
    rc = 0;
done:
    cJSON_Delete(root);
    cJSON_Delete(empty);
    return rc;
}

/* transformers' CLIPTextConfig / CLIPVisionConfig hidden_act, default quick_gelu */
static int hf_activation(const cJSON *o, const char *where, int *act, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "hidden_act");
    const char *name = cJSON_IsString(v) ? v->valuestring : v && !cJSON_IsNull(v) ? "not a string" : "quick_gelu";
    if (!strcmp(name, "quick_gelu"))
        *act = WEIGHTS_QUICK_GELU;
    else if (!strcmp(name, "gelu"))
        *act = WEIGHTS_GELU;
    else
        return error(err, "%s.hidden_act is %.100s: only quick_gelu and gelu are supported", where, name);
    return 0;
}

/* One tower's config (defaults: transformers' CLIPTextConfig and CLIPVisionConfig). */
static int hf_tower(const cJSON *o, const char *where, int vision, struct modelcfg *m, int *act, double *eps, char *err)
{
    uint32_t channels = 3;
    if (unique_keys(o, where, err) < 0 || hf_activation(o, where, act, err) < 0 || get_num(o, where, "layer_norm_eps", 1e-5, eps, err) < 0)
        return -1;
    if (!vision)
        return get_uint(o, where, "hidden_size", 512, &m->text_width, err) < 0 ||
                       get_uint(o, where, "intermediate_size", 2048, &m->text_mlp, err) < 0 ||
                       get_uint(o, where, "num_attention_heads", 8, &m->text_heads, err) < 0 ||
                       get_uint(o, where, "num_hidden_layers", 12, &m->text_layers, err) < 0 ||
                       get_uint(o, where, "max_position_embeddings", 77, &m->context_length, err) < 0 ||
                       get_uint(o, where, "vocab_size", 49408, &m->vocab_size, err) < 0
                   ? -1
                   : 0;
    if (get_uint(o, where, "hidden_size", 768, &m->vision_width, err) < 0 ||
        get_uint(o, where, "intermediate_size", 3072, &m->vision_mlp, err) < 0 ||
        get_uint(o, where, "num_attention_heads", 12, &m->vision_heads, err) < 0 ||
        get_uint(o, where, "num_hidden_layers", 12, &m->vision_layers, err) < 0 ||
        get_uint(o, where, "image_size", 224, &m->image_size, err) < 0 ||
        get_uint(o, where, "patch_size", 32, &m->vision_patch, err) < 0 ||
        get_uint(o, where, "num_channels", 3, &channels, err) < 0)
        return -1;
    if (channels != 3)
        return error(err, "%s.num_channels is %u: only RGB images are supported", where, channels);
    return 0;
}

static int hf_model(const cJSON *root, const cJSON *empty, struct modelcfg *m, char *err)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "model_type"), *t, *v;
    if (cJSON_IsString(type) && strcmp(type->valuestring, "clip"))
        return error(err, "config.json: model_type is \"%.100s\": only CLIP and SigLIP models (model_type \"clip\","
                     " \"siglip\") are supported",
                     type->valuestring);
    /* configs written by old transformers hold the towers as *_config_dict */
    if (!cJSON_GetObjectItemCaseSensitive(root, "text_config") && cJSON_GetObjectItemCaseSensitive(root, "text_config_dict"))
        t = section(root, "config.json", "text_config_dict", empty, err);
    else
        t = section(root, "config.json", "text_config", empty, err);
    if (!cJSON_GetObjectItemCaseSensitive(root, "vision_config") &&
        cJSON_GetObjectItemCaseSensitive(root, "vision_config_dict"))
        v = section(root, "config.json", "vision_config_dict", empty, err);
    else
        v = section(root, "config.json", "vision_config", empty, err);
    int ta, va;
    double te, ve;
    if (!t || !v || unique_keys(root, "config.json", err) < 0 || hf_tower(t, "config.json: text_config", 0, m, &ta, &te, err) < 0 ||
        hf_tower(v, "config.json: vision_config", 1, m, &va, &ve, err) < 0 ||
        get_uint(root, "config.json", "projection_dim", 512, &m->embed_dim, err) < 0)
        return -1;
    if (ta != va)
        return error(err, "config.json: the text tower's hidden_act differs from the image tower's: not supported");
    if (te != ve)
        return error(err, "config.json: the towers' layer_norm_eps differ (%g, %g): not supported", te, ve);
    m->activation = ta;
    m->ln_eps = (float)te;
    return 0;
}

/* A size that is a number or {key: n} (or {"height": n, "width": n}); def when absent. */
static int hf_size(const cJSON *o, const char *key, const char *sub, uint32_t def, uint32_t *out, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsObject(v))
        return get_uint(o, "preprocessor_config.json", key, def, out, err);
    if (cJSON_GetObjectItemCaseSensitive(v, sub) && strcmp(sub, "height"))
        return get_uint(v, "preprocessor_config.json", sub, def, out, err);
    uint32_t h = 0, w = 0;
    if (get_uint(v, "preprocessor_config.json", "height", 0, &h, err) < 0 ||
        get_uint(v, "preprocessor_config.json", "width", 0, &w, err) < 0)
        return -1;
    if (!h || h != w)
        return error(err, "preprocessor_config.json: %s is not %s nor a square: not supported", key, sub);
    if (!strcmp(key, "size"))
        return error(err, "preprocessor_config.json: size resizes to %ux%u, not the shortest side: not supported", h, w);
    *out = h;
    return 0;
}

static int hf_flag(const cJSON *o, const char *key, int want, const char *why, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v && !cJSON_IsNull(v) && !(want ? cJSON_IsTrue(v) : cJSON_IsFalse(v)))
        return error(err, "preprocessor_config.json: %s is not %s: %s", key, want ? "true" : "false", why);
    return 0;
}

/* CLIPImageProcessor: resize the shortest side to size, crop crop_size,
 * scale by 1/255, normalise; all defaults are OpenAI's. */
static int hf_preprocess(const cJSON *p, struct modelcfg *m, char *err)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "resample"),
                *scale = cJSON_GetObjectItemCaseSensitive(p, "rescale_factor");
    uint32_t size, crop;
    static const char *const filters[] = {"nearest (0)", "lanczos (1)", "bilinear (2)", "bicubic (3)", "box (4)",
                                          "hamming (5)"}; /* PIL's numbering */
    if (r && !cJSON_IsNull(r) && !(cJSON_IsNumber(r) && r->valuedouble == 3)) {
        int known = cJSON_IsNumber(r) && r->valuedouble >= 0 && r->valuedouble <= 5 && r->valuedouble == floor(r->valuedouble);
        return error(err, "preprocessor_config.json: resample is %s: only bicubic (3) is implemented",
                     known ? filters[(int)r->valuedouble] : "not a PIL filter number");
    }
    if (scale && !cJSON_IsNull(scale) && !(cJSON_IsNumber(scale) && fabs(scale->valuedouble * 255 - 1) < 1e-6))
        return error(err, "preprocessor_config.json: rescale_factor is not 1/255: not supported");
    if (unique_keys(p, "preprocessor_config.json", err) < 0 || hf_flag(p, "do_resize", 1, "images must be resized", err) < 0 ||
        hf_flag(p, "do_center_crop", 1, "images must be centre-cropped", err) < 0 ||
        hf_flag(p, "do_normalize", 1, "images must be normalised", err) < 0 ||
        hf_flag(p, "do_rescale", 1, "pixels must be scaled to [0, 1]", err) < 0 ||
        hf_size(p, "size", "shortest_edge", 224, &size, err) < 0 || hf_size(p, "crop_size", "height", 224, &crop, err) < 0 ||
        get_rgb(p, "preprocessor_config.json", "image_mean", openai_mean, m->image_mean, err) < 0 ||
        get_rgb(p, "preprocessor_config.json", "image_std", openai_std, m->image_std, err) < 0)
        return -1;
    if (size != crop || crop != m->image_size)
        return error(err, "preprocessor_config.json resizes to %u and crops %u, the model takes %u: only a resize to"
                     " the model's size and a crop of it is implemented", size, crop, m->image_size);
    m->have_norm = 1;
    return 0;
}

/* ---- transformers' SiglipModel ---- */

/* SiglipTextConfig / SiglipVisionConfig hidden_act, default gelu_pytorch_tanh */
static int hf_siglip_activation(const cJSON *o, const char *where, int *act, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "hidden_act");
    const char *name = cJSON_IsString(v) ? v->valuestring : v && !cJSON_IsNull(v) ? "not a string" : "gelu_pytorch_tanh";
    if (!strcmp(name, "gelu_pytorch_tanh"))
        *act = WEIGHTS_GELU_TANH;
    else if (!strcmp(name, "gelu"))
        *act = WEIGHTS_GELU;
    else
        return error(err, "%s.hidden_act is %.100s: only gelu_pytorch_tanh and gelu are supported", where, name);
    return 0;
}

/* One tower of a SiglipConfig (defaults: transformers' SiglipTextConfig and SiglipVisionConfig). */
static int hf_siglip_tower(const cJSON *o, const char *where, int vision, struct modelcfg *m, int *act, double *eps,
                           char *err)
{
    uint32_t channels = 3;
    const cJSON *head = cJSON_GetObjectItemCaseSensitive(o, "vision_use_head");
    if (unique_keys(o, where, err) < 0 || hf_siglip_activation(o, where, act, err) < 0 ||
        get_num(o, where, "layer_norm_eps", 1e-6, eps, err) < 0)
        return -1;
    if (!vision)
        return get_uint(o, where, "hidden_size", 768, &m->text_width, err) < 0 ||
                       get_uint(o, where, "intermediate_size", 3072, &m->text_mlp, err) < 0 ||
                       get_uint(o, where, "num_attention_heads", 12, &m->text_heads, err) < 0 ||
                       get_uint(o, where, "num_hidden_layers", 12, &m->text_layers, err) < 0 ||
                       get_uint(o, where, "max_position_embeddings", 64, &m->context_length, err) < 0 ||
                       get_uint(o, where, "vocab_size", 32000, &m->vocab_size, err) < 0 ||
                       get_uint(o, where, "projection_size", m->text_width, &m->embed_dim, err) < 0
                   ? -1
                   : 0;
    if (head && !cJSON_IsNull(head) && !cJSON_IsTrue(head))
        return error(err, "%s.vision_use_head is not true: a SigLIP tower without its attention-pool head is not"
                     " supported", where);
    if (get_uint(o, where, "hidden_size", 768, &m->vision_width, err) < 0 ||
        get_uint(o, where, "intermediate_size", 3072, &m->vision_mlp, err) < 0 ||
        get_uint(o, where, "num_attention_heads", 12, &m->vision_heads, err) < 0 ||
        get_uint(o, where, "num_hidden_layers", 12, &m->vision_layers, err) < 0 ||
        get_uint(o, where, "image_size", 224, &m->image_size, err) < 0 ||
        get_uint(o, where, "patch_size", 16, &m->vision_patch, err) < 0 ||
        get_uint(o, where, "num_channels", 3, &channels, err) < 0)
        return -1;
    if (channels != 3)
        return error(err, "%s.num_channels is %u: only RGB images are supported", where, channels);
    return 0;
}

static int hf_siglip_model(const cJSON *root, const cJSON *empty, struct modelcfg *m, char *err)
{
    const cJSON *t = section(root, "config.json", "text_config", empty, err),
                *v = t ? section(root, "config.json", "vision_config", empty, err) : NULL;
    int ta, va;
    double te, ve;
    if (!t || !v || unique_keys(root, "config.json", err) < 0 ||
        hf_siglip_tower(t, "config.json: text_config", 0, m, &ta, &te, err) < 0 ||
        hf_siglip_tower(v, "config.json: vision_config", 1, m, &va, &ve, err) < 0)
        return -1;
    if (m->vocab_size == 32000 || m->vocab_size == 250000)
        return error(err, "config.json: text_config.vocab_size is %u: SigLIP v1 (a T5 SentencePiece vocabulary) is not"
                     " supported, only SigLIP 2 (Gemma's 256,000 pieces)", m->vocab_size);
    if (fabs(te - ve) > 1e-12)
        return error(err, "config.json: the towers' layer_norm_eps differ (%g, %g): not supported", te, ve);
    m->activation = va;
    m->text_activation = ta;
    m->ln_eps = (float)te;
    m->family = WEIGHTS_SIGLIP;
    return 0;
}

/* SiglipImageProcessor: resize straight to size (no crop), scale by 1/255,
 * normalise; defaults are transformers' (bicubic, 224, mean and std 0.5). */
static int hf_siglip_preprocess(const cJSON *p, struct modelcfg *m, char *err)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "resample"),
                *scale = cJSON_GetObjectItemCaseSensitive(p, "rescale_factor"),
                *size = cJSON_GetObjectItemCaseSensitive(p, "size");
    static const float half[3] = {0.5f, 0.5f, 0.5f};
    uint32_t h = 224, w = 224;
    const char *at = "preprocessor_config.json";
    if (r && !cJSON_IsNull(r) && !(cJSON_IsNumber(r) && r->valuedouble == 3))
        return error(err, "%s: resample is not bicubic (3): only bicubic resizing is implemented", at);
    if (scale && !cJSON_IsNull(scale) && !(cJSON_IsNumber(scale) && fabs(scale->valuedouble * 255 - 1) < 1e-6))
        return error(err, "%s: rescale_factor is not 1/255: not supported", at);
    if (size && !cJSON_IsNull(size) &&
        (!cJSON_IsObject(size) || get_uint(size, at, "height", 224, &h, err) < 0 || get_uint(size, at, "width", 224, &w, err) < 0))
        return error(err, "%s: size is not {\"height\": n, \"width\": n}: not supported", at);
    if (unique_keys(p, at, err) < 0 || hf_flag(p, "do_resize", 1, "images must be resized", err) < 0 ||
        hf_flag(p, "do_center_crop", 0, "SigLIP's images are resized whole, not cropped", err) < 0 ||
        hf_flag(p, "do_normalize", 1, "images must be normalised", err) < 0 ||
        hf_flag(p, "do_rescale", 1, "pixels must be scaled to [0, 1]", err) < 0 ||
        get_rgb(p, at, "image_mean", half, m->image_mean, err) < 0 || get_rgb(p, at, "image_std", half, m->image_std, err) < 0)
        return -1;
    if (h != w || h != m->image_size)
        return error(err, "%s resizes to %ux%u, the model takes %u: only a resize to the model's square is implemented",
                     at, w, h, m->image_size);
    m->resize = WEIGHTS_RESIZE_SQUASH;
    m->have_norm = 1;
    return 0;
}

static int hf_config(const cJSON *root, const cJSON *pre, const cJSON *empty, struct modelcfg *m, char *err)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "siglip2"))
        return error(err, "config.json: model_type is \"siglip2\": the NaFlex variant (Siglip2Model, variable image"
                     " sizes) is not supported; SigLIP 2's fixed-resolution models are model_type \"siglip\"");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "siglip"))
        return hf_siglip_model(root, empty, m, err) < 0 ? -1 : hf_siglip_preprocess(pre, m, err);
    return hf_model(root, empty, m, err) < 0 ? -1 : hf_preprocess(pre, m, err);
}

int modelcfg_hf(const char *config, size_t len, const char *preproc, size_t plen, struct modelcfg *m, char *err)
{
    memset(m, 0, sizeof *m);
    cJSON *root = parse(config, len, "config.json", err), *pre = root ? parse(preproc, plen, "preprocessor_config.json", err) : NULL;
    cJSON *empty = cJSON_CreateObject();
    int rc = root && pre && empty && hf_config(root, pre, empty, m, err) == 0 ? 0 : -1;
    cJSON_Delete(root);
    cJSON_Delete(pre);
    cJSON_Delete(empty);
    return rc;
}
