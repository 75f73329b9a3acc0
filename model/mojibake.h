/* mojibake.h - text that was decoded in the wrong encoding, repaired as
 * ftfy 6.3's fix_encoding does it (the step of ftfy.fix_text that CLIP's
 * tokenizer runs on every text).
 *
 *     struct mojibake *m = mojibake_open(err);
 *     uint32_t text[] = {'c', 'a', 'f', 0xc3, 0xa9}; // "cafÃ©"
 *     size_t n = 5;
 *     mojibake_fix(m, text, &n, err);                 // "café", n = 4
 *     mojibake_close(m);
 *
 * The rules are ftfy's: a text that is not ASCII and that its badness
 * heuristic finds garbled is encoded in the first of latin-1, sloppy
 * Windows-1252, -1251, -1250, -1253, -1254, -1257, ISO-8859-2, MacRoman and
 * cp437 that can encode it, spaces put back as 0xa0 and lost bytes as
 * U+FFFD where that makes UTF-8, and decoded as UTF-8 (CESU-8 surrogate
 * pairs and Java's 0xc0 0x80 accepted); else runs of UTF-8-looking
 * characters are repaired alone; else C1 controls read as Windows-1252.
 * That is repeated until the text no longer changes.
 *
 * Work is bounded: at most MOJIBAKE_MAX_STEPS rounds, runs repaired inside
 * runs at most MOJIBAKE_MAX_DEPTH deep, and about 64 code point visits per
 * code point of input; past that the text is left as repaired so far
 * (ftfy has no such bounds; no real text reaches them).
 */
#ifndef MOJIBAKE_H
#define MOJIBAKE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define MOJIBAKE_MAX_STEPS 64
#define MOJIBAKE_MAX_DEPTH 8

struct mojibake;

struct mojibake *mojibake_open(char *err);
void mojibake_close(struct mojibake *m);

/* Repairs the *n code points of text in place (the repair never lengthens a
 * text) and sets *n to the new length. Returns 0, or -1 with err set when
 * memory runs out (text is then unchanged). Clean text costs no allocation. */
int mojibake_fix(const struct mojibake *m, uint32_t *text, size_t *n, char *err);

#endif
