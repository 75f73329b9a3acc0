/* libFuzzer target: a whole checkpoint (zip + pickle + storages) through
 * convert, into a temporary file that is removed again. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[] = "/tmp/clippie-fuzz-XXXXXX", out[64];
    int fd = mkstemp(in);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(in);
        return 0;
    }
    close(fd);
    snprintf(out, sizeof out, "%s.weights", in);
    char err[ERR_LEN];
    struct convert_info info;
    if (convert_checkpoint(in, out, WEIGHTS_QUICK_GELU, -1, &info, err) == 0)
        unlink(out);
    unlink(in);
    return 0;
}
