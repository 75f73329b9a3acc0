/* image preprocessing against Pillow + torchvision: fixtures/images.ref holds
 * the pixels CLIP's preprocess makes of each img-* fixture (JPEGs in every
 * EXIF orientation included); they must match to float rounding. Plus bad
 * and hostile files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "image.h"

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *buf = malloc(*len ? *len : 1);
    if (fread(buf, 1, *len, f) != *len)
        *len = 0;
    fclose(f);
    return buf;
}

static void test_reference(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/images.ref", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f)
        return;
    char name[128];
    int res, count = 0;
    while (fscanf(f, "%127s %d", name, &res) == 2) {
        size_t n = 3 * (size_t)res * res, len;
        float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
        for (size_t k = 0; k < n; k++)
            if (fscanf(f, "%f", &want[k]) != 1)
                want[k] = NAN;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        unsigned char *buf = slurp(path, &len);
        char err[ERR_LEN] = "";
        struct image_opts o = {res, 1, IMAGE_MAX_PIXELS};
        int rc = buf ? image_preprocess(buf, len, &o, got, err) : -1;
        CHECK(rc == 0, "%s: %s", name, err);
        if (rc == 0) {
            double diff = 0, dot = 0, na = 0, nb = 0;
            for (size_t k = 0; k < n; k++) {
                diff = fmax(diff, fabs((double)got[k] - want[k]));
                dot += (double)got[k] * want[k], na += (double)got[k] * got[k], nb += (double)want[k] * want[k];
            }
            double cos = dot / sqrt(na * nb);
            CHECK(diff <= 1e-5, "%s at %d: pixels differ from Pillow's by up to %g", name, res, diff);
            if (getenv("VERBOSE"))
                fprintf(stderr, "%s %d: max diff %g cosine %.9f\n", name, res, diff, cos);
        }
        free(buf);
        free(want);
        free(got);
        count++;
    }
    fclose(f);
    CHECK(count >= 36, "only %d reference images", count);
}

/* --draft: large JPEGs decoded smaller stay close to the exact pixels, and
 * small ones are not touched */
static void test_draft(const char *dir)
{
    const char *names[] = {"img-large.jpg", "img-photo.jpg"};
    for (int k = 0; k < 2; k++) {
        char path[512], err[ERR_LEN] = "";
        size_t len, n = 3 * 32 * 32;
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        unsigned char *buf = slurp(path, &len);
        float exact[3 * 32 * 32], draft[3 * 32 * 32];
        struct image_opts o = {.resolution = 32, .exif = 1, .max_pixels = IMAGE_MAX_PIXELS};
        CHECK(buf && image_preprocess(buf, len, &o, exact, err) == 0, "%s: %s", names[k], err);
        o.draft = 1;
        CHECK(buf && image_preprocess(buf, len, &o, draft, err) == 0, "%s: %s", names[k], err);
        double dot = 0, na = 0, nb = 0, diff = 0;
        for (size_t i = 0; i < n; i++)
            dot += (double)exact[i] * draft[i], na += (double)exact[i] * exact[i], nb += (double)draft[i] * draft[i],
                diff = fmax(diff, fabs((double)exact[i] - draft[i]));
        if (k == 0)
            CHECK(dot / sqrt(na * nb) > 0.999 && diff > 0, "draft of %s: cosine %.6f, max diff %g", names[k],
                  dot / sqrt(na * nb), diff);
        else
            CHECK(diff == 0, "draft changed the small %s", names[k]);
        free(buf);
    }
}

static void bad(const unsigned char *buf, size_t len, const char *want)
{
    float px[3 * 8 * 8];
    char err[ERR_LEN] = "";
    struct image_opts o = {8, 1, IMAGE_MAX_PIXELS};
    CHECK(image_preprocess(buf, len, &o, px, err) < 0, "bad image (%s) accepted", want);
    CHECK_MSG(err, want);
}

static void test_bad(const char *dir)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/img-photo.jpg", dir);
    unsigned char *jpg = slurp(path, &len);
    bad(jpg, 0, "empty");
    bad((const unsigned char *)"hello, world", 12, "not an image");
    bad(jpg, len / 3, "truncated JPEG");
    bad(jpg, 200, "cannot decode JPEG");
    /* a PNG header claiming 60000 x 60000 pixels is refused before decoding */
    unsigned char png[64];
    snprintf(path, sizeof path, "%s/img-rgb.png", dir);
    unsigned char *real = slurp(path, &len);
    memcpy(png, real, sizeof png);
    png[16] = 0, png[17] = 0, png[18] = 0xea, png[19] = 0x60;
    png[20] = 0, png[21] = 0, png[22] = 0xea, png[23] = 0x60;
    bad(png, sizeof png, "over the limit");
    free(real);
    free(jpg);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/fixtures";
    test_reference(dir);
    test_draft(dir);
    test_bad(dir);
    return check_done("test_image");
}
