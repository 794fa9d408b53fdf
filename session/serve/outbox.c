/* outbox — replies kept per client, in order, until its queue has room.
 *
 * A client's record exists only while something is kept for it: the
 * first reply that does not fit makes it, and it is freed once everything
 * kept has gone out (or the client is gone). Kept replies are encoded and
 * signed when they are kept, so a flush is only zmq_send calls. An error
 * reply that replaces discarded ones is encoded when it goes out, so its
 * count is that of every reply lost until then. Clients with kept
 * replies are few (each is one that does not read): they are a list. */
#include "outbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "util.h"
#include "wire_io.h"

/* A reply encoded and waiting for its client's queue to have room. */
typedef struct kept {
    struct kept *next;
    wire_frames_t frames; /* owned: identities, delimiter, ..., buffers */
    size_t bytes;
    char msg_type[64];
} kept_t;

typedef struct client {
    struct client *next;
    wire_blob_t *ids; /* owned copies of the routing identities */
    size_t n_ids;
    kept_t *head, *tail;
    size_t n, bytes;
    /* lost > 0: that many replies were discarded, from the request whose
     * header is |err_parent| on; an error of type |err_type| answers it
     * before the kept replies go out. */
    size_t lost;
    char err_type[64];
    wire_blob_t err_parent; /* owned */
    bool warned;            /* the discard was logged in this episode */
} client_t;

struct outbox {
    void *sock;
    const signer_t *signer;
    const char *session;
    client_t *clients;
    size_t pending;
    wire_blob_t last_gone; /* owned: the last client found gone with nothing kept */
};

static bool s_blob_copy(wire_blob_t *to, const void *data, size_t size)
{
    to->size = size;
    to->data = malloc(size ? size : 1);
    if (to->data && size)
        memcpy(to->data, data, size);
    return to->data != NULL;
}

static bool s_same_client(const wire_blob_t *a, const wire_blob_t *b)
{
    return a->size == b->size && memcmp(a->data, b->data, a->size) == 0;
}

/* The first routing identity, in hex, for a log line (|out|: 40 bytes). */
static void s_name(const wire_blob_t *id, char *out, size_t len)
{
    size_t k = 0;
    const unsigned char *p = id->data;
    for (size_t i = 0; i < id->size && k + 3 < len && i < 16; i++)
        k += (size_t)snprintf(out + k, len - k, "%02x", p[i]);
    out[k] = '\0';
}

static void s_kept_free(kept_t *k)
{
    wire_frames_clear(&k->frames);
    free(k);
}

static void s_discard_kept(outbox_t *self, client_t *c)
{
    while (c->head) {
        kept_t *k = c->head;
        c->head = k->next;
        s_kept_free(k);
    }
    c->tail = NULL;
    self->pending -= c->n;
    c->n = 0;
    c->bytes = 0;
}

/* Unlinks and frees |c| with what is kept for it. */
static void s_client_free(outbox_t *self, client_t *c)
{
    for (client_t **pp = &self->clients; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    s_discard_kept(self, c);
    if (c->lost)
        self->pending--;
    for (size_t i = 0; i < c->n_ids; i++)
        free(c->ids[i].data);
    free(c->ids);
    free(c->err_parent.data);
    free(c);
}

static client_t *s_find(outbox_t *self, const wire_blob_t *ids, size_t n_ids)
{
    if (!n_ids)
        return NULL;
    for (client_t *c = self->clients; c; c = c->next)
        if (s_same_client(&c->ids[0], &ids[0]))
            return c;
    return NULL;
}

static client_t *s_client_new(outbox_t *self, const wire_blob_t *ids, size_t n_ids)
{
    client_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ids = calloc(n_ids, sizeof *c->ids);
    bool ok = c->ids != NULL;
    for (size_t i = 0; ok && i < n_ids; i++, c->n_ids++)
        ok = s_blob_copy(&c->ids[i], ids[i].data, ids[i].size);
    if (!ok) {
        for (size_t i = 0; i < c->n_ids; i++)
            free(c->ids[i].data);
        free(c->ids);
        free(c);
        return NULL;
    }
    c->next = self->clients;
    self->clients = c;
    return c;
}

/* A send to |id| failed with |err| (not EAGAIN), and |count| replies with
 * it, the first of type |msg_type|: one log line per client gone. */
static void s_gone(outbox_t *self, const wire_blob_t *id, const char *msg_type, size_t count,
                   int err)
{
    if (err == EHOSTUNREACH && s_same_client(&self->last_gone, id))
        return;
    char name[40];
    s_name(id, name, sizeof name);
    if (err == EHOSTUNREACH) {
        free(self->last_gone.data);
        if (!s_blob_copy(&self->last_gone, id->data, id->size))
            self->last_gone = (wire_blob_t){0};
    }
    const char *why = err == EHOSTUNREACH ? "the client is gone" : zmq_strerror(err);
    if (count > 1)
        log_warn("dropped %zu replies kept for control client %s: %s", count, name, why);
    else
        log_warn("dropped %s for control client %s: %s", msg_type, name, why);
}

/* Replaces what is kept for |c|, and the reply of |msg_type| that did not
 * fit behind it, by the error that answers the first of them. */
static void s_discard(outbox_t *self, client_t *c, const char *msg_type, const wire_frames_t *f)
{
    if (!c->lost) {
        const wire_frames_t *first = c->head ? &c->head->frames : f;
        const wire_blob_t *parent = &first->frames[c->n_ids + 3];
        free(c->err_parent.data);
        if (!s_blob_copy(&c->err_parent, parent->data, parent->size))
            c->err_parent = (wire_blob_t){0}; /* sent with {} as its parent */
        snprintf(c->err_type, sizeof c->err_type, "%s",
                 c->head ? c->head->msg_type : msg_type);
        self->pending++;
    }
    c->lost += c->n + 1;
    if (!c->warned) {
        char name[40];
        s_name(&c->ids[0], name, sizeof name);
        log_warn("control client %s left more than %d replies (or %zu MiB) unread: "
                 "%zu discarded, it is told so in their place",
                 name, OUTBOX_MAX_MESSAGES, OUTBOX_MAX_BYTES >> 20, c->lost);
        c->warned = true;
    }
    s_discard_kept(self, c);
}

static void s_keep(outbox_t *self, client_t *c, const char *msg_type, wire_frames_t *f)
{
    size_t bytes = 0;
    for (size_t i = 0; i < f->n; i++)
        bytes += f->frames[i].size;
    if (c->n + 1 > OUTBOX_MAX_MESSAGES || c->bytes + bytes > OUTBOX_MAX_BYTES) {
        s_discard(self, c, msg_type, f);
        wire_frames_clear(f);
        return;
    }
    kept_t *k = calloc(1, sizeof *k);
    if (!k) {
        log_error("cannot keep %s for a control client: out of memory", msg_type);
        wire_frames_clear(f);
        return;
    }
    k->frames = *f;
    *f = (wire_frames_t){0};
    k->bytes = bytes;
    snprintf(k->msg_type, sizeof k->msg_type, "%s", msg_type);
    LIST_APPEND(c->head, c->tail, k, next);
    c->n++;
    c->bytes += bytes;
    self->pending++;
}

outbox_t *outbox_new(void *sock, const signer_t *signer, const char *session)
{
    outbox_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->sock = sock;
    self->signer = signer;
    self->session = session;
    return self;
}

void outbox_destroy(outbox_t **self_p)
{
    outbox_t *self = *self_p;
    if (!self)
        return;
    while (self->clients)
        s_client_free(self, self->clients);
    free(self->last_gone.data);
    free(self);
    *self_p = NULL;
}

void outbox_send(outbox_t *self, const wire_blob_t *ids, size_t n_ids, const char *msg_type,
                 const wire_blob_t *parent, json_t *content, const wire_frame_t *buffers,
                 size_t n_buffers)
{
    json_auto_t *owned = content;
    if (!content || !n_ids) {
        log_error("cannot send %s on the control endpoint: %s", msg_type,
                  content ? "no client to send it to" : "out of memory");
        return;
    }
    client_t *c = s_find(self, ids, n_ids);
    if (!c) {
        if (wire_io_send(self->sock, self->signer, self->session, ids, n_ids, msg_type, parent,
                         json_incref(content), buffers, n_buffers) == 0)
            return;
        if (errno != EAGAIN) {
            s_gone(self, &ids[0], msg_type, 1, errno);
            return;
        }
        c = s_client_new(self, ids, n_ids);
        if (!c) {
            log_error("cannot keep %s for a control client: out of memory", msg_type);
            return;
        }
        char name[40];
        s_name(&ids[0], name, sizeof name);
        log_debug("control client %s has no room: its replies are kept, in order", name);
    }
    wire_frames_t f;
    if (wire_io_encode(self->signer, self->session, c->ids, c->n_ids, msg_type, parent, content,
                       buffers, n_buffers, &f) < 0) {
        log_error("cannot keep %s for a control client: out of memory", msg_type);
        if (!c->n && !c->lost)
            s_client_free(self, c);
        return;
    }
    s_keep(self, c, msg_type, &f);
}

/* Sends the error that answers |c|'s discarded replies; 0 or -1 with errno. */
static int s_send_error(outbox_t *self, client_t *c)
{
    char evalue[400];
    snprintf(evalue, sizeof evalue,
             "%zu replies to this client were discarded, this request's and those of the "
             "%zu requests after it: it left more than %d replies (or %zu MiB) unread, the "
             "control endpoint's bound per client; replies to later requests follow in order",
             c->lost, c->lost - 1, OUTBOX_MAX_MESSAGES, OUTBOX_MAX_BYTES >> 20);
    json_t *content = json_pack("{s:s, s:s, s:s, s:[]}", "status", "error", "ename",
                                "RepliesDropped", "evalue", evalue, "traceback");
    if (!content) {
        errno = ENOMEM;
        return -1;
    }
    return wire_io_send(self->sock, self->signer, self->session, c->ids, c->n_ids, c->err_type,
                        c->err_parent.size ? &c->err_parent : NULL, content, NULL, 0);
}

/* Sends what is kept for |c| until its queue is full; false if it is gone. */
static bool s_flush_client(outbox_t *self, client_t *c)
{
    if (c->lost) {
        if (s_send_error(self, c) < 0)
            return errno == EAGAIN || errno == ENOMEM;
        c->lost = 0;
        self->pending--;
    }
    while (c->head) {
        kept_t *k = c->head;
        if (wire_io_send_frames(self->sock, &k->frames) < 0)
            return errno == EAGAIN;
        c->head = k->next;
        if (!c->head)
            c->tail = NULL;
        c->n--;
        c->bytes -= k->bytes;
        self->pending--;
        s_kept_free(k);
    }
    return true;
}

void outbox_flush(outbox_t *self)
{
    client_t *c = self->clients;
    while (c) {
        client_t *next = c->next;
        if (!s_flush_client(self, c)) {
            s_gone(self, &c->ids[0], c->lost ? c->err_type : c->head->msg_type,
                   c->n + (c->lost ? 1 : 0), errno);
            s_client_free(self, c);
        } else if (!c->head && !c->lost) {
            s_client_free(self, c); /* the episode is over */
        }
        c = next;
    }
}

size_t outbox_pending(const outbox_t *self)
{
    return self->pending;
}
