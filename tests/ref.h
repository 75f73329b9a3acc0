/* ref.h - the reference files tests/make_fixtures.py and
 * make_zoo_fixtures.py write from PyTorch (and OpenCLIP's own code): texts
 * (token ids), images (pixels) and photos (file names), each followed by
 * the vector the reference model gave, "out N v...". Shared by test_model
 * and test_zoo; read_ref returns -1 on anything it does not expect. */
#ifndef REF_H
#define REF_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_ITEMS 16

struct ref {
    int ntexts, nimages, nphotos, dims; /* dims: every vector's length */
    int lens[REF_ITEMS], npixels[REF_ITEMS];
    int32_t *ids[REF_ITEMS];
    float *pixels[REF_ITEMS];
    char photos[REF_ITEMS][512];
    float *text_out[REF_ITEMS], *image_out[REF_ITEMS], *photo_out[REF_ITEMS];
};

static float *ref_floats(FILE *f, int *n)
{
    if (fscanf(f, "%d", n) != 1 || *n <= 0 || *n > 1 << 22)
        return NULL;
    float *v = malloc((size_t)*n * sizeof *v);
    for (int k = 0; v && k < *n; k++)
        if (fscanf(f, "%f", &v[k]) != 1)
            return free(v), NULL;
    return v;
}

static void free_ref(struct ref *r)
{
    for (int k = 0; k < REF_ITEMS; k++)
        free(r->ids[k]), free(r->pixels[k]), free(r->text_out[k]), free(r->image_out[k]), free(r->photo_out[k]);
    memset(r, 0, sizeof *r);
}

static int read_ref(const char *path, struct ref *r)
{
    FILE *f = fopen(path, "r");
    char kind[16];
    float **last = NULL;
    int n, ok = f != NULL;
    memset(r, 0, sizeof *r);
    while (ok && fscanf(f, "%15s", kind) == 1) {
        if (!strcmp(kind, "text") && r->ntexts < REF_ITEMS && fscanf(f, "%d", &r->lens[r->ntexts]) == 1 &&
            r->lens[r->ntexts] > 0 && r->lens[r->ntexts] <= 4096) {
            ok = (r->ids[r->ntexts] = malloc((size_t)r->lens[r->ntexts] * sizeof(int32_t))) != NULL;
            for (int k = 0; ok && k < r->lens[r->ntexts]; k++)
                ok &= fscanf(f, "%d", &r->ids[r->ntexts][k]) == 1;
            last = &r->text_out[r->ntexts++];
        } else if (!strcmp(kind, "image") && r->nimages < REF_ITEMS &&
                   (r->pixels[r->nimages] = ref_floats(f, &r->npixels[r->nimages])))
            last = &r->image_out[r->nimages++];
        else if (!strcmp(kind, "photo") && r->nphotos < REF_ITEMS && fscanf(f, "%511s", r->photos[r->nphotos]) == 1)
            last = &r->photo_out[r->nphotos++];
        else if (!strcmp(kind, "out") && last && !*last && (*last = ref_floats(f, &n)) && (!r->dims || n == r->dims))
            r->dims = n;
        else
            ok = 0;
    }
    if (f)
        fclose(f);
    if (ok && r->dims)
        return 0;
    free_ref(r);
    return -1;
}

/* max |a - b| / |b|, the relative error of a whole vector */
static double rel_err(const float *a, const float *b, int n)
{
    double diff = 0, norm = 0;
    for (int k = 0; k < n; k++) {
        diff = fmax(diff, fabs((double)a[k] - b[k]));
        norm += (double)b[k] * b[k];
    }
    return diff / sqrt(norm);
}

#endif
