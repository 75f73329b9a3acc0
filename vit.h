/* vit.h - CLIP's image tower: preprocessed pixels to embedding vectors.
 *
 *     struct vit *v = vit_open(w, 8, err);
 *     // pixels: count images of [3, R, R] floats, normalised (image.h)
 *     vit_encode(v, pixels, count, out);        // out [count, E]
 *     vit_close(v);
 *
 * The encoder borrows w, which must outlive it.
 */
#ifndef VIT_H
#define VIT_H

#include "transformer.h"
#include "weights.h"

struct vit {
    const struct weights *w;
    int max_batch;
    struct transformer *t;
    float *patches; /* [max_batch * G*G, 3*P*P]: image patches laid out as conv1's weight rows */
    float *x;       /* [max_batch * (G*G+1), Wv] residual stream */
    float *pooled;  /* [max_batch, Wv] */
    int *lens;      /* [max_batch]: every image is G*G+1 tokens */
    size_t *cls;    /* [max_batch]: the row of each image's class token */
};

struct vit *vit_open(const struct weights *w, int max_batch, char *err);
void vit_close(struct vit *v);

/* out[count, E] = encode_image of count images, pixels [count, 3, R, R]. */
void vit_encode(struct vit *v, const float *pixels, int count, float *out);

#endif
