/* HEIC/HEIF and AVIF by libheif; see heifimg.h. */
#include "heifimg.h"

#include <stdlib.h>
#include <string.h>

#include <libheif/heif.h>

#include "util.h"

/* The decoded image's interleaved plane to im, c bytes a pixel. */
static int copy_plane(const struct heif_image *img, int c, struct image_pixels *im, char *err)
{
    int stride, w = heif_image_get_width(img, heif_channel_interleaved),
                h = heif_image_get_height(img, heif_channel_interleaved);
    const uint8_t *p = heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride);
    if (!p || w <= 0 || h <= 0 || stride < w * c)
        return error(err, "cannot decode HEIF: libheif gave no %d-byte pixels", c);
    if (!(im->px = malloc((size_t)w * h * c)))
        return error(err, "out of memory for a %d x %d HEIF", w, h);
    for (int y = 0; y < h; y++)
        memcpy(im->px + (size_t)y * w * c, p + (size_t)y * stride, (size_t)w * c);
    im->w = w, im->h = h, im->c = c;
    return 0;
}

static int decode_primary(struct heif_context *ctx, uint64_t max_pixels, struct image_pixels *im, char *err)
{
    struct heif_image_handle *handle = NULL;
    struct heif_image *img = NULL;
    int rc = -1;
    struct heif_error e = heif_context_get_primary_image_handle(ctx, &handle);
    if (e.code != heif_error_Ok) {
        error(err, "cannot decode HEIF: %s", e.message);
        goto done;
    }
    /* the size after the transformations: what decoding allocates */
    int w = heif_image_handle_get_width(handle), h = heif_image_handle_get_height(handle);
    if (image_check_size(w > 0 ? (uint64_t)w : 0, h > 0 ? (uint64_t)h : 0, max_pixels, err) < 0)
        goto done;
    int alpha = heif_image_handle_has_alpha_channel(handle);
    e = heif_decode_image(handle, &img, heif_colorspace_RGB,
                          alpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB, NULL);
    if (e.code != heif_error_Ok) {
        error(err, "cannot decode HEIF: %s", e.message);
        goto done;
    }
    rc = copy_plane(img, alpha ? 4 : 3, im, err);
    im->orientation = 1; /* turned by the container's transformations: EXIF's is not applied again */
done:
    heif_image_release(img);
    heif_image_handle_release(handle);
    return rc;
}

int heifimg_decode(const unsigned char *buf, size_t len, uint64_t max_pixels, struct image_pixels *im, char *err)
{
    *im = (struct image_pixels){0};
    /* reference counted: plugins stay loaded while any decode runs */
    struct heif_error e = heif_init(NULL);
    if (e.code != heif_error_Ok)
        return error(err, "cannot start libheif: %s", e.message);
    struct heif_context *ctx = heif_context_alloc();
    int rc = -1;
    if (!ctx)
        error(err, "out of memory starting libheif");
    else if ((e = heif_context_read_from_memory_without_copy(ctx, buf, len, NULL)).code != heif_error_Ok)
        error(err, "cannot decode HEIF: %s", e.message);
    else
        rc = decode_primary(ctx, max_pixels, im, err);
    heif_context_free(ctx);
    heif_deinit();
    return rc;
}
