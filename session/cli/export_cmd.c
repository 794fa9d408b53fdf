/* export_cmd — journal to notebook (core/notebook.c builds it).
 *
 * The notebook is written with one-space indentation and sorted keys as
 * nbformat itself writes, to a temporary file in the target's folder that
 * is renamed over the target only once it is complete and synced: a reader
 * never sees half a notebook. */
#include "export_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal_read.h"
#include "notebook.h"
#include "util.h"

/* Writes |text| to |path| through a temporary file and rename(2).
 * Returns 0 or -errno. */
static int s_write_atomic(const char *path, const char *text, size_t len)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int fd = mkstemp(tmp);
    if (fd < 0)
        return -errno;
    mode_t mask = umask(0);
    umask(mask);
    int rc = fchmod(fd, 0666 & ~mask) < 0 ? -errno : 0;
    if (rc == 0)
        rc = write_all(fd, text, len);
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    return rc;
}

int export_cmd_run(const cli_options_t *opts)
{
    char why[1024], warning[1024];
    /* A restored conversation's notebook starts with the cells of the
     * journals it was restored from; if one of those is gone, the journal
     * alone still exports, with a warning. */
    json_auto_t *journal =
        journal_read_chain(opts->journal, why, sizeof why, warning, sizeof warning);
    if (!journal) {
        char chain_why[1024];
        snprintf(chain_why, sizeof chain_why, "%s", why);
        journal = journal_read(opts->journal, why, sizeof why, warning, sizeof warning);
        if (!journal) {
            fprintf(stderr, "sandcell export: %s\n", why);
            return 2;
        }
        fprintf(stderr, "sandcell export: warning: the cells from before its restore are "
                        "left out: %s\n", chain_why);
    }
    if (warning[0])
        fprintf(stderr, "sandcell export: warning: %s\n", warning);
    json_auto_t *nb = notebook_from_journal(journal);
    _cleanup_free_ char *text = nb ? json_dumps(nb, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    if (!text) {
        fprintf(stderr, "sandcell export: out of memory\n");
        return 1;
    }
    size_t len = strlen(text);
    int rc;
    if (strcmp(opts->output, "-") == 0) {
        rc = write_all(STDOUT_FILENO, text, len);
        if (rc == 0)
            rc = write_all(STDOUT_FILENO, "\n", 1);
    } else {
        _cleanup_free_ char *with_nl = malloc(len + 2);
        if (!with_nl) {
            fprintf(stderr, "sandcell export: out of memory\n");
            return 1;
        }
        memcpy(with_nl, text, len);
        memcpy(with_nl + len, "\n", 2);
        rc = s_write_atomic(opts->output, with_nl, len + 1);
    }
    if (rc < 0) {
        fprintf(stderr, "sandcell export: cannot write %s: %s\n", opts->output, strerror(-rc));
        return 1;
    }
    return 0;
}
