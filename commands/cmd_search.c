/* cmd_search.c - clippie search: the photo index searched by texts and
 * photos combined as rclip combines them ("cat" + "night" - "dog", 2:cat),
 * filtered by score and folder, printed for people, pipes or CSV, with
 * previews drawn in the terminal. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "preview.h"
#include "search.h"

const char cmd_search_help[] =
    "usage: clippie search [--index FILE] [-m MODEL] [-k N] [--paths] [-0] [-f csv] [--min-score S]\n"
    "                      [--under DIR]... [--after DATE] [--before DATE] [--preview[=MODE]]\n"
    "                      TERM [+|- TERM]...\n"
    "\n"
    "Searches the photo index (made by 'clippie index') and prints the best\n"
    "matches as 'score<TAB>path' lines, best first.\n"
    "\n"
    "  clippie search \"a dog on a beach\"\n"
    "  clippie search \"cat\" + \"night\" - \"dog\"\n"
    "  clippie search 2:\"red car\" + ~/Photos/ref.jpg --after 2019-01-01 --under ~/Photos/trips\n"
    "  clippie search --paths -0 -k 50 \"birthday cake\" | xargs -0 feh\n"
    "\n"
    "A TERM is a text, or the path of an image file (a query by example: that\n"
    "photo itself is left out of the results). Terms join with + and -, and a\n"
    "term may carry a weight W: in front (2:cat, 0.5:photo.jpg). The query is\n"
    "the sum of weight x sign x each term's unit vector, made a unit vector,\n"
    "as rclip computes it; a single text scores as 'similarity --db' does.\n"
    "Image terms are preprocessed with the options the index was made with.\n"
    "\n"
    "  --index FILE     the index (default: $CLIPPIE_INDEX, else\n"
    "                   $XDG_DATA_HOME/clippie/photos.clippie, ~/.local/share\n"
    "                   by default)\n"
    "%s"
    "  -k N             how many results (default 10)\n"
    "  --paths          print paths only\n"
    "  -0, --null       end each record with NUL rather than a newline\n"
    "  -f csv           print 'rank,score,path' rows (RFC 4180) after a header\n"
    "  --min-score S    leave out results scoring under S (a cosine, -1 to 1)\n"
    "  --under DIR      only photos under DIR (repeatable: under any of them)\n"
    "  --after DATE     only photos taken on DATE (YYYY-MM-DD) or later: the\n"
    "                   date EXIF records (DateTimeOriginal, else DateTime),\n"
    "                   else the file's modification time, as the index\n"
    "                   recorded it (an index made before dates gains them on\n"
    "                   its next refresh; until then its photos have none)\n"
    "  --before DATE    only photos taken before DATE\n"
    "  --preview[=MODE] draw each photo beside its result: auto (the default:\n"
    "                   what the terminal supports), kitty, iterm, sixel or\n"
    "                   symbols (Unicode blocks, any terminal)\n"
    "\n"
    "On a terminal, control characters in names are shown escaped (\\n, \\t,\n"
    "\\xHH); to a pipe or file the names are printed exactly.\n"
    "\n" EXIT_CODES;

/* A term of the query: a text or an image file, with its signed weight. */
struct term {
    const char *s;
    double weight;
    int image;
};

struct search_opts {
    const char *index, *model;
    struct term *terms; /* [nterms] */
    int nterms, paths, csv;
    char delim;
    unsigned long long k;
    double min_score;
    char **under; /* [nunder]: canonical folders */
    int nunder;
    int64_t after, before; /* wall-clock seconds, [after, before); INT64_MIN and INT64_MAX when not asked */
    enum preview_mode preview;
};

/* Everything a search holds. */
struct search_run {
    struct weights *w;
    const char *model_path;
    struct index *ix;
    const struct vecfile *v;
    struct index_model have;
    float *q;     /* [dim]: the query */
    char **self;  /* [nterms]: canonical paths of the image terms, else NULL */
    int64_t *dates; /* [rows]: the photos' dates, when a date filter asks */
    struct preview *pv;
};

/* "W:rest" with W a number: the weight and the rest; else 1 and s. */
static double term_weight(const char *s, const char **rest)
{
    char *end;
    size_t digits = strspn(s, "0123456789.");
    double w = digits ? strtod(s, &end) : 0;
    if (!digits || end != s + digits || *end != ':' || !isfinite(w)) {
        *rest = s;
        return 1;
    }
    *rest = end + 1;
    return w;
}

/* The terms: TERM [+|- TERM]..., each a text or an existing file. */
static int parse_terms(int argc, char **argv, struct search_opts *o)
{
    double sign = 1;
    int want_term = 1;
    if (!(o->terms = calloc((size_t)argc + 1, sizeof *o->terms)))
        return cli_fail(EXIT_FAILED, "out of memory");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "+") || !strcmp(a, "-")) {
            if (want_term && o->nterms)
                return cli_usage("search", "two operators in a row before '%s'", a);
            sign = *a == '-' ? -1 : 1;
            want_term = 1;
            continue;
        }
        if (!want_term)
            return cli_usage("search", "'%s' follows a term: join terms with + or - (or quote a text)", a);
        struct term *t = &o->terms[o->nterms++];
        struct stat st;
        t->weight = sign * term_weight(a, &t->s);
        t->image = stat(t->s, &st) == 0 && S_ISREG(st.st_mode);
        sign = 1;
        want_term = 0;
    }
    if (!o->nterms)
        return cli_usage("search", "nothing to search for: give a text or an image");
    if (want_term)
        return cli_usage("search", "the query ends with an operator");
    return 0;
}

/* YYYY-MM-DD as the wall-clock seconds of its midnight (the calendar
 * counted as UTC, as the index records dates). */
static int parse_date(const char *s, int64_t *secs)
{
    int y, m, d, end = 0;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || strspn(s, "0123456789-") != 10 || s[4] != '-' || s[7] != '-' ||
        sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &end) != 3 || end != 10 || m < 1 || m > 12 || d < 1 ||
        d > mdays[m - 1] || (m == 2 && d == 29 && (y % 4 || (y % 100 == 0 && y % 400))))
        return -1;
    /* days from the civil date (Howard Hinnant's algorithm) */
    int yy = y - (m <= 2), era = yy / 400, yoe = yy - era * 400, doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    *secs = ((int64_t)era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468) * 86400;
    return 0;
}

static int parse_search(int argc, char **argv, struct search_opts *o)
{
    static const struct option opts[] = {
        CLI_MODEL_OPT, CLI_NULL_OPT, CLI_FORMAT_OPT,
        {"index", required_argument, 0, 'I'}, {"paths", no_argument, 0, 'p'},
        {"min-score", required_argument, 0, 's'}, {"under", required_argument, 0, 'u'},
        {"preview", optional_argument, 0, 'P'}, {"after", required_argument, 0, 'A'},
        {"before", required_argument, 0, 'B'},  {0, 0, 0, 0},
    };
    int c;
    char *end;
    *o = (struct search_opts){.k = 10, .delim = '\n', .min_score = -INFINITY, .index = cli_default_index(),
                              .after = INT64_MIN, .before = INT64_MAX};
    if (!(o->under = calloc((size_t)argc, sizeof *o->under)))
        return cli_fail(EXIT_FAILED, "out of memory");
    cli_options_reset();
    while ((c = getopt_long(argc, argv, ":m:k:f:0", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'I': o->index = optarg; break;
        case 'p': o->paths = 1; break;
        case '0': o->delim = 0; break;
        case 'k':
            if (cli_parse_number("search", "-k", optarg, 1, 1000000000, &o->k))
                return EXIT_USAGE;
            break;
        case 'f':
            if (strcmp(optarg, "csv"))
                return cli_usage("search", "-f takes csv, not '%s' (the default prints score<TAB>path)", optarg);
            o->csv = 1;
            break;
        case 's':
            o->min_score = strtod(optarg, &end);
            if (end == optarg || *end || !(o->min_score >= -1 && o->min_score <= 1))
                return cli_usage("search", "--min-score takes a number from -1 to 1, not '%s'", optarg);
            break;
        case 'u':
            if (!(o->under[o->nunder++] = realpath(optarg, NULL)))
                return cli_usage("search", "--under %s: %s", optarg, strerror(errno));
            break;
        case 'A':
        case 'B':
            if (parse_date(optarg, c == 'A' ? &o->after : &o->before) < 0)
                return cli_usage("search", "--%s takes a date as YYYY-MM-DD, not '%s'", c == 'A' ? "after" : "before",
                                 optarg);
            break;
        case 'P':
            if (preview_mode_parse(optarg ? optarg : "auto", &o->preview) < 0)
                return cli_usage("search", "--preview takes %s, not '%s'", preview_mode_names(), optarg);
            break;
        default: return cli_bad_option("search", c, argv);
        }
    }
    return parse_terms(argc - optind, argv + optind, o);
}

static void search_opts_free(struct search_opts *o)
{
    for (int i = 0; i < o->nunder; i++)
        free(o->under[i]);
    free(o->under);
    free(o->terms);
}

/* The index, and the model that made it (when a term needs embedding). */
static int search_open(struct search_run *r, const struct search_opts *o)
{
    char err[ERR_LEN];
    if (access(o->index, F_OK) != 0)
        return cli_fail(EXIT_FAILED, "%s: no index there: make one with 'clippie index FOLDER' (man clippie)",
                        o->index);
    if (!(r->ix = index_open(o->index, INDEX_READ, err)))
        return cli_fail(EXIT_FAILED, "%s", err);
    if (!(r->w = cli_open_model(o->model, &r->model_path)) ||
        cli_index_model(o->index, r->ix, r->w, r->model_path, &r->have))
        return EXIT_FAILED;
    if (!(r->v = index_vectors(r->ix, err)))
        return cli_fail(EXIT_FAILED, "%s", err);
    if ((o->after != INT64_MIN || o->before != INT64_MAX) && !(r->dates = index_dates(r->ix, err)))
        return cli_fail(EXIT_FAILED, "%s", err);
    if (!(r->q = calloc((size_t)r->v->dim, sizeof *r->q)) || !(r->self = calloc((size_t)o->nterms, sizeof *r->self)))
        return cli_fail(EXIT_FAILED, "out of memory");
    if (o->preview && !(r->pv = preview_open(o->preview, err)))
        return cli_fail(EXIT_FAILED, "--preview: %s", err);
    return 0;
}

static void search_close(struct search_run *r, const struct search_opts *o)
{
    for (int i = 0; r->self && i < o->nterms; i++)
        free(r->self[i]);
    free(r->self);
    free(r->dates);
    free(r->q);
    preview_close(r->pv);
    index_close(r->ix);
    weights_close(r->w);
}

/* Adds weight x the unit vector of vec [dim] to the query. A query of one
 * term is its vector as it is, made a unit vector once, as similarity
 * makes it: normalising twice could move the sixth decimal of a score. */
static int add_term(struct search_run *r, const struct search_opts *o, float *vec, double weight, const char *label)
{
    int dim = r->v->dim;
    if (o->nterms == 1 && weight > 0) {
        memcpy(r->q, vec, (size_t)dim * sizeof *vec);
        return 0;
    }
    if (search_unit(vec, dim) < 0)
        return cli_fail(EXIT_FAILED, "%s: its vector is all zeros or not finite", label);
    for (int i = 0; i < dim; i++)
        r->q[i] += (float)(weight * vec[i]);
    return 0;
}

/* The text terms, embedded together. */
static int add_texts(struct search_run *r, const struct search_opts *o)
{
    struct cli_texts m;
    int code = cli_texts_open(&m, r->w), idx[CLI_TEXT_BATCH], E = r->v->dim;
    for (int i = 0; !code && i < o->nterms;) {
        int n = 0;
        for (; !code && i < o->nterms && n < CLI_TEXT_BATCH; i++)
            if (!o->terms[i].image && !(code = cli_texts_add(&m, o->terms[i].s, i + 1)))
                idx[n++] = i;
        code = code ? code : n ? cli_texts_run(&m) : 0;
        m.n = 0;
        for (int k = 0; !code && k < n; k++)
            code = add_term(r, o, m.vec + (size_t)k * E, o->terms[idx[k]].weight, o->terms[idx[k]].s);
    }
    cli_texts_close(&m);
    return code;
}

/* The image terms, preprocessed as the index's photos were. */
static int add_images(struct search_run *r, const struct search_opts *o)
{
    char err[ERR_LEN];
    struct image_opts base = CLI_IMAGE_DEFAULTS;
    cli_image_opts_of_index(&r->have, &base);
    struct image_opts io = cli_image_opts_for(r->w, &base);
    struct vit *vit = NULL;
    float *px = malloc(3 * (size_t)io.resolution * io.resolution * sizeof *px), *vec = malloc((size_t)r->v->dim * 4);
    int code = px && vec ? 0 : cli_fail(EXIT_FAILED, "out of memory");
    for (int i = 0; !code && i < o->nterms; i++) {
        if (!o->terms[i].image)
            continue;
        if (!vit && !(vit = vit_open(r->w, 1, cli_cores(), err)))
            code = cli_fail(EXIT_FAILED, "%s", err);
        else if (pipeline_load(o->terms[i].s, &io, px, err) < 0)
            code = cli_fail(EXIT_FAILED, "%s: %s", o->terms[i].s, err);
        else {
            vit_encode(vit, px, 1, vec);
            r->self[i] = realpath(o->terms[i].s, NULL);
            code = add_term(r, o, vec, o->terms[i].weight, o->terms[i].s);
        }
    }
    vit_close(vit);
    free(px);
    free(vec);
    return code;
}

/* The query: the weighted sum of the terms' unit vectors, made a unit vector. */
static int make_query(struct search_run *r, const struct search_opts *o)
{
    int code = add_texts(r, o);
    if (!code)
        code = add_images(r, o);
    if (!code && search_unit(r->q, r->v->dim) < 0)
        code = cli_fail(EXIT_FAILED, "the terms cancel out: the query has no direction");
    return code;
}

/* Does the photo of row at path pass the filters: of the dates asked,
 * under one of the --under folders, not one of the image terms? */
static int wanted(const struct search_run *r, const struct search_opts *o, const char *path, size_t row)
{
    if (r->dates && (r->dates[row] == INDEX_NO_DATE || r->dates[row] < o->after || r->dates[row] >= o->before))
        return 0;
    int under = !o->nunder;
    for (int i = 0; !under && i < o->nunder; i++) {
        size_t n = strlen(o->under[i]);
        under = !strncmp(path, o->under[i], n) && (path[n] == '/' || (n == 1 && path[0] == '/'));
    }
    if (!under)
        return 0;
    for (int i = 0; i < o->nterms; i++)
        if (r->self[i]) {
            char *real = realpath(path, NULL);
            int same = real && !strcmp(real, r->self[i]);
            free(real);
            if (same || !strcmp(path, o->terms[i].s))
                return 0;
        }
    return 1;
}

/* A result kept: its score and path (malloc'd). */
struct result {
    float score;
    char *path;
};

static int print_results(struct search_run *r, const struct search_opts *o, const struct result *res, size_t n)
{
    char err[ERR_LEN];
    if (o->csv)
        printf("rank,score,path\n");
    for (size_t i = 0; i < n; i++) {
        if (o->csv) {
            printf("%zu,%.6f,", i + 1, res[i].score);
            cli_csv_field(res[i].path);
            putchar('\n');
            continue;
        }
        if (!o->paths)
            printf("%.6f\t", res[i].score);
        cli_print_name(res[i].path, o->delim);
        char *art = r->pv ? preview_render(r->pv, res[i].path, err) : NULL;
        if (r->pv)
            art ? fputs(art, stdout) : printf("  (no preview: %s)\n", err);
        free(art);
    }
    return 0;
}

/* The best k rows that pass the filters, into res (n of them): the best m
 * rows are scanned in order, and m made larger while too few passed and
 * more rows remain. */
static int search_best(struct search_run *r, const struct search_opts *o, struct result *res, size_t *n)
{
    char err[ERR_LEN];
    size_t m = o->k + 16 < r->v->rows ? o->k + 16 : r->v->rows;
    for (;;) {
        size_t got, seen = 0;
        struct search_hit *best = search_top_k(&r->v, 1, r->q, m, cli_cores(), &got, err);
        if (!best)
            return cli_fail(EXIT_FAILED, "%s: %s", o->index, err);
        int code = 0;
        for (; !code && seen < got && *n < o->k && best[seen].score >= o->min_score; seen++) {
            char *path = index_path_of(r->ix, best[seen].row, err);
            if (!path)
                code = cli_fail(EXIT_FAILED, "%s", err);
            else if (wanted(r, o, path, best[seen].row))
                res[(*n)++] = (struct result){best[seen].score, path}, path = NULL;
            free(path);
        }
        int more = !code && *n < o->k && seen == got && got < r->v->rows;
        free(best);
        if (!more)
            return code;
        while (*n)
            free(res[--*n].path);
        m = m * 4 < r->v->rows ? m * 4 : r->v->rows;
    }
}

static int search_print(struct search_run *r, const struct search_opts *o)
{
    size_t n = 0, cap = o->k < r->v->rows ? o->k : r->v->rows;
    struct result *res = calloc(cap ? cap : 1, sizeof *res);
    int code = res ? search_best(r, o, res, &n) : cli_fail(EXIT_FAILED, "out of memory");
    if (!code)
        code = print_results(r, o, res, n);
    for (size_t i = 0; res && i < n; i++)
        free(res[i].path);
    free(res);
    return code;
}

int cmd_search(int argc, char **argv)
{
    struct search_opts o;
    struct search_run r = {0};
    int code = parse_search(argc, argv, &o);
    if (!code)
        code = search_open(&r, &o);
    if (!code)
        code = make_query(&r, &o);
    if (!code)
        code = search_print(&r, &o);
    search_close(&r, &o);
    search_opts_free(&o);
    return code;
}
