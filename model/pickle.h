/* pickle.h - reads the tensor directory of a PyTorch checkpoint's data.pkl.
 *
 * A pickle is a program; this reader runs none of it. It knows the opcodes
 * of protocols 2 to 4 and builds only what checkpoints contain: storages,
 * torch._utils._rebuild_tensor_v2 / _rebuild_parameter, collections.OrderedDict
 * and TorchScript module objects (`__torch__.*`) with their attribute dicts.
 * Any other GLOBAL (os.system, builtins.eval, ...) is refused by name.
 *
 *     char err[ERR_LEN];
 *     struct pickle *p = pickle_open(buf, len, err);
 *     if (!p) fprintf(stderr, "%s\n", err);
 *     for (size_t i = 0; i < p->ntensors; i++)
 *         use(p->tensors[i].name, p->tensors[i].storage_key, ...);
 *     pickle_close(p);
 *
 * The pickle owns every string it hands out; buf may be freed after
 * pickle_open returns.
 */
#ifndef PICKLE_H
#define PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define PICKLE_MAX_DIMS 8

struct pickle_tensor {
    const char *name;          /* state_dict name, "visual.conv1.weight" */
    const char *storage_type;  /* "FloatStorage", "HalfStorage", ... */
    const char *storage_key;   /* the storage's entry under <top>/data/ */
    uint64_t storage_numel;    /* elements the storage holds */
    uint64_t offset;           /* first element, in elements */
    int ndim;
    uint64_t size[PICKLE_MAX_DIMS];
    uint64_t stride[PICKLE_MAX_DIMS]; /* in elements */
};

struct pickle {
    struct pickle_tensor *tensors; /* in the order the pickle names them */
    size_t ntensors;
    struct pickle_arena *arena;    /* private */
};

/* Parses data.pkl and collects every tensor reachable from its root, named by
 * dotted attribute path. NULL with err set on anything malformed or refused,
 * two tensors of one name included (PyTorch would keep the last). */
struct pickle *pickle_open(const unsigned char *buf, size_t len, char *err);
void pickle_close(struct pickle *p);

/* The tensor named name, or NULL. */
const struct pickle_tensor *pickle_find(const struct pickle *p, const char *name);

#endif
