/* mcp_kernel — a conversation and its in-process Jupyter client.
 *
 * A SUB socket hears nothing until its subscription has reached the
 * publisher, and ZeroMQ connects asynchronously (the "slow joiner"), so
 * no request goes out before iopub has shown it is live: kernel_info
 * requests are sent until one brings a status message on iopub, as
 * jupyter_client's wait_for_ready does. Requests made meanwhile wait in
 * order and go out once it is.
 *
 * Every request is tracked by the msg_id of its header (read back from the
 * frames wire_io_encode signed) and is done when its reply has come and
 * iopub said idle for it: only then are all its outputs in. */
#include "mcp_kernel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <unistd.h>
#include <czmq.h>

#include "log.h"
#include "pool.h"
#include "signer.h"
#include "util.h"
#include "wire_io.h"

typedef enum { OP_HANDSHAKE, OP_EXECUTE, OP_RESTART } op_kind_t;

struct mcp_op {
    mcp_op_t *next;
    op_kind_t kind;
    char msg_id[80];
    json_t *content; /* the request's content until sent */
    bool sent, started, got_reply, got_idle, interrupt_wanted, interrupted;
    long long started_ms;
    json_t *outputs; /* [{"msg_type","content"}...] */
    json_t *reply;
    mcp_op_done_fn done;
    mcp_op_event_fn event;
    void *arg;
};

struct mcp_kernel {
    mcp_kernel_config_t cfg;
    json_t *jail;
    pool_t *spare;          /* the interpreter warmed before the first call */
    conversation_t *conv;
    char dir[128];          /* the ipc folder (a socket path must fit 107 bytes) */
    char journal_name[80];
    signer_t *signer;
    char session[40];
    void *shell, *control, *iopub;
    bool live;              /* iopub has been heard */
    mcp_op_t *ops;          /* sent or waiting, in order */
    bool begun;
    char failed[600];       /* why the conversation could not begin (then it never will) */
};

static void s_on_shell(void *arg);
static void s_on_iopub(void *arg);

mcp_kernel_t *mcp_kernel_new(const mcp_kernel_config_t *config)
{
    mcp_kernel_t *self = calloc(1, sizeof *self);
    if (!self) {
        restore_t *r = config->restore;
        restore_destroy(&r);
        return NULL;
    }
    self->cfg = *config;
    self->jail = sandbox_limits_to_jail_json(config->limits);
    if (self->jail)
        self->spare = pool_new(config->reactor, config->zygote, self->jail, 1);
    if (!self->spare) {
        restore_destroy(&self->cfg.restore);
        json_decref(self->jail);
        free(self);
        return NULL;
    }
    return self;
}

static void s_op_free(mcp_op_t *op)
{
    json_decref(op->content);
    json_decref(op->outputs);
    json_decref(op->reply);
    free(op);
}

static void s_close(mcp_kernel_t *self, void **sock)
{
    if (!*sock)
        return;
    reactor_remove(self->cfg.reactor, *sock, -1);
    int linger = 0;
    zmq_setsockopt(*sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(*sock);
    *sock = NULL;
}

void mcp_kernel_destroy(mcp_kernel_t **self_p, const char *reason)
{
    mcp_kernel_t *self = *self_p;
    if (!self)
        return;
    while (self->ops) {
        mcp_op_t *op = self->ops;
        self->ops = op->next;
        s_op_free(op);
    }
    s_close(self, &self->shell);
    s_close(self, &self->control);
    s_close(self, &self->iopub);
    if (self->conv) {
        conversation_end_journal(self->conv, reason);
        conversation_destroy(&self->conv);
    }
    if (self->dir[0]) {
        static const char *const names[] = {"k-1", "k-2", "k-3", "k-4", "k-5"};
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
            char path[160];
            snprintf(path, sizeof path, "%s/%s", self->dir, names[i]);
            unlink(path);
        }
        rmdir(self->dir);
    }
    pool_destroy(&self->spare);
    restore_destroy(&self->cfg.restore);
    signer_destroy(&self->signer);
    json_decref(self->jail);
    free(self);
    *self_p = NULL;
}

conversation_t *mcp_kernel_conversation(const mcp_kernel_t *self)
{
    return self->conv;
}

bool mcp_kernel_closed(const mcp_kernel_t *self)
{
    return self->conv && conversation_closed(self->conv);
}

/* Signs and sends |op|'s request on its channel, noting its msg_id. */
static int s_send(mcp_kernel_t *self, mcp_op_t *op)
{
    const char *type = op->kind == OP_EXECUTE ? "execute_request"
                       : op->kind == OP_RESTART ? "shutdown_request"
                                                : "kernel_info_request";
    void *sock = op->kind == OP_RESTART ? self->control : self->shell;
    wire_frames_t frames = {0};
    if (wire_io_encode(self->signer, self->session, NULL, 0, type, NULL, op->content, NULL, 0,
                       &frames) < 0)
        return -1;
    int rc = -1;
    /* No identities on a DEALER: delimiter, signature, then the header. */
    json_t *header = frames.n > 2 ? json_loadb(frames.frames[2].data, frames.frames[2].size, 0,
                                               NULL)
                                  : NULL;
    const char *id = json_string_value(json_object_get(header, "msg_id"));
    if (id && strlen(id) < sizeof op->msg_id) {
        snprintf(op->msg_id, sizeof op->msg_id, "%s", id);
        rc = wire_io_send_frames(sock, &frames);
    }
    json_decref(header);
    wire_frames_clear(&frames);
    if (rc == 0) {
        log_debug("mcp: sent %s %s", type, op->msg_id);
        op->sent = true;
        json_decref(op->content);
        op->content = NULL;
    }
    return rc;
}

static mcp_op_t *s_op_new(mcp_kernel_t *self, op_kind_t kind, json_t *content)
{
    mcp_op_t *op = calloc(1, sizeof *op);
    if (!op || !content || !(op->outputs = json_array())) {
        json_decref(content);
        free(op);
        return NULL;
    }
    op->kind = kind;
    op->content = content;
    mcp_op_t **tail = &self->ops;
    while (*tail)
        tail = &(*tail)->next;
    *tail = op;
    return op;
}

/* Sends what waited for iopub to be live. */
static void s_send_waiting(mcp_kernel_t *self)
{
    for (mcp_op_t *op = self->ops; op; op = op->next)
        if (!op->sent && op->kind != OP_HANDSHAKE && s_send(self, op) < 0)
            log_warn("mcp: a request to the conversation could not be sent");
}

static void *s_connect(mcp_kernel_t *self, int type, int port, reactor_fn fn, char *why,
                       size_t why_len)
{
    char endpoint[200];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/k-%d", self->dir, port);
    void *sock = zmq_socket(zsys_init(), type);
    if (!sock || (type == ZMQ_SUB && zmq_setsockopt(sock, ZMQ_SUBSCRIBE, "", 0) < 0) ||
        zmq_connect(sock, endpoint) < 0 ||
        (fn && reactor_add(self->cfg.reactor, sock, -1, fn, self) < 0)) {
        snprintf(why, why_len, "cannot connect to the conversation at %s: %s", endpoint,
                 zmq_strerror(zmq_errno()));
        if (sock)
            zmq_close(sock);
        return NULL;
    }
    return sock;
}

static int s_begin(mcp_kernel_t *self, char *why, size_t why_len);

/* A begin that failed is not tried again: its folder, its key and the
 * interpreter it took are spent, and the reason stays the same. */
int mcp_kernel_begin(mcp_kernel_t *self, char *why, size_t why_len)
{
    if (self->failed[0]) {
        snprintf(why, why_len, "%s", self->failed);
        return -1;
    }
    if (self->begun)
        return 0;
    if (why_len)
        why[0] = '\0';
    if (s_begin(self, why, why_len) == 0) {
        self->begun = true;
        return 0;
    }
    snprintf(self->failed, sizeof self->failed, "%s",
             why_len && why[0] ? why : "the conversation could not begin");
    return -1;
}

static int s_begin(mcp_kernel_t *self, char *why, size_t why_len)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(self->dir, sizeof self->dir, "%s/sandcell-mcp-XXXXXX",
             tmp && tmp[0] == '/' && strlen(tmp) <= 70 ? tmp : "/tmp");
    if (!mkdtemp(self->dir)) { /* 0700 */
        snprintf(why, why_len, "cannot make the conversation's socket folder: %s",
                 strerror(errno));
        self->dir[0] = '\0';
        return -1;
    }
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    char key[65];
    sodium_bin2hex(key, sizeof key, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    unsigned char sid[16];
    randombytes_buf(sid, sizeof sid);
    sodium_bin2hex(self->session, sizeof self->session, sid, sizeof sid);
    connfile_t conn = {.key = strdup(key)};
    snprintf(conn.transport, sizeof conn.transport, "ipc");
    snprintf(conn.ip, sizeof conn.ip, "%s/k", self->dir);
    snprintf(conn.signature_scheme, sizeof conn.signature_scheme, "hmac-sha256");
    for (int ch = 0; ch < CONN_NCHANNELS; ch++)
        conn.ports[ch] = ch + 1;
    self->signer = signer_new(key, strlen(key));
    sodium_memzero(key, sizeof key);
    if (!conn.key || !self->signer) {
        connfile_clear(&conn);
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    conversation_options_t copts = {
        .max_executions = self->cfg.max_executions,
        .restart_in_place = true,
        .worker = pool_take(self->spare),
        .journal_sync = self->cfg.journal_sync,
        .restore = steal_pointer(&self->cfg.restore), /* conversation_new owns it */
    };
    pool_destroy(&self->spare); /* a taken interpreter is not replaced */
    if (self->cfg.journal_dir) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
        snprintf(self->journal_name, sizeof self->journal_name, "mcp-%d-%s", (int)getpid(),
                 stamp);
        copts.journal_dir = self->cfg.journal_dir;
        copts.journal_name = self->journal_name;
    }
    self->conv = conversation_new(self->cfg.reactor, self->cfg.zygote, &conn, self->cfg.limits,
                                  &copts, why, why_len);
    connfile_clear(&conn);
    if (!self->conv)
        return -1;
    if (!(self->shell = s_connect(self, ZMQ_DEALER, CONN_SHELL + 1, s_on_shell, why, why_len)) ||
        !(self->control =
              s_connect(self, ZMQ_DEALER, CONN_CONTROL + 1, s_on_shell, why, why_len)) ||
        !(self->iopub = s_connect(self, ZMQ_SUB, CONN_IOPUB + 1, s_on_iopub, why, why_len)))
        return -1;
    mcp_op_t *hello = s_op_new(self, OP_HANDSHAKE, json_object());
    if (!hello || s_send(self, hello) < 0) {
        snprintf(why, why_len, "cannot reach the conversation");
        return -1;
    }
    return 0;
}

static mcp_op_t *s_find(mcp_kernel_t *self, const json_t *parent, mcp_op_t ***link)
{
    const char *id = json_string_value(json_object_get(parent, "msg_id"));
    if (!id)
        return NULL;
    for (mcp_op_t **p = &self->ops; *p; p = &(*p)->next)
        if ((*p)->sent && strcmp((*p)->msg_id, id) == 0) {
            if (link)
                *link = p;
            return *p;
        }
    return NULL;
}

static void s_send_interrupt(mcp_kernel_t *self, mcp_op_t *op)
{
    op->interrupted = true;
    /* interrupt_request goes on control, like a restart, but is not tracked:
     * the cell's own reply and idle end |op|. */
    wire_frames_t frames = {0};
    json_t *content = json_object();
    if (content && wire_io_encode(self->signer, self->session, NULL, 0, "interrupt_request", NULL,
                                  content, NULL, 0, &frames) == 0)
        wire_io_send_frames(self->control, &frames);
    wire_frames_clear(&frames);
    json_decref(content);
}

/* Ends |op| if its reply and its idle are both in. */
static void s_maybe_done(mcp_kernel_t *self, mcp_op_t *op, mcp_op_t **link)
{
    if (!op->got_reply || !op->got_idle)
        return;
    *link = op->next;
    if (op->kind == OP_HANDSHAKE) {
        s_op_free(op);
        return;
    }
    if (op->done)
        op->done(op->arg, op->outputs, op->reply);
    s_op_free(op);
    (void)self;
}

static void s_on_shell(void *arg)
{
    mcp_kernel_t *self = arg;
    void *socks[] = {self->shell, self->control};
    for (size_t i = 0; i < ARRAY_SIZE(socks); i++) {
        for (int n = 0; n < 64; n++) {
            wire_msg_t msg = {0};
            const char *reason = NULL;
            wire_io_result_t r = wire_io_recv(socks[i], self->signer, false, &msg, &reason);
            if (r == WIRE_IO_NONE)
                break;
            if (r != WIRE_IO_MESSAGE) {
                log_warn("mcp: a reply was refused: %s", reason ? reason : "?");
                continue;
            }
            mcp_op_t **link = NULL;
            mcp_op_t *op = s_find(self, msg.parent, &link);
            if (op && !op->got_reply) {
                log_debug("mcp: reply to %s", op->msg_id);
                op->got_reply = true;
                op->reply = json_incref(msg.content);
                if (op->kind == OP_HANDSHAKE && !self->live) {
                    /* iopub was not live yet: ask again. */
                    op->got_idle = true;
                    s_maybe_done(self, op, link);
                    mcp_op_t *again = s_op_new(self, OP_HANDSHAKE, json_object());
                    if (again)
                        s_send(self, again);
                } else {
                    s_maybe_done(self, op, link);
                }
            }
            wire_msg_clear(&msg);
        }
    }
}

static void s_on_iopub(void *arg)
{
    mcp_kernel_t *self = arg;
    for (int n = 0; n < 256; n++) {
        wire_msg_t msg = {0};
        const char *reason = NULL;
        wire_io_result_t r = wire_io_recv(self->iopub, self->signer, false, &msg, &reason);
        if (r == WIRE_IO_NONE)
            break;
        if (r != WIRE_IO_MESSAGE)
            continue;
        if (!self->live) {
            log_debug("mcp: iopub is live");
            self->live = true;
            s_send_waiting(self);
        }
        const char *type = wire_msg_type(&msg);
        mcp_op_t **link = NULL;
        mcp_op_t *op = type ? s_find(self, msg.parent, &link) : NULL;
        if (!op) {
            wire_msg_clear(&msg);
            continue;
        }
        if (strcmp(type, "status") == 0) {
            const char *state = json_string_value(json_object_get(msg.content, "execution_state"));
            if (state && strcmp(state, "busy") == 0 && !op->started) {
                op->started = true;
                op->started_ms = reactor_now_ms();
                if (op->interrupt_wanted && !op->interrupted)
                    s_send_interrupt(self, op);
                if (op->event)
                    op->event(op->arg, op);
            } else if (state && strcmp(state, "idle") == 0) {
                op->got_idle = true;
                s_maybe_done(self, op, link);
            }
        } else if (strcmp(type, "execute_input") != 0 && op->kind == OP_EXECUTE) {
            json_t *out = json_pack("{s:s, s:O}", "msg_type", type, "content", msg.content);
            if (out)
                json_array_append_new(op->outputs, out);
            if (op->event)
                op->event(op->arg, op);
        }
        wire_msg_clear(&msg);
    }
}

mcp_op_t *mcp_kernel_execute(mcp_kernel_t *self, const char *code, mcp_op_done_fn done,
                             mcp_op_event_fn event, void *arg)
{
    mcp_op_t *op = s_op_new(self, OP_EXECUTE,
                            json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", code, "silent",
                                      0, "store_history", 1, "user_expressions", "allow_stdin",
                                      0, "stop_on_error", 0));
    if (!op)
        return NULL;
    op->done = done;
    op->event = event;
    op->arg = arg;
    if (self->live && s_send(self, op) < 0)
        log_warn("mcp: an execute_request could not be sent");
    return op;
}

mcp_op_t *mcp_kernel_restart(mcp_kernel_t *self, mcp_op_done_fn done, void *arg)
{
    mcp_op_t *op = s_op_new(self, OP_RESTART, json_pack("{s:b}", "restart", 1));
    if (!op)
        return NULL;
    op->done = done;
    op->arg = arg;
    if (self->live && s_send(self, op) < 0)
        log_warn("mcp: a shutdown_request could not be sent");
    return op;
}

void mcp_kernel_interrupt(mcp_kernel_t *self, mcp_op_t *op)
{
    if (op->interrupted)
        return;
    op->interrupt_wanted = true;
    if (op->started)
        s_send_interrupt(self, op);
}

void mcp_kernel_orphan(mcp_op_t *op)
{
    op->done = NULL;
    op->event = NULL;
}

bool mcp_op_running(const mcp_op_t *op, long long *since_ms)
{
    if (since_ms)
        *since_ms = op->started_ms;
    return op->started && !op->got_idle;
}

size_t mcp_op_outputs(const mcp_op_t *op)
{
    return json_array_size(op->outputs);
}

bool mcp_kernel_zygote_event(mcp_kernel_t *self, json_t *event)
{
    if (self->spare && pool_zygote_event(self->spare, event))
        return true;
    return self->conv && conversation_zygote_event(self->conv, event);
}

void mcp_kernel_tick(mcp_kernel_t *self, long long now_ms)
{
    if (self->conv)
        conversation_tick(self->conv, now_ms);
}
