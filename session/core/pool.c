/* pool — a fixed array of slots, each holding one interpreter on its way to
 * ready or ready. A slot whose interpreter dies is refilled; a slot that
 * keeps failing is left empty after a few tries so a broken jail does not
 * spin the zygote.
 *
 * A taken slot is refilled REFILL_DELAY_MS later, one slot per pool_tick():
 * the fork and jail of the replacement (tens of milliseconds of CPU in the
 * zygote and the child) would otherwise run while the conversation that
 * took the interpreter connects and sends its first cell, and a burst of
 * starts would queue a burst of spawns. */
#include "pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MAX_FAILURES 3
#define REFILL_DELAY_MS 20

typedef struct pool_slot {
    pool_t *pool;
    worker_t *worker;
    long long refill_at_ms; /* when an emptied slot is filled again; 0: not due */
} slot_t;

struct pool {
    reactor_t *reactor;
    zygote_client_t *zygote;
    json_t *jail;
    slot_t *slots;
    int size;
    int failures;
};

static void s_on_worker(void *arg);

static void s_fill(pool_t *self, slot_t *slot)
{
    if (self->failures >= MAX_FAILURES)
        return;
    int err = 0;
    slot->worker = worker_spawn(self->zygote, self->jail, &err);
    if (!slot->worker) {
        log_error("the pool cannot start an interpreter: %s", strerror(-err));
        self->failures++;
        return;
    }
    if (reactor_add(self->reactor, NULL, channel_fd(slot->worker->chan), s_on_worker, slot) < 0)
        worker_destroy(&slot->worker);
}

static void s_empty(pool_t *self, slot_t *slot)
{
    if (slot->worker && slot->worker->chan)
        reactor_remove(self->reactor, NULL, channel_fd(slot->worker->chan));
    worker_destroy(&slot->worker);
}

/* A pooled interpreter spoke: its ready record, or its end. */
static void s_on_worker(void *arg)
{
    slot_t *slot = arg;
    pool_t *self = slot->pool;
    worker_t *w = slot->worker;
    char *text;
    size_t len;
    int rc;
    while (w && (rc = channel_recv(w->chan, 1, &text, &len)) != 0) {
        if (rc < 0 && rc != -EMSGSIZE) {
            log_warn("a pooled interpreter ended before it was used");
            self->failures++;
            s_empty(self, slot);
            s_fill(self, slot);
            return;
        }
        if (rc < 0)
            continue;
        json_t *rec = json_loadb(text, len, 0, NULL);
        free(text);
        const char *type = json_string_value(json_object_get(rec, "type"));
        json_t *content = json_object_get(rec, "content");
        if (type && strcmp(type, "ready") == 0 && worker_set_ready(w, rec)) {
            self->failures = 0;
        } else if (type && strcmp(type, "jail_failed") == 0) {
            log_error("a pooled interpreter could not be jailed: %s: %s",
                      json_string_value(json_object_get(content, "layer")),
                      json_string_value(json_object_get(content, "error")));
        }
        json_decref(rec);
    }
}

pool_t *pool_new(reactor_t *reactor, zygote_client_t *zygote, const json_t *jail, int size)
{
    pool_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->reactor = reactor;
    self->zygote = zygote;
    self->jail = json_deep_copy(jail);
    self->size = size;
    self->slots = calloc(size > 0 ? (size_t)size : 1, sizeof *self->slots);
    if (!self->jail || !self->slots) {
        pool_destroy(&self);
        return NULL;
    }
    for (int i = 0; i < size; i++) {
        self->slots[i].pool = self;
        s_fill(self, &self->slots[i]);
    }
    return self;
}

void pool_destroy(pool_t **self_p)
{
    pool_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; self->slots && i < self->size; i++)
        s_empty(self, &self->slots[i]);
    free(self->slots);
    json_decref(self->jail);
    free(self);
    *self_p = NULL;
}

worker_t *pool_take(pool_t *self)
{
    for (int i = 0; i < self->size; i++) {
        slot_t *slot = &self->slots[i];
        if (!slot->worker || slot->worker->state != WORKER_IDLE || slot->worker->pid <= 0)
            continue;
        reactor_remove(self->reactor, NULL, channel_fd(slot->worker->chan));
        worker_t *w = slot->worker;
        slot->worker = NULL;
        slot->refill_at_ms = reactor_now_ms() + REFILL_DELAY_MS;
        return w;
    }
    return NULL;
}

void pool_tick(pool_t *self, long long now_ms)
{
    for (int i = 0; i < self->size; i++) {
        slot_t *slot = &self->slots[i];
        if (slot->worker || !slot->refill_at_ms || now_ms < slot->refill_at_ms)
            continue;
        slot->refill_at_ms = 0;
        s_fill(self, slot);
        return;
    }
}

bool pool_zygote_event(pool_t *self, json_t *event)
{
    const char *type = json_string_value(json_object_get(event, "type"));
    json_int_t id = json_integer_value(json_object_get(event, "id"));
    json_int_t pid = json_integer_value(json_object_get(event, "pid"));
    for (int i = 0; type && i < self->size; i++) {
        slot_t *slot = &self->slots[i];
        worker_t *w = slot->worker;
        if (!w)
            continue;
        if (strcmp(type, "spawned") == 0 && id == w->spawn_id) {
            w->pid = (pid_t)pid;
            return true;
        }
        if ((strcmp(type, "spawn_failed") == 0 && id == w->spawn_id) ||
            (strcmp(type, "exited") == 0 && pid > 0 && pid == w->pid)) {
            w->exited = true;
            self->failures++;
            s_empty(self, slot);
            s_fill(self, slot);
            return true;
        }
    }
    return false;
}

int pool_size(const pool_t *self, int *ready)
{
    int n = 0;
    *ready = 0;
    for (int i = 0; i < self->size; i++) {
        if (!self->slots[i].worker)
            continue;
        n++;
        *ready += self->slots[i].worker->state == WORKER_IDLE;
    }
    return n;
}
