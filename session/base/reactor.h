/* reactor — the manager's one event loop, over one epoll set.
 *
 * Handlers are registered for ZeroMQ sockets or plain descriptors. After
 * each round of events the before-sleep hook runs (safe point: tear down
 * what a handler marked finished); a periodic tick drives timeouts. A
 * handler may add or remove handlers, including itself. A wakeup costs in
 * proportion to the sockets that signalled, not to all that are watched.
 * While it runs, the reactor re-checks every socket wire_io sends on or
 * receives from (see wire_io_set_touch_hook). */
#ifndef SANDCELL_REACTOR_H
#define SANDCELL_REACTOR_H

#include <stdbool.h>

typedef struct reactor reactor_t;
typedef void (*reactor_fn)(void *arg);

/* Caller owns the result; NULL on allocation failure. */
reactor_t *reactor_new(void);
void reactor_destroy(reactor_t **self_p);

/* Calls |fn(arg)| whenever |zsock| (a raw libzmq socket handle) or |fd| is
 * readable. Pass NULL for one and the other for the other. Returns 0 or -1. */
int reactor_add(reactor_t *self, void *zsock, int fd, reactor_fn fn, void *arg);

/* Calls |on_writable(arg)| (the |arg| of the handler) whenever |zsock| or
 * the plain descriptor |fd|, already added, can be written; NULL stops it.
 * For a queue that waits for its peer: ask while it is not empty, stop
 * once it is. A ZeroMQ socket is writable when ZMQ_EVENTS says so (for a
 * ROUTER_MANDATORY socket: some peer has room), checked whenever the
 * socket signals. Returns 0 or -1 (not watched). */
int reactor_set_writable(reactor_t *self, void *zsock, int fd, reactor_fn on_writable);

/* Stops the loop when the signalfd |sigfd| reads a signal, logged as
 * "received signal N; |what|" (a static string). Returns 0, or -1 (also
 * when |sigfd| is -1: the signalfd could not be made). */
int reactor_stop_on_signal(reactor_t *self, int sigfd, const char *what);

/* Removes the handler for |zsock| or |fd|; safe inside a handler. */
void reactor_remove(reactor_t *self, void *zsock, int fd);

/* Re-checks |zsock| (a watched socket; others are ignored) before the
 * loop next sleeps. Call it after a send or receive on a watched socket
 * that did not go through wire_io. */
void reactor_touch(reactor_t *self, void *zsock);

/* Sets the hook run after every round of events, and the tick run every
 * |tick_ms| milliseconds. */
void reactor_set_hooks(reactor_t *self, reactor_fn before_sleep, reactor_fn tick,
                       int tick_ms, void *arg);

/* The loop's next sleep lasts at most |ms| milliseconds (0: it does not
 * sleep), once; the before-sleep hook calls it for a library with timers
 * of its own (the HTTP server's MHD_get_timeout). */
void reactor_wake_in(reactor_t *self, long long ms);

/* Runs until reactor_stop(); returns 0, or -1 if waiting failed. */
int reactor_run(reactor_t *self);
void reactor_stop(reactor_t *self);

/* Milliseconds on the monotonic clock. */
long long reactor_now_ms(void);

#endif
