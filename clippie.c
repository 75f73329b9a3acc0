/* clippie - OpenAI's CLIP on the CPU, from the shell.
 *
 * Only this file prints messages, chooses exit codes and exits; the modules
 * return errors as strings. One function per subcommand, listed in cmds[],
 * each a short list of steps: parse options, open, run, one cleanup path.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <jpeglib.h> /* after stdio.h, which it needs */
#include <sqlite3.h>
#include <utf8proc.h>
#include <zlib.h>

#include "convert.h"
#include "heifimg.h"
#include "image.h"
#include "index.h"
#include "input.h"
#include "pipeline.h"
#include "rawimg.h"
#include "search.h"
#include "textenc.h"
#include "tiffimg.h"
#include "tokenizer.h"
#include "transformer.h"
#include "util.h"
#include "vecfile.h"
#include "vit.h"
#include "walk.h"
#include "webpimg.h"
#include "weights.h"

#define CLIPPIE_VERSION "0.3.0"

enum { EXIT_ALL_DONE = 0, EXIT_SKIPPED = 1, EXIT_USAGE = 2, EXIT_FAILED = 3 };

#define EXIT_CODES                                                                                                   \
    "exit status: 0 all done, 1 some inputs were skipped, 2 usage error,\n"                                            \
    "3 failed (bad model or checkpoint, I/O error)\n"

/* ---- reporting: one prefix, control characters shown escaped ---- */

static int progress_shown; /* a progress line without its newline is on stderr */

/* Prints "clippie: [what]message" with every control character of the
 * message escaped (\n, \t, \x1b): names of files and texts come from
 * anywhere, and must not move the cursor or fake a line of output. */
static void vreport(const char *what, const char *fmt, va_list ap)
{
    char msg[4 * ERR_LEN], out[16 * ERR_LEN];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p && n + 5 < sizeof out; p++) {
        if (*p >= 0x20 && *p != 0x7f)
            out[n++] = (char)*p;
        else if (*p == '\n' || *p == '\t')
            n += (size_t)snprintf(out + n, sizeof out - n, "\\%c", *p == '\n' ? 'n' : 't');
        else
            n += (size_t)snprintf(out + n, sizeof out - n, "\\x%02x", *p);
    }
    out[n] = 0;
    fprintf(stderr, "%sclippie: %s%s\n", progress_shown ? "\n" : "", what, out);
    progress_shown = 0;
}

/* Reports an error and returns code, for `return fail(EXIT_FAILED, ...)`. */
static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("", fmt, ap);
    va_end(ap);
    return code;
}

static void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("warning: ", fmt, ap);
    va_end(ap);
}

/* An input that is passed over while the others go on. */
static void skipped(const char *name, const char *why)
{
    char buf[ERR_LEN]; /* a very long name is cut here, so that the reason still shows */
    snprintf(buf, sizeof buf, "%s", name);
    fail(0, "%s: %s, skipped", buf, why);
}

static void walk_skip(void *ctx, const char *path, const char *why)
{
    (*(size_t *)ctx)++;
    skipped(path, why);
}

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...)
{
    char what[64], msg[ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(what, sizeof what, "%s: ", cmd);
    fail(0, "%s%s", what, msg);
    fprintf(stderr, "see 'clippie %s --help'\n", cmd);
    return EXIT_USAGE;
}

/* ---- options: anywhere on the line, '--' ends them ---- */

/* getopt_long's verdict on argv as a usage error naming the option. */
static int bad_option(const char *cmd, int c, char **argv)
{
    const char *a = argv[optind - 1];
    if (!strncmp(a, "--", 2) && (c == ':' || !optopt)) /* a long option, up to its '=' */
        return usage_error(cmd, c == ':' ? "option '%.*s' needs a value" : "unknown option '%.*s'",
                           (int)strcspn(a, "="), a);
    return usage_error(cmd, c == ':' ? "option '-%c' needs a value" : "unknown option '-%c'", optopt);
}

/* Starts getopt_long afresh for a command's argv (argv[0] its name). */
static void options_reset(void)
{
    optind = 1;
    opterr = 0;
}

/* A whole number within [lo, hi]: digits only, no sign, no junk. */
static int parse_number(const char *cmd, const char *opt, const char *s, unsigned long long lo, unsigned long long hi,
                        unsigned long long *out)
{
    unsigned long long v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++)
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (unsigned)(*p - '0'), &v))
            break;
    if (p == s || *p || v < lo || v > hi)
        return usage_error(cmd, "%s takes a number from %llu to %llu, not '%s'", opt, lo, hi, s);
    *out = v;
    return 0;
}

static int parse_format(const char *cmd, const char *s, enum vecfile_format *f)
{
    if (!strcmp(s, "raw"))
        *f = VECFILE_RAW;
    else if (!strcmp(s, "csv"))
        *f = VECFILE_CSV;
    else if (!strcmp(s, "npy"))
        *f = VECFILE_NPY;
    else
        return usage_error(cmd, "-f takes raw, csv or npy, not '%s'", s);
    return 0;
}

static int cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

/* ---- signals ---- */

static volatile sig_atomic_t stop_signal; /* SIGINT or SIGTERM arrived */

static void on_stop(int sig) { stop_signal = sig; }

/* A mapped file cut short while in use faults on the next read of a page
 * past its new end: say so rather than die without a word. */
static void on_sigbus(int sig)
{
    static const char msg[] = "clippie: a file in use (the model or a vector file) was truncated or changed "
                              "while being read\n";
    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
        _exit(EXIT_FAILED);
    _exit(EXIT_FAILED);
}

/* Commands that write as they go finish the batch at hand on SIGINT or
 * SIGTERM and close their output (a valid .npy), then die of the signal. */
static void catch_stop(void)
{
    struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART: a read of stdin returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int die_of_stop(int code)
{
    if (!stop_signal)
        return code;
    fflush(stdout);
    signal(stop_signal, SIG_DFL);
    raise(stop_signal);
    return code;
}

/* ---- the model ---- */

static const char model_help[] =
    "  -m MODEL         weights file made by 'clippie convert' (default: $CLIPPIE_MODEL,\n"
    "                   else $XDG_CACHE_HOME/clippie/ViT-B-32.weights, ~/.cache by default)\n";

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

/* The model named by -m, $CLIPPIE_MODEL or the default path; NULL after
 * saying why. */
static struct weights *open_model(const char *path)
{
    char err[ERR_LEN];
    if (!path || !*path)
        path = getenv("CLIPPIE_MODEL");
    if (!path || !*path) {
        path = default_model();
        if (access(path, F_OK) != 0) {
            fail(0, "no model: give -m MODEL.weights or set CLIPPIE_MODEL; make one with");
            fprintf(stderr, "  clippie convert ViT-B-32.pt %s\n(the README says where to download ViT-B-32.pt)\n", path);
            return NULL;
        }
    }
    struct weights *w = weights_open(path, err);
    if (!w)
        fail(0, "%s", err);
    return w;
}

/* ---- convert ---- */

static const char convert_help[] =
    "usage: clippie convert [--activation quick_gelu|gelu] [--heads IMAGE,TEXT] [--dtype f32|f16|bf16]\n"
    "                       INPUT OUTPUT.weights\n"
    "\n"
    "Converts a CLIP ViT checkpoint into clippie's memory-mapped weights file.\n"
    "INPUT, recognised by content: OpenAI's released TorchScript files\n"
    "(ViT-B-32.pt, ...); OpenCLIP's hub files (open_clip_model.safetensors or\n"
    "open_clip_pytorch_model.bin, with open_clip_config.json beside them) and\n"
    "training checkpoints; Hugging Face CLIPModels (model.safetensors or\n"
    "pytorch_model.bin, with config.json and preprocessor_config.json); or a\n"
    "folder downloaded from a model hub holding one of these. No Python is\n"
    "involved and a checkpoint's pickle runs no code.\n"
    "\n"
    "  --activation A   quick_gelu or gelu, for checkpoints whose config does not\n"
    "                   say (refused when it says otherwise)\n"
    "  --heads V,T      attention heads of the image and text towers, likewise\n"
    "                   (ViT-B: 12,8; heads of width 64 are width / 64)\n"
    "  --dtype T        store the large matrices as f32, f16 or bf16 (default: as\n"
    "                   the checkpoint has them, which loses nothing; OpenAI's are\n"
    "                   f16, half the size of f32 for the same vectors)\n"
    "\n"
    "Where nothing says the activation or the heads, convert refuses and names\n"
    "the option to pass: a guess would give wrong vectors silently. Other model\n"
    "families (SigLIP, CoCa, timm or ResNet towers, ...) are refused by name.\n"
    "OUTPUT appears only when the conversion succeeded.\n" EXIT_CODES;

static void print_converted(const char *out, const struct convert_info *info)
{
    const struct weights_config *k = &info->cfg;
    char shape[160];
    if (info->shape)
        snprintf(shape, sizeof shape, "%s-shaped", info->shape);
    else
        snprintf(shape, sizeof shape, "ViT (image %ux%u, width %u, %u layers, patch %u; text width %u, %u layers)",
                 k->vision_grid * k->vision_patch, k->vision_grid * k->vision_patch, k->vision_width,
                 k->vision_layers, k->vision_patch, k->text_width, k->text_layers);
    fprintf(stderr,
            "%s: %s (%s), %s%s%s, embedding %u, context %u, vocabulary %u, heads %u/%u (%s), MLP %u/%u, %s (%s), "
            "%.1fM parameters (tensors: %zu float32, %zu float16, %zu bfloat16; stored: %zu float32, %zu float16, "
            "%zu bfloat16) -> %s\n",
            info->file, info->family, info->format, shape, info->release ? ", OpenAI's released " : "",
            info->release ? info->release : "", k->embed_dim, k->context_length, k->vocab_size, k->vision_heads,
            k->text_heads, info->heads_from, k->vision_mlp, k->text_mlp,
            k->activation == WEIGHTS_GELU ? "gelu" : "quick_gelu", info->activation_from,
            (double)info->params / 1e6, info->tensors[0], info->tensors[1], info->tensors[2], info->stored[0],
            info->stored[1], info->stored[2], out);
    if (info->max_rounding > 0)
        warning("%s: storing in lower precision rounded weights by up to %.3g (relative)", out, info->max_rounding);
}

static int parse_convert(int argc, char **argv, struct convert_opts *o)
{
    static const struct option opts[] = {{"activation", required_argument, 0, 'a'},
                                         {"heads", required_argument, 0, 'H'},
                                         {"dtype", required_argument, 0, 't'}, {0, 0, 0, 0}};
    static const char *const dtypes[] = {"f32", "f16", "bf16"}; /* enum weights_dtype's order */
    unsigned long long v = 0, t = 0;
    int c;
    *o = (struct convert_opts){.activation = -1, .dtype = -1};
    options_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        const char *comma = c == 'H' ? strchr(optarg, ',') : NULL;
        char head[16];
        switch (c) {
        case 't':
            for (o->dtype = 2; o->dtype >= 0 && strcmp(optarg, dtypes[o->dtype]); o->dtype--)
                ;
            if (o->dtype < 0)
                return usage_error("convert", "--dtype takes f32, f16 or bf16, not '%s'", optarg);
            break;
        case 'a':
            if (strcmp(optarg, "gelu") && strcmp(optarg, "quick_gelu"))
                return usage_error("convert", "--activation takes quick_gelu or gelu, not '%s'", optarg);
            o->activation = strcmp(optarg, "gelu") ? WEIGHTS_QUICK_GELU : WEIGHTS_GELU;
            break;
        case 'H':
            if (!comma || (size_t)(comma - optarg) >= sizeof head)
                return usage_error("convert", "--heads takes IMAGE,TEXT head counts such as 12,8, not '%s'", optarg);
            snprintf(head, sizeof head, "%.*s", (int)(comma - optarg), optarg);
            if (parse_number("convert", "--heads", head, 1, 256, &v) ||
                parse_number("convert", "--heads", comma + 1, 1, 256, &t))
                return EXIT_USAGE;
            o->vision_heads = (uint32_t)v;
            o->text_heads = (uint32_t)t;
            break;
        default: return bad_option("convert", c, argv);
        }
    }
    if (argc - optind != 2)
        return usage_error("convert", "needs an input (checkpoint or folder) and an output path");
    return 0;
}

static int cmd_convert(int argc, char **argv)
{
    struct convert_opts o;
    struct convert_info info;
    char err[ERR_LEN];
    int code = parse_convert(argc, argv, &o);
    if (code)
        return code;
    transformer_blas_idle();
    if (convert_model(argv[optind], argv[optind + 1], &o, &info, err) < 0)
        return fail(EXIT_FAILED, "convert: %s", err);
    print_converted(argv[optind + 1], &info);
    return EXIT_ALL_DONE;
}

/* The next input, with the warning a NUL inside a line deserves. */
static const char *next_input(struct input *in, int pending, char *err)
{
    const char *s = input_next(in, pending, err);
    if (s && s != INPUT_WAIT && in->had_nul)
        warning("input %d holds a NUL byte: the rest of its line is ignored", in->number);
    return s;
}

/* ---- tokenize ---- */

static const char tokenize_help[] =
    "usage: clippie tokenize [-0] [TEXT...]\n"
    "\n"
    "Prints CLIP's token ids for each TEXT (or each line of standard input) on\n"
    "a line of its own: 49406 (start), the text's ids, 49407 (end), with no\n"
    "padding and no truncation. Invalid UTF-8 becomes U+FFFD, with a warning.\n"
    "\n"
    "  -0, --null       standard input holds NUL-terminated texts\n"
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

static const struct option null_opt = {"null", no_argument, 0, '0'};

static int cmd_tokenize(int argc, char **argv)
{
    static const struct option opts[] = {null_opt, {0, 0, 0, 0}};
    char delim = '\n', err[ERR_LEN] = "";
    int c, code = EXIT_ALL_DONE;
    options_reset();
    while ((c = getopt_long(argc, argv, ":0", opts, NULL)) != -1) {
        if (c != '0')
            return bad_option("tokenize", c, argv);
        delim = 0;
    }
    struct input in;
    input_init(&in, argc - optind, argv + optind, delim);
    transformer_blas_idle();
    struct tokenizer *t = tokenizer_open(err);
    if (!t)
        return fail(EXIT_FAILED, "%s", err);
    for (const char *text; (text = next_input(&in, 0, err));) {
        int32_t *ids;
        size_t replaced;
        int n = tokenizer_encode(t, text, strlen(text), &ids, &replaced, err);
        if (n < 0) {
            fail(0, "text %d: %s", in.number, err);
            putchar('\n');
            code = EXIT_SKIPPED;
            continue;
        }
        if (replaced)
            warning("text %d: %zu invalid UTF-8 sequences read as U+FFFD", in.number, replaced);
        print_ids(ids, n);
        free(ids);
    }
    if (*err)
        code = fail(EXIT_FAILED, "%s", err);
    input_free(&in);
    tokenizer_close(t);
    return code;
}

/* ---- texts to vectors, shared by embed-text and similarity ---- */

#define TEXT_BATCH 256      /* texts tokenized and handed to the encoder at a time */
#define TEXT_FULL_LENGTH 32 /* full-length texts the encoder's scratch holds */

struct texts {
    struct weights *w;
    struct tokenizer *tok;
    struct textenc *enc;
    int32_t *ids[TEXT_BATCH];
    int lens[TEXT_BATCH], n;
    float *vec; /* [TEXT_BATCH, E] */
};

static void texts_close(struct texts *m)
{
    for (int k = 0; k < m->n; k++)
        free(m->ids[k]);
    tokenizer_close(m->tok);
    textenc_close(m->enc);
    free(m->vec);
}

static int texts_open(struct texts *m, struct weights *w)
{
    char err[ERR_LEN];
    *m = (struct texts){.w = w};
    /* a few texts' products leave the BLAS out (transformer.c), and its
     * spinning threads would take a core from them; OpenBLAS starts its
     * threads again when a batch of texts needs them */
    transformer_blas_idle();
    if (!(m->vec = malloc((size_t)TEXT_BATCH * w->cfg.embed_dim * sizeof *m->vec)))
        return texts_close(m), fail(EXIT_FAILED, "out of memory");
    if (!(m->tok = tokenizer_open(err)) || !(m->enc = textenc_open(w, TEXT_FULL_LENGTH, cores(), err)))
        return texts_close(m), fail(EXIT_FAILED, "%s", err);
    return 0;
}

/* Tokenizes text number `index` into the batch, cutting it to the context
 * length with a warning. */
static int texts_add(struct texts *m, const char *text, int index)
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
    int n = tokenizer_encode(m->tok, text, len, &m->ids[m->n], &replaced, err);
    if (n < 0)
        return fail(EXIT_FAILED, "text %d: %s", index, err);
    if (replaced)
        warning("text %d: %zu invalid UTF-8 sequences read as U+FFFD", index, replaced);
    int C = (int)m->w->cfg.context_length;
    if (n > C) {
        warning("text %d (\"%.40s%s\") has %d tokens, cut to the model's %d", index, text,
                strlen(text) > 40 ? "..." : "", n, C);
        m->ids[m->n][C - 1] = TOKENIZER_EOT;
        n = C;
    }
    m->lens[m->n++] = n;
    return 0;
}

/* Encodes the texts added into m->vec [n, E] and empties the batch. */
static int texts_run(struct texts *m)
{
    char err[ERR_LEN];
    int rc = textenc_encode(m->enc, (const int32_t *const *)m->ids, m->lens, m->n, m->vec, err);
    for (int k = 0; k < m->n; k++) {
        free(m->ids[k]);
        m->ids[k] = NULL;
    }
    return rc < 0 ? fail(EXIT_FAILED, "%s", err) : 0;
}

/* ---- embed-text ---- */

static const char embed_text_help[] =
    "usage: clippie embed-text [-m MODEL] [-f raw|csv|npy] [-n] [-0] [TEXT...]\n"
    "\n"
    "Writes one embedding vector per TEXT (or per line of standard input) to\n"
    "standard output, in input order: what CLIP's encode_text returns.\n"
    "\n"
    "%s"
    "  -f, --format F   raw: little-endian float32 rows (the default);\n"
    "                   csv: one line of comma-separated numbers per text;\n"
    "                   npy: a NumPy .npy array of shape (texts, dim)\n"
    "  -n, --normalize  write unit vectors\n"
    "  -0, --null       standard input holds NUL-terminated texts\n"
    "\n"
    "Texts longer than the model's context (77 tokens) are cut, with a warning.\n"
    "Lines read from standard input are answered as they come: a line written\n"
    "by a coprocess gets its vector without waiting for more input.\n"
    "raw and npy are not written to a terminal; '--' ends the options.\n"
    "\n" EXIT_CODES;

struct embed_opts {
    const char *model, *names;
    enum vecfile_format fmt;
    int normalize, exif, draft, raw_full, jobs;
    char delim;
    unsigned long long max_pixels;
};

/* The writer of a command's vectors to standard output. */
static struct vecfile_writer *open_output(const char *cmd, const struct embed_opts *o, int dim)
{
    char err[ERR_LEN];
    if (o->fmt != VECFILE_CSV && isatty(STDOUT_FILENO)) {
        usage_error(cmd, "will not write binary vectors to a terminal: redirect stdout to a file or pipe, or use "
                         "-f csv");
        return NULL;
    }
    struct vecfile_writer *out = vecfile_writer_open(stdout, o->fmt, dim, err);
    if (!out)
        fail(0, "%s", err);
    return out;
}

/* -n: the n vectors of vec [n, dim] as unit vectors; all zeros (or not
 * finite) become zeros, which have no direction. */
static void unit_rows(float *vec, size_t n, int dim)
{
    for (size_t k = 0; k < n; k++)
        if (search_unit(vec + k * (size_t)dim, dim) < 0)
            memset(vec + k * (size_t)dim, 0, (size_t)dim * sizeof *vec);
}

/* Writes the first n vectors of vec [n, dim], made unit vectors first when
 * asked, then flushes them (a coprocess is waiting; an .npy file's header
 * then counts them). */
static int write_rows(struct vecfile_writer *out, float *vec, size_t n, int dim, int normalize)
{
    char err[ERR_LEN];
    if (normalize)
        unit_rows(vec, n, dim);
    if (vecfile_write(out, vec, n, err) < 0 || vecfile_writer_sync(out, err) < 0)
        return fail(EXIT_FAILED, "cannot write the vectors: %s", err);
    return 0;
}

static int embed_texts(struct texts *m, struct input *in, struct vecfile_writer *out, int normalize)
{
    char err[ERR_LEN] = "";
    int code = 0, E = (int)m->w->cfg.embed_dim;
    while (!code && !stop_signal) {
        const char *text = next_input(in, m->n > 0, err);
        if (m->n && (!text || text == INPUT_WAIT || m->n == TEXT_BATCH)) {
            code = texts_run(m);
            code = code ? code : write_rows(out, m->vec, (size_t)m->n, E, normalize);
            m->n = 0;
        }
        if (!text)
            break;
        if (text != INPUT_WAIT && !code)
            code = texts_add(m, text, in->number);
    }
    return code ? code : *err ? fail(EXIT_FAILED, "%s", err) : 0;
}

static const struct option model_opt = {"model", required_argument, 0, 'm'},
                           format_opt = {"format", required_argument, 0, 'f'},
                           normalize_opt = {"normalize", no_argument, 0, 'n'};

static int cmd_embed_text(int argc, char **argv)
{
    static const struct option opts[] = {model_opt, format_opt, normalize_opt, null_opt, {0, 0, 0, 0}};
    struct embed_opts o = {.fmt = VECFILE_RAW, .delim = '\n'};
    int c, code;
    options_reset();
    while ((c = getopt_long(argc, argv, ":m:f:n0", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'f':
            if (parse_format("embed-text", optarg, &o.fmt))
                return EXIT_USAGE;
            break;
        case 'n': o.normalize = 1; break;
        case '0': o.delim = 0; break;
        default: return bad_option("embed-text", c, argv);
        }
    }
    struct input in;
    input_init(&in, argc - optind, argv + optind, o.delim);
    struct weights *w = open_model(o.model);
    struct vecfile_writer *out = NULL;
    struct texts m = {0};
    char err[ERR_LEN];
    if (!w || (code = texts_open(&m, w)))
        code = EXIT_FAILED;
    else if (!(out = open_output("embed-text", &o, (int)w->cfg.embed_dim)))
        code = EXIT_FAILED;
    else {
        if (!in.argv && isatty(STDIN_FILENO))
            fprintf(stderr, "clippie: reading texts from standard input, one per line (Ctrl-D to end)\n");
        catch_stop();
        code = embed_texts(&m, &in, out, o.normalize);
    }
    if (vecfile_writer_close(out, err) < 0 && !code)
        code = fail(EXIT_FAILED, "cannot write the vectors: %s", err);
    input_free(&in);
    texts_close(&m);
    weights_close(w);
    return die_of_stop(code);
}

/* ---- embed-image ---- */

static const char embed_image_help[] =
    "usage: clippie embed-image [-m MODEL] [-f raw|csv|npy] [-n] [--names FILE] [-j N] [-0] [PATH...]\n"
    "\n"
    "Writes one embedding vector per image to standard output: what CLIP's\n"
    "encode_image returns after its published preprocessing. Formats, by content:\n"
    "JPEG (and MPO), PNG, GIF, BMP/DIB, PBM/PGM/PPM, TGA, WebP, TIFF, HEIC/HEIF, AVIF\n"
    "and camera RAW. PATHs are image files or folders, walked recursively in\n"
    "sorted order (hidden entries and files not named like images are passed\n"
    "over). Without PATHs, paths come from standard input, one per line.\n"
    "\n"
    "%s"
    "  -f, --format F   raw (default), csv or npy, as for embed-text\n"
    "  -n, --normalize  write unit vectors\n"
    "  --names FILE     write the path of each output row to FILE, one per line\n"
    "                   (NUL-terminated with -0)\n"
    "  -j, --jobs N     decode and resize with N threads (default: the cores)\n"
    "  --no-exif-orientation\n"
    "                   ignore JPEG EXIF orientation, as the published pipeline\n"
    "                   does (by default photos are turned upright first)\n"
    "  --max-pixels N   refuse images of more than N pixels (default 100000000)\n"
    "  --draft          decode large JPEGs at 1/2, 1/4 or 1/8 size in the DCT\n"
    "                   domain (as Pillow's draft mode): several times faster on\n"
    "                   camera photos, but no longer the reference's exact pixels\n"
    "  --raw-full       camera RAW files: a full demosaic, rather than the embedded\n"
    "                   preview (or a half-size demosaic when it is too small)\n"
    "  -0, --null       paths on standard input and in --names are NUL-terminated\n"
    "\n"
    "A file that cannot be read or decoded is reported on stderr with the reason\n"
    "and skipped; the others are embedded, and the rows and --names stay aligned.\n"
    "Progress is shown on stderr when it is a terminal. Interrupted (Ctrl-C,\n"
    "SIGTERM), it finishes the batch at hand: the output holds every row so far.\n"
    "\n" EXIT_CODES;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress(size_t done, size_t total, double start)
{
    double el = now() - start, rate = el > 0 ? (double)done / el : 0, left = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "\r%zu/%zu images, %.1f/s, %02d:%02d left ", done, total, rate, (int)left / 60, (int)left % 60);
    progress_shown = 1;
}

/* The image files named by the arguments, else by standard input. */
static int list_images(int argc, char **argv, char delim, struct walk *files)
{
    char err[ERR_LEN] = "";
    if (argc) {
        for (int k = 0; k < argc; k++)
            if (walk_add(files, argv[k]) < 0)
                return fail(EXIT_FAILED, "out of memory listing %s", argv[k]);
        return 0;
    }
    struct input in;
    int code = 0;
    input_init(&in, 0, NULL, delim);
    for (const char *p; !code && (p = next_input(&in, 0, err));)
        if (*p && walk_add(files, p) < 0)
            code = fail(EXIT_FAILED, "out of memory");
    input_free(&in);
    return code ? code : *err ? fail(EXIT_FAILED, "%s", err) : 0;
}

/* Everything one run of the image tower over files holds: embed-image
 * writes its rows to out (and names), index puts them into ix. */
struct image_run {
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

/* Sets up the tower and the decoding of files (the n of pick, or all when
 * pick is NULL) for the model r->w. */
static int image_run_open(struct image_run *r, const struct embed_opts *o, const struct walk *files,
                          const size_t *pick, size_t n)
{
    char err[ERR_LEN];
    int R = (int)(r->w->cfg.vision_grid * r->w->cfg.vision_patch), E = (int)r->w->cfg.embed_dim;
    struct image_opts io = {.resolution = R, .exif = o->exif, .max_pixels = o->max_pixels, .draft = o->draft,
                            .raw_full = o->raw_full, .mean = r->w->cfg.image_mean, .std = r->w->cfg.image_std};
    transformer_blas_idle(); /* the lanes run OpenBLAS single-threaded: its threads would only spin */
    r->batch = (size_t)vit_batch(r->w, cores());
    r->n = pick ? n : files->n;
    if (!(r->vit = vit_open(r->w, (int)r->batch, cores(), err)))
        return fail(EXIT_FAILED, "%s", err);
    if (!(r->vec = malloc(r->batch * (size_t)E * sizeof *r->vec)) ||
        !(r->paths = malloc((r->n ? r->n : 1) * sizeof *r->paths)) ||
        !(r->files = malloc((r->n ? r->n : 1) * sizeof *r->files)))
        return fail(EXIT_FAILED, "out of memory");
    for (size_t i = 0; i < r->n; i++) {
        r->files[i] = &files->files[pick ? pick[i] : i];
        r->paths[i] = r->files[i]->path;
    }
    if (!(r->pipe = pipeline_open(r->paths, r->n, &io, o->jobs, r->batch, err)))
        return fail(EXIT_FAILED, "%s", err);
    return 0;
}

static void image_run_close(struct image_run *r)
{
    pipeline_close(r->pipe);
    free(r->paths);
    free(r->files);
    free(r->vec);
    vit_close(r->vit);
}

/* The rows of a batch's good files: to the index, or to the output with
 * their names (rows first, each flushed). */
static int store_rows(struct image_run *r, const struct pipeline_batch *b, const struct embed_opts *o)
{
    char err[ERR_LEN];
    int code = 0;
    if (r->ix) {
        const struct walk_file **good = r->files + b->first; /* compacted in place: the good ones in order */
        size_t g = 0;
        for (size_t i = 0; i < b->n; i++)
            if (!b->errs[i][0])
                good[g++] = r->files[b->first + i];
        return index_put(r->ix, good, r->vec, b->good, err) < 0 ? fail(EXIT_FAILED, "%s", err) : 0;
    }
    code = write_rows(r->out, r->vec, b->good, (int)r->w->cfg.embed_dim, o->normalize);
    for (size_t i = 0; !code && r->names && i < b->n; i++)
        if (!b->errs[i][0])
            fprintf(r->names, "%s%c", b->paths[i], o->delim);
    if (r->names && fflush(r->names) != 0 && !code)
        code = fail(EXIT_FAILED, "cannot write the names: %s", strerror(errno));
    return code;
}

/* Embeds one batch: reports its bad files, stores the good ones' rows. */
static int image_batch(struct image_run *r, const struct pipeline_batch *b, const struct embed_opts *o)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->errs[i][0]) {
            skipped(b->paths[i], b->errs[i]);
            r->skipped++;
        }
    vit_encode(r->vit, b->pixels, (int)b->good, r->vec);
    r->embedded += b->good;
    return store_rows(r, b, o);
}

static int embed_images(struct image_run *r, const struct embed_opts *o, size_t total)
{
    struct pipeline_batch b;
    int code = 0, show = isatty(STDERR_FILENO);
    double start = now();
    while (!code && !stop_signal && pipeline_next(r->pipe, &b)) {
        code = image_batch(r, &b, o);
        if (show)
            progress(b.first + b.n, total, start);
    }
    if (progress_shown)
        fputc('\n', stderr), progress_shown = 0;
    return code;
}

static const struct option embed_image_opts[] = {
    model_opt, format_opt, normalize_opt, null_opt,
    {"names", required_argument, 0, 'N'},      {"jobs", required_argument, 0, 'j'},
    {"no-exif-orientation", no_argument, 0, 'E'}, {"max-pixels", required_argument, 0, 'P'},
    {"draft", no_argument, 0, 'D'},            {"raw-full", no_argument, 0, 'R'},
    {0, 0, 0, 0},
};

/* An option that embed-image and index share, into o: 1 when c was one
 * of them, 0 when not, EXIT_USAGE for a bad value. */
static int embed_image_option(const char *cmd, int c, struct embed_opts *o)
{
    unsigned long long v = 0;
    switch (c) {
    case 'm': o->model = optarg; return 1;
    case 'f': return parse_format(cmd, optarg, &o->fmt) ? EXIT_USAGE : 1;
    case 'n': o->normalize = 1; return 1;
    case 'N': o->names = optarg; return 1;
    case 'j':
        if (parse_number(cmd, "-j", optarg, 1, 64, &v))
            return EXIT_USAGE;
        o->jobs = (int)v;
        return 1;
    case 'E': o->exif = 0; return 1;
    case 'D': o->draft = 1; return 1;
    case 'R': o->raw_full = 1; return 1;
    case 'P': return parse_number(cmd, "--max-pixels", optarg, 1, UINT64_MAX, &o->max_pixels) ? EXIT_USAGE : 1;
    case '0': o->delim = 0; return 1;
    default: return 0;
    }
}

static const struct embed_opts embed_image_defaults = {.fmt = VECFILE_RAW, .exif = 1, .delim = '\n',
                                                       .max_pixels = IMAGE_MAX_PIXELS};

static int parse_embed_image(int argc, char **argv, struct embed_opts *o)
{
    int c, r;
    *o = embed_image_defaults;
    o->jobs = cores();
    options_reset();
    while ((c = getopt_long(argc, argv, ":m:f:nj:0", embed_image_opts, NULL)) != -1)
        if ((r = embed_image_option("embed-image", c, o)) != 1)
            return r ? r : bad_option("embed-image", c, argv);
    return 0;
}

static void print_summary(const struct image_run *r, const struct walk *files)
{
    fprintf(stderr, "clippie: %zu embedded, %zu skipped, %zu not images\n", r->embedded, r->skipped,
            files->not_images);
}

static int cmd_embed_image(int argc, char **argv)
{
    struct embed_opts o;
    struct image_run r = {0};
    struct walk files = {.skip = walk_skip, .ctx = &r.skipped};
    char err[ERR_LEN];
    int code = parse_embed_image(argc, argv, &o);
    if (code)
        return code;
    code = list_images(argc - optind, argv + optind, o.delim, &files);
    if (!code && !(r.w = open_model(o.model)))
        code = EXIT_FAILED;
    if (!code)
        code = image_run_open(&r, &o, &files, NULL, 0);
    if (!code && !(r.out = open_output("embed-image", &o, (int)r.w->cfg.embed_dim)))
        code = EXIT_FAILED;
    if (!code && o.names && !(r.names = fopen(o.names, "w")))
        code = fail(EXIT_FAILED, "%s: %s", o.names, strerror(errno));
    if (!code) {
        catch_stop();
        code = embed_images(&r, &o, files.n);
    }
    if (vecfile_writer_close(r.out, err) < 0 && !code)
        code = fail(EXIT_FAILED, "cannot write the vectors: %s", err);
    if (r.names && fclose(r.names) != 0 && !code)
        code = fail(EXIT_FAILED, "%s: %s", o.names, strerror(errno));
    if (!code && (r.skipped || files.not_images || isatty(STDERR_FILENO)))
        print_summary(&r, &files);
    if (!code && !files.n)
        code = fail(EXIT_SKIPPED, "no images found");
    image_run_close(&r);
    weights_close(r.w);
    walk_free(&files);
    return die_of_stop(code ? code : r.skipped ? EXIT_SKIPPED : EXIT_ALL_DONE);
}

/* ---- index ---- */

static const char index_help[] =
    "usage: clippie index [-m MODEL] [-j N] [--exclude GLOB]... [--shard K/N] INDEX [PATH...]\n"
    "       clippie index --dump [-f raw|csv|npy] [-n] [--names FILE] [-0] INDEX\n"
    "       clippie index --merge OUT IN...\n"
    "\n"
    "Keeps the vectors of a photo library up to date in INDEX (an SQLite file):\n"
    "files not in it are embedded, files whose size, mtime or inode changed are\n"
    "embedded again, files gone from the PATHs are removed; files unchanged are\n"
    "not even opened. Without PATHs, the roots recorded by earlier runs are\n"
    "refreshed. Search it with 'clippie similarity --db INDEX -t TEXT'.\n"
    "\n"
    "%s"
    "  -j, --jobs N     decode and resize with N threads (default: the cores)\n"
    "  --exclude GLOB   leave out files whose path or name matches GLOB\n"
    "  --shard K/N      index only the files whose path hashes to shard K of N\n"
    "                   (0 <= K < N): N machines build N indexes, which\n"
    "                   similarity searches together or --merge combines\n"
    "  --no-exif-orientation, --draft, --raw-full, --max-pixels N   as for\n"
    "                   embed-image (the first two are recorded: later runs must agree)\n"
    "  --dump           write the vectors in path order to standard output, as\n"
    "                   embed-image does (-f, -n, --names, -0)\n"
    "  --merge          combine the indexes IN... (same model) into OUT\n"
    "\n"
    "Each batch of files is committed on its own: a run killed at any moment\n"
    "loses at most the batch in flight, and the next run goes on from there.\n"
    "Two runs on one INDEX at a time: the second is refused.\n"
    "\n" EXIT_CODES;

struct index_opts {
    struct embed_opts e;
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
        return usage_error("index", "--shard takes K/N, not '%s'", s);
    memcpy(head, s, (size_t)(slash - s));
    head[slash - s] = 0;
    if (parse_number("index", "--shard's N", slash + 1, 1, 1u << 20, &b) ||
        parse_number("index", "--shard's K", head, 0, b - 1, &a))
        return EXIT_USAGE;
    *k = (unsigned)a;
    *n = (unsigned)b;
    return 0;
}

static int parse_index(int argc, char **argv, struct index_opts *o)
{
    static const struct option opts[] = {
        model_opt, format_opt, normalize_opt, null_opt,
        {"names", required_argument, 0, 'N'},      {"jobs", required_argument, 0, 'j'},
        {"no-exif-orientation", no_argument, 0, 'E'}, {"max-pixels", required_argument, 0, 'P'},
        {"draft", no_argument, 0, 'D'},            {"raw-full", no_argument, 0, 'R'},
        {"exclude", required_argument, 0, 'x'},
        {"shard", required_argument, 0, 's'},      {"dump", no_argument, 0, 'd'},
        {"merge", no_argument, 0, 'M'},            {0, 0, 0, 0},
    };
    int c, r;
    *o = (struct index_opts){.e = embed_image_defaults, .exclude = calloc((size_t)argc, sizeof(char *))};
    o->e.jobs = cores();
    if (!o->exclude)
        return fail(EXIT_FAILED, "out of memory");
    options_reset();
    while ((c = getopt_long(argc, argv, ":m:f:nj:0", opts, NULL)) != -1) {
        if ((r = embed_image_option("index", c, &o->e)) == 1)
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
        default: return bad_option("index", c, argv);
        }
    }
    if (o->dump && o->merge)
        return usage_error("index", "--dump and --merge do not go together");
    if (optind == argc)
        return usage_error("index", "needs an INDEX");
    if (o->dump && argc - optind != 1)
        return usage_error("index", "--dump takes one INDEX");
    if (o->merge && argc - optind < 2)
        return usage_error("index", "--merge needs OUT and at least one IN");
    return 0;
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
            return fail(EXIT_FAILED, "out of memory");
        for (int i = 0; i < argc; i++)
            if (!((*roots)[n++] = absolute(argv[i])))
                return fail(EXIT_FAILED, "out of memory");
        if (index_add_roots(ix, *roots, n, err) < 0)
            return fail(EXIT_FAILED, "%s", err);
    } else if (index_roots(ix, roots, &n, err) < 0)
        return fail(EXIT_FAILED, "%s", err);
    if (!n)
        return usage_error("index", "no PATH given, and the index records none");
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat((*roots)[i], &st) < 0) {
            skipped((*roots)[i], strerror(errno));
            (*skips)++;
            free((*roots)[i]);
            continue;
        }
        (*roots)[kept++] = (*roots)[i];
        if (walk_add(files, (*roots)[kept - 1]) < 0)
            return fail(EXIT_FAILED, "out of memory listing %s", (*roots)[kept - 1]);
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
    struct image_run r = {.ix = ix};
    struct walk files = {.skip = walk_skip, .ctx = &r.skipped};
    struct index_plan plan = {0};
    int code = 0;
    if (!(r.w = open_model(o->e.model)))
        return EXIT_FAILED;
    index_model_of(r.w, o->e.model ? o->e.model : getenv("CLIPPIE_MODEL") ? getenv("CLIPPIE_MODEL") : default_model(),
                   o->e.exif, o->e.draft, &model);
    if (index_bind_model(ix, &model, err) < 0 || index_bind_shard(ix, o->shard_k, o->shard_n, err) < 0)
        code = fail(EXIT_FAILED, "%s", err);
    if (!code)
        code = index_walk(ix, o, argc, argv, &roots, &nroots, &files, &r.skipped);
    if (!code && index_plan(ix, &files, roots, nroots, &plan, err) < 0)
        code = fail(EXIT_FAILED, "%s", err);
    if (!code)
        code = image_run_open(&r, &o->e, &files, plan.todo, plan.ntodo);
    if (!code) {
        catch_stop();
        code = embed_images(&r, &o->e, plan.ntodo);
    }
    if (!code && !stop_signal && index_remove(ix, plan.gone, plan.ngone, err) < 0)
        code = fail(EXIT_FAILED, "%s", err);
    if (!code && index_refresh_cache(ix, err) < 0)
        code = fail(EXIT_FAILED, "%s", err);
    if (!code)
        fprintf(stderr, "clippie: %zu new, %zu changed, %zu removed, %zu unchanged, %zu skipped\n", plan.nnew,
                plan.nchanged, stop_signal ? 0 : plan.ngone, plan.nunchanged, r.skipped);
    image_run_close(&r);
    weights_close(r.w);
    index_plan_free(&plan);
    walk_free(&files);
    for (size_t i = 0; i < nroots; i++)
        free(roots[i]);
    free(roots);
    return die_of_stop(code ? code : r.skipped ? EXIT_SKIPPED : EXIT_ALL_DONE);
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
        unit_rows(d->vec, 1, d->dim);
    /* one write a row, one flush at the end: a dump is not a coprocess */
    if (vecfile_write(d->out, d->vec, 1, err) < 0)
        return fail(-1, "cannot write the vectors: %s", err);
    if (d->names && fprintf(d->names, "%s%c", path, d->delim) < 0)
        return fail(-1, "cannot write the names: %s", strerror(errno));
    return 0;
}

static int index_dump(struct index *ix, const char *path, const struct index_opts *o)
{
    char err[ERR_LEN] = "";
    struct index_model m;
    struct dump d = {.normalize = o->e.normalize, .delim = o->e.delim};
    int code = index_model(ix, &m, err) < 0 ? fail(EXIT_FAILED, "%s", err) : 0;
    d.dim = m.dim;
    if (!code && (m.dim < 1 || !(d.vec = malloc((size_t)m.dim * sizeof *d.vec))))
        code = m.dim < 1 ? fail(EXIT_FAILED, "%s: an empty index, no vectors", path) : fail(EXIT_FAILED, "out of memory");
    if (!code && !(d.out = open_output("index", &o->e, m.dim)))
        code = EXIT_FAILED;
    if (!code && o->e.names && !(d.names = fopen(o->e.names, "w")))
        code = fail(EXIT_FAILED, "%s: %s", o->e.names, strerror(errno));
    if (!code && index_each(ix, dump_row, &d, err) < 0)
        code = *err ? fail(EXIT_FAILED, "%s", err) : EXIT_FAILED;
    if (vecfile_writer_close(d.out, err) < 0 && !code)
        code = fail(EXIT_FAILED, "cannot write the vectors: %s", err);
    if (d.names && fclose(d.names) != 0 && !code)
        code = fail(EXIT_FAILED, "%s: %s", o->e.names, strerror(errno));
    free(d.vec);
    return code;
}

static int index_merge(struct index *ix, int argc, char **argv)
{
    char err[ERR_LEN];
    for (int i = 0; i < argc; i++)
        if (index_merge_from(ix, argv[i], err) < 0)
            return fail(EXIT_FAILED, "%s", err);
    return index_refresh_cache(ix, err) < 0 ? fail(EXIT_FAILED, "%s", err) : 0;
}

static int cmd_index(int argc, char **argv)
{
    struct index_opts o;
    char err[ERR_LEN];
    int code = parse_index(argc, argv, &o);
    struct index *ix = NULL;
    if (!code && !(ix = index_open(argv[optind], o.dump ? INDEX_READ : INDEX_CREATE, err)))
        code = fail(EXIT_FAILED, "%s", err);
    if (!code) {
        char **rest = argv + optind + 1;
        int nrest = argc - optind - 1;
        code = o.dump ? index_dump(ix, argv[optind], &o) : o.merge ? index_merge(ix, nrest, rest) : index_update(ix, &o, nrest, rest);
    }
    index_close(ix);
    free(o.exclude);
    return code;
}

/* ---- similarity ---- */

static const char similarity_help[] =
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
    "  --db VECTORS     vectors to search (memory-mapped); '-' reads stdin\n"
    "  --names FILE     one name per row of the --db before it (default: row\n"
    "                   numbers from 1); give one for each --db or none\n"
    "  -k K             how many results per query (default 10; more than the\n"
    "                   rows means all)\n"
    "  --csv            print the whole similarity matrix as CSV (RFC 4180)\n"
    "  --dim D          dimension of raw float32 vector files (default: that of\n"
    "                   the database or the model)\n"
    "  -0, --null       --names files are NUL-terminated, and so are the result\n"
    "                   records printed\n"
    "  --no-exif-orientation  as for embed-image\n"
    "\n"
    "Vectors are normalised before comparing. Ties keep input order.\n"
    "\n" EXIT_CODES;

struct sim_opts {
    const char *model;
    char **texts, **images, **queries, **dbs, **names; /* each [argc], borrowed from argv */
    int nt, ni, nq, ndb, nnames, csv, exif;
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
        return fail(EXIT_FAILED, "%s: vector of dimension %d, the other queries %d", label, dim, s->dim);
    s->dim = dim;
    if (size_mul(s->rows + 1, (size_t)dim, &need) < 0 ||
        util_grow(&s->vec, &s->cap, need, sizeof *s->vec, SIZE_MAX / 2 / sizeof *s->vec) < 0 ||
        util_grow(&s->labels, &s->lcap, s->rows + 1, sizeof *s->labels, SIZE_MAX / 2 / sizeof *s->labels) < 0)
        return fail(EXIT_FAILED, "out of memory");
    float *d = s->vec + s->rows * (size_t)dim;
    memcpy(d, v, (size_t)dim * sizeof *d);
    if (search_unit(d, dim) < 0)
        return fail(EXIT_FAILED, "%s: vector is all zeros or not finite", label);
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
    struct texts m;
    int E = (int)w->cfg.embed_dim, code = texts_open(&m, w);
    for (int i = 0; !code && i < n; i += TEXT_BATCH) {
        int b = n - i < TEXT_BATCH ? n - i : TEXT_BATCH;
        for (int k = 0; !code && k < b; k++)
            code = texts_add(&m, texts[i + k], i + k + 1);
        code = code ? code : texts_run(&m);
        m.n = 0;
        for (int k = 0; !code && k < b; k++)
            code = set_add(s, m.vec + (size_t)k * E, E, texts[i + k]);
    }
    texts_close(&m);
    return code;
}

static int embed_image_set(struct weights *w, char **paths, int n, int exif, struct set *s)
{
    char err[ERR_LEN];
    int R = (int)(w->cfg.vision_grid * w->cfg.vision_patch), E = (int)w->cfg.embed_dim, code = 0;
    struct image_opts o = {.resolution = R, .exif = exif, .max_pixels = IMAGE_MAX_PIXELS,
                           .mean = w->cfg.image_mean, .std = w->cfg.image_std};
    struct vit *v = vit_open(w, 1, cores(), err);
    float *px = malloc(3 * (size_t)R * R * sizeof *px), *vec = malloc((size_t)E * sizeof *vec);
    if (!v || !px || !vec)
        code = fail(EXIT_FAILED, "%s", v ? "out of memory" : err);
    for (int i = 0; !code && i < n; i++) {
        if (pipeline_load(paths[i], &o, px, err) < 0)
            code = fail(EXIT_FAILED, "%s: %s", paths[i], err);
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
    int code = qv ? 0 : fail(EXIT_FAILED, "%s", err);
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
    int fd = util_open_regular(path, &st, err);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
    if (!f) {
        free(names);
        if (fd >= 0)
            close(fd);
        return fail(EXIT_FAILED, "%s: %s", path, fd < 0 ? err : strerror(errno));
    }
    while (names && (len = getdelim(&line, &cap, delim, f)) >= 0) {
        if (len && line[len - 1] == delim)
            line[--len] = 0;
        if (n < rows && !(names[n] = strdup(line)))
            break;
        n++;
    }
    free(line);
    fclose(f);
    if (n != rows || !names) {
        for (size_t k = 0; k < rows && names; k++)
            free(names[k]);
        free(names);
        return names ? fail(EXIT_FAILED, "%s has %zu %s, the vectors %zu rows", path, n,
                            delim ? "lines" : "NUL-terminated names", rows)
                     : fail(EXIT_FAILED, "out of memory");
    }
    *out = names;
    return 0;
}

static int parse_similarity(int argc, char **argv, struct sim_opts *o)
{
    static const struct option opts[] = {
        model_opt, null_opt,
        {"text", required_argument, 0, 't'},  {"image", required_argument, 0, 'i'},
        {"query", required_argument, 0, 'q'}, {"db", required_argument, 0, 'd'},
        {"names", required_argument, 0, 'N'}, {"csv", no_argument, 0, 'c'},
        {"dim", required_argument, 0, 'D'},   {"no-exif-orientation", no_argument, 0, 'E'},
        {0, 0, 0, 0},
    };
    const char *cmd = "similarity";
    int c;
    *o = (struct sim_opts){.k = 10, .exif = 1, .delim = '\n'};
    char ***lists[] = {&o->texts, &o->images, &o->queries, &o->dbs, &o->names};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        if (!(*lists[i] = calloc((size_t)argc, sizeof(char *))))
            return fail(EXIT_FAILED, "out of memory");
    options_reset();
    while ((c = getopt_long(argc, argv, ":m:t:i:q:k:0", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 't': o->texts[o->nt++] = optarg; break;
        case 'i': o->images[o->ni++] = optarg; break;
        case 'q': o->queries[o->nq++] = optarg; break;
        case 'd': o->dbs[o->ndb++] = optarg; break;
        case 'N': o->names[o->nnames++] = optarg; break;
        case 'c': o->csv = 1; break;
        case 'E': o->exif = 0; break;
        case '0': o->delim = 0; break;
        case 'k':
            if (parse_number(cmd, "-k", optarg, 1, UINT64_MAX, &o->k))
                return EXIT_USAGE;
            break;
        case 'D':
            if (parse_number(cmd, "--dim", optarg, 1, VECFILE_MAX_DIM, &o->dim))
                return EXIT_USAGE;
            break;
        default: return bad_option(cmd, c, argv);
        }
    }
    if (optind < argc)
        return usage_error(cmd, "unexpected argument '%s' (texts go after -t, images after -i)", argv[optind]);
    if (!o->nt && !o->ni && !o->nq)
        return usage_error(cmd, "nothing to compare: give -t, -i or -q");
    if (o->nq && !o->ndb)
        return usage_error(cmd, "-q needs --db to compare against");
    if (o->nnames && o->nnames != o->ndb)
        return usage_error(cmd, "give one --names for each --db, or none (%d --db, %d --names)", o->ndb, o->nnames);
    int stdin_users = 0;
    for (int i = 0; i < o->nq; i++)
        stdin_users += !strcmp(o->queries[i], "-");
    for (int i = 0; i < o->ndb; i++)
        stdin_users += !strcmp(o->dbs[i], "-");
    if (stdin_users > 1)
        return usage_error(cmd, "standard input ('-') can be read once only");
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
        struct index_model have, want;
        if (o->nnames)
            return usage_error("similarity", "%s is an index, which names its rows: no --names for it", o->dbs[i]);
        if (!(d->ix = index_open(o->dbs[i], INDEX_READ, err)) || index_model(d->ix, &have, err) < 0 ||
            !(d->v = index_vectors(d->ix, err)))
            return fail(EXIT_FAILED, "%s", err);
        if (r->w) {
            index_model_of(r->w, o->model ? o->model : "the model", have.exif, have.draft, &want);
            if (strcmp(have.id, want.id))
                return fail(EXIT_FAILED, "%s was made with another model: %s (id %s), not %s (id %s)", o->dbs[i],
                            have.desc, have.id, want.desc, want.id);
        }
        return 0;
    }
    if (!(d->v = d->file = vecfile_open(o->dbs[i], r->dim, err)))
        return fail(EXIT_FAILED, "%s", err);
    if (o->nnames && read_names(o->names[i], d->v->rows, o->delim, &d->names))
        return EXIT_FAILED;
    return 0;
}

/* The model (when texts or images are to be embedded), the databases and
 * their names, and the dimension they all agree on. */
static int sim_open(struct sim_run *r, const struct sim_opts *o)
{
    int code;
    if ((o->nt || o->ni) && !(r->w = open_model(o->model)))
        return EXIT_FAILED;
    if (!o->nt && !o->ni)
        transformer_blas_idle(); /* comparing vectors from files needs no BLAS */
    r->dim = o->dim ? (int)o->dim : r->w ? (int)r->w->cfg.embed_dim : 0;
    if (!(r->db = calloc((size_t)o->ndb + 1, sizeof *r->db)))
        return fail(EXIT_FAILED, "out of memory");
    for (int i = 0; i < o->ndb; i++) {
        if ((code = sim_open_db(r, o, i)))
            return code;
        if (i && r->db[i].v->dim != r->db[0].v->dim)
            return fail(EXIT_FAILED, "%s holds vectors of dimension %d, %s %d", o->dbs[i], r->db[i].v->dim,
                        o->dbs[0], r->db[0].v->dim);
    }
    if (o->ndb && r->w && (int)r->w->cfg.embed_dim != r->db[0].v->dim)
        return fail(EXIT_FAILED, "the model makes vectors of dimension %u, %s holds %d", r->w->cfg.embed_dim,
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
        code = embed_image_set(r->w, o->images, o->ni, o->exif, !o->ndb && o->nt ? &r->cols : &r->q);
    for (int i = 0; !code && i < o->nq; i++)
        code = query_file_set(o->queries[i], r->dim, &r->q);
    if (!code && r->q.rows && r->q.dim != r->dim)
        code = fail(EXIT_FAILED, "the queries have dimension %d, the database %d", r->q.dim, r->dim);
    return code;
}

/* A CSV field as RFC 4180 has it: quoted when it holds a comma, a quote or
 * a line break, inner quotes doubled. */
static void csv_field(const char *s)
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
            csv_field(cols->labels[j]);
            continue;
        }
        table_label(cols->labels[j], cols_are_images, label, sizeof label);
        putchar(' ');
        print_padded(label, wcol, 1);
    }
    putchar('\n');
    for (size_t i = 0; i < r->q.rows; i++) {
        if (o->csv)
            csv_field(r->q.labels[i]);
        else {
            table_label(r->q.labels[i], !o->nt, label, sizeof label);
            print_padded(label, wrow, 0);
        }
        for (size_t j = 0; j < cols->rows; j++) {
            float s = search_cosine(cols->vec + j * (size_t)r->dim, r->q.vec + i * (size_t)r->dim, r->dim);
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
            fail(0, "%s", err);
        return *owned;
    }
    if (r->db[db].names)
        return r->db[db].names[row];
    if (asprintf(owned, o->ndb > 1 ? "%s:%zu" : "%.0s%zu", o->dbs[db], row + 1) < 0) {
        *owned = NULL;
        fail(0, "out of memory");
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
            csv_field(name);
            free(owned);
        }
    putchar('\n');
    for (size_t i = 0; i < r->q.rows; i++) {
        csv_field(r->q.labels[i]);
        for (int d = 0; d < o->ndb; d++)
            for (size_t row = 0; row < r->db[d].v->rows; row++) {
                const struct vecfile *v = r->db[d].v;
                float s = search_cosine(v->data + row * (size_t)r->dim, r->q.vec + i * (size_t)r->dim, r->dim);
                if (!isfinite(s))
                    return fail(EXIT_FAILED, "%s: vector %zu is all zeros, NaN or infinite", o->dbs[d], row + 1);
                printf(",%.6f", s);
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
    int code = dbs ? 0 : fail(EXIT_FAILED, "out of memory");
    for (int d = 0; !code && d < o->ndb; d++)
        dbs[d] = r->db[d].v;
    for (size_t i = 0; !code && i < r->q.rows; i++) {
        size_t n;
        struct search_hit *best = search_top_k(dbs, (size_t)o->ndb, r->q.vec + i * (size_t)r->dim, o->k, cores(), &n,
                                               err);
        if (!best)
            code = n < (size_t)o->ndb ? fail(EXIT_FAILED, "%s: %s", o->dbs[n], err) : fail(EXIT_FAILED, "%s", err);
        for (size_t j = 0; !code && j < n; j++) {
            char *owned;
            const char *name = db_name(r, o, best[j].db, best[j].row, &owned);
            if (!name) {
                code = EXIT_FAILED;
                break;
            }
            printf("%.6f\t%s", best[j].score, name);
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

static int cmd_similarity(int argc, char **argv)
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

/* ---- the commands ---- */

static const struct cmd {
    const char *name, *summary, *help;
    int (*fn)(int argc, char **argv);
} cmds[] = {
    {"convert", "PyTorch checkpoint -> clippie weights file", convert_help, cmd_convert},
    {"embed-text", "texts -> embedding vectors", embed_text_help, cmd_embed_text},
    {"embed-image", "image files and folders -> embedding vectors", embed_image_help, cmd_embed_image},
    {"similarity", "compare texts and images, search embedded photos", similarity_help, cmd_similarity},
    {"tokenize", "texts -> CLIP token ids", tokenize_help, cmd_tokenize},
    {"index", "keep a photo library's vectors up to date, for searching", index_help, cmd_index},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: clippie COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-12s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(f, "\n'clippie COMMAND --help' or 'clippie help COMMAND' tells more;\n"
               "'clippie --version' what this binary was built with.\n" EXIT_CODES);
}

/* A command's help, with the model option where it has "%s". */
static void print_help(const struct cmd *c)
{
    const char *at = strstr(c->help, "%s");
    if (!at) {
        fputs(c->help, stdout);
        return;
    }
    fwrite(c->help, 1, (size_t)(at - c->help), stdout);
    fputs(model_help, stdout);
    fputs(at + 2, stdout);
}

extern char *openblas_get_config(void) __attribute__((weak));

static void version(void)
{
    static const char *const simd[] = {"sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw"};
    printf("clippie %s\n", CLIPPIE_VERSION);
    printf("BLAS: %s\n", openblas_get_config ? openblas_get_config() : "a CBLAS library (not OpenBLAS)");
    printf("libraries: zlib %s, utf8proc %s, SQLite %s, cJSON %s\n", zlibVersion(), utf8proc_version(),
           sqlite3_libversion(), cJSON_Version());
    const char *zip = convert_zip_version(); /* loaded on first use: said here whether it loads */
    printf("loaded when needed: libzip %s\n", zip ? zip : "(cannot load)");
    printf("image formats, in the order they are told apart:\n");
    for (size_t k = 0; k < image_format_count(); k++) {
        const struct decoder *d = image_format_at(k);
        char v[128];
        int loads = d->version(v, sizeof v) == 0;
        if (!loads)
            snprintf(v, sizeof v, "%s cannot be loaded", d->library);
        printf("  %-10s %-32s %s%s\n", d->name, d->extensions, v, loads && d->library ? " (loaded when needed)" : "");
    }
    printf("SIMD on this CPU:");
    __builtin_cpu_init();
    for (size_t i = 0; i < sizeof simd / sizeof simd[0]; i++) {
        int has = !strcmp(simd[i], "sse4.2")    ? __builtin_cpu_supports("sse4.2")
                  : !strcmp(simd[i], "avx")      ? __builtin_cpu_supports("avx")
                  : !strcmp(simd[i], "avx2")     ? __builtin_cpu_supports("avx2")
                  : !strcmp(simd[i], "fma")      ? __builtin_cpu_supports("fma")
                  : !strcmp(simd[i], "f16c")     ? __builtin_cpu_supports("f16c")
                  : !strcmp(simd[i], "avx512f")  ? __builtin_cpu_supports("avx512f")
                                                 : __builtin_cpu_supports("avx512bw");
        if (has)
            printf(" %s", simd[i]);
    }
    printf("\nclippie's own kernels: %s\n",
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")
               ? "AVX2, FMA and F16C (x86-64-v3)"
               : "for any x86-64 (no AVX2, FMA and F16C on this CPU)");
}

/* Descriptors 0, 1 and 2 open before anything else is: a closed one would
 * be taken by the next file opened (a names file would get the vectors).
 * A closed stdout is an error; closed stdin and stderr become /dev/null. */
static int standard_fds(void)
{
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int nul = open("/dev/null", fd ? O_WRONLY : O_RDONLY);
        if (nul != fd)
            return -1;
        if (fd == STDOUT_FILENO)
            return fail(-1, "standard output is closed");
    }
    return 0;
}

static const struct cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(name, cmds[i].name))
            return &cmds[i];
    return NULL;
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

static int run(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr), EXIT_USAGE;
    const char *a = argv[1];
    if (!strcmp(a, "-h") || !strcmp(a, "--help") || (!strcmp(a, "help") && argc == 2))
        return usage(stdout), EXIT_ALL_DONE;
    if (!strcmp(a, "--version") || !strcmp(a, "version"))
        return version(), EXIT_ALL_DONE;
    if (!strcmp(a, "help")) {
        const struct cmd *c = find_cmd(argv[2]);
        if (!c)
            return fail(EXIT_USAGE, "help: unknown command '%s'", argv[2]);
        return print_help(c), EXIT_ALL_DONE;
    }
    const struct cmd *c = find_cmd(a);
    if (!c) {
        fail(0, "unknown command '%s'", a);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (wants_help(argc - 1, argv + 1))
        return print_help(c), EXIT_ALL_DONE;
    return c->fn(argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
    if (standard_fds() < 0)
        return EXIT_FAILED;
    struct sigaction sa = {.sa_handler = on_sigbus};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
    int code = run(argc, argv);
    /* every command's output must have reached its file: a full disk or a
     * closed pipe is a failure, not exit 0 */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (errno != EPIPE)
            fail(0, "cannot write standard output: %s", strerror(errno));
        code = code && code != EXIT_SKIPPED ? code : EXIT_FAILED;
    }
    return code;
}
