/* Vector files read and written (vecfile.c) and searched (search.c): the
 * .npy header parsed as the dict literal it is, CSV and raw files, the
 * writer's output read back, and top-k's order, ties and limits.
 *
 *     tests/test_vecfile
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "search.h"
#include "vecfile.h"

static unsigned char buf[1 << 16];

/* An .npy (version 1.0) of the header dict h followed by n data bytes. */
static size_t npy(const char *h, const void *data, size_t n)
{
    size_t hl = strlen(h);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hl & 0xff);
    buf[9] = (unsigned char)(hl >> 8);
    memcpy(buf + 10, h, hl);
    memcpy(buf + 10 + hl, data, n);
    return 10 + hl + n;
}

/* Parses len bytes of buf; the message of a refusal into err. */
static struct vecfile *parse(size_t len, int dim, char *err)
{
    err[0] = 0;
    return vecfile_parse(buf, len, dim, err);
}

static void refused(size_t len, const char *want)
{
    char err[ERR_LEN];
    struct vecfile *v = parse(len, 0, err);
    CHECK(!v, "accepted what should be refused (%s)", want);
    CHECK_MSG(err, want);
    vecfile_close(v);
}

static void test_npy(void)
{
    const float f[6] = {1, 2, 3, 4, 5, 6};
    char err[ERR_LEN];
    /* numpy's own header, padded so that the data is aligned */
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }          \n";
    struct vecfile *v = parse(npy(good, f, sizeof f), 0, err);
    CHECK(v && v->rows == 2 && v->dim == 3 && v->data[5] == 6, "a plain .npy: %s", err);
    vecfile_close(v);
    /* a 1-d array is one vector; keys in any order, double quotes */
    v = parse(npy("{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"<f4\"}\n", f, 12), 0, err);
    CHECK(v && v->rows == 1 && v->dim == 3, "a 1-d .npy: %s", err);
    vecfile_close(v);

    /* the header ends inside the shape tuple, digits running to its end */
    refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3", "", 0), "shape");
    refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (123456789", "", 0), "shape");
    refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape'", "", 0), "malformed");
    /* 'descr' inside a string is not a key */
    refused(npy("{'x': \"'descr': '<f4'\", 'fortran_order': False, 'shape': (1, 1)}", f, 4), "key other than");
    refused(npy("{'fortran_order': False, 'shape': (1, 1)}", f, 4), "lacks");
    refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), 'x': 1}", f, 4), "key other than");
    refused(npy("{'descr': '<i4', 'fortran_order': False, 'shape': (1, 1)}", f, 4), "float16, float32 or float64");
    refused(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3)}", f, 24), "Fortran");
    refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3)}", f, 12), "shape");
    refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3)}", f, 24), "shape");
    refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': ()}", f, 4), "single number");
    refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 2)}", f, 4), "shape");
    refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4)}", f, 4), "only");
    refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2)}", f, 20), "only 20 bytes");
    refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)} x", f, 4), "after its dict");
    refused(npy("{'descr': '<f4, 'fortran_order': False, 'shape': (1, 1)}", f, 4), "");
    size_t n = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)}", f, 4);
    buf[8] = 0xff; /* a header length past the file */
    refused(n, "past the end");

    /* float64, float16 and big-endian data are converted */
    double d[2] = {0.1, -2.5};
    v = parse(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2)}", d, sizeof d), 0, err);
    CHECK(v && v->data[0] == (float)0.1 && v->data[1] == -2.5f, "float64 .npy: %s", err);
    vecfile_close(v);
    uint16_t h[3] = {0x3c00, 0xc000, 0x0001}; /* 1, -2, the smallest subnormal */
    v = parse(npy("{'descr': '<f2', 'fortran_order': False, 'shape': (1, 3)}", h, sizeof h), 0, err);
    CHECK(v && v->data[0] == 1 && v->data[1] == -2 && v->data[2] == ldexpf(1, -24), "float16 .npy: %s", err);
    vecfile_close(v);
    const unsigned char be[4] = {0x3f, 0x80, 0, 0}; /* 1.0f */
    v = parse(npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,)}", be, 4), 0, err);
    CHECK(v && v->data[0] == 1, "big-endian .npy: %s", err);
    vecfile_close(v);
}

static size_t text(const char *s)
{
    size_t n = strlen(s);
    memcpy(buf, s, n);
    return n;
}

static void test_csv_raw(void)
{
    char err[ERR_LEN];
    struct vecfile *v = parse(text("x,y,z\r\n1,2,3\r\n4 5 6\n\n"), 0, err);
    CHECK(v && v->rows == 2 && v->dim == 3 && v->data[3] == 4, "CSV with a header line: %s", err);
    vecfile_close(v);
    v = parse(text("inf,nan,-1e3\n"), 0, err);
    CHECK(v && isinf(v->data[0]) && isnan(v->data[1]) && v->data[2] == -1000, "inf and nan are values: %s", err);
    vecfile_close(v);
    refused(text("1,2\n3\n"), "line 2 has 1 values, earlier lines 2");
    refused(text("1,2\nx,y\n"), "line 2 is not a line of numbers");
    refused(text("a,b\nc,d\n1,2\n"), "line 2 is not a line of numbers");
    /* a number too long is refused, not split into two */
    char longnum[200] = "0.";
    memset(longnum + 2, '1', 100);
    strcat(longnum, "\n");
    refused(text(longnum), "line 1: a value of 102 characters");
    refused(text("\n\n"), "no vectors");
    refused(0, "empty");

    const float f[4] = {1, 2, 3, 4};
    memcpy(buf, f, sizeof f);
    v = parse(sizeof f, 2, err);
    CHECK(v && v->rows == 2 && v->data[3] == 4, "raw float32: %s", err);
    vecfile_close(v);
    refused(sizeof f, "need their dimension");
    v = parse(sizeof f, 3, err);
    CHECK(!v, "raw of 4 floats read as 3-float rows");
    CHECK_MSG(err, "not a whole number");
}

static void test_writer(void)
{
    char err[ERR_LEN];
    const float rows[6] = {0.1f, 1e-30f, -3.4028235e38f, 1, 2, 3};
    for (int fmt = VECFILE_RAW; fmt <= VECFILE_NPY; fmt++) {
        FILE *f = tmpfile();
        struct vecfile_writer *w = vecfile_writer_open(f, (enum vecfile_format)fmt, 3, err);
        CHECK(w && vecfile_write(w, rows, 1, err) == 0 && vecfile_writer_sync(w, err) == 0, "write: %s", err);
        if (fmt == VECFILE_NPY) { /* after a sync, the file holds a valid array of the rows so far */
            size_t n = (size_t)ftell(f);
            rewind(f);
            CHECK(fread(buf, 1, n, f) == n, "read back");
            struct vecfile *v = parse(n, 0, err);
            CHECK(v && v->rows == 1, "an .npy after one sync: %s", err);
            vecfile_close(v);
            fseek(f, 0, SEEK_END);
        }
        CHECK(vecfile_write(w, rows + 3, 1, err) == 0 && vecfile_writer_close(w, err) == 0, "close: %s", err);
        size_t n = (size_t)ftell(f);
        rewind(f);
        CHECK(fread(buf, 1, n, f) == n, "read back");
        fclose(f);
        struct vecfile *v = parse(n, 3, err);
        CHECK(v && v->rows == 2 && !memcmp(v->data, rows, sizeof rows), "format %d reads back exactly: %s", fmt, err);
        vecfile_close(v);
    }
}

static struct vecfile db_of(const float *data, size_t rows, int dim)
{
    return (struct vecfile){.data = data, .rows = rows, .dim = dim};
}

static void test_search(void)
{
    char err[ERR_LEN];
    /* rows 0 and 2 tie; the second file's row 0 ties with them too */
    const float a[8] = {1, 0, 0, 1, 2, 0, 0.6f, 0.8f}, b[4] = {3, 0, -1, 0};
    struct vecfile va = db_of(a, 4, 2), vb = db_of(b, 2, 2);
    const struct vecfile *dbs[2] = {&va, &vb};
    float q[2] = {1, 0};
    size_t n;
    struct search_hit *h = search_top_k(dbs, 2, q, 4, 2, &n, err);
    CHECK(h && n == 4, "top 4 of 6: %s", err);
    CHECK(h && h[0].db == 0 && h[0].row == 0 && h[1].db == 0 && h[1].row == 2 && h[2].db == 1 && h[2].row == 0 &&
              h[3].row == 3 && fabsf(h[3].score - 0.6f) < 1e-6f,
          "ties in file then row order, best first");
    free(h);
    /* k past the rows, even where k * sizeof would wrap, means all rows */
    h = search_top_k(dbs, 2, q, (size_t)1 << 60, 1, &n, err);
    CHECK(h && n == 6 && h[5].db == 1 && h[5].row == 1, "k of 2^60: all 6 rows: %s", err);
    free(h);
    /* a bad row names its file and row */
    const float bad[4] = {1, 0, 0, 0};
    struct vecfile vbad = db_of(bad, 2, 2);
    const struct vecfile *two[2] = {&va, &vbad};
    h = search_top_k(two, 2, q, 3, 2, &n, err);
    CHECK(!h && n == 1, "a zero row is refused, in file 1 (got file %zu)", n);
    CHECK_MSG(err, "vector 2 is all zeros");

    /* many rows on several threads: the kept list and the full sort agree */
    enum { ROWS = 20000, D = 8 };
    float *m = malloc(ROWS * D * sizeof *m), qq[D];
    for (int i = 0; i < ROWS * D; i++)
        m[i] = (float)((i * 7919) % 101) - 50 + (i % D == 0 ? 0.5f : 0); /* many ties */
    for (int d = 0; d < D; d++)
        qq[d] = (float)(d + 1);
    search_unit(qq, D);
    struct vecfile vm = db_of(m, ROWS, D);
    const struct vecfile *one[1] = {&vm};
    size_t n1, n2;
    struct search_hit *few = search_top_k(one, 1, qq, 200, 3, &n1, err), *all = search_top_k(one, 1, qq, 300, 2, &n2, err);
    int same = few && all && n1 == 200 && n2 == 300;
    for (size_t i = 0; same && i < n1; i++)
        same = few[i].row == all[i].row && few[i].score == all[i].score;
    for (size_t i = 1; all && i < n2; i++)
        same = same && (all[i - 1].score > all[i].score || (all[i - 1].score == all[i].score && all[i - 1].row < all[i].row));
    CHECK(same, "top 200 (kept list, 3 threads) is the start of top 300 (sorted, 2 threads), ties by row");
    free(few);
    free(all);
    free(m);
    float z[3] = {0, 0, 0};
    CHECK(search_unit(z, 3) < 0, "a zero vector has no direction");
}

int main(void)
{
    test_npy();
    test_csv_raw();
    test_writer();
    test_search();
    return check_done("test_vecfile");
}
