/* conversation — one conversation: binding its sockets, taking or starting
 * its interpreter, ending it, and what the daemon may read of it. The rest
 * of a conversation lives beside this file, one concern each:
 * conversation_send.c (what goes to clients, held behind the journal),
 * conversation_requests.c (the queue and the routing of what clients
 * send), conversation_records.c (what the interpreter sends, the output
 * limit), conversation_worker.c (the interpreter process and the time
 * limits), conversation_journal.c (journal, history and restore); they
 * share conversation_internal.h. */
#include "conversation_internal.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"
#include "log.h"
#include "util.h"

const char *const conversation_channel_names[CONN_NCHANNELS] = {
    [CONN_SHELL] = "shell", [CONN_IOPUB] = "iopub", [CONN_STDIN] = "stdin",
    [CONN_CONTROL] = "control", [CONN_HB] = "hb",
};

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
            snprintf(why, why_len, "endpoint of %s too long", conversation_channel_names[ch]);
            goto fail;
        }
        /* libzmq directly, not czmq's zsock_new: a socket that cannot be
         * made (out of descriptors, ZeroMQ's socket limit) fails this
         * start, never the daemon. */
        void *sock = zmq_socket(zsys_init(), s_socket_types[ch]);
        if (!sock) {
            snprintf(why, why_len, "cannot create the %s socket: %s", conversation_channel_names[ch],
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
            snprintf(why, why_len, "cannot set up the %s socket: %s", conversation_channel_names[ch],
                     zmq_strerror(zmq_errno()));
            goto fail;
        }
        /* libzmq's own "*" lets the system pick a free port at once
         * (czmq's zsock_bind would probe ports one by one). */
        if (zmq_bind(c->sockets[ch], endpoint) < 0) {
            snprintf(why, why_len, "cannot bind the %s socket to %s: %s", conversation_channel_names[ch],
                     endpoint, zmq_strerror(zmq_errno()));
            goto fail;
        }
        if (conn->ports[ch] == 0 && (conn->ports[ch] = s_bound_port(c->sockets[ch])) <= 0) {
            snprintf(why, why_len, "cannot learn the port of the %s socket",
                     conversation_channel_names[ch]);
            goto fail;
        }
        c->socket_ctx[ch] = (socket_ctx_t){c, ch};
        if (ch != CONN_IOPUB &&
            reactor_add(reactor, c->sockets[ch], -1, conversation_on_socket, &c->socket_ctx[ch]) < 0) {
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
    conversation_status(c, NULL, "starting");
    if (adopt)
        conversation_adopt_worker(c, steal_pointer(&adopt));
    else
        conversation_spawn_worker(c);
    conversation_pump(c); /* a restore starts at once with a ready interpreter */
    return c;
fail:
    worker_destroy(&adopt);
    if (!c->restore)
        restore_destroy(&restore);
    conversation_destroy(&c);
    return NULL;
}

/* Says how many warnings the last window left out, if any. */
static void s_warn_summary(conversation_t *c)
{
    if (c->warn_suppressed)
        log_warn("%ld more warnings about what the interpreter sent were not logged (at most %d "
                 "every %d s)",
                 c->warn_suppressed, CONVERSATION_WARN_BURST, CONVERSATION_WARN_WINDOW_MS / 1000);
    c->warn_suppressed = 0;
}

void conversation_interp_warn(conversation_t *c, const char *fmt, ...)
{
    long long now = reactor_now_ms();
    if (now - c->warn_window_ms >= CONVERSATION_WARN_WINDOW_MS) {
        s_warn_summary(c);
        c->warn_window_ms = now;
        c->warn_logged = 0;
    }
    if (c->warn_logged >= CONVERSATION_WARN_BURST) {
        c->warn_suppressed++;
        return;
    }
    c->warn_logged++;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LEVEL_WARN, fmt, ap);
    va_end(ap);
}

void conversation_destroy(conversation_t **self_p)
{
    conversation_t *c = *self_p;
    if (!c)
        return;
    s_warn_summary(c);
    c->closed = true;
    if (c->held_head && c->journal) { /* the replies still due go out, after their records */
        journal_wait(c->journal);
        conversation_release(c);
    }
    while (c->held_head) { /* none is left: every record is done */
        held_t *h = c->held_head;
        c->held_head = h->next;
        conversation_held_free(h);
    }
    c->held_tail = NULL;
    if (c->worker) {
        if (c->worker->chan)
            reactor_remove(c->reactor, NULL, channel_fd(c->worker->chan));
        worker_destroy(&c->worker);
    }
    request_t *req;
    while ((req = conversation_dequeue(c)))
        conversation_request_free(req);
    if (c->current)
        conversation_request_free(c->current);
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

/* ------------------------------------------- what the daemon may read */

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

const char *conversation_execution_state(const conversation_t *c)
{
    if (c->capped)
        return "dead";
    if (!c->worker || c->worker->state == WORKER_STARTING)
        return "starting";
    if (c->worker->state == WORKER_BUSY)
        return "busy"; /* the interpreter runs a request: an interrupt reaches it */
    return c->current ? "busy" : "idle";
}
