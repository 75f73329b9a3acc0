/* preprocess_child.h - image_preprocess run in a child process, for the
 * image tests: a decoder that crashes, hangs or runs out of memory on a
 * hostile file then fails a check instead of the test. rc, the message and
 * the first output pixel come back through a pipe, the child's peak memory
 * (KiB) from wait4. */
#ifndef PREPROCESS_CHILD_H
#define PREPROCESS_CHILD_H

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image.h"
#include "util.h"

struct outcome {
    int rc, hung;
    long peak_kib;
    float first[3]; /* the first output pixel */
    char err[ERR_LEN];
};

/* The address space mapped now, in bytes (under ASan: its shadow too). */
static inline rlim_t vm_size(void)
{
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%lu", &pages) != 1)
        pages = 0;
    if (f)
        fclose(f);
    return (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
}

/* Preprocesses buf as o says in a child that runs at most secs seconds and,
 * when more_as is not 0, may map at most more_as bytes more than it has. */
static inline struct outcome preprocess_in_child(const unsigned char *buf, size_t len, const struct image_opts *o,
                                                 unsigned secs, rlim_t more_as)
{
    struct outcome r = {.rc = -1};
    int fd[2];
    if (pipe(fd) < 0)
        return r;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        struct rlimit as = {vm_size() + more_as, RLIM_INFINITY};
        if (more_as)
            setrlimit(RLIMIT_AS, &as);
        alarm(secs);
        size_t plane = (size_t)o->resolution * o->resolution;
        float *px = malloc(3 * plane * sizeof *px);
        r.rc = px ? image_preprocess(buf, len, o, px, r.err) : -1;
        for (int ch = 0; ch < 3; ch++)
            r.first[ch] = r.rc == 0 ? px[(size_t)ch * plane] : NAN;
        if (write(fd[1], &r, sizeof r) != (ssize_t)sizeof r)
            _exit(2);
        _exit(0);
    }
    close(fd[1]);
    if (pid < 0 || read(fd[0], &r, sizeof r) != (ssize_t)sizeof r)
        r.rc = -2;
    close(fd[0]);
    int status = 0;
    struct rusage ru = {0};
    if (pid > 0)
        wait4(pid, &status, 0, &ru);
    r.hung = WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM;
    r.peak_kib = ru.ru_maxrss;
    return r;
}

#endif
