/* reactor — zmq_poll over a compact item array. Removal during dispatch
 * only marks an entry dead; the array is compacted between rounds, so the
 * indices the dispatch loop walks never shift under it. */
#include "reactor.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <zmq.h>

typedef struct {
    void *zsock;
    int fd;
    reactor_fn fn;
    void *arg;
    bool dead;
} handler_t;

struct reactor {
    handler_t *handlers;
    zmq_pollitem_t *items;
    size_t n, cap;
    bool dirty, stopping;
    reactor_fn before_sleep, tick;
    int tick_ms;
    void *hook_arg;
    long long next_tick;
};

long long reactor_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

reactor_t *reactor_new(void)
{
    return calloc(1, sizeof(reactor_t));
}

void reactor_destroy(reactor_t **self_p)
{
    reactor_t *self = *self_p;
    if (!self)
        return;
    free(self->handlers);
    free(self->items);
    free(self);
    *self_p = NULL;
}

int reactor_add(reactor_t *self, void *zsock, int fd, reactor_fn fn, void *arg)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? 2 * self->cap : 16;
        handler_t *h = realloc(self->handlers, cap * sizeof *h);
        if (!h)
            return -1;
        self->handlers = h;
        zmq_pollitem_t *items = realloc(self->items, cap * sizeof *items);
        if (!items)
            return -1;
        self->items = items;
        self->cap = cap;
    }
    self->handlers[self->n] = (handler_t){zsock, zsock ? -1 : fd, fn, arg, false};
    self->items[self->n] = (zmq_pollitem_t){zsock, zsock ? -1 : fd, ZMQ_POLLIN, 0};
    self->n++;
    return 0;
}

void reactor_remove(reactor_t *self, void *zsock, int fd)
{
    for (size_t i = 0; i < self->n; i++) {
        handler_t *h = &self->handlers[i];
        if (!h->dead && (zsock ? h->zsock == zsock : (!h->zsock && h->fd == fd))) {
            h->dead = true;
            self->items[i].socket = NULL;
            self->items[i].fd = -1; /* zmq_poll ignores negative fds */
            self->dirty = true;
        }
    }
}

void reactor_set_hooks(reactor_t *self, reactor_fn before_sleep, reactor_fn tick,
                       int tick_ms, void *arg)
{
    self->before_sleep = before_sleep;
    self->tick = tick;
    self->tick_ms = tick_ms;
    self->hook_arg = arg;
    self->next_tick = reactor_now_ms() + tick_ms;
}

static void s_compact(reactor_t *self)
{
    size_t k = 0;
    for (size_t i = 0; i < self->n; i++) {
        if (self->handlers[i].dead)
            continue;
        self->handlers[k] = self->handlers[i];
        self->items[k] = self->items[i];
        k++;
    }
    self->n = k;
    self->dirty = false;
}

int reactor_run(reactor_t *self)
{
    self->stopping = false;
    while (!self->stopping) {
        if (self->dirty)
            s_compact(self);
        long timeout = -1;
        if (self->tick) {
            long long left = self->next_tick - reactor_now_ms();
            timeout = left < 0 ? 0 : (long)left;
        }
        int rc = zmq_poll(self->items, (int)self->n, timeout);
        if (rc < 0 && errno != EINTR)
            return -1;
        size_t n = self->n; /* handlers added now wait for the next round */
        for (size_t i = 0; rc > 0 && i < n && !self->stopping; i++) {
            if (!(self->items[i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) || self->handlers[i].dead)
                continue;
            self->handlers[i].fn(self->handlers[i].arg);
        }
        if (self->tick && reactor_now_ms() >= self->next_tick) {
            self->next_tick = reactor_now_ms() + self->tick_ms;
            self->tick(self->hook_arg);
        }
        if (self->before_sleep)
            self->before_sleep(self->hook_arg);
    }
    return 0;
}

void reactor_stop(reactor_t *self)
{
    self->stopping = true;
}
