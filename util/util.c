#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int error(char *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int util_grow(void *pp, size_t *cap, size_t need, size_t elem, size_t limit)
{
    void **p = pp;
    if (need <= *cap)
        return 0;
    if (need > limit)
        return -1;
    size_t c = *cap ? *cap : 16, bytes;
    while (c < need)
        c *= 2;
    if (c > limit)
        c = limit;
    if (size_mul(c, elem, &bytes) < 0)
        return -1;
    void *q = realloc(*p, bytes);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

#define HUGE_PAGE ((size_t)2 << 20)

void *util_scratch(size_t n)
{
    size_t rounded;
    if (n == 0 || size_add(n, HUGE_PAGE - 1, &rounded) < 0)
        return NULL;
    rounded -= rounded % HUGE_PAGE;
    void *p = aligned_alloc(HUGE_PAGE, rounded);
    if (p) /* advice only: refused, the pages are small ones */
        madvise(p, rounded, MADV_HUGEPAGE);
    return p;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

void util_populate(const void *p, size_t n)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), from = (uintptr_t)p & ~(page - 1);
    if (n)
        madvise((void *)from, (uintptr_t)p + n - from, MADV_POPULATE_READ);
}

void util_job_start(struct util_job *j, void *(*fn)(void *), void *arg)
{
    j->started = pthread_create(&j->thread, NULL, fn, arg) == 0;
    if (!j->started)
        fn(arg);
}

void util_job_wait(struct util_job *j)
{
    if (j->started)
        pthread_join(j->thread, NULL);
    j->started = 0;
}

/* Each element on a thread of its own, started for this call. */
static void run_threads(void *(*fn)(void *), char *a, size_t size, int n)
{
    pthread_t th[UTIL_MAX_THREADS];
    int started[UTIL_MAX_THREADS] = {0};
    for (int i = 1; i < n; i++)
        started[i] = pthread_create(&th[i], NULL, fn, a + i * size) == 0;
    for (int i = 0; i < n; i++)
        if (!started[i])
            fn(a + i * size);
    for (int i = 1; i < n; i++)
        if (started[i])
            pthread_join(th[i], NULL);
}

/* util_parallel's workers, started once and kept: starting a thread costs
 * tens of microseconds, and a caption's 48 few-rows products each split
 * between the cores. A job is a generation: the caller posts fn and its
 * array, bumps the generation and runs element 0; then it and the workers
 * claim the other elements one at a time, and the caller waits until all
 * are done. A worker is never waited for before it has claimed an element:
 * on a virtual machine a core that slept can take milliseconds to wake,
 * and the caller does the work meanwhile. Both spin a little before they
 * sleep: the next product comes some microseconds later. One job at a
 * time: a call made while the workers are busy (from inside an element)
 * starts threads of its own. */
#define POOL_SPIN 4000 /* pauses: a few hundred microseconds */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    int started;
    unsigned first[UTIL_MAX_THREADS]; /* the generation each worker started after */
    atomic_int busy;
    atomic_uint generation;
    /* the generation in the high 32 bits, the job's element count in the
     * next 16, the next element in the low 16: a claim is a compare-and-
     * swap, which fails once the job is another */
    atomic_ullong claim;
    atomic_int pending; /* elements yet to be done */
    void *(*fn)(void *);
    char *args;
    size_t size;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

/* An element of generation g to run, or -1 when all are taken (or the
 * job is over). The fields read after a successful claim are g's: the
 * caller changes them only once every element is done. */
static int pool_claim(unsigned g)
{
    unsigned long long c = atomic_load_explicit(&pool.claim, memory_order_acquire);
    while ((unsigned)(c >> 32) == g && (c & 0xffff) < (c >> 16 & 0xffff))
        if (atomic_compare_exchange_weak_explicit(&pool.claim, &c, c + 1, memory_order_acq_rel, memory_order_acquire))
            return (int)(c & 0xffff);
    return -1;
}

/* Runs the claimed elements of generation g; the one that finishes the
 * job wakes the caller. */
static void pool_run(unsigned g)
{
    for (int i; (i = pool_claim(g)) >= 0;) {
        pool.fn(pool.args + (size_t)i * pool.size);
        if (atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
    }
}

/* One step of a spin: the CPU told so (less power, and the other hyper-
 * thread gets the core), and now and then the scheduler, so that on a
 * machine with more threads than cores the one waited for gets to run. */
static inline void pause_once(int spins)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (spins % 256 == 255)
        sched_yield();
}

static void *pool_worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    unsigned seen = pool.first[id], g;
    for (;;) {
        for (int spins = 0; (g = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen; spins++) {
            if (spins < POOL_SPIN) {
                pause_once(spins);
                continue;
            }
            pthread_mutex_lock(&pool.lock);
            while (atomic_load(&pool.generation) == seen)
                pthread_cond_wait(&pool.wake, &pool.lock);
            pthread_mutex_unlock(&pool.lock);
        }
        seen = g;
        pool_run(g);
    }
    return NULL;
}

/* A forked child has none of the workers, and the parent's sleeping ones
 * left their marks in the condition variables. */
static void pool_forget(void)
{
    pool.started = 0;
    atomic_store(&pool.busy, 0);
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
}

static void pool_register(void) { pthread_atfork(NULL, NULL, pool_forget); }

/* Workers 1 to need - 1 started: 0, or -1 if one could not be. */
static int pool_start(int need)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, pool_register);
    for (; pool.started < need - 1; pool.started++) {
        int id = pool.started + 1;
        pool.first[id] = atomic_load(&pool.generation);
        pthread_t th;
        pthread_attr_t attr;
        if (pthread_attr_init(&attr) != 0)
            return -1;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&th, &attr, pool_worker, (void *)(intptr_t)id);
        pthread_attr_destroy(&attr);
        if (failed)
            return -1;
    }
    return 0;
}

void util_parallel(void *(*fn)(void *), void *args, size_t size, int n)
{
    char *a = args;
    int idle = 0;
    if (n <= 1 || !atomic_compare_exchange_strong(&pool.busy, &idle, 1)) {
        if (n == 1)
            fn(a);
        else if (n > 1)
            run_threads(fn, a, size, n);
        return;
    }
    if (pool_start(n) < 0) {
        atomic_store(&pool.busy, 0);
        run_threads(fn, a, size, n);
        return;
    }
    pool.fn = fn, pool.args = a, pool.size = size;
    atomic_store(&pool.pending, n - 1);
    unsigned g = atomic_load(&pool.generation) + 1;
    atomic_store_explicit(&pool.claim, (unsigned long long)g << 32 | (unsigned long long)n << 16 | 1,
                          memory_order_release);
    pthread_mutex_lock(&pool.lock);
    atomic_store_explicit(&pool.generation, g, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    fn(a);
    pool_run(g);
    for (int spins = 0; atomic_load_explicit(&pool.pending, memory_order_acquire) > 0; spins++) {
        if (spins < POOL_SPIN) {
            pause_once(spins);
            continue;
        }
        pthread_mutex_lock(&pool.lock);
        while (atomic_load(&pool.pending) > 0)
            pthread_cond_wait(&pool.done, &pool.lock);
        pthread_mutex_unlock(&pool.lock);
    }
    atomic_store(&pool.busy, 0);
}

float util_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f)
        bits = sign | 0x7f800000 | man << 13;
    else if (exp)
        bits = sign | (exp + 112) << 23 | man << 13;
    else if (man) { /* subnormal: normalise */
        exp = 113;
        while (!(man & 0x400))
            man <<= 1, exp--;
        bits = sign | exp << 23 | (man & 0x3ff) << 13;
    } else
        bits = sign;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

int util_open_regular(const char *path, struct stat *st, char *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return error(err, "%s", strerror(errno));
    if (fstat(fd, st) < 0) {
        error(err, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    if (S_ISREG(st->st_mode))
        return fd;
    close(fd);
    return error(err, "is %s, not a regular file", util_file_kind(st->st_mode));
}

ssize_t util_read_full(int fd, void *p, size_t n, off_t at)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = at < 0 ? read(fd, (char *)p + done, n - done) : pread(fd, (char *)p + done, n - done, at + (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

int util_write_full(int fd, const void *p, size_t n, off_t at)
{
    for (size_t done = 0; done < n;) {
        const char *q = (const char *)p + done;
        ssize_t w = at < 0 ? write(fd, q, n - done) : pwrite(fd, q, n - done, at + (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = ENOSPC;
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

int util_read_fd(int fd, size_t max, unsigned char **buf, size_t *len, char *err)
{
    unsigned char *b = NULL;
    size_t cap = 0, n = 0;
    if (max > SIZE_MAX / 2)
        return error(err, "a limit of %zu bytes is too large", max);
    for (;;) {
        size_t want = n + 65536 < max + 1 ? n + 65536 : max + 1; /* one byte past max tells a larger file */
        if (util_grow(&b, &cap, want + 1, 1, max + 2) < 0) {
            free(b);
            return error(err, "out of memory");
        }
        ssize_t got = util_read_full(fd, b + n, want - n, -1);
        if (got < 0) {
            free(b);
            return error(err, "read failed: %s", strerror(errno));
        }
        n += (size_t)got;
        if (n > max) {
            free(b);
            return error(err, "larger than %zu bytes", max);
        }
        if (n < want)
            break;
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return 0;
}

int util_read_file(const char *path, size_t max, unsigned char **buf, size_t *len, char *err)
{
    struct stat st;
    int fd = util_open_regular(path, &st, err);
    if (fd < 0)
        return -1;
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return error(err, "larger than %zu bytes", max);
    }
    int rc = util_read_fd(fd, max, buf, len, err);
    close(fd);
    return rc;
}

const char *util_file_kind(mode_t mode)
{
    return S_ISDIR(mode) ? "a directory" : S_ISFIFO(mode) ? "a FIFO" : S_ISSOCK(mode) ? "a socket" : "a device";
}

uint16_t util_float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000, e = (x >> 23) & 0xff, m = x & 0x7fffff;
    if (e == 0xff) /* infinity, or a NaN kept a NaN */
        return (uint16_t)(sign | 0x7c00 | (m ? 0x200 | m >> 13 : 0));
    int exp = (int)e - 127 + 15;
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) { /* a subnormal half, or zero */
        if (exp < -10)
            return (uint16_t)sign;
        m |= 0x800000;
        int shift = 14 - exp;
        uint32_t h = m >> shift, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        h += rest > half || (rest == half && (h & 1));
        return (uint16_t)(sign | h);
    }
    uint32_t h = (uint32_t)exp << 10 | m >> 13, rest = m & 0x1fff;
    h += rest > 0x1000 || (rest == 0x1000 && (h & 1)); /* a carry into the exponent is right, up to infinity */
    return (uint16_t)(sign | h);
}

float util_bf16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16; /* bfloat16 is a float's upper half */
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t util_float_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffff) > 0x7f800000) /* NaN */
        return (uint16_t)(x >> 16 | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;

int util_lib_load(struct util_lib *lib, char *err)
{
    pthread_mutex_lock(&lib_lock);
    if (lib->state == 0) {
        /* RTLD_LOCAL: its symbols stay out of the way of the other libraries' */
        void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
        lib->state = h ? 1 : -1;
        lib->handle = h;
        if (!h)
            error(lib->why, "cannot load %s: %s", lib->soname, dlerror());
        for (size_t k = 0; h && k < lib->count; k++) {
            void *f = dlsym(h, lib->names[k]);
            if (!f) {
                error(lib->why, "cannot load %s: it has no %s", lib->soname, lib->names[k]);
                lib->state = -1;
                dlclose(h);
                lib->handle = NULL;
                break;
            }
            /* POSIX: a data pointer from dlsym holds a function's address */
            memcpy((char *)lib->table + k * sizeof f, &f, sizeof f);
        }
    }
    int state = lib->state;
    pthread_mutex_unlock(&lib_lock);
    if (state < 0)
        return error(err, "%s", lib->why);
    return 0;
}

void *util_lib_optional(struct util_lib *lib, const char *name)
{
    return lib->handle ? dlsym(lib->handle, name) : NULL;
}

void util_lib_unload(struct util_lib *lib)
{
    pthread_mutex_lock(&lib_lock);
    if (lib->handle)
        dlclose(lib->handle);
    lib->handle = NULL;
    lib->state = 0;
    memset(lib->table, 0, lib->count * sizeof(void (*)(void)));
    pthread_mutex_unlock(&lib_lock);
}
