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

int main(void)
{
    test_shared_build();
    return check_done("test_pickle");
}
