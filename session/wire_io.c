/* wire_io — receive with zmq_msg_t (no copy until decoding), send frame by
 * frame. A message with too many frames is drained and refused whole. */
#include "wire_io.h"

#include <stdbool.h>
#include <string.h>

#include "header.h"

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

wire_io_result_t wire_io_recv(void *sock, signer_t *signer, bool echo, wire_msg_t *out,
                              const char **reason)
{
    zmq_msg_t frames[WIRE_IO_MAX_FRAMES];
    int n = s_recv_frames(sock, frames);
    if (n == 0)
        return WIRE_IO_NONE;
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

int wire_io_send(void *sock, const signer_t *signer, const char *session, const wire_blob_t *ids,
                 size_t n_ids, const char *msg_type, const wire_blob_t *parent, json_t *content,
                 const wire_frame_t *buffers, size_t n_buffers)
{
    json_t *header = header_new(msg_type, session, "sandcell");
    wire_outgoing_t out = {
        .identities = ids,
        .n_identities = n_ids,
        .header = header,
        .parent = parent ? (wire_frame_t){parent->data, parent->size} : (wire_frame_t){0},
        .content = content,
        .buffers = buffers,
        .n_buffers = n_buffers,
    };
    wire_frames_t frames = {0};
    proto_err_t err;
    int rc = -1;
    if (header && content && wire_encode(signer, &out, &frames, &err) == 0) {
        rc = 0;
        for (size_t i = 0; i < frames.n; i++)
            if (zmq_send(sock, frames.frames[i].data, frames.frames[i].size,
                         i + 1 < frames.n ? ZMQ_SNDMORE : 0) < 0)
                rc = -1;
    }
    wire_frames_clear(&frames);
    json_decref(header);
    json_decref(content);
    return rc;
}
