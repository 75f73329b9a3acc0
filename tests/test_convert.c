/* convert on checkpoints this test builds itself: a model's tensors packed
 * into one storage convert to exactly their values; a corrupted stored
 * entry, storages far larger than their tensors, duplicate names and
 * outputs that are not ordinary new files are refused with the reason. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "check.h"
#include "convert.h"
#include "craft.h"
#include "weights.h"


enum layout {
    PACKED,       /* every tensor at its own place in one storage "0" */
    SHARED_HUGE,  /* every tensor at offset 0 of one 128 MiB storage of zeros */
    DUPLICATE,    /* PACKED, and a second entry named like the storage */
    MIXED,        /* PACKED, but ln_final.bias reads the storage as float16 */
};

/* data.pkl: a state_dict of every tensor micro has, all viewing storage "0" */
static struct bytes state_dict(enum layout how, uint32_t *numel)
{
    size_t n;
    struct weights_spec *specs = weights_specs(&micro, NULL, &n);
    *numel = 0;
    for (size_t k = 0; k < n; k++)
        *numel += how == SHARED_HUGE ? 0 : (uint32_t)weights_spec_numel(&specs[k]);
    if (how == SHARED_HUGE)
        *numel = 32u << 20;
    struct bytes b = {0};
    op1(&b, 0x80, 2);
    op(&b, '}');
    op(&b, '(');
    uint32_t at = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t size[4], stride[4], s = 1;
        for (int d = (int)specs[k].ndim - 1; d >= 0; d--)
            size[d] = specs[k].shape[d], stride[d] = s, s *= specs[k].shape[d];
        op_str(&b, specs[k].name);
        int half = how == MIXED && !strcmp(specs[k].name, "ln_final.bias");
        op_tensor(&b, half ? "HalfStorage" : "FloatStorage", "0", *numel, how == SHARED_HUGE ? 0 : at,
                  (int)specs[k].ndim, size, stride);
        at += (uint32_t)weights_spec_numel(&specs[k]);
    }
    op(&b, 'u');
    op(&b, '.');
    free(specs);
    return b;
}

static void add(zip_t *z, const char *name, const void *data, size_t len, int deflate)
{
    zip_source_t *src = zip_source_buffer(z, data, len, 0);
    zip_int64_t idx = src ? zip_file_add(z, name, src, 0) : -1;
    if (idx < 0 || zip_set_file_compression(z, (zip_uint64_t)idx, deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 1) < 0)
        abort();
}

static void spit(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len)
        abort();
    fclose(f);
}

/* Where the data of the stored entry name starts in a zip file's bytes. */
static size_t entry_data(const unsigned char *zip, size_t len, const char *name)
{
    size_t nl = strlen(name);
    for (size_t k = 0; k + 30 + nl <= len; k++)
        if (!memcmp(zip + k, "PK\3\4", 4) && load_u16(zip + k + 26) == nl && !memcmp(zip + k + 30, name, nl))
            return k + 30 + nl + load_u16(zip + k + 28);
    abort();
}

static void make_checkpoint(const char *path, enum layout how, int deflate)
{
    uint32_t numel;
    struct bytes pkl = state_dict(how, &numel);
    float *data = calloc(numel, sizeof *data);
    for (size_t i = 0; how != SHARED_HUGE && i < numel; i++)
        data[i] = value(i);
    int ze;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    if (!z)
        abort();
    add(z, "archive/data.pkl", pkl.p, pkl.n, 0);
    add(z, "archive/data/0", data, (size_t)numel * sizeof *data, deflate);
    if (how == DUPLICATE) /* renamed to archive/data/0 below */
        add(z, "archive/data/9", data, sizeof *data, 0);
    add(z, "archive/version", "3\n", 2, 0);
    if (zip_close(z) < 0)
        abort();
    free(pkl.p);
    free(data);
    if (how == DUPLICATE) {
        size_t len;
        unsigned char *zip = slurp(path, &len);
        for (size_t k = 0; k + 14 <= len; k++)
            if (!memcmp(zip + k, "archive/data/9", 14))
                zip[k + 13] = '0';
        spit(path, zip, len);
        free(zip);
    }
}

static int convert(const char *in, const char *out, char *err)
{
    struct convert_info info;
    return convert_checkpoint(in, out, WEIGHTS_QUICK_GELU, -1, &info, err);
}

static void test_packed(void)
{
    char err[ERR_LEN] = "";
    make_checkpoint(scratch("packed.pt"), PACKED, 1);
    CHECK(convert(scratch("packed.pt"), scratch("packed.weights"), err) == 0, "packed deflated: %s", err);
    check_values(scratch("packed.weights"), 0);
    make_checkpoint(scratch("stored.pt"), PACKED, 0);
    CHECK(convert(scratch("stored.pt"), scratch("stored.weights"), err) == 0, "packed stored: %s", err);
    check_values(scratch("stored.weights"), 0);
}

static void convert_fails(const char *in, const char *out, const char *want)
{
    char err[ERR_LEN] = "";
    CHECK(convert(in, out, err) < 0, "convert %s to %s succeeded", in, out);
    CHECK_MSG(err, want);
}

/* libzip checks a CRC only when a read goes past an entry's end */
static void test_flipped_byte(void)
{
    size_t len;
    unsigned char *zip = slurp(scratch("stored.pt"), &len);
    zip[entry_data(zip, len, "archive/data/0") + 1001] ^= 0x04;
    spit(scratch("flipped.pt"), zip, len);
    free(zip);
    convert_fails(scratch("flipped.pt"), scratch("flipped.weights"), "entry archive/data/0 fails its CRC-32 check");
}

static int convert_huge(void *arg, char *err)
{
    (void)arg;
    return convert(scratch("huge.pt"), scratch("huge.weights"), err);
}

/* 38 tensors viewing the start of one 128 MiB deflated storage (130 KB in
 * the file): inflating it for each would take seconds and 128 MiB */
static void test_shared_huge(void)
{
    make_checkpoint(scratch("huge.pt"), SHARED_HUGE, 1);
    char err[ERR_LEN];
    double secs;
    int rc = in_child(convert_huge, NULL, 64, 2, err, &secs);
    CHECK(rc == -1, "huge shared storage: child %s (%s)", rc == 0 ? "converted it" : "died", err);
    CHECK_MSG(err, "storage archive/data/0 holds 134217728 bytes, its tensors use 65536");
    CHECK(secs < 1, "huge shared storage took %.1f s", secs);
}

static void test_duplicate_entry(void)
{
    make_checkpoint(scratch("dup.pt"), DUPLICATE, 0);
    convert_fails(scratch("dup.pt"), scratch("dup.weights"), "holds two entries named archive/data/0");
}

static int same_bytes(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

/* convert replaces its output: only a new or regular file that is not the
 * checkpoint it reads (as root, "convert X /dev/null" replaced the device) */
static void test_outputs(void)
{
    const char *fifo = scratch("out.fifo"), *dir = scratch("out.dir"), *in = scratch("stored.pt");
    if (mkfifo(fifo, 0600) < 0 || mkdir(dir, 0700) < 0)
        abort();
    convert_fails(in, fifo, "out.fifo: exists and is a FIFO, not a regular file: refusing to replace it");
    struct stat st;
    CHECK(stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode), "the fifo was replaced");
    convert_fails(in, dir, "out.dir: exists and is a directory, not a regular file: refusing to replace it");
    convert_fails(in, in, "stored.pt: is the checkpoint being converted: refusing to replace it");
    if (link(in, scratch("hardlink.pt")) < 0)
        abort();
    convert_fails(in, scratch("hardlink.pt"), "hardlink.pt: is the checkpoint being converted");
    make_checkpoint(scratch("again.pt"), PACKED, 0);
    CHECK(same_bytes(in, scratch("again.pt")), "the checkpoint was overwritten");
}

static int open_fifo_checkpoint(void *arg, char *err)
{
    (void)arg;
    return convert(scratch("in.fifo"), scratch("fifo.weights"), err);
}

static int open_fifo_weights(void *arg, char *err)
{
    (void)arg;
    struct weights *w = weights_open(scratch("in.fifo"), err);
    weights_close(w);
    return w ? 0 : -1;
}

/* a fifo given as an input is refused at once, not waited on for a writer */
static void test_fifo_inputs(void)
{
    if (mkfifo(scratch("in.fifo"), 0600) < 0)
        abort();
    char err[ERR_LEN];
    double secs;
    int rc = in_child(open_fifo_checkpoint, NULL, 256, 2, err, &secs);
    CHECK(rc == -1, "fifo checkpoint: child %s (%s)", rc == 0 ? "converted it" : "died or hung", err);
    CHECK_MSG(err, "in.fifo: is a FIFO, not a regular file");
    rc = in_child(open_fifo_weights, NULL, 256, 2, err, &secs);
    CHECK(rc == -1, "fifo weights file: child %s (%s)", rc == 0 ? "opened it" : "died or hung", err);
    CHECK_MSG(err, "in.fifo: is a FIFO, not a regular file");
}

/* PyTorch would take the storage's first declaration for both */
static void test_mixed_dtypes(void)
{
    make_checkpoint(scratch("mixed.pt"), MIXED, 0);
    convert_fails(scratch("mixed.pt"), scratch("mixed.weights"),
                  "storage archive/data/0 is read as both torch.FloatStorage and torch.HalfStorage");
}

int main(void)
{
    if (scratch_open() < 0)
        return 2;
    test_packed();
    test_flipped_byte();
    test_shared_huge();
    test_duplicate_entry();
    test_mixed_dtypes();
    test_outputs();
    test_fifo_inputs();
    scratch_close();
    return check_done("test_convert");
}
