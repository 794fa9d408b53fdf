/* control — the daemon's control endpoint: start, list, stop, connection,
 * put_file and get_file, each a handler in one table; replies that do not
 * fit a client's queue are kept for it, in order (outbox.h).
 *
 * Requests are parsed and checked (control_request.h) before a handler
 * runs. A file request for a conversation whose interpreter is not ready
 * waits (PENDING_WAIT_MS) and is retried on the tick; a start_request
 * that restores has its journals read off the loop by the restore loader
 * and runs again when they are read. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "msgtype.h"
#include "serve_internal.h"
#include "util.h"
#include "wire_io.h"

/* ------------------------------------------------------------- replies */

static void s_on_control_writable(void *arg);

/* Watches the control socket for room while replies are kept, not after. */
void serve_watch_outbox(server_t *s)
{
    bool want = outbox_pending(s->outbox) > 0;
    if (want != s->control_writable &&
        reactor_set_writable(s->reactor, zsock_resolve(s->control), -1,
                             want ? s_on_control_writable : NULL) == 0)
        s->control_writable = want;
}

/* Some control client has room: what is kept goes out, in order. */
static void s_on_control_writable(void *arg)
{
    server_t *s = arg;
    outbox_flush(s->outbox);
    serve_watch_outbox(s);
}

static void s_reply(control_req_t *r, json_t *content, const wire_frame_t *buffers, size_t nbuf)
{
    char type[64];
    if (msgtype_reply_name(wire_msg_type(r->msg), type, sizeof type) < 0)
        snprintf(type, sizeof type, "error");
    /* A reply that does not fit is kept, in order, for its client (outbox.h). */
    outbox_send(r->s->outbox, r->msg->identities, r->msg->n_identities, type,
                &r->msg->raw_header, content, buffers, nbuf);
    serve_watch_outbox(r->s);
}

static void s_reply_error(control_req_t *r, const char *ename, const char *evalue)
{
    s_reply(r, json_pack("{s:s, s:s, s:s}", "status", "error", "ename", ename, "evalue", evalue),
            NULL, 0);
}

/* The live conversation the request names (control_request_parse made
 * sure it names one), or NULL after an error reply. */
static entry_t *s_find(server_t *s, control_req_t *r)
{
    char why[300];
    entry_t *e = serve_find(s, r->req->id, NULL, why, sizeof why);
    if (!e)
        s_reply_error(r, "UnknownConversation", why);
    return e;
}

static void s_iso_ago(long long ago_ms, char *out, size_t len);

/* Remembers that |e| ended now, and why, for s_find. */
void serve_remember_end(server_t *s, const entry_t *e)
{
    ended_t *slot = &s->ended[s->ended_next];
    s->ended_next = (s->ended_next + 1) % ENDED_MAX;
    char when[40], why[140], secs[32];
    s_iso_ago(0, when, sizeof when);
    const char *reason = e->end_reason ? e->end_reason : "";
    if (strcmp(reason, "idle") == 0)
        snprintf(why, sizeof why, "it was idle for more than %s s (idle_timeout)",
                 format_number(e->idle_timeout_s, secs, sizeof secs));
    else if (strcmp(reason, "lifetime") == 0)
        snprintf(why, sizeof why, "it reached its lifetime of %s s (lifetime)",
                 format_number(e->lifetime_s, secs, sizeof secs));
    else if (strcmp(reason, "stop") == 0)
        snprintf(why, sizeof why, "it was stopped (stop_request)");
    else if (strcmp(reason, "shutdown") == 0)
        snprintf(why, sizeof why, "its client shut it down (shutdown_request)");
    else
        snprintf(why, sizeof why, "%s", e->ending ? e->ending : "it was ended");
    snprintf(slot->id, sizeof slot->id, "%s", e->id);
    snprintf(slot->why, sizeof slot->why, "ended at %s: %s", when, why);
}

/* ------------------------------------------------------------ handlers */

static void s_start(control_req_t *r)
{
    server_t *s = r->s;
    const control_request_t *req = r->req;
    char why[1600];
    restore_t *restore = NULL;
    if (req->restore && !s->journal_dir) {
        s_reply_error(r, "RestoreFailed",
                      "this daemon keeps no journals (--no-journal), so it restores none");
        return;
    }
    if (req->restore && !r->restore_read) {
        /* First pass: the journals are read by the loader's thread, and
         * the request waits for them, off the loop (s_on_restored). */
        held_start_t *held = calloc(1, sizeof *held);
        const wire_blob_t *sent = req->restore_sent ? &r->msg->buffers[0] : NULL;
        if (!held || (sent ? restore_loader_start_bytes(s->restore_loader, req->restore,
                                                        sent->data, sent->size, held, why,
                                                        sizeof why)
                           : restore_loader_start(s->restore_loader, req->restore, held, why,
                                                  sizeof why)) < 0) {
            if (!held)
                snprintf(why, sizeof why, "out of memory in the daemon");
            free(held);
            s_reply_error(r, "RestoreFailed", why);
            return;
        }
        held->msg = *r->msg; /* the loader's tag owns the request now */
        memset(r->msg, 0, sizeof *r->msg);
        return;
    }
    if (req->restore && !(restore = r->restored)) {
        s_reply_error(r, "RestoreFailed", r->restore_why);
        return;
    }
    json_t *restored = NULL;
    char ename[40], reason[1600];
    entry_t *e = serve_start(s, req, restore, NULL, NULL, &restored, ename, sizeof ename, reason,
                             sizeof reason);
    if (!e) {
        s_reply_error(r, ename, reason);
        return;
    }
    json_t *connection = conversation_connection(e->conv);
    json_object_set_new(connection, "kernel_name", json_string(e->kernel_name));
    json_t *reply = json_pack("{s:s, s:s, s:o, s:s?}", "status", "ok", "id", e->id, "connection",
                              connection, "journal", conversation_journal_path(e->conv));
    if (restored)
        json_object_set_new(reply, "restored_from", restored);
    s_reply(r, reply, NULL, 0);
}

/* ISO-8601 UTC of |ago_ms| milliseconds before now. */
static void s_iso_ago(long long ago_ms, char *out, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - ago_ms;
    time_t sec = (time_t)(ms / 1000);
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%03uZ", (unsigned)(ms % 1000));
}

/* A conversation's limits under start_request's names and units (memory,
 * disk and max_output in MiB, the timeouts and the idle and lifetime limits in
 * seconds; 0 for none). New reference. */
static json_t *s_limits_json(const entry_t *e)
{
    const sandbox_limits_t *l = conversation_limits(e->conv);
    return json_pack("{s:f, s:f, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:f, s:f}", "timeout",
                     l->timeout_s, "input_timeout", l->input_timeout_s,
                     "memory", (json_int_t)l->memory_mib, "pids", (json_int_t)l->pids, "cpus",
                     l->cpus, "disk", (json_int_t)l->disk_mib, "open_files",
                     (json_int_t)l->open_files, "max_output", (json_int_t)l->max_output_mib,
                     "max_executions", (json_int_t)conversation_max_executions(e->conv),
                     "idle_timeout", e->idle_timeout_s, "lifetime", e->lifetime_s);
}

static void s_list(control_req_t *r)
{
    server_t *s = r->s;
    json_t *list = json_array();
    long long now = reactor_now_ms();
    for (size_t i = 0; i < s->n; i++) {
        entry_t *e = &s->entries[i];
        if (e->ending)
            continue;
        long long idle_ms = now - conversation_last_activity_ms(e->conv);
        char last[40];
        s_iso_ago(idle_ms, last, sizeof last);
        const char *journal = conversation_journal_path(e->conv); /* NULL: null */
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:f, s:s?}", "id", e->id, "state",
                            conversation_capped(e->conv) ? "capped" : "running", "executions",
                            (json_int_t)conversation_executions(e->conv), "max_executions",
                            (json_int_t)conversation_max_executions(e->conv), "started",
                            e->started, "last_activity", last, "idle_seconds",
                            (double)idle_ms / 1000.0, "journal", journal));
        json_t *item = json_array_get(list, json_array_size(list) - 1);
        json_object_set_new(item, "limits", s_limits_json(e));
        if (e->tenant[0])
            json_object_set_new(item, "tenant", json_string(e->tenant));
    }
    s_reply(r, json_pack("{s:s, s:o}", "status", "ok", "conversations", list), NULL, 0);
}

static void s_stop(control_req_t *r)
{
    entry_t *e = s_find(r->s, r);
    if (!e)
        return;
    serve_stop(e, "stopped");
    s_reply(r, json_pack("{s:s, s:s}", "status", "ok", "id", e->id), NULL, 0);
}

static void s_connection(control_req_t *r)
{
    entry_t *e = s_find(r->s, r);
    if (!e)
        return;
    json_t *connection = conversation_connection(e->conv);
    s_reply(r, json_pack("{s:s, s:o}", "status", "ok", "connection", connection), NULL, 0);
}

/* Answers a put or get of |path| that moved |size| bytes; a get's file
 * goes as |buffer| (NULL for a put). */
static void s_reply_file(control_req_t *r, const char *path, size_t size,
                         const wire_frame_t *buffer)
{
    s_reply(r, json_pack("{s:s, s:s, s:I}", "status", "ok", "path", path, "size",
                         (json_int_t)size),
            buffer, buffer ? 1 : 0);
}

/* A file request's answer for |rc| of serve_put_file or serve_get_file:
 * true if it succeeded; a request whose interpreter starts waits
 * (r->retry). */
static bool s_file_done(control_req_t *r, int rc, const char *why)
{
    if (rc == SERVE_FILE_WAIT)
        r->retry = true;
    else if (rc < 0)
        s_reply_error(r, "FileError", why);
    return rc == 0;
}

static void s_put_file(control_req_t *r)
{
    entry_t *e = s_find(r->s, r);
    if (!e)
        return;
    const char *path = r->req->path;
    const wire_blob_t *b = &r->msg->buffers[0];
    char why[512];
    if (s_file_done(r, serve_put_file(e, path, b->data, b->size, why, sizeof why), why))
        s_reply_file(r, path, b->size, NULL);
}

static void s_get_file(control_req_t *r)
{
    entry_t *e = s_find(r->s, r);
    if (!e)
        return;
    const char *path = r->req->path;
    void *data = NULL;
    size_t len = 0;
    char why[512];
    if (s_file_done(r, serve_get_file(e, path, &data, &len, why, sizeof why), why)) {
        wire_frame_t buffer = {data, len};
        s_reply_file(r, path, len, &buffer);
        free(data);
    }
}

static void (*const s_handlers[])(control_req_t *r) = {
    [CONTROL_START] = s_start,           [CONTROL_LIST] = s_list,
    [CONTROL_STOP] = s_stop,             [CONTROL_CONNECTION] = s_connection,
    [CONTROL_PUT_FILE] = s_put_file,     [CONTROL_GET_FILE] = s_get_file,
};

/* Runs one control request; returns true if it must wait and retry. */
static bool s_dispatch(server_t *s, wire_msg_t *msg, bool last_try)
{
    control_request_t req;
    control_req_t r = {.s = s, .msg = msg, .req = &req};
    char ename[32], why[512];
    int rc = control_request_parse(wire_msg_type(msg), msg->content, msg->n_buffers, &req, ename,
                                   sizeof ename, why, sizeof why);
    if (msg->content_error && req.kind != CONTROL_NOT_A_REQUEST) {
        s_reply_error(&r, "BadRequest", msg->content_error); /* e.g. a path with a NUL in it */
        return false;
    }
    if (rc < 0) {
        if (req.kind == CONTROL_NOT_A_REQUEST)
            log_warn("dropped message on the control endpoint: %s", why);
        else
            s_reply_error(&r, ename, why);
        return false;
    }
    s_handlers[req.kind](&r);
    if (r.retry && last_try)
        s_reply_error(&r, "FileError", "the conversation's interpreter did not start in time");
    return r.retry && !last_try;
}

/* Retries the file requests that wait for an interpreter. */
void control_retry_pending(server_t *s, long long now)
{
    size_t k = 0;
    for (size_t i = 0; i < s->npending; i++) {
        pending_t *p = &s->pending[i];
        if (s_dispatch(s, &p->msg, now >= p->deadline_ms)) {
            s->pending[k++] = *p;
            continue;
        }
        wire_msg_clear(&p->msg);
    }
    s->npending = k;
}

void control_on_readable(void *arg)
{
    server_t *s = arg;
    for (int batch = 0; batch < 64; batch++) {
        wire_msg_t msg;
        const char *reason = NULL;
        wire_io_result_t res = wire_io_recv(zsock_resolve(s->control), s->signer, false, &msg,
                                            &reason);
        if (res == WIRE_IO_NONE)
            break;
        if (res == WIRE_IO_DROPPED) {
            log_warn("dropped message on the control endpoint: %s", reason);
            continue;
        }
        if (s_dispatch(s, &msg, s->npending == PENDING_MAX)) {
            s->pending[s->npending++] = (pending_t){msg, reactor_now_ms() + PENDING_WAIT_MS};
            continue;
        }
        wire_msg_clear(&msg);
    }
}

/* --------------------------------------------------------------- loop */

/* The loader read a restore's journals: the start_request it held runs
 * again, with them. */
void control_on_restored(void *arg)
{
    server_t *s = arg;
    void *tag;
    restore_t *restore;
    char why[1024];
    while (restore_loader_take(s->restore_loader, &tag, &restore, why, sizeof why)) {
        held_start_t *held = tag;
        if (held->http) {
            serve_http_restored(s, held, restore, why);
            serve_drop_held(held);
            continue;
        }
        wire_msg_t *msg = &held->msg;
        control_request_t req;
        char ename[32], reason[512];
        control_req_t r = {.s = s, .msg = msg, .req = &req, .restore_read = true,
                           .restored = restore, .restore_why = why};
        if (control_request_parse(wire_msg_type(msg), msg->content, msg->n_buffers, &req, ename,
                                  sizeof ename, reason, sizeof reason) == 0 &&
            req.kind == CONTROL_START)
            s_start(&r);
        else
            restore_destroy(&restore); /* it parsed once; it cannot fail now */
        serve_drop_held(held);
    }
}
