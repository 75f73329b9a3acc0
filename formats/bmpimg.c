/* bmpimg.c - BMP and DIB pixels as Pillow 9.4's BmpImagePlugin reads them.
 *
 * A BMP starts with "BM"; a DIB (a BMP without that file header, as the
 * Windows clipboard holds it) with the size of its info header, as Pillow
 * tells it: 12, 40, 64, 108 or 124. Headers of OS/2 (12 and 64 bytes) and
 * Windows (40, 108, 124); 1, 4 and 8 bits a pixel through a palette, raw or
 * RLE8/RLE4, and 16, 24 and 32 bits raw or with the bit-field masks Pillow
 * knows. What Pillow does with the odd ones, this does too: the pixel data
 * where the header's offset says, a palette's missing entries as grey (i, i,
 * i), a palette of black and white or of greys read as Pillow's mode "1" or
 * "L" (bits of the row read as that mode's), RLE runs clipped at the row's
 * end, a file that ends before its rows do refused. What Pillow refuses is
 * refused with the reason. The output, as decoder.h says: mode "1" and "P"
 * (its palette applied: 3 bytes a pixel) with palette set, so that they
 * are resized with nearest neighbour; "L" grey; "RGB"; "RGBA" with alpha.
 * Work and memory go with the file's length and its w x h, which is
 * checked against max_pixels before anything is allocated. Thread-safe.
 * Each step below is a step of that plugin, named after it.
 * See decoder.h.
 */
#include "decoder.h"

#include <stdlib.h>
#include <string.h>

/* Pillow's raw modes: how the bytes of a row become pixels (BGR;15 and
 * BGR;16 are little-endian words of 5-5-5 and 5-6-5 bits, blue lowest) */
enum raw { RAW_1, RAW_L, RAW_P1, RAW_P4, RAW_P, RAW_BGR15, RAW_BGR16, RAW_BGR, RAW_BGRX, RAW_XBGR, RAW_ABGR, RAW_RGBA, RAW_BGRA };
static const unsigned raw_bits[] = {1, 8, 1, 4, 8, 16, 16, 24, 32, 32, 32, 32, 32};

/* Pillow's image modes, and the bytes a pixel of each takes in the output
 * ("P" with its palette applied) */
enum mode { MODE_1, MODE_L, MODE_P, MODE_RGB, MODE_RGBA };
static const int mode_bytes[] = {1, 1, 3, 3, 4};

enum { RLE8 = 1, RLE4 = 2, BITFIELDS = 3 };

struct bmp {
    const unsigned char *buf;
    size_t len;
    size_t pos;          /* where Pillow's reads have got to; may pass the end by one (a seek) */
    uint64_t w, h;
    int top_down;        /* a negative height: rows stored top first */
    uint32_t header;     /* the info header's size */
    uint32_t bits, compression;
    uint64_t colors;     /* the header's count, or 2^bits when it says 0 */
    uint32_t mask[4];    /* bit fields: red, green, blue, alpha */
    int padding;         /* bytes a palette entry: 3 (OS/2 1.x) or 4 */
    enum mode mode;
    enum raw raw;
    unsigned char pal[256][3]; /* mode "P": RGB */
};

/* Python's fp.read(n): *p points at up to n bytes from pos, which moves
 * past them; returns how many there are. */
static size_t take(struct bmp *b, size_t n, const unsigned char **p)
{
    size_t have = b->pos < b->len ? b->len - b->pos : 0;
    *p = b->buf + (b->pos < b->len ? b->pos : b->len);
    n = n < have ? n : have;
    b->pos += n;
    return n;
}

static int bmpimg_probe(const unsigned char *buf, size_t len)
{
    if (len >= 2 && buf[0] == 'B' && buf[1] == 'M')
        return 1;
    uint32_t size = len >= 4 ? load_u32(buf) : 0;
    return size == 12 || size == 40 || size == 64 || size == 108 || size == 124;
}

/* _bitmap: the info header from pos. Pillow takes the height's top byte
 * 0xff, and no other sign, for a negative height; OS/2 2.x headers (64
 * bytes) have their bit-field masks read where Windows keeps them. */
static int read_info(struct bmp *b, char *err)
{
    const unsigned char *h;
    if (take(b, 4, &h) < 4)
        return error(err, "truncated BMP: the file ends before its info header");
    b->header = load_u32(h);
    if (b->header != 12 && b->header != 40 && b->header != 64 && b->header != 108 && b->header != 124)
        return error(err, "not a supported BMP: info header of %u bytes (12, 40, 64, 108 or 124 expected)",
                      (unsigned)b->header);
    if (take(b, b->header - 4, &h) < b->header - 4)
        return error(err, "truncated BMP: the file ends in its info header of %u bytes", (unsigned)b->header);
    if (b->header == 12) {
        b->w = load_u16(h), b->h = load_u16(h + 2), b->bits = load_u16(h + 6), b->padding = 3;
        return 0;
    }
    b->top_down = h[7] == 0xff;
    b->w = load_u32(h);
    b->h = b->top_down ? (1ull << 32) - load_u32(h + 4) : load_u32(h + 4);
    b->bits = load_u16(h + 10), b->compression = load_u32(h + 12), b->colors = load_u32(h + 28), b->padding = 4;
    if (b->compression != BITFIELDS)
        return 0;
    if (b->header > 40) {
        for (int k = 0; k < 4; k++)
            b->mask[k] = load_u32(h + 36 + 4 * k);
        return 0;
    }
    /* a 40-byte header: three masks follow it, and no alpha */
    if (take(b, 12, &h) < 12)
        return error(err, "truncated BMP: the file ends before its bit-field masks");
    for (int k = 0; k < 3; k++)
        b->mask[k] = load_u32(h + 4 * k);
    return 0;
}

/* The bit-field layouts Pillow reads (SUPPORTED, MASK_MODES); for 16 and
 * 24 bits the alpha mask is not looked at. */
static int bitfields(struct bmp *b, char *err)
{
    static const struct {
        uint32_t bits, mask[4];
        enum raw raw;
    } layouts[] = {
        {32, {0xff0000, 0xff00, 0xff, 0}, RAW_BGRX},
        {32, {0xff000000, 0xff0000, 0xff00, 0}, RAW_XBGR},
        {32, {0xff000000, 0xff0000, 0xff00, 0xff}, RAW_ABGR},
        {32, {0xff, 0xff00, 0xff0000, 0xff000000}, RAW_RGBA},
        {32, {0xff0000, 0xff00, 0xff, 0xff000000}, RAW_BGRA},
        {32, {0, 0, 0, 0}, RAW_BGRA},
        {24, {0xff0000, 0xff00, 0xff, 0}, RAW_BGR},
        {16, {0xf800, 0x7e0, 0x1f, 0}, RAW_BGR16},
        {16, {0x7c00, 0x3e0, 0x1f, 0}, RAW_BGR15},
    };
    for (size_t k = 0; k < sizeof layouts / sizeof layouts[0]; k++)
        if (layouts[k].bits == b->bits &&
            !memcmp(layouts[k].mask, b->mask, (b->bits == 32 ? 4 : 3) * sizeof b->mask[0])) {
            b->raw = layouts[k].raw;
            b->mode = b->raw == RAW_ABGR || b->raw == RAW_RGBA || b->raw == RAW_BGRA ? MODE_RGBA : MODE_RGB;
            return 0;
        }
    return error(err, "BMP of %u bits a pixel in bit fields %#x, %#x, %#x, %#x: a layout Pillow does not read",
                 (unsigned)b->bits, (unsigned)b->mask[0], (unsigned)b->mask[1], (unsigned)b->mask[2],
                 (unsigned)b->mask[3]);
}

/* BIT2MODE, then the compression: raw, RLE8, RLE4 or bit fields. */
static int choose_mode(struct bmp *b, char *err)
{
    switch (b->bits) {
    case 1: b->mode = MODE_P, b->raw = RAW_P1; break;
    case 4: b->mode = MODE_P, b->raw = RAW_P4; break;
    case 8: b->mode = MODE_P, b->raw = RAW_P; break;
    case 16: b->mode = MODE_RGB, b->raw = RAW_BGR15; break;
    case 24: b->mode = MODE_RGB, b->raw = RAW_BGR; break;
    case 32: b->mode = MODE_RGB, b->raw = RAW_BGRX; break;
    default: return error(err, "BMP of %u bits a pixel (1, 4, 8, 16, 24 or 32 expected)", (unsigned)b->bits);
    }
    b->colors = b->colors ? b->colors : 1ull << b->bits;
    if (b->compression == BITFIELDS)
        return bitfields(b, err);
    if (b->compression > RLE4)
        return error(err, "BMP of compression %u (4 is JPEG, 5 PNG): not read, as Pillow does not",
                     (unsigned)b->compression);
    return 0;
}

/* The palette of 1, 4 and 8 bits a pixel: colors entries from pos, fewer
 * when the file ends sooner. All grey (for two entries, black then white)
 * makes mode "1" or "L" and the rows are read as that mode's; else mode
 * "P" with the entries read, the rest of 256 grey (i, i, i). */
static int read_palette(struct bmp *b, char *err)
{
    if (b->colors == 0 || b->colors > 65536)
        return error(err, "BMP palette of %llu colours (1 to 65536 expected)", (unsigned long long)b->colors);
    const unsigned char *p;
    size_t n = take(b, (size_t)b->colors * b->padding, &p), pad = (size_t)b->padding;
    int grey = 1;
    for (size_t k = 0; k < b->colors && grey; k++) {
        unsigned char v = (unsigned char)(b->colors == 2 ? (k ? 255 : 0) : k & 255);
        grey = k * pad + 3 <= n && p[k * pad] == v && p[k * pad + 1] == v && p[k * pad + 2] == v;
    }
    if (grey) {
        b->mode = b->colors == 2 ? MODE_1 : MODE_L;
        b->raw = b->colors == 2 ? RAW_1 : RAW_L;
        return 0;
    }
    size_t entries = n / pad;
    if (entries > 256)
        return error(err, "BMP palette of %zu entries (256 at most)", entries);
    for (size_t k = 0; k < 256; k++)
        for (size_t ch = 0; ch < 3; ch++) /* entries are BGR */
            b->pal[k][ch] = k < entries ? p[k * pad + 2 - ch] : (unsigned char)k;
    return 0;
}

/* One row of w pixels from in, as Pillow's unpacker for the raw mode reads
 * it (the 5- and 6-bit values scaled as v * 255 / 31 or 63), into out. */
static void unpack_row(const struct bmp *b, const unsigned char *in, unsigned char *out)
{
    size_t w = (size_t)b->w;
    for (size_t x = 0; x < w; x++) {
        unsigned char *o = out + x * mode_bytes[b->mode];
        const unsigned char *p = in + x * (raw_bits[b->raw] / 8);
        unsigned v = b->raw == RAW_BGR15 || b->raw == RAW_BGR16 ? load_u16(p) : 0;
        switch (b->raw) {
        case RAW_1: o[0] = in[x >> 3] << (x & 7) & 0x80 ? 255 : 0; break;
        case RAW_L: o[0] = p[0]; break;
        case RAW_P1: memcpy(o, b->pal[in[x >> 3] >> (7 - (x & 7)) & 1], 3); break;
        case RAW_P4: memcpy(o, b->pal[in[x >> 1] >> (x & 1 ? 0 : 4) & 15], 3); break;
        case RAW_P: memcpy(o, b->pal[p[0]], 3); break;
        case RAW_BGR15:
            o[0] = (unsigned char)((v >> 10 & 31) * 255 / 31), o[1] = (unsigned char)((v >> 5 & 31) * 255 / 31);
            o[2] = (unsigned char)((v & 31) * 255 / 31);
            break;
        case RAW_BGR16:
            o[0] = (unsigned char)((v >> 11 & 31) * 255 / 31), o[1] = (unsigned char)((v >> 5 & 63) * 255 / 63);
            o[2] = (unsigned char)((v & 31) * 255 / 31);
            break;
        case RAW_BGR:
        case RAW_BGRX: o[0] = p[2], o[1] = p[1], o[2] = p[0]; break;
        case RAW_XBGR: o[0] = p[3], o[1] = p[2], o[2] = p[1]; break;
        case RAW_ABGR: o[0] = p[3], o[1] = p[2], o[2] = p[1], o[3] = p[0]; break;
        case RAW_RGBA: memcpy(o, p, 4); break;
        case RAW_BGRA: o[0] = p[2], o[1] = p[1], o[2] = p[0], o[3] = p[3]; break;
        }
    }
}

/* Pillow's raw decoder: h rows, stride bytes apart as the depth makes them
 * (rows of 4-byte words), the first the bottom one unless top_down; each
 * row's pixels read in the raw mode. The file must hold the rows up to the
 * last one's pixels, its padding aside. Mode "L" of 1 or 4 bits takes more
 * bytes a row than the stride: Pillow then maps the file, which must hold
 * stride * h bytes, and reads the rows overlapping, the last past the end
 * of the file (the mapped page's zeros there), as row does. */
static int decode_raw(const struct bmp *b, uint64_t data, unsigned char *out, char *err)
{
    uint64_t stride = ((b->w * b->bits + 31) >> 3) & ~3ull, bytes = (b->w * raw_bits[b->raw] + 7) / 8;
    uint64_t need = stride < bytes ? stride * b->h : stride * (b->h - 1) + bytes;
    if (data > b->len || need > b->len - data)
        return error(err, "truncated BMP: %llu bytes of pixels from byte %llu, but the file has %zu bytes",
                     (unsigned long long)need, (unsigned long long)data, b->len);
    unsigned char *row = stride < bytes ? calloc(1, (size_t)bytes) : NULL;
    if (stride < bytes && !row)
        return error(err, "out of memory for a BMP row of %llu bytes", (unsigned long long)bytes);
    size_t out_row = (size_t)b->w * mode_bytes[b->mode];
    for (uint64_t r = 0; r < b->h; r++) {
        const unsigned char *in = b->buf + data + r * stride;
        if (row) {
            size_t left = b->len - (size_t)(data + r * stride), n = left < bytes ? left : (size_t)bytes;
            memcpy(row, in, n);
            memset(row + n, 0, (size_t)bytes - n);
            in = row;
        }
        unpack_row(b, in, out + (size_t)(b->top_down ? r : b->h - 1 - r) * out_row);
    }
    free(row);
    return 0;
}

/* BmpRleDecoder, as Pillow 9.4 has it: pairs (count, index) are runs,
 * clipped at the row's end by x, which only an end of line or a delta sets
 * again; (0, 0) ends a line (zeros to the row's end), (0, 1) the bitmap;
 * (0, 2) is a delta, whose 2 bytes Pillow skips to take its right and up
 * from the 2 after them, adding right + up * w zeros; (0, n) n bytes as
 * they are, not clipped, RLE4 taking n / 2 bytes of two pixels each, then
 * the file position made even. Indices in file order into idx (n pixels,
 * zeroed), which must all be given. Work: a step per 2 bytes read, and
 * each index written once. */
static int rle_indices(struct bmp *b, unsigned char *idx, char *err)
{
    uint64_t n = b->w * b->h, got = 0, x = 0;
    int rle4 = b->compression == RLE4;
    const unsigned char *p;
    while (got < n && take(b, 2, &p) == 2) {
        unsigned count = p[0], code = p[1];
        if (count) {
            count = x + count <= b->w ? count : x < b->w ? (unsigned)(b->w - x) : 0;
            for (unsigned k = 0; k < count && got + k < n; k++)
                idx[got + k] = (unsigned char)(!rle4 ? code : k & 1 ? code & 15 : code >> 4);
            got += count, x += count;
        } else if (code == 0) {
            got = (got + b->w - 1) / b->w * b->w, x = 0;
        } else if (code == 1) {
            break;
        } else if (code == 2) {
            if (take(b, 2, &p) < 2)
                break;
            if (take(b, 2, &p) < 2)
                return error(err, "truncated BMP: the file ends in an RLE delta");
            got += p[0] + (uint64_t)p[1] * b->w, x = got % b->w;
        } else {
            size_t want = rle4 ? code / 2 : code, have = take(b, want, &p);
            for (size_t k = 0; k < have; k++)
                for (int half = 0; half < (rle4 ? 2 : 1); half++, got++)
                    if (got < n)
                        idx[got] = (unsigned char)(!rle4 ? p[k] : half ? p[k] & 15 : p[k] >> 4);
            if (have < want)
                break;
            x += code;
            b->pos += b->pos & 1;
        }
    }
    if (got < n)
        return error(err, "truncated BMP: its RLE data gives %llu of %llu pixels", (unsigned long long)got,
                     (unsigned long long)n);
    return 0;
}

/* The RLE indices from data, as rows (the first the bottom one unless
 * top_down) of Pillow's mode "P" or "L"; it has no other mode to put them
 * in. */
static int decode_rle(struct bmp *b, uint64_t data, unsigned char *out, char *err)
{
    if (b->mode != MODE_P && b->mode != MODE_L)
        return error(err, "BMP of %u bits a pixel in RLE%d: Pillow reads RLE into palette and grey images only",
                     (unsigned)b->bits, b->compression == RLE4 ? 4 : 8);
    unsigned char *idx = calloc((size_t)b->w, (size_t)b->h);
    if (!idx)
        return error(err, "out of memory for a %llu x %llu BMP", (unsigned long long)b->w, (unsigned long long)b->h);
    b->pos = data < b->len ? (size_t)data : b->len;
    int rc = rle_indices(b, idx, err);
    size_t w = (size_t)b->w, c = (size_t)mode_bytes[b->mode];
    for (uint64_t r = 0; rc == 0 && r < b->h; r++) {
        unsigned char *o = out + (size_t)(b->top_down ? r : b->h - 1 - r) * w * c;
        for (size_t x = 0; x < w; x++)
            memcpy(o + x * c, b->mode == MODE_P ? b->pal[idx[r * w + x]] : &idx[r * w + x], c);
    }
    free(idx);
    return rc;
}

static int bmpimg_decode(const unsigned char *buf, size_t len, const struct decoder_opts *o, struct decoder_pixels *im,
                         char *err)
{
    struct bmp b = {.buf = buf, .len = len};
    uint64_t offset = 0; /* the pixels', from the file header; a DIB has none */
    *im = (struct decoder_pixels){0};
    if (len >= 2 && buf[0] == 'B' && buf[1] == 'M') {
        if (len < 14)
            return error(err, "truncated BMP: the file ends in its file header");
        offset = load_u32(buf + 10), b.pos = 14;
    }
    if (read_info(&b, err) < 0 || choose_mode(&b, err) < 0 || (b.mode == MODE_P && read_palette(&b, err) < 0))
        return -1;
    /* a palette the offset leaves no room for is taken to lie before the
     * pixels, 4 bytes an entry; no offset: the pixels follow what was read */
    if (offset == 14 + (uint64_t)b.header && b.bits <= 8)
        offset += 4 * b.colors;
    uint64_t data = offset ? offset : b.pos;
    if (decoder_check_size(b.w, b.h, o->max_pixels, err) < 0)
        return -1;
    int c = mode_bytes[b.mode];
    unsigned char *px = malloc((size_t)b.w * b.h * c);
    if (!px)
        return error(err, "out of memory for a %llu x %llu BMP", (unsigned long long)b.w, (unsigned long long)b.h);
    if ((b.compression == RLE8 || b.compression == RLE4 ? decode_rle(&b, data, px, err)
                                                        : decode_raw(&b, data, px, err)) < 0) {
        free(px);
        return -1;
    }
    *im = (struct decoder_pixels){.px = px, .w = (int)b.w, .h = (int)b.h, .c = c,
                                .palette = b.mode == MODE_1 || b.mode == MODE_P};
    return 0;
}

const struct decoder bmpimg_decoder = {
    .name = "BMP",
    .extensions = "bmp dib",
    .probe = bmpimg_probe,
    .decode = bmpimg_decode,
};
