/* clippie - OpenAI's CLIP on the CPU, from the shell.
 *
 * Only this file prints to stdout, chooses exit codes and exits; the modules
 * return errors as strings. One function per subcommand, listed in cmds[].
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "convert.h"
#include "image.h"
#include "textenc.h"
#include "tokenizer.h"
#include "util.h"
#include "vecfile.h"
#include "vit.h"
#include "weights.h"

enum { EXIT_ALL_DONE = 0, EXIT_SKIPPED = 1, EXIT_USAGE = 2, EXIT_FAILED = 3 };

#define EXIT_CODES                                                                                                   \
    "exit status: 0 all done, 1 some inputs were skipped, 2 usage error,\n"                                            \
    "3 failed (bad model or checkpoint, I/O error)\n"

static const char *prog = "clippie";

/* OpenBLAS starts its worker threads when it loads, and they spin for a
 * while (about 0.1 s) waiting for work, taking a core from whatever runs
 * instead. Commands that do no matrix products send them away; OpenBLAS
 * starts them again if a product comes after all. Absent from other BLAS
 * libraries, hence weak. */
extern void blas_thread_shutdown_(void) __attribute__((weak));

static void idle_blas_threads(void)
{
    if (blas_thread_shutdown_)
        blas_thread_shutdown_();
}

/* Decoding threads, model lanes and scan threads all default to this. */
static int cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s %s: ", prog, cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nsee '%s %s --help'\n", prog, cmd);
    va_end(ap);
    return EXIT_USAGE;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    }
    return 0;
}

static const char convert_help[] =
    "usage: clippie convert [--activation quick_gelu|gelu] CHECKPOINT.pt OUTPUT.weights\n"
    "\n"
    "Converts a PyTorch CLIP ViT checkpoint into clippie's memory-mapped weights\n"
    "file. CHECKPOINT is OpenAI's released TorchScript file (ViT-B-32.pt, ...) or\n"
    "an OpenCLIP-style torch.save state_dict (float32, float16 or bfloat16).\n"
    "No Python is involved and the checkpoint's pickle runs no code.\n"
    "\n"
    "  --activation A   quick_gelu (OpenAI weights, the default) or gelu (LAION\n"
    "                   OpenCLIP weights trained with exact GELU)\n"
    "\n"
    "OUTPUT appears only when the conversion succeeded.\n" EXIT_CODES;

static int cmd_convert(int argc, char **argv)
{
    enum weights_activation act = WEIGHTS_QUICK_GELU;
    static const struct option opts[] = {{"activation", required_argument, 0, 'a'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "+a:", opts, NULL)) != -1) {
        if (c != 'a')
            return usage_error("convert", "unknown option");
        if (!strcmp(optarg, "gelu"))
            act = WEIGHTS_GELU;
        else if (!strcmp(optarg, "quick_gelu"))
            act = WEIGHTS_QUICK_GELU;
        else
            return usage_error("convert", "--activation takes quick_gelu or gelu, not '%s'", optarg);
    }
    if (argc - optind != 2)
        return usage_error("convert", "needs a checkpoint and an output path");
    idle_blas_threads();
    char err[ERR_LEN];
    struct convert_info info;
    if (convert_checkpoint(argv[optind], argv[optind + 1], act, &info, err) < 0)
        return fail(EXIT_FAILED, "convert: %s", err);
    const struct weights_config *k = &info.cfg;
    char shape[160];
    if (info.shape)
        snprintf(shape, sizeof shape, "%s-shaped", info.shape);
    else
        snprintf(shape, sizeof shape, "ViT (image %ux%u, width %u, %u layers, patch %u; text width %u, %u layers)",
                 k->vision_grid * k->vision_patch, k->vision_grid * k->vision_patch, k->vision_width,
                 k->vision_layers, k->vision_patch, k->text_width, k->text_layers);
    fprintf(stderr,
            "%s: %s%s%s, embedding %u, context %u, vocabulary %u, %.1fM parameters "
            "(tensors: %zu float32, %zu float16, %zu bfloat16), %s -> %s\n",
            argv[optind], shape, info.release ? ", OpenAI's released " : "", info.release ? info.release : "",
            k->embed_dim, k->context_length, k->vocab_size, (double)info.params / 1e6, info.tensors[0],
            info.tensors[1], info.tensors[2], k->activation == WEIGHTS_GELU ? "gelu" : "quick_gelu",
            argv[optind + 1]);
    return EXIT_ALL_DONE;
}


/* ---- shared by the embedding commands ---- */

#define TEXT_BATCH 256      /* texts tokenized and handed to the encoder at a time */
#define TEXT_FULL_LENGTH 32 /* full-length texts the encoder's scratch holds */
#define MAX_FILE_BYTES (1ull << 30)

static const char model_help[] =
    "  -m MODEL         weights file made by 'clippie convert' (default: $CLIPPIE_MODEL,\n"
    "                   else ~/.cache/clippie/ViT-B-32.weights)\n";

/* The model named by -m, $CLIPPIE_MODEL or the default path; NULL after
 * saying why. */
static struct weights *open_model(const char *path)
{
    static char fallback[4096];
    char err[ERR_LEN];
    if (!path)
        path = getenv("CLIPPIE_MODEL");
    if (!path || !*path) {
        const char *home = getenv("HOME");
        snprintf(fallback, sizeof fallback, "%s/.cache/clippie/ViT-B-32.weights", home ? home : ".");
        path = fallback;
        if (access(path, F_OK) != 0) {
            fail(EXIT_FAILED,
                 "no model: give -m MODEL.weights or set CLIPPIE_MODEL; make one with\n"
                 "  clippie convert ViT-B-32.pt %s\n(the README says where to download ViT-B-32.pt)",
                 path);
            return NULL;
        }
    }
    struct weights *w = weights_open(path, err);
    if (!w)
        fail(EXIT_FAILED, "%s", err);
    return w;
}

enum format { FMT_RAW, FMT_CSV, FMT_NPY };

static int parse_format(const char *cmd, const char *s, enum format *f)
{
    if (!strcmp(s, "raw"))
        *f = FMT_RAW;
    else if (!strcmp(s, "csv"))
        *f = FMT_CSV;
    else if (!strcmp(s, "npy"))
        *f = FMT_NPY;
    else
        return usage_error(cmd, "-f takes raw, csv or npy, not '%s'", s);
    return 0;
}

/* Vectors to stdout. An .npy header needs the row count: to a regular file
 * it is patched at the end, to a pipe the rows wait in memory. */
struct out {
    enum format fmt;
    int dim, normalize;
    size_t rows;
    int patch;       /* npy header rewritten in place at the end */
    float *held;     /* npy rows held for a pipe */
    size_t cap;
};

#define NPY_HEADER 128

static void npy_header(char *h, size_t rows, int dim)
{
    /* magic, version 1.0, header length, then the dict padded with spaces */
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    h[8] = (char)(NPY_HEADER - 10);
    h[9] = 0;
    int n = snprintf(h + 10, NPY_HEADER - 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }", rows,
                     dim);
    memset(h + 10 + n, ' ', NPY_HEADER - 11 - (size_t)n);
    h[NPY_HEADER - 1] = '\n';
}

static int out_open(struct out *o, const char *cmd, enum format fmt, int dim, int normalize)
{
    *o = (struct out){.fmt = fmt, .dim = dim, .normalize = normalize};
    if (fmt != FMT_CSV && isatty(STDOUT_FILENO))
        return usage_error(cmd, "will not write binary vectors to a terminal: redirect stdout to a file or pipe, "
                                "or use -f csv");
    if (fmt == FMT_NPY) {
        int fl = fcntl(STDOUT_FILENO, F_GETFL);
        struct stat st;
        o->patch = fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && fl >= 0 && !(fl & O_APPEND) &&
                   lseek(STDOUT_FILENO, 0, SEEK_CUR) == 0;
        if (o->patch) {
            char h[NPY_HEADER];
            npy_header(h, 0, dim);
            fwrite(h, 1, sizeof h, stdout);
        }
    }
    return 0;
}

static void l2_normalize(float *v, int n)
{
    double s = 0;
    for (int k = 0; k < n; k++)
        s += (double)v[k] * v[k];
    float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
    for (int k = 0; k < n; k++)
        v[k] *= inv;
}

static int out_row(struct out *o, float *v)
{
    if (o->normalize)
        l2_normalize(v, o->dim);
    o->rows++;
    if (o->fmt == FMT_CSV) {
        for (int k = 0; k < o->dim; k++)
            printf("%s%.9g", k ? "," : "", v[k]);
        putchar('\n');
    } else if (o->fmt == FMT_NPY && !o->patch) {
        if (o->rows > o->cap) {
            size_t cap = o->cap ? 2 * o->cap : 1024;
            float *h = realloc(o->held, cap * o->dim * sizeof *h);
            if (!h)
                return fail(EXIT_FAILED, "out of memory holding vectors for the .npy header");
            o->held = h;
            o->cap = cap;
        }
        memcpy(o->held + (o->rows - 1) * o->dim, v, (size_t)o->dim * sizeof *v);
    } else
        fwrite(v, sizeof *v, (size_t)o->dim, stdout);
    return 0;
}

static int out_close(struct out *o)
{
    char h[NPY_HEADER];
    if (o->fmt == FMT_NPY) {
        npy_header(h, o->rows, o->dim);
        if (o->patch) {
            fflush(stdout);
            if (pwrite(STDOUT_FILENO, h, sizeof h, 0) != (ssize_t)sizeof h)
                return fail(EXIT_FAILED, "cannot write the .npy header: %s", strerror(errno));
        } else {
            fwrite(h, 1, sizeof h, stdout);
            fwrite(o->held, sizeof(float), o->rows * o->dim, stdout);
        }
    }
    free(o->held);
    if (fflush(stdout) != 0 || ferror(stdout))
        return fail(EXIT_FAILED, "cannot write the vectors: %s", strerror(errno));
    return 0;
}

/* Inputs: the arguments, else stdin split at newlines (or NULs with -0). */
struct inputs {
    char **argv;
    int argc, next;
    char delim;
    char *line;
    size_t cap;
};

static const char *next_input(struct inputs *in)
{
    if (in->argc)
        return in->next < in->argc ? in->argv[in->next++] : NULL;
    ssize_t n = getdelim(&in->line, &in->cap, in->delim, stdin);
    if (n < 0)
        return NULL;
    if (n > 0 && in->line[n - 1] == in->delim)
        in->line[n - 1] = 0;
    in->next++;
    return in->line;
}

/* ---- tokenize ---- */

static const char tokenize_help[] =
    "usage: clippie tokenize [-0] [TEXT...]\n"
    "\n"
    "Prints CLIP's token ids for each TEXT (or each line of standard input) on\n"
    "a line of its own: 49406 (start), the text's ids, 49407 (end), with no\n"
    "padding and no truncation. Invalid UTF-8 becomes U+FFFD, with a warning.\n"
    "\n"
    "  -0               standard input holds NUL-separated texts\n"
    "\n" EXIT_CODES;

/* One line of ids; printf per id would cost more than tokenizing. */
static void print_ids(const int32_t *ids, int n)
{
    char buf[16];
    for (int k = 0; k < n; k++) {
        int len = 0;
        for (uint32_t v = (uint32_t)ids[k]; len == 0 || v; v /= 10)
            buf[15 - len++] = (char)('0' + v % 10);
        if (k)
            putchar(' ');
        fwrite(buf + 16 - len, 1, (size_t)len, stdout);
    }
    putchar('\n');
}

static int cmd_tokenize(int argc, char **argv)
{
    struct inputs in = {.delim = '\n'};
    int c;
    while ((c = getopt(argc, argv, "+0")) != -1) {
        if (c != '0')
            return usage_error("tokenize", "unknown option");
        in.delim = 0;
    }
    in.argv = argv + optind;
    in.argc = argc - optind;
    idle_blas_threads();
    char err[ERR_LEN];
    struct tokenizer *t = tokenizer_open(err);
    if (!t)
        return fail(EXIT_FAILED, "%s", err);
    int code = EXIT_ALL_DONE;
    for (const char *text; (text = next_input(&in));) {
        int32_t *ids;
        size_t replaced;
        int n = tokenizer_encode(t, text, strlen(text), &ids, &replaced, err);
        if (n < 0) {
            fail(0, "text %d: %s", in.next, err);
            putchar('\n');
            code = EXIT_SKIPPED;
            continue;
        }
        if (replaced)
            fprintf(stderr, "%s: warning: text %d: %zu invalid UTF-8 sequences read as U+FFFD\n", prog, in.next,
                    replaced);
        print_ids(ids, n);
        free(ids);
    }
    free(in.line);
    tokenizer_close(t);
    if (fflush(stdout) != 0)
        return fail(EXIT_FAILED, "cannot write: %s", strerror(errno));
    return code;
}

/* ---- embed-text ---- */

struct text_model {
    struct weights *w;
    struct tokenizer *tok;
    struct textenc *enc;
    int32_t *ids[TEXT_BATCH];
    int lens[TEXT_BATCH];
};

static int text_model_open(struct text_model *m, struct weights *w)
{
    char err[ERR_LEN];
    *m = (struct text_model){.w = w};
    /* a few texts' products leave the BLAS out (transformer.c), and its
     * spinning threads would take a core from them; OpenBLAS starts its
     * threads again when a batch of texts needs them */
    idle_blas_threads();
    if (!(m->tok = tokenizer_open(err)) || !(m->enc = textenc_open(w, TEXT_FULL_LENGTH, cores(), err))) {
        tokenizer_close(m->tok);
        return fail(EXIT_FAILED, "%s", err);
    }
    return 0;
}

static void text_model_close(struct text_model *m)
{
    tokenizer_close(m->tok);
    textenc_close(m->enc);
}

/* Tokenizes text number `index` into slot k, cutting it to the context
 * length with a warning. */
static int text_model_add(struct text_model *m, int k, const char *text, int index)
{
    char err[ERR_LEN];
    size_t replaced, len = strlen(text);
    /* only the first 77 tokens count: a text over the tokenizer's limit is
     * read up to a space within it, and is then cut below like any other */
    if (len > TOKENIZER_MAX_BYTES) {
        len = TOKENIZER_MAX_BYTES;
        while (len > 0 && text[len] != ' ')
            len--;
        len = len ? len : TOKENIZER_MAX_BYTES;
    }
    int n = tokenizer_encode(m->tok, text, len, &m->ids[k], &replaced, err);
    if (n < 0)
        return fail(EXIT_FAILED, "text %d: %s", index, err);
    if (replaced)
        fprintf(stderr, "%s: warning: text %d: %zu invalid UTF-8 sequences read as U+FFFD\n", prog, index, replaced);
    int C = (int)m->w->cfg.context_length;
    if (n > C) {
        fprintf(stderr, "%s: warning: text %d (\"%.40s%s\") has %d tokens, cut to the model's %d\n", prog, index,
                text, strlen(text) > 40 ? "..." : "", n, C);
        m->ids[k][C - 1] = TOKENIZER_EOT;
        n = C;
    }
    m->lens[k] = n;
    return 0;
}

/* Encodes the n texts added, freeing their ids; out [n, E]. */
static int text_model_run(struct text_model *m, int n, float *out)
{
    char err[ERR_LEN];
    int rc = textenc_encode(m->enc, (const int32_t *const *)m->ids, m->lens, n, out, err);
    for (int k = 0; k < n; k++) {
        free(m->ids[k]);
        m->ids[k] = NULL;
    }
    return rc < 0 ? fail(EXIT_FAILED, "%s", err) : 0;
}

static const char embed_text_help[] =
    "usage: clippie embed-text [-m MODEL] [-f raw|csv|npy] [-n] [-0] [TEXT...]\n"
    "\n"
    "Writes one embedding vector per TEXT (or per line of standard input) to\n"
    "standard output, in input order: what CLIP's encode_text returns.\n"
    "\n"
    "%s"
    "  -f FORMAT        raw: little-endian float32 rows (the default);\n"
    "                   csv: one line of comma-separated numbers per text;\n"
    "                   npy: a NumPy .npy array of shape (texts, dim)\n"
    "  -n, --normalize  write unit vectors\n"
    "  -0               standard input holds NUL-separated texts\n"
    "\n"
    "Texts longer than the model's context (77 tokens) are cut, with a warning.\n"
    "raw and npy are not written to a terminal.\n"
    "\n" EXIT_CODES;

static const struct option embed_opts[] = {
    {"model", required_argument, 0, 'm'},  {"format", required_argument, 0, 'f'},
    {"normalize", no_argument, 0, 'n'},     {"names", required_argument, 0, 'N'},
    {"jobs", required_argument, 0, 'j'},    {"no-exif-orientation", no_argument, 0, 'E'},
    {"max-pixels", required_argument, 0, 'P'}, {"draft", no_argument, 0, 'D'}, {0, 0, 0, 0},
};

static int cmd_embed_text(int argc, char **argv)
{
    const char *model = NULL;
    enum format fmt = FMT_RAW;
    int normalize = 0, c;
    struct inputs in = {.delim = '\n'};
    while ((c = getopt_long(argc, argv, "+m:f:n0", embed_opts, NULL)) != -1) {
        if (c == 'm')
            model = optarg;
        else if (c == 'f') {
            if (parse_format("embed-text", optarg, &fmt))
                return EXIT_USAGE;
        } else if (c == 'n')
            normalize = 1;
        else if (c == '0')
            in.delim = 0;
        else
            return usage_error("embed-text", "unknown option");
    }
    in.argv = argv + optind;
    in.argc = argc - optind;
    int code;
    struct weights *w = open_model(model);
    if (!w)
        return EXIT_FAILED;
    struct text_model m;
    struct out o;
    int E = (int)w->cfg.embed_dim;
    float *vec = malloc((size_t)TEXT_BATCH * E * sizeof *vec);
    if (!vec || text_model_open(&m, w)) {
        weights_close(w);
        free(vec);
        return EXIT_FAILED;
    }
    code = out_open(&o, "embed-text", fmt, E, normalize);
    int n = 0;
    for (const char *text; !code && (text = next_input(&in));) {
        if ((code = text_model_add(&m, n, text, in.next)))
            break;
        if (++n == TEXT_BATCH) {
            code = text_model_run(&m, n, vec);
            for (int k = 0; !code && k < n; k++)
                code = out_row(&o, vec + (size_t)k * E);
            n = 0;
        }
    }
    if (!code && n) {
        code = text_model_run(&m, n, vec);
        for (int k = 0; !code && k < n; k++)
            code = out_row(&o, vec + (size_t)k * E);
    }
    if (!code)
        code = out_close(&o);
    free(in.line);
    free(vec);
    text_model_close(&m);
    weights_close(w);
    return code;
}

/* ---- embed-image ---- */

struct paths {
    char **v;
    size_t n, cap;
};

static int add_path(struct paths *p, const char *s)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        char **v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return -1;
        p->v = v;
        p->cap = cap;
    }
    return (p->v[p->n] = strdup(s)) ? (int)(p->n++, 0) : -1;
}

static int is_image_name(const char *name)
{
    static const char *const ext[] = {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".tga",
                                      ".pnm", ".ppm", ".pgm", ".pbm", ".jfif"};
    const char *dot = strrchr(name, '.');
    for (size_t k = 0; dot && k < sizeof ext / sizeof ext[0]; k++)
        if (!strcasecmp(dot, ext[k]))
            return 1;
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static int skip_hidden(const struct dirent *d) { return d->d_name[0] != '.'; }

/* Adds the image files under dir, sorted, skipping hidden entries and files
 * that are not named like images. Unreadable folders are reported. Links to
 * files are followed, links to folders are not: a link back up the tree
 * would never end. */
static int walk_dir(struct paths *p, const char *dir, int *skipped)
{
    struct dirent **list;
    int n = scandir(dir, &list, skip_hidden, by_name);
    if (n < 0) {
        fail(0, "%s: %s", dir, strerror(errno));
        (*skipped)++;
        return 0;
    }
    int rc = 0;
    for (int k = 0; k < n; k++) {
        char path[4096];
        int len = snprintf(path, sizeof path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
                           list[k]->d_name);
        struct stat st, link;
        if (len >= (int)sizeof path) {
            fail(0, "%s/%s: path too long, skipped", dir, list[k]->d_name);
            (*skipped)++;
        } else if (!rc && lstat(path, &link) == 0 && stat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode) && !S_ISLNK(link.st_mode))
                rc = walk_dir(p, path, skipped);
            else if (S_ISREG(st.st_mode) && is_image_name(path))
                rc = add_path(p, path);
        }
        free(list[k]);
    }
    free(list);
    return rc;
}

/* One batch of images being preprocessed by worker threads. */
struct batch {
    char **paths;
    size_t n;
    float *pixels;             /* [n, 3, R, R] */
    char (*errs)[ERR_LEN];     /* "" where the image is fine */
    struct image_opts opts;
    size_t next;               /* next image to take, shared */
    pthread_mutex_t lock;
    pthread_t threads[64];
    int nthreads;
};

static int read_file(const char *path, unsigned char **buf, size_t *len, char *err)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) < 0) {
        error(err, "%s", strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_FILE_BYTES) {
        fclose(f);
        return error(err, S_ISREG(st.st_mode) ? "file larger than 1 GiB" : "not a regular file");
    }
    *len = (size_t)st.st_size;
    *buf = malloc(*len ? *len : 1);
    if (!*buf || fread(*buf, 1, *len, f) != *len) {
        fclose(f);
        free(*buf);
        return error(err, "read failed: %s", *buf ? strerror(errno) : "out of memory");
    }
    fclose(f);
    return 0;
}

static void *prep_worker(void *arg)
{
    struct batch *b = arg;
    size_t R = (size_t)b->opts.resolution;
    for (;;) {
        pthread_mutex_lock(&b->lock);
        size_t i = b->next++;
        pthread_mutex_unlock(&b->lock);
        if (i >= b->n)
            return NULL;
        unsigned char *buf = NULL;
        size_t len = 0;
        b->errs[i][0] = 0;
        if (read_file(b->paths[i], &buf, &len, b->errs[i]) == 0) {
            image_preprocess(buf, len, &b->opts, b->pixels + i * 3 * R * R, b->errs[i]);
            free(buf);
        }
    }
}

static void batch_start(struct batch *b, char **paths, size_t n, int jobs)
{
    b->paths = paths;
    b->n = n;
    b->next = 0;
    b->nthreads = 0;
    for (int t = 0; t < jobs && t < 64 && (size_t)t < n; t++)
        if (pthread_create(&b->threads[b->nthreads], NULL, prep_worker, b) == 0)
            b->nthreads++;
    if (!b->nthreads) /* no threads to be had: do the work here */
        prep_worker(b);
}

static void batch_wait(struct batch *b)
{
    for (int t = 0; t < b->nthreads; t++)
        pthread_join(b->threads[t], NULL);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void progress(size_t done, size_t total, double start, int last)
{
    double el = now() - start, rate = el > 0 ? done / el : 0, left = rate > 0 ? (total - done) / rate : 0;
    fprintf(stderr, "\r%zu/%zu images, %.1f/s, %02d:%02d left ", done, total, rate, (int)left / 60, (int)left % 60);
    if (last)
        fputc('\n', stderr);
}

static const char embed_image_help[] =
    "usage: clippie embed-image [-m MODEL] [-f raw|csv|npy] [-n] [--names FILE] [-j N] [PATH...]\n"
    "\n"
    "Writes one embedding vector per image to standard output: what CLIP's\n"
    "encode_image returns after its published preprocessing. PATHs are image\n"
    "files or folders, walked recursively in sorted order (hidden entries and\n"
    "files not named like images are passed over). Without PATHs, paths come\n"
    "from standard input, one per line.\n"
    "\n"
    "%s"
    "  -f FORMAT        raw (default), csv or npy, as for embed-text\n"
    "  -n, --normalize  write unit vectors\n"
    "  --names FILE     write the path of each output row to FILE, one per line\n"
    "  -j, --jobs N     decode and resize with N threads (default: the cores)\n"
    "  --no-exif-orientation\n"
    "                   ignore JPEG EXIF orientation, as the published pipeline\n"
    "                   does (by default photos are turned upright first)\n"
    "  --max-pixels N   refuse images of more than N pixels (default 100000000)\n"
    "  --draft          decode large JPEGs at 1/2, 1/4 or 1/8 size in the DCT\n"
    "                   domain (as Pillow's draft mode): several times faster on\n"
    "                   camera photos, but no longer the reference's exact pixels\n"
    "  -0               standard input holds NUL-separated paths\n"
    "\n"
    "A file that cannot be read or decoded is reported on stderr with the reason\n"
    "and skipped; the others are embedded, and the rows and --names stay aligned.\n"
    "Progress is shown on stderr when it is a terminal.\n"
    "\n" EXIT_CODES;

static int cmd_embed_image(int argc, char **argv)
{
    const char *model = NULL, *names_path = NULL;
    enum format fmt = FMT_RAW;
    int normalize = 0, c, jobs = cores(), exif = 1, draft = 0;
    unsigned long long max_pixels = IMAGE_MAX_PIXELS;
    char delim = '\n', *end;
    while ((c = getopt_long(argc, argv, "m:f:nj:0", embed_opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'f':
            if (parse_format("embed-image", optarg, &fmt))
                return EXIT_USAGE;
            break;
        case 'n': normalize = 1; break;
        case 'N': names_path = optarg; break;
        case 'j':
            jobs = (int)strtol(optarg, &end, 10);
            if (*end || jobs < 1 || jobs > 64)
                return usage_error("embed-image", "-j takes a number of threads from 1 to 64");
            break;
        case 'E': exif = 0; break;
        case 'D': draft = 1; break;
        case 'P':
            max_pixels = strtoull(optarg, &end, 10);
            if (*end || !max_pixels)
                return usage_error("embed-image", "--max-pixels takes a positive number");
            break;
        case '0': delim = 0; break;
        default: return usage_error("embed-image", "unknown option");
        }
    }
    jobs = jobs < 1 ? 1 : jobs;
    int skipped = 0, code;
    struct paths paths = {0};
    if (optind < argc) {
        for (int k = optind; k < argc; k++) {
            struct stat st;
            if (stat(argv[k], &st) == 0 && S_ISDIR(st.st_mode)) {
                if (walk_dir(&paths, argv[k], &skipped) < 0)
                    return fail(EXIT_FAILED, "out of memory listing %s", argv[k]);
            } else if (add_path(&paths, argv[k]) < 0)
                return fail(EXIT_FAILED, "out of memory");
        }
    } else {
        struct inputs in = {.delim = delim};
        for (const char *p; (p = next_input(&in));)
            if (*p && add_path(&paths, p) < 0)
                return fail(EXIT_FAILED, "out of memory");
        free(in.line);
    }
    struct weights *w = open_model(model);
    if (!w)
        return EXIT_FAILED;
    FILE *names = NULL;
    if (names_path && !(names = fopen(names_path, "w"))) {
        weights_close(w);
        return fail(EXIT_FAILED, "%s: %s", names_path, strerror(errno));
    }
    char err[ERR_LEN];
    int R = (int)(w->cfg.vision_grid * w->cfg.vision_patch), E = (int)w->cfg.embed_dim;
    size_t img = 3 * (size_t)R * R;
    idle_blas_threads(); /* the lanes run OpenBLAS single-threaded: its threads would only spin */
    size_t batch = (size_t)vit_batch(w, cores());
    struct vit *v = vit_open(w, (int)batch, cores(), err);
    struct batch b[2] = {0};
    float *in_model = malloc(batch * img * sizeof(float)), *vec = malloc(batch * (size_t)E * sizeof *vec);
    for (int k = 0; k < 2; k++) {
        b[k].pixels = malloc(batch * img * sizeof(float));
        b[k].errs = malloc(batch * sizeof *b[k].errs);
        b[k].opts = (struct image_opts){.resolution = R, .exif = exif, .max_pixels = max_pixels, .draft = draft};
        pthread_mutex_init(&b[k].lock, NULL);
    }
    struct out o;
    code = !v ? fail(EXIT_FAILED, "%s", err)
           : (!in_model || !vec || !b[0].pixels || !b[1].pixels || !b[0].errs || !b[1].errs)
               ? fail(EXIT_FAILED, "out of memory")
               : out_open(&o, "embed-image", fmt, E, normalize);
    int show = isatty(STDERR_FILENO);
    double start = now();
    size_t nb = (paths.n + batch - 1) / batch;
    if (!code && nb)
        batch_start(&b[0], paths.v, paths.n < batch ? paths.n : batch, jobs);
    for (size_t k = 0; !code && k < nb; k++) {
        struct batch *cur = &b[k % 2], *nxt = &b[(k + 1) % 2];
        batch_wait(cur);
        /* decode the next batch while the model runs on this one */
        if (k + 1 < nb) {
            size_t first = (k + 1) * batch;
            batch_start(nxt, paths.v + first, paths.n - first < batch ? paths.n - first : batch, jobs);
        }
        int good = 0;
        for (size_t i = 0; i < cur->n; i++) {
            if (cur->errs[i][0]) {
                fprintf(stderr, "%s%s: %s: %s, skipped\n", show ? "\n" : "", prog, cur->paths[i], cur->errs[i]);
                skipped++;
                continue;
            }
            memcpy(in_model + good++ * img, cur->pixels + i * img, img * sizeof(float));
        }
        vit_encode(v, in_model, good, vec);
        for (int i = 0, g = 0; !code && (size_t)i < cur->n; i++) {
            if (cur->errs[i][0])
                continue;
            code = out_row(&o, vec + (size_t)g++ * E);
            if (names)
                fprintf(names, "%s\n", cur->paths[i]);
        }
        if (show)
            progress(k * batch + cur->n, paths.n, start, k + 1 == nb);
    }
    if (code && nb) /* stopped early: let the workers finish before freeing */
        for (int k = 0; k < 2; k++)
            batch_wait(&b[k]);
    if (!code)
        code = out_close(&o);
    if (names && (fclose(names) != 0) && !code)
        code = fail(EXIT_FAILED, "%s: %s", names_path, strerror(errno));
    for (int k = 0; k < 2; k++) {
        free(b[k].pixels);
        free(b[k].errs);
        pthread_mutex_destroy(&b[k].lock);
    }
    for (size_t k = 0; k < paths.n; k++)
        free(paths.v[k]);
    free(paths.v);
    free(in_model);
    free(vec);
    vit_close(v);
    weights_close(w);
    if (!code && paths.n == 0)
        return fail(EXIT_SKIPPED, "no images found");
    return code ? code : skipped ? EXIT_SKIPPED : EXIT_ALL_DONE;
}

/* ---- similarity ---- */

/* Queries or candidates: their vectors (unit length) and labels. */
struct set {
    float *vec;     /* rows x dim, normalised, owned */
    char **labels;  /* owned */
    size_t rows, cap;
};

static int set_add(struct set *s, const float *v, int dim, const char *label)
{
    if (s->rows == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        float *nv = realloc(s->vec, cap * dim * sizeof *nv);
        char **nl = nv ? realloc(s->labels, cap * sizeof *nl) : NULL;
        if (nv)
            s->vec = nv;
        if (!nl)
            return fail(EXIT_FAILED, "out of memory");
        s->labels = nl;
        s->cap = cap;
    }
    float *d = s->vec + s->rows * dim;
    memcpy(d, v, (size_t)dim * sizeof *d);
    double n = 0;
    for (int k = 0; k < dim; k++)
        n += (double)d[k] * d[k];
    if (!isfinite(n) || n == 0)
        return fail(EXIT_FAILED, "%s: vector is %s", label, n == 0 ? "all zeros" : "not finite");
    l2_normalize(d, dim);
    if (!(s->labels[s->rows++] = strdup(label)))
        return fail(EXIT_FAILED, "out of memory");
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
    struct text_model m;
    int E = (int)w->cfg.embed_dim, code;
    float *vec = malloc((size_t)TEXT_BATCH * E * sizeof *vec);
    if (!vec)
        return fail(EXIT_FAILED, "out of memory");
    if ((code = text_model_open(&m, w))) {
        free(vec);
        return code;
    }
    for (int i = 0; !code && i < n; i += TEXT_BATCH) {
        int b = n - i < TEXT_BATCH ? n - i : TEXT_BATCH;
        for (int k = 0; !code && k < b; k++)
            code = text_model_add(&m, k, texts[i + k], i + k + 1);
        code = code ? code : text_model_run(&m, b, vec);
        for (int k = 0; !code && k < b; k++)
            code = set_add(s, vec + (size_t)k * E, E, texts[i + k]);
    }
    text_model_close(&m);
    free(vec);
    return code;
}

static int embed_image_set(struct weights *w, char **paths, int n, int exif, struct set *s)
{
    char err[ERR_LEN];
    int R = (int)(w->cfg.vision_grid * w->cfg.vision_patch), E = (int)w->cfg.embed_dim, code = 0;
    struct vit *v = vit_open(w, 1, 1, err);
    float *px = malloc(3 * (size_t)R * R * sizeof *px), *vec = malloc((size_t)E * sizeof *vec);
    if (!v || !px || !vec)
        code = fail(EXIT_FAILED, "%s", v ? "out of memory" : err);
    for (int i = 0; !code && i < n; i++) {
        unsigned char *buf;
        size_t len;
        struct image_opts o = {.resolution = R, .exif = exif, .max_pixels = IMAGE_MAX_PIXELS};
        if (read_file(paths[i], &buf, &len, err) < 0)
            code = fail(EXIT_FAILED, "%s: %s", paths[i], err);
        else {
            if (image_preprocess(buf, len, &o, px, err) < 0)
                code = fail(EXIT_FAILED, "%s: %s", paths[i], err);
            free(buf);
        }
        if (!code) {
            vit_encode(v, px, 1, vec);
            code = set_add(s, vec, E, paths[i]);
        }
    }
    vit_close(v);
    free(px);
    free(vec);
    return code;
}

static int read_names(const char *path, size_t rows, char ***out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(EXIT_FAILED, "%s: %s", path, strerror(errno));
    char **names = calloc(rows ? rows : 1, sizeof *names), *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    while (names && (len = getline(&line, &cap, f)) >= 0) {
        if (len && line[len - 1] == '\n')
            line[--len] = 0;
        if (n < rows && !(names[n] = strdup(line)))
            break;
        n++;
    }
    free(line);
    fclose(f);
    if (n != rows) {
        for (size_t k = 0; k < rows && names; k++)
            free(names[k]);
        free(names);
        return fail(EXIT_FAILED, "%s has %zu lines, the vectors %zu rows", path, n, rows);
    }
    *out = names;
    return 0;
}

static const char similarity_help[] =
    "usage: clippie similarity [-m MODEL] [-t TEXT]... [-i IMAGE]... [-q VECTORS]\n"
    "                          [--db VECTORS [--names FILE] [-k K]] [--csv] [--dim D]\n"
    "\n"
    "Cosine similarity between embeddings, made on the fly or read from files.\n"
    "\n"
    "Without --db: a one-off table of every -t TEXT (rows) against every\n"
    "-i IMAGE (columns); with texts only or images only, each against each.\n"
    "\n"
    "  clippie similarity -t 'a toddler' -t 'a lake' -i kid.jpg -i lake.jpg\n"
    "\n"
    "With --db: search. The queries (-t, -i and the rows of -q) are each ranked\n"
    "against the vectors of --db (from embed-image) and the best K printed as\n"
    "'score<TAB>name' lines, best first (with a third column naming the query\n"
    "when there are several).\n"
    "\n"
    "  clippie embed-image -f npy --names photos.txt ~/Photos > photos.npy\n"
    "  clippie similarity --db photos.npy --names photos.txt -t 'a dog' | head -3\n"
    "\n"
    "%s"
    "  -t TEXT          a text to embed\n"
    "  -i IMAGE         an image file to embed\n"
    "  -q VECTORS       query vectors: .npy, CSV or raw float32 ('-': stdin)\n"
    "  --db VECTORS     vectors to search (memory-mapped); '-' reads stdin\n"
    "  --names FILE     one name per --db row (default: row numbers from 1)\n"
    "  -k K             how many results per query (default 10)\n"
    "  --csv            print the whole similarity matrix as CSV\n"
    "  --dim D          dimension of raw float32 vector files (default: the\n"
    "                   model's embedding size, when a model is at hand)\n"
    "  --no-exif-orientation  as for embed-image\n"
    "\n"
    "Vectors are normalised before comparing. Ties keep input order.\n"
    "\n" EXIT_CODES;

static int cmd_similarity(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"text", required_argument, 0, 't'},
        {"image", required_argument, 0, 'i'}, {"query", required_argument, 0, 'q'},
        {"db", required_argument, 0, 'd'},    {"names", required_argument, 0, 'N'},
        {"csv", no_argument, 0, 'c'},         {"dim", required_argument, 0, 'D'},
        {"no-exif-orientation", no_argument, 0, 'E'}, {0, 0, 0, 0},
    };
    const char *model = NULL, *qpath = NULL, *dbpath = NULL, *names_path = NULL;
    char **texts = calloc((size_t)argc, sizeof *texts), **images = calloc((size_t)argc, sizeof *images), *end;
    int nt = 0, ni = 0, csv = 0, dim = 0, exif = 1, c, code = 0;
    long k = 10;
    struct weights *w = NULL;
    struct set q = {0}, cand = {0};
    struct vecfile *db = NULL, *qv = NULL;
    char **names = NULL, err[ERR_LEN];
    struct vecfile_hit *best = NULL;
    if (!texts || !images)
        return fail(EXIT_FAILED, "out of memory");
    while (!code && (c = getopt_long(argc, argv, "m:t:i:q:k:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 't': texts[nt++] = optarg; break;
        case 'i': images[ni++] = optarg; break;
        case 'q': qpath = optarg; break;
        case 'd': dbpath = optarg; break;
        case 'N': names_path = optarg; break;
        case 'c': csv = 1; break;
        case 'E': exif = 0; break;
        case 'k':
            k = strtol(optarg, &end, 10);
            if (*end || k < 1)
                code = usage_error("similarity", "-k takes a positive number");
            break;
        case 'D':
            dim = (int)strtol(optarg, &end, 10);
            if (*end || dim < 1)
                code = usage_error("similarity", "--dim takes a positive number");
            break;
        default: code = usage_error("similarity", "unknown option");
        }
    }
    if (!code && optind < argc)
        code = usage_error("similarity", "unexpected argument '%s' (texts go after -t, images after -i)", argv[optind]);
    if (!code && !nt && !ni && !qpath)
        code = usage_error("similarity", "nothing to compare: give -t, -i or -q");
    if (!code && !dbpath && qpath)
        code = usage_error("similarity", "-q needs --db to compare against");
    if (!code && names_path && !dbpath)
        code = usage_error("similarity", "--names goes with --db");
    if (!nt && !ni)
        idle_blas_threads(); /* comparing vectors from files needs no BLAS */
    if (!code && (nt || ni) && !(w = open_model(model))) {
        code = EXIT_FAILED;
        goto done;
    }
    if (!dim && w)
        dim = (int)w->cfg.embed_dim;
    if (!code && nt)
        code = embed_text_set(w, texts, nt, &q);
    /* one-off images are candidates when texts are the queries */
    struct set *iset = !dbpath && nt ? &cand : &q;
    if (!code && ni)
        code = embed_image_set(w, images, ni, exif, iset);
    if (!code && qpath) {
        if (!(qv = vecfile_open(qpath, dim, err)))
            code = fail(EXIT_FAILED, "%s", err);
        for (size_t r = 0; !code && qv && r < qv->rows; r++) {
            char label[64];
            snprintf(label, sizeof label, "%s:%zu", strcmp(qpath, "-") ? qpath : "stdin", r + 1);
            code = set_add(&q, qv->data + r * qv->dim, qv->dim, label);
        }
    }
    int D = qv ? qv->dim : w ? (int)w->cfg.embed_dim : dim;
    if (!code && !dbpath) {
        /* one-off: a table */
        struct set *cols = cand.rows ? &cand : &q;
        if (csv) {
            printf("query");
            for (size_t j = 0; j < cols->rows; j++)
                printf(",\"%s\"", cols->labels[j]);
            putchar('\n');
        } else {
            printf("%-32s", "");
            for (size_t j = 0; j < cols->rows; j++)
                printf(" %12.12s", cols->labels[j][0] && strrchr(cols->labels[j], '/') ? strrchr(cols->labels[j], '/') + 1
                                                                                        : cols->labels[j]);
            putchar('\n');
        }
        for (size_t i = 0; i < q.rows; i++) {
            printf(csv ? "\"%s\"" : "%-32.32s", q.labels[i]);
            for (size_t j = 0; j < cols->rows; j++)
                printf(csv ? ",%.6f" : " %12.4f", vecfile_cosine(cols->vec + j * D, q.vec + i * D, D));
            putchar('\n');
        }
        goto done;
    }
    if (!code && !(db = vecfile_open(dbpath, dim, err)))
        code = fail(EXIT_FAILED, "%s", err);
    if (!code && db->dim != D)
        code = fail(EXIT_FAILED, "%s holds vectors of dimension %d, the queries %d", dbpath, db->dim, D);
    if (!code && names_path)
        code = read_names(names_path, db->rows, &names);
    if (!code && csv) {
        printf("query");
        for (size_t r = 0; r < db->rows; r++)
            names ? printf(",\"%s\"", names[r]) : printf(",%zu", r + 1);
        putchar('\n');
        for (size_t i = 0; !code && i < q.rows; i++) {
            printf("\"%s\"", q.labels[i]);
            for (size_t r = 0; !code && r < db->rows; r++) {
                float s = vecfile_cosine(db->data + r * D, q.vec + i * D, D);
                if (isfinite(s))
                    printf(",%.6f", s);
                else
                    code = fail(EXIT_FAILED, "%s: vector %zu is all zeros, NaN or infinite", dbpath, r + 1);
            }
            putchar('\n');
        }
    }
    if (!code && !csv && !(best = malloc((size_t)k * sizeof *best)))
        code = fail(EXIT_FAILED, "out of memory");
    for (size_t i = 0; !code && !csv && i < q.rows; i++) {
        long n = vecfile_top_k(db, q.vec + i * D, (size_t)k, cores(), best, err);
        if (n < 0) {
            code = fail(EXIT_FAILED, "%s: %s", dbpath, err);
            break;
        }
        for (long j = 0; j < n; j++) {
            printf("%.6f\t", best[j].score);
            names ? printf("%s", names[best[j].row]) : printf("%zu", best[j].row + 1);
            q.rows > 1 ? printf("\t%s\n", q.labels[i]) : printf("\n");
        }
    }
done:
    free(best);
    if (!code && fflush(stdout) != 0)
        code = fail(EXIT_FAILED, "cannot write: %s", strerror(errno));
    for (size_t r = 0; names && r < db->rows; r++)
        free(names[r]);
    free(names);
    vecfile_close(db);
    vecfile_close(qv);
    set_free(&q);
    set_free(&cand);
    weights_close(w);
    free(texts);
    free(images);
    return code;
}

static const struct cmd {
    const char *name, *summary, *help;
    int (*fn)(int argc, char **argv);
} cmds[] = {
    {"convert", "PyTorch checkpoint -> clippie weights file", convert_help, cmd_convert},
    {"embed-text", "texts -> embedding vectors", embed_text_help, cmd_embed_text},
    {"embed-image", "image files and folders -> embedding vectors", embed_image_help, cmd_embed_image},
    {"similarity", "compare texts and images, search embedded photos", similarity_help, cmd_similarity},
    {"tokenize", "texts -> CLIP token ids", tokenize_help, cmd_tokenize},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: clippie COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-12s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(f, "\n'clippie COMMAND --help' tells more.\n" EXIT_CODES);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr), EXIT_USAGE;
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
        return usage(stdout), EXIT_ALL_DONE;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) {
            if (wants_help(argc - 1, argv + 1))
                return printf(cmds[i].help, model_help), EXIT_ALL_DONE;
            return cmds[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
