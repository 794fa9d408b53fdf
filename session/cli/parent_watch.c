/* parent_watch — a pidfd on the parent where the kernel has one (Linux
 * 5.3), getppid() on the tick otherwise.
 *
 * The pidfd is opened after the parent's pid is read, so the parent may
 * have exited (and its pid been reused) in between; getppid() is checked
 * again after opening, and gone() always compares it too, so a pidfd of
 * the wrong process can never hide the parent's end. */
#include "parent_watch.h"

#include <errno.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

pid_t parent_watch_target(const char *jpy_parent_pid, pid_t ppid)
{
    if (!jpy_parent_pid || !jpy_parent_pid[0] || ppid <= 1)
        return 0;
    long v = 0;
    for (const char *p = jpy_parent_pid; *p; p++) {
        if (*p < '0' || *p > '9' || v > 4194304) /* above PID_MAX_LIMIT */
            return 0;
        v = v * 10 + (*p - '0');
    }
    return v > 1 ? ppid : 0;
}

void parent_watch_start(parent_watch_t *self, pid_t parent, bool use_pidfd)
{
    *self = (parent_watch_t){.parent = parent, .pidfd = -1};
#ifdef SYS_pidfd_open
    if (use_pidfd)
        self->pidfd = (int)syscall(SYS_pidfd_open, parent, 0);
#else
    (void)use_pidfd;
#endif
    /* pidfd_open sets O_CLOEXEC itself. If the parent exited before the
     * open, the pidfd may name another process: keep none, and let
     * getppid() tell. */
    if (self->pidfd >= 0 && getppid() != parent) {
        close(self->pidfd);
        self->pidfd = -1;
    }
}

void parent_watch_stop(parent_watch_t *self)
{
    if (self->pidfd >= 0)
        close(self->pidfd);
    *self = (parent_watch_t){.pidfd = -1};
}

int parent_watch_fd(const parent_watch_t *self)
{
    return self->pidfd;
}

pid_t parent_watch_pid(const parent_watch_t *self)
{
    return self->parent;
}

bool parent_watch_gone(const parent_watch_t *self)
{
    if (!self->parent)
        return false;
    if (getppid() != self->parent)
        return true;
    if (self->pidfd < 0)
        return false;
    struct pollfd pfd = {self->pidfd, POLLIN, 0};
    int n;
    do
        n = poll(&pfd, 1, 0);
    while (n < 0 && errno == EINTR);
    return n == 1 && (pfd.revents & (POLLIN | POLLHUP | POLLERR));
}
