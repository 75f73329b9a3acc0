/* measure.h - the bench drivers' clocks and medians: wall and process CPU
 * time, and a task timed as the median of its runs after three warm-up
 * calls. Header only (static inline), for drivers linked against clippie's
 * modules and against a peer's library alike. */
#ifndef BENCH_MEASURE_H
#define BENCH_MEASURE_H

#include <stdlib.h>
#include <time.h>

struct clocks {
    double wall, cpu; /* seconds */
};

static inline struct clocks clocks_now(void)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    return (struct clocks){(double)a.tv_sec + (double)a.tv_nsec * 1e-9, (double)b.tv_sec + (double)b.tv_nsec * 1e-9};
}

static inline int measure_by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[n], v reordered. */
static inline double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, measure_by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One measured task: run(ctx) repeated; nonzero stops it. */
struct task {
    int (*run)(void *ctx);
    void *ctx;
};

/* t run three times to warm up, then runs times: the medians into *med.
 * 0, or what run returned when it failed (or -1 out of memory). */
static inline int measure(struct task t, int runs, struct clocks *med)
{
    double *wall = malloc((size_t)runs * sizeof *wall), *cpu = malloc((size_t)runs * sizeof *cpu);
    int rc = wall && cpu ? 0 : -1;
    for (int i = 0; i < 3 && !rc; i++)
        rc = t.run(t.ctx);
    for (int i = 0; i < runs && !rc; i++) {
        struct clocks a = clocks_now();
        rc = t.run(t.ctx);
        struct clocks b = clocks_now();
        wall[i] = b.wall - a.wall;
        cpu[i] = b.cpu - a.cpu;
    }
    if (!rc)
        *med = (struct clocks){median(wall, runs), median(cpu, runs)};
    free(wall);
    free(cpu);
    return rc;
}

#endif
