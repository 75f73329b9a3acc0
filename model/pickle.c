#include "pickle.h"

#include <stdlib.h>
#include <string.h>

/* Bounds that keep a hostile pickle from buying unbounded memory or time;
 * a real checkpoint's data.pkl uses a few thousand values. */
#define MAX_VALUES (1u << 22)
#define MAX_MEMO (1u << 22)
#define MAX_STACK (1u << 20)
#define MAX_MARKS 4096
#define MAX_STRING (1u << 20)
#define MAX_DEPTH 64       /* attribute path nesting */
#define MAX_TENSORS 100000
#define MAX_VISITS 1000000
#define MAX_NAME 256
/* Total memory the values, container items and strings of one pickle may
 * take: a real checkpoint's data.pkl needs well under 1 MiB, while BUILD
 * merging one shared dict into many objects would turn a few kilobytes of
 * pickle into gigabytes if only each structure were bounded. */
#define MAX_WORK (64u << 20)

/* Pickle opcodes, named as CPython's pickle.py names them: those of
 * protocols 2 to 4 that checkpoints use. */
enum opcode {
    MARK = '(', STOP = '.', POP = '0', BINFLOAT = 'G', BININT = 'J', BININT1 = 'K', BININT2 = 'M', NONE = 'N',
    BINPERSID = 'Q', REDUCE = 'R', BINSTRING = 'T', SHORT_BINSTRING = 'U', BINUNICODE = 'X', APPEND = 'a',
    BUILD = 'b', GLOBAL = 'c', DICT = 'd', APPENDS = 'e', BINGET = 'h', LONG_BINGET = 'j', LIST = 'l',
    BINPUT = 'q', LONG_BINPUT = 'r', SETITEM = 's', TUPLE = 't', SETITEMS = 'u', EMPTY_TUPLE = ')',
    EMPTY_LIST = ']', EMPTY_DICT = '}',
    PROTO = 0x80, NEWOBJ = 0x81, TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89,
    LONG1 = 0x8a,                                 /* protocol 2 */
    BINBYTES = 'B', SHORT_BINBYTES = 'C',         /* protocol 3 */
    SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95, /* 4 */
};

enum kind { K_NONE, K_BOOL, K_INT, K_FLOAT, K_STR, K_TUPLE, K_LIST, K_DICT, K_OBJECT, K_GLOBAL, K_STORAGE, K_TENSOR };
enum global { G_REBUILD_TENSOR, G_REBUILD_PARAM, G_ORDERED_DICT, G_STORAGE_TYPE, G_MODULE };

struct value {
    enum kind kind;
    int64_t i;            /* int, bool; global: enum global */
    double f;
    char *s;              /* str; global: its name; storage: its key */
    size_t slen;
    struct value **items; /* tuple, list: the items; dict, object: key, value, key, value, ... */
    size_t n, cap;
    struct value *type;   /* storage: its storage-type global */
    uint64_t numel;       /* storage */
    struct pickle_tensor *tensor;
};

struct pickle_arena {
    struct value **vals;
    size_t nvals, capvals;
};

struct parser {
    const unsigned char *buf;
    size_t len, pos;
    struct pickle_arena *a;
    struct value **stack;
    size_t sp, capstack;
    size_t marks[MAX_MARKS];
    size_t nmarks;
    struct value **memo;
    size_t nmemo;
    size_t work; /* bytes spent so far, at most MAX_WORK */
    char *err;
};

static int spend(struct parser *ps, size_t bytes)
{
    if (bytes > MAX_WORK - ps->work)
        return error(ps->err, "pickle builds more than %u MiB of values, far more than any checkpoint", MAX_WORK >> 20);
    ps->work += bytes;
    return 0;
}

static struct value *new_value(struct parser *ps, enum kind kind)
{
    struct pickle_arena *a = ps->a;
    if (spend(ps, sizeof(struct value)) < 0)
        return NULL;
    if (util_grow(&a->vals, &a->capvals, a->nvals + 1, sizeof *a->vals, MAX_VALUES) < 0) {
        error(ps->err, "pickle has more than %u values", MAX_VALUES);
        return NULL;
    }
    struct value *v = calloc(1, sizeof *v);
    if (!v) {
        error(ps->err, "out of memory");
        return NULL;
    }
    v->kind = kind;
    a->vals[a->nvals++] = v;
    return v;
}

static int add_item(struct parser *ps, struct value *c, struct value *item)
{
    if (spend(ps, sizeof item) < 0)
        return -1;
    if (util_grow(&c->items, &c->cap, c->n + 1, sizeof *c->items, MAX_VALUES) < 0)
        return error(ps->err, "pickle container too large");
    c->items[c->n++] = item;
    return 0;
}

static int push(struct parser *ps, struct value *v)
{
    if (!v)
        return -1;
    if (util_grow(&ps->stack, &ps->capstack, ps->sp + 1, sizeof *ps->stack, MAX_STACK) < 0)
        return error(ps->err, "pickle stack deeper than %u", MAX_STACK);
    ps->stack[ps->sp++] = v;
    return 0;
}

static struct value *pop(struct parser *ps)
{
    size_t floor = ps->nmarks ? ps->marks[ps->nmarks - 1] : 0;
    if (ps->sp <= floor) {
        error(ps->err, "pickle stack underflow at byte %zu", ps->pos);
        return NULL;
    }
    return ps->stack[--ps->sp];
}

static struct value *top(struct parser *ps)
{
    size_t floor = ps->nmarks ? ps->marks[ps->nmarks - 1] : 0;
    if (ps->sp <= floor) {
        error(ps->err, "pickle stack underflow at byte %zu", ps->pos);
        return NULL;
    }
    return ps->stack[ps->sp - 1];
}

/* Pops everything above the newest mark, and the mark: items start at *first. */
static int pop_mark(struct parser *ps, size_t *first)
{
    if (!ps->nmarks)
        return error(ps->err, "pickle uses a mark it never set, at byte %zu", ps->pos);
    *first = ps->marks[--ps->nmarks];
    return 0;
}

static const unsigned char *take(struct parser *ps, size_t n)
{
    if (n > ps->len - ps->pos) {
        error(ps->err, "pickle ends in the middle of an opcode at byte %zu", ps->pos);
        return NULL;
    }
    const unsigned char *p = ps->buf + ps->pos;
    ps->pos += n;
    return p;
}

static struct value *new_string(struct parser *ps, const unsigned char *s, size_t n)
{
    if (n > MAX_STRING) {
        error(ps->err, "pickle string of %zu bytes is over the limit", n);
        return NULL;
    }
    if (spend(ps, n + 1) < 0)
        return NULL;
    struct value *v = new_value(ps, K_STR);
    if (!v)
        return NULL;
    if (!(v->s = malloc(n + 1))) {
        error(ps->err, "out of memory");
        return NULL;
    }
    memcpy(v->s, s, n);
    v->s[n] = 0;
    v->slen = n;
    return v;
}

/* The n-byte little-endian argument of an opcode. */
static int arg(struct parser *ps, size_t n, uint64_t *out)
{
    const unsigned char *p = take(ps, n);
    if (!p)
        return -1;
    *out = 0;
    while (n--)
        *out = *out << 8 | p[n];
    return 0;
}

/* A string, bytes included, after its lenbytes-byte length. */
static int push_string(struct parser *ps, size_t lenbytes)
{
    uint64_t n;
    if (arg(ps, lenbytes, &n) < 0)
        return -1;
    if (n > ps->len - ps->pos)
        return error(ps->err, "pickle string runs past the end at byte %zu", ps->pos);
    return push(ps, new_string(ps, take(ps, (size_t)n), (size_t)n));
}

static int push_int(struct parser *ps, int64_t i)
{
    struct value *v = new_value(ps, K_INT);
    if (v)
        v->i = i;
    return push(ps, v);
}

/* Copies a name from the pickle into printable ASCII for an error message. */
static void printable(char *out, size_t cap, const char *s)
{
    size_t j = 0;
    for (; *s && j + 1 < cap; s++)
        out[j++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    out[j] = 0;
}

static struct value *resolve_global(struct parser *ps, const char *module, const char *name)
{
    enum global g;
    size_t nl = strlen(name);
    if (!strcmp(module, "torch._utils") && !strcmp(name, "_rebuild_tensor_v2"))
        g = G_REBUILD_TENSOR;
    else if (!strcmp(module, "torch._utils") && !strcmp(name, "_rebuild_parameter"))
        g = G_REBUILD_PARAM;
    else if (!strcmp(module, "collections") && !strcmp(name, "OrderedDict"))
        g = G_ORDERED_DICT;
    else if (!strcmp(module, "torch") && nl > 7 && !strcmp(name + nl - 7, "Storage"))
        g = G_STORAGE_TYPE;
    else if (!strncmp(module, "__torch__", 9) && (module[9] == 0 || module[9] == '.'))
        g = G_MODULE;
    else {
        char m[80], n[80];
        printable(m, sizeof m, module);
        printable(n, sizeof n, name);
        error(ps->err, "refused pickle global %s.%s: a checkpoint may only hold tensors and modules", m, n);
        return NULL;
    }
    struct value *v = new_string(ps, (const unsigned char *)name, nl);
    if (v) {
        v->kind = K_GLOBAL;
        v->i = g;
    }
    return v;
}

static int op_global(struct parser *ps)
{
    /* "module\nname\n" */
    char parts[2][256];
    for (int k = 0; k < 2; k++) {
        const unsigned char *start = ps->buf + ps->pos;
        const unsigned char *nl = memchr(start, '\n', ps->len - ps->pos);
        if (!nl)
            return error(ps->err, "pickle GLOBAL without end of line at byte %zu", ps->pos);
        size_t n = (size_t)(nl - start);
        if (n >= sizeof parts[k])
            return error(ps->err, "pickle GLOBAL name too long at byte %zu", ps->pos);
        memcpy(parts[k], start, n);
        parts[k][n] = 0;
        ps->pos += n + 1;
    }
    return push(ps, resolve_global(ps, parts[0], parts[1]));
}

static int op_stack_global(struct parser *ps)
{
    struct value *name = pop(ps), *module = name ? pop(ps) : NULL;
    if (!module)
        return -1;
    if (name->kind != K_STR || module->kind != K_STR)
        return error(ps->err, "pickle STACK_GLOBAL needs two strings");
    return push(ps, resolve_global(ps, module->s, name->s));
}

static int memo_put(struct parser *ps, uint64_t idx)
{
    struct value *v = top(ps);
    if (!v)
        return -1;
    if (idx >= MAX_MEMO)
        return error(ps->err, "pickle memo index %llu is over the limit", (unsigned long long)idx);
    if (idx >= ps->nmemo) {
        if (spend(ps, (idx + 1 - ps->nmemo) * sizeof *ps->memo) < 0)
            return -1;
        struct value **m = realloc(ps->memo, (idx + 1) * sizeof *m);
        if (!m)
            return error(ps->err, "out of memory");
        memset(m + ps->nmemo, 0, (idx + 1 - ps->nmemo) * sizeof *m);
        ps->memo = m;
        ps->nmemo = idx + 1;
    }
    ps->memo[idx] = v;
    return 0;
}

static int memo_get(struct parser *ps, uint64_t idx)
{
    if (idx >= ps->nmemo || !ps->memo[idx])
        return error(ps->err, "pickle refers to memo entry %llu, which was never stored", (unsigned long long)idx);
    return push(ps, ps->memo[idx]);
}

static int is_int(const struct value *v) { return v->kind == K_INT || v->kind == K_BOOL; }

static int int_tuple(struct parser *ps, const struct value *t, uint64_t *out, const char *what)
{
    if (t->kind != K_TUPLE || t->n > PICKLE_MAX_DIMS)
        return error(ps->err, "tensor %s is not a tuple of at most %d ints", what, PICKLE_MAX_DIMS);
    for (size_t k = 0; k < t->n; k++) {
        if (!is_int(t->items[k]) || t->items[k]->i < 0)
            return error(ps->err, "tensor %s holds something other than a non-negative int", what);
        out[k] = (uint64_t)t->items[k]->i;
    }
    return 0;
}

static struct value *rebuild_tensor(struct parser *ps, const struct value *args)
{
    if (args->n < 4) {
        error(ps->err, "_rebuild_tensor_v2 called with %zu arguments, expected at least 4", args->n);
        return NULL;
    }
    struct value *storage = args->items[0], *offset = args->items[1];
    if (storage->kind != K_STORAGE || !is_int(offset) || offset->i < 0) {
        error(ps->err, "_rebuild_tensor_v2 called without a storage and an offset");
        return NULL;
    }
    struct pickle_tensor t = {0};
    if (int_tuple(ps, args->items[2], t.size, "size") < 0 || int_tuple(ps, args->items[3], t.stride, "stride") < 0)
        return NULL;
    if (args->items[2]->n != args->items[3]->n) {
        error(ps->err, "tensor size and stride have different lengths");
        return NULL;
    }
    t.ndim = (int)args->items[2]->n;
    t.offset = (uint64_t)offset->i;
    t.storage_type = storage->type->s;
    t.storage_key = storage->s;
    t.storage_numel = storage->numel;
    struct value *v = new_value(ps, K_TENSOR);
    if (!v || spend(ps, sizeof t) < 0)
        return NULL;
    if (!(v->tensor = malloc(sizeof t))) {
        error(ps->err, "out of memory");
        return NULL;
    }
    *v->tensor = t;
    return v;
}

static int op_reduce(struct parser *ps)
{
    struct value *args = pop(ps), *fn = args ? pop(ps) : NULL;
    if (!fn)
        return -1;
    if (fn->kind != K_GLOBAL || args->kind != K_TUPLE)
        return error(ps->err, "pickle REDUCE on something other than an allowed global");
    switch (fn->i) {
    case G_ORDERED_DICT:
        if (args->n)
            return error(ps->err, "OrderedDict called with arguments");
        return push(ps, new_value(ps, K_DICT));
    case G_REBUILD_TENSOR:
        return push(ps, rebuild_tensor(ps, args));
    case G_REBUILD_PARAM:
        if (args->n < 1 || args->items[0]->kind != K_TENSOR)
            return error(ps->err, "_rebuild_parameter called without a tensor");
        return push(ps, args->items[0]);
    default:
        return error(ps->err, "pickle calls %s, which is not callable here", fn->s);
    }
}

static int op_newobj(struct parser *ps)
{
    struct value *args = pop(ps), *cls = args ? pop(ps) : NULL;
    if (!cls)
        return -1;
    if (cls->kind != K_GLOBAL || cls->i != G_MODULE || args->kind != K_TUPLE || args->n)
        return error(ps->err, "pickle NEWOBJ on something other than a TorchScript module");
    struct value *v = new_value(ps, K_OBJECT);
    if (v)
        v->s = NULL;
    return push(ps, v);
}

static int op_build(struct parser *ps)
{
    struct value *state = pop(ps), *obj = state ? top(ps) : NULL;
    if (!obj)
        return -1;
    if (obj->kind == K_DICT)
        return 0; /* an OrderedDict's state is its _metadata, not needed */
    if (obj->kind != K_OBJECT || state->kind != K_DICT)
        return error(ps->err, "pickle BUILD on something other than a module");
    for (size_t k = 0; k < state->n; k++)
        if (add_item(ps, obj, state->items[k]) < 0)
            return -1;
    return 0;
}

static int op_persid(struct parser *ps)
{
    struct value *pid = pop(ps);
    if (!pid)
        return -1;
    struct value **it = pid->items;
    if (pid->kind != K_TUPLE || pid->n != 5 || it[0]->kind != K_STR || strcmp(it[0]->s, "storage") ||
        it[1]->kind != K_GLOBAL || it[1]->i != G_STORAGE_TYPE || it[2]->kind != K_STR || !is_int(it[4]) || it[4]->i < 0)
        return error(ps->err, "pickle persistent id is not a ('storage', type, key, location, numel) tuple");
    struct value *v = new_value(ps, K_STORAGE);
    if (!v)
        return -1;
    v->type = it[1];
    v->s = it[2]->s;
    v->numel = (uint64_t)it[4]->i;
    return push(ps, v);
}

static int set_items(struct parser *ps, struct value *d, size_t first)
{
    if (d->kind != K_DICT && d->kind != K_OBJECT)
        return error(ps->err, "pickle SETITEM on something other than a dict");
    if ((ps->sp - first) % 2)
        return error(ps->err, "pickle SETITEMS with an odd number of items");
    for (size_t k = first; k < ps->sp; k++)
        if (add_item(ps, d, ps->stack[k]) < 0)
            return -1;
    ps->sp = first;
    return 0;
}

static int collect_into(struct parser *ps, enum kind kind, size_t first)
{
    struct value *v = new_value(ps, kind);
    if (!v)
        return -1;
    for (size_t k = first; k < ps->sp; k++)
        if (add_item(ps, v, ps->stack[k]) < 0)
            return -1;
    ps->sp = first;
    return push(ps, v);
}

static int op_proto(struct parser *ps)
{
    uint64_t v;
    if (arg(ps, 1, &v) < 0)
        return -1;
    if (v < 2 || v > 5)
        return error(ps->err, "unsupported pickle protocol %d", (int)v);
    return 0;
}

static int op_put(struct parser *ps, size_t argbytes)
{
    uint64_t idx;
    return arg(ps, argbytes, &idx) < 0 ? -1 : memo_put(ps, idx);
}

static int op_get(struct parser *ps, size_t argbytes)
{
    uint64_t idx;
    return arg(ps, argbytes, &idx) < 0 ? -1 : memo_get(ps, idx);
}

static int op_mark(struct parser *ps)
{
    if (ps->nmarks == MAX_MARKS)
        return error(ps->err, "pickle nests marks deeper than %d", MAX_MARKS);
    ps->marks[ps->nmarks++] = ps->sp;
    return 0;
}

/* TUPLE, LIST: the items above the newest mark */
static int op_collect(struct parser *ps, enum kind kind)
{
    size_t first = 0;
    return pop_mark(ps, &first) < 0 ? -1 : collect_into(ps, kind, first);
}

/* TUPLE1, TUPLE2, TUPLE3: the top n items */
static int op_tuple_n(struct parser *ps, size_t n, size_t at)
{
    if (ps->sp - (ps->nmarks ? ps->marks[ps->nmarks - 1] : 0) < n)
        return error(ps->err, "pickle stack underflow at byte %zu", at);
    return collect_into(ps, K_TUPLE, ps->sp - n);
}

static int op_dict(struct parser *ps)
{
    size_t first = 0;
    if (pop_mark(ps, &first) < 0 || push(ps, new_value(ps, K_DICT)) < 0)
        return -1;
    /* the new dict sits above its items: move it below them */
    struct value *d = ps->stack[--ps->sp];
    return set_items(ps, d, first) < 0 ? -1 : push(ps, d);
}

/* BININT1, BININT2: unsigned */
static int op_uint(struct parser *ps, size_t argbytes)
{
    uint64_t v;
    return arg(ps, argbytes, &v) < 0 ? -1 : push_int(ps, (int64_t)v);
}

static int op_binint(struct parser *ps)
{
    uint64_t v;
    return arg(ps, 4, &v) < 0 ? -1 : push_int(ps, (int32_t)(uint32_t)v);
}

/* LONG1: a length byte, then that many bytes of two's complement */
static int op_long1(struct parser *ps)
{
    uint64_t n, u;
    if (arg(ps, 1, &n) < 0)
        return -1;
    if (n > 8)
        return error(ps->err, "pickle integer of %zu bytes is too large", (size_t)n);
    const unsigned char *p = ps->buf + ps->pos;
    if (arg(ps, (size_t)n, &u) < 0)
        return -1;
    if (n && n < 8 && (p[n - 1] & 0x80))
        u |= ~0ull << 8 * n; /* sign-extend */
    return push_int(ps, (int64_t)u);
}

/* BINFLOAT: big-endian */
static int op_binfloat(struct parser *ps)
{
    const unsigned char *p = take(ps, 8);
    struct value *v = p ? new_value(ps, K_FLOAT) : NULL;
    if (!v)
        return -1;
    uint64_t u = 0;
    for (int k = 0; k < 8; k++)
        u = u << 8 | p[k];
    memcpy(&v->f, &u, sizeof u);
    return push(ps, v);
}

static int op_bool(struct parser *ps, int truth)
{
    struct value *v = new_value(ps, K_BOOL);
    if (!v)
        return -1;
    v->i = truth;
    return push(ps, v);
}

static int op_setitem(struct parser *ps)
{
    struct value *val, *key, *d;
    if (!(val = pop(ps)) || !(key = pop(ps)) || !(d = top(ps)))
        return -1;
    if (push(ps, key) < 0 || push(ps, val) < 0)
        return -1;
    return set_items(ps, d, ps->sp - 2);
}

/* SETITEMS: the pairs above the newest mark, into the dict below it */
static int op_setitems(struct parser *ps, size_t at)
{
    size_t first = 0;
    if (pop_mark(ps, &first) < 0)
        return -1;
    if (first == 0 || (ps->nmarks && first <= ps->marks[ps->nmarks - 1]))
        return error(ps->err, "pickle SETITEMS without a dict at byte %zu", at);
    return set_items(ps, ps->stack[first - 1], first);
}

static int op_append(struct parser *ps)
{
    struct value *v, *list;
    if (!(v = pop(ps)) || !(list = top(ps)))
        return -1;
    if (list->kind != K_LIST)
        return error(ps->err, "pickle APPEND to something other than a list");
    return add_item(ps, list, v);
}

/* APPENDS: the items above the newest mark, onto the list below it */
static int op_appends(struct parser *ps, size_t at)
{
    size_t first = 0;
    if (pop_mark(ps, &first) < 0)
        return -1;
    if (first == 0 || (ps->nmarks && first <= ps->marks[ps->nmarks - 1]) || ps->stack[first - 1]->kind != K_LIST)
        return error(ps->err, "pickle APPENDS without a list at byte %zu", at);
    for (size_t k = first; k < ps->sp; k++)
        if (add_item(ps, ps->stack[first - 1], ps->stack[k]) < 0)
            return -1;
    ps->sp = first;
    return 0;
}

/* Runs the opcode op, which started at byte at; STOP sets *result. */
static int step(struct parser *ps, int op, size_t at, struct value **result)
{
    switch (op) {
    case PROTO: return op_proto(ps);
    case FRAME: return take(ps, 8) ? 0 : -1; /* a frame's length only helps buffered readers */
    case GLOBAL: return op_global(ps);
    case STACK_GLOBAL: return op_stack_global(ps);
    case BINPUT: return op_put(ps, 1);
    case LONG_BINPUT: return op_put(ps, 4);
    case MEMOIZE: return memo_put(ps, ps->nmemo);
    case BINGET: return op_get(ps, 1);
    case LONG_BINGET: return op_get(ps, 4);
    case MARK: return op_mark(ps);
    case EMPTY_TUPLE: return push(ps, new_value(ps, K_TUPLE));
    case EMPTY_LIST: return push(ps, new_value(ps, K_LIST));
    case EMPTY_DICT: return push(ps, new_value(ps, K_DICT));
    case TUPLE: return op_collect(ps, K_TUPLE);
    case LIST: return op_collect(ps, K_LIST);
    case DICT: return op_dict(ps);
    case TUPLE1: case TUPLE2: case TUPLE3: return op_tuple_n(ps, (size_t)(op - TUPLE1 + 1), at);
    case BINUNICODE: case BINSTRING: case BINBYTES: return push_string(ps, 4);
    case SHORT_BINUNICODE: case SHORT_BINSTRING: case SHORT_BINBYTES: return push_string(ps, 1);
    case BINUNICODE8: return push_string(ps, 8);
    case BININT: return op_binint(ps);
    case BININT1: return op_uint(ps, 1);
    case BININT2: return op_uint(ps, 2);
    case LONG1: return op_long1(ps);
    case BINFLOAT: return op_binfloat(ps);
    case NONE: return push(ps, new_value(ps, K_NONE));
    case NEWTRUE: case NEWFALSE: return op_bool(ps, op == NEWTRUE);
    case BINPERSID: return op_persid(ps);
    case REDUCE: return op_reduce(ps);
    case NEWOBJ: return op_newobj(ps);
    case BUILD: return op_build(ps);
    case SETITEM: return op_setitem(ps);
    case SETITEMS: return op_setitems(ps, at);
    case APPEND: return op_append(ps);
    case APPENDS: return op_appends(ps, at);
    case POP: return pop(ps) ? 0 : -1;
    case STOP: return (*result = pop(ps)) ? 0 : -1;
    default: return error(ps->err, "unsupported pickle opcode 0x%02x at byte %zu", op, at);
    }
}

static int run(struct parser *ps, struct value **result)
{
    *result = NULL;
    while (ps->pos < ps->len && !*result) {
        size_t at = ps->pos;
        if (step(ps, ps->buf[ps->pos++], at, result) < 0)
            return -1;
    }
    return *result ? 0 : error(ps->err, "pickle ends without STOP");
}

struct walk {
    struct pickle *p;
    size_t cap, visits;
    char *err;
};

static int walk(struct walk *wk, const struct value *v, char *prefix, size_t plen, int depth)
{
    if (depth > MAX_DEPTH)
        return error(wk->err, "pickle nests modules deeper than %d", MAX_DEPTH);
    for (size_t k = 0; k + 1 < v->n; k += 2) {
        const struct value *key = v->items[k], *child = v->items[k + 1];
        if (++wk->visits > MAX_VISITS)
            return error(wk->err, "pickle refers to more than %d attributes", MAX_VISITS);
        if (key->kind != K_STR || (child->kind != K_TENSOR && child->kind != K_DICT && child->kind != K_OBJECT))
            continue;
        if (plen + key->slen + 2 > MAX_NAME)
            return error(wk->err, "tensor name longer than %d bytes", MAX_NAME);
        memcpy(prefix + plen, key->s, key->slen);
        size_t n = plen + key->slen;
        if (child->kind != K_TENSOR) {
            prefix[n] = '.';
            if (walk(wk, child, prefix, n + 1, depth + 1) < 0)
                return -1;
            continue;
        }
        prefix[n] = 0;
        struct pickle *p = wk->p;
        if (util_grow(&p->tensors, &wk->cap, p->ntensors + 1, sizeof *p->tensors, MAX_TENSORS) < 0)
            return error(wk->err, "pickle holds more than %d tensors", MAX_TENSORS);
        char *name = strdup(prefix);
        if (!name)
            return error(wk->err, "out of memory");
        p->tensors[p->ntensors] = *child->tensor;
        p->tensors[p->ntensors++].name = name;
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* PyTorch keeps the last of two tensors of one name, pickle_find would find
 * the first: a real checkpoint names each tensor once, so refuse the rest. */
static int check_unique(const struct pickle *p, char *err)
{
    const char **names = malloc((p->ntensors ? p->ntensors : 1) * sizeof *names);
    if (!names)
        return error(err, "out of memory");
    for (size_t k = 0; k < p->ntensors; k++)
        names[k] = p->tensors[k].name;
    qsort(names, p->ntensors, sizeof *names, by_name);
    int rc = 0;
    for (size_t k = 1; k < p->ntensors && rc == 0; k++)
        if (!strcmp(names[k - 1], names[k])) {
            char name[MAX_NAME];
            printable(name, sizeof name, names[k]);
            rc = error(err, "pickle names tensor %s twice", name);
        }
    free(names);
    return rc;
}

struct pickle *pickle_open(const unsigned char *buf, size_t len, char *err)
{
    struct pickle *p = calloc(1, sizeof *p);
    struct parser ps = {.buf = buf, .len = len, .err = err};
    if (!p || !(p->arena = calloc(1, sizeof *p->arena))) {
        error(err, "out of memory");
        goto fail;
    }
    ps.a = p->arena;
    struct value *root = NULL;
    if (run(&ps, &root) < 0)
        goto fail;
    if (root->kind != K_DICT && root->kind != K_OBJECT) {
        error(err, "pickle holds neither a state_dict nor a TorchScript module");
        goto fail;
    }
    char prefix[MAX_NAME];
    struct walk wk = {.p = p, .err = err};
    if (walk(&wk, root, prefix, 0, 0) < 0 || check_unique(p, err) < 0)
        goto fail;
    free(ps.stack);
    free(ps.memo);
    return p;
fail:
    free(ps.stack);
    free(ps.memo);
    pickle_close(p);
    return NULL;
}

void pickle_close(struct pickle *p)
{
    if (!p)
        return;
    struct pickle_arena *a = p->arena;
    if (a) {
        for (size_t k = 0; k < a->nvals; k++) {
            struct value *v = a->vals[k];
            free(v->items);
            free(v->tensor);
            if (v->kind == K_STR || v->kind == K_GLOBAL)
                free(v->s);
            free(v);
        }
        free(a->vals);
        free(a);
    }
    for (size_t k = 0; k < p->ntensors; k++)
        free((char *)p->tensors[k].name);
    free(p->tensors);
    free(p);
}

const struct pickle_tensor *pickle_find(const struct pickle *p, const char *name)
{
    for (size_t k = 0; k < p->ntensors; k++)
        if (!strcmp(p->tensors[k].name, name))
            return &p->tensors[k];
    return NULL;
}
