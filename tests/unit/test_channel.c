/* test_channel — records over a real SOCK_SEQPACKET socketpair.
 *
 * Records bigger than the socket buffer are written by a second thread
 * while the main thread reads. The test counts its open descriptors at the
 * start and at the end: a received fd that nobody took must be closed by
 * channel_destroy. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "tap.h"

typedef struct {
    const char *data;
    size_t len;
    int fd;
} record_t;

typedef struct {
    channel_t *ch;
    const record_t *records;
    size_t n;
    int rc;
    pthread_t thread;
} writer_t;

static void *s_writer_main(void *arg)
{
    writer_t *w = arg;
    w->rc = 0;
    for (size_t i = 0; i < w->n && w->rc == 0; i++)
        w->rc = channel_send(w->ch, w->records[i].data, w->records[i].len, w->records[i].fd);
    return NULL;
}

static void s_writer_start(writer_t *w, channel_t *ch, const record_t *records, size_t n)
{
    *w = (writer_t){.ch = ch, .records = records, .n = n};
    if (pthread_create(&w->thread, NULL, s_writer_main, w) != 0)
        TAP_BAIL("pthread_create failed");
}

static int s_writer_join(writer_t *w)
{
    pthread_join(w->thread, NULL);
    return w->rc;
}

static void s_pair(channel_t **a, channel_t **b)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        TAP_BAIL("socketpair: %s", strerror(errno));
    *a = channel_new(sv[0]);
    *b = channel_new(sv[1]);
    if (!*a || !*b)
        TAP_BAIL("channel_new failed");
}

static int s_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own fd */
}

/* A deterministic pattern, so a misplaced chunk shows. */
static char *s_pattern(size_t len, unsigned seed)
{
    char *p = malloc(len ? len : 1);
    if (!p)
        TAP_BAIL("out of memory");
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (char)(x >> 16);
    }
    return p;
}

/* Receives one record and checks it equals |data|/|len|. */
static bool s_expect_record(channel_t *ch, const char *data, size_t len)
{
    char *out = NULL;
    size_t got = 0;
    int rc = channel_recv(ch, 0, &out, &got);
    bool ok = CHECK_INT(rc, 1);
    if (rc == 1) {
        ok &= CHECK_INT(got, len);
        ok &= CHECK(got == len && memcmp(out, data, len) == 0);
        ok &= CHECK(out[got] == '\0');
        if (got == len && memcmp(out, data, len) != 0) {
            size_t i = 0;
            while (out[i] == data[i])
                i++;
            tap_diag("    first difference at byte %zu of %zu", i, len);
        }
    }
    free(out);
    return ok;
}

static void test_small(void)
{
    channel_t *a, *b;
    s_pair(&a, &b);
    CHECK(channel_fd(a) >= 0 && channel_fd(b) >= 0 && channel_fd(a) != channel_fd(b));
    const char *rec = "{\"op\":\"execute\",\"code\":\"1+1\"}";
    CHECK_INT(channel_send(a, rec, strlen(rec), -1), 0);
    s_expect_record(b, rec, strlen(rec));
    tap_case("a small record arrives whole and NUL-terminated");

    CHECK_INT(channel_send(b, "reply", 5, -1), 0);
    s_expect_record(a, "reply", 5);
    tap_case("the pair works in both directions");

    CHECK_INT(channel_send(a, "", 0, -1), 0);
    s_expect_record(b, "", 0);
    CHECK_INT(channel_send(a, "a\0b", 3, -1), 0);
    s_expect_record(b, "a\0b", 3);
    tap_case("an empty record and one with a NUL byte arrive intact");

    for (int i = 0; i < 5; i++) {
        char rec_i[16];
        snprintf(rec_i, sizeof rec_i, "{\"n\":%d}", i);
        CHECK_INT(channel_send(a, rec_i, strlen(rec_i), -1), 0);
    }
    for (int i = 0; i < 5; i++) {
        char rec_i[16];
        snprintf(rec_i, sizeof rec_i, "{\"n\":%d}", i);
        s_expect_record(b, rec_i, strlen(rec_i));
    }
    tap_case("queued records arrive in order, one per recv");

    char *out = (char *)"untouched";
    size_t len = 12345;
    CHECK_INT(channel_recv(b, 1, &out, &len), 0);
    CHECK_STR(out, "untouched");
    CHECK_INT(len, 12345);
    tap_case("nonblocking recv on an empty channel returns 0");
    channel_destroy(&a);
    channel_destroy(&b);
    CHECK(a == NULL && b == NULL);
    channel_destroy(&a);
    tap_case("channel_destroy sets the pointer to NULL; again is a no-op");
}

static void test_chunk_boundaries(void)
{
    channel_t *a, *b;
    s_pair(&a, &b);
    const size_t sizes[] = {CHANNEL_CHUNK - 2, CHANNEL_CHUNK - 1, CHANNEL_CHUNK,
                            CHANNEL_CHUNK + 1, 2 * (CHANNEL_CHUNK - 1),
                            2 * (CHANNEL_CHUNK - 1) + 1, 3 * CHANNEL_CHUNK};
    enum { N = sizeof sizes / sizeof *sizes };
    record_t recs[N];
    for (size_t i = 0; i < N; i++)
        recs[i] = (record_t){s_pattern(sizes[i], (unsigned)i), sizes[i], -1};
    writer_t w;
    s_writer_start(&w, a, recs, N);
    for (size_t i = 0; i < N; i++)
        if (!s_expect_record(b, recs[i].data, recs[i].len))
            tap_diag("    record of %zu bytes", recs[i].len);
    CHECK_INT(s_writer_join(&w), 0);
    for (size_t i = 0; i < N; i++)
        free((char *)recs[i].data);
    channel_destroy(&a);
    channel_destroy(&b);
    tap_case("records around the chunk size (%d) arrive intact", CHANNEL_CHUNK);
}

static void test_large(void)
{
    channel_t *a, *b;
    s_pair(&a, &b);
    const size_t len = (size_t)5 << 20;
    record_t recs[2] = {{s_pattern(len, 5), len, -1}, {"{\"after\":true}", 14, -1}};
    writer_t w;
    s_writer_start(&w, a, recs, 2);
    s_expect_record(b, recs[0].data, len);
    s_expect_record(b, recs[1].data, recs[1].len);
    CHECK_INT(s_writer_join(&w), 0);
    tap_case("a 5 MiB record is chunked and arrives intact, then the next one");

    /* The same record read without blocking: partial records are kept
     * across calls until the last chunk arrives. */
    s_writer_start(&w, a, recs, 1);
    char *out = NULL;
    size_t got = 0;
    int rc, zeros = 0;
    while ((rc = channel_recv(b, 1, &out, &got)) == 0) {
        struct pollfd p = {channel_fd(b), POLLIN, 0};
        poll(&p, 1, 5000);
        zeros++;
    }
    CHECK_INT(rc, 1);
    CHECK(rc == 1 && got == len && memcmp(out, recs[0].data, len) == 0);
    free(out);
    CHECK_INT(s_writer_join(&w), 0);
    tap_case("a 5 MiB record read without blocking (%d empty polls)", zeros);
    free((char *)recs[0].data);
    channel_destroy(&a);
    channel_destroy(&b);
}

static void test_partial(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        TAP_BAIL("socketpair: %s", strerror(errno));
    channel_t *b = channel_new(sv[1]);
    /* Hand-made chunks: '+' more follows, '.' last. */
    CHECK_INT(send(sv[0], "+{\"a\":", 6, 0), 6);
    char *out = NULL;
    size_t len = 0;
    CHECK_INT(channel_recv(b, 1, &out, &len), 0);
    CHECK_INT(send(sv[0], "+12", 3, 0), 3);
    CHECK_INT(channel_recv(b, 1, &out, &len), 0);
    CHECK_INT(send(sv[0], ".3}", 3, 0), 3);
    CHECK_INT(channel_recv(b, 1, &out, &len), 1);
    CHECK_STR(out, "{\"a\":123}");
    CHECK_INT(len, 9);
    free(out);
    tap_case("nonblocking recv keeps a partial record until its last chunk");

    /* A record cut off by the peer closing. */
    CHECK_INT(send(sv[0], "+{\"unfinished\":", 15, 0), 15);
    close(sv[0]);
    out = NULL;
    CHECK_INT(channel_recv(b, 0, &out, &len), -ECONNRESET);
    CHECK(out == NULL);
    CHECK_INT(channel_recv(b, 1, &out, &len), -ECONNRESET);
    channel_destroy(&b);
    tap_case("EOF in the middle of a record gives -ECONNRESET");
}

static void test_eof(void)
{
    channel_t *a, *b;
    s_pair(&a, &b);
    CHECK_INT(channel_send(a, "last", 4, -1), 0);
    channel_destroy(&a);
    s_expect_record(b, "last", 4);
    char *out = NULL;
    size_t len;
    CHECK_INT(channel_recv(b, 0, &out, &len), -ECONNRESET);
    CHECK_INT(channel_recv(b, 1, &out, &len), -ECONNRESET);
    CHECK(out == NULL);
    tap_case("records sent before close arrive, then EOF gives -ECONNRESET");

    /* Sending to a closed peer fails with -EPIPE and raises no SIGPIPE
     * (which would kill this test). */
    CHECK_INT(channel_send(b, "x", 1, -1), -EPIPE);
    channel_destroy(&b);
    tap_case("sending to a closed peer gives -EPIPE, without SIGPIPE");
}

static void test_oversized(void)
{
    channel_t *a, *b;
    s_pair(&a, &b);
    const size_t big = CHANNEL_MAX_RECORD + 1;
    char *data = malloc(big);
    if (!data)
        TAP_BAIL("out of memory");
    memset(data, 'x', big);
    const char *after = "{\"next\":\"record\"}";
    record_t recs[3] = {{data, big, -1}, {after, strlen(after), -1}, {data, CHANNEL_MAX_RECORD, -1}};
    writer_t w;
    s_writer_start(&w, a, recs, 3);
    char *out = NULL;
    size_t len = 0;
    CHECK_INT(channel_recv(b, 0, &out, &len), -EMSGSIZE);
    CHECK(out == NULL);
    tap_case("a record of CHANNEL_MAX_RECORD + 1 bytes gives -EMSGSIZE");
    s_expect_record(b, after, strlen(after));
    tap_case("the record after an oversized one arrives intact");
    s_expect_record(b, data, CHANNEL_MAX_RECORD);
    CHECK_INT(s_writer_join(&w), 0);
    tap_case("a record of exactly CHANNEL_MAX_RECORD bytes is accepted");
    free(data);
    channel_destroy(&a);
    channel_destroy(&b);
}

/* Writes |msg| through |fd| and checks it comes out of |read_end|. */
static bool s_fd_reaches(int fd, int read_end, const char *msg)
{
    size_t len = strlen(msg);
    char buf[64] = "";
    if (write(fd, msg, len) != (ssize_t)len)
        return false;
    return read(read_end, buf, sizeof buf - 1) == (ssize_t)len && memcmp(buf, msg, len) == 0;
}

static void test_fd_passing(void)
{
    channel_t *a, *b;
    s_pair(&a, &b);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        TAP_BAIL("pipe: %s", strerror(errno));
    CHECK_INT(channel_take_fd(b), -1);
    CHECK_INT(channel_send(a, "{\"fd\":\"stdout\"}", 15, p[1]), 0);
    s_expect_record(b, "{\"fd\":\"stdout\"}", 15);
    int fd = channel_take_fd(b);
    CHECK(fd >= 0 && fd != p[1]);
    CHECK(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
    CHECK_INT(channel_take_fd(b), -1);
    /* The sender keeps its copy: both lead into the same pipe. */
    CHECK(s_fd_reaches(fd, p[0], "through the passed fd"));
    CHECK(s_fd_reaches(p[1], p[0], "through the original"));
    close(p[1]);
    close(fd);
    char c;
    CHECK_INT(read(p[0], &c, 1), 0); /* every write end closed: EOF */
    close(p[0]);
    tap_case("an fd passed with a record is taken once, close-on-exec, and works");

    /* With a record of several chunks, the fd rides along too. */
    if (pipe2(p, O_CLOEXEC) < 0)
        TAP_BAIL("pipe: %s", strerror(errno));
    const size_t len = 200 * 1024;
    record_t rec = {s_pattern(len, 9), len, p[1]};
    writer_t w;
    s_writer_start(&w, a, &rec, 1);
    s_expect_record(b, rec.data, len);
    CHECK_INT(s_writer_join(&w), 0);
    fd = channel_take_fd(b);
    CHECK(fd >= 0 && s_fd_reaches(fd, p[0], "big"));
    if (fd >= 0)
        close(fd);
    close(p[0]);
    close(p[1]);
    free((char *)rec.data);
    tap_case("an fd passed with a multi-chunk record arrives");

    /* An fd that nobody takes is closed by channel_destroy (checked by the
     * descriptor count in main). */
    if (pipe2(p, O_CLOEXEC) < 0)
        TAP_BAIL("pipe: %s", strerror(errno));
    CHECK_INT(channel_send(a, "{}", 2, p[1]), 0);
    s_expect_record(b, "{}", 2);
    close(p[1]);
    channel_destroy(&b);
    CHECK_INT(read(p[0], &c, 1), 0); /* the received copy was closed */
    close(p[0]);
    channel_destroy(&a);
    tap_case("channel_destroy closes an fd that was received but not taken");
}

/* channel.h: channel_take_fd "returns the descriptor that arrived with the
 * last record, or -1". */
static void test_fd_last_record(void)
{
    channel_t *a, *b;
    s_pair(&a, &b);
    int p[2], q[2];
    if (pipe2(p, O_CLOEXEC) < 0 || pipe2(q, O_CLOEXEC) < 0)
        TAP_BAIL("pipe: %s", strerror(errno));
    CHECK_INT(channel_send(a, "{\"with\":\"p\"}", 12, p[1]), 0);
    CHECK_INT(channel_send(a, "{\"without\":1}", 13, -1), 0);
    s_expect_record(b, "{\"with\":\"p\"}", 12);
    s_expect_record(b, "{\"without\":1}", 13);
    int fd = channel_take_fd(b);
    CHECK_INT(fd, -1);
    if (fd >= 0)
        close(fd);
    tap_case("take_fd after a record without an fd gives -1");

    CHECK_INT(channel_send(a, "{\"with\":\"p\"}", 12, p[1]), 0);
    CHECK_INT(channel_send(a, "{\"with\":\"q\"}", 12, q[1]), 0);
    s_expect_record(b, "{\"with\":\"p\"}", 12);
    s_expect_record(b, "{\"with\":\"q\"}", 12);
    fd = channel_take_fd(b);
    CHECK(fd >= 0);
    if (fd >= 0) {
        /* It must lead into q, the pipe of the last record. */
        int fl = fcntl(q[0], F_GETFL);
        fcntl(q[0], F_SETFL, fl | O_NONBLOCK);
        CHECK(s_fd_reaches(fd, q[0], "q"));
        fcntl(q[0], F_SETFL, fl);
        close(fd);
    }
    CHECK_INT(channel_take_fd(b), -1);
    tap_case("take_fd after two records with fds gives the last one");
    for (int i = 0; i < 2; i++) {
        close(p[i]);
        close(q[i]);
    }
    channel_destroy(&a);
    channel_destroy(&b);
}


/* A datagram of no bytes is what user code in the interpreter can write on
 * the descriptor it holds: it must not end the stream. */
static void test_zero_length(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        TAP_BAIL("socketpair: %s", strerror(errno));
    channel_t *b = channel_new(sv[1]);
    char *out = NULL;
    size_t len = 0;
    CHECK_INT(send(sv[0], "", 0, 0), 0);
    CHECK_INT(channel_recv(b, 1, &out, &len), 0);
    CHECK_INT(send(sv[0], ".{}", 3, 0), 3);
    CHECK_INT(channel_recv(b, 1, &out, &len), 1);
    CHECK_STR(out, "{}");
    free(out);
    tap_case("a datagram of 0 bytes is skipped by a nonblocking recv, not read as EOF");

    CHECK_INT(send(sv[0], "", 0, 0), 0);
    CHECK_INT(send(sv[0], "+a", 2, 0), 2);
    CHECK_INT(send(sv[0], "", 0, 0), 0);
    CHECK_INT(send(sv[0], ".b", 2, 0), 2);
    out = NULL;
    CHECK_INT(channel_recv(b, 0, &out, &len), 1);
    CHECK_STR(out, "ab");
    free(out);
    tap_case("datagrams of 0 bytes before and inside a record are skipped by a blocking recv");

    CHECK_INT(send(sv[0], "", 0, 0), 0);
    close(sv[0]);
    out = NULL;
    CHECK_INT(channel_recv(b, 1, &out, &len), -ECONNRESET);
    CHECK(out == NULL);
    channel_destroy(&b);
    tap_case("the peer's close after a datagram of 0 bytes is still EOF");
}

typedef struct {
    int fd;
    volatile bool stop;
    pthread_t thread;
} flooder_t;

static void *s_flooder_main(void *arg)
{
    flooder_t *f = arg;
    while (!f->stop)
        if (send(f->fd, "", 0, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
            break;
    return NULL;
}

static void test_recv_budget(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        TAP_BAIL("socketpair: %s", strerror(errno));
    channel_t *b = channel_new(sv[1]);
    flooder_t f = {.fd = sv[0]};
    if (pthread_create(&f.thread, NULL, s_flooder_main, &f) != 0)
        TAP_BAIL("pthread_create failed");
    char *out = NULL;
    size_t len = 0;
    int zeros = 0;
    for (int i = 0; i < 50; i++)
        zeros += channel_recv(b, 1, &out, &len) == 0;
    f.stop = true;
    pthread_join(f.thread, NULL);
    CHECK_INT(zeros, 50);
    tap_case("a nonblocking recv returns while the peer floods datagrams of 0 bytes");
    close(sv[0]);
    channel_destroy(&b);
}

/* The manager's way out: records queued while nobody reads, written as
 * the socket takes them, in order, and bounded. */
static void test_queue(void)
{
    channel_t *a, *b;
    s_pair(&a, &b);
    const size_t big = (size_t)3 << 20;
    char *data = s_pattern(big, 7);
    CHECK_INT(channel_pending(a), 0);
    CHECK_INT(channel_queue(a, data, big), 0);
    size_t left = channel_pending(a);
    CHECK(left > 0 && left < big);
    tap_case("channel_queue returns at once with what the socket did not take pending");
    CHECK_INT(channel_queue(a, "", 0), 0);
    CHECK_INT(channel_queue(a, "{\"after\":1}", 11), 0);
    CHECK_INT(channel_send(a, "x", 1, -1), -EBUSY);
    tap_case("channel_send refuses to overtake queued records");
    CHECK_INT(channel_flush(a), 0);
    CHECK_INT(channel_pending(a), left + 11 + 1);
    tap_case("channel_flush without a reader leaves the queue as it is");

    int got = 0, rounds = 0;
    const char *want[3] = {data, "", "{\"after\":1}"};
    const size_t want_len[3] = {big, 0, 11};
    while (got < 3 && rounds++ < 100000) {
        char *out = NULL;
        size_t len = 0;
        CHECK_INT(channel_flush(a), 0);
        int rc = channel_recv(b, 1, &out, &len);
        if (rc == 1) {
            CHECK_INT(len, want_len[got]);
            CHECK(len == want_len[got] && memcmp(out, want[got], len) == 0);
            got++;
            free(out);
        } else if (rc < 0) {
            CHECK_INT(rc, 0);
            break;
        }
    }
    CHECK_INT(got, 3);
    CHECK_INT(channel_pending(a), 0);
    tap_case("queued records arrive whole and in order as the reader reads");
    CHECK_INT(channel_send(a, "x", 1, -1), 0);
    s_expect_record(b, "x", 1);
    tap_case("channel_send works again once the queue is empty");

    channel_set_max_pending(a, (size_t)1 << 20);
    CHECK_INT(channel_queue(a, data, big), -ENOBUFS);
    CHECK_INT(channel_pending(a), 0);
    CHECK_INT(channel_queue(a, data, (size_t)1 << 20), 0);
    size_t held = channel_pending(a);
    CHECK(held > 0);
    CHECK_INT(channel_queue(a, data, (size_t)1 << 20), -ENOBUFS);
    CHECK_INT(channel_pending(a), held);
    tap_case("past the bound channel_queue gives -ENOBUFS and queues nothing");

    channel_destroy(&b);
    int rc = channel_flush(a);
    CHECK(rc == -EPIPE || rc == -ECONNRESET);
    rc = channel_queue(a, "y", 1);
    CHECK(rc == -EPIPE || rc == -ECONNRESET);
    tap_case("a queue whose peer is gone gives -EPIPE, without SIGPIPE");
    channel_destroy(&a); /* frees what is still queued */
    free(data);
}

int main(void)
{
    int fds_before = s_count_fds();
    test_small();
    test_chunk_boundaries();
    test_large();
    test_partial();
    test_eof();
    test_oversized();
    test_fd_passing();
    test_fd_last_record();
    test_zero_length();
    test_recv_budget();
    test_queue();
    int fds_after = s_count_fds();
    CHECK(fds_before > 0);
    CHECK_INT(fds_after, fds_before);
    tap_case("no descriptor left open (%d before, %d after)", fds_before, fds_after);
    return tap_done();
}
