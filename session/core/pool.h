/* pool — interpreters forked and jailed ahead of time, so that starting a
 * conversation hands one out instead of waiting for it.
 *
 * Every pooled interpreter has the daemon's default limits; a conversation
 * started with other limits gets a fresh one. The pool refills in the
 * background: a taken interpreter is replaced shortly after (pool_tick),
 * one at a time, so the replacement's start does not compete with the
 * first cell of the conversation that took it. */
#ifndef SANDCELL_POOL_H
#define SANDCELL_POOL_H

#include <jansson.h>
#include <stdbool.h>

#include "reactor.h"
#include "worker.h"
#include "zygote_client.h"

typedef struct pool pool_t;

/* A pool of |size| interpreters jailed with |jail| (borrowed; copied).
 * Does not take ownership of |reactor| or |zygote|. Caller owns the result. */
pool_t *pool_new(reactor_t *reactor, zygote_client_t *zygote, const json_t *jail, int size);

/* Kills every pooled interpreter. Sets *self_p to NULL. */
void pool_destroy(pool_t **self_p);

/* A ready interpreter, or NULL if none is ready yet. Caller owns it; its
 * channel is no longer watched by the pool. */
worker_t *pool_take(pool_t *self);

/* Refills at most one slot emptied by pool_take() whose delay has passed.
 * Call it on every turn of the event loop and on its periodic tick. */
void pool_tick(pool_t *self, long long now_ms);

/* Offers a zygote event (borrowed); true if it concerned the pool. */
bool pool_zygote_event(pool_t *self, json_t *event);

/* Number of pooled interpreters, and of those ready. */
int pool_size(const pool_t *self, int *ready);

#endif
