/* fuzz_channel — what an interpreter sends on its channel, as the daemon
 * reads it: the framed datagrams of kernel/channel.c, then each record as
 * session/core/worker.c parses and takes it (worker_record_parse, the ready
 * record, the usage of a reply).
 *
 * Input: one byte choosing the largest record the reader accepts (its low
 * bits: 64 bytes to 8 KiB, so oversized records are reached with small
 * inputs) and whether the writer then closes its end (bit 7), then the
 * datagrams cut at FUZZ_SEPARATOR, each sent as it is (marker byte
 * included) on a SOCK_SEQPACKET socketpair. The interpreter is hostile: any
 * datagram, marker, length or JSON may come. What must hold: every record
 * received is NUL-terminated at its length, no longer than the limit, and
 * parsed into one of the kinds worker.h names, with its type and content
 * set exactly when it is well formed. */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "fuzz.h"
#include "worker.h"

#define MAX_DATAGRAMS 512

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_channel: %s:%d: %s does not hold\n", __FILE__, __LINE__,    \
                    #cond);                                                                     \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* The daemon's handling of one record, short of a conversation. */
static void s_take(worker_t *w, const char *text, size_t len)
{
    json_t *rec;
    const char *type;
    json_t *content;
    char why[INTERP_RECORD_WHY_LEN];
    worker_record_kind_t kind =
        worker_record_parse(text, len, &rec, &type, &content, why, sizeof why);
    CHECK(kind >= WORKER_RECORD_TOO_BIG && kind <= WORKER_RECORD_UNKNOWN);
    if (kind == WORKER_RECORD_TOO_BIG || kind == WORKER_RECORD_MALFORMED) {
        CHECK(!rec && !type && !content);
        /* the reason becomes an error output: it must be a JSON string */
        json_t *error = interp_record_error(why);
        CHECK(why[0] && error);
        json_decref(error);
        return;
    }
    CHECK(rec && type && json_is_object(content));
    CHECK(json_object_get(rec, "content") == content);
    double cpu;
    long long peak;
    if (kind == WORKER_RECORD_READY) {
        bool first = w->ready == NULL;
        CHECK(worker_set_ready(w, rec) == first);
        CHECK(w->ready && w->state == WORKER_IDLE);
    } else if (kind == WORKER_RECORD_REPLY) {
        if (worker_take_usage(w, rec, &cpu, &peak))
            CHECK(cpu >= 0 && peak >= 0);
        else
            CHECK(cpu == -1 && peak == -1);
    }
    json_decref(rec);
}

/* Reads every whole record the socket holds; returns false at the end. */
static bool s_drain(channel_t *chan, worker_t *w, size_t max)
{
    for (;;) {
        char *text;
        size_t len;
        int rc = channel_recv(chan, 1, &text, &len);
        if (rc == 0)
            return true;
        if (rc == -EMSGSIZE)
            continue;
        if (rc < 0)
            return false;
        CHECK(rc == 1 && text && len <= max && text[len] == '\0');
        s_take(w, text, len);
        free(text);
    }
}

/* One socketpair for every input that does not test the end of stream:
 * making and closing one per input costs more than the rest of the run. */
static int s_pair[2] = {-1, -1};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max = (size_t)64 << (data[0] % 8);
    bool end_of_stream = data[0] & 0x80;
    fuzz_part_t parts[MAX_DATAGRAMS];
    size_t n = fuzz_split(data + 1, size - 1, parts, MAX_DATAGRAMS);
    int fds[2];
    if (end_of_stream) {
        CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0);
    } else {
        if (s_pair[0] < 0)
            CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, s_pair) == 0);
        fds[0] = dup(s_pair[0]);
        fds[1] = s_pair[1];
        CHECK(fds[0] >= 0);
    }
    channel_t *chan = channel_new(fds[0]);
    CHECK(chan);
    channel_set_max_record(chan, max);
    worker_t w = {.state = WORKER_STARTING, .exit_code = -1};
    bool open = true;
    for (size_t i = 0; i < n && open; i++) {
        while (send(fds[1], parts[i].data, parts[i].size, MSG_DONTWAIT) < 0) {
            CHECK(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
            if (!(open = s_drain(chan, &w, max)))
                break;
        }
    }
    if (end_of_stream)
        close(fds[1]);
    if (open) /* to the end of stream, or to where the reader waits for more */
        s_drain(chan, &w, max);
    CHECK(channel_take_fd(chan) == -1);
    channel_destroy(&chan);
    if (!end_of_stream) { /* what the reader left (after a zero-length datagram) */
        char sink[CHANNEL_CHUNK + 1];
        while (recv(s_pair[0], sink, sizeof sink, MSG_DONTWAIT) >= 0)
            ;
    }
    json_decref(w.ready);
    json_decref(w.preload);
    return 0;
}
