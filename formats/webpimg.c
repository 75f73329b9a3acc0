/* webpimg.c - WebP pixels by libwebp.
 *
 * Decoded as Pillow 9.4 decodes it through libwebp's animation decoder
 * (which reads stills too): the first frame on the canvas, transparent
 * black around it, RGBA when the file's alpha flag is set, else RGB; the
 * orientation from its EXIF chunk. The first frame is decoded alone (its
 * own size, RGBA, as the animation decoder decodes it) and put on the one
 * canvas returned: the animation decoder keeps two RGBA canvases of its
 * own besides, 8 bytes a canvas pixel (a 92-byte file of a 10000 x 10000
 * canvas and a 1 x 1 frame took 1.2 GB; now the 300 MB of its RGB pixels,
 * as any image of that size).
 *
 * The canvas size (VP8X's, WebPGetFeatures) and the frame's are checked
 * against max_pixels before anything is decoded. Thread-safe.
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
#define WEBP_API(X) X(WebPGetDecoderVersion) X(WebPGetFeaturesInternal) X(WebPDecodeRGBA) X(WebPFree) X(WebPDemuxInternal) X(WebPDemuxDelete) X(WebPDemuxGetFrame) X(WebPDemuxReleaseIterator) X(WebPDemuxGetI) X(WebPDemuxGetChunk) X(WebPDemuxReleaseChunkIterator)
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

/* The first frame, decoded as RGBA, on a transparent black canvas of w x
 * h pixels of c bytes (the frame's offset and size within it: the demuxer
 * checks them). */
static int first_frame(const WebPDemuxer *demux, int w, int h, int c, uint64_t max_pixels, struct decoder_pixels *im,
                       char *err)
{
    WebPIterator it;
    int fw, fh;
    if (!webp.WebPDemuxGetFrame(demux, 1, &it))
        return error(err, "cannot decode WebP: it has no frame");
    int rc = decoder_check_size((uint64_t)it.width, (uint64_t)it.height, max_pixels, err);
    uint8_t *rgba = rc < 0 ? NULL : webp.WebPDecodeRGBA(it.fragment.bytes, it.fragment.size, &fw, &fh);
    if (rc == 0 && (!rgba || fw != it.width || fh != it.height || it.x_offset + fw > w || it.y_offset + fh > h))
        rc = error(err, "cannot decode WebP: its first frame is corrupt or truncated");
    /* calloc: the canvas around the frame is zeros, pages the frame does not touch stay unmapped */
    if (rc == 0 && !(im->px = calloc((size_t)w * h, (size_t)c)))
        rc = error(err, "out of memory for a %d x %d WebP", w, h);
    for (int y = 0; rc == 0 && y < fh; y++)
        for (int x = 0; x < fw; x++)
            memcpy(im->px + ((size_t)(it.y_offset + y) * w + it.x_offset + x) * c, rgba + ((size_t)y * fw + x) * 4,
                   (size_t)c);
    if (rc == 0)
        im->w = w, im->h = h, im->c = c;
    webp.WebPFree(rgba);
    webp.WebPDemuxReleaseIterator(&it);
    return rc;
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
    WebPData data = {buf, len};
    WebPDemuxer *demux = webp.WebPDemuxInternal(&data, 0, NULL, WEBP_DEMUX_ABI_VERSION);
    if (!demux)
        return error(err, "cannot decode WebP: bad or truncated chunks");
    int rc = -1;
    if (webp.WebPDemuxGetI(demux, WEBP_FF_CANVAS_WIDTH) != (uint32_t)f.width ||
        webp.WebPDemuxGetI(demux, WEBP_FF_CANVAS_HEIGHT) != (uint32_t)f.height) {
        error(err, "cannot decode WebP: its canvas is not the %d x %d its header says", f.width, f.height);
        goto done;
    }
    int alpha = (webp.WebPDemuxGetI(demux, WEBP_FF_FORMAT_FLAGS) & ALPHA_FLAG) != 0;
    if (first_frame(demux, f.width, f.height, alpha ? 4 : 3, o->max_pixels, im, err) < 0)
        goto done;
    im->orientation = exif_orientation(demux);
    rc = 0;
done:
    webp.WebPDemuxDelete(demux);
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
