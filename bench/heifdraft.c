/* heifdraft: what --draft saves on a HEIC or AVIF with a thumbnail item.
 * Preprocesses FILE at resolution R (default 224) RUNS times (default 9)
 * in full and with draft, timing each (CLOCK_MONOTONIC, medians), then
 * compares the two preprocessed images (the model's [3, R, R] input):
 * cosine and largest absolute difference.
 *
 *     bench/heifdraft FILE [R [RUNS]]
 *     # "full 905.1 ms  draft 21.3 ms  speed-up 42.5x  cosine 0.998  max |diff| 0.61"
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "image.h"
#include "util.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median time of runs preprocessings into out; -1 with err. */
static double median_ms(const unsigned char *buf, size_t len, const struct image_opts *o, int runs, float *out,
                        char *err)
{
    double t[64];
    for (int k = 0; k < runs; k++) {
        double t0 = now_ms();
        if (image_preprocess(buf, len, o, out, err) < 0)
            return -1;
        t[k] = now_ms() - t0;
    }
    qsort(t, (size_t)runs, sizeof t[0], by_value);
    return t[runs / 2];
}

int main(int argc, char **argv)
{
    char err[ERR_LEN];
    int r = argc > 2 ? atoi(argv[2]) : 224, runs = argc > 3 ? atoi(argv[3]) : 9;
    size_t len, n = 3 * (size_t)r * r;
    unsigned char *buf;
    if (argc < 2 || r <= 0 || runs <= 0 || runs > 64) {
        fprintf(stderr, "usage: heifdraft FILE [R [RUNS]]\n");
        return 2;
    }
    if (util_read_file(argv[1], (size_t)1 << 30, &buf, &len, err) < 0) {
        fprintf(stderr, "heifdraft: %s\n", err);
        return 1;
    }
    float *full = malloc(n * sizeof *full), *draft = malloc(n * sizeof *draft);
    struct image_opts o = {.resolution = r, .exif = 1, .max_pixels = IMAGE_MAX_PIXELS};
    double tf = median_ms(buf, len, &o, runs, full, err), td = -1;
    o.draft = 1;
    if (tf >= 0)
        td = median_ms(buf, len, &o, runs, draft, err);
    if (tf < 0 || td < 0) {
        fprintf(stderr, "heifdraft: %s\n", err);
        return 1;
    }
    double dot = 0, ff = 0, dd = 0, most = 0;
    for (size_t i = 0; i < n; i++) {
        dot += (double)full[i] * draft[i], ff += (double)full[i] * full[i], dd += (double)draft[i] * draft[i];
        most = fmax(most, fabs((double)full[i] - draft[i]));
    }
    printf("full %.1f ms  draft %.1f ms  speed-up %.1fx  cosine %.6f  max |diff| %.3f\n", tf, td, tf / td,
           dot / sqrt(ff * dd), most);
    free(full), free(draft), free(buf);
    return 0;
}
