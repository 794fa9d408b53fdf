/* wire_io — one signed Jupyter message off or onto a ZeroMQ socket.
 * Shared by the conversations' sockets and the daemon's control socket. */
#ifndef SANDCELL_WIRE_IO_H
#define SANDCELL_WIRE_IO_H

#include <stdbool.h>
#include <zmq.h>

#include "wire.h"

/* Frames one message may have (identities + 6 + buffers); more are dropped. */
#define WIRE_IO_MAX_FRAMES 64

typedef enum {
    WIRE_IO_NONE,    /* nothing waiting */
    WIRE_IO_MESSAGE, /* *out holds an authenticated message (caller clears it) */
    WIRE_IO_DROPPED, /* a message arrived and was refused; *reason says why */
    WIRE_IO_ECHO,    /* echo mode: the frames were sent straight back */
} wire_io_result_t;

/* Receives one message without blocking. With |echo| set the frames are
 * sent back as they came (heartbeat) and nothing is decoded. */
wire_io_result_t wire_io_recv(void *sock, signer_t *signer, bool echo, wire_msg_t *out,
                              const char **reason);

/* Encodes, signs and sends, never waiting (ZMQ_DONTWAIT). Takes ownership
 * of |content| (may be NULL on allocation failure: nothing is sent).
 * Returns 0, or -1 with errno: EAGAIN when the peer's queue is full (a
 * ROUTER_MANDATORY socket; nothing was sent), EHOSTUNREACH when a ROUTER
 * knows no such peer, others on failure. */
int wire_io_send(void *sock, const signer_t *signer, const char *session, const wire_blob_t *ids,
                 size_t n_ids, const char *msg_type, const wire_blob_t *parent, json_t *content,
                 const wire_frame_t *buffers, size_t n_buffers);

/* Encodes and signs what wire_io_send would send into |out| (caller owns
 * it: wire_frames_clear), for a message kept to be sent later. Does not
 * take ownership of anything. Returns 0, or -1 on allocation failure. */
int wire_io_encode(const signer_t *signer, const char *session, const wire_blob_t *ids,
                   size_t n_ids, const char *msg_type, const wire_blob_t *parent,
                   const json_t *content, const wire_frame_t *buffers, size_t n_buffers,
                   wire_frames_t *out);

/* Sends frames wire_io_encode made, never waiting. Returns 0, or -1 with
 * errno as wire_io_send (a full queue refuses the message whole). */
int wire_io_send_frames(void *sock, const wire_frames_t *frames);

/* Sets the function told, after each message received from or sent on a
 * socket, which socket that was (the reactor re-checks it: libzmq may
 * have consumed the socket's ZMQ_FD signal meanwhile). One per process;
 * NULL clears it. */
typedef void (*wire_io_touch_fn)(void *arg, void *sock);
void wire_io_set_touch_hook(wire_io_touch_fn fn, void *arg);

#endif
