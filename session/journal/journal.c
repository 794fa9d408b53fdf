/* journal — append-only JSON Lines, one record per write() and fdatasync().
 *
 * A record is serialised whole before anything touches the file, so a
 * record that cannot be encoded never leaves half a line behind; the one
 * write() of a regular file opened O_APPEND lands at the end in one piece
 * unless the disk fills or the process dies in it, which is the torn last
 * line readers skip. After a failed write the journal refuses further
 * records rather than append after a torn line. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "header.h"
#include "log.h"
#include "metrics.h"
#include "paths.h"
#include "util.h"

struct journal {
    int fd;                    /* without a sync engine; else -1 */
    journal_sync_slot_t *slot; /* with one */
    uint64_t last_seq;         /* of the last record queued on the slot */
    bool error_logged;
    bool has_header;
    bool ended;
    bool broken; /* a write failed: the file may end with a torn line */
    char path[PATH_MAX];
};

journal_t *journal_create(const char *dir, const char *name, char *why, size_t why_len)
{
    journal_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    self->fd = -1;
    int n = snprintf(self->path, sizeof self->path, "%s/%s.jsonl", dir, name);
    int rc = n < 0 || (size_t)n >= sizeof self->path ? -ENAMETOOLONG : paths_mkdirs(dir, 0700);
    if (rc < 0) {
        snprintf(why, why_len, "cannot create the journal folder %.400s: %s", dir,
                 strerror(-rc));
        free(self);
        return NULL;
    }
    self->fd = open(self->path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                    0600);
    if (self->fd < 0) {
        snprintf(why, why_len, "cannot create the journal %.400s: %s", self->path,
                 strerror(errno));
        free(self);
        return NULL;
    }
    return self;
}

void journal_destroy(journal_t **self_p)
{
    journal_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0)
        close(self->fd);
    journal_sync_close(&self->slot); /* closed once what is queued is on disk */
    free(self);
    *self_p = NULL;
}

void journal_discard(journal_t **self_p)
{
    if (*self_p)
        unlink((*self_p)->path);
    journal_destroy(self_p);
}

int journal_set_sync(journal_t *self, journal_sync_t *sync, journal_sync_fn fn, void *arg)
{
    if (self->slot || self->fd < 0)
        return -EINVAL;
    int fd = dup(self->fd);
    if (fd < 0)
        return -errno;
    self->slot = journal_sync_open(sync, fd, fn, arg);
    if (!self->slot)
        return -ENOMEM;
    close(self->fd);
    self->fd = -1;
    return 0;
}

uint64_t journal_last_seq(const journal_t *self)
{
    return self->slot ? self->last_seq : 0;
}

bool journal_done(journal_t *self, uint64_t seq, bool *on_disk)
{
    *on_disk = true;
    if (!self->slot || seq == 0)
        return true;
    uint64_t done, good;
    int err;
    journal_sync_state(self->slot, &done, &good, &err);
    if (err && !self->error_logged) {
        self->error_logged = true;
        self->broken = true;
        log_error("cannot write the journal %s: %s; it is not written any more", self->path,
                  strerror(err));
    }
    *on_disk = seq <= good;
    return seq <= done;
}

void journal_wait(journal_t *self)
{
    if (self->slot)
        journal_sync_wait(self->slot);
}

const char *journal_path(const journal_t *self)
{
    return self->path;
}

bool journal_has_header(const journal_t *self)
{
    return self->has_header;
}

/* Writes |line| (|len| bytes ending in a newline; takes ownership) with
 * one write(), then fdatasync(); with a sync engine, queues it for its
 * threads. */
static int s_write_text(journal_t *self, char *line, size_t len)
{
    _cleanup_free_ char *text = line;
    bool ignored;
    if (self->slot)
        journal_done(self, self->last_seq, &ignored); /* learn of a failure */
    if (self->broken)
        return -EIO;
    if (self->slot) {
        uint64_t seq = journal_sync_submit(self->slot, steal_pointer(&text), len);
        if (seq == 0) {
            journal_done(self, self->last_seq, &ignored);
            self->broken = true;
            return -EIO;
        }
        self->last_seq = seq;
        return 0;
    }
    ssize_t w;
    do
        w = write(self->fd, line, len);
    while (w < 0 && errno == EINTR);
    if (w < 0 || (size_t)w != len) {
        int err = w < 0 ? errno : ENOSPC;
        self->broken = true;
        log_error("cannot write the journal %s: %s; it is not written any more", self->path,
                  strerror(err));
        return -err;
    }
    double t0 = metrics_clock();
    if (fdatasync(self->fd) < 0) {
        int err = errno;
        self->broken = true;
        log_error("cannot sync the journal %s: %s; it is not written any more", self->path,
                  strerror(err));
        return -err;
    }
    metrics_observe(METRICS_FSYNC_SECONDS, metrics_clock() - t0);
    return 0;
}

/* Writes |record| as one line (s_write_text). */
static int s_write_line(journal_t *self, const json_t *record)
{
    char *text = json_dumps(record, JSON_COMPACT);
    if (!text)
        return -ENOMEM;
    size_t len = strlen(text);
    char *line = realloc(text, len + 2);
    if (!line) {
        free(text);
        return -ENOMEM;
    }
    memcpy(line + len, "\n", 2);
    return s_write_text(self, line, len + 1);
}

int journal_write_header(journal_t *self, const json_t *header)
{
    if (self->has_header)
        return -EEXIST;
    json_auto_t *rec = json_pack("{s:s, s:s, s:i}", "type", "header", "format", JOURNAL_FORMAT,
                                 "version", JOURNAL_VERSION);
    if (!rec || json_object_update_missing(rec, (json_t *)header) < 0)
        return -ENOMEM;
    int rc = s_write_line(self, rec);
    if (rc == 0)
        self->has_header = true;
    return rc;
}

int journal_append(journal_t *self, const json_t *record)
{
    if (self->ended)
        return -EPIPE;
    if (!self->has_header)
        return -ENOENT;
    return s_write_line(self, record);
}

int journal_append_outputs(journal_t *self, const json_t *record, journal_outputs_t *outputs)
{
    int rc = self->ended ? -EPIPE : !self->has_header ? -ENOENT : 0;
    if (!rc && (!json_is_object(record) || json_object_get(record, "outputs")))
        rc = -EINVAL;
    _cleanup_free_ char *rest = rc ? NULL : json_dumps(record, JSON_COMPACT); /* no outputs */
    if (!rc && !rest)
        rc = -ENOMEM;
    if (rc) {
        journal_outputs_clear(outputs);
        return rc;
    }
    /* The outputs' text is `{"outputs":[o1,...,on` (nothing yet when there
     * are none); |rest| is `{...}`: its '{' becomes "]," (or "]}" when the
     * record has no other field), and the line ends with a newline. */
    size_t n = strlen(rest);
    bool more = n > 2;
    if ((outputs->n == 0 && journal_outputs_append(outputs, "{\"outputs\":[", 12) < 0) ||
        journal_outputs_append(outputs, more ? "]," : "]}", 2) < 0 ||
        (more && journal_outputs_append(outputs, rest + 1, n - 1) < 0) ||
        journal_outputs_append(outputs, "\n", 1) < 0) {
        journal_outputs_clear(outputs);
        return -ENOMEM;
    }
    char *line = outputs->text;
    size_t len = outputs->len;
    *outputs = (journal_outputs_t){0};
    return s_write_text(self, line, len);
}

int journal_end(journal_t *self, const char *reason)
{
    char now[HEADER_DATE_LEN + 1];
    header_now(now);
    json_auto_t *rec = json_pack("{s:s, s:s, s:s}", "type", "end", "reason", reason, "time", now);
    int rc = rec ? journal_append(self, rec) : -ENOMEM;
    self->ended = true;
    return rc;
}

int journal_default_dir(char *out, size_t len)
{
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (state && state[0] == '/')
        n = snprintf(out, len, "%s/sandcell/journals", state);
    else if (home && home[0] == '/')
        n = snprintf(out, len, "%s/.local/state/sandcell/journals", home);
    else
        return -1;
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int journal_prepare_dir(const char *dir, char *out, size_t len, char *why, size_t why_len)
{
    char cwd[PATH_MAX];
    int n;
    if (dir[0] == '/')
        n = snprintf(out, len, "%s", dir);
    else if (getcwd(cwd, sizeof cwd))
        n = snprintf(out, len, "%s/%s", cwd, dir);
    else
        n = -1;
    int rc = n < 0 || (size_t)n >= len ? -ENAMETOOLONG : paths_mkdirs(out, 0700);
    if (rc < 0) {
        snprintf(why, why_len, "cannot create the journal folder %.400s: %s", dir,
                 strerror(-rc));
        return -1;
    }
    /* It must hold journals: a folder this process can create files in
     * (a file in its place, a folder without write access or a read-only
     * mount fail here, at start, rather than at every conversation). */
    struct stat st;
    if (stat(out, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(why, why_len, "the journal folder %.400s is not a folder", dir);
        return -1;
    }
    char probe[PATH_MAX];
    if (snprintf(probe, sizeof probe, "%s/.sandcell-probe-XXXXXX", out) >= (int)sizeof probe) {
        snprintf(why, why_len, "the journal folder %.400s: %s", dir, strerror(ENAMETOOLONG));
        return -1;
    }
    int fd = mkostemp(probe, O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_len, "cannot write journals in %.400s: %s", dir, strerror(errno));
        return -1;
    }
    close(fd);
    unlink(probe);
    return 0;
}
