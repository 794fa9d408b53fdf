/* ws_kmsg — one message of a kernel's socket, as the WebSocket side takes
 * it: received without copying (zmq_msg_t), its signature verified with
 * the conversation's key over the raw frames, and its header's msg_type
 * read; the JSON texts themselves are passed on as the kernel wrote them.
 * Not for other folders. */
#ifndef SANDCELL_WS_KMSG_H
#define SANDCELL_WS_KMSG_H

#include <zmq.h>

#include "jupyter_ws.h"
#include "signer.h"
#include "wire_io.h"

typedef struct {
    zmq_msg_t frames[WIRE_IO_MAX_FRAMES];
    int n;
    wire_frame_t parts[4]; /* header, parent_header, metadata, content */
    wire_frame_t buffers[WIRE_IO_MAX_FRAMES];
    size_t n_buffers;
    char msg_type[64];
    const char *why; /* why it was dropped (static) */
} ws_kmsg_t;

/* Receives one message from |sock| without waiting. Returns 1 with |m|
 * filled (close it with ws_kmsg_close), 0 if none waits, -1 if one was
 * dropped (m->why says why; nothing to close). */
int ws_kmsg_recv(void *sock, signer_t *signer, ws_kmsg_t *m);

void ws_kmsg_close(ws_kmsg_t *m);

#endif
