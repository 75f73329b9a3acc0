/* preview.h - a photo drawn in the terminal, beside a search result, by
 * libchafa (loaded on first use): the kitty or iTerm2 image protocols,
 * sixels, or Unicode block symbols that any terminal shows.
 *
 *     struct preview *p = preview_open(PREVIEW_AUTO, err);  // what the terminal supports
 *     char *art = preview_render(p, "photo.jpg", err);     // escape sequences, ending in a newline
 *     fputs(art, stdout); free(art);
 *     preview_close(p);
 *
 * The thumbnail is the photo decoded as the index decodes it (draft
 * decoding, EXIF orientation), cropped square. Forced modes draw whatever
 * standard output is, so that a pipe can be tested.
 */
#ifndef PREVIEW_H
#define PREVIEW_H

enum preview_mode { PREVIEW_NONE, PREVIEW_AUTO, PREVIEW_KITTY, PREVIEW_ITERM, PREVIEW_SIXEL, PREVIEW_SYMBOLS };

/* The mode named s (auto, kitty, iterm, sixel, symbols); -1 for another. */
int preview_mode_parse(const char *s, enum preview_mode *m);
/* The names preview_mode_parse takes, for messages. */
const char *preview_mode_names(void);

struct preview;

/* Whether libchafa loads (for --version). */
int preview_available(void);

/* Loads libchafa and, for PREVIEW_AUTO, picks what the terminal (by its
 * environment) supports. NULL with err. */
struct preview *preview_open(enum preview_mode m, char *err);
void preview_close(struct preview *p);

/* The photo at path as terminal output (malloc'd, for the caller to free),
 * or NULL with err: the file cannot be read or decoded. */
char *preview_render(struct preview *p, const char *path, char *err);

#endif
