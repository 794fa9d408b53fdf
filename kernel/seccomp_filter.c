/* seccomp_filter — an allowlist in the spirit of Docker's default profile,
 * for the native architecture only.
 *
 * Everything not listed fails with ENOSYS, so libc and Python fall back as
 * they do on an older kernel. The calls a sandbox must never allow fail with
 * EPERM — a clean PermissionError in Python, never a kill — and clone3
 * fails with ENOSYS, so glibc falls back to clone, whose flags can be
 * checked (clone3 passes them in memory a filter cannot read). setsid and
 * setpgid fail with EPERM: every process of the jail stays in the
 * interpreter's process group, which the manager stops between cells.
 * socket() is
 * allowed for AF_UNIX only: local pipes for multiprocessing, no network.
 *
 * libseccomp turns the rules into a BPF program in about 5 ms of CPU. The
 * rules are the same for every interpreter, so the zygote compiles them
 * once (seccomp_filter_compile) and each child only installs the program
 * (seccomp_filter_load: one system call). */
#include "seccomp_filter.h"

#include <errno.h>
#include <stdint.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *const s_allowed[] = {
    "accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk", "capget", "capset",
    "chdir", "chmod", "chown", "clock_getres", "clock_gettime", "clock_nanosleep", "close",
    "close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2", "epoll_wait",
    "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat",
    "faccessat2", "fadvise64", "fallocate", "fchdir", "fchmod", "fchmodat", "fchown",
    "fchownat", "fcntl", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork",
    "fremovexattr", "fsetxattr", "fstat", "fstatfs", "fsync", "ftruncate", "futex",
    "futex_waitv", "futimesat", "get_robust_list", "get_thread_area", "getcpu", "getcwd",
    "getdents", "getdents64", "getegid", "geteuid", "getgid", "getgroups", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
    "getresgid", "getresuid", "getrlimit", "getrusage", "getsid", "getsockname",
    "getsockopt", "gettid", "gettimeofday", "getuid", "getxattr", "inotify_add_watch",
    "inotify_init", "inotify_init1", "inotify_rm_watch", "ioprio_get", "ioprio_set", "kill",
    "lchown", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "madvise", "membarrier", "memfd_create",
    "mincore", "mkdir", "mkdirat", "mlock", "mlock2", "mlockall", "mmap", "mprotect",
    "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink",
    "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall",
    "munmap", "nanosleep", "newfstatat", "open", "openat", "openat2", "pause", "pidfd_getfd",
    "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "poll", "ppoll", "prctl", "pread64",
    "preadv", "preadv2", "prlimit64", "pselect6", "pwrite64", "pwritev", "pwritev2", "read",
    "readahead", "readlink", "readlinkat", "readv", "recvfrom", "recvmmsg", "recvmsg",
    "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall",
    "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
    "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity",
    "sched_getattr", "sched_getparam", "sched_getscheduler", "sched_rr_get_interval",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
    "sched_yield", "select", "semctl", "semget", "semop", "semtimedop", "sendfile",
    "sendmmsg", "sendmsg", "sendto", "set_robust_list", "set_thread_area", "set_tid_address",
    "setfsgid", "setfsuid", "setgid", "setgroups", "setitimer", "setpriority",
    "setregid", "setresgid", "setresuid", "setreuid", "setrlimit", "setsockopt",
    "setuid", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
    "signalfd", "signalfd4", "socketpair", "splice", "stat", "statfs", "statx", "symlink",
    "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
    "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_settime",
    "timerfd_create", "timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate",
    "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimes", "vfork",
    "vmsplice", "wait4", "waitid", "write", "writev",
};

/* Denied with EPERM: escapes, kernel attack surface, other processes. */
static const char *const s_denied[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "mount", "umount2",
    "pivot_root", "chroot", "unshare", "setns", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "bpf", "userfaultfd",
    "perf_event_open", "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "open_by_handle_at", "name_to_handle_at",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "io_setup", "io_submit",
    "io_getevents", "io_pgetevents", "io_cancel", "io_destroy", "swapon", "swapoff", "reboot",
    "syslog", "acct", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "quotactl", "quotactl_fd", "lookup_dcookie", "fanotify_init", "fanotify_mark",
    "vhangup", "iopl", "ioperm", "uselib", "ustat", "sysfs", "_sysctl", "personality",
    "nfsservctl", "landlock_create_ruleset", "memfd_secret",
    "process_madvise", "process_mrelease", "seccomp", "sethostname", "setdomainname",
    /* The manager stops the interpreter's process group between cells
     * (docs/design-decisions.md, "What the daemon believes from an
     * interpreter"): nothing may leave it. */
    "setsid", "setpgid",
};

#define NS_FLAGS                                                                         \
    (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |         \
     CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWTIME)

static int s_add(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
                 const struct scmp_arg_cmp *args)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not a call of this architecture */
    return seccomp_rule_add_array(ctx, action, nr, n, args);
}

static int s_add_masked(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned arg,
                        uint64_t mask, uint64_t value)
{
    struct scmp_arg_cmp cmp = {arg, SCMP_CMP_MASKED_EQ, mask, value};
    return s_add(ctx, action, name, 1, &cmp);
}

static int s_build(scmp_filter_ctx ctx, const char **what)
{
    int rc;
    for (size_t i = 0; i < sizeof s_allowed / sizeof *s_allowed; i++)
        if ((rc = s_add(ctx, SCMP_ACT_ALLOW, s_allowed[i], 0, NULL)) < 0)
            return *what = s_allowed[i], rc;
    for (size_t i = 0; i < sizeof s_denied / sizeof *s_denied; i++)
        if ((rc = s_add(ctx, SCMP_ACT_ERRNO(EPERM), s_denied[i], 0, NULL)) < 0)
            return *what = s_denied[i], rc;

    /* clone3 is left to the default action, ENOSYS (libseccomp refuses a
     * rule that repeats the default). */
    *what = "clone";
    struct scmp_arg_cmp no_ns = SCMP_A0(SCMP_CMP_MASKED_EQ, NS_FLAGS, 0);
    struct scmp_arg_cmp some_ns = SCMP_A0(SCMP_CMP_MASKED_EQ, NS_FLAGS, NS_FLAGS);
    if ((rc = s_add(ctx, SCMP_ACT_ALLOW, "clone", 1, &no_ns)) < 0)
        return rc;
    /* Any namespace flag: one rule per flag, since masked-equal tests all bits. */
    static const unsigned long flags[] = {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID,
                                          CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS,
                                          CLONE_NEWCGROUP, CLONE_NEWTIME};
    (void)some_ns;
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
        struct scmp_arg_cmp one = SCMP_A0(SCMP_CMP_MASKED_EQ, flags[i], flags[i]);
        if ((rc = s_add(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, &one)) < 0)
            return rc;
    }
    /* mknod for FIFOs, sockets and plain files (os.mkfifo); never devices.
     * (When rules of one call overlap, libseccomp applies the most
     * restrictive, so each kind gets its own rule.) */
    static const struct {
        const char *name;
        int mode_arg;
    } mknods[] = {{"mknod", 1}, {"mknodat", 2}};
    static const unsigned types[] = {S_IFIFO, S_IFSOCK, S_IFREG, 0};
    for (size_t i = 0; i < sizeof mknods / sizeof *mknods; i++) {
        *what = mknods[i].name;
        for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
            struct scmp_arg_cmp kind = {(unsigned)mknods[i].mode_arg, SCMP_CMP_MASKED_EQ, S_IFMT,
                                        types[t]};
            if ((rc = s_add(ctx, SCMP_ACT_ALLOW, mknods[i].name, 1, &kind)) < 0)
                return rc;
        }
        static const unsigned devices[] = {S_IFCHR, S_IFBLK};
        for (size_t t = 0; t < sizeof devices / sizeof *devices; t++) {
            struct scmp_arg_cmp kind = {(unsigned)mknods[i].mode_arg, SCMP_CMP_MASKED_EQ, S_IFMT,
                                        devices[t]};
            if ((rc = s_add(ctx, SCMP_ACT_ERRNO(EPERM), mknods[i].name, 1, &kind)) < 0)
                return rc;
        }
    }
    *what = "socket";
    struct scmp_arg_cmp unix_only = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
    struct scmp_arg_cmp not_unix = SCMP_A0(SCMP_CMP_NE, AF_UNIX);
    if ((rc = s_add(ctx, SCMP_ACT_ALLOW, "socket", 1, &unix_only)) < 0 ||
        (rc = s_add(ctx, SCMP_ACT_ERRNO(EACCES), "socket", 1, &not_unix)) < 0)
        return rc;
    /* ioctl: every request but TIOCSTI and TIOCLINUX (terminal input
     * injection). libseccomp lets an unconditional rule override the
     * conditional ones of the same call, and allows one comparison per
     * argument per rule, so "not X and not Y" is spelled out: a request is
     * allowed by the rule for bit b when it differs from both in bit b, or
     * from X in bit b and from Y in bit c (X and Y differ in bit c). The
     * kernel reads the request as 32 bits, so only those are compared. */
    *what = "ioctl";
    const uint64_t x = TIOCSTI, y = TIOCLINUX;
    if ((rc = s_add_masked(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, 0xffffffffu, x)) < 0 ||
        (rc = s_add_masked(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, 0xffffffffu, y)) < 0)
        return rc;
    for (int b = 0; b < 32; b++) {
        uint64_t bit = (uint64_t)1 << b;
        if (((x ^ y) & bit) != 0)
            continue; /* handled below, through the bits where X and Y differ */
        if ((rc = s_add_masked(ctx, SCMP_ACT_ALLOW, "ioctl", 1, bit, ~x & bit)) < 0)
            return rc;
    }
    /* Requests equal to X or Y in every common bit: they differ from X or
     * from Y in some bit where X and Y differ; pair such bits. */
    for (int b = 0; b < 32; b++) {
        uint64_t bit_b = (uint64_t)1 << b;
        if (((x ^ y) & bit_b) == 0)
            continue;
        for (int c = 0; c < 32; c++) {
            uint64_t bit_c = (uint64_t)1 << c;
            if (c == b || ((x ^ y) & bit_c) == 0)
                continue; /* a request cannot differ from both X and Y in one bit of D */
            /* differs from X at b and from Y at c: one masked test on both bits */
            uint64_t mask = bit_b | bit_c, want = (~x & bit_b) | (~y & bit_c);
            if ((rc = s_add_masked(ctx, SCMP_ACT_ALLOW, "ioctl", 1, mask, want)) < 0 &&
                rc != -EEXIST)
                return rc;
        }
    }
    return 0;
}

/* Builds the rules into a new libseccomp context. Caller releases it. */
static scmp_filter_ctx s_context(char *why, size_t why_len)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
    if (!ctx) {
        snprintf(why, why_len, "seccomp_init failed");
        return NULL;
    }
    const char *what = "";
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc == 0)
        rc = s_build(ctx, &what);
    if (rc < 0) {
        snprintf(why, why_len, "seccomp rule for %s: %s", what, strerror(-rc));
        seccomp_release(ctx);
        return NULL;
    }
    return ctx;
}

int seccomp_filter_compile(seccomp_filter_t *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    scmp_filter_ctx ctx = s_context(why, why_len);
    if (!ctx)
        return -EINVAL;
    /* libseccomp 2.5 exports only to a descriptor: a memfd, read back. */
    int fd = memfd_create("sandcell-seccomp", MFD_CLOEXEC);
    int rc = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    struct stat st;
    if (rc == 0 && fstat(fd, &st) < 0)
        rc = -errno;
    size_t size = rc == 0 ? (size_t)st.st_size : 0;
    if (rc == 0 && (size == 0 || size % sizeof(struct sock_filter) != 0 ||
                    size / sizeof(struct sock_filter) > BPF_MAXINSNS))
        rc = -E2BIG;
    if (rc == 0 && !(out->insns = malloc(size)))
        rc = -ENOMEM;
    if (rc == 0 && pread(fd, out->insns, size, 0) != (ssize_t)size)
        rc = -EIO;
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        snprintf(why, why_len, "exporting the seccomp program: %s", strerror(-rc));
        seccomp_filter_free(out);
        return rc;
    }
    out->len = (unsigned short)(size / sizeof(struct sock_filter));
    return 0;
}

int seccomp_filter_load(const seccomp_filter_t *filter, char *why, size_t why_len)
{
    if (!filter->insns || filter->len == 0) {
        snprintf(why, why_len, "no compiled seccomp program");
        return -EINVAL;
    }
    struct sock_fprog prog = {filter->len, filter->insns};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
        return 0;
    int err = errno;
    if (err == ENOSYS && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0)
        return 0;
    err = err == ENOSYS ? errno : err;
    snprintf(why, why_len, "loading the seccomp program: %s", strerror(err));
    return -err;
}

void seccomp_filter_free(seccomp_filter_t *filter)
{
    free(filter->insns);
    filter->insns = NULL;
    filter->len = 0;
}

int seccomp_filter_install(char *why, size_t why_len)
{
    seccomp_filter_t filter;
    int rc = seccomp_filter_compile(&filter, why, why_len);
    if (rc == 0)
        rc = seccomp_filter_load(&filter, why, why_len);
    seccomp_filter_free(&filter);
    return rc;
}
