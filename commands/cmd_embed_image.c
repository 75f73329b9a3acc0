/* cmd_embed_image.c - clippie embed-image: image files and folders to
 * vectors on standard output, rows and --names aligned, bad files skipped. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

const char cmd_embed_image_help[] =
    "usage: clippie embed-image [-m MODEL] [-f raw|csv|npy] [-n] [--names FILE] [-j N] [-0] [PATH...]\n"
    "\n"
    "Writes one embedding vector per image to standard output: what CLIP's\n"
    "encode_image returns after its published preprocessing. Formats, by content:\n"
    "%F.\n"
    "PATHs are image files or folders, walked recursively in sorted order\n"
    "(hidden entries and files not named like images are passed over).\n"
    "Without PATHs, paths come from standard input, one per line.\n"
    "\n"
    "%s"
    "  -f, --format F   raw (default), csv or npy, as for embed-text\n"
    "  -n, --normalize  write unit vectors\n"
    "  --names FILE     write the path of each output row to FILE, one per line\n"
    "                   (NUL-terminated with -0)\n"
    "  -j, --jobs N     decode and resize with N threads (default: the cores)\n"
    CLI_IMAGE_HELP
    "  -0, --null       paths on standard input and in --names are NUL-terminated\n"
    "\n"
    "A file that cannot be read or decoded is reported on stderr with the reason\n"
    "and skipped; the others are embedded, and the rows and --names stay aligned.\n"
    "Progress is shown on stderr when it is a terminal. Interrupted (Ctrl-C,\n"
    "SIGTERM), it finishes the batch at hand: the output holds every row so far.\n"
    "\n" EXIT_CODES;

static int parse_embed_image(int argc, char **argv, struct cli_embed_opts *o)
{
    static const struct option opts[] = {CLI_EMBED_OPTS, {0, 0, 0, 0}};
    int c, r;
    cli_embed_defaults(o);
    cli_options_reset();
    while ((c = getopt_long(argc, argv, ":m:f:nj:0", opts, NULL)) != -1)
        if ((r = cli_embed_option("embed-image", c, o)) != 1)
            return r ? r : cli_bad_option("embed-image", c, argv);
    return 0;
}

static void print_summary(const struct cli_image_run *r, const struct walk *files)
{
    fprintf(stderr, "clippie: %zu embedded, %zu skipped, %zu not images\n", r->embedded, r->skipped,
            files->not_images);
}

int cmd_embed_image(int argc, char **argv)
{
    struct cli_embed_opts o;
    struct cli_image_run r = {0};
    struct walk files = {.skip = cli_walk_skip, .ctx = &r.skipped};
    char err[ERR_LEN];
    int code = parse_embed_image(argc, argv, &o);
    if (code)
        return code;
    code = cli_list_images(argc - optind, argv + optind, o.delim, &files);
    for (size_t i = 0; !code && o.names && o.delim == '\n' && i < files.n; i++)
        if (strchr(files.files[i].path, '\n'))
            code = cli_usage("embed-image", "%s: a name with a newline would put --names out of step with the "
                                            "rows: use -0 for NUL-terminated names", files.files[i].path);
    if (!code && !(r.w = cli_open_model(o.model, NULL)))
        code = EXIT_FAILED;
    if (!code)
        code = cli_image_run_open(&r, &o, &files, NULL, 0);
    if (!code && !(r.out = cli_open_output("embed-image", o.fmt, (int)r.w->cfg.embed_dim)))
        code = EXIT_FAILED;
    if (!code && o.names && !(r.names = fopen(o.names, "w")))
        code = cli_fail(EXIT_FAILED, "%s: %s", o.names, strerror(errno));
    if (!code) {
        cli_catch_stop();
        code = cli_embed_images(&r, &o, files.n);
    }
    if (vecfile_writer_close(r.out, err) < 0 && !code)
        code = cli_fail(EXIT_FAILED, "cannot write the vectors: %s", err);
    if (r.names && fclose(r.names) != 0 && !code)
        code = cli_fail(EXIT_FAILED, "%s: %s", o.names, strerror(errno));
    if (!code && (r.skipped || files.not_images || isatty(STDERR_FILENO)))
        print_summary(&r, &files);
    if (!code && !files.n)
        code = cli_fail(EXIT_SKIPPED, "no images found");
    cli_image_run_close(&r);
    weights_close(r.w);
    walk_free(&files);
    return cli_die_of_stop(code ? code : r.skipped ? EXIT_SKIPPED : EXIT_ALL_DONE);
}
