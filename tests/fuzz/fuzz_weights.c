/* libFuzzer target: weights files. Whatever opens must have every tensor
 * inside the mapping: the first and last float of each are read. Half the
 * inputs get their checksum fixed first, so that mutations reach the
 * validation behind it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/clippie-fuzz-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    if (size >= WEIGHTS_HEADER_SIZE && (data[size - 1] & 1)) {
        uint64_t end = WEIGHTS_HEADER_SIZE + (uint64_t)load_u32(copy + WEIGHTS_HDR_COUNT) * WEIGHTS_ENTRY_SIZE;
        if (end <= size) {
            store_u32(copy + WEIGHTS_HDR_CRC, 0);
            store_u32(copy + WEIGHTS_HDR_CRC, (uint32_t)crc32(0, copy, (uInt)end));
        }
    }
    ssize_t n = write(fd, copy, size);
    free(copy);
    close(fd);
    char err[ERR_LEN];
    struct weights *w = n == (ssize_t)size ? weights_open(path, err) : NULL;
    if (w) {
        size_t count;
        struct weights_spec *specs = weights_specs(&w->cfg, w, &count);
        volatile float sink = 0;
        for (size_t k = 0; specs && k < count; k++)
            sink += weights_spec_value(&specs[k], 0) + weights_spec_value(&specs[k], weights_spec_numel(&specs[k]) - 1);
        free(specs);
    }
    weights_close(w);
    unlink(path);
    return 0;
}
