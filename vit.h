/* vit.h - the image tower (CLIP's ViT, or SigLIP 2's: no class token, an
 * attention-pool head): preprocessed pixels to embedding vectors.
 *
 *     struct vit *v = vit_open(w, vit_batch(w, 2), 2, err);
 *     // pixels: count images of [3, R, R] floats, normalised (image.h)
 *     vit_encode(v, pixels, count, out);        // out [count, E]
 *     vit_close(v);
 *
 * A batch is split between lanes, one thread each, every lane running the
 * whole tower on its images with its own scratch: the cores then share all
 * the work, not only the matrix products, and never wait for each other
 * inside a layer. The encoder borrows w, which must outlive it.
 */
#ifndef VIT_H
#define VIT_H

#include "transformer.h"
#include "weights.h"

struct vit; /* private: scratch and lanes */


/* Images per vit_encode call that give each of nlanes lanes matrix
 * products of about 1600 rows (long enough that packing the weights for
 * each product costs little beside it, short enough for modest scratch),
 * at most 128. */
int vit_batch(const struct weights *w, int nlanes);

/* Scratch for max_batch images at a time, shared by up to nlanes threads
 * (1 to UTIL_MAX_THREADS; more are taken as that many). */
struct vit *vit_open(const struct weights *w, int max_batch, int nlanes, char *err);
void vit_close(struct vit *v);

/* out[count, E] = encode_image of count images, pixels [count, 3, R, R]. */
void vit_encode(struct vit *v, const float *pixels, int count, float *out);

#endif
