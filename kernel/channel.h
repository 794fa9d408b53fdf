/* channel — framed JSON records over a SOCK_SEQPACKET socketpair.
 *
 * The manager and an interpreter (or the zygote) talk through one
 * socketpair. A record is one JSON text; it travels as one or more
 * datagrams of at most CHANNEL_CHUNK bytes, each starting with a marker
 * byte: '+' (more follows) or '.' (last). Chunking keeps large outputs
 * (PNG images) independent of the kernel's socket buffer sizes. A file
 * descriptor may ride along with a record (SCM_RIGHTS). */
#ifndef SANDCELL_CHANNEL_H
#define SANDCELL_CHANNEL_H

#include <stddef.h>
#include <sys/types.h>

#define CHANNEL_CHUNK 65536
/* A record longer than this is refused: the reader discards it. */
#define CHANNEL_MAX_RECORD ((size_t)64 << 20)
/* Bytes channel_queue holds unsent before it refuses more (see
 * channel_set_max_pending). */
#define CHANNEL_MAX_PENDING ((size_t)80 << 20)
/* What one non-blocking channel_recv reads at most before it returns 0
 * (what it read so far is kept): one flooding peer cannot hold a wakeup. */
#define CHANNEL_RECV_DATAGRAMS 256
#define CHANNEL_RECV_BYTES ((size_t)512 << 10)

typedef struct channel channel_t;

/* Wraps |fd|. Takes ownership of |fd| (closed by channel_destroy).
 * Returns NULL on allocation failure (|fd| is then closed). */
channel_t *channel_new(int fd);

/* Closes the fd, frees buffers and any fd received but not taken; sets
 * *self_p to NULL. */
void channel_destroy(channel_t **self_p);

int channel_fd(const channel_t *self);

/* Sends one record, blocking until every chunk is queued. If |pass_fd| >= 0
 * it is sent along (the caller keeps its own copy). Interrupted sends are
 * retried. Returns 0 or -errno. Not for a channel that has records queued
 * by channel_queue (-EBUSY): they would be overtaken. */
int channel_send(channel_t *self, const char *data, size_t len, int pass_fd);

/* The non-blocking way out, for the side that must never wait for the
 * other (the manager): channel_queue copies one record (|data| is
 * borrowed) behind those already queued and writes what the socket takes
 * at once; channel_flush writes more when the socket is writable again.
 * Returns 0, -ENOBUFS if the queue would then hold more than the bound
 * (nothing is queued: the peer has stopped reading), -ENOMEM, or the
 * write's -errno (-EPIPE or -ECONNRESET once the peer is gone). */
int channel_queue(channel_t *self, const char *data, size_t len);

/* Writes queued datagrams while the socket takes them, without blocking.
 * Returns 0 (channel_pending says whether any are left) or -errno. */
int channel_flush(channel_t *self);

/* Bytes queued and not yet written (a record of 0 bytes counts 1); 0 when
 * the queue is empty. */
size_t channel_pending(const channel_t *self);

/* Sets the bound channel_queue enforces (default CHANNEL_MAX_PENDING). */
void channel_set_max_pending(channel_t *self, size_t max);

/* Lowers the largest record this end accepts (default CHANNEL_MAX_RECORD). */
void channel_set_max_record(channel_t *self, size_t max);

/* Receives the next record. With |nonblock| set, returns 0 when no whole
 * record is available yet (a partial one is kept for the next call), and
 * also after CHANNEL_RECV_DATAGRAMS datagrams or CHANNEL_RECV_BYTES bytes
 * in this call: the rest waits for the next one. A datagram of no bytes
 * (the peer's marker is missing) is skipped; end of stream is a zero read
 * on a socket whose peer has hung up and that holds nothing more.
 * Returns 1 with *out (NUL-terminated, caller frees) and *len on a record;
 * -ECONNRESET at end of stream; -EMSGSIZE for an oversized record (it is
 * skipped); -EINTR if interrupted; other -errno on error. */
int channel_recv(channel_t *self, int nonblock, char **out, size_t *len);

/* Returns the descriptor that arrived with the last record, or -1.
 * Caller owns it. */
int channel_take_fd(channel_t *self);

#endif
