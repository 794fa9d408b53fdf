/* cgroup — create, limit, watch and remove interpreter groups.
 *
 * On v1, swap is limited with the memory limit when the kernel accounts
 * swap (memory.memsw.*), so a memory bomb cannot hide in swap. Removal
 * kills stragglers first (cgroup.kill on v2, SIGKILL of each listed pid on
 * v1) and retries rmdir briefly, since an exiting process leaves its group
 * a moment after its parent is told. */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const s_v1_controllers[3] = {"memory", "pids", "cpu"};

static int s_write(const char *dir, const char *file, const char *value, char *why,
                   size_t why_len)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0 || write(fd, value, strlen(value)) < 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    if (rc < 0 && why)
        snprintf(why, why_len, "%s: %s", path, strerror(-rc));
    return rc;
}

static int s_read(const char *dir, const char *file, char *out, size_t len)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, out, len - 1);
    close(fd);
    if (n < 0)
        return -errno;
    out[n] = '\0';
    return 0;
}

/* Our own group in the hierarchy whose /proc/self/cgroup line has
 * |controller| in its list ("" for the v2 line "0::"). */
static int s_own_group(const char *controller, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return -errno;
    char line[1024];
    int rc = -ENOENT;
    while (fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        char *list = c1 + 1;
        bool match = controller[0] ? false : list[0] == '\0';
        for (char *tok = strtok(list, ","); tok && controller[0]; tok = strtok(NULL, ","))
            match = match || strcmp(tok, controller) == 0;
        if (!match)
            continue;
        char *path = c2 + 1;
        path[strcspn(path, "\n")] = '\0';
        snprintf(out, len, "%s", strcmp(path, "/") == 0 ? "" : path);
        rc = 0;
        break;
    }
    fclose(f);
    return rc;
}

/* Where the v2 hierarchy is mounted: /sys/fs/cgroup on a unified
 * machine, /sys/fs/cgroup/unified on a hybrid one; NULL without one. */
static const char *s_v2_root(void)
{
    if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
        return "/sys/fs/cgroup";
    if (access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) == 0)
        return "/sys/fs/cgroup/unified";
    return NULL;
}

static bool s_has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = strstr(list, word); p; p = strstr(p + 1, word))
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
            return true;
    return false;
}

/* The leaf group every process of a delegated v2 group moves into, so that
 * controllers can be handed to the groups made beside it (cgroup v2 lets
 * only a group without processes of its own enable controllers for the
 * groups below: "no internal processes"). systemd starts a Delegate=yes
 * service or scope with its processes in the delegated group itself. */
#define LEAF_SUFFIX "leaf"

/* If the last part of |own| is a leaf made by cgroup_name(LEAF_SUFFIX),
 * cuts it off: the groups go beside the leaf, in the delegated group. */
static void s_strip_leaf(char *own)
{
    char *slash = strrchr(own, '/');
    const char *last = slash ? slash + 1 : own;
    size_t n = strlen(last), m = strlen("-" LEAF_SUFFIX);
    int pid;
    unsigned long long start;
    if (slash && n > m && strcmp(last + n - m, "-" LEAF_SUFFIX) == 0 &&
        cgroup_name_owner(last, &pid, &start))
        *slash = '\0';
}

/* Moves every process of v2 group |base| into a new leaf group below it.
 * Returns 0, or -errno. */
static int s_move_into_leaf(const char *base)
{
    char name[96], leaf[800];
    if (cgroup_name(name, sizeof name, LEAF_SUFFIX) < 0)
        return -EINVAL;
    snprintf(leaf, sizeof leaf, "%s/%s", base, name);
    if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
        return -errno;
    char procs[800];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", base);
    FILE *f = fopen(procs, "re");
    if (!f)
        return -errno;
    int rc = 0, pid;
    while (rc == 0 && fscanf(f, "%d", &pid) == 1) {
        char text[24];
        snprintf(text, sizeof text, "%d", pid);
        if (s_write(leaf, "cgroup.procs", text, NULL, 0) < 0 && errno != ESRCH)
            rc = -errno;
    }
    fclose(f);
    return rc;
}

/* True if our own v2 group (its path in |base|) has the memory and pids
 * controllers, is ours to write, and hands both to the groups made below
 * it: they are enabled in its cgroup.subtree_control here if they are not
 * yet (cpu too, where it is available). Else false, the reason in |why|. */
static bool s_v2_usable(char *base, size_t len, char *why, size_t why_len)
{
    char own[256], controllers[256], subtree[256];
    const char *root = s_v2_root();
    if (!root || s_own_group("", own, sizeof own) < 0) {
        snprintf(why, why_len, "no cgroup v2 hierarchy");
        return false;
    }
    s_strip_leaf(own);
    snprintf(base, len, "%s%s", root, own);
    if (s_read(base, "cgroup.controllers", controllers, sizeof controllers) < 0 ||
        !s_has_word(controllers, "memory") || !s_has_word(controllers, "pids")) {
        snprintf(why, why_len, "cgroup v2 group %s lacks the memory and pids controllers", base);
        return false;
    }
    if (access(base, W_OK) != 0) {
        snprintf(why, why_len, "cgroup v2 group %s is not writable: %s", base, strerror(errno));
        return false;
    }
    if (s_read(base, "cgroup.subtree_control", subtree, sizeof subtree) < 0)
        subtree[0] = '\0';
    if (s_has_word(subtree, "memory") && s_has_word(subtree, "pids"))
        return true;
    char reason[400];
    int rc = s_write(base, "cgroup.subtree_control", "+memory +pids", reason, sizeof reason);
    if (rc < 0 && errno == EBUSY) {
        /* Processes of its own (sandcell's, in a delegated service or
         * scope): they move into a leaf, then the group hands them out. */
        int moved = s_move_into_leaf(base);
        if (moved < 0) {
            snprintf(why, why_len, "cannot hand memory and pids to the groups below %s: its "
                     "processes cannot move into a group of their own (%s)", base,
                     strerror(-moved));
            return false;
        }
        rc = s_write(base, "cgroup.subtree_control", "+memory +pids", reason, sizeof reason);
    }
    if (rc < 0) {
        snprintf(why, why_len, "cannot hand memory and pids to the groups below (%s)%s", reason,
                 errno == EBUSY ? ": the group holds processes that are not sandcell's" : "");
        return false;
    }
    if (s_has_word(controllers, "cpu"))
        s_write(base, "cgroup.subtree_control", "+cpu", NULL, 0); /* optional */
    return true;
}

cgroup_mode_t cgroup_detect(char *why, size_t why_len)
{
    char base[600], v2why[1200];
    if (s_v2_usable(base, sizeof base, v2why, sizeof v2why))
        return CGROUP_V2;
    for (int i = 0; i < 3; i++) {
        char own[256];
        if (s_own_group(s_v1_controllers[i], own, sizeof own) < 0) {
            if (i == 0 && strstr(v2why, "no cgroup v2") == NULL)
                snprintf(why, why_len, "%s", v2why); /* a v2-only machine: its reason */
            else
                snprintf(why, why_len, "no cgroup v2 with memory and pids controllers, "
                         "and no cgroup v1 %s hierarchy", s_v1_controllers[i]);
            return CGROUP_NONE;
        }
        snprintf(base, sizeof base, "/sys/fs/cgroup/%s%s", s_v1_controllers[i], own);
        if (access(base, W_OK) != 0) {
            snprintf(why, why_len, "%s is not writable: %s", base, strerror(errno));
            return CGROUP_NONE;
        }
    }
    return CGROUP_V1;
}

static int s_limits_v1(cgroup_t *cg, const cgroup_limits_t *l, char *why, size_t why_len)
{
    char v[64];
    int rc = 0;
    if (l->memory_mib > 0) {
        snprintf(v, sizeof v, "%lld", (long long)l->memory_mib << 20);
        rc = s_write(cg->paths[0], "memory.limit_in_bytes", v, why, why_len);
        if (rc == 0 && access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) == 0)
            rc = s_write(cg->paths[0], "memory.memsw.limit_in_bytes", v, why, why_len);
        if (rc == 0)
            rc = s_write(cg->paths[0], "memory.swappiness", "0", NULL, 0) < 0 ? 0 : 0;
    }
    if (rc == 0 && l->pids > 0) {
        snprintf(v, sizeof v, "%ld", l->pids);
        rc = s_write(cg->paths[1], "pids.max", v, why, why_len);
    }
    if (rc == 0 && l->cpus > 0) {
        snprintf(v, sizeof v, "%ld", (long)(l->cpus * 100000));
        rc = s_write(cg->paths[2], "cpu.cfs_period_us", "100000", why, why_len);
        if (rc == 0)
            rc = s_write(cg->paths[2], "cpu.cfs_quota_us", v, why, why_len);
    }
    return rc;
}

static int s_limits_v2(cgroup_t *cg, const cgroup_limits_t *l, char *why, size_t why_len)
{
    char v[64];
    int rc = 0;
    if (l->memory_mib > 0) {
        snprintf(v, sizeof v, "%lld", (long long)l->memory_mib << 20);
        rc = s_write(cg->paths[0], "memory.max", v, why, why_len);
        if (rc == 0)
            s_write(cg->paths[0], "memory.swap.max", "0", NULL, 0); /* absent without swap */
    }
    if (rc == 0 && l->pids > 0) {
        snprintf(v, sizeof v, "%ld", l->pids);
        rc = s_write(cg->paths[0], "pids.max", v, why, why_len);
    }
    if (rc == 0 && l->cpus > 0) {
        snprintf(v, sizeof v, "%ld 100000", (long)(l->cpus * 100000));
        rc = s_write(cg->paths[0], "cpu.max", v, NULL, 0); /* cpu may not be delegated */
        rc = 0;
    }
    return rc;
}

int cgroup_create(cgroup_t *cg, const char *name, const cgroup_limits_t *limits, char *why,
                  size_t why_len)
{
    memset(cg, 0, sizeof *cg);
    cg->mode = cgroup_detect(why, why_len);
    if (cg->mode == CGROUP_NONE)
        return -ENOENT;
    char own[256];
    if (cg->mode == CGROUP_V2) {
        s_own_group("", own, sizeof own);
        s_strip_leaf(own);
        snprintf(cg->paths[0], sizeof cg->paths[0], "%s%s/%s", s_v2_root(), own, name);
        cg->npaths = 1;
    } else {
        for (int i = 0; i < 3; i++) {
            s_own_group(s_v1_controllers[i], own, sizeof own);
            snprintf(cg->paths[i], sizeof cg->paths[i], "/sys/fs/cgroup/%s%s/%s",
                     s_v1_controllers[i], own, name);
        }
        cg->npaths = 3;
    }
    for (int i = 0; i < cg->npaths; i++) {
        if (mkdir(cg->paths[i], 0755) < 0) {
            int rc = -errno;
            snprintf(why, why_len, "mkdir %s: %s", cg->paths[i], strerror(errno));
            cg->npaths = i;
            cgroup_destroy(cg);
            return rc;
        }
    }
    int rc = cg->mode == CGROUP_V2 ? s_limits_v2(cg, limits, why, why_len)
                                   : s_limits_v1(cg, limits, why, why_len);
    if (rc < 0)
        cgroup_destroy(cg);
    return rc;
}

int cgroup_probe(char *why, size_t why_len)
{
    char name[96];
    if (cgroup_name(name, sizeof name, "probe") < 0) {
        snprintf(why, why_len, "cannot read this process's start time from /proc/self/stat");
        return -EIO;
    }
    cgroup_t cg;
    const cgroup_limits_t limits = {.memory_mib = 64, .pids = 16, .cpus = 1.0};
    int rc = cgroup_create(&cg, name, &limits, why, why_len);
    if (rc < 0)
        return rc;
    rc = cgroup_destroy(&cg);
    if (rc < 0)
        snprintf(why, why_len, "cannot remove the group %s: %s", name, strerror(-rc));
    return rc;
}

int cgroup_set_limits(const cgroup_t *cg, const cgroup_limits_t *l, char *why, size_t why_len)
{
    char mem[64], pids[32], cpu[64];
    if (l->memory_mib > 0)
        snprintf(mem, sizeof mem, "%lld", (long long)l->memory_mib << 20);
    else
        snprintf(mem, sizeof mem, "%s", cg->mode == CGROUP_V2 ? "max" : "-1");
    if (l->pids > 0)
        snprintf(pids, sizeof pids, "%ld", l->pids);
    else
        snprintf(pids, sizeof pids, "max");
    int rc;
    if (cg->mode == CGROUP_V2) {
        if (l->cpus > 0)
            snprintf(cpu, sizeof cpu, "%ld 100000", (long)(l->cpus * 100000));
        else
            snprintf(cpu, sizeof cpu, "max 100000");
        rc = s_write(cg->paths[0], "memory.max", mem, why, why_len);
        if (rc == 0)
            rc = s_write(cg->paths[0], "pids.max", pids, why, why_len);
        if (rc == 0)
            s_write(cg->paths[0], "cpu.max", cpu, NULL, 0); /* cpu may not be delegated */
        return rc;
    }
    if (cg->mode != CGROUP_V1)
        return 0;
    /* memsw may never be below the memory limit: lift it, set the limit,
     * then bring memsw down to it. */
    bool memsw = access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) == 0;
    rc = memsw ? s_write(cg->paths[0], "memory.memsw.limit_in_bytes", "-1", why, why_len) : 0;
    if (rc == 0)
        rc = s_write(cg->paths[0], "memory.limit_in_bytes", mem, why, why_len);
    if (rc == 0 && memsw)
        rc = s_write(cg->paths[0], "memory.memsw.limit_in_bytes", mem, why, why_len);
    if (rc == 0)
        rc = s_write(cg->paths[1], "pids.max", pids, why, why_len);
    snprintf(cpu, sizeof cpu, "%ld", l->cpus > 0 ? (long)(l->cpus * 100000) : -1L);
    if (rc == 0)
        rc = s_write(cg->paths[2], "cpu.cfs_period_us", "100000", why, why_len);
    if (rc == 0)
        rc = s_write(cg->paths[2], "cpu.cfs_quota_us", cpu, why, why_len);
    return rc;
}

int cgroup_attach(const cgroup_t *cg, pid_t pid, char *why, size_t why_len)
{
    char v[32];
    snprintf(v, sizeof v, "%d", (int)pid);
    for (int i = 0; i < cg->npaths; i++) {
        int rc = s_write(cg->paths[i], "cgroup.procs", v, why, why_len);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The value of |key| in a "key value" file, or -1. */
static long long s_keyed(const char *dir, const char *file, const char *key)
{
    char buf[2048];
    if (s_read(dir, file, buf, sizeof buf) < 0)
        return -1;
    size_t klen = strlen(key);
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
            return atoll(line + klen + 1);
    return -1;
}

bool cgroup_oom_killed(const cgroup_t *cg)
{
    if (cg->mode == CGROUP_V2)
        return s_keyed(cg->paths[0], "memory.events", "oom_kill") > 0;
    if (cg->mode == CGROUP_V1)
        return s_keyed(cg->paths[0], "memory.oom_control", "oom_kill") > 0;
    return false;
}

long long cgroup_peak_memory(const cgroup_t *cg)
{
    char buf[64];
    const char *file = cg->mode == CGROUP_V2 ? "memory.peak" : "memory.max_usage_in_bytes";
    if (cg->mode == CGROUP_NONE || s_read(cg->paths[0], file, buf, sizeof buf) < 0)
        return -1;
    return atoll(buf);
}

static void s_kill_members(const char *dir)
{
    if (s_write(dir, "cgroup.kill", "1", NULL, 0) == 0)
        return;
    char buf[4096];
    if (s_read(dir, "cgroup.procs", buf, sizeof buf) < 0)
        return;
    for (char *p = strtok(buf, "\n"); p; p = strtok(NULL, "\n"))
        kill((pid_t)atoi(p), SIGKILL);
}

unsigned long long cgroup_stat_starttime(const char *stat)
{
    /* "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses,
     * so count fields from the last ')'; STATE is field 3, START 22. */
    const char *p = strrchr(stat, ')');
    if (!p)
        return 0;
    p++;
    for (int field = 2; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    return errno || end == p ? 0 : v;
}

/* The start time of |pid|, 0 if it does not run; *zombie set if it has
 * exited and waits to be reaped. */
static unsigned long long s_starttime(int pid, bool *zombie)
{
    char path[64], stat[1024];
    snprintf(path, sizeof path, "/proc/%d", pid);
    *zombie = false;
    if (s_read(path, "stat", stat, sizeof stat) < 0)
        return 0;
    const char *close_paren = strrchr(stat, ')');
    *zombie = close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
    return cgroup_stat_starttime(stat);
}

int cgroup_name(char *out, size_t len, const char *suffix)
{
    static unsigned long long start; /* ours, read once */
    bool zombie;
    if (!start)
        start = s_starttime((int)getpid(), &zombie);
    if (!start)
        return -1;
    int n = snprintf(out, len, "sandcell-%d-t%llu-%s", (int)getpid(), start, suffix);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

bool cgroup_name_owner(const char *name, int *pid, unsigned long long *start)
{
    const char *p = name;
    if (strncmp(p, "sandcell-", 9) != 0)
        return false;
    p += 9;
    long v = 0;
    const char *digits = p;
    while (*p >= '0' && *p <= '9' && v <= 4194304)
        v = v * 10 + (*p++ - '0');
    if (p == digits || *p != '-' || v <= 0 || v > 4194304)
        return false;
    *pid = (int)v;
    *start = 0;
    p++;
    if (*p == 't' && p[1] >= '0' && p[1] <= '9') {
        char *end;
        errno = 0;
        unsigned long long t = strtoull(p + 1, &end, 10);
        if (!errno && *end == '-') {
            *start = t;
            return true;
        }
    }
    return *p != '\0'; /* the older "sandcell-PID-N" */
}

/* True if the owner a group's name records still runs. */
static bool s_owner_alive(int pid, unsigned long long start)
{
    bool zombie;
    unsigned long long now = s_starttime(pid, &zombie);
    if (!now)
        return kill(pid, 0) == 0 || errno == EPERM; /* no /proc: trust the pid alone */
    if (zombie)
        return false;
    return start == 0 || start == now;
}

/* Removes the stale sandcell groups directly below |dir|. */
static int s_sweep_dir(const char *dir, cgroup_stale_fn fn, void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        int pid = 0;
        unsigned long long start = 0;
        if (!cgroup_name_owner(de->d_name, &pid, &start) || s_owner_alive(pid, start))
            continue;
        size_t n = strlen(de->d_name);
        if (n > strlen("-" LEAF_SUFFIX) &&
            strcmp(de->d_name + n - strlen("-" LEAF_SUFFIX), "-" LEAF_SUFFIX) == 0) {
            /* A leaf holds the daemon's own processes: removed only once
             * empty, never by killing what is in it. */
            char path[700];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            if (rmdir(path) == 0) {
                removed++;
                if (fn)
                    fn(path, true, arg);
            }
            continue;
        }
        cgroup_t cg = {.mode = CGROUP_V1, .npaths = 1};
        snprintf(cg.paths[0], sizeof cg.paths[0], "%s/%s", dir, de->d_name);
        char path[sizeof cg.paths[0]];
        memcpy(path, cg.paths[0], sizeof path);
        bool ok = cgroup_destroy(&cg) == 0;
        removed += ok;
        if (fn)
            fn(path, ok, arg);
    }
    closedir(d);
    return removed;
}

int cgroup_sweep(cgroup_stale_fn fn, void *arg)
{
    char why[256], own[256], dir[600];
    cgroup_mode_t mode = cgroup_detect(why, sizeof why);
    int removed = 0;
    if (mode == CGROUP_V2) {
        s_own_group("", own, sizeof own);
        s_strip_leaf(own);
        snprintf(dir, sizeof dir, "%s%s", s_v2_root(), own);
        removed += s_sweep_dir(dir, fn, arg);
    } else if (mode == CGROUP_V1) {
        for (int i = 0; i < 3; i++) {
            s_own_group(s_v1_controllers[i], own, sizeof own);
            snprintf(dir, sizeof dir, "/sys/fs/cgroup/%s%s", s_v1_controllers[i], own);
            removed += s_sweep_dir(dir, fn, arg);
        }
    }
    return removed;
}

int cgroup_sweep_stale(void)
{
    return cgroup_sweep(NULL, NULL);
}

int cgroup_destroy(cgroup_t *cg)
{
    int rc = 0;
    for (int i = 0; i < cg->npaths; i++) {
        int tries = 0;
        while (rmdir(cg->paths[i]) < 0 && errno != ENOENT) {
            if (errno != EBUSY || ++tries > 200) {
                rc = -errno;
                break;
            }
            s_kill_members(cg->paths[i]);
            usleep(5000);
        }
    }
    cg->npaths = 0;
    cg->mode = CGROUP_NONE;
    return rc;
}
