/* pipeline.h - image files to the model's input, decoded on threads while
 * the model runs, handed out in order a batch at a time.
 *
 *     struct pipeline *p = pipeline_open(paths, n, &opts, jobs, batch, err);
 *     struct pipeline_batch b;
 *     while (pipeline_next(p, &b))          // batch k+1 decodes meanwhile
 *         for each of b.n files: b.errs[i][0] ? report(b.paths[i], b.errs[i]) : use it;
 *         vit_encode(v, b.pixels, b.good, out);   // the good ones, in order
 *     pipeline_close(p);                    // waits for its threads
 *
 * The first batch is small (one image a thread), so that a long run shows
 * progress at once. A file that cannot be read or decoded has its reason in
 * errs and no pixels: the others keep their order.
 */
#ifndef PIPELINE_H
#define PIPELINE_H

#include <stddef.h>

#include "image.h"
#include "util.h"

#define PIPELINE_MAX_FILE (1ull << 30) /* larger files are refused unread */

struct pipeline_batch {
    char *const *paths;   /* [n]: the batch's files, borrowed from the caller */
    size_t first, n;      /* files [first, first + n) of pipeline_open's list */
    const float *pixels;  /* [good, 3, R, R]: the good files' pixels, in order */
    size_t good;
    char (*errs)[ERR_LEN]; /* [n]: "" for a good file, else why it is skipped */
};

/* Decodes the n files of paths (borrowed: they must outlive p) with jobs
 * threads, batch files at a time. NULL with err when out of memory. */
struct pipeline *pipeline_open(char *const *paths, size_t n, const struct image_opts *o, int jobs, size_t batch,
                               char *err);

/* Waits for the next batch; 0 when all were handed out. The batch stays
 * valid until the next call. */
int pipeline_next(struct pipeline *p, struct pipeline_batch *b);

/* Stops (waiting for the threads at work) and frees; NULL is fine. */
void pipeline_close(struct pipeline *p);

/* Reads and preprocesses one file into out[3 * R * R]; -1 with err. */
int pipeline_load(const char *path, const struct image_opts *o, float *out, char *err);

#endif
