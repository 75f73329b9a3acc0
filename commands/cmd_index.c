/* cmd_index.c - clippie index: a photo library's vectors kept up to date
 * in an SQLite index (index.c), dumped, or merged from shards. */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

const char cmd_index_help[] =
    "usage: clippie index [-m MODEL] [-j N] [--exclude PATTERN]... [--shard K/N] [INDEX] [PATH...]\n"
    "       clippie index --dump [-f raw|csv|npy] [-n] [--names FILE] [-0] INDEX\n"
    "       clippie index --info [INDEX]\n"
    "       clippie index --forget PATH [INDEX]\n"
    "       clippie index --merge OUT IN...\n"
    "\n"
    "Keeps the vectors of a photo library up to date in INDEX (an SQLite file):\n"
    "files not in it are embedded, files whose size, mtime or inode changed are\n"
    "embedded again, files gone from the PATHs are removed; files unchanged are\n"
    "not even opened. A file moved or renamed (same device, inode, size and\n"
    "mtime) keeps its vector, and so does a copy of a known file (same bytes):\n"
    "nothing is decoded for them. A file that cannot be read is recorded and\n"
    "not tried again until it changes. Without PATHs, the folders recorded by\n"
    "earlier runs are refreshed. Search it with 'clippie search TEXT'.\n"
    "\n"
    "When the first argument is an existing folder, every argument is a PATH\n"
    "and INDEX is the default index: $CLIPPIE_INDEX, else\n"
    "$XDG_DATA_HOME/clippie/photos.clippie (~/.local/share by default). A\n"
    "regular file, or a name that does not exist, is the INDEX. A new INDEX\n"
    "needs PATHs that exist: otherwise nothing is created. PATHs are recorded\n"
    "as their real paths: a folder inside a recorded one adds nothing, one\n"
    "holding recorded ones takes their place.\n"
    "\n"
    "%s"
    "  -j, --jobs N     decode and resize with N threads (default: the cores)\n"
    "  --exclude PATTERN  leave out what PATTERN matches: the path relative to\n"
    "                   its folder ('2019/drafts'), or any one name in it\n"
    "                   ('broken', '*.tmp'); repeatable\n"
    "  --shard K/N      index only the files whose path hashes to shard K of N\n"
    "                   (0 <= K < N): N machines build N indexes, which\n"
    "                   similarity searches together or --merge combines\n"
    CLI_IMAGE_HELP
    "                   (the model, these options, --exclude and --shard are\n"
    "                   recorded by the first run and used by later ones;\n"
    "                   another value is refused)\n"
    "  --dump           write the vectors in path order to standard output, as\n"
    "                   embed-image does (-f, -n, --names, -0)\n"
    "  --info           print the model, folders, excludes, options, counts and\n"
    "                   last refresh, and the files that could not be read\n"
    "  --forget PATH    drop the recorded folder PATH and every entry under it\n"
    "                   (a missing folder keeps its entries until then)\n"
    "  --merge          combine the indexes IN... (same model) into OUT, built\n"
    "                   beside it: an existing OUT is replaced by exactly the\n"
    "                   union of the inputs, or, when one cannot be merged,\n"
    "                   left as it was\n"
    "\n"
    "The closing line counts what was stored: 'N new, N changed, N moved,\n"
    "N removed, N unchanged, N skipped', then ', N still unreadable' for\n"
    "files that failed before and have not changed (they do not make the run\n"
    "exit 1; those that fail now do).\n"
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
    char **exclude;   /* [argc], or the recorded ones (owned_excludes) */
    int nexclude, dump, merge, info, forget, owned_excludes;
    const char *forget_root; /* --forget's PATH */
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
    int plain = !o->dump && !o->merge && !o->info && !o->forget;
    int folder = plain && stat(argv[0], &st) == 0 && S_ISDIR(st.st_mode);
    o->index = folder ? cli_default_index() : argv[0];
    o->rest = argv + !folder;
    o->nrest = argc - !folder;
    if (!plain || stat(o->index, &st) == 0)
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
        {"info", no_argument, 0, 'I'},          {"forget", required_argument, 0, 'F'},
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
        case 'I': o->info = 1; break;
        case 'F':
            o->forget = 1;
            o->forget_root = optarg;
            break;
        default: return cli_bad_option("index", c, argv);
        }
    }
    if (o->dump + o->merge + o->info + o->forget > 1)
        return cli_usage("index", "--dump, --merge, --info and --forget do not go together");
    if ((o->info || o->forget) && optind == argc) { /* the default index's */
        o->index = cli_default_index();
        o->rest = argv + argc;
        return 0;
    }
    if (optind == argc)
        return cli_usage("index", "needs an INDEX");
    if ((o->dump || o->info || o->forget) && argc - optind != 1)
        return cli_usage("index", "--%s takes one INDEX", o->dump ? "dump" : o->info ? "info" : "forget");
    if (o->merge && argc - optind < 2)
        return cli_usage("index", "--merge needs OUT and at least one IN");
    return index_arguments(argc - optind, argv + optind, o);
}

/* ---- settings: given on the command line, else recorded ---- */

static int same_strings(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++) {
        size_t k = 0;
        while (k < nb && strcmp(a[i], b[k]))
            k++;
        if (k == nb)
            return 0;
    }
    return 1;
}

/* The preprocessing: each option given on the command line, else the one
 * recorded (an option given that differs is refused by index_bind_model). */
static int bind_settings(struct index *ix, struct index_opts *o, const struct weights *w, const char *model_path)
{
    char err[ERR_LEN], **have;
    size_t nhave;
    struct index_model rec, want;
    struct image_opts *io = &o->e.image;
    if (index_model(ix, &rec, err) < 0)
        return cli_fail(EXIT_FAILED, "%s", err);
    if (rec.id[0]) {
        io->exif = io->exif ? rec.exif : 0;
        io->draft = io->draft || rec.draft;
        io->raw_full = io->raw_full || rec.raw_full;
        if (io->max_pixels == IMAGE_MAX_PIXELS && rec.max_pixels)
            io->max_pixels = rec.max_pixels;
    }
    index_model_of(w, model_path, io->exif, io->draft, &want);
    want.raw_full = io->raw_full;
    want.max_pixels = io->max_pixels == IMAGE_MAX_PIXELS ? 0 : io->max_pixels;
    if (index_bind_model(ix, &want, err) < 0 || index_bind_shard(ix, o->shard_k, o->shard_n, err) < 0 ||
        index_excludes(ix, &have, &nhave, err) < 0)
        return cli_fail(EXIT_FAILED, "%s", err);
    int code = 0;
    struct index_status st;
    if (o->nexclude && !same_strings(o->exclude, (size_t)o->nexclude, have, nhave)) {
        if (index_status(ix, &st, err) < 0)
            code = cli_fail(EXIT_FAILED, "%s", err);
        else if (st.photos || st.failed)
            code = cli_fail(EXIT_FAILED, "%s records %s%s%s: a plain 'clippie index %s' uses them; other excludes need"
                                         " a new index", o->index, nhave ? "--exclude '" : "no --exclude",
                            nhave ? have[0] : "", nhave ? (nhave > 1 ? "' and more (see --info)" : "'") : "", o->index);
        else if (index_set_excludes(ix, o->exclude, (size_t)o->nexclude, err) < 0)
            code = cli_fail(EXIT_FAILED, "%s", err);
    } else if (!o->nexclude) { /* the recorded ones */
        free(o->exclude);
        o->exclude = have;
        o->nexclude = (int)nhave;
        o->owned_excludes = 1;
        return 0;
    }
    index_free_strings(have, nhave);
    return code;
}

/* ---- roots: canonical, none inside another ---- */

/* A path's canonical form (realpath: links, '.', '..' and '//' resolved);
 * NULL with errno. */
static char *canonical(const char *path) { return realpath(path, NULL); }

/* Drops duplicates and every root inside another (in place). */
static size_t reduce_roots(char **r, size_t n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        int inside = 0;
        for (size_t k = 0; k < n && !inside; k++)
            if (k != i && r[k]) {
                size_t l = strlen(r[k]);
                int same = !strcmp(r[i], r[k]);
                inside = same ? k < i : !strncmp(r[i], r[k], l) && (r[i][l] == '/' || !strcmp(r[k], "/"));
            }
        if (inside) {
            free(r[i]);
            r[i] = NULL;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (r[i])
            r[kept++] = r[i];
    return kept;
}

/* The roots to walk: the PATHs (canonical, recorded with the ones before:
 * a PATH inside a recorded root adds none, one holding recorded roots
 * takes their place), else every root recorded (each made canonical, when
 * it exists, for an index made before roots were). A missing PATH is
 * refused; a recorded root missing is reported, and kept. *full: the
 * roots to walk are all the roots. */
static int choose_roots(struct index *ix, struct index_opts *o, char ***walk, size_t *nwalk, int *full)
{
    char err[ERR_LEN], **rec;
    size_t nrec;
    if (index_roots(ix, &rec, &nrec, err) < 0)
        return cli_fail(EXIT_FAILED, "%s", err);
    char **all = calloc(nrec + (size_t)o->nrest + 1, sizeof *all), **given = calloc((size_t)o->nrest + 1, sizeof *given);
    size_t n = 0, ng = 0;
    int code = all && given ? 0 : cli_fail(EXIT_FAILED, "out of memory");
    for (size_t i = 0; !code && i < nrec; i++)
        if (!(all[n++] = canonical(rec[i])) && !(all[n - 1] = strdup(rec[i])))
            code = cli_fail(EXIT_FAILED, "out of memory");
    for (int i = 0; !code && i < o->nrest; i++) {
        char *c = canonical(o->rest[i]);
        if (!c) {
            code = cli_fail(EXIT_FAILED, "%s: %s", o->rest[i], strerror(errno));
            break;
        }
        given[ng++] = c;
        if (!(all[n++] = strdup(c)))
            code = cli_fail(EXIT_FAILED, "out of memory");
    }
    if (!code) {
        n = reduce_roots(all, n);
        if (!same_strings(all, n, rec, nrec) && index_set_roots(ix, all, n, err) < 0)
            code = cli_fail(EXIT_FAILED, "%s", err);
    }
    if (!code && ng) {
        *walk = given, *nwalk = reduce_roots(given, ng);
        *full = same_strings(given, *nwalk, all, n);
        given = NULL;
        index_free_strings(all, n);
    } else if (!code) {
        *walk = all, *nwalk = n;
        *full = 1;
        index_free_strings(given, ng);
    } else {
        index_free_strings(all, n);
        index_free_strings(given, ng);
    }
    index_free_strings(rec, nrec);
    if (!code && !*nwalk)
        code = cli_usage("index", "no PATH given, and the index records none");
    return code;
}

/* ---- excludes, as rsync and fd users write them ---- */

/* Whether pattern p leaves out rel (a path relative to its root, or the
 * whole path): p matches the path, a leading part of it ("2019/drafts"),
 * or any one component ("broken", "*.tmp"). */
static int excludes(const char *p, const char *rel, const char *whole)
{
    char buf[4096];
    size_t n = strlen(rel);
    if (!fnmatch(p, whole, 0) || n >= sizeof buf)
        return !fnmatch(p, whole, 0);
    memcpy(buf, rel, n + 1);
    for (size_t end = 0, start = 0; end <= n; end++) {
        if (buf[end] != '/' && buf[end])
            continue;
        char c = buf[end];
        buf[end] = 0;
        int hit = !fnmatch(p, buf, FNM_PATHNAME) || !fnmatch(p, buf + start, 0);
        buf[end] = c;
        if (hit)
            return 1;
        start = end + 1;
    }
    return 0;
}

/* Leaves out the excluded files of [from, walk's end), found under root;
 * marks the patterns that matched. */
static void apply_excludes(const struct index_opts *o, const char *root, struct walk *files, size_t from, char *used)
{
    size_t m = from, rl = strlen(root);
    for (size_t i = from; i < files->n; i++) {
        const char *path = files->files[i].path, *rel = path;
        if (!strncmp(path, root, rl) && path[rl] == '/')
            rel = path + rl + 1;
        else if (!strcmp(path, root)) /* a file given as a root: its name */
            rel = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        int out = 0;
        for (int k = 0; k < o->nexclude; k++)
            if (excludes(o->exclude[k], rel, path))
                out = used[k] = 1;
        if (out) {
            free(files->files[i].path);
            free(files->files[i].facts);
            continue;
        }
        files->files[m++] = files->files[i];
    }
    files->n = m;
}

/* The files under the roots, less the excluded ones; roots that cannot be
 * read are reported (with the way to forget them) and left out, so that
 * their entries are kept. A pattern that matched nothing in a walk of
 * every root (full) is reported once. */
static int index_walk(const struct index_opts *o, char **roots, size_t *nroots, int full, struct walk *files,
                      size_t *skips)
{
    size_t kept = 0;
    char *used = calloc((size_t)o->nexclude + 1, 1);
    if (!used)
        return cli_fail(EXIT_FAILED, "out of memory");
    for (size_t i = 0; i < *nroots; i++) {
        struct stat st;
        if (stat(roots[i], &st) < 0) {
            fprintf(stderr, "clippie: %s: %s: its photos are kept ('clippie index --forget %s %s' drops them)\n",
                    roots[i], strerror(errno), roots[i], o->index);
            (*skips)++;
            free(roots[i]);
            continue;
        }
        roots[kept++] = roots[i];
        size_t from = files->n;
        if (walk_add(files, roots[kept - 1]) < 0) {
            free(used);
            return cli_fail(EXIT_FAILED, "out of memory listing %s", roots[kept - 1]);
        }
        apply_excludes(o, roots[kept - 1], files, from, used);
    }
    for (int k = 0; full && kept == *nroots && k < o->nexclude; k++)
        if (!used[k])
            fprintf(stderr, "clippie: --exclude '%s' matched nothing\n", o->exclude[k]);
    *nroots = kept;
    free(used);
    return 0;
}

static int index_update(struct index *ix, struct index_opts *o)
{
    char err[ERR_LEN], **roots = NULL;
    size_t nroots = 0;
    int full = 0;
    struct cli_image_run r = {.ix = ix};
    struct walk files = {.skip = cli_walk_skip, .ctx = &r.skipped};
    struct index_plan plan = {0};
    const char *model_path;
    int code = 0;
    if (!(r.w = cli_open_model(o->e.model, &model_path)))
        return EXIT_FAILED;
    code = bind_settings(ix, o, r.w, model_path);
    if (!code)
        code = choose_roots(ix, o, &roots, &nroots, &full);
    if (!code)
        code = index_walk(o, roots, &nroots, full, &files, &r.skipped);
    if (!code && (index_plan(ix, &files, roots, nroots, &plan, err) < 0 || index_apply(ix, &files, &plan, err) < 0))
        code = cli_fail(EXIT_FAILED, "%s", err);
    if (!code)
        code = cli_image_run_open(&r, &o->e, &files, plan.todo, plan.ntodo);
    if (!code) {
        cli_catch_stop();
        code = cli_embed_images(&r, &o->e, plan.ntodo);
    }
    if (!code && !cli_stop_signal && index_remove(ix, plan.gone, plan.ngone, err) < 0)
        code = cli_fail(EXIT_FAILED, "%s", err);
    if (!code && !cli_stop_signal && index_touch(ix, err) < 0)
        code = cli_fail(EXIT_FAILED, "%s", err);
    if (!code && index_refresh_cache(ix, err) < 0)
        code = cli_fail(EXIT_FAILED, "%s", err);
    if (!code) {
        fprintf(stderr, "clippie: %zu new, %zu changed, %zu moved, %zu removed, %zu unchanged, %zu skipped",
                r.stored_new + plan.ncopied, r.stored_changed, plan.nmoved, cli_stop_signal ? 0 : plan.ngone,
                plan.nunchanged, r.skipped);
        if (plan.nknown)
            fprintf(stderr, ", %zu still unreadable", plan.nknown);
        fputc('\n', stderr);
    }
    cli_image_run_close(&r);
    weights_close(r.w);
    index_plan_free(&plan);
    walk_free(&files);
    index_free_strings(roots, nroots);
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

/* Merges the inputs into a new index beside out, renamed over out when
 * whole: out is exactly their union, or as it was. */
static int index_merge(const char *out, int argc, char **argv)
{
    char err[ERR_LEN], *tmp = NULL, *side = NULL;
    int code = 0;
    struct stat st;
    struct index *ix = NULL;
    /* an OUT there must be an index, not being updated; opened and closed,
     * its log is folded into it, so that no -wal of it outlives it to be
     * read with the new file */
    if (stat(out, &st) == 0 && !(ix = index_open(out, INDEX_WRITE, err)))
        return cli_fail(EXIT_FAILED, "%s (nothing merged)", err);
    index_close(ix);
    if (asprintf(&tmp, "%s.merging-%ld", out, (long)getpid()) < 0)
        return cli_fail(EXIT_FAILED, "out of memory");
    ix = index_open(tmp, INDEX_CREATE, err);
    if (!ix)
        code = cli_fail(EXIT_FAILED, "%s", err);
    for (int i = 0; !code && i < argc; i++)
        if (index_merge_from(ix, argv[i], err) < 0) /* err names the input, or is about it */
            code = !strncmp(err, argv[i], strlen(argv[i]))
                       ? cli_fail(EXIT_FAILED, "%s (nothing merged: %s is as it was)", err, out)
                       : cli_fail(EXIT_FAILED, "%s: %s (nothing merged: %s is as it was)", argv[i], err, out);
    index_close(ix); /* SQLite folds its log into the file as the last connection closes */
    if (!code && rename(tmp, out) < 0)
        code = cli_fail(EXIT_FAILED, "%s: %s", out, strerror(errno));
    if (code) {
        unlink(tmp);
        for (const char *sfx = "-wal"; sfx; sfx = strcmp(sfx, "-wal") ? NULL : "-shm")
            if (asprintf(&side, "%s%s", tmp, sfx) >= 0) {
                unlink(side);
                free(side);
            }
    }
    free(tmp);
    if (code)
        return code;
    /* the cache beside out was of the index replaced: made afresh */
    if (!(ix = index_open(out, INDEX_WRITE, err)) || index_refresh_cache(ix, err) < 0)
        code = cli_fail(EXIT_FAILED, "%s", err);
    index_close(ix);
    return code;
}

/* ---- --info and --forget ---- */

static void show_failed(void *ctx, const char *path, const char *why)
{
    (void)ctx;
    printf("  unreadable: %s: %s\n", path, why);
}

static int index_info(struct index *ix, const char *path)
{
    char err[ERR_LEN], **roots = NULL, **ex = NULL, opts[200] = "", when[64] = "never";
    size_t nroots = 0, nex = 0;
    struct index_model m;
    struct index_status st;
    if (index_model(ix, &m, err) < 0 || index_status(ix, &st, err) < 0 || index_roots(ix, &roots, &nroots, err) < 0 ||
        index_excludes(ix, &ex, &nex, err) < 0) {
        index_free_strings(roots, nroots);
        return cli_fail(EXIT_FAILED, "%s", err);
    }
    snprintf(opts, sizeof opts, "%s%s%s", m.exif ? "" : " --no-exif-orientation", m.draft ? " --draft" : "",
             m.raw_full ? " --raw-full" : "");
    if (m.max_pixels)
        snprintf(opts + strlen(opts), sizeof opts - strlen(opts), " --max-pixels %llu",
                 (unsigned long long)m.max_pixels);
    if (st.refreshed) {
        time_t t = (time_t)st.refreshed;
        struct tm tm;
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z", localtime_r(&t, &tm));
    }
    printf("index: %s\nmodel: %s\n", path, m.id[0] ? m.desc : "none yet");
    for (size_t i = 0; i < nroots; i++)
        printf("root: %s\n", roots[i]);
    for (size_t i = 0; i < nex; i++)
        printf("exclude: %s\n", ex[i]);
    printf("options:%s\nphotos: %zu\nunreadable: %zu\ngeneration: %lld\nrefreshed: %s\n",
           *opts ? opts : " the defaults", st.photos, st.failed, st.generation, when);
    index_free_strings(roots, nroots);
    index_free_strings(ex, nex);
    return index_each_failed(ix, show_failed, NULL, err) < 0 ? cli_fail(EXIT_FAILED, "%s", err) : 0;
}

/* Drops a root: given as recorded (canonical), or as any spelling of it
 * while it exists, or relative to here once it is gone. */
static int index_forget_root(struct index *ix, const char *index, const char *root)
{
    char err[ERR_LEN], *c = realpath(root, NULL), *abs = NULL, cwd[4096];
    size_t removed;
    if (!c && root[0] != '/' && getcwd(cwd, sizeof cwd) && asprintf(&abs, "%s/%s", cwd, root) < 0)
        abs = NULL;
    for (size_t n = abs ? strlen(abs) : 0; n > 1 && abs[n - 1] == '/'; n--)
        abs[n - 1] = 0;
    const char *name = c ? c : abs ? abs : root;
    int rc = index_forget(ix, name, &removed, err);
    if (rc < 0 && c) /* a root recorded as spelt before canonical roots */
        rc = index_forget(ix, root, &removed, err);
    int code = rc < 0 ? cli_fail(EXIT_FAILED, "%s", err) : 0;
    if (!code && index_refresh_cache(ix, err) < 0)
        code = cli_fail(EXIT_FAILED, "%s", err);
    if (!code)
        fprintf(stderr, "clippie: %s forgotten: %zu removed from %s\n", name, removed, index);
    free(c);
    free(abs);
    return code;
}

int cmd_index(int argc, char **argv)
{
    struct index_opts o;
    char err[ERR_LEN];
    int code = parse_index(argc, argv, &o);
    struct index *ix = NULL;
    enum index_mode mode = o.dump || o.info ? INDEX_READ : o.forget ? INDEX_WRITE : INDEX_CREATE;
    if (!code && !o.merge && !(ix = index_open(o.index, mode, err)))
        code = cli_fail(EXIT_FAILED, "%s", err);
    if (!code)
        code = o.dump     ? index_dump(ix, o.index, &o)
               : o.info   ? index_info(ix, o.index)
               : o.forget ? index_forget_root(ix, o.index, o.forget_root)
               : o.merge  ? index_merge(o.index, o.nrest, o.rest)
                          : index_update(ix, &o);
    index_close(ix);
    if (o.owned_excludes)
        index_free_strings(o.exclude, (size_t)o.nexclude);
    else
        free(o.exclude);
    return code;
}
