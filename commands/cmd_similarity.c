/* cmd_similarity.c - clippie similarity: one-off tables of texts against
 * images, and searches of vector files and indexes. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "search.h"

const char cmd_similarity_help[] =
    "usage: clippie similarity [-m MODEL] [-t TEXT]... [-i IMAGE]... [-q VECTORS]...\n"
    "                          [--db VECTORS [--names FILE]]... [-k K] [--csv] [--dim D] [-0]\n"
    "\n"
    "Cosine similarity between embeddings, made on the fly or read from files.\n"
    "\n"
    "Without --db: a one-off table of every -t TEXT (rows) against every\n"
    "-i IMAGE (columns); with texts only or images only, each against each.\n"
    "\n"
    "  clippie similarity -t 'a toddler' -t 'a lake' -i kid.jpg -i lake.jpg\n"
    "\n"
    "With --db: search. The queries (-t, -i and the rows of -q) are each ranked\n"
    "against the vectors of every --db (from embed-image), searched as one, and\n"
    "the best K printed as 'score<TAB>name' lines, best first (with a third\n"
    "column naming the query when there are several).\n"
    "\n"
    "  clippie embed-image -f npy --names photos.txt ~/Photos > photos.npy\n"
    "  clippie similarity --db photos.npy --names photos.txt -t 'a dog' | head -3\n"
    "  clippie embed-text 'a dog' | clippie similarity --db photos.npy -q -\n"
    "\n"
    "%s"
    "  -t, --text TEXT  a text to embed\n"
    "  -i, --image IMAGE  an image file to embed\n"
    "  -q, --query VECTORS  query vectors: .npy, CSV or raw float32 ('-': stdin)\n"
    "  --db VECTORS     what to search: an index made by 'clippie index', or a\n"
    "                   vector file (memory-mapped); '-' reads stdin\n"
    "  --names FILE     one name per row of the --db before it (default: row\n"
    "                   numbers from 1); give one for each --db or none\n"
    "  -k K             how many results per query (default 10; more than the\n"
    "                   rows means all)\n"
    "  --csv            print the whole similarity matrix as CSV (RFC 4180)\n"
    "  --dim D          dimension of raw float32 vector files (default: that of\n"
    "                   the database or the model)\n"
    "  -0, --null       --names files are NUL-terminated, and so are the result\n"
    "                   records printed\n"
    "  --probability    SigLIP models: print the model's own probability that\n"
    "                   query and match go together, sigmoid(scale * cosine +\n"
    "                   bias), rather than the cosine (the ranking is the same)\n"
    CLI_IMAGE_HELP
    "\n"
    "Vectors are normalised before comparing. Ties keep input order.\n"
    "\n" EXIT_CODES;

struct sim_opts {
    const char *model;
    char **texts, **images, **queries, **dbs, **names; /* each [argc], borrowed from argv */
    int nt, ni, nq, ndb, nnames, csv, probability;
    struct image_opts image; /* for -i: resolution, mean and std are the model's */
    unsigned long long k, dim;
    char delim;
};

/* Vectors (unit length) with labels: the queries, or a table's columns. */
struct set {
    float *vec;     /* rows x dim, owned */
    char **labels;  /* owned */
    size_t rows, cap, lcap;
    int dim;
};

static int set_add(struct set *s, const float *v, int dim, const char *label)
{
    size_t need;
    if (s->rows && dim != s->dim)
        return cli_fail(EXIT_FAILED, "%s: vector of dimension %d, the other queries %d", label, dim, s->dim);
    s->dim = dim;
    if (size_mul(s->rows + 1, (size_t)dim, &need) < 0 ||
        util_grow(&s->vec, &s->cap, need, sizeof *s->vec, SIZE_MAX / 2 / sizeof *s->vec) < 0 ||
        util_grow(&s->labels, &s->lcap, s->rows + 1, sizeof *s->labels, SIZE_MAX / 2 / sizeof *s->labels) < 0)
        return cli_fail(EXIT_FAILED, "out of memory");
    float *d = s->vec + s->rows * (size_t)dim;
    memcpy(d, v, (size_t)dim * sizeof *d);
    if (search_unit(d, dim) < 0)
        return cli_fail(EXIT_FAILED, "%s: vector is all zeros or not finite", label);
    if (!(s->labels[s->rows++] = strdup(label)))
        return cli_fail(EXIT_FAILED, "out of memory");
    return 0;
}

static void set_free(struct set *s)
{
    for (size_t k = 0; k < s->rows; k++)
        free(s->labels[k]);
    free(s->labels);
    free(s->vec);
}

static int embed_text_set(struct weights *w, char **texts, int n, struct set *s)
{
    struct cli_texts m;
    int E = (int)w->cfg.embed_dim, code = cli_texts_open(&m, w);
    for (int i = 0; !code && i < n; i += CLI_TEXT_BATCH) {
        int b = n - i < CLI_TEXT_BATCH ? n - i : CLI_TEXT_BATCH;
        for (int k = 0; !code && k < b; k++)
            code = cli_texts_add(&m, texts[i + k], i + k + 1);
        code = code ? code : cli_texts_run(&m);
        m.n = 0;
        for (int k = 0; !code && k < b; k++)
            code = set_add(s, m.vec + (size_t)k * E, E, texts[i + k]);
    }
    cli_texts_close(&m);
    return code;
}

static int embed_image_set(struct weights *w, char **paths, int n, const struct image_opts *image, struct set *s)
{
    char err[ERR_LEN];
    struct image_opts o = cli_image_opts_for(w, image);
    int R = o.resolution, E = (int)w->cfg.embed_dim, code = 0;
    struct vit *v = vit_open(w, 1, cli_cores(), err);
    float *px = malloc(3 * (size_t)R * R * sizeof *px), *vec = malloc((size_t)E * sizeof *vec);
    if (!v || !px || !vec)
        code = cli_fail(EXIT_FAILED, "%s", v ? "out of memory" : err);
    for (int i = 0; !code && i < n; i++) {
        if (pipeline_load(paths[i], &o, px, err) < 0)
            code = cli_fail(EXIT_FAILED, "%s: %s", paths[i], err);
        else {
            vit_encode(v, px, 1, vec);
            code = set_add(s, vec, E, paths[i]);
        }
    }
    vit_close(v);
    free(px);
    free(vec);
    return code;
}

static int query_file_set(const char *path, int dim, struct set *s)
{
    char err[ERR_LEN], label[ERR_LEN];
    struct vecfile *qv = vecfile_open(path, dim, err);
    int code = qv ? 0 : cli_fail(EXIT_FAILED, "%s", err);
    for (size_t r = 0; !code && r < qv->rows; r++) {
        snprintf(label, sizeof label, "%s:%zu", strcmp(path, "-") ? path : "stdin", r + 1);
        code = set_add(s, qv->data + r * (size_t)qv->dim, qv->dim, label);
    }
    vecfile_close(qv);
    return code;
}

/* The names of a database's rows: exactly rows records of path. */
static int read_names(const char *path, size_t rows, char delim, char ***out)
{
    char *line = NULL, **names = calloc(rows, sizeof *names);
    size_t cap = 0, n = 0;
    ssize_t len;
    struct stat st;
    char err[ERR_LEN];
    int nul = 0, fd = util_open_regular(path, &st, err);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
    if (!f) {
        free(names);
        if (fd >= 0)
            close(fd);
        return cli_fail(EXIT_FAILED, "%s: %s", path, fd < 0 ? err : strerror(errno));
    }
    while (names && (len = getdelim(&line, &cap, delim, f)) >= 0) {
        if (len && line[len - 1] == delim)
            line[--len] = 0;
        if (delim && memchr(line, 0, (size_t)len) && (nul = 1))
            break;
        if (n < rows && !(names[n] = strdup(line)))
            break;
        n++;
    }
    free(line);
    fclose(f);
    if (nul || n != rows || !names) {
        for (size_t k = 0; k < rows && names; k++)
            free(names[k]);
        free(names);
        if (nul)
            return cli_fail(EXIT_FAILED, "%s holds NUL bytes: NUL-terminated names need -0", path);
        return names ? cli_fail(EXIT_FAILED, "%s has %zu %s, the vectors %zu rows", path, n,
                            delim ? "lines" : "NUL-terminated names", rows)
                     : cli_fail(EXIT_FAILED, "out of memory");
    }
    *out = names;
    return 0;
}

static int parse_similarity(int argc, char **argv, struct sim_opts *o)
{
    static const struct option opts[] = {
        CLI_MODEL_OPT, CLI_NULL_OPT,
        {"text", required_argument, 0, 't'},  {"image", required_argument, 0, 'i'},
        {"query", required_argument, 0, 'q'}, {"db", required_argument, 0, 'd'},
        {"names", required_argument, 0, 'N'}, {"csv", no_argument, 0, 'c'},
        {"dim", required_argument, 0, 'd' + 256},   {"probability", no_argument, 0, 'p' + 256},
        CLI_IMAGE_OPTS,
        {0, 0, 0, 0},
    };
    const char *cmd = "similarity";
    int c, r;
    *o = (struct sim_opts){.k = 10, .delim = '\n', .image = CLI_IMAGE_DEFAULTS};
    char ***lists[] = {&o->texts, &o->images, &o->queries, &o->dbs, &o->names};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        if (!(*lists[i] = calloc((size_t)argc, sizeof(char *))))
            return cli_fail(EXIT_FAILED, "out of memory");
    cli_options_reset();
    while ((c = getopt_long(argc, argv, ":m:t:i:q:k:0", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 't': o->texts[o->nt++] = optarg; break;
        case 'i': o->images[o->ni++] = optarg; break;
        case 'q': o->queries[o->nq++] = optarg; break;
        case 'd': o->dbs[o->ndb++] = optarg; break;
        case 'N': o->names[o->nnames++] = optarg; break;
        case 'c': o->csv = 1; break;
        case 'p' + 256: o->probability = 1; break;
        case '0': o->delim = 0; break;
        case 'k':
            if (cli_parse_number(cmd, "-k", optarg, 1, UINT64_MAX, &o->k))
                return EXIT_USAGE;
            break;
        case 'd' + 256:
            if (cli_parse_number(cmd, "--dim", optarg, 1, VECFILE_MAX_DIM, &o->dim))
                return EXIT_USAGE;
            break;
        default:
            if ((r = cli_image_option(cmd, c, optarg, &o->image)) != 1)
                return r ? r : cli_bad_option(cmd, c, argv);
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s' (texts go after -t, images after -i)", argv[optind]);
    if (!o->nt && !o->ni && !o->nq)
        return cli_usage(cmd, "nothing to compare: give -t, -i or -q");
    if (o->nq && !o->ndb)
        return cli_usage(cmd, "-q needs --db to compare against");
    if (o->nnames && o->nnames != o->ndb)
        return cli_usage(cmd, "give one --names for each --db, or none (%d --db, %d --names)", o->ndb, o->nnames);
    int stdin_users = 0;
    for (int i = 0; i < o->nq; i++)
        stdin_users += !strcmp(o->queries[i], "-");
    for (int i = 0; i < o->ndb; i++)
        stdin_users += !strcmp(o->dbs[i], "-");
    if (stdin_users > 1)
        return cli_usage(cmd, "standard input ('-') can be read once only");
    return 0;
}

static void sim_opts_free(struct sim_opts *o)
{
    free(o->texts);
    free(o->images);
    free(o->queries);
    free(o->dbs);
    free(o->names);
}

/* A database searched: a vector file, or an index (which names its rows). */
struct sim_db {
    const struct vecfile *v;
    struct vecfile *file;
    struct index *ix;
    char **names;  /* [rows] from --names, or NULL */
};

/* Everything a similarity run holds. */
struct sim_run {
    struct weights *w;
    const char *model_path;  /* the model file opened */
    struct image_opts image; /* for -i: the options, or an index's */
    int indexes;             /* --db that are indexes */
    struct sim_db *db;    /* [ndb] */
    struct set q, cols;   /* queries; a table's columns */
    int dim;              /* of every vector compared */
};

static void sim_run_close(struct sim_run *r, const struct sim_opts *o)
{
    for (int i = 0; r->db && i < o->ndb; i++) {
        for (size_t k = 0; r->db[i].names && k < r->db[i].v->rows; k++)
            free(r->db[i].names[k]);
        free(r->db[i].names);
        vecfile_close(r->db[i].file);
        index_close(r->db[i].ix);
    }
    free(r->db);
    set_free(&r->q);
    set_free(&r->cols);
    weights_close(r->w);
}

/* Opens database i: an index (whose model must be the model's, when one
 * embeds the queries) or a vector file, with its --names. */
static int sim_open_db(struct sim_run *r, const struct sim_opts *o, int i)
{
    struct sim_db *d = &r->db[i];
    char err[ERR_LEN];
    if (strcmp(o->dbs[i], "-") && index_probe(o->dbs[i], NULL) == 1) {
        struct index_model have;
        if (o->nnames)
            return cli_usage("similarity", "%s is an index, which names its rows: no --names for it", o->dbs[i]);
        if (!(d->ix = index_open(o->dbs[i], INDEX_READ, err)))
            return cli_fail(EXIT_FAILED, "%s", err);
        if (cli_index_model(o->dbs[i], d->ix, r->w, r->model_path, &have))
            return EXIT_FAILED;
        if (!(d->v = index_vectors(d->ix, err)))
            return cli_fail(EXIT_FAILED, "%s", err);
        struct image_opts io = r->image;
        cli_image_opts_of_index(&have, &io);
        if (r->indexes++ && (io.exif != r->image.exif || io.draft != r->image.draft ||
                             io.raw_full != r->image.raw_full || io.max_pixels != r->image.max_pixels))
            return cli_fail(EXIT_FAILED, "%s was made with other preprocessing options than %s: search them one at "
                                         "a time", o->dbs[i], o->dbs[0]);
        r->image = io;
        return 0;
    }
    if (!(d->v = d->file = vecfile_open(o->dbs[i], r->dim, err)))
        return cli_fail(EXIT_FAILED, "%s", err);
    if (o->nnames && read_names(o->names[i], d->v->rows, o->delim, &d->names))
        return EXIT_FAILED;
    return 0;
}

/* The model (when texts or images are to be embedded), the databases and
 * their names, and the dimension they all agree on. */
static int sim_open(struct sim_run *r, const struct sim_opts *o)
{
    int code;
    r->image = o->image;
    if ((o->nt || o->ni || o->probability) && !(r->w = cli_open_model(o->model, &r->model_path)))
        return EXIT_FAILED;
    if (o->probability && r->w->cfg.family != WEIGHTS_SIGLIP)
        return cli_fail(EXIT_USAGE, "--probability needs a SigLIP model (a sigmoid's bias): %s is CLIP",
                        o->model ? o->model : "the model");
    r->dim = o->dim ? (int)o->dim : r->w ? (int)r->w->cfg.embed_dim : 0;
    if (!(r->db = calloc((size_t)o->ndb + 1, sizeof *r->db)))
        return cli_fail(EXIT_FAILED, "out of memory");
    for (int i = 0; i < o->ndb; i++) {
        if ((code = sim_open_db(r, o, i)))
            return code;
        if (i && r->db[i].v->dim != r->db[0].v->dim)
            return cli_fail(EXIT_FAILED, "%s holds vectors of dimension %d, %s %d", o->dbs[i], r->db[i].v->dim,
                        o->dbs[0], r->db[0].v->dim);
    }
    if (o->ndb && r->w && (int)r->w->cfg.embed_dim != r->db[0].v->dim)
        return cli_fail(EXIT_FAILED, "the model makes vectors of dimension %u, %s holds %d", r->w->cfg.embed_dim,
                    o->dbs[0], r->db[0].v->dim);
    if (o->ndb)
        r->dim = r->db[0].v->dim;
    return 0;
}

/* The queries: texts, images (a table's columns when texts are its rows),
 * then the rows of the -q files, all of the one dimension. */
static int sim_queries(struct sim_run *r, const struct sim_opts *o)
{
    int code = 0;
    if (o->nt)
        code = embed_text_set(r->w, o->texts, o->nt, &r->q);
    if (!code && o->ni)
        code = embed_image_set(r->w, o->images, o->ni, &r->image, !o->ndb && o->nt ? &r->cols : &r->q);
    for (int i = 0; !code && i < o->nq; i++)
        code = query_file_set(o->queries[i], r->dim, &r->q);
    if (!code && r->q.rows && r->q.dim != r->dim)
        code = cli_fail(EXIT_FAILED, "the queries have dimension %d, the database %d", r->q.dim, r->dim);
    return code;
}

#define LABEL_MAX 40 /* columns of a table label before its middle is cut */

/* Columns a UTF-8 string takes, taking each code point as one. */
static size_t columns(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* s for a table: its base name when it is a path, control characters as
 * '?', cut in the middle ("...") when longer than LABEL_MAX columns. */
static void table_label(const char *s, int path, char *out, size_t cap)
{
    const char *slash = path ? strrchr(s, '/') : NULL;
    s = slash && slash[1] ? slash + 1 : s;
    size_t cols = columns(s), keep = cols <= LABEL_MAX ? cols : LABEL_MAX - 1, head = keep / 2, n = 0, col = 0;
    for (const char *p = s; *p && n + 8 < cap; p++) {
        int lead = ((unsigned char)*p & 0xc0) != 0x80;
        col += (size_t)lead;
        if (cols > LABEL_MAX && lead && col == head + 1) { /* the cut: skip to the tail */
            memcpy(out + n, "\xe2\x80\xa6", 3);            /* U+2026 */
            n += 3;
            while (p[1] && columns(p + 1) > keep - head)
                p++;
            continue;
        }
        out[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
    }
    out[n] = 0;
}

static void print_padded(const char *label, size_t width, int right)
{
    size_t pad = width > columns(label) ? width - columns(label) : 0;
    printf("%*s%s%*s", right ? (int)pad : 0, "", label, right ? 0 : (int)pad, "");
}

/* What is printed for cosine s: s, or with --probability SigLIP's sigmoid. */
static float shown(const struct sim_run *r, const struct sim_opts *o, float s)
{
    return o->probability && isfinite(s) ? weights_probability(r->w, s) : s;
}

/* One-off comparisons: a table (or CSV) of queries against columns. */
static int sim_table(struct sim_run *r, const struct sim_opts *o)
{
    struct set *cols = r->cols.rows ? &r->cols : &r->q;
    int cols_are_images = r->cols.rows || !o->nt;
    char label[4 * LABEL_MAX + 8];
    size_t wrow = 0, wcol = 6;
    for (size_t i = 0; i < r->q.rows; i++) {
        table_label(r->q.labels[i], !o->nt, label, sizeof label);
        wrow = columns(label) > wrow ? columns(label) : wrow;
    }
    for (size_t j = 0; j < cols->rows; j++) {
        table_label(cols->labels[j], cols_are_images, label, sizeof label);
        wcol = columns(label) > wcol ? columns(label) : wcol;
    }
    o->csv ? (void)printf("query") : print_padded("", wrow, 0);
    for (size_t j = 0; j < cols->rows; j++) {
        if (o->csv) {
            putchar(',');
            cli_csv_field(cols->labels[j]);
            continue;
        }
        table_label(cols->labels[j], cols_are_images, label, sizeof label);
        putchar(' ');
        print_padded(label, wcol, 1);
    }
    putchar('\n');
    for (size_t i = 0; i < r->q.rows; i++) {
        if (o->csv)
            cli_csv_field(r->q.labels[i]);
        else {
            table_label(r->q.labels[i], !o->nt, label, sizeof label);
            print_padded(label, wrow, 0);
        }
        for (size_t j = 0; j < cols->rows; j++) {
            float s = shown(r, o, search_cosine(cols->vec + j * (size_t)r->dim, r->q.vec + i * (size_t)r->dim, r->dim));
            /* probabilities run to 1e-6 and below: significant digits, not places */
            if (o->probability)
                o->csv ? printf(",%.6g", s) : printf(" %*.4g", (int)wcol, s);
            else
                o->csv ? printf(",%.6f", s) : printf(" %*.4f", (int)wcol, s);
        }
        putchar('\n');
    }
    return 0;
}

/* The name of row `row` of database db: the index's path, its --names
 * entry, else its number (from 1), with the file's name when there are
 * several. *owned gets what the caller frees. NULL after an error. */
static const char *db_name(const struct sim_run *r, const struct sim_opts *o, size_t db, size_t row, char **owned)
{
    char err[ERR_LEN];
    *owned = NULL;
    if (r->db[db].ix) {
        if (!(*owned = index_path_of(r->db[db].ix, row, err)))
            cli_fail(0, "%s", err);
        return *owned;
    }
    if (r->db[db].names)
        return r->db[db].names[row];
    if (asprintf(owned, o->ndb > 1 ? "%s:%zu" : "%.0s%zu", o->dbs[db], row + 1) < 0) {
        *owned = NULL;
        cli_fail(0, "out of memory");
    }
    return *owned;
}

/* The whole matrix of queries against database rows, as CSV. */
static int sim_matrix(struct sim_run *r, const struct sim_opts *o)
{
    char *owned;
    printf("query");
    for (int d = 0; d < o->ndb; d++)
        for (size_t row = 0; row < r->db[d].v->rows; row++) {
            const char *name = db_name(r, o, (size_t)d, row, &owned);
            if (!name)
                return EXIT_FAILED;
            putchar(',');
            cli_csv_field(name);
            free(owned);
        }
    putchar('\n');
    for (size_t i = 0; i < r->q.rows; i++) {
        cli_csv_field(r->q.labels[i]);
        for (int d = 0; d < o->ndb; d++)
            for (size_t row = 0; row < r->db[d].v->rows; row++) {
                const struct vecfile *v = r->db[d].v;
                float s = search_cosine(v->data + row * (size_t)r->dim, r->q.vec + i * (size_t)r->dim, r->dim);
                if (!isfinite(s))
                    return cli_fail(EXIT_FAILED, "%s: vector %zu is all zeros, NaN or infinite", o->dbs[d], row + 1);
                printf(",%.6f", shown(r, o, s));
            }
        putchar('\n');
    }
    return 0;
}

/* Each query's best k rows as score<TAB>name records, best first. */
static int sim_search(struct sim_run *r, const struct sim_opts *o)
{
    char err[ERR_LEN];
    const struct vecfile **dbs = malloc((size_t)o->ndb * sizeof *dbs);
    int code = dbs ? 0 : cli_fail(EXIT_FAILED, "out of memory");
    for (int d = 0; !code && d < o->ndb; d++)
        dbs[d] = r->db[d].v;
    for (size_t i = 0; !code && i < r->q.rows; i++) {
        size_t n;
        struct search_hit *best = search_top_k(dbs, (size_t)o->ndb, r->q.vec + i * (size_t)r->dim, o->k, cli_cores(), &n,
                                               err);
        if (!best)
            code = n < (size_t)o->ndb ? cli_fail(EXIT_FAILED, "%s: %s", o->dbs[n], err) : cli_fail(EXIT_FAILED, "%s", err);
        for (size_t j = 0; !code && j < n; j++) {
            char *owned;
            const char *name = db_name(r, o, best[j].db, best[j].row, &owned);
            if (!name) {
                code = EXIT_FAILED;
                break;
            }
            printf("%.6f\t%s", shown(r, o, best[j].score), name);
            if (r->q.rows > 1)
                printf("\t%s", r->q.labels[i]);
            putchar(o->delim);
            free(owned);
        }
        free(best);
    }
    free(dbs);
    return code;
}

int cmd_similarity(int argc, char **argv)
{
    struct sim_opts o;
    struct sim_run r = {0};
    int code = parse_similarity(argc, argv, &o);
    if (!code)
        code = sim_open(&r, &o);
    if (!code)
        code = sim_queries(&r, &o);
    if (!code)
        code = !o.ndb ? sim_table(&r, &o) : o.csv ? sim_matrix(&r, &o) : sim_search(&r, &o);
    sim_run_close(&r, &o);
    sim_opts_free(&o);
    return code;
}
