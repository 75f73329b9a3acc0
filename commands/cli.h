/* cli.h - what the command files (commands/cmd_*.c) share: the reporter,
 * option parsing, the model, signals, text and image runs, vector output.
 *
 * Only the command line prints, picks exit codes and exits: these
 * functions print their own errors (through cli_fail) and return the exit
 * code to give, 0 when all went well. The reporter lives in clippie.c;
 * cli.c, texts.c and images.c hold the rest.
 */
#ifndef CLI_H
#define CLI_H

#include <getopt.h>
#include <signal.h>
#include <stdio.h>

#include "image.h"
#include "index.h"
#include "input.h"
#include "pipeline.h"
#include "textenc.h"
#include "tokenizer.h"
#include "util.h"
#include "vecfile.h"
#include "vit.h"
#include "walk.h"
#include "weights.h"

enum { EXIT_ALL_DONE = 0, EXIT_SKIPPED = 1, EXIT_USAGE = 2, EXIT_FAILED = 3 };

#define EXIT_CODES                                                                                                   \
    "exit status: 0 all done, 1 some inputs were skipped, 2 usage error,\n"                                            \
    "3 failed (bad model or checkpoint, I/O error)\n"

/* ---- the reporter (clippie.c): "clippie: ..." on stderr, control
 * characters escaped ---- */

/* Reports an error and returns code, for `return cli_fail(EXIT_FAILED, ...)`. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An input passed over while the others go on: "NAME: WHY, skipped". */
void cli_skipped(const char *name, const char *why);
/* A walk's skip callback: ctx is a size_t counting the skips. */
void cli_walk_skip(void *ctx, const char *path, const char *why);
/* "clippie: CMD: message" and the hint to see --help; returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The progress line "done/total images, rate, time left" (elapsed seconds
 * so far) on stderr, kept on one line until the next report or
 * cli_progress_end. */
void cli_progress(size_t done, size_t total, double elapsed);
void cli_progress_end(void);

/* ---- options: anywhere on the line, '--' ends them (cli.c) ---- */

/* The options more than one command takes, for their option tables. */
#define CLI_MODEL_OPT {"model", required_argument, 0, 'm'}
#define CLI_FORMAT_OPT {"format", required_argument, 0, 'f'}
#define CLI_NORMALIZE_OPT {"normalize", no_argument, 0, 'n'}
#define CLI_NULL_OPT {"null", no_argument, 0, '0'}

/* The image options (embed-image, index, similarity): their table entries,
 * their help, and cli_image_option to take them. */
#define CLI_IMAGE_OPTS                                                                                               \
    {"no-exif-orientation", no_argument, 0, 'E'}, {"max-pixels", required_argument, 0, 'P'},                         \
        {"draft", no_argument, 0, 'D'}, {"raw-full", no_argument, 0, 'R'}
#define CLI_IMAGE_HELP                                                                                               \
    "  --no-exif-orientation\n"                                                                                      \
    "                   ignore JPEG EXIF orientation, as the published pipeline\n"                                  \
    "                   does (by default photos are turned upright first)\n"                                         \
    "  --max-pixels N   refuse images of more than N pixels (default 100000000)\n"                                   \
    "  --draft          decode large JPEGs at 1/2, 1/4 or 1/8 size in the DCT\n"                                     \
    "                   domain (as Pillow's draft mode), HEIC/AVIF from their\n"                                     \
    "                   thumbnail when it is large enough: several times faster\n"                                   \
    "                   on camera and phone photos, but no longer the reference's\n"                                 \
    "                   exact pixels\n"                                                                               \
    "  --raw-full       camera RAW files: a full demosaic, rather than the embedded\n"                               \
    "                   preview (or a half-size demosaic when it is too small)\n"

/* The image options' defaults: EXIF orientation applied, 100 megapixels. */
#define CLI_IMAGE_DEFAULTS {.exif = 1, .max_pixels = IMAGE_MAX_PIXELS}

/* Option c (one of CLI_IMAGE_OPTS, its value arg) into o: 1 when c was one
 * of them, 0 when not, EXIT_USAGE for a bad value. */
int cli_image_option(const char *cmd, int c, const char *arg, struct image_opts *o);

/* The model option's help, put where a command's help has "%s". */
extern const char cli_model_help[];

/* Starts getopt_long afresh for a command's argv (argv[0] its name). */
void cli_options_reset(void);
/* getopt_long's verdict c on argv as a usage error naming the option. */
int cli_bad_option(const char *cmd, int c, char **argv);
/* A whole number within [lo, hi] into *out: digits only, no sign, no junk. */
int cli_parse_number(const char *cmd, const char *opt, const char *s, unsigned long long lo, unsigned long long hi,
                     unsigned long long *out);
/* -f's value: raw, csv or npy (vecfile's names). */
int cli_parse_format(const char *cmd, const char *s, enum vecfile_format *f);

/* The cores online, at least 1. */
int cli_cores(void);

/* ---- the model (cli.c) ---- */

/* The model named by path (-m), else $CLIPPIE_MODEL, else the default
 * path; *resolved (when not NULL) gets the path opened, valid while the
 * weights are. NULL after saying why. */
struct weights *cli_open_model(const char *path, const char **resolved);

/* The default index: $CLIPPIE_INDEX, else
 * $XDG_DATA_HOME/clippie/photos.clippie (~/.local/share by default). */
const char *cli_default_index(void);
/* Makes the folders above path (as mkdir -p); -1 after saying why. */
int cli_make_parent(const char *path);

/* The model and preprocessing the index ix (called name) records, into
 * *have; with w (opened from model_path), refused unless w made them. */
int cli_index_model(const char *name, struct index *ix, const struct weights *w, const char *model_path,
                    struct index_model *have);

/* The image options o completed for the model w: its resolution, mean and
 * deviation, and its resizing (squash or crop). */
struct image_opts cli_image_opts_for(const struct weights *w, const struct image_opts *o);

/* ---- signals (cli.c) ---- */

/* SIGINT or SIGTERM arrived (after cli_catch_stop). */
extern volatile sig_atomic_t cli_stop_signal;
/* Commands that write as they go finish the batch at hand on a first
 * SIGINT (saying so at once), close their output (a valid .npy), then die
 * of the signal; a second SIGINT, or SIGTERM, kills at once: cli_catch_stop
 * before the work, `return cli_die_of_stop(code)` after. */
void cli_catch_stop(void);
int cli_die_of_stop(int code);

/* ---- inputs and outputs (cli.c) ---- */

/* The next input, with the warning a NUL inside a line deserves. */
const char *cli_next_input(struct input *in, int pending, char *err);

/* The writer of a command's vectors to standard output (binary formats
 * refused on a terminal); NULL after saying why. */
struct vecfile_writer *cli_open_output(const char *cmd, enum vecfile_format fmt, int dim);
/* The n vectors of vec [n, dim] as unit vectors; all zeros (or not finite)
 * become zeros, which have no direction. */
void cli_unit_rows(float *vec, size_t n, int dim);
/* Writes the first n rows of vec [n, dim] (made unit vectors first when
 * normalize is set) and flushes them. */
int cli_write_rows(struct vecfile_writer *out, float *vec, size_t n, int dim, int normalize);

/* A CSV field as RFC 4180 has it (quoted when it holds a comma, a quote or
 * a line break, inner quotes doubled) on standard output. */
void cli_csv_field(const char *s);
/* A file name and the record's end on standard output: the exact bytes to
 * a pipe or file, control characters escaped (\n, \t, \xHH) on a terminal,
 * where they would move the cursor. */
void cli_print_name(const char *s, char end);

/* ---- texts to vectors, embed-text and similarity (texts.c) ---- */

#define CLI_TEXT_BATCH 256 /* texts tokenized and handed to the encoder at a time */

struct cli_texts {
    struct weights *w; /* borrowed */
    struct tokenizer *tok;
    struct textenc *enc;
    int32_t *ids[CLI_TEXT_BATCH];
    int lens[CLI_TEXT_BATCH], n;
    float *vec; /* [CLI_TEXT_BATCH, E] */
};

int cli_texts_open(struct cli_texts *m, struct weights *w);
void cli_texts_close(struct cli_texts *m);
/* Tokenizes text number `index` into the batch with the model's tokenizer
 * (CLIP's, or SigLIP's tables in the weights file), cut to the context. */
int cli_texts_add(struct cli_texts *m, const char *text, int index);
/* Encodes the texts added into m->vec [n, E] and empties the batch's ids
 * (m->n is left for the caller to read and reset). */
int cli_texts_run(struct cli_texts *m);

/* ---- images to vectors, embed-image and index (images.c) ---- */

/* What embed-image and index share of their options. */
struct cli_embed_opts {
    const char *model, *names;
    enum vecfile_format fmt;
    int normalize, jobs;
    char delim;
    struct image_opts image; /* resolution, mean and std are the model's */
};

/* The options embed-image and index share, for their option tables (with
 * short options "m:f:nj:0"), and cli_embed_option to take them. */
#define CLI_EMBED_OPTS                                                                                               \
    CLI_MODEL_OPT, CLI_FORMAT_OPT, CLI_NORMALIZE_OPT, CLI_NULL_OPT, {"names", required_argument, 0, 'N'},            \
        {"jobs", required_argument, 0, 'j'}, CLI_IMAGE_OPTS

/* The defaults: raw rows, newline-separated names, a thread per core. */
void cli_embed_defaults(struct cli_embed_opts *o);
/* Option c (one of CLI_EMBED_OPTS) into o: 1 when c was one of them, 0
 * when not, EXIT_USAGE for a bad value. */
int cli_embed_option(const char *cmd, int c, struct cli_embed_opts *o);

/* Everything one run of the image tower over files holds: embed-image
 * writes its rows to out (and names), index puts them into ix. */
struct cli_image_run {
    struct weights *w;
    struct vit *vit;
    struct pipeline *pipe;
    const struct walk_file **files; /* [n]: the files to embed, in order */
    char **paths;                   /* [n]: their paths, for the pipeline */
    float *vec;                     /* [batch, E] */
    size_t n, batch, embedded, skipped;
    struct vecfile_writer *out;
    FILE *names;
    struct index *ix;
};

/* The image files named by the arguments, else by standard input. */
int cli_list_images(int argc, char **argv, char delim, struct walk *files);
/* Sets up the tower and the decoding of files (the n of pick, or all when
 * pick is NULL) for the model r->w. */
int cli_image_run_open(struct cli_image_run *r, const struct cli_embed_opts *o, const struct walk *files,
                       const size_t *pick, size_t n);
void cli_image_run_close(struct cli_image_run *r);
/* Embeds the files in batches until done or stopped; total for progress. */
int cli_embed_images(struct cli_image_run *r, const struct cli_embed_opts *o, size_t total);

#endif
