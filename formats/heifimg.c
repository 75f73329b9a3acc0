/* heifimg.c - HEIC/HEIF and AVIF pixels by libheif.
 *
 * The primary image, decoded by libheif with the container's
 * transformations (rotation, mirror, crop), which is how a phone shows
 * the photo; its EXIF orientation is then not applied again. 8-bit RGB,
 * or RGBA when it has an alpha image; images of more bits are reduced to
 * 8 by libheif.
 *
 * Before libheif allocates anything, the sizes the file claims are checked
 * against max_pixels: a primary grid or overlay image's canvas, and every
 * HEVC sequence parameter set's picture (libheif 1.15 allocates both as
 * they say, whatever the container's image size); then the primary
 * image's size, and the decoded image must be that size. AV1 sequence
 * headers are not read (they sit in the coded data). Thread-safe.
 * See decoder.h.
 */
#include "decoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libheif/heif.h>

/* libheif is loaded on first use (util.h), not with clippie */
#define HEIF_API(X) X(heif_init) X(heif_deinit) X(heif_get_version) X(heif_context_alloc) X(heif_context_free) X(heif_context_read_from_memory_without_copy) X(heif_context_get_primary_image_handle) X(heif_image_handle_get_width) X(heif_image_handle_get_height) X(heif_image_handle_has_alpha_channel) X(heif_image_handle_release) X(heif_decode_image) X(heif_image_get_width) X(heif_image_get_height) X(heif_image_get_plane_readonly) X(heif_image_release)
static struct {
    HEIF_API(UTIL_LIB_POINTER)
} heif;
static const char *const heif_names[] = {HEIF_API(UTIL_LIB_NAME)};
static struct util_lib heif_lib = UTIL_LIB(HEIFIMG_SONAME, heif_names, heif);

static int heifimg_version(char *out, size_t size)
{
    if (util_lib_load(&heif_lib, NULL) < 0)
        return -1;
    snprintf(out, size, "libheif %s", heif.heif_get_version());
    return 0;
}

/* ---- sizes the file claims, read before libheif allocates them: libheif
 * 1.15 allocates a grid's canvas, and libde265 an HEVC stream's picture, as
 * they say, whatever the image's own size ---- */

/* The next box in b[*p, len): its type and body; 0 at the end or on a bad size. */
static int next_box(const unsigned char *b, size_t len, size_t *p, const unsigned char **type,
                    const unsigned char **body, size_t *n)
{
    if (len - *p < 8)
        return 0;
    uint64_t size = load_be32(b + *p), head = 8;
    if (size == 1) {
        if (len - *p < 16)
            return 0;
        size = (uint64_t)load_be32(b + *p + 8) << 32 | load_be32(b + *p + 12), head = 16;
    } else if (size == 0)
        size = len - *p;
    if (size < head || size > len - *p)
        return 0;
    *type = b + *p + 4, *body = b + *p + head, *n = (size_t)(size - head);
    *p += (size_t)size;
    return 1;
}

/* A bit reader over an RBSP, skipping emulation prevention bytes (00 00 03). */
struct bits {
    const unsigned char *b;
    size_t n, byte, zeros;
    int bit, over;
};

static unsigned read_bits(struct bits *r, int k)
{
    unsigned v = 0;
    while (k-- > 0) {
        if (r->bit == 0 && r->zeros >= 2 && r->byte < r->n && r->b[r->byte] == 3)
            r->byte++, r->zeros = 0;
        if (r->byte >= r->n) {
            r->over = 1;
            return 0;
        }
        unsigned bit = r->b[r->byte] >> (7 - r->bit) & 1;
        v = v << 1 | bit;
        if (++r->bit == 8) {
            r->zeros = r->b[r->byte] == 0 ? r->zeros + 1 : 0;
            r->bit = 0, r->byte++;
        }
    }
    return v;
}

static uint64_t read_ue(struct bits *r)
{
    int lead = 0;
    while (!read_bits(r, 1) && !r->over && lead < 32)
        lead++;
    return lead >= 32 ? UINT64_MAX : ((uint64_t)1 << lead) - 1 + read_bits(r, lead);
}

/* The picture size of an HEVC sequence parameter set (H.265 7.3.2.2),
 * the NAL unit of n bytes at s, header included; -1 when cut short. */
static int sps_size(const unsigned char *s, size_t n, uint64_t *w, uint64_t *h)
{
    struct bits r = {.b = s, .n = n, .byte = 2}; /* past the NAL header */
    read_bits(&r, 4);
    int sub = (int)read_bits(&r, 3), present[8];
    read_bits(&r, 1);
    read_bits(&r, 32), read_bits(&r, 32), read_bits(&r, 32); /* general profile, tier and level: 96 bits */
    for (int i = 0; i < sub; i++)
        present[i] = (int)read_bits(&r, 2);
    for (int i = sub; sub > 0 && i < 8; i++)
        read_bits(&r, 2);
    for (int i = 0; i < sub; i++) {
        if (present[i] & 2) /* sub-layer profile: 88 bits */
            read_bits(&r, 32), read_bits(&r, 32), read_bits(&r, 24);
        if (present[i] & 1)
            read_bits(&r, 8);
    }
    read_ue(&r);
    if (read_ue(&r) == 3)
        read_bits(&r, 1);
    *w = read_ue(&r), *h = read_ue(&r);
    return r.over ? -1 : 0;
}

/* Every SPS of an hvcC box (ISO/IEC 14496-15 8.3.3.1) within max_pixels. */
static int check_hvcc(const unsigned char *c, size_t n, uint64_t max_pixels, char *err)
{
    if (n < 23)
        return error(err, "cannot decode HEIF: hvcC box of %zu bytes", n);
    size_t p = 23;
    for (unsigned a = 0, arrays = c[22]; a < arrays; a++) {
        if (n - p < 3)
            return error(err, "cannot decode HEIF: hvcC box cut short");
        unsigned type = c[p] & 0x3f, nalus = (unsigned)c[p + 1] << 8 | c[p + 2];
        p += 3;
        for (unsigned k = 0; k < nalus; k++) {
            size_t len = n - p < 2 ? 0 : (size_t)c[p] << 8 | c[p + 1];
            if (n - p < 2 || len > n - p - 2)
                return error(err, "cannot decode HEIF: hvcC box cut short");
            uint64_t w, h;
            if (type == 33 && sps_size(c + p + 2, len, &w, &h) < 0)
                return error(err, "cannot decode HEIF: HEVC sequence parameter set cut short");
            if (type == 33 && decoder_check_size(w, h, max_pixels, err) < 0)
                return -1;
            p += 2 + len;
        }
    }
    return 0;
}

/* The body of the first box of type t among the boxes of b[0, len). */
static const unsigned char *find_box(const unsigned char *b, size_t len, const char *t, size_t *n)
{
    const unsigned char *type, *body;
    for (size_t p = 0; next_box(b, len, &p, &type, &body, n);)
        if (!memcmp(type, t, 4))
            return body;
    return NULL;
}

/* An unsigned of k bytes (0, 2, 4 or 8; big-endian) at *p in b[0, n):
 * -1 when it runs past the end. */
static int read_be(const unsigned char *b, size_t n, size_t *p, int k, uint64_t *v)
{
    if (n < (size_t)k || *p > n - (size_t)k)
        return -1;
    for (*v = 0; k > 0; k--)
        *v = *v << 8 | b[(*p)++];
    return 0;
}

/* The type of item id in the iinf box (entries of version 2 and 3), 0 if
 * none is found. */
static const unsigned char *item_type(const unsigned char *iinf, size_t n, uint64_t id)
{
    const unsigned char *type, *e;
    size_t en, p = n >= 4 && iinf[0] == 0 ? 6 : 8; /* version, flags, entry count */
    uint64_t eid;
    while (p <= n && next_box(iinf, n, &p, &type, &e, &en))
        if (!memcmp(type, "infe", 4) && en >= 4 && (e[0] == 2 || e[0] == 3)) {
            size_t q = 4;
            if (read_be(e, en, &q, e[0] == 2 ? 2 : 4, &eid) == 0 && eid == id && en - q >= 6)
                return e + q + 2; /* past the protection index */
        }
    return NULL;
}

/* Where item id's data starts (its first extent, in idat or the file) as
 * iloc (ISO/IEC 14496-12 8.11.3) places it; NULL if it says nothing clear. */
static const unsigned char *item_data(const unsigned char *iloc, size_t ln, const unsigned char *b, size_t len,
                                      const unsigned char *idat, size_t dn, uint64_t id, size_t *n)
{
    uint64_t count, iid, method = 0, ref, base, extents, index, off, size;
    if (ln < 8 || iloc[0] > 2)
        return NULL;
    int v = iloc[0], osz = iloc[4] >> 4, lsz = iloc[4] & 15, bsz = iloc[5] >> 4, isz = v ? iloc[5] & 15 : 0;
    size_t p = 6;
    if (read_be(iloc, ln, &p, v < 2 ? 2 : 4, &count) < 0)
        return NULL;
    for (uint64_t i = 0; i < count; i++) {
        if (read_be(iloc, ln, &p, v < 2 ? 2 : 4, &iid) < 0 || (v && read_be(iloc, ln, &p, 2, &method) < 0) ||
            read_be(iloc, ln, &p, 2, &ref) < 0 || read_be(iloc, ln, &p, bsz, &base) < 0 ||
            read_be(iloc, ln, &p, 2, &extents) < 0 || extents == 0 || read_be(iloc, ln, &p, isz, &index) < 0 ||
            read_be(iloc, ln, &p, osz, &off) < 0 || read_be(iloc, ln, &p, lsz, &size) < 0)
            return NULL;
        if (iid != id) { /* its other extents */
            size_t skip = (size_t)(extents - 1) * (size_t)(isz + osz + lsz);
            if (skip > ln - p)
                return NULL;
            p += skip;
            continue;
        }
        const unsigned char *data = (method & 15) == 1 ? idat : (method & 15) == 0 ? b : NULL;
        size_t dlen = (method & 15) == 1 ? dn : len;
        if (!data || base > dlen || off > dlen - base)
            return NULL;
        *n = dlen - (size_t)(base + off);
        *n = size && size < *n ? (size_t)size : *n;
        return data + base + off;
    }
    return NULL;
}

/* The primary item's output size when it is a grid or an overlay (HEIF
 * 6.6.2.3, 6.6.2.2): libheif allocates the canvas its descriptor says (one
 * saying 18761 x 18761 in a 1.6 KB file of 40 x 30 pixels took 2 GB and
 * 7.6 s). */
static int check_derived(const unsigned char *b, size_t len, const unsigned char *meta, size_t mn,
                         uint64_t max_pixels, char *err)
{
    size_t pn, in, ln, dn = 0, n, p = 4;
    const unsigned char *pitm = find_box(meta, mn, "pitm", &pn), *iinf = find_box(meta, mn, "iinf", &in);
    const unsigned char *iloc = find_box(meta, mn, "iloc", &ln), *idat = find_box(meta, mn, "idat", &dn), *t, *d;
    uint64_t id, w, h;
    if (!pitm || !iinf || !iloc || pn < 4 || read_be(pitm, pn, &p, pitm[0] == 0 ? 2 : 4, &id) < 0 ||
        !(t = item_type(iinf, in, id)) || (memcmp(t, "grid", 4) && memcmp(t, "iovl", 4)) ||
        !(d = item_data(iloc, ln, b, len, idat, dn, id, &n)))
        return 0; /* libheif will say what is wrong, if anything */
    p = !memcmp(t, "grid", 4) ? 4 : 10; /* version, flags, then rows and columns, or a fill colour */
    int k = n >= 2 && (d[1] & 1) ? 4 : 2;
    if (read_be(d, n, &p, k, &w) < 0 || read_be(d, n, &p, k, &h) < 0)
        return 0;
    return decoder_check_size(w, h, max_pixels, err);
}

/* Before libheif allocates anything: meta (a full box: 4 bytes of version
 * and flags) > iprp > ipco > hvcC, and the derived images. */
static int check_streams(const unsigned char *b, size_t len, uint64_t max_pixels, char *err)
{
    size_t mn, n, cn;
    const unsigned char *meta = find_box(b, len, "meta", &mn), *iprp = NULL, *ipco = NULL, *type, *c;
    if (!meta || mn < 4)
        return 0; /* libheif will say what is missing */
    meta += 4, mn -= 4;
    if (check_derived(b, len, meta, mn, max_pixels, err) < 0)
        return -1;
    if (!(iprp = find_box(meta, mn, "iprp", &n)) || !(ipco = find_box(iprp, n, "ipco", &n)))
        return 0;
    for (size_t p = 0; next_box(ipco, n, &p, &type, &c, &cn);)
        if (!memcmp(type, "hvcC", 4) && check_hvcc(c, cn, max_pixels, err) < 0)
            return -1;
    return 0;
}

/* The decoded image's interleaved plane to im, c bytes a pixel; it must be
 * the size the container said (a coded stream may say otherwise). */
static int copy_plane(const struct heif_image *img, int c, int hw, int hh, struct decoder_pixels *im, char *err)
{
    int stride, w = heif.heif_image_get_width(img, heif_channel_interleaved),
                h = heif.heif_image_get_height(img, heif_channel_interleaved);
    if (w != hw || h != hh)
        return error(err, "cannot decode HEIF: decoded %d x %d pixels where the container says %d x %d", w, h, hw, hh);
    const uint8_t *p = heif.heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride);
    if (!p || w <= 0 || h <= 0 || stride < w * c)
        return error(err, "cannot decode HEIF: libheif gave no %d-byte pixels", c);
    if (!(im->px = malloc((size_t)w * h * c)))
        return error(err, "out of memory for a %d x %d HEIF", w, h);
    for (int y = 0; y < h; y++)
        memcpy(im->px + (size_t)y * w * c, p + (size_t)y * stride, (size_t)w * c);
    im->w = w, im->h = h, im->c = c;
    return 0;
}

static int decode_primary(struct heif_context *ctx, uint64_t max_pixels, struct decoder_pixels *im, char *err)
{
    struct heif_image_handle *handle = NULL;
    struct heif_image *img = NULL;
    int rc = -1;
    struct heif_error e = heif.heif_context_get_primary_image_handle(ctx, &handle);
    if (e.code != heif_error_Ok) {
        error(err, "cannot decode HEIF: %s", e.message);
        goto done;
    }
    /* the size after the transformations: what decoding allocates */
    int w = heif.heif_image_handle_get_width(handle), h = heif.heif_image_handle_get_height(handle);
    if (decoder_check_size(w > 0 ? (uint64_t)w : 0, h > 0 ? (uint64_t)h : 0, max_pixels, err) < 0)
        goto done;
    int alpha = heif.heif_image_handle_has_alpha_channel(handle);
    e = heif.heif_decode_image(handle, &img, heif_colorspace_RGB,
                          alpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB, NULL);
    if (e.code != heif_error_Ok) {
        error(err, "cannot decode HEIF: %s", e.message);
        goto done;
    }
    rc = copy_plane(img, alpha ? 4 : 3, w, h, im, err);
    im->orientation = 1; /* turned by the container's transformations: EXIF's is not applied again */
done:
    heif.heif_image_release(img);
    heif.heif_image_handle_release(handle);
    return rc;
}

static int heifimg_decode(const unsigned char *buf, size_t len, const struct decoder_opts *o, struct decoder_pixels *im,
                          char *err)
{
    *im = (struct decoder_pixels){0};
    if (util_lib_load(&heif_lib, err) < 0)
        return -1;
    /* reference counted: plugins stay loaded while any decode runs */
    struct heif_error e = heif.heif_init(NULL);
    if (e.code != heif_error_Ok)
        return error(err, "cannot start libheif: %s", e.message);
    struct heif_context *ctx = heif.heif_context_alloc();
    int rc = -1;
    if (!ctx)
        error(err, "out of memory starting libheif");
    else if (check_streams(buf, len, o->max_pixels, err) < 0)
        ;
    else if ((e = heif.heif_context_read_from_memory_without_copy(ctx, buf, len, NULL)).code != heif_error_Ok)
        error(err, "cannot decode HEIF: %s", e.message);
    else
        rc = decode_primary(ctx, o->max_pixels, im, err);
    heif.heif_context_free(ctx);
    heif.heif_deinit();
    return rc;
}

/* HEIF and AVIF: an ISO-BMFF file whose first box is ftyp with one of
 * their major brands (mif1 and msf1 are the generic HEIF ones). */
static int heifimg_probe(const unsigned char *b, size_t len)
{
    static const char brands[][5] = {"heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs",
                                     "mif1", "msf1", "avif", "avis"};
    if (len < 12 || memcmp(b + 4, "ftyp", 4))
        return 0;
    for (size_t k = 0; k < sizeof brands / sizeof brands[0]; k++)
        if (!memcmp(b + 8, brands[k], 4))
            return 1;
    return 0;
}

const struct decoder heifimg_decoder = {
    .name = "HEIF/AVIF",
    .extensions = "heic heif avif",
    .probe = heifimg_probe,
    .decode = heifimg_decode,
    .version = heifimg_version,
    .library = HEIFIMG_SONAME,
};
