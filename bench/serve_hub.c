/* serve_hub — many clients of bench/serve served by one epoll.
 *
 * The epoll is over the sockets' ZMQ_FDs: zmq_poll costs a system call per
 * socket per call, which would bill the client's overhead to the side with
 * more conversations. ZMQ_FD only says "look at this socket", so a client
 * is "kicked" (drained to EAGAIN) when its descriptor fires, right after
 * each send (a send may consume the signal) and every 250 ms as a safety
 * net; a tick every 50 ms checks timeouts, dead kernels and the daemon. A
 * cell is done at its execute_reply AND its status idle, unless the caller
 * asked for the reply alone. */
#include "serve.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <zmq.h>

#include "util.h"

int serve_hub_init(hub_t *h, double cell_timeout_s)
{
    *h = (hub_t){.cell_timeout_us = cell_timeout_s * 1e6};
    h->epfd = epoll_create1(EPOLL_CLOEXEC);
    return h->epfd < 0 ? -1 : 0;
}

void serve_hub_free(hub_t *h)
{
    for (size_t i = 0; i < h->n; i++) {
        h->cl[i]->hub_index = SIZE_MAX;
        h->cl[i]->kicked = false;
        h->cl[i]->op = OP_NONE;
    }
    if (h->epfd >= 0)
        close(h->epfd);
    free(h->cl);
    free(h->kicked);
    *h = (hub_t){.epfd = -1};
}

static int s_zmq_fd(void *sock)
{
    int fd = -1;
    size_t len = sizeof fd;
    return zmq_getsockopt(sock, ZMQ_FD, &fd, &len) < 0 ? -1 : fd;
}

static int s_hub_ctl(hub_t *h, int op, client_t *c, size_t index)
{
    void *socks[2] = {c->shell, c->iopub};
    for (int i = 0; i < 2; i++) {
        int fd = s_zmq_fd(socks[i]);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)index << 1 | (uint64_t)i};
        if (fd < 0 || epoll_ctl(h->epfd, op, fd, &ev) < 0)
            return -1;
    }
    return 0;
}

static void s_hub_kick(hub_t *h, client_t *c)
{
    if (c->kicked || c->hub_index == SIZE_MAX)
        return;
    c->kicked = true;
    h->kicked[h->nkicked++] = c;
}

int serve_hub_add(hub_t *h, client_t *c)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        client_t **cl = realloc(h->cl, cap * sizeof *cl);
        if (!cl)
            return serve_client_fail(c, "out of memory");
        h->cl = cl;
        client_t **k = realloc(h->kicked, cap * sizeof *k);
        if (!k)
            return serve_client_fail(c, "out of memory");
        h->kicked = k;
        h->cap = cap;
    }
    if (s_hub_ctl(h, EPOLL_CTL_ADD, c, h->n) < 0)
        return serve_client_fail(c, "epoll: %s", strerror(errno));
    c->hub_index = h->n;
    c->kicked = false;
    c->op = OP_NONE;
    h->cl[h->n++] = c;
    s_hub_kick(h, c);
    return 0;
}

void serve_hub_remove(hub_t *h, client_t *c)
{
    size_t i = c->hub_index;
    if (i == SIZE_MAX || i >= h->n || h->cl[i] != c)
        return;
    void *socks[2] = {c->shell, c->iopub};
    for (int j = 0; j < 2; j++) {
        int fd = s_zmq_fd(socks[j]);
        if (fd >= 0)
            epoll_ctl(h->epfd, EPOLL_CTL_DEL, fd, NULL);
    }
    if (c->op != OP_NONE && h->busy)
        h->busy--;
    c->op = OP_NONE;
    for (size_t k = 0; k < h->nkicked; k++)
        if (h->kicked[k] == c)
            h->kicked[k] = h->kicked[--h->nkicked];
    c->kicked = false;
    h->cl[i] = h->cl[--h->n];
    if (i < h->n) {
        h->cl[i]->hub_index = i;
        s_hub_ctl(h, EPOLL_CTL_MOD, h->cl[i], i);
    }
    c->hub_index = SIZE_MAX;
}

static void s_finish(hub_t *h, client_t *c)
{
    if (c->op == OP_NONE)
        return;
    if (c->op == OP_EXEC && !c->failure[0]) {
        c->done++;
        if (strcmp(c->status, "ok") != 0)
            c->bad++;
    }
    c->op = OP_NONE;
    if (h->busy)
        h->busy--;
    if (h->on_done)
        h->on_done(h, c);
}

static void s_fail_op(hub_t *h, client_t *c)
{
    s_finish(h, c);
}

/* Sends an execute_request for |code|; done at its reply, and at its idle
 * too when |need_idle|. */
int serve_hub_exec(hub_t *h, client_t *c, const char *code, bool need_idle)
{
    json_auto_t *content =
        json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", code, "silent", 0, "store_history",
                  1, "user_expressions", "allow_stdin", 0, "stop_on_error", 1);
    if (!content)
        return serve_client_fail(c, "out of memory");
    c->op = OP_EXEC;
    h->busy++;
    c->need_idle = need_idle;
    c->replied = c->idled = false;
    c->status[0] = c->ename[0] = c->result[0] = '\0';
    c->reply_us = c->idle_us = -1;
    c->sent_us = bench_now_us();
    if (serve_client_send(c, "execute_request", content, c->msg_id) < 0) {
        s_fail_op(h, c);
        return -1;
    }
    s_hub_kick(h, c);
    return 0;
}

/* Sends kernel_info_request (again every 200 ms) until the kernel has
 * answered on shell AND a status it published about one of them reached
 * our SUB: from then on no iopub message of ours is missed. */
int serve_hub_sync(hub_t *h, client_t *c)
{
    json_auto_t *empty = json_object();
    if (c->op == OP_NONE) {
        c->op = OP_SYNC;
        h->busy++;
        c->replied = c->idled = false;
        c->sent_us = bench_now_us();
    }
    c->resend_us = bench_now_us() + SYNC_RESEND_US;
    if (!empty || serve_client_send(c, "kernel_info_request", empty, NULL) < 0) {
        serve_client_fail(c, "out of memory or send failed");
        s_fail_op(h, c);
        return -1;
    }
    s_hub_kick(h, c);
    return 0;
}

static void s_on_message(hub_t *h, client_t *c, bool iopub, wire_msg_t *m, double t)
{
    const char *type = wire_msg_type(m);
    if (c->op == OP_SYNC) {
        bool ours = strcmp(bench_str(m->parent, "msg_type"), "kernel_info_request") == 0 &&
                    strcmp(bench_str(m->parent, "session"), c->session) == 0;
        if (ours && !iopub && strcmp(type, "kernel_info_reply") == 0)
            c->replied = true;
        if (ours && iopub && strcmp(type, "status") == 0)
            c->idled = true;
        if (c->replied && c->idled)
            s_finish(h, c);
        return;
    }
    if (c->op != OP_EXEC || strcmp(bench_str(m->parent, "msg_id"), c->msg_id) != 0)
        return; /* outputs of untracked cells, late messages */
    if (!iopub && strcmp(type, "execute_reply") == 0) {
        c->replied = true;
        c->reply_us = t;
        snprintf(c->status, sizeof c->status, "%s", bench_str(m->content, "status"));
        if (!c->ename[0])
            snprintf(c->ename, sizeof c->ename, "%s", bench_str(m->content, "ename"));
    } else if (iopub && strcmp(type, "status") == 0 &&
               strcmp(bench_str(m->content, "execution_state"), "idle") == 0) {
        c->idled = true;
        c->idle_us = t;
    } else if (iopub && strcmp(type, "execute_result") == 0) {
        snprintf(c->result, sizeof c->result, "%s",
                 bench_str(json_object_get(m->content, "data"), "text/plain"));
    } else if (iopub && strcmp(type, "error") == 0) {
        snprintf(c->ename, sizeof c->ename, "%s", bench_str(m->content, "ename"));
    }
    if (c->replied && (c->idled || !c->need_idle))
        s_finish(h, c);
}

static void s_drain(hub_t *h, client_t *c)
{
    void *socks[2] = {c->shell, c->iopub};
    for (int i = 0; i < 2; i++) {
        /* shell first: a reply is never delayed by decoding outputs */
        for (int budget = 0; budget < 256 && c->hub_index != SIZE_MAX; budget++) {
            wire_msg_t m;
            double t;
            int rc = serve_client_recv(c, socks[i], &m, &t);
            if (rc == 0)
                break;
            if (rc < 0) {
                s_fail_op(h, c);
                return;
            }
            s_on_message(h, c, i == 1, &m, t);
            wire_msg_clear(&m);
        }
    }
}

static void s_hub_tick(hub_t *h, double now)
{
    char how[64];
    bool sweep = ++h->ticks % 5 == 0;
    if (bench_interrupted() && !h->fatal[0])
        snprintf(h->fatal, sizeof h->fatal, "interrupted");
    if (h->watch > 0 && !h->fatal[0] && bench_pid_exited(h->watch, how, sizeof how))
        snprintf(h->fatal, sizeof h->fatal, "the daemon %s", how);
    for (size_t i = 0; i < h->n; i++) {
        client_t *c = h->cl[i];
        if (sweep)
            s_hub_kick(h, c);
        if (c->op == OP_NONE)
            continue;
        if (h->fatal[0]) {
            serve_client_fail(c, "%s", h->fatal);
            s_fail_op(h, c);
        } else if (c->k && bench_kernel_exited(c->k, how, sizeof how)) {
            serve_client_fail(c, "the kernel %s", how);
            s_fail_op(h, c);
        } else if (now - c->sent_us > h->cell_timeout_us) {
            serve_client_fail(c, "no %s within %.0f s", c->op == OP_SYNC ? "kernel_info_reply"
                          : c->replied ? "status idle" : "execute_reply",
                          h->cell_timeout_us / 1e6);
            s_fail_op(h, c);
        } else if (c->op == OP_SYNC && now >= c->resend_us) {
            serve_hub_sync(h, c);
        }
    }
}

static void s_hub_run_kicked(hub_t *h)
{
    while (h->nkicked) {
        client_t *c = h->kicked[--h->nkicked];
        c->kicked = false;
        s_drain(h, c);
    }
}

/* One round: waits up to |timeout_ms| for events, handles them. */
void serve_hub_wait(hub_t *h, int timeout_ms)
{
    s_hub_run_kicked(h);
    struct epoll_event ev[256];
    int n = epoll_wait(h->epfd, ev, (int)ARRAY_SIZE(ev), h->nkicked ? 0 : timeout_ms);
    if (n < 0 && errno != EINTR && !h->fatal[0])
        snprintf(h->fatal, sizeof h->fatal, "epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
        size_t idx = (size_t)(ev[i].data.u64 >> 1);
        if (idx < h->n)
            s_hub_kick(h, h->cl[idx]);
    }
    s_hub_run_kicked(h);
    double now = bench_now_us();
    if (now >= h->next_tick_us) {
        h->next_tick_us = now + TICK_US;
        s_hub_tick(h, now);
        s_hub_run_kicked(h);
    }
}

/* Runs until no request is in flight, |deadline_us| passes or the hub
 * turns fatal. Returns 0 when nothing is left in flight. */
int serve_hub_settle(hub_t *h, double deadline_us)
{
    while (h->busy && !h->fatal[0] && bench_now_us() < deadline_us)
        serve_hub_wait(h, 20);
    return h->busy ? -1 : 0;
}

/* on_done for setup phases: after a sync, or after each cell, the next
 * cell of the client's script. */
void serve_on_script(hub_t *h, client_t *c)
{
    if (c->failure[0] || !c->script || !c->script[c->step])
        return;
    serve_hub_exec(h, c, c->script[c->step++], true);
}
