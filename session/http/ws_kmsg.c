/* ws_kmsg — receive and verify one kernel message for the WebSocket side. */
#include "ws_kmsg.h"

#include <stdbool.h>
#include <string.h>

static void s_close_frames(zmq_msg_t *frames, int n)
{
    for (int i = 0; i < n; i++)
        zmq_msg_close(&frames[i]);
}

int ws_kmsg_recv(void *sock, signer_t *signer, ws_kmsg_t *m)
{
    m->n = 0;
    m->n_buffers = 0;
    m->why = NULL;
    bool more = true;
    while (more && m->n < WIRE_IO_MAX_FRAMES) {
        zmq_msg_init(&m->frames[m->n]);
        if (zmq_msg_recv(&m->frames[m->n], sock, m->n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&m->frames[m->n]);
            s_close_frames(m->frames, m->n);
            if (m->n == 0)
                return 0;
            m->why = "receive failed";
            return -1;
        }
        more = zmq_msg_more(&m->frames[m->n++]);
    }
    if (more) { /* too many frames: drain the rest */
        s_close_frames(m->frames, m->n);
        while (more) {
            zmq_msg_t rest;
            zmq_msg_init(&rest);
            more = zmq_msg_recv(&rest, sock, 0) >= 0 && zmq_msg_more(&rest);
            zmq_msg_close(&rest);
        }
        m->why = "too many frames";
        return -1;
    }
    int d = 0;
    while (d < m->n && !(zmq_msg_size(&m->frames[d]) == WIRE_DELIMITER_LEN &&
                         memcmp(zmq_msg_data(&m->frames[d]), WIRE_DELIMITER,
                                WIRE_DELIMITER_LEN) == 0))
        d++;
    if (m->n - d < 6) {
        s_close_frames(m->frames, m->n);
        m->why = d == m->n ? "no delimiter" : "truncated";
        return -1;
    }
    wire_frame_t sig = {zmq_msg_data(&m->frames[d + 1]), zmq_msg_size(&m->frames[d + 1])};
    for (int i = 0; i < 4; i++)
        m->parts[i] = (wire_frame_t){zmq_msg_data(&m->frames[d + 2 + i]),
                                     zmq_msg_size(&m->frames[d + 2 + i])};
    proto_err_t err;
    if (signer_verify(signer, &sig, m->parts, &err) < 0) {
        s_close_frames(m->frames, m->n);
        m->why = proto_err_to_string(err);
        return -1;
    }
    for (int i = d + 6; i < m->n; i++)
        m->buffers[m->n_buffers++] =
            (wire_frame_t){zmq_msg_data(&m->frames[i]), zmq_msg_size(&m->frames[i])};
    json_t *h = json_loadb(m->parts[0].data, m->parts[0].size, 0, NULL);
    const char *type = json_string_value(json_object_get(h, "msg_type"));
    if (!type || strlen(type) >= sizeof m->msg_type) {
        json_decref(h);
        s_close_frames(m->frames, m->n);
        m->why = "bad header";
        return -1;
    }
    strcpy(m->msg_type, type);
    json_decref(h);
    return 1;
}

void ws_kmsg_close(ws_kmsg_t *m)
{
    s_close_frames(m->frames, m->n);
    m->n = 0;
}
