#include "convert.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

#include "modelcfg.h"
#include "pickle.h"
#include "safetensors.h"
#include "spm.h"

/* libzip is loaded on first use (util.h): only convert reads zip archives */
#define ZIP_API(X) X(zip_libzip_version) X(zip_fdopen) X(zip_discard) X(zip_error_init_with_code) X(zip_error_strerror) X(zip_error_fini) X(zip_strerror) X(zip_get_num_entries) X(zip_get_name) X(zip_name_locate) X(zip_stat_index) X(zip_fopen_index) X(zip_fread) X(zip_fclose) X(zip_file_strerror)
static struct {
    ZIP_API(UTIL_LIB_POINTER)
} zip;
static const char *const zip_names[] = {ZIP_API(UTIL_LIB_NAME)};
static struct util_lib zip_lib = UTIL_LIB(ZIP_SONAME, zip_names, zip);

const char *convert_zip_version(void) { return util_lib_load(&zip_lib, NULL) < 0 ? NULL : zip.zip_libzip_version(); }

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "weights files are little-endian float32, written as this host lays floats out"
#endif

#define MAX_PICKLE (256u << 20)
/* Storages may hold bytes no tensor of the model views (a view of part of a
 * larger tensor), but no more than the model's tensors use, plus this. */
#define MAX_UNUSED (1u << 20)

/* a storage's dtype is the weights file's numbering: enum weights_dtype */
enum dtype { F32 = WEIGHTS_F32, F16 = WEIGHTS_F16, BF16 = WEIGHTS_BF16 };

static const struct { const char *name, *sha256; } releases[] = {
    {"ViT-B-32.pt", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"},
    {"ViT-B-16.pt", "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f"},
    {"ViT-L-14.pt", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836"},
    {"ViT-L-14-336px.pt", "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02"},
};

static const struct { const char *name; uint32_t vw, vl, p, res, tw, tl, e; } shapes[] = {
    {"ViT-B/32", 768, 12, 32, 224, 512, 12, 512},
    {"ViT-B/16", 768, 12, 16, 224, 512, 12, 512},
    {"ViT-L/14", 1024, 24, 14, 224, 768, 12, 768},
    {"ViT-L/14@336px", 1024, 24, 14, 336, 768, 12, 768},
};

/* What a folder may hold, in the order of preference. */
static const char *const folder_files[] = {"open_clip_model.safetensors", "open_clip_pytorch_model.bin",
                                           "model.safetensors", "pytorch_model.bin"};

/* The tensor names: OpenAI's (OpenAI's .pt and OpenCLIP, maybe under a
 * prefix), transformers' CLIPModel's, or OpenCLIP's SigLIP 2 (timm's image
 * tower, "text." before the text tower's). */
enum family { OPENAI_JIT, OPENCLIP, HF, OC_SIGLIP, HF_SIGLIP };

struct ckpt {
    const char *path;   /* the tensors' file */
    char dir[PATH_MAX]; /* its folder, where the configs are */
    int fd;             /* the checkpoint, open */
    struct stat st;     /* its fstat */
    zip_t *zip;
    char top[256];      /* the archive's top folder */
    struct pickle *pickle;
    int jit;            /* a TorchScript archive (constants.pkl) */
    struct safetensors *sf;
    struct pickle_tensor *tensors; /* the pickle's, or own */
    size_t ntensors;
    struct pickle_tensor *own;     /* safetensors' tensors as views of their own storages */
    unsigned char *used;           /* per tensor: the model reads it */
    char prefix[256];   /* before every name, e.g. "state_dict.module." */
    enum family family;
    int dtype;          /* what the large matrices are stored as: enum weights_dtype, or -1 as they are */
    struct spm_build spm; /* SigLIP: the tokenizer's tables, from tokenizer.json */
    char *err;
};

static const char *release_of(int fd)
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    static unsigned char buf[1 << 20];
    ssize_t n;
    for (off_t at = 0; (n = pread(fd, buf, sizeof buf, at)) > 0; at += n)
        sha256_update(&ctx, (size_t)n, buf);
    if (n < 0)
        return NULL;
    unsigned char digest[SHA256_DIGEST_SIZE];
    char hex[2 * SHA256_DIGEST_SIZE + 1];
    sha256_digest(&ctx, sizeof digest, digest);
    for (int k = 0; k < SHA256_DIGEST_SIZE; k++)
        snprintf(hex + 2 * k, 3, "%02x", digest[k]);
    for (size_t k = 0; k < sizeof releases / sizeof releases[0]; k++)
        if (!strcmp(hex, releases[k].sha256))
            return releases[k].name;
    return NULL;
}

/* Reads a whole archive entry, refusing sizes the archive cannot hold, and
 * checks its CRC-32 (libzip checks it only when a read goes past the end). */
static unsigned char *read_entry(struct ckpt *c, zip_int64_t idx, const char *name, uint64_t limit, size_t *len)
{
    zip_stat_t st;
    if (zip.zip_stat_index(c->zip, (zip_uint64_t)idx, 0, &st) < 0 || !(st.valid & ZIP_STAT_SIZE) ||
        !(st.valid & ZIP_STAT_COMP_SIZE)) {
        error(c->err, "%s: cannot read entry %s: %s", c->path, name, zip.zip_strerror(c->zip));
        return NULL;
    }
    /* deflate expands at most 1032:1; a stored entry not at all */
    if (st.comp_size > (uint64_t)c->st.st_size || st.size > limit || st.size / 1032 > st.comp_size + 1) {
        error(c->err, "%s: entry %s claims %llu bytes, more than the archive can hold", c->path, name,
              (unsigned long long)st.size);
        return NULL;
    }
    unsigned char *buf = malloc(st.size ? st.size : 1);
    zip_file_t *f = zip.zip_fopen_index(c->zip, (zip_uint64_t)idx, 0);
    if (!buf || !f) {
        error(c->err, "%s: cannot open entry %s: %s", c->path, name, buf ? zip.zip_strerror(c->zip) : "out of memory");
        goto fail;
    }
    zip_int64_t got = zip.zip_fread(f, buf, st.size);
    if (got < 0 || (zip_uint64_t)got != st.size) {
        error(c->err, "%s: entry %s is truncated or corrupt: %s", c->path, name, zip.zip_file_strerror(f));
        goto fail;
    }
    zip.zip_fclose(f);
    f = NULL;
    if ((st.valid & ZIP_STAT_CRC) && crc32_z(0, buf, st.size) != st.crc) {
        error(c->err, "%s: entry %s fails its CRC-32 check: the archive is corrupted", c->path, name);
        goto fail;
    }
    *len = st.size;
    return buf;
fail:
    if (f)
        zip.zip_fclose(f);
    free(buf);
    return NULL;
}

/* The file to read: in itself, or the first of folder_files in a folder. */
static int choose_input(struct ckpt *c, const char *in, struct convert_info *info)
{
    struct stat st;
    snprintf(info->file, sizeof info->file, "%s", in);
    if (stat(in, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t k = 0;
        for (; k < sizeof folder_files / sizeof folder_files[0]; k++) {
            snprintf(info->file, sizeof info->file, "%s%s%s", in, in[strlen(in) - 1] == '/' ? "" : "/", folder_files[k]);
            if (stat(info->file, &st) == 0)
                break;
        }
        if (k == sizeof folder_files / sizeof folder_files[0]) {
            char index[PATH_MAX];
            snprintf(index, sizeof index, "%s/model.safetensors.index.json", in);
            int sharded = stat(index, &st) == 0;
            return error(c->err, "%s: a folder without open_clip_model.safetensors, open_clip_pytorch_model.bin, "
                         "model.safetensors or pytorch_model.bin%s", in,
                         sharded ? " (its model is split in shards, which convert does not join)" : "");
        }
    }
    c->path = info->file;
    const char *slash = strrchr(c->path, '/');
    snprintf(c->dir, sizeof c->dir, "%.*s", slash ? (int)(slash - c->path) : 1, slash ? c->path : ".");
    return 0;
}

/* Opens the checkpoint (util_open_regular: a FIFO is refused, not waited
 * on) and refuses an empty one. */
static int open_input(struct ckpt *c)
{
    char why[ERR_LEN];
    if ((c->fd = util_open_regular(c->path, &c->st, why)) < 0)
        return error(c->err, "%s: %s", c->path, why);
    if (c->st.st_size == 0)
        return error(c->err, "%s: empty file, not a checkpoint", c->path);
    return 0;
}

/* convert replaces its output: only a regular file, never the checkpoint. */
static int check_output(const struct ckpt *c, const char *out)
{
    struct stat st;
    if (stat(out, &st) < 0)
        return 0; /* new, or creating it will say why not */
    if (!S_ISREG(st.st_mode))
        return error(c->err, "%s: exists and is %s, not a regular file: refusing to replace it", out,
                     util_file_kind(st.st_mode));
    if (st.st_dev == c->st.st_dev && st.st_ino == c->st.st_ino)
        return error(c->err, "%s: is the checkpoint being converted: refusing to replace it", out);
    return 0;
}

/* All n bytes at offset at: a short file is an error. */
static int read_at(int fd, void *p, size_t n, uint64_t at)
{
    return util_read_full(fd, p, n, (off_t)at) == (ssize_t)n ? 0 : -1;
}

/* Opens the zip archive and finds <top>/data.pkl in its one top folder,
 * whatever that is called; *pkl gets its index. */
static int open_archive(struct ckpt *c, zip_int64_t *pkl)
{
    if (util_lib_load(&zip_lib, c->err) < 0)
        return -1;
    int ze, fd = dup(c->fd);
    if (fd < 0)
        return error(c->err, "%s: %s", c->path, strerror(errno));
    if (!(c->zip = zip.zip_fdopen(fd, ZIP_RDONLY, &ze))) {
        close(fd);
        if (ze == ZIP_ER_NOZIP)
            return error(c->err, "%s: not a zip archive, so not a PyTorch checkpoint", c->path);
        zip_error_t e;
        zip.zip_error_init_with_code(&e, ze);
        error(c->err, "%s: broken zip archive: %s", c->path, zip.zip_error_strerror(&e));
        zip.zip_error_fini(&e);
        return -1;
    }
    /* PyTorch's reader takes the last of two entries of one name, libzip
     * the first: a real checkpoint has no such pair */
    zip_int64_t n = zip.zip_get_num_entries(c->zip, 0);
    for (zip_int64_t k = 0; k < n; k++) {
        const char *name = zip.zip_get_name(c->zip, (zip_uint64_t)k, 0);
        if (name && zip.zip_name_locate(c->zip, name, 0) != k)
            return error(c->err, "%s: archive holds two entries named %s", c->path, name);
    }
    for (zip_int64_t k = 0; k < n; k++) {
        const char *name = zip.zip_get_name(c->zip, (zip_uint64_t)k, 0);
        const char *slash = name ? strchr(name, '/') : NULL;
        if (slash && !strcmp(slash, "/data.pkl") && (size_t)(slash - name) < sizeof c->top) {
            memcpy(c->top, name, (size_t)(slash - name));
            c->top[slash - name] = 0;
            *pkl = k;
            return 0;
        }
    }
    return error(c->err, "%s: zip archive without <folder>/data.pkl, so not a PyTorch checkpoint", c->path);
}

/* Reads data.pkl's tensor directory. */
static int read_pickle(struct ckpt *c, zip_int64_t idx)
{
    size_t len;
    unsigned char *pkl = read_entry(c, idx, "data.pkl", MAX_PICKLE, &len);
    if (!pkl)
        return -1;
    char why[ERR_LEN], constants[300];
    c->pickle = pickle_open(pkl, len, why);
    free(pkl);
    if (!c->pickle)
        return error(c->err, "%s: data.pkl: %s", c->path, why);
    c->tensors = c->pickle->tensors;
    c->ntensors = c->pickle->ntensors;
    snprintf(constants, sizeof constants, "%s/constants.pkl", c->top);
    c->jit = zip.zip_name_locate(c->zip, constants, 0) >= 0;
    return 0;
}

/* Reads a safetensors header; its tensors become views of storages of
 * their own, named by the tensor. */
static int read_safetensors(struct ckpt *c)
{
    unsigned char first[8];
    uint64_t n;
    char why[ERR_LEN];
    if (read_at(c->fd, first, sizeof first, 0) < 0 ||
        safetensors_header_len(first, sizeof first, (uint64_t)c->st.st_size, &n, why) < 0)
        return error(c->err, "%s: %s", c->path, read_at(c->fd, first, sizeof first, 0) < 0 ? "cannot read" : why);
    unsigned char *head = malloc(8 + n);
    if (!head)
        return error(c->err, "out of memory");
    if (read_at(c->fd, head, 8 + n, 0) < 0)
        why[0] = 0;
    else
        c->sf = safetensors_parse(head, 8 + n, (uint64_t)c->st.st_size, why);
    free(head);
    if (!c->sf)
        return error(c->err, "%s: %s", c->path, why[0] ? why : "cannot read the header");
    c->ntensors = c->sf->ntensors;
    if (!(c->tensors = c->own = calloc(c->ntensors ? c->ntensors : 1, sizeof *c->own)))
        return error(c->err, "out of memory");
    for (size_t k = 0; k < c->ntensors; k++) {
        const struct safetensors_tensor *s = &c->sf->tensors[k];
        struct pickle_tensor *t = &c->own[k];
        *t = (struct pickle_tensor){.name = s->name, .storage_type = s->dtype, .storage_key = s->name,
                                    .storage_numel = (s->end - s->begin) / s->elem, .ndim = s->ndim};
        uint64_t step = 1;
        for (int d = s->ndim - 1; d >= 0; d--)
            t->size[d] = s->shape[d], t->stride[d] = step, step *= s->shape[d];
    }
    return 0;
}

/* A zip archive (torch.save, TorchScript) or a safetensors file, by its first bytes. */
static int read_directory(struct ckpt *c, struct convert_info *info)
{
    unsigned char first[9] = {0};
    int short_file = read_at(c->fd, first, sizeof first, 0) < 0;
    if (!short_file && first[8] == '{' && memcmp(first, "PK", 2)) {
        info->format = "safetensors";
        return read_safetensors(c);
    }
    zip_int64_t pkl = -1;
    /* torch.save before PyTorch 1.6: a bare pickle opening with its magic number */
    static const unsigned char legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9};
    if (!short_file && !memcmp(first, legacy, sizeof legacy))
        return error(c->err, "%s: a torch.save file of PyTorch before 1.6, not supported: save it again with a "
                     "newer PyTorch, or convert the model's .safetensors file", c->path);
    if (open_archive(c, &pkl) < 0) {
        if (strstr(c->err, "not a zip archive"))
            error(c->err, "%s: not a zip archive nor a safetensors file, so not a checkpoint", c->path);
        return -1;
    }
    if (read_pickle(c, pkl) < 0)
        return -1;
    info->format = c->jit ? "TorchScript archive" : "torch.save archive";
    return 0;
}

static ssize_t find_index(const struct ckpt *c, const char *name)
{
    for (size_t k = 0; k < c->ntensors; k++)
        if (!strcmp(c->tensors[k].name, name))
            return (ssize_t)k;
    return -1;
}

/* Finds a tensor whose name is anchor or ends in "." anchor; what comes
 * before goes to c->prefix. */
static int find_anchor(struct ckpt *c, const char *anchor)
{
    size_t al = strlen(anchor);
    for (size_t k = 0; k < c->ntensors; k++) {
        const char *name = c->tensors[k].name;
        size_t nl = strlen(name);
        if (nl >= al && nl - al < sizeof c->prefix && !strcmp(name + nl - al, anchor) &&
            (nl == al || name[nl - al - 1] == '.')) {
            snprintf(c->prefix, sizeof c->prefix, "%.*s", (int)(nl - al), name);
            return 1;
        }
    }
    return 0;
}

/* Tensors that only other model families have, and what they are. */
static const struct { const char *part, *what; } telltales[] = {
    {"visual.trunk.", "a timm image tower (SigLIP, EVA, ConvNeXt, ...)"},
    {"visual.layer1.", "a ResNet image tower"},
    {"visual.attn_pool.", "an attention-pooled image tower (CoCa)"},
    {"text_decoder.", "a text decoder (CoCa)"},
    {"text.transformer.", "a custom text tower (multilingual or Hugging Face text models)"},
    {"text.token_embedding.", "a custom text tower"},
    {"vision_model.head.", "an attention-pooled image head (SigLIP)"},
    {"logit_bias", "a logit bias (SigLIP's sigmoid loss)"},
};

/* The family by the names of the tensors. */
static int detect_family(struct ckpt *c, struct convert_info *info)
{
    if (!c->jit && find_anchor(c, "visual.trunk.attn_pool.latent")) {
        char text[300];
        snprintf(text, sizeof text, "%stext.token_embedding.weight", c->prefix);
        if (find_index(c, text) >= 0) {
            c->family = OC_SIGLIP;
            info->family = "OpenCLIP SigLIP 2";
            return 0;
        }
    }
    if (!c->jit && find_anchor(c, "vision_model.head.probe")) {
        char text[300];
        snprintf(text, sizeof text, "%stext_model.head.weight", c->prefix);
        if (find_index(c, text) >= 0) {
            c->family = HF_SIGLIP;
            info->family = "Hugging Face SiglipModel";
            return 0;
        }
    }
    for (size_t k = 0; k < c->ntensors; k++)
        for (size_t t = 0; t < sizeof telltales / sizeof telltales[0]; t++)
            if (strstr(c->tensors[k].name, telltales[t].part))
                return error(c->err, "%s: tensor %s is part of %s: not supported, only CLIP ViT models", c->path,
                             c->tensors[k].name, telltales[t].what);
    if (find_anchor(c, "visual.conv1.weight")) {
        c->family = c->jit ? OPENAI_JIT : OPENCLIP;
        info->family = c->jit ? "OpenAI CLIP" : c->prefix[0] ? "OpenCLIP training checkpoint" : "OpenCLIP";
        return 0;
    }
    if (!c->jit && find_anchor(c, "vision_model.embeddings.patch_embedding.weight")) {
        c->family = HF;
        info->family = "Hugging Face CLIPModel";
        return 0;
    }
    return error(c->err, "%s: missing tensor visual.conv1.weight: not a CLIP ViT checkpoint", c->path);
}

/* ---- the model's tensors in the checkpoint ---- */

/* transformers' names for OpenAI's (convert_clip_original_pytorch_to_hf.py's mapping) */
static const struct { const char *ours, *hf; int transposed; } hf_names[] = {
    {"logit_scale", "logit_scale", 0},
    {"token_embedding.weight", "text_model.embeddings.token_embedding.weight", 0},
    {"positional_embedding", "text_model.embeddings.position_embedding.weight", 0},
    {"ln_final.weight", "text_model.final_layer_norm.weight", 0},
    {"ln_final.bias", "text_model.final_layer_norm.bias", 0},
    {"text_projection", "text_projection.weight", 1}, /* nn.Linear's [out, in] */
    {"visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight", 0},
    {"visual.class_embedding", "vision_model.embeddings.class_embedding", 0},
    {"visual.positional_embedding", "vision_model.embeddings.position_embedding.weight", 0},
    {"visual.ln_pre.weight", "vision_model.pre_layrnorm.weight", 0}, /* sic */
    {"visual.ln_pre.bias", "vision_model.pre_layrnorm.bias", 0},
    {"visual.ln_post.weight", "vision_model.post_layernorm.weight", 0},
    {"visual.ln_post.bias", "vision_model.post_layernorm.bias", 0},
    {"visual.proj", "visual_projection.weight", 1},
};

static const struct { const char *ours, *hf; } hf_block[] = {
    {"ln_1.", "layer_norm1."}, {"ln_2.", "layer_norm2."}, {"attn.out_proj.", "self_attn.out_proj."},
    {"mlp.c_fc.", "mlp.fc1."}, {"mlp.c_proj.", "mlp.fc2."},
};

/* Tensors a checkpoint may hold that the model does not read. */
static int ignorable(const char *name)
{
    static const char *const names[] = {"text_model.embeddings.position_ids", "vision_model.embeddings.position_ids",
                                        "input_resolution", "context_length", "vocab_size"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (!strcmp(name, names[k]))
            return 1;
    size_t n = strlen(name);
    return n >= 9 && !strcmp(name + n - 9, "attn_mask");
}

/* transformers' name for piece k of our tensor name (q, k, v rows of an
 * in_proj are 3 tensors there) into buf; the number of pieces, 0 when the
 * name has no counterpart. */
static int hf_name(const char *name, int piece, char *buf, size_t cap, int *transposed)
{
    *transposed = 0;
    for (size_t k = 0; k < sizeof hf_names / sizeof hf_names[0]; k++)
        if (!strcmp(name, hf_names[k].ours)) {
            *transposed = hf_names[k].transposed;
            snprintf(buf, cap, "%s", hf_names[k].hf);
            return 1;
        }
    const char *tower = "text_model.encoder.layers.", *rest;
    if (!strncmp(name, "visual.transformer.resblocks.", 29))
        tower = "vision_model.encoder.layers.", rest = name + 29;
    else if (!strncmp(name, "transformer.resblocks.", 22))
        rest = name + 22;
    else
        return 0;
    const char *dot = strchr(rest, '.');
    if (!dot)
        return 0;
    int layer = (int)(dot - rest);
    if (!strncmp(dot + 1, "attn.in_proj_", 13)) {
        snprintf(buf, cap, "%s%.*s.self_attn.%c_proj.%s", tower, layer, rest, "qkv"[piece], dot + 14);
        return 3;
    }
    for (size_t k = 0; k < sizeof hf_block / sizeof hf_block[0]; k++)
        if (!strncmp(dot + 1, hf_block[k].ours, strlen(hf_block[k].ours))) {
            snprintf(buf, cap, "%s%.*s.%s%s", tower, layer, rest, hf_block[k].hf, dot + 1 + strlen(hf_block[k].ours));
            return 1;
        }
    return 0;
}

/* OpenCLIP's SigLIP names (timm's image tower) for ours (weights.c's siglip_specs) */
static const struct { const char *ours, *theirs; } siglip_names[] = {
    {"visual.conv1.", "visual.trunk.patch_embed.proj."},
    {"visual.positional_embedding", "visual.trunk.pos_embed"},
    {"visual.ln_post.", "visual.trunk.norm."},
    {"visual.attn_pool.", "visual.trunk.attn_pool."},
    {"visual.transformer.resblocks.", "visual.trunk.blocks."},
    {"logit_", "logit_"},
    {"", "text."}, /* the text tower's, last: it matches every name */
};

static const struct { const char *ours, *theirs; } siglip_block[] = {
    {"ln_1.", "norm1."}, {"ln_2.", "norm2."}, {"attn.in_proj_weight", "attn.qkv.weight"},
    {"attn.in_proj_bias", "attn.qkv.bias"}, {"attn.out_proj.", "attn.proj."}, {"mlp.c_fc.", "mlp.fc1."},
    {"mlp.c_proj.", "mlp.fc2."},
};

/* transformers' SiglipModel names for ours that are not CLIPModel's; rows
 * [first, first + rows) of the tensor when rows is not 0 (q, k and v of
 * the head's nn.MultiheadAttention are one in_proj there, in units of the width) */
static const struct { const char *ours, *hf; int first, rows; } hf_siglip_names[] = {
    {"logit_bias", "logit_bias", 0, 0},
    {"text_projection.weight", "text_model.head.weight", 0, 0},
    {"text_projection.bias", "text_model.head.bias", 0, 0},
    {"visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight", 0, 0},
    {"visual.conv1.bias", "vision_model.embeddings.patch_embedding.bias", 0, 0},
    {"visual.attn_pool.latent", "vision_model.head.probe", 0, 0},
    {"visual.attn_pool.q.weight", "vision_model.head.attention.in_proj_weight", 0, 1},
    {"visual.attn_pool.q.bias", "vision_model.head.attention.in_proj_bias", 0, 1},
    {"visual.attn_pool.kv.weight", "vision_model.head.attention.in_proj_weight", 1, 2},
    {"visual.attn_pool.kv.bias", "vision_model.head.attention.in_proj_bias", 1, 2},
    {"visual.attn_pool.proj.", "vision_model.head.attention.out_proj.", 0, 0},
    {"visual.attn_pool.norm.", "vision_model.head.layernorm.", 0, 0},
    {"visual.attn_pool.mlp.", "vision_model.head.mlp.", 0, 0},
};

/* transformers' SiglipModel name for ours into buf (CLIPModel's where they
 * agree, q, k, v pieces included); the rows *first, *rows of it that are
 * ours (0, 0: all); the number of pieces, 0 when none. */
static int hf_siglip_name(const char *name, int piece, char *buf, size_t cap, int *first, int *rows)
{
    *first = *rows = 0;
    for (size_t k = 0; k < sizeof hf_siglip_names / sizeof hf_siglip_names[0]; k++) {
        size_t n = strlen(hf_siglip_names[k].ours);
        if (!strncmp(name, hf_siglip_names[k].ours, n)) {
            snprintf(buf, cap, "%s%s", hf_siglip_names[k].hf, name + n);
            *first = hf_siglip_names[k].first;
            *rows = hf_siglip_names[k].rows;
            return 1;
        }
    }
    int transposed;
    return hf_name(name, piece, buf, cap, &transposed); /* never transposed: SigLIP has no CLIP projections */
}

/* OpenCLIP's SigLIP name for ours into buf. */
static void siglip_name(const char *name, char *buf, size_t cap)
{
    size_t k = 0;
    while (strncmp(name, siglip_names[k].ours, strlen(siglip_names[k].ours)))
        k++;
    const char *rest = name + strlen(siglip_names[k].ours);
    if (strcmp(siglip_names[k].ours, "visual.transformer.resblocks.")) {
        snprintf(buf, cap, "%s%s", siglip_names[k].theirs, rest);
        return;
    }
    const char *dot = strchr(rest, '.');
    for (size_t b = 0; dot && b < sizeof siglip_block / sizeof siglip_block[0]; b++)
        if (!strncmp(dot + 1, siglip_block[b].ours, strlen(siglip_block[b].ours))) {
            snprintf(buf, cap, "visual.trunk.blocks.%.*s.%s%s", (int)(dot - rest), rest, siglip_block[b].theirs,
                     dot + 1 + strlen(siglip_block[b].ours));
            return;
        }
    snprintf(buf, cap, "%s", name); /* not found: named in the message */
}

/* The checkpoint's tensors that make the model's tensor `name`, as views in
 * the model's layout (transformers' projections transposed): their count
 * (3 for the q, k, v of a Hugging Face in_proj, else 1) and their indexes;
 * 0 with err naming the tensor when one is missing. */
static int resolve(struct ckpt *c, const char *name, struct pickle_tensor out[3], size_t idx[3])
{
    int n = 1, transposed = 0, first = 0, rows = 0;
    for (int k = 0; k < n; k++) {
        char hf[300], full[600];
        if (c->family == HF && !(n = hf_name(name, k, hf, sizeof hf, &transposed)))
            return error(c->err, "%s: no Hugging Face tensor for %s", c->path, name), 0;
        if (c->family == HF_SIGLIP && !(n = hf_siglip_name(name, k, hf, sizeof hf, &first, &rows)))
            return error(c->err, "%s: no Hugging Face tensor for %s", c->path, name), 0;
        if (c->family == OC_SIGLIP)
            siglip_name(name, hf, sizeof hf);
        snprintf(full, sizeof full, "%s%s", c->prefix, c->family == OPENAI_JIT || c->family == OPENCLIP ? name : hf);
        ssize_t i = find_index(c, full);
        if (i < 0)
            return error(c->err, "%s: missing tensor %s", c->path, full), 0;
        out[k] = c->tensors[i];
        idx[k] = (size_t)i;
        /* timm's pos_embed [1, N, W], latent or probe [1, 1, W], transformers'
         * logit_scale and logit_bias [1]: the leading ones dropped */
        int siglip = c->family == OC_SIGLIP || c->family == HF_SIGLIP;
        while (siglip && out[k].ndim > 0 && out[k].size[0] == 1 &&
               (strstr(name, "positional_embedding") || strstr(name, "latent") || !strncmp(name, "logit_", 6))) {
            memmove(out[k].size, out[k].size + 1, (size_t)(out[k].ndim - 1) * sizeof out[k].size[0]);
            memmove(out[k].stride, out[k].stride + 1, (size_t)(out[k].ndim - 1) * sizeof out[k].stride[0]);
            out[k].ndim--;
        }
        /* the head's q rows, or its k and v rows, of an in_proj [3W, ...]: a view of them */
        if (rows && out[k].ndim >= 1 && out[k].size[0] % 3 == 0) {
            uint64_t W = out[k].size[0] / 3;
            out[k].offset += (uint64_t)first * W * out[k].stride[0];
            out[k].size[0] = (uint64_t)rows * W;
        }
        if (transposed && out[k].ndim == 2) {
            uint64_t s = out[k].size[0], t = out[k].stride[0];
            out[k].size[0] = out[k].size[1], out[k].stride[0] = out[k].stride[1];
            out[k].size[1] = s, out[k].stride[1] = t;
        }
    }
    return n;
}

/* The one tensor for name, of ndim dimensions, into *t. */
static int need(struct ckpt *c, const char *name, int ndim, struct pickle_tensor *t)
{
    struct pickle_tensor ts[3];
    size_t idx[3];
    if (resolve(c, name, ts, idx) != 1)
        return -1;
    if (ts[0].ndim != ndim)
        return error(c->err, "%s: tensor %s has %d dimensions, expected %d", c->path, name, ts[0].ndim, ndim);
    *t = ts[0];
    return 0;
}

static uint32_t count_layers(struct ckpt *c, int visual)
{
    static const char *const towers[3][2] = {{"transformer.resblocks.", "visual.transformer.resblocks."},
                                             {"text_model.encoder.layers.", "vision_model.encoder.layers."},
                                             {"text.transformer.resblocks.", "visual.trunk.blocks."}};
    char prefix[400];
    size_t pl = (size_t)snprintf(prefix, sizeof prefix, "%s%s", c->prefix,
                                 towers[c->family == HF || c->family == HF_SIGLIP ? 1 : c->family == OC_SIGLIP ? 2 : 0][visual]);
    uint64_t layers = 0;
    for (size_t k = 0; k < c->ntensors; k++) {
        const char *name = c->tensors[k].name;
        if (strncmp(name, prefix, pl) || name[pl] < '0' || name[pl] > '9')
            continue;
        uint64_t l = strtoull(name + pl, NULL, 10);
        if (l + 1 > layers)
            layers = l + 1;
    }
    return layers > UINT32_MAX ? UINT32_MAX : (uint32_t)layers;
}

static uint32_t dim(const struct pickle_tensor *t, int d)
{
    return t->size[d] > UINT32_MAX ? UINT32_MAX : (uint32_t)t->size[d];
}

/* The side of a square grid of cells patches (at most 65536 a side), or 0
 * when cells is no such square. */
static uint64_t square_side(uint64_t cells)
{
    uint64_t side = 0;
    while ((side + 1) * (side + 1) <= cells && side < 65536)
        side++;
    return side * side == cells ? side : 0;
}

/* SigLIP's shapes: no class token, the projection a Linear [E, Wt]. */
static int infer_siglip(struct ckpt *c, struct weights_config *cfg)
{
    struct pickle_tensor conv = {0}, vpos = {0}, proj = {0}, pos = {0}, tok = {0}, lnf = {0}, vfc = {0}, tfc = {0};
    if (need(c, "visual.conv1.weight", 4, &conv) < 0 || need(c, "visual.positional_embedding", 2, &vpos) < 0 ||
        need(c, "text_projection.weight", 2, &proj) < 0 || need(c, "positional_embedding", 2, &pos) < 0 ||
        need(c, "token_embedding.weight", 2, &tok) < 0 || need(c, "ln_final.weight", 1, &lnf) < 0 ||
        need(c, "visual.transformer.resblocks.0.mlp.c_fc.weight", 2, &vfc) < 0 ||
        need(c, "transformer.resblocks.0.mlp.c_fc.weight", 2, &tfc) < 0)
        return -1;
    uint64_t grid = square_side(vpos.size[0]);
    if (!grid)
        return error(c->err, "%s: the image tower's position embedding has %llu rows, not a square grid", c->path,
                     (unsigned long long)vpos.size[0]);
    *cfg = (struct weights_config){
        .family = WEIGHTS_SIGLIP,
        .embed_dim = dim(&proj, 0),
        .vision_width = dim(&conv, 0),
        .vision_layers = count_layers(c, 1),
        .vision_patch = dim(&conv, 3),
        .vision_grid = (uint32_t)grid,
        .context_length = dim(&pos, 0),
        .vocab_size = dim(&tok, 0),
        .text_width = dim(&lnf, 0),
        .text_layers = count_layers(c, 0),
        .vision_mlp = dim(&vfc, 0),
        .text_mlp = dim(&tfc, 0),
        .text_pool = WEIGHTS_POOL_LAST,
    };
    return 0;
}

/* Everything the shapes tell: widths, layers, patch, grid, MLP widths. */
static int infer_shapes(struct ckpt *c, struct weights_config *cfg)
{
    if (c->family == OC_SIGLIP || c->family == HF_SIGLIP)
        return infer_siglip(c, cfg);
    struct pickle_tensor conv = {0}, vpos = {0}, proj = {0}, pos = {0}, tok = {0}, lnf = {0}, vfc = {0}, tfc = {0};
    if (need(c, "visual.conv1.weight", 4, &conv) < 0 || need(c, "visual.positional_embedding", 2, &vpos) < 0 ||
        need(c, "text_projection", 2, &proj) < 0 || need(c, "positional_embedding", 2, &pos) < 0 ||
        need(c, "token_embedding.weight", 2, &tok) < 0 || need(c, "ln_final.weight", 1, &lnf) < 0 ||
        need(c, "visual.transformer.resblocks.0.mlp.c_fc.weight", 2, &vfc) < 0 ||
        need(c, "transformer.resblocks.0.mlp.c_fc.weight", 2, &tfc) < 0)
        return -1;
    uint64_t grid = square_side(vpos.size[0] ? vpos.size[0] - 1 : 0);
    if (!grid)
        return error(c->err, "%s: visual.positional_embedding has %llu rows, not a square grid plus one", c->path,
                     (unsigned long long)vpos.size[0]);
    *cfg = (struct weights_config){
        .embed_dim = dim(&proj, 1),
        .vision_width = dim(&conv, 0),
        .vision_layers = count_layers(c, 1),
        .vision_patch = dim(&conv, 3),
        .vision_grid = (uint32_t)grid,
        .context_length = dim(&pos, 0),
        .vocab_size = dim(&tok, 0),
        .text_width = dim(&lnf, 0),
        .text_layers = count_layers(c, 0),
    };
    weights_config_openai(cfg);
    cfg->vision_mlp = dim(&vfc, 0);
    cfg->text_mlp = dim(&tfc, 0);
    return 0;
}

/* ---- what the configs say ---- */

/* Reads dir/name into a malloc'd buffer; NULL with *absent set when there
 * is no such file, NULL with err set when it cannot be read. */
static char *read_config(struct ckpt *c, const char *name, size_t limit, size_t *len, int *absent,
                         struct convert_info *info)
{
    char path[PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/%s", c->dir, name) >= (int)sizeof path) {
        *absent = 0;
        error(c->err, "%s: path too long", c->dir);
        return NULL;
    }
    *absent = stat(path, &st) < 0 && errno == ENOENT;
    if (*absent)
        return NULL;
    char why[ERR_LEN];
    unsigned char *buf = NULL;
    if (util_read_file(path, limit, &buf, len, why) < 0) {
        error(c->err, "%s: %s", path, why);
        return NULL;
    }
    if (!info->config[0]) /* the model's config, not the preprocessor's */
        memcpy(info->config, path, sizeof path);
    return (char *)buf;
}

/* The family's config beside the checkpoint, into *m; *have 0 when there is
 * none (only OpenCLIP may go without). */
static int load_config(struct ckpt *c, struct modelcfg *m, int *have, struct convert_info *info)
{
    size_t len = 0, plen = 0;
    int absent = 0, pabsent = 0, rc = -1, hf = c->family == HF || c->family == HF_SIGLIP,
        siglip = c->family == OC_SIGLIP || c->family == HF_SIGLIP;
    char why[ERR_LEN], *json = NULL, *pre = NULL;
    *have = 0;
    if (c->family == OPENAI_JIT)
        return 0;
    json = read_config(c, hf ? "config.json" : "open_clip_config.json", MODELCFG_MAX_JSON, &len, &absent, info);
    if (!json && !absent)
        return -1;
    if (c->family == OPENCLIP && absent)
        return 0;
    if (c->family == OC_SIGLIP && absent)
        return error(c->err, "%s: a SigLIP checkpoint needs open_clip_config.json beside it (in %s)", c->path, c->dir);
    if (hf && !absent && !(pre = read_config(c, "preprocessor_config.json", MODELCFG_MAX_JSON, &plen, &pabsent, info)) &&
        !pabsent)
        goto done;
    if (hf && (absent || pabsent)) {
        error(c->err, "%s: a Hugging Face %s needs config.json and preprocessor_config.json beside it (in %s)", c->path,
              siglip ? "SiglipModel" : "CLIPModel", c->dir);
        goto done;
    }
    if ((hf ? modelcfg_hf(json, len, pre, plen, m, why) : modelcfg_openclip(json, len, m, why)) < 0) {
        error(c->err, "%s: %s", info->config, why);
        goto done;
    }
    if (siglip != (m->family == WEIGHTS_SIGLIP)) {
        error(c->err, "%s: %s is not the config of a %s", c->path, info->config,
              siglip ? "SigLIP model (its tensors are)" : "CLIP model (its tensors are)");
        goto done;
    }
    *have = 1;
    rc = 0;
done:
    free(json);
    free(pre);
    return rc;
}

/* Every size the config gives must be the tensors'. */
static int check_config(struct ckpt *c, const struct modelcfg *m, const struct weights_config *k,
                        const struct convert_info *info)
{
    const struct { const char *what; uint32_t said, found; } f[] = {
        {"embedding size", m->embed_dim, k->embed_dim},
        {"image size", m->image_size, k->vision_patch * k->vision_grid},
        {"image width", m->vision_width, k->vision_width},
        {"image layers", m->vision_layers, k->vision_layers},
        {"patch size", m->vision_patch, k->vision_patch},
        {"image MLP width", m->vision_mlp, k->vision_mlp},
        {"context length", m->context_length, k->context_length},
        {"vocabulary size", m->vocab_size, k->vocab_size},
        {"text width", m->text_width, k->text_width},
        {"text layers", m->text_layers, k->text_layers},
        {"text MLP width", m->text_mlp, k->text_mlp},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].said && f[i].said != f[i].found)
            return error(c->err, "%s says %s %u, but the tensors of %s have %u", info->config, f[i].what, f[i].said,
                         c->path, f[i].found);
    return 0;
}

/* The activation: the config's (or OpenAI's), else the option's; never a guess. */
static int choose_activation(struct ckpt *c, const struct convert_opts *o, const struct modelcfg *m, int have,
                             struct weights_config *k, struct convert_info *info)
{
    int said = c->family == OPENAI_JIT ? WEIGHTS_QUICK_GELU : have ? m->activation : -1;
    const char *from = c->family == OPENAI_JIT ? "OpenAI's release" : have ? info->config : NULL;
    static const char *const names[] = {"quick_gelu", "gelu"};
    if (said >= 0 && o->activation >= 0 && o->activation != said)
        return error(c->err, "%s: %s says %s, --activation %s contradicts it", c->path, from, names[said],
                     names[o->activation]);
    if (said < 0 && o->activation < 0)
        return error(c->err, "%s: nothing says which activation the model uses (%s): pass --activation gelu or "
                     "--activation quick_gelu (OpenAI's weights and OpenCLIP's *-quickgelu models use quick_gelu)",
                     c->path, c->family == HF ? "no config.json" : "no open_clip_config.json beside it");
    k->activation = (uint32_t)(said >= 0 ? said : o->activation);
    info->activation_from = said >= 0 ? from : "--activation";
    return 0;
}

/* The heads: the config's (or OpenAI's width 64), else the option's. */
static int choose_heads(struct ckpt *c, const struct convert_opts *o, const struct modelcfg *m, int have,
                        struct weights_config *k, struct convert_info *info)
{
    int by64 = c->family == OPENAI_JIT || (!have && !o->vision_heads && o->heads_of_64);
    if (have || by64) {
        if (o->vision_heads && (o->vision_heads != (by64 ? k->vision_width / 64 : m->vision_heads) ||
                                o->text_heads != (by64 ? k->text_width / 64 : m->text_heads)))
            return error(c->err, "%s: %s says %u,%u heads, --heads %u,%u contradicts it", c->path,
                         by64 ? "OpenAI's release" : info->config, by64 ? k->vision_width / 64 : m->vision_heads,
                         by64 ? k->text_width / 64 : m->text_heads, o->vision_heads, o->text_heads);
        if (!by64)
            k->vision_heads = m->vision_heads, k->text_heads = m->text_heads;
        info->heads_from = c->family == OPENAI_JIT ? "OpenAI's release" : have ? info->config : "head width 64";
        return 0;
    }
    if (!o->vision_heads || !o->text_heads)
        return error(c->err, "%s: nothing says how many attention heads each tower has (no open_clip_config.json "
                     "beside it): pass --heads IMAGE,TEXT (%u,%u for heads of width 64 as in OpenAI's and most "
                     "OpenCLIP models; ViT-H-14 and larger differ)", c->path, k->vision_width / 64, k->text_width / 64);
    k->vision_heads = o->vision_heads;
    k->text_heads = o->text_heads;
    info->heads_from = "--heads";
    return 0;
}

/* SigLIP's tokenizer: the folder's tokenizer.json, whose tables go into the weights file. */
static int read_tokenizer(struct ckpt *c, struct weights_config *k)
{
    size_t len;
    int absent;
    char why[ERR_LEN], path[PATH_MAX + 16];
    struct convert_info scratch = {0};
    char *json = read_config(c, "tokenizer.json", SPM_MAX_JSON, &len, &absent, &scratch);
    snprintf(path, sizeof path, "%s/tokenizer.json", c->dir);
    if (!json && absent)
        return error(c->err, "%s: no tokenizer.json beside it (in %s)%s", c->path, c->dir,
                     k->vocab_size == 32000 || k->vocab_size == 250000
                         ? ": SigLIP v1 (a T5 SentencePiece vocabulary of 32,000 or 250,000 pieces, no tokenizer.json)"
                           " is not supported, only SigLIP 2"
                         : "");
    if (!json)
        return -1;
    int rc = spm_build(json, len, &c->spm, why);
    free(json);
    if (rc < 0)
        return error(c->err, "%s: %s", path, why);
    if (c->spm.t.vocab > k->vocab_size || c->spm.eos < 0 || c->spm.pad < 0)
        return error(c->err, "%s: %s has %u pieces%s, the model's vocabulary %u", c->path, path, c->spm.t.vocab,
                     c->spm.eos < 0 || c->spm.pad < 0 ? " and no <eos> or <pad>" : "", k->vocab_size);
    k->eos_id = (uint32_t)c->spm.eos;
    k->pad_id = (uint32_t)c->spm.pad;
    k->tok_merges = c->spm.t.n_merges;
    k->tok_chars = c->spm.t.n_chars;
    k->tok_added = c->spm.t.n_added;
    k->tok_strings = c->spm.t.strings_len;
    k->tok_unk = c->spm.t.unk < 0 ? UINT32_MAX : (uint32_t)c->spm.t.unk;
    return 0;
}

/* SigLIP: everything from the config (no option may contradict it) and tokenizer.json. */
static int configure_siglip(struct ckpt *c, const struct convert_opts *o, const struct modelcfg *m,
                            struct convert_info *info)
{
    struct weights_config *k = &info->cfg;
    static const char *const names[] = {"quick_gelu", "gelu", "gelu_tanh"};
    if (o->activation >= 0 && o->activation != m->activation)
        return error(c->err, "%s: %s %s activation %s, --activation %s contradicts it", c->path, info->config,
                     c->family == OC_SIGLIP ? "names a timm model of" : "says", names[m->activation],
                     names[o->activation]);
    if (o->vision_heads && (o->vision_heads != m->vision_heads || o->text_heads != m->text_heads))
        return error(c->err, "%s: %s says %u,%u heads, --heads %u,%u contradicts it", c->path, info->config,
                     m->vision_heads, m->text_heads, o->vision_heads, o->text_heads);
    k->activation = (uint32_t)m->activation;
    k->text_activation = (uint32_t)m->text_activation;
    k->vision_heads = m->vision_heads;
    k->text_heads = m->text_heads;
    k->ln_eps = m->ln_eps;
    k->resize = m->resize;
    memcpy(k->image_mean, m->image_mean, sizeof k->image_mean);
    memcpy(k->image_std, m->image_std, sizeof k->image_std);
    info->activation_from = info->heads_from = info->config;
    return read_tokenizer(c, k);
}

/* The config: what the shapes do not tell, checked against what they do. */
static int configure(struct ckpt *c, const struct convert_opts *o, struct convert_info *info)
{
    struct modelcfg m;
    int have;
    struct weights_config *k = &info->cfg;
    if (infer_shapes(c, k) < 0 || load_config(c, &m, &have, info) < 0 || (have && check_config(c, &m, k, info) < 0))
        return -1;
    if (c->family == OC_SIGLIP || c->family == HF_SIGLIP) {
        char why[ERR_LEN];
        if (configure_siglip(c, o, &m, info) < 0)
            return -1;
        if (weights_config_check(k, why) < 0)
            return error(c->err, "%s: unsupported model: %s", c->path, why);
        return 0;
    }
    if (choose_activation(c, o, &m, have, k, info) < 0 || choose_heads(c, o, &m, have, k, info) < 0)
        return -1;
    if (have) {
        k->ln_eps = m.ln_eps;
        k->resize = m.resize;
        if (m.have_norm) {
            memcpy(k->image_mean, m.image_mean, sizeof k->image_mean);
            memcpy(k->image_std, m.image_std, sizeof k->image_std);
        }
    }
    char why[ERR_LEN];
    if (weights_config_check(k, why) < 0)
        return error(c->err, "%s: unsupported model: %s", c->path, why);
    return 0;
}

static int dtype_of(const char *storage, enum dtype *d, size_t *size)
{
    if (!strcmp(storage, "FloatStorage") || !strcmp(storage, "F32"))
        *d = F32, *size = 4;
    else if (!strcmp(storage, "HalfStorage") || !strcmp(storage, "F16"))
        *d = F16, *size = 2;
    else if (!strcmp(storage, "BFloat16Storage") || !strcmp(storage, "BF16"))
        *d = BF16, *size = 2;
    else
        return -1;
    return 0;
}

static float to_float(const unsigned char *p, enum dtype d)
{
    if (d == F16)
        return util_half_to_float(load_u16(p));
    if (d == BF16)
        return util_bf16_to_float(load_u16(p));
    uint32_t bits = load_u32(p);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static int write_at(int fd, const void *p, size_t n, uint64_t at, const char *path, char *err)
{
    if (util_write_full(fd, p, n, (off_t)at) < 0)
        return error(err, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

/* One tensor of the checkpoint, as a part of one of the model's: all of it,
 * or a third of an in_proj (Hugging Face's q, k or v). */
struct part {
    const struct weights_spec *spec;
    struct pickle_tensor t; /* the view, in the model's layout */
    enum dtype dt;
    size_t es;     /* bytes per element of its storage */
    size_t numel;  /* elements */
    size_t first;  /* the element of the spec's tensor it starts at */
    uint64_t need; /* bytes of its storage up to its view's last element */
    uint64_t out;  /* where its data starts in the output */
};

/* Checks the view t as piece `piece` of `pieces` of spec s: shape, dtype,
 * and a view that lies inside its storage. */
static int plan_part(struct ckpt *c, const struct weights_spec *s, const struct pickle_tensor *t, int piece, int pieces,
                     struct part *p)
{
    uint64_t shape[4] = {s->shape[0] / (uint32_t)pieces, s->shape[1], s->shape[2], s->shape[3]};
    int same = (uint32_t)t->ndim == s->ndim;
    for (uint32_t d = 0; same && d < s->ndim; d++)
        same = t->size[d] == shape[d];
    if (!same) {
        char got[WEIGHTS_SHAPE_LEN], want[WEIGHTS_SHAPE_LEN];
        return error(c->err, "%s: tensor %s has shape %s, expected %s", c->path, t->name,
                     weights_shape_str(got, t->ndim, t->size), weights_shape_str(want, (int)s->ndim, shape));
    }
    if (dtype_of(t->storage_type, &p->dt, &p->es) < 0)
        return error(c->err, c->sf ? "%s: unsupported dtype %s (tensor %s)" : "%s: unsupported storage torch.%s (tensor %s)",
                     c->path, t->storage_type, t->name);
    /* the last element the view reaches must lie inside its storage */
    uint64_t last = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t step;
        if (__builtin_mul_overflow(t->size[d] - 1, t->stride[d], &step) || __builtin_add_overflow(last, step, &last))
            return error(c->err, "%s: tensor %s: view overflows", c->path, t->name);
    }
    if (last >= t->storage_numel)
        return error(c->err, "%s: tensor %s reaches element %llu of a storage of %llu", c->path, t->name,
                     (unsigned long long)last, (unsigned long long)t->storage_numel);
    if (__builtin_mul_overflow(last + 1, p->es, &p->need))
        return error(c->err, "%s: tensor %s: view overflows", c->path, t->name);
    p->spec = s;
    p->t = *t;
    p->numel = weights_spec_numel(s) / (size_t)pieces;
    p->first = p->numel * (size_t)piece;
    return 0;
}

/* v stored as dtype into out[k]; returns the relative error of that */
static double store(void *out, size_t k, float v, uint32_t dtype)
{
    float back = v;
    if (dtype == WEIGHTS_F32)
        ((float *)out)[k] = v;
    else if (dtype == WEIGHTS_F16)
        back = util_half_to_float(((uint16_t *)out)[k] = util_float_to_half(v));
    else
        back = util_bf16_to_float(((uint16_t *)out)[k] = util_float_to_bf16(v));
    return v != 0 && isfinite(v) ? fabs(((double)back - v) / v) : 0;
}

/* Copies p's elements, in row-major order of its shape, from its storage
 * (buf, at least p->need bytes) into out as its spec's dtype; returns the
 * largest relative rounding error that made. */
static double copy_part(const struct part *p, const unsigned char *buf, void *out)
{
    const struct pickle_tensor *t = &p->t;
    /* walk the view's indices odometer-style */
    uint64_t idxs[PICKLE_MAX_DIMS] = {0}, pos = t->offset;
    double worst = 0;
    for (size_t k = 0; k < p->numel; k++) {
        double e = store(out, k, to_float(buf + pos * p->es, p->dt), p->spec->dtype);
        worst = e > worst ? e : worst;
        for (int d = t->ndim - 1; d >= 0; d--) {
            pos += t->stride[d];
            if (++idxs[d] < t->size[d])
                break;
            pos -= t->stride[d] * t->size[d];
            idxs[d] = 0;
        }
    }
    return worst;
}

/* by storage, then in the model's order (so that messages name the first) */
static int by_storage(const void *a, const void *b)
{
    const struct part *p = a, *q = b;
    int r = strcmp(p->t.storage_key, q->t.storage_key);
    if (r)
        return r;
    r = (p->spec > q->spec) - (p->spec < q->spec);
    return r ? r : (p->first > q->first) - (p->first < q->first);
}

/* The parts that view one storage (parts sorted by storage): that storage's
 * entry (or safetensors byte range), its size, and the bytes they use of it. */
struct storage {
    struct part *parts;
    size_t n;
    char entry[600];
    zip_int64_t idx;
    uint64_t begin;     /* safetensors: where its bytes start in the file */
    uint64_t size, need;
};

static int locate_storage(struct ckpt *c, struct storage *s)
{
    const struct part *first = &s->parts[0];
    if (c->sf) {
        const struct safetensors_tensor *t = safetensors_find(c->sf, first->t.storage_key);
        snprintf(s->entry, sizeof s->entry, "%s", first->t.storage_key);
        s->begin = t->begin;
        s->size = t->end - t->begin;
        return 0;
    }
    snprintf(s->entry, sizeof s->entry, "%s/data/%s", c->top, first->t.storage_key);
    if ((s->idx = zip.zip_name_locate(c->zip, s->entry, 0)) < 0)
        return error(c->err, "%s: storage %s of tensor %s is missing from the archive", c->path, s->entry,
                     first->spec->name);
    zip_stat_t st;
    if (zip.zip_stat_index(c->zip, (zip_uint64_t)s->idx, 0, &st) < 0 || !(st.valid & ZIP_STAT_SIZE))
        return error(c->err, "%s: cannot read entry %s: %s", c->path, s->entry, zip.zip_strerror(c->zip));
    s->size = st.size;
    return 0;
}

static int stat_storage(struct ckpt *c, struct storage *s)
{
    const struct part *first = &s->parts[0];
    if (locate_storage(c, s) < 0)
        return -1;
    const struct part *widest = first;
    for (size_t k = 0; k < s->n; k++) {
        if (s->parts[k].dt != first->dt)
            return error(c->err, "%s: storage %s is read as both torch.%s and torch.%s", c->path, s->entry,
                         first->t.storage_type, s->parts[k].t.storage_type);
        if (s->parts[k].need > widest->need)
            widest = &s->parts[k];
    }
    s->need = widest->need;
    if (s->size < s->need)
        return error(c->err, "%s: storage %s holds %llu bytes, tensor %s needs %llu", c->path, s->entry,
                     (unsigned long long)s->size, widest->spec->name, (unsigned long long)s->need);
    return 0;
}

/* A storage's bytes: an archive entry inflated, or a safetensors range read. */
static unsigned char *read_storage(struct ckpt *c, const struct storage *s)
{
    size_t len;
    if (!c->sf)
        return read_entry(c, s->idx, s->entry, s->size, &len);
    unsigned char *buf = malloc(s->size ? s->size : 1);
    if (!buf)
        error(c->err, "out of memory");
    else if (read_at(c->fd, buf, s->size, s->begin) < 0) {
        error(c->err, "%s: cannot read tensor %s: %s", c->path, s->entry, errno ? strerror(errno) : "file shrank");
        free(buf);
        buf = NULL;
    }
    return buf;
}

/* Reads one storage, once, and writes the data of every part that views it
 * to its place in the output. */
static int convert_storage(struct ckpt *c, const struct storage *s, void *data, int fd, const char *out,
                           struct convert_info *info)
{
    unsigned char *buf = read_storage(c, s);
    if (!buf)
        return -1;
    int rc = 0;
    for (size_t k = 0; k < s->n && rc == 0; k++) {
        const struct part *p = &s->parts[k];
        double e = copy_part(p, buf, data);
        rc = write_at(fd, data, p->numel * weights_dtype_size(p->spec->dtype), p->out, out, c->err);
        info->tensors[p->dt]++;
        info->stored[p->spec->dtype] += p->first == 0;
        info->max_rounding = e > info->max_rounding ? e : info->max_rounding;
        info->params += p->numel;
    }
    free(buf);
    return rc;
}

/* Splits the parts, sorted by storage, into storages, and refuses storages
 * that hold far more than the model's tensors use: inflating them would buy
 * an attacker time and memory (a few KB of deflated zeros inflate to MBs). */
static uint64_t add_sat(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

static struct storage *group_storages(struct ckpt *c, struct part *parts, size_t n, size_t *count)
{
    struct storage *s = calloc(n ? n : 1, sizeof *s);
    if (!s) {
        error(c->err, "out of memory");
        return NULL;
    }
    size_t m = 0, worst = 0;
    for (size_t k = 0; k < n; k++) {
        if (k == 0 || strcmp(parts[k - 1].t.storage_key, parts[k].t.storage_key))
            s[m++].parts = &parts[k];
        s[m - 1].n++;
    }
    uint64_t held = 0, used = 0; /* sizes are the archive's claims: saturate */
    for (size_t k = 0; k < m; k++) {
        if (stat_storage(c, &s[k]) < 0)
            goto fail;
        held = add_sat(held, s[k].size);
        used = add_sat(used, s[k].need);
        if (s[k].size - s[k].need > s[worst].size - s[worst].need)
            worst = k;
    }
    if (held - used > add_sat(used, MAX_UNUSED)) {
        error(c->err, "%s: storage %s holds %llu bytes, its tensors use %llu; refusing to inflate that much unused"
              " data", c->path, s[worst].entry, (unsigned long long)s[worst].size, (unsigned long long)s[worst].need);
        goto fail;
    }
    *count = m;
    return s;
fail:
    free(s);
    return NULL;
}

/* Plans the parts of every spec into parts (room for 3 per spec), *m of
 * them; the large matrices keep the checkpoint's precision unless told
 * otherwise (float32 when its pieces differ); the rest is float32. */
static int plan_parts(struct ckpt *c, struct weights_spec *specs, size_t n, struct part *parts, size_t *m)
{
    *m = 0;
    for (size_t k = 0; k < n; k++) {
        struct pickle_tensor ts[3];
        size_t idx[3];
        if (specs[k].table) /* the tokenizer's, from tokenizer.json */
            continue;
        int pieces = resolve(c, specs[k].name, ts, idx);
        if (!pieces)
            return -1;
        for (int j = 0; j < pieces; j++) {
            if (plan_part(c, &specs[k], &ts[j], j, pieces, &parts[*m + (size_t)j]) < 0)
                return -1;
            c->used[idx[j]] = 1;
        }
        enum dtype dt = parts[*m].dt;
        for (int j = 1; j < pieces; j++)
            dt = parts[*m + (size_t)j].dt == dt ? dt : F32;
        if (specs[k].halves)
            specs[k].dtype = c->dtype >= 0 ? (uint32_t)c->dtype : (uint32_t)dt;
        *m += (size_t)pieces;
    }
    return 0;
}

/* A tensor the model does not read may change what it computes (layer
 * scale, an extra head): refused, naming it. OpenAI's release is known. */
static int check_unused(struct ckpt *c)
{
    size_t pl = strlen(c->prefix);
    for (size_t k = 0; k < c->ntensors && c->family != OPENAI_JIT; k++) {
        const char *name = c->tensors[k].name;
        if (!c->used[k] && !strncmp(name, c->prefix, pl) && !ignorable(name + pl))
            return error(c->err, "%s: tensor %s is not part of a CLIP ViT as this converter knows it: refusing to "
                         "convert without it", c->path, name);
    }
    return 0;
}

/* SigLIP's tokenizer tables, from c->spm, at their offsets. */
static int write_tables(struct ckpt *c, const struct weights_spec *specs, size_t n, const uint64_t *offsets, int fd,
                        const char *out)
{
    const struct spm_tables *t = &c->spm.t;
    for (size_t k = 0; k < n; k++) {
        if (!specs[k].table)
            continue;
        const void *src = !strcmp(specs[k].name, "tokenizer.merges") ? (const void *)t->merges
                        : !strcmp(specs[k].name, "tokenizer.chars")  ? (const void *)t->chars
                        : !strcmp(specs[k].name, "tokenizer.bytes")  ? (const void *)t->bytes
                        : !strcmp(specs[k].name, "tokenizer.added")  ? (const void *)t->added
                                                                     : (const void *)t->strings;
        /* the tables are int32 in this machine's order: the file's is little-endian */
        size_t bytes = weights_spec_numel(&specs[k]) * weights_dtype_size(specs[k].dtype);
        if (specs[k].dtype == WEIGHTS_I32) {
            unsigned char *le = malloc(bytes ? bytes : 1);
            if (!le)
                return error(c->err, "out of memory");
            for (size_t i = 0; i < bytes / 4; i++)
                store_u32(le + 4 * i, (uint32_t)((const int32_t *)src)[i]);
            int rc = write_at(fd, le, bytes, offsets[k], out, c->err);
            free(le);
            if (rc < 0)
                return -1;
        } else if (write_at(fd, src, bytes, offsets[k], out, c->err) < 0)
            return -1;
    }
    return 0;
}

/* Plans every tensor of the model, then converts storage by storage into fd:
 * the header and directory at 0, each tensor at its offset, zeros between. */
static int write_weights(struct ckpt *c, const struct weights_config *cfg, int fd, const char *out,
                         struct convert_info *info)
{
    size_t n, head_len, biggest = 0, nparts = 0, nstorages = 0;
    struct weights_spec *specs = weights_specs(cfg, NULL, &n);
    uint64_t *offsets = NULL, end = 0;
    unsigned char *head = NULL;
    float *data = NULL;
    struct part *parts = NULL;
    struct storage *storages = NULL;
    int rc = -1;
    for (size_t k = 0; specs && k < n; k++)
        if (weights_spec_numel(&specs[k]) > biggest)
            biggest = weights_spec_numel(&specs[k]);
    if (!specs || !(data = malloc(biggest * sizeof *data)) || !(parts = calloc(3 * n, sizeof *parts)) ||
        !(c->used = calloc(c->ntensors ? c->ntensors : 1, 1))) {
        error(c->err, "out of memory");
        goto done;
    }
    if (plan_parts(c, specs, n, parts, &nparts) < 0 || check_unused(c) < 0)
        goto done;
    if (weights_layout(cfg, specs, n, &head, &head_len, &offsets) < 0) {
        error(c->err, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < nparts; k++) {
        size_t s = (size_t)(parts[k].spec - specs), es = weights_dtype_size(specs[s].dtype);
        parts[k].out = offsets[s] + parts[k].first * es;
    }
    for (size_t k = 0; k < n; k++)
        if (offsets[k] + weights_spec_numel(&specs[k]) * weights_dtype_size(specs[k].dtype) > end)
            end = offsets[k] + weights_spec_numel(&specs[k]) * weights_dtype_size(specs[k].dtype);
    qsort(parts, nparts, sizeof *parts, by_storage);
    if (!(storages = group_storages(c, parts, nparts, &nstorages)))
        goto done;
    if (ftruncate(fd, (off_t)end) < 0) {
        error(c->err, "%s: write failed: %s", out, strerror(errno));
        goto done;
    }
    if (write_at(fd, head, head_len, 0, out, c->err) < 0)
        goto done;
    for (size_t k = 0; k < nstorages; k++)
        if (convert_storage(c, &storages[k], data, fd, out, info) < 0)
            goto done;
    if (write_tables(c, specs, n, offsets, fd, out) < 0)
        goto done;
    rc = 0;
done:
    free(specs);
    free(offsets);
    free(head);
    free(data);
    free(parts);
    free(storages);
    return rc;
}

/* Writes the weights to a temporary file beside out, renamed into place when complete. */
static int write_output(struct ckpt *c, const char *out, struct convert_info *info)
{
    char *tmp = malloc(strlen(out) + 16);
    int fd = -1, rc = -1;
    if (!tmp)
        return error(c->err, "out of memory");
    sprintf(tmp, "%s.tmp.XXXXXX", out);
    if ((fd = mkstemp(tmp)) < 0) {
        error(c->err, "%s: cannot create: %s", out, strerror(errno));
        free(tmp);
        return -1;
    }
    fchmod(fd, 0644);
    if (write_weights(c, &info->cfg, fd, out, info) < 0)
        goto done;
    if (fsync(fd) != 0) {
        error(c->err, "%s: write failed: %s", out, strerror(errno));
        goto done;
    }
    int closed = close(fd);
    fd = -1;
    if (closed != 0 || rename(tmp, out) != 0) {
        error(c->err, "%s: cannot write: %s", out, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

int convert_model(const char *in, const char *out, const struct convert_opts *opts, struct convert_info *info,
                  char *err)
{
    struct ckpt c = {.fd = -1, .dtype = opts->dtype, .err = err};
    memset(info, 0, sizeof *info);
    int rc = -1;
    if (choose_input(&c, in, info) < 0 || open_input(&c) < 0 || check_output(&c, out) < 0 ||
        read_directory(&c, info) < 0 || detect_family(&c, info) < 0 || configure(&c, opts, info) < 0)
        goto done;
    const struct weights_config *cfg = &info->cfg;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        if (cfg->vision_width == shapes[k].vw && cfg->vision_layers == shapes[k].vl &&
            cfg->vision_patch == shapes[k].p && cfg->vision_patch * cfg->vision_grid == shapes[k].res &&
            cfg->text_width == shapes[k].tw && cfg->text_layers == shapes[k].tl && cfg->embed_dim == shapes[k].e)
            info->shape = shapes[k].name;
    if (write_output(&c, out, info) < 0)
        goto done;
    if (c.family == OPENAI_JIT)
        info->release = release_of(c.fd);
    rc = 0;
done:
    if (c.zip)
        zip.zip_discard(c.zip);
    if (c.fd >= 0)
        close(c.fd);
    pickle_close(c.pickle);
    safetensors_close(c.sf);
    free(c.own);
    free(c.used);
    spm_build_free(&c.spm);
    return rc;
}

int convert_checkpoint(const char *in, const char *out, enum weights_activation act, int dtype,
                       struct convert_info *info, char *err)
{
    struct convert_opts o = {.activation = (int)act, .dtype = dtype, .heads_of_64 = 1};
    return convert_model(in, out, &o, info, err);
}
