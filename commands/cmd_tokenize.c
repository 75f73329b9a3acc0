/* cmd_tokenize.c - clippie tokenize: texts to token ids (CLIP's, or a
 * model's own), a line each. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

const char cmd_tokenize_help[] =
    "usage: clippie tokenize [-m MODEL] [-0] [TEXT...]\n"
    "\n"
    "Prints CLIP's token ids for each TEXT (or each line of standard input) on\n"
    "a line of its own: 49406 (start), the text's ids, 49407 (end), with no\n"
    "padding and no truncation. Invalid UTF-8 becomes U+FFFD, with a warning.\n"
    "With -m, the ids of that model's own tokenizer: a SigLIP 2 model's are\n"
    "Gemma's, after open_clip's cleaning (lower case, no punctuation), the end\n"
    "token 1 last, no start token; again no padding and no truncation.\n"
    "\n"
    "  -m, --model MODEL  a weights file whose tokenizer to use\n"
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

int cmd_tokenize(int argc, char **argv)
{
    static const struct option opts[] = {CLI_NULL_OPT, CLI_MODEL_OPT, {0, 0, 0, 0}};
    char delim = '\n', err[ERR_LEN] = "";
    const char *model = NULL;
    int c, code = EXIT_ALL_DONE;
    cli_options_reset();
    while ((c = getopt_long(argc, argv, ":0m:", opts, NULL)) != -1) {
        if (c == 'm')
            model = optarg;
        else if (c == '0')
            delim = 0;
        else
            return cli_bad_option("tokenize", c, argv);
    }
    struct weights *w = NULL;
    if (model && !(w = cli_open_model(model, NULL)))
        return EXIT_FAILED;
    int siglip = w && w->cfg.family == WEIGHTS_SIGLIP;
    struct input in;
    input_init(&in, argc - optind, argv + optind, delim);
    struct tokenizer *t = tokenizer_open(err);
    if (!t) {
        weights_close(w);
        return cli_fail(EXIT_FAILED, "%s", err);
    }
    for (const char *text; (text = cli_next_input(&in, 0, err));) {
        int32_t *ids;
        size_t replaced;
        int n = siglip ? tokenizer_encode_spm(t, &w->tokenizer, (int32_t)w->cfg.eos_id, UINT32_MAX, text, strlen(text),
                                              &ids, &replaced, err)
                       : tokenizer_encode(t, text, strlen(text), &ids, &replaced, err);
        if (n < 0) {
            cli_fail(0, "text %d: %s", in.number, err);
            putchar('\n');
            code = EXIT_SKIPPED;
            continue;
        }
        if (replaced)
            cli_warning("text %d: %zu invalid UTF-8 sequences read as U+FFFD", in.number, replaced);
        print_ids(ids, n);
        free(ids);
    }
    if (*err)
        code = cli_fail(EXIT_FAILED, "%s", err);
    input_free(&in);
    tokenizer_close(t);
    weights_close(w);
    return code;
}
