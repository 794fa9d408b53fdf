/* channel — records of JSON over SOCK_SEQPACKET, chunked, with optional fd
 * passing. Both sides are trusted to be buggy, not honest: the reader
 * bounds every record and never trusts a length it did not count.
 *
 * The manager's side never waits for the interpreter: it queues records
 * (channel_queue) and writes whole datagrams with MSG_DONTWAIT as the
 * socket takes them; a SOCK_SEQPACKET send is all or nothing, so a record
 * resumes at a chunk boundary. Its reads are bounded per call, and a
 * datagram of no bytes (which the peer's user code can send on the
 * descriptor it holds) is not mistaken for the end of the stream. */
#include "channel.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* One record waiting in the outgoing queue. */
typedef struct out_record {
    struct out_record *next;
    size_t len, off;   /* payload bytes, and how many are written */
    bool started;      /* its first datagram is out (a record of 0 bytes has one) */
    char data[];
} out_record_t;

struct channel {
    int fd;
    char *buf;      /* record being assembled */
    size_t len, cap;
    bool skipping;  /* inside an oversized record */
    size_t max_record;
    int received_fd;
    out_record_t *out_head, *out_tail;
    size_t pending, max_pending;
};

channel_t *channel_new(int fd)
{
    channel_t *self = calloc(1, sizeof *self);
    if (!self) {
        close(fd);
        return NULL;
    }
    self->fd = fd;
    self->received_fd = -1;
    self->max_record = CHANNEL_MAX_RECORD;
    self->max_pending = CHANNEL_MAX_PENDING;
    return self;
}

void channel_destroy(channel_t **self_p)
{
    channel_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0)
        close(self->fd);
    if (self->received_fd >= 0)
        close(self->received_fd);
    free(self->buf);
    while (self->out_head) {
        out_record_t *r = self->out_head;
        self->out_head = r->next;
        free(r);
    }
    free(self);
    *self_p = NULL;
}

int channel_fd(const channel_t *self)
{
    return self->fd;
}

static int s_send_chunk(int fd, char marker, const char *data, size_t len, int pass_fd)
{
    struct iovec iov[2] = {{&marker, 1}, {(void *)data, len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    if (pass_fd >= 0) {
        memset(&control, 0, sizeof control);
        mh.msg_control = control.buf;
        mh.msg_controllen = sizeof control.buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
    }
    return sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int channel_send(channel_t *self, const char *data, size_t len, int pass_fd)
{
    if (self->out_head)
        return -EBUSY;
    size_t off = 0;
    do {
        size_t n = len - off > CHANNEL_CHUNK - 1 ? CHANNEL_CHUNK - 1 : len - off;
        char marker = off + n < len ? '+' : '.';
        int rc;
        /* Retry across signals: a half-sent record would desynchronise the
         * stream, and the signal is still seen by whoever handles it. */
        while ((rc = s_send_chunk(self->fd, marker, data + off, n,
                                  off == 0 ? pass_fd : -1)) == -EINTR)
            ;
        if (rc < 0)
            return rc;
        off += n;
    } while (off < len);
    return 0;
}

/* ----------------------------------------------------- the outgoing queue */

int channel_flush(channel_t *self)
{
    while (self->out_head) {
        out_record_t *r = self->out_head;
        while (!r->started || r->off < r->len) {
            size_t n = r->len - r->off > CHANNEL_CHUNK - 1 ? CHANNEL_CHUNK - 1 : r->len - r->off;
            char marker = r->off + n < r->len ? '+' : '.';
            struct iovec iov[2] = {{&marker, 1}, {r->data + r->off, n}};
            struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
            if (sendmsg(self->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
                if (errno == EINTR)
                    continue;
                return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
            }
            r->started = true;
            r->off += n;
            self->pending -= r->len ? n : 1;
        }
        self->out_head = r->next;
        if (!self->out_head)
            self->out_tail = NULL;
        free(r);
    }
    return 0;
}

int channel_queue(channel_t *self, const char *data, size_t len)
{
    size_t cost = len ? len : 1; /* a record of 0 bytes is still a datagram */
    if (cost > self->max_pending || self->pending > self->max_pending - cost)
        return -ENOBUFS;
    out_record_t *r = malloc(sizeof *r + (len ? len : 1));
    if (!r)
        return -ENOMEM;
    *r = (out_record_t){.len = len};
    memcpy(r->data, data, len);
    if (self->out_tail)
        self->out_tail->next = r;
    else
        self->out_head = r;
    self->out_tail = r;
    self->pending += cost;
    return channel_flush(self);
}

size_t channel_pending(const channel_t *self)
{
    return self->pending;
}

void channel_set_max_pending(channel_t *self, size_t max)
{
    self->max_pending = max;
}

/* ------------------------------------------------------------- receiving */

/* A read of 0 bytes: the end of the stream only if the peer has hung up
 * and nothing is left to read; otherwise a datagram of no bytes. */
static bool s_at_eof(int fd)
{
    struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) < 0)
        return false;
    if (!(p.revents & (POLLHUP | POLLRDHUP)))
        return false;
    int avail = 0;
    return ioctl(fd, FIONREAD, &avail) < 0 || avail == 0;
}

static int s_grow(channel_t *self, size_t need)
{
    if (need <= self->cap)
        return 0;
    size_t cap = self->cap ? self->cap : 4096;
    while (cap < need)
        cap *= 2;
    char *buf = realloc(self->buf, cap);
    if (!buf)
        return -ENOMEM;
    self->buf = buf;
    self->cap = cap;
    return 0;
}

static void s_keep_fd(channel_t *self, struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfds; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
            if (self->received_fd >= 0) /* only the latest record's fd counts */
                close(self->received_fd);
            self->received_fd = fd;
        }
    }
}

int channel_recv(channel_t *self, int nonblock, char **out, size_t *len)
{
    size_t datagrams = 0, bytes = 0;
    for (;;) {
        if (nonblock && (datagrams >= CHANNEL_RECV_DATAGRAMS || bytes >= CHANNEL_RECV_BYTES))
            return 0; /* the rest waits for the next call */
        datagrams++;
        if (self->len == 0 && !self->skipping && self->received_fd >= 0) {
            close(self->received_fd); /* nobody took it with its record */
            self->received_fd = -1;
        }
        int rc = s_grow(self, self->len + CHANNEL_CHUNK + 1);
        if (rc < 0)
            return rc;
        struct iovec iov = {self->buf + self->len, CHANNEL_CHUNK};
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int) * 4)];
        } control;
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
                            .msg_control = control.buf,
                            .msg_controllen = sizeof control.buf};
        ssize_t n = recvmsg(self->fd, &mh,
                            MSG_CMSG_CLOEXEC | MSG_TRUNC | (nonblock ? MSG_DONTWAIT : 0));
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -errno;
        }
        s_keep_fd(self, &mh);
        bytes += (size_t)n;
        if (n == 0) {
            if (s_at_eof(self->fd))
                return -ECONNRESET;
            continue; /* a datagram of no bytes carries nothing, not even a marker */
        }
        if ((size_t)n > CHANNEL_CHUNK) { /* not from channel_send: refuse it whole */
            self->skipping = self->buf[self->len] == '+';
            self->len = 0;
            if (self->skipping)
                continue;
            return -EMSGSIZE;
        }
        char marker = self->buf[self->len];
        size_t payload = (size_t)n - 1;
        memmove(self->buf + self->len, self->buf + self->len + 1, payload);
        if (!self->skipping)
            self->len += payload;
        if (self->len > self->max_record) {
            self->skipping = true;
            self->len = 0;
        }
        if (marker == '+')
            continue;
        if (self->skipping) {
            self->skipping = false;
            self->len = 0;
            return -EMSGSIZE;
        }
        char *rec = malloc(self->len + 1);
        if (!rec)
            return -ENOMEM;
        memcpy(rec, self->buf, self->len);
        rec[self->len] = '\0';
        *out = rec;
        *len = self->len;
        self->len = 0;
        if (self->cap > 4 * CHANNEL_CHUNK) { /* do not hold on to a big image's buffer */
            free(self->buf);
            self->buf = NULL;
            self->cap = 0;
        }
        return 1;
    }
}

void channel_set_max_record(channel_t *self, size_t max)
{
    self->max_record = max < CHANNEL_MAX_RECORD ? max : CHANNEL_MAX_RECORD;
}

int channel_take_fd(channel_t *self)
{
    int fd = self->received_fd;
    self->received_fd = -1;
    return fd;
}
