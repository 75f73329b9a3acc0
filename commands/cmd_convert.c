/* cmd_convert.c - clippie convert: a checkpoint (or a hub folder) to
 * clippie's weights file, and the one line that says what it was. */
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "convert.h"

const char cmd_convert_help[] =
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
    "the option to pass: a guess would give wrong vectors silently. OpenCLIP's\n"
    "SigLIP 2 folders (open_clip_config.json, the checkpoint and tokenizer.json)\n"
    "are read whole: the tokenizer goes into OUTPUT. Other model families\n"
    "(SigLIP v1, NaFlex, CoCa, other timm or ResNet towers, ...) are refused by name.\n"
    "OUTPUT appears only when the conversion succeeded.\n" EXIT_CODES;

static void print_converted(const char *out, const struct convert_info *info)
{
    const struct weights_config *k = &info->cfg;
    static const char *const acts[] = {"quick_gelu", "gelu", "gelu_tanh"};
    char shape[160], act[64];
    if (k->family == WEIGHTS_SIGLIP)
        snprintf(act, sizeof act, "%s/%s", acts[k->activation % 3], acts[k->text_activation % 3]);
    else
        snprintf(act, sizeof act, "%s", acts[k->activation % 3]);
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
            act, info->activation_from,
            (double)info->params / 1e6, info->tensors[0], info->tensors[1], info->tensors[2], info->stored[0],
            info->stored[1], info->stored[2], out);
    if (info->max_rounding > 0)
        cli_warning("%s: storing in lower precision rounded weights by up to %.3g (relative)", out, info->max_rounding);
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
    cli_options_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        const char *comma = c == 'H' ? strchr(optarg, ',') : NULL;
        char head[16];
        switch (c) {
        case 't':
            for (o->dtype = 2; o->dtype >= 0 && strcmp(optarg, dtypes[o->dtype]); o->dtype--)
                ;
            if (o->dtype < 0)
                return cli_usage("convert", "--dtype takes f32, f16 or bf16, not '%s'", optarg);
            break;
        case 'a':
            if (strcmp(optarg, "gelu") && strcmp(optarg, "quick_gelu"))
                return cli_usage("convert", "--activation takes quick_gelu or gelu, not '%s'", optarg);
            o->activation = strcmp(optarg, "gelu") ? WEIGHTS_QUICK_GELU : WEIGHTS_GELU;
            break;
        case 'H':
            if (!comma || (size_t)(comma - optarg) >= sizeof head)
                return cli_usage("convert", "--heads takes IMAGE,TEXT head counts such as 12,8, not '%s'", optarg);
            snprintf(head, sizeof head, "%.*s", (int)(comma - optarg), optarg);
            if (cli_parse_number("convert", "--heads", head, 1, 256, &v) ||
                cli_parse_number("convert", "--heads", comma + 1, 1, 256, &t))
                return EXIT_USAGE;
            o->vision_heads = (uint32_t)v;
            o->text_heads = (uint32_t)t;
            break;
        default: return cli_bad_option("convert", c, argv);
        }
    }
    if (argc - optind != 2)
        return cli_usage("convert", "needs an input (checkpoint or folder) and an output path");
    return 0;
}

int cmd_convert(int argc, char **argv)
{
    struct convert_opts o;
    struct convert_info info;
    char err[ERR_LEN];
    int code = parse_convert(argc, argv, &o);
    if (code)
        return code;
    if (convert_model(argv[optind], argv[optind + 1], &o, &info, err) < 0)
        return cli_fail(EXIT_FAILED, "convert: %s", err);
    print_converted(argv[optind + 1], &info);
    return EXIT_ALL_DONE;
}
