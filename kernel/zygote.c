/* zygote — prepare once, fork many. SIGCHLD arrives through a signalfd so
 * the loop is one poll() over two descriptors; children are reaped there
 * and their end reported, since only the zygote can wait for them. */
#include "zygote.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner.h"

static int s_send_json(channel_t *chan, json_t *rec)
{
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (!text)
        return -ENOMEM;
    int rc = channel_send(chan, text, strlen(text), -1);
    free(text);
    return rc;
}

/* In the child: drop everything of the zygote, then become an interpreter.
 * Never returns. */
static void s_become_interpreter(channel_t **control, int sigfd, int fd,
                                 const interp_ops_t *ops, pid_t zygote)
{
    channel_destroy(control);
    close(sigfd);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != zygote)
        _exit(72);
    setpgid(0, 0); /* kill(-pid) reaches everything the interpreter starts */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGCHLD, SIG_DFL);
    channel_t *chan = channel_new(fd);
    if (!chan)
        _exit(73);
    /* The jail is entered here, before the first cell, in a later layer. */
    int rc = runner_run(chan, ops);
    channel_destroy(&chan);
    _exit(rc);
}

static void s_spawn(channel_t **control, int sigfd, json_t *req, const interp_ops_t *ops)
{
    json_int_t id = json_integer_value(json_object_get(req, "id"));
    int fd = channel_take_fd(*control);
    if (fd < 0) {
        s_send_json(*control, json_pack("{s:s, s:I, s:s}", "type", "spawn_failed", "id", id,
                                        "error", "no channel descriptor attached"));
        return;
    }
    pid_t zygote = getpid();
    pid_t pid = fork();
    if (pid == 0)
        s_become_interpreter(control, sigfd, fd, ops, zygote);
    close(fd);
    if (pid < 0) {
        s_send_json(*control, json_pack("{s:s, s:I, s:s}", "type", "spawn_failed", "id", id,
                                        "error", strerror(errno)));
        return;
    }
    s_send_json(*control, json_pack("{s:s, s:I, s:i}", "type", "spawned", "id", id, "pid",
                                    (int)pid));
}

static void s_reap(channel_t *control)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        json_t *code = WIFEXITED(status) ? json_integer(WEXITSTATUS(status)) : json_null();
        json_t *sig = WIFSIGNALED(status) ? json_integer(WTERMSIG(status)) : json_null();
        s_send_json(control, json_pack("{s:s, s:i, s:o, s:o}", "type", "exited", "pid",
                                       (int)pid, "code", code, "signal", sig));
    }
}

static void s_handle_request(channel_t **control, int sigfd, const char *text,
                             const interp_ops_t *ops)
{
    json_t *req = json_loads(text, 0, NULL);
    const char *op = json_string_value(json_object_get(req, "op"));
    if (op && strcmp(op, "spawn") == 0)
        s_spawn(control, sigfd, req, ops);
    else
        fprintf(stderr, "sandcell-worker: ignoring unknown zygote request\n");
    json_decref(req);
}

int zygote_run(int control_fd, const interp_ops_t *ops, const interp_config_t *config)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        return 1;
    channel_t *control = channel_new(control_fd);
    if (!control)
        return 1;
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0) {
        channel_destroy(&control);
        return 1;
    }

    char *ready = ops->prepare(config);
    if (!ready || channel_send(control, ready, strlen(ready), -1) < 0) {
        free(ready);
        channel_destroy(&control);
        return 1;
    }
    free(ready);

    for (;;) {
        struct pollfd fds[2] = {{channel_fd(control), POLLIN, 0}, {sigfd, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == sizeof si)
                ;
            s_reap(control);
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char *text;
            size_t len;
            int rc = channel_recv(control, 1, &text, &len);
            if (rc == 1) {
                s_handle_request(&control, sigfd, text, ops);
                free(text);
            } else if (rc < 0 && rc != -EINTR && rc != -EMSGSIZE) {
                break; /* the manager is gone */
            }
        }
    }
    close(sigfd);
    channel_destroy(&control);
    return 0;
}
