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
                                st->st_ino, st->st_dev};
    w->n++;
    return 0;
}

static void skip(struct walk *w, const char *path, const char *why)
{
    if (w->skip)
        w->skip(w->ctx, path, why);
}

static int walk_dir(struct walk *w, const char *dir);

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static int not_hidden(const struct dirent *d) { return d->d_name[0] != '.'; }

/* One entry of a folder: the entry's type from the folder itself spares a
 * stat of every folder and of files not named like images (a refresh of a
 * large library is mostly this loop). */
static int walk_entry(struct walk *w, const char *path, unsigned char type)
{
    struct stat st, link;
    if (type == DT_DIR)
        return walk_dir(w, path);
    if (type == DT_REG && !image_has_extension(path)) {
        w->not_images++;
        return 0;
    }
    if (type != DT_REG && type != DT_LNK && type != DT_UNKNOWN)
        return 0; /* devices, FIFOs, sockets */
    if (stat(path, &st) < 0)
        return 0;
    if (S_ISDIR(st.st_mode)) /* a link to a folder is not followed; an unknown type may be a folder */
        return type == DT_UNKNOWN && lstat(path, &link) == 0 && !S_ISLNK(link.st_mode) ? walk_dir(w, path) : 0;
    if (!S_ISREG(st.st_mode))
        return 0;
    if (!image_has_extension(path)) {
        w->not_images++;
        return 0;
    }
    return add_file(w, path, &st);
}

static int walk_dir(struct walk *w, const char *dir)
{
    struct dirent **list;
    int n = scandir(dir, &list, not_hidden, by_name), rc = 0;
    if (n < 0) {
        skip(w, dir, strerror(errno));
        return 0;
    }
    size_t dl = strlen(dir);
    for (int k = 0; k < n; k++) {
        char path[PATH_MAX];
        if (dl + 1 + strlen(list[k]->d_name) >= sizeof path) {
            char shown[PATH_MAX + 256];
            snprintf(shown, sizeof shown, "%s/%s", dir, list[k]->d_name);
            skip(w, shown, "path too long");
        } else if (!rc) {
            snprintf(path, sizeof path, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", list[k]->d_name);
            rc = walk_entry(w, path, list[k]->d_type);
        }
        free(list[k]);
    }
    free(list);
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
    for (size_t i = 0; i < w->n; i++)
        free(w->files[i].path);
    free(w->files);
    w->files = NULL;
    w->n = w->cap = 0;
}
