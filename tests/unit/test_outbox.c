/* test_outbox — replies kept per client of a ROUTER_MANDATORY socket: in
 * order while the client does not read, one RepliesDropped error in place
 * of what was discarded past the bound, and nothing kept for a client that
 * is gone. The sockets are inproc, with high-water marks of one message,
 * so almost everything a case sends must wait in the outbox. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "outbox.h"
#include "signer.h"
#include "tap.h"
#include "wire.h"

typedef struct {
    void *ctx, *router, *dealer;
    signer_t *signer;
    outbox_t *outbox;
    wire_blob_t id;
    char id_data[8];
} fixture_t;

static void s_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void s_setup(fixture_t *f)
{
    memset(f, 0, sizeof *f);
    f->ctx = zmq_ctx_new();
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    f->dealer = zmq_socket(f->ctx, ZMQ_DEALER);
    int one = 1, zero = 0;
    zmq_setsockopt(f->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(f->router, ZMQ_SNDHWM, &one, sizeof one);
    zmq_setsockopt(f->router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(f->dealer, ZMQ_RCVHWM, &one, sizeof one);
    zmq_setsockopt(f->dealer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(f->dealer, ZMQ_ROUTING_ID, "c1", 2);
    if (zmq_bind(f->router, "inproc://outbox") < 0 || zmq_connect(f->dealer, "inproc://outbox") < 0)
        TAP_BAIL("cannot connect inproc sockets: %s", zmq_strerror(zmq_errno()));
    /* The router knows the client once it has heard from it. */
    zmq_send(f->dealer, "hi", 2, 0);
    char buf[16];
    zmq_recv(f->router, buf, sizeof buf, 0);
    zmq_recv(f->router, buf, sizeof buf, 0);
    memcpy(f->id_data, "c1", 2);
    f->id = (wire_blob_t){f->id_data, 2};
    f->signer = signer_new("k", 1);
    f->outbox = outbox_new(f->router, f->signer, "session");
    if (!f->signer || !f->outbox)
        TAP_BAIL("out of memory");
}

static void s_teardown(fixture_t *f)
{
    outbox_destroy(&f->outbox);
    signer_destroy(&f->signer);
    if (f->dealer)
        zmq_close(f->dealer);
    zmq_close(f->router);
    zmq_ctx_term(f->ctx);
}

/* Sends reply |i| (content {"i": i}) to request "p<i>". */
static void s_send(fixture_t *f, int i)
{
    char parent[64];
    int n = snprintf(parent, sizeof parent, "{\"msg_id\":\"p%d\"}", i);
    wire_blob_t p = {parent, (size_t)n};
    outbox_send(f->outbox, &f->id, 1, "list_reply", &p, json_pack("{s:i}", "i", i), NULL, 0);
}

/* The next reply the client reads, flushing the outbox while it waits:
 * its request's number, and *error set if it is RepliesDropped (*lost its
 * count). -1 if none came within a second. */
static int s_read(fixture_t *f, bool *error, long *lost)
{
    zmq_msg_t frames[16];
    int n = 0;
    for (int tries = 0; tries < 1000; tries++) {
        zmq_msg_init(&frames[0]);
        if (zmq_msg_recv(&frames[0], f->dealer, ZMQ_DONTWAIT) >= 0) {
            n = 1;
            break;
        }
        zmq_msg_close(&frames[0]);
        outbox_flush(f->outbox);
        s_sleep_ms(1);
    }
    if (!n)
        return -1;
    while (zmq_msg_more(&frames[n - 1]) && n < 16) {
        zmq_msg_init(&frames[n]);
        zmq_msg_recv(&frames[n++], f->dealer, 0);
    }
    wire_frame_t views[16];
    for (int i = 0; i < n; i++)
        views[i] = (wire_frame_t){zmq_msg_data(&frames[i]), zmq_msg_size(&frames[i])};
    wire_msg_t msg;
    proto_err_t err;
    int rc = wire_decode(f->signer, views, (size_t)n, &msg, &err);
    for (int i = 0; i < n; i++)
        zmq_msg_close(&frames[i]);
    if (rc < 0)
        return -1;
    int number = -1;
    const char *parent_id = json_string_value(json_object_get(msg.parent, "msg_id"));
    if (parent_id)
        sscanf(parent_id, "p%d", &number);
    const char *ename = json_string_value(json_object_get(msg.content, "ename"));
    *error = ename && strcmp(ename, "RepliesDropped") == 0;
    *lost = 0;
    if (*error)
        sscanf(json_string_value(json_object_get(msg.content, "evalue")), "%ld", lost);
    else if (json_integer_value(json_object_get(msg.content, "i")) != number)
        number = -1;
    wire_msg_clear(&msg);
    return number;
}

static void test_kept_in_order(void)
{
    fixture_t f;
    s_setup(&f);
    for (int i = 0; i < 100; i++)
        s_send(&f, i);
    CHECK(outbox_pending(f.outbox) >= 90); /* ZeroMQ took one or two */
    int got = 0;
    bool error;
    long lost;
    while (got < 100 && CHECK_INT(s_read(&f, &error, &lost), got) && CHECK(!error))
        got++;
    CHECK_INT(outbox_pending(f.outbox), 0);
    s_teardown(&f);
    tap_case("replies that do not fit are kept and arrive in order as the client reads");
}

static void test_past_the_bound(void)
{
    fixture_t f;
    s_setup(&f);
    const int total = OUTBOX_MAX_MESSAGES + 100;
    for (int i = 0; i < total; i++)
        s_send(&f, i);
    CHECK(outbox_pending(f.outbox) <= 100); /* the discarded ones hold nothing */
    int next = 0, errors = 0;
    while (next < total) {
        bool error;
        long lost;
        int number = s_read(&f, &error, &lost);
        if (!CHECK_INT(number, next))
            break;
        if (error) {
            errors++;
            CHECK(lost > OUTBOX_MAX_MESSAGES);
            next += (int)lost;
        } else {
            next++;
        }
    }
    CHECK_INT(next, total);
    CHECK_INT(errors, 1);
    CHECK_INT(outbox_pending(f.outbox), 0);
    s_teardown(&f);
    tap_case("past %d kept, one RepliesDropped answers the first lost request and counts "
             "every lost reply; later replies follow in order",
             OUTBOX_MAX_MESSAGES);
}

static void test_client_gone(void)
{
    fixture_t f;
    s_setup(&f);
    for (int i = 0; i < 50; i++)
        s_send(&f, i);
    CHECK(outbox_pending(f.outbox) > 0);
    zmq_close(f.dealer);
    f.dealer = NULL;
    /* The pipe to it ends once the router reads what came before the
     * end, as the daemon's loop does. */
    char buf[16];
    for (int tries = 0; tries < 1000 && outbox_pending(f.outbox); tries++) {
        zmq_recv(f.router, buf, sizeof buf, ZMQ_DONTWAIT);
        outbox_flush(f.outbox);
        s_sleep_ms(1);
    }
    CHECK_INT(outbox_pending(f.outbox), 0);
    s_send(&f, 50); /* not kept for a client that is gone */
    CHECK_INT(outbox_pending(f.outbox), 0);
    s_teardown(&f);
    tap_case("a client gone loses what was kept for it, and nothing more is kept");
}

int main(void)
{
    test_kept_in_order();
    test_past_the_bound();
    test_client_gone();
    return tap_done();
}
