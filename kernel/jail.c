/* jail — the layers, in the order they must be applied.
 *
 * The zygote clones the child straight into new user, pid, mount, net, ipc
 * and uts namespaces (the child is pid 1 of its pid namespace: when it
 * dies, every process it started dies too). While the child waits on a
 * pipe, the zygote moves it into its cgroup and writes its uid/gid maps:
 * inside, the interpreter is uid/gid 1000; outside it is nobody/nogroup
 * when the zygote runs as root, else the zygote's own unprivileged ids.
 * The child then, still holding the capabilities of its new user
 * namespace: takes its ids, enters a cgroup namespace, builds a minimal
 * root on a tmpfs and pivots into it, drops every capability, sets
 * no_new_privs and loads seccomp (a program the zygote compiled once);
 * last, it sets the rlimits, which depend on the request, and closes every
 * descriptor but its channel.
 *
 * A spare (see jail.h) does the same ahead of its request, except that it
 * moves itself into its cgroup (first of all) so the zygote need not wait
 * for the attach, and that the rlimits and descriptors wait for the
 * request.
 *
 * The new root filesystem is built in jail_root.c. */
#include "jail_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp_filter.h"

#define OUTER_NOBODY JAIL_OUTER_NOBODY

const char *const jail_environment[] = {
    "PATH=/usr/local/bin:/usr/bin:/bin",
    "HOME=" JAIL_WORKSPACE,
    "USER=sandbox",
    "LOGNAME=sandbox",
    "TMPDIR=/tmp",
    "LANG=C.UTF-8",
    "MPLBACKEND=module://sandcell_inline",
    "MPLCONFIGDIR=/tmp/.matplotlib",
    "XDG_CACHE_HOME=/tmp/.cache",
    "OPENBLAS_NUM_THREADS=1",
    "OMP_NUM_THREADS=1",
    "MKL_NUM_THREADS=1",
    "NUMEXPR_NUM_THREADS=1",
    "PYTHONDONTWRITEBYTECODE=1",
    NULL,
};

void jail_config_default(jail_config_t *out)
{
    memset(out, 0, sizeof *out);
    out->enabled = true;
    out->require_cgroups = true;
    out->limits = (cgroup_limits_t){.memory_mib = 512, .pids = 64, .cpus = 1.0};
    out->disk_mib = 100;
    out->open_files = 256;
}

static bool s_get_long(const json_t *obj, const char *key, long min, long *out, char *why,
                       size_t why_len)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < min) {
        snprintf(why, why_len, "jail option %s must be an integer >= %ld", key, min);
        return false;
    }
    *out = (long)json_integer_value(v);
    return true;
}

int jail_config_from_json(const json_t *obj, jail_config_t *out, char *why, size_t why_len)
{
    jail_config_default(out);
    if (!obj)
        return 0;
    if (!json_is_object(obj)) {
        snprintf(why, why_len, "jail options must be an object");
        return -1;
    }
    const json_t *v;
    if ((v = json_object_get(obj, "enabled")))
        out->enabled = json_is_true(v);
    if ((v = json_object_get(obj, "require_cgroups")))
        out->require_cgroups = json_is_true(v);
    if ((v = json_object_get(obj, "cpus")) && json_is_number(v))
        out->limits.cpus = json_number_value(v);
    const char *data = json_string_value(json_object_get(obj, "data_dir"));
    if (data && strlen(data) >= sizeof out->data_dir) {
        snprintf(why, why_len, "data_dir is too long");
        return -1;
    }
    snprintf(out->data_dir, sizeof out->data_dir, "%s", data ? data : "");
    const char *work = json_string_value(json_object_get(obj, "work_dir"));
    if (work && strlen(work) >= sizeof out->work_dir) {
        snprintf(why, why_len, "work_dir is too long");
        return -1;
    }
    snprintf(out->work_dir, sizeof out->work_dir, "%s", work ? work : "");
    if (!s_get_long(obj, "memory_mib", 0, &out->limits.memory_mib, why, why_len) ||
        !s_get_long(obj, "pids", 0, &out->limits.pids, why, why_len) ||
        !s_get_long(obj, "disk_mib", 1, &out->disk_mib, why, why_len) ||
        !s_get_long(obj, "open_files", 16, &out->open_files, why, why_len))
        return -1;
    return 0;
}

/* ------------------------------------------------------------ the parent */

static int s_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = write(fd, text, strlen(text)) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int s_write_maps(pid_t pid, char *why, size_t why_len)
{
    bool root = geteuid() == 0;
    char path[64], map[64];
    uid_t outer_uid = root ? OUTER_NOBODY : geteuid();
    gid_t outer_gid = root ? OUTER_NOBODY : getegid();
    int rc = 0;
    if (!root) {
        snprintf(path, sizeof path, "/proc/%d/setgroups", (int)pid);
        rc = s_write_file(path, "deny");
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
        snprintf(map, sizeof map, "%d %d 1\n", JAIL_UID, (int)outer_uid);
        rc = s_write_file(path, map);
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
        snprintf(map, sizeof map, "%d %d 1\n", JAIL_GID, (int)outer_gid);
        rc = s_write_file(path, map);
    }
    if (rc < 0)
        snprintf(why, why_len, "user namespace: writing %s: %s", path, strerror(-rc));
    return rc;
}

/* The compiled seccomp program every child installs: built once by
 * jail_prepare() in the zygote, or by jail_enter() itself when nobody
 * prepared it (sandcell doctor). */
static seccomp_filter_t s_filter;

int jail_prepare(char *why, size_t why_len)
{
    if (s_filter.insns)
        return 0;
    return seccomp_filter_compile(&s_filter, why, why_len);
}

/* Kills and reaps |pid| and removes the cgroup of |jail|. */
static void s_abort_child(pid_t pid, jail_t *jail)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    cgroup_destroy(&jail->cgroup);
}

/* Creates the cgroup of |jail| unless the config runs without cgroups. */
static int s_make_cgroup(const jail_config_t *config, const char *name, jail_t *jail, char *why,
                         size_t why_len)
{
    memset(jail, 0, sizeof *jail);
    jail->peak_memory = -1;
    if (!config->require_cgroups)
        return 0; /* --no-cgroups: the rlimits are the only limits */
    if (cgroup_create(&jail->cgroup, name, &config->limits, why, why_len) < 0) {
        char reason[400];
        snprintf(reason, sizeof reason, "%s", why);
        snprintf(why, why_len, "cgroup: %s", reason);
        return -EPERM;
    }
    return 0;
}

/* Clones the child into its namespaces; in the parent, moves it into the
 * cgroup of |jail| (made by s_make_cgroup) unless |attach| is false (then
 * the child must move itself before anything else) and writes its id maps.
 * The child holds |child_fd| and must wait on it for the parent's word
 * before anything else: until then it may be in none of its limits.
 * Returns the pid in the parent, 0 in the child, -errno (|why| set, cgroup
 * removed) on failure. Closes |parent_fd| in the child and |child_fd| in
 * the parent. */
static pid_t s_clone(jail_t *jail, bool attach, int parent_fd, int child_fd, char *why,
                     size_t why_len)
{
    long flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC |
                 CLONE_NEWUTS | SIGCHLD;
    pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
    if (pid == 0) {
        close(parent_fd);
        /* Its own process group, before seccomp forbids it: the manager
         * stops and kills the group, and nothing in the jail may leave it
         * (setsid and setpgid fail with EPERM there). */
        if (setpgid(0, 0) < 0)
            _exit(JAIL_EXIT_FAILED);
        return 0;
    }
    int err = errno;
    close(child_fd);
    if (pid < 0) {
        snprintf(why, why_len, "namespaces: clone: %s", strerror(err));
        cgroup_destroy(&jail->cgroup);
        return -err;
    }
    int rc = 0;
    if (attach && jail->cgroup.mode != CGROUP_NONE) {
        char reason[400];
        if ((rc = cgroup_attach(&jail->cgroup, pid, reason, sizeof reason)) < 0)
            snprintf(why, why_len, "cgroup: %s", reason);
    }
    if (rc == 0)
        rc = s_write_maps(pid, why, why_len);
    if (rc < 0) {
        s_abort_child(pid, jail);
        return rc;
    }
    jail->pid = pid;
    return pid;
}

pid_t jail_spawn(const jail_config_t *config, const char *name, jail_t *jail, char *why,
                 size_t why_len)
{
    if (!config->enabled) {
        memset(jail, 0, sizeof *jail);
        jail->peak_memory = -1;
        pid_t pid = fork();
        if (pid == 0 && setpgid(0, 0) < 0)
            _exit(JAIL_EXIT_FAILED);
        if (pid < 0)
            snprintf(why, why_len, "fork: %s", strerror(errno));
        jail->pid = pid;
        return pid < 0 ? -errno : pid;
    }
    int rc = s_make_cgroup(config, name, jail, why, why_len);
    if (rc < 0)
        return rc;
    int sync[2];
    if (pipe2(sync, O_CLOEXEC) < 0) {
        rc = -errno;
        snprintf(why, why_len, "pipe: %s", strerror(-rc));
        cgroup_destroy(&jail->cgroup);
        return rc;
    }

    pid_t pid = s_clone(jail, true, sync[1], sync[0], why, why_len);
    if (pid == 0) {
        char go;
        if (read(sync[0], &go, 1) != 1)
            _exit(JAIL_EXIT_FAILED); /* the zygote gave up on us */
        close(sync[0]);
        return 0;
    }
    if (pid > 0 && write(sync[1], "g", 1) != 1) {
        rc = -errno;
        snprintf(why, why_len, "starting the child: %s", strerror(-rc));
        s_abort_child(pid, jail);
        pid = rc;
    }
    close(sync[1]);
    return pid;
}

void jail_release(jail_t *jail)
{
    if (jail->cgroup.mode != CGROUP_NONE) {
        jail->oom_killed = cgroup_oom_killed(&jail->cgroup);
        jail->peak_memory = cgroup_peak_memory(&jail->cgroup);
        cgroup_destroy(&jail->cgroup);
    }
}

/* ------------------------------------------------------------- the child */

static int s_keep_fd = -1;
/* In a spare: the config whose layers it applied before its request. */
static bool s_layers_applied;
static jail_config_t s_layers_config;

static bool s_same_jail(const jail_config_t *a, const jail_config_t *b);

/* See jail_internal.h. */
void jail_die(const char *layer, const char *what, int err)
{
    char text[600];
    json_t *rec = json_pack("{s:s, s:{s:s, s:s++}}", "type", "jail_failed", "content",
                            "layer", layer, "error", what, err ? ": " : "",
                            err ? strerror(err) : "");
    char *dump = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    int n = snprintf(text, sizeof text, ".%s", dump ? dump : "{}");
    if (s_keep_fd >= 0 && n > 0)
        send(s_keep_fd, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1,
             MSG_NOSIGNAL);
    _exit(JAIL_EXIT_FAILED);
}


/* Address space: what the interpreter already maps (the preloaded modules)
 * plus the memory limit, so a runaway allocation fails with MemoryError
 * before the cgroup has to kill. */
static rlim_t s_address_space_limit(const jail_config_t *config)
{
    FILE *f = fopen("/proc/self/statm", "re");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) +
           ((rlim_t)config->limits.memory_mib << 20) + ((rlim_t)256 << 20);
}

/* Without cgroups (--no-cgroups) the memory limit is RLIMIT_DATA: the
 * private writable memory the interpreter holds when it starts (VmData:
 * the preload, inherited from the zygote, as a cgroup would not charge it
 * either) plus the limit, so a cell gets MemoryError once it asks for more
 * than the limit. It counts what is mapped, not what is touched, and binds
 * each process on its own (a child gets the same allowance). */
static rlim_t s_data_limit(const jail_config_t *config)
{
    FILE *f = fopen("/proc/self/status", "re");
    unsigned long long kib = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmData: %llu kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return (rlim_t)kib * 1024 + ((rlim_t)config->limits.memory_mib << 20);
}

static void s_set_rlimits(const jail_config_t *config, rlim_t address_space)
{
    struct rlimit core = {0, 0};
    struct rlimit files = {(rlim_t)config->open_files, (rlim_t)config->open_files};
    struct rlimit fsize = {(rlim_t)config->disk_mib << 20, (rlim_t)config->disk_mib << 20};
    CHECK("rlimits", "RLIMIT_CORE", setrlimit(RLIMIT_CORE, &core));
    CHECK("rlimits", "RLIMIT_NOFILE", setrlimit(RLIMIT_NOFILE, &files));
    CHECK("rlimits", "RLIMIT_FSIZE", setrlimit(RLIMIT_FSIZE, &fsize));
    if (config->limits.pids > 0) {
        struct rlimit nproc = {(rlim_t)config->limits.pids, (rlim_t)config->limits.pids};
        CHECK("rlimits", "RLIMIT_NPROC", setrlimit(RLIMIT_NPROC, &nproc));
    }
    if (config->limits.memory_mib > 0) {
        struct rlimit as = {address_space, address_space};
        CHECK("rlimits", "RLIMIT_AS", setrlimit(RLIMIT_AS, &as));
        if (!config->require_cgroups) {
            rlim_t data_limit = s_data_limit(config);
            struct rlimit data = {data_limit, data_limit};
            CHECK("rlimits", "RLIMIT_DATA", setrlimit(RLIMIT_DATA, &data));
        }
    }
}

static void s_drop_capabilities(void)
{
    int last = CAP_LAST_CAP;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    if (f) {
        if (fscanf(f, "%d", &last) != 1)
            last = CAP_LAST_CAP;
        fclose(f);
    }
    for (int cap = 0; cap <= last; cap++)
        CHECK("capabilities", "PR_CAPBSET_DROP", prctl(PR_CAPBSET_DROP, cap, 0, 0, 0));
    CHECK("capabilities", "PR_CAP_AMBIENT_CLEAR_ALL",
          prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    CHECK("capabilities", "capset", (int)syscall(SYS_capset, &hdr, data));
}

/* stdin, stdout and stderr lead to /dev/null: the kernel's log is not the
 * interpreter's to write. Everything else but the channel is closed. */
static void s_descriptors(int keep_fd)
{
    int null = open("/dev/null", O_RDWR);
    CHECK("file descriptors", "/dev/null", null);
    for (int fd = 0; fd < 3; fd++)
        if (fd != keep_fd)
            CHECK("file descriptors", "dup2", dup2(null, fd));
    if (null > 2 && null != keep_fd)
        close(null);
    if (keep_fd > 3)
        CHECK("file descriptors", "close_range", close_range(3, (unsigned)keep_fd - 1, 0));
    CHECK("file descriptors", "close_range", close_range((unsigned)keep_fd + 1, ~0U, 0));
}

/* Every layer that does not depend on the request's limits: ids,
 * namespaces, the root, capabilities, no_new_privs and seccomp. A spare
 * applies them before its request (the rlimits and descriptors after). */
static void s_enter_layers(const jail_config_t *config)
{
    /* setgroups is "allow" only when a privileged zygote wrote the maps;
     * then drop the supplementary groups inherited from outside. */
    char setgroups_mode[16] = "";
    int sfd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
    if (sfd >= 0) {
        ssize_t n = read(sfd, setgroups_mode, sizeof setgroups_mode - 1);
        setgroups_mode[n > 0 ? n : 0] = '\0';
        close(sfd);
    }
    if (strncmp(setgroups_mode, "allow", 5) == 0)
        CHECK("user namespace", "setgroups", setgroups(0, NULL));
    CHECK("user namespace", "setresgid", setresgid(JAIL_GID, JAIL_GID, JAIL_GID));
    CHECK("user namespace", "setresuid", setresuid(JAIL_UID, JAIL_UID, JAIL_UID));
    CHECK("cgroup namespace", "unshare", unshare(CLONE_NEWCGROUP));
    jail_root_enter(config);
    CHECK("uts namespace", "sethostname", sethostname("sandcell", 8));
    s_drop_capabilities();
    CHECK("no_new_privs", "PR_SET_NO_NEW_PRIVS", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    char why[256];
    if (jail_prepare(why, sizeof why) < 0 || seccomp_filter_load(&s_filter, why, sizeof why) < 0)
        jail_die("seccomp", why, 0);
}

void jail_enter(const jail_config_t *config, int keep_fd)
{
    s_keep_fd = keep_fd;
    if (!config->enabled)
        return;
    if (!s_layers_applied)
        s_enter_layers(config);
    else if (!s_same_jail(config, &s_layers_config))
        jail_die("spare", "the request does not fit the spare", 0);
    s_set_rlimits(config, s_address_space_limit(config));
    s_descriptors(keep_fd);
}

/* ------------------------------------------------------------ the spare */

/* In the spare: waits for its config and channel. Exits when the zygote
 * closes its end (it discarded the spare, or died). */
static void s_spare_wait(int fd, jail_config_t *config, int *channel_fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {config, sizeof *config};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    ssize_t n;
    do
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (n != (ssize_t)sizeof *config || !c || c->cmsg_level != SOL_SOCKET ||
        c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)) ||
        (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
        _exit(JAIL_EXIT_FAILED);
    memcpy(channel_fd, CMSG_DATA(c), sizeof(int));
    close(fd);
}

/* In the spare, between clone and its request. It moves itself into its
 * cgroup first (so the zygote does not wait for the attach), then applies
 * every layer, says "r" and waits. Any failure before "r" ends it without
 * a word: the zygote then drops it and the next request is served by a
 * child made for it, which reports the failing layer. */
static void s_spare_main(const jail_config_t *shape, jail_t *jail, int fd,
                         jail_config_t *config_out, int *fd_out)
{
    /* Named apart while it waits (ps, the tests): it is no interpreter yet. */
    char comm[16] = "", go;
    prctl(PR_GET_NAME, comm, 0, 0, 0);
    prctl(PR_SET_NAME, JAIL_SPARE_NAME, 0, 0, 0);
    if (recv(fd, &go, 1, 0) != 1)
        _exit(JAIL_EXIT_FAILED); /* the zygote gave up on us */
    char why[400];
    if (jail->cgroup.mode != CGROUP_NONE && cgroup_attach(&jail->cgroup, 0, why, sizeof why) < 0)
        _exit(JAIL_EXIT_FAILED);
    s_enter_layers(shape);
    s_layers_config = *shape;
    s_layers_applied = true;
    if (send(fd, "r", 1, MSG_NOSIGNAL) != 1)
        _exit(JAIL_EXIT_FAILED);
    s_spare_wait(fd, config_out, fd_out);
    prctl(PR_SET_NAME, comm, 0, 0, 0);
}

void jail_spare_init(jail_spare_t *spare)
{
    memset(spare, 0, sizeof *spare);
    spare->go_fd = -1;
}

bool jail_spare_exists(const jail_spare_t *spare)
{
    return spare->go_fd >= 0;
}

bool jail_spare_ready(const jail_spare_t *spare)
{
    return spare->go_fd >= 0 && spare->ready;
}

/* True if |a| and |b| give the same jail but for the limits. */
static bool s_same_jail(const jail_config_t *a, const jail_config_t *b)
{
    return a->enabled && b->enabled && a->require_cgroups == b->require_cgroups &&
           a->disk_mib == b->disk_mib && strcmp(a->data_dir, b->data_dir) == 0 &&
           strcmp(a->work_dir, b->work_dir) == 0;
}

bool jail_spare_fits(const jail_spare_t *spare, const jail_config_t *config)
{
    return jail_spare_exists(spare) && s_same_jail(config, &spare->shape);
}

pid_t jail_spare_make(const jail_config_t *shape, const char *name, jail_spare_t *spare,
                      jail_config_t *config_out, int *fd_out, char *why, size_t why_len)
{
    jail_spare_init(spare);
    int rc = s_make_cgroup(shape, name, &spare->jail, why, why_len);
    if (rc < 0)
        return rc;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        rc = -errno;
        snprintf(why, why_len, "socketpair: %s", strerror(-rc));
        cgroup_destroy(&spare->jail.cgroup);
        return rc;
    }

    pid_t pid = s_clone(&spare->jail, false, sv[0], sv[1], why, why_len);
    if (pid == 0) {
        s_spare_main(shape, &spare->jail, sv[1], config_out, fd_out);
        return 0;
    }
    if (pid < 0) {
        close(sv[0]);
        return pid;
    }
    if (send(sv[0], "m", 1, MSG_NOSIGNAL) != 1) { /* its id maps are written */
        rc = -errno;
        snprintf(why, why_len, "starting the spare: %s", strerror(-rc));
        close(sv[0]);
        s_abort_child(pid, &spare->jail);
        return rc;
    }
    spare->go_fd = sv[0];
    spare->shape = *shape;
    return pid;
}

int jail_spare_check(jail_spare_t *spare, int timeout_ms)
{
    if (!jail_spare_exists(spare))
        return -1;
    if (spare->ready)
        return 1;
    struct pollfd pfd = {spare->go_fd, POLLIN, 0};
    int n;
    do
        n = poll(&pfd, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return 0;
    char r = 0;
    if (n < 0 || recv(spare->go_fd, &r, 1, MSG_DONTWAIT) != 1 || r != 'r') {
        jail_spare_discard(spare);
        return -1;
    }
    spare->ready = true;
    return 1;
}

pid_t jail_spare_start(jail_spare_t *spare, const jail_config_t *config, int fd, jail_t *jail,
                       char *why, size_t why_len)
{
    int rc = 0;
    const cgroup_limits_t *l = &config->limits, *had = &spare->shape.limits;
    bool same = l->memory_mib == had->memory_mib && l->pids == had->pids && l->cpus == had->cpus;
    if (!jail_spare_fits(spare, config) || !jail_spare_ready(spare)) {
        snprintf(why, why_len, "the spare is not ready for this configuration");
        rc = -EINVAL;
    } else if (spare->jail.cgroup.mode != CGROUP_NONE && !same) {
        char reason[400];
        if ((rc = cgroup_set_limits(&spare->jail.cgroup, l, reason, sizeof reason)) < 0)
            snprintf(why, why_len, "cgroup: %s", reason);
    }
    if (rc == 0) {
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } control;
        memset(&control, 0, sizeof control);
        struct iovec iov = {(void *)config, sizeof *config};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                             .msg_controllen = sizeof control.buf};
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
        if (sendmsg(spare->go_fd, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof *config) {
            rc = -errno;
            snprintf(why, why_len, "starting the spare: %s", strerror(-rc));
        }
    }
    if (rc < 0) {
        jail_spare_discard(spare);
        return rc;
    }
    close(spare->go_fd);
    *jail = spare->jail;
    jail_spare_init(spare);
    return jail->pid;
}

void jail_spare_discard(jail_spare_t *spare)
{
    if (!jail_spare_exists(spare))
        return;
    close(spare->go_fd);
    s_abort_child(spare->jail.pid, &spare->jail);
    jail_spare_init(spare);
}

void jail_spare_lost(jail_spare_t *spare)
{
    if (!jail_spare_exists(spare))
        return;
    close(spare->go_fd);
    jail_release(&spare->jail);
    jail_spare_init(spare);
}