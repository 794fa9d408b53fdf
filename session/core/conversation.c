/* conversation — sockets, request queue and interpreter events of one
 * conversation. Handlers live in handlers.c; this file owns the order of
 * things: busy, handler, reply, outputs, idle. An execute_reply whose
 * journal record is still on its way to the disk is held, and every
 * message after it with it, until the record is synced (s_hold,
 * s_release); other conversations go on meanwhile.
 *
 * Everything that arrives from the interpreter is untrusted: records are
 * bounded by the channel, decoded by interp_record (NUL kept, bad UTF-8
 * replaced), checked against the Jupyter schema of their type
 * (content_check, worker_record_parse), and only the iopub message types
 * it knows as outputs are published; a record that fails becomes an
 * InvalidOutput error. No limit rests on a record: the time limits run on
 * the daemon's clock from the forward, and between a reply (or an
 * input_request) and the next request (or input_reply) the interpreter's
 * process group is stopped, so a forged record only ends or holds its own
 * cell sooner (docs/design-decisions.md, "What the daemon believes from an
 * interpreter"). */
#include "conversation_internal.h"

#include <czmq.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "content_check.h"
#include "header.h"
#include "interp_record.h"
#include "log.h"
#include "msgtype.h"
#include "util.h"
#include "wire_io.h"

/* Messages read from one socket per wakeup, so no client starves others. */
#define MAX_BATCH 64
/* How long the manager waits for a dead interpreter's exit status. */
#define EXIT_REPORT_GRACE_MS 2000
/* Consecutive interpreter start failures before giving up. */
#define MAX_START_FAILURES 3

static const char *const s_channel_names[CONN_NCHANNELS] = {
    [CONN_SHELL] = "shell", [CONN_IOPUB] = "iopub", [CONN_STDIN] = "stdin",
    [CONN_CONTROL] = "control", [CONN_HB] = "hb",
};

static void s_pump(conversation_t *c);
static size_t s_max_record(const conversation_t *c);
static void s_read_socket(conversation_t *c, conn_channel_t ch);

/* ---------------------------------------------------------------- sending */

static void s_on_writable(void *arg);

/* Sends one message now, without waiting. Returns false when the client's
 * queue is full (a ROUTER's peer at its high-water mark): the caller
 * holds the message and tries again when the socket is writable. A
 * message for a client that is gone (EHOSTUNREACH) is dropped, logged.
 * Does not take ownership of |content|. */
static bool s_send_now(conversation_t *c, conn_channel_t ch, const wire_blob_t *ids,
                       size_t n_ids, const char *msg_type, const wire_blob_t *parent,
                       json_t *content)
{
    if (wire_io_send(c->sockets[ch], c->signer, c->session_id, ids, n_ids, msg_type, parent,
                     json_incref(content), NULL, 0) == 0)
        return true;
    if (errno == EAGAIN && ch != CONN_IOPUB) {
        if (!c->want_writable[ch] &&
            reactor_set_writable(c->reactor, c->sockets[ch], -1, s_on_writable) == 0)
            c->want_writable[ch] = true;
        return false;
    }
    log_warn("cannot send %s on %s: %s", msg_type, s_channel_names[ch],
             errno == EHOSTUNREACH ? "the client is gone" : zmq_strerror(errno));
    return true;
}

static bool s_blob_copy(wire_blob_t *to, const wire_blob_t *from)
{
    to->size = from->size;
    to->data = malloc(from->size ? from->size : 1);
    if (to->data && from->size)
        memcpy(to->data, from->data, from->size);
    return to->data != NULL;
}

static void s_held_free(held_t *h)
{
    for (size_t i = 0; i < h->n_ids; i++)
        free(h->ids[i].data);
    free(h->ids);
    free(h->parent.data);
    json_decref(h->content);
    free(h->code);
    json_decref(h->result_text);
    free(h);
}

/* Queues a message behind the held ones; |seq|, if not 0, is the journal
 * record it waits for. Takes ownership of |content|. NULL (and the message
 * is lost, logged) on allocation failure. */
static held_t *s_hold(conversation_t *c, conn_channel_t ch, const wire_blob_t *ids,
                      size_t n_ids, const char *msg_type, const wire_blob_t *parent,
                      json_t *content, uint64_t seq)
{
    held_t *h = calloc(1, sizeof *h);
    bool ok = h && content && strlen(msg_type) < sizeof h->msg_type;
    if (ok) {
        h->channel = ch;
        h->content = content;
        h->seq = seq;
        snprintf(h->msg_type, sizeof h->msg_type, "%s", msg_type);
        h->ids = n_ids ? calloc(n_ids, sizeof *h->ids) : NULL;
        ok = !n_ids || h->ids;
        for (size_t i = 0; ok && i < n_ids; i++, h->n_ids++)
            ok = s_blob_copy(&h->ids[i], &ids[i]);
        h->has_parent = parent != NULL;
        if (ok && parent)
            ok = s_blob_copy(&h->parent, parent);
    }
    if (!ok) {
        log_error("cannot send %s: out of memory", msg_type);
        if (h)
            s_held_free(h);
        else
            json_decref(content);
        return NULL;
    }
    if (c->held_tail)
        c->held_tail->next = h;
    else
        c->held_head = h;
    c->held_tail = h;
    if (++c->n_held > CONVERSATION_MAX_HELD && !c->closed_why[0]) {
        /* Its client has stopped reading: ending it is the only way to
         * keep the daemon's memory bounded without a silent gap. */
        snprintf(c->closed_why, sizeof c->closed_why,
                 "its client did not read its replies (more than %d messages held for it)",
                 CONVERSATION_MAX_HELD);
        log_warn("a conversation %s; ending it", c->closed_why);
        char note[256];
        snprintf(note, sizeof note, "\n[sandcell] this conversation is ended: %s.\n",
                 c->closed_why);
        json_auto_t *note_content = json_pack("{s:s, s:s}", "name", "stderr", "text", note);
        wire_blob_t topic = {(void *)"stream", 6};
        if (note_content) /* past the held ones: they will not be read */
            s_send_now(c, CONN_IOPUB, &topic, 1, "stream", NULL, note_content);
        c->closed = true;
    }
    return h;
}

static void s_send(conversation_t *c, conn_channel_t ch, const wire_blob_t *ids, size_t n_ids,
                   const char *msg_type, const wire_blob_t *parent, json_t *content)
{
    if (c->held_head || !s_send_now(c, ch, ids, n_ids, msg_type, parent, content))
        s_hold(c, ch, ids, n_ids, msg_type, parent, content, 0); /* keeps the order */
    else
        json_decref(content);
}

/* Sends the held messages whose journal records are done, in order, up to
 * the first that still waits; adds each record's history entry once it is
 * on disk. Then starts the next request if nothing is held any more. */
static void s_release(conversation_t *c)
{
    while (c->held_head) {
        held_t *h = c->held_head;
        bool on_disk = false;
        if (h->seq && !journal_done(c->journal, h->seq, &on_disk))
            return;
        if (h->seq && on_disk && h->add_history)
            history_add(c->history, h->execution_count, h->code, h->result_text);
        h->seq = 0; /* its record is done; what is left is the client's queue */
        h->add_history = false;
        if (!s_send_now(c, h->channel, h->ids, h->n_ids, h->msg_type,
                        h->has_parent ? &h->parent : NULL, h->content) &&
            !c->closed)
            return; /* s_on_writable calls again; once closed, what does not fit is dropped */
        c->held_head = h->next;
        if (!c->held_head)
            c->held_tail = NULL;
        c->n_held--;
        s_held_free(h);
    }
    for (int ch = 0; ch < CONN_NCHANNELS; ch++)
        if (c->want_writable[ch]) {
            reactor_set_writable(c->reactor, c->sockets[ch], -1, NULL);
            c->want_writable[ch] = false;
        }
    if (!c->closed)
        s_pump(c);
}

void conversation_journal_synced(void *arg)
{
    s_release(arg);
}

/* A client's queue has room again. */
static void s_on_writable(void *arg)
{
    socket_ctx_t *ctx = arg;
    s_release(ctx->c);
}

void conversation_publish(conversation_t *c, const wire_blob_t *parent, const char *msg_type,
                          json_t *content)
{
    wire_blob_t topic = {(void *)msg_type, strlen(msg_type)};
    conversation_journal_output(c, parent, msg_type, content);
    s_send(c, CONN_IOPUB, &topic, 1, msg_type, parent, content);
}

static void s_status(conversation_t *c, const wire_blob_t *parent, const char *state)
{
    conversation_publish(c, parent, "status", json_pack("{s:s}", "execution_state", state));
}

void conversation_reply(conversation_t *c, request_t *req, json_t *content)
{
    char reply_type[64];
    if (msgtype_reply_name(wire_msg_type(&req->msg), reply_type, sizeof reply_type) < 0) {
        json_decref(content);
        return; /* comm messages and the like have no reply */
    }
    conversation_begin(c, req);
    uint64_t seq = 0;
    if (strcmp(reply_type, "execute_reply") == 0)
        seq = conversation_journal_cell(c, req, content); /* on disk before the reply is out */
    if (!seq) {
        s_send(c, req->channel, req->msg.identities, req->msg.n_identities, reply_type,
               &req->msg.raw_header, content);
        return;
    }
    /* The record is on its way to the disk: the reply, and everything of
     * this conversation after it, waits for it (s_release). */
    held_t *h = s_hold(c, req->channel, req->msg.identities, req->msg.n_identities, reply_type,
                       &req->msg.raw_header, content, seq);
    if (h && req->store_history && req->code) {
        h->add_history = true;
        h->execution_count = req->execution_count;
        h->code = steal_pointer(&req->code);
        h->result_text = steal_pointer(&req->result_text);
    }
}

void conversation_reply_error(conversation_t *c, request_t *req, const char *ename,
                              const char *evalue)
{
    if (strcmp(wire_msg_type(&req->msg), "execute_request") != 0) {
        conversation_reply(c, req, json_pack("{s:s, s:s, s:s, s:[]}", "status", "error",
                                             "ename", ename, "evalue", evalue, "traceback"));
        return;
    }
    /* A refused cell shows its error where every cell's output goes. */
    conversation_begin(c, req);
    json_t *error = json_pack("{s:s, s:s, s:[s++]}", "ename", ename, "evalue", evalue,
                              "traceback", ename, ": ", evalue);
    conversation_publish(c, &req->msg.raw_header, "error", json_deep_copy(error));
    json_object_set_new(error, "status", json_string("error"));
    json_object_set_new(error, "execution_count", json_integer(c->execution_count));
    conversation_reply(c, req, error);
}

/* -------------------------------------------------------------- requests */

static void s_request_free(request_t *req)
{
    wire_msg_clear(&req->msg);
    free(req->code);
    json_decref(req->result_text);
    json_decref(req->outputs);
    free(req);
}

void conversation_begin(conversation_t *c, request_t *req)
{
    if (!req->busy_sent)
        s_status(c, &req->msg.raw_header, "busy");
    req->busy_sent = true;
}

static void s_end(conversation_t *c, request_t *req)
{
    conversation_begin(c, req);
    s_status(c, &req->msg.raw_header, "idle");
    for (size_t i = 0; i < ARRAY_SIZE(c->recording); i++)
        if (c->recording[i] == req)
            c->recording[i] = NULL;
    s_request_free(req);
}

static bool s_interpreter_usable(const conversation_t *c)
{
    return c->worker && c->worker->state == WORKER_IDLE;
}

static bool s_interpreter_broken(const conversation_t *c)
{
    return !c->worker;
}

/* Runs |req| through its handler between busy and idle. A request for
 * the interpreter announces busy once it is on its way there
 * (conversation_forward), to keep that off the critical path. */
static void s_run(conversation_t *c, request_t *req, const handler_t *h)
{
    const char *type = wire_msg_type(&req->msg);
    const msgtype_t *known = msgtype_lookup(type);
    conversation_journal_begin(c, req);
    if (!h->needs_interpreter)
        conversation_begin(c, req);
    if (known && !(known->channels & (req->channel == CONN_CONTROL ? MSG_ON_CONTROL
                                                                    : MSG_ON_SHELL))) {
        char why[160];
        snprintf(why, sizeof why, "%s is not accepted on the %s channel", type,
                 s_channel_names[req->channel]);
        conversation_reply_error(c, req, "WrongChannel", why);
    } else if (req->msg.content_error) {
        conversation_reply_error(c, req, "BadRequest", req->msg.content_error);
    } else if (h->needs_interpreter && c->capped) {
        conversation_reply_capped(c, req);
    } else if (h->needs_interpreter && s_interpreter_broken(c)) {
        char why[600];
        snprintf(why, sizeof why, "the interpreter cannot start: %s",
                 c->start_error ? c->start_error : "see the kernel's log");
        conversation_reply_error(c, req, "InterpreterUnavailable", why);
    } else if (h->fn(c, req) == HANDLER_FORWARDED) {
        c->current = req;
        return;
    }
    s_end(c, req);
}

static void s_enqueue(conversation_t *c, request_t *req)
{
    if (c->queue_tail)
        c->queue_tail->next = req;
    else
        c->queue_head = req;
    c->queue_tail = req;
    c->n_queued++;
}

static void s_on_socket(void *arg);

/* A full queue stops the reading of the shell socket: what the client
 * sends next waits in ZeroMQ's queues (bounded by their high-water marks),
 * then in the client, and is read once half the queue has run. */
static void s_pause_shell(conversation_t *c, bool pause)
{
    if (pause == c->shell_paused || !c->sockets[CONN_SHELL])
        return;
    if (pause) {
        reactor_remove(c->reactor, c->sockets[CONN_SHELL], -1);
        c->shell_paused = true;
        log_info("a conversation has %d shell requests queued; reading no more until they run",
                 CONVERSATION_MAX_QUEUED);
    } else if (reactor_add(c->reactor, c->sockets[CONN_SHELL], -1, s_on_socket,
                           &c->socket_ctx[CONN_SHELL]) == 0) {
        c->shell_paused = false;
    }
}

static request_t *s_dequeue(conversation_t *c)
{
    request_t *req = c->queue_head;
    if (req) {
        c->queue_head = req->next;
        if (!c->queue_head)
            c->queue_tail = NULL;
        req->next = NULL;
        c->n_queued--;
        if (c->shell_paused && !c->closed && c->n_queued <= CONVERSATION_MAX_QUEUED / 2)
            s_pause_shell(c, false);
    }
    return req;
}

/* Starts queued shell requests while nothing runs. */
static void s_pump(conversation_t *c)
{
    if (c->held_head)
        return; /* a journal record is on its way: s_release calls again */
    if (conversation_restore_step(c))
        return; /* restored cells run first */
    while (!c->current && c->queue_head && !c->closed) {
        const char *type = wire_msg_type(&c->queue_head->msg);
        const handler_t *h = handlers_lookup(type);
        if (h->needs_interpreter && !s_interpreter_usable(c) && !s_interpreter_broken(c) &&
            !(h = handlers_while_starting(type)))
            return; /* wait for the interpreter */
        s_run(c, s_dequeue(c), h);
    }
}

void conversation_abort_queue(conversation_t *c)
{
    s_read_socket(c, CONN_SHELL); /* requests already sent are aborted too */
    request_t *keep_head = NULL, **keep_tail = &keep_head;
    request_t *req;
    while ((req = s_dequeue(c))) {
        if (strcmp(wire_msg_type(&req->msg), "execute_request") != 0) {
            *keep_tail = req;
            keep_tail = &req->next;
            continue;
        }
        conversation_reply(c, req, json_pack("{s:s, s:i}", "status", "aborted",
                                             "execution_count", c->execution_count));
        s_end(c, req);
    }
    c->queue_head = keep_head;
    c->queue_tail = NULL;
    c->n_queued = 0;
    for (request_t *r = keep_head; r; r = r->next) {
        c->queue_tail = r;
        c->n_queued++;
    }
}

/* ----------------------------------------------------------- receiving */

static void s_on_input_reply(conversation_t *c, wire_msg_t *msg)
{
    if (strcmp(wire_msg_type(msg), "input_reply") != 0 || !c->awaiting_input) {
        log_warn("dropped message on stdin: unexpected %s", wire_msg_type(msg));
        return;
    }
    const char *value = json_string_value(json_object_get(msg->content, "value"));
    json_auto_t *rec = json_pack("{s:s, s:s}", "op", "input_reply", "value", value ? value : "");
    c->awaiting_input = false;
    c->input_deadline_ms = 0;
    worker_thaw(c->worker); /* the time limit ran on meanwhile */
    conversation_send_worker(c, rec);
}

/* Takes ownership of |msg|. */
static void s_route(conversation_t *c, conn_channel_t ch, wire_msg_t *msg)
{
    c->last_activity_ms = reactor_now_ms();
    if (ch == CONN_STDIN) {
        s_on_input_reply(c, msg);
        wire_msg_clear(msg);
        return;
    }
    const handler_t *h = handlers_lookup(wire_msg_type(msg));
    if (!h) {
        log_warn("dropped message on %s: unknown message type %.64s", s_channel_names[ch],
                 wire_msg_type(msg));
        wire_msg_clear(msg);
        return;
    }
    request_t *req = calloc(1, sizeof *req);
    if (!req) {
        log_error("dropped message on %s: out of memory", s_channel_names[ch]);
        wire_msg_clear(msg);
        return;
    }
    req->msg = *msg;
    req->channel = ch;
    memset(msg, 0, sizeof *msg);
    if (ch == CONN_CONTROL)
        s_run(c, req, h);
    else
        s_enqueue(c, req);
}

/* Reads up to MAX_BATCH messages from one socket and routes them. */
static void s_read_socket(conversation_t *c, conn_channel_t ch)
{
    for (int batch = 0; batch < MAX_BATCH; batch++) {
        if (ch == CONN_SHELL && c->n_queued >= CONVERSATION_MAX_QUEUED) {
            s_pause_shell(c, true);
            break;
        }
        wire_msg_t msg;
        const char *reason = NULL;
        wire_io_result_t r = wire_io_recv(c->sockets[ch], c->signer, ch == CONN_HB, &msg, &reason);
        if (r == WIRE_IO_NONE)
            break;
        if (r == WIRE_IO_DROPPED)
            log_warn("dropped message on %s: %s", s_channel_names[ch], reason);
        else if (r == WIRE_IO_MESSAGE)
            s_route(c, ch, &msg);
    }
}

static void s_on_socket(void *arg)
{
    socket_ctx_t *ctx = arg;
    s_read_socket(ctx->c, ctx->channel);
    s_pump(ctx->c);
}

/* ---------------------------------------------------------- interpreter */

static void s_spawn_worker(conversation_t *c);

static void s_on_worker_ready(conversation_t *c, json_t *rec)
{
    worker_t *w = c->worker;
    if (w->state != WORKER_STARTING || !worker_set_ready(w, rec)) {
        log_warn("ignoring a second ready record from the interpreter");
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
 * three the interpreter's words are kept and the limit is added. */
static void s_explain_error(conversation_t *c, const request_t *req, json_t *content)
{
    const char *ename = json_string_value(json_object_get(content, "ename"));
    const char *was = json_string_value(json_object_get(content, "evalue"));
    char evalue[600];
    if (!ename)
        return;
    if (!was)
        was = "";
    bool jailed = !c->limits.no_jail;
    if (jailed && (strncmp(was, "[Errno 27]", 10) == 0 || strncmp(was, "[Errno 28]", 10) == 0)) {
        snprintf(evalue, sizeof evalue,
                 "%.400s (the cell reached the %ld MiB disk limit of /workspace and /tmp)", was,
                 c->limits.disk_mib);
    } else if (jailed && strncmp(was, "[Errno 24]", 10) == 0) {
        snprintf(evalue, sizeof evalue, "%.400s (the cell reached the limit of %ld open files)",
                 was, c->limits.open_files);
    } else if (jailed && c->limits.pids > 0 &&
               ((strcmp(ename, "BlockingIOError") == 0 && strncmp(was, "[Errno 11]", 10) == 0 &&
                 (s_traceback_mentions(content, "fork") ||
                  s_traceback_mentions(content, "spawn"))) ||
                (strcmp(ename, "RuntimeError") == 0 &&
                 strcmp(was, "can't start new thread") == 0))) {
        snprintf(evalue, sizeof evalue,
                 "%.400s (the cell reached the limit of %ld processes and threads)", was,
                 c->limits.pids);
    } else if (c->stopped_by != LIMIT_NONE && strcmp(ename, "KeyboardInterrupt") == 0) {
        s_limit_text(c, req, evalue, sizeof evalue);
        json_object_set_new(content, "ename", json_string("TimeoutError"));
    } else if (strcmp(ename, "MemoryError") == 0 && !c->limits.no_jail) {
        snprintf(evalue, sizeof evalue, "the cell exceeded the %ld MiB memory limit%s",
                 c->limits.memory_mib,
                 c->limits.no_cgroups ? " (--no-cgroups: the private memory each process "
                                        "maps beyond what it started with)" : "");
    } else {
        return;
    }
    json_object_set_new(content, "evalue", json_string(evalue));
    json_t *tb = json_object_get(content, "traceback");
    if (json_is_array(tb) && json_array_size(tb) > 0) {
        char last[700];
        snprintf(last, sizeof last, "%s: %s",
                 json_string_value(json_object_get(content, "ename")), evalue);
        json_array_set_new(tb, json_array_size(tb) - 1, json_string(last));
    }
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
        return; /* s_finish_execute explains its error */
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

static void s_finish_execute(conversation_t *c, request_t *req, json_t *content)
{
    if (json_is_string(json_object_get(content, "ename")))
        s_explain_error(c, req, content);
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
    log_warn("%s", evalue);
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
        log_warn("ignoring a reply from the interpreter: no request is running");
        return;
    }
    /* A reply to an earlier request (its cell was ended by a forged reply
     * and answers now) would shift every later reply by one. The number is
     * no secret from user code: matching it only keeps the honest runtime
     * in step, it proves nothing. */
    json_t *seq = json_object_get(rec, "seq");
    if (!json_is_integer(seq) || json_integer_value(seq) != c->request_seq) {
        log_warn("ignoring a reply from the interpreter to an earlier request");
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
    if (strcmp(wire_msg_type(&req->msg), "execute_request") == 0)
        s_finish_execute(c, req, reply);
    c->stopped_by = LIMIT_NONE;
    conversation_reply(c, req, reply);
    s_end(c, req);
    if (c->capped && c->worker) { /* the cap is reached: nothing of it stays */
        reactor_remove(c->reactor, NULL, channel_fd(c->worker->chan));
        worker_destroy(&c->worker);
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

/* Counts a cell's output against --max-output; returns false once over it
 * (errors always pass: they say what went wrong). The stream output that
 * crosses the limit keeps the part that fits (|content| edited), so an
 * oversized write shows its beginning rather than nothing. */
static bool s_output_allowed(conversation_t *c, request_t *req, const char *type, size_t len,
                             json_t *content)
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
        log_warn("dropped %s output from the interpreter: no request is running", type);
        return;
    }
    if (!s_output_allowed(c, req, type, len, content))
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
        log_warn("ignoring an input request from the interpreter: no cell may ask for input now");
        return;
    }
    /* Nothing of the interpreter runs while it waits; the time limit runs
     * on, and the input timeout starts. */
    worker_freeze(c->worker);
    c->awaiting_input = true;
    c->input_deadline_ms = c->limits.input_timeout_s > 0
                               ? reactor_now_ms() + (long long)(c->limits.input_timeout_s * 1000)
                               : 0;
    s_send(c, CONN_STDIN, req->msg.identities, req->msg.n_identities, "input_request",
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
    if (!c->restoring && !s_output_allowed(c, c->current, "stream", len, NULL))
        return;
    char evalue[INTERP_RECORD_WHY_LEN + 64];
    snprintf(evalue, sizeof evalue, "the interpreter sent an output sandcell cannot use: %s",
             what);
    log_warn("%s", evalue);
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

/* Every record is decoded and checked against its schema before anything
 * of it is published or journaled: the interpreter is untrusted, and a
 * record may have been written by a cell. What fails becomes an error
 * output naming the problem, never silence. */
static void s_on_worker_record(conversation_t *c, const char *text, size_t len)
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
            s_finish_execute(c, req, error);
            conversation_reply(c, req, error);
        } else {
            conversation_reply_error(c, req, ename, evalue);
        }
        s_end(c, req);
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
        s_spawn_worker(c);
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
            log_warn("dropped a record from the interpreter larger than the output limit");
            if (c->current && !c->output_capped)
                s_output_allowed(c, c->current, "stream", s_max_record(c) + 1, NULL);
            continue;
        }
        if (rc < 0) {
            s_worker_eof(c);
            break;
        }
        bytes += len;
        s_on_worker_record(c, text, len);
        free(text);
    }
    s_pump(c);
}

/* Records from the interpreter larger than a cell may output are refused
 * while they are read, before they cost the manager any memory. */
static size_t s_max_record(const conversation_t *c)
{
    size_t cap = c->limits.max_output_mib > 0 ? (size_t)c->limits.max_output_mib << 20
                                              : CHANNEL_MAX_RECORD;
    return cap + ((size_t)1 << 20);
}

static void s_spawn_worker(conversation_t *c)
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

/* Takes a ready interpreter from the pool. */
static void s_adopt_worker(conversation_t *c, worker_t *w)
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
        s_spawn_worker(c);
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

long conversation_executions(const conversation_t *c)
{
    return c->executions;
}

long conversation_max_executions(const conversation_t *c)
{
    return c->max_executions;
}

bool conversation_capped(const conversation_t *c)
{
    return c->capped;
}

long long conversation_last_activity_ms(const conversation_t *c)
{
    return c->current ? reactor_now_ms() : c->last_activity_ms;
}

json_t *conversation_connection(const conversation_t *c)
{
    json_t *conn = connfile_to_json(&c->conn);
    json_object_set_new(conn, "kernel_name", json_string("sandcell-python"));
    return conn;
}

const sandbox_limits_t *conversation_limits(const conversation_t *c)
{
    return &c->limits;
}

pid_t conversation_interpreter_pid(const conversation_t *c, bool *jailed)
{
    *jailed = !c->limits.no_jail;
    const worker_t *w = c->worker;
    return w && w->ready && w->pid > 0 && (w->state == WORKER_IDLE || w->state == WORKER_BUSY)
               ? w->pid
               : 0;
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
        s_pump(c);
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
    s_pump(c);
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
        s_release(c); /* a client's queue may have room without the socket saying so */
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
        s_pump(c);
    }
}

/* ------------------------------------------------------------ lifecycle */

static const int s_socket_types[CONN_NCHANNELS] = {
    [CONN_SHELL] = ZMQ_ROUTER, [CONN_IOPUB] = ZMQ_PUB, [CONN_STDIN] = ZMQ_ROUTER,
    [CONN_CONTROL] = ZMQ_ROUTER, [CONN_HB] = ZMQ_REP,
};

/* The port a socket was bound to, from its last endpoint; -1 if unknown. */
static int s_bound_port(void *sock)
{
    char endpoint[256];
    size_t len = sizeof endpoint;
    if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, endpoint, &len) < 0)
        return -1;
    const char *colon = strrchr(endpoint, ':');
    return colon ? atoi(colon + 1) : -1;
}

/* The endpoint to bind: a tcp port of 0 becomes "*", chosen by the system. */
static int s_bind_endpoint(const connfile_t *conn, conn_channel_t ch, char *out, size_t len)
{
    if (strcmp(conn->transport, "tcp") == 0 && conn->ports[ch] == 0) {
        int n = snprintf(out, len, "tcp://%s:*", conn->ip);
        return n < 0 || (size_t)n >= len ? -1 : 0;
    }
    return connfile_endpoint(conn, ch, out, len);
}

conversation_t *conversation_new(reactor_t *reactor, zygote_client_t *zygote, connfile_t *conn,
                                 const sandbox_limits_t *limits,
                                 const conversation_options_t *opts, char *why, size_t why_len)
{
    worker_t *adopt = opts->worker;
    restore_t *restore = opts->restore;
    conversation_t *c = calloc(1, sizeof *c);
    if (!c) {
        worker_destroy(&adopt);
        restore_destroy(&restore);
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    c->max_executions = opts->max_executions;
    c->restart_in_place = opts->restart_in_place;
    c->last_activity_ms = reactor_now_ms();
    c->reactor = reactor;
    c->zygote = zygote;
    c->limits = *limits;
    if (limits->data_dir) {
        snprintf(c->data_dir, sizeof c->data_dir, "%s", limits->data_dir);
        c->limits.data_dir = c->data_dir;
    }
    if (limits->work_dir) {
        snprintf(c->work_dir, sizeof c->work_dir, "%s", limits->work_dir);
        c->limits.work_dir = c->work_dir;
    }
    header_new_id(c->session_id);
    c->signer = signer_new(conn->key, strlen(conn->key));
    c->history = history_new();
    c->jail = sandbox_limits_to_jail_json(&c->limits);
    if (!c->signer || !c->history || !c->jail) {
        snprintf(why, why_len, "out of memory");
        goto fail;
    }
    for (int ch = 0; ch < CONN_NCHANNELS; ch++) {
        char endpoint[300];
        if (s_bind_endpoint(conn, ch, endpoint, sizeof endpoint) < 0) {
            snprintf(why, why_len, "endpoint of %s too long", s_channel_names[ch]);
            goto fail;
        }
        /* libzmq directly, not czmq's zsock_new: a socket that cannot be
         * made (out of descriptors, ZeroMQ's socket limit) fails this
         * start, never the daemon. */
        void *sock = zmq_socket(zsys_init(), s_socket_types[ch]);
        if (!sock) {
            snprintf(why, why_len, "cannot create the %s socket: %s", s_channel_names[ch],
                     zmq_strerror(zmq_errno()));
            goto fail;
        }
        c->sockets[ch] = sock;
        /* Let the last replies out on shutdown. A ROUTER reports a peer
         * whose queue is full (EAGAIN: the reply is held, never dropped)
         * or that is gone; iopub drops at its high-water mark, as PUB does. */
        int linger = 1000, on = 1, iopub_hwm = CONVERSATION_IOPUB_HWM;
        bool router = s_socket_types[ch] == ZMQ_ROUTER;
        if (zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
            (router && zmq_setsockopt(sock, ZMQ_ROUTER_HANDOVER, &on, sizeof on) < 0) ||
            (router && zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &on, sizeof on) < 0) ||
            (ch == CONN_IOPUB &&
             zmq_setsockopt(sock, ZMQ_SNDHWM, &iopub_hwm, sizeof iopub_hwm) < 0)) {
            snprintf(why, why_len, "cannot set up the %s socket: %s", s_channel_names[ch],
                     zmq_strerror(zmq_errno()));
            goto fail;
        }
        /* libzmq's own "*" lets the system pick a free port at once
         * (czmq's zsock_bind would probe ports one by one). */
        if (zmq_bind(c->sockets[ch], endpoint) < 0) {
            snprintf(why, why_len, "cannot bind the %s socket to %s: %s", s_channel_names[ch],
                     endpoint, zmq_strerror(zmq_errno()));
            goto fail;
        }
        if (conn->ports[ch] == 0 && (conn->ports[ch] = s_bound_port(c->sockets[ch])) <= 0) {
            snprintf(why, why_len, "cannot learn the port of the %s socket",
                     s_channel_names[ch]);
            goto fail;
        }
        c->socket_ctx[ch] = (socket_ctx_t){c, ch};
        if (ch != CONN_IOPUB &&
            reactor_add(reactor, c->sockets[ch], -1, s_on_socket, &c->socket_ctx[ch]) < 0) {
            snprintf(why, why_len, "out of memory");
            goto fail;
        }
    }
    c->conn = *conn;
    c->conn.key = strdup(conn->key);
    if (!c->conn.key) {
        snprintf(why, why_len, "out of memory");
        goto fail;
    }
    if (conversation_journal_open(c, opts, why, why_len) < 0)
        goto fail;
    s_status(c, NULL, "starting");
    if (adopt)
        s_adopt_worker(c, steal_pointer(&adopt));
    else
        s_spawn_worker(c);
    s_pump(c); /* a restore starts at once with a ready interpreter */
    return c;
fail:
    worker_destroy(&adopt);
    if (!c->restore)
        restore_destroy(&restore);
    conversation_destroy(&c);
    return NULL;
}

void conversation_destroy(conversation_t **self_p)
{
    conversation_t *c = *self_p;
    if (!c)
        return;
    c->closed = true;
    if (c->held_head && c->journal) { /* the replies still due go out, after their records */
        journal_wait(c->journal);
        s_release(c);
    }
    while (c->held_head) { /* none is left: every record is done */
        held_t *h = c->held_head;
        c->held_head = h->next;
        s_held_free(h);
    }
    c->held_tail = NULL;
    if (c->worker) {
        if (c->worker->chan)
            reactor_remove(c->reactor, NULL, channel_fd(c->worker->chan));
        worker_destroy(&c->worker);
    }
    request_t *req;
    while ((req = s_dequeue(c)))
        s_request_free(req);
    if (c->current)
        s_request_free(c->current);
    for (int ch = 0; ch < CONN_NCHANNELS; ch++) {
        if (!c->sockets[ch])
            continue;
        reactor_remove(c->reactor, c->sockets[ch], -1);
        zmq_close(c->sockets[ch]);
        c->sockets[ch] = NULL;
    }
    signer_destroy(&c->signer);
    conversation_journal_close(c);
    history_destroy(&c->history);
    json_decref(c->jail);
    connfile_clear(&c->conn);
    free(c->pending_note);
    free(c->start_error);
    free(c);
    *self_p = NULL;
}

void conversation_discard(conversation_t **self_p)
{
    conversation_t *c = *self_p;
    if (c && c->journal)
        unlink(journal_path(c->journal)); /* its queued header, if any, goes nowhere */
    conversation_destroy(self_p);
}

bool conversation_closed(const conversation_t *c)
{
    return c->closed;
}

const char *conversation_closed_why(const conversation_t *c)
{
    return c->closed_why[0] ? c->closed_why : NULL;
}
