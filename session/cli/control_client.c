/* control_client — requests to `sandcell serve` over its control endpoint.
 *
 * The daemon's runtime file is not a full connection file (it names one
 * port), so it is read here rather than by connfile_load; the endpoint is
 * still spelt by connfile_endpoint, so "tcp" and "ipc" work alike. The
 * DEALER is made with ZMQ_IMMEDIATE: a request is not queued until the
 * connection exists, so "cannot connect" (nothing listens: a stale runtime
 * file) and "no answer" (the daemon is stuck) are told apart, both within
 * CONTROL_CLIENT_TIMEOUT_MS. Replies that do not answer the request in
 * flight (a late answer to an earlier one) are read and dropped. */
#include "control_client.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "connfile.h"
#include "util.h"
#include "wire_io.h"

/* How long to try connecting when the daemon's pid is not running. */
#define STALE_CONNECT_MS 1000

struct control_client {
    void *ctx;
    void *socket;
    signer_t *signer;
    char session[HEADER_ID_LEN + 1];
    char endpoint[300];
    char path[4096];
    long pid; /* the daemon's, from the runtime file; 0 if absent */
};

static long long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fills |conn| (but its key) from the runtime file's JSON (transport, ip,
 * control_port, signature_scheme), *key (borrowed from |obj|) and *pid.
 * Returns 0 or -1 with |why|. */
static int s_parse_runtime(const json_t *obj, connfile_t *conn, const char **key_out, long *pid,
                           char *why, size_t why_len)
{
    memset(conn, 0, sizeof *conn);
    const char *transport = json_string_value(json_object_get(obj, "transport"));
    const char *ip = json_string_value(json_object_get(obj, "ip"));
    const char *scheme = json_string_value(json_object_get(obj, "signature_scheme"));
    const char *key = json_string_value(json_object_get(obj, "key"));
    const json_t *port = json_object_get(obj, "control_port");
    if (!transport)
        transport = "tcp";
    if (strcmp(transport, "tcp") != 0 && strcmp(transport, "ipc") != 0) {
        snprintf(why, why_len, "transport must be \"tcp\" or \"ipc\"");
        return -1;
    }
    if (!ip || !ip[0] || strlen(ip) >= sizeof conn->ip) {
        snprintf(why, why_len, "ip missing or not a string");
        return -1;
    }
    if (!json_is_integer(port) || json_integer_value(port) <= 0 ||
        json_integer_value(port) > 65535) {
        snprintf(why, why_len, "control_port missing or out of range");
        return -1;
    }
    if (scheme && strcmp(scheme, "hmac-sha256") != 0) {
        snprintf(why, why_len, "signature_scheme must be \"hmac-sha256\"");
        return -1;
    }
    if (!key || !key[0]) {
        snprintf(why, why_len, "key missing or empty");
        return -1;
    }
    snprintf(conn->transport, sizeof conn->transport, "%s", transport);
    snprintf(conn->ip, sizeof conn->ip, "%s", ip);
    snprintf(conn->signature_scheme, sizeof conn->signature_scheme, "hmac-sha256");
    conn->ports[CONN_CONTROL] = (int)json_integer_value(port);
    *key_out = key;
    const json_t *p = json_object_get(obj, "pid");
    *pid = json_is_integer(p) && json_integer_value(p) > 0 ? (long)json_integer_value(p) : 0;
    return 0;
}

int control_client_open(const char *path, control_client_t **out, char *why, size_t why_len)
{
    *out = NULL;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(why, why_len, "%s: %s", path, strerror(e));
        return -e;
    }
    json_error_t jerr;
    json_auto_t *obj = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(obj)) {
        snprintf(why, why_len, "%s: not a runtime file: %s", path,
                 obj ? "not a JSON object" : jerr.text);
        return -EINVAL;
    }
    connfile_t conn;
    const char *key = NULL;
    char reason[128];
    long pid = 0;
    if (s_parse_runtime(obj, &conn, &key, &pid, reason, sizeof reason) < 0) {
        snprintf(why, why_len, "%s: not a runtime file: %s", path, reason);
        return -EINVAL;
    }
    control_client_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(why, why_len, "out of memory");
        return -ENOMEM;
    }
    self->pid = pid;
    snprintf(self->path, sizeof self->path, "%s", path);
    header_new_id(self->session);
    if (connfile_endpoint(&conn, CONN_CONTROL, self->endpoint, sizeof self->endpoint) < 0) {
        snprintf(why, why_len, "%s: the control endpoint is too long", path);
        control_client_destroy(&self);
        return -EINVAL;
    }
    self->signer = signer_new(key, strlen(key));
    self->ctx = zmq_ctx_new();
    self->socket = self->ctx ? zmq_socket(self->ctx, ZMQ_DEALER) : NULL;
    if (!self->signer || !self->socket) {
        snprintf(why, why_len, "cannot set up a ZeroMQ socket: %s", zmq_strerror(errno));
        control_client_destroy(&self);
        return -ENOMEM;
    }
    int zero = 0, one = 1;
    zmq_setsockopt(self->socket, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(self->socket, ZMQ_IMMEDIATE, &one, sizeof one);
    if (zmq_connect(self->socket, self->endpoint) < 0) {
        int e = errno;
        snprintf(why, why_len, "cannot connect to %s: %s", self->endpoint, zmq_strerror(e));
        control_client_destroy(&self);
        return -EINVAL;
    }
    *out = self;
    return 0;
}

void control_client_destroy(control_client_t **self_p)
{
    control_client_t *self = *self_p;
    if (!self)
        return;
    if (self->socket)
        zmq_close(self->socket);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    signer_destroy(&self->signer);
    free(self);
    *self_p = NULL;
}

void *control_client_context(control_client_t *self)
{
    return self->ctx;
}

const char *control_client_parent_id(const wire_msg_t *msg)
{
    const char *id = json_string_value(json_object_get(msg->parent, "msg_id"));
    return id ? id : "";
}

int control_client_send(void *socket, const signer_t *signer, const char *session,
                        const char *msg_type, const json_t *content, const wire_frame_t *buffers,
                        size_t n_buffers, char *msg_id)
{
    const char *user = getenv("USER");
    json_auto_t *header = header_new(msg_type, session, user && user[0] ? user : "sandcell");
    if (!header) {
        errno = ENOMEM;
        return -1;
    }
    wire_outgoing_t msg = {
        .header = header,
        .content = content,
        .buffers = buffers,
        .n_buffers = n_buffers,
    };
    wire_frames_t frames = {0};
    proto_err_t err;
    if (wire_encode(signer, &msg, &frames, &err) < 0) {
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < frames.n && rc == 0; i++)
        if (zmq_send(socket, frames.frames[i].data, frames.frames[i].size,
                     i + 1 < frames.n ? ZMQ_SNDMORE : 0) < 0)
            rc = -1;
    int saved = errno;
    wire_frames_clear(&frames);
    if (rc == 0 && msg_id)
        snprintf(msg_id, HEADER_ID_LEN + 1, "%s",
                 json_string_value(json_object_get(header, "msg_id")));
    errno = saved;
    return rc;
}

bool control_client_daemon_gone(const control_client_t *self)
{
    return self->pid > 0 && kill((pid_t)self->pid, 0) < 0 && errno == ESRCH;
}

/* Appends why the daemon may not be answering to |why|. */
static void s_hint(const control_client_t *self, char *why, size_t why_len)
{
    size_t len = strlen(why);
    if (control_client_daemon_gone(self))
        snprintf(why + len, why_len - len,
                 " (process %ld, named in %s, is not running: remove that stale file or "
                 "start `sandcell serve` again)",
                 self->pid, self->path);
    else
        snprintf(why + len, why_len - len, " (is `sandcell serve` running? runtime file %s)",
                 self->path);
}

/* Waits until |events| are possible on the socket or |deadline| passes.
 * Returns 1, or 0 on timeout. */
static int s_wait(void *socket, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - s_now_ms();
        if (left <= 0)
            return 0;
        zmq_pollitem_t item = {.socket = socket, .events = events};
        int rc = zmq_poll(&item, 1, (long)left);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return 0;
    }
}

int control_client_call(control_client_t *self, const char *msg_type, const json_t *content,
                        const wire_frame_t *buffers, size_t n_buffers, wire_msg_t *reply, char *why,
                        size_t why_len)
{
    memset(reply, 0, sizeof *reply);
    long long deadline = s_now_ms() + CONTROL_CLIENT_TIMEOUT_MS;
    /* A stale runtime file (its daemon is gone) need not cost ten seconds:
     * a local connection is made in milliseconds or refused. */
    if (!s_wait(self->socket, ZMQ_POLLOUT,
                control_client_daemon_gone(self) ? s_now_ms() + STALE_CONNECT_MS : deadline)) {
        snprintf(why, why_len, "cannot reach the daemon at %s", self->endpoint);
        s_hint(self, why, why_len);
        return -1;
    }
    char msg_id[HEADER_ID_LEN + 1];
    if (control_client_send(self->socket, self->signer, self->session, msg_type, content, buffers,
                            n_buffers, msg_id) < 0) {
        snprintf(why, why_len, "cannot send %s: %s", msg_type, zmq_strerror(errno));
        return -1;
    }
    while (s_wait(self->socket, ZMQ_POLLIN, deadline)) {
        const char *reason = NULL;
        wire_io_result_t rc;
        while ((rc = wire_io_recv(self->socket, self->signer, false, reply, &reason)) !=
               WIRE_IO_NONE) {
            if (rc == WIRE_IO_DROPPED) {
                snprintf(why, why_len,
                         "the daemon's reply was refused (%s): is it signed with another key "
                         "than the one in %s?",
                         reason, self->path);
                return -1;
            }
            if (rc != WIRE_IO_MESSAGE)
                continue;
            if (strcmp(control_client_parent_id(reply), msg_id) == 0)
                return 0;
            wire_msg_clear(reply);
        }
    }
    snprintf(why, why_len, "no answer from the daemon at %s within %d s", self->endpoint,
             CONTROL_CLIENT_TIMEOUT_MS / 1000);
    s_hint(self, why, why_len);
    return -1;
}
