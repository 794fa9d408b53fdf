/* wire_io — receive with zmq_msg_t (no copy until decoding), send frame by
 * frame straight from the encoder's views (the header's text is written
 * directly, small JSON texts live on the stack). A message with too many
 * frames is drained and refused whole. */
#include "wire_io.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"
#include "util.h"

static int s_recv_frames(void *sock, zmq_msg_t *frames)
{
    int n = 0;
    bool more = true;
    while (more && n < WIRE_IO_MAX_FRAMES) {
        zmq_msg_init(&frames[n]);
        if (zmq_msg_recv(&frames[n], sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&frames[n]);
            for (int i = 0; i < n; i++)
                zmq_msg_close(&frames[i]);
            return n == 0 ? 0 : -1;
        }
        more = zmq_msg_more(&frames[n++]);
    }
    if (!more)
        return n;
    for (int i = 0; i < n; i++)
        zmq_msg_close(&frames[i]);
    while (more) {
        zmq_msg_t rest;
        zmq_msg_init(&rest);
        more = zmq_msg_recv(&rest, sock, 0) >= 0 && zmq_msg_more(&rest);
        zmq_msg_close(&rest);
    }
    return -1;
}

static wire_io_touch_fn s_touch;
static void *s_touch_arg;

void wire_io_set_touch_hook(wire_io_touch_fn fn, void *arg)
{
    s_touch = fn;
    s_touch_arg = arg;
}

static void s_touched(void *sock)
{
    if (s_touch)
        s_touch(s_touch_arg, sock);
}

/* Encodes |out| into views of its own memory and sends them frame by frame:
 * nothing is copied before libzmq copies each frame into its message. */
static int s_send_encoded(void *sock, const signer_t *signer, const wire_outgoing_t *out)
{
    if (!out->header && !out->header_text.size)
        return -1;
    size_t n = wire_encoded_frames(out);
    wire_frame_t stack_views[WIRE_IO_MAX_FRAMES];
    _cleanup_free_ wire_frame_t *heap_views =
        n > WIRE_IO_MAX_FRAMES ? calloc(n, sizeof *heap_views) : NULL;
    wire_frame_t *views = n > WIRE_IO_MAX_FRAMES ? heap_views : stack_views;
    wire_scratch_t scratch;
    proto_err_t err;
    if (!views || wire_encode_views(signer, out, views, &scratch, &err) < 0)
        return -1;
    /* A full queue refuses the first frame (the routing identity or the
     * topic), so a message goes out whole or not at all. */
    int rc = 0, send_errno = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (zmq_send(sock, views[i].data, views[i].size,
                     ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0)) < 0) {
            rc = -1;
            send_errno = errno;
        }
    wire_scratch_clear(&scratch);
    s_touched(sock);
    errno = send_errno;
    return rc;
}

wire_io_result_t wire_io_recv(void *sock, signer_t *signer, bool echo, wire_msg_t *out,
                              const char **reason)
{
    zmq_msg_t frames[WIRE_IO_MAX_FRAMES];
    int n = s_recv_frames(sock, frames);
    if (n == 0)
        return WIRE_IO_NONE;
    s_touched(sock);
    if (n < 0) {
        *reason = "too many frames";
        return WIRE_IO_DROPPED;
    }
    if (echo) {
        for (int i = 0; i < n; i++)
            if (zmq_msg_send(&frames[i], sock, i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
                zmq_msg_close(&frames[i]);
        return WIRE_IO_ECHO;
    }
    wire_frame_t views[WIRE_IO_MAX_FRAMES];
    for (int i = 0; i < n; i++)
        views[i] = (wire_frame_t){zmq_msg_data(&frames[i]), zmq_msg_size(&frames[i])};
    proto_err_t err;
    int rc = wire_decode(signer, views, (size_t)n, out, &err);
    for (int i = 0; i < n; i++)
        zmq_msg_close(&frames[i]);
    if (rc < 0) {
        *reason = proto_err_to_string(err);
        return WIRE_IO_DROPPED;
    }
    return WIRE_IO_MESSAGE;
}

/* The message sandcell sends, into *out: its header written into |text|
 * when it fits, else built as JSON into *header (a new reference the
 * caller drops; NULL when written). Borrows everything else. Returns 0, or
 * -1 when no header could be made. */
static int s_message(wire_outgoing_t *out, char text[HEADER_TEXT_MAX], json_t **header,
                     const char *session, const wire_blob_t *ids, size_t n_ids,
                     const char *msg_type, const wire_blob_t *parent, const json_t *content,
                     const wire_frame_t *buffers, size_t n_buffers)
{
    int text_len = header_format(text, HEADER_TEXT_MAX, msg_type, session, "sandcell");
    *header = text_len < 0 ? header_new(msg_type, session, "sandcell") : NULL;
    *out = (wire_outgoing_t){
        .identities = ids,
        .n_identities = n_ids,
        .header = *header,
        .header_text = {text, text_len < 0 ? 0 : (size_t)text_len},
        .parent = parent ? (wire_frame_t){parent->data, parent->size} : (wire_frame_t){0},
        .content = content,
        .buffers = buffers,
        .n_buffers = n_buffers,
    };
    return text_len >= 0 || *header ? 0 : -1;
}

int wire_io_send(void *sock, const signer_t *signer, const char *session, const wire_blob_t *ids,
                 size_t n_ids, const char *msg_type, const wire_blob_t *parent, json_t *content,
                 const wire_frame_t *buffers, size_t n_buffers)
{
    if (!content)
        return -1;
    char header_text[HEADER_TEXT_MAX];
    json_t *header;
    wire_outgoing_t out;
    int rc = s_message(&out, header_text, &header, session, ids, n_ids, msg_type, parent,
                       content, buffers, n_buffers);
    if (rc == 0)
        rc = s_send_encoded(sock, signer, &out);
    json_decref(header);
    json_decref(content);
    return rc;
}

int wire_io_encode(const signer_t *signer, const char *session, const wire_blob_t *ids,
                   size_t n_ids, const char *msg_type, const wire_blob_t *parent,
                   const json_t *content, const wire_frame_t *buffers, size_t n_buffers,
                   wire_frames_t *out)
{
    out->frames = NULL;
    out->n = 0;
    if (!content)
        return -1;
    char header_text[HEADER_TEXT_MAX];
    json_auto_t *header = NULL;
    wire_outgoing_t msg;
    if (s_message(&msg, header_text, &header, session, ids, n_ids, msg_type, parent, content,
                  buffers, n_buffers) < 0)
        return -1;
    proto_err_t err;
    return wire_encode(signer, &msg, out, &err);
}

int wire_io_send_frames(void *sock, const wire_frames_t *frames)
{
    int rc = 0, send_errno = 0;
    for (size_t i = 0; i < frames->n && rc == 0; i++)
        if (zmq_send(sock, frames->frames[i].data, frames->frames[i].size,
                     ZMQ_DONTWAIT | (i + 1 < frames->n ? ZMQ_SNDMORE : 0)) < 0) {
            rc = -1;
            send_errno = errno;
        }
    s_touched(sock);
    errno = send_errno;
    return rc;
}
