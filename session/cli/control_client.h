/* control_client — the client side of `sandcell serve`'s control endpoint:
 * find the runtime file, connect a DEALER, send signed requests and wait
 * for the reply to each. Also the send helper that `sandcell exec` uses on
 * a conversation's own sockets (it receives with wire_io_recv). */
#ifndef SANDCELL_CONTROL_CLIENT_H
#define SANDCELL_CONTROL_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "header.h"
#include "proto_error.h"
#include "signer.h"
#include "wire.h"

/* How long a client waits for the daemon to answer one request. */
#define CONTROL_CLIENT_TIMEOUT_MS 10000

typedef struct control_client control_client_t;

/* Reads the runtime file at |path| and connects to the daemon's control
 * endpoint (the connection itself is made in the background). On success
 * sets *out (caller owns it; destroy with control_client_destroy) and
 * returns 0. Returns -ENOENT if the file does not exist, another -errno
 * otherwise, with a one-line reason in |why|. */
int control_client_open(const char *path, control_client_t **out, char *why, size_t why_len);

/* Closes the socket and the ZeroMQ context; sets *self_p to NULL. No-op on
 * NULL. */
void control_client_destroy(control_client_t **self_p);

/* The ZeroMQ context, for more sockets. Borrowed; lives as long as |self|,
 * and every socket made from it must be closed before |self| is
 * destroyed. */
void *control_client_context(control_client_t *self);

/* Whether the daemon's process, named by the runtime file, is known to
 * be gone (false when the file names none). */
bool control_client_daemon_gone(const control_client_t *self);

/* Sends |msg_type| with |content| (borrowed) and |n_buffers| extra frames,
 * then waits up to CONTROL_CLIENT_TIMEOUT_MS for the reply whose
 * parent_header.msg_id is the request's. Returns 0 with the reply in
 * *reply (caller clears it with wire_msg_clear; its status may be
 * "error"), or -1 with a one-line reason in |why| (no connection, no
 * answer, out of memory). */
int control_client_call(control_client_t *self, const char *msg_type, const json_t *content,
                        const wire_frame_t *buffers, size_t n_buffers, wire_msg_t *reply, char *why,
                        size_t why_len);

/* Signs |msg_type| + |content| (borrowed) + |n_buffers| buffers with
 * |signer| and sends it on |socket| (a DEALER: no identities). The header's
 * session is |session|. Writes the new msg_id into |msg_id|
 * (HEADER_ID_LEN + 1 bytes) if not NULL. Returns 0 or -1 (errno set). */
int control_client_send(void *socket, const signer_t *signer, const char *session,
                        const char *msg_type, const json_t *content, const wire_frame_t *buffers,
                        size_t n_buffers, char *msg_id);

/* The parent_header.msg_id of |msg|, or "" if it has none. Borrowed. */
const char *control_client_parent_id(const wire_msg_t *msg);

#endif
