/* conversation_worker — the interpreter process of a conversation: starting
 * or adopting it, reading its channel, sending it records, the time limits
 * on the daemon's clock, and its death (the request it was running is
 * answered, a fresh interpreter is started). */
#include "conversation_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

/* How long the manager waits for a dead interpreter's exit status. */
#define EXIT_REPORT_GRACE_MS 2000
/* Consecutive interpreter start failures before giving up. */
#define MAX_START_FAILURES 3

static size_t s_max_record(const conversation_t *c);

/* The interpreter's end is known: tell whoever waits, start a fresh one. */
static void s_worker_gone(conversation_t *c)
{
    worker_t *w = c->worker;
    char how[128], evalue[400];
    worker_describe_end(w, how, sizeof how);
    bool started = w->ready != NULL;
    if (!started)
        c->start_failures++;
    log_warn("the interpreter %s%s", how, started ? "" : " before it was ready");

    if (w->oom_killed)
        snprintf(how, sizeof how, "exceeded the %ld MiB memory limit and was killed",
                 c->limits.memory_mib);
    else if (c->stopped_by == LIMIT_TIME && (c->current || c->restoring))
        snprintf(how, sizeof how, "exceeded the %g s time limit, did not stop when interrupted "
                 "and was killed", c->limits.timeout_s);
    else if (c->stopped_by == LIMIT_INPUT && (c->current || c->restoring))
        snprintf(how, sizeof how, "waited for input past the %g s input timeout, did not stop "
                 "when interrupted and was killed", c->limits.input_timeout_s);
    request_t *req = c->current;
    c->current = NULL;
    c->awaiting_input = false;
    if (c->restoring)
        conversation_restore_done(c, NULL);
    if (req) {
        const char *ename = "InterpreterDied";
        const char *type = wire_msg_type(&req->msg);
        bool cell = strcmp(type, "execute_request") == 0;
        if (c->stopped_by == LIMIT_TIME) {
            ename = "TimeoutError";
            snprintf(evalue, sizeof evalue,
                     "%s%.64s exceeded the %g s time limit and did not stop when "
                     "interrupted; the interpreter was killed. Its state (variables, imports, "
                     "loaded data) is lost; the next cell runs in a fresh interpreter.",
                     cell ? "The cell" : "The ", cell ? "" : type, c->limits.timeout_s);
        } else if (c->stopped_by == LIMIT_INPUT) {
            ename = "TimeoutError";
            snprintf(evalue, sizeof evalue,
                     "The cell waited for input longer than the %g s input timeout and did not "
                     "stop when interrupted; the interpreter was killed. Its state (variables, "
                     "imports, loaded data) is lost; the next cell runs in a fresh interpreter.",
                     c->limits.input_timeout_s);
        } else {
            snprintf(evalue, sizeof evalue,
                     "The interpreter %s while running this request. Its state (variables, "
                     "imports, loaded data) is lost; the next cell runs in a fresh "
                     "interpreter.",
                     how);
        }
        if (strcmp(wire_msg_type(&req->msg), "execute_request") == 0) {
            json_t *error = json_pack("{s:s, s:s, s:[s++]}", "ename", ename, "evalue", evalue,
                                      "traceback", ename, ": ", evalue);
            conversation_publish(c, &req->msg.raw_header, "error", json_deep_copy(error));
            json_object_set_new(error, "status", json_string("error"));
            conversation_finish_execute(c, req, error);
            conversation_reply(c, req, error);
        } else {
            conversation_reply_error(c, req, ename, evalue);
        }
        conversation_end_request(c, req);
    }
    c->stopped_by = LIMIT_NONE;
    c->deadline_ms = 0;
    c->input_deadline_ms = 0;
    if (started) {
        free(c->pending_note);
        if (asprintf(&c->pending_note,
                     "[sandcell] This cell runs in a fresh interpreter: the previous one %s, "
                     "and its state was lost.\n",
                     how) < 0)
            c->pending_note = NULL;
    }
    worker_destroy(&c->worker);
    if (c->closed || c->capped)
        return;
    if (c->start_failures >= MAX_START_FAILURES)
        log_error("the interpreter failed to start %d times; giving up", c->start_failures);
    else
        conversation_spawn_worker(c);
}

static void s_worker_eof(conversation_t *c)
{
    reactor_remove(c->reactor, NULL, channel_fd(c->worker->chan));
    worker_mark_dying(c->worker, reactor_now_ms());
    if (c->worker->state == WORKER_DEAD)
        s_worker_gone(c);
}

/* Records read from one interpreter per wakeup, and their bytes: an
 * interpreter that floods its channel gets a turn as long as any other
 * conversation's, then waits for the next round of the loop. */
#define WORKER_BATCH_RECORDS 16
#define WORKER_BATCH_BYTES ((size_t)256 << 10)

static void s_on_worker(void *arg)
{
    conversation_t *c = arg;
    size_t bytes = 0;
    for (int batch = 0; batch < WORKER_BATCH_RECORDS && bytes < WORKER_BATCH_BYTES && c->worker &&
                        c->worker->chan;
         batch++) {
        char *text;
        size_t len;
        int rc = channel_recv(c->worker->chan, 1, &text, &len);
        if (rc == 0)
            break;
        if (rc == -EMSGSIZE) {
            conversation_interp_warn(
                c, "dropped a record from the interpreter larger than the output limit");
            if (c->current && !c->output_capped)
                conversation_output_allowed(c, c->current, "stream", s_max_record(c) + 1, NULL);
            continue;
        }
        if (rc < 0) {
            s_worker_eof(c);
            break;
        }
        bytes += len;
        conversation_on_worker_record(c, text, len);
        free(text);
    }
    conversation_pump(c);
}

/* Records from the interpreter larger than a cell may output are refused
 * while they are read, before they cost the manager any memory. */
static size_t s_max_record(const conversation_t *c)
{
    size_t cap = c->limits.max_output_mib > 0 ? (size_t)c->limits.max_output_mib << 20
                                              : CHANNEL_MAX_RECORD;
    return cap + ((size_t)1 << 20);
}

void conversation_spawn_worker(conversation_t *c)
{
    int err = 0;
    c->worker = worker_spawn(c->zygote, c->jail, &err);
    c->generation++;
    if (!c->worker) {
        c->start_failures = MAX_START_FAILURES;
        log_error("cannot start an interpreter: %s", strerror(-err));
        return;
    }
    channel_set_max_record(c->worker->chan, s_max_record(c));
    if (reactor_add(c->reactor, NULL, channel_fd(c->worker->chan), s_on_worker, c) < 0) {
        worker_destroy(&c->worker);
        log_error("cannot watch the interpreter: out of memory");
    }
}

void conversation_adopt_worker(conversation_t *c, worker_t *w)
{
    c->worker = w;
    c->generation++;
    channel_set_max_record(w->chan, s_max_record(c));
    if (w->ready)
        conversation_journal_header(c);
    if (reactor_add(c->reactor, NULL, channel_fd(w->chan), s_on_worker, c) < 0) {
        worker_destroy(&c->worker);
        log_error("cannot watch the interpreter: out of memory");
    }
}

void conversation_restart_interpreter(conversation_t *c)
{
    if (c->worker) {
        if (c->worker->chan)
            reactor_remove(c->reactor, NULL, channel_fd(c->worker->chan));
        worker_destroy(&c->worker);
    }
    c->execution_count = 0;
    c->start_failures = 0;
    if (!c->capped)
        conversation_spawn_worker(c);
}

void conversation_reply_capped(conversation_t *c, request_t *req)
{
    char evalue[600];
    int n = snprintf(evalue, sizeof evalue,
                     "this conversation reached its limit of %ld executions and its interpreter "
                     "was stopped; start a new conversation to continue (its history stays "
                     "readable here)",
                     c->max_executions);
    if (c->journal && n > 0 && (size_t)n < sizeof evalue)
        snprintf(evalue + n, sizeof evalue - (size_t)n,
                 "; a start_request with \"restore\": \"%.300s\" continues where it stopped",
                 journal_path(c->journal));
    conversation_reply_error(c, req, "ExecutionLimitReached", evalue);
}

/* The channel can be written again: more of the queue goes out. */
static void s_on_worker_writable(void *arg)
{
    conversation_t *c = arg;
    worker_t *w = c->worker;
    if (!w || !w->chan)
        return;
    if (worker_flush(w) < 0) {
        s_worker_eof(c);
        conversation_pump(c);
        return;
    }
    if (!worker_pending(w))
        reactor_set_writable(c->reactor, NULL, channel_fd(w->chan), NULL);
}

int conversation_send_worker(conversation_t *c, json_t *record)
{
    worker_t *w = c->worker;
    if (!w || !w->chan)
        return -EPIPE;
    int rc = worker_send(w, record);
    if (rc == 0) {
        if (worker_pending(w) &&
            reactor_set_writable(c->reactor, NULL, channel_fd(w->chan), s_on_worker_writable) < 0)
            rc = -ENOMEM;
        else
            return 0;
    }
    if (rc == -ENOBUFS)
        log_warn("the interpreter left more than %zu MiB of requests unread; killing it",
                 CHANNEL_MAX_PENDING >> 20);
    else
        log_warn("the interpreter does not accept requests (%s); killing it", strerror(-rc));
    reactor_remove(c->reactor, NULL, channel_fd(w->chan));
    worker_mark_dying(w, reactor_now_ms());
    return rc;
}

int conversation_send_request(conversation_t *c, json_t *record)
{
    json_object_set_new(record, "seq", json_integer(++c->request_seq));
    worker_thaw(c->worker);
    int rc = conversation_send_worker(c, record);
    if (rc < 0)
        return rc;
    c->worker->state = WORKER_BUSY;
    /* Every request runs code of the interpreter's (an object's __dir__ or
     * __repr__ for complete and inspect): each gets the time limit, and
     * the output limit, less what arrived since the last request. */
    c->deadline_ms =
        c->limits.timeout_s > 0 ? reactor_now_ms() + (long long)(c->limits.timeout_s * 1000) : 0;
    c->input_deadline_ms = 0;
    c->stopped_by = LIMIT_NONE;
    c->output_bytes = c->stray_bytes;
    c->stray_bytes = 0;
    c->output_capped = false;
    return 0;
}

int conversation_forward(conversation_t *c, request_t *req, json_t *record)
{
    int rc = conversation_send_request(c, record);
    if (rc < 0)
        return rc;
    conversation_begin(c, req);
    if (strcmp(wire_msg_type(&req->msg), "execute_request") == 0)
        c->executions++;
    return 0;
}

void conversation_publish_notes(conversation_t *c, request_t *req)
{
    if (c->pending_note) {
        conversation_publish(c, &req->msg.raw_header, "stream",
                             json_pack("{s:s, s:s}", "name", "stderr", "text", c->pending_note));
        free(steal_pointer(&c->pending_note));
    }
    if (c->stray_note_bytes) {
        char note[240];
        snprintf(note, sizeof note,
                 "[sandcell] %zu bytes of output arrived from the interpreter while no request "
                 "was running (a background process?) and were dropped; they count against "
                 "this request's output limit.\n",
                 c->stray_note_bytes);
        conversation_publish(c, &req->msg.raw_header, "stream",
                             json_pack("{s:s, s:s}", "name", "stderr", "text", note));
        c->stray_note_bytes = 0;
    }
}

void conversation_interrupt(conversation_t *c)
{
    if (c->worker && c->worker->state == WORKER_BUSY) {
        c->awaiting_input = false; /* input() raises KeyboardInterrupt */
        c->input_deadline_ms = 0;
        worker_thaw(c->worker);
        worker_interrupt(c->worker);
    }
}

bool conversation_zygote_event(conversation_t *c, json_t *event)
{
    worker_t *w = c->worker;
    if (!w)
        return false;
    const char *type = json_string_value(json_object_get(event, "type"));
    json_int_t id = json_integer_value(json_object_get(event, "id"));
    json_int_t pid = json_integer_value(json_object_get(event, "pid"));
    if (!type)
        return false;
    if (strcmp(type, "spawned") == 0 && id == w->spawn_id) {
        worker_set_pid(w, (pid_t)pid);
    } else if (strcmp(type, "spawn_failed") == 0 && id == w->spawn_id) {
        const char *error = json_string_value(json_object_get(event, "error"));
        log_error("the zygote could not fork an interpreter: %s", error ? error : "?");
        free(c->start_error);
        if (asprintf(&c->start_error, "the sandbox could not be set up (%s)",
                     error ? error : "no detail") < 0)
            c->start_error = NULL;
        if (w->chan) /* the zygote closed its end, so the channel may be gone already */
            reactor_remove(c->reactor, NULL, channel_fd(w->chan));
        w->exited = true;
        worker_mark_dying(w, reactor_now_ms());
        s_worker_gone(c);
    } else if (strcmp(type, "exited") == 0 && pid > 0 && pid == w->pid) {
        worker_set_exit(w, event);
        if (w->state == WORKER_DEAD)
            s_worker_gone(c);
    } else {
        return false;
    }
    conversation_pump(c);
    return true;
}

/* Grace between the interrupt at the time limit and the kill. */
#define TIMEOUT_GRACE_MS 2000

/* The limit |c|'s running request has reached at |now_ms|, if any. */
static limit_t s_limit_reached(const conversation_t *c, long long now_ms)
{
    if (c->deadline_ms && now_ms >= c->deadline_ms)
        return LIMIT_TIME;
    if (c->awaiting_input && c->input_deadline_ms && now_ms >= c->input_deadline_ms)
        return LIMIT_INPUT;
    return LIMIT_NONE;
}

void conversation_tick(conversation_t *c, long long now_ms)
{
    if (c->held_head && !c->held_head->seq)
        conversation_release(c); /* a client's queue may have room without the socket saying so */
    worker_t *w = c->worker;
    if (w && w->state == WORKER_BUSY) {
        limit_t hit = c->stopped_by == LIMIT_NONE ? s_limit_reached(c, now_ms) : LIMIT_NONE;
        if (hit != LIMIT_NONE) {
            if (hit == LIMIT_TIME)
                log_info("a request exceeded the %g s time limit; interrupting it",
                         c->limits.timeout_s);
            else
                log_info("a cell waited for input past the %g s input timeout; interrupting it",
                         c->limits.input_timeout_s);
            c->stopped_by = hit;
            metrics_limit_hit(hit == LIMIT_TIME ? METRICS_LIMIT_TIME : METRICS_LIMIT_INPUT);
            c->kill_at_ms = now_ms + TIMEOUT_GRACE_MS;
            c->awaiting_input = false; /* a late input_reply is dropped */
            worker_thaw(w);
            worker_interrupt(w);
        } else if (c->stopped_by != LIMIT_NONE && now_ms >= c->kill_at_ms) {
            log_info("the request did not stop when interrupted; killing the interpreter");
            reactor_remove(c->reactor, NULL, channel_fd(w->chan));
            worker_mark_dying(w, now_ms);
        }
    }
    if (w && w->state == WORKER_DYING && now_ms - w->dying_since_ms > EXIT_REPORT_GRACE_MS) {
        s_worker_gone(c);
        conversation_pump(c);
    }
}
