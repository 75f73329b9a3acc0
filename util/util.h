/* util.h - error strings and overflow-checked sizes, shared by every module.
 *
 * Modules never print or exit: a function that can fail takes a
 * `char err[ERR_LEN]` from its caller and returns error(err, ...), which
 * formats the reason (lowercase, no full stop, naming the thing at fault) and
 * returns -1. Functions returning pointers fill err and return NULL.
 *
 *     char err[ERR_LEN];
 *     if (size_mul(rows, cols, &n) < 0)
 *         return error(err, "%s: tensor too large", name);
 */
#ifndef UTIL_H
#define UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/stat.h>

#define ERR_LEN 512

/* A function built for AVX2 + FMA (x86-64-v3) and for any x86-64, the
 * version chosen when the program loads. Clang before 16 emits no symbol
 * for such a function called from another file (the fuzz builds): there it
 * is built once, for any x86-64. */
#if defined(__clang__) && __clang_major__ < 16
#define UTIL_X86_64_V3
#define UTIL_V3_KERNELS 0 /* nor does it know F16C to __builtin_cpu_supports: one kernel, for any x86-64 */
#else
#define UTIL_X86_64_V3 __attribute__((target_clones("arch=x86-64-v3", "default")))
#define UTIL_V3_KERNELS 1
#endif

/* Makes the array *pp (of *cap elements of elem bytes, malloc'd or NULL)
 * hold at least need elements, doubling as it grows; never more than limit
 * elements. -1 when over the limit or out of memory, leaving *pp as it was. */
int util_grow(void *pp, size_t *cap, size_t need, size_t elem, size_t limit);

#define UTIL_MAX_THREADS 16

/* Runs fn on each of the n elements (size bytes apart) of the array args:
 * element 0 on the calling thread, the others on worker threads kept from
 * call to call (threads of their own when the workers are busy, as in a
 * call made from inside fn; the calling thread runs an element whose thread
 * cannot start). Returns when all are done. n is at most UTIL_MAX_THREADS. */
void util_parallel(void *(*fn)(void *), void *args, size_t size, int n);

/* fn(arg) on a thread of its own, beside what the caller does meanwhile
 * (on the calling thread at once if no thread can start): a model's
 * weights mapped in while the BLAS loads. util_job_wait returns once it is
 * done; every started job must be waited for. */
struct util_job {
    pthread_t thread;
    int started;
};
void util_job_start(struct util_job *j, void *(*fn)(void *), void *arg);
void util_job_wait(struct util_job *j);

/* A thread count asked for, brought within 1 to UTIL_MAX_THREADS. */
static inline int util_threads(int n) { return n < 1 ? 1 : n > UTIL_MAX_THREADS ? UTIL_MAX_THREADS : n; }

/* n bytes of scratch for a model's activations, on transparent huge pages
 * where the system gives them on request (fewer TLB misses in the matrix
 * products); free() it. NULL when out of memory or n is 0. */
void *util_scratch(size_t n);

/* Maps in the pages of n bytes from p on of a file mapping now, in one
 * call (MADV_POPULATE_READ), rather than a fault per 64 KiB as they are
 * first read: on a virtual machine each fault is a trip to the hypervisor.
 * Advice only: an older kernel's refusal changes nothing but the speed. */
void util_populate(const void *p, size_t n);

/* Formats a message into err (which may be NULL) and returns -1. */
int error(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* *out = a * b (or a + b); -1 on overflow, leaving *out unspecified. */
static inline int size_mul(size_t a, size_t b, size_t *out) { return __builtin_mul_overflow(a, b, out) ? -1 : 0; }
static inline int size_add(size_t a, size_t b, size_t *out) { return __builtin_add_overflow(a, b, out) ? -1 : 0; }

/* IEEE half precision to float, exactly (every half is a float), and
 * float to half and to bfloat16, rounding to nearest, ties to even, as
 * PyTorch's .half() and .bfloat16() do. */
float util_half_to_float(uint16_t h);
uint16_t util_float_to_half(float f);
float util_bf16_to_float(uint16_t h);
uint16_t util_float_to_bf16(float f);

/* Opens path read-only for a file that must be a regular file, without
 * blocking (a FIFO would block open() forever) and refusing directories,
 * FIFOs, sockets and devices with the reason in err. The descriptor, with
 * *st filled, or -1. */
int util_open_regular(const char *path, struct stat *st, char *err);

/* n bytes at offset at (or, with at < 0, at the file position) through
 * short reads and EINTR: the bytes read, fewer than n only at the end of
 * the file, or -1 with errno. */
ssize_t util_read_full(int fd, void *p, size_t n, off_t at);

/* n bytes at offset at (at < 0: the file position) through short writes
 * and EINTR: 0, or -1 with errno (ENOSPC when nothing more was taken). */
int util_write_full(int fd, const void *p, size_t n, off_t at);

/* Everything fd holds up to its end, at most max bytes (more is an error:
 * "larger than MAX bytes"; max at most SIZE_MAX / 2), in a malloc'd buffer
 * the caller frees (one byte more than *len, a NUL). For pipes as for
 * files. -1 with err. */
int util_read_fd(int fd, size_t max, unsigned char **buf, size_t *len, char *err);

/* The whole regular file path (util_open_regular, then util_read_fd). */
int util_read_file(const char *path, size_t max, unsigned char **buf, size_t *len, char *err);

/* What a file that is not a regular one is: "a directory", "a FIFO", "a
 * socket" or "a device", for messages. */
const char *util_file_kind(mode_t mode);

/* A shared library loaded on first use (dlopen) rather than when clippie
 * starts: the photo formats' and libzip's pull in some twenty more, which
 * doubled the start of every command, most of which never decode a HEIC.
 * A module lists the functions it calls in an X-macro and calls them
 * through a table of pointers, declared from the library's own header:
 *
 *     #define HEIF_API(X) X(heif_init) X(heif_context_alloc)
 *     static struct { HEIF_API(UTIL_LIB_POINTER) } heif;
 *     static const char *const heif_names[] = {HEIF_API(UTIL_LIB_NAME)};
 *     static struct util_lib lib = UTIL_LIB(HEIFIMG_SONAME, heif_names, heif);
 *     if (util_lib_load(&lib, err) < 0) return -1;   // "cannot load libheif.so.1: ..."
 *     heif.heif_init(NULL);
 *
 * The SONAME is the one the build linked against (the Makefile reads it),
 * so the ABI is the header's. Loading is tried once; the outcome (and its
 * message) stays, until util_lib_unload. Thread-safe. */
struct util_lib {
    const char *soname;
    const char *const *names; /* the table's functions, in its order */
    size_t count;
    void *table;              /* count function pointers */
    int state;                /* 0 not tried, 1 loaded, -1 failed */
    char why[ERR_LEN];
    void *handle;             /* dlopen's, while loaded */
};
#define UTIL_LIB_POINTER(f) __typeof__(f) *f;
#define UTIL_LIB_NAME(f) #f,
#define UTIL_LIB(soname, names, table)                                                                                \
    {soname, names, sizeof(names) / sizeof(names[0]), &(table), 0, "", NULL}

/* 0 when every function of lib is in the table, else -1 with err naming the
 * library and what the loader said. */
int util_lib_load(struct util_lib *lib, char *err);

/* A function the library may lack (another vendor's extension), or NULL;
 * lib loaded. */
void *util_lib_optional(struct util_lib *lib, const char *name);

/* Closes a loaded lib (running its destructors) and forgets the outcome, so
 * that the next util_lib_load loads it afresh; nothing of its table may be
 * in use. For a library that reads its settings when it loads. */
void util_lib_unload(struct util_lib *lib);

/* Little- and big-endian loads and stores, for file formats read on any host. */
static inline uint16_t load_u16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t load_u32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static inline uint64_t load_u64(const unsigned char *p) { return load_u32(p) | (uint64_t)load_u32(p + 4) << 32; }
static inline uint32_t load_be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static inline void store_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i); }
static inline void store_u64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> 8 * i); }

#endif
