/* channel — records of JSON over SOCK_SEQPACKET, chunked, with optional fd
 * passing. Both sides are trusted to be buggy, not honest: the reader
 * bounds every record and never trusts a length it did not count. */
#include "channel.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct channel {
    int fd;
    char *buf;      /* record being assembled */
    size_t len, cap;
    bool skipping;  /* inside an oversized record */
    size_t max_record;
    int received_fd;
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
    for (;;) {
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
        if (n == 0)
            return -ECONNRESET;
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
