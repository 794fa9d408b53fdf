/* export_cmd — journal to notebook.
 *
 * The notebook is nbformat 4.5 (cells carry ids), written with one-space
 * indentation and sorted keys as nbformat itself writes, to a temporary
 * file in the target's folder that is renamed over the target only once it
 * is complete and synced: a reader never sees half a notebook. Silent
 * executions (a frontend's own, never shown) are left out; aborted cells
 * are kept with no count and no outputs, as a notebook shows a cell that
 * never ran. */
#include "export_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cell_outputs.h"
#include "journal_read.h"
#include "kernel_info.h"
#include "util.h"

/* A new object with the fields |keys| of |from| that it has (NULL if out
 * of memory). */
static json_t *s_pick(const json_t *from, const char *const *keys, size_t n_keys)
{
    json_t *to = json_object();
    for (size_t i = 0; to && i < n_keys; i++) {
        json_t *v = json_object_get(from, keys[i]);
        if (v)
            json_object_set(to, keys[i], v);
    }
    return to;
}

static json_t *s_metadata(const json_t *header)
{
    const char *python = json_string_value(json_object_get(header, "python"));
    static const char *const keys[] = {"conversation", "created", "sandcell", "restored_from"};
    json_t *sandcell = s_pick(header, keys, ARRAY_SIZE(keys));
    return json_pack("{s:{s:s, s:s, s:s}, s:o, s:o*}", "kernelspec", "name", "sandcell-python",
                     "display_name", "Python (sandcell)", "language", "python", "language_info",
                     kernel_info_language(python ? python : "3"), "sandcell", sandcell);
}

static json_t *s_cell(const json_t *rec, size_t index)
{
    const char *status = json_string_value(json_object_get(rec, "status"));
    bool aborted = status && strcmp(status, "aborted") == 0;
    const json_t *count = json_object_get(rec, "execution_count");
    json_t *outputs = aborted ? json_array()
                              : cell_outputs_to_notebook(json_object_get(rec, "outputs"), count);
    static const char *const keys[] = {"interpreter", "status", "started", "duration_s"};
    json_t *meta = s_pick(rec, keys, ARRAY_SIZE(keys));
    char id[32];
    snprintf(id, sizeof id, "cell-%zu", index + 1);
    return json_pack("{s:s, s:s, s:O, s:{s:o*}, s:O, s:o*}", "cell_type", "code", "id", id,
                     "execution_count", aborted || !json_is_integer(count) ? json_null() : count,
                     "metadata", "sandcell", meta, "source", json_object_get(rec, "code"),
                     "outputs", outputs);
}

json_t *export_notebook(const json_t *journal)
{
    json_auto_t *cells = json_array();
    if (!cells)
        return NULL;
    size_t i;
    const json_t *rec;
    json_array_foreach(json_object_get(journal, "executions"), i, rec) {
        if (json_is_true(json_object_get(rec, "silent")))
            continue;
        json_t *cell = s_cell(rec, json_array_size(cells));
        if (!cell || json_array_append_new(cells, cell) < 0)
            return NULL;
    }
    return json_pack("{s:i, s:i, s:o*, s:O}", "nbformat", 4, "nbformat_minor", 5, "metadata",
                     s_metadata(json_object_get(journal, "header")), "cells", cells);
}

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
    json_auto_t *nb = export_notebook(journal);
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
