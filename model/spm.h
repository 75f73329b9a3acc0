/* spm.h - Gemma's SentencePiece BPE, as Hugging Face tokenizers runs a
 * tokenizer.json of model type "BPE" with byte fallback (SigLIP 2's text).
 *
 *     struct spm_build b;                        // convert: tokenizer.json to tables
 *     if (spm_build(json, len, &b, err) < 0) ...
 *     int32_t *ids; size_t n;                    // encode: cleaned UTF-8 to ids
 *     if (spm_encode(&b.t, "a dog", 5, &ids, &n, err) < 0) ...
 *     free(ids);
 *     spm_build_free(&b);
 *
 * Encoding, as tokenizers 0.15-0.21 does for Gemma's file: the added tokens
 * (all unnormalised) are split out of the raw text first, leftmost and
 * longest; each stretch between them has ' ' replaced by U+2581 and is one
 * word (no pre-tokenizer): its characters are the vocabulary's single-
 * character pieces, or else the byte pieces <0xNN> of their UTF-8 bytes, or
 * else one unknown token for a run of such characters; then the merges are
 * applied lowest rank first, leftmost first among equals, as tokenizers'
 * BPE word does (a min-heap of candidate merges, stale ones skipped). No BOS
 * or EOS: framing is the caller's.
 *
 * The tables (struct spm_tables) are what a weights file stores; they are
 * borrowed, and every value read from them is checked where it is used, so
 * a corrupt table gives wrong ids or an error, never a bad read.
 */
#ifndef SPM_H
#define SPM_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define SPM_MAX_JSON (64u << 20)    /* tokenizer.json bytes (Gemma's: 17 MB) */
#define SPM_MAX_VALUES (1u << 22)   /* its JSON values, about 80 bytes of memory each (Gemma's: 1.1 million) */
#define SPM_MAX_VOCAB (1u << 20)    /* pieces (Gemma's: 256,000) */
#define SPM_MAX_MERGES (1u << 23)   /* merges (Gemma's: 580,604) */
#define SPM_MAX_ADDED 4096          /* added tokens (Gemma's: 217) */
#define SPM_MAX_PIECE 1024          /* bytes of one piece or added token */
#define SPM_MAX_TEXT (1u << 20)     /* bytes spm_encode takes */
#define SPM_WORK_PER_BYTE 4096      /* bytes of added tokens compared per byte of text, at most
                                       (Gemma's: about 10 for text with spaces) */

/* Columns of the tables, each row int32. */
enum { SPM_MERGE_LEFT, SPM_MERGE_RIGHT, SPM_MERGE_RANK, SPM_MERGE_ID, SPM_MERGE_COLS };
enum { SPM_CHAR_CP, SPM_CHAR_ID, SPM_CHAR_COLS };
enum { SPM_ADDED_ID, SPM_ADDED_OFFSET, SPM_ADDED_LEN, SPM_ADDED_COLS };

struct spm_tables {
    const int32_t *merges;    /* [n_merges, 4]: left id, right id, rank, merged id; sorted by (left, right) */
    const int32_t *chars;     /* [n_chars, 2]: code point, id of the one-character piece; sorted */
    const int32_t *bytes;     /* [256]: id of piece <0xNN>, or -1 */
    const int32_t *added;     /* [n_added, 3]: id, offset and length of its text in strings */
    const unsigned char *strings; /* [strings_len]: the added tokens' UTF-8 */
    uint32_t n_merges, n_chars, n_added, strings_len;
    uint32_t vocab;           /* ids are below it */
    int32_t unk;              /* id of the unknown token, -1 when none */
};

/* Tables made from a tokenizer.json, owning their arrays. */
struct spm_build {
    struct spm_tables t;
    int32_t *merges, *chars, *bytes, *added;
    unsigned char *strings;
    int32_t pad, eos, bos;    /* ids of <pad>, <eos>, <bos>; -1 when absent */
};

/* Reads len bytes of tokenizer.json (untrusted: at most SPM_MAX_JSON bytes
 * and the limits above), refusing any setting that would change what
 * spm_encode computes, with the setting named. -1 with err; b is then empty. */
int spm_build(const char *json, size_t len, struct spm_build *b, char *err);
void spm_build_free(struct spm_build *b);

/* Checks what spm_encode trusts of tables read from a file: the added
 * tokens' offsets and ids, the byte pieces' ids. -1 with err. */
int spm_check(const struct spm_tables *t, char *err);

/* Ids of len bytes of valid UTF-8 (at most SPM_MAX_TEXT), malloc'd into
 * *ids (the caller frees; NULL when there are none), their count in *n.
 * -1 with err when out of memory, a table holds an id outside the
 * vocabulary, or matching the added tokens would cost more than
 * SPM_WORK_PER_BYTE compared bytes per byte of text. */
int spm_encode(const struct spm_tables *t, const char *text, size_t len, int32_t **ids, size_t *n, char *err);

#endif
