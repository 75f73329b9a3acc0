/* jpegimg.c - JPEG (baseline, progressive, grey, CMYK; MPO's first image) by
 * libjpeg-turbo, the decoder Pillow uses, so the same pixels.
 *
 * Refused, as Pillow refuses them: a file that ends before its image does,
 * and an EXIF block cut short in its TIFF header (when Pillow would read
 * it); and, against hostile files, more than 100 scans. The size in the
 * frame header is checked against max_pixels before libjpeg allocates any
 * pixel. With draft, large JPEGs are decoded at 1/2, 1/4 or 1/8 size in the
 * DCT domain, as Pillow's draft mode: faster, no longer the reference's
 * exact pixels. The EXIF orientation comes back in im->orientation (not for
 * a preview: LibRaw says how that is turned). Adobe's inverted CMYK is
 * turned back, as Pillow reads it ("CMYK;I"). See decoder.h.
 */
#include "decoder.h"

#include <setjmp.h>
#include <stdio.h> /* before jpeglib.h, which needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

/* ---- the marker segments before the image data ---- */

/* Calls fn on each JPEG marker segment before the image data (seg points
 * past the length field) until fn returns nonzero; returns that, or 0. */
static int jpeg_segments(const unsigned char *buf, size_t len,
                         int (*fn)(unsigned marker, const unsigned char *seg, size_t n, void *ctx), void *ctx)
{
    if (len < 4 || buf[0] != 0xff || buf[1] != 0xd8)
        return 0;
    for (size_t p = 2; p + 4 <= len;) {
        if (buf[p] != 0xff)
            return 0;
        unsigned marker = buf[p + 1];
        if (marker == 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker == 0x01 || marker == 0xff) {
            p += marker == 0xff ? 1 : 2;
            continue;
        }
        if (marker == 0xda || marker == 0xd9)
            return 0;
        size_t seg = (size_t)buf[p + 2] << 8 | buf[p + 3];
        if (seg < 2 || seg > len - p - 2)
            return 0;
        int r = fn(marker, buf + p + 4, seg - 2, ctx);
        if (r)
            return r;
        p += 2 + seg;
    }
    return 0;
}

static int exif_segment(unsigned marker, const unsigned char *seg, size_t n, void *ctx)
{
    (void)ctx;
    if (marker != 0xe1 || n < 6 || memcmp(seg, "Exif\0\0", 6))
        return 0;
    return decoder_tiff_orientation(seg + 6, n - 6);
}

/* The EXIF orientation (1..8) of a JPEG, 1 when it has none. */
static int exif_orientation(const unsigned char *buf, size_t len)
{
    int o = jpeg_segments(buf, len, exif_segment, NULL);
    return o ? o : 1;
}

/* Pillow 9.4 reads the first EXIF block of a JPEG as it opens it when no
 * JFIF block before it gave the resolution in dots per inch (unit 1), and
 * fails on a TIFF header it cannot read: one of its byte order marks and
 * fewer than 8 bytes, or little-endian BigTIFF's (it reads 8 of its 16).
 * ctx: the dpi flag. Returns 1 for such a block, 2 for any other. */
static int short_exif_segment(unsigned marker, const unsigned char *seg, size_t n, void *ctx)
{
    static const char marks[][5] = {"MM\0*", "II*\0", "MM*\0", "II\0*", "MM\0+", "II+\0"};
    int *dpi = ctx;
    if (marker == 0xe0 && n >= 12 && !memcmp(seg, "JFIF", 4) && seg[7] == 1)
        *dpi = 1;
    if (marker != 0xe1 || n < 5 || memcmp(seg, "Exif\0", 5))
        return 0;
    if (*dpi)
        return 2;
    if (n >= 6 && seg[5] == 0) /* Pillow strips "Exif\0\0" only */
        seg += 6, n -= 6;
    for (size_t k = 0; n >= 4 && k < sizeof marks / sizeof marks[0]; k++)
        if (!memcmp(seg, marks[k], 4))
            return n < 8 || !memcmp(seg, "II+\0", 4) ? 1 : 2;
    return 2;
}

/* A JPEG Pillow refuses for its EXIF block */
static int exif_cut_short(const unsigned char *buf, size_t len, char *err)
{
    int dpi = 0;
    if (jpeg_segments(buf, len, short_exif_segment, &dpi) == 1)
        return error(err, "JPEG whose EXIF block is cut short in its TIFF header");
    return 0;
}

/* ---- libjpeg ---- */

/* libjpeg's progressive scripts have about 10 scans; each scan costs a pass
 * over the whole image, so a file of thousands (35 s for 4,000) is refused,
 * as djpeg -maxscans does */
#define JPEG_MAX_SCANS 100

struct jpeg_err {
    struct jpeg_error_mgr mgr;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    int truncated;
    char msg[JMSG_LENGTH_MAX];
};

static void jpeg_fail(j_common_ptr c)
{
    struct jpeg_err *e = (struct jpeg_err *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jump, 1);
}

static void jpeg_warn(j_common_ptr c, int level)
{
    /* Pillow refuses a file that ends early; other warnings pass silently */
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF)
        ((struct jpeg_err *)c->err)->truncated = 1;
}

/* libjpeg calls this between the steps of its input, scans included */
static void jpeg_progress(j_common_ptr c)
{
    struct jpeg_err *e = (struct jpeg_err *)c->err;
    int scan = ((j_decompress_ptr)c)->input_scan_number;
    if (scan > JPEG_MAX_SCANS) {
        snprintf(e->msg, sizeof e->msg, "more than %d scans (scan %d)", JPEG_MAX_SCANS, scan);
        longjmp(e->jump, 1);
    }
}

/* After the header: draft's DCT-domain downscaling by 2, 4 or 8, as long
 * as the shorter side stays at least twice what the resize needs, and the
 * colour space Pillow reads. Returns whether the pixels are CMYK. */
static int choose_output(j_decompress_ptr cinfo, int draft)
{
    unsigned short_side = cinfo->image_width < cinfo->image_height ? cinfo->image_width : cinfo->image_height;
    for (unsigned d = 8; draft && d > 1; d /= 2)
        if (short_side / d >= 2 * (unsigned)draft) {
            cinfo->scale_num = 1;
            cinfo->scale_denom = d;
            break;
        }
    int cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
    cinfo->out_color_space = cmyk ? JCS_CMYK : cinfo->num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    return cmyk;
}

/* The rows, once started, into px[stride * output_height] */
static void read_rows(j_decompress_ptr cinfo, unsigned char *px, size_t stride, int cmyk)
{
    while (cinfo->output_scanline < cinfo->output_height) {
        JSAMPROW row = px + cinfo->output_scanline * stride;
        jpeg_read_scanlines(cinfo, &row, 1);
    }
    /* Adobe's CMYK is stored inverted; Pillow reads it as "CMYK;I" */
    if (cmyk && cinfo->saw_Adobe_marker)
        for (size_t k = 0; k < stride * cinfo->output_height; k++)
            px[k] = (unsigned char)(255 - px[k]);
}

static int decode_pixels(const unsigned char *buf, size_t len, const struct decoder_opts *o,
                         struct decoder_pixels *im, char *err)
{
    struct jpeg_decompress_struct cinfo;
    struct jpeg_err je = {0};
    unsigned char *volatile px = NULL;
    cinfo.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = jpeg_fail;
    je.mgr.emit_message = jpeg_warn;
    if (setjmp(je.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(px);
        return error(err, "cannot decode JPEG: %s", je.msg);
    }
    jpeg_create_decompress(&cinfo);
    je.progress.progress_monitor = jpeg_progress;
    cinfo.progress = &je.progress;
    jpeg_mem_src(&cinfo, buf, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    int cmyk = choose_output(&cinfo, o->draft ? o->resolution : 0);
    if (decoder_check_size(cinfo.image_width, cinfo.image_height, o->max_pixels, err) < 0) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * cinfo.output_components;
    if (!(px = malloc(stride * cinfo.output_height))) {
        jpeg_destroy_decompress(&cinfo);
        return error(err, "out of memory for a %u x %u image", cinfo.output_width, cinfo.output_height);
    }
    read_rows(&cinfo, px, stride, cmyk);
    if (je.truncated) {
        jpeg_destroy_decompress(&cinfo);
        free(px);
        return error(err, "truncated JPEG: the file ends before its image does");
    }
    /* the rest of the file is read here, and may fail: px is ours till then */
    jpeg_finish_decompress(&cinfo);
    *im = (struct decoder_pixels){.px = px, .w = (int)cinfo.output_width, .h = (int)cinfo.output_height,
                                  .c = cinfo.output_components, .cmyk = cmyk};
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

static int jpegimg_decode(const unsigned char *buf, size_t len, const struct decoder_opts *o,
                       struct decoder_pixels *im, char *err)
{
    *im = (struct decoder_pixels){0};
    if (!o->preview && exif_cut_short(buf, len, err) < 0)
        return -1;
    if (decode_pixels(buf, len, o, im, err) < 0)
        return -1;
    im->orientation = o->preview ? 0 : exif_orientation(buf, len);
    return 0;
}

static int jpegimg_probe(const unsigned char *buf, size_t len) { return len >= 3 && !memcmp(buf, "\xff\xd8\xff", 3); }

static int jpegimg_version(char *out, size_t size)
{
    snprintf(out, size, "libjpeg-turbo (libjpeg API %d)", JPEG_LIB_VERSION);
    return 0;
}

const struct decoder jpegimg_decoder = {
    .name = "JPEG",
    .extensions = "jpg jpeg jpe jfif mpo",
    .probe = jpegimg_probe,
    .decode = jpegimg_decode,
    .version = jpegimg_version,
};
