/* convert + weights: every fixture checkpoint converts to a file that loads
 * with the right config, views and dtypes are honoured, and bad checkpoints
 * and damaged weights files are refused with a message naming the problem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "convert.h"
#include "pickle.h"
#include "weights.h"

static const char *dir;

/* folder/name in one of a few rotating buffers, so that calls can nest */
static const char *join(const char *folder, const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", folder, name);
    return buf[k];
}

static const char *fixture(const char *name) { return join(dir, name); }

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int only_file_left(void)
{
    /* after a failed convert the scratch folder must hold no temporary file */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A %s | grep -q tmp", scratch_dir());
    return system(cmd) != 0;
}

static void convert_ok(const char *in, const char *out, enum weights_activation act, struct weights_config *cfg)
{
    char err[ERR_LEN] = "";
    struct convert_info info;
    int rc = convert_checkpoint(fixture(in), scratch(out), act, -1, &info, err);
    CHECK(rc == 0, "convert %s: %s", in, err);
    *cfg = info.cfg;
}

static void test_tiny(void)
{
    struct weights_config c;
    convert_ok("tiny.jit.pt", "tiny.jit.weights", WEIGHTS_QUICK_GELU, &c);
    CHECK(c.vision_width == 64 && c.vision_layers == 2 && c.vision_patch == 8 && c.vision_grid == 4 &&
              c.text_width == 64 && c.text_layers == 2 && c.context_length == 16 && c.vocab_size == 512 &&
              c.embed_dim == 32,
          "tiny config inferred wrongly");
    convert_ok("tiny.sd.pt", "tiny.sd.weights", WEIGHTS_QUICK_GELU, &c);

    /* the TorchScript float16 archive and the float32 state_dict with views
     * hold the same values, so they must convert to the same bytes */
    char err[ERR_LEN] = "";
    struct weights *a = weights_open(scratch("tiny.jit.weights"), err);
    CHECK(a != NULL, "open: %s", err);
    struct weights *b = weights_open(scratch("tiny.sd.weights"), err);
    CHECK(b != NULL, "open: %s", err);
    if (a && b) {
        CHECK(a->size == b->size && !memcmp(a->map, b->map, a->size), "jit and state_dict conversions differ");
        CHECK(*a->logit_scale > 4.6f && *a->logit_scale < 4.61f, "logit_scale %g", *a->logit_scale);
    }
    weights_close(a);
    weights_close(b);
}

static void test_odd(void)
{
    struct weights_config c;
    convert_ok("odd.bf16.pt", "odd.weights", WEIGHTS_GELU, &c);
    CHECK(c.vision_width == 128 && c.vision_patch == 7 && c.vision_grid == 3 && c.embed_dim == 48 &&
              c.activation == WEIGHTS_GELU,
          "odd config inferred wrongly");
}

static void convert_fails(const char *in, const char *want)
{
    char err[ERR_LEN] = "";
    struct convert_info info;
    const char *out = scratch("bad.weights");
    int rc = convert_checkpoint(in, out, WEIGHTS_QUICK_GELU, -1, &info, err);
    CHECK(rc < 0, "convert %s succeeded", in);
    CHECK_MSG(err, want);
    CHECK(strstr(err, in) != NULL, "message '%s' does not name %s", err, in);
    CHECK(!exists(out) && only_file_left(), "convert %s left a file behind", in);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len)
        abort();
    fclose(f);
}

static void test_bad_checkpoints(void)
{
    convert_fails(fixture("bad-missing.pt"), "missing tensor visual.ln_post.weight");
    convert_fails(fixture("bad-shape.pt"), "tensor ln_final.bias has shape [65], expected [64]");
    convert_fails(fixture("bad-double.pt"), "unsupported storage torch.DoubleStorage");
    convert_fails(fixture("bad-truncated.pt"), "zip");
    unlink("/tmp/clippie-pwned");
    convert_fails(fixture("bad-system.pt"), "refused pickle global posix.system");
    CHECK(!exists("/tmp/clippie-pwned"), "the os.system payload ran");
    convert_fails(fixture("bad-eval.pt"), "refused pickle global __builtin__.eval");
    convert_fails(fixture("bad-subprocess.pt"), "refused pickle global subprocess.call");
    convert_fails(fixture("bad-exec.pt"), "refused pickle global builtins.exec");
    CHECK(!exists("/tmp/clippie-pwned"), "a payload ran");
    write_file(scratch("empty.pt"), "", 0);
    convert_fails(scratch("empty.pt"), "empty file");
    write_file(scratch("text.pt"), "hello, this is not a checkpoint\n", 32);
    convert_fails(scratch("text.pt"), "not a zip archive");
    unsigned char noise[4096];
    srand(7);
    for (size_t k = 0; k < sizeof noise; k++)
        noise[k] = (unsigned char)rand();
    write_file(scratch("noise.pt"), noise, sizeof noise);
    convert_fails(scratch("noise.pt"), "not a zip archive");
    convert_fails(scratch("absent.pt"), "No such file");
    /* a checkpoint whose output folder does not exist */
    char err[ERR_LEN] = "";
    struct convert_info info;
    CHECK(convert_checkpoint(fixture("micro.pt"), scratch("no/such/dir.weights"), 0, -1, &info, err) < 0 &&
              strstr(err, "no/such/dir.weights"),
          "unwritable output: %s", err);
}

static void pickle_fails(const char *what, const unsigned char *buf, size_t len, const char *want)
{
    char err[ERR_LEN] = "";
    struct pickle *p = pickle_open(buf, len, err);
    CHECK(p == NULL, "pickle with %s accepted", what);
    CHECK_MSG(err, want);
    pickle_close(p);
}

/* Limits that keep a hostile pickle from buying unbounded memory or time. */
static void test_pickle_limits(void)
{
    static unsigned char buf[20000];
    buf[0] = 0x80, buf[1] = 2;
    memset(buf + 2, '(', 10000); /* marks nested 10000 deep */
    pickle_fails("deep marks", buf, 10002, "deeper than");
    const unsigned char memo[] = {0x80, 2, 'N', 'r', 0xff, 0xff, 0xff, 0x7f, '.'}; /* LONG_BINPUT 2^31 - 1 */
    pickle_fails("a huge memo index", memo, sizeof memo, "memo index");
    const unsigned char get[] = {0x80, 2, 'h', 7, '.'};
    pickle_fails("an unset memo entry", get, sizeof get, "never stored");
    const unsigned char str[] = {0x80, 2, 'X', 0xff, 0xff, 0xff, 0x0f, 'a', '.'};
    pickle_fails("a string longer than the pickle", str, sizeof str, "past the end");
    const unsigned char nostop[] = {0x80, 2, 'N'};
    pickle_fails("no STOP", nostop, sizeof nostop, "without STOP");
    const unsigned char proto[] = {0x80, 9, 'N', '.'};
    pickle_fails("protocol 9", proto, sizeof proto, "protocol 9");
    pickle_fails("nothing", buf, 0, "without STOP");
}

static void open_fails(const unsigned char *data, size_t len, const char *want)
{
    const char *path = scratch("damaged.weights");
    write_file(path, data, len);
    char err[ERR_LEN] = "";
    struct weights *w = weights_open(path, err);
    CHECK(w == NULL, "damaged weights file (%s) opened", want);
    CHECK_MSG(err, want);
    weights_close(w);
}

static void test_bad_weights(void)
{
    size_t len;
    unsigned char *good = slurp(scratch("tiny.jit.weights"), &len);
    unsigned char *bad = malloc(len);
    open_fails(good, 0, "too short");
    open_fails(good, 40, "too short");
    open_fails(good, 1000, "truncated");
    open_fails(good, len - 100, "outside the file");
    memcpy(bad, good, len);
    bad[0] = 'X';
    open_fails(bad, len, "bad magic");
    memcpy(bad, good, len);
    bad[8] = 9;
    open_fails(bad, len, "version 9");
    /* one flipped bit anywhere in the header or directory is caught */
    size_t dir_end = WEIGHTS_HEADER_SIZE + (size_t)load_u32(good + WEIGHTS_HDR_COUNT) * WEIGHTS_ENTRY_SIZE;
    int caught = 0, tried = 0;
    for (size_t at = 12; at < dir_end; at += 37, tried++) {
        memcpy(bad, good, len);
        bad[at] ^= 0x10;
        write_file(scratch("flipped.weights"), bad, len);
        char err[ERR_LEN];
        struct weights *w = weights_open(scratch("flipped.weights"), err);
        caught += w == NULL;
        weights_close(w);
    }
    CHECK(caught == tried, "%d of %d flipped directory bytes went unnoticed", tried - caught, tried);
    memcpy(bad, good, len);
    bad[WEIGHTS_HEADER_SIZE + 3] ^= 1;
    open_fails(bad, len, "checksum");
    /* a shape that differs from its config's, checksum intact: one shape
     * format, as convert's */
    memcpy(bad, good, len);
    for (size_t at = WEIGHTS_HEADER_SIZE; at < dir_end; at += WEIGHTS_ENTRY_SIZE)
        if (!strcmp((char *)bad + at, "ln_final.bias"))
            store_u32(bad + at + WEIGHTS_ENT_SHAPE, 65);
    store_u32(bad + WEIGHTS_HDR_CRC, 0);
    store_u32(bad + WEIGHTS_HDR_CRC, (uint32_t)crc32(0, bad, (uInt)dir_end));
    open_fails(bad, len, "tensor ln_final.bias has shape [65], expected [64]");
    free(good);
    free(bad);
}

/* The header and directory at the byte offsets of format version 3. */
static void test_layout(void)
{
    struct weights_config c = {.activation = WEIGHTS_GELU, .embed_dim = 32, .vision_width = 64, .vision_layers = 2,
                               .vision_patch = 8, .vision_grid = 4, .context_length = 16, .vocab_size = 512,
                               .text_width = 128, .text_layers = 3};
    weights_config_openai(&c);
    size_t n, len;
    struct weights_spec *specs = weights_specs(&c, NULL, &n);
    unsigned char *h;
    uint64_t *offsets;
    if (!specs || weights_layout(&c, specs, n, &h, &len, &offsets) < 0)
        abort();
    /* version, the config (heads, MLP widths, then floats as their bits: 1e-5f
     * is 0x3727c5ac, OpenAI's red mean 0x3ef6813a), the tensor count */
    const uint32_t want[] = {3, WEIGHTS_GELU, 32, 64, 2, 8, 4, 16, 512, 128, 3, 1, 2, 256, 512, 0x3727c5ac, 0x3ef6813a};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        CHECK(load_u32(h + 8 + 4 * k) == want[k], "header word at %zu is %#x, expected %#x", 8 + 4 * k,
              load_u32(h + 8 + 4 * k), want[k]);
    /* format 3's fields, after the deviations: family to tok_unk, all 0 for CLIP */
    for (size_t at = 96; at < 144; at += 4)
        CHECK(load_u32(h + at) == 0, "header word at %zu of a CLIP model is %#x", at, load_u32(h + at));
    CHECK(load_u32(h + 144) == n, "tensor count at 144");
    CHECK(!memcmp(h, "CLIPPIE", 8) && load_u32(h + 152) == 0 && load_u32(h + 252) == 0, "header magic or padding");
    uint32_t crc = load_u32(h + 148);
    store_u32(h + 148, 0);
    CHECK(crc == (uint32_t)crc32(0, h, (uInt)len), "header checksum");
    const unsigned char *e = h + 256 + 96 * 2; /* the third tensor, positional_embedding [16, 128] */
    CHECK(!strcmp((const char *)e, "positional_embedding") && load_u32(e + 64) == 2 && load_u32(e + 68) == 16 &&
              load_u32(e + 72) == 128 && load_u32(e + 76) == 0 && load_u32(e + 84) == 0 && load_u64(e + 88) == offsets[2],
          "directory entry of positional_embedding");
    free(specs);
    free(h);
    free(offsets);
}

int main(int argc, char **argv)
{
    dir = argc > 1 ? argv[1] : "tests/fixtures";
    if (scratch_open() < 0)
        return 2;
    test_layout();
    test_tiny();
    test_odd();
    test_bad_checkpoints();
    test_pickle_limits();
    test_bad_weights();
    scratch_close();
    return check_done("test_weights");
}
