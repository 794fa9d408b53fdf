/* bench_wire — one Jupyter message over a ZeroMQ socket, for the
 * benchmarks' clients: signed and sent, or received, verified and decoded
 * through protocol/.
 *
 * Shared by bench_kernel (a kernel's shell, control and iopub), serve's
 * clients and idle's control requests, so that every benchmark pays the
 * same client cost per message. The receive side times a message when its
 * frames have all arrived, before it is verified: decoding is the client's
 * cost, not the kernel's. A message that does not verify or decode is an
 * error, never skipped: the kernel broke the protocol. Both record why
 * they failed in the caller's failure string (see bench_fail). */
#ifndef SANDCELL_BENCH_WIRE_H
#define SANDCELL_BENCH_WIRE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "signer.h"
#include "wire.h"

/* More frames than this in one message is an error. */
#define BENCH_WIRE_MAX_FRAMES 64

/* Signs a request of |msg_type| with a new header in |session| (sender
 * "bench") and sends it on |sock|. Does not take ownership of |signer|,
 * |sock| or |content|. Safe to call from several threads on different sockets. Writes the new msg_id into |msg_id| (HEADER_ID_LEN
 * + 1 bytes) unless it is NULL. Returns 0, or -1 with the reason ("out of
 * memory", "encoding TYPE: ...", "sending TYPE: ...") recorded in
 * |failure| (|failure_len| bytes) by bench_fail: unless it holds one. */
int bench_wire_send(signer_t *signer, const char *session, void *sock, const char *msg_type,
                    const json_t *content, char *msg_id, char *failure, size_t failure_len);

/* Receives one message from |sock| if one is waiting (the first frame
 * without blocking, the rest of it blocking) and decodes it into |out|,
 * which is zeroed first; the caller clears it with wire_msg_clear() after
 * a 1. *t_us is bench_now_us() when all its frames had arrived. Returns 1
 * with a message, 0 when none was waiting (EAGAIN, or EINTR, on the first
 * frame), -1 with the reason ("recv: ...", "a message of more than N
 * frames", "a message that does not verify or decode: ...") recorded in
 * |failure| as bench_wire_send does. */
int bench_wire_recv(signer_t *signer, void *sock, wire_msg_t *out, double *t_us, char *failure,
                    size_t failure_len);

#endif
