/* image.c - photo bytes to the model's input: the format told by the
 * decoders' probes (decoder.h), then decode, orient, resize + crop and
 * normalise, as Pillow + torchvision do; see image.h. */
#include "image.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "resample.h"

static const float openai_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float openai_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

/* ---- the formats ---- */

/* Every decoder, in DECODER_LIST's order, which decoder.h explains: a file
 * is the first format whose probe takes it (RAW before TIFF, TGA last). */
#define DECODER_ENTRY(name) &name##_decoder,
static const struct decoder *const decoders[] = {DECODER_LIST(DECODER_ENTRY)};

size_t image_format_count(void) { return sizeof decoders / sizeof decoders[0]; }

const struct decoder *image_format_at(size_t i) { return i < image_format_count() ? decoders[i] : NULL; }

/* Whether ext (len bytes) is one of the space-separated words of list, without case */
static int in_list(const char *list, const char *ext, size_t len)
{
    for (const char *w = list; *w; w += strspn(w, " ")) {
        size_t n = strcspn(w, " ");
        if (n == len && !strncasecmp(w, ext, n))
            return 1;
        w += n;
    }
    return 0;
}

int image_has_extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t k = 0; dot && k < image_format_count(); k++)
        if (in_list(decoders[k]->extensions, dot + 1, strlen(dot + 1)))
            return 1;
    return 0;
}

void image_format_names(char *out, size_t size, const char *conjunction)
{
    size_t count = image_format_count();
    out[0] = '\0';
    for (size_t k = 0; k < count; k++) {
        size_t n = strlen(out);
        snprintf(out + n, size - n, "%s%s", k == 0 ? "" : k + 1 < count ? ", " : conjunction, decoders[k]->name);
    }
}

/* Step 1: the format, by the first bytes only (never the name), then its
 * decoder, which checks the size its header claims before any pixel. */
static int decode(const unsigned char *buf, size_t len, const struct image_opts *o, struct decoder_pixels *im,
                  char *err)
{
    if (len == 0)
        return error(err, "empty file");
    if (len > INT32_MAX)
        return error(err, "file too large to be an image");
    struct decoder_opts d = {.max_pixels = o->max_pixels, .resolution = o->resolution, .draft = o->draft,
                             .raw_full = o->raw_full};
    for (size_t k = 0; k < image_format_count(); k++)
        if (decoders[k]->probe(buf, len))
            return decoders[k]->decode(buf, len, &d, im, err);
    char names[256];
    image_format_names(names, sizeof names, " or ");
    return error(err, "not an image of a supported kind: it starts like no %s", names);
}

/* Turns img as EXIF orientation o says the camera was held. */
static int orient(struct decoder_pixels *im, int o)
{
    if (o <= 1 || o > 8)
        return 0;
    int W = im->w, H = im->h, c = im->c * (im->grey16 ? 2 : 1), swap = o >= 5; /* c: bytes a pixel */
    int ow = swap ? H : W, oh = swap ? W : H;
    unsigned char *out = malloc((size_t)ow * oh * c);
    if (!out)
        return -1;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = W - 1 - x, sy = y; break;
            case 3: sx = W - 1 - x, sy = H - 1 - y; break;
            case 4: sx = x, sy = H - 1 - y; break;
            case 5: sx = y, sy = x; break;
            case 6: sx = y, sy = H - 1 - x; break;
            case 7: sx = W - 1 - y, sy = H - 1 - x; break;
            default: sx = W - 1 - y, sy = x; break; /* 8 */
            }
            memcpy(out + ((size_t)y * ow + x) * c, im->px + ((size_t)sy * W + sx) * c, (size_t)c);
        }
    free(im->px);
    im->px = out;
    im->w = ow;
    im->h = oh;
    return 0;
}

/* Python's round(): halves to even. */
static int round_half_even(double v)
{
    double r = nearbyint(v); /* the default rounding mode is to nearest, ties to even */
    return (int)r;
}

/* Step 3: the shorter side resized to R, the longer to int(R * long /
 * short), which must be an int as in Pillow (whose sizes are C ints), and
 * the centre R x R kept; im becomes that crop. With squash, both sides
 * resized to R, nothing cropped. */
static int resize_centre(struct decoder_pixels *im, int R, int squash, char *err)
{
    double longer = (double)R * (im->w <= im->h ? im->h : im->w) / (im->w <= im->h ? im->w : im->h);
    if (longer > INT_MAX && !squash)
        return error(err, "image of %d x %d pixels is too thin to resize", im->w, im->h);
    int nw = im->w <= im->h || squash ? R : (int)longer, nh = im->w <= im->h && !squash ? (int)longer : R;
    int top = round_half_even((nh - R) / 2.0), left = round_half_even((nw - R) / 2.0);
    return resample_crop(im, nw, nh, left, top, R, err);
}

/* Step 4: the R x R crop to RGB planes of (v / 255 - mean) / std. */
static void normalise(const struct decoder_pixels *im, const struct image_opts *o, float *out)
{
    const float *mean = o->mean ? o->mean : openai_mean, *stdev = o->std ? o->std : openai_std;
    int R = o->resolution;
    for (int y = 0; y < R; y++)
        for (int x = 0; x < R; x++) {
            const unsigned char *px = im->px + ((size_t)y * R + x) * im->c;
            unsigned char rgb[3];
            for (int ch = 0; ch < 3; ch++) {
                if (im->cmyk) { /* Pillow's cmyk2rgb */
                    unsigned nk = 255 - px[3], tmp = px[ch] * nk + 128;
                    int v = (int)nk - (int)(((tmp >> 8) + tmp) >> 8);
                    rgb[ch] = (unsigned char)(v < 0 ? 0 : v);
                } else
                    rgb[ch] = px[im->c >= 3 ? ch : 0];
                float v = (float)rgb[ch] / 255.0f;
                out[((size_t)ch * R + y) * R + x] = (v - mean[ch]) / stdev[ch];
            }
        }
}

int image_preprocess(const unsigned char *buf, size_t len, const struct image_opts *o, float *out, char *err)
{
    struct decoder_pixels im = {0};
    int rc = -1;
    if (decode(buf, len, o, &im, err) < 0)
        goto done;
    /* step 2: as the camera was held */
    int turn = im.transform ? im.transform : o->exif ? im.orientation : 1;
    if (orient(&im, turn) < 0) {
        error(err, "out of memory turning a %d x %d image", im.w, im.h);
        goto done;
    }
    if (resize_centre(&im, o->resolution, o->squash, err) < 0)
        goto done;
    normalise(&im, o, out);
    rc = 0;
done:
    free(im.px); /* stb_image allocates with malloc too */
    return rc;
}

/* The first TIFF header after a marker that precedes EXIF data (skip: the
 * bytes between the marker's start and the header) within buf. */
static const unsigned char *exif_after(const unsigned char *buf, size_t len, const char *mark, size_t mlen,
                                       size_t skip)
{
    const unsigned char *p = buf, *end = buf + len;
    while ((p = memmem(p, (size_t)(end - p), mark, mlen)) && (size_t)(end - p) >= skip + 8) {
        const unsigned char *t = p + skip;
        if (!memcmp(t, "II*\0", 4) || !memcmp(t, "MM\0*", 4))
            return t;
        p++;
    }
    return NULL;
}

int image_date(const unsigned char *buf, size_t len, int64_t *secs)
{
    const unsigned char *t = buf;
    if (len < 8)
        return -1;
    if (memcmp(buf, "II*\0", 4) && memcmp(buf, "MM\0*", 4) &&
        !(t = exif_after(buf, len, "Exif\0\0", 6, 6)) && !(t = exif_after(buf, len, "EXIF", 4, 8)) &&
        !(t = exif_after(buf, len, "eXIf", 4, 4)))
        return -1;
    return decoder_tiff_date(t, len - (size_t)(t - buf), secs);
}
