/* images.c - image files to vectors, for embed-image and index: the files
 * listed, decoded on threads a batch ahead (pipeline.c), embedded, and the
 * rows written out or stored in the index. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_embed_defaults(struct cli_embed_opts *o)
{
    *o = (struct cli_embed_opts){.fmt = VECFILE_RAW, .delim = '\n', .jobs = cli_cores(), .image = CLI_IMAGE_DEFAULTS};
}

int cli_embed_option(const char *cmd, int c, struct cli_embed_opts *o)
{
    unsigned long long v = 0;
    switch (c) {
    case 'm': o->model = optarg; return 1;
    case 'f': return cli_parse_format(cmd, optarg, &o->fmt) ? EXIT_USAGE : 1;
    case 'n': o->normalize = 1; return 1;
    case 'N': o->names = optarg; return 1;
    case '0': o->delim = 0; return 1;
    case 'j':
        if (cli_parse_number(cmd, "-j", optarg, 1, 64, &v))
            return EXIT_USAGE;
        o->jobs = (int)v;
        return 1;
    default: return cli_image_option(cmd, c, optarg, &o->image);
    }
}

/* The image files named by the arguments, else by standard input. */
int cli_list_images(int argc, char **argv, char delim, struct walk *files)
{
    char err[ERR_LEN] = "";
    if (argc) {
        for (int k = 0; k < argc; k++)
            if (walk_add(files, argv[k]) < 0)
                return cli_fail(EXIT_FAILED, "out of memory listing %s", argv[k]);
        return 0;
    }
    struct input in;
    int code = 0;
    input_init(&in, 0, NULL, delim);
    for (const char *p; !code && (p = cli_next_input(&in, 0, err));)
        if (*p && walk_add(files, p) < 0)
            code = cli_fail(EXIT_FAILED, "out of memory");
    input_free(&in);
    return code ? code : *err ? cli_fail(EXIT_FAILED, "%s", err) : 0;
}

/* Sets up the tower and the decoding of files (the n of pick, or all when
 * pick is NULL) for the model r->w. */
int cli_image_run_open(struct cli_image_run *r, const struct cli_embed_opts *o, const struct walk *files,
                          const size_t *pick, size_t n)
{
    char err[ERR_LEN];
    int E = (int)r->w->cfg.embed_dim;
    struct image_opts io = cli_image_opts_for(r->w, &o->image);
    r->batch = (size_t)vit_batch(r->w, cli_cores());
    r->n = pick ? n : files->n;
    if (!(r->vit = vit_open(r->w, (int)r->batch, cli_cores(), err)))
        return cli_fail(EXIT_FAILED, "%s", err);
    if (!(r->vec = malloc(r->batch * (size_t)E * sizeof *r->vec)) ||
        !(r->paths = malloc((r->n ? r->n : 1) * sizeof *r->paths)) ||
        !(r->files = malloc((r->n ? r->n : 1) * sizeof *r->files)))
        return cli_fail(EXIT_FAILED, "out of memory");
    for (size_t i = 0; i < r->n; i++) {
        r->files[i] = &files->files[pick ? pick[i] : i];
        r->paths[i] = r->files[i]->path;
    }
    if (!(r->pipe = pipeline_open(r->paths, r->n, &io, o->jobs, r->batch, err)))
        return cli_fail(EXIT_FAILED, "%s", err);
    return 0;
}

void cli_image_run_close(struct cli_image_run *r)
{
    pipeline_close(r->pipe);
    free(r->paths);
    free(r->files);
    free(r->vec);
    vit_close(r->vit);
}

/* The rows of a batch's good files: to the index, or to the output with
 * their names (rows first, each flushed). */
static int store_rows(struct cli_image_run *r, const struct pipeline_batch *b, const struct cli_embed_opts *o)
{
    char err[ERR_LEN];
    int code = 0;
    if (r->ix) {
        /* the bad ones remembered (not tried again while unchanged), the
         * good ones stored: both compacted in place, in order */
        const struct walk_file **good = r->files + b->first, *bad[b->n ? b->n : 1];
        const char *why[b->n ? b->n : 1];
        size_t g = 0, nbad = 0, changed = 0;
        for (size_t i = 0; i < b->n; i++) {
            const struct walk_file *f = r->files[b->first + i];
            if (b->errs[i][0]) {
                bad[nbad] = f;
                why[nbad++] = b->errs[i];
                continue;
            }
            good[g++] = f;
            changed += f->facts && f->facts->changed;
        }
        if (index_put_failed(r->ix, bad, why, nbad, err) < 0 || index_put(r->ix, good, r->vec, b->good, err) < 0)
            return cli_fail(EXIT_FAILED, "%s", err);
        r->stored_changed += changed;
        r->stored_new += g - changed;
        return 0;
    }
    code = cli_write_rows(r->out, r->vec, b->good, (int)r->w->cfg.embed_dim, o->normalize);
    for (size_t i = 0; !code && r->names && i < b->n; i++)
        if (!b->errs[i][0])
            fprintf(r->names, "%s%c", b->paths[i], o->delim);
    if (r->names && fflush(r->names) != 0 && !code)
        code = cli_fail(EXIT_FAILED, "cannot write the names: %s", strerror(errno));
    return code;
}

/* Embeds one batch: reports its bad files, stores the good ones' rows. */
static int image_batch(struct cli_image_run *r, const struct pipeline_batch *b, const struct cli_embed_opts *o)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->errs[i][0]) {
            cli_skipped(b->paths[i], b->errs[i]);
            r->skipped++;
        }
    vit_encode(r->vit, b->pixels, (int)b->good, r->vec);
    r->embedded += b->good;
    return store_rows(r, b, o);
}

int cli_embed_images(struct cli_image_run *r, const struct cli_embed_opts *o, size_t total)
{
    struct pipeline_batch b;
    int code = 0, show = isatty(STDERR_FILENO);
    double start = now();
    while (!code && !cli_stop_signal && pipeline_next(r->pipe, &b)) {
        code = image_batch(r, &b, o);
        if (show)
            cli_progress(b.first + b.n, total, now() - start);
    }
    cli_progress_end();
    return code;
}
