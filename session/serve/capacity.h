/* capacity — how many conversations the daemon's process can hold: ZeroMQ
 * sockets and open files, sized once at start and checked before every
 * start, so that running out is a refused start_request and never an abort
 * inside libzmq (which asserts when a socket or a bind cannot get a
 * descriptor). */
#ifndef SANDCELL_CAPACITY_H
#define SANDCELL_CAPACITY_H

#include <stdbool.h>
#include <stddef.h>

/* ZeroMQ sockets of one conversation: shell, iopub, stdin, control, hb. */
#define CAPACITY_SOCKETS_PER_CONVERSATION 5

/* Descriptors one conversation costs the daemon: per socket a mailbox
 * eventfd and a listening TCP socket (10), the interpreter's channel (1),
 * one accepted connection per socket for its client (5) and its journal
 * (1). */
#define CAPACITY_FDS_PER_CONVERSATION 17

typedef struct capacity capacity_t;

/* Sizes the process for |wanted| conversations and |pool| pooled
 * interpreters: raises RLIMIT_NOFILE's soft limit toward its hard limit
 * (no further than needed), sets ZeroMQ's socket limit
 * (zsys_set_max_sockets: call before the first ZeroMQ socket exists) and
 * holds a reserve of descriptors for the next start. capacity_max() then
 * says how many conversations fit, which may be fewer than |wanted| when the
 * hard limit is low. Caller owns the result; NULL when out of memory. */
capacity_t *capacity_new(long wanted, long pool);

/* Closes the reserve. Sets *self_p to NULL. */
void capacity_destroy(capacity_t **self_p);

/* How many conversations fit: min(wanted, what the open-file limit allows). */
long capacity_max(const capacity_t *self);

/* The soft RLIMIT_NOFILE in force after capacity_new. */
long capacity_nofile(const capacity_t *self);

/* Before a start with |active| conversations running: 0 and the reserve
 * released (so the start has descriptors to use), or -1 with the reason in
 * |why| when one more conversation does not fit — too many conversations,
 * or too few free descriptors to refill the reserve (clients holding many
 * connections, a low limit). Every 0 must be followed by capacity_end(). */
int capacity_begin(capacity_t *self, size_t active, char *why, size_t why_len);

/* After the start capacity_begin() allowed: refills the reserve. -1 with
 * the reason in |why| if it cannot: the start took the last descriptors
 * and must be undone, or the next one would abort. */
int capacity_end(capacity_t *self, char *why, size_t why_len);

#endif
