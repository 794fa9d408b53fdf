/* ws_conn — one client of one kernel over a WebSocket: the socket and its
 * RFC 6455 framing (libwslay, non-blocking, on the reactor), the DEALER
 * sockets on shell, control and stdin that carry its requests to the
 * conversation, and, while the client is away, what arrives for it.
 *
 * Used by ws_hub.c, which owns every connection and routes iopub; not for
 * other folders. A connection is attached (a WebSocket is open on it) or
 * detached (its client left with a session_id; kept for a reconnect). */
#ifndef SANDCELL_WS_CONN_H
#define SANDCELL_WS_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "jupyter_ws.h"
#include "reactor.h"
#include "signer.h"
#include "ws_hub.h"

typedef struct ws_conn ws_conn_t;
typedef struct ws_kernel ws_kernel_t;

/* What a connection needs of its kernel (ws_hub.c fills it). */
typedef struct {
    reactor_t *reactor;
    signer_t *signer;       /* the conversation's key: signs and verifies */
    const connfile_t *conn; /* its endpoints */
    const char *kernel_id;
    ws_kernel_t *kernel;    /* opaque to ws_conn, handed back in callbacks */
} ws_conn_kernel_t;

/* Creates the connection's DEALER sockets (connected, watched on the
 * reactor) for |session_id| (may be ""). Does not take ownership of
 * anything in |k|, which must outlive the connection. Caller owns the
 * result; NULL with a reason in |why|. */
ws_conn_t *ws_conn_new(const ws_conn_kernel_t *k, const char *session_id, char *why,
                       size_t why_len);

/* Closes the WebSocket (if attached, with 1001 unless |code| is given:
 * 0 means 1001) and the sockets, releases the socket and frees. Sets
 * *self_p to NULL. */
void ws_conn_destroy(ws_conn_t **self_p, uint16_t code, const char *reason);

/* Frees without releasing the WebSocket's socket (its owner closes it). */
void ws_conn_forget(ws_conn_t **self_p);

/* Attaches the WebSocket of |a| (its fd, extra bytes, framing, release).
 * A connection already attached is closed first (1000, |replaced_why|).
 * Replies and iopub kept while detached go out first. |started|: the
 * client's messages are read at once; else only after ws_conn_start.
 * Returns 0 or -1 (out of memory: the caller still owns the socket). */
int ws_conn_attach(ws_conn_t *self, const ws_accept_t *a, bool started,
                   const char *replaced_why);

/* Starts reading the client's messages (the kernel's iopub is subscribed). */
void ws_conn_start(ws_conn_t *self);

/* Hands the connection a message of its kernel's iopub: |parts| are the
 * signed, verified JSON texts (header, parent, metadata, content) and
 * |msg_type| the header's. Borrowed; copied if kept. */
void ws_conn_deliver(ws_conn_t *self, conn_channel_t channel, const wire_frame_t parts[4],
                     const wire_frame_t *buffers, size_t n_buffers, const char *msg_type);

/* Periodic work (about once a second): pings, the stall limit, the close
 * wait, the time a detached connection is kept (past it, finished). */
void ws_conn_tick(ws_conn_t *self, long long now_ms);

/* True when the connection is done: the hub destroys it at its next
 * safe point. */
bool ws_conn_finished(const ws_conn_t *self);

bool ws_conn_attached(const ws_conn_t *self);
const char *ws_conn_session(const ws_conn_t *self);
void *ws_conn_release_arg(const ws_conn_t *self);

/* Called by ws_conn when it became finished (from inside a reactor
 * callback; the hub tears it down later). Defined in ws_hub.c. */
void ws_hub_conn_finished(ws_kernel_t *kernel, ws_conn_t *conn);

/* The list links of the hub; ws_conn leaves them alone. */
ws_conn_t **ws_conn_next(ws_conn_t *self);

#endif
