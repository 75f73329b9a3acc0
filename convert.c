#include "convert.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

#include "pickle.h"

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

struct ckpt {
    const char *path;
    int fd;          /* the checkpoint, open */
    struct stat st;  /* its fstat */
    zip_t *zip;
    char top[256];   /* the archive's top folder */
    struct pickle *pickle;
    char prefix[256];   /* before "visual.conv1.weight" in every name, e.g. "module." */
    int have_prefix;
    int dtype;       /* what the large matrices are stored as: enum weights_dtype, or -1 as they are */
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
    if (zip_stat_index(c->zip, (zip_uint64_t)idx, 0, &st) < 0 || !(st.valid & ZIP_STAT_SIZE) ||
        !(st.valid & ZIP_STAT_COMP_SIZE)) {
        error(c->err, "%s: cannot read entry %s: %s", c->path, name, zip_strerror(c->zip));
        return NULL;
    }
    /* deflate expands at most 1032:1; a stored entry not at all */
    if (st.comp_size > (uint64_t)c->st.st_size || st.size > limit || st.size / 1032 > st.comp_size + 1) {
        error(c->err, "%s: entry %s claims %llu bytes, more than the archive can hold", c->path, name,
              (unsigned long long)st.size);
        return NULL;
    }
    unsigned char *buf = malloc(st.size ? st.size : 1);
    zip_file_t *f = zip_fopen_index(c->zip, (zip_uint64_t)idx, 0);
    if (!buf || !f) {
        error(c->err, "%s: cannot open entry %s: %s", c->path, name, buf ? zip_strerror(c->zip) : "out of memory");
        goto fail;
    }
    zip_int64_t got = zip_fread(f, buf, st.size);
    if (got < 0 || (zip_uint64_t)got != st.size) {
        error(c->err, "%s: entry %s is truncated or corrupt: %s", c->path, name, zip_file_strerror(f));
        goto fail;
    }
    zip_fclose(f);
    f = NULL;
    if ((st.valid & ZIP_STAT_CRC) && crc32_z(0, buf, st.size) != st.crc) {
        error(c->err, "%s: entry %s fails its CRC-32 check: the archive is corrupted", c->path, name);
        goto fail;
    }
    *len = st.size;
    return buf;
fail:
    if (f)
        zip_fclose(f);
    free(buf);
    return NULL;
}

static const char *kind_of(mode_t mode)
{
    return S_ISDIR(mode) ? "a directory" : S_ISFIFO(mode) ? "a fifo" : S_ISSOCK(mode) ? "a socket" : "a device";
}

/* Opens the checkpoint without blocking (a fifo would wait for a writer)
 * and refuses anything but a non-empty regular file. */
static int open_input(struct ckpt *c)
{
    if ((c->fd = open(c->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0 || fstat(c->fd, &c->st) < 0)
        return error(c->err, "%s: %s", c->path, strerror(errno));
    if (!S_ISREG(c->st.st_mode))
        return error(c->err, "%s: %s, not a regular file", c->path, kind_of(c->st.st_mode));
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
                     kind_of(st.st_mode));
    if (st.st_dev == c->st.st_dev && st.st_ino == c->st.st_ino)
        return error(c->err, "%s: is the checkpoint being converted: refusing to replace it", out);
    return 0;
}

/* Opens the zip archive and finds <top>/data.pkl in its one top folder,
 * whatever that is called; *pkl gets its index. */
static int open_archive(struct ckpt *c, zip_int64_t *pkl)
{
    int ze, fd = dup(c->fd);
    if (fd < 0)
        return error(c->err, "%s: %s", c->path, strerror(errno));
    if (!(c->zip = zip_fdopen(fd, ZIP_RDONLY, &ze))) {
        close(fd);
        if (ze == ZIP_ER_NOZIP)
            return error(c->err, "%s: not a zip archive, so not a PyTorch checkpoint", c->path);
        zip_error_t e;
        zip_error_init_with_code(&e, ze);
        error(c->err, "%s: broken zip archive: %s", c->path, zip_error_strerror(&e));
        zip_error_fini(&e);
        return -1;
    }
    /* PyTorch's reader takes the last of two entries of one name, libzip
     * the first: a real checkpoint has no such pair */
    zip_int64_t n = zip_get_num_entries(c->zip, 0);
    for (zip_int64_t k = 0; k < n; k++) {
        const char *name = zip_get_name(c->zip, (zip_uint64_t)k, 0);
        if (name && zip_name_locate(c->zip, name, 0) != k)
            return error(c->err, "%s: archive holds two entries named %s", c->path, name);
    }
    for (zip_int64_t k = 0; k < n; k++) {
        const char *name = zip_get_name(c->zip, (zip_uint64_t)k, 0);
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

/* Reads data.pkl's tensor directory and the prefix training checkpoints
 * put before the model's names ("state_dict.module.visual..."). */
static int read_pickle(struct ckpt *c, zip_int64_t idx)
{
    size_t len;
    unsigned char *pkl = read_entry(c, idx, "data.pkl", MAX_PICKLE, &len);
    if (!pkl)
        return -1;
    char why[ERR_LEN];
    c->pickle = pickle_open(pkl, len, why);
    free(pkl);
    if (!c->pickle)
        return error(c->err, "%s: data.pkl: %s", c->path, why);
    const char *anchor = "visual.conv1.weight";
    for (size_t k = 0; k < c->pickle->ntensors && !c->have_prefix; k++) {
        const char *name = c->pickle->tensors[k].name;
        size_t nl = strlen(name), al = strlen(anchor);
        if (nl >= al && nl - al < sizeof c->prefix && !strcmp(name + nl - al, anchor) &&
            (nl == al || name[nl - al - 1] == '.')) {
            memcpy(c->prefix, name, nl - al);
            c->prefix[nl - al] = 0;
            c->have_prefix = 1;
        }
    }
    if (!c->have_prefix)
        return error(c->err, "%s: missing tensor visual.conv1.weight: not a CLIP ViT checkpoint", c->path);
    return 0;
}

static const struct pickle_tensor *find(struct ckpt *c, const char *name)
{
    char full[512];
    snprintf(full, sizeof full, "%s%s", c->prefix, name);
    return pickle_find(c->pickle, full);
}

static const struct pickle_tensor *need(struct ckpt *c, const char *name, int ndim)
{
    const struct pickle_tensor *t = find(c, name);
    if (!t)
        error(c->err, "%s: missing tensor %s", c->path, name);
    else if (t->ndim != ndim) {
        error(c->err, "%s: tensor %s has %d dimensions, expected %d", c->path, name, t->ndim, ndim);
        t = NULL;
    }
    return t;
}

static uint32_t count_layers(struct ckpt *c, const char *tower)
{
    char prefix[300];
    size_t pl = (size_t)snprintf(prefix, sizeof prefix, "%s%sresblocks.", c->prefix, tower);
    uint64_t layers = 0;
    for (size_t k = 0; k < c->pickle->ntensors; k++) {
        const char *name = c->pickle->tensors[k].name;
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

static int infer_config(struct ckpt *c, enum weights_activation act, struct weights_config *cfg)
{
    const struct pickle_tensor *conv = need(c, "visual.conv1.weight", 4),
                               *vpos = need(c, "visual.positional_embedding", 2),
                               *proj = need(c, "text_projection", 2), *pos = need(c, "positional_embedding", 2),
                               *tok = need(c, "token_embedding.weight", 2), *lnf = need(c, "ln_final.weight", 1);
    if (!conv || !vpos || !proj || !pos || !tok || !lnf)
        return -1;
    uint64_t cells = vpos->size[0] ? vpos->size[0] - 1 : 0, grid = 0;
    while ((grid + 1) * (grid + 1) <= cells && grid < 65536)
        grid++;
    if (grid * grid != cells || !grid)
        return error(c->err, "%s: visual.positional_embedding has %llu rows, not a square grid plus one", c->path,
                     (unsigned long long)vpos->size[0]);
    *cfg = (struct weights_config){
        .activation = act,
        .embed_dim = dim(proj, 1),
        .vision_width = dim(conv, 0),
        .vision_layers = count_layers(c, "visual.transformer."),
        .vision_patch = dim(conv, 3),
        .vision_grid = (uint32_t)grid,
        .context_length = dim(pos, 0),
        .vocab_size = dim(tok, 0),
        .text_width = dim(lnf, 0),
        .text_layers = count_layers(c, "transformer."),
    };
    weights_config_openai(cfg);
    char why[ERR_LEN];
    if (weights_config_check(cfg, why) < 0)
        return error(c->err, "%s: unsupported model: %s", c->path, why);
    return 0;
}

static int dtype_of(const char *storage, enum dtype *d, size_t *size)
{
    if (!strcmp(storage, "FloatStorage"))
        *d = F32, *size = 4;
    else if (!strcmp(storage, "HalfStorage"))
        *d = F16, *size = 2;
    else if (!strcmp(storage, "BFloat16Storage"))
        *d = BF16, *size = 2;
    else
        return -1;
    return 0;
}

static float to_float(const unsigned char *p, enum dtype d)
{
    uint32_t bits;
    float f;
    switch (d) {
    case F16:
        return util_half_to_float(load_u16(p));
    case BF16:
        bits = (uint32_t)load_u16(p) << 16;
        break;
    default:
        bits = load_u32(p);
    }
    memcpy(&f, &bits, sizeof f);
    return f;
}

static int write_at(int fd, const void *p, size_t n, uint64_t at, const char *path, char *err)
{
    for (size_t done = 0; done < n;) {
        ssize_t w = pwrite(fd, (const char *)p + done, n - done, (off_t)(at + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return error(err, "%s: write failed: %s", path, w < 0 ? strerror(errno) : "no space written");
        done += (size_t)w;
    }
    return 0;
}

/* One tensor of the model as the checkpoint holds it. */
struct part {
    const struct weights_spec *spec;
    const struct pickle_tensor *t;
    enum dtype dt;
    size_t es;     /* bytes per element of its storage */
    uint64_t need; /* bytes of its storage up to its view's last element */
    uint64_t out;  /* where its float32 data starts in the output */
};

/* Checks the checkpoint's tensor for spec s: shape, dtype, and a view that
 * lies inside its storage. */
static int plan_part(struct ckpt *c, const struct weights_spec *s, struct part *p)
{
    const struct pickle_tensor *t = find(c, s->name);
    if (!t)
        return error(c->err, "%s: missing tensor %s", c->path, s->name);
    int same = (uint32_t)t->ndim == s->ndim;
    for (uint32_t d = 0; same && d < s->ndim; d++)
        same = t->size[d] == s->shape[d];
    if (!same) {
        char got[WEIGHTS_SHAPE_LEN], want[WEIGHTS_SHAPE_LEN];
        uint64_t shape[4] = {s->shape[0], s->shape[1], s->shape[2], s->shape[3]};
        return error(c->err, "%s: tensor %s has shape %s, expected %s", c->path, s->name,
                     weights_shape_str(got, t->ndim, t->size), weights_shape_str(want, (int)s->ndim, shape));
    }
    if (dtype_of(t->storage_type, &p->dt, &p->es) < 0)
        return error(c->err, "%s: unsupported storage torch.%s (tensor %s)", c->path, t->storage_type, s->name);
    /* the last element the view reaches must lie inside its storage */
    uint64_t last = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t step;
        if (__builtin_mul_overflow(t->size[d] - 1, t->stride[d], &step) || __builtin_add_overflow(last, step, &last))
            return error(c->err, "%s: tensor %s: view overflows", c->path, s->name);
    }
    if (last >= t->storage_numel)
        return error(c->err, "%s: tensor %s reaches element %llu of a storage of %llu", c->path, s->name,
                     (unsigned long long)last, (unsigned long long)t->storage_numel);
    if (__builtin_mul_overflow(last + 1, p->es, &p->need))
        return error(c->err, "%s: tensor %s: view overflows", c->path, s->name);
    p->spec = s;
    p->t = t;
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
    else {
        uint32_t bits = (uint32_t)(((uint16_t *)out)[k] = util_float_to_bf16(v)) << 16;
        memcpy(&back, &bits, sizeof back);
    }
    return v != 0 && isfinite(v) ? fabs(((double)back - v) / v) : 0;
}

/* Copies p's elements, in row-major order of its shape, from its storage
 * (buf, at least p->need bytes) into out as its spec's dtype; returns the
 * largest relative rounding error that made. */
static double copy_part(const struct part *p, const unsigned char *buf, void *out)
{
    const struct pickle_tensor *t = p->t;
    /* walk the view's indices odometer-style */
    uint64_t idxs[PICKLE_MAX_DIMS] = {0}, pos = t->offset;
    size_t n = weights_spec_numel(p->spec);
    double worst = 0;
    for (size_t k = 0; k < n; k++) {
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
    int r = strcmp(p->t->storage_key, q->t->storage_key);
    return r ? r : (p->spec > q->spec) - (p->spec < q->spec);
}

/* The parts that view one storage (parts sorted by storage): that storage's
 * entry, its size, and the bytes they use of it. */
struct storage {
    struct part *parts;
    size_t n;
    char entry[600];
    zip_int64_t idx;
    uint64_t size, need;
};

static int stat_storage(struct ckpt *c, struct storage *s)
{
    const struct part *first = &s->parts[0];
    snprintf(s->entry, sizeof s->entry, "%s/data/%s", c->top, first->t->storage_key);
    if ((s->idx = zip_name_locate(c->zip, s->entry, 0)) < 0)
        return error(c->err, "%s: storage %s of tensor %s is missing from the archive", c->path, s->entry,
                     first->spec->name);
    zip_stat_t st;
    if (zip_stat_index(c->zip, (zip_uint64_t)s->idx, 0, &st) < 0 || !(st.valid & ZIP_STAT_SIZE))
        return error(c->err, "%s: cannot read entry %s: %s", c->path, s->entry, zip_strerror(c->zip));
    s->size = st.size;
    const struct part *widest = first;
    for (size_t k = 0; k < s->n; k++) {
        if (s->parts[k].dt != first->dt)
            return error(c->err, "%s: storage %s is read as both torch.%s and torch.%s", c->path, s->entry,
                         first->t->storage_type, s->parts[k].t->storage_type);
        if (s->parts[k].need > widest->need)
            widest = &s->parts[k];
    }
    s->need = widest->need;
    if (s->size < s->need)
        return error(c->err, "%s: storage %s holds %llu bytes, tensor %s needs %llu", c->path, s->entry,
                     (unsigned long long)s->size, widest->spec->name, (unsigned long long)s->need);
    return 0;
}

/* Inflates one storage, once, and writes the float32 data of every part
 * that views it to its place in the output. */
static int convert_storage(struct ckpt *c, const struct storage *s, void *data, int fd, const char *out,
                           struct convert_info *info)
{
    size_t len;
    unsigned char *buf = read_entry(c, s->idx, s->entry, s->size, &len);
    if (!buf)
        return -1;
    int rc = 0;
    for (size_t k = 0; k < s->n && rc == 0; k++) {
        const struct part *p = &s->parts[k];
        size_t n = weights_spec_numel(p->spec);
        double e = copy_part(p, buf, data);
        rc = write_at(fd, data, n * weights_dtype_size(p->spec->dtype), p->out, out, c->err);
        info->tensors[p->dt]++;
        info->stored[p->spec->dtype]++;
        info->max_rounding = e > info->max_rounding ? e : info->max_rounding;
        info->params += n;
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
        if (k == 0 || strcmp(parts[k - 1].t->storage_key, parts[k].t->storage_key))
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

/* Plans every tensor of the model, then converts storage by storage into fd:
 * the header and directory at 0, each tensor at its offset, zeros between. */
static int write_weights(struct ckpt *c, const struct weights_config *cfg, int fd, const char *out,
                         struct convert_info *info)
{
    size_t n, head_len, biggest = 0, nstorages = 0;
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
    if (!specs || !(data = malloc(biggest * sizeof *data)) || !(parts = calloc(n, sizeof *parts))) {
        error(c->err, "out of memory");
        goto done;
    }
    /* the large matrices keep the checkpoint's precision unless told
     * otherwise; the rest (biases, LayerNorms, embeddings) is float32 */
    for (size_t k = 0; k < n; k++) {
        if (plan_part(c, &specs[k], &parts[k]) < 0)
            goto done;
        if (specs[k].halves)
            specs[k].dtype = c->dtype >= 0 ? (uint32_t)c->dtype : (uint32_t)parts[k].dt;
    }
    if (weights_layout(cfg, specs, n, &head, &head_len, &offsets) < 0) {
        error(c->err, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < n; k++) {
        parts[k].out = offsets[k];
        end = offsets[k] + weights_spec_numel(&specs[k]) * weights_dtype_size(specs[k].dtype);
    }
    qsort(parts, n, sizeof *parts, by_storage);
    if (!(storages = group_storages(c, parts, n, &nstorages)))
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

int convert_checkpoint(const char *in, const char *out, enum weights_activation act, int dtype,
                       struct convert_info *info, char *err)
{
    struct ckpt c = {.path = in, .fd = -1, .dtype = dtype, .err = err};
    zip_int64_t pkl = -1;
    memset(info, 0, sizeof *info);
    char *tmp = NULL;
    int fd = -1, rc = -1;
    if (open_input(&c) < 0 || check_output(&c, out) < 0 || open_archive(&c, &pkl) < 0 || read_pickle(&c, pkl) < 0 ||
        infer_config(&c, act, &info->cfg) < 0)
        goto done;
    const struct weights_config *cfg = &info->cfg;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        if (cfg->vision_width == shapes[k].vw && cfg->vision_layers == shapes[k].vl &&
            cfg->vision_patch == shapes[k].p && cfg->vision_patch * cfg->vision_grid == shapes[k].res &&
            cfg->text_width == shapes[k].tw && cfg->text_layers == shapes[k].tl && cfg->embed_dim == shapes[k].e)
            info->shape = shapes[k].name;
    if (!(tmp = malloc(strlen(out) + 16))) {
        error(err, "out of memory");
        goto done;
    }
    sprintf(tmp, "%s.tmp.XXXXXX", out);
    if ((fd = mkstemp(tmp)) < 0) {
        error(err, "%s: cannot create: %s", out, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto done;
    }
    fchmod(fd, 0644);
    if (write_weights(&c, cfg, fd, out, info) < 0)
        goto done;
    if (fsync(fd) != 0) {
        error(err, "%s: write failed: %s", out, strerror(errno));
        goto done;
    }
    int closed = close(fd);
    fd = -1;
    if (closed != 0 || rename(tmp, out) != 0) {
        error(err, "%s: cannot write: %s", out, strerror(errno));
        goto done;
    }
    free(tmp);
    tmp = NULL;
    info->release = release_of(c.fd);
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    if (c.zip)
        zip_discard(c.zip);
    if (c.fd >= 0)
        close(c.fd);
    pickle_close(c.pickle);
    return rc;
}
