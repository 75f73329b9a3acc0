/* preview.c - search results' photos drawn in the terminal by libchafa. */
#include "preview.h"

#include <chafa.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "util.h"

#define CHAFA_API(X)                                                                                                 \
    X(chafa_canvas_config_new) X(chafa_canvas_config_unref) X(chafa_canvas_config_set_geometry)                      \
    X(chafa_canvas_config_set_pixel_mode) X(chafa_canvas_config_set_canvas_mode) X(chafa_canvas_new)                 \
    X(chafa_canvas_unref) X(chafa_canvas_draw_all_pixels) X(chafa_canvas_print) X(chafa_term_db_get_default)         \
    X(chafa_term_db_detect) X(chafa_term_db_get_fallback_info) X(chafa_term_info_supplement)                         \
    X(chafa_term_info_have_seq) X(chafa_term_info_unref) X(g_string_free)
static struct {
    CHAFA_API(UTIL_LIB_POINTER)
} chafa;
static const char *const chafa_names[] = {CHAFA_API(UTIL_LIB_NAME)};
static struct util_lib chafa_lib = UTIL_LIB(CHAFA_SONAME, chafa_names, chafa);

#define THUMB 160                   /* pixels a side of the thumbnail decoded */
#define COLS 24                     /* its size in terminal cells: cells are about */
#define ROWS 12                     /* twice as high as wide */
#define MAX_FILE (1ull << 30)       /* as the index reads photos */
#define MAX_PIXELS 100000000ull

struct preview {
    ChafaTermInfo *term;
    ChafaPixelMode mode;
};

/* By enum preview_mode's order, from PREVIEW_AUTO. */
static const char *const mode_names[] = {"auto", "kitty", "iterm", "sixel", "symbols"};

int preview_mode_parse(const char *s, enum preview_mode *m)
{
    for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++)
        if (!strcmp(s, mode_names[i])) {
            *m = (enum preview_mode)(PREVIEW_AUTO + i);
            return 0;
        }
    return -1;
}

const char *preview_mode_names(void) { return "auto, kitty, iterm, sixel or symbols"; }

int preview_available(void) { return util_lib_load(&chafa_lib, NULL) == 0; }

/* What the terminal described by the environment draws best. */
static ChafaPixelMode detect(const ChafaTermInfo *t)
{
    if (chafa.chafa_term_info_have_seq(t, CHAFA_TERM_SEQ_BEGIN_KITTY_IMMEDIATE_IMAGE_V1))
        return CHAFA_PIXEL_MODE_KITTY;
    if (chafa.chafa_term_info_have_seq(t, CHAFA_TERM_SEQ_BEGIN_ITERM2_IMAGE))
        return CHAFA_PIXEL_MODE_ITERM2;
    if (chafa.chafa_term_info_have_seq(t, CHAFA_TERM_SEQ_BEGIN_SIXELS))
        return CHAFA_PIXEL_MODE_SIXELS;
    return CHAFA_PIXEL_MODE_SYMBOLS;
}

struct preview *preview_open(enum preview_mode m, char *err)
{
    static const ChafaPixelMode forced[] = {CHAFA_PIXEL_MODE_KITTY, CHAFA_PIXEL_MODE_ITERM2, CHAFA_PIXEL_MODE_SIXELS,
                                            CHAFA_PIXEL_MODE_SYMBOLS};
    extern char **environ;
    if (util_lib_load(&chafa_lib, err) < 0)
        return NULL;
    struct preview *p = calloc(1, sizeof *p);
    if (!p)
        return error(err, "out of memory"), NULL;
    ChafaTermDb *db = chafa.chafa_term_db_get_default();
    p->term = chafa.chafa_term_db_detect(db, environ);
    p->mode = m == PREVIEW_AUTO ? detect(p->term) : forced[m - PREVIEW_KITTY];
    /* a forced mode draws on any terminal, or a pipe: the sequences this
     * one lacks come from chafa's fallback, which has them all */
    ChafaTermInfo *fallback = chafa.chafa_term_db_get_fallback_info(db);
    chafa.chafa_term_info_supplement(p->term, fallback);
    chafa.chafa_term_info_unref(fallback);
    return p;
}

void preview_close(struct preview *p)
{
    if (p && p->term)
        chafa.chafa_term_info_unref(p->term);
    free(p);
}

/* The photo as THUMB x THUMB RGB bytes, decoded as the index decodes. */
static unsigned char *thumbnail(const char *path, char *err)
{
    static const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    struct image_opts o = {.resolution = THUMB, .exif = 1, .draft = 1, .max_pixels = MAX_PIXELS, .mean = zero,
                           .std = one};
    unsigned char *buf = NULL, *rgb = malloc(3 * THUMB * THUMB);
    float *px = malloc(3 * THUMB * THUMB * sizeof *px); /* [3, THUMB, THUMB], 0 to 1 */
    size_t len = 0;
    int rc = rgb && px ? 0 : error(err, "out of memory");
    if (!rc)
        rc = util_read_file(path, MAX_FILE, &buf, &len, err);
    if (!rc)
        rc = image_preprocess(buf, len, &o, px, err);
    for (int i = 0; !rc && i < THUMB * THUMB; i++)
        for (int c = 0; c < 3; c++)
            rgb[3 * i + c] = (unsigned char)(px[c * THUMB * THUMB + i] * 255.0f + 0.5f);
    free(buf);
    free(px);
    if (rc < 0)
        free(rgb), rgb = NULL;
    return rgb;
}

char *preview_render(struct preview *p, const char *path, char *err)
{
    unsigned char *rgb = thumbnail(path, err);
    if (!rgb)
        return NULL;
    ChafaCanvasConfig *cfg = chafa.chafa_canvas_config_new();
    chafa.chafa_canvas_config_set_geometry(cfg, COLS, ROWS);
    chafa.chafa_canvas_config_set_pixel_mode(cfg, p->mode);
    chafa.chafa_canvas_config_set_canvas_mode(cfg, CHAFA_CANVAS_MODE_TRUECOLOR);
    ChafaCanvas *canvas = chafa.chafa_canvas_new(cfg);
    chafa.chafa_canvas_draw_all_pixels(canvas, CHAFA_PIXEL_RGB8, rgb, THUMB, THUMB, THUMB * 3);
    GString *s = chafa.chafa_canvas_print(canvas, p->term);
    char *out = malloc(s->len + 2);
    if (out) {
        memcpy(out, s->str, s->len);
        memcpy(out + s->len, "\n", 2);
    } else
        error(err, "out of memory");
    chafa.g_string_free(s, TRUE);
    chafa.chafa_canvas_unref(canvas);
    chafa.chafa_canvas_config_unref(cfg);
    free(rgb);
    return out;
}
