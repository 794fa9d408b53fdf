/* journal_sync — the threads that write and sync journal records.
 *
 * One mutex guards every slot's queue and state. A slot with queued
 * buffers is on the ready list at most once and in service on at most one
 * thread, so one journal's buffers reach its file in submission order;
 * different journals are synced in parallel (the filesystem may merge
 * their commits). A thread takes every buffer a slot has queued, writes
 * them one write() each, then calls fdatasync() once. Nothing here logs:
 * the threads record the first error in the slot and the loop reports it. */
#include "journal_sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "metrics.h"
#include "util.h"

/* Stack of a sync thread: it calls write() and fdatasync() only. */
#define SYNC_THREAD_STACK (64 * 1024)
#define MAX_SYNC_THREADS 16

typedef struct item {
    struct item *next;
    char *buf;
    size_t len;
    uint64_t seq;
} item_t;

struct journal_sync_slot {
    journal_sync_t *sync;
    int fd;
    journal_sync_fn fn; /* NULL once closed */
    void *arg;
    /* guarded by sync->lock */
    item_t *head, *tail;
    uint64_t submitted;    /* sequence of the last buffer queued */
    uint64_t done, good;   /* processed, and on disk */
    int err;               /* first error, or 0 */
    bool in_service;       /* a thread holds its batch */
    bool on_ready, on_done;
    bool closed;           /* free it once idle */
    bool dispatching;      /* its callback is being called */
    journal_sync_slot_t *next_ready, *next_done;
};

struct journal_sync {
    pthread_mutex_t lock;
    pthread_cond_t work;  /* a slot became ready, or stopping */
    pthread_cond_t idle;  /* a slot's batch was processed */
    journal_sync_slot_t *ready_head, *ready_tail;
    journal_sync_slot_t *done_head; /* completions for the loop */
    bool stopping;
    int efd;
    int nthreads;
    pthread_t threads[MAX_SYNC_THREADS];
};

static bool s_idle(const journal_sync_slot_t *slot)
{
    return !slot->head && !slot->in_service;
}

static void s_make_ready(journal_sync_t *self, journal_sync_slot_t *slot)
{
    if (slot->on_ready || slot->in_service || !slot->head)
        return;
    slot->on_ready = true;
    LIST_APPEND(self->ready_head, self->ready_tail, slot, next_ready);
    pthread_cond_signal(&self->work);
}

/* Writes the batch |items| on |fd| and syncs once. Returns the sequence
 * of the last buffer on disk and sets *err on the first failure. Called
 * without the lock. */
static uint64_t s_write_batch(int fd, item_t *items, bool broken, uint64_t good, int *err)
{
    uint64_t last = good;
    for (item_t *it = items; it && !broken; it = it->next) {
        ssize_t w;
        do
            w = write(fd, it->buf, it->len);
        while (w < 0 && errno == EINTR);
        if (w < 0 || (size_t)w != it->len) {
            *err = w < 0 ? errno : ENOSPC;
            broken = true;
            break;
        }
        last = it->seq;
    }
    if (last == good)
        return last;
    double t0 = metrics_clock();
    if (fdatasync(fd) < 0) {
        if (!*err)
            *err = errno;
        return good;
    }
    metrics_observe(METRICS_FSYNC_SECONDS, metrics_clock() - t0);
    return last;
}

static void *s_thread(void *arg)
{
    journal_sync_t *self = arg;
    pthread_mutex_lock(&self->lock);
    for (;;) {
        journal_sync_slot_t *slot = self->ready_head;
        if (!slot) {
            if (self->stopping)
                break;
            pthread_cond_wait(&self->work, &self->lock);
            continue;
        }
        self->ready_head = slot->next_ready;
        if (!self->ready_head)
            self->ready_tail = NULL;
        slot->on_ready = false;
        slot->in_service = true;
        item_t *batch = slot->head;
        slot->head = slot->tail = NULL;
        bool broken = slot->err != 0;
        uint64_t good = slot->good;
        int fd = slot->fd;
        pthread_mutex_unlock(&self->lock);

        int err = 0;
        uint64_t now_good = s_write_batch(fd, batch, broken, good, &err);
        uint64_t last = 0;
        while (batch) {
            item_t *next = batch->next;
            last = batch->seq;
            free(batch->buf);
            free(batch);
            batch = next;
        }

        pthread_mutex_lock(&self->lock);
        slot->in_service = false;
        slot->good = now_good;
        slot->done = last;
        if (err && !slot->err)
            slot->err = err;
        if (!slot->on_done) {
            slot->on_done = true;
            slot->next_done = self->done_head;
            bool wake = !self->done_head;
            self->done_head = slot;
            if (wake) {
                uint64_t one = 1;
                ssize_t ignored = write(self->efd, &one, sizeof one);
                (void)ignored; /* a full counter still wakes the loop */
            }
        }
        s_make_ready(self, slot); /* more was queued meanwhile */
        pthread_cond_broadcast(&self->idle);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

journal_sync_t *journal_sync_new(int threads)
{
    journal_sync_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->efd < 0) {
        free(self);
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->work, NULL);
    pthread_cond_init(&self->idle, NULL);
    if (threads < 1)
        threads = 1;
    if (threads > MAX_SYNC_THREADS)
        threads = MAX_SYNC_THREADS;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, SYNC_THREAD_STACK);
    for (int i = 0; i < threads; i++) {
        int rc = pthread_create(&self->threads[i], &attr, s_thread, self);
        if (rc != 0) {
            pthread_attr_destroy(&attr);
            journal_sync_destroy(&self);
            errno = rc;
            return NULL;
        }
        self->nthreads++;
    }
    pthread_attr_destroy(&attr);
    return self;
}

static void s_slot_free(journal_sync_slot_t *slot)
{
    close(slot->fd);
    free(slot);
}

/* Completions taken from the list per round, without the lock. */
#define DISPATCH_BATCH 64

void journal_sync_dispatch(journal_sync_t *self)
{
    uint64_t count;
    ssize_t ignored = read(self->efd, &count, sizeof count); /* first: see s_thread */
    (void)ignored;
    for (;;) {
        journal_sync_slot_t *batch[DISPATCH_BATCH];
        size_t n = 0;
        pthread_mutex_lock(&self->lock);
        while (self->done_head && n < DISPATCH_BATCH) {
            journal_sync_slot_t *slot = self->done_head;
            self->done_head = slot->next_done;
            slot->on_done = false;
            slot->dispatching = true;
            batch[n++] = slot;
        }
        pthread_mutex_unlock(&self->lock);
        if (n == 0)
            return;
        /* A callback may close any slot of the batch (its own included):
         * a slot being dispatched is freed here, never by the close. */
        for (size_t i = 0; i < n; i++) {
            journal_sync_slot_t *slot = batch[i];
            if (!slot->closed && slot->fn)
                slot->fn(slot->arg);
            pthread_mutex_lock(&self->lock);
            slot->dispatching = false;
            bool free_it = slot->closed && s_idle(slot) && !slot->on_done;
            pthread_mutex_unlock(&self->lock);
            if (free_it)
                s_slot_free(slot);
        }
    }
}

void journal_sync_destroy(journal_sync_t **self_p)
{
    journal_sync_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    self->stopping = true;
    pthread_cond_broadcast(&self->work);
    pthread_mutex_unlock(&self->lock);
    for (int i = 0; i < self->nthreads; i++)
        pthread_join(self->threads[i], NULL);
    /* The threads drained the ready list before they stopped. */
    journal_sync_slot_t *list = self->done_head;
    self->done_head = NULL;
    while (list) {
        journal_sync_slot_t *next = list->next_done;
        list->on_done = false;
        if (list->closed)
            s_slot_free(list);
        list = next;
    }
    close(self->efd);
    pthread_cond_destroy(&self->work);
    pthread_cond_destroy(&self->idle);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

static void s_on_readable(void *arg)
{
    journal_sync_dispatch(arg);
}

int journal_sync_watch(journal_sync_t *self, reactor_t *reactor)
{
    return reactor_add(reactor, NULL, self->efd, s_on_readable, self);
}

int journal_sync_fd(const journal_sync_t *self)
{
    return self->efd;
}

journal_sync_slot_t *journal_sync_open(journal_sync_t *self, int fd, journal_sync_fn fn,
                                       void *arg)
{
    journal_sync_slot_t *slot = calloc(1, sizeof *slot);
    if (!slot) {
        close(fd);
        return NULL;
    }
    slot->sync = self;
    slot->fd = fd;
    slot->fn = fn;
    slot->arg = arg;
    return slot;
}

uint64_t journal_sync_submit(journal_sync_slot_t *slot, char *buf, size_t len)
{
    journal_sync_t *self = slot->sync;
    item_t *it = malloc(sizeof *it);
    pthread_mutex_lock(&self->lock);
    if (!it || slot->err) {
        pthread_mutex_unlock(&self->lock);
        free(it);
        free(buf);
        return 0;
    }
    *it = (item_t){NULL, buf, len, ++slot->submitted};
    LIST_APPEND(slot->head, slot->tail, it, next);
    s_make_ready(self, slot);
    uint64_t seq = it->seq;
    pthread_mutex_unlock(&self->lock);
    return seq;
}

void journal_sync_state(journal_sync_slot_t *slot, uint64_t *done, uint64_t *good, int *err)
{
    pthread_mutex_lock(&slot->sync->lock);
    *done = slot->done;
    *good = slot->good;
    *err = slot->err;
    pthread_mutex_unlock(&slot->sync->lock);
}

void journal_sync_wait(journal_sync_slot_t *slot)
{
    journal_sync_t *self = slot->sync;
    pthread_mutex_lock(&self->lock);
    while (!s_idle(slot))
        pthread_cond_wait(&self->idle, &self->lock);
    pthread_mutex_unlock(&self->lock);
}

void journal_sync_close(journal_sync_slot_t **slot_p)
{
    journal_sync_slot_t *slot = *slot_p;
    if (!slot)
        return;
    *slot_p = NULL;
    journal_sync_t *self = slot->sync;
    pthread_mutex_lock(&self->lock);
    slot->fn = NULL;
    slot->closed = true;
    bool now = s_idle(slot) && !slot->on_done && !slot->dispatching;
    pthread_mutex_unlock(&self->lock);
    if (now)
        s_slot_free(slot);
}
