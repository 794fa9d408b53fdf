/* bench_wire — send and receive one Jupyter message for the benchmarks.
 *
 * The receive loop takes every frame of a message even past
 * BENCH_WIRE_MAX_FRAMES (closing the extra ones at once), so that an
 * oversized message never leaves its tail to be read as the next one. */
#include "bench_wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "bench_kernel.h"
#include "header.h"

/* header_new's id counter and date cache are per process: serve's
 * neighbour mode sends from two threads. */
static pthread_mutex_t s_header_lock = PTHREAD_MUTEX_INITIALIZER;

int bench_wire_send(signer_t *signer, const char *session, void *sock, const char *msg_type,
                    const json_t *content, char *msg_id, char *failure, size_t failure_len)
{
    pthread_mutex_lock(&s_header_lock);
    json_auto_t *header = header_new(msg_type, session, "bench");
    pthread_mutex_unlock(&s_header_lock);
    if (!header)
        return bench_fail(failure, failure_len, "out of memory");
    if (msg_id)
        snprintf(msg_id, HEADER_ID_LEN + 1, "%s", bench_str(header, "msg_id"));
    wire_outgoing_t out = {.header = header, .content = content};
    wire_frames_t frames;
    proto_err_t err;
    if (wire_encode(signer, &out, &frames, &err) < 0)
        return bench_fail(failure, failure_len, "encoding %s: %s", msg_type,
                          proto_err_to_string(err));
    int rc = 0;
    for (size_t i = 0; i < frames.n && rc == 0; i++)
        if (zmq_send(sock, frames.frames[i].data, frames.frames[i].size,
                     i + 1 < frames.n ? ZMQ_SNDMORE : 0) < 0)
            rc = bench_fail(failure, failure_len, "sending %s: %s", msg_type,
                            zmq_strerror(zmq_errno()));
    wire_frames_clear(&frames);
    return rc;
}

int bench_wire_recv(signer_t *signer, void *sock, wire_msg_t *out, double *t_us, char *failure,
                    size_t failure_len)
{
    zmq_msg_t parts[BENCH_WIRE_MAX_FRAMES];
    wire_frame_t views[BENCH_WIRE_MAX_FRAMES];
    size_t n = 0;
    bool more = true, overflow = false;
    int rc = 1;
    while (more) {
        zmq_msg_t spare, *m = n < BENCH_WIRE_MAX_FRAMES ? &parts[n] : &spare;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            int e = zmq_errno();
            zmq_msg_close(m);
            /* EINTR before the first frame: nothing was taken */
            if ((e == EAGAIN || e == EINTR) && n == 0)
                rc = 0;
            else
                rc = bench_fail(failure, failure_len, "recv: %s", zmq_strerror(e));
            break;
        }
        more = zmq_msg_more(m);
        if (m == &spare) {
            overflow = true;
            zmq_msg_close(m);
        } else {
            views[n] = (wire_frame_t){zmq_msg_data(m), zmq_msg_size(m)};
            n++;
        }
    }
    *t_us = bench_now_us();
    if (rc == 1 && overflow)
        rc = bench_fail(failure, failure_len, "a message of more than %d frames",
                        BENCH_WIRE_MAX_FRAMES);
    proto_err_t perr;
    memset(out, 0, sizeof *out);
    if (rc == 1 && wire_decode(signer, views, n, out, &perr) < 0)
        rc = bench_fail(failure, failure_len, "a message that does not verify or decode: %s",
                        proto_err_to_string(perr));
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
    return rc;
}
