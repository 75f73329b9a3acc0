/* touch: what it costs this machine to read a file's pages the first time
 * in a process, the floor under every one-off query (the query reads all
 * of a tower's weights once). Maps FILE, maps in its first MB megabytes
 * (MADV_POPULATE_READ, as clippie does), then reads them twice, timing
 * each pass; then the same for MB megabytes of fresh anonymous memory
 * (the page faults of scratch). Prints milliseconds:
 *
 *     bench/touch FILE MB      # "first 118.6 second 8.0 anonymous 150.1"
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

static double ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Reads n bytes, 64 at a time (a cache line), as a forward pass streams them. */
static double pass(const volatile unsigned char *p, size_t n)
{
    double t = ms();
    unsigned s = 0;
    for (size_t i = 0; i < n; i += 64)
        s += p[i];
    if (s == 1) /* keeps the loop */
        fputc(' ', stderr);
    return ms() - t;
}

int main(int argc, char **argv)
{
    struct stat st;
    int fd = argc == 3 ? open(argv[1], O_RDONLY) : -1;
    size_t n = argc == 3 ? strtoull(argv[2], NULL, 10) << 20 : 0;
    if (fd < 0 || fstat(fd, &st) < 0 || n == 0 || n > (size_t)st.st_size) {
        fprintf(stderr, "usage: touch FILE MB (MB at most the file's size)\n");
        return 2;
    }
    unsigned char *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    unsigned char *a = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || a == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    pass(p, n); /* the file into the page cache, in an earlier mapping's place */
    munmap(p, n);
    p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    madvise(p, n, MADV_POPULATE_READ);
    double first = pass(p, n), second = pass(p, n);
    double t = ms();
    for (size_t i = 0; i < n; i += 4096)
        a[i] = 1;
    printf("first %.1f second %.1f anonymous %.1f\n", first, second, ms() - t);
    return 0;
}
