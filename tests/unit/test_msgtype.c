/* test_msgtype — the table of accepted message types and reply names. */
#include <string.h>

#include "msgtype.h"
#include "tap.h"

static void test_lookup(void)
{
    static const struct {
        const char *name, *reply;
        unsigned channels;
    } known[] = {
        {"execute_request", "execute_reply", MSG_ON_SHELL},
        {"inspect_request", "inspect_reply", MSG_ON_SHELL},
        {"complete_request", "complete_reply", MSG_ON_SHELL},
        {"history_request", "history_reply", MSG_ON_SHELL},
        {"is_complete_request", "is_complete_reply", MSG_ON_SHELL},
        {"comm_info_request", "comm_info_reply", MSG_ON_SHELL},
        {"kernel_info_request", "kernel_info_reply", MSG_ON_SHELL | MSG_ON_CONTROL},
        {"shutdown_request", "shutdown_reply", MSG_ON_SHELL | MSG_ON_CONTROL},
        {"interrupt_request", "interrupt_reply", MSG_ON_CONTROL},
        {"debug_request", "debug_reply", MSG_ON_CONTROL},
        {"comm_open", NULL, MSG_ON_SHELL},
        {"comm_msg", NULL, MSG_ON_SHELL},
        {"comm_close", NULL, MSG_ON_SHELL},
        {"input_reply", NULL, MSG_ON_STDIN},
    };
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        const msgtype_t *t = msgtype_lookup(known[i].name);
        if (!CHECK(t != NULL)) {
            tap_case("lookup %s", known[i].name);
            continue;
        }
        CHECK_STR(t->name, known[i].name);
        if (known[i].reply)
            CHECK_STR(t->reply, known[i].reply);
        else
            CHECK(t->reply == NULL);
        CHECK_INT(t->channels, known[i].channels);
        /* The table's reply agrees with msgtype_reply_name. */
        char reply[64];
        if (known[i].reply) {
            CHECK_INT(msgtype_reply_name(known[i].name, reply, sizeof reply), 0);
            CHECK_STR(reply, known[i].reply);
        } else {
            CHECK_INT(msgtype_reply_name(known[i].name, reply, sizeof reply), -1);
        }
        tap_case("lookup %s: reply %s, channels %#x", known[i].name,
                 known[i].reply ? known[i].reply : "(none)", known[i].channels);
    }

    static const char *const unknown[] = {
        "", "foo_request", "execute_reply", "Execute_request", "execute_request ",
        "execute", "status", "stream", "connect_request", "apply_request",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++)
        if (!CHECK(msgtype_lookup(unknown[i]) == NULL))
            tap_diag("    \"%s\" was found", unknown[i]);
    tap_case("lookup: unknown, differently cased and outgoing types give NULL");
}

static void test_reply_name(void)
{
    char out[64];
    memset(out, 'Z', sizeof out);
    CHECK_INT(msgtype_reply_name("foo_request", out, sizeof out), 0);
    CHECK_STR(out, "foo_reply");
    CHECK_INT(msgtype_reply_name("x_request", out, sizeof out), 0);
    CHECK_STR(out, "x_reply");
    CHECK_INT(msgtype_reply_name("a_request_request", out, sizeof out), 0);
    CHECK_STR(out, "a_request_reply");
    tap_case("reply name: foo_request gives foo_reply, also for unknown types");

    static const char *const not_requests[] = {
        "comm_msg", "", "_request", "request", "foo_request_", "foo_requests",
        "foo_Request", "execute_reply",
    };
    for (size_t i = 0; i < sizeof not_requests / sizeof *not_requests; i++)
        if (!CHECK_INT(msgtype_reply_name(not_requests[i], out, sizeof out), -1))
            tap_diag("    for \"%s\"", not_requests[i]);
    tap_case("reply name: -1 for comm_msg and other non-requests");

    /* "foo_reply" needs 10 bytes with its NUL. */
    char small[16];
    memset(small, 'Z', sizeof small);
    CHECK_INT(msgtype_reply_name("foo_request", small, 10), 0);
    CHECK_STR(small, "foo_reply");
    memset(small, 'Z', sizeof small);
    CHECK_INT(msgtype_reply_name("foo_request", small, 9), -1);
    CHECK(small[9] == 'Z');
    CHECK_INT(msgtype_reply_name("foo_request", small, 0), -1);
    tap_case("reply name: -1 when the output is too small, exact size fits");
}

int main(void)
{
    test_lookup();
    test_reply_name();
    return tap_done();
}
