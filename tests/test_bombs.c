/* test_bombs.c - the photo libraries' bombs of issue 26 (rows 6, 7, 8, 10
 * and 16) and HEIF's --draft thumbnail, each input built here: refused with
 * the message that names the bound, or decoded within bounded time and
 * memory (in a child process under setrlimit, so a runaway fails the test,
 * not the test run). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <libheif/heif.h>

#include "check.h"
#include "image.h"
#include "preprocess_child.h"

/* For LeakSanitizer (make test-sanitize): libx265 3.5 keeps about 1 KB of
 * its own after each encode, which is not ours to free. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libx265.so\n"; }

/* Preprocesses buf as o says in a child that may map 3 GB more than it
 * has and run 20 s (preprocess_child.h). */
static struct outcome in_child(const unsigned char *buf, size_t len, const struct image_opts *o)
{
    return preprocess_in_child(buf, len, o, 20, (rlim_t)3 << 30);
}

static const struct image_opts defaults = {.resolution = 8, .exif = 1, .max_pixels = IMAGE_MAX_PIXELS};

/* With CLIPPIE_BOMB_SEEDS=DIR, each small input is also written to
 * DIR/kind-N, for the fuzz corpora (tests/fuzz/corpus/kind, named by their
 * SHA-1 as the others are). */
static void seed(const char *kind, const unsigned char *buf, size_t len)
{
    static int n;
    const char *dir = getenv("CLIPPIE_BOMB_SEEDS");
    char path[512];
    snprintf(path, sizeof path, "%s/%s-%d", dir ? dir : "", kind, n++);
    FILE *f = dir && len < 16384 ? fopen(path, "wb") : NULL;
    if (f) {
        fwrite(buf, 1, len, f);
        fclose(f);
    }
}

/* Refused, within the limits, with a message containing want, and peak
 * memory under 256 MB (the bombs took gigabytes). */
static void refused(const unsigned char *buf, size_t len, const char *what, const char *want)
{
    seed(buf[4] == 'f' ? "heif" : buf[0] == 'I' ? "tiff" : "webp", buf, len);
    struct outcome r = in_child(buf, len, &defaults);
    CHECK(!r.hung, "%s: still decoding after 20 s", what);
    CHECK(r.rc == -1 && strstr(r.err, want), "%s: rc %d, message '%s', not '%s'", what, r.rc, r.err, want);
    CHECK(r.peak_kib < 256 << 10, "%s: peak memory %ld MiB", what, r.peak_kib >> 10);
}

/* ---- a byte builder: ISO-BMFF boxes (big-endian) and TIFF (little) ---- */

struct bytes {
    unsigned char *p;
    size_t n, cap;
};

static void put(struct bytes *b, const void *s, size_t n)
{
    if (n == 0) /* an item of no data: s may be NULL */
        return;
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        if (!(b->p = realloc(b->p, b->cap)))
            abort();
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void u8(struct bytes *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}

static void be16(struct bytes *b, unsigned v) { u8(b, v >> 8), u8(b, v); }
static void be32(struct bytes *b, uint32_t v) { be16(b, v >> 16), be16(b, v & 0xffff); }
static void le16(struct bytes *b, unsigned v) { u8(b, v), u8(b, v >> 8); }
static void le32(struct bytes *b, uint32_t v) { le16(b, v & 0xffff), le16(b, v >> 16); }

/* A box's header, its size patched by box_end; version and flags (4 bytes of
 * zeros but the version) for a full box. */
static size_t box(struct bytes *b, const char *type)
{
    size_t at = b->n;
    be32(b, 0);
    put(b, type, 4);
    return at;
}

static size_t full_box(struct bytes *b, const char *type, unsigned version)
{
    size_t at = box(b, type);
    be32(b, version << 24);
    return at;
}

static void box_end(struct bytes *b, size_t at)
{
    uint32_t n = (uint32_t)(b->n - at);
    unsigned char be[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                           (unsigned char)n};
    memcpy(b->p + at, be, 4);
}

/* ---- HEIF files of items built here: every item's data in idat ---- */

struct item {
    unsigned id;
    const char *type;       /* "hvc1", "grid", "iden", "iovl", "av01" */
    const unsigned char *data;
    size_t n;
    int split;              /* its data in two extents, the first of 3 bytes */
    const unsigned char *prop; /* its coding's property box (hvcC, av1C), NULL: none */
    size_t prop_n;
    unsigned w, h;          /* its ispe (which a bomb makes small), 0: none */
    int alpha;              /* an auxC property: it is an alpha image */
};

struct ref {
    const char *type; /* "dimg", "auxl", "thmb" */
    unsigned from, n, to[4];
};

static void heif_file(struct bytes *f, const char *brand, unsigned primary, const struct item *items, size_t n,
                      const struct ref *refs, size_t nrefs)
{
    size_t ftyp = box(f, "ftyp");
    put(f, brand, 4), be32(f, 0), put(f, "mif1", 4), put(f, brand, 4);
    box_end(f, ftyp);
    size_t meta = full_box(f, "meta", 0), b = full_box(f, "hdlr", 0);
    be32(f, 0), put(f, "pict", 4), be32(f, 0), be32(f, 0), be32(f, 0), u8(f, 0);
    box_end(f, b);
    b = full_box(f, "pitm", 0), be16(f, primary), box_end(f, b);
    size_t iinf = full_box(f, "iinf", 0);
    be16(f, (unsigned)n);
    for (size_t k = 0; k < n; k++) {
        b = full_box(f, "infe", 2);
        be16(f, items[k].id), be16(f, 0), put(f, items[k].type, 4), u8(f, 0);
        box_end(f, b);
    }
    box_end(f, iinf);
    size_t iref = full_box(f, "iref", 0);
    for (size_t k = 0; k < nrefs; k++) {
        b = box(f, refs[k].type);
        be16(f, refs[k].from), be16(f, refs[k].n);
        for (unsigned t = 0; t < refs[k].n; t++)
            be16(f, refs[k].to[t]);
        box_end(f, b);
    }
    box_end(f, iref);
    size_t iprp = box(f, "iprp"), ipco = box(f, "ipco");
    unsigned props = 0, index[16][3] = {{0}};
    for (size_t k = 0; k < n; k++) {
        if (items[k].prop)
            put(f, items[k].prop, items[k].prop_n), index[k][0] = ++props;
        if (items[k].w) {
            b = full_box(f, "ispe", 0), be32(f, items[k].w), be32(f, items[k].h), box_end(f, b);
            index[k][1] = ++props;
        }
        if (items[k].alpha) {
            b = full_box(f, "auxC", 0), put(f, "urn:mpeg:hevc:2015:auxid:1", 27), box_end(f, b);
            index[k][2] = ++props;
        }
    }
    box_end(f, ipco);
    size_t ipma = full_box(f, "ipma", 0);
    be32(f, (uint32_t)n);
    for (size_t k = 0; k < n; k++) {
        be16(f, items[k].id), u8(f, (index[k][0] > 0) + (index[k][1] > 0) + (index[k][2] > 0));
        for (int i = 0; i < 3; i++)
            if (index[k][i])
                u8(f, 0x80 | index[k][i]);
    }
    box_end(f, ipma);
    box_end(f, iprp);
    size_t iloc = full_box(f, "iloc", 1), at = 0;
    u8(f, 0x44), u8(f, 0x00); /* 4-byte offsets and lengths; no base offset, no index */
    be16(f, (unsigned)n);
    for (size_t k = 0; k < n; k++) {
        be16(f, items[k].id), be16(f, 1), be16(f, 0); /* construction method 1: idat */
        if (items[k].split && items[k].n > 3)
            be16(f, 2), be32(f, (uint32_t)at), be32(f, 3), be32(f, (uint32_t)at + 3), be32(f, (uint32_t)items[k].n - 3);
        else
            be16(f, 1), be32(f, (uint32_t)at), be32(f, (uint32_t)items[k].n);
        at += items[k].n;
    }
    box_end(f, iloc);
    size_t idat = box(f, "idat");
    for (size_t k = 0; k < n; k++)
        put(f, items[k].data, items[k].n);
    box_end(f, idat);
    box_end(f, meta);
}

/* A grid descriptor (HEIF 6.6.2.3.2) of rows x cols tiles, 16-bit sizes. */
static size_t grid(unsigned char *d, unsigned rows, unsigned cols, unsigned w, unsigned h)
{
    unsigned char g[8] = {0, 0, (unsigned char)(rows - 1), (unsigned char)(cols - 1), (unsigned char)(w >> 8),
                          (unsigned char)w, (unsigned char)(h >> 8), (unsigned char)h};
    memcpy(d, g, 8);
    return 8;
}

/* A real 64 x 48 HEVC image of libheif's: its hvcC box and coded data. */
struct coded {
    unsigned char *hvcc, *data;
    size_t hn, dn;
};

static struct heif_error grow(struct heif_context *ctx, const void *data, size_t size, void *user)
{
    struct bytes *g = user;
    (void)ctx;
    put(g, data, size);
    return (struct heif_error){heif_error_Ok, heif_suberror_Unspecified, "ok"};
}

/* A w x h HEIC of one colour, with a tw x th thumbnail of another when tw > 0. */
static struct bytes encode_heic(int w, int h, const unsigned char rgb[3], int tw, const unsigned char trgb[3])
{
    struct bytes g = {0};
    struct heif_context *ctx = heif_context_alloc();
    struct heif_encoder *enc = NULL;
    struct heif_image *img[2] = {NULL, NULL};
    struct heif_image_handle *handle = NULL;
    heif_context_get_encoder_for_format(ctx, heif_compression_HEVC, &enc);
    for (int k = 0; k < 2; k++) {
        heif_image_create(w, h, heif_colorspace_RGB, heif_chroma_interleaved_RGB, &img[k]);
        heif_image_add_plane(img[k], heif_channel_interleaved, w, h, 8);
        int stride;
        uint8_t *p = heif_image_get_plane(img[k], heif_channel_interleaved, &stride);
        for (int y = 0; y < h && p; y++)
            for (int x = 0; x < w; x++)
                memcpy(p + (size_t)y * stride + 3 * x, k && trgb ? trgb : rgb, 3);
    }
    struct heif_writer writer = {.writer_api_version = 1, .write = grow};
    if (enc && heif_context_encode_image(ctx, img[0], enc, NULL, &handle).code == heif_error_Ok &&
        (tw == 0 || heif_context_encode_thumbnail(ctx, img[1], handle, enc, NULL, tw, NULL).code == heif_error_Ok))
        heif_context_write(ctx, &writer, &g);
    heif_image_handle_release(handle);
    heif_image_release(img[0]);
    heif_image_release(img[1]);
    if (enc)
        heif_encoder_release(enc);
    heif_context_free(ctx);
    return g;
}

/* The first box of type t (a box header's 4 letters) anywhere in b: its
 * whole box, header included. */
static unsigned char *find(const struct bytes *b, const char *t, size_t *n)
{
    for (size_t p = 4; p + 4 <= b->n; p++)
        if (!memcmp(b->p + p, t, 4)) {
            *n = (size_t)b->p[p - 4] << 24 | (size_t)b->p[p - 3] << 16 | (size_t)b->p[p - 2] << 8 | b->p[p - 1];
            return *n >= 8 && *n <= b->n - (p - 4) ? b->p + p - 4 : NULL;
        }
    return NULL;
}

static struct coded real_tile(void)
{
    static const unsigned char grey[3] = {128, 128, 128};
    struct coded c = {0};
    struct bytes heic = encode_heic(64, 48, grey, 0, NULL);
    unsigned char *h = find(&heic, "hvcC", &c.hn), *d = find(&heic, "mdat", &c.dn);
    if (h && d && c.dn > 8) {
        c.hvcc = malloc(c.hn), c.data = malloc(c.dn -= 8);
        memcpy(c.hvcc, h, c.hn), memcpy(c.data, d + 8, c.dn);
    }
    free(heic.p);
    return c;
}

/* Row 6: derived images, whatever the path to them. */
static void test_heif_derived(void)
{
    struct coded t = real_tile();
    CHECK(t.hvcc && t.data, "libheif encoded no HEVC tile");
    if (!t.hvcc || !t.data)
        return;
    /* the derived images' ispe say 64 x 48, which libheif 1.15 checks; their descriptors say more */
    unsigned char big[8], inner[8], outer[8], ovl[32] = {0};
    grid(big, 1, 1, 32767, 32767);
    struct item tile = {.id = 9, .type = "hvc1", .data = t.data, .n = t.dn, .prop = t.hvcc, .prop_n = t.hn, .w = 64, .h = 48};
    struct bytes f = {0};

    /* the primary an iden of a 32767^2 grid of one tile (2.8 KB: 25 s and 6.3 GB) */
    struct item iden[] = {{.id = 1, .type = "iden", .w = 64, .h = 48}, {.id = 2, .type = "grid", .data = big, .n = 8, .w = 64, .h = 48}, tile};
    struct ref iden_refs[] = {{"dimg", 1, 1, {2}}, {"dimg", 2, 1, {9}}};
    heif_file(&f, "heic", 1, iden, 3, iden_refs, 2);
    refused(f.p, f.n, "iden of a 32767^2 grid", "32767 x 32767 pixels is over the limit");

    /* the grid's descriptor in two extents (5 s and 2 GB) */
    f.n = 0;
    struct item split[] = {{.id = 2, .type = "grid", .data = big, .n = 8, .split = 1, .w = 64, .h = 48}, tile};
    heif_file(&f, "heic", 2, split, 2, iden_refs + 1, 1);
    refused(f.p, f.n, "grid descriptor in two extents", "32767 x 32767 pixels is over the limit");

    /* a 2 x 2 grid of 10000^2 whose tiles are one 5000^2 grid: each within
     * the limit, over it in all at the second inner one (decoded at 1 GB before) */
    f.n = 0;
    grid(outer, 2, 2, 10000, 10000), grid(inner, 1, 1, 5000, 5000);
    struct item nested[] = {{.id = 1, .type = "grid", .data = outer, .n = 8, .w = 64, .h = 48},
                            {.id = 2, .type = "grid", .data = inner, .n = 8, .w = 64, .h = 48}, tile};
    struct ref nested_refs[] = {{"dimg", 1, 4, {2, 2, 2, 2}}, {"dimg", 2, 1, {9}}};
    heif_file(&f, "heic", 1, nested, 3, nested_refs, 2);
    refused(f.p, f.n, "grid of grids", "derived images of 125000000 pixels in all");

    /* an iden of itself: a cycle */
    f.n = 0;
    struct ref cycle_refs[] = {{"dimg", 1, 1, {1}}};
    heif_file(&f, "heic", 1, iden, 1, cycle_refs, 1);
    refused(f.p, f.n, "iden of itself", "derived images nested too deep");

    /* an overlay of 32767^2 (32-bit sizes) */
    f.n = 0;
    unsigned char o[] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0, 0, 0x7f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(ovl, o, sizeof o);
    struct item overlay[] = {{.id = 1, .type = "iovl", .data = ovl, .n = sizeof o, .w = 64, .h = 48}, tile};
    struct ref ovl_refs[] = {{"dimg", 1, 1, {9}}};
    heif_file(&f, "heic", 1, overlay, 2, ovl_refs, 1);
    refused(f.p, f.n, "overlay of 32767^2", "32767 x 32767 pixels is over the limit");

    /* a coded primary whose alpha image is a 32767^2 grid */
    f.n = 0;
    struct item alpha[] = {{.id = 1, .type = "hvc1", .data = t.data, .n = t.dn, .prop = t.hvcc, .prop_n = t.hn,
                            .w = 64, .h = 48},
                           {.id = 2, .type = "grid", .data = big, .n = 8, .w = 64, .h = 48, .alpha = 1}, tile};
    struct ref alpha_refs[] = {{"auxl", 2, 1, {1}}, {"dimg", 2, 1, {9}}};
    heif_file(&f, "heic", 1, alpha, 3, alpha_refs, 2);
    refused(f.p, f.n, "alpha image a 32767^2 grid", "32767 x 32767 pixels is over the limit");

    /* a grid of one real tile, 64 x 48, decodes (the walk refuses nothing of a plain grid) */
    f.n = 0;
    unsigned char fine[8];
    grid(fine, 1, 1, 64, 48);
    struct item plain[] = {{.id = 1, .type = "grid", .data = fine, .n = 8, .split = 1, .w = 64, .h = 48}, tile};
    heif_file(&f, "heic", 1, plain, 2, ovl_refs, 1);
    seed("heif", f.p, f.n);
    struct outcome r = in_child(f.p, f.n, &defaults);
    CHECK(r.rc == 0 && fabsf(r.first[0] * 0.26862954f + 0.48145466f - 128 / 255.0f) < 0.03f,
          "grid of one tile: rc %d %s, first pixel %g", r.rc, r.err, r.first[0]);
    free(f.p), free(t.hvcc), free(t.data);
}

/* An HEVC SPS of 30000 x 30000 leading a coded image's data, whose hvcC
 * says 64 x 48: the decoder takes the later one (under libheif's own
 * limit of 32768 a side). */
static void test_hevc_inband(void)
{
    struct coded t = real_tile();
    CHECK(t.hvcc && t.data, "libheif encoded no HEVC tile");
    /* NAL header, VPS id 0, one layer, 96 bits of profile and level (0x01,
     * clear of emulation prevention), then ue(v)s: SPS id 0, 4:2:0, width
     * and height 30000 */
    unsigned char sps[64] = {0x42, 0x01, 0x01};
    memset(sps + 3, 0x01, 12);
    size_t bit = 15 * 8;
    const char *bits = "1" "010" "00000000000000111010100110001" "00000000000000111010100110001" "1";
    for (const char *c = bits; *c; c++, bit++)
        sps[bit / 8] |= (unsigned char)((*c == '1') << (7 - bit % 8));
    size_t sn = (bit + 7) / 8;
    struct bytes data = {0}, f = {0};
    be32(&data, (uint32_t)sn), put(&data, sps, sn), put(&data, t.data, t.dn);
    struct item item = {.id = 1, .type = "hvc1", .data = data.p, .n = data.n, .prop = t.hvcc, .prop_n = t.hn,
                        .w = 64, .h = 48};
    if (t.hvcc && t.data) {
        heif_file(&f, "heic", 1, &item, 1, NULL, 0);
        refused(f.p, f.n, "HEVC SPS of 30000^2 in the coded data", "30000 x 30000 pixels is over the limit");
    }
    free(f.p), free(data.p), free(t.hvcc), free(t.data);
}

/* ---- AV1 (row 7): a 32768^2 sequence header under ispe's 128 x 96 ---- */

/* A sequence header OBU (AV1 5.5, reduced still picture header) of a
 * side x side maximum frame, 16 bits a side, after an OBU header with size. */
static size_t av1_sequence_header(unsigned char *o, unsigned side)
{
    unsigned char s[12] = {0};
    const char *bits = "000" "1" "1" "00000" "1111" "1111"; /* profile, still, reduced, level, 16-bit sizes */
    size_t bit = 0;
    for (const char *c = bits; *c; c++, bit++)
        s[bit / 8] |= (unsigned char)((*c == '1') << (7 - bit % 8));
    for (int k = 0; k < 2; k++)
        for (int i = 15; i >= 0; i--, bit++)
            s[bit / 8] |= (unsigned char)(((side - 1) >> i & 1) << (7 - bit % 8));
    o[0] = 1 << 3 | 2, o[1] = sizeof s; /* OBU_SEQUENCE_HEADER with a size */
    memcpy(o + 2, s, sizeof s);
    return 2 + sizeof s;
}

static void test_avif(void)
{
    unsigned char av1c[64] = {0, 0, 0, 0, 'a', 'v', '1', 'C', 0x81, 0, 0, 0}, coded[64] = {0x12, 0}; /* a delimiter */
    size_t an = 12 + av1_sequence_header(av1c + 12, 32768);
    av1c[3] = (unsigned char)an;
    struct item item = {.id = 1, .type = "av01", .data = coded, .n = 2 + av1_sequence_header(coded + 2, 128),
                        .prop = av1c, .prop_n = an, .w = 128, .h = 96};
    struct bytes f = {0};
    heif_file(&f, "avif", 1, &item, 1, NULL, 0);
    refused(f.p, f.n, "AVIF of a 32768^2 av1C", "32768 x 32768 pixels is over the limit");
    /* the small header in av1C, the large one leading the coded data */
    f.n = 0;
    unsigned char small[64] = {0, 0, 0, 0, 'a', 'v', '1', 'C', 0x81, 0, 0, 0};
    size_t sn = 12 + av1_sequence_header(small + 12, 128);
    small[3] = (unsigned char)sn;
    item.prop = small, item.prop_n = sn, item.n = 2 + av1_sequence_header(coded + 2, 32768);
    heif_file(&f, "avif", 1, &item, 1, NULL, 0);
    refused(f.p, f.n, "AVIF of a 32768^2 sequence header in its data", "32768 x 32768 pixels is over the limit");
    free(f.p);
}

/* ---- --draft HEIC: the thumbnail when its shorter side will do ---- */

static void test_heif_draft(void)
{
    static const unsigned char red[3] = {220, 30, 30}, blue[3] = {30, 30, 220};
    struct bytes f = encode_heic(256, 192, red, 64, blue); /* a 64 x 48 thumbnail */
    CHECK(f.n > 500, "libheif encoded no HEIC with a thumbnail");
    struct image_opts o = defaults;
    for (int k = 0; k < 3 && f.n > 500; k++) {
        o.draft = k > 0, o.resolution = k == 2 ? 64 : 32; /* full; draft with the thumbnail; draft, 48 < 64 */
        struct outcome r = in_child(f.p, f.n, &o);
        float want = (k == 1 ? 30 : 220) / 255.0f, got = r.first[0] * 0.26862954f + 0.48145466f;
        CHECK(r.rc == 0 && fabsf(got - want) < 0.05f, "HEIC %s at %d: rc %d %s, red %g, not %g",
              o.draft ? "draft" : "full", o.resolution, r.rc, r.err, got, want);
    }
    free(f.p);
}

/* ---- TIFF (row 8): YCbCr deflate read by libtiff's RGBA reader ---- */

/* 95 x 1,048,576 pixels of YCbCr, 16,384 tiles of 4,000,000 x 64 all
 * pointing at one deflate stream of 400 KB: the strip/tile path's work
 * limit was skipped by the RGBA reader (an estimated 30 minutes for the
 * issue's file, whose stream inflated to each tile's 384 MB). */
static void test_tiff_rgba(void)
{
    enum { TILES = 16384, STREAM = 400000 };
    /* stored, not compressed: libtiff 4.5 refuses a tile whose stream is
     * under a thousandth of its decoded size */
    unsigned char *raw = malloc(STREAM);
    for (size_t i = 0; i < STREAM; i++)
        raw[i] = (unsigned char)(i * 2654435761u >> 24);
    uLongf zn = compressBound(STREAM);
    unsigned char *z = malloc(zn);
    compress2(z, &zn, raw, STREAM, 0);
    free(raw);
    struct bytes f = {0};
    put(&f, "II*\0", 4), le32(&f, 8);
    struct {
        unsigned tag, type;
        uint32_t count, value;
    } e[] = {{256, 4, 1, 95},     {257, 4, 1, 1 << 20},   {258, 3, 3, 0},     {259, 3, 1, 8},
             {262, 3, 1, 6},      {277, 3, 1, 3},         {284, 3, 1, 1},     {322, 4, 1, 4000000},
             {323, 4, 1, 64},     {324, 4, TILES, 0},     {325, 4, TILES, 0}, {530, 3, 2, 2 | 2 << 16}};
    size_t n = sizeof e / sizeof e[0];
    uint32_t values = (uint32_t)(8 + 2 + 12 * n + 4), bps = values, offsets = bps + 6, counts = offsets + 4 * TILES,
             data = counts + 4 * TILES;
    e[2].value = bps, e[9].value = offsets, e[10].value = counts;
    le16(&f, (unsigned)n);
    for (size_t k = 0; k < n; k++)
        le16(&f, e[k].tag), le16(&f, e[k].type), le32(&f, e[k].count), le32(&f, e[k].value);
    le32(&f, 0);
    le16(&f, 8), le16(&f, 8), le16(&f, 8);
    for (int k = 0; k < TILES; k++)
        le32(&f, data);
    for (int k = 0; k < TILES; k++)
        le32(&f, (uint32_t)zn);
    put(&f, z, zn);
    refused(f.p, f.n, "YCbCr TIFF of 16,384 tiles of one stream", "16384 tiles of 768000000 bytes for an image of "
                                                                   "95 x 1048576, over the work limit");
    free(f.p), free(z);
}

/* ---- WebP (row 10): a 10000^2 canvas and one small frame ---- */

static void test_webp_canvas(const char *dir)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/img-anim.webp", dir);
    unsigned char *anim = slurp(path, &len);
    /* its first ANMF chunk's VP8 frame of 40 x 30 (after VP8X and ANIM) */
    size_t at = 12 + 18 + 14, frame = at + 8 + 16;
    CHECK(anim && len > frame + 8 && !memcmp(anim + at, "ANMF", 4), "cannot read %s's first frame", path);
    if (!anim || len <= frame + 8 || memcmp(anim + at, "ANMF", 4)) {
        free(anim);
        return;
    }
    size_t vp8 = 8 + (anim[frame + 4] | (size_t)anim[frame + 5] << 8 | (size_t)anim[frame + 6] << 16);
    struct bytes f = {0};
    put(&f, "RIFF", 4), le32(&f, 0), put(&f, "WEBP", 4);
    put(&f, "VP8X", 4), le32(&f, 10), le32(&f, 2); /* animated */
    u8(&f, 9999 & 255), le16(&f, 9999 >> 8), u8(&f, 9999 & 255), le16(&f, 9999 >> 8);
    put(&f, "ANIM", 4), le32(&f, 6), le32(&f, 0), le16(&f, 0);
    put(&f, "ANMF", 4), le32(&f, (uint32_t)(16 + vp8));
    put(&f, anim + at + 8, 16); /* the frame's place, size and duration */
    put(&f, anim + frame, vp8);
    uint32_t riff = (uint32_t)f.n - 8;
    for (int k = 0; k < 4; k++)
        f.p[4 + k] = (unsigned char)(riff >> 8 * k);
    seed("webp", f.p, f.n);
    struct outcome r = in_child(f.p, f.n, &defaults);
    /* RGB (no alpha flag): the canvas is black but for the frame's 1200 of its 10^8 pixels */
    CHECK(r.rc == 0 && fabsf(r.first[0] * 0.26862954f + 0.48145466f) < 1e-3f, "10000^2 WebP canvas: rc %d %s, %g",
          r.rc, r.err, r.first[0]);
    CHECK(r.peak_kib < 512 << 10, "10000^2 WebP canvas: peak memory %ld MiB (1.2 GB before)", r.peak_kib >> 10);
    free(f.p), free(anim);
}

/* ---- DNG (row 16): a preview outside the file falls back to the demosaic ---- */

/* img-preview.dng with the values of tag in IFD0 (the preview's) set to v:
 * 1 when found. */
static int patch_ifd0(unsigned char *dng, size_t len, unsigned tag, uint32_t v)
{
    size_t n = len > 10 ? (size_t)(dng[8] | dng[9] << 8) : 0;
    for (size_t k = 0; k < n && 10 + 12 * k + 12 <= len; k++)
        if ((dng[10 + 12 * k] | dng[11 + 12 * k] << 8) == (int)tag) {
            for (int i = 0; i < 4; i++)
                dng[10 + 12 * k + 8 + i] = (unsigned char)(v >> 8 * i);
            return 1;
        }
    return 0;
}

static void test_dng_preview(const char *dir)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/img-preview.dng", dir);
    unsigned char *dng = slurp(path, &len), *small = dng ? malloc(len) : NULL;
    CHECK(dng && len > 1000, "cannot read %s", path);
    if (!dng || len <= 1000) {
        free(dng);
        return;
    }
    memcpy(small, dng, len);
    /* the same file, its 32 x 24 preview said to be 8 x 8: too small at 16, so demosaiced */
    int patched = patch_ifd0(dng, len, 273, 0x7f000000) && patch_ifd0(small, len, 256, 8) &&
                  patch_ifd0(small, len, 257, 8);
    CHECK(patched, "img-preview.dng has no StripOffsets, width and length in IFD0");
    struct image_opts o = defaults;
    o.resolution = 16; /* the 32 x 24 preview would do */
    seed("raw", dng, len);
    struct outcome r = in_child(dng, len, &o), want = in_child(small, len, &o);
    CHECK(patched && r.rc == 0 && want.rc == 0 && !memcmp(r.first, want.first, sizeof r.first),
          "DNG of a preview outside the file: rc %d %s (%g), not the demosaic (rc %d, %g)", r.rc, r.err, r.first[0],
          want.rc, want.first[0]);
    free(dng), free(small);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/fixtures";
    test_heif_derived();
    test_hevc_inband();
    test_avif();
    test_heif_draft();
    test_tiff_rgba();
    test_webp_canvas(dir);
    test_dng_preview(dir);
    return check_done("test_bombs");
}
