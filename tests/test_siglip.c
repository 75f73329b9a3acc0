/* SigLIP 2 against OpenCLIP + timm's own code: the committed fixtures
 * (tests/make_siglip_fixtures.py: ViT-B-16-SigLIP2, -256 and
 * ViT-B-32-SigLIP2-256 narrowed to width 64, float32 and float16, safetensors
 * and torch.save) converted from their folders alone, their text and image
 * vectors within cosine 0.999999 and relative error 1e-5 of the reference;
 * each wrong guess about the model (either activation, pooling at the end
 * token, the causal mask, padding with 1) shown to fail that tolerance; the
 * families still refused named. With --ref CHECKPOINT REF, a checkpoint made
 * elsewhere (a released config at full width). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "convert.h"
#include "image.h"
#include "textenc.h"
#include "tokenizer.h"
#include "vit.h"
#include "weights.h"

#define MAX_ITEMS 16

/* a fixture's reference: texts (ids) and images (xorshift seeds), each with OpenCLIP's vector */
struct ref {
    double logit_scale, logit_bias;
    int ntexts, nimages, dims;
    int32_t *ids[MAX_ITEMS];
    int lens[MAX_ITEMS];
    uint32_t seeds[MAX_ITEMS];
    int npixels[MAX_ITEMS];
    float *text_out[MAX_ITEMS], *image_out[MAX_ITEMS];
};

static void free_ref(struct ref *r)
{
    for (int i = 0; i < MAX_ITEMS; i++) {
        free(r->ids[i]);
        free(r->text_out[i]);
        free(r->image_out[i]);
    }
}

static float *read_floats(char *p, int n)
{
    float *v = malloc((size_t)n * sizeof *v);
    for (int k = 0; v && k < n; k++)
        v[k] = strtof(p, &p);
    return v;
}

static int read_ref(const char *path, struct ref *r)
{
    memset(r, 0, sizeof *r);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    static char line[1 << 16];
    int last = 0; /* 1 after a text, 2 after an image */
    while (fgets(line, sizeof line, f)) {
        char *p;
        int n;
        if (sscanf(line, "logit_scale %lf", &r->logit_scale) == 1 || sscanf(line, "logit_bias %lf", &r->logit_bias) == 1)
            continue;
        if (!strncmp(line, "text ", 5) && r->ntexts < MAX_ITEMS) {
            n = (int)strtol(line + 5, &p, 10);
            r->ids[r->ntexts] = malloc((size_t)n * sizeof(int32_t));
            for (int k = 0; k < n; k++)
                r->ids[r->ntexts][k] = (int32_t)strtol(p, &p, 10);
            r->lens[r->ntexts] = n;
            last = 1;
        } else if (!strncmp(line, "image ", 6) && r->nimages < MAX_ITEMS) {
            unsigned seed;
            if (sscanf(line, "image %d xorshift %u", &n, &seed) != 2)
                break;
            r->npixels[r->nimages] = n;
            r->seeds[r->nimages] = seed;
            last = 2;
        } else if (!strncmp(line, "out ", 4) && last) {
            n = (int)strtol(line + 4, &p, 10);
            r->dims = n;
            if (last == 1)
                r->text_out[r->ntexts++] = read_floats(p, n);
            else
                r->image_out[r->nimages++] = read_floats(p, n);
            last = 0;
        }
    }
    fclose(f);
    return r->ntexts && r->nimages ? 0 : -1;
}

/* the fixture script's xorshift_image: bytes from xorshift32, normalised by 0.5 and 0.5 */
static void xorshift_image(uint32_t x, float *out, int n)
{
    for (int i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = ((float)(x >> 24) / 255.0f - 0.5f) / 0.5f;
    }
}

/* worst (1 - cosine) and relative error (largest difference over the reference's norm) */
struct err {
    double cos_gap, rel;
};

static void compare(struct err *e, const float *a, const float *b, int n)
{
    double dot = 0, na = 0, nb = 0, diff = 0;
    for (int k = 0; k < n; k++) {
        dot += (double)a[k] * b[k];
        na += (double)a[k] * a[k];
        nb += (double)b[k] * b[k];
        diff = fmax(diff, fabs((double)a[k] - b[k]));
    }
    e->cos_gap = fmax(e->cos_gap, 1 - dot / sqrt(na * nb));
    e->rel = fmax(e->rel, diff / sqrt(nb));
}

static int within(const struct err *e) { return e->cos_gap <= 1e-6 && e->rel <= 1e-5; }

/* The worst error of w's texts and images against r's; -1 in rel when an encoder failed. */
static void measure(const struct weights *w, const struct ref *r, struct err *text, struct err *image)
{
    char err[ERR_LEN] = "";
    int E = (int)w->cfg.embed_dim;
    *text = *image = (struct err){0, 0};
    float *vec = malloc((size_t)MAX_ITEMS * (size_t)E * sizeof *vec);
    struct textenc *te = textenc_open(w, MAX_ITEMS, 2, err);
    if (!te || textenc_encode(te, (const int32_t *const *)r->ids, r->lens, r->ntexts, vec, err) < 0) {
        CHECK(0, "encode texts: %s", err);
        text->rel = -1;
    }
    for (int i = 0; text->rel >= 0 && i < r->ntexts; i++)
        compare(text, vec + (size_t)i * E, r->text_out[i], E);
    textenc_close(te);
    size_t R = w->cfg.vision_grid * w->cfg.vision_patch, img = 3 * R * R;
    float *px = malloc(img * sizeof *px);
    struct vit *v = vit_open(w, 2, 2, err);
    CHECK(v != NULL, "vit_open: %s", err);
    for (int i = 0; v && i < r->nimages; i++) {
        CHECK((size_t)r->npixels[i] == img, "image %d has %d values, the model takes %zu", i, r->npixels[i], img);
        xorshift_image(r->seeds[i], px, (int)img);
        vit_encode(v, px, 1, vec);
        compare(image, vec, r->image_out[i], E);
    }
    vit_close(v);
    free(px);
    free(vec);
}

static int convert(const char *in, struct convert_info *info, char *err)
{
    struct convert_opts o = {.activation = -1, .dtype = -1};
    err[0] = 0;
    return convert_model(in, scratch("out.weights"), &o, info, err);
}

/* One fixture: converted from its folder, then its vectors against the
 * reference, then each wrong guess away from it. */
static void test_fixture(const char *dir, const char *name, const char *family, int image_act)
{
    char in[600], refpath[600], err[ERR_LEN];
    struct convert_info info;
    struct ref r;
    snprintf(in, sizeof in, "%s/%s", dir, name);
    snprintf(refpath, sizeof refpath, "%s/%s.ref", dir, name);
    CHECK(read_ref(refpath, &r) == 0, "cannot read %s", refpath);
    int rc = convert(in, &info, err);
    CHECK(rc == 0, "convert %s: %s", in, err);
    struct weights *w = rc == 0 ? weights_open(scratch("out.weights"), err) : NULL;
    CHECK(rc < 0 || w != NULL, "open: %s", err);
    if (!w) {
        free_ref(&r);
        return;
    }
    const struct weights_config *k = &w->cfg;
    CHECK(!strcmp(info.family, family) && k->family == WEIGHTS_SIGLIP && k->activation == (uint32_t)image_act &&
              k->text_activation == WEIGHTS_GELU_TANH && k->resize == WEIGHTS_RESIZE_SQUASH && k->image_mean[0] == 0.5f &&
              k->image_std[2] == 0.5f && k->ln_eps == 1e-6f && k->pad_id == 0 && k->eos_id == 1 && k->text_causal == 0 &&
              k->text_pool == WEIGHTS_POOL_LAST && k->context_length == 64 && k->vocab_size == 1200,
          "%s: family %s, activations %u/%u, resize %u", name, info.family, k->activation, k->text_activation, k->resize);
    struct err te, ie;
    measure(w, &r, &te, &ie);
    CHECK(within(&te), "%s: texts 1 - cosine %.3g, relative error %.3g", name, te.cos_gap, te.rel);
    CHECK(within(&ie), "%s: images 1 - cosine %.3g, relative error %.3g", name, ie.cos_gap, ie.rel);
    printf("%s: %d texts (1 - cosine %.2g, relative error %.2g), %d images (%.2g, %.2g)\n", name, r.ntexts, te.cos_gap,
           te.rel, r.nimages, ie.cos_gap, ie.rel);

    /* each wrong guess must fail the tolerance */
    struct weights_config good = w->cfg;
    static const char *const guesses[] = {"the other GELU in the image tower", "exact GELU in the text tower",
                                          "pooling at the end token", "the causal mask", "padding with 1"};
    for (int g = 0; g < 5; g++) {
        w->cfg = good;
        if (g == 0)
            w->cfg.activation = good.activation == WEIGHTS_GELU ? WEIGHTS_GELU_TANH : WEIGHTS_GELU;
        else if (g == 1)
            w->cfg.text_activation = WEIGHTS_GELU;
        else if (g == 2)
            w->cfg.text_pool = WEIGHTS_POOL_EOT;
        else if (g == 3)
            w->cfg.text_causal = 1;
        else
            w->cfg.pad_id = 1;
        measure(w, &r, &te, &ie);
        const struct err *e = g == 0 ? &ie : &te;
        CHECK(!within(e), "%s: %s passes the tolerance (1 - cosine %.3g, relative error %.3g)", name, guesses[g],
              e->cos_gap, e->rel);
        printf("%s: with %s: 1 - cosine %.2g, relative error %.2g\n", name, guesses[g], e->cos_gap, e->rel);
    }
    w->cfg = good;
    /* SigLIP's probability: sigmoid(exp(logit_scale) * cosine + logit_bias) */
    double want = 1 / (1 + exp(-(exp(r.logit_scale) * 0.25 + r.logit_bias)));
    CHECK(fabs(weights_probability(w, 0.25f) - want) < 1e-6, "%s: probability %g, expected %g", name,
          (double)weights_probability(w, 0.25f), want);
    weights_close(w);
    unlink(scratch("out.weights"));
    free_ref(&r);
}

/* Copies fixture folder `from` to scratch folder `to`, the config replaced
 * by config (when not NULL), tokenizer.json left out when asked. */
static void copy_folder(const char *dir, const char *from, const char *to, const char *config, int tokenizer)
{
    static const char *const files[] = {"open_clip_model.safetensors", "open_clip_config.json", "tokenizer.json"};
    mkdir(scratch(to), 0700);
    for (int k = 0; k < 3; k++) {
        char src[600], dst[600];
        snprintf(src, sizeof src, "%s/%s/%s", dir, from, files[k]);
        snprintf(dst, sizeof dst, "%s/%s", scratch(to), files[k]);
        unlink(dst);
        if ((k == 1 && config) || (k == 2 && !tokenizer))
            continue;
        FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
        char buf[1 << 16];
        size_t n;
        while (a && b && (n = fread(buf, 1, sizeof buf, a)) > 0)
            fwrite(buf, 1, n, b);
        if (a)
            fclose(a);
        if (b)
            fclose(b);
    }
    if (config) {
        char dst[600];
        snprintf(dst, sizeof dst, "%s/open_clip_config.json", scratch(to));
        FILE *f = fopen(dst, "w");
        fputs(config, f);
        fclose(f);
    }
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    static char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    if (f)
        fclose(f);
    return buf;
}

/* the fixture's config with `from` replaced by `to` */
static const char *edited(const char *dir, const char *from, const char *to)
{
    static char out[1 << 16];
    char path[600];
    snprintf(path, sizeof path, "%s/siglip-b16/open_clip_config.json", dir);
    const char *s = read_text(path), *at = strstr(s, from);
    CHECK(at != NULL, "the fixture's config lacks %s", from);
    if (!at)
        return s;
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

static void refuses(const char *dir, const char *config, int tokenizer, const char *want)
{
    char err[ERR_LEN];
    struct convert_info info;
    copy_folder(dir, "siglip-b16", "bad", config, tokenizer);
    CHECK(convert(scratch("bad"), &info, err) < 0, "converted, wanted '%s'", want);
    CHECK_MSG(err, want);
}

static void test_refused(const char *dir)
{
    refuses(dir, NULL, 0, "no tokenizer.json beside it");
    refuses(dir, edited(dir, "\"vocab_size\": 1200", "\"vocab_size\": 32000"), 1,
            "text_cfg.vocab_size is 32000: SigLIP v1 (a T5 SentencePiece vocabulary) is not supported, only SigLIP 2");
    refuses(dir, edited(dir, "\"vit_base_patch16_siglip_224\"", "\"naflexvit_base_patch16_siglip\", \"image_seq_len\": 256"),
            1, "image_seq_len is 256: a NaFlex variant");
    refuses(dir, edited(dir, "\"vit_base_patch16_siglip_224\"", "\"naflexvit_base_patch16_siglip\""), 1,
            "timm_model_name is \"naflexvit_base_patch16_siglip\": a NaFlex variant, not supported");
    refuses(dir, edited(dir, "\"vit_base_patch16_siglip_224\"", "\"vit_base_patch16_siglip_gap_224\""), 1,
            "a SigLIP tower pooled by averaging");
    refuses(dir, edited(dir, "\"vit_base_patch16_siglip_224\"", "\"vit_base_patch16_siglipx_224\""), 1,
            "timm_model_name is \"vit_base_patch16_siglipx_224\": not one of timm's SigLIP ViTs");
    refuses(dir, edited(dir, "\"vit_base_patch16_siglip_224\"", "\"vit_base_patch16_clip_224\""), 1,
            "timm_model_name is \"vit_base_patch16_clip_224\": not one of timm's SigLIP ViTs");
    refuses(dir, edited(dir, "\"clean\": \"canonicalize\"", "\"clean\": \"lower\""), 1,
            "tokenizer_kwargs is not {\"clean\": \"canonicalize\"}");
    refuses(dir, edited(dir, "\"pool_type\": \"last\"", "\"pool_type\": \"argmax\""), 1,
            "pool_type is \"argmax\": only pooling at the last position");
    refuses(dir, edited(dir, "\"no_causal_mask\": true", "\"no_causal_mask\": false"), 1, "no_causal_mask is not true");
    refuses(dir, edited(dir, "\"depth\": 2", "\"depth\": 3"), 1, "says image layers 3, but the tensors of");
    refuses(dir, edited(dir, "\"depth\": 2", "\"depth\": 2, \"qkv_bias\": false"), 1,
            "timm_model_kwargs.qkv_bias is not supported");
    refuses(dir, edited(dir, "\"approximate\": \"tanh\"", "\"approximate\": \"sigmoid\""), 1,
            "act_kwargs is not {\"approximate\": \"tanh\" or \"none\"}");
    refuses(dir, edited(dir, "\"eps\": 1e-06", "\"eps\": 1e-05"), 1, "towers of different epsilons");
    refuses(dir, edited(dir, "\"resize_mode\": \"squash\"", "\"resize_mode\": \"longest\""), 1,
            "resize_mode is \"longest\"");
    char err[ERR_LEN];
    struct convert_info info;
    struct convert_opts o = {.activation = WEIGHTS_QUICK_GELU, .dtype = -1};
    copy_folder(dir, "siglip-b16", "bad", NULL, 1);
    CHECK(convert_model(scratch("bad"), scratch("out.weights"), &o, &info, err) < 0, "--activation contradicting accepted");
    CHECK_MSG(err, "names a timm model of activation gelu, --activation quick_gelu contradicts it");
}

/* Hugging Face folders: the fixture's files, one replaced by text */
static void hf_refuses(const char *dir, const char *file, const char *from, const char *to, const char *want)
{
    static const char *const files[] = {"model.safetensors", "config.json", "preprocessor_config.json", "tokenizer.json"};
    char src[600], dst[600], abs[PATH_MAX], err[ERR_LEN];
    mkdir(scratch("hf"), 0700);
    for (int k = 0; k < 4; k++) {
        snprintf(src, sizeof src, "%s/siglip-hf-b16/%s", dir, files[k]);
        snprintf(dst, sizeof dst, "%s/%s", scratch("hf"), files[k]);
        unlink(dst);
        if (strcmp(files[k], file)) {
            if (!realpath(src, abs) || symlink(abs, dst) < 0)
                CHECK(0, "cannot link %s", dst);
            continue;
        }
        const char *s = read_text(src), *at = strstr(s, from);
        CHECK(at != NULL, "%s lacks %s", file, from);
        FILE *f = fopen(dst, "w");
        fprintf(f, "%.*s%s%s", (int)(at ? at - s : 0), s, to, at ? at + strlen(from) : s);
        fclose(f);
    }
    struct convert_info info;
    CHECK(convert(scratch("hf"), &info, err) < 0, "converted, wanted '%s'", want);
    CHECK_MSG(err, want);
    for (int k = 0; k < 4; k++) {
        snprintf(dst, sizeof dst, "%s/%s", scratch("hf"), files[k]);
        unlink(dst);
    }
    rmdir(scratch("hf"));
}

static void test_hf_refused(const char *dir)
{
    hf_refuses(dir, "config.json", "\"model_type\": \"siglip\"", "\"model_type\": \"siglip2\"",
               "model_type is \"siglip2\": the NaFlex variant");
    hf_refuses(dir, "config.json", "\"vocab_size\": 1200", "\"vocab_size\": 32000",
               "text_config.vocab_size is 32000: SigLIP v1");
    hf_refuses(dir, "config.json", "\"hidden_act\": \"gelu\"", "\"hidden_act\": \"gelu_new\"",
               "vision_config.hidden_act is gelu_new: only gelu_pytorch_tanh and gelu");
    hf_refuses(dir, "config.json", "\"hidden_act\": \"gelu\"", "\"hidden_act\": \"gelu\", \"vision_use_head\": false",
               "vision_use_head is not true");
    hf_refuses(dir, "config.json", "\"num_hidden_layers\": 2,\n    \"image_size\"",
               "\"num_hidden_layers\": 3,\n    \"image_size\"", "says image layers 3, but the tensors of");
    hf_refuses(dir, "preprocessor_config.json", "\"resample\": 3", "\"resample\": 2", "resample is not bicubic (3)");
    hf_refuses(dir, "preprocessor_config.json", "\"do_resize\": true", "\"do_resize\": true, \"do_center_crop\": true",
               "do_center_crop is not false");
    hf_refuses(dir, "preprocessor_config.json", "\"width\": 224", "\"width\": 225", "resizes to 225x224");
    hf_refuses(dir, "tokenizer.json", "\"type\":\"BPE\"", "\"type\":\"WordPiece\"", "model.type is not \"BPE\"");
}

/* The tokenizer stored in the weights file gives the ids the tables built
 * from tokenizer.json give. */
static void test_stored_tokenizer(const char *dir)
{
    char in[600], err[ERR_LEN];
    struct convert_info info;
    snprintf(in, sizeof in, "%s/siglip-b32-256", dir);
    if (convert(in, &info, err) < 0) {
        CHECK(0, "convert: %s", err);
        return;
    }
    struct weights *w = weights_open(scratch("out.weights"), err);
    struct tokenizer *t = tokenizer_open(err);
    CHECK(w && t, "open: %s", err);
    int32_t *ids;
    size_t replaced;
    int n = w && t ? tokenizer_encode_spm(t, &w->tokenizer, (int32_t)w->cfg.eos_id, w->cfg.context_length,
                                          "A photo of a Dog!", 17, &ids, &replaced, err)
                   : -1;
    CHECK(n >= 2 && ids[n - 1] == 1, "tokenize with the stored tables: %s", err);
    if (n > 0)
        free(ids);
    tokenizer_close(t);
    weights_close(w);
    unlink(scratch("out.weights"));
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n = f && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (f)
        fclose(f);
    *len = buf ? (size_t)n : 0;
    return buf;
}

/* Squash preprocessing against Pillow's pixels (fixtures/squash.ref, made
 * by make_squash_fixtures.py), and the wrong guesses: the centre crop, and
 * OpenAI's mean and deviation for SigLIP's 0.5, both far outside the
 * tolerance on the normalised pixels. */
static void test_squash(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/squash.ref", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    static char line[1 << 20];
    static const float half[3] = {0.5f, 0.5f, 0.5f}, zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    int cases = 0;
    while (f && fgets(line, sizeof line, f)) {
        char name[100];
        int R, at;
        if (sscanf(line, "%99s %d %n", name, &R, &at) != 2 || R < 1 || R > 512)
            continue;
        size_t n = 3 * (size_t)R * R, len, wrong = 0;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        unsigned char *buf = read_file(path, &len);
        float *px = malloc(n * sizeof *px), *ref = malloc(n * sizeof *ref), *other = malloc(n * sizeof *other);
        char err[ERR_LEN] = "";
        /* with mean 0 and deviation 1 the output is v / 255: Pillow's byte back, exactly */
        struct image_opts o = {.resolution = R, .max_pixels = 1u << 26, .mean = zero, .std = one, .squash = 1};
        int rc = buf && px && ref && other ? image_preprocess(buf, len, &o, px, err) : -1;
        CHECK(rc == 0, "%s: %s", name, err);
        for (int y = 0; rc == 0 && y < R; y++)
            for (int x = 0; x < R; x++)
                for (int c = 0; c < 3; c++) {
                    unsigned v;
                    sscanf(line + at + 2 * (((size_t)y * R + x) * 3 + c), "%2x", &v);
                    size_t k = ((size_t)c * R + y) * R + x;
                    wrong += px[k] != (float)v / 255.0f;
                    ref[k] = ((float)v / 255.0f - 0.5f) / 0.5f; /* SigLIP's normalisation */
                }
        CHECK(wrong == 0, "%s at %d: %zu of %zu values differ from Pillow's", name, R, wrong, n);
        struct err crop = {0, 0}, openai = {0, 0};
        o.mean = o.std = half;
        o.squash = 0;
        if (rc == 0 && image_preprocess(buf, len, &o, other, err) == 0)
            compare(&crop, other, ref, (int)n);
        o.squash = 1;
        o.mean = o.std = NULL; /* OpenAI's */
        if (rc == 0 && image_preprocess(buf, len, &o, other, err) == 0)
            compare(&openai, other, ref, (int)n);
        CHECK(!within(&openai), "%s: OpenAI's mean and deviation pass", name);
        CHECK(!within(&crop), "%s: the centre crop passes", name);
        if (cases == 0)
            printf("squash: %s at %d: crop instead: 1 - cosine %.2g, relative error %.2g; OpenAI's mean and"
                   " deviation: %.2g, %.2g\n", name, R, crop.cos_gap, crop.rel, openai.cos_gap, openai.rel);
        free(buf);
        free(px);
        free(ref);
        free(other);
        cases++;
    }
    if (f)
        fclose(f);
    CHECK(cases >= 7, "squash.ref: only %d cases", cases);
}

int main(int argc, char **argv)
{
    if (scratch_open() < 0)
        return 2;
    if (argc == 4 && !strcmp(argv[1], "--ref")) { /* a checkpoint made elsewhere */
        char err[ERR_LEN];
        struct convert_info info;
        struct ref r;
        CHECK(read_ref(argv[3], &r) == 0, "cannot read %s", argv[3]);
        int rc = convert(argv[2], &info, err);
        CHECK(rc == 0, "convert %s: %s", argv[2], err);
        struct weights *w = rc == 0 ? weights_open(scratch("out.weights"), err) : NULL;
        if (w) {
            struct err te, ie;
            measure(w, &r, &te, &ie);
            CHECK(within(&te) && within(&ie), "outside the tolerance");
            printf("%s: width %u/%u, %u/%u layers, activations %u/%u: texts 1 - cosine %.2g, relative error %.2g; "
                   "images %.2g, %.2g\n", argv[2], w->cfg.vision_width, w->cfg.text_width, w->cfg.vision_layers,
                   w->cfg.text_layers, w->cfg.activation, w->cfg.text_activation, te.cos_gap, te.rel, ie.cos_gap, ie.rel);
        }
        weights_close(w);
        free_ref(&r);
        unlink(scratch("out.weights"));
        scratch_close();
        return check_done("test_siglip");
    }
    const char *dir = argc > 1 ? argv[1] : "tests/fixtures";
    test_fixture(dir, "siglip-b16", "OpenCLIP SigLIP 2", WEIGHTS_GELU);
    test_fixture(dir, "siglip-b16-256", "OpenCLIP SigLIP 2", WEIGHTS_GELU);
    test_fixture(dir, "siglip-b32-256", "OpenCLIP SigLIP 2", WEIGHTS_GELU_TANH);
    test_fixture(dir, "siglip-hf-b16", "Hugging Face SiglipModel", WEIGHTS_GELU);
    test_refused(dir);
    test_hf_refused(dir);
    test_stored_tokenizer(dir);
    test_squash(dir);
    static const char *const files[] = {"open_clip_model.safetensors", "open_clip_config.json", "tokenizer.json"};
    for (int k = 0; k < 3; k++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", scratch("bad"), files[k]);
        unlink(p);
    }
    rmdir(scratch("bad"));
    unlink(scratch("out.weights"));
    scratch_close();
    return check_done("test_siglip");
}
