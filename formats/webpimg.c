/* webpimg.c - WebP pixels by libwebp.
 *
 * Decoded as Pillow 9.4 decodes it, through libwebp's animation decoder
 * (which reads stills too): the first frame on the canvas, RGBA when the
 * file's alpha flag is set, else RGB; the orientation from its EXIF chunk.
 *
 * The canvas size is read (WebPGetFeatures) and checked against max_pixels
 * before anything is decoded. Thread-safe.
 * See decoder.h.
 */
#include "decoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

/* libwebpdemux, and through it libwebp, loaded on first use (util.h); the
 * headers' inline wrappers (WebPGetFeatures...) are called as what they
 * wrap, with the ABI version the headers give */
#define WEBP_API(X) X(WebPGetDecoderVersion) X(WebPGetFeaturesInternal) X(WebPAnimDecoderOptionsInitInternal) X(WebPAnimDecoderNewInternal) X(WebPAnimDecoderGetInfo) X(WebPAnimDecoderGetNext) X(WebPAnimDecoderGetDemuxer) X(WebPAnimDecoderDelete) X(WebPDemuxGetI) X(WebPDemuxGetChunk) X(WebPDemuxReleaseChunkIterator)
static struct {
    WEBP_API(UTIL_LIB_POINTER)
} webp;
static const char *const webp_names[] = {WEBP_API(UTIL_LIB_NAME)};
static struct util_lib webp_lib = UTIL_LIB(WEBPDEMUX_SONAME, webp_names, webp);

/* libwebp's decoder version, as WebPGetDecoderVersion gives it (0x010204 for 1.2.4) */
static int webpimg_version(char *out, size_t size)
{
    if (util_lib_load(&webp_lib, NULL) < 0)
        return -1;
    int v = webp.WebPGetDecoderVersion();
    snprintf(out, size, "libwebp %d.%d.%d", v >> 16, (v >> 8) & 255, v & 255);
    return 0;
}

/* The orientation in the EXIF chunk, which may start with "Exif\0\0"
 * (Pillow strips it too); 1 without one. */
static int exif_orientation(const WebPDemuxer *demux)
{
    WebPChunkIterator it;
    int o = 1;
    if (webp.WebPDemuxGetChunk(demux, "EXIF", 1, &it)) {
        const unsigned char *t = it.chunk.bytes;
        size_t n = it.chunk.size;
        if (n >= 6 && !memcmp(t, "Exif\0\0", 6))
            t += 6, n -= 6;
        o = decoder_tiff_orientation(t, n);
        webp.WebPDemuxReleaseChunkIterator(&it);
    }
    return o;
}

/* The first frame, composed on the canvas as RGBA, to c bytes a pixel. */
static int first_frame(WebPAnimDecoder *dec, int w, int h, int c, struct decoder_pixels *im, char *err)
{
    uint8_t *rgba;
    int timestamp;
    if (!webp.WebPAnimDecoderGetNext(dec, &rgba, &timestamp))
        return error(err, "cannot decode WebP: its first frame is corrupt or truncated");
    if (!(im->px = malloc((size_t)w * h * c)))
        return error(err, "out of memory for a %d x %d WebP", w, h);
    for (size_t p = 0; p < (size_t)w * h; p++)
        memcpy(im->px + p * c, rgba + p * 4, (size_t)c);
    im->w = w, im->h = h, im->c = c;
    return 0;
}

static int webpimg_decode(const unsigned char *buf, size_t len, const struct decoder_opts *o, struct decoder_pixels *im,
                          char *err)
{
    WebPBitstreamFeatures f;
    *im = (struct decoder_pixels){0};
    if (util_lib_load(&webp_lib, err) < 0)
        return -1;
    VP8StatusCode st = webp.WebPGetFeaturesInternal(buf, len, &f, WEBP_DECODER_ABI_VERSION);
    if (st != VP8_STATUS_OK)
        return error(err, "cannot decode WebP: %s header (status %d)",
                     st == VP8_STATUS_NOT_ENOUGH_DATA ? "truncated" : "bad", (int)st);
    if (decoder_check_size((uint64_t)f.width, (uint64_t)f.height, o->max_pixels, err) < 0)
        return -1;
    WebPAnimDecoderOptions opts;
    if (!webp.WebPAnimDecoderOptionsInitInternal(&opts, WEBP_DEMUX_ABI_VERSION))
        return error(err, "cannot decode WebP: libwebp's version does not match its headers");
    opts.color_mode = MODE_RGBA;
    opts.use_threads = 0;
    WebPData data = {buf, len};
    WebPAnimDecoder *dec = webp.WebPAnimDecoderNewInternal(&data, &opts, WEBP_DEMUX_ABI_VERSION);
    if (!dec)
        return error(err, "cannot decode WebP: bad or truncated chunks");
    WebPAnimInfo info;
    int rc = -1;
    if (!webp.WebPAnimDecoderGetInfo(dec, &info) || info.canvas_width != (uint32_t)f.width ||
        info.canvas_height != (uint32_t)f.height) {
        error(err, "cannot decode WebP: its canvas is not the %d x %d its header says", f.width, f.height);
        goto done;
    }
    const WebPDemuxer *demux = webp.WebPAnimDecoderGetDemuxer(dec);
    int alpha = (webp.WebPDemuxGetI(demux, WEBP_FF_FORMAT_FLAGS) & ALPHA_FLAG) != 0;
    if (first_frame(dec, f.width, f.height, alpha ? 4 : 3, im, err) < 0)
        goto done;
    im->orientation = exif_orientation(demux);
    rc = 0;
done:
    webp.WebPAnimDecoderDelete(dec);
    return rc;
}

static int webpimg_probe(const unsigned char *buf, size_t len)
{
    return len >= 12 && !memcmp(buf, "RIFF", 4) && !memcmp(buf + 8, "WEBP", 4);
}

const struct decoder webpimg_decoder = {
    .name = "WebP",
    .extensions = "webp",
    .probe = webpimg_probe,
    .decode = webpimg_decode,
    .version = webpimg_version,
    .library = WEBPDEMUX_SONAME,
};
