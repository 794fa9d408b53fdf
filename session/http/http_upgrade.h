/* http_upgrade — what the HTTP front door hands a WebSocket over with:
 * the RFC 6455 accept key, and the upgraded connection's description.
 *
 * GET /api/kernels/{id}/channels with "Upgrade: websocket" is
 * authenticated and its kernel looked up first (401 and 404 as for any
 * route); then, if a handler is registered (http_server_set_upgrade),
 * the server answers 101 Switching Protocols with Sec-WebSocket-Accept
 * and, when the client offered it, Sec-WebSocket-Protocol:
 * v1.kernel.websocket.jupyter.org, and calls the handler with an
 * http_upgrade_t. Without a handler the route answers 501 JSON. */
#ifndef SANDCELL_HTTP_UPGRADE_H
#define SANDCELL_HTTP_UPGRADE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "connfile.h"
#include "http_route.h"

/* The subprotocol of jupyter_server 2.x (and JupyterLab 4) */
#define HTTP_WS_SUBPROTOCOL "v1.kernel.websocket.jupyter.org"

/* base64(SHA-1(|key| + the RFC 6455 GUID)), the Sec-WebSocket-Accept of
 * a Sec-WebSocket-Key: 28 characters and a NUL into |out|. Returns 0, or
 * -1 if |key| is not 24 base64 characters (16 bytes), as RFC 6455 4.2.1
 * requires. */
int http_ws_accept_key(const char *key, char out[29]);

/* True if the Sec-WebSocket-Protocol header |offered| (comma-separated,
 * or NULL) lists HTTP_WS_SUBPROTOCOL. */
bool http_ws_offers_v1(const char *offered);

typedef struct http_upgrade http_upgrade_t;

/* An upgraded connection, handed to the WebSocket side. Valid until
 * http_upgrade_close(); every pointer is owned by the server. */
struct http_upgrade {
    int fd;                      /* the socket, non-blocking; not to be closed
                                    with close(): use http_upgrade_close */
    const char *extra;           /* bytes the client sent after its request, */
    size_t extra_len;            /* already read: the first frames' start */
    void *urh;                   /* struct MHD_UpgradeResponseHandle * */
    char kernel_id[HTTP_ID_LEN + 1];
    const char *session_id;      /* ?session_id=..., or "" */
    bool v1;                     /* the v1.kernel.websocket.jupyter.org
                                    subprotocol was chosen; false: legacy */
    const char *tenant;          /* the token's tenant name, "" for none */
    /* What reaches the conversation: a Jupyter connection dict (transport,
     * ip, shell_port, iopub_port, stdin_port, control_port, hb_port, key,
     * signature_scheme, kernel_name), as connection_request returns.
     * Borrowed reference: json_incref() it to keep it. */
    json_t *connection;
    connfile_t conn;             /* the same, parsed (ws_accept_t's conn) */
    void *server;                /* the http_server_t it came from */
};

/* The WebSocket side's handler for an upgraded connection. It runs on the
 * reactor's thread, inside the HTTP server's MHD_run: it may add |up->fd|
 * to the reactor, and must call http_upgrade_close(up) exactly once when
 * it is done with the connection (that closes the socket and frees |up|),
 * or be told by the drop handler that the server stops
 * (http_server_set_upgrade). */
typedef void (*http_upgrade_fn)(void *arg, http_upgrade_t *up);

/* Closes the upgraded connection and frees |up| (reactor_remove its fd
 * first). Safe from any callback of the reactor's thread. */
void http_upgrade_close(http_upgrade_t *up);

#endif
