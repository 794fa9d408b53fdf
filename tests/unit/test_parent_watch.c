/* test_parent_watch — which parent a kernel watches (the JPY_PARENT_PID
 * table), and that a watch, by pidfd and by polling, sees its parent's
 * SIGKILL: a child of this test forks a grandchild that watches it, the
 * test kills the child, and the grandchild reports what it saw. The test
 * is a child subreaper, so the orphaned grandchild comes back to it and is
 * reaped here. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "parent_watch.h"
#include "tap.h"

static void s_targets(void)
{
    static const struct {
        const char *env;
        pid_t ppid;
        pid_t want;
    } cases[] = {
        {NULL, 100, 0},      {"", 100, 0},       {"0", 100, 0},  {"1", 100, 0},
        {"abc", 100, 0},     {"12x", 100, 0},    {"-5", 100, 0}, {" 100", 100, 0},
        {"100", 100, 100},   {"555", 100, 100},  {"100", 1, 0},  {"100", 0, 0},
        {"99999999999999999999", 100, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pid_t got = parent_watch_target(cases[i].env, cases[i].ppid);
        if (!CHECK_INT(got, cases[i].want))
            tap_diag("JPY_PARENT_PID=%s ppid=%d", cases[i].env ? cases[i].env : "(unset)",
                     (int)cases[i].ppid);
    }
    tap_case("parent_watch_target follows JPY_PARENT_PID as ipykernel does");
}

static void s_live_parent(bool use_pidfd)
{
    parent_watch_t w;
    parent_watch_start(&w, getppid(), use_pidfd);
    CHECK_INT(parent_watch_pid(&w), getppid());
    CHECK(!parent_watch_gone(&w));
    if (!use_pidfd)
        CHECK_INT(parent_watch_fd(&w), -1);
    parent_watch_stop(&w);
    CHECK_INT(parent_watch_fd(&w), -1);
    CHECK_INT(parent_watch_pid(&w), 0);
    CHECK(!parent_watch_gone(&w));
    tap_case("a live parent is not gone (%s); a stopped watch watches nothing",
             use_pidfd ? "pidfd" : "polling");
}

/* In the grandchild: watch the parent, say "r", wait up to 2 s for its
 * end, then write 'y' (seen; by the descriptor when there is one) or 'n'. */
static void s_grandchild(int wr, bool use_pidfd)
{
    parent_watch_t w;
    parent_watch_start(&w, getppid(), use_pidfd);
    if (parent_watch_gone(&w))
        _exit(3);
    char mode = parent_watch_fd(&w) >= 0 ? 'f' : 'p';
    if (write(wr, &mode, 1) != 1)
        _exit(4);
    char seen = 'n';
    for (int i = 0; i < 200 && seen == 'n'; i++) {
        if (parent_watch_fd(&w) >= 0) {
            struct pollfd pfd = {parent_watch_fd(&w), POLLIN, 0};
            if (poll(&pfd, 1, 2000) == 1 && parent_watch_gone(&w))
                seen = 'y';
            break;
        }
        if (parent_watch_gone(&w))
            seen = 'y';
        else
            usleep(10000);
    }
    parent_watch_stop(&w);
    if (write(wr, &seen, 1) != 1)
        _exit(5);
    _exit(0);
}

static int s_read_byte(int fd, int timeout_ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    char c;
    if (poll(&pfd, 1, timeout_ms) != 1 || read(fd, &c, 1) != 1)
        return -1;
    return c;
}

static void s_killed_parent(bool use_pidfd)
{
    int p[2];
    if (!CHECK(pipe(p) == 0)) {
        tap_case("a SIGKILLed parent is seen (%s)", use_pidfd ? "pidfd" : "polling");
        return;
    }
    pid_t child = fork();
    if (child == 0) {
        close(p[0]);
        pid_t g = fork();
        if (g == 0)
            s_grandchild(p[1], use_pidfd);
        for (;;)
            pause();
    }
    close(p[1]);
    int mode = s_read_byte(p[0], 5000);
    CHECK(mode == 'f' || mode == 'p');
    if (use_pidfd && mode == 'p')
        tap_diag("no pidfd on this kernel: the watch polls");
    if (!use_pidfd)
        CHECK_INT(mode, 'p');
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    int seen = s_read_byte(p[0], 5000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK_INT(seen, 'y');
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(ms < 1000);
    tap_diag("seen after %ld ms", ms);
    close(p[0]);
    /* The grandchild was reparented to us (subreaper): reap it. */
    int status = 0;
    pid_t reaped;
    while ((reaped = wait(&status)) < 0 && errno == EINTR)
        ;
    CHECK(reaped > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tap_case("a SIGKILLed parent is seen (%s)", use_pidfd ? "pidfd" : "polling");
}

int main(void)
{
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    s_targets();
    s_live_parent(true);
    s_live_parent(false);
    s_killed_parent(true);
    s_killed_parent(false);
    return tap_done();
}
