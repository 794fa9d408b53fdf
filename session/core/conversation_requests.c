/* conversation_requests — the request queue and the routing of what
 * clients send. This file owns the order of things around every request:
 * busy, handler (handlers.c, looked up through handlers.h), reply, outputs,
 * idle. Shell requests wait in one queue while the interpreter is busy or
 * a message is held; control requests run at once. */
#include "conversation_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "msgtype.h"
#include "util.h"
#include "wire_io.h"

/* Messages read from one socket per wakeup, so no client starves others. */
#define MAX_BATCH 64

static void s_read_socket(conversation_t *c, conn_channel_t ch);

void conversation_request_free(request_t *req)
{
    wire_msg_clear(&req->msg);
    free(req->code);
    json_decref(req->result_text);
    journal_outputs_clear(&req->outputs);
    free(req);
}

void conversation_begin(conversation_t *c, request_t *req)
{
    if (!req->busy_sent)
        conversation_status(c, &req->msg.raw_header, "busy");
    req->busy_sent = true;
}

void conversation_end_request(conversation_t *c, request_t *req)
{
    conversation_begin(c, req);
    conversation_status(c, &req->msg.raw_header, "idle");
    for (size_t i = 0; i < ARRAY_SIZE(c->recording); i++)
        if (c->recording[i] == req)
            c->recording[i] = NULL;
    conversation_request_free(req);
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
    req->run_at = metrics_clock();
    conversation_journal_begin(c, req);
    if (!h->needs_interpreter)
        conversation_begin(c, req);
    if (known && !(known->channels & (req->channel == CONN_CONTROL ? MSG_ON_CONTROL
                                                                    : MSG_ON_SHELL))) {
        char why[160];
        snprintf(why, sizeof why, "%s is not accepted on the %s channel", type,
                 conversation_channel_names[req->channel]);
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
    conversation_end_request(c, req);
}

static void s_enqueue(conversation_t *c, request_t *req)
{
    LIST_APPEND(c->queue_head, c->queue_tail, req, next);
    c->n_queued++;
}


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
    } else if (reactor_add(c->reactor, c->sockets[CONN_SHELL], -1, conversation_on_socket,
                           &c->socket_ctx[CONN_SHELL]) == 0) {
        c->shell_paused = false;
    }
}

request_t *conversation_dequeue(conversation_t *c)
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

void conversation_pump(conversation_t *c)
{
    if (c->held_head)
        return; /* a journal record is on its way: conversation_release calls again */
    if (conversation_restore_step(c))
        return; /* restored cells run first */
    while (!c->current && c->queue_head && !c->closed) {
        const char *type = wire_msg_type(&c->queue_head->msg);
        const handler_t *h = handlers_lookup(type);
        if (h->needs_interpreter && !s_interpreter_usable(c) && !s_interpreter_broken(c) &&
            !(h = handlers_while_starting(type)))
            return; /* wait for the interpreter */
        s_run(c, conversation_dequeue(c), h);
    }
}

void conversation_abort_queue(conversation_t *c)
{
    s_read_socket(c, CONN_SHELL); /* requests already sent are aborted too */
    request_t *keep_head = NULL, **keep_tail = &keep_head;
    request_t *req;
    while ((req = conversation_dequeue(c))) {
        if (strcmp(wire_msg_type(&req->msg), "execute_request") != 0) {
            *keep_tail = req;
            keep_tail = &req->next;
            continue;
        }
        conversation_reply(c, req, json_pack("{s:s, s:i}", "status", "aborted",
                                             "execution_count", c->execution_count));
        conversation_end_request(c, req);
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
        log_warn("dropped message on %s: unknown message type %.64s", conversation_channel_names[ch],
                 wire_msg_type(msg));
        wire_msg_clear(msg);
        return;
    }
    request_t *req = calloc(1, sizeof *req);
    if (!req) {
        log_error("dropped message on %s: out of memory", conversation_channel_names[ch]);
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
            log_warn("dropped message on %s: %s", conversation_channel_names[ch], reason);
        else if (r == WIRE_IO_MESSAGE)
            s_route(c, ch, &msg);
    }
}

void conversation_on_socket(void *arg)
{
    socket_ctx_t *ctx = arg;
    s_read_socket(ctx->c, ctx->channel);
    conversation_pump(ctx->c);
}
