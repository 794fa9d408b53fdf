/* zygote_client — start the zygote, ask it for interpreters, hear of their
 * ends. The worker's environment is built from an allowlist: the manager's
 * own environment may hold secrets and none of it is inherited. */
#include "zygote_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "log.h"
#include "util.h"

struct zygote_client {
    pid_t pid;
    channel_t *chan;
    int next_id;
    zygote_listener_fn listener;
    void *listener_arg;
    reactor_t *reactor; /* zygote_client_watch */
    int *status;
};

/* Variables passed through from the manager's environment if set. Not
 * HOME: a path of the host is none of the interpreter's business (a jailed
 * one gets HOME=/workspace). */
static const char *const s_passthrough[] = {
    "LANG", "LC_ALL", "TZ",
#ifdef SC_SANITIZERS /* a sanitizer build's worker obeys the test run's settings */
    "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS",
#endif
};

/* Variables every worker gets: one thread per numeric library, so the
 * zygote stays single-threaded and fork-safe. */
static const char *const s_fixed[] = {
    "PATH=/usr/local/bin:/usr/bin:/bin",
    "OPENBLAS_NUM_THREADS=1",
    "OMP_NUM_THREADS=1",
    "MKL_NUM_THREADS=1",
    "NUMEXPR_NUM_THREADS=1",
    "PYTHONDONTWRITEBYTECODE=1",
    "MPLBACKEND=module://sandcell_inline",
};

/* In the child, between fork and exec: only async-signal-safe calls. */
static void s_exec_worker(int fd, char *const argv[], char *const envp[])
{
    if (fd != 3) {
        if (dup2(fd, 3) < 0)
            _exit(127);
    } else if (fcntl(3, F_SETFD, 0) < 0) {
        _exit(127);
    }
    close_range(4, ~0U, 0);
    signal(SIGINT, SIG_IGN); /* interrupts arrive as messages, for the interpreter */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(argv[0], argv, envp);
    _exit(127);
}

zygote_client_t *zygote_client_start(const zygote_config_t *config)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("cannot create the zygote channel: %s", strerror(errno));
        return NULL;
    }
    char *envp[ARRAY_SIZE(s_fixed) + ARRAY_SIZE(s_passthrough) + 1];
    size_t k = 0;
    for (size_t i = 0; i < ARRAY_SIZE(s_fixed); i++)
        envp[k++] = (char *)s_fixed[i];
    char *pass[ARRAY_SIZE(s_passthrough)] = {0};
    for (size_t i = 0; i < ARRAY_SIZE(s_passthrough); i++) {
        const char *v = getenv(s_passthrough[i]);
        if (v && asprintf(&pass[i], "%s=%s", s_passthrough[i], v) >= 0)
            envp[k++] = pass[i];
    }
    envp[k] = NULL;
    char *argv[] = {(char *)config->worker_path,
                    (char *)(config->mock ? "--mock" : "--preload"),
                    config->mock ? NULL : (char *)config->preload, NULL};

    pid_t pid = fork();
    if (pid == 0)
        s_exec_worker(sv[1], argv, envp);
    int saved = errno;
    for (size_t i = 0; i < ARRAY_SIZE(pass); i++)
        free(pass[i]);
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        log_error("cannot fork the zygote: %s", strerror(saved));
        return NULL;
    }
    zygote_client_t *self = calloc(1, sizeof *self);
    if (!self || !(self->chan = channel_new(sv[0]))) {
        if (!self)
            close(sv[0]);
        free(self);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return NULL;
    }
    self->pid = pid;
    self->next_id = 1;
    return self;
}

void zygote_client_stop(zygote_client_t **self_p)
{
    zygote_client_t *self = *self_p;
    if (!self)
        return;
    channel_destroy(&self->chan);
    /* The zygote exits on end of channel, after ending its interpreters and
     * removing their cgroups; give it a moment, then insist. */
    for (int i = 0; i < 500; i++) {
        if (waitpid(self->pid, NULL, WNOHANG) == self->pid)
            goto reaped;
        usleep(10000);
    }
    kill(self->pid, SIGKILL);
    waitpid(self->pid, NULL, 0);
reaped:
    free(self);
    *self_p = NULL;
}

int zygote_client_fd(const zygote_client_t *self)
{
    return channel_fd(self->chan);
}

void zygote_client_set_listener(zygote_client_t *self, zygote_listener_fn fn, void *arg)
{
    self->listener = fn;
    self->listener_arg = arg;
}

int zygote_client_wait_ready(zygote_client_t *self, int timeout_ms, json_t **preload_errors,
                             char *why, size_t why_len)
{
    struct pollfd pfd = {.fd = channel_fd(self->chan), .events = POLLIN};
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        char *text;
        size_t len;
        int rc = channel_recv(self->chan, 1, &text, &len);
        if (rc == 0 || rc == -EINTR)
            continue;
        if (rc < 0) {
            snprintf(why, why_len, "the interpreter's zygote exited while it started (%s)",
                     rc == -ECONNRESET ? "see its messages above" : strerror(-rc));
            return -1;
        }
        json_auto_t *rec = json_loadb(text, len, 0, NULL);
        free(text);
        const json_t *errors = json_object_get(rec, "preload_errors");
        *preload_errors = json_is_array(errors) ? json_incref((json_t *)errors) : json_array();
        return *preload_errors ? 0 : -1;
    }
    snprintf(why, why_len, "the interpreter's zygote did not finish its preload in %d s",
             timeout_ms / 1000);
    return -1;
}

/* 120 s: pandas, numpy and matplotlib import in about a second, far longer
 * on a machine busy with other work. */
#define PRELOAD_WAIT_MS 120000

int zygote_client_check_preload(zygote_client_t *self, bool strict, char *why, size_t why_len)
{
    json_auto_t *errors = NULL;
    if (zygote_client_wait_ready(self, PRELOAD_WAIT_MS, &errors, why, why_len) < 0)
        return 1;
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e) {
        const char *text = json_string_value(e);
        if (strict) {
            snprintf(why, why_len, "--preload: cannot import %s", text ? text : "a module");
            return 2;
        }
        log_warn("a default preload module does not import (cells that use it import it "
                 "themselves, or fail): %s", text ? text : "?");
    }
    return 0;
}

int zygote_client_open(const zygote_config_t *config, bool strict, zygote_client_t **out,
                       char *why, size_t why_len)
{
    if (why_len)
        why[0] = '\0';
    *out = zygote_client_start(config);
    if (!*out)
        return 1;
    int rc = zygote_client_check_preload(*out, strict, why, why_len);
    if (rc)
        zygote_client_stop(out);
    return rc;
}

int zygote_client_dispatch(zygote_client_t *self)
{
    for (;;) {
        char *text;
        size_t len;
        int rc = channel_recv(self->chan, 1, &text, &len);
        if (rc == 0 || rc == -EINTR)
            return 0;
        if (rc == -EMSGSIZE)
            continue;
        if (rc < 0) {
            log_error("the zygote is gone: %s", strerror(-rc));
            return -1;
        }
        json_t *event = json_loadb(text, len, 0, NULL);
        free(text);
        if (!json_is_object(event))
            log_warn("ignoring a malformed record from the zygote");
        else if (self->listener)
            self->listener(self->listener_arg, event);
        json_decref(event);
    }
}

static void s_on_readable(void *arg)
{
    zygote_client_t *self = arg;
    if (zygote_client_dispatch(self) < 0) {
        *self->status = 1;
        reactor_stop(self->reactor);
    }
}

int zygote_client_watch(zygote_client_t *self, reactor_t *reactor, int *status)
{
    self->reactor = reactor;
    self->status = status;
    return reactor_add(reactor, NULL, zygote_client_fd(self), s_on_readable, self);
}

int zygote_client_spawn(zygote_client_t *self, const json_t *jail, int *chan_fd)
{
    int id = self->next_id++;
    json_auto_t *req = json_pack("{s:s, s:i, s:O}", "op", "spawn", "id", id, "jail", jail);
    _cleanup_free_ char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    if (!text)
        return -ENOMEM;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    int rc = channel_send(self->chan, text, strlen(text), sv[1]);
    close(sv[1]);
    if (rc < 0) {
        close(sv[0]);
        return rc;
    }
    *chan_fd = sv[0];
    return id;
}
