/* ws_hub — the WebSocket connections of every kernel, and each kernel's
 * iopub subscription.
 *
 * A kernel is known here from its first connection until its last one
 * (attached or detached) is gone. Its SUB socket is shared by its
 * connections: one copy of each iopub message crosses ZeroMQ whatever the
 * number of clients. A new SUB socket is subscribed asynchronously, and
 * what the kernel publishes before the subscription reaches it is lost;
 * so, as Jupyter Server's nudge does, a new kernel entry sends
 * kernel_info_request on control (from a socket of its own, every 200 ms)
 * until an iopub message arrives, and its connections read nothing from
 * their clients until then (at most WS_NUDGE_MS). The status messages of
 * those probes are not passed on.
 *
 * Connections finish inside their own callbacks; they are freed at a
 * safe point, from the hub's own eventfd handler. */
#include "ws_hub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <czmq.h>
#include <zmq.h>

#include "header.h"
#include "log.h"
#include "util.h"
#include "ws_conn.h"
#include "ws_kmsg.h"

#define NUDGE_PREFIX "sandcell-ws-nudge-"
#define TIMER_MS 200

struct ws_kernel {
    ws_kernel_t *next;
    ws_hub_t *hub;
    char id[128];
    connfile_t conn;
    signer_t *signer;
    void *iopub; /* SUB */
    void *probe; /* DEALER on control, while probing */
    bool ready;
    long long probe_started_ms, probe_sent_ms;
    ws_conn_t *conns;
};

struct ws_hub {
    reactor_t *reactor;
    ws_kernel_t *kernels;
    int timer_fd, wake_fd;
    int ticks;
};

/* ------------------------------------------------------------ kernels */

static void s_kernel_ready(ws_kernel_t *k, const char *how)
{
    if (k->ready)
        return;
    k->ready = true;
    if (k->probe) {
        reactor_remove(k->hub->reactor, k->probe, -1);
        zmq_close(k->probe);
        k->probe = NULL;
    }
    if (how)
        log_warn("websocket: kernel %s: %s", k->id, how);
    for (ws_conn_t *c = k->conns; c; c = *ws_conn_next(c))
        ws_conn_start(c);
}

static void s_probe_send(ws_kernel_t *k)
{
    char id[HEADER_ID_LEN + 1], date[HEADER_DATE_LEN + 1], header[640];
    header_new_id(id);
    header_now(date);
    snprintf(header, sizeof header,
             "{\"msg_id\":\"" NUDGE_PREFIX "%s\",\"msg_type\":\"kernel_info_request\","
             "\"session\":\"" NUDGE_PREFIX "%s\",\"username\":\"sandcell\",\"date\":\"%s\","
             "\"version\":\"" HEADER_PROTOCOL_VERSION "\"}",
             id, k->id, date);
    json_auto_t *content = json_object();
    wire_outgoing_t out = {.header_text = {header, strlen(header)}, .content = content};
    wire_frames_t frames;
    proto_err_t err;
    if (content && wire_encode(k->signer, &out, &frames, &err) == 0) {
        wire_io_send_frames(k->probe, &frames);
        wire_frames_clear(&frames);
    }
    k->probe_sent_ms = reactor_now_ms();
}

/* The probe's replies are not anyone's: read and dropped. */
static void s_on_probe(void *arg)
{
    ws_kernel_t *k = arg;
    for (int i = 0; i < 64 && k->probe; i++) {
        ws_kmsg_t m;
        int rc = ws_kmsg_recv(k->probe, k->signer, &m);
        reactor_touch(k->hub->reactor, k->probe);
        if (rc == 0)
            break;
        if (rc > 0)
            ws_kmsg_close(&m);
    }
}

static bool s_from_probe(const wire_frame_t *parent)
{
    static const char needle[] = "\"msg_id\":\"" NUDGE_PREFIX;
    return parent->size >= sizeof needle - 1 &&
           memmem(parent->data, parent->size, needle, sizeof needle - 1) != NULL;
}

static void s_on_iopub(void *arg)
{
    ws_kernel_t *k = arg;
    for (int i = 0; i < 64; i++) {
        ws_kmsg_t m;
        int rc = ws_kmsg_recv(k->iopub, k->signer, &m);
        reactor_touch(k->hub->reactor, k->iopub);
        if (rc == 0)
            break;
        if (rc < 0) {
            log_warn("websocket: kernel %s: an iopub message was dropped: %s", k->id, m.why);
            continue;
        }
        if (!k->ready) {
            s_kernel_ready(k, NULL); /* subscribed: what came before was no client's */
        } else if (!s_from_probe(&m.parts[1])) {
            for (ws_conn_t *c = k->conns; c; c = *ws_conn_next(c))
                ws_conn_deliver(c, CONN_IOPUB, m.parts, m.buffers, m.n_buffers, m.msg_type);
        }
        ws_kmsg_close(&m);
    }
}

static void s_kernel_free(ws_kernel_t *k, uint16_t code, const char *reason)
{
    while (k->conns) {
        ws_conn_t *c = k->conns;
        k->conns = *ws_conn_next(c);
        ws_conn_destroy(&c, code, reason);
    }
    void *socks[2] = {k->iopub, k->probe};
    for (int i = 0; i < 2; i++) {
        if (!socks[i])
            continue;
        reactor_remove(k->hub->reactor, socks[i], -1);
        zmq_close(socks[i]);
    }
    signer_destroy(&k->signer);
    connfile_clear(&k->conn);
    free(k);
}

static void *s_socket(ws_kernel_t *k, int type, conn_channel_t ch, char *why, size_t why_len)
{
    char endpoint[300];
    int linger = 0, hwm = 10000;
    void *sock = zmq_socket(zsys_init(), type);
    if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        (type == ZMQ_SUB && (zmq_setsockopt(sock, ZMQ_SUBSCRIBE, "", 0) < 0 ||
                             zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm) < 0)) ||
        connfile_endpoint(&k->conn, ch, endpoint, sizeof endpoint) < 0 ||
        zmq_connect(sock, endpoint) < 0) {
        snprintf(why, why_len, "cannot connect to the kernel's %s socket: %s",
                 jupyter_ws_channel_name(ch), zmq_strerror(zmq_errno()));
        if (sock)
            zmq_close(sock);
        return NULL;
    }
    return sock;
}

static ws_kernel_t *s_kernel_new(ws_hub_t *hub, const char *id, const connfile_t *conn,
                                 char *why, size_t why_len)
{
    ws_kernel_t *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    k->hub = hub;
    snprintf(k->id, sizeof k->id, "%s", id);
    k->conn = *conn;
    k->conn.key = strdup(conn->key ? conn->key : "");
    k->signer = k->conn.key ? signer_new(k->conn.key, strlen(k->conn.key)) : NULL;
    if (!k->conn.key || !k->signer) {
        snprintf(why, why_len, "out of memory (or the kernel has no key)");
        goto fail;
    }
    if (!(k->iopub = s_socket(k, ZMQ_SUB, CONN_IOPUB, why, why_len)) ||
        !(k->probe = s_socket(k, ZMQ_DEALER, CONN_CONTROL, why, why_len)))
        goto fail;
    if (reactor_add(hub->reactor, k->iopub, -1, s_on_iopub, k) < 0 ||
        reactor_add(hub->reactor, k->probe, -1, s_on_probe, k) < 0) {
        snprintf(why, why_len, "out of memory");
        goto fail;
    }
    k->probe_started_ms = reactor_now_ms();
    s_probe_send(k);
    k->next = hub->kernels;
    hub->kernels = k;
    return k;
fail:
    s_kernel_free(k, 1011, "");
    return NULL;
}

static bool s_same_conn(const connfile_t *a, const connfile_t *b)
{
    return strcmp(a->ip, b->ip) == 0 && strcmp(a->transport, b->transport) == 0 &&
           memcmp(a->ports, b->ports, sizeof a->ports) == 0 && a->key && b->key &&
           strcmp(a->key, b->key) == 0;
}

static ws_kernel_t **s_find(ws_hub_t *hub, const char *id)
{
    ws_kernel_t **p = &hub->kernels;
    while (*p && strcmp((*p)->id, id) != 0)
        p = &(*p)->next;
    return p;
}

/* ------------------------------------------------------- safe points */

void ws_hub_conn_finished(ws_kernel_t *kernel, ws_conn_t *conn)
{
    (void)conn;
    uint64_t one = 1;
    if (write(kernel->hub->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_warn("websocket: cannot wake the hub: %s", strerror(errno));
}

/* Frees finished connections and kernels left with none. */
static void s_reap(ws_hub_t *hub)
{
    ws_kernel_t **kp = &hub->kernels;
    while (*kp) {
        ws_kernel_t *k = *kp;
        ws_conn_t **cp = &k->conns;
        while (*cp) {
            ws_conn_t *c = *cp;
            if (ws_conn_finished(c)) {
                *cp = *ws_conn_next(c);
                ws_conn_destroy(&c, 1000, "");
            } else {
                cp = ws_conn_next(c);
            }
        }
        if (!k->conns) {
            *kp = k->next;
            s_kernel_free(k, 1000, "");
        } else {
            kp = &k->next;
        }
    }
}

static void s_on_wake(void *arg)
{
    ws_hub_t *hub = arg;
    uint64_t n;
    if (read(hub->wake_fd, &n, sizeof n) < 0 && errno != EAGAIN)
        log_warn("websocket: reading the hub's eventfd: %s", strerror(errno));
    s_reap(hub);
}

static void s_on_timer(void *arg)
{
    ws_hub_t *hub = arg;
    uint64_t n;
    if (read(hub->timer_fd, &n, sizeof n) < 0 && errno != EAGAIN)
        return;
    long long now = reactor_now_ms();
    bool second = ++hub->ticks % (1000 / TIMER_MS) == 0;
    for (ws_kernel_t *k = hub->kernels; k; k = k->next) {
        if (!k->ready && now - k->probe_started_ms >= WS_NUDGE_MS)
            s_kernel_ready(k, "no iopub message within 5 s of subscribing; its connections "
                              "start anyway");
        else if (!k->ready && now - k->probe_sent_ms >= TIMER_MS)
            s_probe_send(k);
        if (!second)
            continue;
        for (ws_conn_t *c = k->conns; c; c = *ws_conn_next(c))
            ws_conn_tick(c, now);
    }
    s_reap(hub);
}

/* ------------------------------------------------------------- the API */

ws_hub_t *ws_hub_new(reactor_t *reactor)
{
    ws_hub_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->reactor = reactor;
    self->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    self->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct itimerspec every = {{0, TIMER_MS * 1000000L}, {0, TIMER_MS * 1000000L}};
    if (self->timer_fd < 0 || self->wake_fd < 0 ||
        timerfd_settime(self->timer_fd, 0, &every, NULL) < 0 ||
        reactor_add(reactor, NULL, self->timer_fd, s_on_timer, self) < 0 ||
        reactor_add(reactor, NULL, self->wake_fd, s_on_wake, self) < 0) {
        ws_hub_destroy(&self);
        return NULL;
    }
    return self;
}

void ws_hub_destroy(ws_hub_t **self_p)
{
    ws_hub_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    while (self->kernels) {
        ws_kernel_t *k = self->kernels;
        self->kernels = k->next;
        s_kernel_free(k, 1001, "the server is shutting down");
    }
    int fds[2] = {self->timer_fd, self->wake_fd};
    for (int i = 0; i < 2; i++) {
        if (fds[i] < 0)
            continue;
        reactor_remove(self->reactor, NULL, fds[i]);
        close(fds[i]);
    }
    free(self);
}

int ws_hub_accept(ws_hub_t *self, const ws_accept_t *a, char *why, size_t why_len)
{
    ws_kernel_t **kp = s_find(self, a->kernel_id);
    if (*kp && !s_same_conn(&(*kp)->conn, a->conn)) {
        /* The same id on other sockets: what was known of it is stale. */
        ws_kernel_t *old = *kp;
        *kp = old->next;
        s_kernel_free(old, 1001, "kernel restarted");
    }
    ws_kernel_t *k = *kp ? *kp : s_kernel_new(self, a->kernel_id, a->conn, why, why_len);
    if (!k)
        return -1;
    const char *session = a->session_id ? a->session_id : "";
    ws_conn_t *c = NULL;
    if (session[0])
        for (c = k->conns; c; c = *ws_conn_next(c))
            if (!ws_conn_finished(c) && strcmp(ws_conn_session(c), session) == 0)
                break;
    if (c) {
        if (ws_conn_attach(c, a, k->ready, "replaced by a new connection with the same "
                                           "session_id") < 0) {
            snprintf(why, why_len, "out of memory");
            return -1;
        }
        return 0;
    }
    ws_conn_kernel_t ck = {self->reactor, k->signer, &k->conn, k->id, k};
    c = ws_conn_new(&ck, session, why, why_len);
    if (c && ws_conn_attach(c, a, k->ready, "") < 0) {
        snprintf(why, why_len, "out of memory");
        ws_conn_forget(&c);
    }
    if (!c) {
        if (!k->conns) { /* made for this connection only */
            *s_find(self, k->id) = k->next;
            s_kernel_free(k, 1011, "");
        }
        return -1;
    }
    *ws_conn_next(c) = k->conns;
    k->conns = c;
    return 0;
}

void ws_hub_forget(ws_hub_t *self, void *release_arg)
{
    for (ws_kernel_t *k = self->kernels; k; k = k->next) {
        for (ws_conn_t **cp = &k->conns; *cp; cp = ws_conn_next(*cp)) {
            ws_conn_t *c = *cp;
            if (ws_conn_attached(c) && ws_conn_release_arg(c) == release_arg) {
                *cp = *ws_conn_next(c);
                ws_conn_forget(&c);
                return;
            }
        }
    }
}

void ws_hub_kernel_gone(ws_hub_t *self, const char *kernel_id)
{
    ws_kernel_t **kp = s_find(self, kernel_id);
    if (!*kp)
        return;
    ws_kernel_t *k = *kp;
    *kp = k->next;
    s_kernel_free(k, 1001, "kernel stopped");
}

long ws_hub_connections(const ws_hub_t *self, const char *kernel_id)
{
    long n = 0;
    for (const ws_kernel_t *k = self->kernels; k; k = k->next) {
        if (kernel_id && strcmp(k->id, kernel_id) != 0)
            continue;
        for (ws_conn_t *c = k->conns; c; c = *ws_conn_next(c))
            n += ws_conn_attached(c) && !ws_conn_finished(c);
    }
    return n;
}
