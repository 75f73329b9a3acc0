/* mkweights: writes a weights file of random values for a given shape, for
 * tests of the command line that need a model but not its numbers.
 *
 *     tests/mkweights OUT [vision_width vision_layers patch grid text_width text_layers context vocab embed]
 */
#include <stdio.h>
#include <stdlib.h>

#include "weights.h"

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 11) {
        fprintf(stderr, "usage: mkweights OUT [Wv Lv P G Wt Lt C V E]\n");
        return 2;
    }
    struct weights_config c = {.activation = WEIGHTS_QUICK_GELU, .embed_dim = 32, .vision_width = 64,
                               .vision_layers = 1, .vision_patch = 8, .vision_grid = 4, .context_length = 77,
                               .vocab_size = 49408, .text_width = 64, .text_layers = 1};
    if (argc == 11) {
        uint32_t *f[] = {&c.vision_width, &c.vision_layers, &c.vision_patch, &c.vision_grid, &c.text_width,
                         &c.text_layers, &c.context_length, &c.vocab_size, &c.embed_dim};
        for (int k = 0; k < 9; k++)
            *f[k] = (uint32_t)atoi(argv[k + 2]);
    }
    weights_config_openai(&c);
    char err[ERR_LEN];
    if (weights_config_check(&c, err) < 0) {
        fprintf(stderr, "mkweights: %s\n", err);
        return 1;
    }
    size_t n, dir_len;
    struct weights_spec *specs = weights_specs(&c, NULL, &n);
    unsigned char *dir;
    uint64_t *off;
    if (!specs || weights_layout(&c, specs, n, &dir, &dir_len, &off) < 0) {
        fprintf(stderr, "mkweights: out of memory\n");
        return 1;
    }
    FILE *f = fopen(argv[1], "wb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fwrite(dir, 1, dir_len, f);
    uint32_t seed = 12345;
    for (size_t k = 0; k < n; k++) {
        fseek(f, (long)off[k], SEEK_SET);
        for (size_t i = 0; i < weights_spec_numel(&specs[k]); i++) {
            seed = seed * 1664525u + 1013904223u;
            /* small values keep activations tame; LayerNorm weights near 1 */
            float v = ((float)(seed >> 8) / (1 << 24) - 0.5f) * 0.1f;
            if (specs[k].ndim == 1 && k > 0)
                v += 1.0f;
            fwrite(&v, sizeof v, 1, f);
        }
    }
    fclose(f);
    free(specs);
    free(dir);
    free(off);
    return 0;
}
