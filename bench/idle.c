/* idle — round trip of a trivial cell ("1+1") on one conversation of
 * `sandcell serve` while N other conversations of the same daemon sit
 * idle: what idle conversations cost everyone else's cells.
 *
 * One daemon is started (own process group, dies with the benchmark,
 * private temp dir for its runtime file and log), N + 1 conversations are
 * started over its control endpoint, and the last one is measured with the
 * same client code as rtt (bench_kernel: execute_request -> execute_reply,
 * and -> status idle). The idle ones are connected to by nobody. The
 * daemon runs with --no-journal unless asked (--journal keeps them, in the
 * temp dir): a journal's fdatasync per cell measures the disk. At the
 * end the daemon gets SIGTERM (it ends every conversation and removes its
 * interpreters' cgroups), then SIGKILL to its group if it has not exited
 * within 10 s.
 *
 * Exit status: 0, 1 if the daemon or a conversation failed, 2 on a usage
 * error, 130 when interrupted. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "bench_cli.h"
#include "bench_kernel.h"
#include "bench_stats.h"
#include "bench_wire.h"
#include "wire.h"

#define IDLE_CODE "1+1"
#define IDLE_WARMUP 50
#define IDLE_START_TIMEOUT_S 60
#define IDLE_CELL_TIMEOUT_S 30
#define IDLE_STOP_GRACE_S 10

typedef struct {
    bench_opts_t c; /* --count, --sandcell, --json */
    long idle;
    bool journal; /* conversations keep journals (in the temp dir) */
} options_t;

/* The daemon and the client end of its control endpoint. */
typedef struct {
    char dir[64];
    char runtime_path[96];
    char log_path[96];
    pid_t pid;
    void *control;      /* DEALER, owned */
    signer_t *signer;   /* owned */
    char session[HEADER_ID_LEN + 1];
} daemon_t;

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: idle [--idle N] [--count N] [--sandcell PATH] [--json]\n"
            "Round trip of the cell \"" IDLE_CODE "\" on one conversation of `sandcell serve`\n"
            "while N other conversations of the same daemon are idle.\n"
            "  --idle N         idle conversations (default 150)\n"
            "  --count N        cells measured (default 2000), after %d warm-up\n"
            BENCH_USAGE_SANDCELL("idle")
            "  --journal        conversations keep journals (in the temp dir), as serve\n"
            "                   does by default; without it, serve runs with --no-journal\n"
            BENCH_USAGE_JSON,
            IDLE_WARMUP);
}

/* Forks and execs `sandcell serve` in its own process group, its output
 * in the log. Call before any ZeroMQ context exists. */
static int s_daemon_start(daemon_t *d, const char *sandcell, long max_conversations,
                          bool journal)
{
    int rc = bench_tmpdir(d->dir, sizeof d->dir, "/tmp/sandcell-bench-XXXXXX");
    if (rc < 0) {
        fprintf(stderr, "idle: mkdtemp: %s\n", strerror(-rc));
        return -1;
    }
    snprintf(d->runtime_path, sizeof d->runtime_path, "%s/serve.json", d->dir);
    snprintf(d->log_path, sizeof d->log_path, "%s/serve.log", d->dir);
    char max[32], journals[96];
    snprintf(max, sizeof max, "%ld", max_conversations);
    snprintf(journals, sizeof journals, "%s/journals", d->dir);
    pid_t parent = getpid();
    d->pid = fork();
    if (d->pid < 0) {
        fprintf(stderr, "idle: fork: %s\n", strerror(errno));
        return -1;
    }
    if (d->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        setpgid(0, 0);
        int log = open(d->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        if (journal)
            execl(sandcell, sandcell, "serve", "--runtime-file", d->runtime_path,
                  "--max-conversations", max, "--journal-dir", journals, (char *)NULL);
        else
            execl(sandcell, sandcell, "serve", "--runtime-file", d->runtime_path,
                  "--max-conversations", max, "--no-journal", (char *)NULL);
        _exit(127);
    }
    setpgid(d->pid, d->pid);
    return 0;
}

/* Waits for the runtime file, then connects and keys the control client. */
static int s_daemon_connect(daemon_t *d, void *ctx)
{
    json_t *rt = NULL;
    for (int i = 0; i < IDLE_START_TIMEOUT_S * 100 && !rt && !bench_interrupted(); i++) {
        rt = json_load_file(d->runtime_path, 0, NULL);
        if (!rt)
            bench_sleep_ms(10);
    }
    if (!rt) {
        fprintf(stderr, "idle: no runtime file from the daemon\n");
        return -1;
    }
    const char *key = bench_str(rt, "key");
    char endpoint[128];
    snprintf(endpoint, sizeof endpoint, "tcp://%s:%lld", bench_str(rt, "ip"),
             (long long)json_integer_value(json_object_get(rt, "control_port")));
    d->signer = signer_new(key, strlen(key));
    header_new_id(d->session);
    d->control = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    int rc = d->signer && d->control ? 0 : -1;
    if (rc == 0) {
        zmq_setsockopt(d->control, ZMQ_LINGER, &linger, sizeof linger);
        rc = zmq_connect(d->control, endpoint);
    }
    json_decref(rt);
    if (rc < 0)
        fprintf(stderr, "idle: cannot reach the control endpoint %s\n", endpoint);
    return rc;
}

/* One control request; returns its reply's content (new reference) or NULL. */
static json_t *s_control(daemon_t *d, const char *msg_type, json_t *content)
{
    char why[200] = "";
    if (bench_wire_send(d->signer, d->session, d->control, msg_type, content, NULL, why,
                        sizeof why) < 0)
        return NULL;
    zmq_pollitem_t item = {d->control, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, IDLE_START_TIMEOUT_S * 1000) <= 0)
        return NULL;
    wire_msg_t msg;
    double t_us;
    if (bench_wire_recv(d->signer, d->control, &msg, &t_us, why, sizeof why) != 1)
        return NULL;
    json_t *reply = json_incref(msg.content);
    wire_msg_clear(&msg);
    return reply;
}

/* Starts a conversation; on success fills |k| as a client of it. */
static int s_start_conversation(daemon_t *d, bench_kernel_t *k)
{
    json_auto_t *content = json_pack("{s:i}", "max_executions", 0); /* no cap */
    json_auto_t *reply = s_control(d, "start_request", content);
    const json_t *conn = json_object_get(reply, "connection");
    if (strcmp(bench_str(reply, "status"), "ok") != 0 || !conn) {
        fprintf(stderr, "idle: start_request failed: %s %s\n", bench_str(reply, "ename"),
                bench_str(reply, "evalue"));
        return -1;
    }
    if (!k)
        return 0;
    proto_err_t err;
    char why[256];
    if (connfile_from_json(conn, &k->conn, &err, why, sizeof why) < 0) {
        fprintf(stderr, "idle: bad connection in start_reply: %s\n", why);
        return -1;
    }
    k->signer = signer_new(k->conn.key, strlen(k->conn.key));
    header_new_id(k->session);
    k->started_us = bench_now_us();
    return k->signer ? 0 : -1;
}

/* SIGTERM, up to IDLE_STOP_GRACE_S for the daemon to exit, then SIGKILL to
 * its group; closes the client and removes the temp dir. */
static void s_daemon_stop(daemon_t *d)
{
    if (d->control)
        zmq_close(d->control);
    d->control = NULL;
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        bool exited = false;
        for (int i = 0; i < IDLE_STOP_GRACE_S * 100 && !exited; i++) {
            exited = waitpid(d->pid, NULL, WNOHANG) == d->pid;
            if (!exited)
                bench_sleep_ms(10);
        }
        if (!exited) {
            fprintf(stderr, "idle: the daemon did not exit on SIGTERM; killing it\n");
            kill(-d->pid, SIGKILL);
            waitpid(d->pid, NULL, 0);
        }
        d->pid = -1;
    }
    bench_reap_orphans();
    if (bench_rm_tree(d->dir) < 0)
        fprintf(stderr, "idle: could not remove %s: %s\n", d->dir, strerror(errno));
    d->dir[0] = '\0';
    signer_destroy(&d->signer);
}

int main(int argc, char **argv)
{
    options_t opt = {.c.count = 2000, .idle = 150};
    const bench_opt_t own[] = {
        {"idle", .count = &opt.idle, .min = 0},
        {"journal", .flag = &opt.journal},
        {NULL},
    };
    const bench_cli_t cli = {"idle", s_usage, false, own, &opt};
    int rc = bench_cli_start(argc, argv, &cli, &opt.c);
    if (rc >= 0)
        return rc;
    json_auto_t *content = bench_execute_content(IDLE_CODE);
    if (!content) {
        fprintf(stderr, "idle: out of memory\n");
        return 1;
    }

    daemon_t d = {.pid = -1};
    bench_kernel_t k;
    bench_kernel_init(&k, BENCH_SANDCELL);
    k.name = "serve";
    bench_samples_t reply = {0}, idle = {0};
    int status = 1;
    void *ctx = NULL;
    if (s_daemon_start(&d, opt.c.sandcell_path, opt.idle + 1, opt.journal) < 0)
        goto out;
    ctx = zmq_ctx_new();
    if (!ctx || s_daemon_connect(&d, ctx) < 0)
        goto out;
    double t0 = bench_now_us();
    for (long i = 0; i < opt.idle && !bench_interrupted(); i++)
        if (s_start_conversation(&d, NULL) < 0)
            goto out;
    fprintf(stderr, "idle: %ld idle conversations started in %.1f s\n", opt.idle,
            (bench_now_us() - t0) / 1e6);
    /* The zygote forks interpreters in the order asked: once the measured
     * conversation's is ready, so are the others; a pause lets their start
     * settle before the warm-up. */
    if (s_start_conversation(&d, &k) < 0 || bench_kernel_connect(&k, ctx) < 0 ||
        bench_kernel_wait_ready(&k, IDLE_START_TIMEOUT_S) < 0)
        goto out;
    fprintf(stderr, "idle: measured conversation ready %.1f s after the first start\n",
            (bench_now_us() - t0) / 1e6);
    bench_sleep_ms(2000);
    if (bench_kernel_run_cells(&k, content, IDLE_WARMUP, IDLE_CELL_TIMEOUT_S, NULL, NULL, NULL) <
            0 ||
        bench_kernel_run_cells(&k, content, opt.c.count, IDLE_CELL_TIMEOUT_S, &reply, &idle,
                               NULL) < 0)
        goto out;
    status = 0;
out:
    if (k.failure[0])
        fprintf(stderr, "idle: %s\n", k.failure);
    bench_kernel_stop(&k);
    s_daemon_stop(&d);
    if (ctx)
        zmq_ctx_term(ctx);
    if (bench_interrupted())
        status = 130;
    if (status == 0) {
        bench_pcts_t r = bench_pcts(&reply), i = bench_pcts(&idle);
        if (opt.c.json)
            printf("{\"bench\":\"idle\",\"code\":\"%s\",\"idle_conversations\":%ld,"
                   "\"count\":%ld,\"reply_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f},"
                   "\"idle_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f}}\n",
                   IDLE_CODE, opt.idle, opt.c.count, r.p50, r.p90, r.p99, i.p50, i.p90, i.p99);
        else
            printf("\nround trip of \"%s\" on one conversation of sandcell serve, %ld idle "
                   "conversations beside it, %ld cells after %d warm-up\n"
                   "%-6s %10s %10s %10s   (microseconds)\n"
                   "%-6s %10.0f %10.0f %10.0f\n%-6s %10.0f %10.0f %10.0f\n",
                   IDLE_CODE, opt.idle, opt.c.count, IDLE_WARMUP, "figure", "p50", "p90", "p99",
                   "reply", r.p50, r.p90, r.p99, "idle", i.p50, i.p90, i.p99);
    }
    bench_samples_free(&reply);
    bench_samples_free(&idle);
    return status;
}
