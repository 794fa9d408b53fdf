/* kernel_cmd — start-up order matters here:
 *   1. read the connection file (a bad one is reported before anything
 *      starts);
 *   2. start the zygote: it forks, so it must precede libzmq's threads;
 *   3. block the termination signals and read them from a signalfd, so
 *      the reactor sees them as events (libzmq's threads inherit the mask);
 *   4. create the conversation, which binds the sockets.
 * A kernel started by a frontend (JPY_PARENT_PID set) ends when that
 * frontend does, even by SIGKILL: its parent is watched (parent_watch.h),
 * and its end stops the loop like SIGTERM, so the zygote, the spares and
 * every cgroup go too. */
#include "kernel_cmd.h"

#include <czmq.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "connfile.h"
#include "conversation.h"
#include "jail.h"
#include "journal.h"
#include "log.h"
#include "parent_watch.h"
#include "paths.h"
#include "reactor.h"
#include "zygote_client.h"

typedef struct {
    reactor_t *reactor;
    zygote_client_t *zygote;
    journal_sync_t *journal_sync; /* writes the journal off the loop, or NULL */
    conversation_t *conversation;
    parent_watch_t parent; /* the frontend to die with, if any */
    bool orphaned;          /* the frontend is gone */
    int sigfd;
    int status;
} kernel_t;

/* Ends the kernel if its frontend is gone. */
static void s_check_parent(kernel_t *k)
{
    if (k->orphaned || !parent_watch_gone(&k->parent))
        return;
    log_warn("the frontend (pid %d) is gone; shutting down", (int)parent_watch_pid(&k->parent));
    k->orphaned = true;
    k->status = 1; /* as ipykernel's parent poller */
    reactor_stop(k->reactor);
}

static void s_on_parent(void *arg)
{
    s_check_parent(arg);
}

static void s_on_zygote_event(void *arg, json_t *event)
{
    kernel_t *k = arg;
    if (k->conversation)
        conversation_zygote_event(k->conversation, event);
}

static void s_before_sleep(void *arg)
{
    kernel_t *k = arg;
    if (conversation_closed(k->conversation))
        reactor_stop(k->reactor);
}

static void s_tick(void *arg)
{
    kernel_t *k = arg;
    s_check_parent(k); /* the only check when there is no pidfd */
    conversation_tick(k->conversation, reactor_now_ms());
}

/* Whether the jail's user can read folder |dir|: the kernel's own user,
 * or nobody when sandcell runs as root (kernel/jail.c maps the jail to
 * nobody then). Checked in a child that takes on that user's ids. */
static bool s_jail_can_read(const char *dir)
{
    if (geteuid() != 0)
        return access(dir, R_OK | X_OK) == 0;
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setresgid(JAIL_OUTER_NOBODY, JAIL_OUTER_NOBODY,
                                                JAIL_OUTER_NOBODY) < 0 ||
            setresuid(JAIL_OUTER_NOBODY, JAIL_OUTER_NOBODY, JAIL_OUTER_NOBODY) < 0)
            _exit(1);
        _exit(access(dir, R_OK | X_OK) == 0 ? 0 : 1);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The folder /workspace starts with, into |out|: --workspace-from DIR, else
 * the folder the kernel was started in (Jupyter starts a notebook's kernel
 * in the notebook's folder, so `pd.read_csv("sales.csv")` next to it works
 * as under ipykernel), but not / or the home folder: those hold every file
 * of the machine or of the user, and a sandbox only shows them when asked.
 * Returns 1 with |out| set, 0 for an empty workspace, -1 with |why|. */
static int s_workspace_from(const cli_options_t *opts, char *out, size_t len, char *why,
                            size_t why_len)
{
    if (opts->empty_workspace || opts->limits.no_jail)
        return 0;
    char resolved[PATH_MAX];
    if (opts->workspace_from) {
        struct stat st;
        if (!realpath(opts->workspace_from, resolved) || stat(resolved, &st) < 0 ||
            !S_ISDIR(st.st_mode)) {
            snprintf(why, why_len, "--workspace-from %s: not a directory", opts->workspace_from);
            return -1;
        }
    } else {
        if (!getcwd(resolved, sizeof resolved))
            return 0;
        const char *home = getenv("HOME");
        char home_resolved[PATH_MAX];
        if (strcmp(resolved, "/") == 0 ||
            (home && realpath(home, home_resolved) && strcmp(resolved, home_resolved) == 0)) {
            log_info("/workspace starts empty: the kernel was started in %s (/ or the home "
                     "folder); --workspace-from %s shows its files anyway",
                     resolved, resolved);
            return 0;
        }
    }
    if (!s_jail_can_read(resolved)) {
        const char *who = geteuid() == 0 ? "nobody, the sandbox's user outside it when sandcell "
                                           "runs as root"
                                         : "you";
        if (opts->workspace_from) {
            snprintf(why, why_len, "--workspace-from %.300s: the sandbox cannot read it (as %s)",
                     resolved, who);
            return -1;
        }
        log_warn("/workspace starts empty: the sandbox cannot read %s (as %s); make it "
                 "readable to others, or pass --empty-workspace to say so",
                 resolved, who);
        return 0;
    }
    if (strlen(resolved) >= len || strlen(resolved) >= 512) {
        snprintf(why, why_len, "--workspace-from %.300s...: path too long", resolved);
        return -1;
    }
    memcpy(out, resolved, strlen(resolved) + 1);
    return 1;
}

int kernel_cmd_run(const cli_options_t *opts)
{
    /* Read first: a frontend killed while the zygote preloads must still
     * be noticed once the loop runs. */
    pid_t parent = parent_watch_target(getenv("JPY_PARENT_PID"), getppid());
    if (opts->verbose)
        log_set_level(LEVEL_DEBUG);
    connfile_t conn;
    proto_err_t perr;
    char why[1600];
    if (connfile_load(opts->connection_file, &conn, &perr, why, sizeof why) < 0) {
        fprintf(stderr, "sandcell kernel: bad connection file: %s\n", why);
        return 2;
    }
    sandbox_limits_t limits = opts->limits;
    char data_dir[PATH_MAX], journal_dir[PATH_MAX], work_dir[PATH_MAX];
    int work = s_workspace_from(opts, work_dir, sizeof work_dir, why, sizeof why);
    if (work > 0)
        limits.work_dir = work_dir;
    if (work < 0 || sandbox_limits_resolve(&limits, data_dir, sizeof data_dir, why, sizeof why) < 0 ||
        (opts->journal_dir && journal_prepare_dir(opts->journal_dir, journal_dir,
                                                  sizeof journal_dir, why, sizeof why) < 0)) {
        fprintf(stderr, "sandcell kernel: %s\n", why);
        connfile_clear(&conn);
        return 2;
    }
    if (sandbox_limits_check_start(&limits,
                                   "interpreters run with the kernel's own user, files and "
                                   "network; never use it for code you do not trust",
                                   why, sizeof why) < 0) {
        fprintf(stderr, "sandcell kernel: %s\n", why);
        connfile_clear(&conn);
        return 2;
    }
    char worker[PATH_MAX];
    if (paths_worker(worker, sizeof worker) < 0) {
        fprintf(stderr, "sandcell kernel: cannot find sandcell-worker\n");
        connfile_clear(&conn);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN); /* interrupts come as messages (interrupt_mode "message") */

    kernel_t k = {.sigfd = -1, .parent = {.pidfd = -1}};
    zygote_config_t zc = {worker, opts->preload, opts->mock_interpreter};
    int preload_rc = zygote_client_open(&zc, opts->preload_given, &k.zygote, why, sizeof why);
    if (preload_rc) {
        if (why[0])
            fprintf(stderr, "sandcell kernel: %s\n", why);
        connfile_clear(&conn);
        return preload_rc;
    }
    if (parent > 0) {
        parent_watch_start(&k.parent, parent, true);
        log_debug("watching the frontend, pid %d (%s)", (int)parent,
                  parent_watch_fd(&k.parent) >= 0 ? "pidfd" : "polled on the tick");
    }
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGHUP);
    sigprocmask(SIG_BLOCK, &term, NULL);
    k.sigfd = signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);

    zsys_handler_set(NULL); /* czmq must not install its own signal handlers */
    char journal_name[64];
    conversation_options_t copts = {.max_executions = opts->max_executions};
    if (opts->journal_dir) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
        snprintf(journal_name, sizeof journal_name, "kernel-%d-%s", (int)getpid(), stamp);
        copts.journal_dir = journal_dir;
        copts.journal_name = journal_name;
    }
    k.reactor = reactor_new();
    if (k.reactor && opts->journal_dir) {
        /* One conversation: one thread; the loop no longer waits on the
         * disk, but the reply still waits for its record. */
        k.journal_sync = journal_sync_new(1);
        if (!k.journal_sync || journal_sync_watch(k.journal_sync, k.reactor) < 0) {
            fprintf(stderr, "sandcell kernel: cannot start the journal's thread\n");
            connfile_clear(&conn);
            k.status = 1;
            goto out;
        }
        copts.journal_sync = k.journal_sync;
    }
    if (k.reactor)
        k.conversation = conversation_new(k.reactor, k.zygote, &conn, &limits, &copts, why,
                                          sizeof why);
    connfile_clear(&conn);
    if (!k.conversation) {
        fprintf(stderr, "sandcell kernel: %s\n", k.reactor ? why : "out of memory");
        k.status = 1;
        goto out;
    }
    zygote_client_set_listener(k.zygote, s_on_zygote_event, &k);
    if (zygote_client_watch(k.zygote, k.reactor, &k.status) < 0 ||
        reactor_stop_on_signal(k.reactor, k.sigfd, "shutting down") < 0 ||
        (parent_watch_fd(&k.parent) >= 0 &&
         reactor_add(k.reactor, NULL, parent_watch_fd(&k.parent), s_on_parent, &k) < 0)) {
        fprintf(stderr, "sandcell kernel: cannot set up the event loop\n");
        k.status = 1;
        goto out;
    }
    reactor_set_hooks(k.reactor, s_before_sleep, s_tick, 100, &k);
    log_debug("kernel ready");
    if (reactor_run(k.reactor) < 0) {
        log_error("the event loop failed");
        k.status = 1;
    }
out:
    if (k.conversation)
        conversation_end_journal(k.conversation, conversation_closed(k.conversation) ? "shutdown"
                                                 : k.orphaned ? "frontend-exit"
                                                              : "daemon-exit");
    conversation_destroy(&k.conversation);
    if (k.journal_sync) {
        reactor_remove(k.reactor, NULL, journal_sync_fd(k.journal_sync));
        journal_sync_destroy(&k.journal_sync); /* every record queued reaches the disk */
    }
    zygote_client_stop(&k.zygote);
    if (parent_watch_fd(&k.parent) >= 0 && k.reactor)
        reactor_remove(k.reactor, NULL, parent_watch_fd(&k.parent));
    parent_watch_stop(&k.parent);
    reactor_destroy(&k.reactor);
    if (k.sigfd >= 0)
        close(k.sigfd);
    zsys_shutdown();
    return k.status;
}
