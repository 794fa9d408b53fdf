/* zygote — prepare once, fork many. SIGCHLD arrives through a signalfd so
 * the loop is one poll() over two descriptors; children are reaped there
 * and their end reported, since only the zygote can wait for them.
 *
 * Whatever every child would do alike is done here once: the seccomp
 * program is compiled at start (jail_prepare). And once a jailed spawn
 * request has shown what interpreters look like, the zygote keeps two
 * spare children of that shape, made whenever it is idle: each is cloned,
 * moves itself into its cgroup, applies every layer of its jail, says "r"
 * and waits. A request it fits only sends it the config and channel, so
 * the clone (copying the page tables of the preloaded heap), the cgroup v1
 * attach (an RCU grace period) and the layers are not on the request's
 * path. A spare is never reported to the manager until it is spawned. */
#include "zygote.h"

#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "jail.h"
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

/* The jails of the children still running, to release when they end. */
typedef struct {
    jail_t *items;
    size_t n, cap;
} jails_t;

static jails_t s_jails;

/* The spare children, and the shape of the last jailed request they copy.
 * Two, because a spare takes a cgroup attach (often 10-25 ms on v1) to be
 * ready while starts can come every few ms: the second was begun a start
 * earlier, and attaches made together wait for one grace period. */
#define SPARES 2
static jail_spare_t s_spares[SPARES];
static jail_config_t s_shape;
static bool s_shape_known;
static unsigned s_spare_seq;
/* How long a request waits for a spare that is still jailing itself (its
 * cgroup attach may wait for an RCU grace period) before it gives up on it. */
#define SPARE_WAIT_MS 1000

static int s_jails_add(const jail_t *jail)
{
    if (s_jails.n == s_jails.cap) {
        size_t cap = s_jails.cap ? 2 * s_jails.cap : 16;
        jail_t *items = realloc(s_jails.items, cap * sizeof *items);
        if (!items)
            return -1;
        s_jails.items = items;
        s_jails.cap = cap;
    }
    s_jails.items[s_jails.n++] = *jail;
    return 0;
}

/* Removes the jail of |pid| into |out|; false if there is none. */
static bool s_jails_take(pid_t pid, jail_t *out)
{
    for (size_t i = 0; i < s_jails.n; i++) {
        if (s_jails.items[i].pid != pid)
            continue;
        *out = s_jails.items[i];
        s_jails.items[i] = s_jails.items[--s_jails.n];
        return true;
    }
    return false;
}

/* The manager is gone: end every interpreter now (they would die with us
 * anyway) and remove their cgroups, which would not. */
static void s_kill_all(void)
{
    for (int i = 0; i < SPARES; i++)
        jail_spare_discard(&s_spares[i]);
    for (size_t i = 0; i < s_jails.n; i++)
        kill(s_jails.items[i].pid, SIGKILL);
    for (size_t i = 0; i < s_jails.n; i++) {
        waitpid(s_jails.items[i].pid, NULL, 0);
        jail_release(&s_jails.items[i]);
    }
    s_jails.n = 0;
    free(s_jails.items);
    s_jails.items = NULL;
}

/* In the child: drop everything of the zygote, enter the jail, then become
 * an interpreter. Never returns. */
static void s_become_interpreter(channel_t **control, int sigfd, int fd,
                                 const interp_ops_t *ops, const jail_config_t *config)
{
    channel_destroy(control);
    close(sigfd);
    free(s_jails.items);
    /* jail_spawn made it the leader of its own process group (a spare did
     * so before its seccomp): kill(-pid) and the manager's SIGSTOP between
     * cells reach everything the interpreter starts. */
    if (getpgid(0) != getpid())
        _exit(JAIL_EXIT_FAILED);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGCHLD, SIG_DFL);
    jail_enter(config, fd);
    /* Changing credentials cleared it: set it only now. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        _exit(72);
    channel_t *chan = channel_new(fd);
    if (!chan)
        _exit(73);
    int rc = runner_run(chan, ops, config->enabled ? jail_environment : NULL);
    channel_destroy(&chan);
    _exit(rc);
}

static int s_remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

static void s_remove_tree(const char *dir)
{
    nftw(dir, s_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* matplotlib, imported by the preload, wants a writable config directory
 * for its font cache; without one (a zygote run as nobody, whose home is
 * /nonexistent) it makes /tmp/matplotlib-XXXXXXXX and removes it at exit,
 * which the zygote, ending with _exit, never reaches. So when the default
 * (~/.config/matplotlib, made if missing) cannot be written, the preload
 * gets a private directory, removed as soon as the preload is done: the
 * font list is then in memory. Writes its path into |out|, "" if unused. */
static void s_private_mplconfigdir(char *out, size_t len)
{
    out[0] = '\0';
    if (getenv("MPLCONFIGDIR") || getenv("XDG_CONFIG_HOME"))
        return;
    const char *home = getenv("HOME");
    struct passwd *pw = home ? NULL : getpwuid(geteuid());
    home = home ? home : pw ? pw->pw_dir : NULL;
    char path[600];
    if (home) {
        /* the nearest existing of ~/.config/matplotlib, ~/.config, ~ */
        static const char *const tails[] = {"/.config/matplotlib", "/.config", ""};
        for (size_t i = 0; i < sizeof tails / sizeof *tails; i++) {
            snprintf(path, sizeof path, "%s%s", home, tails[i]);
            if (access(path, F_OK) == 0) {
                if (access(path, W_OK) == 0)
                    return;
                break;
            }
        }
    }
    char dir[] = "/tmp/sandcell-mpl-XXXXXX";
    if (!mkdtemp(dir))
        return;
    snprintf(out, len, "%s", dir);
    setenv("MPLCONFIGDIR", dir, 1);
}

static void s_spawn_failed(channel_t *control, json_int_t id, const char *why)
{
    s_send_json(control, json_pack("{s:s, s:I, s:s}", "type", "spawn_failed", "id", id, "error",
                                   why));
}

/* A ready spare that fits |config|, else the oldest that fits once it is
 * ready (one still jailing itself is nearer to ready than a new child);
 * NULL if none. Spares made for another shape are discarded. */
static jail_spare_t *s_pick_spare(const jail_config_t *config)
{
    jail_spare_t *oldest = NULL;
    for (int i = 0; i < SPARES; i++) {
        jail_spare_t *spare = &s_spares[i];
        if (!jail_spare_exists(spare))
            continue;
        if (!jail_spare_fits(spare, config)) {
            jail_spare_discard(spare);
            continue;
        }
        if (jail_spare_check(spare, 0) == 1)
            return spare;
        if (jail_spare_exists(spare) && (!oldest || spare->jail.pid < oldest->jail.pid))
            oldest = spare;
    }
    return oldest && jail_spare_check(oldest, SPARE_WAIT_MS) == 1 ? oldest : NULL;
}

static void s_spawn(channel_t **control, int sigfd, json_t *req, const interp_ops_t *ops)
{
    json_int_t id = json_integer_value(json_object_get(req, "id"));
    int fd = channel_take_fd(*control);
    char why[512];
    jail_config_t config;
    if (fd < 0) {
        s_spawn_failed(*control, id, "no channel descriptor attached");
        return;
    }
    if (jail_config_from_json(json_object_get(req, "jail"), &config, why, sizeof why) < 0) {
        close(fd);
        s_spawn_failed(*control, id, why);
        return;
    }
    jail_t jail;
    pid_t pid = -1;
    jail_spare_t *spare = s_pick_spare(&config);
    if (spare) {
        pid = jail_spare_start(spare, &config, fd, &jail, why, sizeof why);
        if (pid < 0)
            fprintf(stderr, "sandcell-worker: the spare interpreter failed (%s); "
                            "starting one afresh\n", why);
    }
    if (pid < 0) {
        char name[64], suffix[24];
        snprintf(suffix, sizeof suffix, "%lld", (long long)id);
        if (cgroup_name(name, sizeof name, suffix) < 0)
            snprintf(name, sizeof name, "sandcell-%d-%s", (int)getpid(), suffix);
        pid = jail_spawn(&config, name, &jail, why, sizeof why);
        if (pid == 0)
            s_become_interpreter(control, sigfd, fd, ops, &config);
    }
    close(fd);
    if (pid < 0) {
        s_spawn_failed(*control, id, why);
        return;
    }
    s_shape = config;
    s_shape_known = config.enabled;
    if (s_jails_add(&jail) < 0) {
        kill(pid, SIGKILL); /* cannot keep track of it: do not let it run */
        jail_release(&jail);
    }
    s_send_json(*control, json_pack("{s:s, s:I, s:i}", "type", "spawned", "id", id, "pid",
                                    (int)pid));
}

/* Makes the spare for the shape of the last request. In the spare itself
 * this returns only as an interpreter's end. A failure forgets the shape:
 * the next request goes the direct way, and reports the reason if it is
 * not transient. */
static void s_make_spare(channel_t **control, int sigfd, jail_spare_t *spare,
                         const interp_ops_t *ops)
{
    char name[64], why[512];
    jail_config_t config;
    int fd = -1;
    char suffix[16];
    snprintf(suffix, sizeof suffix, "s%u", ++s_spare_seq);
    if (cgroup_name(name, sizeof name, suffix) < 0)
        snprintf(name, sizeof name, "sandcell-%d-%s", (int)getpid(), suffix);
    pid_t pid = jail_spare_make(&s_shape, name, spare, &config, &fd, why, sizeof why);
    if (pid == 0)
        s_become_interpreter(control, sigfd, fd, ops, &config);
    if (pid < 0)
        s_shape_known = false;
}

static jail_spare_t *s_spare_of(pid_t pid)
{
    for (int i = 0; i < SPARES; i++)
        if (jail_spare_exists(&s_spares[i]) && s_spares[i].jail.pid == pid)
            return &s_spares[i];
    return NULL;
}

static void s_reap(channel_t *control)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        json_t *code = WIFEXITED(status) ? json_integer(WEXITSTATUS(status)) : json_null();
        json_t *sig = WIFSIGNALED(status) ? json_integer(WTERMSIG(status)) : json_null();
        jail_spare_t *spare = s_spare_of(pid);
        if (spare) {
            jail_spare_lost(spare); /* never reported: the manager does not know it */
            s_shape_known = false;
            continue;
        }
        jail_t jail;
        bool jailed = s_jails_take(pid, &jail);
        if (jailed)
            jail_release(&jail);
        s_send_json(control, json_pack("{s:s, s:i, s:o, s:o, s:b, s:I}", "type", "exited", "pid",
                                       (int)pid, "code", code, "signal", sig, "oom",
                                       jailed && jail.oom_killed, "peak_memory",
                                       (json_int_t)(jailed ? jail.peak_memory : -1)));
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

    cgroup_sweep_stale(); /* groups of a zygote that was killed outright */
    for (int i = 0; i < SPARES; i++)
        jail_spare_init(&s_spares[i]);
    char why[512];
    if (jail_prepare(why, sizeof why) < 0) /* each child will try again, and fail closed */
        fprintf(stderr, "sandcell-worker: %s\n", why);
    char mpl_dir[64] = "";
    s_private_mplconfigdir(mpl_dir, sizeof mpl_dir);
    char *ready = ops->prepare(config);
    if (mpl_dir[0]) {
        s_remove_tree(mpl_dir);
        unsetenv("MPLCONFIGDIR");
    }
    if (!ready || channel_send(control, ready, strlen(ready), -1) < 0) {
        free(ready);
        channel_destroy(&control);
        return 1;
    }
    free(ready);

    for (;;) {
        /* The control channel, SIGCHLD, and the spares still jailing themselves. */
        struct pollfd fds[2 + SPARES] = {{channel_fd(control), POLLIN, 0}, {sigfd, POLLIN, 0}};
        jail_spare_t *missing = NULL;
        for (int i = 0; i < SPARES; i++) {
            jail_spare_t *spare = &s_spares[i];
            bool preparing = jail_spare_exists(spare) && !jail_spare_ready(spare);
            fds[2 + i] = (struct pollfd){preparing ? spare->go_fd : -1, POLLIN, 0};
            if (!jail_spare_exists(spare) && !missing)
                missing = spare;
        }
        int n = poll(fds, 2 + SPARES, s_shape_known && missing ? 0 : -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (n == 0) { /* idle, and a spare missing: make one */
            s_make_spare(&control, sigfd, missing, ops);
            continue;
        }
        for (int i = 0; i < SPARES; i++)
            if (fds[2 + i].revents && jail_spare_check(&s_spares[i], 0) < 0)
                s_shape_known = false; /* it failed: the next request goes the direct way */
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
    s_kill_all();
    close(sigfd);
    channel_destroy(&control);
    return 0;
}
