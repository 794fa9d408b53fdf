/* test_journal — journal_t writes what journal_read accepts: a 0600 file in
 * a 0700 folder, one line per record, the header first; O_EXCL, no record
 * before the header or after the end; and restore_t picks the cells to run
 * again from such a file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "history.h"
#include "journal.h"
#include "journal_read.h"
#include "restore.h"
#include "tap.h"

static char s_root[] = "/tmp/sandcell-test-journal-XXXXXX";

static json_t *s_execution(int count, const char *code, const char *status, int generation,
                           const char *ename)
{
    json_t *reply = ename ? json_pack("{s:s, s:s, s:s, s:[]}", "status", "error", "ename", ename,
                                      "evalue", "x", "traceback")
                          : json_pack("{s:s}", "status", status);
    return json_pack("{s:s, s:o, s:s, s:b, s:b, s:i, s:s, s:f, s:n, s:n, s:s, s:[], s:o}", "type",
                     "execution", "execution_count",
                     count > 0 ? json_integer(count) : json_null(), "code", code, "silent", 0,
                     "store_history", count > 0, "interpreter", generation, "started",
                     "2026-01-01T00:00:00.000000Z", "duration_s", 0.5, "cpu_s",
                     "peak_memory_bytes", "status", status, "outputs", "reply", reply);
}

static char *s_read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_write_and_read(void)
{
    char dir[256], why[512], warning[512];
    snprintf(dir, sizeof dir, "%s/a/b", s_root);
    journal_t *j = journal_create(dir, "conv1", why, sizeof why);
    CHECK(j != NULL);
    if (!j)
        TAP_BAIL("journal_create: %s", why);
    struct stat st;
    CHECK(stat(journal_path(j), &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    json_t *rec = s_execution(1, "x = 1", "ok", 1, NULL);
    CHECK_INT(journal_append(j, rec), -ENOENT); /* no header yet */
    json_t *header = json_pack("{s:s, s:{}, s:{s:s}}", "conversation", "conv1", "limits",
                               "preload", "numpy", "1.24.2");
    CHECK_INT(journal_write_header(j, header), 0);
    CHECK_INT(journal_write_header(j, header), -EEXIST);
    CHECK_INT(journal_append(j, rec), 0);
    json_decref(rec);
    rec = s_execution(2, "print('a\\nb')\n", "error", 1, "NameError");
    CHECK_INT(journal_append(j, rec), 0);
    CHECK_INT(journal_end(j, "stop"), 0);
    CHECK_INT(journal_append(j, rec), -EPIPE);
    json_decref(rec);
    char path[512];
    snprintf(path, sizeof path, "%s", journal_path(j));
    journal_destroy(&j);
    CHECK(j == NULL);

    const char *text = s_read_all(path);
    int lines = 0;
    for (const char *p = text; p && *p; p++)
        lines += *p == '\n';
    CHECK_INT(lines, 4);
    const char *first = "{\"type\":\"header\",\"format\":\"sandcell-journal\",\"version\":1,";
    CHECK(text && strncmp(text, first, strlen(first)) == 0);
    json_t *journal = journal_read(path, why, sizeof why, warning, sizeof warning);
    CHECK(journal != NULL);
    CHECK_STR(warning, "");
    CHECK_INT(json_array_size(json_object_get(journal, "executions")), 2);
    CHECK_STR(json_string_value(json_object_get(json_object_get(journal, "header"),
                                                "conversation")),
              "conv1");
    json_decref(journal);

    why[0] = '\0';
    j = journal_create(dir, "conv1", why, sizeof why);
    CHECK(j == NULL);
    CHECK(strstr(why, "File exists") != NULL);
    json_decref(header);
    tap_case("a journal is 0600 in a 0700 folder, header first, one line per record, and "
             "journal_read accepts it; O_EXCL; nothing before the header or after the end");
}

static int s_synced_calls;

static void s_on_synced(void *arg)
{
    (void)arg;
    s_synced_calls++;
}

/* Waits on the engine's descriptor and dispatches until |j| has done |seq|. */
static bool s_dispatch_until(journal_sync_t *sync, journal_t *j, uint64_t seq, bool *on_disk)
{
    for (int i = 0; i < 500; i++) {
        if (journal_done(j, seq, on_disk))
            return true;
        usleep(10000);
        journal_sync_dispatch(sync);
    }
    return false;
}

static void test_sync_engine(void)
{
    char dir[256], why[512], warning[512];
    snprintf(dir, sizeof dir, "%s/sync", s_root);
    journal_sync_t *sync = journal_sync_new(2);
    CHECK(sync != NULL);
    if (!sync)
        TAP_BAIL("journal_sync_new: %s", strerror(errno));
    journal_t *j = journal_create(dir, "a", why, sizeof why);
    journal_t *k = journal_create(dir, "b", why, sizeof why);
    if (!j || !k)
        TAP_BAIL("journal_create: %s", why);
    CHECK_INT(journal_set_sync(j, sync, s_on_synced, NULL), 0);
    CHECK_INT(journal_set_sync(k, sync, s_on_synced, NULL), 0);
    json_t *header = json_pack("{s:s, s:{}, s:{}}", "conversation", "a", "limits", "preload");
    CHECK_INT(journal_write_header(j, header), 0);
    CHECK_INT(journal_write_header(k, header), 0);
    uint64_t first = journal_last_seq(j);
    CHECK(first == 1);
    for (int i = 1; i <= 50; i++) {
        json_t *rec = s_execution(i, "x = 1", "ok", 1, NULL);
        CHECK_INT(journal_append(j, rec), 0);
        CHECK_INT(journal_append(k, rec), 0);
        json_decref(rec);
    }
    uint64_t last = journal_last_seq(j);
    CHECK(last == 51);
    bool on_disk = false;
    CHECK(s_dispatch_until(sync, j, last, &on_disk));
    CHECK(on_disk);
    CHECK(s_synced_calls > 0);
    journal_wait(k);
    CHECK(journal_done(k, journal_last_seq(k), &on_disk) && on_disk);
    /* Closed with records still queued: they reach the disk, in order,
     * before the engine is gone. */
    for (int i = 51; i <= 100; i++) {
        json_t *rec = s_execution(i, "y = 2", "ok", 1, NULL);
        CHECK_INT(journal_append(k, rec), 0);
        json_decref(rec);
    }
    CHECK_INT(journal_end(k, "daemon-exit"), 0);
    char kpath[512];
    snprintf(kpath, sizeof kpath, "%s", journal_path(k));
    journal_destroy(&k);
    journal_destroy(&j);
    journal_sync_destroy(&sync);
    CHECK(sync == NULL);
    json_t *journal = journal_read(kpath, why, sizeof why, warning, sizeof warning);
    CHECK(journal != NULL);
    CHECK_STR(warning, "");
    json_t *execs = json_object_get(journal, "executions");
    CHECK_INT(json_array_size(execs), 100);
    bool ordered = true;
    for (size_t i = 0; i < json_array_size(execs); i++)
        ordered = ordered && json_integer_value(json_object_get(
                                 json_array_get(execs, i), "execution_count")) == (int)i + 1;
    CHECK(ordered);
    const char *text = s_read_all(kpath);
    CHECK(text && strstr(text, "\"reason\":\"daemon-exit\"") != NULL &&
          text[strlen(text) - 1] == '\n');
    json_decref(journal);
    json_decref(header);
    tap_case("with sync threads: records are queued, reported done on the loop, and a journal "
             "closed with records in flight gets them all, in order, end record last");
}

static void test_default_dir(void)
{
    char out[256];
    setenv("XDG_STATE_HOME", "/x/state", 1);
    CHECK_INT(journal_default_dir(out, sizeof out), 0);
    CHECK_STR(out, "/x/state/sandcell/journals");
    unsetenv("XDG_STATE_HOME");
    setenv("HOME", "/home/u", 1);
    CHECK_INT(journal_default_dir(out, sizeof out), 0);
    CHECK_STR(out, "/home/u/.local/state/sandcell/journals");
    unsetenv("HOME");
    CHECK_INT(journal_default_dir(out, sizeof out), -1);
    tap_case("the default folder: $XDG_STATE_HOME/sandcell/journals, else "
             "~/.local/state/sandcell/journals");
}

/* Writes a journal of |n| records; returns its path (static storage). */
static const char *s_write(const char *name, json_t **records, size_t n, const char *from)
{
    static char path[512];
    char why[512];
    journal_t *j = journal_create(s_root, name, why, sizeof why);
    if (!j)
        TAP_BAIL("journal_create: %s", why);
    json_t *header = json_pack("{s:{}}", "limits");
    if (from)
        json_object_set_new(header, "restored_from",
                            json_pack("{s:s, s:i}", "journal", from, "executions", 1));
    journal_write_header(j, header);
    json_decref(header);
    for (size_t i = 0; i < n; i++) {
        journal_append(j, records[i]);
        json_decref(records[i]);
    }
    snprintf(path, sizeof path, "%s", journal_path(j));
    journal_destroy(&j);
    return path;
}

static void test_restore(void)
{
    char why[512], older[512];
    json_t *first[] = {s_execution(1, "a = 1", "ok", 1, NULL)};
    snprintf(older, sizeof older, "%s", s_write("older", first, 1, NULL));
    json_t *recs[] = {
        s_execution(2, "b = a + 1", "ok", 1, NULL),
        s_execution(0, "refused", "error", 1, "ExecutionLimitReached"), /* never ran */
        s_execution(3, "1/0", "error", 1, "ZeroDivisionError"),
        s_execution(3, "aborted", "aborted", 1, NULL),
        s_execution(4, "import os; os._exit(1)", "error", 1, "InterpreterDied"),
        s_execution(5, "while True: pass", "error", 2, "TimeoutError"), /* killed: gen 3 next */
        s_execution(6, "c = 3", "ok", 3, NULL),
    };
    const char *path = s_write("newer", recs, sizeof recs / sizeof *recs, older);
    restore_t *r = restore_new(s_root, path, why, sizeof why);
    CHECK(r != NULL);
    if (!r)
        TAP_BAIL("restore_new: %s", why);
    CHECK_INT(restore_cells(r), 4); /* a = 1, b = a + 1, 1/0, c = 3 */
    CHECK_INT(restore_last_execution_count(r), 6);
    const char *want[] = {"a = 1", "b = a + 1", "1/0", "c = 3"};
    for (size_t i = 0; i < 4; i++) {
        json_t *op = restore_next_op(r);
        CHECK_STR(json_string_value(json_object_get(op, "code")), want[i]);
        CHECK(json_is_false(json_object_get(op, "allow_stdin")));
        json_t *reply = i == 2 ? json_pack("{s:s, s:s, s:s}", "status", "error", "ename",
                                           "ZeroDivisionError", "evalue", "division by zero")
                               : json_pack("{s:s}", "status", "ok");
        restore_done_cell(r, reply);
        json_decref(reply);
        json_decref(op);
    }
    CHECK(restore_next_op(r) == NULL);
    CHECK(restore_finished(r));
    char *note = restore_note(r);
    CHECK(note && strstr(note, "cell 3: ZeroDivisionError: division by zero"));
    free(note);
    history_t *h = history_new();
    CHECK_INT(restore_fill_history(r, h), 0);
    json_t *q = json_pack("{s:s, s:i}", "hist_access_type", "tail", "n", 100);
    json_t *hist = history_query(h, q);
    CHECK_INT(json_array_size(json_object_get(hist, "history")), 6);
    json_decref(q);
    json_decref(hist);
    history_destroy(&h);
    restore_destroy(&r);
    CHECK(r == NULL);
    tap_case("restore follows restored_from, skips aborted, refused and interpreter-killing "
             "cells, continues the count and notes the cells that failed again");
}

static void test_restore_bad(void)
{
    char why[512] = "";
    CHECK(restore_new(NULL, "/nonexistent/j.jsonl", why, sizeof why) == NULL);
    CHECK(strstr(why, "/nonexistent/j.jsonl") != NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/bad.jsonl", s_root);
    FILE *f = fopen(path, "w");
    fputs("{\"type\":\"header\",\"format\":\"other\",\"version\":1,\"limits\":{}}\n", f);
    fclose(f);
    CHECK(restore_new(NULL, path, why, sizeof why) == NULL);
    CHECK(strstr(why, ":1:") != NULL);
    tap_case("restore of a missing or foreign journal fails, naming the file and line: %s", why);
}

/* The daemon's rule: an id or a journal of the folder, nothing else. */
static void test_restore_confined(void)
{
    char why[512] = "", path[600];
    json_t *recs[] = {s_execution(1, "a = 1", "ok", 1, NULL)};
    snprintf(path, sizeof path, "%s", s_write("inside", recs, 1, NULL));
    restore_t *r = restore_new(s_root, "inside", why, sizeof why);
    CHECK(r && strcmp(restore_journal(r), path) == 0);
    restore_destroy(&r);
    r = restore_new(s_root, "inside.jsonl", why, sizeof why);
    CHECK(r != NULL);
    restore_destroy(&r);
    tap_case("a conversation id, or a journal's name, is a journal of the folder");

    const char *refused[] = {"/etc/passwd", "../inside", "./inside", "", "a b", "relative/x.jsonl",
                             "/"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        CHECK(restore_new(s_root, refused[i], why, sizeof why) == NULL);
        tap_case("refused without reading: \"%s\" (%s)", refused[i], why);
    }
    char dotdot[700];
    snprintf(dotdot, sizeof dotdot, "%s/../%s", s_root, strrchr(s_root, '/') + 1);
    CHECK(restore_new(s_root, dotdot, why, sizeof why) == NULL);
    CHECK(strstr(why, "outside the journal folder") != NULL);
    tap_case("a path whose folder is not the journal folder is outside it (%s)", why);

    char link[600];
    snprintf(link, sizeof link, "%s/link.jsonl", s_root);
    CHECK(symlink(path, link) == 0);
    CHECK(restore_new(s_root, link, why, sizeof why) == NULL);
    CHECK(strstr(why, "symbolic link") != NULL);
    CHECK(restore_new(s_root, "link", why, sizeof why) == NULL);
    restore_t *local = restore_new(NULL, link, why, sizeof why); /* the local CLI follows it */
    CHECK(local != NULL);
    restore_destroy(&local);
    unlink(link);
    tap_case("a symbolic link in the folder is refused (%s)", why);

    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/fifo.jsonl", s_root);
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK(restore_new(s_root, "fifo", why, sizeof why) == NULL);
    CHECK(strstr(why, "FIFO") != NULL);
    unlink(fifo);
    tap_case("a FIFO in the folder is refused at once (%s)", why);

    json_t *chained[] = {s_execution(2, "b = 2", "ok", 1, NULL)};
    s_write("chained", chained, 1, "/etc/passwd");
    CHECK(restore_new(s_root, "chained", why, sizeof why) == NULL);
    CHECK(strstr(why, "outside the journal folder") != NULL);
    tap_case("a journal restored from a file outside the folder is refused (%s)", why);
}

/* The execution record of s_execution(count, ...) with |outputs| (an
 * array, new reference taken) instead of none, written by
 * journal_append_outputs from outputs added one at a time, reads back as
 * the same record. */
static void s_check_outputs_record(journal_t *j, const char *path, int count, json_t *outputs)
{
    json_auto_t *expected = s_execution(count, "print(1)", "ok", 1, NULL);
    json_object_set_new(expected, "outputs", outputs);
    json_auto_t *rec = json_deep_copy(expected);
    json_object_del(rec, "outputs");
    journal_outputs_t out = {0};
    size_t i;
    json_t *o;
    json_array_foreach(outputs, i, o)
        CHECK_INT(journal_outputs_add(&out, json_string_value(json_object_get(o, "msg_type")),
                                      json_object_get(o, "content")), 0);
    CHECK_INT((int)out.n, (int)json_array_size(outputs));
    CHECK_INT(journal_append_outputs(j, rec, &out), 0);
    CHECK(out.text == NULL && out.n == 0); /* taken */
    const char *text = s_read_all(path);
    const char *last = text ? strrchr(text, '\n') : NULL;
    CHECK(last != NULL && last[1] == '\0');
    while (last && last > text && last[-1] != '\n')
        last--;
    json_auto_t *line = last ? json_loads(last, JSON_ALLOW_NUL, NULL) : NULL;
    CHECK(line && json_equal(line, expected));
}

static void test_append_outputs(void)
{
    char dir[256], why[512], warning[512];
    snprintf(dir, sizeof dir, "%s/outputs", s_root);
    journal_t *j = journal_create(dir, "conv", why, sizeof why);
    CHECK(j != NULL);
    if (!j)
        TAP_BAIL("journal_create: %s", why);
    json_auto_t *header = json_pack("{s:s, s:{}, s:{}}", "conversation", "conv", "limits",
                                    "preload");
    journal_outputs_t out = {0};
    json_auto_t *rec = s_execution(1, "x", "ok", 1, NULL);
    json_object_del(rec, "outputs");
    CHECK_INT(journal_append_outputs(j, rec, &out), -ENOENT); /* no header yet */
    CHECK_INT(journal_write_header(j, header), 0);

    s_check_outputs_record(j, journal_path(j), 1, json_array());
    s_check_outputs_record(
        j, journal_path(j), 2,
        json_pack("[{s:s, s:{s:s, s:s#}}, {s:s, s:{s:{s:s}, s:{}}}, {s:s, s:{s:s, s:s}}]",
                  "msg_type", "stream", "content", "name", "stdout", "text", "a\0b\n", 4,
                  "msg_type", "display_data", "content", "data", "text/plain", "\"q\" \u00e9",
                  "metadata", "msg_type", "stream", "content", "name", "stderr", "text", "e"));

    json_t *journal = journal_read(journal_path(j), why, sizeof why, warning, sizeof warning);
    CHECK(journal != NULL);
    if (!journal)
        tap_diag("journal_read: %s", why);
    json_t *second = json_array_get(json_object_get(journal, "executions"), 1);
    CHECK_INT((int)json_array_size(json_object_get(second, "outputs")), 3);
    json_decref(journal);

    /* A record that has outputs of its own, or is no object, is refused,
     * and the outputs are dropped all the same. */
    CHECK_INT(journal_outputs_add(&out, "stream", json_object_get(rec, "reply")), 0);
    json_object_set_new(rec, "outputs", json_array());
    CHECK_INT(journal_append_outputs(j, rec, &out), -EINVAL);
    CHECK(out.text == NULL && out.n == 0);
    json_auto_t *array = json_array();
    CHECK_INT(journal_append_outputs(j, array, &out), -EINVAL);

    /* {} gets its outputs alone. */
    json_auto_t *empty = json_object();
    CHECK_INT(journal_outputs_add(&out, "stream", header), 0);
    CHECK_INT(journal_append_outputs(j, empty, &out), 0);
    const char *text = s_read_all(journal_path(j));
    CHECK(text && strstr(text, "\n{\"outputs\":[{\"msg_type\":\"stream\",\"content\":{") != NULL);
    CHECK(text && strstr(text, "}}]}\n") != NULL);

    CHECK_INT(journal_end(j, "stop"), 0);
    CHECK_INT(journal_append_outputs(j, empty, &out), -EPIPE);
    journal_destroy(&j);
    tap_case("journal_append_outputs writes the record with the outputs serialised as they "
             "came (none, several, a NUL in a stream), the same as journal_append would, and "
             "journal_read takes them; a "
             "record with outputs of its own is refused; the outputs are taken either way");
}

int main(void)
{
    if (!mkdtemp(s_root))
        TAP_BAIL("mkdtemp: %s", strerror(errno));
    test_write_and_read();
    test_append_outputs();
    test_sync_engine();
    test_default_dir();
    test_restore();
    test_restore_bad();
    test_restore_confined();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_root);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", s_root);
    return tap_done();
}
