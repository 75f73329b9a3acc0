/* input.h - the texts or paths a command works on: its arguments, else the
 * records of standard input (lines, or NUL-terminated), read as they come.
 *
 *     struct input in;
 *     input_init(&in, argc, argv, '\n');        // argc 0: standard input
 *     for (const char *s; (s = input_next(&in, 0, err));)
 *         use(s, in.number);                    // numbered from 1
 *     if (*err) ...                             // a read error ended it
 *     input_free(&in);
 *
 * A record over INPUT_MAX_RECORD bytes is an error, not a reason to grow
 * without end. With `pending` set, input_next answers INPUT_WAIT rather
 * than block when no whole record is buffered and standard input has
 * nothing ready, so that a coprocess gets an answer for each line it
 * writes before it writes the next.
 */
#ifndef INPUT_H
#define INPUT_H

#include <stddef.h>

#include "util.h"

#define INPUT_MAX_RECORD (16u << 20)

struct input {
    char **argv;
    int argc;
    int number;       /* of the record last returned, from 1 */
    int had_nul;      /* the record last returned held a NUL byte, where its
                         delimiter is a newline: the rest is cut off */
    int interrupted;  /* a signal cut a read short: the input ended there */
    char delim;       /* '\n' or NUL */
    char *buf;        /* standard input not yet handed out: [pos, len) */
    size_t pos, len, cap;
    int eof;
};

/* input_next's answer when nothing is waiting on standard input. */
extern const char INPUT_WAIT[];

void input_init(struct input *in, int argc, char **argv, char delim);

/* The next record (valid until the next call), NULL after the last or on a
 * read error (err set), or INPUT_WAIT (see above). */
const char *input_next(struct input *in, int pending, char *err);

void input_free(struct input *in);

#endif
