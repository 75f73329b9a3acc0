/* walk.h - the image files named by paths: files as given, folders walked.
 *
 *     struct walk w = {.skip = report, .ctx = &counts};
 *     if (walk_add(&w, "/home/me/Photos") < 0) ...   // out of memory
 *     for (size_t i = 0; i < w.n; i++) use(w.files[i].path);
 *     walk_free(&w);
 *
 * Folders are walked depth first in sorted (byte) order; hidden entries are
 * passed over, and so are files not named with an extension of one of the
 * image formats (image_has_extension), which are counted. The walk keeps
 * its own stack, not the call stack's: folders nested as deep as a path
 * can be (PATH_MAX) are walked; an entry whose path would be longer is
 * handed to skip() as "path too long".
 * Links to files are followed, links to folders are not: a link back up the
 * tree would never end. A folder that cannot be read is handed to skip()
 * too, and the walk goes on. Memory: the paths found, and the entries of
 * the folders from the root down to the one being read.
 */
#ifndef WALK_H
#define WALK_H

#include <stddef.h>
#include <stdint.h>

/* What a file's bytes say, found by the index when it plans a refresh. */
struct walk_facts {
    int64_t date;              /* wall-clock seconds: EXIF's date, else the mtime's */
    unsigned char sha256[32];
    int hashed;                /* sha256 is wanted (else the date alone) */
    int known;                 /* the file was read: date (and sha256 when hashed) */
    int changed;               /* the file replaces an entry of its path */
};

struct walk_file {
    char *path;       /* owned by the walk */
    int64_t size, mtime_ns; /* as stat() gave them (0 when it failed) */
    uint64_t ino, dev;
    struct walk_facts *facts; /* NULL, or owned by the walk */
};

struct walk {
    struct walk_file *files;
    size_t n, cap;
    size_t not_images; /* files in folders passed over for their names */
    void (*skip)(void *ctx, const char *path, const char *why); /* may be NULL */
    void *ctx;
};

/* Adds path: a folder's image files, or path itself when it is not a
 * folder (a file given by name is taken whatever its name; a missing one
 * is then reported by whoever reads it). -1 when out of memory. */
int walk_add(struct walk *w, const char *path);

void walk_free(struct walk *w);

#endif
