/* serve — `sandcell serve` (the daemon, many conversations) side by side
 * with ipykernel, driven by the same C client in the same run.
 *
 * Modes (the targets in brackets):
 *   start       start_request -> first execute_reply of `1+1`, pandas, numpy
 *               and matplotlib imported [p50 <= 5 ms, p99 <= 20 ms]; ipykernel:
 *               launching `python3 -m ipykernel_launcher` whose first cell
 *               imports them -> the reply of `1+1` queued behind it.
 *   rtt         round trip of a trivial cell (`1+1`) on one conversation, from
 *               this C client [p50 <= 250 us, faster than ipykernel]; one
 *               ipykernel with the same client, interleaved.
 *   memory      PSS (smaps_rollup, summed over the daemon's process tree) per
 *               idle conversation holding a small DataFrame [<= 5 MiB];
 *               ipykernel: one process holding the same DataFrame.
 *   throughput  trivial cells per second over many conversations, one cell
 *               outstanding per conversation; ipykernel: as many kernels as
 *               fit (default 10).
 *   --density N N live conversations, each holding a small DataFrame, every
 *               one answering a cell [N = 1000]; a separate mode, it takes a
 *               while.
 *
 * The client: control requests through session/control_client; each
 * conversation (and each ipykernel) gets a DEALER on shell and a SUB on
 * iopub, every message verified and decoded through protocol/, as a real
 * frontend does. Many clients are served by one epoll over the sockets'
 * ZMQ_FDs (zmq_poll costs a system call per socket per call, which would
 * bill the client's overhead to the side with more conversations). A cell
 * is done when its execute_reply AND its status idle have arrived, except
 * the timed cell of a start, which is done at its reply (a SUB that has
 * just connected may miss what is published before its subscription
 * lands; the figure ends at the reply).
 *
 * Processes: the daemon and every ipykernel are their own process group,
 * die with the benchmark (PR_SET_PDEATHSIG), and we are a child subreaper,
 * so orphans (interpreters whose zygote went first) are ours to reap.
 * Ctrl-C, SIGTERM and SIGHUP take the same cleanup path as a normal end:
 * ipykernels get shutdown_request (then SIGKILL), the daemon SIGTERM (then
 * SIGKILL to its group), temp dirs are removed, and any process still
 * parented to us is reported and killed.
 *
 * Exit status: 0 whatever the figures (a missed target is reported, never
 * a failure), 1 if the daemon or a kernel broke, 2 on a usage error, 130
 * when interrupted. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bench_kernel.h"
#include "connfile.h"
#include "control_client.h"
#include "header.h"
#include "signer.h"
#include "util.h"
#include "wire.h"

/* ------------------------------------------------------------- constants */

#define CODE_TRIVIAL "1+1"
#define CODE_IMPORTS "import pandas, numpy, matplotlib"
/* Evaluates to [] when the three are imported (checked once, untimed). */
#define CODE_PRELOADED                                                                     \
    "import sys; [m for m in ('pandas', 'numpy', 'matplotlib') if m not in sys.modules]"
/* A small DataFrame (1000 rows, an int, a float and a string column),
 * looked at the way an agent does. */
#define CODE_FRAME                                                                         \
    "import pandas as pd\n"                                                                \
    "df = pd.DataFrame({'x': range(1000), 'y': [i * 0.5 for i in range(1000)],\n"         \
    "                   's': [f'r{i}' for i in range(1000)]})\n"                           \
    "df.head()"
#define CODE_SWEEP "len(df)"
#define SWEEP_RESULT "1000"

#define TARGET_START_P50_MS 5.0
#define TARGET_START_P99_MS 20.0
#define TARGET_PSS_MIB 5.0
#define TARGET_DENSITY 1000

#define DAEMON_READY_TIMEOUT_S 120
#define IPYKERNEL_START_TIMEOUT_S 120
#define CELL_TIMEOUT_S 60
#define DENSITY_CELL_TIMEOUT_S 600
#define TICK_US 50e3
#define SYNC_RESEND_US 200e3
#define SETTLE_S 2
#define CLIENT_NOFILE 65536
#define MAX_CONSECUTIVE_START_FAILURES 50
#define MAX_DAEMON_ARGS 8

/* --------------------------------------------------------------- samples */

typedef struct {
    double *v; /* owned; in the order measured */
    size_t n, cap;
} samples_t;

typedef struct {
    double p50, p90, p99;
} pcts_t;

static int s_push(samples_t *s, double v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        double *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    return 0;
}

static void s_samples_free(samples_t *s)
{
    free(s->v);
    *s = (samples_t){0};
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentiles; zeros when empty. */
static pcts_t s_pcts(const samples_t *s)
{
    pcts_t p = {0};
    if (!s->n)
        return p;
    double *c = malloc(s->n * sizeof *c);
    if (!c)
        return p;
    memcpy(c, s->v, s->n * sizeof *c);
    qsort(c, s->n, sizeof *c, s_cmp_double);
    size_t q[3] = {50, 90, 99};
    double *out[3] = {&p.p50, &p.p90, &p.p99};
    for (int i = 0; i < 3; i++) {
        size_t rank = (q[i] * s->n + 99) / 100; /* ceil(q/100 * n) */
        *out[i] = c[rank ? rank - 1 : 0];
    }
    free(c);
    return p;
}

/* ---------------------------------------------------------------- client */

typedef enum { OP_NONE, OP_SYNC, OP_EXEC } op_t;

/* One Jupyter client: shell and iopub of a sandcell conversation or of an
 * ipykernel. */
typedef struct {
    const char *kind;  /* "sandcell" or "ipykernel"; static */
    char id[32];       /* the conversation's id; "" for an ipykernel */
    bench_kernel_t *k; /* the ipykernel (process, sockets, key); NULL for sandcell */
    void *shell, *iopub;
    signer_t *signer;
    connfile_t conn;   /* sandcell: owns conn.key */
    char session[HEADER_ID_LEN + 1];
    size_t hub_index;  /* where it sits in its hub; SIZE_MAX when in none */
    /* the request in flight */
    op_t op;
    bool need_idle, replied, idled, kicked;
    char msg_id[HEADER_ID_LEN + 1];
    double sent_us, reply_us, idle_us, resend_us;
    char status[16], ename[64], result[96];
    /* a script of cells run one after the other (setup phases) */
    const char *const *script;
    size_t step;
    long done, bad; /* finished execute requests; those whose reply was not ok */
    char failure[256];
} client_t;

static int s_client_fail(client_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int s_client_fail(client_t *c, const char *fmt, ...)
{
    if (!c->failure[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->failure, sizeof c->failure, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void *s_socket(void *ctx, int type, const connfile_t *conn, conn_channel_t ch)
{
    char ep[300];
    void *s = zmq_socket(ctx, type);
    if (!s)
        return NULL;
    /* A kernel being launched is not listening yet: retry every 10 ms, not
     * libzmq's default 100 ms, or the start figure would be quantised. */
    int zero = 0, ivl = 10;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (connfile_endpoint(conn, ch, ep, sizeof ep) < 0 || zmq_connect(s, ep) < 0) {
        zmq_close(s);
        return NULL;
    }
    return s;
}

static void s_client_init(client_t *c, const char *kind)
{
    *c = (client_t){.kind = kind, .hub_index = SIZE_MAX};
}

/* A client of the conversation whose connection dict is |connection|. */
static int s_client_connect_conv(client_t *c, void *ctx, const json_t *connection)
{
    proto_err_t err;
    char why[200];
    if (connfile_from_json(connection, &c->conn, &err, why, sizeof why) < 0)
        return s_client_fail(c, "start_reply's connection: %s", why);
    c->signer = signer_new(c->conn.key, strlen(c->conn.key));
    c->shell = s_socket(ctx, ZMQ_DEALER, &c->conn, CONN_SHELL);
    c->iopub = s_socket(ctx, ZMQ_SUB, &c->conn, CONN_IOPUB);
    header_new_id(c->session);
    if (!c->signer || !c->shell || !c->iopub)
        return s_client_fail(c, "client sockets: %s", zmq_strerror(zmq_errno()));
    return 0;
}

/* A client of the launched ipykernel |k|: its shell, control and iopub
 * sockets are made here and owned by |k| (bench_kernel_stop closes them). */
static int s_client_connect_kernel(client_t *c, void *ctx, bench_kernel_t *k)
{
    c->k = k;
    k->shell = s_socket(ctx, ZMQ_DEALER, &k->conn, CONN_SHELL);
    k->control = s_socket(ctx, ZMQ_DEALER, &k->conn, CONN_CONTROL);
    k->iopub = s_socket(ctx, ZMQ_SUB, &k->conn, CONN_IOPUB);
    if (!k->shell || !k->control || !k->iopub)
        return s_client_fail(c, "client sockets: %s", zmq_strerror(zmq_errno()));
    c->shell = k->shell;
    c->iopub = k->iopub;
    c->signer = k->signer;
    memcpy(c->session, k->session, sizeof c->session);
    return 0;
}

/* Closes what the client owns (an ipykernel's sockets are its kernel's). */
static void s_client_close(client_t *c)
{
    if (!c->k) {
        if (c->shell)
            zmq_close(c->shell);
        if (c->iopub)
            zmq_close(c->iopub);
        signer_destroy(&c->signer);
        connfile_clear(&c->conn);
    }
    c->shell = c->iopub = NULL;
    c->signer = NULL;
}

static int s_send(client_t *c, const char *msg_type, const json_t *content, char *msg_id)
{
    json_auto_t *header = header_new(msg_type, c->session, "bench");
    if (!header)
        return s_client_fail(c, "out of memory");
    if (msg_id)
        snprintf(msg_id, HEADER_ID_LEN + 1, "%s", bench_str(header, "msg_id"));
    wire_outgoing_t out = {.header = header, .content = content};
    wire_frames_t frames;
    proto_err_t err;
    if (wire_encode(c->signer, &out, &frames, &err) < 0)
        return s_client_fail(c, "encoding %s: %s", msg_type, proto_err_to_string(err));
    int rc = 0;
    for (size_t i = 0; i < frames.n && rc == 0; i++)
        if (zmq_send(c->shell, frames.frames[i].data, frames.frames[i].size,
                     i + 1 < frames.n ? ZMQ_SNDMORE : 0) < 0)
            rc = s_client_fail(c, "sending %s: %s", msg_type, zmq_strerror(zmq_errno()));
    wire_frames_clear(&frames);
    return rc;
}

#define MAX_FRAMES 64

/* One message from |sock| if one waits: 1 (in *out, *t_us when its frames
 * had all arrived, before it was verified), 0 for none, -1 on error. */
static int s_recv(client_t *c, void *sock, wire_msg_t *out, double *t_us)
{
    zmq_msg_t parts[MAX_FRAMES];
    wire_frame_t views[MAX_FRAMES];
    size_t n = 0;
    bool more = true, overflow = false;
    int rc = 1;
    while (more) {
        zmq_msg_t spare, *m = n < MAX_FRAMES ? &parts[n] : &spare;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            int e = zmq_errno();
            zmq_msg_close(m);
            rc = (e == EAGAIN || e == EINTR) && n == 0
                     ? 0
                     : s_client_fail(c, "recv: %s", zmq_strerror(e));
            break;
        }
        more = zmq_msg_more(m);
        if (m == &spare) {
            overflow = true;
            zmq_msg_close(m);
        } else {
            views[n] = (wire_frame_t){zmq_msg_data(m), zmq_msg_size(m)};
            n++;
        }
    }
    *t_us = bench_now_us();
    if (rc == 1 && overflow)
        rc = s_client_fail(c, "a message of more than %d frames", MAX_FRAMES);
    proto_err_t err;
    memset(out, 0, sizeof *out);
    if (rc == 1 && wire_decode(c->signer, views, n, out, &err) < 0)
        rc = s_client_fail(c, "a message that does not verify or decode: %s",
                           proto_err_to_string(err));
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
    return rc;
}

/* ------------------------------------------------------------------- hub */

struct hub;
typedef void (*done_fn)(struct hub *h, client_t *c);

/* Clients served by one epoll over their sockets' ZMQ_FDs. libzmq's ZMQ_FD
 * only says "look at this socket": each socket is drained to EAGAIN when
 * it fires, right after every send (a send may consume the signal), and
 * every 250 ms as a safety net. */
typedef struct hub {
    int epfd;
    client_t **cl;
    size_t n, cap;
    client_t **kicked; /* clients to drain before sleeping */
    size_t nkicked;
    size_t busy;       /* clients with a request in flight */
    done_fn on_done;   /* called when a client's request finishes or fails */
    void *arg;
    double cell_timeout_us;
    pid_t watch;       /* the daemon: its end fails every sandcell client; 0 for none */
    double next_tick_us;
    unsigned ticks;
    char fatal[256];   /* the daemon ended, epoll failed, or interrupted */
} hub_t;

static int s_hub_init(hub_t *h, double cell_timeout_s)
{
    *h = (hub_t){.cell_timeout_us = cell_timeout_s * 1e6};
    h->epfd = epoll_create1(EPOLL_CLOEXEC);
    return h->epfd < 0 ? -1 : 0;
}

static void s_hub_free(hub_t *h)
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

static int s_hub_add(hub_t *h, client_t *c)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        client_t **cl = realloc(h->cl, cap * sizeof *cl);
        if (!cl)
            return s_client_fail(c, "out of memory");
        h->cl = cl;
        client_t **k = realloc(h->kicked, cap * sizeof *k);
        if (!k)
            return s_client_fail(c, "out of memory");
        h->kicked = k;
        h->cap = cap;
    }
    if (s_hub_ctl(h, EPOLL_CTL_ADD, c, h->n) < 0)
        return s_client_fail(c, "epoll: %s", strerror(errno));
    c->hub_index = h->n;
    c->kicked = false;
    c->op = OP_NONE;
    h->cl[h->n++] = c;
    s_hub_kick(h, c);
    return 0;
}

static void s_hub_remove(hub_t *h, client_t *c)
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

static int s_hub_sync(hub_t *h, client_t *c);

/* Sends an execute_request for |code|; done at its reply, and at its idle
 * too when |need_idle|. */
static int s_hub_exec(hub_t *h, client_t *c, const char *code, bool need_idle)
{
    json_auto_t *content =
        json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", code, "silent", 0, "store_history",
                  1, "user_expressions", "allow_stdin", 0, "stop_on_error", 1);
    if (!content)
        return s_client_fail(c, "out of memory");
    c->op = OP_EXEC;
    h->busy++;
    c->need_idle = need_idle;
    c->replied = c->idled = false;
    c->status[0] = c->ename[0] = c->result[0] = '\0';
    c->reply_us = c->idle_us = -1;
    c->sent_us = bench_now_us();
    if (s_send(c, "execute_request", content, c->msg_id) < 0) {
        s_fail_op(h, c);
        return -1;
    }
    s_hub_kick(h, c);
    return 0;
}

/* Sends kernel_info_request (again every 200 ms) until the kernel has
 * answered on shell AND a status it published about one of them reached
 * our SUB: from then on no iopub message of ours is missed. */
static int s_hub_sync(hub_t *h, client_t *c)
{
    json_auto_t *empty = json_object();
    if (c->op == OP_NONE) {
        c->op = OP_SYNC;
        h->busy++;
        c->replied = c->idled = false;
        c->sent_us = bench_now_us();
    }
    c->resend_us = bench_now_us() + SYNC_RESEND_US;
    if (!empty || s_send(c, "kernel_info_request", empty, NULL) < 0) {
        s_client_fail(c, "out of memory or send failed");
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
            int rc = s_recv(c, socks[i], &m, &t);
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

static bool s_pid_exited(pid_t pid, char *how, size_t how_len)
{
    siginfo_t si = {0};
    if (pid <= 0 || waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
        si.si_pid == 0)
        return false;
    if (si.si_code == CLD_EXITED)
        snprintf(how, how_len, "exited with status %d", si.si_status);
    else
        snprintf(how, how_len, "was killed by signal %d", si.si_status);
    return true;
}

static void s_hub_tick(hub_t *h, double now)
{
    char how[64];
    bool sweep = ++h->ticks % 5 == 0;
    if (bench_interrupted() && !h->fatal[0])
        snprintf(h->fatal, sizeof h->fatal, "interrupted");
    if (h->watch > 0 && !h->fatal[0] && s_pid_exited(h->watch, how, sizeof how))
        snprintf(h->fatal, sizeof h->fatal, "the daemon %s", how);
    for (size_t i = 0; i < h->n; i++) {
        client_t *c = h->cl[i];
        if (sweep)
            s_hub_kick(h, c);
        if (c->op == OP_NONE)
            continue;
        if (h->fatal[0]) {
            s_client_fail(c, "%s", h->fatal);
            s_fail_op(h, c);
        } else if (c->k && bench_kernel_exited(c->k, how, sizeof how)) {
            s_client_fail(c, "the kernel %s", how);
            s_fail_op(h, c);
        } else if (now - c->sent_us > h->cell_timeout_us) {
            s_client_fail(c, "no %s within %.0f s", c->op == OP_SYNC ? "kernel_info_reply"
                          : c->replied ? "status idle" : "execute_reply",
                          h->cell_timeout_us / 1e6);
            s_fail_op(h, c);
        } else if (c->op == OP_SYNC && now >= c->resend_us) {
            s_hub_sync(h, c);
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
static void s_hub_wait(hub_t *h, int timeout_ms)
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
static int s_hub_settle(hub_t *h, double deadline_us)
{
    while (h->busy && !h->fatal[0] && bench_now_us() < deadline_us)
        s_hub_wait(h, 20);
    return h->busy ? -1 : 0;
}

/* on_done for setup phases: after a sync, or after each cell, the next
 * cell of the client's script. */
static void s_on_script(hub_t *h, client_t *c)
{
    if (c->failure[0] || !c->script || !c->script[c->step])
        return;
    s_hub_exec(h, c, c->script[c->step++], true);
}

/* ------------------------------------------------------------- processes */

/* Reads /proc: every process's parent. Returns the number of entries, or
 * -1. */
typedef struct {
    pid_t pid, ppid;
} proc_t;

static long s_proc_list(proc_t **out)
{
    *out = NULL;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    size_t n = 0, cap = 0;
    proc_t *v = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        char *rp = strrchr(buf, ')');
        char state;
        int ppid;
        if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            proc_t *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                free(v);
                closedir(d);
                return -1;
            }
            v = nv;
        }
        v[n++] = (proc_t){(pid_t)atoi(e->d_name), (pid_t)ppid};
    }
    closedir(d);
    *out = v;
    return (long)n;
}

typedef struct {
    double pss_kib, rss_kib, uss_kib; /* USS: Private_Clean + Private_Dirty */
    long nproc;
} mem_t;

typedef struct {
    mem_t total, root, children, deeper; /* the daemon: manager, zygote, interpreters */
} tree_mem_t;

/* One process's smaps_rollup, in KiB. */
static int s_rollup(pid_t pid, mem_t *out)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "re");
    *out = (mem_t){.nproc = 1};
    if (!f)
        return -1;
    int got = 0;
    while (fgets(line, sizeof line, f)) {
        double v;
        if (sscanf(line, "Pss: %lf", &v) == 1) {
            out->pss_kib = v;
            got |= 1;
        } else if (sscanf(line, "Rss: %lf", &v) == 1) {
            out->rss_kib = v;
            got |= 2;
        } else if (sscanf(line, "Private_Clean: %lf", &v) == 1 ||
                   sscanf(line, "Private_Dirty: %lf", &v) == 1) {
            out->uss_kib += v;
        }
    }
    fclose(f);
    return got == 3 ? 0 : -1;
}

static void s_mem_add(mem_t *m, const mem_t *p)
{
    m->pss_kib += p->pss_kib;
    m->rss_kib += p->rss_kib;
    m->uss_kib += p->uss_kib;
    m->nproc += p->nproc;
}

/* PSS and RSS summed over |root| and every descendant. */
static int s_tree_mem(pid_t root, tree_mem_t *out)
{
    *out = (tree_mem_t){0};
    proc_t *procs;
    long n = s_proc_list(&procs);
    if (n < 0)
        return -1;
    pid_t *queue = malloc(((size_t)n + 1) * sizeof *queue);
    int *depth = malloc(((size_t)n + 1) * sizeof *depth);
    if (!queue || !depth) {
        free(procs);
        free(queue);
        free(depth);
        return -1;
    }
    size_t head = 0, tail = 0;
    queue[tail] = root;
    depth[tail++] = 0;
    while (head < tail) {
        pid_t p = queue[head];
        int dp = depth[head++];
        mem_t one;
        if (s_rollup(p, &one) == 0) {
            s_mem_add(&out->total, &one);
            s_mem_add(dp == 0 ? &out->root : dp == 1 ? &out->children : &out->deeper, &one);
        }
        for (long i = 0; i < n && tail <= (size_t)n; i++)
            if (procs[i].ppid == p) {
                queue[tail] = procs[i].pid;
                depth[tail++] = dp + 1;
            }
    }
    free(procs);
    free(queue);
    free(depth);
    return 0;
}

static long s_count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The soft RLIMIT_NOFILE of |pid| (from /proc/PID/limits), or -1. */
static long s_proc_nofile(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
    FILE *f = fopen(path, "re");
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Max open files", 14) == 0)
            v = strtol(line + 14, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static void s_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !bench_interrupted()) {
    }
}

static int s_rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void s_rm_tree(const char *dir)
{
    if (dir[0] && nftw(dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        fprintf(stderr, "serve: could not remove %s: %s\n", dir, strerror(errno));
}

/* The RLIMIT_NOFILE we were started with: the daemon gets it back, so
 * that it is measured with the limits it would have had (it sizes itself). */
static struct rlimit s_orig_nofile = {1024, 1024};

/* Raises our RLIMIT_NOFILE as far as allowed (up to |want|): the client
 * holds two sockets per conversation. */
static void s_raise_nofile(rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    s_orig_nofile = rl;
    struct rlimit up = {want, want > rl.rlim_max ? want : rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &up) < 0) {
        up = (struct rlimit){rl.rlim_max < want ? rl.rlim_max : want, rl.rlim_max};
        setrlimit(RLIMIT_NOFILE, &up);
    }
}

/* ---------------------------------------------------------------- daemon */

typedef struct {
    char dir[64], runtime[128], log[128], journals[128];
    pid_t pid;
    pid_t zygote; /* its first child, once known: names the interpreters' cgroups */
    control_client_t *cc;
    long pool, max_conversations;
    const char *extra[MAX_DAEMON_ARGS]; /* more arguments for `sandcell serve` */
    int nextra;
    long nofile; /* the RLIMIT_NOFILE it got */
    double ready_s;
    char ended[64]; /* how it ended by itself, if it did */
    char failure[256];
} daemon_t;

static int s_daemon_fail(daemon_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int s_daemon_fail(daemon_t *d, const char *fmt, ...)
{
    if (!d->failure[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->failure, sizeof d->failure, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Forks `sandcell serve` in a temp dir, its own process group, with the
 * RLIMIT_NOFILE we were started with, and waits for its runtime file. */
static int s_daemon_start(daemon_t *d, const char *sandcell)
{
    snprintf(d->dir, sizeof d->dir, "/tmp/sandcell-bench-serve-XXXXXX");
    if (!mkdtemp(d->dir)) {
        d->dir[0] = '\0';
        return s_daemon_fail(d, "mkdtemp: %s", strerror(errno));
    }
    snprintf(d->runtime, sizeof d->runtime, "%s/serve.json", d->dir);
    snprintf(d->log, sizeof d->log, "%s/serve.log", d->dir);
    /* journals on, as by default, but in the temp dir that is removed */
    snprintf(d->journals, sizeof d->journals, "%s/journals", d->dir);
    char pool[24], maxc[24];
    snprintf(pool, sizeof pool, "%ld", d->pool);
    snprintf(maxc, sizeof maxc, "%ld", d->max_conversations);
    /* --journal-dir unless the extra arguments say where journals go */
    bool journal_given = false;
    for (int i = 0; i < d->nextra; i++)
        journal_given |= strncmp(d->extra[i], "--journal-dir", 13) == 0 ||
                         strcmp(d->extra[i], "--no-journal") == 0;
    const char *argv[8 + MAX_DAEMON_ARGS + 1] = {sandcell, "serve", "--runtime-file", d->runtime,
                                                 "--max-conversations", maxc};
    int argc = 6;
    if (!journal_given) {
        argv[argc++] = "--journal-dir";
        argv[argc++] = d->journals;
    }
    for (int i = 0; i < d->nextra; i++)
        argv[argc++] = d->extra[i];
    if (d->pool >= 0) {
        argv[argc++] = "--pool";
        argv[argc++] = pool;
    }
    argv[argc] = NULL;
    int logfd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (logfd < 0 || nullfd < 0) {
        if (logfd >= 0)
            close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        return s_daemon_fail(d, "opening %s: %s", d->log, strerror(errno));
    }
    struct rlimit rl = s_orig_nofile;
    pid_t parent = getpid();
    double t0 = bench_now_us();
    pid_t pid = fork();
    if (pid < 0) {
        close(logfd);
        close(nullfd);
        return s_daemon_fail(d, "fork: %s", strerror(errno));
    }
    if (pid == 0) { /* async-signal-safe calls only */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        setrlimit(RLIMIT_NOFILE, &rl);
        if (chdir(d->dir) < 0 || dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 ||
            dup2(logfd, 2) < 0)
            _exit(127);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    setpgid(pid, pid);
    d->pid = pid;
    close(logfd);
    close(nullfd);
    char how[64], why[512];
    while (access(d->runtime, R_OK) < 0) {
        if (bench_interrupted())
            return s_daemon_fail(d, "interrupted");
        if (s_pid_exited(pid, how, sizeof how))
            return s_daemon_fail(d, "the daemon %s during start-up", how);
        if (bench_now_us() - t0 > DAEMON_READY_TIMEOUT_S * 1e6)
            return s_daemon_fail(d, "no runtime file within %d s", DAEMON_READY_TIMEOUT_S);
        s_sleep_ms(5);
    }
    if (control_client_open(d->runtime, &d->cc, why, sizeof why) < 0)
        return s_daemon_fail(d, "%s", why);
    d->ready_s = (bench_now_us() - t0) / 1e6;
    d->nofile = s_proc_nofile(pid);
    return 0;
}

/* A control request; the reply's content is the caller's (decref it).
 * Returns NULL with |why| when the daemon did not answer. */
static json_t *s_daemon_call(daemon_t *d, const char *type, json_t *content, char *why,
                             size_t why_len)
{
    wire_msg_t reply;
    json_auto_t *owned = content;
    if (control_client_call(d->cc, type, content, NULL, 0, &reply, why, why_len) < 0)
        return NULL;
    json_t *out = json_incref(reply.content);
    wire_msg_clear(&reply);
    return out;
}

static void s_print_log_tail(const char *path, const char *name)
{
    FILE *f = path[0] ? fopen(path, "re") : NULL;
    if (!f)
        return;
    char buf[3000];
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
    long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
    size_t got = fseek(f, from, SEEK_SET) == 0 ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[got] = '\0';
    fclose(f);
    if (got)
        fprintf(stderr, "--- end of %s's log ---\n%s%s---\n", name, buf,
                buf[got - 1] == '\n' ? "" : "\n");
}

/* SIGTERM, up to |grace_s| for a clean exit (it stops every conversation),
 * then SIGKILL to its group. Returns the seconds the clean stop took, or
 * -1. */
static double s_daemon_stop(daemon_t *d, int grace_s)
{
    control_client_destroy(&d->cc);
    double took = -1;
    if (d->pid > 0) {
        char how[64];
        double t0 = bench_now_us();
        bool exited = false;
        if (s_pid_exited(d->pid, how, sizeof how)) {
            fprintf(stderr, "serve: the daemon had already ended: it %s\n", how);
            snprintf(d->ended, sizeof d->ended, "%s", how);
        } else {
            kill(d->pid, SIGTERM); /* also when interrupted: only a clean stop removes
                                      the interpreters' cgroups */
            for (int i = 0; i < grace_s * 100 && !(exited = s_pid_exited(d->pid, how, sizeof how));
                 i++)
                s_sleep_ms(10);
            if (!exited)
                fprintf(stderr, "serve: the daemon did not exit within %d s of SIGTERM; "
                                "killing it\n", grace_s);
            else if (strcmp(how, "exited with status 0") != 0)
                fprintf(stderr, "serve: the daemon %s after SIGTERM\n", how);
            else
                took = (bench_now_us() - t0) / 1e6;
        }
        kill(-d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        d->pid = -1;
    }
    if ((d->failure[0] && strcmp(d->failure, "interrupted") != 0) || d->ended[0])
        s_print_log_tail(d->log, "sandcell serve");
    s_rm_tree(d->dir);
    d->dir[0] = '\0';
    return took;
}

/* Whether |token| is one of the comma-separated |list|. */
static bool s_in_list(const char *list, const char *token)
{
    size_t len = strlen(token);
    for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, token, len) == 0 && (p[len] == ',' || p[len] == '\0'))
            return true;
    return false;
}

/* Interpreter cgroups (sandcell-<zygote pid>-<n>) still present below our
 * own group of the memory, pids and cpu hierarchies (v1) or of v2: the
 * zygote makes them below the group it inherited from us. */
static int s_count_cgroups(pid_t zygote, bool report)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return 0;
    char line[1024], prefix[40];
    snprintf(prefix, sizeof prefix, "sandcell-%d-", (int)zygote);
    bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1, *path = c2 + 1;
        const char *const wanted[] = {"memory", "pids", "cpu"};
        char dir[1200];
        dir[0] = '\0';
        if (!*ctrls)
            snprintf(dir, sizeof dir, "%s%s", v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified",
                     strcmp(path, "/") == 0 ? "" : path);
        for (size_t i = 0; *ctrls && i < ARRAY_SIZE(wanted) && !dir[0]; i++)
            if (s_in_list(ctrls, wanted[i]))
                snprintf(dir, sizeof dir, "/sys/fs/cgroup/%s%s", wanted[i],
                         strcmp(path, "/") == 0 ? "" : path);
        DIR *d = dir[0] ? opendir(dir) : NULL;
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d)))
            if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
                if (!n && report)
                    fprintf(stderr, "serve: interpreter cgroup left behind: %s/%s\n", dir,
                            e->d_name);
                n++;
            }
        closedir(d);
    }
    fclose(f);
    return n;
}

/* Gives the interpreters' cgroups up to 10 s to go (the zygote removes
 * them as its interpreters exit), then counts what is left. */
static int s_leftover_cgroups(pid_t zygote)
{
    if (zygote <= 0)
        return 0;
    for (int i = 0; i < 100 && s_count_cgroups(zygote, false) > 0; i++)
        s_sleep_ms(100);
    return s_count_cgroups(zygote, true);
}

/* Reaps and, if still alive, reports and kills whatever process is left
 * parented to us (we are a subreaper: orphans of the trees we started). */
static int s_reap_leftovers(void)
{
    int left = 0;
    for (int round = 0; round < 50; round++) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        proc_t *procs;
        long n = s_proc_list(&procs);
        int alive = 0;
        for (long i = 0; i < n; i++)
            if (procs[i].ppid == getpid()) {
                alive++;
                if (round == 49) {
                    fprintf(stderr, "serve: process %d was left behind; killing it\n",
                            (int)procs[i].pid);
                    kill(procs[i].pid, SIGKILL);
                    left++;
                }
            }
        free(procs);
        if (!alive)
            break;
        s_sleep_ms(20);
    }
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    return left;
}

/* ----------------------------------------------------------------- state */

typedef struct {
    const char *sandcell;
    bool run_sc, run_ipk;
    bool m_start, m_rtt, m_memory, m_tput;
    long rounds, starts, burst, gap_ms;
    long conversations, ipykernels, duration_s, pool;
    long density; /* 0: the normal modes */
    const char *daemon_args[MAX_DAEMON_ARGS];
    int ndaemon_args;
} options_t;

/* Everything the run owns, for the one cleanup path. */
typedef struct {
    options_t o;
    char sandcell[PATH_MAX];
    void *ctx;
    daemon_t d;
    client_t *convs;     /* [nconvs] sandcell conversations kept for a phase */
    size_t nconvs;
    bench_kernel_t *ipks; /* [nipks] ipykernels kept for a phase */
    client_t *ipk_cl;     /* their clients */
    size_t nipks;
    int status;
} run_t;

/* --------------------------------------------------------------- helpers */

/* Starts a conversation and connects a client to it. *t_reply_us: when
 * the start_reply came. Returns 0, or -1 with c->failure; |startfail|
 * true when the daemon refused (an error reply, not a broken daemon). */
static int s_conv_start(run_t *r, client_t *c, const json_t *req, double *t_reply_us,
                        bool *refused)
{
    char why[600];
    s_client_init(c, "sandcell");
    *refused = false;
    json_auto_t *reply =
        s_daemon_call(&r->d, "start_request", json_deep_copy(req), why, sizeof why);
    if (t_reply_us)
        *t_reply_us = bench_now_us();
    if (!reply)
        return s_client_fail(c, "start_request: %s", why);
    if (strcmp(bench_str(reply, "status"), "ok") != 0) {
        *refused = true;
        return s_client_fail(c, "start_request refused: %s: %s", bench_str(reply, "ename"),
                             bench_str(reply, "evalue"));
    }
    snprintf(c->id, sizeof c->id, "%s", bench_str(reply, "id"));
    return s_client_connect_conv(c, r->ctx, json_object_get(reply, "connection"));
}

static void s_conv_stop(run_t *r, hub_t *h, client_t *c)
{
    if (h)
        s_hub_remove(h, c);
    s_client_close(c);
    if (c->id[0] && r->d.cc) {
        char why[600];
        json_auto_t *reply =
            s_daemon_call(&r->d, "stop_request", json_pack("{s:s}", "id", c->id), why, sizeof why);
        if (!reply)
            fprintf(stderr, "serve: stop_request %s: %s\n", c->id, why);
    }
    c->id[0] = '\0';
}

/* Launches one ipykernel: temp dir, connection file, process, client. */
static int s_ipk_launch(run_t *r, bench_kernel_t *k, client_t *c)
{
    bench_kernel_init(k, BENCH_IPYKERNEL);
    s_client_init(c, "ipykernel");
    int ports[CONN_NCHANNELS];
    int rc = bench_pick_ports(ports, CONN_NCHANNELS);
    if (rc < 0)
        return s_client_fail(c, "picking ports: %s", strerror(-rc));
    if (bench_kernel_start(k, ports, "") < 0)
        return s_client_fail(c, "%s", k->failure);
    return s_client_connect_kernel(c, r->ctx, k);
}

static void s_ipk_stop(hub_t *h, bench_kernel_t *k, client_t *c)
{
    if (h)
        s_hub_remove(h, c);
    if (c->failure[0] && !k->failure[0])
        bench_kernel_fail(k, "%s", c->failure);
    s_client_close(c);
    bench_kernel_stop(k); /* closes the sockets the client borrowed */
}

static void s_print_pcts_row(const char *label, const samples_t *s, double scale)
{
    pcts_t p = s_pcts(s);
    printf("%-30s %6zu %10.2f %10.2f %10.2f\n", label, s->n, p.p50 / scale, p.p90 / scale,
           p.p99 / scale);
}

/* The daemon's --pool as given, or "its default". */
static const char *s_pool_desc(long pool)
{
    static char buf[24];
    if (pool < 0)
        return "its default";
    snprintf(buf, sizeof buf, "%ld", pool);
    return buf;
}

static const char *s_met(bool met)
{
    return met ? "met" : "NOT met";
}

/* ----------------------------------------------------------------- start */

typedef struct {
    samples_t total, control;  /* paced: start_request -> 1+1 reply; -> start_reply */
    samples_t after;           /* paced: start_reply -> 1+1 reply */
    samples_t burst;           /* back to back, the pool drains */
    samples_t ipk;             /* launch -> 1+1 reply */
    bool preload_checked, preloaded;
    char preload_result[96];
    long bad;                  /* 1+1 replies that were not ok */
} start_res_t;

/* One sandcell start: start_request -> connect -> 1+1 -> its reply. The
 * conversation stays in |c| (connected, in |h|). */
static int s_start_one_sc(run_t *r, hub_t *h, client_t *c, samples_t *total, samples_t *ctrl,
                          samples_t *after, long *bad)
{
    json_auto_t *req = json_object();
    double t0 = bench_now_us(), t_ctrl;
    bool refused;
    if (s_conv_start(r, c, req, &t_ctrl, &refused) < 0 || s_hub_add(h, c) < 0 ||
        s_hub_exec(h, c, CODE_TRIVIAL, false) < 0)
        return -1;
    s_hub_settle(h, bench_now_us() + CELL_TIMEOUT_S * 1e6);
    if (c->failure[0] || h->fatal[0])
        return s_client_fail(c, "%s", h->fatal[0] ? h->fatal : c->failure);
    if (strcmp(c->status, "ok") != 0)
        (*bad)++;
    s_push(total, c->reply_us - t0);
    if (ctrl)
        s_push(ctrl, t_ctrl - t0);
    if (after)
        s_push(after, c->reply_us - t_ctrl);
    return 0;
}

static int s_start_round_sc(run_t *r, start_res_t *res)
{
    hub_t h;
    if (s_hub_init(&h, CELL_TIMEOUT_S) < 0)
        return -1;
    h.watch = r->d.pid;
    int rc = 0;
    for (long i = 0; i < r->o.starts && rc == 0; i++) {
        client_t c;
        if (s_start_one_sc(r, &h, &c, &res->total, &res->control, &res->after, &res->bad) < 0) {
            fprintf(stderr, "serve: sandcell start failed: %s\n", c.failure);
            rc = -1;
        } else if (!res->preload_checked) {
            /* untimed: are pandas, numpy and matplotlib really imported? */
            res->preload_checked = true;
            if (s_hub_sync(&h, &c) == 0 && s_hub_settle(&h, bench_now_us() + 30e6) == 0 &&
                s_hub_exec(&h, &c, CODE_PRELOADED, true) == 0 &&
                s_hub_settle(&h, bench_now_us() + 30e6) == 0) {
                snprintf(res->preload_result, sizeof res->preload_result, "%s", c.result);
                res->preloaded = strcmp(c.result, "[]") == 0;
            }
        }
        s_conv_stop(r, &h, &c);
        s_sleep_ms(r->o.gap_ms);
        if (bench_interrupted())
            rc = -1;
    }
    /* back to back: more than the pool holds, then stop them all */
    client_t *b = calloc((size_t)r->o.burst + 1, sizeof *b);
    long nb = 0;
    for (long i = 0; i < r->o.burst && rc == 0 && b; i++, nb++)
        if (s_start_one_sc(r, &h, &b[i], &res->burst, NULL, NULL, &res->bad) < 0) {
            fprintf(stderr, "serve: sandcell start (burst) failed: %s\n", b[i].failure);
            rc = -1;
            nb++;
            break;
        }
    for (long i = 0; i < nb; i++)
        s_conv_stop(r, &h, &b[i]);
    free(b);
    if (r->o.burst > 0)
        s_sleep_ms(1000); /* let the pool refill */
    s_hub_free(&h);
    return rc;
}

static int s_start_one_ipk(run_t *r, start_res_t *res)
{
    hub_t h;
    bench_kernel_t k;
    client_t c;
    if (s_hub_init(&h, IPYKERNEL_START_TIMEOUT_S) < 0)
        return -1;
    double t0 = bench_now_us();
    int rc = 0;
    json_auto_t *imports =
        json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", CODE_IMPORTS, "silent", 0,
                  "store_history", 1, "user_expressions", "allow_stdin", 0, "stop_on_error", 1);
    /* both cells are queued on the DEALER and go out once it connects */
    if (s_ipk_launch(r, &k, &c) < 0 || s_hub_add(&h, &c) < 0 ||
        s_send(&c, "execute_request", imports, NULL) < 0 ||
        s_hub_exec(&h, &c, CODE_TRIVIAL, false) < 0 ||
        s_hub_settle(&h, bench_now_us() + IPYKERNEL_START_TIMEOUT_S * 1e6) < 0 || c.failure[0]) {
        s_client_fail(&c, "%s", h.fatal[0] ? h.fatal : "start failed");
        fprintf(stderr, "serve: ipykernel start failed: %s\n", c.failure);
        rc = -1;
    } else {
        s_push(&res->ipk, c.reply_us - t0);
        if (strcmp(c.status, "ok") != 0)
            res->bad++;
    }
    s_ipk_stop(&h, &k, &c);
    s_hub_free(&h);
    return rc;
}

static int s_mode_start(run_t *r, start_res_t *res)
{
    fprintf(stderr, "start: %ld rounds of %ld paced + %ld back-to-back sandcell starts and 1 "
                    "ipykernel launch\n",
            r->o.rounds, r->o.run_sc ? r->o.starts : 0, r->o.run_sc ? r->o.burst : 0);
    for (long round = 0; round < r->o.rounds; round++) {
        for (int turn = 0; turn < 2; turn++) {
            bool ipk_turn = (turn == 0) == (round % 2 == 1);
            if (ipk_turn && r->o.run_ipk && s_start_one_ipk(r, res) < 0)
                return -1;
            if (!ipk_turn && r->o.run_sc && s_start_round_sc(r, res) < 0)
                return -1;
        }
        pcts_t ps = s_pcts(&res->total), pi = s_pcts(&res->ipk);
        fprintf(stderr, "  round %ld/%ld: sandcell p50 %.2f ms (%zu), ipykernel p50 %.0f ms (%zu)\n",
                round + 1, r->o.rounds, ps.p50 / 1e3, res->total.n, pi.p50 / 1e3, res->ipk.n);
        if (bench_interrupted())
            return -1;
    }
    return 0;
}

static void s_report_start(const run_t *r, const start_res_t *res)
{
    printf("\n== start: start_request -> first execute_reply of `1+1`, with pandas, numpy,\n"
           "   matplotlib imported (ipykernel: launch -> `1+1` queued behind their import)\n");
    printf("%-30s %6s %10s %10s %10s   (milliseconds)\n", "", "n", "p50", "p90", "p99");
    if (r->o.run_sc) {
        s_print_pcts_row("sandcell, paced", &res->total, 1e3);
        s_print_pcts_row("  start_request -> start_reply", &res->control, 1e3);
        s_print_pcts_row("  start_reply -> 1+1 reply", &res->after, 1e3);
        if (res->burst.n)
            s_print_pcts_row("sandcell, back to back", &res->burst, 1e3);
    }
    if (r->o.run_ipk)
        s_print_pcts_row("ipykernel", &res->ipk, 1e3);
    if (r->o.run_sc && r->o.run_ipk && res->total.n && res->ipk.n)
        printf("ratio ipykernel/sandcell (paced) of p50: %.0fx\n",
               s_pcts(&res->ipk).p50 / s_pcts(&res->total).p50);
    if (r->o.run_sc) {
        printf("paced: one start every %ld ms or so (start, `1+1`, stop, %ld ms pause); back to "
               "back: %ld starts in a row against a pool of %s\n",
               r->o.gap_ms, r->o.gap_ms, r->o.burst, s_pool_desc(r->o.pool));
        printf("pandas, numpy, matplotlib in sys.modules of a fresh conversation: %s%s%s\n",
               res->preloaded ? "yes" : "NO", res->preloaded ? "" : " — got ",
               res->preloaded ? "" : res->preload_result);
    }
    if (res->bad)
        printf("replies whose status was not ok: %ld\n", res->bad);
}

/* ---------------------------------------------------------- memory setup */

typedef struct {
    tree_mem_t base, loaded;
    long conversations;
    mem_t ipk_alone;
    double ipk_many_pss_kib; /* summed over all the ipykernels */
    long ipk_many;
    long sc_bad, ipk_bad;
    bool have_sc, have_ipk;
} mem_res_t;

static const char *const s_script_sc[] = {CODE_FRAME, NULL};
static const char *const s_script_ipk[] = {CODE_IMPORTS, CODE_FRAME, NULL};

/* Starts |n| conversations (no execution cap), each running CODE_FRAME.
 * They stay in r->convs. */
static int s_setup_convs(run_t *r, long n)
{
    r->convs = calloc((size_t)n, sizeof *r->convs);
    if (!r->convs)
        return -1;
    hub_t h;
    if (s_hub_init(&h, CELL_TIMEOUT_S) < 0)
        return -1;
    h.watch = r->d.pid;
    h.on_done = s_on_script;
    json_auto_t *req = json_pack("{s:i}", "max_executions", 0);
    int rc = 0;
    for (long i = 0; i < n && rc == 0; i++) {
        client_t *c = &r->convs[i];
        bool refused;
        r->nconvs++;
        if (s_conv_start(r, c, req, NULL, &refused) < 0 || s_hub_add(&h, c) < 0) {
            fprintf(stderr, "serve: starting conversation %ld: %s\n", i + 1, c->failure);
            rc = -1;
            break;
        }
        c->script = s_script_sc;
        s_hub_sync(&h, c);
        s_hub_wait(&h, 0);
    }
    if (rc == 0 && s_hub_settle(&h, bench_now_us() + 300e6) < 0)
        rc = -1;
    for (size_t i = 0; i < r->nconvs; i++)
        if (r->convs[i].failure[0] && rc == 0) {
            fprintf(stderr, "serve: conversation %zu: %s\n", i + 1, r->convs[i].failure);
            rc = -1;
        }
    if (h.fatal[0])
        fprintf(stderr, "serve: %s\n", h.fatal);
    s_hub_free(&h);
    return rc;
}

/* Launches |n| ipykernels, each importing pandas, numpy, matplotlib and
 * making the DataFrame. With |alone|, PSS of the first is measured before
 * the others launch. */
static int s_setup_ipks(run_t *r, long n, mem_res_t *mem)
{
    r->ipks = calloc((size_t)n, sizeof *r->ipks);
    r->ipk_cl = calloc((size_t)n, sizeof *r->ipk_cl);
    if (!r->ipks || !r->ipk_cl)
        return -1;
    hub_t h;
    if (s_hub_init(&h, IPYKERNEL_START_TIMEOUT_S) < 0)
        return -1;
    h.on_done = s_on_script;
    int rc = 0;
    for (long i = 0; i < n && rc == 0; i++) {
        client_t *c = &r->ipk_cl[i];
        r->nipks++;
        if (s_ipk_launch(r, &r->ipks[i], c) < 0 || s_hub_add(&h, c) < 0) {
            fprintf(stderr, "serve: launching ipykernel %ld: %s\n", i + 1, c->failure);
            rc = -1;
            break;
        }
        c->script = s_script_ipk;
        s_hub_sync(&h, c);
        if (i == 0 && mem) { /* the first one alone, for its PSS */
            if (s_hub_settle(&h, bench_now_us() + 300e6) < 0 || c->failure[0]) {
                rc = -1;
                break;
            }
            s_sleep_ms(SETTLE_S * 1000);
            tree_mem_t t;
            if (s_tree_mem(r->ipks[0].pid, &t) == 0)
                mem->ipk_alone = t.total;
        }
    }
    if (rc == 0 && s_hub_settle(&h, bench_now_us() + 300e6) < 0)
        rc = -1;
    for (size_t i = 0; i < r->nipks; i++)
        if (r->ipk_cl[i].failure[0] && rc == 0) {
            fprintf(stderr, "serve: ipykernel %zu: %s\n", i + 1, r->ipk_cl[i].failure);
            rc = -1;
        }
    s_hub_free(&h);
    return rc;
}

static int s_mode_memory(run_t *r, mem_res_t *mem)
{
    if (r->o.run_sc) {
        fprintf(stderr, "memory: daemon tree at rest, then %ld conversations holding a "
                        "DataFrame\n", r->o.conversations);
        s_sleep_ms(SETTLE_S * 1000);
        if (s_tree_mem(r->d.pid, &mem->base) < 0)
            return -1;
        double t0 = bench_now_us();
        if (s_setup_convs(r, r->o.conversations) < 0)
            return -1;
        fprintf(stderr, "  %ld conversations started and holding a DataFrame in %.1f s\n",
                r->o.conversations, (bench_now_us() - t0) / 1e6);
        s_sleep_ms(SETTLE_S * 1000);
        if (s_tree_mem(r->d.pid, &mem->loaded) < 0)
            return -1;
        mem->conversations = (long)r->nconvs;
        for (size_t i = 0; i < r->nconvs; i++)
            mem->sc_bad += r->convs[i].bad;
        mem->have_sc = true;
    }
    if (r->o.run_ipk) {
        fprintf(stderr, "memory: %ld ipykernels, each importing pandas, numpy, matplotlib and "
                        "holding the DataFrame\n", r->o.ipykernels);
        if (s_setup_ipks(r, r->o.ipykernels, mem) < 0)
            return -1;
        s_sleep_ms(SETTLE_S * 1000);
        for (size_t i = 0; i < r->nipks; i++) {
            tree_mem_t t;
            if (s_tree_mem(r->ipks[i].pid, &t) == 0)
                mem->ipk_many_pss_kib += t.total.pss_kib;
            mem->ipk_bad += r->ipk_cl[i].bad;
        }
        mem->ipk_many = (long)r->nipks;
        mem->have_ipk = true;
    }
    return 0;
}

static double s_per_conv_mib(const mem_res_t *m)
{
    return m->conversations
               ? (m->loaded.total.pss_kib - m->base.total.pss_kib) / 1024.0 / (double)m->conversations
               : 0;
}

static void s_print_tree(const char *when, const tree_mem_t *t)
{
    printf("  %-22s PSS %8.1f MiB in %ld processes: manager %.1f, zygote %.1f, %ld interpreters "
           "%.1f",
           when, t->total.pss_kib / 1024, t->total.nproc, t->root.pss_kib / 1024,
           t->children.pss_kib / 1024, t->deeper.nproc, t->deeper.pss_kib / 1024);
    if (t->deeper.nproc)
        printf(" (private to each: %.2f MiB)", t->deeper.uss_kib / 1024 / (double)t->deeper.nproc);
    printf("\n");
}

static void s_report_memory(const run_t *r, const mem_res_t *m)
{
    printf("\n== memory: PSS (smaps_rollup) per idle conversation holding a small DataFrame\n"
           "   (1000 rows x 3 columns, shown with df.head())\n");
    if (m->have_sc) {
        printf("sandcell daemon tree (pool of %s):\n", s_pool_desc(r->o.pool));
        s_print_tree("no conversation:", &m->base);
        char label[64];
        snprintf(label, sizeof label, "%ld conversations:", m->conversations);
        s_print_tree(label, &m->loaded);
        printf("  per conversation (difference / %ld): %.2f MiB PSS\n", m->conversations,
               s_per_conv_mib(m));
    }
    if (m->have_ipk) {
        printf("ipykernel (pandas, numpy, matplotlib imported, same DataFrame):\n");
        printf("  one process alone:      PSS %8.1f MiB (RSS %.1f, private %.1f)\n",
               m->ipk_alone.pss_kib / 1024, m->ipk_alone.rss_kib / 1024,
               m->ipk_alone.uss_kib / 1024);
        if (m->ipk_many)
            printf("  %ld processes side by side: PSS %8.1f MiB, %.1f MiB each\n", m->ipk_many,
                   m->ipk_many_pss_kib / 1024, m->ipk_many_pss_kib / 1024 / (double)m->ipk_many);
    }
    if (m->have_sc && m->have_ipk && s_per_conv_mib(m) > 0)
        printf("ratio ipykernel (alone) / sandcell (per conversation): %.1fx; "
               "ipykernel (side by side, each) / sandcell: %.1fx\n",
               m->ipk_alone.pss_kib / 1024 / s_per_conv_mib(m),
               m->ipk_many ? m->ipk_many_pss_kib / 1024 / (double)m->ipk_many / s_per_conv_mib(m)
                           : 0);
    if (m->sc_bad || m->ipk_bad)
        printf("DataFrame cells whose reply was not ok: sandcell %ld, ipykernel %ld\n", m->sc_bad,
               m->ipk_bad);
}

/* ------------------------------------------------------------ throughput */

typedef struct {
    const char *label;
    client_t **cl;
    size_t n;
    long cells;       /* replies (ok or not) inside the windows */
    long errors;      /* replies not ok, failures */
    double seconds;   /* total window */
    samples_t lat;    /* send -> reply, microseconds */
    long min_cells, max_cells;
} tput_t;

typedef struct {
    tput_t *t;
    double end_us;
    long *per_client; /* cells inside the window, per client */
} tput_run_t;

static void s_on_tput(hub_t *h, client_t *c)
{
    tput_run_t *tr = h->arg;
    if (c->failure[0]) {
        tr->t->errors++;
        return;
    }
    if (c->reply_us > 0 && c->reply_us <= tr->end_us) {
        tr->t->cells++;
        tr->per_client[c->hub_index]++;
        s_push(&tr->t->lat, c->reply_us - c->sent_us);
        if (strcmp(c->status, "ok") != 0)
            tr->t->errors++;
    }
    if (bench_now_us() < tr->end_us)
        s_hub_exec(h, c, CODE_TRIVIAL, true);
}

/* |seconds| of round-robin trivial cells over t->cl, one outstanding each. */
static int s_tput_window(run_t *r, tput_t *t, double seconds)
{
    hub_t h;
    if (s_hub_init(&h, CELL_TIMEOUT_S) < 0)
        return -1;
    tput_run_t tr = {t, 0, calloc(t->n, sizeof(long))};
    h.watch = strcmp(t->cl[0]->kind, "sandcell") == 0 ? r->d.pid : 0;
    h.on_done = s_on_tput;
    h.arg = &tr;
    int rc = tr.per_client ? 0 : -1;
    for (size_t i = 0; i < t->n && rc == 0; i++)
        if (s_hub_add(&h, t->cl[i]) < 0)
            rc = -1;
    double t0 = bench_now_us();
    tr.end_us = t0 + seconds * 1e6;
    for (size_t i = 0; i < t->n && rc == 0; i++)
        s_hub_exec(&h, t->cl[i], CODE_TRIVIAL, true);
    while (rc == 0 && !h.fatal[0] && bench_now_us() < tr.end_us)
        s_hub_wait(&h, 20);
    if (s_hub_settle(&h, bench_now_us() + CELL_TIMEOUT_S * 1e6) < 0 || h.fatal[0])
        rc = -1;
    t->seconds += seconds;
    for (size_t i = 0; i < h.n; i++) {
        long v = tr.per_client[i];
        if (t->min_cells < 0 || v < t->min_cells)
            t->min_cells = v;
        if (v > t->max_cells)
            t->max_cells = v;
    }
    for (size_t i = 0; i < t->n; i++)
        if (t->cl[i]->failure[0] && rc == 0) {
            fprintf(stderr, "serve: %s: %s\n", t->label, t->cl[i]->failure);
            rc = -1;
        }
    if (h.fatal[0])
        fprintf(stderr, "serve: %s: %s\n", t->label, h.fatal);
    while (h.n)
        s_hub_remove(&h, h.cl[h.n - 1]);
    s_hub_free(&h);
    free(tr.per_client);
    return rc;
}

typedef struct {
    tput_t sc_many, sc_few, ipk;
    bool have_sc, have_ipk;
} tput_res_t;

static int s_mode_tput(run_t *r, tput_res_t *res)
{
    const int rounds = 2;
    double window = (double)r->o.duration_s / rounds;
    client_t **sc = calloc(r->nconvs + 1, sizeof *sc), **ipk = calloc(r->nipks + 1, sizeof *ipk);
    if (!sc || !ipk) {
        free(sc);
        free(ipk);
        return -1;
    }
    for (size_t i = 0; i < r->nconvs; i++)
        sc[i] = &r->convs[i];
    for (size_t i = 0; i < r->nipks; i++)
        ipk[i] = &r->ipk_cl[i];
    static char l_many[64], l_few[64], l_ipk[64];
    snprintf(l_many, sizeof l_many, "sandcell, %zu conversations", r->nconvs);
    size_t few = r->nipks ? r->nipks : (size_t)r->o.ipykernels;
    if (few > r->nconvs)
        few = r->nconvs;
    snprintf(l_few, sizeof l_few, "sandcell, %zu conversations", few);
    snprintf(l_ipk, sizeof l_ipk, "ipykernel, %zu kernels", r->nipks);
    res->sc_many = (tput_t){l_many, sc, r->nconvs, .min_cells = -1};
    res->sc_few = (tput_t){l_few, sc, few, .min_cells = -1};
    res->ipk = (tput_t){l_ipk, ipk, r->nipks, .min_cells = -1};
    int rc = 0;
    fprintf(stderr, "throughput: %d rounds of %.1f s per configuration\n", rounds, window);
    for (int round = 0; round < rounds && rc == 0; round++) {
        tput_t *order[3] = {&res->sc_many, &res->ipk, &res->sc_few};
        if (round % 2) {
            order[0] = &res->sc_few;
            order[2] = &res->sc_many;
        }
        for (int i = 0; i < 3 && rc == 0; i++) {
            if (!order[i]->n)
                continue;
            rc = s_tput_window(r, order[i], window);
            fprintf(stderr, "  %-30s %.0f cells/s so far\n", order[i]->label,
                    order[i]->seconds ? order[i]->cells / order[i]->seconds : 0);
            if (bench_interrupted())
                rc = -1;
        }
    }
    res->have_sc = res->sc_many.n > 0;
    res->have_ipk = res->ipk.n > 0;
    free(sc);
    free(ipk);
    return rc;
}

static void s_print_tput_row(const tput_t *t)
{
    if (!t->n)
        return;
    pcts_t p = s_pcts(&t->lat);
    double rate = t->seconds ? t->cells / t->seconds : 0;
    printf("%-30s %9.0f %11.1f %8.2f %8.2f %8.2f %6ld..%-6ld %6ld\n", t->label, rate,
           rate / (double)t->n, p.p50 / 1e3, p.p90 / 1e3, p.p99 / 1e3,
           t->min_cells < 0 ? 0 : t->min_cells, t->max_cells, t->errors);
}

static double s_rate(const tput_t *t)
{
    return t->seconds ? t->cells / t->seconds : 0;
}

static void s_report_tput(const run_t *r, const tput_res_t *t)
{
    printf("\n== throughput: trivial cells (`1+1`) per second, one cell outstanding per\n"
           "   conversation or kernel, %ld s per configuration in 2 interleaved rounds;\n"
           "   a cell is done at its reply and its status idle\n",
           r->o.duration_s);
    printf("%-30s %9s %11s %8s %8s %8s %14s %6s\n", "", "cells/s", "per conv/s", "p50 ms",
           "p90 ms", "p99 ms", "cells min..max", "errors");
    s_print_tput_row(&t->sc_many);
    s_print_tput_row(&t->sc_few);
    s_print_tput_row(&t->ipk);
    printf("(latency: execute_request sent -> execute_reply, under that load; min..max: cells "
           "per conversation in one window)\n");
    if (t->have_sc && t->have_ipk && s_rate(&t->ipk) > 0) {
        printf("ratio sandcell/ipykernel, total cells/s: %s %.1fx, %s %.1fx\n", t->sc_many.label,
               s_rate(&t->sc_many) / s_rate(&t->ipk), t->sc_few.label,
               s_rate(&t->sc_few) / s_rate(&t->ipk));
    }
}

/* ------------------------------------------------------------ round trip */

#define RTT_WARMUP 50
#define RTT_ROUNDS 10
#define TARGET_RTT_P50_US 250.0

typedef struct {
    tput_t sc, ipk;
} rtt_res_t;

/* One conversation (no cap) and one ipykernel, each warmed up with
 * RTT_WARMUP cells, then RTT_ROUNDS rounds in which each does `1+1` back to
 * back for duration/RTT_ROUNDS seconds, who goes first alternating. A
 * cell's figure is execute_request sent -> execute_reply; the next goes
 * out once its status idle has come too. */
static int s_mode_rtt(run_t *r, rtt_res_t *res)
{
    hub_t h;
    client_t sc, ipk;
    bench_kernel_t k;
    s_client_init(&sc, "sandcell");
    s_client_init(&ipk, "ipykernel");
    bench_kernel_init(&k, BENCH_IPYKERNEL);
    if (s_hub_init(&h, IPYKERNEL_START_TIMEOUT_S) < 0)
        return -1;
    json_auto_t *req = json_pack("{s:i}", "max_executions", 0);
    bool refused, have_sc = false, have_ipk = false;
    int rc = 0;
    if (r->o.run_sc) {
        h.watch = r->d.pid;
        if (s_conv_start(r, &sc, req, NULL, &refused) < 0 || s_hub_add(&h, &sc) < 0 ||
            s_hub_sync(&h, &sc) < 0)
            rc = -1;
        have_sc = true;
    }
    if (rc == 0 && r->o.run_ipk) {
        if (s_ipk_launch(r, &k, &ipk) < 0 || s_hub_add(&h, &ipk) < 0 || s_hub_sync(&h, &ipk) < 0)
            rc = -1;
        have_ipk = true;
    }
    for (int i = 0; i < RTT_WARMUP && rc == 0; i++) {
        if ((have_sc && s_hub_settle(&h, bench_now_us() + IPYKERNEL_START_TIMEOUT_S * 1e6) < 0) ||
            (have_sc && s_hub_exec(&h, &sc, CODE_TRIVIAL, true) < 0) ||
            (have_ipk && s_hub_exec(&h, &ipk, CODE_TRIVIAL, true) < 0) ||
            s_hub_settle(&h, bench_now_us() + IPYKERNEL_START_TIMEOUT_S * 1e6) < 0 ||
            sc.failure[0] || ipk.failure[0])
            rc = -1;
    }
    if (rc < 0)
        fprintf(stderr, "serve: rtt set-up: %s\n",
                sc.failure[0] ? sc.failure : ipk.failure[0] ? ipk.failure : h.fatal);
    while (h.n)
        s_hub_remove(&h, h.cl[h.n - 1]);
    s_hub_free(&h);
    client_t *scp = &sc, *ipkp = &ipk;
    res->sc = (tput_t){"sandcell, 1 conversation", &scp, have_sc ? 1 : 0, .min_cells = -1};
    res->ipk = (tput_t){"ipykernel, 1 kernel", &ipkp, have_ipk ? 1 : 0, .min_cells = -1};
    double window = (double)r->o.duration_s / RTT_ROUNDS;
    fprintf(stderr, "rtt: %d rounds of %.1f s per kernel, back-to-back `1+1`\n", RTT_ROUNDS,
            window);
    for (int round = 0; round < RTT_ROUNDS && rc == 0; round++) {
        tput_t *order[2] = {&res->sc, &res->ipk};
        if (round % 2) {
            order[0] = &res->ipk;
            order[1] = &res->sc;
        }
        for (int i = 0; i < 2 && rc == 0; i++)
            if (order[i]->n)
                rc = s_tput_window(r, order[i], window);
        if (bench_interrupted())
            rc = -1;
    }
    res->sc.cl = NULL;
    res->ipk.cl = NULL;
    if (have_sc)
        s_conv_stop(r, NULL, &sc);
    if (have_ipk)
        s_ipk_stop(NULL, &k, &ipk);
    return rc;
}

static void s_report_rtt(const rtt_res_t *t)
{
    printf("\n== rtt: round trip of `1+1` from this C client, one conversation or kernel,\n"
           "   execute_request sent -> execute_reply (next cell after status idle)\n");
    printf("%-30s %8s %10s %10s %10s %9s   (microseconds)\n", "", "cells", "p50", "p90", "p99",
           "cells/s");
    const tput_t *rows[2] = {&t->sc, &t->ipk};
    for (int i = 0; i < 2; i++) {
        if (!rows[i]->n)
            continue;
        pcts_t p = s_pcts(&rows[i]->lat);
        printf("%-30s %8zu %10.0f %10.0f %10.0f %9.0f\n", rows[i]->label, rows[i]->lat.n, p.p50,
               p.p90, p.p99, s_rate(rows[i]));
    }
    if (t->sc.n && t->ipk.n && t->sc.lat.n && t->ipk.lat.n)
        printf("ratio ipykernel/sandcell of p50: %.2fx, of p99: %.2fx\n",
               s_pcts(&t->ipk.lat).p50 / s_pcts(&t->sc.lat).p50,
               s_pcts(&t->ipk.lat).p99 / s_pcts(&t->sc.lat).p99);
    if (t->sc.errors || t->ipk.errors)
        printf("replies whose status was not ok: sandcell %ld, ipykernel %ld\n", t->sc.errors,
               t->ipk.errors);
}

/* --------------------------------------------------------------- density */

typedef struct {
    long asked, started, refused, holding, answered;
    char first_refusal[300];
    double t_started_s, t_holding_s, t_sweep_s, stop_s;
    tree_mem_t mem;
    long daemon_fds;
    samples_t sweep_lat;
    bool done;
} dens_res_t;

static void s_on_sweep(hub_t *h, client_t *c)
{
    dens_res_t *d = h->arg;
    if (!c->failure[0] && c->reply_us > 0)
        s_push(&d->sweep_lat, c->reply_us - c->sent_us);
}

static int s_mode_density(run_t *r, dens_res_t *res)
{
    long n = r->o.density;
    res->asked = n;
    r->convs = calloc((size_t)n, sizeof *r->convs);
    if (!r->convs)
        return -1;
    hub_t h;
    if (s_hub_init(&h, DENSITY_CELL_TIMEOUT_S) < 0)
        return -1;
    h.watch = r->d.pid;
    h.on_done = s_on_script;
    json_auto_t *req = json_object();
    int rc = 0;
    long consecutive = 0;
    fprintf(stderr, "density: starting %ld conversations, each making a DataFrame\n", n);
    double t0 = bench_now_us();
    for (long i = 0; i < n && rc == 0 && !h.fatal[0]; i++) {
        client_t *c = &r->convs[r->nconvs];
        bool refused;
        if (s_conv_start(r, c, req, NULL, &refused) < 0) {
            s_client_close(c);
            if (!refused) {
                fprintf(stderr, "serve: %s\n", c->failure);
                rc = -1;
                break;
            }
            if (!res->refused++)
                snprintf(res->first_refusal, sizeof res->first_refusal, "%s", c->failure);
            if (++consecutive >= MAX_CONSECUTIVE_START_FAILURES) {
                fprintf(stderr, "  %ld refusals in a row; not asking for more\n", consecutive);
                break;
            }
            continue;
        }
        consecutive = 0;
        r->nconvs++;
        res->started++;
        if (s_hub_add(&h, c) < 0) {
            fprintf(stderr, "serve: %s\n", c->failure);
            rc = -1;
            break;
        }
        c->script = s_script_sc;
        s_hub_sync(&h, c);
        s_hub_wait(&h, 0);
        if ((i + 1) % 100 == 0)
            fprintf(stderr, "  %ld start_requests answered (%ld refused) in %.1f s; %zu busy\n",
                    i + 1, res->refused, (bench_now_us() - t0) / 1e6, h.busy);
        if (bench_interrupted())
            rc = -1;
    }
    res->t_started_s = (bench_now_us() - t0) / 1e6;
    while (rc == 0 && h.busy && !h.fatal[0]) {
        double until = bench_now_us() + 10e6;
        s_hub_settle(&h, until);
        if (h.busy)
            fprintf(stderr, "  %.0f s: %zu conversations still busy\n",
                    (bench_now_us() - t0) / 1e6, h.busy);
        if (bench_now_us() - t0 > DENSITY_CELL_TIMEOUT_S * 1e6 + 60e6)
            break;
    }
    res->t_holding_s = (bench_now_us() - t0) / 1e6;
    for (size_t i = 0; i < r->nconvs; i++) {
        client_t *c = &r->convs[i];
        if (!c->failure[0] && c->done == 1 && c->bad == 0)
            res->holding++;
        else if (c->failure[0] || c->bad)
            fprintf(stderr, "  conversation %zu: %s%s\n", i + 1,
                    c->failure[0] ? c->failure : "reply status ", c->failure[0] ? "" : c->status);
    }
    fprintf(stderr, "  %ld of %ld hold a DataFrame after %.1f s\n", res->holding, res->started,
            res->t_holding_s);
    if (h.fatal[0]) {
        fprintf(stderr, "serve: %s\n", h.fatal);
        rc = -1;
    }
    if (rc == 0) {
        s_sleep_ms(SETTLE_S * 1000);
        s_tree_mem(r->d.pid, &res->mem);
        res->daemon_fds = s_count_fds(r->d.pid);
        /* every one answers a cell, all at once */
        h.on_done = s_on_sweep;
        h.arg = res;
        double ts = bench_now_us();
        for (size_t i = 0; i < r->nconvs; i++)
            if (!r->convs[i].failure[0])
                s_hub_exec(&h, &r->convs[i], CODE_SWEEP, true);
        s_hub_settle(&h, ts + DENSITY_CELL_TIMEOUT_S * 1e6);
        res->t_sweep_s = (bench_now_us() - ts) / 1e6;
        for (size_t i = 0; i < r->nconvs; i++) {
            client_t *c = &r->convs[i];
            if (!c->failure[0] && strcmp(c->status, "ok") == 0 &&
                strcmp(c->result, SWEEP_RESULT) == 0)
                res->answered++;
        }
        fprintf(stderr, "  %ld answered `%s` in %.1f s\n", res->answered, CODE_SWEEP,
                res->t_sweep_s);
        res->done = true;
    }
    while (h.n)
        s_hub_remove(&h, h.cl[h.n - 1]);
    s_hub_free(&h);
    return rc;
}

static void s_report_density(const run_t *r, const dens_res_t *d)
{
    printf("\n== density: %ld conversations asked for (sandcell serve --pool %s "
           "--max-conversations %ld, RLIMIT_NOFILE %ld), each making a small DataFrame,\n"
           "   then every one answering `%s` at once\n",
           d->asked, s_pool_desc(r->o.pool), r->d.max_conversations, r->d.nofile, CODE_SWEEP);
    printf("started         %6ld  (refused %ld%s%s)\n", d->started, d->refused,
           d->refused ? "; first: " : "", d->refused ? d->first_refusal : "");
    printf("holding a frame %6ld  (all start_requests answered in %.1f s; all frames made "
           "%.1f s after the first start)\n",
           d->holding, d->t_started_s, d->t_holding_s);
    printf("answered        %6ld  (the sweep took %.2f s: %.0f cells/s)\n", d->answered,
           d->t_sweep_s, d->t_sweep_s > 0 ? d->answered / d->t_sweep_s : 0);
    if (d->sweep_lat.n) {
        pcts_t p = s_pcts(&d->sweep_lat);
        printf("sweep latency   p50 %.1f ms, p90 %.1f ms, p99 %.1f ms (all sent at once)\n",
               p.p50 / 1e3, p.p90 / 1e3, p.p99 / 1e3);
    }
    if (d->mem.total.nproc) {
        s_print_tree("daemon tree:", &d->mem);
        if (d->holding)
            printf("  per conversation (whole tree / %ld): %.2f MiB PSS; the daemon holds %ld "
                   "file descriptors\n",
                   d->started, d->mem.total.pss_kib / 1024 / (double)d->started, d->daemon_fds);
    }
    if (d->stop_s >= 0)
        printf("SIGTERM to exit with every conversation: %.1f s\n", d->stop_s);
    if (r->d.ended[0])
        printf("THE DAEMON ENDED DURING THE RUN: it %s (its log's end is on stderr)\n",
               r->d.ended);
    else if (!d->done)
        printf("the run stopped early (see stderr)\n");
}

/* ------------------------------------------------------------------ args */

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: serve [--modes start,rtt,memory,throughput] [--only sandcell|ipykernel]\n"
            "             [--rounds N] [--starts N] [--burst N] [--gap-ms MS]\n"
            "             [--conversations N] [--ipykernels N] [--duration S] [--pool K]\n"
            "             [--sandcell PATH] [--daemon-arg=ARG ...]\n"
            "       serve --density N [--pool K] [--sandcell PATH]\n"
            "`sandcell serve` against ipykernel: start latency, round trip, memory per idle\n"
            "conversation, throughput over many conversations; --density N alone: N live\n"
            "conversations.\n"
            "  --modes LIST       which modes (default all four; throughput needs memory's\n"
            "                     conversations and runs it too)\n"
            "  --rounds N         start: interleaved rounds (default 10)\n"
            "  --starts N         start: paced sandcell starts per round (default 10)\n"
            "  --burst N          start: back-to-back sandcell starts per round (default 8)\n"
            "  --gap-ms MS        start: pause after each paced start (default 100)\n"
            "  --conversations N  memory, throughput: sandcell conversations (default 100)\n"
            "  --ipykernels N     memory, throughput: ipykernel processes (default 10)\n"
            "  --duration S       rtt, throughput: seconds per configuration (default 10)\n"
            "  --pool K           the daemon's --pool (default: the daemon's default)\n"
            "  --density N        only the density mode, with N conversations (issue: 1000)\n"
            "  --sandcell PATH    the sandcell binary (default: ../sandcell next to serve)\n"
            "  --daemon-arg=ARG   one more argument for `sandcell serve` (up to 8), e.g.\n"
            "                     --daemon-arg=--no-journal (default: journals in the temp dir)\n");
}

static bool s_long_arg(const char *arg, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || *end || end == arg || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int s_parse_args(int argc, char **argv, options_t *o)
{
    *o = (options_t){.run_sc = true, .run_ipk = true, .m_start = true, .m_rtt = true,
                     .m_memory = true, .m_tput = true, .rounds = 10, .starts = 10, .burst = 8,
                     .gap_ms = 100, .conversations = 100, .ipykernels = 10, .duration_s = 10,
                     .pool = -1};
    static const struct option longs[] = {
        {"modes", required_argument, NULL, 'm'},    {"only", required_argument, NULL, 'o'},
        {"rounds", required_argument, NULL, 'r'},   {"starts", required_argument, NULL, 's'},
        {"burst", required_argument, NULL, 'b'},    {"gap-ms", required_argument, NULL, 'g'},
        {"conversations", required_argument, NULL, 'c'},
        {"ipykernels", required_argument, NULL, 'i'},
        {"duration", required_argument, NULL, 'd'}, {"pool", required_argument, NULL, 'p'},
        {"density", required_argument, NULL, 'D'},  {"sandcell", required_argument, NULL, 'S'},
        {"daemon-arg", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},           {0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        bool ok = true;
        switch (ch) {
        case 'm': {
            o->m_start = o->m_rtt = o->m_memory = o->m_tput = false;
            char *list = strdup(optarg), *save = NULL;
            for (char *t = list ? strtok_r(list, ",", &save) : NULL; t && ok;
                 t = strtok_r(NULL, ",", &save)) {
                if (strcmp(t, "start") == 0)
                    o->m_start = true;
                else if (strcmp(t, "rtt") == 0)
                    o->m_rtt = true;
                else if (strcmp(t, "memory") == 0)
                    o->m_memory = true;
                else if (strcmp(t, "throughput") == 0)
                    o->m_tput = o->m_memory = true;
                else
                    ok = false;
            }
            free(list);
            break;
        }
        case 'o':
            o->run_sc = strcmp(optarg, "sandcell") == 0;
            o->run_ipk = strcmp(optarg, "ipykernel") == 0;
            ok = o->run_sc || o->run_ipk;
            break;
        case 'r': ok = s_long_arg(optarg, 1, 100000, &o->rounds); break;
        case 's': ok = s_long_arg(optarg, 0, 100000, &o->starts); break;
        case 'b': ok = s_long_arg(optarg, 0, 1000, &o->burst); break;
        case 'g': ok = s_long_arg(optarg, 0, 100000, &o->gap_ms); break;
        case 'c': ok = s_long_arg(optarg, 1, 100000, &o->conversations); break;
        case 'i': ok = s_long_arg(optarg, 1, 1000, &o->ipykernels); break;
        case 'd': ok = s_long_arg(optarg, 1, 100000, &o->duration_s); break;
        case 'p': ok = s_long_arg(optarg, 0, 64, &o->pool); break;
        case 'D': ok = s_long_arg(optarg, 1, 100000, &o->density); break;
        case 'S': o->sandcell = optarg; break;
        case 'a':
            ok = o->ndaemon_args < MAX_DAEMON_ARGS;
            if (ok)
                o->daemon_args[o->ndaemon_args++] = optarg;
            break;
        case 'h': s_usage(stdout); return 1;
        default: ok = false;
        }
        if (!ok) {
            if (ch != '?')
                fprintf(stderr, "serve: bad value: %s\n", optarg ? optarg : "");
            s_usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        s_usage(stderr);
        return -1;
    }
    return 0;
}

static int s_default_sandcell(char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    int w = snprintf(out, len, "%s/../sandcell", self);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

/* ------------------------------------------------------------------ main */

/* The first conversation waits for the zygote's preload; then the pool
 * gets time to fill. */
static int s_daemon_warm(run_t *r)
{
    hub_t h;
    client_t c;
    if (s_hub_init(&h, DAEMON_READY_TIMEOUT_S) < 0)
        return -1;
    h.watch = r->d.pid;
    json_auto_t *req = json_object();
    bool refused;
    double t0 = bench_now_us();
    int rc = 0;
    if (s_conv_start(r, &c, req, NULL, &refused) < 0 || s_hub_add(&h, &c) < 0 ||
        s_hub_sync(&h, &c) < 0 || s_hub_settle(&h, t0 + DAEMON_READY_TIMEOUT_S * 1e6) < 0 ||
        c.failure[0] || s_hub_exec(&h, &c, CODE_TRIVIAL, true) < 0 ||
        s_hub_settle(&h, t0 + DAEMON_READY_TIMEOUT_S * 1e6) < 0 || c.failure[0]) {
        s_daemon_fail(&r->d, "first conversation: %s",
                      c.failure[0] ? c.failure : h.fatal[0] ? h.fatal : "no answer");
        rc = -1;
    }
    s_conv_stop(r, &h, &c);
    s_hub_free(&h);
    proc_t *procs;
    long np = s_proc_list(&procs);
    for (long i = 0; i < np && !r->d.zygote; i++)
        if (procs[i].ppid == r->d.pid)
            r->d.zygote = procs[i].pid;
    free(procs);
    if (rc == 0) {
        fprintf(stderr, "daemon: runtime file after %.2f s, first conversation answered after "
                        "%.2f s more\n",
                r->d.ready_s, (bench_now_us() - t0) / 1e6);
        s_sleep_ms(1500);
    }
    return rc;
}

static void s_print_header(const run_t *r)
{
    double load[3] = {0};
    getloadavg(load, 3);
    time_t now = time(NULL);
    char date[40];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    printf("bench/serve: sandcell serve against ipykernel — %s, %ld CPUs, load average %.2f "
           "%.2f %.2f\n",
           date, sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2]);
}

int main(int argc, char **argv)
{
    run_t r = {.status = 0};
    r.d.pid = -1;
    int prc = s_parse_args(argc, argv, &r.o);
    if (prc != 0)
        return prc > 0 ? 0 : 2;
    if (r.o.density) {
        r.o.run_sc = true;
        r.o.run_ipk = false;
    }
    if (r.o.sandcell)
        snprintf(r.sandcell, sizeof r.sandcell, "%s", r.o.sandcell);
    else if (s_default_sandcell(r.sandcell, sizeof r.sandcell) < 0) {
        fprintf(stderr, "serve: cannot tell where sandcell is; pass --sandcell PATH\n");
        return 2;
    }
    if (r.o.run_sc && access(r.sandcell, X_OK) < 0) {
        fprintf(stderr, "serve: %s: %s (pass --sandcell PATH)\n", r.sandcell, strerror(errno));
        return 2;
    }
    bench_install_signals();
    s_raise_nofile(CLIENT_NOFILE);
    setvbuf(stdout, NULL, _IOLBF, 0);

    start_res_t st = {0};
    mem_res_t mem = {0};
    tput_res_t tp = {0};
    rtt_res_t rt = {0};
    dens_res_t dens = {.stop_s = -1};
    bool did_start = false, did_rtt = false, did_mem = false, did_tput = false;

    /* the daemon first: it forks, and we hold no ZeroMQ context yet */
    if (r.o.run_sc) {
        r.d.pool = r.o.pool;
        for (int i = 0; i < r.o.ndaemon_args; i++)
            r.d.extra[r.d.nextra++] = r.o.daemon_args[i];
        r.d.max_conversations =
            r.o.density ? r.o.density + 100 : r.o.conversations + r.o.burst + 16;
        if (s_daemon_start(&r.d, r.sandcell) < 0) {
            fprintf(stderr, "serve: cannot start the daemon: %s\n", r.d.failure);
            r.status = 1;
            goto out;
        }
    }
    r.ctx = zmq_ctx_new();
    long max_sockets = 2 * (r.o.density + r.o.conversations + r.o.ipykernels * 2) + 256;
    if (!r.ctx || zmq_ctx_set(r.ctx, ZMQ_MAX_SOCKETS, (int)max_sockets) < 0) {
        fprintf(stderr, "serve: zmq context: %s\n", zmq_strerror(zmq_errno()));
        r.status = 1;
        goto out;
    }
    if (r.o.run_sc && s_daemon_warm(&r) < 0) {
        fprintf(stderr, "serve: the daemon does not answer: %s\n", r.d.failure);
        r.status = 1;
        goto out;
    }
    if (r.o.density) {
        if (s_mode_density(&r, &dens) < 0)
            r.status = 1;
        goto out;
    }
    if (r.o.m_start) {
        if (s_mode_start(&r, &st) < 0) {
            r.status = 1;
            goto out;
        }
        did_start = true;
    }
    if (r.o.m_rtt) {
        if (s_mode_rtt(&r, &rt) < 0) {
            r.status = 1;
            goto out;
        }
        did_rtt = true;
    }
    if (r.o.m_memory) {
        if (s_mode_memory(&r, &mem) < 0) {
            r.status = 1;
            goto out;
        }
        did_mem = true;
    }
    if (r.o.m_tput) {
        if (s_mode_tput(&r, &tp) < 0)
            r.status = 1;
        did_tput = true;
    }

out:
    for (size_t i = 0; i < r.nconvs; i++)
        s_client_close(&r.convs[i]); /* the daemon's SIGTERM ends the conversations */
    for (size_t i = 0; i < r.nipks; i++)
        s_ipk_stop(NULL, &r.ipks[i], &r.ipk_cl[i]);
    if (r.ctx)
        zmq_ctx_term(r.ctx);
    if (r.d.pid > 0) {
        if (r.status)
            s_daemon_fail(&r.d, "%s", bench_interrupted() ? "interrupted" : "the run failed");
        double took = s_daemon_stop(&r.d, r.o.density ? 300 : 30);
        if (r.o.density)
            dens.stop_s = took;
    } else {
        s_daemon_stop(&r.d, 0);
    }
    int left = s_reap_leftovers();
    int cgroups_left = s_leftover_cgroups(r.d.zygote);
    if (bench_interrupted())
        r.status = 130;

    s_print_header(&r);
    if (r.o.run_sc) {
        printf("daemon: %s serve --pool %s --max-conversations %ld", r.sandcell,
               s_pool_desc(r.d.pool), r.d.max_conversations);
        for (int i = 0; i < r.d.nextra; i++)
            printf(" %s", r.d.extra[i]);
        printf(" (its RLIMIT_NOFILE %ld)\n", r.d.nofile);
    }
    if (did_start)
        s_report_start(&r, &st);
    if (did_rtt)
        s_report_rtt(&rt);
    if (did_mem)
        s_report_memory(&r, &mem);
    if (did_tput)
        s_report_tput(&r, &tp);
    if (dens.asked)
        s_report_density(&r, &dens);

    printf("\n== targets (the issue's; a miss is reported, never a failure)\n");
    if (did_start && st.total.n) {
        pcts_t p = s_pcts(&st.total);
        printf("  start p50 %.2f ms <= %.0f ms: %s\n", p.p50 / 1e3, TARGET_START_P50_MS,
               s_met(p.p50 / 1e3 <= TARGET_START_P50_MS));
        printf("  start p99 %.2f ms <= %.0f ms: %s\n", p.p99 / 1e3, TARGET_START_P99_MS,
               s_met(p.p99 / 1e3 <= TARGET_START_P99_MS));
    }
    if (did_rtt && rt.sc.lat.n) {
        double p50 = s_pcts(&rt.sc.lat).p50;
        printf("  round trip p50 %.0f us <= %.0f us: %s\n", p50, TARGET_RTT_P50_US,
               s_met(p50 <= TARGET_RTT_P50_US));
        if (rt.ipk.lat.n)
            printf("  round trip faster than ipykernel (p50 %.0f us): %s\n",
                   s_pcts(&rt.ipk.lat).p50, s_met(p50 < s_pcts(&rt.ipk.lat).p50));
    }
    if (did_mem && mem.have_sc)
        printf("  PSS per idle conversation with a DataFrame %.2f MiB <= %.0f MiB: %s\n",
               s_per_conv_mib(&mem), TARGET_PSS_MIB, s_met(s_per_conv_mib(&mem) <= TARGET_PSS_MIB));
    if (dens.asked)
        printf("  %d live conversations, each answering: %ld started, %ld answered: %s\n",
               TARGET_DENSITY, dens.started, dens.answered,
               s_met(dens.answered >= TARGET_DENSITY));
    else if (r.o.run_sc)
        printf("  %d live conversations: run `serve --density %d`\n", TARGET_DENSITY,
               TARGET_DENSITY);
    if (did_tput)
        printf("  throughput: no numeric target; compared above\n");
    if (left)
        printf("\n%d processes were left behind and killed\n", left);
    if (cgroups_left)
        printf("\n%d interpreter cgroups of this daemon were left behind (see stderr)\n",
               cgroups_left);

    for (size_t i = 0; i < r.nconvs; i++)
        s_client_close(&r.convs[i]);
    free(r.convs);
    free(r.ipks);
    free(r.ipk_cl);
    s_samples_free(&st.total);
    s_samples_free(&st.control);
    s_samples_free(&st.after);
    s_samples_free(&st.burst);
    s_samples_free(&st.ipk);
    s_samples_free(&tp.sc_many.lat);
    s_samples_free(&tp.sc_few.lat);
    s_samples_free(&tp.ipk.lat);
    s_samples_free(&rt.sc.lat);
    s_samples_free(&rt.ipk.lat);
    s_samples_free(&dens.sweep_lat);
    return r.status;
}
