/* rawimg.c - camera RAW (DNG, CR2, CR3, NEF, ARW, RAF, ORF, RW2...) by
 * LibRaw. Not the reference pipeline: the camera's own rendering or
 * LibRaw's demosaic, never what Pillow would make.
 *
 * The embedded preview is used when its shorter side is at least the
 * resolution asked: a JPEG decoded by the JPEG decoder (jpegimg_decoder,
 * as a preview), a bitmap as it is. Else the raw data is demosaiced by
 * LibRaw at half size (raw_full: whole size) with the camera's white
 * balance, to 8-bit sRGB. The camera's orientation comes back in
 * im->transform (EXIF's numbering).
 * The raw and output sizes LibRaw reads when it opens the file are checked
 * against max_pixels before anything is unpacked, and LibRaw's allocations
 * are capped. Thread-safe (libraw_r). LibRaw is loaded on the first call
 * (util_lib_load): without it, RAW files get "cannot load libraw_r.so.20".
 * A TIFF LibRaw does not know (one that only looked like a camera's) is
 * read by the TIFF decoder (tiffimg_decoder).
 * See decoder.h.
 */
#include "decoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libraw.h>

/* LibRaw is loaded on first use (util.h), not with clippie */
#define RAW_API(X) X(libraw_version) X(libraw_init) X(libraw_close) X(libraw_set_dataerror_handler) X(libraw_set_memerror_handler) X(libraw_open_buffer) X(libraw_strerror) X(libraw_unpack) X(libraw_unpack_thumb) X(libraw_dcraw_process) X(libraw_dcraw_make_mem_image) X(libraw_dcraw_make_mem_thumb) X(libraw_dcraw_clear_mem)
static struct {
    RAW_API(UTIL_LIB_POINTER)
} raw;
static const char *const raw_names[] = {RAW_API(UTIL_LIB_NAME)};
static struct util_lib raw_lib = UTIL_LIB(RAWIMG_SONAME, raw_names, raw);

static int rawimg_version(char *out, size_t size)
{
    if (util_lib_load(&raw_lib, NULL) < 0)
        return -1;
    snprintf(out, size, "LibRaw %s", raw.libraw_version());
    return 0;
}

/* LibRaw's flip (dcraw's numbering) to EXIF's orientation */
static int exif_of_flip(int flip)
{
    static const int exif[8] = {1, 2, 4, 3, 5, 8, 6, 7};
    return flip >= 0 && flip < 8 ? exif[flip] : 1;
}

/* LibRaw's default handlers print; a module does not */
static void quiet_data(void *data, const char *file, const int offset) { (void)data, (void)file, (void)offset; }
static void quiet_memory(void *data, const char *file, const char *where) { (void)data, (void)file, (void)where; }

/* A processed image of LibRaw's: JPEG bytes to *jpeg, 8-bit RGB or grey to im. */
static int take(libraw_processed_image_t *p, struct decoder_pixels *im, unsigned char **jpeg, size_t *jpeg_len,
                char *err)
{
    if (p->type == LIBRAW_IMAGE_JPEG) {
        if (!(*jpeg = malloc(p->data_size ? p->data_size : 1)))
            return error(err, "out of memory for a preview of %u bytes", p->data_size);
        memcpy(*jpeg, p->data, p->data_size);
        *jpeg_len = p->data_size;
        return 0;
    }
    size_t n = (size_t)p->width * p->height * p->colors;
    if (p->bits != 8 || (p->colors != 1 && p->colors != 3) || n != p->data_size || n == 0)
        return error(err, "cannot decode camera RAW: LibRaw gave %u x %u pixels of %u colours of %u bits", p->width,
                     p->height, p->colors, p->bits);
    if (!(im->px = malloc(n)))
        return error(err, "out of memory for a %u x %u image", p->width, p->height);
    memcpy(im->px, p->data, n);
    im->w = p->width, im->h = p->height, im->c = p->colors;
    return 0;
}

/* What take_preview returns when LibRaw failed to read the preview: it
 * then forgets the file (its exceptions recycle it), and must open it again
 * for the demosaic (else "Out of order call of libraw function"). */
#define SPENT 2

/* The embedded preview, when its shorter side is at least the resolution and it
 * turns out a JPEG or an 8-bit bitmap (LibRaw tells its format only once
 * unpacked): 1 when taken, 0 or SPENT when not, -1 with err. */
static int take_preview(libraw_data_t *lr, const struct decoder_opts *o, struct decoder_pixels *im, unsigned char **jpeg,
                        size_t *jpeg_len, char *err)
{
    const libraw_thumbnail_t *t = &lr->thumbnail;
    int side = t->twidth < t->theight ? t->twidth : t->theight, rc;
    if (o->raw_full || side < o->resolution || t->tlength == 0)
        return 0;
    if ((uint64_t)t->twidth * t->theight > o->max_pixels)
        return error(err, "preview of %u x %u pixels is over the limit of %llu pixels", t->twidth, t->theight,
                     (unsigned long long)o->max_pixels);
    if (raw.libraw_unpack_thumb(lr) != LIBRAW_SUCCESS) /* its offset or length outside the file, say */
        return SPENT;
    if (t->tformat != LIBRAW_THUMBNAIL_JPEG && t->tformat != LIBRAW_THUMBNAIL_BITMAP)
        return 0;
    libraw_processed_image_t *p = raw.libraw_dcraw_make_mem_thumb(lr, &rc);
    if (!p)
        return error(err, "cannot decode camera RAW's preview: %s", raw.libraw_strerror(rc));
    rc = take(p, im, jpeg, jpeg_len, err);
    raw.libraw_dcraw_clear_mem(p);
    return rc < 0 ? -1 : 1;
}

/* The preview if it will do, else LibRaw's demosaic (of buf, opened again
 * if reading the preview failed). */
static int develop(libraw_data_t *lr, const unsigned char *buf, size_t len, const struct decoder_opts *o,
                   struct decoder_pixels *im, unsigned char **jpeg, size_t *jpeg_len, char *err)
{
    int rc = take_preview(lr, o, im, jpeg, jpeg_len, err);
    if (rc == SPENT && (rc = raw.libraw_open_buffer(lr, (void *)buf, len)) != LIBRAW_SUCCESS)
        return error(err, "cannot decode camera RAW: %s", raw.libraw_strerror(rc));
    if (rc == -1 || rc == 1)
        return rc;
    lr->params.half_size = !o->raw_full;
    lr->params.use_camera_wb = 1;
    lr->params.user_flip = 0; /* turned by image.c, as the preview is */
    lr->params.output_bps = 8;
    if ((rc = raw.libraw_unpack(lr)) != LIBRAW_SUCCESS || (rc = raw.libraw_dcraw_process(lr)) != LIBRAW_SUCCESS)
        return error(err, "cannot decode camera RAW: %s", raw.libraw_strerror(rc));
    libraw_processed_image_t *p = raw.libraw_dcraw_make_mem_image(lr, &rc);
    if (!p)
        return error(err, "cannot decode camera RAW: %s", raw.libraw_strerror(rc));
    rc = take(p, im, jpeg, jpeg_len, err);
    raw.libraw_dcraw_clear_mem(p);
    return rc;
}

/* What open_file returns when LibRaw does not know the file (a TIFF that
 * only looked like a camera's is then read as a TIFF). */
#define UNKNOWN (-2)

/* The pixels in im, or a preview JPEG in *jpeg (malloc'd: the caller
 * decodes and frees it); -1 or UNKNOWN with err. */
static int open_file(const unsigned char *buf, size_t len, const struct decoder_opts *o, struct decoder_pixels *im,
                     unsigned char **jpeg, size_t *jpeg_len, char *err)
{
    *im = (struct decoder_pixels){0};
    *jpeg = NULL;
    *jpeg_len = 0;
    if (util_lib_load(&raw_lib, err) < 0)
        return -1;
    libraw_data_t *lr = raw.libraw_init(0);
    if (!lr)
        return error(err, "out of memory starting LibRaw");
    raw.libraw_set_dataerror_handler(lr, quiet_data, NULL);
    raw.libraw_set_memerror_handler(lr, quiet_memory, NULL);
    /* the raw data (2 bytes a pixel) and the demosaic's (8), with room */
    uint64_t mb = o->max_pixels < (1ull << 40) ? (16 * o->max_pixels >> 20) + 64 : LIBRAW_MAX_ALLOC_MB_DEFAULT;
    lr->params.max_raw_memory_mb = mb < LIBRAW_MAX_ALLOC_MB_DEFAULT ? (unsigned)mb : LIBRAW_MAX_ALLOC_MB_DEFAULT;
    int rc = raw.libraw_open_buffer(lr, (void *)buf, len);
    if (rc == LIBRAW_FILE_UNSUPPORTED) {
        error(err, "not a camera RAW LibRaw knows");
        rc = UNKNOWN;
    } else if (rc != LIBRAW_SUCCESS) {
        rc = error(err, "cannot decode camera RAW: %s", raw.libraw_strerror(rc));
    } else {
        const libraw_image_sizes_t *s = &lr->sizes;
        int flip = s->flip; /* before the demosaic, which sets it to user_flip */
        rc = decoder_check_size(s->raw_width, s->raw_height, o->max_pixels, err) < 0 ||
                     decoder_check_size(s->width, s->height, o->max_pixels, err) < 0
                 ? -1
                 : develop(lr, buf, len, o, im, jpeg, jpeg_len, err);
        im->transform = exif_of_flip(flip);
    }
    raw.libraw_close(lr);
    if (rc < 0) {
        free(im->px);
        im->px = NULL;
    }
    return rc;
}

/* LibRaw's pixels, or its preview decoded by the JPEG decoder; a TIFF
 * LibRaw does not know by the TIFF decoder. */
static int rawimg_decode(const unsigned char *buf, size_t len, const struct decoder_opts *o, struct decoder_pixels *im,
                         char *err)
{
    unsigned char *jpeg;
    size_t jpeg_len;
    int rc = open_file(buf, len, o, im, &jpeg, &jpeg_len, err);
    if (rc == UNKNOWN && tiffimg_decoder.probe(buf, len))
        return tiffimg_decoder.decode(buf, len, o, im, err);
    if (rc < 0 || !jpeg)
        return rc < 0 ? -1 : 0;
    struct decoder_opts preview = *o;
    preview.preview = 1;
    int transform = im->transform;
    rc = jpegimg_decoder.decode(jpeg, jpeg_len, &preview, im, err);
    im->transform = transform; /* the preview is stored as the sensor was, turned as LibRaw says */
    free(jpeg);
    return rc;
}

/* Fujifilm's RAF, Olympus's ORF, Panasonic's RW2, Canon's CR3 (ISO-BMFF),
 * CR2 (a TIFF marked "CR" after its header), and TIFFs with a DNGVersion
 * tag or SubIFDs, where cameras keep the raw image (NEF, ARW, PEF...) */
static int rawimg_probe(const unsigned char *b, size_t len)
{
    if (len >= 8 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4)))
        return (len >= 10 && b[8] == 'C' && b[9] == 'R') || decoder_tiff_tag(b, len, 0xc612) ||
               decoder_tiff_tag(b, len, 0x014a);
    return (len >= 16 && !memcmp(b, "FUJIFILMCCD-RAW", 15)) ||
           (len >= 4 && (!memcmp(b, "IIRO", 4) || !memcmp(b, "IIRS", 4) || !memcmp(b, "MMOR", 4) ||
                         !memcmp(b, "IIU\0", 4))) ||
           (len >= 12 && !memcmp(b + 4, "ftypcrx ", 8));
}

const struct decoder rawimg_decoder = {
    .name = "camera RAW",
    .extensions = "dng cr2 cr3 nef arw raf orf rw2",
    .probe = rawimg_probe,
    .decode = rawimg_decode,
    .version = rawimg_version,
    .library = RAWIMG_SONAME,
};
