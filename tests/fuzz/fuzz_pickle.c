/* libFuzzer target: the restricted pickle reader on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ERR_LEN];
    struct pickle *p = pickle_open(data, size, err);
    if (p)
        pickle_find(p, "visual.conv1.weight");
    pickle_close(p);
    return 0;
}
