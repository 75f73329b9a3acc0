/* clippie - OpenAI's CLIP on the CPU, from the shell.
 *
 * This file holds main, the table of subcommands, the reporter every
 * command prints its messages through, help and --version. Each subcommand
 * is a file of its own in commands/ (cmd_NAME.c: its options, help and
 * steps); what they share is commands/cli.h. The modules return errors as
 * strings: only the command line prints, chooses exit codes and exits.
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

#include "blas.h"
#include "matmul.h"
#include "cli.h"
#include "commands.h"
#include "convert.h"
#include "preview.h"

#define CLIPPIE_VERSION "0.3.0"

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

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("", fmt, ap);
    va_end(ap);
    return code;
}

void cli_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("warning: ", fmt, ap);
    va_end(ap);
}

void cli_skipped(const char *name, const char *why)
{
    char buf[ERR_LEN]; /* a very long name is cut here, so that the reason still shows */
    snprintf(buf, sizeof buf, "%s", name);
    cli_fail(0, "%s: %s, skipped", buf, why);
}

void cli_walk_skip(void *ctx, const char *path, const char *why)
{
    (*(size_t *)ctx)++;
    cli_skipped(path, why);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    char what[64], msg[ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(what, sizeof what, "%s: ", cmd);
    cli_fail(0, "%s%s", what, msg);
    fprintf(stderr, "see 'clippie %s --help'\n", cmd);
    return EXIT_USAGE;
}

void cli_progress(size_t done, size_t total, double elapsed)
{
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    double left = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "\r%zu/%zu images, %.1f/s, %02d:%02d left ", done, total, rate, (int)left / 60, (int)left % 60);
    progress_shown = 1;
}

void cli_progress_end(void)
{
    if (progress_shown)
        fputc('\n', stderr), progress_shown = 0;
}

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

/* ---- the commands ----
 *
 * Adding a command: commands/cmd_NAME.c (its help text, options and steps;
 * what it shares with the others from cli.h), its two lines in
 * commands/commands.h and one line here, its section in tests/cli.sh, its
 * section in the man page clippie.1, and the README where users look for it.
 */

static const struct cmd {
    const char *name, *summary, *help;
    int (*fn)(int argc, char **argv);
} cmds[] = {
    {"search", "search the photo index by texts and photos", cmd_search_help, cmd_search},
    {"duplicates", "groups of near-duplicate photos in the index", cmd_duplicates_help, cmd_duplicates},
    {"convert", "PyTorch checkpoint -> clippie weights file", cmd_convert_help, cmd_convert},
    {"embed-text", "texts -> embedding vectors", cmd_embed_text_help, cmd_embed_text},
    {"embed-image", "image files and folders -> embedding vectors", cmd_embed_image_help, cmd_embed_image},
    {"similarity", "compare texts and images, search embedded photos", cmd_similarity_help, cmd_similarity},
    {"tokenize", "texts -> CLIP token ids", cmd_tokenize_help, cmd_tokenize},
    {"index", "keep a photo library's vectors up to date, for searching", cmd_index_help, cmd_index},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: clippie COMMAND [OPTIONS] [ARGS]\n\n"
               "  clippie index ~/Photos                 # once, then now and then: the default index\n"
               "  clippie search \"a dog on a beach\"      # the best 10 photos: score<TAB>path\n"
               "  clippie duplicates                     # groups of near-duplicate photos\n"
               "\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-12s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(f, "\n'clippie COMMAND --help' or 'clippie help COMMAND' tells more, and 'man clippie';\n"
               "'clippie --version' what this binary was built with.\n" EXIT_CODES);
}

/* A command's help, with the model option where it has "%s" and the image
 * formats (from the decoders' table) where it has "%F". */
static void print_help(const struct cmd *c)
{
    char formats[512];
    image_format_names(formats, sizeof formats, " and ");
    for (const char *p = c->help; *p; p++) {
        if (p[0] == '%' && (p[1] == 's' || p[1] == 'F'))
            fputs(*++p == 's' ? cli_model_help : formats, stdout);
        else
            putchar(*p);
    }
}

static void version(void)
{
    static const char *const simd[] = {"sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw"};
    printf("clippie %s\n", CLIPPIE_VERSION);
    char lib[ERR_LEN], err[ERR_LEN];
    int loaded = blas_describe(lib, sizeof lib, err) == 0, q = loaded ? matmul_block() : 0;
    printf("BLAS: %s\n", loaded ? lib : err);
    if (q)
        printf("a lone image's products: clippie's AVX-512 kernel, float16 read as it is, the BLAS's sums (blocks of "
               "%d)\n", q);
    else
        printf("a lone image's products: the BLAS\n");
    printf("libraries: zlib %s, utf8proc %s, SQLite %s, cJSON %s\n", zlibVersion(), utf8proc_version(),
           sqlite3_libversion(), cJSON_Version());
    const char *zip = convert_zip_version(); /* loaded on first use: said here whether it loads */
    printf("loaded when needed: libzip %s, libchafa (%s) for search --preview\n", zip ? zip : "(cannot load)",
           preview_available() ? "loads" : "cannot load");
    printf("image formats, in the order they are told apart:\n");
    for (size_t k = 0; k < image_format_count(); k++) {
        const struct decoder *d = image_format_at(k);
        char v[128] = "built in";
        int loads = !d->version || d->version(v, sizeof v) == 0;
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
            return cli_fail(-1, "standard output is closed");
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
            return cli_fail(EXIT_USAGE, "help: unknown command '%s'", argv[2]);
        return print_help(c), EXIT_ALL_DONE;
    }
    const struct cmd *c = find_cmd(a);
    if (!c) {
        cli_fail(0, "unknown command '%s'", a);
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
            cli_fail(0, "cannot write standard output: %s", strerror(errno));
        code = code && code != EXIT_SKIPPED ? code : EXIT_FAILED;
    }
    return code;
}
