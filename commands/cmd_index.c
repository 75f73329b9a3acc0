/* cmd_index.c - clippie index: a photo library's vectors kept up to date
 * in an SQLite index (index.c), dumped, or merged from shards. */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

const char cmd_index_help[] =
    "usage: clippie index [-m MODEL] [-j N] [--exclude GLOB]... [--shard K/N] [INDEX] [PATH...]\n"
    "       clippie index --dump [-f raw|csv|npy] [-n] [--names FILE] [-0] INDEX\n"
    "       clippie index --merge OUT IN...\n"
    "\n"
    "Keeps the vectors of a photo library up to date in INDEX (an SQLite file):\n"
    "files not in it are embedded, files whose size, mtime or inode changed are\n"
    "embedded again, files gone from the PATHs are removed; files unchanged are\n"
    "not even opened. Without PATHs, the roots recorded by earlier runs are\n"
    "refreshed. Search it with 'clippie search TEXT'.\n"
    "\n"
    "When the first argument is an existing folder, every argument is a PATH\n"
    "and INDEX is the default index: $CLIPPIE_INDEX, else\n"
    "$XDG_DATA_HOME/clippie/photos.clippie (~/.local/share by default). A\n"
    "regular file, or a name that does not exist, is the INDEX. A new INDEX\n"
    "needs PATHs that exist: otherwise nothing is created.\n"
    "\n"
    "%s"
    "  -j, --jobs N     decode and resize with N threads (default: the cores)\n"
    "  --exclude GLOB   leave out files whose path or name matches GLOB\n"
    "  --shard K/N      index only the files whose path hashes to shard K of N\n"
    "                   (0 <= K < N): N machines build N indexes, which\n"
    "                   similarity searches together or --merge combines\n"
    CLI_IMAGE_HELP
    "                   (--no-exif-orientation and --draft are recorded: later\n"
    "                   runs must agree)\n"
    "  --dump           write the vectors in path order to standard output, as\n"
    "                   embed-image does (-f, -n, --names, -0)\n"
    "  --merge          combine the indexes IN... (same model) into OUT\n"
    "\n"
    "Each batch of files is committed on its own: a run killed at any moment\n"
    "loses at most the batch in flight, and the next run goes on from there.\n"
    "Two runs on one INDEX at a time: the second is refused.\n"
    "\n" EXIT_CODES;

struct index_opts {
    struct cli_embed_opts e;
    const char *index; /* the INDEX argument, or the default index */
    char **rest;       /* [nrest]: the arguments after it */
    int nrest;
    char **exclude;   /* [argc] */
    int nexclude, dump, merge;
    unsigned shard_k, shard_n;
};

static int parse_shard(const char *s, unsigned *k, unsigned *n)
{
    unsigned long long a = 0, b = 0;
    const char *slash = strchr(s, '/');
    char head[32];
    if (!slash || (size_t)(slash - s) >= sizeof head)
        return cli_usage("index", "--shard takes K/N, not '%s'", s);
    memcpy(head, s, (size_t)(slash - s));
    head[slash - s] = 0;
    if (cli_parse_number("index", "--shard's N", slash + 1, 1, 1u << 20, &b) ||
        cli_parse_number("index", "--shard's K", head, 0, b - 1, &a))
        return EXIT_USAGE;
    *k = (unsigned)a;
    *n = (unsigned)b;
    return 0;
}

/* The INDEX and PATHs: a first argument that is a folder makes them all
 * PATHs, for the default index. Checked before anything is created: a new
 * index needs PATHs, and PATHs that exist. */
static int index_arguments(int argc, char **argv, struct index_opts *o)
{
    struct stat st;
    int folder = !o->dump && !o->merge && stat(argv[0], &st) == 0 && S_ISDIR(st.st_mode);
    o->index = folder ? cli_default_index() : argv[0];
    o->rest = argv + !folder;
    o->nrest = argc - !folder;
    if (o->dump || o->merge || stat(o->index, &st) == 0)
        return 0;
    if (!o->nrest)
        return cli_usage("index", "%s does not exist yet: give the folders to index after it", o->index);
    for (int i = 0; i < o->nrest; i++)
        if (stat(o->rest[i], &st) < 0)
            return cli_usage("index", "%s: %s (nothing was created)", o->rest[i], strerror(errno));
    return folder && cli_make_parent(o->index) < 0 ? EXIT_FAILED : 0;
}

static int parse_index(int argc, char **argv, struct index_opts *o)
{
    static const struct option opts[] = {
        CLI_EMBED_OPTS,
        {"exclude", required_argument, 0, 'x'}, {"shard", required_argument, 0, 's'},
        {"dump", no_argument, 0, 'd'},          {"merge", no_argument, 0, 'M'},
        {0, 0, 0, 0},
    };
    int c, r;
    *o = (struct index_opts){.exclude = calloc((size_t)argc, sizeof(char *))};
    cli_embed_defaults(&o->e);
    if (!o->exclude)
        return cli_fail(EXIT_FAILED, "out of memory");
    cli_options_reset();
    while ((c = getopt_long(argc, argv, ":m:f:nj:0", opts, NULL)) != -1) {
        if ((r = cli_embed_option("index", c, &o->e)) == 1)
            continue;
        if (r)
            return r;
        switch (c) {
        case 'x': o->exclude[o->nexclude++] = optarg; break;
        case 's':
            if (parse_shard(optarg, &o->shard_k, &o->shard_n))
                return EXIT_USAGE;
            break;
        case 'd': o->dump = 1; break;
        case 'M': o->merge = 1; break;
        default: return cli_bad_option("index", c, argv);
        }
    }
    if (o->dump && o->merge)
        return cli_usage("index", "--dump and --merge do not go together");
    if (optind == argc)
        return cli_usage("index", "needs an INDEX");
    if (o->dump && argc - optind != 1)
        return cli_usage("index", "--dump takes one INDEX");
    if (o->merge && argc - optind < 2)
        return cli_usage("index", "--merge needs OUT and at least one IN");
    return index_arguments(argc - optind, argv + optind, o);
}

/* A root as an absolute path without trailing slashes, not resolving
 * links: the path the user knows. NULL when out of memory. */
static char *absolute(const char *path)
{
    char cwd[4096], *out;
    if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
        out = strdup(path);
    else if (asprintf(&out, "%s/%s", cwd, strcmp(path, ".") ? path : "") < 0)
        out = NULL;
    for (size_t n = out ? strlen(out) : 0; n > 1 && out[n - 1] == '/'; n--)
        out[n - 1] = 0;
    return out;
}

static int excluded(const struct index_opts *o, const char *path)
{
    const char *base = strrchr(path, '/');
    for (int i = 0; i < o->nexclude; i++)
        if (!fnmatch(o->exclude[i], path, 0) || (base && !fnmatch(o->exclude[i], base + 1, 0)))
            return 1;
    return 0;
}

/* The roots to walk (the PATHs made absolute, else those recorded), and
 * the files under them that are not excluded; roots that cannot be read
 * are reported and left out, so that their entries are kept. */
static int index_walk(struct index *ix, const struct index_opts *o, int argc, char **argv, char ***roots,
                      size_t *nroots, struct walk *files, size_t *skips)
{
    char err[ERR_LEN];
    size_t n = 0;
    if (argc) {
        if (!(*roots = calloc((size_t)argc, sizeof **roots)))
            return cli_fail(EXIT_FAILED, "out of memory");
        for (int i = 0; i < argc; i++)
            if (!((*roots)[n++] = absolute(argv[i])))
                return cli_fail(EXIT_FAILED, "out of memory");
        if (index_add_roots(ix, *roots, n, err) < 0)
            return cli_fail(EXIT_FAILED, "%s", err);
    } else if (index_roots(ix, roots, &n, err) < 0)
        return cli_fail(EXIT_FAILED, "%s", err);
    if (!n)
        return cli_usage("index", "no PATH given, and the index records none");
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat((*roots)[i], &st) < 0) {
            cli_skipped((*roots)[i], strerror(errno));
            (*skips)++;
            free((*roots)[i]);
            continue;
        }
        (*roots)[kept++] = (*roots)[i];
        if (walk_add(files, (*roots)[kept - 1]) < 0)
            return cli_fail(EXIT_FAILED, "out of memory listing %s", (*roots)[kept - 1]);
    }
    *nroots = kept;
    size_t m = 0;
    for (size_t i = 0; i < files->n; i++) {
        if (excluded(o, files->files[i].path)) {
            free(files->files[i].path);
            continue;
        }
        files->files[m++] = files->files[i];
    }
    files->n = m;
    return 0;
}

static int index_update(struct index *ix, struct index_opts *o, int argc, char **argv)
{
    char err[ERR_LEN], **roots = NULL;
    size_t nroots = 0;
    struct index_model model;
    struct cli_image_run r = {.ix = ix};
    struct walk files = {.skip = cli_walk_skip, .ctx = &r.skipped};
    struct index_plan plan = {0};
    const char *model_path;
    int code = 0;
    if (!(r.w = cli_open_model(o->e.model, &model_path)))
        return EXIT_FAILED;
    index_model_of(r.w, model_path, o->e.image.exif, o->e.image.draft, &model);
    if (index_bind_model(ix, &model, err) < 0 || index_bind_shard(ix, o->shard_k, o->shard_n, err) < 0)
        code = cli_fail(EXIT_FAILED, "%s", err);
    if (!code)
        code = index_walk(ix, o, argc, argv, &roots, &nroots, &files, &r.skipped);
    if (!code && index_plan(ix, &files, roots, nroots, &plan, err) < 0)
        code = cli_fail(EXIT_FAILED, "%s", err);
    if (!code)
        code = cli_image_run_open(&r, &o->e, &files, plan.todo, plan.ntodo);
    if (!code) {
        cli_catch_stop();
        code = cli_embed_images(&r, &o->e, plan.ntodo);
    }
    if (!code && !cli_stop_signal && index_remove(ix, plan.gone, plan.ngone, err) < 0)
        code = cli_fail(EXIT_FAILED, "%s", err);
    if (!code && index_refresh_cache(ix, err) < 0)
        code = cli_fail(EXIT_FAILED, "%s", err);
    if (!code)
        fprintf(stderr, "clippie: %zu new, %zu changed, %zu removed, %zu unchanged, %zu skipped\n", plan.nnew,
                plan.nchanged, cli_stop_signal ? 0 : plan.ngone, plan.nunchanged, r.skipped);
    cli_image_run_close(&r);
    weights_close(r.w);
    index_plan_free(&plan);
    walk_free(&files);
    for (size_t i = 0; i < nroots; i++)
        free(roots[i]);
    free(roots);
    return cli_die_of_stop(code ? code : r.skipped ? EXIT_SKIPPED : EXIT_ALL_DONE);
}

struct dump {
    struct vecfile_writer *out;
    FILE *names;
    float *vec; /* [dim]: a row to normalise */
    int dim, normalize;
    char delim;
};

static int dump_row(void *ctx, const char *path, const float *vec)
{
    struct dump *d = ctx;
    char err[ERR_LEN];
    memcpy(d->vec, vec, (size_t)d->dim * sizeof *d->vec);
    if (d->normalize)
        cli_unit_rows(d->vec, 1, d->dim);
    /* one write a row, one flush at the end: a dump is not a coprocess */
    if (vecfile_write(d->out, d->vec, 1, err) < 0)
        return cli_fail(-1, "cannot write the vectors: %s", err);
    if (d->names && fprintf(d->names, "%s%c", path, d->delim) < 0)
        return cli_fail(-1, "cannot write the names: %s", strerror(errno));
    return 0;
}

/* An entry whose path would put a newline-separated names file out of
 * step with the rows. */
static int newline_name(void *ctx, const char *path, const float *vec)
{
    (void)ctx, (void)vec;
    if (!strchr(path, '\n'))
        return 0;
    return cli_usage("index", "%s: a name with a newline would put --names out of step with the rows: use -0 "
                              "for NUL-terminated names", path);
}

static int index_dump(struct index *ix, const char *path, const struct index_opts *o)
{
    char err[ERR_LEN] = "";
    struct index_model m;
    struct dump d = {.normalize = o->e.normalize, .delim = o->e.delim};
    int code = index_model(ix, &m, err) < 0 ? cli_fail(EXIT_FAILED, "%s", err) : 0;
    d.dim = m.dim;
    if (!code && (m.dim < 1 || !(d.vec = malloc((size_t)m.dim * sizeof *d.vec))))
        code = m.dim < 1 ? cli_fail(EXIT_FAILED, "%s: an empty index, no vectors", path) : cli_fail(EXIT_FAILED, "out of memory");
    if (!code && !(d.out = cli_open_output("index", o->e.fmt, m.dim)))
        code = EXIT_FAILED;
    if (!code && o->e.names && !(d.names = fopen(o->e.names, "w")))
        code = cli_fail(EXIT_FAILED, "%s: %s", o->e.names, strerror(errno));
    int rc = 0;
    if (!code && o->e.names && o->e.delim == '\n' && (rc = index_each(ix, newline_name, NULL, err)) != 0)
        code = rc > 0 ? rc : cli_fail(EXIT_FAILED, "%s", err); /* rc: newline_name's usage error */
    if (!code && index_each(ix, dump_row, &d, err) < 0)
        code = *err ? cli_fail(EXIT_FAILED, "%s", err) : EXIT_FAILED;
    if (vecfile_writer_close(d.out, err) < 0 && !code)
        code = cli_fail(EXIT_FAILED, "cannot write the vectors: %s", err);
    if (d.names && fclose(d.names) != 0 && !code)
        code = cli_fail(EXIT_FAILED, "%s: %s", o->e.names, strerror(errno));
    free(d.vec);
    return code;
}

static int index_merge(struct index *ix, int argc, char **argv)
{
    char err[ERR_LEN];
    for (int i = 0; i < argc; i++)
        if (index_merge_from(ix, argv[i], err) < 0)
            return cli_fail(EXIT_FAILED, "%s", err);
    return index_refresh_cache(ix, err) < 0 ? cli_fail(EXIT_FAILED, "%s", err) : 0;
}

int cmd_index(int argc, char **argv)
{
    struct index_opts o;
    char err[ERR_LEN];
    int code = parse_index(argc, argv, &o);
    struct index *ix = NULL;
    if (!code && !(ix = index_open(o.index, o.dump ? INDEX_READ : INDEX_CREATE, err)))
        code = cli_fail(EXIT_FAILED, "%s", err);
    if (!code)
        code = o.dump    ? index_dump(ix, o.index, &o)
               : o.merge ? index_merge(ix, o.nrest, o.rest)
                         : index_update(ix, &o, o.nrest, o.rest);
    index_close(ix);
    free(o.exclude);
    return code;
}
