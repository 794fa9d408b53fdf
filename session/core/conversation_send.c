/* conversation_send — what a conversation sends its clients: replies,
 * iopub messages and status, in order. An execute_reply whose journal
 * record is still on its way to the disk is held, and every message after
 * it with it, until the record is synced (conversation_release); other
 * conversations go on meanwhile. A message a client's queue cannot take is
 * held the same way until the socket is writable again. */
#include "conversation_internal.h"

#include <czmq.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "msgtype.h"
#include "util.h"
#include "wire_io.h"

static void s_on_writable(void *arg);

/* Sends one message now, without waiting. Returns false when the client's
 * queue is full (a ROUTER's peer at its high-water mark): the caller
 * holds the message and tries again when the socket is writable. A
 * message for a client that is gone (EHOSTUNREACH) is dropped, logged.
 * Does not take ownership of |content|. */
static bool s_send_now(conversation_t *c, conn_channel_t ch, const wire_blob_t *ids,
                       size_t n_ids, const char *msg_type, const wire_blob_t *parent,
                       json_t *content)
{
    if (wire_io_send(c->sockets[ch], c->signer, c->session_id, ids, n_ids, msg_type, parent,
                     json_incref(content), NULL, 0) == 0)
        return true;
    if (errno == EAGAIN && ch != CONN_IOPUB) {
        if (!c->want_writable[ch] &&
            reactor_set_writable(c->reactor, c->sockets[ch], -1, s_on_writable) == 0)
            c->want_writable[ch] = true;
        return false;
    }
    log_warn("cannot send %s on %s: %s", msg_type, conversation_channel_names[ch],
             errno == EHOSTUNREACH ? "the client is gone" : zmq_strerror(errno));
    return true;
}

static bool s_blob_copy(wire_blob_t *to, const wire_blob_t *from)
{
    to->size = from->size;
    to->data = malloc(from->size ? from->size : 1);
    if (to->data && from->size)
        memcpy(to->data, from->data, from->size);
    return to->data != NULL;
}

void conversation_held_free(held_t *h)
{
    for (size_t i = 0; i < h->n_ids; i++)
        free(h->ids[i].data);
    free(h->ids);
    free(h->parent.data);
    json_decref(h->content);
    free(h->code);
    json_decref(h->result_text);
    free(h);
}

/* Queues a message behind the held ones; |seq|, if not 0, is the journal
 * record it waits for. Takes ownership of |content|. NULL (and the message
 * is lost, logged) on allocation failure. */
static held_t *s_hold(conversation_t *c, conn_channel_t ch, const wire_blob_t *ids,
                      size_t n_ids, const char *msg_type, const wire_blob_t *parent,
                      json_t *content, uint64_t seq)
{
    held_t *h = calloc(1, sizeof *h);
    bool ok = h && content && strlen(msg_type) < sizeof h->msg_type;
    if (ok) {
        h->channel = ch;
        h->content = content;
        h->seq = seq;
        snprintf(h->msg_type, sizeof h->msg_type, "%s", msg_type);
        h->ids = n_ids ? calloc(n_ids, sizeof *h->ids) : NULL;
        ok = !n_ids || h->ids;
        for (size_t i = 0; ok && i < n_ids; i++, h->n_ids++)
            ok = s_blob_copy(&h->ids[i], &ids[i]);
        h->has_parent = parent != NULL;
        if (ok && parent)
            ok = s_blob_copy(&h->parent, parent);
    }
    if (!ok) {
        log_error("cannot send %s: out of memory", msg_type);
        if (h)
            conversation_held_free(h);
        else
            json_decref(content);
        return NULL;
    }
    LIST_APPEND(c->held_head, c->held_tail, h, next);
    if (++c->n_held > CONVERSATION_MAX_HELD && !c->closed_why[0]) {
        /* Its client has stopped reading: ending it is the only way to
         * keep the daemon's memory bounded without a silent gap. */
        snprintf(c->closed_why, sizeof c->closed_why,
                 "its client did not read its replies (more than %d messages held for it)",
                 CONVERSATION_MAX_HELD);
        log_warn("a conversation %s; ending it", c->closed_why);
        char note[256];
        snprintf(note, sizeof note, "\n[sandcell] this conversation is ended: %s.\n",
                 c->closed_why);
        json_auto_t *note_content = json_pack("{s:s, s:s}", "name", "stderr", "text", note);
        wire_blob_t topic = {(void *)"stream", 6};
        if (note_content) /* past the held ones: they will not be read */
            s_send_now(c, CONN_IOPUB, &topic, 1, "stream", NULL, note_content);
        c->closed = true;
    }
    return h;
}

void conversation_send(conversation_t *c, conn_channel_t ch, const wire_blob_t *ids,
                       size_t n_ids, const char *msg_type, const wire_blob_t *parent, json_t *content)
{
    if (c->held_head || !s_send_now(c, ch, ids, n_ids, msg_type, parent, content))
        s_hold(c, ch, ids, n_ids, msg_type, parent, content, 0); /* keeps the order */
    else
        json_decref(content);
}

void conversation_release(conversation_t *c)
{
    while (c->held_head) {
        held_t *h = c->held_head;
        bool on_disk = false;
        if (h->seq && !journal_done(c->journal, h->seq, &on_disk))
            return;
        if (h->seq && on_disk && h->add_history)
            history_add(c->history, h->execution_count, h->code, h->result_text);
        h->seq = 0; /* its record is done; what is left is the client's queue */
        h->add_history = false;
        if (!s_send_now(c, h->channel, h->ids, h->n_ids, h->msg_type,
                        h->has_parent ? &h->parent : NULL, h->content) &&
            !c->closed)
            return; /* s_on_writable calls again; once closed, what does not fit is dropped */
        c->held_head = h->next;
        if (!c->held_head)
            c->held_tail = NULL;
        c->n_held--;
        conversation_held_free(h);
    }
    for (int ch = 0; ch < CONN_NCHANNELS; ch++)
        if (c->want_writable[ch]) {
            reactor_set_writable(c->reactor, c->sockets[ch], -1, NULL);
            c->want_writable[ch] = false;
        }
    if (!c->closed)
        conversation_pump(c);
}

void conversation_journal_synced(void *arg)
{
    conversation_release(arg);
}

/* A client's queue has room again. */
static void s_on_writable(void *arg)
{
    socket_ctx_t *ctx = arg;
    conversation_release(ctx->c);
}

void conversation_publish(conversation_t *c, const wire_blob_t *parent, const char *msg_type,
                          json_t *content)
{
    wire_blob_t topic = {(void *)msg_type, strlen(msg_type)};
    conversation_journal_output(c, parent, msg_type, content);
    conversation_send(c, CONN_IOPUB, &topic, 1, msg_type, parent, content);
}

void conversation_status(conversation_t *c, const wire_blob_t *parent, const char *state)
{
    conversation_publish(c, parent, "status", json_pack("{s:s}", "execution_state", state));
}

void conversation_reply(conversation_t *c, request_t *req, json_t *content)
{
    char reply_type[64];
    if (msgtype_reply_name(wire_msg_type(&req->msg), reply_type, sizeof reply_type) < 0) {
        json_decref(content);
        return; /* comm messages and the like have no reply */
    }
    conversation_begin(c, req);
    uint64_t seq = 0;
    if (strcmp(reply_type, "execute_reply") == 0)
        seq = conversation_journal_cell(c, req, content); /* on disk before the reply is out */
    if (!seq) {
        conversation_send(c, req->channel, req->msg.identities, req->msg.n_identities, reply_type,
               &req->msg.raw_header, content);
        return;
    }
    /* The record is on its way to the disk: the reply, and everything of
     * this conversation after it, waits for it (conversation_release). */
    held_t *h = s_hold(c, req->channel, req->msg.identities, req->msg.n_identities, reply_type,
                       &req->msg.raw_header, content, seq);
    if (h && req->store_history && req->code) {
        h->add_history = true;
        h->execution_count = req->execution_count;
        h->code = steal_pointer(&req->code);
        h->result_text = steal_pointer(&req->result_text);
    }
}

void conversation_reply_error(conversation_t *c, request_t *req, const char *ename,
                              const char *evalue)
{
    if (strcmp(wire_msg_type(&req->msg), "execute_request") != 0) {
        conversation_reply(c, req, json_pack("{s:s, s:s, s:s, s:[]}", "status", "error",
                                             "ename", ename, "evalue", evalue, "traceback"));
        return;
    }
    /* A refused cell shows its error where every cell's output goes. */
    conversation_begin(c, req);
    json_t *error = json_pack("{s:s, s:s, s:[s++]}", "ename", ename, "evalue", evalue,
                              "traceback", ename, ": ", evalue);
    conversation_publish(c, &req->msg.raw_header, "error", json_deep_copy(error));
    json_object_set_new(error, "status", json_string("error"));
    json_object_set_new(error, "execution_count", json_integer(c->execution_count));
    conversation_reply(c, req, error);
}
