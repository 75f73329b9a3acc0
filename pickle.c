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

static int push_string(struct parser *ps, size_t lenbytes)
{
    const unsigned char *p = take(ps, lenbytes);
    if (!p)
        return -1;
    uint64_t n = lenbytes == 1 ? p[0] : lenbytes == 4 ? load_u32(p) : load_u64(p);
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

static int run(struct parser *ps, struct value **result)
{
    const unsigned char *p;
    struct value *v, *w, *x;
    size_t first = 0;
    while (ps->pos < ps->len) {
        size_t at = ps->pos;
        int op = ps->buf[ps->pos++];
        int rc = 0;
        switch (op) {
        case 0x80: /* PROTO */
            if (!(p = take(ps, 1)))
                return -1;
            if (p[0] < 2 || p[0] > 5)
                return error(ps->err, "unsupported pickle protocol %d", p[0]);
            break;
        case 0x95: /* FRAME */
            rc = take(ps, 8) ? 0 : -1;
            break;
        case 'c': rc = op_global(ps); break;
        case 0x93: rc = op_stack_global(ps); break;
        case 'q': rc = (p = take(ps, 1)) ? memo_put(ps, p[0]) : -1; break;
        case 'r': rc = (p = take(ps, 4)) ? memo_put(ps, load_u32(p)) : -1; break;
        case 0x94: rc = memo_put(ps, ps->nmemo); break;
        case 'h': rc = (p = take(ps, 1)) ? memo_get(ps, p[0]) : -1; break;
        case 'j': rc = (p = take(ps, 4)) ? memo_get(ps, load_u32(p)) : -1; break;
        case '(':
            if (ps->nmarks == MAX_MARKS)
                return error(ps->err, "pickle nests marks deeper than %d", MAX_MARKS);
            ps->marks[ps->nmarks++] = ps->sp;
            break;
        case ')': rc = push(ps, new_value(ps, K_TUPLE)); break;
        case ']': rc = push(ps, new_value(ps, K_LIST)); break;
        case '}': rc = push(ps, new_value(ps, K_DICT)); break;
        case 't': rc = pop_mark(ps, &first) < 0 ? -1 : collect_into(ps, K_TUPLE, first); break;
        case 'l': rc = pop_mark(ps, &first) < 0 ? -1 : collect_into(ps, K_LIST, first); break;
        case 'd':
            if (pop_mark(ps, &first) < 0 || push(ps, new_value(ps, K_DICT)) < 0)
                return -1;
            /* the new dict sits above its items: move it below them */
            v = ps->stack[--ps->sp];
            rc = set_items(ps, v, first) < 0 ? -1 : push(ps, v);
            break;
        case 0x85: case 0x86: case 0x87: /* TUPLE1..3 */
            if (ps->sp - (ps->nmarks ? ps->marks[ps->nmarks - 1] : 0) < (size_t)(op - 0x84))
                return error(ps->err, "pickle stack underflow at byte %zu", at);
            rc = collect_into(ps, K_TUPLE, ps->sp - (size_t)(op - 0x84));
            break;
        case 'X': rc = push_string(ps, 4); break;
        case 0x8c: rc = push_string(ps, 1); break;
        case 0x8d: rc = push_string(ps, 8); break;
        case 'T': rc = push_string(ps, 4); break;
        case 'U': rc = push_string(ps, 1); break;
        case 'B': rc = push_string(ps, 4); break;
        case 'C': rc = push_string(ps, 1); break;
        case 'J': rc = (p = take(ps, 4)) ? push_int(ps, (int32_t)load_u32(p)) : -1; break;
        case 'K': rc = (p = take(ps, 1)) ? push_int(ps, p[0]) : -1; break;
        case 'M': rc = (p = take(ps, 2)) ? push_int(ps, load_u16(p)) : -1; break;
        case 0x8a: { /* LONG1 */
            if (!(p = take(ps, 1)))
                return -1;
            size_t n = p[0];
            if (n > 8)
                return error(ps->err, "pickle integer of %zu bytes is too large", n);
            if (!(p = take(ps, n)))
                return -1;
            uint64_t u = 0;
            for (size_t k = 0; k < n; k++)
                u |= (uint64_t)p[k] << 8 * k;
            if (n && n < 8 && (p[n - 1] & 0x80))
                u |= ~0ull << 8 * n; /* sign-extend */
            rc = push_int(ps, (int64_t)u);
            break;
        }
        case 'G': { /* BINFLOAT, big-endian */
            if (!(p = take(ps, 8)))
                return -1;
            uint64_t u = 0;
            for (int k = 0; k < 8; k++)
                u = u << 8 | p[k];
            if (!(v = new_value(ps, K_FLOAT)))
                return -1;
            memcpy(&v->f, &u, sizeof u);
            rc = push(ps, v);
            break;
        }
        case 'N': rc = push(ps, new_value(ps, K_NONE)); break;
        case 0x88: case 0x89:
            if (!(v = new_value(ps, K_BOOL)))
                return -1;
            v->i = op == 0x88;
            rc = push(ps, v);
            break;
        case 'Q': rc = op_persid(ps); break;
        case 'R': rc = op_reduce(ps); break;
        case 0x81: rc = op_newobj(ps); break;
        case 'b': rc = op_build(ps); break;
        case 's':
            if (!(w = pop(ps)) || !(v = pop(ps)) || !(x = top(ps)))
                return -1;
            if (push(ps, v) < 0 || push(ps, w) < 0)
                return -1;
            rc = set_items(ps, x, ps->sp - 2);
            break;
        case 'u':
            if (pop_mark(ps, &first) < 0)
                return -1;
            if (first == 0 || (ps->nmarks && first <= ps->marks[ps->nmarks - 1]))
                return error(ps->err, "pickle SETITEMS without a dict at byte %zu", at);
            rc = set_items(ps, ps->stack[first - 1], first);
            break;
        case 'a':
            if (!(v = pop(ps)) || !(x = top(ps)))
                return -1;
            if (x->kind != K_LIST)
                return error(ps->err, "pickle APPEND to something other than a list");
            rc = add_item(ps, x, v);
            break;
        case 'e':
            if (pop_mark(ps, &first) < 0)
                return -1;
            if (first == 0 || (ps->nmarks && first <= ps->marks[ps->nmarks - 1]) || ps->stack[first - 1]->kind != K_LIST)
                return error(ps->err, "pickle APPENDS without a list at byte %zu", at);
            for (size_t k = first; k < ps->sp && rc == 0; k++)
                rc = add_item(ps, ps->stack[first - 1], ps->stack[k]);
            ps->sp = first;
            break;
        case '0': rc = pop(ps) ? 0 : -1; break;
        case '.':
            if (!(*result = pop(ps)))
                return -1;
            return 0;
        default:
            return error(ps->err, "unsupported pickle opcode 0x%02x at byte %zu", op, at);
        }
        if (rc < 0)
            return -1;
    }
    return error(ps->err, "pickle ends without STOP");
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
    if (walk(&wk, root, prefix, 0, 0) < 0)
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
