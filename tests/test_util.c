/* util.c: libraries loaded on first use; whole reads and writes */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
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
    CHECK(util_lib_optional(&lib, "deflateBound") != NULL, "an optional function the library has not found");
    CHECK(util_lib_optional(&lib, "clippie_nothing") == NULL, "an optional function the library lacks found");
    util_lib_unload(&lib);
    CHECK(!z.zlibVersion && !util_lib_optional(&lib, "deflateBound"), "the table kept after util_lib_unload");
    CHECK(util_lib_load(&lib, err) == 0 && z.zlibVersion && !strcmp(z.zlibVersion(), zlibVersion()),
          "libz.so.1 loaded again after util_lib_unload: %s", err);

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

/* util_write_full, util_read_full, util_read_fd and util_read_file on a
 * file of 200,000 bytes (more than one read's worth) and a pipe. */
static void test_read_write(void)
{
    char path[] = "/tmp/clippie-util-XXXXXX", err[ERR_LEN] = "";
    enum { N = 200000 };
    static unsigned char data[N], back[N];
    for (size_t i = 0; i < N; i++)
        data[i] = (unsigned char)(i * 7 + i / 251);
    int fd = mkstemp(path);
    CHECK(fd >= 0 && util_write_full(fd, data, N, -1) == 0, "util_write_full");
    CHECK(util_write_full(fd, "XY", 2, 10) == 0, "util_write_full at an offset");
    data[10] = 'X', data[11] = 'Y';
    CHECK(util_read_full(fd, back, N, 0) == N && !memcmp(back, data, N), "util_read_full at 0");
    CHECK(util_read_full(fd, back, N, N - 5) == 5, "util_read_full past the end: what there is");
    close(fd);
    unsigned char *buf = NULL;
    size_t len = 0;
    CHECK(util_read_file(path, N, &buf, &len, err) == 0 && len == N && !memcmp(buf, data, N) && buf[N] == 0,
          "util_read_file: %s", err);
    free(buf);
    CHECK(util_read_file(path, N - 1, &buf, &len, err) < 0, "util_read_file over its limit");
    CHECK_MSG(err, "larger than 199999 bytes");
    CHECK(util_read_file("/tmp", N, &buf, &len, err) < 0, "util_read_file of a folder");
    CHECK_MSG(err, "is a directory, not a regular file");
    unlink(path);

    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    if (fork() == 0) { /* a writer in pieces, as a pipe delivers them */
        close(p[0]);
        for (size_t i = 0; i < N; i += 1000)
            util_write_full(p[1], data + i, 1000, -1);
        _exit(0);
    }
    close(p[1]);
    CHECK(util_read_fd(p[0], N, &buf, &len, err) == 0 && len == N && !memcmp(buf, data, N),
          "util_read_fd of a pipe: %s", err);
    free(buf);
    close(p[0]);
    wait(NULL);
}

/* util_parallel's kept workers: every element run once a call, over many
 * calls of different sizes; a call from inside an element (the workers
 * busy) runs on threads of its own; a forked child, without the workers,
 * still runs its calls. */
struct job {
    int calls, inner;
};

static void *count(void *arg)
{
    ((struct job *)arg)->calls++;
    return NULL;
}

static void *nested(void *arg)
{
    struct job *j = arg, inner[3] = {{0, 0}};
    util_parallel(count, inner, sizeof *inner, 3);
    j->inner = inner[0].calls + inner[1].calls + inner[2].calls;
    return NULL;
}

static void test_parallel(void)
{
    struct job jobs[UTIL_MAX_THREADS] = {{0, 0}};
    int rounds = 4000, wrong = 0;
    for (int r = 0; r < rounds; r++)
        util_parallel(count, jobs, sizeof *jobs, 1 + r % 4);
    for (int i = 0; i < 4; i++)
        wrong += jobs[i].calls != rounds - (i == 0 ? 0 : rounds / 4 * i);
    CHECK(!wrong, "elements run %d, %d, %d, %d times in %d calls", jobs[0].calls, jobs[1].calls, jobs[2].calls,
          jobs[3].calls, rounds);
    struct job outer[2] = {{0, 0}};
    util_parallel(nested, outer, sizeof *outer, 2);
    CHECK(outer[0].inner == 3 && outer[1].inner == 3, "calls from inside an element ran %d and %d of 3", outer[0].inner,
          outer[1].inner);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct job child[4] = {{0, 0}};
        for (int r = 0; r < 100; r++)
            util_parallel(count, child, sizeof *child, 4);
        _exit(child[0].calls == 100 && child[3].calls == 100 ? 0 : 1);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "util_parallel in a forked child");
}

int main(void)
{
    test_lib();
    test_parallel();
    test_read_write();
    return check_done("test_util");
}
