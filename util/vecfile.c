#include "vecfile.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPY_MAX_HEADER 65536 /* numpy's own limit for reading a header */
#define CSV_MAX_NUMBER 63    /* longer than any float32 written in full */
#define SNIFF_BYTES 4096

/* ---- .npy: the header, a Python dict literal ---- */

struct lit {
    const char *p, *end;
};

static void skip_space(struct lit *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r'))
        l->p++;
}

static int eat(struct lit *l, char c)
{
    skip_space(l);
    if (l->p < l->end && *l->p == c)
        return l->p++, 1;
    return 0;
}

/* A string literal in single or double quotes, without escapes (numpy
 * writes none); *s and *n get its contents. */
static int string_lit(struct lit *l, const char **s, size_t *n)
{
    skip_space(l);
    if (l->p >= l->end || (*l->p != '\'' && *l->p != '"'))
        return -1;
    char q = *l->p++;
    const char *start = l->p;
    while (l->p < l->end && *l->p != q && *l->p != '\\' && *l->p != '\n')
        l->p++;
    if (l->p >= l->end || *l->p != q)
        return -1;
    *s = start;
    *n = (size_t)(l->p++ - start);
    return 0;
}

static int word(struct lit *l, const char *w)
{
    size_t n = strlen(w);
    skip_space(l);
    if ((size_t)(l->end - l->p) < n || memcmp(l->p, w, n))
        return 0;
    l->p += n;
    return 1;
}

/* A tuple of up to 2 non-negative integers: "(r, d)", "(d,)" or "()". */
static int shape_lit(struct lit *l, uint64_t d[2], int *nd)
{
    int commas = 0;
    *nd = 0;
    if (!eat(l, '('))
        return -1;
    while (!eat(l, ')')) {
        skip_space(l);
        if (l->p >= l->end || *l->p < '0' || *l->p > '9' || *nd == 2)
            return -1;
        uint64_t v = 0;
        while (l->p < l->end && *l->p >= '0' && *l->p <= '9')
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*l->p++ - '0'), &v))
                return -1;
        d[(*nd)++] = v;
        if (eat(l, ','))
            commas++;
        else if (!eat(l, ')'))
            return -1;
        else
            break;
    }
    /* "(5)" is the number 5, not a tuple */
    return *nd == 1 && !commas ? -1 : 0;
}

struct npy {
    char order;    /* '<' or '>' */
    char kind;     /* 'f' */
    int itemsize;  /* 2, 4 or 8 */
    uint64_t shape[2];
    int ndim;
};

static int descr_of(const char *s, size_t n, struct npy *h)
{
    if (n != 3 || (s[0] != '<' && s[0] != '>') || s[1] != 'f' || (s[2] != '2' && s[2] != '4' && s[2] != '8'))
        return -1;
    h->order = s[0];
    h->kind = 'f';
    h->itemsize = s[2] - '0';
    return 0;
}

/* The dict must have exactly the keys descr, fortran_order and shape, as
 * numpy demands; a repeated key takes its last value, as in Python. */
static int npy_dict(struct lit *l, struct npy *h, char *err)
{
    int seen = 0, fortran = 0;
    if (!eat(l, '{'))
        return error(err, ".npy header is not a dict");
    while (!eat(l, '}')) {
        const char *k, *s;
        size_t kn, sn;
        if (string_lit(l, &k, &kn) < 0 || !eat(l, ':'))
            return error(err, ".npy header is malformed");
        if (kn == 5 && !memcmp(k, "descr", 5)) {
            if (string_lit(l, &s, &sn) < 0 || descr_of(s, sn, h) < 0)
                return error(err, ".npy data is not float16, float32 or float64 (descr)");
            seen |= 1;
        } else if (kn == 13 && !memcmp(k, "fortran_order", 13)) {
            if (word(l, "False"))
                fortran = 0;
            else if (word(l, "True"))
                fortran = 1;
            else
                return error(err, ".npy fortran_order is not True or False");
            seen |= 2;
        } else if (kn == 5 && !memcmp(k, "shape", 5)) {
            if (shape_lit(l, h->shape, &h->ndim) < 0)
                return error(err, ".npy shape is not a tuple of at most 2 sizes");
            seen |= 4;
        } else
            return error(err, ".npy header has a key other than descr, fortran_order and shape");
        if (!eat(l, ',')) {
            if (!eat(l, '}'))
                return error(err, ".npy header is malformed");
            break;
        }
    }
    skip_space(l);
    if (l->p != l->end)
        return error(err, ".npy header has bytes after its dict");
    if (seen != 7)
        return error(err, ".npy header lacks descr, fortran_order or shape");
    if (fortran && h->ndim == 2 && h->shape[0] > 1 && h->shape[1] > 1)
        return error(err, ".npy data is in Fortran order");
    return 0;
}

/* Converts n values of the file's type to float32 in out. */
static void npy_to_float(const unsigned char *p, size_t n, const struct npy *h, float *out)
{
    int sz = h->itemsize, swap = h->order == '>';
    for (size_t i = 0; i < n; i++, p += sz) {
        unsigned char b[8];
        for (int k = 0; k < sz; k++)
            b[k] = p[swap ? sz - 1 - k : k];
        if (sz == 2)
            out[i] = util_half_to_float(load_u16(b));
        else if (sz == 4) {
            uint32_t u = load_u32(b);
            memcpy(&out[i], &u, 4);
        } else {
            uint64_t u = load_u64(b);
            double d;
            memcpy(&d, &u, 8);
            out[i] = (float)d;
        }
    }
}

static int parse_npy(struct vecfile *v, const unsigned char *buf, size_t len, char *err)
{
    size_t hlen, start, bytes, count;
    if (len < 10)
        return error(err, ".npy file is truncated");
    if (buf[6] == 1)
        hlen = load_u16(buf + 8), start = 10;
    else if ((buf[6] == 2 || buf[6] == 3) && len >= 12)
        hlen = load_u32(buf + 8), start = 12;
    else
        return error(err, ".npy version %d is not supported", buf[6]);
    if (hlen > NPY_MAX_HEADER)
        return error(err, ".npy header of %zu bytes is over numpy's limit", hlen);
    if (hlen > len - start)
        return error(err, ".npy header runs past the end of the file");
    struct npy h = {0};
    struct lit l = {(const char *)buf + start, (const char *)buf + start + hlen};
    if (npy_dict(&l, &h, err) < 0)
        return -1;
    if (h.ndim == 0)
        return error(err, ".npy holds a single number, not vectors");
    if (h.ndim == 1)
        h.shape[1] = h.shape[0], h.shape[0] = 1;
    if (h.shape[1] == 0 || h.shape[1] > VECFILE_MAX_DIM)
        return error(err, ".npy vectors have dimension %llu, not 1 to %d", (unsigned long long)h.shape[1],
                     VECFILE_MAX_DIM);
    size_t off = start + hlen;
    if (size_mul(h.shape[0], h.shape[1], &count) < 0 || size_mul(count, (size_t)h.itemsize, &bytes) < 0 ||
        bytes > len - off)
        return error(err, ".npy holds %llu x %llu values but only %zu bytes of data", (unsigned long long)h.shape[0],
                     (unsigned long long)h.shape[1], len - off);
    v->rows = h.shape[0];
    v->dim = (int)h.shape[1];
    if (h.itemsize == 4 && h.order == '<' && (uintptr_t)(buf + off) % sizeof(float) == 0) {
        v->data = (const float *)(buf + off);
        return 0;
    }
    float *f = malloc(count ? count * sizeof *f : 1);
    if (!f)
        return error(err, "out of memory converting .npy data to float32");
    npy_to_float(buf + off, count, &h, f);
    v->owned = f;
    v->data = f;
    return 0;
}

/* ---- CSV ---- */

static int is_text(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n && i < SNIFF_BYTES; i++)
        if ((b[i] < 0x20 && b[i] != '\t' && b[i] != '\n' && b[i] != '\r') || b[i] > 0x7e)
            return 0;
    return 1;
}

struct csv {
    const char *p, *end;
    size_t line;
    float *vals;
    size_t n, cap;
};

static int is_sep(char c) { return c == ',' || c == ' ' || c == '\t' || c == '\r'; }

/* Reads the numbers of the line at c->p into c->vals; 1 if one of them is
 * not a number (the line is then left unread up to its end), 0 otherwise;
 * -1 with err when a number is too long or memory runs out. */
static int csv_line(struct csv *c, int *cols, char *err)
{
    *cols = 0;
    while (c->p < c->end && *c->p != '\n') {
        while (c->p < c->end && is_sep(*c->p))
            c->p++;
        if (c->p >= c->end || *c->p == '\n')
            break;
        const char *s = c->p;
        while (c->p < c->end && !is_sep(*c->p) && *c->p != '\n')
            c->p++;
        size_t k = (size_t)(c->p - s);
        if (k > CSV_MAX_NUMBER)
            return error(err, "line %zu: a value of %zu characters is not a number", c->line, k);
        char num[CSV_MAX_NUMBER + 1], *q;
        memcpy(num, s, k);
        num[k] = 0;
        float f = strtof(num, &q);
        if (*q) {
            while (c->p < c->end && *c->p != '\n')
                c->p++;
            return 1;
        }
        if (util_grow(&c->vals, &c->cap, c->n + 1, sizeof *c->vals, SIZE_MAX / 2 / sizeof *c->vals) < 0)
            return error(err, "out of memory");
        c->vals[c->n++] = f;
        (*cols)++;
    }
    return 0;
}

static int parse_csv(struct vecfile *v, const unsigned char *buf, size_t len, char *err)
{
    struct csv c = {(const char *)buf, (const char *)buf + len, 1, NULL, 0, 0};
    int dim = 0, cols, rc = 0, header = 0;
    for (; c.p < c.end; c.p++, c.line++) {
        size_t before = c.n;
        if ((rc = csv_line(&c, &cols, err)) < 0)
            break;
        if (rc == 1) {
            c.n = before;
            if (!v->rows && !header++) { /* a header line */
                rc = 0;
                continue;
            }
            rc = error(err, "line %zu is not a line of numbers", c.line);
            break;
        }
        if (cols && dim && cols != dim) {
            rc = error(err, "line %zu has %d values, earlier lines %d", c.line, cols, dim);
            break;
        }
        if (cols > VECFILE_MAX_DIM) {
            rc = error(err, "line %zu has %d values, more than %d", c.line, cols, VECFILE_MAX_DIM);
            break;
        }
        if (cols)
            dim = cols, v->rows++;
    }
    v->owned = c.vals;
    v->data = c.vals;
    v->dim = dim;
    return rc;
}

/* ---- the file ---- */

static int parse(struct vecfile *v, const unsigned char *buf, size_t len, int dim, char *err)
{
    if (len == 0)
        return error(err, "empty, no vectors");
    if (len >= 6 && !memcmp(buf, "\x93NUMPY", 6)) {
        if (parse_npy(v, buf, len, err) < 0)
            return -1;
    } else if (is_text(buf, len)) {
        if (parse_csv(v, buf, len, err) < 0)
            return -1;
    } else {
        size_t row = (size_t)dim * sizeof(float);
        if (dim <= 0 || dim > VECFILE_MAX_DIM)
            return error(err, "raw float32 vectors need their dimension (--dim)");
        if (len % row)
            return error(err, "%zu bytes is not a whole number of %d-float vectors", len, dim);
        v->rows = len / row;
        v->dim = dim;
        if ((uintptr_t)buf % sizeof(float) == 0)
            v->data = (const float *)buf;
        else if ((v->owned = malloc(len)))
            v->data = memcpy(v->owned, buf, len);
        else
            return error(err, "out of memory");
    }
    return v->rows ? 0 : error(err, "no vectors");
}

struct vecfile *vecfile_parse(const unsigned char *buf, size_t len, int dim, char *err)
{
    struct vecfile *v = calloc(1, sizeof *v);
    if (!v) {
        error(err, "out of memory");
        return NULL;
    }
    if (parse(v, buf, len, dim, err) < 0) {
        vecfile_close(v);
        return NULL;
    }
    return v;
}

/* The bytes of path: mapped, or read from stdin into v->owned. */
static unsigned char *load(struct vecfile *v, const char *path, size_t *len, char *err)
{
    if (!strcmp(path, "-")) {
        unsigned char *buf = NULL;
        if (util_read_fd(STDIN_FILENO, SIZE_MAX / 2, &buf, len, err) < 0)
            return NULL;
        return v->map = buf; /* freed, not unmapped: size 0 says so */
    }
    struct stat st;
    int fd = util_open_regular(path, &st, err);
    if (fd < 0)
        return NULL;
    *len = (size_t)st.st_size;
    if (*len == 0) {
        close(fd);
        return (unsigned char *)"";
    }
    /* not MAP_POPULATE: the threads of a search fault the pages in in
     * parallel, which measured 25 ms against 34 for 100k x 512 */
    void *buf = mmap(NULL, *len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (buf == MAP_FAILED)
        return error(err, "cannot map: %s", strerror(errno)), NULL;
    v->map = buf;
    v->size = *len;
    return buf;
}

struct vecfile *vecfile_open(const char *path, int dim, char *err)
{
    const char *name = strcmp(path, "-") ? path : "standard input";
    char why[ERR_LEN];
    size_t len = 0;
    struct vecfile *v = calloc(1, sizeof *v);
    if (!v) {
        error(err, "out of memory");
        return NULL;
    }
    const unsigned char *buf = load(v, path, &len, why);
    if (!buf || parse(v, buf, len, dim, why) < 0) {
        error(err, "%s: %s", name, why);
        vecfile_close(v);
        return NULL;
    }
    return v;
}

void vecfile_close(struct vecfile *v)
{
    if (!v)
        return;
    if (v->map && v->size)
        munmap(v->map, v->size);
    else
        free(v->map);
    free(v->owned);
    free(v);
}

/* ---- writing ---- */

#define NPY_HEADER 128

struct vecfile_writer {
    FILE *f;
    enum vecfile_format fmt;
    int dim;
    size_t rows;
    int patch;      /* npy header rewritten in place (a regular file) */
    float *held;    /* npy rows held for a pipe */
    size_t cap;
};

static void npy_header(char *h, size_t rows, int dim)
{
    /* magic, version 1.0, header length, then the dict padded with spaces */
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    h[8] = (char)(NPY_HEADER - 10);
    h[9] = 0;
    int n = snprintf(h + 10, NPY_HEADER - 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }", rows,
                     dim);
    memset(h + 10 + n, ' ', NPY_HEADER - 11 - (size_t)n);
    h[NPY_HEADER - 1] = '\n';
}

/* The formats by name, in enum vecfile_format's order. */
static const char *const format_names[] = {"raw", "csv", "npy"};

int vecfile_format_parse(const char *s, enum vecfile_format *f)
{
    for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++)
        if (!strcmp(s, format_names[i])) {
            *f = (enum vecfile_format)i;
            return 0;
        }
    return -1;
}

const char *vecfile_format_names(void) { return "raw, csv or npy"; }

struct vecfile_writer *vecfile_writer_open(FILE *f, enum vecfile_format fmt, int dim, char *err)
{
    struct vecfile_writer *w = calloc(1, sizeof *w);
    if (!w) {
        error(err, "out of memory");
        return NULL;
    }
    *w = (struct vecfile_writer){.f = f, .fmt = fmt, .dim = dim};
    if (fmt == VECFILE_NPY) {
        int fd = fileno(f), fl = fcntl(fd, F_GETFL);
        struct stat st;
        w->patch = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fl >= 0 && !(fl & O_APPEND) &&
                   lseek(fd, 0, SEEK_CUR) == 0 && ftell(f) == 0;
        if (w->patch) {
            char h[NPY_HEADER];
            npy_header(h, 0, dim);
            fwrite(h, 1, sizeof h, f);
        }
    }
    return w;
}

int vecfile_write(struct vecfile_writer *w, const float *rows, size_t n, char *err)
{
    size_t count = n * (size_t)w->dim;
    if (w->fmt == VECFILE_CSV) {
        for (size_t r = 0; r < n; r++) {
            for (int k = 0; k < w->dim; k++)
                fprintf(w->f, "%s%.9g", k ? "," : "", rows[r * (size_t)w->dim + (size_t)k]);
            fputc('\n', w->f);
        }
    } else if (w->fmt == VECFILE_NPY && !w->patch) {
        size_t have = w->rows * (size_t)w->dim;
        if (util_grow(&w->held, &w->cap, have + count, sizeof *w->held, SIZE_MAX / 2 / sizeof *w->held) < 0)
            return error(err, "out of memory holding vectors for the .npy header");
        memcpy(w->held + have, rows, count * sizeof *rows);
    } else
        fwrite(rows, sizeof *rows, count, w->f);
    w->rows += n;
    return ferror(w->f) ? error(err, "%s", strerror(errno)) : 0;
}

int vecfile_writer_sync(struct vecfile_writer *w, char *err)
{
    if (fflush(w->f) != 0)
        return error(err, "%s", strerror(errno));
    if (w->patch) {
        char h[NPY_HEADER];
        npy_header(h, w->rows, w->dim);
        if (util_write_full(fileno(w->f), h, sizeof h, 0) < 0)
            return error(err, "cannot rewrite the .npy header: %s", strerror(errno));
    }
    return 0;
}

int vecfile_writer_close(struct vecfile_writer *w, char *err)
{
    if (!w)
        return 0;
    int rc = 0;
    if (w->fmt == VECFILE_NPY && !w->patch) {
        char h[NPY_HEADER];
        npy_header(h, w->rows, w->dim);
        fwrite(h, 1, sizeof h, w->f);
        fwrite(w->held, sizeof *w->held, w->rows * (size_t)w->dim, w->f);
    }
    if (ferror(w->f))
        rc = error(err, "%s", strerror(errno));
    else
        rc = vecfile_writer_sync(w, err);
    free(w->held);
    free(w);
    return rc;
}
