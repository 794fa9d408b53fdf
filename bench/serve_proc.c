/* serve_proc — what bench/serve reads from /proc and cleans up after a run.
 *
 * We are a child subreaper, so whatever the daemon or an ipykernel leaves
 * behind is parented to us: it is reaped, or reported and killed. The
 * interpreters' cgroups are named sandcell-<zygote pid>-<n> below our own
 * group (the zygote makes them below the group it inherited); the zygote
 * removes them as its interpreters exit, so any still there after a grace
 * period is reported. */
#include "serve.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* Reads /proc: every process's parent. Returns the number of entries, or
 * -1. */
long serve_proc_list(proc_t **out)
{
    *out = NULL;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    size_t n = 0, cap = 0;
    proc_t *v = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        char *rp = strrchr(buf, ')');
        char state;
        int ppid;
        if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            proc_t *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                free(v);
                closedir(d);
                return -1;
            }
            v = nv;
        }
        v[n++] = (proc_t){(pid_t)atoi(e->d_name), (pid_t)ppid};
    }
    closedir(d);
    *out = v;
    return (long)n;
}

/* CPU seconds |pid| has used (user and system, all its threads), from
 * /proc/PID/stat; -1 if it cannot be read. */
double serve_proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0)
        return -1;
    buf[len] = '\0';
    char *rp = strrchr(buf, ')');
    unsigned long long utime, stime;
    /* after the name: state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    if (!rp || sscanf(rp + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                      &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* The soft RLIMIT_NOFILE of |pid| (from /proc/PID/limits), or -1. */
long serve_proc_nofile(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
    FILE *f = fopen(path, "re");
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Max open files", 14) == 0)
            v = strtol(line + 14, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static bool s_in_list(const char *list, const char *token)
{
    size_t len = strlen(token);
    for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, token, len) == 0 && (p[len] == ',' || p[len] == '\0'))
            return true;
    return false;
}

/* Interpreter cgroups (sandcell-<zygote pid>-<n>) still present below our
 * own group of the memory, pids and cpu hierarchies (v1) or of v2: the
 * zygote makes them below the group it inherited from us. */
static int s_count_cgroups(pid_t zygote, bool report)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return 0;
    char line[1024], prefix[40];
    snprintf(prefix, sizeof prefix, "sandcell-%d-", (int)zygote);
    bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1, *path = c2 + 1;
        const char *const wanted[] = {"memory", "pids", "cpu"};
        char dir[1200];
        dir[0] = '\0';
        if (!*ctrls)
            snprintf(dir, sizeof dir, "%s%s", v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified",
                     strcmp(path, "/") == 0 ? "" : path);
        for (size_t i = 0; *ctrls && i < ARRAY_SIZE(wanted) && !dir[0]; i++)
            if (s_in_list(ctrls, wanted[i]))
                snprintf(dir, sizeof dir, "/sys/fs/cgroup/%s%s", wanted[i],
                         strcmp(path, "/") == 0 ? "" : path);
        DIR *d = dir[0] ? opendir(dir) : NULL;
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d)))
            if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
                if (!n && report)
                    fprintf(stderr, "serve: interpreter cgroup left behind: %s/%s\n", dir,
                            e->d_name);
                n++;
            }
        closedir(d);
    }
    fclose(f);
    return n;
}

/* Gives the interpreters' cgroups up to 10 s to go (the zygote removes
 * them as its interpreters exit), then counts what is left. */
int serve_leftover_cgroups(pid_t zygote)
{
    if (zygote <= 0)
        return 0;
    for (int i = 0; i < 100 && s_count_cgroups(zygote, false) > 0; i++)
        bench_sleep_ms(100);
    return s_count_cgroups(zygote, true);
}

/* Reaps and, if still alive, reports and kills whatever process is left
 * parented to us (we are a subreaper: orphans of the trees we started). */
int serve_reap_leftovers(void)
{
    int left = 0;
    for (int round = 0; round < 50; round++) {
        bench_reap_orphans();
        proc_t *procs;
        long n = serve_proc_list(&procs);
        int alive = 0;
        for (long i = 0; i < n; i++)
            if (procs[i].ppid == getpid()) {
                alive++;
                if (round == 49) {
                    fprintf(stderr, "serve: process %d was left behind; killing it\n",
                            (int)procs[i].pid);
                    kill(procs[i].pid, SIGKILL);
                    left++;
                }
            }
        free(procs);
        if (!alive)
            break;
        bench_sleep_ms(20);
    }
    bench_reap_orphans();
    return left;
}
