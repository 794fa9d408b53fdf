/* outbox — replies a ROUTER's clients have no room for, kept in order per
 * client until they do.
 *
 * The socket is ROUTER_MANDATORY, so a send to a client whose queue is
 * full fails (EAGAIN) instead of vanishing. The reply is then kept, and
 * every later reply to the same client (the first routing identity) is
 * kept behind it, so the order is that of the requests. outbox_flush
 * sends what is kept, oldest first, until a client's queue is full again;
 * the caller runs it whenever the socket is writable and on its tick.
 *
 * A client may keep at most OUTBOX_MAX_MESSAGES replies or
 * OUTBOX_MAX_BYTES bytes of them. Past that, what is kept for it is
 * discarded, and a single error reply (ename "RepliesDropped") answers the
 * first discarded request in place of its reply, naming the bound and how
 * many replies were lost; replies to later requests are kept behind it as
 * before. A client that is gone (EHOSTUNREACH) loses what is kept for it.
 * Each of these writes one log line per client per episode (from the
 * first kept reply until nothing is kept). */
#ifndef SANDCELL_OUTBOX_H
#define SANDCELL_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "signer.h"
#include "wire.h"

#define OUTBOX_MAX_MESSAGES 4096
#define OUTBOX_MAX_BYTES ((size_t)256 << 20)

typedef struct outbox outbox_t;

/* |sock| (a raw libzmq ROUTER_MANDATORY socket), |signer| and |session|
 * are borrowed and must outlive the outbox. Caller owns the result; NULL
 * on allocation failure. */
outbox_t *outbox_new(void *sock, const signer_t *signer, const char *session);
void outbox_destroy(outbox_t **self_p);

/* Sends one message to |ids| now, or keeps it behind what is kept for that
 * client. Takes ownership of |content| (NULL: nothing is sent, logged);
 * does not take ownership of |ids|, |parent| or |buffers|. */
void outbox_send(outbox_t *self, const wire_blob_t *ids, size_t n_ids, const char *msg_type,
                 const wire_blob_t *parent, json_t *content, const wire_frame_t *buffers,
                 size_t n_buffers);

/* Sends what is kept, in order, for every client until its queue is full. */
void outbox_flush(outbox_t *self);

/* Messages kept for every client together (an error reply counts as one). */
size_t outbox_pending(const outbox_t *self);

#endif
