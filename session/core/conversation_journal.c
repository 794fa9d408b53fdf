/* conversation_journal — what a conversation writes to its journal, how
 * history follows it, and the restore of an earlier journal.
 *
 * A cell's outputs are serialised one by one as they are published
 * (journal_outputs.h: never megabytes at once on the loop, whatever the
 * cell prints) and its record is appended in conversation_reply,
 * right before the execute_reply goes out; with sync threads the record
 * is queued and the reply held until it is on disk (conversation_send.c), so
 * either way the record is on disk before the client can see the cell
 * end. History entries are added only for records the journal holds, so
 * history_request answers what the journal says; without a journal, every
 * stored cell is added as before.
 *
 * The interpreter is untrusted: its outputs were checked against their
 * schema before they are published (conversation_records.c, content_check); an
 * output that would still not pass the journal reader's checks is left out
 * of the record (with a log line), so no cell can make its conversation's
 * journal unreadable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "conversation_internal.h"
#include "log.h"
#include "util.h"

static long long s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The limits as the header names them: the CLI flags' names, 0 for none. */
static json_t *s_limits(const conversation_t *c)
{
    const sandbox_limits_t *l = &c->limits;
    return json_pack("{s:f, s:f, s:I, s:I, s:f, s:I, s:I, s:I, s:s?, s:b, s:b, s:I}",
                     "timeout_s", l->timeout_s, "input_timeout_s", l->input_timeout_s,
                     "memory_mib", (json_int_t)l->memory_mib, "pids",
                     (json_int_t)l->pids, "cpus", l->cpus, "disk_mib", (json_int_t)l->disk_mib,
                     "open_files", (json_int_t)l->open_files, "max_output_bytes",
                     (json_int_t)l->max_output_mib << 20, "data_dir", l->data_dir, "jail",
                     !l->no_jail, "cgroups", !l->no_jail && !l->no_cgroups, "max_executions",
                     (json_int_t)c->max_executions);
}

int conversation_journal_open(conversation_t *c, const conversation_options_t *opts, char *why,
                              size_t why_len)
{
    c->restore = opts->restore;
    if (c->restore) {
        c->execution_count = restore_last_execution_count(c->restore);
        if (restore_fill_history(c->restore, c->history) < 0) {
            snprintf(why, why_len, "out of memory");
            return -1;
        }
    }
    if (!opts->journal_dir)
        return 0;
    char created[HEADER_DATE_LEN + 1];
    header_now(created);
    c->journal_header = json_pack("{s:s, s:s, s:s, s:s, s:o}", "conversation", opts->journal_name,
                                  "created", created, "sandcell", PACKAGE_VERSION, "python",
                                  SC_PYTHON_VERSION, "limits", s_limits(c));
    if (!c->journal_header) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    if (c->restore)
        json_object_set_new(c->journal_header, "restored_from", restore_describe(c->restore));
    c->journal = journal_create(opts->journal_dir, opts->journal_name, why, why_len);
    if (!c->journal)
        return -1;
    if (opts->journal_sync &&
        journal_set_sync(c->journal, opts->journal_sync, conversation_journal_synced, c) < 0) {
        snprintf(why, why_len, "out of memory");
        journal_discard(&c->journal);
        return -1;
    }
    return 0;
}

void conversation_journal_close(conversation_t *c)
{
    journal_destroy(&c->journal);
    json_decref(c->journal_header);
    c->journal_header = NULL;
    restore_destroy(&c->restore);
}

const char *conversation_journal_path(const conversation_t *c)
{
    return c->journal ? journal_path(c->journal) : NULL;
}

void conversation_journal_header(conversation_t *c)
{
    if (!c->journal || journal_has_header(c->journal))
        return;
    json_t *preload = c->worker ? c->worker->preload : NULL;
    json_object_set_new(c->journal_header, "preload",
                        preload ? json_deep_copy(preload) : json_object());
    journal_write_header(c->journal, c->journal_header);
    json_decref(c->journal_header);
    c->journal_header = NULL;
}

void conversation_end_journal(conversation_t *c, const char *reason)
{
    if (!c->journal || c->journal_ended)
        return;
    conversation_journal_header(c);
    journal_end(c->journal, reason);
    c->journal_ended = true;
}

int conversation_journal_file(conversation_t *c, const char *path, const void *data, size_t len)
{
    if (!c->journal || c->journal_ended)
        return 0;
    conversation_journal_header(c);
    char now[HEADER_DATE_LEN + 1];
    header_now(now);
    json_auto_t *rec = json_pack("{s:s, s:s, s:I, s:s}", "type", "file", "path", path, "size",
                                 (json_int_t)len, "time", now);
    if (!rec)
        return -1;
    if (len > CONVERSATION_JOURNAL_FILES - c->journal_file_bytes) {
        char why[160];
        snprintf(why, sizeof why,
                 "the files put into this conversation passed %zu MiB; its journal keeps no more",
                 CONVERSATION_JOURNAL_FILES >> 20);
        json_object_set_new(rec, "omitted", json_string(why));
    } else {
        size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
        _cleanup_free_ char *b64 = malloc(cap);
        if (!b64)
            return -1;
        sodium_bin2base64(b64, cap, data, len, sodium_base64_VARIANT_ORIGINAL);
        json_object_set_new(rec, "content_base64", json_string(b64));
        c->journal_file_bytes += len;
    }
    if (journal_append(c->journal, rec) < 0) {
        log_warn("the journal did not take the record of file %.200s", path);
        return -1;
    }
    return 0;
}

void conversation_journal_begin(conversation_t *c, request_t *req)
{
    if (!c->journal || c->journal_ended ||
        strcmp(wire_msg_type(&req->msg), "execute_request") != 0)
        return;
    journal_outputs_clear(&req->outputs);
    header_now(req->started);
    req->started_us = s_now_us();
    req->cpu_s = -1;
    req->peak_memory = -1;
    c->recording[req->channel == CONN_CONTROL] = req;
}

/* Whether |content| of an output of type |type| has the fields the journal
 * reader requires, with their types. */
static bool s_output_well_formed(const char *type, const json_t *content)
{
    const json_t *md = json_object_get(content, "metadata");
    const json_t *tr = json_object_get(content, "transient");
    const json_t *count = json_object_get(content, "execution_count");
    if (strcmp(type, "stream") == 0)
        return json_is_string(json_object_get(content, "name")) &&
               json_is_string(json_object_get(content, "text"));
    if (strcmp(type, "display_data") == 0 || strcmp(type, "update_display_data") == 0)
        return json_is_object(json_object_get(content, "data")) && (!md || json_is_object(md)) &&
               (!tr || json_is_object(tr));
    if (strcmp(type, "execute_result") == 0)
        return json_is_object(json_object_get(content, "data")) && (!md || json_is_object(md)) &&
               (!count || json_is_integer(count) || json_is_null(count));
    if (strcmp(type, "error") == 0)
        return json_is_string(json_object_get(content, "ename")) &&
               json_is_string(json_object_get(content, "evalue")) &&
               json_is_array(json_object_get(content, "traceback"));
    if (strcmp(type, "clear_output") == 0)
        return !json_object_get(content, "wait") ||
               json_is_boolean(json_object_get(content, "wait"));
    return false; /* status, execute_input and the rest are not outputs */
}

void conversation_journal_output(conversation_t *c, const wire_blob_t *parent,
                                 const char *msg_type, json_t *content)
{
    request_t *req = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(c->recording); i++)
        if (c->recording[i] && parent == &c->recording[i]->msg.raw_header)
            req = c->recording[i];
    if (!req || strcmp(msg_type, "status") == 0 || strcmp(msg_type, "execute_input") == 0)
        return;
    if (!s_output_well_formed(msg_type, content)) {
        conversation_interp_warn(
            c, "a malformed %.32s output is published but left out of the journal", msg_type);
        return;
    }
    bool failed = req->outputs.failed;
    if (journal_outputs_add(&req->outputs, msg_type, content) < 0 && !failed)
        log_warn("out of memory: cell %d is left out of the journal", req->execution_count);
}

/* The execution record of |req| answered with |reply|, but its outputs
 * (journal_append_outputs adds them). New reference. */
static json_t *s_record(conversation_t *c, request_t *req, const json_t *reply)
{
    const char *status = json_string_value(json_object_get(reply, "status"));
    bool silent = json_is_true(json_object_get(req->msg.content, "silent"));
    char now[HEADER_DATE_LEN + 1];
    header_now(now);
    bool ran = req->code != NULL; /* the handler took it: it reached the interpreter */
    return json_pack(
        "{s:s, s:o, s:O, s:b, s:b, s:i, s:s, s:f, s:o, s:o, s:s, s:O}", "type", "execution",
        "execution_count", ran ? json_integer(req->execution_count) : json_null(), "code",
        json_object_get(req->msg.content, "code"), "silent", silent, "store_history",
        req->store_history, "interpreter", c->generation > 0 ? c->generation : 1, "started",
        req->started[0] ? req->started : now, "duration_s",
        req->started[0] ? (double)(s_now_us() - req->started_us) / 1e6 : 0.0, "cpu_s",
        req->cpu_s >= 0 ? json_real(req->cpu_s) : json_null(), "peak_memory_bytes",
        req->peak_memory >= 0 ? json_integer(req->peak_memory) : json_null(), "status",
        status ? status : "error", "reply", (json_t *)reply);
}

uint64_t conversation_journal_cell(conversation_t *c, request_t *req, const json_t *reply)
{
    bool recorded = false;
    if (c->recording[req->channel == CONN_CONTROL] == req)
        c->recording[req->channel == CONN_CONTROL] = NULL;
    if (c->journal && !c->journal_ended &&
        json_is_string(json_object_get(req->msg.content, "code"))) {
        conversation_journal_header(c);
        json_auto_t *rec = s_record(c, req, reply);
        recorded = rec && journal_append_outputs(c->journal, rec, &req->outputs) == 0;
        if (recorded && journal_last_seq(c->journal))
            return journal_last_seq(c->journal); /* history once it is on disk */
    }
    if (req->store_history && req->code && (recorded || !c->journal))
        history_add(c->history, req->execution_count, req->code, req->result_text);
    return 0;
}

/* ---------------------------------------------------------------- restore */

/* Puts a file the restored journal recorded back into the workspace. Not
 * recorded again: the new journal names the one it was restored from,
 * whose records come first when it is read as a chain. */
static void s_put_back(conversation_t *c, const json_t *file)
{
    const char *path = json_string_value(json_object_get(file, "path"));
    char why[512];
    bool jailed;
    pid_t pid = conversation_interpreter_pid(c, &jailed);
    if (pid <= 0)
        restore_file_failed(c->restore, path, "the interpreter is gone");
    else if (restore_put_file(file, pid, jailed, why, sizeof why) < 0)
        restore_file_failed(c->restore, path, why);
}

bool conversation_restore_step(conversation_t *c)
{
    if (!c->restore)
        return false;
    if (c->restoring)
        return true;
    /* Declared before the first goto: a jump past it would leave the
     * cleanup to free an uninitialised pointer. */
    json_auto_t *op = NULL;
    worker_t *w = c->worker;
    if (!w)
        goto done; /* no interpreter will come: the cells say so themselves */
    /* Ready comes on the interpreter's channel, its pid on the zygote's, in
     * either order; files are put by pid (conversation_zygote_event pumps
     * again when it comes). */
    if (w->state != WORKER_IDLE || w->pid <= 0)
        return true;
    const json_t *file;
    while ((file = restore_next_file(c->restore)))
        s_put_back(c, file);
    op = restore_next_op(c->restore);
    if (!op)
        goto done;
    conversation_send_request(c, op); /* on failure the interpreter is dying */
    c->restoring = true;
    return true;
done:
    log_info("restored %zu cells from %s", restore_cells(c->restore),
             restore_journal(c->restore));
    char *note = restore_note(c->restore);
    if (note) {
        char *both = NULL;
        if (c->pending_note && asprintf(&both, "%s%s", note, c->pending_note) >= 0) {
            free(note);
            note = both;
        }
        free(c->pending_note);
        c->pending_note = note;
    }
    restore_destroy(&c->restore);
    return false;
}

void conversation_restore_done(conversation_t *c, const json_t *reply)
{
    c->restoring = false;
    c->deadline_ms = 0;
    if (c->restore)
        restore_done_cell(c->restore, reply);
}
