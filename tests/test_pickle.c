/* pickle: crafted pickles that try to buy unbounded work are refused with
 * the exact reason, within bounded memory and time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "craft.h"
#include "pickle.h"

static int parse(void *arg, char *err)
{
    const struct bytes *b = arg;
    struct pickle *p = pickle_open(b->p, b->n, err);
    int rc = p ? 0 : -1;
    pickle_close(p);
    return rc;
}

/* A small pickle whose BUILD ops merge one large dict into many module
 * objects: 40 objects of 4M items each would take 1.3 GB. */
static void test_shared_build(void)
{
    struct bytes b = {0};
    op1(&b, 0x80, 2);
    op_global(&b, "__torch__.m", "M");
    op1(&b, 'q', 0);
    op(&b, '0');
    op_str(&b, "k");
    op1(&b, 'q', 1);
    op(&b, '0');
    op(&b, '}');
    op1(&b, 'q', 2);
    op(&b, '(');
    for (int k = 0; k < 65536; k++) /* 65536 pairs of the same memoised string */
        op1(&b, 'h', 1), op1(&b, 'h', 1);
    op(&b, 'u');
    op(&b, '0');
    for (int obj = 0; obj < 40; obj++) {
        op1(&b, 'h', 0);
        op(&b, ')');
        op(&b, 0x81);
        for (int k = 0; k < 31; k++)
            op1(&b, 'h', 2), op(&b, 'b');
        op(&b, '0');
    }
    op(&b, '}');
    op(&b, '.');
    char err[ERR_LEN];
    double secs;
    int rc = in_child(parse, &b, 1024, 20, err, &secs);
    CHECK(rc == -1, "shared BUILD pickle: child %s (%s)", rc == 0 ? "accepted it" : "died", err);
    CHECK_MSG(err, "pickle builds more than 64 MiB of values");
    CHECK(secs < 5, "shared BUILD pickle took %.1f s", secs);
    free(b.p);
}

/* Every opcode the reader knows, in a state_dict of two tensors: the views
 * come out exactly as pickled. */
static void test_opcodes(void)
{
    struct bytes b = {0};
    op1(&b, 0x80, 4);
    op(&b, 0x95);
    put(&b, "\0\0\0\0\0\0\0\0", 8);
    op(&b, '}');
    op(&b, 0x94);
    op(&b, '(');
    op_str(&b, "a.w");
    const uint32_t size[2] = {3, 4}, stride[2] = {1, 3};
    op_tensor(&b, "FloatStorage", "7", 100, 5, 2, size, stride);
    op1(&b, 'r', 9), put(&b, "\0\0\0", 3); /* LONG_BINPUT 9 */
    op_str(&b, "scalars"); /* a list of everything else, which the reader skips */
    op(&b, ']');
    op(&b, 'N');
    op(&b, 'a');
    op(&b, '(');
    op_int(&b, 0xfffffffe);
    op(&b, 'M'), put(&b, "\x01\x02", 2);
    op(&b, 0x8a), put(&b, "\x02\xff\xff", 3); /* LONG1 -1 */
    op(&b, 'G'), put(&b, "\x3f\xf0\0\0\0\0\0\0", 8);
    op(&b, 0x88);
    op(&b, 'X'), put(&b, "\x01\0\0\0x", 5);
    op(&b, 0x8d), put(&b, "\x01\0\0\0\0\0\0\0y", 9);
    op(&b, 'T'), put(&b, "\x01\0\0\0z", 5);
    op(&b, 'U'), put(&b, "\x01z", 2);
    op(&b, 'B'), put(&b, "\x01\0\0\0z", 5);
    op(&b, 'C'), put(&b, "\x01z", 2);
    op1(&b, 'K', 1), op1(&b, 'K', 2), op1(&b, 'K', 3);
    op(&b, 0x85), op(&b, 0x86), op(&b, 0x87);
    op(&b, '('), op1(&b, 'K', 4), op(&b, 'l');
    op(&b, '('), op_str(&b, "k"), op(&b, 'N'), op(&b, 'd');
    op_str(&b, "collections"), op_str(&b, "OrderedDict"), op(&b, 0x93);
    op_global(&b, "__torch__.m", "M"), op(&b, ')'), op(&b, 0x81);
    op(&b, 'N'), op(&b, '0');
    op(&b, 'e');
    op_str(&b, "nested");
    op_global(&b, "collections", "OrderedDict");
    op(&b, ')');
    op(&b, 'R');
    op_str(&b, "b");
    op1(&b, 'j', 9), put(&b, "\0\0\0", 3); /* the same tensor again, from the memo */
    op(&b, 's');
    op(&b, 'N'), op(&b, 'b'); /* an OrderedDict's state */
    op(&b, 'u');
    op(&b, '.');
    char err[ERR_LEN] = "";
    struct pickle *p = pickle_open(b.p, b.n, err);
    CHECK(p != NULL, "every-opcode pickle: %s", err);
    const struct pickle_tensor *t = p ? pickle_find(p, "nested.b") : NULL;
    CHECK(p && p->ntensors == 2 && !strcmp(p->tensors[0].name, "a.w") && t, "tensors a.w and nested.b");
    if (t)
        CHECK(!strcmp(t->storage_type, "FloatStorage") && !strcmp(t->storage_key, "7") && t->storage_numel == 100 &&
                  t->offset == 5 && t->ndim == 2 && t->size[0] == 3 && t->size[1] == 4 && t->stride[0] == 1 &&
                  t->stride[1] == 3,
              "nested.b read wrongly");
    pickle_close(p);
    free(b.p);
}

/* PyTorch keeps the last of two equal state_dict names; a checkpoint has none. */
static void test_duplicate_names(void)
{
    struct bytes b = {0};
    op1(&b, 0x80, 2);
    op(&b, '}');
    op(&b, '(');
    const uint32_t size[1] = {4}, stride[1] = {1};
    for (int k = 0; k < 3; k++) {
        op_str(&b, k == 1 ? "ln.bias" : "ln.weight");
        op_tensor(&b, "FloatStorage", k == 2 ? "2" : "1", 4, 0, 1, size, stride);
    }
    op(&b, 'u');
    op(&b, '.');
    char err[ERR_LEN] = "";
    struct pickle *p = pickle_open(b.p, b.n, err);
    CHECK(p == NULL, "a pickle naming ln.weight twice was accepted");
    CHECK_MSG(err, "pickle names tensor ln.weight twice");
    pickle_close(p);
    free(b.p);
}

int main(void)
{
    test_opcodes();
    test_duplicate_names();
    test_shared_build();
    return check_done("test_pickle");
}
