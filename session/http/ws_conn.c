/* ws_conn — one WebSocket client of one kernel.
 *
 * The WebSocket is libwslay's event API over the non-blocking upgraded
 * socket: wslay reads through s_ws_recv (the bytes MHD read past the
 * handshake first) and writes through s_ws_send; the reactor watches the
 * socket for reading always and for writing while wslay has something
 * queued. Outgoing messages are copied into wslay's queue, whose length
 * is the backlog the limits in ws_hub.h are checked against.
 *
 * The WebSocket may go away while the connection stays (detached): a
 * client that left with a session_id gets, when it comes back, what
 * arrived in between, as Jupyter Server's buffering of a closed session
 * does. Its DEALER sockets stay connected meanwhile, so replies to what
 * it asked before it left still find it. */
#include "ws_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <wslay/wslay.h>
#include <czmq.h>
#include <zmq.h>

#include "header.h"
#include "log.h"
#include "util.h"
#include "ws_kmsg.h"

/* A kernel message kept for a detached connection: one allocation. */
typedef struct kept {
    struct kept *next;
    conn_channel_t channel;
    wire_frame_t parts[4];
    wire_frame_t *buffers;
    size_t n_buffers, bytes;
} kept_t;

typedef struct {
    ws_conn_t *conn;
    conn_channel_t channel;
} dealer_ctx_t;

static const conn_channel_t s_dealer_channels[] = {CONN_SHELL, CONN_CONTROL, CONN_STDIN};

struct ws_conn {
    ws_conn_t *next; /* the hub's list */
    ws_conn_kernel_t k;
    char session[128];
    char identity[HEADER_ID_LEN + 4];
    void *dealers[CONN_NCHANNELS];
    dealer_ctx_t dealer_ctx[CONN_NCHANNELS];

    /* The WebSocket, while attached. */
    int fd;
    wslay_event_context_ptr ws;
    jupyter_ws_framing_t framing;
    unsigned char *extra;
    size_t extra_len, extra_off;
    void (*release)(void *arg);
    void *release_arg;
    bool started, watching_write, closing, draining;
    long long close_by_ms, progress_ms, ping_ms;
    bool dropping; /* iopub is being dropped (backlog) */
    size_t dropped;

    /* While detached. */
    bool detached;
    long long detached_ms;
    kept_t *kept, *kept_tail;
    size_t kept_bytes, kept_dropped;

    char kernel_session[HEADER_FIELD_MAX + 1]; /* header.session of the kernel's messages */
    bool finished;
};

ws_conn_t **ws_conn_next(ws_conn_t *self)
{
    return &self->next;
}

bool ws_conn_attached(const ws_conn_t *self)
{
    return self->ws != NULL;
}

const char *ws_conn_session(const ws_conn_t *self)
{
    return self->session;
}

void *ws_conn_release_arg(const ws_conn_t *self)
{
    return self->release_arg;
}

bool ws_conn_finished(const ws_conn_t *self)
{
    return self->finished;
}

static void s_finish(ws_conn_t *self)
{
    if (self->finished)
        return;
    self->finished = true;
    ws_hub_conn_finished(self->k.kernel, self);
}

static void s_kept_clear(ws_conn_t *self)
{
    while (self->kept) {
        kept_t *k = self->kept;
        self->kept = k->next;
        free(k);
    }
    self->kept_tail = NULL;
    self->kept_bytes = 0;
    self->kept_dropped = 0;
}

/* ------------------------------------------------------- the WebSocket */

static void s_on_fd(void *arg);
static void s_flush(ws_conn_t *self);
static void s_drain(ws_conn_t *self);

/* Lets go of the WebSocket: the fd leaves the reactor and goes back to
 * its owner (|release|: no), wslay's state is freed. */
static void s_drop_ws(ws_conn_t *self, bool release)
{
    if (!self->ws)
        return;
    reactor_remove(self->k.reactor, NULL, self->fd);
    wslay_event_context_free(self->ws);
    self->ws = NULL;
    free(self->extra);
    self->extra = NULL;
    self->extra_len = self->extra_off = 0;
    if (release && self->release)
        self->release(self->release_arg);
    self->release = NULL;
    self->release_arg = NULL;
    self->fd = -1;
    self->watching_write = self->closing = self->draining = self->started = self->dropping =
        false;
}

/* The WebSocket is gone (closed, failed or dropped): keep the connection
 * for a reconnect if the client named its session, else finish it. */
static void s_ws_gone(ws_conn_t *self)
{
    s_drop_ws(self, true);
    if (self->session[0] && !self->finished) {
        self->detached = true;
        self->detached_ms = reactor_now_ms();
    } else {
        s_finish(self);
    }
}

/* Sends a close frame with |code| and |reason| (cut to what a close frame
 * holds) and stops reading; the socket goes once the frame is out or
 * WS_CLOSE_WAIT_MS passed. */
static void s_close(ws_conn_t *self, uint16_t code, const char *reason)
{
    if (!self->ws || self->closing)
        return;
    size_t len = strlen(reason);
    if (len > 120)
        len = 120;
    log_info("websocket of kernel %s closed (%u): %s", self->k.kernel_id, code, reason);
    wslay_event_queue_close(self->ws, code, (const uint8_t *)reason, len);
    wslay_event_shutdown_read(self->ws);
    self->closing = true;
    self->close_by_ms = reactor_now_ms() + WS_CLOSE_WAIT_MS;
}

/* A client that does not read: it gets a close frame if there is room
 * and the socket goes at once. */
static void s_drop_reader(ws_conn_t *self, const char *why)
{
    log_warn("websocket of kernel %s dropped: %s", self->k.kernel_id, why);
    if (self->ws && !self->closing) {
        wslay_event_queue_close(self->ws, 1008, (const uint8_t *)why, strlen(why));
        wslay_event_send(self->ws);
    }
    s_ws_gone(self);
}

static ssize_t s_ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                         void *user)
{
    (void)flags;
    ws_conn_t *self = user;
    if (self->extra_off < self->extra_len) {
        size_t n = self->extra_len - self->extra_off;
        if (n > len)
            n = len;
        memcpy(buf, self->extra + self->extra_off, n);
        self->extra_off += n;
        return (ssize_t)n;
    }
    ssize_t n;
    do
        n = recv(self->fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (n <= 0) { /* the peer closed, or an error */
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return n;
}

static ssize_t s_ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                         void *user)
{
    ws_conn_t *self = user;
    ssize_t n;
    do
        n = send(self->fd, data, len, MSG_NOSIGNAL | (flags & WSLAY_MSG_MORE ? MSG_MORE : 0));
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK
                                       ? WSLAY_ERR_WOULDBLOCK
                                       : WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    self->progress_ms = reactor_now_ms();
    return n;
}

/* One message of the client: decoded, signed and sent on its channel. */
static void s_client_message(ws_conn_t *self, bool binary, const uint8_t *data, size_t len)
{
    jupyter_ws_msg_t msg;
    jupyter_ws_err_t err;
    if (jupyter_ws_decode(self->framing, binary, data, len, self->session, &msg, &err) < 0) {
        char reason[124];
        snprintf(reason, sizeof reason, "%s", jupyter_ws_err_to_string(err));
        s_close(self, jupyter_ws_err_close_code(err), reason);
        return;
    }
    log_debug("websocket of kernel %s: %s on %s", self->k.kernel_id,
              json_string_value(json_object_get(msg.header, "msg_type")),
              jupyter_ws_channel_name(msg.channel));
    char hex[SIGNER_HEX_LEN + 1];
    wire_frame_t views[6 + JUPYTER_WS_MAX_BUFFERS];
    size_t n = jupyter_ws_wire_views(self->k.signer, &msg, hex, views);
    void *sock = self->dealers[msg.channel];
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = zmq_send(sock, views[i].data, views[i].size,
                      ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0)) < 0
                 ? -1
                 : 0;
    int send_errno = errno;
    reactor_touch(self->k.reactor, sock);
    jupyter_ws_msg_clear(&msg);
    if (rc < 0 && send_errno == EAGAIN)
        s_close(self, 1013, "too many requests waiting for the kernel; try again later");
    else if (rc < 0)
        s_close(self, 1011, "cannot reach the kernel");
}

static void s_ws_message(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                         void *user)
{
    (void)ctx;
    ws_conn_t *self = user;
    if (self->closing)
        return;
    if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME)
        s_client_message(self, arg->opcode == WSLAY_BINARY_FRAME, arg->msg, arg->msg_length);
}

static void s_on_writable(void *arg)
{
    s_flush(arg);
}

/* Writes what wslay has queued; watches for room while some is left; lets
 * the WebSocket go once both sides are closed or it failed. */
static void s_flush(ws_conn_t *self)
{
    if (!self->ws || !self->started)
        return;
    if (wslay_event_want_write(self->ws) && wslay_event_send(self->ws) < 0) {
        s_ws_gone(self);
        return;
    }
    bool more = wslay_event_want_write(self->ws);
    if (more != self->watching_write) {
        reactor_set_writable(self->k.reactor, NULL, self->fd, more ? s_on_writable : NULL);
        self->watching_write = more;
    }
    if (!wslay_event_want_read(self->ws) && !more) {
        /* Closed both ways. If this side closed first (a bad message, a
         * frame too large), the client may still be sending: a socket
         * closed with unread bytes sends a reset, which can destroy the
         * close frame before the client reads it. So the write side is
         * shut and what arrives is read and dropped until the client
         * closes, or WS_CLOSE_WAIT_MS. */
        if (wslay_event_get_close_received(self->ws)) {
            s_ws_gone(self);
            return;
        }
        self->draining = true;
        if (!self->closing) {
            self->closing = true;
            self->close_by_ms = reactor_now_ms() + WS_CLOSE_WAIT_MS;
        }
        shutdown(self->fd, SHUT_WR);
        s_drain(self);
    }
}

static void s_drain(ws_conn_t *self)
{
    char buf[65536];
    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(self->fd, buf, sizeof buf, 0);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        s_ws_gone(self); /* the client closed, or the socket failed */
        return;
    }
}

static void s_on_fd(void *arg)
{
    ws_conn_t *self = arg;
    if (!self->ws || !self->started)
        return;
    if (self->draining) {
        s_drain(self);
        return;
    }
    if (wslay_event_recv(self->ws) < 0) {
        wslay_event_send(self->ws); /* a close frame wslay queued, if it can go */
        s_ws_gone(self);
        return;
    }
    s_flush(self);
}

/* Queues one message for the client, framed as it asked. */
static void s_queue(ws_conn_t *self, conn_channel_t channel, const wire_frame_t parts[4],
                    const wire_frame_t *buffers, size_t n_buffers)
{
    jupyter_ws_frame_t frame;
    jupyter_ws_err_t err;
    if (jupyter_ws_encode(self->framing, channel, parts, buffers, n_buffers, &frame, &err) < 0) {
        log_warn("websocket of kernel %s: a kernel message could not be framed: %s",
                 self->k.kernel_id, jupyter_ws_err_to_string(err));
        return;
    }
    if (wslay_event_get_queued_msg_length(self->ws) == 0)
        self->progress_ms = reactor_now_ms();
    struct wslay_event_msg m = {frame.binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, frame.data,
                                frame.size};
    wslay_event_queue_msg(self->ws, &m); /* copies; fails only once closing */
    jupyter_ws_frame_clear(&frame);
}

/* A stream message to stderr on iopub, from the kernel's session, with
 * |parent| (a JSON text; "{}" if none). */
static void s_note(ws_conn_t *self, wire_frame_t parent, const char *text)
{
    char header[HEADER_TEXT_MAX];
    if (header_format(header, sizeof header, "stream", self->kernel_session, "sandcell") < 0)
        return;
    json_auto_t *content = json_pack("{s:s, s:s}", "name", "stderr", "text", text);
    _cleanup_free_ char *ctext = content ? json_dumps(content, JSON_COMPACT) : NULL;
    if (!ctext)
        return;
    wire_frame_t parts[4] = {
        {header, strlen(header)}, parent, {"{}", 2}, {ctext, strlen(ctext)}};
    s_queue(self, CONN_IOPUB, parts, NULL, 0);
}

static void s_keep(ws_conn_t *self, conn_channel_t channel, const wire_frame_t parts[4],
                   const wire_frame_t *buffers, size_t n_buffers)
{
    size_t bytes = 0;
    for (int i = 0; i < 4; i++)
        bytes += parts[i].size;
    for (size_t i = 0; i < n_buffers; i++)
        bytes += buffers[i].size;
    if (channel == CONN_IOPUB && self->kept_bytes + bytes > WS_DETACHED_IOPUB) {
        self->kept_dropped++;
        return;
    }
    if (self->kept_bytes + bytes > WS_DETACHED_MAX) {
        log_warn("websocket session %s of kernel %s: more than %zu bytes arrived while it was "
                 "away; it is not kept",
                 self->session, self->k.kernel_id, WS_DETACHED_MAX);
        s_kept_clear(self);
        s_finish(self);
        return;
    }
    kept_t *k = malloc(sizeof *k + n_buffers * sizeof(wire_frame_t) + bytes);
    if (!k) {
        self->kept_dropped++;
        return;
    }
    k->channel = channel;
    k->n_buffers = n_buffers;
    k->bytes = bytes;
    k->buffers = (wire_frame_t *)(k + 1);
    unsigned char *p = (unsigned char *)(k->buffers + n_buffers);
    for (size_t i = 0; i < 4 + n_buffers; i++) {
        const wire_frame_t *src = i < 4 ? &parts[i] : &buffers[i - 4];
        wire_frame_t *dst = i < 4 ? &k->parts[i] : &k->buffers[i - 4];
        if (src->size)
            memcpy(p, src->data, src->size);
        *dst = (wire_frame_t){p, src->size};
        p += src->size;
    }
    self->kept_bytes += bytes;
    LIST_APPEND(self->kept, self->kept_tail, k, next);
}

/* The header's "session", remembered for the notes this side writes. */
static void s_learn_session(ws_conn_t *self, const wire_frame_t *header)
{
    if (self->kernel_session[0])
        return;
    json_auto_t *h = json_loadb(header->data, header->size, 0, NULL);
    const char *s = json_string_value(json_object_get(h, "session"));
    if (s && strlen(s) <= HEADER_FIELD_MAX)
        snprintf(self->kernel_session, sizeof self->kernel_session, "%s", s);
}

void ws_conn_deliver(ws_conn_t *self, conn_channel_t channel, const wire_frame_t parts[4],
                     const wire_frame_t *buffers, size_t n_buffers, const char *msg_type)
{
    if (self->finished)
        return;
    s_learn_session(self, &parts[0]);
    if (self->detached) {
        s_keep(self, channel, parts, buffers, n_buffers);
        return;
    }
    if (!self->ws || self->closing || !self->started)
        return;
    size_t backlog = wslay_event_get_queued_msg_length(self->ws);
    if (channel == CONN_IOPUB && strcmp(msg_type, "status") != 0) {
        /* As Jupyter Server's iopub rate limit: drop output, say so once,
         * resume with headroom; status and replies always go. */
        if (self->dropping && backlog <= WS_IOPUB_BACKLOG / 2) {
            char text[256];
            snprintf(text, sizeof text,
                     "sandcell: iopub output resumed; %zu messages were dropped while this "
                     "client was reading too slowly.\n",
                     self->dropped);
            self->dropping = false;
            s_note(self, parts[1], text);
        }
        if (!self->dropping && backlog >= WS_IOPUB_BACKLOG) {
            self->dropping = true;
            self->dropped = 0;
            s_note(self, parts[1],
                   "sandcell: iopub output to this client is being dropped: it reads too "
                   "slowly (more than 4 MiB waiting). Output resumes when it catches up.\n");
        }
        if (self->dropping) {
            self->dropped++;
            return;
        }
    }
    if (backlog >= WS_BACKLOG_MAX) {
        s_drop_reader(self, "the client does not read (64 MiB waiting)");
        return;
    }
    s_queue(self, channel, parts, buffers, n_buffers);
    s_flush(self);
}

/* ------------------------------------------------------ the DEALERs */

static void s_on_dealer(void *arg)
{
    dealer_ctx_t *ctx = arg;
    ws_conn_t *self = ctx->conn;
    void *sock = self->dealers[ctx->channel];
    for (int i = 0; i < 64; i++) {
        ws_kmsg_t m;
        int rc = ws_kmsg_recv(sock, self->k.signer, &m);
        reactor_touch(self->k.reactor, sock);
        if (rc == 0)
            break;
        if (rc < 0) {
            log_warn("websocket of kernel %s: a %s message was dropped: %s", self->k.kernel_id,
                     jupyter_ws_channel_name(ctx->channel), m.why);
            continue;
        }
        ws_conn_deliver(self, ctx->channel, m.parts, m.buffers, m.n_buffers, m.msg_type);
        ws_kmsg_close(&m);
        if (self->finished)
            break;
    }
}

ws_conn_t *ws_conn_new(const ws_conn_kernel_t *k, const char *session_id, char *why,
                       size_t why_len)
{
    ws_conn_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    self->k = *k;
    self->fd = -1;
    snprintf(self->session, sizeof self->session, "%s", session_id ? session_id : "");
    memcpy(self->identity, "ws-", 3);
    header_new_id(self->identity + 3);
    for (size_t i = 0; i < ARRAY_SIZE(s_dealer_channels); i++) {
        conn_channel_t ch = s_dealer_channels[i];
        char endpoint[300];
        void *sock = zmq_socket(zsys_init(), ZMQ_DEALER);
        int linger = 0;
        if (!sock || connfile_endpoint(k->conn, ch, endpoint, sizeof endpoint) < 0 ||
            zmq_setsockopt(sock, ZMQ_ROUTING_ID, self->identity, strlen(self->identity)) < 0 ||
            zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
            zmq_connect(sock, endpoint) < 0) {
            snprintf(why, why_len, "cannot connect to the kernel's %s socket: %s",
                     jupyter_ws_channel_name(ch), zmq_strerror(zmq_errno()));
            if (sock)
                zmq_close(sock);
            goto fail;
        }
        self->dealers[ch] = sock;
        self->dealer_ctx[ch] = (dealer_ctx_t){self, ch};
        if (reactor_add(k->reactor, sock, -1, s_on_dealer, &self->dealer_ctx[ch]) < 0) {
            snprintf(why, why_len, "out of memory");
            goto fail;
        }
    }
    return self;
fail:
    ws_conn_forget(&self);
    return NULL;
}

static void s_free(ws_conn_t *self)
{
    for (int ch = 0; ch < CONN_NCHANNELS; ch++) {
        if (!self->dealers[ch])
            continue;
        reactor_remove(self->k.reactor, self->dealers[ch], -1);
        zmq_close(self->dealers[ch]);
    }
    s_kept_clear(self);
    free(self);
}

void ws_conn_destroy(ws_conn_t **self_p, uint16_t code, const char *reason)
{
    ws_conn_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    if (self->ws) {
        wslay_event_queue_close(self->ws, code ? code : 1001, (const uint8_t *)reason,
                                reason ? strlen(reason) : 0);
        wslay_event_send(self->ws); /* once, never waiting */
    }
    self->finished = true; /* no reconnect: s_ws_gone must not detach */
    s_drop_ws(self, true);
    s_free(self);
}

void ws_conn_forget(ws_conn_t **self_p)
{
    ws_conn_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    s_drop_ws(self, false);
    s_free(self);
}

int ws_conn_attach(ws_conn_t *self, const ws_accept_t *a, bool started,
                   const char *replaced_why)
{
    unsigned char *extra = NULL;
    if (a->extra_len) {
        extra = malloc(a->extra_len);
        if (!extra)
            return -1;
        memcpy(extra, a->extra, a->extra_len);
    }
    static const struct wslay_event_callbacks callbacks = {
        .recv_callback = s_ws_recv,
        .send_callback = s_ws_send,
        .on_msg_recv_callback = s_ws_message,
    };
    wslay_event_context_ptr ws;
    if (wslay_event_context_server_init(&ws, &callbacks, self) != 0) {
        free(extra);
        return -1;
    }
    if (self->ws) { /* a stale connection with the same session_id */
        log_info("websocket session %s of kernel %s: replacing the stale connection",
                 self->session, self->k.kernel_id);
        wslay_event_queue_close(self->ws, 1000, (const uint8_t *)replaced_why,
                                strlen(replaced_why));
        wslay_event_send(self->ws);
        s_drop_ws(self, true);
    }
    wslay_event_config_set_max_recv_msg_length(ws, WS_MAX_MESSAGE);
    /* A reply is written as a frame header and a payload; with Nagle's
     * algorithm the second waits for the client's delayed ACK (40 ms). Not
     * a TCP socket (a test's socketpair): nothing to set. */
    int one = 1;
    setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    self->ws = ws;
    self->fd = a->fd;
    self->framing = a->v1 ? JUPYTER_WS_V1 : JUPYTER_WS_LEGACY;
    self->extra = extra;
    self->extra_len = a->extra_len;
    self->extra_off = 0;
    self->release = a->release;
    self->release_arg = a->release_arg;
    self->progress_ms = self->ping_ms = reactor_now_ms();
    self->detached = false;
    self->started = false;
    /* What arrived while the client was away goes first. */
    bool was_kept = self->kept || self->kept_dropped;
    for (kept_t *k = self->kept; k; k = k->next)
        s_queue(self, k->channel, k->parts, k->buffers, k->n_buffers);
    if (self->kept_dropped) {
        char text[200];
        snprintf(text, sizeof text,
                 "sandcell: %zu iopub messages for this session were dropped while it was "
                 "away (more than 8 MiB arrived).\n",
                 self->kept_dropped);
        s_note(self, (wire_frame_t){"{}", 2}, text);
    }
    if (was_kept)
        log_info("websocket session %s of kernel %s: resumed with %zu bytes kept",
                 self->session, self->k.kernel_id, self->kept_bytes);
    s_kept_clear(self);
    if (started)
        ws_conn_start(self);
    return 0;
}

void ws_conn_start(ws_conn_t *self)
{
    if (!self->ws || self->started)
        return;
    /* On the reactor only now: a readable socket not read would wake it
     * again and again. */
    if (reactor_add(self->k.reactor, NULL, self->fd, s_on_fd, self) < 0) {
        s_ws_gone(self);
        return;
    }
    self->started = true;
    /* The bytes MHD read past the handshake are no readiness of the fd. */
    s_on_fd(self);
    if (self->ws)
        s_flush(self);
}

void ws_conn_tick(ws_conn_t *self, long long now_ms)
{
    if (self->finished)
        return;
    if (self->detached) {
        if (now_ms - self->detached_ms >= WS_DETACHED_MS) {
            log_info("websocket session %s of kernel %s: not back within %d s; forgotten",
                     self->session, self->k.kernel_id, WS_DETACHED_MS / 1000);
            s_finish(self);
        }
        return;
    }
    if (!self->ws)
        return;
    if (self->closing && now_ms >= self->close_by_ms) {
        s_ws_gone(self);
        return;
    }
    if (wslay_event_get_queued_msg_length(self->ws) > 0 &&
        now_ms - self->progress_ms >= WS_STALL_MS) {
        s_drop_reader(self, "the client read nothing for 60 s");
        return;
    }
    if (!self->closing && now_ms - self->ping_ms >= WS_PING_MS) {
        self->ping_ms = now_ms;
        struct wslay_event_msg ping = {WSLAY_PING, (const uint8_t *)"", 0};
        wslay_event_queue_msg(self->ws, &ping);
        s_flush(self);
    }
}
