/* reactor — one epoll set over plain descriptors and the ZMQ_FD of every
 * ZeroMQ socket, so a wakeup costs what the sockets that signalled cost,
 * not what every socket of every conversation costs (zmq_poll walks them
 * all, twice, on each call).
 *
 * A ZeroMQ socket's ZMQ_FD is not "readable means a message waits": it
 * signals that the socket's command mailbox changed, and any libzmq call
 * on the socket (send, recv, getsockopt ZMQ_EVENTS) may consume that
 * signal. So a socket is watched edge-triggered and, whenever it may have
 * become readable without the fd saying so, put on the "check" list:
 *   - when its fd signals;
 *   - when it is added;
 *   - after its handler ran, if it is still readable (the handler reads
 *     a bounded batch and may leave messages behind);
 *   - when a message was sent on or received from it anywhere else
 *     (wire_io reports every socket it touches; reactor_touch).
 * Each socket on the list has its ZMQ_EVENTS read; the handler runs if it
 * is readable. The loop sleeps only with an empty list; a ZMQ_EVENTS that
 * reports "not readable" has drained the mailbox, so the next change
 * signals the fd again. Plain descriptors are level-triggered, as with
 * poll.
 *
 * Handlers are found by socket or fd through a small hash; a removed
 * handler is unlinked at once (its fd may be reused by the next add) but
 * freed only between rounds, because events already returned by epoll may
 * still point to it, and only once it is off the check list. */
#include "reactor.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"
#include "util.h"
#include "wire_io.h"

#define MAX_EVENTS 256

typedef struct handler {
    void *zsock;
    int fd;         /* the plain fd, or the socket's ZMQ_FD */
    reactor_fn fn;
    reactor_fn on_writable; /* plain fds only; NULL: not watched for writing */
    void *arg;
    bool dead;
    bool queued;    /* on the check list */
    struct handler *next_check;
    struct handler *next_dead;
} handler_t;

struct reactor {
    int epfd;
    handler_t **slots; /* open addressing by key; NULL = empty, s_tomb = deleted */
    size_t nslots, used; /* used counts live entries and tombstones */
    handler_t *check, *check_tail;
    handler_t *graveyard;
    bool stopping, failed;
    reactor_fn before_sleep, tick;
    int tick_ms;
    void *hook_arg;
    long long next_tick;
    long long wake_at; /* reactor_wake_in's deadline; -1: none */
    int stop_fd; /* reactor_stop_on_signal */
    const char *stop_what;
};

static handler_t s_tombstone;
#define s_tomb (&s_tombstone)

long long reactor_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ----------------------------------------------------------------- index */

/* Sockets are keyed by address (even), descriptors by 2 * fd + 1. */
static uintptr_t s_key(void *zsock, int fd)
{
    return zsock ? (uintptr_t)zsock : ((uintptr_t)(unsigned)fd << 1 | 1);
}

static uintptr_t s_handler_key(const handler_t *h)
{
    return s_key(h->zsock, h->fd);
}

static size_t s_hash(uintptr_t key, size_t nslots)
{
    uint64_t x = (uint64_t)key * 0x9e3779b97f4a7c15ull;
    return (size_t)(x >> 17) & (nslots - 1);
}

static handler_t **s_find(const reactor_t *self, uintptr_t key)
{
    if (!self->nslots)
        return NULL;
    for (size_t i = s_hash(key, self->nslots);; i = (i + 1) & (self->nslots - 1)) {
        handler_t *h = self->slots[i];
        if (!h)
            return NULL;
        if (h != s_tomb && s_handler_key(h) == key)
            return &self->slots[i];
    }
}

static void s_insert(handler_t **slots, size_t nslots, handler_t *h)
{
    size_t i = s_hash(s_handler_key(h), nslots);
    while (slots[i] && slots[i] != s_tomb)
        i = (i + 1) & (nslots - 1);
    slots[i] = h;
}

/* Makes room for one more entry (at most half the slots in use). */
static int s_reserve(reactor_t *self)
{
    if (2 * (self->used + 1) <= self->nslots)
        return 0;
    size_t live = 0;
    for (size_t i = 0; i < self->nslots; i++)
        live += self->slots[i] && self->slots[i] != s_tomb;
    size_t nslots = self->nslots ? self->nslots : 64;
    while (4 * (live + 1) > nslots) /* at most a quarter full after a rebuild */
        nslots *= 2;
    handler_t **slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < self->nslots; i++)
        if (self->slots[i] && self->slots[i] != s_tomb)
            s_insert(slots, nslots, self->slots[i]);
    free(self->slots);
    self->slots = slots;
    self->nslots = nslots;
    self->used = live;
    return 0;
}

/* ------------------------------------------------------------ check list */

static void s_queue(reactor_t *self, handler_t *h)
{
    if (h->queued || h->dead || !h->zsock)
        return;
    h->queued = true;
    LIST_APPEND(self->check, self->check_tail, h, next_check);
}

void reactor_touch(reactor_t *self, void *zsock)
{
    handler_t **slot = s_find(self, s_key(zsock, -1));
    if (slot)
        s_queue(self, *slot);
}

static void s_on_wire_io(void *arg, void *zsock)
{
    reactor_touch(arg, zsock);
}

/* ZMQ_EVENTS of |h|'s socket. A socket whose state cannot be read (its
 * context ended, it was closed while watched) stops the loop with an
 * error, as zmq_poll would. */
static int s_zsock_events(reactor_t *self, handler_t *h)
{
    int events = 0;
    size_t len = sizeof events;
    while (zmq_getsockopt(h->zsock, ZMQ_EVENTS, &events, &len) < 0) {
        if (errno != EINTR) {
            self->failed = true;
            self->stopping = true;
            return 0;
        }
    }
    return events;
}

/* Whether |h|'s socket has a message waiting. */
static bool s_zsock_readable(reactor_t *self, handler_t *h)
{
    return s_zsock_events(self, h) & ZMQ_POLLIN;
}

/* Checks the sockets queued before this call; sockets queued meanwhile
 * wait for the next round. */
static void s_run_checks(reactor_t *self)
{
    handler_t *h = self->check, *tail = self->check_tail;
    self->check = self->check_tail = NULL;
    while (h && !self->stopping) {
        handler_t *next = h->next_check;
        h->queued = false;
        /* Writing first, as for plain descriptors. Not queued again for
         * it: a socket still writable after its queue was tried waits for
         * its next signal (for a ROUTER, another peer may be what has room). */
        if (!h->dead && h->on_writable && (s_zsock_events(self, h) & ZMQ_POLLOUT))
            h->on_writable(h->arg);
        if (!h->dead && s_zsock_readable(self, h)) {
            h->fn(h->arg);
            /* It reads a bounded batch and may have left messages. When
             * not, this read of ZMQ_EVENTS drained the mailbox, and the
             * next message signals the fd again. */
            if (!h->dead && s_zsock_readable(self, h))
                s_queue(self, h);
        }
        h = next;
    }
    if (h) { /* stopped: what was not checked stays first in line */
        tail->next_check = self->check;
        if (!self->check)
            self->check_tail = tail;
        self->check = h;
    }
}

/* --------------------------------------------------------------- the API */

reactor_t *reactor_new(void)
{
    reactor_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (self->epfd < 0) {
        free(self);
        return NULL;
    }
    self->wake_at = -1;
    return self;
}

/* Frees removed handlers, except those still on the check list (it drops
 * them when it reaches them; they are freed at a later call). */
static void s_bury(reactor_t *self)
{
    handler_t **p = &self->graveyard;
    while (*p) {
        handler_t *h = *p;
        if (h->queued) {
            p = &h->next_dead;
            continue;
        }
        *p = h->next_dead;
        free(h);
    }
}

void reactor_destroy(reactor_t **self_p)
{
    reactor_t *self = *self_p;
    if (!self)
        return;
    wire_io_set_touch_hook(NULL, NULL);
    for (size_t i = 0; i < self->nslots; i++)
        if (self->slots[i] && self->slots[i] != s_tomb)
            free(self->slots[i]);
    while (self->graveyard) {
        handler_t *h = self->graveyard;
        self->graveyard = h->next_dead;
        free(h);
    }
    free(self->slots);
    close(self->epfd);
    free(self);
    *self_p = NULL;
}

static void s_on_stop_signal(void *arg)
{
    reactor_t *self = arg;
    struct signalfd_siginfo si;
    if (read(self->stop_fd, &si, sizeof si) == sizeof si)
        log_info("received signal %u; %s", si.ssi_signo, self->stop_what);
    reactor_stop(self);
}

int reactor_stop_on_signal(reactor_t *self, int sigfd, const char *what)
{
    if (sigfd < 0)
        return -1;
    self->stop_fd = sigfd;
    self->stop_what = what;
    return reactor_add(self, NULL, sigfd, s_on_stop_signal, self);
}

int reactor_add(reactor_t *self, void *zsock, int fd, reactor_fn fn, void *arg)
{
    if (zsock) {
        size_t len = sizeof fd;
        if (zmq_getsockopt(zsock, ZMQ_FD, &fd, &len) < 0)
            return -1;
    }
    if (s_reserve(self) < 0)
        return -1;
    handler_t *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    *h = (handler_t){.zsock = zsock, .fd = fd, .fn = fn, .arg = arg};
    struct epoll_event ev = {.events = zsock ? EPOLLIN | EPOLLET : EPOLLIN, .data.ptr = h};
    if (epoll_ctl(self->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        free(h);
        return -1;
    }
    s_insert(self->slots, self->nslots, h);
    self->used++;
    s_queue(self, h); /* messages may be waiting already */
    return 0;
}

int reactor_set_writable(reactor_t *self, void *zsock, int fd, reactor_fn on_writable)
{
    handler_t **slot = s_find(self, s_key(zsock, fd));
    if (!slot)
        return -1;
    handler_t *h = *slot;
    if (zsock) { /* its ZMQ_FD signals both ways: the check list sees to it */
        h->on_writable = on_writable;
        if (on_writable)
            s_queue(self, h);
        return 0;
    }
    if ((h->on_writable != NULL) == (on_writable != NULL)) {
        h->on_writable = on_writable;
        return 0;
    }
    struct epoll_event ev = {.events = EPOLLIN | (on_writable ? EPOLLOUT : 0), .data.ptr = h};
    if (epoll_ctl(self->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
        return -1;
    h->on_writable = on_writable;
    return 0;
}

void reactor_remove(reactor_t *self, void *zsock, int fd)
{
    handler_t **slot = s_find(self, s_key(zsock, fd));
    if (!slot)
        return;
    handler_t *h = *slot;
    *slot = s_tomb;
    h->dead = true;
    /* Fails harmlessly (EBADF, ENOENT) if the fd was closed first. */
    epoll_ctl(self->epfd, EPOLL_CTL_DEL, h->fd, NULL);
    h->next_dead = self->graveyard;
    self->graveyard = h;
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

int reactor_run(reactor_t *self)
{
    struct epoll_event events[MAX_EVENTS];
    self->stopping = self->failed = false;
    wire_io_set_touch_hook(s_on_wire_io, self);
    while (!self->stopping) {
        s_bury(self); /* no event of the last round points to them any more */
        int timeout = -1;
        if (self->check) {
            timeout = 0;
        } else if (self->tick) {
            long long left = self->next_tick - reactor_now_ms();
            timeout = left < 0 ? 0 : (int)left;
        }
        if (self->wake_at >= 0 && timeout != 0) {
            long long left = self->wake_at - reactor_now_ms();
            if (left < 0)
                left = 0;
            if (timeout < 0 || left < timeout)
                timeout = (int)left;
        }
        self->wake_at = -1;
        int n = epoll_wait(self->epfd, events, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            wire_io_set_touch_hook(NULL, NULL);
            return -1;
        }
        for (int i = 0; i < n && !self->stopping; i++) {
            handler_t *h = events[i].data.ptr;
            if (h->dead)
                continue;
            if (h->zsock) {
                s_queue(self, h);
                continue;
            }
            /* Writing first: a queue that drains may let the peer answer. */
            if ((events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && h->on_writable)
                h->on_writable(h->arg);
            if (!h->dead && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                h->fn(h->arg);
        }
        if (!self->stopping)
            s_run_checks(self);
        if (self->tick && reactor_now_ms() >= self->next_tick) {
            self->next_tick = reactor_now_ms() + self->tick_ms;
            self->tick(self->hook_arg);
        }
        if (self->before_sleep)
            self->before_sleep(self->hook_arg);
    }
    wire_io_set_touch_hook(NULL, NULL);
    return self->failed ? -1 : 0;
}

void reactor_wake_in(reactor_t *self, long long ms)
{
    long long at = reactor_now_ms() + (ms < 0 ? 0 : ms);
    if (self->wake_at < 0 || at < self->wake_at)
        self->wake_at = at;
}

void reactor_stop(reactor_t *self)
{
    self->stopping = true;
}
