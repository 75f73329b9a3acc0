/* libFuzzer target: a whole checkpoint (zip + pickle + storages) through
 * convert, into a temporary file that is removed again. Input starting with
 * '{' is a tokenizer.json instead, put beside a small SigLIP 2 checkpoint
 * (tests/fixtures/siglip-b32-256, linked; CLIPPIE_FIXTURES names another
 * fixtures folder) and converted with it. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "convert.h"

/* folder/tokenizer.json holds the input; the checkpoint and config are links */
static int siglip_folder(const char *folder, const uint8_t *data, size_t size)
{
    const char *fixtures = getenv("CLIPPIE_FIXTURES");
    char src[PATH_MAX], path[PATH_MAX + 64], from[PATH_MAX + 64];
    if (!realpath(fixtures ? fixtures : "tests/fixtures", src))
        return -1;
    static const char *const links[] = {"open_clip_model.safetensors", "open_clip_config.json"};
    for (int k = 0; k < 2; k++) {
        snprintf(from, sizeof from, "%s/siglip-b32-256/%s", src, links[k]);
        snprintf(path, sizeof path, "%s/%s", folder, links[k]);
        if (symlink(from, path) < 0)
            return -1;
    }
    snprintf(path, sizeof path, "%s/tokenizer.json", folder);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, size, f) == size;
    if (f)
        fclose(f);
    return ok ? 0 : -1;
}

static void remove_folder(const char *folder)
{
    static const char *const names[] = {"open_clip_model.safetensors", "open_clip_config.json", "tokenizer.json"};
    char path[PATH_MAX];
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", folder, names[k]);
        unlink(path);
    }
    rmdir(folder);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[] = "/tmp/clippie-fuzz-XXXXXX", out[64], err[ERR_LEN];
    struct convert_info info;
    snprintf(out, sizeof out, "%s.weights", in);
    if (size && data[0] == '{') {
        if (!mkdtemp(in))
            return 0;
        snprintf(out, sizeof out, "%s.weights", in);
        struct convert_opts o = {.activation = -1, .dtype = -1};
        if (siglip_folder(in, data, size) == 0 && convert_model(in, out, &o, &info, err) == 0)
            unlink(out);
        remove_folder(in);
        return 0;
    }
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
    if (convert_checkpoint(in, out, WEIGHTS_QUICK_GELU, -1, &info, err) == 0)
        unlink(out);
    unlink(in);
    return 0;
}
