/* restore_loader — reads the journals of restores off the daemon's event
 * loop.
 *
 * A restore reads a whole journal chain (up to JOURNAL_READ_MAX_BYTES a
 * journal) and parses it: a second or more for a big one. One thread does
 * that work for the daemon, one restore after another, so the loop keeps
 * answering every other request meanwhile; it reports each finished read
 * through an eventfd the reactor watches. At most RESTORE_LOADER_QUEUE
 * restores wait or run at once; one more is refused (restore_loader_start
 * fails) rather than queued without bound. */
#ifndef SANDCELL_RESTORE_LOADER_H
#define SANDCELL_RESTORE_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "restore.h"

#define RESTORE_LOADER_QUEUE 32

typedef struct restore_loader restore_loader_t;

/* A loader for journals of |journal_dir| (copied; restore_new's rule).
 * Caller owns the result; NULL if the eventfd cannot be made. The thread
 * starts with the first restore. */
restore_loader_t *restore_loader_new(const char *journal_dir);

/* Stops the thread once the restore it reads is read, and frees every
 * result not taken; |drop| (may be NULL) is called with the tag of each
 * restore that was queued and never taken. Sets *self_p to NULL. */
void restore_loader_destroy(restore_loader_t **self_p, void (*drop)(void *tag));

/* The descriptor that is readable when a restore has finished. */
int restore_loader_fd(const restore_loader_t *self);

/* Queues the restore of |given| (copied), to be returned with |tag|.
 * Returns 0, or -1 with a reason in |why| (the queue is full, or the
 * thread cannot start). */
int restore_loader_start(restore_loader_t *self, const char *given, void *tag, char *why,
                         size_t why_len);

/* As restore_loader_start, for a journal sent as bytes (restore_new_bytes):
 * |data| is borrowed and must stay valid until the restore is taken (or
 * dropped by restore_loader_destroy). */
int restore_loader_start_bytes(restore_loader_t *self, const char *name, const void *data,
                               size_t len, void *tag, char *why, size_t why_len);

/* Takes one finished restore: true with its *tag and *restore (caller owns
 * it), or *restore NULL and the reason in |why|; false when none is
 * finished. */
bool restore_loader_take(restore_loader_t *self, void **tag, restore_t **restore, char *why,
                         size_t why_len);

#endif
