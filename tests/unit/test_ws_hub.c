/* test_ws_hub — the WebSocket channels (session/http/ws_hub.c, ws_conn.c)
 * without HTTP: each WebSocket is one end of a socketpair handed to the
 * hub as an upgraded connection; the other end is a libwslay client in
 * the test's main thread. The kernel is the test's own, on the hub's
 * reactor (in a second thread): ROUTER sockets on shell, control and
 * stdin and a PUB on iopub, a key, and signed replies, as a Jupyter kernel
 * has them. Covered: both framings, buffers, routing (iopub to every
 * connection, replies and input requests to the one that asked), bad
 * input and its close codes, a reconnect with the same session_id that
 * gets what it missed, a stale connection replaced, a client that does
 * not read while the kernel floods iopub. */
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <wslay/wslay.h>
#include <zmq.h>

#include "jupyter_ws.h"
#include "reactor.h"
#include "signer.h"
#include "tap.h"
#include "wire_io.h"
#include "ws_hub.h"

#define KEY "test-key"

/* ------------------------------------------------------- the kernel */

typedef struct {
    reactor_t *reactor;
    signer_t *signer;
    void *socks[CONN_NCHANNELS];
    connfile_t conn;
    /* An execute_request waiting for input or for its delayed reply. */
    wire_blob_t held_id, held_parent;
    int delay_fd, flood_fd, flood_left;
} kernel_t;

static kernel_t K;

static void s_publish(const char *type, const wire_blob_t *parent, json_t *content,
                      const wire_frame_t *bufs, size_t n)
{
    wire_io_send(K.socks[CONN_IOPUB], K.signer, "kernel-session", NULL, 0, type, parent,
                 content, bufs, n);
}

static void s_blob_set(wire_blob_t *b, const wire_blob_t *src)
{
    free(b->data);
    b->data = malloc(src->size + 1);
    memcpy(b->data, src->data, src->size);
    b->size = src->size;
}

static void s_execute_reply(void)
{
    wire_io_send(K.socks[CONN_SHELL], K.signer, "kernel-session", &K.held_id, 1, "execute_reply",
                 &K.held_parent, json_pack("{s:s, s:i}", "status", "ok", "execution_count", 1),
                 NULL, 0);
    s_publish("status", &K.held_parent, json_pack("{s:s}", "execution_state", "idle"), NULL, 0);
}

static void s_on_request(void *arg)
{
    conn_channel_t ch = (conn_channel_t)(long)arg;
    void *sock = K.socks[ch];
    for (;;) {
        wire_msg_t m;
        const char *why;
        wire_io_result_t r = wire_io_recv(sock, K.signer, false, &m, &why);
        if (r == WIRE_IO_NONE)
            return;
        if (r != WIRE_IO_MESSAGE)
            continue;
        const char *type = wire_msg_type(&m);
        if (ch == CONN_STDIN) { /* the input_reply */
            if (strcmp(type, "input_reply") == 0) {
                s_publish("stream", &K.held_parent,
                          json_pack("{s:s, s:O}", "name", "stdout", "text",
                                    json_object_get(m.content, "value")),
                          NULL, 0);
                s_execute_reply();
            }
            wire_msg_clear(&m);
            continue;
        }
        s_publish("status", &m.raw_header, json_pack("{s:s}", "execution_state", "busy"), NULL, 0);
        const char *code = json_string_value(json_object_get(m.content, "code"));
        if (strcmp(type, "execute_request") == 0 && code) {
            if (strcmp(code, "buffers") == 0) {
                wire_frame_t bufs[2] = {{"\x00\x01", 2}, {"xyz", 3}};
                s_publish("display_data", &m.raw_header,
                          json_pack("{s:{}, s:{}}", "data", "metadata"), bufs, 2);
            }
            s_blob_set(&K.held_id, &m.identities[0]);
            s_blob_set(&K.held_parent, &m.raw_header);
            if (strncmp(code, "flood ", 6) == 0) {
                /* 10 messages of 4 KiB every 10 ms (4 MB/s): a client that reads
                 * keeps up, one that does not falls behind */
                K.flood_left = atoi(code + 6);
                struct itimerspec t = {{0, 10 * 1000000L}, {0, 10 * 1000000L}};
                timerfd_settime(K.flood_fd, 0, &t, NULL);
            } else if (strcmp(code, "input") == 0) {
                wire_io_send(K.socks[CONN_STDIN], K.signer, "kernel-session", &K.held_id, 1,
                             "input_request", &K.held_parent,
                             json_pack("{s:s, s:b}", "prompt", "? ", "password", 0), NULL, 0);
            } else if (strcmp(code, "slow") == 0) {
                struct itimerspec t = {{0, 0}, {0, 400 * 1000000L}};
                timerfd_settime(K.delay_fd, 0, &t, NULL);
            } else {
                s_execute_reply();
            }
        } else {
            char reply[80];
            snprintf(reply, sizeof reply, "%.*s_reply", (int)(strlen(type) - 8), type);
            wire_io_send(sock, K.signer, "kernel-session", m.identities, m.n_identities, reply,
                         &m.raw_header, json_pack("{s:s}", "status", "ok"), NULL, 0);
            s_publish("status", &m.raw_header, json_pack("{s:s}", "execution_state", "idle"),
                      NULL, 0);
        }
        wire_msg_clear(&m);
    }
}

static void s_on_delay(void *arg)
{
    (void)arg;
    uint64_t n;
    if (read(K.delay_fd, &n, sizeof n) == sizeof n)
        s_execute_reply();
}

static void s_on_flood(void *arg)
{
    (void)arg;
    uint64_t n;
    if (read(K.flood_fd, &n, sizeof n) != sizeof n)
        return;
    char text[4097];
    memset(text, 'x', 4096);
    text[4096] = '\0';
    for (int i = 0; i < 10 && K.flood_left > 0; i++, K.flood_left--)
        s_publish("stream", &K.held_parent,
                  json_pack("{s:s, s:s}", "name", "stdout", "text", text), NULL, 0);
    if (K.flood_left == 0) {
        struct itimerspec off = {{0, 0}, {0, 0}};
        timerfd_settime(K.flood_fd, 0, &off, NULL);
        s_execute_reply();
    }
}

static void s_kernel_start(reactor_t *reactor)
{
    K.reactor = reactor;
    K.signer = signer_new(KEY, strlen(KEY));
    snprintf(K.conn.transport, sizeof K.conn.transport, "tcp");
    snprintf(K.conn.ip, sizeof K.conn.ip, "127.0.0.1");
    snprintf(K.conn.signature_scheme, sizeof K.conn.signature_scheme, "hmac-sha256");
    K.conn.key = strdup(KEY);
    static const int types[] = {[CONN_SHELL] = ZMQ_ROUTER, [CONN_IOPUB] = ZMQ_PUB,
                                [CONN_STDIN] = ZMQ_ROUTER, [CONN_CONTROL] = ZMQ_ROUTER};
    for (int ch = 0; ch < CONN_HB; ch++) {
        K.socks[ch] = zmq_socket(zsys_init(), types[ch]);
        int linger = 0, hwm = 100000;
        zmq_setsockopt(K.socks[ch], ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(K.socks[ch], ZMQ_SNDHWM, &hwm, sizeof hwm);
        if (zmq_bind(K.socks[ch], "tcp://127.0.0.1:*") < 0)
            TAP_BAIL("bind: %s", zmq_strerror(zmq_errno()));
        char ep[128];
        size_t len = sizeof ep;
        zmq_getsockopt(K.socks[ch], ZMQ_LAST_ENDPOINT, ep, &len);
        K.conn.ports[ch] = atoi(strrchr(ep, ':') + 1);
        if (ch != CONN_IOPUB)
            reactor_add(reactor, K.socks[ch], -1, s_on_request, (void *)(long)ch);
    }
    K.conn.ports[CONN_HB] = 1;
    K.delay_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    reactor_add(reactor, NULL, K.delay_fd, s_on_delay, NULL);
    K.flood_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    reactor_add(reactor, NULL, K.flood_fd, s_on_flood, NULL);
}

static void s_kernel_stop(void)
{
    for (int ch = 0; ch < CONN_HB; ch++) {
        reactor_remove(K.reactor, K.socks[ch], -1);
        zmq_close(K.socks[ch]);
    }
    reactor_remove(K.reactor, NULL, K.delay_fd);
    close(K.delay_fd);
    reactor_remove(K.reactor, NULL, K.flood_fd);
    close(K.flood_fd);
    signer_destroy(&K.signer);
    connfile_clear(&K.conn);
    free(K.held_id.data);
    free(K.held_parent.data);
}

/* ------------------------------------------- the hub, in its own thread */

static ws_hub_t *HUB;
static reactor_t *R;
static int CMD[2]; /* main thread -> reactor thread */

typedef struct {
    int fd;
    char session[64];
    bool v1;
    int released; /* written by the reactor thread */
} staged_t;

static void s_release(void *arg)
{
    staged_t *st = arg;
    close(st->fd);
    __atomic_store_n(&st->released, 1, __ATOMIC_SEQ_CST);
}

static void s_on_cmd(void *arg)
{
    (void)arg;
    staged_t *st;
    if (read(CMD[0], &st, sizeof st) != sizeof st)
        return;
    if (!st) {
        reactor_stop(R);
        return;
    }
    ws_accept_t a = {.fd = st->fd, .kernel_id = "00000000-0000-0000-0000-000000000001",
                     .session_id = st->session, .v1 = st->v1, .conn = &K.conn,
                     .release = s_release, .release_arg = st};
    char why[256];
    if (ws_hub_accept(HUB, &a, why, sizeof why) < 0)
        TAP_BAIL("ws_hub_accept: %s", why);
}

static void *s_reactor_thread(void *arg)
{
    (void)arg;
    reactor_run(R);
    return NULL;
}

/* ------------------------------------------------------- the clients */

typedef struct msg {
    struct msg *next;
    int opcode;
    unsigned char *data;
    size_t len;
} msg_t;

typedef struct {
    int fd;
    wslay_event_context_ptr ws;
    msg_t *head, *tail;
    bool closed;
    uint16_t close_code;
    char close_reason[128];
    staged_t st;
    bool v1;
} client_t;

static ssize_t s_c_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *u)
{
    (void)flags;
    client_t *c = u;
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (n <= 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return n;
}

static ssize_t s_c_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                        void *u)
{
    (void)flags;
    client_t *c = u;
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n < 0) {
        wslay_event_set_error(ctx, errno == EAGAIN ? WSLAY_ERR_WOULDBLOCK
                                                   : WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return n;
}

static int s_c_mask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *u)
{
    (void)ctx;
    (void)u;
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)rand();
    return 0;
}

static void s_c_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                    void *u)
{
    (void)ctx;
    client_t *c = u;
    if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
        c->closed = true;
        c->close_code = arg->status_code;
        size_t n = arg->msg_length > 2 ? arg->msg_length - 2 : 0;
        if (n >= sizeof c->close_reason)
            n = sizeof c->close_reason - 1;
        memcpy(c->close_reason, arg->msg + 2, n);
        c->close_reason[n] = '\0';
        return;
    }
    if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME)
        return;
    msg_t *m = calloc(1, sizeof *m);
    m->opcode = arg->opcode;
    m->data = malloc(arg->msg_length + 1);
    memcpy(m->data, arg->msg, arg->msg_length);
    m->data[arg->msg_length] = 0;
    m->len = arg->msg_length;
    if (c->tail)
        c->tail->next = m;
    else
        c->head = m;
    c->tail = m;
}

static void s_connect(client_t *c, const char *session, bool v1)
{
    memset(c, 0, sizeof *c);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
        TAP_BAIL("socketpair");
    c->fd = sv[0];
    c->v1 = v1;
    c->st.fd = sv[1];
    c->st.v1 = v1;
    snprintf(c->st.session, sizeof c->st.session, "%s", session);
    static const struct wslay_event_callbacks cb = {
        .recv_callback = s_c_recv, .send_callback = s_c_send, .genmask_callback = s_c_mask,
        .on_msg_recv_callback = s_c_msg};
    wslay_event_context_client_init(&c->ws, &cb, c);
    staged_t *st = &c->st;
    if (write(CMD[1], &st, sizeof st) != sizeof st)
        TAP_BAIL("write");
}

/* Drives the client until |until(c)| or |ms| pass. */
static bool s_pump(client_t *c, int ms, bool (*until)(client_t *))
{
    long long end = reactor_now_ms() + ms;
    while (!until(c)) {
        long long left = end - reactor_now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {c->fd, POLLIN | (wslay_event_want_write(c->ws) ? POLLOUT : 0), 0};
        poll(&p, 1, (int)(left < 50 ? left : 50));
        if (p.revents & (POLLIN | POLLHUP | POLLERR))
            if (wslay_event_recv(c->ws) < 0)
                c->closed = c->closed || true;
        if (wslay_event_want_write(c->ws))
            wslay_event_send(c->ws);
        if (c->closed && !c->head)
            return until(c);
    }
    return true;
}

static bool s_has_msg(client_t *c)
{
    return c->head != NULL;
}

static bool s_is_closed(client_t *c)
{
    return c->closed;
}

static msg_t *s_next(client_t *c, int ms)
{
    if (!s_pump(c, ms, s_has_msg))
        return NULL;
    msg_t *m = c->head;
    c->head = m->next;
    if (!c->head)
        c->tail = NULL;
    return m;
}

static void s_msg_free(msg_t *m)
{
    if (m) {
        free(m->data);
        free(m);
    }
}

/* Queues a message and writes it, reading meanwhile (the server may close
 * before it has read it all). */
static void s_send_raw(client_t *c, int opcode, const void *data, size_t len)
{
    struct wslay_event_msg m = {(uint8_t)opcode, data, len};
    wslay_event_queue_msg(c->ws, &m);
    while (wslay_event_want_write(c->ws) && !c->closed) {
        if (wslay_event_send(c->ws) < 0)
            break;
        struct pollfd p = {c->fd, POLLIN | POLLOUT, 0};
        poll(&p, 1, 50);
        if ((p.revents & (POLLIN | POLLHUP | POLLERR)) && wslay_event_recv(c->ws) < 0)
            c->closed = true;
    }
}

/* Sends a request on |channel| in the client's framing. */
static void s_request(client_t *c, const char *channel, const char *msg_id, const char *type,
                      json_t *content)
{
    /* A distinct date per request: the same header twice would be signed
     * the same, and a kernel refuses a replayed signature. */
    static int count;
    char date[40];
    snprintf(date, sizeof date, "2026-01-02T03:04:05.%06dZ", ++count);
    json_t *header = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "msg_id", msg_id, "msg_type",
                               type, "session", c->st.session, "username", "test", "version",
                               "5.3", "date", date);
    if (c->v1) {
        char *h = json_dumps(header, JSON_COMPACT), *ct = json_dumps(content, JSON_COMPACT);
        wire_frame_t parts[4] = {{h, strlen(h)}, {"{}", 2}, {"{}", 2}, {ct, strlen(ct)}};
        conn_channel_t ch;
        jupyter_ws_channel_from_name(channel, strlen(channel), &ch);
        jupyter_ws_frame_t f;
        jupyter_ws_err_t err;
        jupyter_ws_encode(JUPYTER_WS_V1, ch, parts, NULL, 0, &f, &err);
        s_send_raw(c, WSLAY_BINARY_FRAME, f.data, f.size);
        jupyter_ws_frame_clear(&f);
        free(h);
        free(ct);
    } else {
        json_t *msg = json_pack("{s:s, s:O, s:{}, s:{}, s:O}", "channel", channel, "header",
                                header, "parent_header", "metadata", "content", content);
        char *text = json_dumps(msg, JSON_COMPACT);
        s_send_raw(c, WSLAY_TEXT_FRAME, text, strlen(text));
        free(text);
        json_decref(msg);
    }
    json_decref(header);
    json_decref(content);
}

/* What a received message says: channel, msg_type, parent msg_id, the
 * content (new reference), the number of buffers. */
typedef struct {
    char channel[16], msg_type[64], parent_id[64];
    json_t *content;
    size_t n_buffers;
    wire_frame_t buffers[8]; /* point into |raw| */
    msg_t *raw;
} seen_t;

static void s_msg_free(msg_t *m);

static void s_seen_clear(seen_t *s)
{
    json_decref(s->content);
    s_msg_free(s->raw);
    memset(s, 0, sizeof *s);
}

static uint64_t s_le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static bool s_parse(const client_t *c, const msg_t *m, seen_t *s)
{
    memset(s, 0, sizeof *s);
    json_t *header = NULL, *parent = NULL;
    if (c->v1) {
        if (m->opcode != WSLAY_BINARY_FRAME || m->len < 8)
            return false;
        uint64_t n = s_le(m->data);
        if (n < 6 || n > 14 || 8 * (n + 1) > m->len)
            return false;
        uint64_t off[16];
        for (uint64_t i = 0; i < n; i++)
            off[i] = s_le(m->data + 8 * (i + 1));
        snprintf(s->channel, sizeof s->channel, "%.*s", (int)(off[1] - off[0]),
                 m->data + off[0]);
        header = json_loadb((char *)m->data + off[1], off[2] - off[1], 0, NULL);
        parent = json_loadb((char *)m->data + off[2], off[3] - off[2], 0, NULL);
        s->content = json_loadb((char *)m->data + off[4], off[5] - off[4], 0, NULL);
        for (uint64_t i = 5; i + 1 < n; i++)
            s->buffers[s->n_buffers++] = (wire_frame_t){m->data + off[i], off[i + 1] - off[i]};
    } else {
        json_t *msg;
        if (m->opcode == WSLAY_TEXT_FRAME) {
            msg = json_loadb((char *)m->data, m->len, 0, NULL);
        } else {
            const unsigned char *p = m->data;
            size_t n = (size_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
            size_t off[16] = {0};
            if (n < 1 || n > 15 || 4 * (n + 1) > m->len)
                return false;
            for (size_t i = 0; i < n && i < 15; i++) {
                const unsigned char *q = p + 4 * (i + 1);
                off[i] = (size_t)q[0] << 24 | q[1] << 16 | q[2] << 8 | q[3];
            }
            off[n] = m->len;
            msg = json_loadb((char *)p + off[0], off[1] - off[0], 0, NULL);
            for (size_t i = 1; i < n; i++)
                s->buffers[s->n_buffers++] = (wire_frame_t){p + off[i], off[i + 1] - off[i]};
        }
        if (!msg)
            return false;
        snprintf(s->channel, sizeof s->channel, "%s",
                 json_string_value(json_object_get(msg, "channel")));
        header = json_incref(json_object_get(msg, "header"));
        parent = json_incref(json_object_get(msg, "parent_header"));
        s->content = json_incref(json_object_get(msg, "content"));
        /* jupyter_server's top-level copies of the header's fields */
        if (!json_equal(json_object_get(msg, "msg_type"), json_object_get(header, "msg_type")))
            s->channel[0] = '\0';
        json_decref(msg);
    }
    const char *t = json_string_value(json_object_get(header, "msg_type"));
    const char *p = json_string_value(json_object_get(parent, "msg_id"));
    snprintf(s->msg_type, sizeof s->msg_type, "%s", t ? t : "");
    snprintf(s->parent_id, sizeof s->parent_id, "%s", p ? p : "");
    json_decref(header);
    json_decref(parent);
    return t != NULL;
}

/* Reads until a message of |type| on |channel| arrives; counts iopub
 * status and stream messages seen on the way. */
static bool s_wait_for(client_t *c, const char *channel, const char *type, seen_t *out, int ms)
{
    memset(out, 0, sizeof *out);
    for (;;) {
        msg_t *m = s_next(c, ms);
        if (!m)
            return false;
        seen_t s;
        bool ok = s_parse(c, m, &s);
        s.raw = m;
        if (ok && strcmp(s.channel, channel) == 0 && strcmp(s.msg_type, type) == 0) {
            *out = s;
            return true;
        }
        s_seen_clear(&s);
    }
}

static void s_close_client(client_t *c)
{
    close(c->fd);
    wslay_event_context_free(c->ws);
    while (c->head) {
        msg_t *m = c->head;
        c->head = m->next;
        s_msg_free(m);
    }
    /* The hub lets go of its end once it notices. */
    for (int i = 0; i < 200 && !__atomic_load_n(&c->st.released, __ATOMIC_SEQ_CST); i++)
        usleep(10000);
}

/* ------------------------------------------------------------- tests */

static void s_test_round_trip(bool v1)
{
    client_t c;
    s_connect(&c, "", v1);
    s_request(&c, "shell", "k1", "kernel_info_request", json_object());
    seen_t s;
    CHECK(s_wait_for(&c, "shell", "kernel_info_reply", &s, 5000));
    CHECK_STR(s.parent_id, "k1");
    s_seen_clear(&s);
    s_request(&c, "shell", "e1", "execute_request", json_pack("{s:s}", "code", "buffers"));
    if (CHECK(s_wait_for(&c, "iopub", "display_data", &s, 5000))) {
        CHECK_STR(s.parent_id, "e1");
        CHECK_INT(s.n_buffers, 2);
        CHECK(s.n_buffers == 2 && s.buffers[1].size == 3 &&
              memcmp(s.buffers[1].data, "xyz", 3) == 0);
        s_seen_clear(&s);
    }
    /* The reply (shell) and idle (iopub) cross different sockets: either
     * may come first. */
    bool reply = false, idle = false;
    for (int i = 0; i < 10 && !(reply && idle); i++) {
        msg_t *m = s_next(&c, 5000);
        if (!m)
            break;
        if (s_parse(&c, m, &s)) {
            reply = reply || (strcmp(s.msg_type, "execute_reply") == 0 &&
                              strcmp(s.channel, "shell") == 0 && strcmp(s.parent_id, "e1") == 0);
            const char *st = json_string_value(json_object_get(s.content, "execution_state"));
            idle = idle || (st && strcmp(st, "idle") == 0 && strcmp(s.parent_id, "e1") == 0);
        }
        s.raw = m;
        s_seen_clear(&s);
    }
    CHECK(reply && idle);
    /* control goes to control */
    s_request(&c, "control", "c1", "interrupt_request", json_object());
    CHECK(s_wait_for(&c, "control", "interrupt_reply", &s, 5000));
    s_seen_clear(&s);
    s_close_client(&c);
    tap_case("%s: kernel_info, execute with two buffers, control; channels and parents kept",
             v1 ? "v1" : "legacy");
}

static void s_test_bad(const char *what, bool v1, int opcode, const void *data, size_t len,
                       uint16_t code)
{
    client_t c;
    s_connect(&c, "", v1);
    s_send_raw(&c, opcode, data, len);
    CHECK(s_pump(&c, 5000, s_is_closed));
    if (!CHECK_INT(c.close_code, code))
        tap_diag("    reason: %s", c.close_reason);
    /* libwslay's own checks (UTF-8 of text frames, the size limit) close
     * without a reason; sandcell's give one. */
    if (code != 1007 && code != 1009)
        CHECK(c.close_reason[0] != '\0');
    s_close_client(&c);
    tap_case("%s closes with %u", what, code);
}

static void s_test_routing(void)
{
    client_t a, b;
    s_connect(&a, "sa", false);
    s_connect(&b, "sb", true);
    s_request(&a, "shell", "ra", "execute_request", json_pack("{s:s}", "code", "input"));
    seen_t s;
    CHECK(s_wait_for(&a, "stdin", "input_request", &s, 5000));
    s_seen_clear(&s);
    s_request(&a, "stdin", "in1", "input_reply", json_pack("{s:s}", "value", "typed"));
    CHECK(s_wait_for(&a, "shell", "execute_reply", &s, 5000));
    s_seen_clear(&s);
    /* b saw a's output on iopub, and neither the input_request nor the reply */
    bool saw_stream = false, saw_other = false;
    for (;;) {
        msg_t *m = s_next(&b, 1000);
        if (!m)
            break;
        seen_t t;
        if (s_parse(&b, m, &t)) {
            if (strcmp(t.msg_type, "stream") == 0 && strcmp(t.parent_id, "ra") == 0)
                saw_stream = strcmp(json_string_value(json_object_get(t.content, "text")),
                                    "typed") == 0;
            if (strcmp(t.channel, "iopub") != 0)
                saw_other = true;
            json_decref(t.content);
        }
        s_msg_free(m);
        if (saw_stream)
            break;
    }
    CHECK(saw_stream);
    CHECK(!saw_other);
    s_close_client(&a);
    s_close_client(&b);
    tap_case("iopub to every connection; input_request and reply only to the one that asked");
}

static void s_test_reconnect(void)
{
    client_t a;
    s_connect(&a, "resume-me", false);
    seen_t s;
    s_request(&a, "shell", "k0", "kernel_info_request", json_object());
    CHECK(s_wait_for(&a, "shell", "kernel_info_reply", &s, 5000));
    s_seen_clear(&s);
    s_request(&a, "shell", "slow1", "execute_request", json_pack("{s:s}", "code", "slow"));
    s_pump(&a, 100, s_is_closed); /* let it reach the kernel */
    s_close_client(&a); /* away before the reply */
    usleep(600 * 1000); /* the reply arrives meanwhile */
    client_t b;
    s_connect(&b, "resume-me", true); /* back, in the other framing */
    CHECK(s_wait_for(&b, "shell", "execute_reply", &s, 5000));
    CHECK_STR(s.parent_id, "slow1");
    s_seen_clear(&s);
    /* and a stale connection is replaced by a new one with its session_id */
    client_t c;
    s_connect(&c, "resume-me", false);
    CHECK(s_pump(&b, 5000, s_is_closed));
    CHECK_INT(b.close_code, 1000);
    s_request(&c, "shell", "k2", "kernel_info_request", json_object());
    CHECK(s_wait_for(&c, "shell", "kernel_info_reply", &s, 5000));
    s_seen_clear(&s);
    s_close_client(&b);
    s_close_client(&c);
    tap_case("a reconnect with its session_id gets the reply it missed; a stale one is replaced");
}

static void s_test_slow_reader(void)
{
    client_t slow, other;
    s_connect(&slow, "", false);
    s_connect(&other, "", true);
    seen_t s;
    s_request(&other, "shell", "k", "kernel_info_request", json_object());
    CHECK(s_wait_for(&other, "shell", "kernel_info_reply", &s, 5000));
    s_seen_clear(&s);
    s_pump(&slow, 200, s_is_closed); /* subscribed and started; then it reads nothing */
    s_request(&other, "shell", "f1", "execute_request", json_pack("{s:s}", "code", "flood 2000"));
    /* The other client gets all of it meanwhile. */
    int streams = 0;
    for (;;) {
        msg_t *m = s_next(&other, 10000);
        if (!m)
            break;
        seen_t t;
        bool ok = s_parse(&other, m, &t);
        s_msg_free(m);
        if (!ok)
            continue;
        streams += strcmp(t.msg_type, "stream") == 0;
        /* idle follows every output on iopub (the reply is on shell, and
         * may come first) */
        const char *st = json_string_value(json_object_get(t.content, "execution_state"));
        bool done = st && strcmp(st, "idle") == 0 && strcmp(t.parent_id, "f1") == 0;
        json_decref(t.content);
        if (done)
            break;
    }
    CHECK_INT(streams, 2000);
    /* The slow one now reads: some output, the note, fewer than 2000. */
    int slow_streams = 0;
    bool note = false, reply = false;
    for (;;) {
        msg_t *m = s_next(&slow, 2000);
        if (!m)
            break;
        seen_t t;
        if (s_parse(&slow, m, &t)) {
            const char *text = json_string_value(json_object_get(t.content, "text"));
            if (text && strstr(text, "being dropped"))
                note = true;
            else if (strcmp(t.msg_type, "stream") == 0)
                slow_streams++;
            reply = reply || strcmp(t.msg_type, "execute_reply") == 0;
            json_decref(t.content);
        }
        s_msg_free(m);
    }
    CHECK(note);
    CHECK(slow_streams > 0 && slow_streams < 2000);
    CHECK(!reply);
    tap_diag("slow reader got %d of 2000 stream messages", slow_streams);
    s_close_client(&slow);
    s_close_client(&other);
    tap_case("iopub to a client that does not read is dropped with a note; others get it all");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    R = reactor_new();
    if (!R || pipe(CMD) < 0)
        TAP_BAIL("setup");
    s_kernel_start(R);
    HUB = ws_hub_new(R);
    if (!HUB)
        TAP_BAIL("ws_hub_new");
    reactor_add(R, NULL, CMD[0], s_on_cmd, NULL);
    pthread_t t;
    pthread_create(&t, NULL, s_reactor_thread, NULL);

    s_test_round_trip(true);
    s_test_round_trip(false);
    s_test_routing();
    s_test_reconnect();
    s_test_slow_reader();
    static const char bad_utf8[] = "{\"header\":\"\xff\"}";
    s_test_bad("invalid UTF-8 in a text frame", false, WSLAY_TEXT_FRAME, bad_utf8,
               sizeof bad_utf8 - 1, 1007);
    static const char unknown[] = "{\"channel\":\"nope\",\"header\":{\"msg_id\":\"a\","
                                  "\"msg_type\":\"b\"}}";
    s_test_bad("an unknown channel", false, WSLAY_TEXT_FRAME, unknown, sizeof unknown - 1, 1008);
    s_test_bad("a text frame under v1", true, WSLAY_TEXT_FRAME, "{}", 2, 1003);
    size_t big = WS_MAX_MESSAGE + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    s_test_bad("a message over 32 MiB", false, WSLAY_BINARY_FRAME, huge, big, 1009);
    free(huge);

    staged_t *stop = NULL;
    if (write(CMD[1], &stop, sizeof stop) != sizeof stop)
        TAP_BAIL("write");
    pthread_join(t, NULL);
    CHECK_INT(ws_hub_connections(HUB, NULL), 0);
    ws_hub_destroy(&HUB);
    s_kernel_stop();
    reactor_remove(R, NULL, CMD[0]);
    reactor_destroy(&R);
    close(CMD[0]);
    close(CMD[1]);
    tap_case("every connection released; nothing left");
    zsys_shutdown();
    return tap_done();
}
