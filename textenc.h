/* textenc.h - the text tower (CLIP's or SigLIP 2's): token ids to embedding vectors.
 *
 *     struct textenc *e = textenc_open(w, 32, 2, err);
 *     const int32_t *ids[1] = {tokens}; int lens[1] = {n};   // 49406 ... 49407
 *     float vec[E];
 *     if (textenc_encode(e, ids, lens, 1, vec, err) < 0) ...
 *     textenc_close(e);
 *
 * The causal mask makes every position depend only on those before it, so
 * work stops at each text's end-of-text token (its last id): padding is never
 * computed, and texts of different lengths share a pass without any. Texts
 * are shared between lanes, one thread each, as in vit.h; a text alone runs
 * in one lane, its products of a few rows split between the threads
 * (transformer_few_rows). The encoder borrows w, which must outlive it.
 *
 * SigLIP 2's text tower has no causal mask: each text (its ids, EOS last,
 * as tokenizer_encode_spm gives them) is padded with the model's pad id to
 * the context length and every position is computed; the vector is the
 * last position's, after the final LayerNorm, through a projection with a
 * bias.
 */
#ifndef TEXTENC_H
#define TEXTENC_H

#include <stdint.h>

#include "transformer.h"
#include "weights.h"

struct textenc; /* private: scratch and lanes */


/* Scratch for max_batch texts of the full context length, or for more
 * shorter ones (texts are packed without padding), shared by threads lanes
 * (1 to UTIL_MAX_THREADS; more are taken as that many). */
struct textenc *textenc_open(const struct weights *w, int max_batch, int threads, char *err);
void textenc_close(struct textenc *e);

/* out[count, E] = encode_text of count texts; text i is lens[i] ids (at most
 * the context length, end-of-text last). -1 with err on a bad id or length. */
int textenc_encode(struct textenc *e, const int32_t *const *ids, const int *lens, int count, float *out, char *err);

#endif
