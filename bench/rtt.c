/* rtt — round trip of a trivial cell ("1+1"), sandcell against ipykernel,
 * measured by one C client.
 *
 * Both kernels are started the way a Jupyter frontend starts them: a
 * connection file with fresh loopback ports and a random key in a private
 * temp dir, then the kernel's own command line. The client speaks the wire
 * format through sandcell's protocol library and libzmq directly (DEALER on
 * shell and control, SUB on iopub), verifies every signature and decodes
 * every message, like a real frontend, so the client cost is the same for
 * both kernels. Two figures per cell: send -> execute_reply (the target's
 * definition) and send -> status idle; the next cell goes out only after
 * both, so cells never overlap and iopub never backs up. Timestamps are
 * taken when a message's frames have arrived, before it is decoded, and
 * shell is served before iopub. The kernels run in interleaved rounds so
 * that noise on a shared machine hits both alike.
 *
 * Process hygiene: each kernel is its own process group, dies with us
 * (PR_SET_PDEATHSIG), and we are a child subreaper, so its descendants end
 * up ours to reap; SIGINT/SIGTERM only set a flag that every wait checks,
 * and every path, including errors, goes through the same stop: shutdown
 * request, 5 s grace, SIGKILL to the group, reap, remove the temp dir. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "connfile.h"
#include "header.h"
#include "signer.h"
#include "util.h"
#include "wire.h"

#define RTT_CODE "1+1"
#define RTT_WARMUP 50
#define RTT_ROUNDS 10
#define RTT_READY_TIMEOUT_S 60
#define RTT_CELL_TIMEOUT_S 30
#define RTT_STOP_GRACE_S 5
#define RTT_TARGET_P50_US 250.0
#define RTT_MAX_FRAMES 64

extern char **environ;

static volatile sig_atomic_t g_stop;

typedef enum { KIND_SANDCELL, KIND_IPYKERNEL, KIND_COUNT } kind_t;
static const char *const s_kind_names[KIND_COUNT] = {"sandcell", "ipykernel"};

typedef struct {
    double *v; /* owned; microseconds */
    size_t n;
    size_t cap;
} samples_t;

typedef struct {
    kind_t kind;
    const char *name;  /* borrowed, static */
    char dir[64];      /* mkdtemp dir; empty when none */
    char conn_path[96];
    char log_path[96];
    connfile_t conn;   /* owns conn.key */
    pid_t pid;         /* > 0 while the process (group) may exist */
    void *shell, *control, *iopub; /* owned zmq sockets or NULL */
    signer_t *signer;  /* owned */
    char session[HEADER_ID_LEN + 1];
    double ready_s;    /* start to first kernel_info_reply + iopub */
    samples_t reply, idle;
    unsigned errors;   /* execute_replies whose status was not "ok" */
    char failure[256]; /* empty while healthy */
} kernel_t;

typedef struct {
    long count;
    const char *sandcell; /* borrowed from argv, or NULL for the default */
    bool run[KIND_COUNT];
    bool json;
} options_t;

static void s_on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void s_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Marks |k| failed with a printf-style reason (the first reason wins) and
 * returns -1, so error paths read `return s_fail(k, ...)`. */
__attribute__((format(printf, 2, 3))) static int s_fail(kernel_t *k, const char *fmt, ...)
{
    if (!k->failure[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(k->failure, sizeof k->failure, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int s_samples_push(samples_t *s, double v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        double *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    return 0;
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile |p| (0..100) of |s|; sorts s in place. */
static double s_percentile(samples_t *s, double p)
{
    if (s->n == 0)
        return 0;
    qsort(s->v, s->n, sizeof *s->v, s_cmp_double);
    size_t rank = (size_t)(p / 100.0 * (double)s->n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > s->n)
        rank = s->n;
    return s->v[rank - 1];
}

/* Picks |n| distinct free TCP ports on 127.0.0.1 by binding port 0 and
 * holding every socket until all are picked. Returns 0 or -errno. */
static int s_pick_ports(int *ports, size_t n)
{
    int fds[2 * CONN_NCHANNELS];
    size_t opened = 0;
    int rc = 0;
    if (n > ARRAY_SIZE(fds))
        return -EINVAL;
    for (; opened < n; opened++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            rc = -errno;
            break;
        }
        fds[opened] = fd;
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sa;
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
            rc = -errno;
            opened++;
            break;
        }
        ports[opened] = ntohs(sa.sin_port);
    }
    for (size_t i = 0; i < opened; i++)
        close(fds[i]);
    return rc;
}

static int s_rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Creates |k|'s temp dir and writes its connection file (fresh random key)
 * with the five ports in |ports|. Returns 0, or -1 with k->failure set. */
static int s_kernel_prepare(kernel_t *k, const int *ports)
{
    snprintf(k->dir, sizeof k->dir, "/tmp/sandcell-rtt-XXXXXX");
    if (!mkdtemp(k->dir)) {
        k->dir[0] = '\0';
        return s_fail(k, "mkdtemp: %s", strerror(errno));
    }
    snprintf(k->conn_path, sizeof k->conn_path, "%s/kernel.json", k->dir);
    snprintf(k->log_path, sizeof k->log_path, "%s/kernel.log", k->dir);

    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    k->conn.key = malloc(2 * sizeof raw + 1);
    if (!k->conn.key)
        return s_fail(k, "out of memory");
    sodium_bin2hex(k->conn.key, 2 * sizeof raw + 1, raw, sizeof raw);
    snprintf(k->conn.transport, sizeof k->conn.transport, "tcp");
    snprintf(k->conn.ip, sizeof k->conn.ip, "127.0.0.1");
    snprintf(k->conn.signature_scheme, sizeof k->conn.signature_scheme, "hmac-sha256");
    memcpy(k->conn.ports, ports, sizeof k->conn.ports);
    int rc = connfile_save(&k->conn, k->conn_path);
    if (rc < 0)
        return s_fail(k, "writing %s: %s", k->conn_path, strerror(-rc));
    k->signer = signer_new(k->conn.key, strlen(k->conn.key));
    if (!k->signer)
        return s_fail(k, "out of memory");
    header_new_id(k->session);
    return 0;
}

/* The environment for the kernel: ours, plus (for ipykernel) an IPython
 * dir inside the temp dir so no history lands in $HOME. Caller frees the
 * array and the strings it allocated (*extra, 2 entries). */
static char **s_kernel_env(const kernel_t *k, char **extra)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 3, sizeof *env);
    if (!env)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "IPYTHONDIR=", 11) != 0 &&
            strncmp(environ[i], "PYDEVD_DISABLE_FILE_VALIDATION=", 31) != 0)
            env[j++] = environ[i];
    extra[0] = extra[1] = NULL;
    if (k->kind == KIND_IPYKERNEL) {
        if (asprintf(&extra[0], "IPYTHONDIR=%s/ipython", k->dir) < 0)
            extra[0] = NULL;
        extra[1] = strdup("PYDEVD_DISABLE_FILE_VALIDATION=1");
        if (!extra[0] || !extra[1]) {
            free(extra[0]), free(extra[1]), free(env);
            return NULL;
        }
        env[j++] = extra[0];
        env[j++] = extra[1];
    }
    return env;
}

/* Forks and execs the kernel. The child gets its own process group, dies
 * with us, runs in the temp dir and writes stdout/stderr to kernel.log.
 * Returns 0, or -1 with k->failure set. Only async-signal-safe calls run
 * between fork and exec (no ZeroMQ context exists yet). */
static int s_kernel_spawn(kernel_t *k, const char *sandcell)
{
    const char *argv_sc[] = {sandcell, "kernel", "-f", k->conn_path, NULL};
    const char *argv_ipk[] = {"/usr/bin/python3", "-m", "ipykernel_launcher", "-f",
                              k->conn_path, NULL};
    const char *const *argv = k->kind == KIND_SANDCELL ? argv_sc : argv_ipk;
    char *extra[2];
    _cleanup_free_ char **env = s_kernel_env(k, extra);
    if (!env)
        return s_fail(k, "out of memory");
    _cleanup_free_ char *extra0 = extra[0];
    _cleanup_free_ char *extra1 = extra[1];
    _cleanup_close_ int logfd =
        open(k->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    _cleanup_close_ int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (logfd < 0 || nullfd < 0)
        return s_fail(k, "opening %s: %s", k->log_path, strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return s_fail(k, "fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (chdir(k->dir) < 0 || dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 ||
            dup2(logfd, 2) < 0)
            _exit(127);
        execve(argv[0], (char *const *)argv, env);
        _exit(127);
    }
    setpgid(pid, pid); /* both sides, so a kill(-pid) right away is safe */
    k->pid = pid;
    return 0;
}

/* Returns true if the kernel process has exited (without reaping it) and
 * describes how in |how|. */
static bool s_kernel_exited(const kernel_t *k, char *how, size_t how_len)
{
    siginfo_t si = {0};
    if (k->pid <= 0 || waitid(P_PID, (id_t)k->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
        si.si_pid == 0)
        return false;
    if (si.si_code == CLD_EXITED)
        snprintf(how, how_len, "exited with status %d", si.si_status);
    else
        snprintf(how, how_len, "killed by signal %d", si.si_status);
    return true;
}

static void *s_socket(void *ctx, int type, const kernel_t *k, conn_channel_t ch)
{
    char ep[300];
    void *s = zmq_socket(ctx, type);
    if (!s)
        return NULL;
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (connfile_endpoint(&k->conn, ch, ep, sizeof ep) < 0 || zmq_connect(s, ep) < 0) {
        zmq_close(s);
        return NULL;
    }
    return s;
}

static int s_kernel_connect(kernel_t *k, void *ctx)
{
    k->shell = s_socket(ctx, ZMQ_DEALER, k, CONN_SHELL);
    k->control = s_socket(ctx, ZMQ_DEALER, k, CONN_CONTROL);
    k->iopub = s_socket(ctx, ZMQ_SUB, k, CONN_IOPUB);
    if (!k->shell || !k->control || !k->iopub)
        return s_fail(k, "zmq socket/connect: %s", zmq_strerror(zmq_errno()));
    return 0;
}

/* Signs and sends a request. Does not take ownership of |content|. Writes
 * the new msg_id into |msg_id| (HEADER_ID_LEN + 1 bytes) when non-NULL.
 * Returns 0, or -1 with k->failure set. */
static int s_send(kernel_t *k, void *sock, const char *msg_type, const json_t *content,
                  char *msg_id)
{
    json_auto_t *header = header_new(msg_type, k->session, "rtt");
    if (!header)
        return s_fail(k, "out of memory");
    if (msg_id)
        snprintf(msg_id, HEADER_ID_LEN + 1, "%s",
                 json_string_value(json_object_get(header, "msg_id")));
    wire_outgoing_t out = {.header = header, .content = content};
    wire_frames_t frames;
    proto_err_t err;
    if (wire_encode(k->signer, &out, &frames, &err) < 0)
        return s_fail(k, "encoding %s: %s", msg_type, proto_err_to_string(err));
    int rc = 0;
    for (size_t i = 0; i < frames.n && rc == 0; i++)
        if (zmq_send(sock, frames.frames[i].data, frames.frames[i].size,
                     i + 1 < frames.n ? ZMQ_SNDMORE : 0) < 0)
            rc = s_fail(k, "sending %s: %s", msg_type, zmq_strerror(zmq_errno()));
    wire_frames_clear(&frames);
    return rc;
}

/* Receives one message from |sock| if one is waiting, and decodes it into
 * |out| (caller clears it with wire_msg_clear). *t_us is when its frames
 * had all arrived. Returns 1 with a message, 0 if none was waiting, -1 on
 * an error (k->failure set: a message that does not verify is a failure). */
static int s_recv(kernel_t *k, void *sock, wire_msg_t *out, double *t_us)
{
    zmq_msg_t parts[RTT_MAX_FRAMES];
    wire_frame_t views[RTT_MAX_FRAMES];
    size_t n = 0;
    bool more = true, overflow = false;
    int rc = 1;
    while (more) {
        zmq_msg_t spare, *m = n < RTT_MAX_FRAMES ? &parts[n] : &spare;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            int e = zmq_errno();
            zmq_msg_close(m);
            rc = e == EAGAIN && n == 0 ? 0 : s_fail(k, "recv: %s", zmq_strerror(e));
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
    *t_us = s_now_us();
    if (rc == 1 && overflow)
        rc = s_fail(k, "a message of more than %d frames", RTT_MAX_FRAMES);
    proto_err_t err;
    if (rc == 1 && wire_decode(k->signer, views, n, out, &err) < 0)
        rc = s_fail(k, "undecodable message from the kernel: %s", proto_err_to_string(err));
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
    return rc;
}

/* Borrowed string field |key| of |obj|, or "" when absent. */
static const char *s_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static bool s_is_idle(const wire_msg_t *m)
{
    return strcmp(wire_msg_type(m), "status") == 0 &&
           strcmp(s_str(m->content, "execution_state"), "idle") == 0;
}

static void s_print_log_tail(const kernel_t *k)
{
    FILE *f = k->log_path[0] ? fopen(k->log_path, "r") : NULL;
    if (!f)
        return;
    char buf[2048];
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = '\0';
    fclose(f);
    if (got)
        fprintf(stderr, "--- last lines of %s's log ---\n%s%s---\n", k->name, buf,
                buf[got - 1] == '\n' ? "" : "\n");
}

/* Waits (up to RTT_READY_TIMEOUT_S) until the kernel answers a
 * kernel_info_request on shell AND its iopub status reaches our SUB socket,
 * resending the request every second: the first requests may be queued
 * before the kernel binds, and a SUB that joins late misses what was
 * published before. Returns 0, or -1 with k->failure set. */
static int s_kernel_wait_ready(kernel_t *k, double started_us)
{
    json_auto_t *empty = json_object();
    double deadline = started_us + RTT_READY_TIMEOUT_S * 1e6, next_send = 0;
    bool replied = false, published = false;
    char how[64];
    while (!replied || !published) {
        double now = s_now_us();
        if (g_stop)
            return s_fail(k, "interrupted");
        if (s_kernel_exited(k, how, sizeof how))
            return s_fail(k, "kernel %s during start-up", how);
        if (now > deadline)
            return s_fail(k, "no kernel_info_reply%s within %d s",
                          replied ? " on iopub" : "", RTT_READY_TIMEOUT_S);
        if (now >= next_send) {
            if (s_send(k, k->shell, "kernel_info_request", empty, NULL) < 0)
                return -1;
            next_send = now + 1e6;
        }
        zmq_pollitem_t items[2] = {{k->shell, 0, ZMQ_POLLIN, 0}, {k->iopub, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, 100) < 0 && zmq_errno() != EINTR)
            return s_fail(k, "zmq_poll: %s", zmq_strerror(zmq_errno()));
        for (int i = 0; i < 2; i++) {
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            wire_msg_t m;
            double t;
            int rc;
            while ((rc = s_recv(k, items[i].socket, &m, &t)) == 1) {
                bool ours = strcmp(s_str(m.parent, "msg_type"), "kernel_info_request") == 0 &&
                            strcmp(s_str(m.parent, "session"), k->session) == 0;
                if (ours && i == 0 && strcmp(wire_msg_type(&m), "kernel_info_reply") == 0)
                    replied = true;
                if (ours && i == 1)
                    published = true;
                wire_msg_clear(&m);
            }
            if (rc < 0)
                return -1;
        }
    }
    k->ready_s = (s_now_us() - started_us) / 1e6;
    return 0;
}

/* Runs one cell: sends execute_request, then serves shell first and iopub
 * one message at a time until both the execute_reply and the idle status
 * for this request have arrived. Stores the two latencies (microseconds)
 * in *reply_us and *idle_us. Returns 0, or -1 with k->failure set. */
static int s_run_cell(kernel_t *k, const json_t *content, double *reply_us, double *idle_us)
{
    char id[HEADER_ID_LEN + 1];
    double t0 = s_now_us();
    if (s_send(k, k->shell, "execute_request", content, id) < 0)
        return -1;
    double t_reply = -1, t_idle = -1, deadline = t0 + RTT_CELL_TIMEOUT_S * 1e6;
    while (t_reply < 0 || t_idle < 0) {
        zmq_pollitem_t items[2] = {{k->shell, 0, ZMQ_POLLIN, 0}, {k->iopub, 0, ZMQ_POLLIN, 0}};
        double left_ms = (deadline - s_now_us()) / 1e3;
        if (g_stop)
            return s_fail(k, "interrupted");
        if (left_ms <= 0) {
            char how[64];
            if (s_kernel_exited(k, how, sizeof how))
                return s_fail(k, "kernel %s while running a cell", how);
            return s_fail(k, "no %s within %d s of execute_request",
                          t_reply < 0 ? "execute_reply" : "idle status", RTT_CELL_TIMEOUT_S);
        }
        if (zmq_poll(items, 2, left_ms > 1000 ? 1000 : (long)left_ms + 1) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            return s_fail(k, "zmq_poll: %s", zmq_strerror(zmq_errno()));
        }
        wire_msg_t m;
        double t;
        int rc;
        if (items[0].revents & ZMQ_POLLIN) {
            while ((rc = s_recv(k, k->shell, &m, &t)) == 1) {
                if (strcmp(wire_msg_type(&m), "execute_reply") == 0 &&
                    strcmp(s_str(m.parent, "msg_id"), id) == 0) {
                    t_reply = t;
                    if (strcmp(s_str(m.content, "status"), "ok") != 0)
                        k->errors++;
                }
                wire_msg_clear(&m);
            }
            if (rc < 0)
                return -1;
        }
        if (items[1].revents & ZMQ_POLLIN) {
            rc = s_recv(k, k->iopub, &m, &t);
            if (rc < 0)
                return -1;
            if (rc == 1) {
                if (s_is_idle(&m) && strcmp(s_str(m.parent, "msg_id"), id) == 0)
                    t_idle = t;
                wire_msg_clear(&m);
            }
        }
    }
    *reply_us = t_reply - t0;
    *idle_us = t_idle - t0;
    return 0;
}

/* Runs |n| cells; records them unless |record| is false (warm-up). */
static int s_run_cells(kernel_t *k, long n, bool record)
{
    json_auto_t *content =
        json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", RTT_CODE, "silent", 0,
                  "store_history", 1, "user_expressions", "allow_stdin", 0,
                  "stop_on_error", 1);
    if (!content)
        return s_fail(k, "out of memory");
    for (long i = 0; i < n; i++) {
        double r = 0, idle = 0;
        if (s_run_cell(k, content, &r, &idle) < 0)
            return -1;
        if (record && (s_samples_push(&k->reply, r) < 0 || s_samples_push(&k->idle, idle) < 0))
            return s_fail(k, "out of memory");
    }
    return 0;
}

/* Stops the kernel whatever state it is in: shutdown_request on control,
 * up to RTT_STOP_GRACE_S for it to exit, then SIGKILL to its whole process
 * group, reap, close the sockets and remove the temp dir. Safe to call on a
 * kernel that never started. Prints to stderr what did not go cleanly. */
static void s_kernel_stop(kernel_t *k)
{
    char how[64] = "";
    if (k->pid > 0) {
        bool exited = false;
        if (k->control && !k->failure[0]) {
            json_auto_t *content = json_pack("{s:b}", "restart", 0);
            char save[sizeof k->failure];
            memcpy(save, k->failure, sizeof save);
            if (content)
                s_send(k, k->control, "shutdown_request", content, NULL);
            memcpy(k->failure, save, sizeof save); /* stopping is not the run */
            for (int i = 0; i < RTT_STOP_GRACE_S * 100 && !exited; i++) {
                exited = s_kernel_exited(k, how, sizeof how);
                if (!exited)
                    s_sleep_ms(10);
            }
            if (!exited)
                fprintf(stderr, "rtt: %s did not exit within %d s of shutdown_request; "
                        "killing it\n", k->name, RTT_STOP_GRACE_S);
            else if (strcmp(how, "exited with status 0") != 0)
                fprintf(stderr, "rtt: %s %s after shutdown_request\n", k->name, how);
        }
        /* Give the rest of the group (the worker) a moment to follow its
         * leader, then kill whatever is left. */
        for (int i = 0; exited && i < 100 && kill(-k->pid, 0) == 0; i++) {
            while (waitpid(-k->pid, NULL, WNOHANG) > 0 && k->pid > 0) {
            }
            s_sleep_ms(10);
        }
        if (exited && kill(-k->pid, 0) == 0)
            fprintf(stderr, "rtt: %s left processes behind after it exited; killing them\n",
                    k->name);
        kill(-k->pid, SIGKILL);
        waitpid(k->pid, NULL, 0);
        for (int i = 0; i < 100; i++) {
            pid_t r = waitpid(-k->pid, NULL, WNOHANG);
            if (r < 0)
                break; /* ECHILD: nothing of the group is ours to reap */
            if (r == 0)
                s_sleep_ms(10);
        }
        k->pid = -1;
    }
    void **socks[] = {&k->shell, &k->control, &k->iopub};
    for (size_t i = 0; i < ARRAY_SIZE(socks); i++) {
        if (*socks[i])
            zmq_close(*socks[i]);
        *socks[i] = NULL;
    }
    if (k->failure[0] && !g_stop)
        s_print_log_tail(k);
    if (k->dir[0] && nftw(k->dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
        fprintf(stderr, "rtt: could not remove %s: %s\n", k->dir, strerror(errno));
    k->dir[0] = '\0';
    signer_destroy(&k->signer);
    connfile_clear(&k->conn);
}

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: rtt [--count N] [--sandcell PATH] [--only sandcell|ipykernel] [--json]\n"
            "Round trip of the cell \"" RTT_CODE "\" (execute_request -> execute_reply on\n"
            "shell, and -> status idle on iopub), sandcell against ipykernel.\n"
            "  --count N        cells measured per kernel (default 2000), after %d warm-up\n"
            "  --sandcell PATH  the sandcell binary (default: ../sandcell next to rtt)\n"
            "  --only KERNEL    run one kernel only\n"
            "  --json           print one JSON line instead of the table\n",
            RTT_WARMUP);
}

/* Returns 0, 1 after --help, or -1 on a usage error (already reported). */
static int s_parse_args(int argc, char **argv, options_t *o)
{
    static const struct option longs[] = {
        {"count", required_argument, NULL, 'n'}, {"sandcell", required_argument, NULL, 's'},
        {"only", required_argument, NULL, 'o'},  {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    *o = (options_t){.count = 2000, .run = {true, true}};
    int c;
    while ((c = getopt_long(argc, argv, "n:h", longs, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'n':
            errno = 0;
            o->count = strtol(optarg, &end, 10);
            if (errno || *end || o->count < 1 || o->count > 10000000) {
                fprintf(stderr, "rtt: --count wants a positive integer\n");
                return -1;
            }
            break;
        case 's':
            o->sandcell = optarg;
            break;
        case 'o':
            for (int kd = 0; kd < KIND_COUNT; kd++)
                o->run[kd] = strcmp(optarg, s_kind_names[kd]) == 0;
            if (!o->run[KIND_SANDCELL] && !o->run[KIND_IPYKERNEL]) {
                fprintf(stderr, "rtt: --only wants sandcell or ipykernel\n");
                return -1;
            }
            break;
        case 'j':
            o->json = true;
            break;
        case 'h':
            s_usage(stdout);
            return 1;
        default:
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

/* The default sandcell: ../sandcell relative to this binary (the build
 * tree's top, since rtt lives in bench/). */
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

typedef struct {
    double p50, p90, p99;
} pcts_t;

static pcts_t s_pcts(samples_t *s)
{
    return (pcts_t){s_percentile(s, 50), s_percentile(s, 90), s_percentile(s, 99)};
}

static void s_report(kernel_t *ks, size_t nk, const options_t *o, long rounds)
{
    pcts_t reply[KIND_COUNT] = {0}, idle[KIND_COUNT] = {0};
    bool ok[KIND_COUNT] = {false};
    for (size_t i = 0; i < nk; i++) {
        ok[ks[i].kind] = !ks[i].failure[0] && ks[i].reply.n > 0;
        reply[ks[i].kind] = s_pcts(&ks[i].reply);
        idle[ks[i].kind] = s_pcts(&ks[i].idle);
    }
    bool both = ok[KIND_SANDCELL] && ok[KIND_IPYKERNEL];
    double ratio_reply = both ? reply[KIND_IPYKERNEL].p50 / reply[KIND_SANDCELL].p50 : 0;
    double ratio_idle = both ? idle[KIND_IPYKERNEL].p50 / idle[KIND_SANDCELL].p50 : 0;
    bool p50_met = ok[KIND_SANDCELL] && reply[KIND_SANDCELL].p50 <= RTT_TARGET_P50_US;
    bool faster_met = both && reply[KIND_SANDCELL].p50 < reply[KIND_IPYKERNEL].p50;

    if (o->json) {
        json_auto_t *root = json_pack("{s:s, s:s, s:I, s:i, s:i, s:f}", "bench", "rtt", "code",
                                      RTT_CODE, "count", (json_int_t)o->count, "rounds",
                                      (int)rounds, "warmup", RTT_WARMUP, "target_p50_us",
                                      RTT_TARGET_P50_US);
        json_t *kernels = json_object();
        json_object_set_new(root, "kernels", kernels);
        for (size_t i = 0; i < nk; i++) {
            kind_t kd = ks[i].kind;
            json_t *v = ok[kd]
                ? json_pack("{s:f, s:I, s:i, s:{s:f, s:f, s:f}, s:{s:f, s:f, s:f}}",
                            "ready_s", ks[i].ready_s, "cells", (json_int_t)ks[i].reply.n,
                            "errors", (int)ks[i].errors, "reply_us", "p50", reply[kd].p50,
                            "p90", reply[kd].p90, "p99", reply[kd].p99, "idle_us", "p50",
                            idle[kd].p50, "p90", idle[kd].p90, "p99", idle[kd].p99)
                : json_pack("{s:s}", "failure", ks[i].failure[0] ? ks[i].failure : "no cells");
            json_object_set_new(kernels, ks[i].name, v);
        }
        if (both)
            json_object_set_new(root, "ratio_p50",
                                json_pack("{s:f, s:f}", "reply", ratio_reply, "idle", ratio_idle));
        json_object_set_new(root, "target_met", json_boolean(p50_met && faster_met));
        char *s = json_dumps(root, JSON_COMPACT);
        if (s)
            printf("%s\n", s);
        free(s);
        return;
    }

    printf("\nround trip of \"%s\": %ld cells per kernel after %d warm-up, %ld interleaved rounds\n",
           RTT_CODE, o->count, RTT_WARMUP, rounds);
    printf("reply = execute_request sent -> execute_reply received (shell)\n"
           "idle  = execute_request sent -> status idle received (iopub)\n\n");
    printf("%-10s %-6s %10s %10s %10s   (microseconds)\n", "kernel", "figure", "p50", "p90",
           "p99");
    for (size_t i = 0; i < nk; i++) {
        kind_t kd = ks[i].kind;
        if (!ok[kd]) {
            printf("%-10s FAILED: %s\n", ks[i].name, ks[i].failure[0] ? ks[i].failure : "no cells");
            continue;
        }
        printf("%-10s %-6s %10.0f %10.0f %10.0f\n", ks[i].name, "reply", reply[kd].p50,
               reply[kd].p90, reply[kd].p99);
        printf("%-10s %-6s %10.0f %10.0f %10.0f\n", "", "idle", idle[kd].p50, idle[kd].p90,
               idle[kd].p99);
        if (ks[i].errors)
            printf("%-10s %u execute_replies had a status other than \"ok\"\n", "",
                   ks[i].errors);
    }
    if (both)
        printf("\nratio ipykernel/sandcell of p50: reply %.2fx, idle %.2fx\n", ratio_reply,
               ratio_idle);
    if (ok[KIND_SANDCELL]) {
        printf("\ntarget: sandcell p50 <= %.0f us and faster than ipykernel\n",
               RTT_TARGET_P50_US);
        printf("  p50 %.0f us <= %.0f us: %s\n", reply[KIND_SANDCELL].p50, RTT_TARGET_P50_US,
               p50_met ? "met" : "NOT met");
        if (both)
            printf("  faster than ipykernel: %s\n", faster_met ? "met" : "NOT met");
        else
            printf("  faster than ipykernel: not measured (--only)\n");
        printf("  (one run on a shared machine; a miss is reported, never a failure)\n");
    }
}

int main(int argc, char **argv)
{
    options_t opt;
    int prc = s_parse_args(argc, argv, &opt);
    if (prc != 0)
        return prc > 0 ? 0 : 2;
    char sandcell[PATH_MAX];
    if (opt.sandcell)
        snprintf(sandcell, sizeof sandcell, "%s", opt.sandcell);
    else if (s_default_sandcell(sandcell, sizeof sandcell) < 0)
        snprintf(sandcell, sizeof sandcell, "./sandcell");
    if (opt.run[KIND_SANDCELL] && access(sandcell, X_OK) < 0) {
        fprintf(stderr, "rtt: %s: %s (build it with make, or pass --sandcell PATH)\n",
                sandcell, strerror(errno));
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "rtt: libsodium failed to initialise\n");
        return 1;
    }
    struct sigaction sa = {.sa_handler = s_on_signal}; /* no SA_RESTART: waits see EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    prctl(PR_SET_CHILD_SUBREAPER, 1);

    kernel_t ks[KIND_COUNT];
    size_t nk = 0;
    for (int kd = 0; kd < KIND_COUNT; kd++)
        if (opt.run[kd])
            ks[nk++] = (kernel_t){.kind = (kind_t)kd, .name = s_kind_names[kd], .pid = -1};

    /* Every kernel is spawned before the ZeroMQ context exists: libzmq
     * runs threads and we fork. */
    int ports[KIND_COUNT * CONN_NCHANNELS];
    int rc = s_pick_ports(ports, nk * CONN_NCHANNELS);
    double started[KIND_COUNT];
    for (size_t i = 0; i < nk; i++) {
        if (rc < 0) {
            s_fail(&ks[i], "picking free ports: %s", strerror(-rc));
            continue;
        }
        started[i] = s_now_us();
        if (s_kernel_prepare(&ks[i], &ports[i * CONN_NCHANNELS]) == 0)
            s_kernel_spawn(&ks[i], sandcell);
    }
    void *ctx = zmq_ctx_new();
    for (size_t i = 0; i < nk; i++) {
        if (ks[i].failure[0])
            continue;
        if (!ctx) {
            s_fail(&ks[i], "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
            continue;
        }
        if (s_kernel_connect(&ks[i], ctx) < 0 || s_kernel_wait_ready(&ks[i], started[i]) < 0)
            continue;
        fprintf(stderr, "rtt: %s ready in %.2f s\n", ks[i].name, ks[i].ready_s);
        s_run_cells(&ks[i], RTT_WARMUP, false);
    }

    long rounds = opt.count < RTT_ROUNDS ? opt.count : RTT_ROUNDS;
    for (long r = 0; r < rounds && !g_stop; r++) {
        long cells = opt.count / rounds + (r < opt.count % rounds ? 1 : 0);
        size_t ran = 0;
        for (size_t j = 0; j < nk && !g_stop; j++) {
            kernel_t *k = &ks[r % 2 ? nk - 1 - j : j]; /* alternate who goes first */
            if (!k->failure[0] && s_run_cells(k, cells, true) == 0)
                ran++;
        }
        if (ran == 0)
            break;
        fprintf(stderr, "rtt: round %ld/%ld done\n", r + 1, rounds);
    }

    int status = g_stop ? 130 : 0;
    for (size_t i = 0; i < nk; i++) {
        if (ks[i].failure[0]) {
            fprintf(stderr, "rtt: %s: %s\n", ks[i].name, ks[i].failure);
            status = status ? status : 1;
        }
        s_kernel_stop(&ks[i]);
    }
    if (ctx)
        zmq_ctx_term(ctx);
    if (!g_stop)
        s_report(ks, nk, &opt, rounds);
    for (size_t i = 0; i < nk; i++) {
        free(ks[i].reply.v);
        free(ks[i].idle.v);
    }
    return status;
}
