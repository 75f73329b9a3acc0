#include "input.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char INPUT_WAIT[] = "";

#define READ_SIZE 65536

void input_init(struct input *in, int argc, char **argv, char delim)
{
    *in = (struct input){.argv = argc > 0 ? argv : NULL, .argc = argc, .delim = delim};
}

void input_free(struct input *in)
{
    free(in->buf);
    in->buf = NULL;
}

/* The buffered record at pos, if a whole one is there (or the last one,
 * at the end of the input). */
static const char *take(struct input *in)
{
    char *start = in->buf + in->pos, *end = in->len > in->pos ? memchr(start, in->delim, in->len - in->pos) : NULL;
    if (!end && !(in->eof && in->pos < in->len))
        return NULL;
    size_t n = end ? (size_t)(end - start) : in->len - in->pos;
    start[n] = 0; /* there is room: the buffer keeps a spare byte */
    in->pos += n + (end != NULL);
    in->number++;
    in->had_nul = in->delim && strlen(start) < n;
    return start;
}

/* Reads more of standard input behind what is buffered. */
static int fill(struct input *in, char *err)
{
    if (in->pos < in->len) /* (memmove of nothing from a NULL buffer is undefined) */
        memmove(in->buf, in->buf + in->pos, in->len - in->pos);
    in->len -= in->pos;
    in->pos = 0;
    if (in->len >= INPUT_MAX_RECORD)
        return error(err, "input %d is longer than %u bytes", in->number + 1, INPUT_MAX_RECORD);
    if (util_grow(&in->buf, &in->cap, in->len + READ_SIZE + 1, 1, INPUT_MAX_RECORD + READ_SIZE + 1) < 0)
        return error(err, "out of memory");
    ssize_t got = read(STDIN_FILENO, in->buf + in->len, in->cap - in->len - 1);
    if (got < 0 && errno == EINTR)
        in->interrupted = 1;
    else if (got < 0)
        return error(err, "standard input: %s", strerror(errno));
    if (got <= 0)
        in->eof = 1;
    else
        in->len += (size_t)got;
    return 0;
}

const char *input_next(struct input *in, int pending, char *err)
{
    if (in->argv)
        return in->number < in->argc ? in->argv[in->number++] : NULL;
    for (;;) {
        const char *s = take(in);
        if (s || in->eof)
            return s;
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        if (pending && poll(&pfd, 1, 0) == 0)
            return INPUT_WAIT;
        if (fill(in, err) < 0) {
            in->eof = 1;
            return NULL;
        }
    }
}
