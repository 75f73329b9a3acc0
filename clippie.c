/* clippie - OpenAI's CLIP on the CPU, from the shell.
 *
 * Only this file prints to stdout, chooses exit codes and exits; the modules
 * return errors as strings. One function per subcommand, listed in cmds[].
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "util.h"
#include "weights.h"

enum { EXIT_ALL_DONE = 0, EXIT_SKIPPED = 1, EXIT_USAGE = 2, EXIT_FAILED = 3 };

#define EXIT_CODES                                                                                                   \
    "exit status: 0 all done, 1 some inputs were skipped, 2 usage error,\n"                                            \
    "3 failed (bad model or checkpoint, I/O error)\n"

static const char *prog = "clippie";

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

static const struct cmd {
    const char *name, *summary, *help;
    int (*fn)(int argc, char **argv);
} cmds[] = {
    {"convert", "PyTorch checkpoint -> clippie weights file", convert_help, cmd_convert},
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
                return fputs(cmds[i].help, stdout), EXIT_ALL_DONE;
            return cmds[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
