/* zygote_client — the manager's handle on the zygote process.
 *
 * zygote_client_start() must run before the manager creates any ZeroMQ
 * context: it forks, and a process that runs libzmq's threads must not
 * fork. The zygote then forks interpreters on request; its events (spawned,
 * spawn_failed, exited) reach the listener, which owns the routing to
 * conversations. */
#ifndef SANDCELL_ZYGOTE_CLIENT_H
#define SANDCELL_ZYGOTE_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "reactor.h"

typedef struct zygote_client zygote_client_t;

/* Called with each event record from the zygote. Borrowed reference. */
typedef void (*zygote_listener_fn)(void *arg, json_t *event);

typedef struct {
    const char *worker_path; /* the sandcell-worker binary */
    const char *preload;     /* comma-separated module names */
    bool mock;               /* run the mock interpreter instead of Python */
} zygote_config_t;

/* Forks and execs the worker with a clean environment (see
 * docs/internals.md). Caller owns the result; NULL with a logged reason. */
zygote_client_t *zygote_client_start(const zygote_config_t *config);

/* Closes the channel (the zygote and every interpreter it forked exit) and
 * reaps the zygote. Sets *self_p to NULL. */
void zygote_client_stop(zygote_client_t **self_p);

/* The descriptor to poll; call zygote_client_dispatch when it is readable. */
int zygote_client_fd(const zygote_client_t *self);
void zygote_client_set_listener(zygote_client_t *self, zygote_listener_fn fn, void *arg);

/* Watches the zygote on |reactor| (zygote_client_dispatch when readable).
 * When the zygote is gone nothing more can be spawned: *status becomes 1
 * and the reactor stops. Returns 0, or -1 if the reactor cannot watch it. */
int zygote_client_watch(zygote_client_t *self, reactor_t *reactor, int *status);

/* Waits (at most |timeout_ms|) for the zygote's first record, sent once
 * its preload is done. Returns 0 with *preload_errors (new reference: an
 * array of "module: error" strings, empty if every module imported), or -1
 * with the reason in |why| (the zygote exited, or took too long). Call it
 * before the listener is set: nothing else comes before that record. */
int zygote_client_wait_ready(zygote_client_t *self, int timeout_ms, json_t **preload_errors,
                             char *why, size_t why_len);

/* Waits for the preload (zygote_client_wait_ready). A module that did not
 * import is an error when |strict| (the user named the modules), else a
 * warning in the log. Returns 0; 2 with "--preload: cannot import ..." in
 * |why| (a usage error: exit status 2); 1 with the reason in |why|. */
int zygote_client_check_preload(zygote_client_t *self, bool strict, char *why, size_t why_len);

/* zygote_client_start, then zygote_client_check_preload: what every
 * command that runs interpreters does first. Returns 0 with *out (caller
 * owns it); else 1 or 2 as zygote_client_check_preload, with *out NULL
 * and the reason in |why| (empty when the start failed: its reason is
 * logged). */
int zygote_client_open(const zygote_config_t *config, bool strict, zygote_client_t **out,
                       char *why, size_t why_len);

/* Reads and delivers every pending event. Returns 0, or -1 when the zygote
 * is gone (a fatal condition for the manager). */
int zygote_client_dispatch(zygote_client_t *self);

/* Asks for a new interpreter jailed with |jail| (borrowed; the jail
 * options of sandbox_limits_to_jail_json). On success returns the spawn id (> 0)
 * and sets *chan_fd to the manager's end of its channel (caller owns it);
 * -errno on failure. */
int zygote_client_spawn(zygote_client_t *self, const json_t *jail, int *chan_fd);

#endif
