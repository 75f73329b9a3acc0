/* Camera RAW by LibRaw: the preview or a demosaic; see rawimg.h. */
#include "rawimg.h"

#include <stdlib.h>
#include <string.h>

#include <libraw.h>

#include "util.h"

/* LibRaw is loaded on first use (util.h), not with clippie */
#define RAW_API(X) X(libraw_version) X(libraw_init) X(libraw_close) X(libraw_set_dataerror_handler) X(libraw_set_memerror_handler) X(libraw_open_buffer) X(libraw_strerror) X(libraw_unpack) X(libraw_unpack_thumb) X(libraw_dcraw_process) X(libraw_dcraw_make_mem_image) X(libraw_dcraw_make_mem_thumb) X(libraw_dcraw_clear_mem)
static struct {
    RAW_API(UTIL_LIB_POINTER)
} raw;
static const char *const raw_names[] = {RAW_API(UTIL_LIB_NAME)};
static struct util_lib raw_lib = UTIL_LIB(RAWIMG_SONAME, raw_names, raw);

const char *rawimg_version(void) { return util_lib_load(&raw_lib, NULL) < 0 ? NULL : raw.libraw_version(); }

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
static int take(libraw_processed_image_t *p, struct image_pixels *im, unsigned char **jpeg, size_t *jpeg_len,
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

/* The embedded preview, when its shorter side is at least min_side and it
 * turns out a JPEG or an 8-bit bitmap (LibRaw tells its format only once
 * unpacked): 1 when taken, 0 when not, -1 with err. */
static int take_preview(libraw_data_t *lr, const struct rawimg_opts *o, struct image_pixels *im, unsigned char **jpeg,
                        size_t *jpeg_len, char *err)
{
    const libraw_thumbnail_t *t = &lr->thumbnail;
    int side = t->twidth < t->theight ? t->twidth : t->theight, rc;
    if (o->full || side < o->min_side || t->tlength == 0)
        return 0;
    if ((uint64_t)t->twidth * t->theight > o->max_pixels)
        return error(err, "preview of %u x %u pixels is over the limit of %llu pixels", t->twidth, t->theight,
                     (unsigned long long)o->max_pixels);
    if (raw.libraw_unpack_thumb(lr) != LIBRAW_SUCCESS ||
        (t->tformat != LIBRAW_THUMBNAIL_JPEG && t->tformat != LIBRAW_THUMBNAIL_BITMAP))
        return 0;
    libraw_processed_image_t *p = raw.libraw_dcraw_make_mem_thumb(lr, &rc);
    if (!p)
        return error(err, "cannot decode camera RAW's preview: %s", raw.libraw_strerror(rc));
    rc = take(p, im, jpeg, jpeg_len, err);
    raw.libraw_dcraw_clear_mem(p);
    return rc < 0 ? -1 : 1;
}

/* The preview if it will do, else LibRaw's demosaic. */
static int develop(libraw_data_t *lr, const struct rawimg_opts *o, struct image_pixels *im, unsigned char **jpeg,
                   size_t *jpeg_len, char *err)
{
    int rc = take_preview(lr, o, im, jpeg, jpeg_len, err);
    if (rc)
        return rc < 0 ? -1 : 0;
    lr->params.half_size = !o->full;
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

int rawimg_decode(const unsigned char *buf, size_t len, const struct rawimg_opts *o, struct image_pixels *im,
                  unsigned char **jpeg, size_t *jpeg_len, char *err)
{
    *im = (struct image_pixels){0};
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
        rc = RAWIMG_UNKNOWN;
    } else if (rc != LIBRAW_SUCCESS) {
        rc = error(err, "cannot decode camera RAW: %s", raw.libraw_strerror(rc));
    } else {
        const libraw_image_sizes_t *s = &lr->sizes;
        int flip = s->flip; /* before the demosaic, which sets it to user_flip */
        rc = image_check_size(s->raw_width, s->raw_height, o->max_pixels, err) < 0 ||
                     image_check_size(s->width, s->height, o->max_pixels, err) < 0
                 ? -1
                 : develop(lr, o, im, jpeg, jpeg_len, err);
        im->transform = exif_of_flip(flip);
    }
    raw.libraw_close(lr);
    if (rc < 0) {
        free(im->px);
        im->px = NULL;
    }
    return rc;
}
