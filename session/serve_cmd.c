/* serve_cmd — the daemon. One reactor drives the control socket, every
 * conversation's sockets and interpreters, the pool and the zygote.
 *
 * Start-up order is the kernel's (kernel_cmd.c): the zygote is forked
 * before any ZeroMQ context exists. Conversations end at safe points: a
 * handler or a tick only marks one ending, and the before-sleep hook
 * destroys it (redis freeClientAsync). The runtime file holds the control
 * key; it is claimed (runtime_file.h: one daemon per file) before the
 * zygote starts, written 0600, and removed on a clean exit if it is still
 * the file this daemon wrote. */
#include "serve_cmd.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capacity.h"
#include "control_request.h"
#include "conversation.h"
#include "header.h"
#include "journal.h"
#include "journal_retention.h"
#include "log.h"
#include "msgtype.h"
#include "outbox.h"
#include "paths.h"
#include "pool.h"
#include "reactor.h"
#include "restore.h"
#include "restore_loader.h"
#include "runtime_file.h"
#include "util.h"
#include "wire_io.h"
#include "workspace.h"
#include "zygote_client.h"

/* Threads that write and sync the journals: fdatasync()s of different
 * files run in parallel (the filesystem may merge their commits). */
#define JOURNAL_SYNC_THREADS 4

typedef struct {
    char id[16];
    conversation_t *conv;
    long long started_ms;
    char started[HEADER_DATE_LEN + 1];
    double idle_timeout_s, lifetime_s;
    const char *ending; /* why it ends at the next safe point, or NULL */
    const char *end_reason; /* the same, for the journal's end record */
} entry_t;

/* A file request waiting for its conversation's interpreter to be ready. */
typedef struct {
    wire_msg_t msg;
    long long deadline_ms;
} pending_t;

#define PENDING_MAX 256
#define PENDING_WAIT_MS 30000

/* A conversation that ended, and why and when: a request naming it later
 * is told so rather than that no such conversation exists. The last
 * ENDED_MAX are kept. */
typedef struct {
    char id[16];
    char why[200];
} ended_t;

#define ENDED_MAX 256

typedef struct {
    const cli_options_t *opts;
    sandbox_limits_t limits; /* the defaults, resolved */
    char data_dir[PATH_MAX];
    char journal_dir_storage[PATH_MAX];
    const char *journal_dir; /* NULL: --no-journal */
    reactor_t *reactor;
    zygote_client_t *zygote;
    journal_sync_t *journal_sync; /* writes the journals off the loop, or NULL */
    restore_loader_t *restore_loader; /* reads journals to restore off the loop, or NULL */
    pool_t *pool;
    capacity_t *capacity;
    json_t *default_jail;
    zsock_t *control;
    outbox_t *outbox; /* control replies kept for clients that have no room */
    bool control_writable; /* the reactor watches the control socket for room */
    signer_t *signer;
    char session_id[HEADER_ID_LEN + 1];
    char ip[64];
    entry_t *entries;
    size_t n, cap;
    int sigfd;
    int status;
    char runtime_path[PATH_MAX];
    runtime_file_t *runtime; /* claimed before the zygote starts */
    pending_t pending[PENDING_MAX];
    size_t npending;
    long long retention_next_ms; /* when the journal folder is next trimmed */
    ended_t ended[ENDED_MAX]; /* a ring; ended_next is the next slot */
    size_t ended_next;
    bool trim_pending;       /* a conversation ended since the heap was trimmed */
    long long trim_next_ms;  /* the earliest time of the next trim */
} server_t;

typedef struct {
    server_t *s;
    wire_msg_t *msg;
    const control_request_t *req; /* the parsed content of msg */
    bool retry; /* set by a handler that must wait for an interpreter */
    /* start_request with "restore", second pass: the journals were read
     * off the loop (restore_loader); |restored| is owned by s_start, NULL
     * with |restore_why| when they could not be used. */
    bool restore_read;
    restore_t *restored;
    const char *restore_why;
} control_req_t;



/* ------------------------------------------------------------- replies */

static void s_on_control_writable(void *arg);

/* Watches the control socket for room while replies are kept, not after. */
static void s_watch_outbox(server_t *s)
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
    s_watch_outbox(s);
}

static void s_reply(control_req_t *r, json_t *content, const wire_frame_t *buffers, size_t nbuf)
{
    char type[64];
    if (msgtype_reply_name(wire_msg_type(r->msg), type, sizeof type) < 0)
        snprintf(type, sizeof type, "error");
    /* A reply that does not fit is kept, in order, for its client (outbox.h). */
    outbox_send(r->s->outbox, r->msg->identities, r->msg->n_identities, type,
                &r->msg->raw_header, content, buffers, nbuf);
    s_watch_outbox(r->s);
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
static void s_remember_end(server_t *s, const entry_t *e)
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

/* The limits recorded in a restored journal's header, over the daemon's
 * defaults: a restored conversation keeps its own unless the request
 * overrides them. */
static void s_restored_limits(const json_t *recorded, sandbox_limits_t *limits, double *max_exec)
{
    const json_t *v;
    if (json_is_number(v = json_object_get(recorded, "timeout_s")))
        limits->timeout_s = json_number_value(v);
    if (json_is_number(v = json_object_get(recorded, "input_timeout_s")))
        limits->input_timeout_s = json_number_value(v);
    if (json_is_integer(v = json_object_get(recorded, "memory_mib")))
        limits->memory_mib = (long)json_integer_value(v);
    if (json_is_integer(v = json_object_get(recorded, "pids")))
        limits->pids = (long)json_integer_value(v);
    if (json_is_number(v = json_object_get(recorded, "cpus")))
        limits->cpus = json_number_value(v);
    if (json_is_integer(v = json_object_get(recorded, "disk_mib")))
        limits->disk_mib = (long)json_integer_value(v);
    if (json_is_integer(v = json_object_get(recorded, "open_files")))
        limits->open_files = (long)json_integer_value(v);
    if (json_is_integer(v = json_object_get(recorded, "max_output_bytes")))
        limits->max_output_mib = (long)(json_integer_value(v) >> 20);
    if (json_is_integer(v = json_object_get(recorded, "max_executions")))
        *max_exec = (double)json_integer_value(v);
}

static void s_start(control_req_t *r)
{
    server_t *s = r->s;
    const cli_options_t *o = s->opts;
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

/* The interpreter whose workspace a file request means. While it starts,
 * the request waits (r->retry); a capped conversation has none. */
static pid_t s_workspace_of(control_req_t *r, entry_t *e, bool *jailed)
{
    pid_t pid = conversation_interpreter_pid(e->conv, jailed);
    if (pid > 0)
        return pid;
    if (conversation_capped(e->conv))
        s_reply_error(r, "FileError", "the conversation reached its cap; its workspace is gone");
    else
        r->retry = true;
    return 0;
}

static void s_put_file(control_req_t *r)
{
    entry_t *e = s_find(r->s, r);
    bool jailed;
    pid_t pid = e ? s_workspace_of(r, e, &jailed) : 0;
    if (pid <= 0)
        return;
    const char *path = r->req->path;
    char why[512];
    const wire_blob_t *b = &r->msg->buffers[0];
    if (workspace_put(pid, jailed, path, b->data, b->size, why, sizeof why) < 0) {
        s_reply_error(r, "FileError", why);
        return;
    }
    conversation_journal_file(e->conv, path, b->data, b->size);
    s_reply(r, json_pack("{s:s, s:s, s:I}", "status", "ok", "path", path, "size",
                         (json_int_t)b->size),
            NULL, 0);
}

static void s_get_file(control_req_t *r)
{
    entry_t *e = s_find(r->s, r);
    bool jailed;
    pid_t pid = e ? s_workspace_of(r, e, &jailed) : 0;
    if (pid <= 0)
        return;
    const char *path = r->req->path;
    char why[512];
    void *data;
    size_t len;
    if (workspace_get(pid, jailed, path, &data, &len, why, sizeof why) < 0) {
        s_reply_error(r, "FileError", why);
        return;
    }
    wire_frame_t buffer = {data, len};
    s_reply(r, json_pack("{s:s, s:s, s:I}", "status", "ok", "path", path, "size",
                         (json_int_t)len),
            &buffer, 1);
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
static void s_retry_pending(server_t *s, long long now)
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

static void s_on_control(void *arg)
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
static void s_on_restored(void *arg)
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

static void s_drop_held(void *tag)
{
    wire_msg_clear(tag);
    free(tag);
}

static void s_on_signal(void *arg)
{
    server_t *s = arg;
    struct signalfd_siginfo si;
    if (read(s->sigfd, &si, sizeof si) == sizeof si)
        log_info("received signal %u; stopping every conversation", si.ssi_signo);
    reactor_stop(s->reactor);
}

static void s_on_zygote_event(void *arg, json_t *event)
{
    server_t *s = arg;
    if (s->pool && pool_zygote_event(s->pool, event))
        return;
    for (size_t i = 0; i < s->n; i++)
        if (conversation_zygote_event(s->entries[i].conv, event))
            return;
}

static void s_on_zygote(void *arg)
{
    server_t *s = arg;
    if (zygote_client_dispatch(s->zygote) < 0) {
        s->status = 1;
        reactor_stop(s->reactor);
    }
}

/* The safe point: conversations marked ending (or shut down by their
 * client) are destroyed here, never inside the handler that noticed. */
static void s_on_journal_sync(void *arg)
{
    server_t *s = arg;
    journal_sync_dispatch(s->journal_sync);
}

static void s_before_sleep(void *arg)
{
    server_t *s = arg;
    if (s->pool)
        pool_tick(s->pool, reactor_now_ms());
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        entry_t *e = &s->entries[i];
        if (!e->ending && conversation_closed(e->conv)) {
            const char *why = conversation_closed_why(e->conv);
            e->ending = why ? why : "shut down by its client";
            e->end_reason = why ? "stalled" : "shutdown";
        }
        if (e->ending) {
            log_info("conversation %s ended: %s", e->id, e->ending);
            s_remember_end(s, e);
            conversation_end_journal(e->conv, e->end_reason);
            conversation_destroy(&e->conv);
            s->trim_pending = true;
            continue;
        }
        s->entries[k++] = *e;
    }
    s->n = k;
}

/* Gives the heap an ended conversation freed back to the system. glibc
 * keeps freed memory below the top of its heap: a daemon that once held
 * a flood's output (queues for a slow subscriber, big records) would keep
 * its peak for good (the soak test saw 8 MiB grow to 50 MiB and stay
 * there, back to 9 MiB after malloc_trim). At most once a second: it walks
 * the heap. */
#define TRIM_EVERY_MS 1000

static void s_trim_heap(server_t *s, long long now)
{
    if (!s->trim_pending || now < s->trim_next_ms)
        return;
    malloc_trim(0);
    s->trim_pending = false;
    s->trim_next_ms = now + TRIM_EVERY_MS;
}

#define RETENTION_EVERY_MS (3600LL * 1000)

static bool s_journal_is_live(const char *name, void *arg)
{
    const server_t *s = arg;
    for (size_t i = 0; i < s->n; i++) {
        size_t n = strlen(s->entries[i].id);
        if (strncmp(name, s->entries[i].id, n) == 0 && strcmp(name + n, ".jsonl") == 0)
            return true;
    }
    return false;
}

/* Applies --journal-retention and --journal-max-size to the journal
 * folder (journal_retention.h); a conversation still listed, ending or
 * not, keeps its journal. */
static void s_apply_retention(server_t *s)
{
    const cli_options_t *o = s->opts;
    if (!s->journal_dir || (o->journal_retention_days <= 0 && o->journal_max_mib <= 0))
        return;
    journal_retention_stats_t st;
    int rc = journal_retention_apply(s->journal_dir, (double)o->journal_retention_days * 86400,
                                     (uint64_t)o->journal_max_mib << 20, time(NULL),
                                     s_journal_is_live, s, &st);
    if (rc < 0)
        log_warn("journal retention: cannot read %s: %s", s->journal_dir, strerror(-rc));
    else if (st.removed)
        log_info("journal retention: removed %zu journals (%llu bytes), kept %zu (%llu bytes)",
                 st.removed, (unsigned long long)st.removed_bytes, st.kept,
                 (unsigned long long)st.kept_bytes);
}

static void s_tick(void *arg)
{
    server_t *s = arg;
    long long now = reactor_now_ms();
    s_trim_heap(s, now);
    if (outbox_pending(s->outbox)) { /* also when the socket's signal was missed */
        outbox_flush(s->outbox);
        s_watch_outbox(s);
    }
    s_retry_pending(s, now);
    if (now >= s->retention_next_ms) {
        s_apply_retention(s);
        s->retention_next_ms = now + RETENTION_EVERY_MS;
    }
    for (size_t i = 0; i < s->n; i++) {
        entry_t *e = &s->entries[i];
        if (e->ending)
            continue;
        conversation_tick(e->conv, now);
        if (e->lifetime_s > 0 && now - e->started_ms > (long long)(e->lifetime_s * 1000)) {
            e->ending = "its lifetime is over (--lifetime)";
            e->end_reason = "lifetime";
        } else if (e->idle_timeout_s > 0 &&
                   now - conversation_last_activity_ms(e->conv) >
                       (long long)(e->idle_timeout_s * 1000)) {
            e->ending = "idle for too long (--idle-timeout)";
            e->end_reason = "idle";
        }
    }
}

/* -------------------------------------------------------- runtime file */

int serve_runtime_path(const char *given, char *out, size_t len)
{
    const char *env = getenv("SANDCELL_RUNTIME_FILE");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (given && given[0])
        n = snprintf(out, len, "%s", given);
    else if (env && env[0])
        n = snprintf(out, len, "%s", env);
    else if (xdg && xdg[0])
        n = snprintf(out, len, "%s/sandcell-serve.json", xdg);
    else
        n = snprintf(out, len, "/tmp/sandcell-%d/serve.json", (int)getuid());
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Binds the control socket; returns its port or -1. */
static int s_bind_control(server_t *s, char *why, size_t why_len)
{
    const char *endpoint = s->opts->control ? s->opts->control : "tcp://127.0.0.1:*";
    if (strncmp(endpoint, "tcp://", 6) != 0) {
        snprintf(why, why_len, "--control %s: only tcp://IP:PORT endpoints are supported",
                 endpoint);
        return -1;
    }
    const char *colon = strrchr(endpoint + 6, ':');
    size_t iplen = colon ? (size_t)(colon - (endpoint + 6)) : 0;
    if (!colon || iplen == 0 || iplen >= sizeof s->ip) {
        snprintf(why, why_len, "--control %s: expected tcp://IP:PORT", endpoint);
        return -1;
    }
    memcpy(s->ip, endpoint + 6, iplen);
    s->ip[iplen] = '\0';
    s->control = zsock_new(ZMQ_ROUTER);
    if (!s->control) {
        snprintf(why, why_len, "cannot create the control socket");
        return -1;
    }
    zsock_set_linger(s->control, 1000);
    zsock_set_router_mandatory(s->control, 1);
    char bound[256];
    size_t len = sizeof bound;
    if (zmq_bind(zsock_resolve(s->control), endpoint) < 0 ||
        zmq_getsockopt(zsock_resolve(s->control), ZMQ_LAST_ENDPOINT, bound, &len) < 0) {
        snprintf(why, why_len, "cannot bind the control endpoint %s: %s", endpoint,
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    return atoi(strrchr(bound, ':') + 1);
}

int serve_cmd_run(const cli_options_t *opts)
{
    if (opts->verbose)
        log_set_level(LEVEL_DEBUG);
    server_t s = {.opts = opts, .limits = opts->limits, .sigfd = -1};
    char why[1600];
    if (sandbox_limits_resolve(&s.limits, s.data_dir, sizeof s.data_dir, why, sizeof why) < 0 ||
        serve_runtime_path(opts->runtime_file, s.runtime_path, sizeof s.runtime_path) < 0) {
        fprintf(stderr, "sandcell serve: %s\n", why);
        return 2;
    }
    if (s.limits.no_jail)
        log_warn("UNSAFE: --no-jail: interpreters run with the daemon's own user, files and "
                 "network; never use it for code you do not trust");
    else if (s.limits.no_cgroups)
        log_warn("UNSAFE: --no-cgroups: no memory, pids or cpu limits beyond rlimits");
    if (sandbox_limits_check_cgroups(&s.limits, true, why, sizeof why) < 0) {
        fprintf(stderr, "sandcell serve: %s\n", why);
        return 2;
    }
    if (!opts->no_journal) {
        char dflt[PATH_MAX];
        const char *dir = opts->journal_dir;
        if (!dir && journal_default_dir(dflt, sizeof dflt) == 0)
            dir = dflt;
        if (!dir) {
            fprintf(stderr, "sandcell serve: neither XDG_STATE_HOME nor HOME is set; give "
                            "--journal-dir DIR or --no-journal\n");
            return 2;
        }
        if (journal_prepare_dir(dir, s.journal_dir_storage, sizeof s.journal_dir_storage, why,
                                sizeof why) < 0) {
            fprintf(stderr, "sandcell serve: %s\n", why);
            return 2;
        }
        s.journal_dir = s.journal_dir_storage;
    }
    char worker[PATH_MAX];
    if (paths_worker(worker, sizeof worker) < 0) {
        fprintf(stderr, "sandcell serve: cannot find sandcell-worker\n");
        return 1;
    }
    /* One daemon per runtime file: refuse before anything starts. */
    pid_t holder;
    s.runtime = runtime_file_claim(s.runtime_path, &holder, why, sizeof why);
    if (!s.runtime) {
        fprintf(stderr, "sandcell serve: %s\n", why);
        return holder >= 0 ? 2 : 1;
    }
    signal(SIGPIPE, SIG_IGN);
    zygote_config_t zc = {worker, opts->preload, opts->mock_interpreter};
    s.zygote = zygote_client_start(&zc); /* before any ZeroMQ context: it forks */
    if (!s.zygote) {
        runtime_file_release(&s.runtime);
        return 1;
    }
    int preload_rc = zygote_client_check_preload(s.zygote, opts->preload_given, why, sizeof why);
    if (preload_rc) {
        fprintf(stderr, "sandcell serve: %s\n", why);
        zygote_client_stop(&s.zygote);
        runtime_file_release(&s.runtime);
        return preload_rc;
    }
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGINT);
    sigaddset(&term, SIGHUP);
    sigprocmask(SIG_BLOCK, &term, NULL);
    s.sigfd = signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);

    zsys_handler_set(NULL);
    unsigned char key_bytes[32];
    char key[65];
    randombytes_buf(key_bytes, sizeof key_bytes);
    sodium_bin2hex(key, sizeof key, key_bytes, sizeof key_bytes);
    header_new_id(s.session_id);
    s.signer = signer_new(key, strlen(key));
    s.reactor = reactor_new();
    s.default_jail = sandbox_limits_to_jail_json(&s.limits);
    /* Before the first ZeroMQ socket: it sets ZeroMQ's socket limit. */
    s.capacity = capacity_new(opts->max_conversations, opts->pool);
    int port = s.signer && s.reactor && s.default_jail && s.capacity
                   ? s_bind_control(&s, why, sizeof why)
                   : -1;
    if (port >= 0)
        s.outbox = outbox_new(zsock_resolve(s.control), s.signer, s.session_id);
    if (port >= 0 && !s.outbox) {
        snprintf(why, sizeof why, "out of memory");
        port = -1;
    }
    if (port < 0 || runtime_file_write(s.runtime, s.ip, port, key, why, sizeof why) < 0) {
        fprintf(stderr, "sandcell serve: %s\n", port < 0 && !s.signer ? "out of memory" : why);
        s.status = 1;
        goto out;
    }
    sodium_memzero(key, sizeof key);
    if (s.journal_dir) {
        s.journal_sync = journal_sync_new(JOURNAL_SYNC_THREADS);
        if (!s.journal_sync || reactor_add(s.reactor, NULL, journal_sync_fd(s.journal_sync),
                                           s_on_journal_sync, &s) < 0) {
            fprintf(stderr, "sandcell serve: cannot start the journal threads\n");
            s.status = 1;
            goto out;
        }
        s.restore_loader = restore_loader_new(s.journal_dir);
        if (!s.restore_loader || reactor_add(s.reactor, NULL, restore_loader_fd(s.restore_loader),
                                             s_on_restored, &s) < 0) {
            fprintf(stderr, "sandcell serve: cannot set up the journal reader\n");
            s.status = 1;
            goto out;
        }
    }
    if (opts->pool > 0)
        s.pool = pool_new(s.reactor, s.zygote, s.default_jail, (int)opts->pool);
    zygote_client_set_listener(s.zygote, s_on_zygote_event, &s);
    if (s.sigfd < 0 || reactor_add(s.reactor, zsock_resolve(s.control), -1, s_on_control, &s) < 0 ||
        reactor_add(s.reactor, NULL, zygote_client_fd(s.zygote), s_on_zygote, &s) < 0 ||
        reactor_add(s.reactor, NULL, s.sigfd, s_on_signal, &s) < 0) {
        fprintf(stderr, "sandcell serve: cannot set up the event loop\n");
        s.status = 1;
        goto out;
    }
    s_apply_retention(&s); /* at start, then hourly on the tick */
    s.retention_next_ms = reactor_now_ms() + RETENTION_EVERY_MS;
    reactor_set_hooks(s.reactor, s_before_sleep, s_tick, 100, &s);
    log_info("serving on tcp://%s:%d; runtime file %s; journals %s; up to %ld conversations "
             "(open-file limit %ld)",
             s.ip, port, s.runtime_path, s.journal_dir ? s.journal_dir : "off (--no-journal)",
             capacity_max(s.capacity), capacity_nofile(s.capacity));
    if (reactor_run(s.reactor) < 0)
        s.status = 1;
out:
    for (size_t i = 0; i < s.n; i++) {
        conversation_end_journal(s.entries[i].conv, "daemon-exit");
        conversation_destroy(&s.entries[i].conv);
    }
    if (s.restore_loader) {
        reactor_remove(s.reactor, NULL, restore_loader_fd(s.restore_loader));
        restore_loader_destroy(&s.restore_loader, s_drop_held); /* waits for the one it reads */
    }
    if (s.journal_sync) {
        reactor_remove(s.reactor, NULL, journal_sync_fd(s.journal_sync));
        journal_sync_destroy(&s.journal_sync); /* every record queued reaches the disk */
    }
    free(s.entries);
    for (size_t i = 0; i < s.npending; i++)
        wire_msg_clear(&s.pending[i].msg);
    pool_destroy(&s.pool);
    capacity_destroy(&s.capacity);
    outbox_destroy(&s.outbox);
    zsock_destroy(&s.control);
    signer_destroy(&s.signer);
    json_decref(s.default_jail);
    zygote_client_stop(&s.zygote);
    reactor_destroy(&s.reactor);
    if (s.sigfd >= 0)
        close(s.sigfd);
    runtime_file_release(&s.runtime); /* the runtime file only if it is still ours */
    zsys_shutdown();
    return s.status;
}
