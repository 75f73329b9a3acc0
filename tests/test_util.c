/* util.c: libraries loaded on first use */
#include <math.h>
#include <zlib.h>

#include "check.h"
#include "util.h"

#define ZLIB_API(X) X(zlibVersion) X(crc32)
static struct {
    ZLIB_API(UTIL_LIB_POINTER)
} z;
static const char *const z_names[] = {ZLIB_API(UTIL_LIB_NAME)};

/* a function the library lacks, and a library the system lacks: refused,
 * the message naming which, and the outcome kept */
#define BAD_API(X) X(zlibVersion) X(cos)
static struct {
    BAD_API(UTIL_LIB_POINTER)
} bad;
static const char *const bad_names[] = {BAD_API(UTIL_LIB_NAME)};

static void test_lib(void)
{
    char err[ERR_LEN] = "";
    struct util_lib lib = UTIL_LIB("libz.so.1", z_names, z);
    CHECK(util_lib_load(&lib, err) == 0, "libz.so.1: %s", err);
    CHECK(util_lib_load(&lib, err) == 0, "libz.so.1 a second time: %s", err);
    CHECK(z.zlibVersion && !strcmp(z.zlibVersion(), zlibVersion()), "zlibVersion through the table");
    CHECK(z.crc32 && z.crc32(0, (const Bytef *)"clippie", 7) == crc32(0, (const Bytef *)"clippie", 7),
          "crc32 through the table");

    struct util_lib none = UTIL_LIB("libclippie-nothing.so.9", z_names, z);
    CHECK(util_lib_load(&none, err) < 0, "a library that is not there loaded");
    CHECK_MSG(err, "cannot load libclippie-nothing.so.9: ");
    err[0] = 0;
    CHECK(util_lib_load(&none, err) < 0, "a library that is not there loaded the second time");
    CHECK_MSG(err, "cannot load libclippie-nothing.so.9: ");

    struct util_lib lacking = UTIL_LIB("libz.so.1", bad_names, bad);
    CHECK(util_lib_load(&lacking, err) < 0, "a library without a function it must have loaded");
    CHECK_MSG(err, "cannot load libz.so.1: it has no cos");
}

int main(void)
{
    test_lib();
    return check_done("test_util");
}
