/* craft.h - what the pickle, convert and zoo tests need to build their
 * inputs themselves: a growing byte buffer with pickle opcode emitters, a
 * way to run a parse in a child process under a memory and time limit, a
 * scratch folder, and the micro model with its deterministic values and
 * the check that a converted file holds them. */
#ifndef CRAFT_H
#define CRAFT_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "util.h"
#include "weights.h"

/* the smallest model the config check allows, nearly: heads of 64 */
static const struct weights_config micro = {
    .activation = WEIGHTS_QUICK_GELU, .embed_dim = 8, .vision_width = 64, .vision_layers = 1, .vision_patch = 4,
    .vision_grid = 2, .context_length = 4, .vocab_size = 16, .text_width = 64, .text_layers = 1,
    .vision_heads = 1, .text_heads = 1, .vision_mlp = 256, .text_mlp = 256, .ln_eps = 1e-5f,
    .image_mean = {0.48145466f, 0.4578275f, 0.40821073f}, .image_std = {0.26862954f, 0.26130258f, 0.27577711f}};

/* the micro model's i-th value, the same in every test that builds it */
static inline float value(size_t i) { return (float)((i * 7919) % 2001) / 1000.0f - 1.0f; }

/* The weights file at path holds value(0), value(1)... in its tensors'
 * order, as float16 rounds them when half is set. */
static inline void check_values(const char *path, int half)
{
    char err[ERR_LEN] = "";
    struct weights *w = weights_open(path, err);
    CHECK(w != NULL, "open %s: %s", path, err);
    if (!w)
        return;
    size_t n, at = 0, wrong = 0;
    struct weights_spec *specs = weights_specs(&w->cfg, w, &n);
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < weights_spec_numel(&specs[k]); i++, at++)
            wrong += weights_spec_value(&specs[k], i) != (half ? util_half_to_float(util_float_to_half(value(at))) : value(at));
    CHECK(wrong == 0 && at > 0, "%s: %zu of %zu values wrong", path, wrong, at);
    free(specs);
    weights_close(w);
}

struct bytes {
    unsigned char *p;
    size_t n, cap;
};

static inline void put(struct bytes *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        if (!(b->p = realloc(b->p, b->cap)))
            abort();
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static inline void op(struct bytes *b, int code)
{
    unsigned char c = (unsigned char)code;
    put(b, &c, 1);
}

/* an opcode and its one-byte argument (BINGET, BINPUT, BININT1, PROTO) */
static inline void op1(struct bytes *b, int code, unsigned arg)
{
    op(b, code);
    op(b, (int)arg);
}

/* BININT: any int a test needs */
static inline void op_int(struct bytes *b, uint32_t v)
{
    unsigned char le[4];
    store_u32(le, v);
    op(b, 'J');
    put(b, le, 4);
}

/* SHORT_BINUNICODE */
static inline void op_str(struct bytes *b, const char *s)
{
    op1(b, 0x8c, (unsigned)strlen(s));
    put(b, s, strlen(s));
}

/* GLOBAL "module\nname\n" */
static inline void op_global(struct bytes *b, const char *module, const char *name)
{
    op(b, 'c');
    put(b, module, strlen(module));
    put(b, "\n", 1);
    put(b, name, strlen(name));
    put(b, "\n", 1);
}

/* A tensor view as torch.save pickles it, type "FloatStorage" or another:
 * _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()). */
static inline void op_tensor(struct bytes *b, const char *type, const char *key, uint32_t numel, uint32_t offset,
                             int ndim, const uint32_t *size, const uint32_t *stride)
{
    op_global(b, "torch._utils", "_rebuild_tensor_v2");
    op(b, '(');
    op(b, '(');
    op_str(b, "storage");
    op_global(b, "torch", type);
    op_str(b, key);
    op_str(b, "cpu");
    op_int(b, numel);
    op(b, 't');
    op(b, 'Q');
    op_int(b, offset);
    for (int pass = 0; pass < 2; pass++) {
        op(b, '(');
        for (int d = 0; d < ndim; d++)
            op_int(b, pass ? stride[d] : size[d]);
        op(b, 't');
    }
    op(b, 0x89);
    op_global(b, "collections", "OrderedDict");
    op(b, ')');
    op(b, 'R');
    op(b, 't');
    op(b, 'R');
}

/* Virtual memory this process has mapped, in bytes. */
static inline size_t vm_size(void)
{
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%lu", &pages) != 1)
        abort();
    fclose(f);
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* Runs fn(arg, err) in a child that may map at most mem_mib MiB more than it
 * has at the start and runs at most secs seconds. Returns fn's result, or -2
 * when the child died (out of memory, over time). err gets fn's message;
 * *seconds the time it took. */
static inline int in_child(int (*fn)(void *, char *), void *arg, size_t mem_mib, unsigned secs, char *err,
                           double *seconds)
{
    char *shared = mmap(NULL, ERR_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        abort();
    shared[0] = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit r = {.rlim_cur = vm_size() + (mem_mib << 20), .rlim_max = RLIM_INFINITY};
        if (setrlimit(RLIMIT_AS, &r) < 0)
            _exit(3);
        alarm(secs);
        _exit(fn(arg, shared) == 0 ? 0 : 1);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        abort();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    snprintf(err, ERR_LEN, "%s", shared);
    munmap(shared, ERR_LEN);
    if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
        return -2;
    return WEXITSTATUS(status) ? -1 : 0;
}

#endif
