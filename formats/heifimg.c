/* heifimg.c - HEIC/HEIF and AVIF pixels by libheif.
 *
 * The primary image, decoded by libheif with the container's
 * transformations (rotation, mirror, crop), which is how a phone shows
 * the photo; its EXIF orientation is then not applied again. 8-bit RGB,
 * or RGBA when it has an alpha image; images of more bits are reduced to
 * 8 by libheif.
 *
 * With draft, the primary image's smallest thumbnail item whose shorter
 * side is at least the resolution is decoded instead (a phone's 320 x 240
 * one: 60x faster than the 12 MP image; bench/heif.sh), as RAW's preview
 * is; the primary image when none will do.
 *
 * Before libheif allocates anything, the sizes the file claims are checked
 * against max_pixels, as libheif 1.15 and its decoders allocate them
 * whatever the container's image size says:
 *  - every HEVC sequence parameter set's picture and every AV1 sequence
 *    header's maximum frame: hvcC's and av1C's, and those leading each
 *    hvc1 and av01 item's data, up to its first picture;
 *  - every derived image (grid, overlay, iden) libheif may decode: from
 *    the primary item, and from each alpha, depth (auxl) or thumbnail
 *    (thmb) item, the dimg references are followed down to the coded
 *    images, and each grid's or overlay's canvas, its descriptor read
 *    across all its extents, must be within max_pixels, and all the
 *    canvases one image composes (a grid among a grid's tiles counted each
 *    time) within max_pixels together; at most 16 derived images deep,
 *    1024 visited and 65536 references followed (cycles end there);
 *  - then the chosen image's size, and the decoded image must be that size.
 * Thread-safe.
 * See decoder.h.
 */
#include "decoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libheif/heif.h>

/* libheif is loaded on first use (util.h), not with clippie */
#define HEIF_API(X) X(heif_init) X(heif_deinit) X(heif_get_version) X(heif_context_alloc) X(heif_context_free) X(heif_context_read_from_memory_without_copy) X(heif_context_get_primary_image_handle) X(heif_image_handle_get_width) X(heif_image_handle_get_height) X(heif_image_handle_has_alpha_channel) X(heif_image_handle_release) X(heif_image_handle_get_number_of_thumbnails) X(heif_image_handle_get_list_of_thumbnail_IDs) X(heif_image_handle_get_thumbnail) X(heif_decode_image) X(heif_image_get_width) X(heif_image_get_height) X(heif_image_get_plane_readonly) X(heif_image_release)
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

/* A bit reader over an RBSP, skipping emulation prevention bytes (00 00 03),
 * or over plain bytes (AV1 has none). */
struct bits {
    const unsigned char *b;
    size_t n, byte, zeros;
    int bit, over, plain;
};

static unsigned read_bits(struct bits *r, int k)
{
    unsigned v = 0;
    while (k-- > 0) {
        if (!r->plain && r->bit == 0 && r->zeros >= 2 && r->byte < r->n && r->b[r->byte] == 3)
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

/* Every SPS among the NAL units (4-byte lengths, as libheif reads them)
 * that lead an hvc1 item's data h[0, n), up to its first picture's slice:
 * the decoder takes them after hvcC's. */
static int check_nals(const unsigned char *h, size_t n, uint64_t max_pixels, char *err)
{
    for (size_t p = 0; n - p >= 6;) {
        size_t len = load_be32(h + p), type = h[p + 4] >> 1 & 0x3f;
        uint64_t w, ht;
        if (type < 32) /* a slice: the parameter sets are behind */
            return 0;
        if (type == 33 && sps_size(h + p + 4, len < n - p - 4 ? len : n - p - 4, &w, &ht) < 0)
            return error(err, "cannot decode HEIF: HEVC sequence parameter set cut short");
        if (type == 33 && decoder_check_size(w, ht, max_pixels, err) < 0)
            return -1;
        if (len > n - p - 4)
            return 0;
        p += 4 + len;
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

/* An unsigned of k bytes (0 to 8; big-endian) at *p in b[0, n): -1 when
 * it runs past the end. */
static int read_be(const unsigned char *b, size_t n, size_t *p, int k, uint64_t *v)
{
    if (n < (size_t)k || *p > n - (size_t)k)
        return -1;
    for (*v = 0; k > 0; k--)
        *v = *v << 8 | b[(*p)++];
    return 0;
}

/* ---- the items (HEIF 9; ISO/IEC 14496-12 8.11), read once from iinf and
 * iloc into a table sorted by id, and their references from iref ---- */

struct item {
    uint32_t id;
    unsigned char type[4]; /* "hvc1", "grid"... */
    int located;           /* iloc gives its place */
    int method;            /* iloc's construction method: 0 the file, 1 idat */
    uint64_t base;         /* iloc's base offset */
    size_t ext, extents;   /* the offset in iloc of its first extent, their count */
};

struct meta {
    const unsigned char *b, *iloc, *iref, *idat;
    size_t len, ln, rn, dn;
    int osz, lsz, isz; /* iloc's sizes of an extent's offset, length and index */
    struct item *items;
    size_t n;
};

static int by_id(const void *a, const void *b)
{
    uint32_t x = ((const struct item *)a)->id, y = ((const struct item *)b)->id;
    return x < y ? -1 : x > y;
}

static struct item *find_item(const struct meta *m, uint64_t id)
{
    struct item key = {.id = (uint32_t)id};
    return id > UINT32_MAX ? NULL : bsearch(&key, m->items, m->n, sizeof key, by_id);
}

/* The entries of iinf (a full box, then a count of 16 bits in version 0,
 * else 32) of version 2 and 3, the ones that name an item's type. */
static int read_iinf(struct meta *m, const unsigned char *iinf, size_t in, char *err)
{
    const unsigned char *type, *e;
    size_t en, p = in >= 4 && iinf[0] == 0 ? 6 : 8;
    if (p > in)
        return error(err, "cannot decode HEIF: iinf box of %zu bytes", in);
    if (!(m->items = calloc(in / 8 + 1, sizeof *m->items))) /* an entry is 8 bytes at least */
        return error(err, "out of memory for HEIF items");
    while (next_box(iinf, in, &p, &type, &e, &en)) {
        size_t q = 4;
        uint64_t id;
        if (memcmp(type, "infe", 4) || en < 4 || (e[0] != 2 && e[0] != 3))
            continue;
        if (read_be(e, en, &q, e[0] == 2 ? 2 : 4, &id) < 0 || en - q < 6)
            return error(err, "cannot decode HEIF: infe box cut short");
        m->items[m->n] = (struct item){.id = (uint32_t)id};
        memcpy(m->items[m->n++].type, e + q + 2, 4); /* past the protection index */
    }
    qsort(m->items, m->n, sizeof *m->items, by_id);
    for (size_t k = 1; k < m->n; k++)
        if (m->items[k].id == m->items[k - 1].id) /* libheif keeps the last, a check the first */
            return error(err, "cannot decode HEIF: item %u is declared twice", m->items[k].id);
    return 0;
}

/* Where iloc (ISO/IEC 14496-12 8.11.3) puts each item: its construction
 * method, base offset and extents, left in iloc and read by item_bytes. */
static int read_iloc(struct meta *m, char *err)
{
    const unsigned char *l = m->iloc;
    uint64_t count, id, method = 0, ref, base, extents;
    if (m->ln < 8 || l[0] > 2)
        return error(err, "cannot decode HEIF: iloc box of version %d, %zu bytes", m->ln ? l[0] : -1, m->ln);
    int v = l[0], bsz = l[5] >> 4;
    m->osz = l[4] >> 4, m->lsz = l[4] & 15, m->isz = v ? l[5] & 15 : 0;
    size_t p = 6;
    if (read_be(l, m->ln, &p, v < 2 ? 2 : 4, &count) < 0)
        return error(err, "cannot decode HEIF: iloc box cut short");
    for (uint64_t i = 0; i < count; i++) {
        if (read_be(l, m->ln, &p, v < 2 ? 2 : 4, &id) < 0 || (v && read_be(l, m->ln, &p, 2, &method) < 0) ||
            read_be(l, m->ln, &p, 2, &ref) < 0 || read_be(l, m->ln, &p, bsz, &base) < 0 ||
            read_be(l, m->ln, &p, 2, &extents) < 0)
            return error(err, "cannot decode HEIF: iloc box cut short");
        size_t ext = p, each = (size_t)(m->isz + m->osz + m->lsz);
        if (extents * each > m->ln - p)
            return error(err, "cannot decode HEIF: iloc box cut short");
        p += (size_t)extents * each;
        struct item *it = find_item(m, id);
        if (it && it->located)
            return error(err, "cannot decode HEIF: item %llu is located twice", (unsigned long long)id);
        if (it)
            it->located = 1, it->method = (int)(method & 15), it->base = base, it->ext = ext,
            it->extents = (size_t)extents;
    }
    return 0;
}

/* Up to cap bytes of an item's data, its extents joined, into out: how
 * many, or SIZE_MAX when the item has no place or one outside the file
 * (libheif refuses those too). */
static size_t item_bytes(const struct meta *m, const struct item *it, unsigned char *out, size_t cap)
{
    const unsigned char *data = it->method == 0 ? m->b : it->method == 1 ? m->idat : NULL;
    size_t dlen = it->method == 0 ? m->len : m->dn, got = 0, p = it->ext;
    if (!it->located || !data)
        return SIZE_MAX;
    for (size_t e = 0; e < it->extents; e++) {
        uint64_t index, off = 0, size = 0;
        read_be(m->iloc, m->ln, &p, m->isz, &index); /* within iloc: read_iloc checked */
        read_be(m->iloc, m->ln, &p, m->osz, &off);
        read_be(m->iloc, m->ln, &p, m->lsz, &size);
        if (it->base > dlen || off > dlen - it->base)
            return SIZE_MAX;
        size_t start = (size_t)(it->base + off), n = size == 0 ? dlen - start : (size_t)size;
        if (size > dlen - start)
            return SIZE_MAX;
        n = n < cap - got ? n : cap - got;
        memcpy(out + got, data + start, n);
        got += n;
    }
    return got;
}

/* The items that item from refers to by references of type t (iref, a
 * full box: version 0 of 16-bit ids, 1 of 32), malloc'd into *to (the
 * caller frees it): how many, or -1 with err. */
static long references(const struct meta *m, const char *t, uint64_t from, uint32_t **to, char *err)
{
    const unsigned char *type, *r;
    size_t rn, p = 4, n = 0;
    int k = m->rn >= 4 && m->iref[0] == 1 ? 4 : 2;
    *to = NULL;
    for (int pass = 0; pass < 2; pass++) { /* count, then fill */
        p = 4, n = 0;
        while (m->iref && next_box(m->iref, m->rn, &p, &type, &r, &rn)) {
            size_t q = 0;
            uint64_t id, count, v;
            if (read_be(r, rn, &q, k, &id) < 0 || read_be(r, rn, &q, 2, &count) < 0 || count * k > rn - q)
                return error(err, "cannot decode HEIF: iref box cut short");
            for (uint64_t c = 0; !memcmp(type, t, 4) && id == from && c < count; c++, n++)
                if (pass && read_be(r, rn, &q, k, &v) == 0)
                    (*to)[n] = (uint32_t)v;
        }
        if (!pass && !(*to = malloc((n ? n : 1) * sizeof **to)))
            return error(err, "out of memory for HEIF references");
    }
    return (long)n;
}

/* ---- derived images: libheif 1.15 allocates a grid's or an overlay's
 * canvas as its descriptor says (one of 18761 x 18761 in a 1.6 KB file
 * took 2 GB and 7.6 s), whatever leads to it: the primary item, an iden
 * of it, a grid among a grid's tiles, an alpha or depth image ---- */

#define WALK_DEPTH 16      /* derived images within derived images */
#define WALK_DERIVED 1024  /* derived images visited (a tile's each time), from all images */
#define WALK_REFS 65536    /* references followed, from all images */

struct walk {
    uint64_t pixels, max_pixels; /* the canvases of one image to decode, summed */
    unsigned derived, refs;
};

/* The canvas of a grid or overlay (HEIF 6.6.2.3, 6.6.2.2): read across
 * all of its extents, as libheif reads it. */
static int canvas(const struct meta *m, const struct item *it, uint64_t *w, uint64_t *h, char *err)
{
    unsigned char d[32];
    size_t n = item_bytes(m, it, d, sizeof d);
    size_t p = !memcmp(it->type, "grid", 4) ? 4 : 10; /* version, flags, then rows and columns, or a fill colour */
    int k = n != SIZE_MAX && n >= 2 && (d[1] & 1) ? 4 : 2;
    if (n == SIZE_MAX || read_be(d, n, &p, k, w) < 0 || read_be(d, n, &p, k, h) < 0)
        return error(err, "cannot decode HEIF: the descriptor of %.4s item %u is %s", (const char *)it->type, it->id,
                     n == SIZE_MAX ? "outside the file" : "cut short");
    return 0;
}

/* Item id and the images it is derived from, down to the coded ones. */
static int walk(const struct meta *m, uint64_t id, int depth, struct walk *w, char *err)
{
    const struct item *it = find_item(m, id);
    if (!it || (memcmp(it->type, "grid", 4) && memcmp(it->type, "iovl", 4) && memcmp(it->type, "iden", 4)))
        return 0; /* a coded image (its sizes are checked in ipco), or libheif says what is wrong */
    if (depth >= WALK_DEPTH || ++w->derived > WALK_DERIVED)
        return error(err, "cannot decode HEIF: derived images %s", depth >= WALK_DEPTH ? "nested too deep" : "too many");
    uint64_t cw, ch;
    if (memcmp(it->type, "iden", 4)) {
        if (canvas(m, it, &cw, &ch, err) < 0 || decoder_check_size(cw, ch, w->max_pixels, err) < 0)
            return -1;
        if ((w->pixels += cw * ch) > w->max_pixels)
            return error(err, "cannot decode HEIF: derived images of %llu pixels in all (nested ones counted "
                              "each time), over the limit of %llu pixels",
                         (unsigned long long)w->pixels, (unsigned long long)w->max_pixels);
    }
    uint32_t *to;
    long n = references(m, "dimg", id, &to, err);
    int rc = n < 0 ? -1 : 0;
    if (n > 0 && (w->refs += (unsigned)n) > WALK_REFS)
        rc = error(err, "cannot decode HEIF: derived images of more than %d inputs", WALK_REFS);
    for (long k = 0; rc == 0 && k < n; k++)
        rc = walk(m, to[k], depth + 1, w, err);
    free(to);
    return rc;
}

/* The images libheif may decode: the primary item, and every item that
 * is an alpha or depth image (auxl) or a thumbnail (thmb) of another;
 * each composes at most max_pixels pixels of canvases in all, and the walk
 * visits at most WALK_DERIVED derived images and WALK_REFS references
 * over all of them. */
static int check_derived(const struct meta *m, uint64_t primary, uint64_t max_pixels, char *err)
{
    const unsigned char *type, *r;
    size_t rn, p = 4, q;
    int k = m->rn >= 4 && m->iref[0] == 1 ? 4 : 2;
    uint64_t id;
    struct walk w = {.max_pixels = max_pixels};
    if (walk(m, primary, 0, &w, err) < 0)
        return -1;
    while (m->iref && next_box(m->iref, m->rn, &p, &type, &r, &rn))
        if ((!memcmp(type, "auxl", 4) || !memcmp(type, "thmb", 4)) && (q = 0, read_be(r, rn, &q, k, &id) == 0)) {
            w.pixels = 0; /* the visits and references are counted over all of them */
            if (walk(m, id, 0, &w, err) < 0)
                return -1;
        }
    return 0;
}

/* ---- AV1: dav1d allocates the frame its headers say, whatever the
 * container's size; a frame is at most the sequence header's maximum ---- */

/* The maximum frame size of an AV1 sequence header OBU's payload (AV1 5.5). */
static int av1_max_frame(const unsigned char *s, size_t n, uint64_t *w, uint64_t *h)
{
    struct bits r = {.b = s, .n = n, .plain = 1};
    int model = 0, delay_bits = 0;
    read_bits(&r, 3); /* profile */
    read_bits(&r, 1); /* still picture */
    if (read_bits(&r, 1)) { /* reduced still picture header */
        read_bits(&r, 5);
    } else {
        if (read_bits(&r, 1)) { /* timing info */
            read_bits(&r, 32), read_bits(&r, 32);
            if (read_bits(&r, 1))
                read_ue(&r); /* AV1's uvlc is Exp-Golomb */
            if ((model = (int)read_bits(&r, 1))) {
                delay_bits = (int)read_bits(&r, 5) + 1;
                read_bits(&r, 32), read_bits(&r, 10);
            }
        }
        int display = (int)read_bits(&r, 1), points = (int)read_bits(&r, 5) + 1;
        for (int i = 0; i < points && !r.over; i++) {
            read_bits(&r, 12);
            if (read_bits(&r, 5) > 7)
                read_bits(&r, 1);
            if (model && read_bits(&r, 1))
                read_bits(&r, delay_bits), read_bits(&r, delay_bits), read_bits(&r, 1);
            if (display && read_bits(&r, 1))
                read_bits(&r, 4);
        }
    }
    int wb = (int)read_bits(&r, 4) + 1, hb = (int)read_bits(&r, 4) + 1;
    *w = (uint64_t)read_bits(&r, wb) + 1, *h = (uint64_t)read_bits(&r, hb) + 1;
    return r.over ? -1 : 0;
}

/* Every sequence header among the OBUs (AV1 5.3) that lead o[0, n), up to
 * the first frame's, within max_pixels. */
static int check_obus(const unsigned char *o, size_t n, uint64_t max_pixels, char *err)
{
    for (size_t p = 0; p < n;) {
        unsigned type = o[p] >> 3 & 15, sized = o[p] >> 1 & 1;
        size_t q = p + 1 + (o[p] >> 2 & 1), size = 0;
        for (int k = 0; sized && k < 8 && q < n; k++) { /* leb128 */
            size |= (size_t)(o[q] & 0x7f) << 7 * k;
            if (!(o[q++] & 0x80))
                break;
        }
        if (q > n)
            return 0;
        size = !sized || size > n - q ? n - q : size;
        uint64_t w, h;
        if (type == 1 && av1_max_frame(o + q, size, &w, &h) < 0)
            return error(err, "cannot decode AVIF: AV1 sequence header cut short");
        if (type == 1 && decoder_check_size(w, h, max_pixels, err) < 0)
            return -1;
        if (type != 1 && type != 2 && type != 5 && type != 15) /* not a header, delimiter, metadata or padding */
            return 0;
        p = q + size;
    }
    return 0;
}

/* Before libheif allocates anything: meta (a full box: 4 bytes of version
 * and flags) > iprp > ipco > hvcC and av1C, the parameter sets and
 * sequence headers leading every hvc1 and av01 item's data, and the
 * derived images. */
static int check_streams(const unsigned char *b, size_t len, uint64_t max_pixels, char *err)
{
    size_t mn, n, cn, in, pn, p = 4;
    const unsigned char *meta = find_box(b, len, "meta", &mn), *iprp, *ipco, *type, *c, *iinf, *pitm;
    struct meta m = {.b = b, .len = len};
    uint64_t primary;
    if (!meta || mn < 4)
        return 0; /* libheif will say what is missing */
    meta += 4, mn -= 4;
    if ((iprp = find_box(meta, mn, "iprp", &n)) && (ipco = find_box(iprp, n, "ipco", &n)))
        for (size_t q = 0; next_box(ipco, n, &q, &type, &c, &cn);)
            if ((!memcmp(type, "hvcC", 4) && check_hvcc(c, cn, max_pixels, err) < 0) ||
                (!memcmp(type, "av1C", 4) && cn >= 4 && check_obus(c + 4, cn - 4, max_pixels, err) < 0))
                return -1;
    pitm = find_box(meta, mn, "pitm", &pn), iinf = find_box(meta, mn, "iinf", &in);
    m.iloc = find_box(meta, mn, "iloc", &m.ln), m.iref = find_box(meta, mn, "iref", &m.rn);
    m.idat = find_box(meta, mn, "idat", &m.dn);
    m.rn = m.iref ? m.rn : 0, m.dn = m.idat ? m.dn : 0; /* find_box leaves the last box's size */
    if (!pitm || !iinf || !m.iloc || pn < 4 || read_be(pitm, pn, &p, pitm[0] == 0 ? 2 : 4, &primary) < 0)
        return 0; /* libheif will say what is missing */
    int rc = read_iinf(&m, iinf, in, err) < 0 || read_iloc(&m, err) < 0 ? -1 : 0;
    for (size_t k = 0; rc == 0 && k < m.n; k++) {
        unsigned char head[4096]; /* the headers lead the frame */
        int av1 = !memcmp(m.items[k].type, "av01", 4), hevc = !memcmp(m.items[k].type, "hvc1", 4);
        size_t hn = av1 || hevc ? item_bytes(&m, &m.items[k], head, sizeof head) : SIZE_MAX;
        if (hn != SIZE_MAX)
            rc = av1 ? check_obus(head, hn, max_pixels, err) : check_nals(head, hn, max_pixels, err);
    }
    if (rc == 0)
        rc = check_derived(&m, primary, max_pixels, err);
    free(m.items);
    return rc;
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

/* With draft, the smallest thumbnail of the primary image whose shorter
 * side is at least the resolution, in place of *handle (released); as it
 * is, when it has none that will do. */
static void take_thumbnail(struct heif_image_handle **handle, int resolution)
{
    heif_item_id ids[16];
    struct heif_image_handle *best = NULL, *t;
    int n = heif.heif_image_handle_get_list_of_thumbnail_IDs(*handle, ids, 16), best_side = 0;
    for (int k = 0; k < n; k++) {
        if (heif.heif_image_handle_get_thumbnail(*handle, ids[k], &t).code != heif_error_Ok)
            continue;
        int w = heif.heif_image_handle_get_width(t), h = heif.heif_image_handle_get_height(t), side = w < h ? w : h;
        if (side >= resolution && (!best || side < best_side)) {
            heif.heif_image_handle_release(best);
            best = t, best_side = side;
        } else
            heif.heif_image_handle_release(t);
    }
    if (best) {
        heif.heif_image_handle_release(*handle);
        *handle = best;
    }
}

static int decode_primary(struct heif_context *ctx, const struct decoder_opts *o, struct decoder_pixels *im, char *err)
{
    struct heif_image_handle *handle = NULL;
    struct heif_image *img = NULL;
    int rc = -1;
    struct heif_error e = heif.heif_context_get_primary_image_handle(ctx, &handle);
    if (e.code != heif_error_Ok) {
        error(err, "cannot decode HEIF: %s", e.message);
        goto done;
    }
    if (o->draft && o->resolution > 0 && heif.heif_image_handle_get_number_of_thumbnails(handle) > 0)
        take_thumbnail(&handle, o->resolution);
    /* the size after the transformations: what decoding allocates */
    int w = heif.heif_image_handle_get_width(handle), h = heif.heif_image_handle_get_height(handle);
    if (decoder_check_size(w > 0 ? (uint64_t)w : 0, h > 0 ? (uint64_t)h : 0, o->max_pixels, err) < 0)
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
        rc = decode_primary(ctx, o, im, err);
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
