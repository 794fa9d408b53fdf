/* restore — picks the cells of a journal to run again, then follows them
 * as they run.
 *
 * A journal that was itself restored from another names it in its header
 * ("restored_from"); that journal's cells come first, so restoring a
 * restored conversation gives back all of its state. The chain is followed
 * up to JOURNAL_CHAIN_MAX journals (journal_read_chain_in), file records
 * with it. For the daemon every journal of the chain is opened in the
 * journal folder only (journal_open_in_folder: an id or a path in it,
 * O_NOFOLLOW, O_NONBLOCK, regular files only), so a client cannot make it
 * read a file elsewhere, follow a link out, or wait on a FIFO. */
#include "restore.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "journal_read.h"
#include "log.h"
#include "util.h"
#include "workspace.h"

/* Failed cells named in the note, at most. */
#define RESTORE_NOTE_FAILURES 5

struct restore {
    char path[PATH_MAX];
    json_t *limits;     /* the newest journal's header "limits" */
    json_t *executions; /* every execution record of the chain, oldest first */
    json_t *cells;      /* the records to run again (borrowed from executions) */
    json_t *positions;  /* for each cell, its index in executions */
    json_t *files;      /* the file records of the chain, in order */
    size_t next;        /* index in cells of the next to send */
    size_t next_file;   /* index in files of the next to put back */
    int last_count;
    json_t *failures;   /* ["cell N: Ename: evalue", ...] */
};

static bool s_died(const json_t *rec, const json_t *next)
{
    const char *ename = json_string_value(json_object_get(json_object_get(rec, "reply"),
                                                          "ename"));
    if (ename && strcmp(ename, "InterpreterDied") == 0)
        return true;
    const char *status = json_string_value(json_object_get(rec, "status"));
    json_int_t gen = json_integer_value(json_object_get(rec, "interpreter"));
    json_int_t next_gen = next ? json_integer_value(json_object_get(next, "interpreter")) : gen;
    return status && strcmp(status, "error") == 0 && next_gen > gen;
}

/* An empty restore named |name|, or NULL on allocation failure. */
static restore_t *s_alloc(const char *name)
{
    restore_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->path, sizeof self->path, "%s", name);
    self->executions = json_array();
    self->files = json_array();
    self->cells = json_array();
    self->positions = json_array();
    self->failures = json_array();
    if (!self->executions || !self->files || !self->cells || !self->positions ||
        !self->failures)
        restore_destroy(&self);
    return self;
}

/* Picks the cells to run again from self->executions. Returns 0 or -1 (out
 * of memory). */
static int s_select(restore_t *self)
{
    size_t n = json_array_size(self->executions);
    for (size_t i = 0; i < n; i++) {
        json_t *rec = json_array_get(self->executions, i);
        json_t *count = json_object_get(rec, "execution_count");
        const char *status = json_string_value(json_object_get(rec, "status"));
        if (json_is_integer(count) && json_integer_value(count) > self->last_count &&
            json_integer_value(count) < INT_MAX)
            self->last_count = (int)json_integer_value(count);
        if (!json_is_integer(count) || (status && strcmp(status, "aborted") == 0) ||
            s_died(rec, json_array_get(self->executions, i + 1)))
            continue;
        if (json_array_append(self->cells, rec) < 0 ||
            json_array_append_new(self->positions, json_integer((json_int_t)i)) < 0)
            return -1;
    }
    return 0;
}

/* The restore of |chain| ({"header", "executions", "files"}), named
 * |name|; NULL with |why| when out of memory. */
static restore_t *s_from_chain(const char *name, const json_t *chain, char *why, size_t why_len)
{
    restore_t *self = s_alloc(name);
    if (!self || json_array_extend(self->executions, json_object_get(chain, "executions")) < 0 ||
        json_array_extend(self->files, json_object_get(chain, "files")) < 0 ||
        s_select(self) < 0) {
        restore_destroy(&self);
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    self->limits = json_incref(json_object_get(json_object_get(chain, "header"), "limits"));
    return self;
}

restore_t *restore_new(const char *journal_dir, const char *given, char *why, size_t why_len)
{
    char resolved[PATH_MAX], path[PATH_MAX];
    if (!journal_dir && realpath(given, resolved)) /* the local user's file, named absolutely */
        given = resolved;
    char warning[512];
    json_auto_t *chain = journal_read_chain_in(journal_dir, given, path, sizeof path, why, why_len,
                                               warning, sizeof warning);
    if (!chain)
        return NULL;
    if (warning[0])
        log_warn("restoring %s: %s", path, warning);
    return s_from_chain(path, chain, why, why_len);
}

restore_t *restore_new_bytes(const char *name, const void *data, size_t len, char *why,
                             size_t why_len)
{
    char warning[512];
    json_auto_t *journal = journal_parse(name, data, len, why, why_len, warning, sizeof warning);
    if (!journal)
        return NULL;
    if (warning[0])
        log_warn("restoring %s: %s", name, warning);
    return s_from_chain(name, journal, why, why_len);
}

restore_t *restore_new_from(const char *name, const json_t *executions)
{
    restore_t *self = s_alloc(name);
    if (self && (json_array_extend(self->executions, (json_t *)executions) < 0 ||
                 s_select(self) < 0))
        restore_destroy(&self);
    return self;
}

void restore_destroy(restore_t **self_p)
{
    restore_t *self = *self_p;
    if (!self)
        return;
    json_decref(self->limits);
    json_decref(self->executions);
    json_decref(self->cells);
    json_decref(self->positions);
    json_decref(self->files);
    json_decref(self->failures);
    free(self);
    *self_p = NULL;
}

const char *restore_journal(const restore_t *self)
{
    return self->path;
}

size_t restore_cells(const restore_t *self)
{
    return json_array_size(self->cells);
}

int restore_last_execution_count(const restore_t *self)
{
    return self->last_count;
}

/* The text/plain of a record's execute_result (borrowed), or NULL. */
static const json_t *s_result_text(const json_t *rec)
{
    size_t i;
    json_t *out;
    json_array_foreach(json_object_get(rec, "outputs"), i, out) {
        const char *type = json_string_value(json_object_get(out, "msg_type"));
        if (type && strcmp(type, "execute_result") == 0)
            return json_object_get(
                json_object_get(json_object_get(out, "content"), "data"), "text/plain");
    }
    return NULL;
}

int restore_fill_history(const restore_t *self, history_t *history)
{
    size_t i;
    json_t *rec;
    json_array_foreach(self->executions, i, rec) {
        json_t *count = json_object_get(rec, "execution_count");
        const char *status = json_string_value(json_object_get(rec, "status"));
        if (!json_is_true(json_object_get(rec, "store_history")) || !json_is_integer(count) ||
            (status && strcmp(status, "aborted") == 0))
            continue;
        if (history_add(history, (int)json_integer_value(count),
                        json_string_value(json_object_get(rec, "code")), s_result_text(rec)) < 0)
            return -1;
    }
    return 0;
}

const json_t *restore_limits(const restore_t *self)
{
    return self->limits;
}

size_t restore_files(const restore_t *self)
{
    return json_array_size(self->files);
}

const json_t *restore_next_file(restore_t *self)
{
    json_t *file = json_array_get(self->files, self->next_file);
    if (!file)
        return NULL;
    json_t *position = json_array_get(self->positions, self->next);
    /* Due once the cells recorded before it have run: "after" counts every
     * execution record, the cells that are not run again included. */
    if (position &&
        json_integer_value(json_object_get(file, "after")) > json_integer_value(position))
        return NULL;
    self->next_file++;
    return file;
}

int restore_put_file(const json_t *file, pid_t pid, bool jailed, char *why, size_t why_len)
{
    const char *path = json_string_value(json_object_get(file, "path"));
    const char *b64 = json_string_value(json_object_get(file, "content_base64"));
    const char *omitted = json_string_value(json_object_get(file, "omitted"));
    if (!b64) {
        snprintf(why, why_len, "%s", omitted ? omitted : "its content is not in the journal");
        return -1;
    }
    size_t b64_len = strlen(b64), cap = b64_len / 4 * 3 + 3, len = 0;
    _cleanup_free_ unsigned char *data = malloc(cap);
    if (!data) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    if (sodium_base642bin(data, cap, b64, b64_len, NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) < 0) {
        snprintf(why, why_len, "its content in the journal is not base64");
        return -1;
    }
    return workspace_put(pid, jailed, path, data, len, why, why_len);
}

void restore_file_failed(restore_t *self, const char *path, const char *why)
{
    char line[400];
    snprintf(line, sizeof line, "file %.150s: %.200s", path, why);
    json_array_append_new(self->failures, json_string(line));
}

json_t *restore_next_op(restore_t *self)
{
    json_t *rec = json_array_get(self->cells, self->next);
    if (!rec)
        return NULL;
    json_t *silent = json_object_get(rec, "silent");
    json_t *store = json_object_get(rec, "store_history");
    return json_pack("{s:s, s:O, s:b, s:b, s:{}, s:b, s:O}", "op", "execute", "code",
                     json_object_get(rec, "code"), "silent", json_is_true(silent), "store_history",
                     store ? json_is_true(store) : true, "user_expressions", "allow_stdin", 0,
                     "execution_count", json_object_get(rec, "execution_count"));
}

void restore_done_cell(restore_t *self, const json_t *reply)
{
    json_t *rec = json_array_get(self->cells, self->next);
    if (!rec)
        return;
    self->next++;
    const char *status = json_string_value(json_object_get(reply, "status"));
    if (reply && status && strcmp(status, "ok") == 0)
        return;
    const char *ename = json_string_value(json_object_get(reply, "ename"));
    const char *evalue = json_string_value(json_object_get(reply, "evalue"));
    char line[300];
    snprintf(line, sizeof line, "cell %lld: %s: %.200s",
             (long long)json_integer_value(json_object_get(rec, "execution_count")),
             reply ? (ename ? ename : "error") : "InterpreterDied",
             reply ? (evalue ? evalue : "") : "the interpreter died while running it");
    json_array_append_new(self->failures, json_string(line));
}

bool restore_finished(const restore_t *self)
{
    return self->next >= json_array_size(self->cells);
}

char *restore_note(const restore_t *self)
{
    size_t n = json_array_size(self->failures);
    if (n == 0)
        return NULL;
    char *note = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&note, &len);
    if (!f)
        return NULL;
    fprintf(f,
            "[sandcell] This conversation was restored from %s: %zu cells ran again, %zu "
            "files were put back, and %zu of these failed, so some state may be missing:\n",
            self->path, restore_cells(self), restore_files(self), n);
    for (size_t i = 0; i < n && i < RESTORE_NOTE_FAILURES; i++)
        fprintf(f, "  %s\n", json_string_value(json_array_get(self->failures, i)));
    if (n > RESTORE_NOTE_FAILURES)
        fprintf(f, "  ... and %zu more\n", n - RESTORE_NOTE_FAILURES);
    fclose(f);
    return note;
}

json_t *restore_describe(const restore_t *self)
{
    return json_pack("{s:s, s:I, s:I}", "journal", self->path, "executions",
                     (json_int_t)restore_cells(self), "files", (json_int_t)restore_files(self));
}
