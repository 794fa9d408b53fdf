/* serve_neighbour — the neighbour mode of bench/serve: conversation B's
 * round trip while conversation A, in the same daemon, misbehaves; and
 * the same with two ipykernels A and B under the same client.
 *
 * B runs `1+1` back to back exactly as the rtt mode does
 * (serve_tput_window: execute_request sent -> execute_reply, the next cell
 * once status idle came too), in the main thread through the hub. A's
 * client runs in a thread of its own, its sockets in a ZeroMQ context of
 * their own (their own I/O thread), so that B's client never waits while
 * A's messages are received or decoded, as two frontends would not; the
 * two share only the process (bench_wire serialises the header counter).
 * What A does, in each condition:
 *   alone  nothing: its conversation (or kernel) sits idle;
 *   flood  cells that print 1 KiB lines at full speed (8 MiB per cell,
 *          under the daemon's default --max-output of 10 MiB, so every
 *          line is published; at most 1 s per cell), back to back; its
 *          client verifies and decodes every iopub message as it comes;
 *   stall  the same cells; its iopub SUB is connected and never read
 *          while B is measured;
 *   slow   the same cells; its client reads one iopub message, then
 *          waits a millisecond;
 *   forge  cells that write forged records straight to the channel
 *          descriptor (found by fstat, as a hostile cell finds it): stream
 *          outputs, a display_data that is no valid content, a reply the
 *          request did not make, bytes that are no record, an empty
 *          datagram, in a loop (8 MiB of them per cell, at most 1 s);
 *          sandcell only: an ipykernel has no channel to forge on.
 * In every condition A reads its shell socket and sends its next cell when
 * the reply of the last one came. A starts NEIGHBOUR_LEAD_MS before B's
 * window and stops when it ends: its last cell is let finish, then what
 * waits on its iopub is thrown away (unmeasured), so no condition leaks
 * into the next. Conditions are interleaved in NEIGHBOUR_ROUNDS rounds,
 * their order rotating from round to round, sandcell and ipykernel
 * alternating which goes first. */
#include "serve.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bench_wire.h"

/* 8192 lines of 1 KiB (1023 characters and the newline): 8 MiB. */
#define CODE_FLOOD                                                                         \
    "import time\n"                                                                        \
    "_l = 'x' * 1023\n"                                                                    \
    "_e = time.monotonic() + 1.0\n"                                                        \
    "for _i in range(8192):\n"                                                             \
    "    print(_l)\n"                                                                      \
    "    if _i % 64 == 0 and time.monotonic() > _e:\n"                                     \
    "        break\n"

/* Each pass writes 16 stream records of 1 KiB and four that the daemon
 * must refuse; 512 passes are about 8 MiB. */
#define CODE_FORGE                                                                         \
    "import json, os, stat, time\n"                                                        \
    "def _chan():\n"                                                                       \
    "    for fd in range(256):\n"                                                          \
    "        try:\n"                                                                       \
    "            if stat.S_ISSOCK(os.fstat(fd).st_mode):\n"                                \
    "                return fd\n"                                                          \
    "        except OSError:\n"                                                            \
    "            pass\n"                                                                   \
    "    raise RuntimeError('no channel descriptor')\n"                                    \
    "_fd = _chan()\n"                                                                      \
    "def _rec(t, c):\n"                                                                    \
    "    return b'.' + json.dumps({'type': t, 'content': c}).encode()\n"                   \
    "_out = _rec('stream', {'name': 'stdout', 'text': 'f' * 1023 + '\\n'})\n"              \
    "_bad = _rec('display_data', {'data': 'x', 'metadata': 3})\n"                          \
    "_rep = _rec('reply', {'status': 'ok', 'execution_count': 1, 'user_expressions': {},\n" \
    "                      'payload': []})\n"                                              \
    "_e = time.monotonic() + 1.0\n"                                                        \
    "for _i in range(512):\n"                                                              \
    "    for _ in range(16):\n"                                                            \
    "        os.write(_fd, _out)\n"                                                        \
    "    os.write(_fd, _bad)\n"                                                            \
    "    os.write(_fd, _rep)\n"                                                            \
    "    os.write(_fd, b'garbage')\n"                                                      \
    "    os.write(_fd, b'')\n"                                                             \
    "    if time.monotonic() > _e:\n"                                                      \
    "        break\n"

#define SLOW_READ_US 1000.0 /* slow: a millisecond after each iopub message */
#define DRAIN_QUIET_MS 100  /* after a window: A's iopub is empty this long */
#define DRAIN_MAX_S 10
#define NB_WARMUP 50

static const char *const s_cond_names[NB_NCOND] = {"alone", "flood", "stall", "slow", "forge"};
static const char *const s_side_names[NB_NSIDES] = {"sandcell", "ipykernel"};

const char *serve_nb_cond_name(nb_cond_t cond)
{
    return s_cond_names[cond];
}

/* A's client while B is measured. The thread owns |c| from its start to
 * its join; the main thread only sets |stop|. */
typedef struct {
    client_t *c;
    nb_cond_t cond;
    atomic_bool stop;
    long cells, bad, msgs;
    double t0_us, t1_us; /* when A started and when its last cell ended */
} nb_a_t;

static int s_a_exec(client_t *c, const char *code)
{
    json_auto_t *content =
        json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", code, "silent", 0, "store_history",
                  0, "user_expressions", "allow_stdin", 0, "stop_on_error", 0);
    if (!content)
        return serve_client_fail(c, "out of memory");
    c->sent_us = bench_now_us();
    return serve_client_send(c, "execute_request", content, c->msg_id);
}

/* Throws away what waits on |sock| until it has been quiet DRAIN_QUIET_MS
 * (at most DRAIN_MAX_S). */
static void s_discard(void *sock)
{
    double end = bench_now_us() + DRAIN_MAX_S * 1e6;
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    while (bench_now_us() < end && zmq_poll(&it, 1, DRAIN_QUIET_MS) > 0) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        while (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) >= 0)
            ;
        zmq_msg_close(&m);
    }
}

/* Reads shell to EAGAIN: the reply of A's cell ends it. */
static int s_a_read_shell(nb_a_t *a, bool *inflight)
{
    client_t *c = a->c;
    for (;;) {
        wire_msg_t m;
        double t;
        int rc = serve_client_recv(c, c->shell, &m, &t);
        if (rc <= 0)
            return rc;
        if (strcmp(wire_msg_type(&m), "execute_reply") == 0 &&
            strcmp(bench_str(m.parent, "msg_id"), c->msg_id) == 0) {
            *inflight = false;
            a->cells++;
            if (strcmp(bench_str(m.content, "status"), "ok") != 0)
                a->bad++;
            a->t1_us = t;
        }
        wire_msg_clear(&m);
    }
}

/* Up to |budget| iopub messages, each verified and decoded. Returns how
 * many, or -1. */
static int s_a_read_iopub(nb_a_t *a, int budget)
{
    client_t *c = a->c;
    int got = 0;
    while (got < budget) {
        wire_msg_t m;
        double t;
        int rc = serve_client_recv(c, c->iopub, &m, &t);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        wire_msg_clear(&m);
        got++;
    }
    a->msgs += got;
    return got;
}

static void *s_a_main(void *arg)
{
    nb_a_t *a = arg;
    client_t *c = a->c;
    const char *code = a->cond == NB_FORGE ? CODE_FORGE : CODE_FLOOD;
    bool inflight = false;
    double next_read_us = 0;
    a->t0_us = bench_now_us();
    while (!c->failure[0]) {
        double now = bench_now_us();
        bool stop = atomic_load(&a->stop) || bench_interrupted();
        if (!inflight) {
            if (stop || s_a_exec(c, code) < 0)
                break;
            inflight = true;
        }
        if (now - c->sent_us > CELL_TIMEOUT_S * 1e6) {
            serve_client_fail(c, "A's cell got no execute_reply within %d s", CELL_TIMEOUT_S);
            break;
        }
        bool iopub = a->cond == NB_FLOOD || a->cond == NB_FORGE ||
                     (a->cond == NB_SLOW && now >= next_read_us);
        long timeout_ms = 20;
        if (a->cond == NB_SLOW && !iopub) {
            timeout_ms = (long)((next_read_us - now) / 1e3);
            timeout_ms = timeout_ms < 1 ? 1 : timeout_ms;
        }
        zmq_pollitem_t items[2] = {{c->shell, 0, ZMQ_POLLIN, 0}, {c->iopub, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, iopub ? 2 : 1, timeout_ms) < 0 && zmq_errno() != EINTR) {
            serve_client_fail(c, "zmq_poll: %s", zmq_strerror(zmq_errno()));
            break;
        }
        if (s_a_read_shell(a, &inflight) < 0)
            break;
        if (iopub) {
            int got = s_a_read_iopub(a, a->cond == NB_SLOW ? 1 : 256);
            if (got < 0)
                break;
            if (a->cond == NB_SLOW && got)
                next_read_us = bench_now_us() + SLOW_READ_US;
        }
    }
    s_discard(c->iopub);
    return NULL;
}

/* One window: A (unless alone) under way, then B measured for |seconds|,
 * then A stopped. */
static int s_window(run_t *r, nb_res_t *res, int side, nb_cond_t cond, client_t *a_cl,
                    client_t *b_cl, double seconds)
{
    nb_a_t a = {.c = a_cl, .cond = cond};
    atomic_init(&a.stop, false);
    pthread_t th;
    bool started = false;
    if (cond != NB_ALONE) {
        int e = pthread_create(&th, NULL, s_a_main, &a);
        if (e) {
            fprintf(stderr, "serve: neighbour: pthread_create: %s\n", strerror(e));
            return -1;
        }
        started = true;
        bench_sleep_ms(NEIGHBOUR_LEAD_MS);
    }
    tput_t *t = &res->b[side][cond];
    t->cl = &b_cl;
    long before = t->cells;
    double cpu0 = side == NB_SANDCELL ? serve_proc_cpu_s(r->d.pid) : 0;
    int rc = serve_tput_window(r, t, seconds);
    if (side == NB_SANDCELL)
        res->daemon_cpu_s[cond] += serve_proc_cpu_s(r->d.pid) - cpu0;
    t->cl = NULL;
    if (started) {
        atomic_store(&a.stop, true);
        pthread_join(th, NULL);
        res->a_cells[side][cond] += a.cells;
        res->a_bad[side][cond] += a.bad;
        res->a_msgs[side][cond] += a.msgs;
        res->a_seconds[side][cond] += (a.t1_us > a.t0_us ? a.t1_us - a.t0_us : 0) / 1e6;
        if (a_cl->failure[0]) {
            fprintf(stderr, "serve: neighbour: %s A, %s: %s\n", s_side_names[side],
                    s_cond_names[cond], a_cl->failure);
            rc = -1;
        }
    }
    bench_pcts_t p = bench_pcts(&t->lat);
    fprintf(stderr, "  %-9s %-5s B %5ld cells, p50 %.2f ms, p99 %.2f ms so far; A %ld cells\n",
            s_side_names[side], s_cond_names[cond], t->cells - before, p.p50 / 1e3,
            p.p99 / 1e3, res->a_cells[side][cond]);
    return rc;
}

/* A and B connected, in step (kernel_info answered and its status seen on
 * iopub), and B warmed up with NB_WARMUP cells. */
static int s_ready(client_t *a, client_t *b, pid_t watch)
{
    hub_t h;
    if (serve_hub_init(&h, IPYKERNEL_START_TIMEOUT_S) < 0)
        return -1;
    h.watch = watch;
    double deadline = bench_now_us() + IPYKERNEL_START_TIMEOUT_S * 1e6;
    int rc = serve_hub_add(&h, a) < 0 || serve_hub_add(&h, b) < 0 || serve_hub_sync(&h, a) < 0 ||
                     serve_hub_sync(&h, b) < 0 || serve_hub_settle(&h, deadline) < 0
                 ? -1
                 : 0;
    for (int i = 0; i < NB_WARMUP && rc == 0 && !b->failure[0] && !a->failure[0]; i++)
        if (serve_hub_exec(&h, b, CODE_TRIVIAL, true) < 0 || serve_hub_settle(&h, deadline) < 0)
            rc = -1;
    if (rc < 0 || a->failure[0] || b->failure[0]) {
        fprintf(stderr, "serve: neighbour set-up: %s\n",
                a->failure[0] ? a->failure : b->failure[0] ? b->failure
                                            : h.fatal[0] ? h.fatal : "no answer");
        rc = -1;
    }
    while (h.n)
        serve_hub_remove(&h, h.cl[h.n - 1]);
    serve_hub_free(&h);
    return rc;
}

int serve_mode_neighbour(run_t *r, nb_res_t *res)
{
    client_t sc[2], ipk[2]; /* [0] A, [1] B */
    bench_kernel_t k[2];
    for (int i = 0; i < 2; i++) {
        serve_client_init(&sc[i], "sandcell");
        serve_client_init(&ipk[i], "ipykernel");
        bench_kernel_init(&k[i], BENCH_IPYKERNEL);
    }
    static const char *const labels[NB_NSIDES] = {"sandcell, conversation B",
                                                 "ipykernel, kernel B"};
    for (int s = 0; s < NB_NSIDES; s++)
        for (int c = 0; c < NB_NCOND; c++)
            res->b[s][c] = (tput_t){labels[s], NULL, 1, .min_cells = -1};
    json_auto_t *req = json_pack("{s:i}", "max_executions", 0);
    bool refused, sc_started = false, ipk_started = false;
    void *a_ctx = zmq_ctx_new(); /* A's client: its own I/O thread */
    if (!a_ctx) {
        fprintf(stderr, "serve: neighbour: zmq context: %s\n", zmq_strerror(zmq_errno()));
        return -1;
    }
    int rc = 0;
    if (r->o.run_ipk) { /* launched first: they take seconds to import */
        ipk_started = true;
        for (int i = 0; i < 2 && rc == 0; i++)
            rc = serve_ipk_launch(i == 0 ? a_ctx : r->ctx, &k[i], &ipk[i]);
        if (rc < 0)
            fprintf(stderr, "serve: neighbour: ipykernel: %s\n",
                    ipk[0].failure[0] ? ipk[0].failure : ipk[1].failure);
    }
    if (rc == 0 && r->o.run_sc) {
        sc_started = true;
        for (int i = 0; i < 2 && rc == 0; i++)
            if (serve_conv_start_on(r, i == 0 ? a_ctx : r->ctx, &sc[i], req, NULL, &refused) <
                0) {
                fprintf(stderr, "serve: neighbour: %s\n", sc[i].failure);
                rc = -1;
            }
        if (rc == 0)
            rc = s_ready(&sc[0], &sc[1], r->d.pid);
        res->have[NB_SANDCELL] = rc == 0;
    }
    if (rc == 0 && r->o.run_ipk) {
        rc = s_ready(&ipk[0], &ipk[1], 0);
        res->have[NB_IPYKERNEL] = rc == 0;
    }
    double window = (double)r->o.duration_s / NEIGHBOUR_ROUNDS;
    fprintf(stderr, "neighbour: %d rounds of %.1f s per condition and side, B's back-to-back "
                    "`1+1` while A is alone, floods, stalls, reads slowly or forges\n",
            NEIGHBOUR_ROUNDS, window);
    for (int round = 0; round < NEIGHBOUR_ROUNDS && rc == 0; round++) {
        for (int i = 0; i < NB_NCOND && rc == 0; i++) {
            nb_cond_t cond = (nb_cond_t)((i + round) % NB_NCOND);
            for (int j = 0; j < NB_NSIDES && rc == 0; j++) {
                int side = (j + round) % NB_NSIDES;
                if (!res->have[side] || (side == NB_IPYKERNEL && cond == NB_FORGE))
                    continue;
                client_t *cl = side == NB_SANDCELL ? sc : ipk;
                rc = s_window(r, res, side, cond, &cl[0], &cl[1], window);
                if (bench_interrupted())
                    rc = -1;
            }
        }
    }
    if (sc_started)
        for (int i = 0; i < 2; i++)
            serve_conv_stop(r, NULL, &sc[i]);
    if (ipk_started)
        for (int i = 0; i < 2; i++)
            serve_ipk_stop(NULL, &k[i], &ipk[i]);
    zmq_ctx_term(a_ctx); /* A's sockets are closed */
    return rc;
}

static double s_max(const bench_samples_t *s)
{
    double m = 0;
    for (size_t i = 0; i < s->n; i++)
        m = s->v[i] > m ? s->v[i] : m;
    return m;
}

/* "—" right-aligned in |width| columns (printf counts its three bytes). */
static void s_dash(int width)
{
    printf(" %*s—", width - 1, "");
}

static void s_report_side(const nb_res_t *res, int side)
{
    const tput_t *alone = &res->b[side][NB_ALONE];
    bench_pcts_t pa = bench_pcts(&alone->lat);
    printf("%s\n", side == NB_SANDCELL ? "sandcell: one daemon, conversations A and B"
                                       : "ipykernel: two kernels, A and B");
    static const int widths[] = {7, 8, 8, 8, 8, 9, 9, 8, 9, 7, 10};
    printf("  %-6s %7s %8s %8s %8s %8s %9s %9s %8s %9s %7s %10s\n", "A is", "B cells", "p50",
           "p90", "p99", "max", "p50/alone", "p99/alone", "A cells", "A iopub/s", "A errs",
           "daemon CPU");
    for (int c = 0; c < NB_NCOND; c++) {
        const tput_t *t = &res->b[side][c];
        if (!t->lat.n) {
            printf("  %-6s", s_cond_names[c]);
            for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++)
                s_dash(widths[i]);
            printf("\n");
            continue;
        }
        bench_pcts_t p = bench_pcts(&t->lat);
        double secs = res->a_seconds[side][c];
        printf("  %-6s %7zu %8.2f %8.2f %8.2f %8.2f %8.2fx %8.2fx %8ld %9.0f %7ld",
               s_cond_names[c], t->lat.n, p.p50 / 1e3, p.p90 / 1e3, p.p99 / 1e3,
               s_max(&t->lat) / 1e3, pa.p50 > 0 ? p.p50 / pa.p50 : 0,
               pa.p99 > 0 ? p.p99 / pa.p99 : 0, res->a_cells[side][c],
               secs > 0 ? (double)res->a_msgs[side][c] / secs : 0, res->a_bad[side][c]);
        if (side == NB_SANDCELL && t->seconds > 0)
            printf(" %9.0f%%\n", 100 * res->daemon_cpu_s[c] / t->seconds);
        else
            s_dash(10), printf("\n");
        if (t->errors)
            printf("         (%ld of B's replies were not ok)\n", t->errors);
    }
}

void serve_report_neighbour(const run_t *r, const nb_res_t *res)
{
    printf("\n== neighbour: B's round trip of `1+1` (execute_request sent -> execute_reply,\n"
           "   the next cell after status idle), milliseconds, while A, its neighbour, is:\n"
           "   alone (idle); flood (cells printing 8 MiB of 1 KiB lines, its client reading\n"
           "   everything); stall (the same, its iopub never read); slow (the same, iopub\n"
           "   read one message per ms); forge (cells writing forged records to their\n"
           "   channel descriptor; no ipykernel analogue). %d interleaved rounds, %ld s per\n"
           "   condition and side in all\n",
           NEIGHBOUR_ROUNDS, r->o.duration_s);
    for (int s = 0; s < NB_NSIDES; s++)
        if (res->have[s])
            s_report_side(res, s);
    printf("(A cells: A's cells that ended in B's windows; A iopub/s: messages A's client\n"
           " read per second while it ran; A errs: A's replies that were not ok; daemon CPU:\n"
           " the manager's CPU time, all its threads, over B's windows)\n");
    if (res->have[NB_SANDCELL] && res->have[NB_IPYKERNEL]) {
        printf("ratio ipykernel/sandcell of B's p99:");
        for (int c = 0; c < NB_NCOND; c++) {
            const bench_samples_t *a = &res->b[NB_SANDCELL][c].lat,
                                  *b = &res->b[NB_IPYKERNEL][c].lat;
            if (a->n && b->n)
                printf(" %s %.1fx", s_cond_names[c], bench_pcts(b).p99 / bench_pcts(a).p99);
            else
                printf(" %s —", s_cond_names[c]);
        }
        printf("\n");
    }
}

void serve_neighbour_free(nb_res_t *res)
{
    for (int s = 0; s < NB_NSIDES; s++)
        for (int c = 0; c < NB_NCOND; c++)
            bench_samples_free(&res->b[s][c].lat);
}
