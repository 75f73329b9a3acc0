#include "pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_JOBS 64

/* One batch being decoded by the worker threads. */
struct slot {
    char *const *paths;
    size_t first, n;
    float *pixels;          /* [batch, 3, R, R] */
    char (*errs)[ERR_LEN];
    size_t next;            /* next file to take, under lock */
    pthread_mutex_t lock;
    pthread_t threads[MAX_JOBS];
    int nthreads;
    const struct pipeline *p;
};

struct pipeline {
    char *const *paths;
    size_t n, batch, handed; /* files handed out so far */
    size_t started;          /* files whose decoding has started */
    struct image_opts opts;
    int jobs, cur;           /* cur: the slot pipeline_next waits for */
    struct slot slots[2];
};

int pipeline_load(const char *path, const struct image_opts *o, float *out, char *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    if (util_read_file(path, PIPELINE_MAX_FILE, &buf, &len, err) < 0)
        return -1;
    int rc = image_preprocess(buf, len, o, out, err);
    free(buf);
    return rc;
}

static void *worker(void *arg)
{
    struct slot *s = arg;
    size_t img = 3 * (size_t)s->p->opts.resolution * (size_t)s->p->opts.resolution;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        size_t i = s->next++;
        pthread_mutex_unlock(&s->lock);
        if (i >= s->n)
            return NULL;
        s->errs[i][0] = 0;
        pipeline_load(s->paths[i], &s->p->opts, s->pixels + i * img, s->errs[i]);
    }
}

/* Starts decoding the next files into slot k. */
static void start(struct pipeline *p, int k)
{
    struct slot *s = &p->slots[k];
    size_t size = p->started ? p->batch : (size_t)p->jobs < p->batch ? (size_t)p->jobs : p->batch;
    s->first = p->started;
    s->n = p->n - p->started < size ? p->n - p->started : size;
    s->paths = p->paths + s->first;
    s->next = 0;
    s->nthreads = 0;
    p->started += s->n;
    for (int t = 0; t < p->jobs && (size_t)t < s->n; t++)
        if (pthread_create(&s->threads[s->nthreads], NULL, worker, s) == 0)
            s->nthreads++;
    if (!s->nthreads) /* no threads to be had: do the work here */
        worker(s);
}

static void wait_slot(struct slot *s)
{
    for (int t = 0; t < s->nthreads; t++)
        pthread_join(s->threads[t], NULL);
    s->nthreads = 0;
}

struct pipeline *pipeline_open(char *const *paths, size_t n, const struct image_opts *o, int jobs, size_t batch,
                               char *err)
{
    struct pipeline *p = calloc(1, sizeof *p);
    if (!p) {
        error(err, "out of memory");
        return NULL;
    }
    size_t img = 3 * (size_t)o->resolution * (size_t)o->resolution, bytes;
    *p = (struct pipeline){.paths = paths, .n = n, .batch = batch ? batch : 1, .opts = *o,
                           .jobs = jobs < 1 ? 1 : jobs > MAX_JOBS ? MAX_JOBS : jobs};
    for (int k = 0; k < 2; k++) {
        p->slots[k].p = p;
        pthread_mutex_init(&p->slots[k].lock, NULL);
    }
    for (int k = 0; k < 2; k++) {
        struct slot *s = &p->slots[k];
        if (size_mul(p->batch, img * sizeof(float), &bytes) < 0 || !(s->pixels = malloc(bytes)) ||
            !(s->errs = malloc(p->batch * sizeof *s->errs)))
            goto oom;
    }
    if (n)
        start(p, 0);
    return p;
oom:
    pipeline_close(p);
    error(err, "out of memory");
    return NULL;
}

int pipeline_next(struct pipeline *p, struct pipeline_batch *b)
{
    if (p->handed == p->n)
        return 0;
    struct slot *s = &p->slots[p->cur];
    wait_slot(s);
    /* the other slot's batch was the caller's until now: decode into it
     * while the model runs on this one */
    if (p->started < p->n)
        start(p, !p->cur);
    p->cur = !p->cur;
    p->handed += s->n;
    size_t img = 3 * (size_t)p->opts.resolution * (size_t)p->opts.resolution, good = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!s->errs[i][0]) {
            if (good != i)
                memcpy(s->pixels + good * img, s->pixels + i * img, img * sizeof(float));
            good++;
        }
    *b = (struct pipeline_batch){s->paths, s->first, s->n, s->pixels, good, s->errs};
    return 1;
}

void pipeline_close(struct pipeline *p)
{
    if (!p)
        return;
    for (int k = 0; k < 2; k++) {
        wait_slot(&p->slots[k]);
        free(p->slots[k].pixels);
        free(p->slots[k].errs);
        pthread_mutex_destroy(&p->slots[k].lock);
    }
    free(p);
}
