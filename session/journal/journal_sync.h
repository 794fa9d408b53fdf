/* journal_sync — writes and fdatasync()s journal records off the event
 * loop, on a few threads, and reports each completion back to the loop.
 *
 * The loop thread owns every conversation's state; the threads see only
 * what a slot hands them: a descriptor and prepared buffers. A slot (one
 * journal file) is served by one thread at a time, in submission order,
 * and every buffer queued when a thread takes the slot is written and then
 * covered by one fdatasync() (group commit). When a slot's batch is done
 * the thread puts it on a list and wakes the loop through an eventfd; the
 * loop (journal_sync_dispatch) calls the slot's callback there. A slot
 * closed while buffers are still queued is kept until they are on disk,
 * then its descriptor is closed: the descriptor is never closed under a
 * thread. journal_sync_destroy drains every queue before it returns. */
#ifndef SANDCELL_JOURNAL_SYNC_H
#define SANDCELL_JOURNAL_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor.h"

typedef struct journal_sync journal_sync_t;
typedef struct journal_sync_slot journal_sync_slot_t;

/* Called on the loop thread, from journal_sync_dispatch, after buffers of
 * the slot were processed (journal_sync_state says how far). */
typedef void (*journal_sync_fn)(void *arg);

/* Starts |threads| threads (at least 1). Caller owns the result; NULL with
 * errno set on failure. Start it after the zygote is forked. */
journal_sync_t *journal_sync_new(int threads);

/* Drains every queue (every buffer submitted is written and synced), stops
 * the threads, closes the slots that were closed while busy, and frees.
 * Callbacks of slots still open are not called. Sets *self_p to NULL. */
void journal_sync_destroy(journal_sync_t **self_p);

/* The descriptor the loop watches: readable when completions wait for
 * journal_sync_dispatch. */
int journal_sync_fd(const journal_sync_t *self);

/* Calls the callback of every slot with new completions. Loop thread. */
void journal_sync_dispatch(journal_sync_t *self);

/* Watches the descriptor on |reactor|, dispatching when it is readable.
 * Returns 0, or -1 if the reactor cannot watch it. */
int journal_sync_watch(journal_sync_t *self, reactor_t *reactor);

/* A slot for the file |fd| (takes ownership of |fd|), whose completions
 * call |fn(arg)|. NULL on allocation failure (|fd| is then closed). */
journal_sync_slot_t *journal_sync_open(journal_sync_t *self, int fd, journal_sync_fn fn,
                                       void *arg);

/* Queues |buf| (takes ownership; malloc'd) of |len| bytes to be written
 * with one write() after everything queued before it. Returns the
 * buffer's sequence number (1, 2, ...), or 0 if the slot is broken (the
 * buffer is then freed). */
uint64_t journal_sync_submit(journal_sync_slot_t *slot, char *buf, size_t len);

/* How far the slot got: every buffer up to *done was processed; those up
 * to *good are on disk (the others failed: *err is the first error, as a
 * positive errno, and the slot is broken). Loop thread. */
void journal_sync_state(journal_sync_slot_t *slot, uint64_t *done, uint64_t *good, int *err);

/* Blocks until every buffer queued on the slot is processed. */
void journal_sync_wait(journal_sync_slot_t *slot);

/* Stops callbacks; the descriptor is closed and the slot freed once what is
 * queued is on disk (at once if nothing is). Sets *slot_p to NULL. */
void journal_sync_close(journal_sync_slot_t **slot_p);

#endif
