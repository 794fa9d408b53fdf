/* ws_hub — the WebSocket channels of the kernels
 * (/api/kernels/{id}/channels): every upgraded connection, grouped by
 * kernel, on the daemon's reactor.
 *
 * A connection reaches its conversation the way Jupyter Server and Kernel
 * Gateway reach a kernel: as a Jupyter client over ZeroMQ. Each
 * connection has its own DEALER sockets on shell, control and stdin (one
 * routing identity for the three, so replies and input requests come
 * back to the connection that asked), and each kernel one SUB socket on
 * iopub whose messages go to every connection of the kernel. Messages a
 * client sends are signed with the conversation's key; what the kernel
 * sends is verified before it is framed for the WebSocket. The
 * conversation core does not know a WebSocket exists.
 *
 * Limits (docs/internals.md, "The WebSocket channels"): a message from a
 * client over WS_MAX_MESSAGE closes with 1009; a bad one closes with the
 * code of its error (jupyter_ws_err_close_code) and a reason. iopub to a
 * client that has WS_IOPUB_BACKLOG bytes waiting is dropped, with a
 * stderr note on iopub, until it has read half of them (status messages
 * and replies are never dropped); a client with WS_BACKLOG_MAX bytes
 * waiting, or that has read nothing of what waits for WS_STALL_MS, is
 * dropped. A client that leaves with a ?session_id= is kept for
 * WS_DETACHED_MS: what comes for it meanwhile (replies, iopub) is kept,
 * up to WS_DETACHED_MAX bytes (iopub past WS_DETACHED_IOPUB is dropped and
 * counted in a note), and a connection with the same session_id takes it
 * over and receives it first; a live connection with the same session_id
 * is replaced (closed with 1000). */
#ifndef SANDCELL_WS_HUB_H
#define SANDCELL_WS_HUB_H

#include <stdbool.h>
#include <stddef.h>

#include "connfile.h"
#include "reactor.h"

#define WS_MAX_MESSAGE ((size_t)32 << 20)
#define WS_IOPUB_BACKLOG ((size_t)4 << 20)
#define WS_BACKLOG_MAX ((size_t)64 << 20)
#define WS_STALL_MS 60000
#define WS_PING_MS 30000
#define WS_CLOSE_WAIT_MS 5000
#define WS_DETACHED_MS 300000
#define WS_DETACHED_MAX ((size_t)32 << 20)
#define WS_DETACHED_IOPUB ((size_t)8 << 20)
/* How long a kernel's new iopub subscription is probed (kernel_info on
 * control until an iopub message arrives) before its connections start
 * anyway. */
#define WS_NUDGE_MS 5000

typedef struct ws_hub ws_hub_t;

/* One upgraded connection, handed over. */
typedef struct {
    int fd;              /* non-blocking; released through |release|, never closed here */
    const void *extra;   /* bytes read past the handshake (copied) */
    size_t extra_len;
    const char *kernel_id;
    const char *session_id; /* ?session_id=, or "" / NULL */
    bool v1;                /* v1.kernel.websocket.jupyter.org; false: legacy */
    const connfile_t *conn; /* the conversation's endpoints and key (copied) */
    /* Called once, when the hub is done with the socket (it has removed
     * the fd from the reactor). */
    void (*release)(void *arg);
    void *release_arg;
} ws_accept_t;

/* Caller owns the result; NULL on failure (out of memory, no timer). */
ws_hub_t *ws_hub_new(reactor_t *reactor);

/* Closes every connection (1001, going away), releasing each socket, and
 * frees. Sets *self_p to NULL. */
void ws_hub_destroy(ws_hub_t **self_p);

/* Takes the connection |a| describes. Returns 0; or -1 with a reason in
 * |why| (no socket could be made: out of descriptors), and the caller
 * still owns the socket. */
int ws_hub_accept(ws_hub_t *self, const ws_accept_t *a, char *why, size_t why_len);

/* Forgets the connection whose release_arg is |release_arg| without
 * releasing its socket (its owner closes it). */
void ws_hub_forget(ws_hub_t *self, void *release_arg);

/* Kernel |kernel_id| is gone: its connections close (1001, "kernel
 * stopped") and what was kept for detached ones is dropped. */
void ws_hub_kernel_gone(ws_hub_t *self, const char *kernel_id);

/* Open connections to |kernel_id| (NULL: to every kernel); detached ones
 * are not counted. */
long ws_hub_connections(const ws_hub_t *self, const char *kernel_id);

#endif
