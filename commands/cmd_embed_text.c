/* cmd_embed_text.c - clippie embed-text: texts to vectors on standard
 * output, answered line by line as they come. */
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

const char cmd_embed_text_help[] =
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

static int embed_texts(struct cli_texts *m, struct input *in, struct vecfile_writer *out, int normalize)
{
    char err[ERR_LEN] = "";
    int code = 0, E = (int)m->w->cfg.embed_dim;
    while (!code && !cli_stop_signal) {
        const char *text = cli_next_input(in, m->n > 0, err);
        if (m->n && (!text || text == INPUT_WAIT || m->n == CLI_TEXT_BATCH)) {
            code = cli_texts_run(m);
            code = code ? code : cli_write_rows(out, m->vec, (size_t)m->n, E, normalize);
            m->n = 0;
        }
        if (!text)
            break;
        if (text != INPUT_WAIT && !code)
            code = cli_texts_add(m, text, in->number);
    }
    return code ? code : *err ? cli_fail(EXIT_FAILED, "%s", err) : 0;
}

int cmd_embed_text(int argc, char **argv)
{
    static const struct option opts[] = {CLI_MODEL_OPT, CLI_FORMAT_OPT, CLI_NORMALIZE_OPT, CLI_NULL_OPT, {0, 0, 0, 0}};
    struct cli_embed_opts o = {.fmt = VECFILE_RAW, .delim = '\n'};
    int c, code;
    cli_options_reset();
    while ((c = getopt_long(argc, argv, ":m:f:n0", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'f':
            if (cli_parse_format("embed-text", optarg, &o.fmt))
                return EXIT_USAGE;
            break;
        case 'n': o.normalize = 1; break;
        case '0': o.delim = 0; break;
        default: return cli_bad_option("embed-text", c, argv);
        }
    }
    struct input in;
    input_init(&in, argc - optind, argv + optind, o.delim);
    struct weights *w = cli_open_model(o.model, NULL);
    struct vecfile_writer *out = NULL;
    struct cli_texts m = {0};
    char err[ERR_LEN];
    if (!w || (code = cli_texts_open(&m, w)))
        code = EXIT_FAILED;
    else if (!(out = cli_open_output("embed-text", o.fmt, (int)w->cfg.embed_dim)))
        code = EXIT_FAILED;
    else {
        if (!in.argv && isatty(STDIN_FILENO))
            fprintf(stderr, "clippie: reading texts from standard input, one per line (Ctrl-D to end)\n");
        cli_catch_stop();
        code = embed_texts(&m, &in, out, o.normalize);
    }
    if (vecfile_writer_close(out, err) < 0 && !code)
        code = cli_fail(EXIT_FAILED, "cannot write the vectors: %s", err);
    input_free(&in);
    cli_texts_close(&m);
    weights_close(w);
    return cli_die_of_stop(code);
}
