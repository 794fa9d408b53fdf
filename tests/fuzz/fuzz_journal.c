/* fuzz_journal — a conversation journal crafted by whoever can write one
 * (session/journal/journal_read.c), and what restore, export and replay make of a
 * journal that passes the reader.
 *
 * Input: the file's bytes. journal_parse runs the reader's checks over
 * them; a journal that passes is then taken the three ways a client can
 * ask for it: restore of the bytes as a client sends them (its files, its
 * selection of cells to run again with its history, its ops, a mix of
 * good, failed and lost replies, and its note), export's
 * notebook, and replay's limits from the header and the comparison of each
 * cell's outputs, which must find every cell the same as itself (but for
 * an image that is not base64, documented to match nothing). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cell_outputs.h"
#include "export_cmd.h"
#include "notebook.h"
#include "fuzz.h"
#include "history.h"
#include "journal_read.h"
#include "output_compare.h"
#include "replay_cmd.h"
#include "restore.h"

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_journal: %s:%d: %s does not hold\n", __FILE__, __LINE__,    \
                    #cond);                                                                     \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* Takes the files due now, as if none could be put back; returns how many. */
static size_t s_files(restore_t *r)
{
    size_t n = 0;
    for (const json_t *f; (f = restore_next_file(r)); n++) {
        CHECK(json_is_object(f));
        restore_file_failed(r, "x", "not put back: a fuzz run");
    }
    return n;
}

/* Restore of the journal a client sent (restore_new_bytes, as the daemon
 * takes `sandcell start --restore FILE`), run to its end: its files, and
 * its cells with replies of every kind. */
static void s_restore(const uint8_t *data, size_t size, const json_t *executions)
{
    char why[1024];
    restore_t *r = restore_new_bytes("journal.jsonl", data, size, why, sizeof why);
    CHECK(r);
    (void)restore_limits(r);
    size_t files = restore_files(r), taken = 0;
    CHECK(restore_cells(r) <= json_array_size(executions));
    CHECK(restore_last_execution_count(r) >= 0);
    history_t *h = history_new();
    CHECK(h);
    CHECK(restore_fill_history(r, h) == 0);
    json_t *query = json_pack("{s:s, s:i, s:b, s:b}", "hist_access_type", "tail", "n", 100,
                              "output", 1, "raw", 1);
    json_t *answer = history_query(h, query);
    CHECK(answer);
    json_decref(answer);
    json_decref(query);
    history_destroy(&h);

    json_t *ok = json_pack("{s:s}", "status", "ok");
    json_t *failed = json_pack("{s:s, s:s, s:s}", "status", "error", "ename", "NameError",
                               "evalue", "name 'x' is not defined");
    size_t sent = 0;
    for (json_t *op; (taken += s_files(r), op = restore_next_op(r)); sent++) {
        CHECK(json_is_string(json_object_get(op, "code")));
        json_decref(op);
        const json_t *replies[3] = {ok, failed, NULL};
        restore_done_cell(r, replies[sent % 3]);
    }
    CHECK(restore_finished(r));
    taken += s_files(r); /* after the last cell, every file left is due */
    CHECK(taken == files);
    CHECK(sent == restore_cells(r));
    char *note = restore_note(r);
    /* Failed cells (the second and every third) and refused files make a note. */
    CHECK(!note == (sent < 2 && files == 0));
    free(note);
    json_t *described = restore_describe(r);
    CHECK(described);
    json_decref(described);
    restore_destroy(&r);
    json_decref(failed);
    json_decref(ok);
}

/* Replay's view of each cell, which must equal itself. */
static void s_replay(const json_t *journal, const json_t *executions)
{
    sandbox_limits_t limits;
    bool jail, cgroups;
    replay_limits_from_header(json_object_get(journal, "header"), &limits, &jail, &cgroups);
    size_t i;
    const json_t *rec;
    json_array_foreach(executions, i, rec) {
        json_t *count = json_object_get(rec, "execution_count");
        json_t *view = cell_outputs_to_notebook(json_object_get(rec, "outputs"),
                                                json_is_null(count) ? NULL : count);
        CHECK(view);
        char *diff = NULL;
        int same = output_compare(view, view, 20, &diff);
        /* The one documented exception: an image that is not valid base64
         * matches nothing, not even itself. */
        if (same != 0 && !(same == 1 && diff && strstr(diff, "the images differ")))
            fprintf(stderr, "fuzz_journal: cell %zu differs from itself:\n%s\n", i,
                    diff ? diff : "");
        CHECK(same == 0 ? !diff : same == 1 && diff && strstr(diff, "the images differ"));
        free(diff);
        json_decref(view);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[1024], warning[512];
    json_t *journal = journal_parse("journal.jsonl", data, size, why, sizeof why, warning,
                                    sizeof warning);
    if (!journal) {
        CHECK(why[0] && strncmp(why, "journal.jsonl", 13) == 0);
        return 0;
    }
    const json_t *executions = json_object_get(journal, "executions");
    CHECK(json_is_object(json_object_get(journal, "header")));
    CHECK(json_is_array(executions));
    s_restore(data, size, executions);
    restore_t *plain = restore_new_from("journal.jsonl", executions);
    CHECK(plain);
    restore_destroy(&plain);
    json_t *notebook = notebook_from_journal(journal);
    CHECK(notebook);
    char *text = json_dumps(notebook, JSON_COMPACT);
    CHECK(text);
    free(text);
    json_decref(notebook);
    s_replay(journal, executions);
    json_decref(journal);
    return 0;
}
