/* serve_internal — what the daemon's loop (serve.c) and its control
 * requests (control.c) share: the server, its conversations, the requests
 * that wait. Not for other folders. */
#ifndef SANDCELL_SERVE_INTERNAL_H
#define SANDCELL_SERVE_INTERNAL_H

#include <czmq.h>
#include <limits.h>
#include <stdbool.h>

#include "capacity.h"
#include "control_request.h"
#include "conversation.h"
#include "header.h"
#include "http_server.h"
#include "journal_sync.h"
#include "outbox.h"
#include "pool.h"
#include "reactor.h"
#include "restore.h"
#include "restore_loader.h"
#include "runtime_file.h"
#include "serve.h"
#include "signer.h"
#include "wire.h"
#include "ws_hub.h"
#include "zygote_client.h"

typedef struct {
    char id[HTTP_ID_LEN + 1]; /* a UUID (conversations.c) */
    char tenant[HTTP_TENANT_NAME_MAX + 1]; /* the HTTP tenant that started it, or "" */
    char kernel_name[HTTP_NAME_MAX + 1];   /* the kernelspec it was started as */
    conversation_t *conv;
    long long started_ms;
    char started[HEADER_DATE_LEN + 1];
    double idle_timeout_s, lifetime_s;
    const char *ending; /* why it ends at the next safe point, or NULL */
    const char *end_reason; /* the same, for the journal's end record */
} entry_t;

/* A file request waiting for its conversation's interpreter to be ready. */
typedef struct {
    wire_msg_t msg;
    long long deadline_ms;
} pending_t;

#define PENDING_MAX 256
#define PENDING_WAIT_MS 30000

/* A conversation that ended, and why and when: a request naming it later
 * is told so rather than that no such conversation exists. The last
 * ENDED_MAX are kept. */
typedef struct {
    char id[HTTP_ID_LEN + 1];
    char why[200];
} ended_t;

#define ENDED_MAX 256

typedef struct {
    const serve_options_t *opts;
    sandbox_limits_t limits; /* the defaults, resolved */
    char data_dir[PATH_MAX];
    char journal_dir_storage[PATH_MAX];
    const char *journal_dir; /* NULL: --no-journal */
    reactor_t *reactor;
    zygote_client_t *zygote;
    journal_sync_t *journal_sync; /* writes the journals off the loop, or NULL */
    restore_loader_t *restore_loader; /* reads journals to restore off the loop, or NULL */
    pool_t *pool;
    capacity_t *capacity;
    json_t *default_jail;
    zsock_t *control;
    outbox_t *outbox; /* control replies kept for clients that have no room */
    bool control_writable; /* the reactor watches the control socket for room */
    signer_t *signer;
    char session_id[HEADER_ID_LEN + 1];
    char ip[64];
    entry_t *entries;
    size_t n, cap;
    int sigfd;
    int status;
    char runtime_path[PATH_MAX];
    runtime_file_t *runtime; /* claimed before the zygote starts */
    pending_t pending[PENDING_MAX];
    size_t npending;
    long long retention_next_ms; /* when the journal folder is next trimmed */
    ended_t ended[ENDED_MAX]; /* a ring; ended_next is the next slot */
    size_t ended_next;
    http_server_t *http;     /* the HTTP front door, or NULL (no --http) */
    ws_hub_t *ws;            /* its WebSocket channels (with --http), or NULL */
    char http_url[300];
    char http_token[HTTP_TOKEN_MAX + 1]; /* for the runtime file; "" for none */
    bool trim_pending;       /* a conversation ended since the heap was trimmed */
    long long trim_next_ms;  /* the earliest time of the next trim */
} server_t;

/* What waits for the restore loader (its tag): a control start_request,
 * or an HTTP start (its answer goes through |pending|). */
typedef struct {
    bool http;
    wire_msg_t msg;          /* control: the request */
    http_pending_t *pending; /* HTTP: the suspended request */
    json_t *options;         /* HTTP: the body's "sandcell" object */
    char tenant[HTTP_TENANT_NAME_MAX + 1];
    char kernel_name[HTTP_NAME_MAX + 1];
} held_start_t;

/* Frees |tag| (a held_start_t) without answering it. */
void serve_drop_held(void *tag);

typedef struct {
    server_t *s;
    wire_msg_t *msg;
    const control_request_t *req; /* the parsed content of msg */
    bool retry; /* set by a handler that must wait for an interpreter */
    /* start_request with "restore", second pass: the journals were read
     * off the loop (restore_loader); |restored| is owned by s_start, NULL
     * with |restore_why| when they could not be used. */
    bool restore_read;
    restore_t *restored;
    const char *restore_why;
} control_req_t;

/* ---- conversations.c: what the control endpoint and the HTTP front
 * door share */

/* Conversations not ending. */
size_t serve_active(const server_t *s);

/* Starts a conversation with |req|'s limits over the daemon's defaults
 * (and |restore|'s recorded ones; takes ownership of |restore|), for
 * HTTP tenant |tenant| (NULL or "": none) as kernelspec |kernel_name|
 * (NULL: sandcell-python). Returns the new entry (valid until the list
 * next changes) with *restored_p (new reference, or NULL) describing the
 * restore, or NULL with an error name (TooManyConversations,
 * SandboxUnavailable, StartFailed, MemoryError) and a reason. */
entry_t *serve_start(server_t *s, const control_request_t *req, restore_t *restore,
                     const char *tenant, const char *kernel_name, json_t **restored_p,
                     char *ename, size_t ename_len, char *why, size_t why_len);

/* The live conversation |id| (of |tenant| only, unless |tenant| is NULL),
 * or NULL with why there is none (an ended one says when and why). */
entry_t *serve_find(server_t *s, const char *id, const char *tenant, char *why, size_t why_len);

/* Marks |e| ending (|why|: a static string), at the next safe point. */
void serve_stop(entry_t *e, const char *why);

/* Writes |len| bytes as |path| in |e|'s workspace (workspace.h's path
 * rules, WORKSPACE_MAX_FILE) and journals the file; or reads |path| into
 * *data (caller frees) and *len. Return 0; SERVE_FILE_WAIT while its
 * interpreter starts (ask again later); -1 with |why| (a bad path, no such
 * file, a capped conversation, which has no workspace). What the control
 * endpoint's put_file and get_file and the HTTP files route both do. */
#define SERVE_FILE_WAIT 1
int serve_put_file(entry_t *e, const char *path, const void *data, size_t len, char *why,
                   size_t why_len);
int serve_get_file(entry_t *e, const char *path, void **data, size_t *len, char *why,
                   size_t why_len);

/* ---- http_front.c: the HTTP front door's backend */

/* Checks the --http options (address, tokens, loopback rules) before
 * anything starts. Returns 0, or -1 with a reason (exit status 2). */
int serve_http_check(const serve_options_t *o, char *why, size_t why_len);

/* The restore loader read the journals of an HTTP start |held| (restore
 * NULL with |why| if they cannot be used; owned): it starts and answers. */
void serve_http_restored(server_t *s, held_start_t *held, restore_t *restore, const char *why);

/* Starts the HTTP server of --http, or does nothing without it. Returns
 * 0, or -1 with a reason. */
int serve_http_start(server_t *s, char *why, size_t why_len);

/* ---- control.c: the control endpoint */

/* The control socket is readable: runs up to a batch of requests. */
void control_on_readable(void *server);

/* The restore loader read a restore's journals: the start_request it held
 * runs again, with them. */
void control_on_restored(void *server);

/* Retries the file requests that wait for an interpreter; those past
 * their deadline are answered FileError. */
void control_retry_pending(server_t *s, long long now);

/* Watches the control socket for room while replies are kept, not after. */
void serve_watch_outbox(server_t *s);

/* Remembers that |e| ended now, and why: a request naming it later is told
 * so rather than that no such conversation exists. */
void serve_remember_end(server_t *s, const entry_t *e);

#endif
