/* textenc + vit against PyTorch: each fixture checkpoint is converted, and
 * its text and image vectors must equal the reference outputs that
 * tests/make_fixtures.py recorded (relative error per vector <= 1e-5). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "convert.h"
#include "image.h"
#include "ref.h"
#include "textenc.h"
#include "vit.h"
#include "weights.h"

/* Resident bytes of the mapping that contains addr, from /proc/self/smaps. */
static long resident(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    int inside = 0;
    long kb = -1;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            inside = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
        else if (inside && sscanf(line, "Rss: %ld kB", &kb) == 1)
            break;
    }
    if (f)
        fclose(f);
    return kb * 1024;
}

/* Compares the vectors of weights file `path` with reference file refpath. */
static void test_weights(const char *ckpt, const char *path, const char *refpath)
{
    char err[ERR_LEN] = "";
    struct ref *r = malloc(sizeof *r);
    CHECK(read_ref(refpath, r) == 0, "cannot read %s", refpath);
    struct weights *w = weights_open(path, err);
    CHECK(w != NULL, "open %s: %s", path, err);
    if (!w) {
        free_ref(r);
        return free(r);
    }
    int E = (int)w->cfg.embed_dim;
    float vec[REF_ITEMS * 1024];

    /* all texts in one padded batch, then each alone: both must match */
    struct textenc *te = textenc_open(w, 4, 2, err);
    CHECK(te != NULL, "textenc_open: %s", err);
    const int32_t *ids[REF_ITEMS];
    for (int i = 0; i < r->ntexts; i++)
        ids[i] = r->ids[i];
    CHECK(textenc_encode(te, ids, r->lens, r->ntexts, vec, err) == 0, "encode: %s", err);
    for (int i = 0; i < r->ntexts; i++) {
        double e = rel_err(vec + i * E, r->text_out[i], E);
        CHECK(e <= 1e-5, "%s text %d (%d tokens, batched): relative error %.3g", ckpt, i, r->lens[i], e);
        textenc_encode(te, ids + i, r->lens + i, 1, vec, err);
        e = rel_err(vec, r->text_out[i], E);
        CHECK(e <= 1e-5, "%s text %d (alone): relative error %.3g", ckpt, i, e);
    }
    /* many rounds: the texts over and over, more than the lanes hold at once,
     * in an order that leaves some lanes short of room for the next text */
    enum { COPIES = 12 };
    const int32_t *many_ids[COPIES * REF_ITEMS];
    int many_lens[COPIES * REF_ITEMS], many = 0;
    for (int c = 0; c < COPIES; c++)
        for (int i = 0; i < r->ntexts; i++, many++) {
            int k = (i + c) % r->ntexts;
            many_ids[many] = r->ids[k];
            many_lens[many] = r->lens[k];
        }
    float *many_vec = malloc((size_t)many * E * sizeof *many_vec);
    CHECK(textenc_encode(te, many_ids, many_lens, many, many_vec, err) == 0, "encode many: %s", err);
    double worst = 0;
    for (int m = 0; m < many; m++) {
        int k = (m % r->ntexts + m / r->ntexts) % r->ntexts;
        double e = rel_err(many_vec + (size_t)m * E, r->text_out[k], E);
        worst = e > worst ? e : worst;
    }
    CHECK(worst <= 1e-5, "%s %d texts in rounds: worst relative error %.3g", ckpt, many, worst);
    free(many_vec);
    /* text alone maps in none of the image tower: the mapping's resident
     * pages all lie before the first visual tensor */
    long text_bytes = (long)((const char *)w->conv1_weight.data - (const char *)w->map), rss = resident(w->map);
    CHECK(rss >= 0 && rss <= text_bytes, "after text only, %ld bytes of the weights are resident, the text tower has %ld",
          rss, text_bytes);
    int32_t bad[2] = {0, (int32_t)w->cfg.vocab_size};
    int badlen = 2;
    const int32_t *badp = bad;
    CHECK(textenc_encode(te, &badp, &badlen, 1, vec, err) < 0 && strstr(err, "vocabulary"), "bad id accepted");
    textenc_close(te);

    struct vit *v = vit_open(w, 2, 2, err);
    CHECK(v != NULL, "vit_open: %s", err);
    size_t R = w->cfg.vision_grid * w->cfg.vision_patch, img = 3 * R * R;
    float *pixels = malloc(r->nimages * img * sizeof(float));
    for (int i = 0; i < r->nimages; i++)
        memcpy(pixels + i * img, r->pixels[i], img * sizeof(float));
    vit_encode(v, pixels, r->nimages, vec);
    for (int i = 0; i < r->nimages; i++) {
        double e = rel_err(vec + i * E, r->image_out[i], E);
        CHECK(e <= 1e-5, "%s image %d: relative error %.3g", ckpt, i, e);
    }
    free(pixels);
    /* photos through the published preprocess, decoded as Pillow does;
     * the vectors' bar is a cosine, as for any photo */
    float *px = malloc(img * sizeof *px);
    for (int i = 0; i < r->nphotos; i++) {
        FILE *f = fopen(r->photos[i], "rb");
        static unsigned char buf[1 << 24];
        size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f)
            fclose(f);
        struct image_opts o = {.resolution = (int)R, .max_pixels = IMAGE_MAX_PIXELS};
        CHECK(len && image_preprocess(buf, len, &o, px, err) == 0, "%s: %s", r->photos[i], err);
        vit_encode(v, px, 1, vec);
        double dot = 0, na = 0, nb = 0;
        for (int k = 0; k < E; k++)
            dot += (double)vec[k] * r->photo_out[i][k], na += (double)vec[k] * vec[k],
                nb += (double)r->photo_out[i][k] * r->photo_out[i][k];
        double cos = dot / sqrt(na * nb);
        CHECK(cos >= 0.99999, "%s: cosine %.8f with PyTorch + Pillow", r->photos[i], cos);
        printf("%s: cosine %.8f with PyTorch + Pillow\n", r->photos[i], cos);
    }
    free(px);
    vit_close(v);
    weights_close(w);
    free_ref(r);
    free(r);
}

static void test_model(const char *dir, const char *ckpt, const char *refname, enum weights_activation act)
{
    char in[512], refpath[512], out[] = "/tmp/clippie-model-XXXXXX", err[ERR_LEN] = "";
    snprintf(in, sizeof in, "%s/%s", dir, ckpt);
    snprintf(refpath, sizeof refpath, "%s/%s", dir, refname);
    int fd = mkstemp(out);
    close(fd);
    struct convert_info info;
    CHECK(convert_checkpoint(in, out, act, -1, &info, err) == 0, "convert %s: %s", ckpt, err);
    test_weights(ckpt, out, refpath);
    unlink(out);
}

/* Text and image vectors of a weights file: 1 text (the few-rows kernel),
 * 24 texts (the BLAS), 2 images, into out (room for 27 vectors). */
static void vectors(const char *path, float *out)
{
    char err[ERR_LEN] = "";
    struct weights *w = weights_open(path, err);
    CHECK(w != NULL, "open %s: %s", path, err);
    if (!w)
        return;
    int E = (int)w->cfg.embed_dim, R = (int)(w->cfg.vision_grid * w->cfg.vision_patch), lens[24];
    int V = (int)w->cfg.vocab_size; /* the fixtures' last two ids are their start and end */
    int32_t ids[24][8];
    const int32_t *pids[24];
    for (int i = 0; i < 24; i++) {
        lens[i] = 2 + i % 6;
        for (int k = 0; k < lens[i]; k++)
            ids[i][k] = k == 0 ? V - 2 : k == lens[i] - 1 ? V - 1 : (7 * i + k) % (V - 2);
        pids[i] = ids[i];
    }
    struct textenc *te = textenc_open(w, 24, 2, err);
    CHECK(te && textenc_encode(te, pids, lens, 1, out, err) == 0 && textenc_encode(te, pids, lens, 24, out + E, err) == 0,
          "encode texts with %s: %s", path, err);
    textenc_close(te);
    float *px = malloc(2 * 3 * (size_t)R * R * sizeof *px);
    for (size_t i = 0; i < 2 * 3 * (size_t)R * R; i++)
        px[i] = (float)((i * 2654435761u) % 1000) / 500 - 1;
    struct vit *v = vit_open(w, 2, 2, err);
    CHECK(v != NULL, "vit_open: %s", err);
    if (v)
        vit_encode(v, px, 2, out + 25 * (size_t)E);
    vit_close(v);
    free(px);
    weights_close(w);
}

/* A checkpoint converted twice, keeping its precision (dtype -1) and as
 * float32 (or as another checkpoint of the same values): the same vectors,
 * bit for bit, and the half-precision file the smaller. */
static void test_same_vectors(const char *dir, const char *a, int da, const char *b, int db, enum weights_activation act)
{
    char in[2][512], out[2][32] = {"/tmp/clippie-same-XXXXXX", "/tmp/clippie-same-XXXXXX"}, err[ERR_LEN] = "";
    const char *ck[2] = {a, b};
    int dt[2] = {da, db};
    float *vec[2] = {calloc(27 * 1024, sizeof(float)), calloc(27 * 1024, sizeof(float))};
    struct stat st[2];
    struct convert_info info;
    for (int k = 0; k < 2; k++) {
        snprintf(in[k], sizeof in[k], "%s/%s", dir, ck[k]);
        close(mkstemp(out[k]));
        CHECK(convert_checkpoint(in[k], out[k], act, dt[k], &info, err) == 0, "convert %s: %s", ck[k], err);
        vectors(out[k], vec[k]);
        stat(out[k], &st[k]);
        unlink(out[k]);
    }
    CHECK(!memcmp(vec[0], vec[1], 27 * 1024 * sizeof(float)), "%s (dtype %d) and %s (dtype %d) give other vectors", a,
          da, b, db);
    CHECK(st[0].st_size < st[1].st_size * 3 / 4, "%s in half precision is %lld bytes, %s in float32 %lld", a,
          (long long)st[0].st_size, b, (long long)st[1].st_size);
    free(vec[0]);
    free(vec[1]);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--ref")) { /* a weights file made elsewhere, e.g. full-size in CI */
        test_weights(argv[2], argv[2], argv[3]);
        return check_done("test_model");
    }
    const char *dir = argc > 1 ? argv[1] : "tests/fixtures";
    test_model(dir, "tiny.jit.pt", "tiny.ref", WEIGHTS_QUICK_GELU);
    test_model(dir, "tiny.sd.pt", "tiny.ref", WEIGHTS_QUICK_GELU);
    test_model(dir, "odd.bf16.pt", "odd.ref", WEIGHTS_GELU);
    test_same_vectors(dir, "tiny.jit.pt", -1, "tiny.jit.pt", WEIGHTS_F32, WEIGHTS_QUICK_GELU);
    test_same_vectors(dir, "tiny.jit.pt", -1, "tiny.sd.pt", WEIGHTS_F32, WEIGHTS_QUICK_GELU);
    test_same_vectors(dir, "odd.bf16.pt", -1, "odd.bf16.pt", WEIGHTS_F32, WEIGHTS_GELU);
    return check_done("test_model");
}
