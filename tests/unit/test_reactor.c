/* test_reactor — the epoll reactor over ZeroMQ sockets and plain fds: the
 * edge-triggered ZMQ_FD pitfalls (a signal consumed by a send, messages
 * left behind by a bounded handler), removal inside a handler with fd
 * reuse, and many idle sockets. Every case stops its loop from the tick
 * after a deadline, so a missed wakeup fails the case instead of hanging. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "reactor.h"
#include "signer.h"
#include "tap.h"
#include "wire_io.h"

#define DEADLINE_MS 500

typedef struct {
    reactor_t *r;
    void *a, *b; /* a PAIR socket watched by the reactor, and its peer */
    int pipe_rd, pipe_wr;
    int received;     /* messages a's handler read */
    int want;         /* stop once this many arrived */
    int per_call;     /* messages a's handler reads per call */
    long long deadline;
    signer_t *signer;
    int second_calls; /* for the fd-reuse case */
} fixture_t;

static void s_tick(void *arg)
{
    fixture_t *f = arg;
    if (reactor_now_ms() >= f->deadline || f->received >= f->want)
        reactor_stop(f->r);
}

static void s_before_sleep(void *arg)
{
    fixture_t *f = arg;
    if (f->received >= f->want && f->want > 0)
        reactor_stop(f->r);
}

static void s_on_a(void *arg)
{
    fixture_t *f = arg;
    char buf[64];
    for (int i = 0; i < f->per_call; i++) {
        if (zmq_recv(f->a, buf, sizeof buf, ZMQ_DONTWAIT) < 0)
            break;
        f->received++;
    }
}

static void s_setup(fixture_t *f, void *ctx, const char *endpoint)
{
    memset(f, 0, sizeof *f);
    f->r = reactor_new();
    f->a = zmq_socket(ctx, ZMQ_PAIR);
    f->b = zmq_socket(ctx, ZMQ_PAIR);
    int zero = 0;
    zmq_setsockopt(f->a, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(f->b, ZMQ_LINGER, &zero, sizeof zero);
    if (!f->r || !f->a || !f->b || zmq_bind(f->a, endpoint) < 0 ||
        zmq_connect(f->b, endpoint) < 0)
        TAP_BAIL("cannot set up the fixture");
    int fds[2];
    if (pipe(fds) < 0)
        TAP_BAIL("pipe");
    f->pipe_rd = fds[0];
    f->pipe_wr = fds[1];
    f->per_call = 1000;
    f->signer = signer_new("k", 1);
    reactor_set_hooks(f->r, s_before_sleep, s_tick, 20, f);
    f->deadline = reactor_now_ms() + DEADLINE_MS;
}

static void s_teardown(fixture_t *f)
{
    reactor_destroy(&f->r);
    zmq_close(f->a);
    zmq_close(f->b);
    if (f->pipe_rd >= 0)
        close(f->pipe_rd);
    close(f->pipe_wr);
    signer_destroy(&f->signer);
}

/* The pipe's handler: the peer sends to a, and then a sends (through
 * wire_io, as the manager does). a's send processes its mailbox and so
 * consumes the signal of the incoming message: epoll never reports it. */
static void s_on_pipe_send_on_a(void *arg)
{
    fixture_t *f = arg;
    char c;
    if (read(f->pipe_rd, &c, 1) != 1)
        return;
    zmq_send(f->b, "in", 2, 0);
    /* Let the peer's message reach a's mailbox before a sends. */
    zmq_pollitem_t item = {f->b, 0, ZMQ_POLLOUT, 0};
    zmq_poll(&item, 1, 10);
    usleep(20000);
    json_t *content = json_object();
    wire_io_send(f->a, f->signer, "s", NULL, 0, "status", NULL, content, NULL, 0);
}

static void test_signal_consumed_by_send(void *ctx)
{
    fixture_t f;
    s_setup(&f, ctx, "inproc://consumed");
    f.want = 1;
    reactor_add(f.r, f.a, -1, s_on_a, &f);
    reactor_add(f.r, NULL, f.pipe_rd, s_on_pipe_send_on_a, &f);
    /* Let the reactor settle a's first check before the pipe fires. */
    reactor_run(f.r);
    f.deadline = reactor_now_ms() + DEADLINE_MS;
    if (write(f.pipe_wr, "x", 1) != 1)
        TAP_BAIL("write");
    reactor_run(f.r);
    CHECK_INT(f.received, 1);
    s_teardown(&f);
    tap_case("a message whose ZMQ_FD signal a send consumed is still handled");
}

static void test_bounded_handler(void *ctx)
{
    fixture_t f;
    s_setup(&f, ctx, "inproc://bounded");
    f.want = 10;
    f.per_call = 1; /* leaves the rest behind after every call */
    reactor_add(f.r, f.a, -1, s_on_a, &f);
    for (int i = 0; i < 10; i++)
        zmq_send(f.b, "m", 1, 0);
    reactor_run(f.r);
    CHECK_INT(f.received, 10);
    s_teardown(&f);
    tap_case("a handler that reads one message per call is called until none is left");
}

static void s_on_second(void *arg)
{
    fixture_t *f = arg;
    char c;
    if (read(f->pipe_rd, &c, 1) == 1)
        f->second_calls++;
    f->received = f->want;
}

/* Removes itself, closes its fd and watches a new pipe that most likely
 * gets the same fd number, all inside the dispatch. */
static void s_on_first(void *arg)
{
    fixture_t *f = arg;
    reactor_remove(f->r, NULL, f->pipe_rd);
    close(f->pipe_rd);
    close(f->pipe_wr);
    int fds[2];
    if (pipe(fds) < 0)
        TAP_BAIL("pipe");
    f->pipe_rd = fds[0];
    f->pipe_wr = fds[1];
    reactor_add(f->r, NULL, f->pipe_rd, s_on_second, f);
    if (write(f->pipe_wr, "y", 1) != 1)
        TAP_BAIL("write");
}

static void test_remove_and_reuse(void *ctx)
{
    fixture_t f;
    s_setup(&f, ctx, "inproc://reuse");
    f.want = 1;
    reactor_add(f.r, NULL, f.pipe_rd, s_on_first, &f);
    if (write(f.pipe_wr, "x", 1) != 1)
        TAP_BAIL("write");
    reactor_run(f.r);
    CHECK_INT(f.second_calls, 1);
    s_teardown(&f);
    tap_case("a handler removed inside dispatch; its fd number reused by a new handler");
}

static void test_many_idle(void *ctx)
{
    enum { N = 2000 };
    fixture_t f;
    s_setup(&f, ctx, "inproc://busy");
    static void *idle[N];
    int added = 0;
    for (int i = 0; i < N; i++) {
        idle[i] = zmq_socket(ctx, ZMQ_ROUTER);
        added += idle[i] && reactor_add(f.r, idle[i], -1, s_on_a, &f) == 0;
    }
    CHECK_INT(added, N);
    f.want = 3;
    reactor_add(f.r, f.a, -1, s_on_a, &f);
    for (int i = 0; i < N; i += 2)
        reactor_remove(f.r, idle[i], -1);
    for (int i = 0; i < 3; i++)
        zmq_send(f.b, "m", 1, 0);
    reactor_run(f.r);
    CHECK_INT(f.received, 3);
    for (int i = 0; i < N; i++) {
        if (i % 2)
            reactor_remove(f.r, idle[i], -1);
        zmq_close(idle[i]);
    }
    s_teardown(&f);
    tap_case("%d idle sockets watched, half removed: the busy one is still served", N);
}

/* ---- writability of a plain descriptor (a queue waiting for its peer) */

typedef struct {
    reactor_t *r;
    int fd;          /* the watched end, full at the start */
    int writable;    /* on_writable calls */
    int readable;
    long long deadline;
} wfixture_t;

static void s_w_tick(void *arg)
{
    wfixture_t *w = arg;
    if (reactor_now_ms() >= w->deadline)
        reactor_stop(w->r);
}

static void s_w_on_readable(void *arg)
{
    wfixture_t *w = arg;
    w->readable++;
}

static void s_w_on_writable(void *arg)
{
    wfixture_t *w = arg;
    w->writable++;
    reactor_set_writable(w->r, NULL, w->fd, NULL); /* the queue is empty now */
    reactor_stop(w->r);
}

static void test_writable_fd(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        TAP_BAIL("socketpair");
    char chunk[4096] = {0};
    while (send(sv[0], chunk, sizeof chunk, MSG_DONTWAIT) > 0)
        ;
    wfixture_t w = {.r = reactor_new(), .fd = sv[0]};
    CHECK_INT(reactor_set_writable(w.r, NULL, sv[0], s_w_on_writable), -1);
    reactor_add(w.r, NULL, sv[0], s_w_on_readable, &w);
    CHECK_INT(reactor_set_writable(w.r, NULL, sv[0], s_w_on_writable), 0);
    reactor_set_hooks(w.r, NULL, s_w_tick, 10, &w);
    w.deadline = reactor_now_ms() + 100;
    reactor_run(w.r);
    CHECK_INT(w.writable, 0);
    tap_case("a full descriptor does not call on_writable");
    char sink[sizeof chunk];
    while (recv(sv[1], sink, sizeof sink, MSG_DONTWAIT) > 0)
        ;
    w.deadline = reactor_now_ms() + DEADLINE_MS;
    reactor_run(w.r);
    CHECK_INT(w.writable, 1);
    CHECK_INT(w.readable, 0);
    tap_case("on_writable runs once the peer has read, and not for reading");
    w.deadline = reactor_now_ms() + 100;
    reactor_run(w.r);
    CHECK_INT(w.writable, 1);
    tap_case("set_writable NULL stops it");
    reactor_destroy(&w.r);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    void *ctx = zmq_ctx_new();
    if (!ctx)
        TAP_BAIL("zmq_ctx_new");
    zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, 4096);
    test_signal_consumed_by_send(ctx);
    test_bounded_handler(ctx);
    test_remove_and_reuse(ctx);
    test_many_idle(ctx);
    test_writable_fd();
    zmq_ctx_term(ctx);
    return tap_done();
}
