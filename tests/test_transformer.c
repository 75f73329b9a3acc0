/* transformer_few_rows against the same product summed in double: every row
 * count it serves (1 to 16, so every block size and remainder), widths from
 * the tiny test model's to a B/32 MLP's, one to three threads (the larger
 * products are split between them). */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "transformer.h"

static float *randoms(size_t n)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)rand() / RAND_MAX * 2 - 1;
    return v;
}

static void test_product(int rows, int in, int out, int threads)
{
    float *x = randoms((size_t)rows * in), *w = randoms((size_t)out * in), *y = randoms((size_t)rows * out);
    double *want = malloc((size_t)rows * out * sizeof *want);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < out; j++) {
            double s = y[(size_t)r * out + j];
            for (int k = 0; k < in; k++)
                s += (double)x[(size_t)r * in + k] * w[(size_t)j * in + k];
            want[(size_t)r * out + j] = s;
        }
    transformer_few_rows(threads, y, x, w, rows, in, out);
    /* per row, relative to the row's size, as the model tests measure vectors */
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        double d = 0, n = 0;
        for (int j = 0; j < out; j++) {
            double e = y[(size_t)r * out + j] - want[(size_t)r * out + j];
            d += e * e;
            n += want[(size_t)r * out + j] * want[(size_t)r * out + j];
        }
        worst = fmax(worst, sqrt(d / n));
    }
    CHECK(worst <= 1e-6, "%d rows x %d -> %d on %d threads: relative error %.3g", rows, in, out, threads, worst);
    free(x);
    free(w);
    free(y);
    free(want);
}

int main(void)
{
    static const int shapes[][2] = {{64, 192}, {512, 512}, {512, 2048}, {2048, 512}};
    srand(1);
    for (int rows = 1; rows <= 16; rows++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int threads = 1; threads <= 3; threads++)
                test_product(rows, shapes[s][0], shapes[s][1], threads);
    return check_done("test_transformer");
}
