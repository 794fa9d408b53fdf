/* conversation_records — what the interpreter sends: its ready record,
 * replies, outputs and input requests, and the output limit.
 *
 * Everything that arrives from the interpreter is untrusted: records are
 * bounded by the channel, decoded by interp_record (NUL kept, bad UTF-8
 * replaced), checked against the Jupyter schema of their type
 * (content_check, worker_record_parse), and only the iopub message types
 * it knows as outputs are published; a record that fails becomes an
 * InvalidOutput error. No limit rests on a record: the time limits run on
 * the daemon's clock from the forward (conversation_worker.c), and between
 * a reply (or an input_request) and the next request (or input_reply) the
 * interpreter's process group is stopped, so a forged record only ends or
 * holds its own cell sooner (docs/design-decisions.md, "What the daemon
 * believes from an interpreter"). */
#include "conversation_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content_check.h"
#include "interp_record.h"
#include "log.h"
#include "metrics.h"
#include "msgtype.h"
#include "util.h"

static void s_on_worker_ready(conversation_t *c, json_t *rec)
{
    worker_t *w = c->worker;
    if (w->state != WORKER_STARTING || !worker_set_ready(w, rec)) {
        conversation_interp_warn(c, "ignoring a second ready record from the interpreter");
        return;
    }
    conversation_journal_header(c);
    free(steal_pointer(&c->start_error));
    c->start_failures = 0;
}

/* Whether a line of |content|'s traceback mentions |word|. */
static bool s_traceback_mentions(const json_t *content, const char *word)
{
    size_t i;
    const json_t *line;
    json_array_foreach(json_object_get(content, "traceback"), i, line) {
        const char *text = json_string_value(line);
        if (text && strstr(text, word))
            return true;
    }
    return false;
}

/* What the limit that stopped |req| (NULL: the running cell) was, for
 * an error's evalue. */
static void s_limit_text(const conversation_t *c, const request_t *req, char *out, size_t len)
{
    const char *type = req ? wire_msg_type(&req->msg) : "execute_request";
    bool cell = strcmp(type, "execute_request") == 0;
    if (c->stopped_by == LIMIT_INPUT)
        snprintf(out, len,
                 "the cell waited for input longer than the %g s input timeout and was "
                 "interrupted; the interpreter and its state are kept",
                 c->limits.input_timeout_s);
    else
        snprintf(out, len,
                 "%s%.64s exceeded the %g s time limit and was interrupted; the interpreter "
                 "and its state are kept",
                 cell ? "the cell" : "the ", cell ? "" : type, c->limits.timeout_s);
}

/* Says which limit an error came from: a KeyboardInterrupt the manager
 * caused at a time limit, a MemoryError at the address-space limit, and
 * the errors the kernel gives at the disk, open-file and process limits
 * (their own messages name no limit: "File too large", "Too many open
 * files", "Resource temporarily unavailable" from fork). Edits |content|
 * (an error output, reply or user expression) in place; for the last
 * three the interpreter's words are kept and the limit is added. Returns
 * the limit it named (METRICS_LIMIT_NONE for none, and for a time limit,
 * which conversation_tick counts when it strikes). */
static metrics_limit_t s_explain_error(conversation_t *c, const request_t *req, json_t *content)
{
    metrics_limit_t hit = METRICS_LIMIT_NONE;
    const char *ename = json_string_value(json_object_get(content, "ename"));
    const char *was = json_string_value(json_object_get(content, "evalue"));
    char evalue[600];
    if (!ename)
        return hit;
    if (!was)
        was = "";
    bool jailed = !c->limits.no_jail;
    if (jailed && (strncmp(was, "[Errno 27]", 10) == 0 || strncmp(was, "[Errno 28]", 10) == 0)) {
        snprintf(evalue, sizeof evalue,
                 "%.400s (the cell reached the %ld MiB disk limit of /workspace and /tmp)", was,
                 c->limits.disk_mib);
        hit = METRICS_LIMIT_DISK;
    } else if (jailed && strncmp(was, "[Errno 24]", 10) == 0) {
        snprintf(evalue, sizeof evalue, "%.400s (the cell reached the limit of %ld open files)",
                 was, c->limits.open_files);
        hit = METRICS_LIMIT_OPEN_FILES;
    } else if (jailed && c->limits.pids > 0 &&
               ((strcmp(ename, "BlockingIOError") == 0 && strncmp(was, "[Errno 11]", 10) == 0 &&
                 (s_traceback_mentions(content, "fork") ||
                  s_traceback_mentions(content, "spawn"))) ||
                (strcmp(ename, "RuntimeError") == 0 &&
                 strcmp(was, "can't start new thread") == 0))) {
        snprintf(evalue, sizeof evalue,
                 "%.400s (the cell reached the limit of %ld processes and threads)", was,
                 c->limits.pids);
        hit = METRICS_LIMIT_PROCESSES;
    } else if (c->stopped_by != LIMIT_NONE && strcmp(ename, "KeyboardInterrupt") == 0) {
        s_limit_text(c, req, evalue, sizeof evalue);
        json_object_set_new(content, "ename", json_string("TimeoutError"));
    } else if (strcmp(ename, "MemoryError") == 0 && !c->limits.no_jail) {
        snprintf(evalue, sizeof evalue, "the cell exceeded the %ld MiB memory limit%s",
                 c->limits.memory_mib,
                 c->limits.no_cgroups ? " (--no-cgroups: the private memory each process "
                                        "maps beyond what it started with)" : "");
        hit = METRICS_LIMIT_MEMORY;
    } else {
        return hit;
    }
    json_object_set_new(content, "evalue", json_string(evalue));
    json_t *tb = json_object_get(content, "traceback");
    if (json_is_array(tb) && json_array_size(tb) > 0) {
        char last[700];
        snprintf(last, sizeof last, "%s: %s",
                 json_string_value(json_object_get(content, "ename")), evalue);
        json_array_set_new(tb, json_array_size(tb) - 1, json_string(last));
    }
    return hit;
}

/* A reply to a request that a limit stopped is an error TimeoutError,
 * whatever the interpreter answered; for a cell, the user expressions the
 * interrupt stopped say TimeoutError, and a cell that swallowed the
 * interrupt with none stopped becomes an error too. Replaces *reply. */
static void s_limit_reply(conversation_t *c, request_t *req, json_t **reply)
{
    char evalue[240];
    s_limit_text(c, req, evalue, sizeof evalue);
    if (strcmp(wire_msg_type(&req->msg), "execute_request") != 0) {
        json_decref(*reply);
        *reply = json_pack("{s:s, s:s, s:s, s:[s++]}", "status", "error", "ename",
                           "TimeoutError", "evalue", evalue, "traceback", "TimeoutError", ": ",
                           evalue);
        return;
    }
    const char *status = json_string_value(json_object_get(*reply, "status"));
    if (status && strcmp(status, "ok") != 0)
        return; /* conversation_finish_execute explains its error */
    bool stopped = false;
    const char *name;
    json_t *value;
    json_object_foreach(json_object_get(*reply, "user_expressions"), name, value)
    {
        const char *ename = json_string_value(json_object_get(value, "ename"));
        if (json_is_object(value) && ename && strcmp(ename, "KeyboardInterrupt") == 0) {
            s_explain_error(c, req, value);
            stopped = true;
        }
    }
    if (stopped)
        return;
    json_t *error = json_pack("{s:s, s:s, s:[s++]}", "ename", "TimeoutError", "evalue", evalue,
                              "traceback", "TimeoutError", ": ", evalue);
    conversation_publish(c, &req->msg.raw_header, "error", json_deep_copy(error));
    json_object_set_new(error, "status", json_string("error"));
    json_decref(*reply);
    *reply = error;
}

void conversation_finish_execute(conversation_t *c, request_t *req, json_t *content)
{
    if (json_is_string(json_object_get(content, "ename")))
        metrics_limit_hit(s_explain_error(c, req, content));
    json_object_set_new(content, "execution_count", json_integer(c->execution_count));
    const char *status = json_string_value(json_object_get(content, "status"));
    if (status && strcmp(status, "ok") != 0 && req->stop_on_error)
        conversation_abort_queue(c);
    if (c->max_executions > 0 && c->executions >= c->max_executions && !c->capped) {
        log_info("a conversation reached its cap of %ld executions", c->max_executions);
        c->capped = true; /* the interpreter goes once this reply is out */
    }
}

/* |content| (borrowed) of the interpreter's reply to |req| if it follows
 * the schema of the reply; otherwise an error reply naming the problem
 * (and, for a cell, the same error as an output). New reference. */
static json_t *s_checked_reply(conversation_t *c, request_t *req, json_t *content)
{
    char reply_type[64], why[CONTENT_WHY_LEN], evalue[CONTENT_WHY_LEN + 64];
    if (msgtype_reply_name(wire_msg_type(&req->msg), reply_type, sizeof reply_type) < 0 ||
        content_check(reply_type, content, why, sizeof why) == 0)
        return json_incref(content);
    snprintf(evalue, sizeof evalue, "the interpreter sent a reply sandcell cannot use: %s", why);
    conversation_interp_warn(c, "%s", evalue);
    json_t *reply = interp_record_error(evalue);
    if (reply && strcmp(reply_type, "execute_reply") == 0)
        conversation_publish(c, &req->msg.raw_header, "error", json_deep_copy(reply));
    if (reply)
        json_object_set_new(reply, "status", json_string("error"));
    return reply;
}

/* The interpreter answered the current request. */
static void s_on_worker_reply(conversation_t *c, json_t *rec, json_t *content)
{
    request_t *req = c->current;
    double cpu_s;
    long long peak;
    if (!req && !c->restoring) {
        conversation_interp_warn(c, "ignoring a reply from the interpreter: no request is running");
        return;
    }
    /* A reply to an earlier request (its cell was ended by a forged reply
     * and answers now) would shift every later reply by one. The number is
     * no secret from user code: matching it only keeps the honest runtime
     * in step, it proves nothing. */
    json_t *seq = json_object_get(rec, "seq");
    if (!json_is_integer(seq) || json_integer_value(seq) != c->request_seq) {
        conversation_interp_warn(c, "ignoring a reply from the interpreter to an earlier request");
        return;
    }
    /* The request ends here, whoever sent the record: nothing of the
     * interpreter runs until the next one (a forged reply only ends its
     * cell sooner). */
    worker_freeze(c->worker);
    worker_take_usage(c->worker, rec, &cpu_s, &peak);
    c->worker->state = WORKER_IDLE;
    c->awaiting_input = false;
    c->deadline_ms = 0;
    c->input_deadline_ms = 0;
    if (!req) {
        c->stopped_by = LIMIT_NONE;
        conversation_restore_done(c, content);
        return;
    }
    req->cpu_s = cpu_s;
    req->peak_memory = peak;
    c->current = NULL;
    json_t *reply = s_checked_reply(c, req, content);
    if (c->stopped_by != LIMIT_NONE)
        s_limit_reply(c, req, &reply);
    if (strcmp(wire_msg_type(&req->msg), "execute_request") == 0) {
        metrics_observe(METRICS_CELL_SECONDS, metrics_clock() - req->run_at);
        conversation_finish_execute(c, req, reply);
    }
    c->stopped_by = LIMIT_NONE;
    conversation_reply(c, req, reply);
    conversation_end_request(c, req);
    if (c->capped && c->worker) { /* the cap is reached: nothing of it stays */
        reactor_remove(c->reactor, NULL, channel_fd(c->worker->chan));
        worker_destroy(&c->worker);
        metrics_cap_reached();
        conversation_end_journal(c, "cap");
    }
}

/* The first |keep| bytes of |content|'s "text", cut back to a whole UTF-8
 * character; false if nothing of it would be left. */
static bool s_keep_text(json_t *content, size_t keep)
{
    const char *text = json_string_value(json_object_get(content, "text"));
    size_t len = text ? strlen(text) : 0;
    if (!text || keep == 0)
        return false;
    if (keep >= len)
        return true;
    while (keep > 0 && ((unsigned char)text[keep] & 0xc0) == 0x80)
        keep--;
    if (keep == 0)
        return false;
    json_object_set_new(content, "text", json_stringn(text, keep));
    return true;
}

bool conversation_output_allowed(conversation_t *c, request_t *req, const char *type,
                                 size_t len, json_t *content)
{
    if (!req || strcmp(type, "error") == 0 || c->limits.max_output_mib <= 0)
        return true;
    size_t cap = (size_t)c->limits.max_output_mib << 20, before = c->output_bytes;
    c->output_bytes += len;
    if (c->output_bytes <= cap)
        return true;
    bool part = !c->output_capped && content && strcmp(type, "stream") == 0 && before < cap &&
                s_keep_text(content, cap - before);
    if (part) /* the part first, then the note */
        conversation_publish(c, &req->msg.raw_header, "stream", json_incref(content));
    if (!c->output_capped) {
        char note[160];
        snprintf(note, sizeof note,
                 "\n[sandcell] this cell reached the output limit of %ld MiB; the rest of its "
                 "output is dropped.\n",
                 c->limits.max_output_mib);
        conversation_publish(c, &req->msg.raw_header, "stream",
                             json_pack("{s:s, s:s}", "name", "stderr", "text", note));
        c->output_capped = true;
    }
    return false;
}

static void s_on_worker_output(conversation_t *c, const char *type, json_t *content,
                               size_t len)
{
    request_t *req = c->current;
    if (c->restoring)
        return; /* restored cells are not shown again */
    if (!req) {
        /* Sent before the interpreter was stopped at its last reply (a
         * forked child, a forged reply): no request accounts for it. */
        c->stray_bytes += len;
        c->stray_note_bytes += len;
        conversation_interp_warn(
            c, "dropped %s output from the interpreter: no request is running", type);
        return;
    }
    if (!conversation_output_allowed(c, req, type, len, content))
        return;
    json_t *out = json_incref(content); /* the record is ours to change */
    if (strcmp(type, "error") == 0)
        s_explain_error(c, req, out);
    if (req && strcmp(type, "execute_result") == 0) {
        json_object_set_new(out, "execution_count", json_integer(req->execution_count));
        json_t *text = json_object_get(json_object_get(out, "data"), "text/plain");
        if (json_is_string(text) && !req->result_text)
            req->result_text = json_incref(text);
    }
    conversation_publish(c, &req->msg.raw_header, type, out);
}

static void s_on_worker_input_request(conversation_t *c, json_t *content)
{
    request_t *req = c->current;
    if (!req || strcmp(wire_msg_type(&req->msg), "execute_request") != 0 || !req->allow_stdin ||
        c->awaiting_input || c->stopped_by != LIMIT_NONE) {
        conversation_interp_warn(
            c, "ignoring an input request from the interpreter: no cell may ask for input now");
        return;
    }
    /* Nothing of the interpreter runs while it waits; the time limit runs
     * on, and the input timeout starts. */
    worker_freeze(c->worker);
    c->awaiting_input = true;
    c->input_deadline_ms = c->limits.input_timeout_s > 0
                               ? reactor_now_ms() + (long long)(c->limits.input_timeout_s * 1000)
                               : 0;
    conversation_send(c, CONN_STDIN, req->msg.identities, req->msg.n_identities, "input_request",
           &req->msg.raw_header, json_deep_copy(content));
}

/* The interpreter could not complete its jail and will exit: fail closed,
 * and say which layer is missing. */
static void s_on_worker_jail_failed(conversation_t *c, json_t *content)
{
    const char *layer = json_string_value(json_object_get(content, "layer"));
    const char *error = json_string_value(json_object_get(content, "error"));
    free(c->start_error);
    if (asprintf(&c->start_error, "the sandbox layer \"%s\" could not be applied (%s)",
                 layer ? layer : "?", error ? error : "no detail") < 0)
        c->start_error = NULL;
    log_error("%s; no code runs without it", c->start_error ? c->start_error : "jail failed");
}

/* Publishes, in place of what the interpreter sent (|len| bytes), an error
 * output saying what was wrong with it (|what|, UTF-8). The bytes count
 * against the output limit like any output, so a flood of bad records
 * ends as a flood of good ones does: errors alone would pass the limit. */
static void s_invalid_output(conversation_t *c, const char *what, size_t len)
{
    if (!c->restoring && !conversation_output_allowed(c, c->current, "stream", len, NULL))
        return;
    char evalue[INTERP_RECORD_WHY_LEN + 64];
    snprintf(evalue, sizeof evalue, "the interpreter sent an output sandcell cannot use: %s",
             what);
    conversation_interp_warn(c, "%s", evalue);
    json_auto_t *error = interp_record_error(evalue);
    if (error)
        s_on_worker_output(c, "error", error, len);
}

/* Output types a cell over its output limit has dropped unparsed. */
static const char *const s_droppable_types[] = {
    "stream", "display_data", "update_display_data", "clear_output", "execute_result",
};

/* Whether |text| starts as the runtime writes an output record other than
 * an error ({"type": "stream", ...}). Only a shortcut: a record written
 * another way is parsed, and a forged one gains nothing by either path. */
static bool s_looks_like_output(const char *text, size_t len)
{
    static const char prefix[] = "{\"type\": \"";
    if (len < sizeof prefix || memcmp(text, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *type = text + sizeof prefix - 1;
    size_t left = len - (sizeof prefix - 1);
    for (size_t i = 0; i < ARRAY_SIZE(s_droppable_types); i++) {
        size_t n = strlen(s_droppable_types[i]);
        if (left > n && memcmp(type, s_droppable_types[i], n) == 0 && type[n] == '"')
            return true;
    }
    return false;
}

void conversation_on_worker_record(conversation_t *c, const char *text, size_t len)
{
    json_auto_t *rec = NULL;
    const char *type;
    json_t *content;
    char why[INTERP_RECORD_WHY_LEN];
    /* Over its output limit a cell costs the daemon a comparison per
     * record, not a parse: its outputs are counted and dropped. */
    if (c->output_capped && c->current && s_looks_like_output(text, len)) {
        c->output_bytes += len;
        return;
    }
    switch (worker_record_parse(text, len, &rec, &type, &content, why, sizeof why)) {
    case WORKER_RECORD_TOO_BIG:
    case WORKER_RECORD_MALFORMED:
    case WORKER_RECORD_UNKNOWN:
        s_invalid_output(c, why, len);
        break;
    case WORKER_RECORD_READY:
        s_on_worker_ready(c, rec);
        break;
    case WORKER_RECORD_REPLY:
        s_on_worker_reply(c, rec, content);
        break;
    case WORKER_RECORD_INPUT_REQUEST:
        s_on_worker_input_request(c, content);
        break;
    case WORKER_RECORD_JAIL_FAILED:
        s_on_worker_jail_failed(c, content);
        break;
    case WORKER_RECORD_OUTPUT:
        s_on_worker_output(c, type, content, len);
        break;
    }
}
