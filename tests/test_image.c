/* image preprocessing against Pillow + torchvision: fixtures/images.ref holds
 * the pixels CLIP's preprocess makes of each img-* fixture (JPEGs in every
 * EXIF orientation included); they must match to float rounding. Plus bad
 * and hostile files. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <libheif/heif.h>

#include "check.h"
#include "image.h"
#include "preprocess_child.h"

/* For LeakSanitizer (make test-sanitize): libx265 3.5 keeps about 1 KB of
 * its own after each encode of the HEIF orientation test, which is not
 * ours to free. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libx265.so\n"; }

/* Preprocesses buf at res x res with the default options in a child of
 * at most 30 s (preprocess_child.h). */
static struct outcome in_child(const unsigned char *buf, size_t len, int res)
{
    struct image_opts o = {.resolution = res, .exif = 1, .max_pixels = IMAGE_MAX_PIXELS};
    return preprocess_in_child(buf, len, &o, 30, 0);
}

/* The file is refused, quickly, with a message containing want. */
static void refused(const unsigned char *buf, size_t len, const char *what, const char *want)
{
    struct outcome r = in_child(buf, len, 8);
    CHECK(!r.hung, "%s: still decoding after 30 s", what);
    CHECK(r.rc == -1, "%s: accepted (rc %d)", what, r.rc);
    CHECK(r.rc != -1 || strstr(r.err, want), "%s: message '%s' lacks '%s'", what, r.err, want);
}

/* Formats stb_image decodes but clippie does not document are refused by
 * their magic bytes before any decoder runs: a Radiance HDR with a truncated
 * RLE scanline used to hang stb_image forever, whatever its name; PSD and
 * PIC were decoded although never documented. */
static void test_magic(void)
{
    static const unsigned char hdr[] = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 8 +X 64\n\x02\x02\x00\x40";
    refused(hdr, sizeof hdr - 1, "truncated HDR", "not an image");
    unsigned char psd[64] = "8BPS\0\1\0\0\0\0\0\0\0\3\0\0\0\x10\0\0\0\x10\0\x08\0\3";
    refused(psd, sizeof psd, "PSD", "not an image");
    unsigned char pic[128] = {0x53, 0x80, 0xf6, 0x34};
    memcpy(pic + 88, "PICT", 4);
    refused(pic, sizeof pic, "PIC", "not an image");
}

/* TGA, which has no magic, is told by its header fields: a truncated one is
 * refused before anything is allocated (stb_image once filled the missing
 * pixels from uninitialised memory); an ICO or CUR directory, and headers
 * of kinds Pillow refuses (15-bit, interleaved, a colour map on a grey
 * image), are not TGAs; a 1-pixel file decodes. */
static void test_tga(void)
{
    unsigned char tga[18 + 3 * 16 * 5] = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 16, 0, 24, 0};
    refused(tga, sizeof tga, "truncated TGA", "truncated TGA: 240 bytes of pixel data, 768 at least");
    unsigned char rle[18 + 4] = {0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x04, 24, 0, 0xff, 1, 2, 3};
    refused(rle, sizeof rle, "RLE TGA claiming 65535 x 1279 pixels in 4 bytes", "truncated TGA");
    static const unsigned char not_tga[][18] = {
        {0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 4, 0, 0x28, 1, 0, 0}, /* ICO directory */
        {0, 0, 2, 0, 1, 0, 16, 16, 0, 0, 1, 0, 1, 0, 0x30, 1, 0, 0}, /* CUR directory */
        {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 15, 0},     /* 15-bit */
        {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 24, 0x40},  /* interleaved */
        {0, 1, 3, 0, 0, 2, 0, 24, 0, 0, 0, 0, 2, 0, 2, 0, 8, 0},     /* grey with a colour map */
    };
    for (size_t k = 0; k < sizeof not_tga / sizeof not_tga[0]; k++) {
        unsigned char f[18 + 64] = {0};
        memcpy(f, not_tga[k], 18);
        refused(f, sizeof f, "not a TGA", "not an image");
    }
    unsigned char one[18 + 3] = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 24, 0, 0x10, 0x20, 0x30};
    struct outcome r = in_child(one, sizeof one, 2);
    CHECK(r.rc == 0 && fabsf(r.first[0] * 0.26862954f + 0.48145466f - 0x30 / 255.0f) < 1e-6f,
          "1-pixel TGA: rc %d, red %g: %s", r.rc, r.first[0], r.err);
}

/* A truncated PNM (stb_image, which read them once, ignored the short
 * read), one whose size has too many digits, a plain one far too short. */
static void test_pnm(void)
{
    unsigned char pnm[15 + 3 * 16 * 5] = "P6\n16 16\n255\n";
    refused(pnm, sizeof pnm, "truncated PNM", "truncated PNM");
    const char *big = "P5 99999999999 1 255\n";
    refused((const unsigned char *)big, strlen(big), "PNM of 11-digit width", "bad PNM header");
    const char *plain = "P2 9000 9000 255\n1 2 3\n"; /* a sample takes a byte at least: refused unallocated */
    refused((const unsigned char *)plain, strlen(plain), "plain PGM of 9000 x 9000 in 3 samples",
            "truncated PNM: 6 bytes of pixels, 81000000 expected");
    const char *comment = "P5\n# a comment\n2 1\n# another\n255\n\x10\x20";
    struct outcome r = in_child((const unsigned char *)comment, strlen(comment), 1);
    CHECK(r.rc == 0, "PNM with comments: %s", r.err);
}

/* GIF (gifimg.c): a screen over the pixel limit is refused before the
 * canvas is allocated; image data of nothing but clear codes ends quickly
 * as a truncated file. */
static void test_gif(void)
{
    unsigned char big[64] = "GIF89a\xff\xff\xff\xff\0\0\0,\0\0\0\0\x01\0\x01\0\0\x02";
    refused(big, sizeof big, "GIF of 65535 x 65535", "over the limit");
    size_t len = 1 << 20;
    unsigned char *clears = calloc(len, 1); /* the tail past the last sub-block read as zeros, whatever malloc gives */
    memcpy(clears, "GIF89a\x01\0\x01\0\0\0\0,\0\0\0\0\x01\0\x01\0\0\x07", 24);
    for (size_t p = 24; p + 256 <= len; p += 256) { /* sub-blocks of 255 bytes: code 128 (clear) every 8 bits */
        clears[p] = 255;
        memset(clears + p + 1, 0x80, 255);
    }
    refused(clears, len - 100, "GIF of clear codes only", "truncated GIF");
    free(clears);
}

static unsigned char *put_be32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *p++ = (unsigned char)(v >> (24 - 8 * i));
    return p;
}

/* A PNG chunk at p: length, type, n bytes of data (already at p + 8), CRC. */
static unsigned char *png_chunk(unsigned char *p, const char *type, uint32_t n)
{
    put_be32(p, n);
    memcpy(p + 4, type, 4);
    return put_be32(p + 8 + n, (uint32_t)crc32(0, p + 4, n + 4));
}

/* A w x h 8-bit PNG of colour type ct (0 grey, 3 a palette of two colours,
 * the second {10, 200, 30}) whose every sample is v. */
static unsigned char *make_png(uint32_t w, uint32_t h, int ct, unsigned char v, size_t *len)
{
    size_t row = 1 + (size_t)w, raw_len = row * h;
    unsigned char *raw = malloc(raw_len);
    memset(raw, v, raw_len);
    for (size_t y = 0; y < h; y++)
        raw[y * row] = 0; /* filter: none */
    uLongf zlen = compressBound(raw_len);
    unsigned char *png = malloc(zlen + 64), *p = png;
    memcpy(p, "\x89PNG\r\n\x1a\n", 8);
    p = put_be32(p + 16, w);
    p = put_be32(p, h);
    memcpy(p, (unsigned char[]){8, (unsigned char)ct, 0, 0, 0}, 5);
    p = png_chunk(png + 8, "IHDR", 13);
    if (ct == 3) {
        memcpy(p + 8, "\0\0\0\x0a\xc8\x1e", 6);
        p = png_chunk(p, "PLTE", 6);
    }
    compress2(p + 8, &zlen, raw, raw_len, 9);
    p = png_chunk(p, "IDAT", (uint32_t)zlen);
    p = png_chunk(p, "IEND", 0);
    free(raw);
    *len = (size_t)(p - png);
    return png;
}

/* A w x h GIF of colour 1 ({10, 200, 30}) of a two-colour palette, its LZW
 * codes of 3 bits: a clear code before every two pixels keeps the width. */
static unsigned char *make_gif(unsigned w, unsigned h, size_t *len)
{
    size_t pixels = (size_t)w * h, codes = (pixels + 1) / 2 * 3 + 1, bytes = (codes * 3 + 7) / 8;
    unsigned char *lzw = calloc(bytes, 1);
    size_t bit = 0;
    for (size_t k = 0; k < codes; k++) {
        unsigned code = k == codes - 1 ? 5 : k % 3 == 0 ? 4 : 1; /* clear 4, end 5, pixel 1 */
        for (int b = 0; b < 3; b++, bit++)
            lzw[bit / 8] |= (unsigned char)(((code >> b) & 1) << (bit % 8));
    }
    unsigned char *gif = malloc(64 + bytes + bytes / 255 + 2), *p = gif;
    memcpy(p, "GIF89a", 6);
    p += 6;
    unsigned char wl = (unsigned char)(w & 255), wh = (unsigned char)(w >> 8), hl = (unsigned char)(h & 255),
                  hh = (unsigned char)(h >> 8);
    unsigned char screen[] = {wl, wh, hl, hh, 0x80, 0, 0, 0, 0, 0, 10, 200, 30, 0x2c, 0, 0, 0, 0, wl, wh, hl, hh, 0, 2};
    memcpy(p, screen, sizeof screen);
    p += sizeof screen;
    for (size_t k = 0; k < bytes; k += 255) {
        size_t n = bytes - k < 255 ? bytes - k : 255;
        *p++ = (unsigned char)n;
        memcpy(p, lzw + k, n);
        p += n;
    }
    *p++ = 0;
    *p++ = 0x3b;
    free(lzw);
    *len = (size_t)(p - gif);
    return gif;
}

/* Thin images: the resize used to size its buffers for the whole resized
 * image (R x R * N) rather than the crop it keeps: a 1 x 20,000 GIF took
 * 3.9 GB and 13 s, a 1 x 10^6 PNG more. Now memory goes with the output:
 * the child's peak must stay within 48 MiB of a 2 x 2 image's, and the
 * pixels be the image's one colour. */
static void thin(const char *what, unsigned char *buf, size_t len, const float *want, long base_kib)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct outcome r = in_child(buf, len, 224);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(r.rc == 0, "%s: %s", what, r.rc == -2 ? "child died" : r.err);
    CHECK(r.peak_kib - base_kib < 48 << 10, "%s: peak memory %ld KiB over a small image's", what,
          r.peak_kib - base_kib);
    CHECK(secs < 10, "%s: took %.1f s", what, secs);
    for (int ch = 0; ch < 3 && r.rc == 0; ch++)
        CHECK(fabsf(r.first[ch] - want[ch]) < 1e-6f, "%s: channel %d is %g, want %g", what, ch, r.first[ch], want[ch]);
    if (getenv("VERBOSE"))
        fprintf(stderr, "%s: %zu bytes, peak %ld KiB over base, %.3f s\n", what, len, r.peak_kib - base_kib, secs);
    free(buf);
}

static void test_thin(void)
{
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float stdev[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    float grey[3], green[3];
    for (int ch = 0; ch < 3; ch++) {
        grey[ch] = (77 / 255.0f - mean[ch]) / stdev[ch];
        green[ch] = ((float)(unsigned char[]){10, 200, 30}[ch] / 255.0f - mean[ch]) / stdev[ch];
    }
    size_t len;
    unsigned char *small = make_png(2, 2, 0, 77, &len);
    long base = in_child(small, len, 224).peak_kib;
    free(small);
    unsigned char *b = make_gif(1, 20000, &len);
    thin("1 x 20000 GIF", b, len, green, base);
    b = make_png(1, 1000000, 0, 77, &len);
    thin("1 x 10^6 grey PNG", b, len, grey, base);
    b = make_png(1000000, 1, 0, 77, &len);
    thin("10^6 x 1 grey PNG", b, len, grey, base);
    b = make_png(1, 1000000, 3, 1, &len);
    thin("1 x 10^6 palette PNG", b, len, green, base);
    /* the longer side resized must be an int, as in Pillow, and a side at
     * most 2^20 pixels */
    unsigned char *p = make_png(1, 1 << 20, 0, 77, &len);
    struct outcome r = in_child(p, len, 4096);
    CHECK(r.rc == -1 && strstr(r.err, "too thin"), "1 x 2^20 PNG at 4096: rc %d, %s", r.rc, r.err);
    free(p);
    p = make_png(1, 10000000, 0, 77, &len);
    refused(p, len, "1 x 10^7 PNG", "over the limit");
    free(p);
}

/* The end of the JPEG scan whose SOS marker is at p: the next marker that
 * is neither a stuffed 0xff00 nor a restart. */
static size_t scan_end(const unsigned char *b, size_t len, size_t p)
{
    for (p += 2; p + 1 < len; p++)
        if (b[p] == 0xff && b[p + 1] != 0 && (b[p + 1] < 0xd0 || b[p + 1] > 0xd7))
            return p;
    return len;
}

/* A progressive JPEG whose first scan comes again 150 times (libjpeg warns
 * and goes on): refused for its scan count, as djpeg -maxscans does, where
 * a file of 4,000 scans took 35 s. */
static void test_scans(const char *dir)
{
    char path[512];
    size_t len, sos = 0;
    snprintf(path, sizeof path, "%s/img-progressive.jpg", dir);
    unsigned char *jpg = slurp(path, &len);
    for (size_t p = 2; jpg && p + 1 < len && !sos; p++)
        if (jpg[p] == 0xff && jpg[p + 1] == 0xda)
            sos = p;
    CHECK(sos > 0, "no scan in %s", path);
    if (!sos)
        return;
    size_t end = scan_end(jpg, len, sos), n = end - sos, copies = 150;
    unsigned char *many = malloc(len + copies * n), *p = many;
    memcpy(p, jpg, end);
    p += end;
    for (size_t k = 0; k < copies; k++, p += n)
        memcpy(p, jpg + sos, n);
    memcpy(p, jpg + end, len - end);
    refused(many, len + copies * n, "JPEG of 160 scans", "more than 100 scans");
    /* a few repeated scans are not refused */
    memcpy(many + end + 5 * n, jpg + end, len - end);
    struct outcome r = in_child(many, len + 5 * n, 8);
    CHECK(r.rc == 0, "JPEG of 15 scans: %s", r.err);
    free(many);
    free(jpg);
}

/* BMPs Pillow opens whose size stb_image used to misread: top down
 * (negative height) and OS/2 (a 12-byte header of 16-bit sizes); and a DIB,
 * the BMP without its file header. Made from img-small.bmp (24 bits, rows
 * of 84 bytes), which Pillow reads to the same pixels, so their output
 * must equal its. */
static void test_bmp(const char *dir)
{
    char path[512], err[ERR_LEN] = "";
    size_t len;
    snprintf(path, sizeof path, "%s/img-small.bmp", dir);
    unsigned char *bmp = slurp(path, &len);
    CHECK(bmp && len == 54 + 20 * 84, "%s: not the 28 x 20 fixture", path);
    if (!bmp || len != 54 + 20 * 84)
        return;
    float want[3 * 16 * 16], got[3 * 16 * 16];
    struct image_opts o = {.resolution = 16, .exif = 1, .max_pixels = IMAGE_MAX_PIXELS};
    CHECK(image_preprocess(bmp, len, &o, want, err) == 0, "img-small.bmp: %s", err);
    unsigned char down[54 + 20 * 84], os2[26 + 20 * 84];
    memcpy(down, bmp, 54);
    for (int y = 0; y < 20; y++)
        memcpy(down + 54 + y * 84, bmp + 54 + (19 - y) * 84, 84);
    memcpy(down + 22, "\xec\xff\xff\xff", 4); /* height -20 */
    memcpy(os2, "BM\0\0\0\0\0\0\0\0\x1a\0\0\0\x0c\0\0\0\x1c\0\x14\0\x01\0\x18\0", 26);
    memcpy(os2 + 26, bmp + 54, 20 * 84);
    const unsigned char *made[] = {down, os2, bmp + 14};
    size_t lens[] = {sizeof down, sizeof os2, len - 14};
    const char *what[] = {"top-down BMP", "OS/2 BMP", "DIB"};
    for (int k = 0; k < 3; k++) {
        int rc = image_preprocess(made[k], lens[k], &o, got, err);
        CHECK(rc == 0, "%s: %s", what[k], err);
        CHECK(rc != 0 || !memcmp(got, want, sizeof got), "%s: pixels differ from the bottom-up BMP's", what[k]);
    }
    free(bmp);
}

/* Every prefix of BMPs made by make_pillow_fixtures.py: Pillow refuses a
 * raw one that ends before the last row's pixels (13 x 3 bytes; its one
 * byte of padding may be missing), and so must we; the RLE ones, cut
 * anywhere, must not make the decoder read outside the file (ASan). */
static void test_bmp_cut(const char *dir)
{
    const char *names[] = {"pil-bmp-dib24.dib", "pil-bmp-rle8.bmp", "pil-bmp-rle4.bmp", "pil-bmp-rledelta.bmp"};
    for (int k = 0; k < 4; k++) {
        char path[512], err[ERR_LEN] = "";
        size_t len;
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        unsigned char *buf = slurp(path, &len);
        CHECK(buf != NULL, "cannot read %s", path);
        float px[3 * 4 * 4];
        struct image_opts o = {.resolution = 4, .exif = 1, .max_pixels = IMAGE_MAX_PIXELS};
        for (size_t n = 0; buf && n <= len; n++) {
            int rc = image_preprocess(buf, n, &o, px, err);
            if (k == 0)
                CHECK((rc == 0) == (n >= len - 1), "%s cut to %zu of %zu bytes: %s", names[k], n, len,
                      rc == 0 ? "accepted" : err);
        }
        free(buf);
    }
}

/* A 1 x 1 PNG whose IDAT inflates to 64 MiB: stb_image grew its buffer to
 * hold it all (then found too many bytes). Allocations are now capped by
 * what the header claims, so it fails early and small. */
static void test_bomb(void)
{
    size_t big = 64 << 20, len;
    unsigned char *png = make_png(1, 1, 0, 0, &len), *zero = calloc(1, 1 << 16);
    size_t idat = 33, cap = big / 512; /* IDAT's offset in make_png's grey PNG */
    unsigned char *b = malloc(idat + 12 + cap + 12);
    memcpy(b, png, idat);
    z_stream z = {0};
    deflateInit(&z, 9);
    z.next_out = b + idat + 8, z.avail_out = (uInt)cap;
    for (size_t k = 0; k < big; k += 1 << 16) {
        z.next_in = zero, z.avail_in = 1 << 16;
        deflate(&z, k + (1 << 16) >= big ? Z_FINISH : Z_NO_FLUSH);
    }
    unsigned char *p = png_chunk(b + idat, "IDAT", (uint32_t)z.total_out);
    deflateEnd(&z);
    p = png_chunk(p, "IEND", 0);
    long base = in_child(png, len, 8).peak_kib;
    struct outcome r = in_child(b, (size_t)(p - b), 8);
    CHECK(r.rc == -1 && strstr(r.err, "more than its header says"), "PNG bomb: rc %d, %s", r.rc, r.err);
    CHECK(r.peak_kib - base < 16 << 10, "PNG bomb: peak memory %ld KiB over a 1 x 1 PNG's", r.peak_kib - base);
    /* an empty IDAT before the data: stb_image added 0 to a null pointer
     * (UBSan; found by fuzz-image) */
    memcpy(b, png, 33);
    p = png_chunk(b + 33, "IDAT", 0);
    memcpy(p, png + 33, len - 33);
    refused(b, len + 12, "empty first IDAT", "first IDAT chunk is empty");
    free(png);
    free(zero);
    free(b);
}

/* 70 colour profiles of 1,000,000 zeros each, every one within Pillow's
 * limit of a chunk: their 70 MB together are refused, not inflated on and
 * on (a 50 MB file of them would have cost 50 GB of inflating). */
static void test_png_inflate_total(void)
{
    size_t len, z = 2048, at = 33; /* the chunks go after IHDR */
    unsigned char *png = make_png(1, 1, 0, 0, &len), *zero = calloc(1, 1000000);
    unsigned char *b = malloc(len + 70 * (12 + 8 + z)), *p = b + at;
    memcpy(b, png, at);
    for (int k = 0; k < 70; k++) {
        uLongf n = (uLongf)z;
        memcpy(p + 8, "icc\0\0", 5); /* a name, then compression method 0 */
        compress2(p + 13, &n, zero, 1000000, 9);
        p = png_chunk(p, "iCCP", (uint32_t)(5 + n));
    }
    memcpy(p, png + at, len - at);
    refused(b, (size_t)(p - b) + len - at, "70 profiles of 1 MB", "compressed chunks inflate to over 64 MiB in all");
    free(png);
    free(zero);
    free(b);
}

/* Each format's header is read for the pixel limit before any decoder
 * runs (the message of that check names the side limit too). */
static void test_limit(const char *dir)
{
    const char *names[] = {"img-rgb.png", "img-first.gif", "img-small.bmp", "img-rgb.ppm", "img-photo.jpg",
                           "img-rgb.webp", "img-anim.webp", "img-rgb.tif", "img-tiled.tif",
                           "img-rgb.heic", "img-rgb.avif", "img-cfa.dng"};
    for (int k = 0; k < (int)(sizeof names / sizeof names[0]); k++) {
        char path[512], err[ERR_LEN] = "";
        size_t len;
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        unsigned char *buf = slurp(path, &len);
        float px[3 * 8 * 8];
        struct image_opts o = {.resolution = 8, .exif = 1, .max_pixels = 500};
        CHECK(buf && image_preprocess(buf, len, &o, px, err) < 0, "%s accepted over 500 pixels", names[k]);
        CHECK(strstr(err, "over the limit of 500 pixels (1048576 a side)"), "%s: %s", names[k], err);
        free(buf);
    }
}

/* Compares image_preprocess with the pixels Pillow + CLIP's transform made
 * (make_fixtures.py, make_pillow_fixtures.py). A line of a reference file is
 * "NAME RES FLOAT..." (3 x RES x RES of them) or "NAME - WORD...": Pillow
 * refused the file, so must we, with a message holding those words. Returns
 * the number of files checked. exif: apply EXIF orientations (images.ref);
 * Pillow's corpus is compared as --no-exif-orientation reads it. */
static int test_reference_file(const char *dir, const char *file, int exif)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f)
        return 0;
    char name[128], res_s[16];
    int count = 0;
    while (fscanf(f, "%127s %15s", name, res_s) == 2) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        size_t len;
        unsigned char *buf = slurp(path, &len);
        char err[ERR_LEN] = "";
        count++;
        if (!strcmp(res_s, "-")) {
            char want[256] = "";
            if (!fgets(want, sizeof want, f))
                want[0] = 0;
            want[strcspn(want, "\n")] = 0;
            float px[3 * 8 * 8];
            struct image_opts o = {.resolution = 8, .exif = exif, .max_pixels = IMAGE_MAX_PIXELS};
            int rc = buf ? image_preprocess(buf, len, &o, px, err) : 0;
            CHECK(buf && rc < 0, "%s: Pillow refuses it, we accepted it", name);
            CHECK(rc == 0 || strstr(err, want + strspn(want, " ")), "%s: refused with \"%s\", want \"%s\"", name, err,
                  want + strspn(want, " "));
            free(buf);
            continue;
        }
        int res = atoi(res_s);
        size_t n = 3 * (size_t)res * res;
        float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
        for (size_t k = 0; k < n; k++)
            if (fscanf(f, "%f", &want[k]) != 1)
                want[k] = NAN;
        struct image_opts o = {.resolution = res, .exif = exif, .max_pixels = IMAGE_MAX_PIXELS};
        int rc = buf ? image_preprocess(buf, len, &o, got, err) : -1;
        CHECK(rc == 0, "%s: %s", name, err);
        if (rc == 0) {
            double diff = 0;
            for (size_t k = 0; k < n; k++)
                diff = fmax(diff, fabs((double)got[k] - want[k]));
            CHECK(diff <= 1e-5, "%s at %d: pixels differ from Pillow's by up to %g", name, res, diff);
            if (getenv("VERBOSE"))
                fprintf(stderr, "%s %d: max diff %g\n", name, res, diff);
        }
        free(buf);
        free(want);
        free(got);
    }
    fclose(f);
    return count;
}

/* images.ref, then every pillow-*.ref (one per class of Pillow's odd files) */
static void test_reference(const char *dir)
{
    CHECK(test_reference_file(dir, "images.ref", 1) >= 36, "too few reference images in images.ref");
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, "pillow-", 7) && strlen(e->d_name) > 11 &&
            !strcmp(e->d_name + strlen(e->d_name) - 4, ".ref"))
            CHECK(test_reference_file(dir, e->d_name, 0) > 0, "%s holds no file", e->d_name);
    if (d)
        closedir(d);
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
    struct image_opts o = {.resolution = 8, .exif = 1, .max_pixels = IMAGE_MAX_PIXELS};
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

/* WebP: a truncated file, and a canvas over the limit, refused from the
 * VP8X header before libwebp allocates it (16383 x 16383 x 4 bytes) */
static void test_webp(const char *dir)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/img-rgb.webp", dir);
    unsigned char *webp = slurp(path, &len);
    CHECK(webp && len > 100, "cannot read %s", path);
    long base = webp ? in_child(webp, len, 8).peak_kib : 0;
    if (webp && len > 100) {
        refused(webp, len - 40, "truncated WebP", "cannot decode WebP");
        refused(webp, 20, "WebP of 20 bytes", "cannot decode WebP: truncated header");
    }
    free(webp);
    /* VP8X: animation flag, canvas 16383 x 16383 (stored minus one) */
    static const unsigned char big[] = "RIFF\x16\0\0\0WEBPVP8X\x0a\0\0\0\x02\0\0\0\xfe\x3f\0\xfe\x3f\0";
    struct outcome r = in_child(big, sizeof big - 1, 8);
    CHECK(r.rc == -1 && strstr(r.err, "16383 x 16383 pixels is over the limit"), "huge WebP canvas: rc %d, %s", r.rc,
          r.err);
    CHECK(r.peak_kib - base < 16 << 10, "huge WebP canvas: peak memory %ld KiB over a small WebP's", r.peak_kib - base);
}

/* A little-endian TIFF of one 8-bit grey strip (or tile, when tile > 0)
 * of n bytes of value 77 at offset 200, photometric interpretation photo. */
static size_t make_tiff(unsigned char *t, uint32_t w, uint32_t h, unsigned photo, uint32_t tile, uint32_t n)
{
    const uint32_t strip[][3] = {{256, 4, w}, {257, 4, h}, {258, 3, 8}, {259, 3, 1}, {262, 3, photo},
                                 {273, 4, 200}, {277, 3, 1}, {278, 4, h}, {279, 4, n}};
    const uint32_t tiled[][3] = {{256, 4, w}, {257, 4, h}, {258, 3, 8}, {259, 3, 1}, {262, 3, photo},
                                 {277, 3, 1}, {322, 4, tile}, {323, 4, tile}, {324, 4, 200}, {325, 4, n}};
    const uint32_t(*e)[3] = tile ? tiled : strip;
    unsigned count = tile ? 10 : 9;
    memcpy(t, "II*\0\x08\0\0\0", 8);
    t[8] = (unsigned char)count, t[9] = 0;
    for (unsigned k = 0; k < count; k++) {
        unsigned char *p = t + 10 + 12 * k;
        uint32_t v[3] = {e[k][0], e[k][1], 1};
        for (int b = 0; b < 2; b++)
            p[b] = (unsigned char)(v[0] >> 8 * b), p[2 + b] = (unsigned char)(v[1] >> 8 * b);
        for (int b = 0; b < 4; b++)
            p[4 + b] = (unsigned char)(v[2] >> 8 * b), p[8 + b] = (unsigned char)(e[k][2] >> 8 * b);
    }
    memset(t + 10 + 12 * count, 0, 4);
    memset(t + 200, 77, n);
    return 200 + (size_t)n;
}

/* TIFF: hostile tags refused before any allocation they would size */
static void test_tiff(const char *dir)
{
    unsigned char t[200 + 256];
    float px[3 * 8 * 8];
    char err[ERR_LEN] = "";
    struct image_opts o = {.resolution = 8, .exif = 1, .max_pixels = IMAGE_MAX_PIXELS};
    size_t len = make_tiff(t, 16, 16, 1, 0, 256);
    CHECK(image_preprocess(t, len, &o, px, err) == 0, "16 x 16 grey TIFF: %s", err);
    float want = (77 / 255.0f - 0.48145466f) / 0.26862954f;
    CHECK(fabsf(px[0] - want) < 1e-6f, "16 x 16 grey TIFF: %g, want %g", px[0], want);
    len = make_tiff(t, 60000, 60000, 1, 0, 256);
    refused(t, len, "60000 x 60000 TIFF", "60000 x 60000 pixels is over the limit");
    len = make_tiff(t, 16, 16, 1, 1u << 16, 256);
    refused(t, len, "TIFF of 2^16 x 2^16 tiles", "tiles of 65536 x 65536 pixels for an image of 16 x 16");
    /* each 1 MiB tile within the limit of one, all 977 of them not: each
     * would be inflated whole */
    len = make_tiff(t, 16, 1000000, 1, 1024, 256);
    refused(t, len, "TIFF of tiles wider than the image",
            "977 tiles of 1048576 bytes for an image of 16 x 1000000, over the work limit");
    len = make_tiff(t, 16, 16, 8, 0, 256);
    refused(t, len, "CIELab TIFF", "photometric interpretation 8 with 1 samples of 8 bits is not supported");
    len = make_tiff(t, 16, 16, 1, 0, 256);
    refused(t, 100, "TIFF cut in its IFD", "cannot decode TIFF");
    char path[512];
    snprintf(path, sizeof path, "%s/img-rgb.tif", dir);
    unsigned char *tif = slurp(path, &len);
    CHECK(tif && len > 1000, "cannot read %s", path);
    if (tif && len > 1000)
        refused(tif, len / 2, "truncated TIFF", "cannot decode TIFF");
    free(tif);
}

/* HEIF's container transformations: the same pixels encoded with each
 * orientation (libheif writes irot/imir; the coded image is the same) must
 * preprocess as a PNM of libheif's plain decode turned as EXIF orientation
 * o says. */
struct growing {
    unsigned char *buf;
    size_t len;
};

static struct heif_error grow(struct heif_context *ctx, const void *data, size_t size, void *user)
{
    struct growing *g = user;
    (void)ctx;
    g->buf = realloc(g->buf, g->len + size);
    memcpy(g->buf + g->len, data, size);
    g->len += size;
    return (struct heif_error){heif_error_Ok, heif_suberror_Unspecified, "ok"};
}

static struct growing encode_heic(const unsigned char *rgb, int w, int h, int o)
{
    struct growing g = {0};
    struct heif_context *ctx = heif_context_alloc();
    struct heif_encoder *enc = NULL;
    struct heif_image *img = NULL;
    heif_context_get_encoder_for_format(ctx, heif_compression_HEVC, &enc);
    heif_image_create(w, h, heif_colorspace_RGB, heif_chroma_interleaved_RGB, &img);
    heif_image_add_plane(img, heif_channel_interleaved, w, h, 8);
    int stride;
    uint8_t *p = heif_image_get_plane(img, heif_channel_interleaved, &stride);
    for (int y = 0; y < h && p; y++)
        memcpy(p + (size_t)y * stride, rgb + (size_t)y * w * 3, (size_t)w * 3);
    struct heif_encoding_options *opt = heif_encoding_options_alloc();
    opt->image_orientation = (enum heif_orientation)o;
    struct heif_writer writer = {.writer_api_version = 1, .write = grow};
    if (enc && heif_context_encode_image(ctx, img, enc, opt, NULL).code == heif_error_Ok)
        heif_context_write(ctx, &writer, &g);
    heif_encoding_options_free(opt);
    heif_image_release(img);
    if (enc)
        heif_encoder_release(enc);
    heif_context_free(ctx);
    return g;
}

/* A P6 PNM of w x h RGB pixels turned as EXIF orientation o says. */
static unsigned char *turned_pnm(const unsigned char *rgb, int w, int h, int o, size_t *len)
{
    int ow = o >= 5 ? h : w, oh = o >= 5 ? w : h;
    unsigned char *pnm = malloc(32 + (size_t)w * h * 3);
    int n = sprintf((char *)pnm, "P6\n%d %d\n255\n", ow, oh);
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx = x, sy = y; /* the stored pixel shown at (x, y) */
            switch (o) {
            case 2: sx = w - 1 - x; break;
            case 3: sx = w - 1 - x, sy = h - 1 - y; break;
            case 4: sy = h - 1 - y; break;
            case 5: sx = y, sy = x; break;
            case 6: sx = y, sy = h - 1 - x; break;
            case 7: sx = w - 1 - y, sy = h - 1 - x; break;
            case 8: sx = w - 1 - y, sy = x; break;
            }
            memcpy(pnm + n + ((size_t)y * ow + x) * 3, rgb + ((size_t)sy * w + sx) * 3, 3);
        }
    *len = (size_t)n + (size_t)w * h * 3;
    return pnm;
}

/* A box of type t around n bytes at body (which must leave 8 before it). */
static unsigned char *boxed(unsigned char *body, size_t n, const char *t)
{
    put_be32(body - 8, (uint32_t)(n + 8));
    memcpy(body - 4, t, 4);
    return body - 8;
}

/* HEIF bombs, refused before libheif allocates anything: a grid whose
 * descriptor says 18761 x 18761 in a file of 40 x 30 pixels (found by
 * fuzz-heif: 2 GB and 7.6 s before), and an HEVC sequence parameter set of
 * 40000 x 40000 pixels in a file of nothing else (libheif would refuse it
 * for its missing items, with another message). */
static void test_heif_bombs(const char *dir)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/img-rgb.heic", dir);
    unsigned char *small = slurp(path, &len);
    long base = small ? in_child(small, len, 8).peak_kib : 0;
    free(small);
    snprintf(path, sizeof path, "%s/img-gridbomb.heic", dir);
    unsigned char *bomb = slurp(path, &len);
    CHECK(bomb && len > 1000, "cannot read %s", path);
    if (bomb && len > 1000) {
        struct outcome r = in_child(bomb, len, 8);
        CHECK(r.rc == -1 && strstr(r.err, "18761 x 18761 pixels is over the limit"), "grid bomb: %s",
              r.err);
        CHECK(r.peak_kib - base < 16 << 10, "grid bomb: peak memory %ld KiB over a small HEIC's", r.peak_kib - base);
    }
    free(bomb);
    /* the SPS: NAL header, VPS id 0, one layer, 96 bits of profile and level
     * (0x01, clear of emulation prevention), then ue(v)s: SPS id 0, 4:2:0,
     * width and height 40000 */
    unsigned char f[256] = {0}, sps[64] = {0x42, 0x01, 0x01};
    memset(sps + 3, 0x01, 12);
    size_t bit = 15 * 8;
    const char *bits = "1" "010" "000000000000000" "1001110001000001" "000000000000000" "1001110001000001" "1";
    for (const char *c = bits; *c; c++, bit++)
        sps[bit / 8] |= (unsigned char)((*c == '1') << (7 - bit % 8));
    size_t sps_len = (bit + 7) / 8, at = 64; /* room for the boxes' headers before */
    unsigned char *hvcc = f + at;
    hvcc[0] = 1, hvcc[22] = 1, hvcc[23] = 33, hvcc[24] = 0, hvcc[25] = 1;
    hvcc[26] = 0, hvcc[27] = (unsigned char)sps_len;
    memcpy(hvcc + 28, sps, sps_len);
    unsigned char *b = boxed(hvcc, 28 + sps_len, "hvcC");
    b = boxed(b, 36 + sps_len, "ipco");
    b = boxed(b, 44 + sps_len, "iprp");
    b -= 4; /* meta is a full box */
    b = boxed(b, 56 + sps_len, "meta");
    b -= 16;
    memcpy(b, "\0\0\0\x10" "ftypheic\0\0\0\0", 16);
    refused(b, 16 + 64 + sps_len, "HEVC SPS of 40000 x 40000", "40000 x 40000 pixels is over the limit");
}

static void test_heif_orientation(const char *dir)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/img-rgb.heic", dir);
    unsigned char *heic = slurp(path, &len);
    CHECK(heic && len > 1000, "cannot read %s", path);
    if (heic && len > 1000) {
        refused(heic, len - 300, "truncated HEIC", "cannot decode HEIF");
        refused(heic, 300, "HEIC of 300 bytes", "cannot decode HEIF");
    }
    free(heic);
    enum { W = 40, H = 24 };
    unsigned char rgb[W * H * 3], plain[W * H * 3];
    heif_init(NULL); /* its encoders are registered while it is held */
    for (int k = 0; k < W * H * 3; k++)
        rgb[k] = (unsigned char)((k % 3) * 80 + (k / 3 % W) * 4 + (k / 3 / W) * 7);
    struct growing up = encode_heic(rgb, W, H, 1);
    CHECK(up.len > 0, "libheif cannot encode HEVC here (no x265?)");
    if (!up.len) {
        heif_deinit();
        return;
    }
    /* libheif's own decode of the upright file: the pixels every orientation turns */
    struct heif_context *ctx = heif_context_alloc();
    struct heif_image_handle *hd = NULL;
    struct heif_image *img = NULL;
    heif_context_read_from_memory_without_copy(ctx, up.buf, up.len, NULL);
    heif_context_get_primary_image_handle(ctx, &hd);
    heif_decode_image(hd, &img, heif_colorspace_RGB, heif_chroma_interleaved_RGB, NULL);
    int stride;
    const uint8_t *p = img ? heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride) : NULL;
    for (int y = 0; y < H && p; y++)
        memcpy(plain + y * W * 3, p + (size_t)y * stride, W * 3);
    CHECK(p != NULL, "libheif cannot decode its own HEIC");
    heif_image_release(img);
    heif_image_handle_release(hd);
    heif_context_free(ctx);
    for (int o = 1; o <= 8 && p; o++) {
        struct growing g = o == 1 ? up : encode_heic(rgb, W, H, o);
        size_t plen;
        unsigned char *pnm = turned_pnm(plain, W, H, o, &plen);
        float got[3 * 16 * 16], want[3 * 16 * 16];
        char err[ERR_LEN] = "", err2[ERR_LEN] = "";
        /* exif off: the container's transformations are applied all the same */
        struct image_opts opt = {.resolution = 16, .exif = 0, .max_pixels = IMAGE_MAX_PIXELS};
        int rc = image_preprocess(g.buf, g.len, &opt, got, err), rc2 = image_preprocess(pnm, plen, &opt, want, err2);
        CHECK(rc == 0 && rc2 == 0, "HEIC of orientation %d: %s %s", o, err, err2);
        CHECK(rc != 0 || rc2 != 0 || !memcmp(got, want, sizeof got), "HEIC of orientation %d: not turned as EXIF's", o);
        free(pnm);
        if (o > 1)
            free(g.buf);
    }
    free(up.buf);
    heif_deinit();
}

/* A 64 x 48 DNG (make_fixtures.py) of Orientation 6 is demosaiced by
 * LibRaw (half and full size) and turned: its output is close to the same
 * DNG's of Orientation 1 turned a quarter clockwise (the resize's passes
 * then run in the other order, so a few levels of rounding apart: 0.09
 * measured), and far from it unturned (2.0). */
static void test_dng(const char *dir)
{
    char path[512], err[ERR_LEN] = "";
    size_t len;
    snprintf(path, sizeof path, "%s/img-cfa.dng", dir);
    unsigned char *dng = slurp(path, &len);
    CHECK(dng && len > 6000, "cannot read %s", path);
    if (!dng || len <= 6000)
        return;
    enum { R = 16 };
    float turned[3 * R * R], upright[3 * R * R], full[3 * R * R];
    struct image_opts o = {.resolution = R, .exif = 0, .max_pixels = IMAGE_MAX_PIXELS};
    CHECK(image_preprocess(dng, len, &o, turned, err) == 0, "DNG: %s", err);
    o.raw_full = 1;
    CHECK(image_preprocess(dng, len, &o, full, err) == 0, "DNG at full size: %s", err);
    CHECK(memcmp(full, turned, sizeof full), "DNG: the full-size demosaic equals the half-size one");
    o.raw_full = 0;
    unsigned char *e = memmem(dng, 200, "\x12\x01\x03\0\x01\0\0\0\x06\0", 10); /* Orientation 6 */
    CHECK(e != NULL, "%s: no Orientation 6 entry", path);
    if (e) {
        e[8] = 1;
        CHECK(image_preprocess(dng, len, &o, upright, err) == 0, "DNG of Orientation 1: %s", err);
        double near = 0, far = 0; /* turned(x, y) is upright(y, R - 1 - x) */
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < R; y++)
                for (int x = 0; x < R; x++) {
                    float t = turned[(ch * R + y) * R + x];
                    near = fmax(near, fabs(t - upright[(ch * R + (R - 1 - x)) * R + y]));
                    far = fmax(far, fabs(t - upright[(ch * R + y) * R + x]));
                }
        CHECK(near < 0.15 && far > 1.0, "DNG of Orientation 6: %g from turned, %g from unturned", near, far);
    }
    free(dng);
}

/* img-preview.dng holds a 32 x 24 preview JPEG, which img-preview6.jpg
 * holds too with an EXIF Orientation 6: at a resolution of 16 the DNG is
 * its preview turned as the camera was held (whatever exif says), exactly
 * the JPEG's pixels; at 32 the preview is too small and the mosaic is
 * demosaiced instead. */
static void test_preview(const char *dir)
{
    char path[512], err[ERR_LEN] = "";
    size_t dlen, jlen;
    snprintf(path, sizeof path, "%s/img-preview.dng", dir);
    unsigned char *dng = slurp(path, &dlen);
    snprintf(path, sizeof path, "%s/img-preview6.jpg", dir);
    unsigned char *jpg = slurp(path, &jlen);
    CHECK(dng && jpg && dlen > 1000 && jlen > 500, "cannot read img-preview.dng and img-preview6.jpg");
    for (int R = 16; R <= 32 && dng && jpg && dlen > 1000 && jlen > 500; R += 16) {
        float *a = malloc(3 * R * R * sizeof *a), *b = malloc(3 * R * R * sizeof *b);
        struct image_opts o = {.resolution = R, .exif = 1, .max_pixels = IMAGE_MAX_PIXELS};
        CHECK(image_preprocess(jpg, jlen, &o, b, err) == 0, "img-preview6.jpg: %s", err);
        o.exif = 0;
        CHECK(image_preprocess(dng, dlen, &o, a, err) == 0, "img-preview.dng at %d: %s", R, err);
        int same = !memcmp(a, b, 3 * R * R * sizeof *a);
        CHECK(R == 16 ? same : !same, "img-preview.dng at %d: %s its preview JPEG's pixels", R,
              same ? "equals" : "differs from");
        free(a);
        free(b);
    }
    free(dng);
    free(jpg);
}

/* Camera RAW by magic: a TIFF with a SubIFDs tag looks like a camera's
 * (NEF, ARW) but LibRaw does not know it, so it is read as a TIFF; RAF
 * and ORF headers that end early are refused by LibRaw with its reason. */
static void test_raw(const char *dir)
{
    unsigned char t[200 + 256];
    float px[3 * 8 * 8];
    char err[ERR_LEN] = "";
    struct image_opts o = {.resolution = 8, .exif = 1, .max_pixels = IMAGE_MAX_PIXELS};
    size_t len = make_tiff(t, 16, 16, 1, 0, 256);
    t[10 + 12 * 7] = 0x4a, t[10 + 12 * 7 + 1] = 0x01; /* RowsPerStrip becomes SubIFDs */
    CHECK(image_preprocess(t, len, &o, px, err) == 0, "TIFF with SubIFDs: %s", err);
    refused((const unsigned char *)"FUJIFILMCCD-RAW 0201FF383501", 28, "RAF header", "camera RAW");
    unsigned char orf[64] = "IIRO\x08\0\0\0";
    refused(orf, sizeof orf, "ORF header", "camera RAW");
    test_dng(dir);
    test_preview(dir);
}

/* Whether word is one of the space-separated words of list */
static int has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p++)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
            return 1;
    return 0;
}

/* The decoders' table (decoder.h): every entry whole, no extension
 * claimed twice, TGA (no magic) last; the extensions the walk takes; and
 * every fixture taken by the first probe of the decoder its extension
 * names (RAWs that are TIFFs by rawimg, which comes before tiffimg). */
static void test_formats(const char *dir)
{
    size_t n = image_format_count();
    CHECK(n >= 10 && !image_format_at(n) && !strcmp(image_format_at(n - 1)->name, "TGA"), "%zu formats, TGA not last",
          n);
    for (size_t k = 0; k < n; k++) {
        const struct decoder *d = image_format_at(k);
        char v[128], ext[32];
        CHECK(d->name && d->extensions && d->probe && d->decode, "format %zu incomplete", k);
        CHECK(d->library ? d->version != NULL : !d->version || d->version(v, sizeof v) == 0, "%s: no version",
              d->name);
        for (const char *e = d->extensions; *e; e += strspn(e, " ")) {
            size_t len = strcspn(e, " ");
            snprintf(ext, sizeof ext, "x.%.*s", (int)len, e);
            int claims = 0;
            for (size_t j = 0; j < n; j++)
                claims += has_word(image_format_at(j)->extensions, ext + 2);
            CHECK(claims == 1 && image_has_extension(ext), "%s: extension %s claimed %d times", d->name, ext, claims);
            e += len;
        }
    }
    CHECK(image_has_extension("a/B.JPG") && image_has_extension("x.tiff") && !image_has_extension("x.tiff.txt") &&
              !image_has_extension("dir.jpg/x") && !image_has_extension("jpg") && !image_has_extension("x.jp"),
          "image_has_extension");
    char names[256];
    image_format_names(names, sizeof names, " or ");
    CHECK(!strncmp(names, "JPEG, PNG, ", 11) && strstr(names, " or TGA"), "format names: %s", names);
    DIR *dp = opendir(dir);
    for (struct dirent *e; dp && (e = readdir(dp));) {
        size_t len;
        if (strncmp(e->d_name, "img-", 4))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unsigned char *buf = slurp(path, &len);
        const struct decoder *d = NULL;
        for (size_t k = 0; buf && !d && k < n; k++)
            d = image_format_at(k)->probe(buf, len) ? image_format_at(k) : NULL;
        const char *dot = strrchr(e->d_name, '.');
        CHECK(d && dot && has_word(d->extensions, dot + 1), "%s taken by %s", e->d_name, d ? d->name : "no format");
        free(buf);
    }
    if (dp)
        closedir(dp);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/fixtures";
    test_reference(dir);
    test_draft(dir);
    test_bad(dir);
    test_magic();
    test_tga();
    test_gif();
    test_pnm();
    test_thin();
    test_scans(dir);
    test_bmp(dir);
    test_bmp_cut(dir);
    test_bomb();
    test_png_inflate_total();
    test_limit(dir);
    test_webp(dir);
    test_tiff(dir);
    test_heif_orientation(dir);
    test_heif_bombs(dir);
    test_raw(dir);
    test_formats(dir);
    return check_done("test_image");
}
