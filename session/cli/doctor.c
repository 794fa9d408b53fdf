/* doctor — probe each layer in a throwaway child (an unshare, a cgroup, a
 * seccomp load), then jail a child exactly as an interpreter would be, and
 * report the layer that failed, if any. Runs before any ZeroMQ context, so
 * forking is safe. It also removes, and names, the cgroup folders that
 * daemons killed outright left behind, as the next daemon would: their
 * owner is gone, so nothing can still use them. */
#include "doctor.h"

#include <errno.h>
#include <jansson.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "channel.h"
#include "jail.h"
#include "seccomp_filter.h"

/* Runs |probe| in a child; returns 0 or the errno it exited with. */
static int s_in_child(int (*probe)(long), long arg)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(probe(arg) < 0 ? (errno ? errno : 1) : 0);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return errno;
    return WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
}

static int s_probe_unshare(long flags)
{
    if (flags != CLONE_NEWUSER && unshare(CLONE_NEWUSER) < 0) /* as an unprivileged user would */
        return -1;
    return unshare((int)flags);
}

static int s_probe_seccomp(long unused)
{
    char why[256];
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    int rc = seccomp_filter_install(why, sizeof why);
    if (rc < 0)
        errno = -rc;
    return rc;
}

static bool s_line(const char *layer, int err, const char *detail)
{
    printf("  %-22s %s%s%s%s\n", layer, err ? "MISSING" : "yes", err || detail ? " (" : "",
           err ? strerror(err) : (detail ? detail : ""), err || detail ? ")" : "");
    return err == 0;
}

/* Jails a child with the default limits; it reports "ok" or the failed
 * layer through a channel. */
static bool s_full_jail(void)
{
    jail_config_t config;
    jail_config_default(&config);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return s_line("complete jail", errno, NULL);
    char why[512] = "", name[64];
    if (cgroup_name(name, sizeof name, "doctor") < 0)
        snprintf(name, sizeof name, "sandcell-doctor-%d", (int)getpid());
    jail_t jail;
    pid_t pid = jail_spawn(&config, name, &jail, why, sizeof why);
    if (pid == 0) {
        close(sv[0]);
        jail_enter(&config, sv[1]);
        send(sv[1], ".{\"type\":\"ok\"}", 14, MSG_NOSIGNAL);
        _exit(0);
    }
    close(sv[1]);
    channel_t *chan = channel_new(sv[0]);
    if (pid < 0) {
        channel_destroy(&chan);
        printf("  %-22s MISSING (%s)\n", "complete jail", why);
        return false;
    }
    char *text = NULL;
    size_t len;
    bool ok = false;
    if (chan && channel_recv(chan, 0, &text, &len) == 1) {
        json_t *rec = json_loads(text, 0, NULL);
        const char *type = json_string_value(json_object_get(rec, "type"));
        json_t *c = json_object_get(rec, "content");
        ok = type && strcmp(type, "ok") == 0;
        if (!ok)
            printf("  %-22s MISSING (layer %s: %s)\n", "complete jail",
                   json_string_value(json_object_get(c, "layer")),
                   json_string_value(json_object_get(c, "error")));
        json_decref(rec);
        free(text);
    }
    waitpid(pid, NULL, 0);
    jail_release(&jail);
    channel_destroy(&chan);
    if (ok)
        s_line("complete jail", 0, "an interpreter can be jailed with the default limits");
    return ok;
}

static void s_on_stale(const char *path, bool removed, void *arg)
{
    int *failed = arg;
    *failed += !removed;
    printf("  %-22s %s %s (its daemon is gone)\n", "stale cgroup",
           removed ? "removed" : "CANNOT REMOVE", path);
}

/* Reports and removes the cgroup folders of daemons killed outright: the
 * sweep every daemon makes as it starts (cgroup_sweep). */
static void s_stale_cgroups(void)
{
    int failed = 0;
    int removed = cgroup_sweep(s_on_stale, &failed);
    if (removed == 0 && failed == 0)
        printf("  %-22s none\n", "stale cgroups");
}

int doctor_run(void)
{
    static const struct {
        const char *name;
        long flag;
    } namespaces[] = {
        {"user namespace", CLONE_NEWUSER}, {"pid namespace", CLONE_NEWPID},
        {"network namespace", CLONE_NEWNET}, {"mount namespace", CLONE_NEWNS},
        {"ipc namespace", CLONE_NEWIPC},   {"uts namespace", CLONE_NEWUTS},
        {"cgroup namespace", CLONE_NEWCGROUP},
    };
    bool ok = true;
    printf("sandcell doctor: sandbox layers on this machine (running as uid %d)\n",
           (int)geteuid());
    for (size_t i = 0; i < sizeof namespaces / sizeof *namespaces; i++)
        ok &= s_line(namespaces[i].name, s_in_child(s_probe_unshare, namespaces[i].flag), NULL);
    ok &= s_line("seccomp", s_in_child(s_probe_seccomp, 0), "allowlist loads");
    char why[512] = "";
    cgroup_mode_t mode = cgroup_detect(why, sizeof why);
    if (mode == CGROUP_NONE) {
        printf("  %-22s MISSING (%s; --no-cgroups runs without them, UNSAFE)\n", "cgroups", why);
        ok = false;
    } else {
        s_line("cgroups", 0, mode == CGROUP_V2 ? "v2: memory, pids, cpu" : "v1: memory, pids, cpu");
        s_stale_cgroups();
    }
    ok &= s_full_jail();
    printf("%s\n", ok ? "every layer is available" : "some layers are missing: see above");
    return ok ? 0 : 1;
}
