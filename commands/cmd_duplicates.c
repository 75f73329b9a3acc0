/* cmd_duplicates.c - clippie duplicates: groups of near-duplicate photos in
 * the index, biggest first. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "dupes.h"

#define DEFAULT_THRESHOLD 0.95

const char cmd_duplicates_help[] =
    "usage: clippie duplicates [--index FILE] [--threshold T] [-0]\n"
    "\n"
    "Prints the groups of photos in the index whose vectors have a cosine of T\n"
    "or more (default 0.95): each group's paths on consecutive lines, groups\n"
    "separated by an empty line, biggest groups first. Photos join a group\n"
    "through any of its members, so a burst of similar shots is one group.\n"
    "Byte-identical copies always group (their vectors are the same).\n"
    "\n"
    "The default, 0.95, is meant for copies of one photo: resized, re-encoded\n"
    "or lightly edited copies score above it with CLIP models, different shots\n"
    "of one scene mostly below. Lower T (0.9) finds bursts and retakes too;\n"
    "T 0.99 only near-exact copies.\n"
    "\n"
    "  --index FILE     the index (default: $CLIPPIE_INDEX, else\n"
    "                   $XDG_DATA_HOME/clippie/photos.clippie)\n"
    "  --threshold T    the cosine (0 < T <= 1) at or above which photos group\n"
    "  -0, --null       end each path with NUL, and each group with an empty one\n"
    "\n"
    "Every pair is compared, on every core: 100,000 photos take well under a\n"
    "minute.\n"
    "\n" EXIT_CODES;

struct dup_opts {
    const char *index;
    double threshold;
    char delim;
};

static int parse_duplicates(int argc, char **argv, struct dup_opts *o)
{
    static const struct option opts[] = {CLI_NULL_OPT, {"index", required_argument, 0, 'I'},
                                         {"threshold", required_argument, 0, 't'}, {0, 0, 0, 0}};
    int c;
    char *end;
    *o = (struct dup_opts){.index = cli_default_index(), .threshold = DEFAULT_THRESHOLD, .delim = '\n'};
    cli_options_reset();
    while ((c = getopt_long(argc, argv, ":0", opts, NULL)) != -1) {
        switch (c) {
        case '0': o->delim = 0; break;
        case 'I': o->index = optarg; break;
        case 't':
            o->threshold = strtod(optarg, &end);
            if (end == optarg || *end || !(o->threshold > 0 && o->threshold <= 1))
                return cli_usage("duplicates", "--threshold takes a cosine over 0 and at most 1, not '%s'", optarg);
            break;
        default: return cli_bad_option("duplicates", c, argv);
        }
    }
    if (optind < argc)
        return cli_usage("duplicates", "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* A group: its first row (its name in root[]) and size. */
struct group {
    size_t root, size;
};

static int by_size(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    return x->size != y->size ? (x->size < y->size ? 1 : -1) : (x->root > y->root) - (x->root < y->root);
}

/* The groups of two or more rows, biggest first, then by first row. */
static struct group *groups_of(const size_t *root, size_t rows, size_t *n)
{
    size_t *size = calloc(rows ? rows : 1, sizeof *size);
    struct group *g = size ? malloc((rows ? rows : 1) * sizeof *g) : NULL;
    *n = 0;
    if (g) {
        for (size_t i = 0; i < rows; i++)
            size[root[i]]++;
        for (size_t i = 0; i < rows; i++)
            if (size[i] > 1)
                g[(*n)++] = (struct group){i, size[i]};
        qsort(g, *n, sizeof *g, by_size);
    }
    free(size);
    return g;
}

static int print_groups(struct index *ix, const size_t *root, size_t rows, char delim)
{
    char err[ERR_LEN];
    size_t n;
    struct group *g = groups_of(root, rows, &n);
    int code = g ? 0 : cli_fail(EXIT_FAILED, "out of memory");
    for (size_t k = 0; !code && k < n; k++) {
        if (k)
            putchar(delim);
        for (size_t i = g[k].root; !code && i < rows; i++) {
            if (root[i] != g[k].root)
                continue;
            char *path = index_path_of(ix, i, err);
            if (!path)
                code = cli_fail(EXIT_FAILED, "%s", err);
            else
                cli_print_name(path, delim);
            free(path);
        }
    }
    free(g);
    return code;
}

int cmd_duplicates(int argc, char **argv)
{
    struct dup_opts o;
    struct index *ix = NULL;
    const struct vecfile *v = NULL;
    size_t *root = NULL;
    char err[ERR_LEN];
    int code = parse_duplicates(argc, argv, &o);
    if (!code && access(o.index, F_OK) != 0)
        code = cli_fail(EXIT_FAILED, "%s: no index there: make one with 'clippie index FOLDER' (man clippie)", o.index);
    if (!code && (!(ix = index_open(o.index, INDEX_READ, err)) || !(v = index_vectors(ix, err))))
        code = cli_fail(EXIT_FAILED, "%s", err);
    if (!code && dupes_find(v, (float)o.threshold, &root, err) < 0)
        code = cli_fail(EXIT_FAILED, "%s: %s", o.index, err);
    if (!code)
        code = print_groups(ix, root, v->rows, o.delim);
    free(root);
    index_close(ix);
    return code;
}
