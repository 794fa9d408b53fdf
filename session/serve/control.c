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
#include "workspace.h"

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
    const char *id = r->req->id;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->entries[i].id, id) == 0 && !s->entries[i].ending)
            return &s->entries[i];
    char why[300];
    snprintf(why, sizeof why, "no conversation with id %.40s", id);
    for (size_t i = 0; i < ENDED_MAX; i++)
        if (s->ended[i].id[0] && strcmp(s->ended[i].id, id) == 0)
            snprintf(why, sizeof why, "conversation %s %s", s->ended[i].id, s->ended[i].why);
    s_reply_error(r, "UnknownConversation", why);
    return NULL;
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

static size_t s_active(const server_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += !s->entries[i].ending;
    return n;
}

/* ------------------------------------------------------------ handlers */

/* |*out| = the request's value of number |n|, if it gives one. */
static void s_number(const control_request_t *req, control_number_t n, double *out)
{
    if (req->given[n])
        *out = req->number[n];
}

/* |recorded|'s number (or integer) |key| into *out, if it has one. */
static void s_recorded_number(const json_t *recorded, const char *key, double *out)
{
    const json_t *v = json_object_get(recorded, key);
    if (json_is_number(v))
        *out = json_number_value(v);
}

static void s_recorded_integer(const json_t *recorded, const char *key, long *out)
{
    const json_t *v = json_object_get(recorded, key);
    if (json_is_integer(v))
        *out = (long)json_integer_value(v);
}

/* The limits recorded in a restored journal's header, over the daemon's
 * defaults: a restored conversation keeps its own unless the request
 * overrides them. */
static void s_restored_limits(const json_t *recorded, sandbox_limits_t *limits, double *max_exec)
{
    s_recorded_number(recorded, "timeout_s", &limits->timeout_s);
    s_recorded_number(recorded, "input_timeout_s", &limits->input_timeout_s);
    s_recorded_integer(recorded, "memory_mib", &limits->memory_mib);
    s_recorded_integer(recorded, "pids", &limits->pids);
    s_recorded_number(recorded, "cpus", &limits->cpus);
    s_recorded_integer(recorded, "disk_mib", &limits->disk_mib);
    s_recorded_integer(recorded, "open_files", &limits->open_files);
    const json_t *v;
    if (json_is_integer(v = json_object_get(recorded, "max_output_bytes")))
        limits->max_output_mib = (long)(json_integer_value(v) >> 20);
    if (json_is_integer(v = json_object_get(recorded, "max_executions")))
        *max_exec = (double)json_integer_value(v);
}

static void s_start(control_req_t *r)
{
    server_t *s = r->s;
    const serve_options_t *o = s->opts;
    sandbox_limits_t limits = s->limits;
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
        wire_msg_t *held = malloc(sizeof *held);
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
        *held = *r->msg; /* the loader's tag owns the request now */
        memset(r->msg, 0, sizeof *r->msg);
        return;
    }
    if (req->restore && !(restore = r->restored)) {
        s_reply_error(r, "RestoreFailed", r->restore_why);
        return;
    }
    double max_exec = (double)o->max_executions;
    if (restore)
        s_restored_limits(restore_limits(restore), &limits, &max_exec);
    double idle = o->idle_timeout_s,
           life = o->lifetime_s, memory = (double)limits.memory_mib, pids = (double)limits.pids,
           disk = (double)limits.disk_mib, files = (double)limits.open_files,
           output = (double)limits.max_output_mib;
    s_number(req, CONTROL_MAX_EXECUTIONS, &max_exec);
    s_number(req, CONTROL_IDLE_TIMEOUT, &idle);
    s_number(req, CONTROL_LIFETIME, &life);
    s_number(req, CONTROL_TIMEOUT, &limits.timeout_s);
    s_number(req, CONTROL_MEMORY, &memory);
    s_number(req, CONTROL_PIDS, &pids);
    s_number(req, CONTROL_CPUS, &limits.cpus);
    s_number(req, CONTROL_DISK, &disk);
    s_number(req, CONTROL_OPEN_FILES, &files);
    s_number(req, CONTROL_MAX_OUTPUT, &output);
    s_number(req, CONTROL_INPUT_TIMEOUT, &limits.input_timeout_s);
    limits.memory_mib = (long)memory;
    limits.pids = (long)pids;
    limits.disk_mib = (long)disk;
    limits.open_files = (long)files;
    limits.max_output_mib = (long)output;

    /* Before anything is taken or created; capacity_end() follows. */
    if (capacity_begin(s->capacity, s_active(s), why, sizeof why) < 0) {
        restore_destroy(&restore);
        log_warn("refused a start: %s", why);
        s_reply_error(r, "TooManyConversations", why);
        return;
    }
    /* A conversation whose jail cannot have its cgroups could never run
     * a cell: refuse it now rather than at its first cell. After the
     * capacity check, which is the one that explains a daemon short of
     * descriptors (the cgroup check itself needs a few). */
    if (sandbox_limits_check_cgroups(&limits, false, why, sizeof why) < 0) {
        char ignored[512];
        capacity_end(s->capacity, ignored, sizeof ignored);
        restore_destroy(&restore);
        log_error("refused a start: %s", why);
        s_reply_error(r, "SandboxUnavailable", why);
        return;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        entry_t *e = realloc(s->entries, cap * sizeof *e);
        if (!e) {
            restore_destroy(&restore);
            capacity_end(s->capacity, why, sizeof why);
            s_reply_error(r, "MemoryError", "out of memory in the daemon");
            return;
        }
        s->entries = e;
        s->cap = cap;
    }
    unsigned char key_bytes[32];
    char key[65];
    randombytes_buf(key_bytes, sizeof key_bytes);
    sodium_bin2hex(key, sizeof key, key_bytes, sizeof key_bytes);
    connfile_t conn = {.transport = "tcp", .key = key, .signature_scheme = "hmac-sha256"};
    snprintf(conn.ip, sizeof conn.ip, "%s", s->ip);

    json_t *restored = restore ? restore_describe(restore) : NULL; /* conversation_new owns it */
    unsigned char id_bytes[6];
    char id[sizeof s->entries[0].id];
    randombytes_buf(id_bytes, sizeof id_bytes);
    sodium_bin2hex(id, sizeof id, id_bytes, sizeof id_bytes);
    json_auto_t *jail = sandbox_limits_to_jail_json(&limits);
    conversation_options_t copts = {
        .max_executions = (long)max_exec,
        .restart_in_place = true,
        .worker = jail && json_equal(jail, s->default_jail) && s->pool ? pool_take(s->pool)
                                                                       : NULL,
        .journal_dir = s->journal_dir,
        .journal_name = id,
        .journal_sync = s->journal_sync,
        .restore = restore,
    };
    conversation_t *conv =
        conversation_new(s->reactor, s->zygote, &conn, &limits, &copts, why, sizeof why);
    char full[512];
    if (capacity_end(s->capacity, full, sizeof full) < 0 && conv) {
        json_decref(restored);
        conversation_discard(&conv); /* nobody was told of it: no journal stays */
        log_warn("refused a start: %s", full);
        s_reply_error(r, "TooManyConversations", full);
        return;
    }
    if (!conv) {
        json_decref(restored);
        log_error("cannot start a conversation: %s", why);
        s_reply_error(r, "StartFailed", why);
        return;
    }
    entry_t *e = &s->entries[s->n++];
    memset(e, 0, sizeof *e);
    memcpy(e->id, id, sizeof e->id);
    e->conv = conv;
    e->started_ms = reactor_now_ms();
    header_now(e->started);
    e->idle_timeout_s = idle;
    e->lifetime_s = life;
    json_t *connection = connfile_to_json(&conn);
    json_object_set_new(connection, "kernel_name", json_string("sandcell-python"));
    log_info("started conversation %s (%zu running)", e->id, s_active(s));
    json_t *reply = json_pack("{s:s, s:s, s:o, s:s?}", "status", "ok", "id", e->id, "connection",
                              connection, "journal", conversation_journal_path(conv));
    if (restored)
        json_object_set_new(reply, "restored_from", restored);
    s_reply(r, reply, NULL, 0);
    sodium_memzero(key, sizeof key);
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
        json_object_set_new(json_array_get(list, json_array_size(list) - 1), "limits",
                            s_limits_json(e));
    }
    s_reply(r, json_pack("{s:s, s:o}", "status", "ok", "conversations", list), NULL, 0);
}

static void s_stop(control_req_t *r)
{
    entry_t *e = s_find(r->s, r);
    if (!e)
        return;
    e->ending = "stopped";
    e->end_reason = "stop";
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

/* The workspace a file request means: the conversation, and the
 * interpreter whose workspace it is. */
typedef struct {
    entry_t *e;
    pid_t pid;
    bool jailed;
} file_target_t;

/* Fills |t| for a file request. Returns false when there is no workspace
 * to use: after an error reply (no such conversation, or a capped one,
 * which has none), or while its interpreter starts (the request waits:
 * r->retry). */
static bool s_file_target(control_req_t *r, file_target_t *t)
{
    t->e = s_find(r->s, r);
    if (!t->e)
        return false;
    t->pid = conversation_interpreter_pid(t->e->conv, &t->jailed);
    if (t->pid > 0)
        return true;
    if (conversation_capped(t->e->conv))
        s_reply_error(r, "FileError", "the conversation reached its cap; its workspace is gone");
    else
        r->retry = true;
    return false;
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

static void s_put_file(control_req_t *r)
{
    file_target_t t;
    if (!s_file_target(r, &t))
        return;
    const char *path = r->req->path;
    const wire_blob_t *b = &r->msg->buffers[0];
    char why[512];
    if (workspace_put(t.pid, t.jailed, path, b->data, b->size, why, sizeof why) < 0) {
        s_reply_error(r, "FileError", why);
        return;
    }
    conversation_journal_file(t.e->conv, path, b->data, b->size);
    s_reply_file(r, path, b->size, NULL);
}

static void s_get_file(control_req_t *r)
{
    file_target_t t;
    if (!s_file_target(r, &t))
        return;
    const char *path = r->req->path;
    void *data;
    size_t len;
    char why[512];
    if (workspace_get(t.pid, t.jailed, path, &data, &len, why, sizeof why) < 0) {
        s_reply_error(r, "FileError", why);
        return;
    }
    wire_frame_t buffer = {data, len};
    s_reply_file(r, path, len, &buffer);
    free(data);
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
        wire_msg_t *msg = tag;
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
        wire_msg_clear(msg);
        free(msg);
    }
}
