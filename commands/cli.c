/* cli.c - the commands' shared parts: options, the model, signals, vector
 * output. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "search.h"

/* ---- options ---- */

const char cli_model_help[] =
    "  -m MODEL         weights file made by 'clippie convert' (default: $CLIPPIE_MODEL,\n"
    "                   else $XDG_CACHE_HOME/clippie/ViT-B-32.weights, ~/.cache by default)\n";

int cli_bad_option(const char *cmd, int c, char **argv)
{
    const char *a = argv[optind - 1];
    if (!strncmp(a, "--", 2) && (c == ':' || !optopt)) /* a long option, up to its '=' */
        return cli_usage(cmd, c == ':' ? "option '%.*s' needs a value" : "unknown option '%.*s'",
                         (int)strcspn(a, "="), a);
    return cli_usage(cmd, c == ':' ? "option '-%c' needs a value" : "unknown option '-%c'", optopt);
}

void cli_options_reset(void)
{
    optind = 1;
    opterr = 0;
}

int cli_parse_number(const char *cmd, const char *opt, const char *s, unsigned long long lo, unsigned long long hi,
                     unsigned long long *out)
{
    unsigned long long v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++)
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (unsigned)(*p - '0'), &v))
            break;
    if (p == s || *p || v < lo || v > hi)
        return cli_usage(cmd, "%s takes a number from %llu to %llu, not '%s'", opt, lo, hi, s);
    *out = v;
    return 0;
}

int cli_parse_format(const char *cmd, const char *s, enum vecfile_format *f)
{
    if (vecfile_format_parse(s, f) < 0)
        return cli_usage(cmd, "-f takes %s, not '%s'", vecfile_format_names(), s);
    return 0;
}

int cli_image_option(const char *cmd, int c, const char *arg, struct image_opts *o)
{
    unsigned long long v = 0;
    switch (c) {
    case 'E': o->exif = 0; return 1;
    case 'D': o->draft = 1; return 1;
    case 'R': o->raw_full = 1; return 1;
    case 'P':
        if (cli_parse_number(cmd, "--max-pixels", arg, 1, UINT64_MAX, &v))
            return EXIT_USAGE;
        o->max_pixels = v;
        return 1;
    default: return 0;
    }
}

int cli_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

/* ---- the model ---- */

/* The default model path, by the XDG base directory specification. */
static const char *default_model(void)
{
    static char path[4096];
    const char *cache = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (cache && cache[0] == '/') /* relative values are to be ignored */
        snprintf(path, sizeof path, "%s/clippie/ViT-B-32.weights", cache);
    else
        snprintf(path, sizeof path, "%s/.cache/clippie/ViT-B-32.weights", home ? home : ".");
    return path;
}

struct weights *cli_open_model(const char *path, const char **resolved)
{
    char err[ERR_LEN];
    if (!path || !*path)
        path = getenv("CLIPPIE_MODEL");
    if (!path || !*path) {
        path = default_model();
        if (access(path, F_OK) != 0) {
            cli_fail(0, "no model: give -m MODEL.weights or set CLIPPIE_MODEL; make one with");
            fprintf(stderr, "  clippie convert ViT-B-32.pt %s\n(man clippie says where to download ViT-B-32.pt)\n", path);
            return NULL;
        }
    }
    struct weights *w = weights_open(path, err);
    if (!w)
        cli_fail(0, "%s", err);
    if (resolved)
        *resolved = path;
    return w;
}

const char *cli_default_index(void)
{
    static char path[4096];
    const char *env = getenv("CLIPPIE_INDEX"), *data = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (env && *env)
        return env;
    if (data && data[0] == '/') /* relative values are to be ignored */
        snprintf(path, sizeof path, "%s/clippie/photos.clippie", data);
    else
        snprintf(path, sizeof path, "%s/.local/share/clippie/photos.clippie", home ? home : ".");
    return path;
}

int cli_make_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return cli_fail(-1, "cannot make the folder %s: %s", dir, strerror(errno));
        *p = '/';
    }
    return 0;
}

int cli_index_model(const char *name, struct index *ix, const struct weights *w, const char *model_path,
                    struct index_model *have)
{
    char err[ERR_LEN];
    struct index_model want;
    if (index_model(ix, have, err) < 0)
        return cli_fail(EXIT_FAILED, "%s", err);
    if (!have->id[0])
        return cli_fail(EXIT_FAILED, "%s holds no photos yet: 'clippie index %s FOLDER' adds them", name, name);
    if (!w)
        return 0;
    index_model_of(w, model_path, have->exif, have->draft, &want);
    if (strcmp(have->id, want.id))
        return cli_fail(EXIT_FAILED, "%s was made with another model: the index's is %s (id %s), the one given %s (id %s)",
                        name, have->desc, have->id, want.desc, want.id);
    return 0;
}

void cli_image_opts_of_index(const struct index_model *m, struct image_opts *o)
{
    o->exif = m->exif;
    o->draft = m->draft;
    o->raw_full = m->raw_full;
    o->max_pixels = m->max_pixels ? m->max_pixels : IMAGE_MAX_PIXELS;
}

struct image_opts cli_image_opts_for(const struct weights *w, const struct image_opts *o)
{
    struct image_opts io = *o;
    io.resolution = (int)(w->cfg.vision_grid * w->cfg.vision_patch);
    io.mean = w->cfg.image_mean;
    io.std = w->cfg.image_std;
    io.squash = w->cfg.resize == WEIGHTS_RESIZE_SQUASH;
    return io;
}

/* ---- signals ---- */

volatile sig_atomic_t cli_stop_signal;

/* The first SIGINT lets the batch in flight finish (its vectors are kept)
 * and says so at once; a second, or SIGTERM, stops now: the index commits
 * whole batches only, so it stays consistent and loses the batch in flight. */
static void on_stop(int sig)
{
    static const char msg[] = "\nclippie: interrupted: finishing the batch in flight; Ctrl-C again stops now\n";
    if (cli_stop_signal || sig == SIGTERM) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    cli_stop_signal = sig;
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
        return;
}

void cli_catch_stop(void)
{
    struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART: a read of stdin returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_die_of_stop(int code)
{
    if (!cli_stop_signal)
        return code;
    fflush(stdout);
    signal(cli_stop_signal, SIG_DFL);
    raise(cli_stop_signal);
    return code;
}

/* ---- inputs and outputs ---- */

const char *cli_next_input(struct input *in, int pending, char *err)
{
    const char *s = input_next(in, pending, err);
    if (s && s != INPUT_WAIT && in->had_nul)
        cli_warning("input %d holds a NUL byte: the rest of its line is ignored", in->number);
    return s;
}

struct vecfile_writer *cli_open_output(const char *cmd, enum vecfile_format fmt, int dim)
{
    char err[ERR_LEN];
    if (fmt != VECFILE_CSV && isatty(STDOUT_FILENO)) {
        cli_usage(cmd, "will not write binary vectors to a terminal: redirect stdout to a file or pipe, or use "
                       "-f csv");
        return NULL;
    }
    struct vecfile_writer *out = vecfile_writer_open(stdout, fmt, dim, err);
    if (!out)
        cli_fail(0, "%s", err);
    return out;
}

void cli_unit_rows(float *vec, size_t n, int dim)
{
    for (size_t k = 0; k < n; k++)
        if (search_unit(vec + k * (size_t)dim, dim) < 0)
            memset(vec + k * (size_t)dim, 0, (size_t)dim * sizeof *vec);
}

/* Rows are flushed as they come: a coprocess is waiting, and an .npy
 * file's header then counts them. */
int cli_write_rows(struct vecfile_writer *out, float *vec, size_t n, int dim, int normalize)
{
    char err[ERR_LEN];
    if (normalize)
        cli_unit_rows(vec, n, dim);
    if (vecfile_write(out, vec, n, err) < 0 || vecfile_writer_sync(out, err) < 0)
        return cli_fail(EXIT_FAILED, "cannot write the vectors: %s", err);
    return 0;
}

/* A CSV field as RFC 4180 has it: quoted when it holds a comma, a quote or
 * a line break, inner quotes doubled. */
void cli_csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

void cli_print_name(const char *s, char end)
{
    if (!isatty(STDOUT_FILENO)) {
        fputs(s, stdout);
        putchar(end);
        return;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x20 && *p != 0x7f)
            putchar(*p);
        else if (*p == '\n' || *p == '\t')
            printf("\\%c", *p == '\n' ? 'n' : 't');
        else
            printf("\\x%02x", *p);
    }
    putchar(end);
}
