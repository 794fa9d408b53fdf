/* journal_retention — age and size limits over the journal folder.
 *
 * One readdir over the folder, an fstatat without following links for
 * each entry, one sort by modification time: cheap enough for the hourly
 * tick with thousands of journals. The modification time is the time of
 * a journal's last record, so "older than N days" means "not written to
 * for N days". Files are removed by name relative to the folder's
 * descriptor (unlinkat), so a folder renamed meanwhile is not followed. */
#include "journal_retention.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

typedef struct {
    char *name;
    time_t mtime;
    long mtime_ns;
    uint64_t size;
    bool live;
} item_t;

static int s_by_age(const void *a, const void *b)
{
    const item_t *x = a, *y = b;
    if (x->mtime != y->mtime)
        return x->mtime < y->mtime ? -1 : 1;
    if (x->mtime_ns != y->mtime_ns)
        return x->mtime_ns < y->mtime_ns ? -1 : 1;
    return strcmp(x->name, y->name);
}

static bool s_is_journal_name(const char *name)
{
    size_t n = strlen(name);
    return n > 6 && name[0] != '.' && strcmp(name + n - 6, ".jsonl") == 0;
}

static void s_free_items(item_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i].name);
    free(items);
}

/* Lists the journals of |dir|; caller frees with s_free_items. */
static int s_list(int dfd, journal_retention_live_fn live, void *arg, item_t **out, size_t *n_out)
{
    int fd = dup(dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return -err;
    }
    item_t *items = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        if (!s_is_journal_name(de->d_name) ||
            fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            size_t grown = cap ? cap * 2 : 64;
            item_t *more = realloc(items, grown * sizeof *items);
            if (!more) {
                rc = -ENOMEM;
                break;
            }
            items = more;
            cap = grown;
        }
        char *name = strdup(de->d_name);
        if (!name) {
            rc = -ENOMEM;
            break;
        }
        items[n++] = (item_t){name, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (uint64_t)st.st_size,
                              live && live(name, arg)};
    }
    closedir(d);
    if (rc < 0) {
        s_free_items(items, n);
        return rc;
    }
    *out = items;
    *n_out = n;
    return 0;
}

int journal_retention_apply(const char *dir, double max_age_s, uint64_t max_bytes,
                            time_t now, journal_retention_live_fn live, void *arg,
                            journal_retention_stats_t *stats)
{
    journal_retention_stats_t st = {0};
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0)
        return -errno;
    item_t *items = NULL;
    size_t n = 0;
    int rc = s_list(dfd, live, arg, &items, &n);
    if (rc < 0)
        return rc;
    if (n > 1) /* qsort(NULL, 0, ...) is undefined behaviour (UBSan: nonnull) */
        qsort(items, n, sizeof *items, s_by_age);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += items[i].size;
    for (size_t i = 0; i < n; i++) {
        item_t *it = &items[i];
        bool too_old = max_age_s > 0 && (double)(now - it->mtime) > max_age_s;
        bool too_big = max_bytes > 0 && total > max_bytes;
        if (!it->live && (too_old || too_big) && unlinkat(dfd, it->name, 0) == 0) {
            total -= it->size;
            st.removed++;
            st.removed_bytes += it->size;
        } else {
            st.kept++;
            st.kept_bytes += it->size;
        }
    }
    s_free_items(items, n);
    if (stats)
        *stats = st;
    return 0;
}
