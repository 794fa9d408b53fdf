/* serve_daemon — `sandcell serve` under bench/serve, and its conversations.
 *
 * The daemon runs in a temp dir (runtime file, log, journals), in its own
 * process group, dies with the benchmark (PR_SET_PDEATHSIG), and gets the
 * RLIMIT_NOFILE we were started with (we raise ours for the client's
 * sockets; it sizes itself, so it must see what it would have had).
 * Control requests go through session/control_client. It is stopped with
 * SIGTERM, also after an interrupt: only a clean stop removes the
 * interpreters' cgroups. */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The RLIMIT_NOFILE we were started with: the daemon gets it back, so
 * that it is measured with the limits it would have had (it sizes itself). */
static struct rlimit s_orig_nofile = {1024, 1024};

/* Raises our RLIMIT_NOFILE as far as allowed (up to |want|): the client
 * holds two sockets per conversation. */
void serve_raise_nofile(rlim_t want)
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

/* Forks `sandcell serve` in a temp dir, its own process group, with the
 * RLIMIT_NOFILE we were started with, and waits for its runtime file. */
int serve_daemon_start(daemon_t *d, const char *sandcell)
{
    int rc = bench_tmpdir(d->dir, sizeof d->dir, "/tmp/sandcell-bench-serve-XXXXXX");
    if (rc < 0)
        return serve_daemon_fail(d, "mkdtemp: %s", strerror(-rc));
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
        return serve_daemon_fail(d, "opening %s: %s", d->log, strerror(errno));
    }
    struct rlimit rl = s_orig_nofile;
    pid_t parent = getpid();
    double t0 = bench_now_us();
    pid_t pid = fork();
    if (pid < 0) {
        close(logfd);
        close(nullfd);
        return serve_daemon_fail(d, "fork: %s", strerror(errno));
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
            return serve_daemon_fail(d, "interrupted");
        if (bench_pid_exited(pid, how, sizeof how))
            return serve_daemon_fail(d, "the daemon %s during start-up", how);
        if (bench_now_us() - t0 > DAEMON_READY_TIMEOUT_S * 1e6)
            return serve_daemon_fail(d, "no runtime file within %d s", DAEMON_READY_TIMEOUT_S);
        bench_sleep_ms(5);
    }
    if (control_client_open(d->runtime, &d->cc, why, sizeof why) < 0)
        return serve_daemon_fail(d, "%s", why);
    d->ready_s = (bench_now_us() - t0) / 1e6;
    d->nofile = serve_proc_nofile(pid);
    return 0;
}

/* A control request; the reply's content is the caller's (decref it).
 * Returns NULL with |why| when the daemon did not answer. */
json_t *serve_daemon_call(daemon_t *d, const char *type, json_t *content, char *why,
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

/* SIGTERM, up to |grace_s| for a clean exit (it stops every conversation),
 * then SIGKILL to its group. Returns the seconds the clean stop took, or
 * -1. */
double serve_daemon_stop(daemon_t *d, int grace_s)
{
    control_client_destroy(&d->cc);
    double took = -1;
    if (d->pid > 0) {
        char how[64];
        double t0 = bench_now_us();
        bool exited = false;
        if (bench_pid_exited(d->pid, how, sizeof how)) {
            fprintf(stderr, "serve: the daemon had already ended: it %s\n", how);
            snprintf(d->ended, sizeof d->ended, "%s", how);
        } else {
            kill(d->pid, SIGTERM); /* also when interrupted: only a clean stop removes
                                      the interpreters' cgroups */
            for (int i = 0;
                 i < grace_s * 100 && !(exited = bench_pid_exited(d->pid, how, sizeof how)); i++)
                bench_sleep_ms(10);
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
        bench_print_log_tail(d->log, "sandcell serve", 2999);
    if (bench_rm_tree(d->dir) < 0)
        fprintf(stderr, "serve: could not remove %s: %s\n", d->dir, strerror(errno));
    d->dir[0] = '\0';
    return took;
}

/* Starts a conversation and connects a client to it. *t_reply_us: when
 * the start_reply came. Returns 0, or -1 with c->failure; |refused|
 * true when the daemon refused (an error reply, not a broken daemon). */
int serve_conv_start(run_t *r, client_t *c, const json_t *req, double *t_reply_us,
                        bool *refused)
{
    return serve_conv_start_on(r, r->ctx, c, req, t_reply_us, refused);
}

int serve_conv_start_on(run_t *r, void *ctx, client_t *c, const json_t *req,
                        double *t_reply_us, bool *refused)
{
    char why[600];
    serve_client_init(c, "sandcell");
    *refused = false;
    json_auto_t *reply =
        serve_daemon_call(&r->d, "start_request", json_deep_copy(req), why, sizeof why);
    if (t_reply_us)
        *t_reply_us = bench_now_us();
    if (!reply)
        return serve_client_fail(c, "start_request: %s", why);
    if (strcmp(bench_str(reply, "status"), "ok") != 0) {
        *refused = true;
        return serve_client_fail(c, "start_request refused: %s: %s", bench_str(reply, "ename"),
                             bench_str(reply, "evalue"));
    }
    snprintf(c->id, sizeof c->id, "%s", bench_str(reply, "id"));
    return serve_client_connect_conv(c, ctx, json_object_get(reply, "connection"));
}

void serve_conv_stop(run_t *r, hub_t *h, client_t *c)
{
    if (h)
        serve_hub_remove(h, c);
    serve_client_close(c);
    if (c->id[0] && r->d.cc) {
        char why[600];
        json_auto_t *reply = serve_daemon_call(&r->d, "stop_request",
                                               json_pack("{s:s}", "id", c->id), why, sizeof why);
        if (!reply)
            fprintf(stderr, "serve: stop_request %s: %s\n", c->id, why);
        else if (strcmp(bench_str(reply, "status"), "ok") != 0)
            fprintf(stderr, "serve: stop_request %s refused: %s: %s\n", c->id,
                    bench_str(reply, "ename"), bench_str(reply, "evalue"));
    }
    c->id[0] = '\0';
}

/* Launches one ipykernel: temp dir, connection file, process, client. */
/* The first conversation waits for the zygote's preload; then the pool
 * gets time to fill. */
int serve_daemon_warm(run_t *r)
{
    hub_t h;
    client_t c;
    if (serve_hub_init(&h, DAEMON_READY_TIMEOUT_S) < 0)
        return -1;
    h.watch = r->d.pid;
    json_auto_t *req = json_object();
    bool refused;
    double t0 = bench_now_us();
    int rc = 0;
    if (serve_conv_start(r, &c, req, NULL, &refused) < 0 || serve_hub_add(&h, &c) < 0 ||
        serve_hub_sync(&h, &c) < 0 || serve_hub_settle(&h, t0 + DAEMON_READY_TIMEOUT_S * 1e6) < 0 ||
        c.failure[0] || serve_hub_exec(&h, &c, CODE_TRIVIAL, true) < 0 ||
        serve_hub_settle(&h, t0 + DAEMON_READY_TIMEOUT_S * 1e6) < 0 || c.failure[0]) {
        serve_daemon_fail(&r->d, "first conversation: %s",
                      c.failure[0] ? c.failure : h.fatal[0] ? h.fatal : "no answer");
        rc = -1;
    }
    serve_conv_stop(r, &h, &c);
    serve_hub_free(&h);
    proc_t *procs;
    long np = serve_proc_list(&procs);
    for (long i = 0; i < np && !r->d.zygote; i++)
        if (procs[i].ppid == r->d.pid)
            r->d.zygote = procs[i].pid;
    free(procs);
    if (rc == 0) {
        fprintf(stderr, "daemon: runtime file after %.2f s, first conversation answered after "
                        "%.2f s more\n",
                r->d.ready_s, (bench_now_us() - t0) / 1e6);
        bench_sleep_ms(1500);
    }
    return rc;
}

