/* walk.c - the image files under the paths given: folders walked in
 * sorted order without recursion (see walk.h). */
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "util.h"

static int add_file(struct walk *w, const char *path, const struct stat *st)
{
    if (util_grow(&w->files, &w->cap, w->n + 1, sizeof *w->files, SIZE_MAX / 2 / sizeof *w->files) < 0)
        return -1;
    struct walk_file *f = &w->files[w->n];
    *f = (struct walk_file){.path = strdup(path)};
    if (!f->path)
        return -1;
    if (st)
        *f = (struct walk_file){f->path, st->st_size, (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
                                st->st_ino, st->st_dev, NULL};
    w->n++;
    return 0;
}

static void skip(struct walk *w, const char *path, const char *why)
{
    if (w->skip)
        w->skip(w->ctx, path, why);
}

/* The folders being walked, outermost first: each with its sorted entries
 * and the next to visit. An explicit stack rather than recursion, so that
 * folders nested thousands deep (as deep as PATH_MAX lets a path go) cannot
 * overflow the call stack; the order is the recursion's. */
struct frame {
    char *dir;
    struct dirent **list;
    int n, next;
};

struct stack {
    struct frame *f;
    size_t n, cap;
};

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static int not_hidden(const struct dirent *d) { return d->d_name[0] != '.'; }

/* Reads a folder onto the stack; one that cannot be read is handed to
 * skip(). -1 when out of memory. */
static int push_dir(struct walk *w, struct stack *s, const char *dir)
{
    struct dirent **list;
    int n = scandir(dir, &list, not_hidden, by_name);
    if (n < 0) {
        skip(w, dir, strerror(errno));
        return 0;
    }
    char *copy = strdup(dir);
    if (!copy || util_grow(&s->f, &s->cap, s->n + 1, sizeof *s->f, SIZE_MAX / 2 / sizeof *s->f) < 0) {
        free(copy);
        for (int k = 0; k < n; k++)
            free(list[k]);
        free(list);
        return -1;
    }
    s->f[s->n++] = (struct frame){copy, list, n, 0};
    return 0;
}

static void pop_dir(struct stack *s)
{
    struct frame *f = &s->f[--s->n];
    for (int k = f->next; k < f->n; k++)
        free(f->list[k]);
    free(f->list);
    free(f->dir);
}

/* One entry of a folder: the entry's type from the folder itself spares a
 * stat of every folder and of files not named like images (a refresh of a
 * large library is mostly this loop). A folder goes on the stack. */
static int walk_entry(struct walk *w, struct stack *s, const char *path, unsigned char type)
{
    struct stat st, link;
    if (type == DT_DIR)
        return push_dir(w, s, path);
    if (type == DT_REG && !image_has_extension(path)) {
        w->not_images++;
        return 0;
    }
    if (type != DT_REG && type != DT_LNK && type != DT_UNKNOWN)
        return 0; /* devices, FIFOs, sockets */
    if (stat(path, &st) < 0)
        return 0;
    if (S_ISDIR(st.st_mode)) /* a link to a folder is not followed; an unknown type may be a folder */
        return type == DT_UNKNOWN && lstat(path, &link) == 0 && !S_ISLNK(link.st_mode) ? push_dir(w, s, path) : 0;
    if (!S_ISREG(st.st_mode))
        return 0;
    if (!image_has_extension(path)) {
        w->not_images++;
        return 0;
    }
    return add_file(w, path, &st);
}

/* The next entry of the innermost folder, taken from its list */
static int walk_next(struct walk *w, struct stack *s)
{
    struct frame *f = &s->f[s->n - 1];
    struct dirent *d = f->list[f->next++];
    size_t dl = strlen(f->dir), nl = strlen(d->d_name), slash = !(dl && f->dir[dl - 1] == '/');
    char path[PATH_MAX];
    int rc = 0;
    if (dl + 1 + nl >= sizeof path) {
        char shown[PATH_MAX + 256];
        snprintf(shown, sizeof shown, "%s/%s", f->dir, d->d_name);
        skip(w, shown, "path too long");
    } else {
        memcpy(path, f->dir, dl);
        path[dl] = '/';
        memcpy(path + dl + slash, d->d_name, nl + 1);
        rc = walk_entry(w, s, path, d->d_type); /* may move s->f: f is not used after */
    }
    free(d);
    return rc;
}

static int walk_dir(struct walk *w, const char *dir)
{
    struct stack s = {0};
    int rc = push_dir(w, &s, dir);
    while (rc == 0 && s.n > 0) {
        if (s.f[s.n - 1].next == s.f[s.n - 1].n)
            pop_dir(&s);
        else
            rc = walk_next(w, &s);
    }
    while (s.n > 0)
        pop_dir(&s);
    free(s.f);
    return rc;
}

int walk_add(struct walk *w, const char *path)
{
    struct stat st;
    int found = stat(path, &st) == 0;
    if (found && S_ISDIR(st.st_mode))
        return walk_dir(w, path);
    return add_file(w, path, found ? &st : NULL);
}

void walk_free(struct walk *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free(w->files[i].path);
        free(w->files[i].facts);
    }
    free(w->files);
    w->files = NULL;
    w->n = w->cap = 0;
}
