/* craft_index: edits an index the way an attacker or a damaged disk would,
 * for the tests of hostile index files (tests/hostile_index.sh), and packs
 * an index with its cache into one fuzz input (tests/fuzz/fuzz_index.c).
 *
 *     tests/craft_index DB 'SQL' ['SQL'...]   each SQL on a connection of its own
 *     tests/craft_index --seed DB [CACHE] > input
 *
 * The connections allow what clippie's refuse (writable_schema, triggers,
 * views), so that a test can plant them; an edit of sqlite_schema is seen
 * by the next argument's connection. A fuzz input is the database's length
 * (4 bytes, little-endian), the database, then the cache.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    char *msg = NULL;
    int rc = sqlite3_open(db, &h) == SQLITE_OK ? sqlite3_exec(h, "PRAGMA writable_schema=ON", NULL, NULL, &msg) : 1;
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "craft_index: %s: %s\n", db, msg ? msg : h ? sqlite3_errmsg(h) : "out of memory");
    sqlite3_free(msg);
    sqlite3_close(h);
    return rc == SQLITE_OK ? 0 : 1;
}

/* The bytes of path appended to out; -1 when it cannot be read. */
static long copy(const char *path, FILE *out)
{
    FILE *f = fopen(path, "rb");
    char buf[65536];
    long total = 0;
    size_t n;
    if (!f)
        return -1;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        fwrite(buf, 1, n, out);
        total += (long)n;
    }
    fclose(f);
    return total;
}

static int seed(const char *db, const char *cache)
{
    FILE *f = fopen(db, "rb");
    long n = f && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (f)
        fclose(f);
    if (n < 0 || n > 0x7fffffff) {
        fprintf(stderr, "craft_index: %s: cannot read it\n", db);
        return 1;
    }
    unsigned char len[4] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 24)};
    fwrite(len, 1, 4, stdout);
    copy(db, stdout);
    if (cache && copy(cache, stdout) < 0) {
        fprintf(stderr, "craft_index: %s: cannot read it\n", cache);
        return 1;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && argc <= 4 && !strcmp(argv[1], "--seed"))
        return seed(argv[2], argc == 4 ? argv[3] : NULL);
    if (argc < 3) {
        fprintf(stderr, "usage: craft_index DB SQL...\n       craft_index --seed DB [CACHE] > input\n");
        return 2;
    }
    for (int i = 2; i < argc; i++)
        if (run(argv[1], argv[i]))
            return 1;
    return 0;
}
