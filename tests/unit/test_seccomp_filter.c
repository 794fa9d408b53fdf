/* test_seccomp_filter — the compiled allowlist, installed the way a jailed
 * child installs it: compiled once here, then loaded with one system call
 * in forked children (as the zygote and its children do).
 *
 * Each probe runs in a child of its own that sets no_new_privs, loads the
 * program and reports the errno of one call (0 for success). The full
 * corpus of denied calls is tests/integration/test_jail_syscalls.py; this
 * checks that the exported program behaves as the allowlist says, and
 * that a missing program fails closed. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp_filter.h"
#include "tap.h"


static seccomp_filter_t s_filter;

static int s_errno_of(long rc)
{
    return rc < 0 ? errno : 0;
}

static int p_getpid(void) { return s_errno_of(getpid()); }
static int p_socket_inet(void) { return s_errno_of(socket(AF_INET, SOCK_STREAM, 0)); }
static int p_socket_unix(void) { return s_errno_of(socket(AF_UNIX, SOCK_STREAM, 0)); }
static int p_ptrace(void) { return s_errno_of(ptrace(PTRACE_TRACEME, 0, NULL, NULL)); }
static int p_mount(void) { return s_errno_of(mount("none", "/", "tmpfs", 0, NULL)); }
static int p_unshare(void) { return s_errno_of(unshare(CLONE_NEWUSER)); }
static int p_clone3(void)
{
    struct clone_args args;
    memset(&args, 0, sizeof args);
    return s_errno_of(syscall(SYS_clone3, &args, sizeof args));
}
static int p_clone_newns(void)
{
    return s_errno_of(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, 0));
}
static int p_tiocsti(void)
{
    char c = 'x';
    return s_errno_of(ioctl(0, TIOCSTI, &c));
}
static int p_mknod_char(void) { return s_errno_of(mknod("/nonexistent/x", S_IFCHR | 0600, 0)); }
static int p_mknod_fifo(void) { return s_errno_of(mknod("/nonexistent/x", S_IFIFO | 0600, 0)); }
static int p_bpf(void) { return s_errno_of(syscall(SYS_bpf, 0, NULL, 0)); }
static int p_setsid(void) { return s_errno_of(setsid()); }
static int p_setpgid(void) { return s_errno_of(setpgid(0, 0)); }

static const struct {
    const char *name;
    int (*probe)(void);
    int want; /* errno, 0 for success */
} s_probes[] = {
    {"getpid is allowed", p_getpid, 0},
    {"socket(AF_UNIX) is allowed", p_socket_unix, 0},
    {"socket(AF_INET) fails with EACCES", p_socket_inet, EACCES},
    {"ptrace fails with EPERM", p_ptrace, EPERM},
    {"mount fails with EPERM", p_mount, EPERM},
    {"unshare fails with EPERM", p_unshare, EPERM},
    {"clone3 fails with ENOSYS", p_clone3, ENOSYS},
    {"clone with a namespace flag fails with EPERM", p_clone_newns, EPERM},
    {"ioctl TIOCSTI fails with EPERM", p_tiocsti, EPERM},
    {"mknod of a device fails with EPERM", p_mknod_char, EPERM},
    {"mknod of a FIFO reaches the file system (ENOENT)", p_mknod_fifo, ENOENT},
    {"bpf fails with EPERM", p_bpf, EPERM},
    {"setsid fails with EPERM", p_setsid, EPERM},
    {"setpgid fails with EPERM", p_setpgid, EPERM},
};

/* Runs |probe| in a child under |filter|; returns its errno, or -1 if the
 * filter could not be loaded, or -2 if the child died. */
static int s_run(const seccomp_filter_t *filter, int (*probe)(void))
{
    int pipefd[2];
    if (pipe(pipefd) < 0)
        return -2;
    pid_t pid = fork();
    if (pid == 0) {
        char why[256];
        int out = -1;
        close(pipefd[0]);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
            seccomp_filter_load(filter, why, sizeof why) == 0)
            out = probe();
        if (write(pipefd[1], &out, sizeof out) != sizeof out)
            _exit(2);
        _exit(0);
    }
    close(pipefd[1]);
    int got = -2;
    if (pid < 0 || read(pipefd[0], &got, sizeof got) != sizeof got)
        got = -2;
    close(pipefd[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return got;
}

int main(void)
{
    char why[256] = "";
    CHECK(seccomp_filter_compile(&s_filter, why, sizeof why) == 0);
    CHECK(s_filter.insns != NULL && s_filter.len > 0 && s_filter.len <= BPF_MAXINSNS);
    if (why[0])
        tap_diag("%s", why);
    tap_case("the allowlist compiles to a BPF program");

    seccomp_filter_t again;
    CHECK(seccomp_filter_compile(&again, why, sizeof why) == 0);
    CHECK(again.len == s_filter.len &&
          memcmp(again.insns, s_filter.insns, s_filter.len * sizeof *s_filter.insns) == 0);
    seccomp_filter_free(&again);
    CHECK(again.insns == NULL && again.len == 0);
    tap_case("compiling twice gives the same program (one compile serves every child)");

    for (size_t i = 0; i < sizeof s_probes / sizeof *s_probes; i++) {
        int got = s_run(&s_filter, s_probes[i].probe);
        if (!CHECK(got == s_probes[i].want))
            tap_diag("got %d (%s), want %d", got, got > 0 ? strerror(got) : "-",
                     s_probes[i].want);
        tap_case("%s", s_probes[i].name);
    }

    seccomp_filter_t empty = {NULL, 0};
    CHECK(seccomp_filter_load(&empty, why, sizeof why) == -EINVAL);
    CHECK(s_run(&empty, p_getpid) == -1);
    tap_case("an empty program is refused: the child never runs the probe");

    seccomp_filter_free(&s_filter);
    return tap_done();
}
