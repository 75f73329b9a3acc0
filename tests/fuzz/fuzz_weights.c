/* libFuzzer target: weights files. Whatever opens must have every tensor
 * inside the mapping: the first and last float of each are read. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/clippie-fuzz-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    ssize_t n = write(fd, data, size);
    close(fd);
    char err[ERR_LEN];
    struct weights *w = n == (ssize_t)size ? weights_open(path, err) : NULL;
    if (w) {
        size_t count;
        struct weights_spec *specs = weights_specs(&w->cfg, w, &count);
        volatile float sink = 0;
        for (size_t k = 0; specs && k < count; k++)
            sink += (*specs[k].slot)[0] + (*specs[k].slot)[weights_spec_numel(&specs[k]) - 1];
        free(specs);
    }
    weights_close(w);
    unlink(path);
    return 0;
}
