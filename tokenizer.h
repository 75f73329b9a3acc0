/* tokenizer.h - CLIP's byte-pair tokenizer, text cleaning included; and
 * SigLIP 2's, open_clip's cleaning for it before Gemma's BPE (spm.h).
 *
 *     struct tokenizer *t = tokenizer_open(err);
 *     int32_t *ids; size_t replaced;
 *     int n = tokenizer_encode(t, "a dog", 5, &ids, &replaced, err);
 *     // ids: 49406 320 1929 49407; n = 4; caller frees ids
 *     tokenizer_close(t);
 *
 * The same ids as openai/CLIP's simple_tokenizer with ftfy 6.3: ftfy's
 * fix_text (HTML entities, mojibake repaired as mojibake.h does, C1
 * controls as Windows-1252, Latin ligatures, full/half-width forms, curly
 * quotes, line breaks, terminal escapes, control characters, NFC), HTML
 * unescaped twice, whitespace collapsed, Python's str.lower(), then the
 * pre-tokenizing regex and BPE. Printable ASCII without '&' skips the
 * cleaning, which cannot change it.
 *
 * Invalid UTF-8: each bad sequence becomes U+FFFD, and *replaced counts them
 * so that the caller can warn. Texts over TOKENIZER_MAX_BYTES are refused.
 */
#ifndef TOKENIZER_H
#define TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "spm.h"
#include "util.h"

#define TOKENIZER_SOT 49406
#define TOKENIZER_EOT 49407
#define TOKENIZER_MAX_BYTES 65536

struct tokenizer;

struct tokenizer *tokenizer_open(char *err);
void tokenizer_close(struct tokenizer *t);

/* Tokenizes len bytes of text: *ids gets SOT, the text's ids, EOT (no padding,
 * no truncation), malloc'd for the caller to free; returns their count, or -1
 * with err set. */
int tokenizer_encode(struct tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *replaced, char *err);

/* open_clip's cleaning for SigLIP, canonicalize_text(basic_clean(text)):
 * ftfy and HTML unescaping as above, '_' to a space, ASCII punctuation
 * (Python's string.punctuation) removed, str.lower(), runs of whitespace to
 * one space and none at the ends. *out gets the UTF-8 (malloc'd,
 * NUL-terminated, the caller frees), *out_len its bytes. -1 with err. */
int tokenizer_canonicalize(struct tokenizer *t, const char *text, size_t len, char **out, size_t *out_len,
                           size_t *replaced, char *err);

/* SigLIP 2's ids of a text, as open_clip's HFTokenizer gives them before
 * padding: the cleaning above, Gemma's BPE with tables s, the ids cut to
 * context - 1 (context at least 2) and eos appended; no BOS. *ids as for
 * tokenizer_encode (no padding: the text encoder pads); returns the count. */
int tokenizer_encode_spm(struct tokenizer *t, const struct spm_tables *s, int32_t eos, uint32_t context,
                         const char *text, size_t len, int32_t **ids, size_t *replaced, char *err);

#endif
