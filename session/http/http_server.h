/* http_server — the daemon's HTTP front door: the Jupyter Server kernels
 * REST API on libmicrohttpd, driven by the daemon's reactor.
 *
 * MHD runs in its external-epoll mode: no thread of its own. Its epoll
 * descriptor (MHD_DAEMON_INFO_EPOLL_FD) is one handler of the reactor,
 * MHD_run runs when it is readable, and the before-sleep hook
 * (http_server_before_sleep) runs it again when MHD_get_timeout says it
 * is due and shortens the reactor's next sleep to that timeout.
 *
 * The server knows nothing of the daemon's conversations: it asks its
 * backend (http_backend_t, filled by serve/), so the control endpoint and
 * this front door share one list and one set of start, stop and limit
 * rules. Limits (documented in docs/internals.md, "The HTTP front door"):
 * HTTP_MEMORY_LIMIT per connection (request line and headers must fit),
 * HTTP_BODY_MAX per body (413), HTTP_CONNECTION_TIMEOUT_S of silence
 * (a stalled or slowloris client is dropped), HTTP_CONNECTIONS_MAX
 * connections. */
#ifndef SANDCELL_HTTP_SERVER_H
#define SANDCELL_HTTP_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "http_token.h"
#include "http_upgrade.h"
#include "metrics.h"
#include "reactor.h"
#include "workspace.h"

#define HTTP_MEMORY_LIMIT (64 * 1024)
#define HTTP_BODY_MAX (1024 * 1024)
/* The body of a file PUT: the workspace's own limit. */
#define HTTP_FILE_BODY_MAX WORKSPACE_MAX_FILE
#define HTTP_CONNECTION_TIMEOUT_S 30
#define HTTP_CONNECTIONS_MAX 4096

/* One kernel as the backend describes it. */
typedef struct {
    char id[HTTP_ID_LEN + 1];
    char name[HTTP_NAME_MAX + 1];  /* its kernelspec name */
    long long idle_ms;             /* since its last activity */
    const char *execution_state;   /* "starting", "idle", "busy", "dead" (static) */
} http_kernel_t;

typedef void (*http_each_fn)(void *ctx, const http_kernel_t *kernel);

/* A start whose answer comes later (one that restores: its journals are
 * read off the loop). Owned by the server. */
typedef struct http_pending http_pending_t;

/* What a backend's start returns when it answers later. */
#define HTTP_START_PENDING 1

/* What the server asks of the daemon. |tenant| is the caller's tenant
 * name ("" when the tokens have no tenants): a backend shows and reaches
 * only that tenant's kernels, and answers "no such kernel" for others.
 * Every call runs on the reactor's thread. */
typedef struct {
    /* Calls |each| for every live kernel of |tenant|. */
    void (*list)(void *arg, const char *tenant, http_each_fn each, void *ctx);
    /* Fills |out| for kernel |id|; returns 0, or -1 if |tenant| has none. */
    int (*get)(void *arg, const char *tenant, const char *id, http_kernel_t *out);
    /* Starts a kernel of kernelspec |name| for |tenant|; |options| is the
     * body's "sandcell" object (borrowed; NULL if absent), the same fields
     * as the control endpoint's start_request. Returns 0 with |out|
     * filled, or the HTTP status of the failure (400 for a bad option, 503
     * at capacity, 500) with a reason in |why|, or HTTP_START_PENDING:
     * the request waits (its connection is suspended, the loop goes on)
     * until the backend calls http_start_done(|pending|, ...). */
    int (*start)(void *arg, const char *tenant, const char *name, const json_t *options,
                 http_pending_t *pending, http_kernel_t *out, char *why, size_t why_len);
    /* End, interrupt or restart (a fresh interpreter, state gone) kernel
     * |id|; return 0, or -1 if |tenant| has no such kernel. */
    int (*stop)(void *arg, const char *tenant, const char *id);
    int (*interrupt)(void *arg, const char *tenant, const char *id);
    int (*restart)(void *arg, const char *tenant, const char *id);
    /* Kernel |id|'s Jupyter connection dict (new reference), or NULL. */
    json_t *(*connection)(void *arg, const char *tenant, const char *id);
    /* Fills |out| with what the daemon holds now, for GET /metrics (all
     * tenants; ws_connections is left for the server to fill). */
    void (*gauges)(void *arg, metrics_gauges_t *out);
    /* 0 if a start would be taken now; -1 with the reason in |why|. */
    int (*ready)(void *arg, char *why, size_t why_len);
    /* Writes the |len| bytes of |data| as |path| in kernel |id|'s
     * workspace, or reads |path| into *data (caller frees) and *len: the
     * control endpoint's put_file and get_file. Return 0, or the HTTP
     * status of the failure with |why|: 404 (no such kernel, or no such
     * file to get), 400 (a path the workspace refuses), 409 (the kernel
     * reached its cap: no workspace), 503 (its interpreter is starting). */
    int (*put_file)(void *arg, const char *tenant, const char *id, const char *path,
                    const void *data, size_t len, char *why, size_t why_len);
    int (*get_file)(void *arg, const char *tenant, const char *id, const char *path,
                    void **data, size_t *len, char *why, size_t why_len);
    /* Kernel |id|'s journal as written so far: its JSON Lines in *text
     * (caller frees) and *len, or (|text| NULL) as a notebook in *nb (new
     * reference). Return 0, or an HTTP status with |why| (404: no such
     * kernel, or a daemon that keeps no journals). */
    int (*journal)(void *arg, const char *tenant, const char *id, char **text, size_t *len,
                   json_t **nb, char *why, size_t why_len);
} http_backend_t;

typedef struct {
    const char *addr;               /* numeric IPv4 or IPv6 address, or "localhost" */
    int port;                       /* 0: one the system picks */
    const http_tenant_t *tenants;   /* copied; none with no_auth */
    size_t ntenants;
    bool no_auth;                   /* every request is let in (loopback only) */
    bool metrics_public;            /* GET /metrics is let in without a token */
} http_config_t;

typedef struct http_server http_server_t;

/* Listens on cfg->addr:cfg->port and watches the socket on |reactor|.
 * Does not take ownership of |reactor| or |backend|. Caller owns the
 * result; NULL with a reason in |why|. */
http_server_t *http_server_new(reactor_t *reactor, const http_config_t *cfg,
                               const http_backend_t *backend, void *backend_arg, char *why,
                               size_t why_len);

/* The port it listens on. */
int http_server_port(const http_server_t *self);

/* Runs what MHD has due and tells the reactor when it next will be; call
 * from the reactor's before-sleep hook. */
void http_server_before_sleep(http_server_t *self);

/* Registers the WebSocket side: |on_upgrade(arg, up)| receives every
 * upgraded /api/kernels/{id}/channels connection (http_upgrade.h);
 * |on_drop(arg, up)|, called from http_server_destroy for each one not
 * yet closed, must forget |up| (remove its fd from the reactor, free its
 * state) without closing it: the server closes it right after. */
void http_server_set_upgrade(http_server_t *self, http_upgrade_fn on_upgrade,
                             http_upgrade_fn on_drop, void *arg);

/* Answers a start that returned HTTP_START_PENDING: |status| 0 with the
 * kernel |k|, or an HTTP status with |why|. Call exactly once, on the
 * reactor's thread, and not after http_server_destroy (which drops the
 * requests still waiting). */
void http_start_done(http_pending_t *pending, int status, const http_kernel_t *k,
                     const char *why);

/* Open WebSocket connections to kernel |id| (the model's "connections"). */
long http_server_connections(const http_server_t *self, const char *id);

/* Stops listening, drops every upgraded connection and frees. Sets
 * *self_p to NULL. */
void http_server_destroy(http_server_t **self_p);

/* "%Y-%m-%dT%H:%M:%S.%fZ" (six-digit microseconds, UTC) of |ago_ms|
 * milliseconds ago: what jupyter_server's GatewayClient parses. |out|
 * holds 28 bytes. */
void http_iso_ago(long long ago_ms, char *out, size_t len);

#endif
