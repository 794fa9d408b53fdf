/* serve — the daemon (`sandcell serve`). One reactor drives the control socket, every
 * conversation's sockets and interpreters, the pool and the zygote.
 *
 * Start-up order is the kernel's (kernel_cmd.c): the zygote is forked
 * before any ZeroMQ context exists. Conversations end at safe points: a
 * handler or a tick only marks one ending, and the before-sleep hook
 * destroys it (redis freeClientAsync). The runtime file holds the control
 * key; it is claimed (runtime_file.h: one daemon per file) before the
 * zygote starts, written 0600, and removed on a clean exit if it is still
 * the file this daemon wrote. */
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "journal_retention.h"
#include "log.h"
#include "metrics.h"
#include "paths.h"
#include "serve_internal.h"
#include "util.h"

/* Threads that write and sync the journals: fdatasync()s of different
 * files run in parallel (the filesystem may merge their commits). */
#define JOURNAL_SYNC_THREADS 4

void serve_drop_held(void *tag)
{
    held_start_t *held = tag;
    wire_msg_clear(&held->msg);
    json_decref(held->options);
    free(held);
}

static void s_on_zygote_event(void *arg, json_t *event)
{
    server_t *s = arg;
    if (s->pool && pool_zygote_event(s->pool, event))
        return;
    for (size_t i = 0; i < s->n; i++)
        if (conversation_zygote_event(s->entries[i].conv, event))
            return;
}

/* The safe point: conversations marked ending (or shut down by their
 * client) are destroyed here, never inside the handler that noticed. */
static void s_before_sleep(void *arg)
{
    server_t *s = arg;
    if (s->pool)
        pool_tick(s->pool, reactor_now_ms());
    if (s->http)
        http_server_before_sleep(s->http);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        entry_t *e = &s->entries[i];
        if (!e->ending && conversation_closed(e->conv)) {
            const char *why = conversation_closed_why(e->conv);
            e->ending = why ? why : "shut down by its client";
            e->end_reason = why ? "stalled" : "shutdown";
        }
        if (e->ending) {
            log_info("conversation %s ended: %s", e->id, e->ending);
            metrics_stopped(e->end_reason);
            serve_remember_end(s, e);
            conversation_end_journal(e->conv, e->end_reason);
            conversation_destroy(&e->conv);
            if (s->ws)
                ws_hub_kernel_gone(s->ws, e->id);
            s->trim_pending = true;
            continue;
        }
        s->entries[k++] = *e;
    }
    s->n = k;
}

/* Gives the heap an ended conversation freed back to the system. glibc
 * keeps freed memory below the top of its heap: a daemon that once held
 * a flood's output (queues for a slow subscriber, big records) would keep
 * its peak for good (the soak test saw 8 MiB grow to 50 MiB and stay
 * there, back to 9 MiB after malloc_trim). At most once a second: it walks
 * the heap. */
#define TRIM_EVERY_MS 1000

static void s_trim_heap(server_t *s, long long now)
{
    if (!s->trim_pending || now < s->trim_next_ms)
        return;
    malloc_trim(0);
    s->trim_pending = false;
    s->trim_next_ms = now + TRIM_EVERY_MS;
}

#define RETENTION_EVERY_MS (3600LL * 1000)

static bool s_journal_is_live(const char *name, void *arg)
{
    const server_t *s = arg;
    for (size_t i = 0; i < s->n; i++) {
        size_t n = strlen(s->entries[i].id);
        if (strncmp(name, s->entries[i].id, n) == 0 && strcmp(name + n, ".jsonl") == 0)
            return true;
    }
    return false;
}

/* Applies --journal-retention and --journal-max-size to the journal
 * folder (journal_retention.h); a conversation still listed, ending or
 * not, keeps its journal. */
static void s_apply_retention(server_t *s)
{
    const serve_options_t *o = s->opts;
    if (!s->journal_dir || (o->journal_retention_days <= 0 && o->journal_max_mib <= 0))
        return;
    journal_retention_stats_t st;
    int rc = journal_retention_apply(s->journal_dir, (double)o->journal_retention_days * 86400,
                                     (uint64_t)o->journal_max_mib << 20, time(NULL),
                                     s_journal_is_live, s, &st);
    if (rc < 0)
        log_warn("journal retention: cannot read %s: %s", s->journal_dir, strerror(-rc));
    else if (st.removed)
        log_info("journal retention: removed %zu journals (%llu bytes), kept %zu (%llu bytes)",
                 st.removed, (unsigned long long)st.removed_bytes, st.kept,
                 (unsigned long long)st.kept_bytes);
}

static void s_tick(void *arg)
{
    server_t *s = arg;
    long long now = reactor_now_ms();
    s_trim_heap(s, now);
    if (outbox_pending(s->outbox)) { /* also when the socket's signal was missed */
        outbox_flush(s->outbox);
        serve_watch_outbox(s);
    }
    control_retry_pending(s, now);
    if (now >= s->retention_next_ms) {
        s_apply_retention(s);
        s->retention_next_ms = now + RETENTION_EVERY_MS;
    }
    for (size_t i = 0; i < s->n; i++) {
        entry_t *e = &s->entries[i];
        if (e->ending)
            continue;
        conversation_tick(e->conv, now);
        if (e->lifetime_s > 0 && now - e->started_ms > (long long)(e->lifetime_s * 1000)) {
            e->ending = "its lifetime is over (--lifetime)";
            e->end_reason = "lifetime";
            metrics_limit_hit(METRICS_LIMIT_LIFETIME);
        } else if (e->idle_timeout_s > 0 &&
                   now - conversation_last_activity_ms(e->conv) >
                       (long long)(e->idle_timeout_s * 1000)) {
            e->ending = "idle for too long (--idle-timeout)";
            e->end_reason = "idle";
            metrics_limit_hit(METRICS_LIMIT_IDLE);
        }
    }
}

/* Binds the control socket; returns its port or -1. */
static int s_bind_control(server_t *s, char *why, size_t why_len)
{
    const char *endpoint = s->opts->control ? s->opts->control : "tcp://127.0.0.1:*";
    if (strncmp(endpoint, "tcp://", 6) != 0) {
        snprintf(why, why_len, "--control %s: only tcp://IP:PORT endpoints are supported",
                 endpoint);
        return -1;
    }
    const char *colon = strrchr(endpoint + 6, ':');
    size_t iplen = colon ? (size_t)(colon - (endpoint + 6)) : 0;
    if (!colon || iplen == 0 || iplen >= sizeof s->ip) {
        snprintf(why, why_len, "--control %s: expected tcp://IP:PORT", endpoint);
        return -1;
    }
    memcpy(s->ip, endpoint + 6, iplen);
    s->ip[iplen] = '\0';
    s->control = zsock_new(ZMQ_ROUTER);
    if (!s->control) {
        snprintf(why, why_len, "cannot create the control socket");
        return -1;
    }
    zsock_set_linger(s->control, 1000);
    zsock_set_router_mandatory(s->control, 1);
    char bound[256];
    size_t len = sizeof bound;
    if (zmq_bind(zsock_resolve(s->control), endpoint) < 0 ||
        zmq_getsockopt(zsock_resolve(s->control), ZMQ_LAST_ENDPOINT, bound, &len) < 0) {
        snprintf(why, why_len, "cannot bind the control endpoint %s: %s", endpoint,
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    return atoi(strrchr(bound, ':') + 1);
}

int serve_run(const serve_options_t *opts)
{
    if (opts->verbose)
        log_set_level(LEVEL_DEBUG);
    server_t s = {.opts = opts, .limits = opts->limits, .sigfd = -1};
    char why[1600];
    if (sandbox_limits_resolve(&s.limits, s.data_dir, sizeof s.data_dir, why, sizeof why) < 0) {
        fprintf(stderr, "sandcell serve: %s\n", why);
        return 2;
    }
    if (serve_http_check(opts, why, sizeof why) < 0) {
        fprintf(stderr, "sandcell serve: %s\n", why);
        return 2;
    }
    if (runtime_file_path(opts->runtime_file, s.runtime_path, sizeof s.runtime_path) < 0) {
        fprintf(stderr, "sandcell serve: the runtime file's path is too long\n");
        return 2;
    }
    if (sandbox_limits_check_start(&s.limits,
                                   "interpreters run with the daemon's own user, files and "
                                   "network; never use it for code you do not trust",
                                   why, sizeof why) < 0) {
        fprintf(stderr, "sandcell serve: %s\n", why);
        return 2;
    }
    if (!opts->no_journal) {
        char dflt[PATH_MAX];
        const char *dir = opts->journal_dir;
        if (!dir && journal_default_dir(dflt, sizeof dflt) == 0)
            dir = dflt;
        if (!dir) {
            fprintf(stderr, "sandcell serve: neither XDG_STATE_HOME nor HOME is set; give "
                            "--journal-dir DIR or --no-journal\n");
            return 2;
        }
        if (journal_prepare_dir(dir, s.journal_dir_storage, sizeof s.journal_dir_storage, why,
                                sizeof why) < 0) {
            fprintf(stderr, "sandcell serve: %s\n", why);
            return 2;
        }
        s.journal_dir = s.journal_dir_storage;
    }
    char worker[PATH_MAX];
    if (paths_worker(worker, sizeof worker) < 0) {
        fprintf(stderr, "sandcell serve: cannot find sandcell-worker\n");
        return 1;
    }
    /* One daemon per runtime file: refuse before anything starts. */
    pid_t holder;
    s.runtime = runtime_file_claim(s.runtime_path, &holder, why, sizeof why);
    if (!s.runtime) {
        fprintf(stderr, "sandcell serve: %s\n", why);
        return holder >= 0 ? 2 : 1;
    }
    signal(SIGPIPE, SIG_IGN);
    zygote_config_t zc = {worker, opts->preload, opts->mock_interpreter};
    /* before any ZeroMQ context: it forks */
    int preload_rc = zygote_client_open(&zc, opts->preload_given, &s.zygote, why, sizeof why);
    if (preload_rc) {
        if (why[0])
            fprintf(stderr, "sandcell serve: %s\n", why);
        runtime_file_release(&s.runtime);
        return preload_rc;
    }
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGINT);
    sigaddset(&term, SIGHUP);
    sigprocmask(SIG_BLOCK, &term, NULL);
    s.sigfd = signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);

    zsys_handler_set(NULL);
    unsigned char key_bytes[32];
    char key[65];
    randombytes_buf(key_bytes, sizeof key_bytes);
    sodium_bin2hex(key, sizeof key, key_bytes, sizeof key_bytes);
    header_new_id(s.session_id);
    s.signer = signer_new(key, strlen(key));
    s.reactor = reactor_new();
    s.default_jail = sandbox_limits_to_jail_json(&s.limits);
    /* Before the first ZeroMQ socket: it sets ZeroMQ's socket limit. */
    s.capacity = capacity_new(opts->max_conversations, opts->pool);
    int port = s.signer && s.reactor && s.default_jail && s.capacity
                   ? s_bind_control(&s, why, sizeof why)
                   : -1;
    if (port >= 0)
        s.outbox = outbox_new(zsock_resolve(s.control), s.signer, s.session_id);
    if (port >= 0 && !s.outbox) {
        snprintf(why, sizeof why, "out of memory");
        port = -1;
    }
    if (port >= 0 && serve_http_start(&s, why, sizeof why) < 0)
        port = -1;
    if (port < 0 || runtime_file_write(s.runtime, s.ip, port, key, s.http ? s.http_url : NULL,
                                       s.http_token, why, sizeof why) < 0) {
        fprintf(stderr, "sandcell serve: %s\n", port < 0 && !s.signer ? "out of memory" : why);
        s.status = 1;
        goto out;
    }
    sodium_memzero(key, sizeof key);
    sodium_memzero(s.http_token, sizeof s.http_token);
    if (s.journal_dir) {
        s.journal_sync = journal_sync_new(JOURNAL_SYNC_THREADS);
        if (!s.journal_sync || journal_sync_watch(s.journal_sync, s.reactor) < 0) {
            fprintf(stderr, "sandcell serve: cannot start the journal threads\n");
            s.status = 1;
            goto out;
        }
        s.restore_loader = restore_loader_new(s.journal_dir);
        if (!s.restore_loader || reactor_add(s.reactor, NULL, restore_loader_fd(s.restore_loader),
                                             control_on_restored, &s) < 0) {
            fprintf(stderr, "sandcell serve: cannot set up the journal reader\n");
            s.status = 1;
            goto out;
        }
    }
    if (opts->pool > 0)
        s.pool = pool_new(s.reactor, s.zygote, s.default_jail, (int)opts->pool);
    zygote_client_set_listener(s.zygote, s_on_zygote_event, &s);
    if (reactor_add(s.reactor, zsock_resolve(s.control), -1, control_on_readable, &s) < 0 ||
        zygote_client_watch(s.zygote, s.reactor, &s.status) < 0 ||
        reactor_stop_on_signal(s.reactor, s.sigfd, "stopping every conversation") < 0) {
        fprintf(stderr, "sandcell serve: cannot set up the event loop\n");
        s.status = 1;
        goto out;
    }
    s_apply_retention(&s); /* at start, then hourly on the tick */
    s.retention_next_ms = reactor_now_ms() + RETENTION_EVERY_MS;
    reactor_set_hooks(s.reactor, s_before_sleep, s_tick, 100, &s);
    log_info("serving on tcp://%s:%d%s%s; runtime file %s; journals %s; up to %ld conversations "
             "(open-file limit %ld)",
             s.ip, port, s.http ? " and " : "", s.http ? s.http_url : "", s.runtime_path, s.journal_dir ? s.journal_dir : "off (--no-journal)",
             capacity_max(s.capacity), capacity_nofile(s.capacity));
    if (reactor_run(s.reactor) < 0)
        s.status = 1;
out:
    ws_hub_destroy(&s.ws); /* its clients are told (1001) before the server goes */
    http_server_destroy(&s.http); /* no request reaches a conversation being destroyed */
    for (size_t i = 0; i < s.n; i++) {
        conversation_end_journal(s.entries[i].conv, "daemon-exit");
        conversation_destroy(&s.entries[i].conv);
    }
    if (s.restore_loader) {
        reactor_remove(s.reactor, NULL, restore_loader_fd(s.restore_loader));
        restore_loader_destroy(&s.restore_loader, serve_drop_held); /* waits for the one it reads */
    }
    if (s.journal_sync) {
        reactor_remove(s.reactor, NULL, journal_sync_fd(s.journal_sync));
        journal_sync_destroy(&s.journal_sync); /* every record queued reaches the disk */
    }
    free(s.entries);
    for (size_t i = 0; i < s.npending; i++)
        wire_msg_clear(&s.pending[i].msg);
    pool_destroy(&s.pool);
    capacity_destroy(&s.capacity);
    outbox_destroy(&s.outbox);
    zsock_destroy(&s.control);
    signer_destroy(&s.signer);
    json_decref(s.default_jail);
    zygote_client_stop(&s.zygote);
    reactor_destroy(&s.reactor);
    if (s.sigfd >= 0)
        close(s.sigfd);
    runtime_file_release(&s.runtime); /* the runtime file only if it is still ours */
    zsys_shutdown();
    return s.status;
}
