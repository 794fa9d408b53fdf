/* bench_kernel — start, talk to and stop one kernel under test.
 *
 * Process hygiene comes first, because a benchmark that leaks kernels
 * poisons the next run's numbers: the kernel is its own process group (so
 * one kill reaches its helpers, and a Ctrl-C on the terminal reaches only
 * us), it gets PR_SET_PDEATHSIG (so it dies if we are SIGKILLed), and we are
 * a child subreaper (so its orphans are ours to reap). Exit is detected
 * with waitid(WNOWAIT), so the group is killed while its id is still
 * reserved by the unreaped leader. */
#include "bench_kernel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bench_wire.h"
#include "util.h"

#define STOP_GRACE_S 5
#define MAX_EXTRA_ARGS 16

extern char **environ;

static volatile sig_atomic_t s_interrupted;
static const char *const s_kind_names[BENCH_NKINDS] = {"sandcell", "ipykernel"};

double bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void s_on_signal(int sig)
{
    (void)sig;
    s_interrupted = 1;
}

void bench_install_signals(void)
{
    struct sigaction sa = {.sa_handler = s_on_signal}; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
}

int bench_init(const char *prog)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "%s: libsodium failed to initialise\n", prog);
        return -1;
    }
    bench_install_signals();
    return 0;
}

bool bench_interrupted(void)
{
    return s_interrupted != 0;
}

void bench_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !bench_interrupted()) {
    }
}

void bench_reap_orphans(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

static int s_rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int bench_tmpdir(char *dir, size_t len, const char *tmpl)
{
    int w = snprintf(dir, len, "%s", tmpl);
    if (w < 0 || (size_t)w >= len || !mkdtemp(dir)) {
        int rc = w < 0 || (size_t)w >= len ? -ENAMETOOLONG : -errno;
        dir[0] = '\0';
        return rc;
    }
    return 0;
}

int bench_rm_tree(const char *dir)
{
    if (!dir[0] || nftw(dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 || errno == ENOENT)
        return 0;
    return -1;
}

void bench_print_log_tail(const char *path, const char *name, size_t max_bytes)
{
    FILE *f = path[0] ? fopen(path, "re") : NULL;
    char *buf = f ? malloc(max_bytes + 1) : NULL;
    if (!buf) {
        if (f)
            fclose(f);
        return;
    }
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
    long from = size > (long)max_bytes ? size - (long)max_bytes : 0;
    size_t got = fseek(f, from, SEEK_SET) == 0 ? fread(buf, 1, max_bytes, f) : 0;
    buf[got] = '\0';
    fclose(f);
    if (got)
        fprintf(stderr, "--- end of %s's log ---\n%s%s---\n", name, buf,
                buf[got - 1] == '\n' ? "" : "\n");
    free(buf);
}

int bench_pick_ports(int *ports, size_t n)
{
    int fds[BENCH_NKINDS * CONN_NCHANNELS];
    size_t opened = 0;
    int rc = 0;
    if (n > ARRAY_SIZE(fds))
        return -EINVAL;
    while (opened < n) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            rc = -errno;
            break;
        }
        fds[opened++] = fd;
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sa;
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
            rc = -errno;
            break;
        }
        ports[opened - 1] = ntohs(sa.sin_port);
    }
    for (size_t i = 0; i < opened; i++)
        close(fds[i]);
    return rc;
}

void bench_kernel_init(bench_kernel_t *k, bench_kind_t kind)
{
    *k = (bench_kernel_t){.kind = kind, .name = s_kind_names[kind], .pid = -1};
}

int bench_fail(char *failure, size_t len, const char *fmt, ...)
{
    if (!failure[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(failure, len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

const char *bench_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* The temp dir, the connection file (random 256-bit key, hex) and the
 * signer and session id the client uses. */
static int s_prepare(bench_kernel_t *k, const int *ports)
{
    int rc = bench_tmpdir(k->dir, sizeof k->dir, "/tmp/sandcell-bench-XXXXXX");
    if (rc < 0)
        return bench_kernel_fail(k, "mkdtemp: %s", strerror(-rc));
    snprintf(k->conn_path, sizeof k->conn_path, "%s/kernel.json", k->dir);
    snprintf(k->log_path, sizeof k->log_path, "%s/kernel.log", k->dir);

    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    k->conn.key = malloc(2 * sizeof raw + 1);
    if (!k->conn.key)
        return bench_kernel_fail(k, "out of memory");
    sodium_bin2hex(k->conn.key, 2 * sizeof raw + 1, raw, sizeof raw);
    snprintf(k->conn.transport, sizeof k->conn.transport, "tcp");
    snprintf(k->conn.ip, sizeof k->conn.ip, "127.0.0.1");
    snprintf(k->conn.signature_scheme, sizeof k->conn.signature_scheme, "hmac-sha256");
    memcpy(k->conn.ports, ports, sizeof k->conn.ports);
    rc = connfile_save(&k->conn, k->conn_path);
    if (rc < 0)
        return bench_kernel_fail(k, "writing %s: %s", k->conn_path, strerror(-rc));
    k->signer = signer_new(k->conn.key, strlen(k->conn.key));
    if (!k->signer)
        return bench_kernel_fail(k, "out of memory");
    header_new_id(k->session);
    return 0;
}

/* The kernel's environment: ours, plus for ipykernel an IPython dir in the
 * temp dir (its history database stays out of $HOME; it is still written,
 * as in normal use) and the debugger's start-up warning turned off.
 * Returns a new array whose added strings are in extra[0..1]; the caller
 * frees the array and both extras. NULL on allocation failure. */
static char **s_env(const bench_kernel_t *k, char **extra)
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
    if (k->kind == BENCH_IPYKERNEL) {
        if (asprintf(&extra[0], "IPYTHONDIR=%s/ipython", k->dir) < 0)
            extra[0] = NULL;
        extra[1] = strdup("PYDEVD_DISABLE_FILE_VALIDATION=1");
        if (!extra[0] || !extra[1]) {
            free(extra[0]);
            free(extra[1]);
            free(env);
            return NULL;
        }
        env[j++] = extra[0];
        env[j++] = extra[1];
    }
    return env;
}

/* Between fork and exec the child only makes async-signal-safe calls. */
static int s_spawn(bench_kernel_t *k, const char *sandcell)
{
    const char *argv_sc[4 + MAX_EXTRA_ARGS + 1] = {sandcell, "kernel", "-f", k->conn_path};
    const char *argv_ipk[] = {"/usr/bin/python3", "-m", "ipykernel_launcher", "-f",
                              k->conn_path, NULL};
    size_t nsc = 4;
    for (size_t i = 0; k->extra_args && k->extra_args[i]; i++) {
        if (nsc == 4 + MAX_EXTRA_ARGS)
            return bench_kernel_fail(k, "more than %d extra kernel arguments", MAX_EXTRA_ARGS);
        argv_sc[nsc++] = k->extra_args[i];
    }
    argv_sc[nsc] = NULL;
    const char *const *argv = k->kind == BENCH_SANDCELL ? argv_sc : argv_ipk;
    char *extra[2];
    _cleanup_free_ char **env = s_env(k, extra);
    if (!env)
        return bench_kernel_fail(k, "out of memory");
    _cleanup_free_ char *extra0 = extra[0];
    _cleanup_free_ char *extra1 = extra[1];
    _cleanup_close_ int logfd =
        open(k->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    _cleanup_close_ int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (logfd < 0 || nullfd < 0)
        return bench_kernel_fail(k, "opening %s: %s", k->log_path, strerror(errno));
    pid_t parent = getpid();
    k->started_us = bench_now_us();
    pid_t pid = fork();
    if (pid < 0)
        return bench_kernel_fail(k, "fork: %s", strerror(errno));
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
    setpgid(pid, pid); /* both sides: a kill(-pid) right after fork is safe */
    k->pid = pid;
    return 0;
}

int bench_kernel_start(bench_kernel_t *k, const int *ports, const char *sandcell)
{
    if (s_prepare(k, ports) < 0)
        return -1;
    return s_spawn(k, sandcell);
}

void *bench_socket(void *ctx, int type, const connfile_t *conn, conn_channel_t ch,
                   int reconnect_ms)
{
    char ep[300];
    void *s = zmq_socket(ctx, type);
    if (!s)
        return NULL;
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (reconnect_ms > 0)
        zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &reconnect_ms, sizeof reconnect_ms);
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (connfile_endpoint(conn, ch, ep, sizeof ep) < 0 || zmq_connect(s, ep) < 0) {
        zmq_close(s);
        return NULL;
    }
    return s;
}

int bench_kernel_connect(bench_kernel_t *k, void *ctx)
{
    k->shell = bench_socket(ctx, ZMQ_DEALER, &k->conn, CONN_SHELL, k->reconnect_ms);
    k->control = bench_socket(ctx, ZMQ_DEALER, &k->conn, CONN_CONTROL, k->reconnect_ms);
    k->iopub = bench_socket(ctx, ZMQ_SUB, &k->conn, CONN_IOPUB, k->reconnect_ms);
    if (!k->shell || !k->control || !k->iopub)
        return bench_kernel_fail(k, "zmq socket/connect: %s", zmq_strerror(zmq_errno()));
    return 0;
}

int bench_kernel_send(bench_kernel_t *k, void *sock, const char *msg_type,
                      const json_t *content, char *msg_id)
{
    return bench_wire_send(k->signer, k->session, sock, msg_type, content, msg_id, k->failure,
                           sizeof k->failure);
}

int bench_kernel_recv(bench_kernel_t *k, void *sock, wire_msg_t *out, double *t_us)
{
    return bench_wire_recv(k->signer, sock, out, t_us, k->failure, sizeof k->failure);
}

bool bench_pid_exited(pid_t pid, char *how, size_t how_len)
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

bool bench_kernel_exited(const bench_kernel_t *k, char *how, size_t how_len)
{
    return bench_pid_exited(k->pid, how, how_len);
}

int bench_kernel_wait_ready(bench_kernel_t *k, int timeout_s)
{
    json_auto_t *empty = json_object();
    if (!empty)
        return bench_kernel_fail(k, "out of memory");
    double deadline = k->started_us + timeout_s * 1e6, next_send = 0;
    bool replied = false, published = false;
    char how[64];
    while (!replied || !published) {
        double now = bench_now_us();
        if (bench_interrupted())
            return bench_kernel_fail(k, "interrupted");
        if (bench_kernel_exited(k, how, sizeof how))
            return bench_kernel_fail(k, "kernel %s during start-up", how);
        if (now > deadline)
            return bench_kernel_fail(k, "no kernel_info_reply%s within %d s",
                                     replied ? " on iopub" : "", timeout_s);
        if (now >= next_send) {
            if (bench_kernel_send(k, k->shell, "kernel_info_request", empty, NULL) < 0)
                return -1;
            next_send = now + 250e3;
        }
        zmq_pollitem_t items[2] = {{k->shell, 0, ZMQ_POLLIN, 0}, {k->iopub, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, 100) < 0 && zmq_errno() != EINTR)
            return bench_kernel_fail(k, "zmq_poll: %s", zmq_strerror(zmq_errno()));
        for (int i = 0; i < 2; i++) {
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            wire_msg_t m;
            double t;
            int rc;
            while ((rc = bench_kernel_recv(k, items[i].socket, &m, &t)) == 1) {
                bool ours =
                    strcmp(bench_str(m.parent, "msg_type"), "kernel_info_request") == 0 &&
                    strcmp(bench_str(m.parent, "session"), k->session) == 0;
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
    k->ready_s = (bench_now_us() - k->started_us) / 1e6;
    return 0;
}

json_t *bench_execute_content(const char *code)
{
    return json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", code, "silent", 0,
                     "store_history", 1, "user_expressions", "allow_stdin", 0,
                     "stop_on_error", 1);
}

static bool s_is_idle_for(const wire_msg_t *m, const char *msg_id)
{
    return strcmp(wire_msg_type(m), "status") == 0 &&
           strcmp(bench_str(m->content, "execution_state"), "idle") == 0 &&
           strcmp(bench_str(m->parent, "msg_id"), msg_id) == 0;
}

int bench_kernel_execute(bench_kernel_t *k, const json_t *content, bool wait_idle,
                         int timeout_s, bench_cell_t *out)
{
    char id[HEADER_ID_LEN + 1];
    *out = (bench_cell_t){.reply_us = -1, .idle_us = -1};
    out->sent_us = bench_now_us();
    if (bench_kernel_send(k, k->shell, "execute_request", content, id) < 0)
        return -1;
    double deadline = out->sent_us + timeout_s * 1e6;
    while (out->reply_us < 0 || (wait_idle && out->idle_us < 0)) {
        zmq_pollitem_t items[2] = {{k->shell, 0, ZMQ_POLLIN, 0}, {k->iopub, 0, ZMQ_POLLIN, 0}};
        double left_ms = (deadline - bench_now_us()) / 1e3;
        if (bench_interrupted())
            return bench_kernel_fail(k, "interrupted");
        if (left_ms <= 0)
            return bench_kernel_fail(k, "no %s within %d s of execute_request",
                                     out->reply_us < 0 ? "execute_reply" : "idle status",
                                     timeout_s);
        int ready = zmq_poll(items, 2, left_ms > 1000 ? 1000 : (long)left_ms + 1);
        if (ready < 0 && zmq_errno() != EINTR)
            return bench_kernel_fail(k, "zmq_poll: %s", zmq_strerror(zmq_errno()));
        char how[64];
        if (ready == 0 && bench_kernel_exited(k, how, sizeof how))
            return bench_kernel_fail(k, "kernel %s while running a cell", how);
        if (ready <= 0)
            continue;
        wire_msg_t m;
        double t;
        int rc;
        if (items[0].revents & ZMQ_POLLIN) {
            while ((rc = bench_kernel_recv(k, k->shell, &m, &t)) == 1) {
                if (strcmp(wire_msg_type(&m), "execute_reply") == 0 &&
                    strcmp(bench_str(m.parent, "msg_id"), id) == 0) {
                    out->reply_us = t;
                    snprintf(out->status, sizeof out->status, "%s",
                             bench_str(m.content, "status"));
                    snprintf(out->ename, sizeof out->ename, "%s",
                             bench_str(m.content, "ename"));
                }
                wire_msg_clear(&m); /* stale kernel_info replies too */
            }
            if (rc < 0)
                return -1;
        }
        if (items[1].revents & ZMQ_POLLIN) {
            if ((rc = bench_kernel_recv(k, k->iopub, &m, &t)) < 0)
                return -1;
            if (rc == 1) {
                if (s_is_idle_for(&m, id))
                    out->idle_us = t;
                wire_msg_clear(&m);
            }
        }
    }
    return 0;
}

int bench_kernel_run_cells(bench_kernel_t *k, const json_t *content, long n, int timeout_s,
                           bench_samples_t *reply, bench_samples_t *idle, unsigned *errors)
{
    for (long i = 0; i < n; i++) {
        bench_cell_t cell;
        if (bench_kernel_execute(k, content, true, timeout_s, &cell) < 0)
            return -1;
        if (strcmp(cell.status, "ok") != 0) {
            if (!errors)
                return bench_kernel_fail(k, "the cell failed: %s", cell.ename);
            (*errors)++;
        }
        if (reply && (bench_samples_push(reply, cell.reply_us - cell.sent_us) < 0 ||
                      bench_samples_push(idle, cell.idle_us - cell.sent_us) < 0))
            return bench_kernel_fail(k, "out of memory");
    }
    return 0;
}

int bench_kernel_trips(bench_kernel_t *k, const json_t *content, long n, int timeout_s,
                       bench_trips_t *t, bool record)
{
    return bench_kernel_run_cells(k, content, n, timeout_s, record ? &t->reply : NULL,
                                  record ? &t->idle : NULL, &t->errors);
}

void bench_trips_free(bench_trips_t *t)
{
    bench_samples_free(&t->reply);
    bench_samples_free(&t->idle);
    t->errors = 0;
}

/* Asks the kernel to shut down and waits up to STOP_GRACE_S for it.
 * Returns true if it exited (not reaped). */
static bool s_shutdown(bench_kernel_t *k)
{
    char how[64];
    json_auto_t *content = json_pack("{s:b}", "restart", 0);
    char failure[sizeof k->failure];
    memcpy(failure, k->failure, sizeof failure);
    if (content && bench_kernel_send(k, k->control, "shutdown_request", content, NULL) < 0)
        memcpy(k->failure, failure, sizeof failure); /* a failed goodbye is not a failed run */
    for (int i = 0; i < STOP_GRACE_S * 100; i++) {
        if (bench_kernel_exited(k, how, sizeof how)) {
            if (strcmp(how, "exited with status 0") != 0)
                fprintf(stderr, "bench: %s %s after shutdown_request\n", k->name, how);
            return true;
        }
        bench_sleep_ms(10);
    }
    fprintf(stderr, "bench: %s did not exit within %d s of shutdown_request; killing it\n",
            k->name, STOP_GRACE_S);
    return false;
}

/* After the leader exited, gives the rest of its group up to 1 s to
 * follow, then kills what is left and reaps the leader and whatever of
 * the group is our child. */
static void s_kill_group(bench_kernel_t *k, bool leader_exited)
{
    for (int i = 0; leader_exited && i < 100 && kill(-k->pid, 0) == 0; i++) {
        while (waitpid(-k->pid, NULL, WNOHANG) > 0) {
        }
        bench_sleep_ms(10);
    }
    if (leader_exited && kill(-k->pid, 0) == 0)
        fprintf(stderr, "bench: %s left processes behind after it exited; killing them\n",
                k->name);
    kill(-k->pid, SIGKILL);
    waitpid(k->pid, NULL, 0);
    for (int i = 0; i < 100; i++) {
        pid_t r = waitpid(-k->pid, NULL, WNOHANG);
        if (r < 0)
            break; /* ECHILD: nothing of the group is ours to reap */
        if (r == 0)
            bench_sleep_ms(10);
    }
    k->pid = -1;
}

void bench_kernel_stop(bench_kernel_t *k)
{
    if (k->pid > 0) {
        /* Whatever went wrong (an interrupt, a timeout), a kernel still
         * running is asked to stop first: only a clean shutdown lets it
         * remove what it made outside its process group (a jailed
         * interpreter's cgroups); SIGKILL would leave them behind. */
        char how[64];
        bool exited = bench_kernel_exited(k, how, sizeof how);
        if (!exited && k->control)
            exited = s_shutdown(k);
        s_kill_group(k, exited);
    }
    void **socks[] = {&k->shell, &k->control, &k->iopub};
    for (size_t i = 0; i < ARRAY_SIZE(socks); i++) {
        if (*socks[i])
            zmq_close(*socks[i]);
        *socks[i] = NULL;
    }
    if (k->failure[0] && !bench_interrupted())
        bench_print_log_tail(k->log_path, k->name, 2047);
    if (bench_rm_tree(k->dir) < 0)
        fprintf(stderr, "bench: could not remove %s: %s\n", k->dir, strerror(errno));
    k->dir[0] = '\0';
    signer_destroy(&k->signer);
    connfile_clear(&k->conn);
}

void *bench_kernels_start(bench_kernel_t *const *ks, size_t n, const char *sandcell,
                          const char *prog, int ready_timeout_s, bench_warm_fn warm, void *arg)
{
    int ports[BENCH_NKINDS * CONN_NCHANNELS];
    int rc = bench_pick_ports(ports, n * CONN_NCHANNELS);
    for (size_t i = 0; i < n; i++) {
        if (rc < 0)
            bench_kernel_fail(ks[i], "picking free ports: %s", strerror(-rc));
        else
            bench_kernel_start(ks[i], &ports[i * CONN_NCHANNELS], sandcell);
    }
    void *ctx = zmq_ctx_new();
    for (size_t i = 0; i < n; i++) {
        bench_kernel_t *k = ks[i];
        if (k->failure[0])
            continue;
        if (!ctx) {
            bench_kernel_fail(k, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
            continue;
        }
        if (bench_kernel_connect(k, ctx) < 0 || bench_kernel_wait_ready(k, ready_timeout_s) < 0)
            continue;
        fprintf(stderr, "%s: %s ready in %.2f s\n", prog, k->name, k->ready_s);
        if (warm)
            warm(i, arg);
    }
    return ctx;
}

int bench_kernels_stop(bench_kernel_t *const *ks, size_t n, void *ctx, const char *prog)
{
    int status = bench_interrupted() ? 130 : 0;
    for (size_t i = 0; i < n; i++) {
        if (ks[i]->failure[0]) {
            fprintf(stderr, "%s: %s: %s\n", prog, ks[i]->name, ks[i]->failure);
            status = status ? status : 1;
        }
        bench_kernel_stop(ks[i]);
    }
    if (ctx)
        zmq_ctx_term(ctx);
    bench_reap_orphans();
    return status;
}
