/* test_history — history_request answers: tail, range, search, output. */
#include <stdio.h>
#include <string.h>

#include "history.h"
#include "tap.h"

/* Runs the request |req_text| and returns the line numbers of the entries
 * as "1,2,3", or "error" / "bad" for an error reply / a malformed one. */
static void s_lines(const history_t *h, const char *req_text, char *out, size_t len)
{
    json_error_t jerr;
    json_t *req = json_loads(req_text, 0, &jerr);
    if (!req)
        TAP_BAIL("bad request in test: %s", req_text);
    json_t *reply = history_query(h, req);
    json_decref(req);
    out[0] = '\0';
    const char *status = json_string_value(json_object_get(reply, "status"));
    if (status && strcmp(status, "error") == 0) {
        snprintf(out, len, "error");
        json_decref(reply);
        return;
    }
    const json_t *list = json_object_get(reply, "history");
    if (!status || strcmp(status, "ok") != 0 || !json_is_array(list)) {
        snprintf(out, len, "bad");
        json_decref(reply);
        return;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e) {
        if (json_array_size(e) != 3 ||
            json_integer_value(json_array_get(e, 0)) != HISTORY_SESSION) {
            snprintf(out, len, "bad");
            break;
        }
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%lld", i ? "," : "",
                 (long long)json_integer_value(json_array_get(e, 1)));
    }
    json_decref(reply);
}

#define CHECK_LINES(h, req, want)                                                   \
    do {                                                                            \
        char got_[256];                                                             \
        s_lines((h), (req), got_, sizeof got_);                                      \
        if (!CHECK_STR(got_, (want)))                                               \
            tap_diag("    for %s", (req));                                          \
    } while (0)

/* Lines 1..8 with repeated inputs, for unique. */
static history_t *s_sample(void)
{
    static const char *const inputs[] = {
        "a = 1", "print(a)", "a = 1", "b = 2", "print(a)", "a = 1",
        "for i in range(3):\n    print(i)", "import os",
    };
    history_t *h = history_new();
    if (!h)
        TAP_BAIL("history_new failed");
    json_t *two = json_string("2");
    for (int i = 0; i < 8; i++)
        if (history_add(h, i + 1, inputs[i], i == 3 ? two : NULL) < 0)
            TAP_BAIL("history_add failed");
    json_decref(two);
    return h;
}

static void test_empty(void)
{
    history_t *h = history_new();
    CHECK_LINES(h, "{\"hist_access_type\":\"tail\",\"n\":10}", "");
    CHECK_LINES(h, "{\"hist_access_type\":\"range\",\"start\":1,\"stop\":5}", "");
    CHECK_LINES(h, "{\"hist_access_type\":\"search\",\"pattern\":\"*\"}", "");
    history_destroy(&h);
    CHECK(h == NULL);
    history_destroy(&h);
    tap_case("an empty history answers every request with an empty list");
}

static void test_tail(void)
{
    history_t *h = s_sample();
    CHECK_LINES(h, "{\"hist_access_type\":\"tail\",\"n\":3}", "6,7,8");
    CHECK_LINES(h, "{\"hist_access_type\":\"tail\",\"n\":1}", "8");
    CHECK_LINES(h, "{\"hist_access_type\":\"tail\",\"n\":100}", "1,2,3,4,5,6,7,8");
    CHECK_LINES(h, "{\"hist_access_type\":\"tail\",\"n\":0}", "");
    tap_case("tail n gives the last n entries, oldest first");

    json_t *req = json_pack("{s:s, s:i}", "hist_access_type", "tail", "n", 2);
    json_t *reply = history_query(h, req);
    json_t *want = json_pack("{s:s, s:[[i, i, s], [i, i, s]]}", "status", "ok", "history",
                             1, 7, "for i in range(3):\n    print(i)", 1, 8, "import os");
    if (!CHECK(json_equal(reply, want))) {
        char *s = json_dumps(reply, JSON_COMPACT);
        tap_diag("    got %s", s ? s : "(null)");
        free(s);
    }
    json_decref(req);
    json_decref(reply);
    json_decref(want);
    tap_case("entries are [session, line, input] with session 1");
    history_destroy(&h);
}

static void test_range(void)
{
    history_t *h = s_sample();
    CHECK_LINES(h, "{\"hist_access_type\":\"range\",\"session\":0,\"start\":2,\"stop\":5}",
                "2,3,4");
    CHECK_LINES(h, "{\"hist_access_type\":\"range\",\"start\":6}", "6,7,8");
    CHECK_LINES(h, "{\"hist_access_type\":\"range\",\"start\":3,\"stop\":3}", "");
    CHECK_LINES(h, "{\"hist_access_type\":\"range\",\"start\":5,\"stop\":2}", "");
    CHECK_LINES(h, "{\"hist_access_type\":\"range\",\"session\":1,\"start\":7,\"stop\":100}",
                "7,8");
    CHECK_LINES(h, "{\"hist_access_type\":\"range\",\"start\":1,\"stop\":null}",
                "1,2,3,4,5,6,7,8");
    tap_case("range start/stop: start included, stop excluded, stop optional");
    CHECK_LINES(h, "{\"hist_access_type\":\"range\",\"session\":2,\"start\":1,\"stop\":9}", "");
    tap_case("range in another session is empty");
    history_destroy(&h);
}

static void test_search(void)
{
    history_t *h = s_sample();
    CHECK_LINES(h, "{\"hist_access_type\":\"search\",\"pattern\":\"a = *\"}", "1,3,6");
    CHECK_LINES(h, "{\"hist_access_type\":\"search\",\"pattern\":\"print*\"}", "2,5");
    CHECK_LINES(h, "{\"hist_access_type\":\"search\",\"pattern\":\"*\"}", "1,2,3,4,5,6,7,8");
    CHECK_LINES(h, "{\"hist_access_type\":\"search\",\"pattern\":\"?mport os\"}", "8");
    CHECK_LINES(h, "{\"hist_access_type\":\"search\",\"pattern\":\"nothing*\"}", "");
    CHECK_LINES(h, "{\"hist_access_type\":\"search\",\"pattern\":\"A = *\"}", "");
    tap_case("search: glob over the whole input, case-sensitive");

    CHECK_LINES(h, "{\"hist_access_type\":\"search\",\"pattern\":\"for*print(i)\"}", "7");
    tap_case("search: * matches across newlines");

    CHECK_LINES(h, "{\"hist_access_type\":\"search\",\"pattern\":\"*\",\"n\":3}", "6,7,8");
    CHECK_LINES(h, "{\"hist_access_type\":\"search\",\"pattern\":\"a = *\",\"n\":2}", "3,6");
    tap_case("search with n keeps the n most recent matches");

    CHECK_LINES(h, "{\"hist_access_type\":\"search\",\"pattern\":\"*\",\"unique\":true}",
                "4,5,6,7,8");
    CHECK_LINES(h, "{\"hist_access_type\":\"search\",\"pattern\":\"a = *\",\"unique\":true}",
                "6");
    CHECK_LINES(h, "{\"hist_access_type\":\"search\",\"pattern\":\"*\",\"unique\":false}",
                "1,2,3,4,5,6,7,8");
    tap_case("search with unique keeps the newest of each input");

    CHECK_LINES(h,
                "{\"hist_access_type\":\"search\",\"pattern\":\"*\",\"unique\":true,\"n\":2}",
                "7,8");
    CHECK_LINES(h,
                "{\"hist_access_type\":\"search\",\"pattern\":\"*(*\",\"unique\":true,\"n\":2}",
                "5,7");
    tap_case("search with unique and n: n distinct inputs, newest kept");
    history_destroy(&h);
}

static void test_output(void)
{
    history_t *h = s_sample();
    json_t *req = json_pack("{s:s, s:i, s:i, s:b}", "hist_access_type", "range", "start", 3,
                            "stop", 5, "output", 1);
    json_t *reply = history_query(h, req);
    json_t *want = json_pack("{s:s, s:[[i, i, [s, n]], [i, i, [s, s]]]}", "status", "ok",
                             "history", 1, 3, "a = 1", 1, 4, "b = 2", "2");
    if (!CHECK(json_equal(reply, want))) {
        char *s = json_dumps(reply, JSON_COMPACT);
        tap_diag("    got %s", s ? s : "(null)");
        free(s);
    }
    json_decref(req);
    json_decref(reply);
    json_decref(want);
    tap_case("output=true gives [session, line, [input, output]], output null if none");
    history_destroy(&h);
}

static void test_bad_requests(void)
{
    history_t *h = s_sample();
    static const char *const bad[] = {
        "{\"hist_access_type\":\"sideways\"}",
        "{\"hist_access_type\":\"\"}",
        "{\"hist_access_type\":\"TAIL\"}",
        "{\"hist_access_type\":7}",
        "{\"n\":3}",
        "{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *req = json_loads(bad[i], 0, NULL);
        json_t *reply = history_query(h, req);
        CHECK_STR(json_string_value(json_object_get(reply, "status")), "error");
        CHECK(json_is_string(json_object_get(reply, "ename")));
        CHECK(json_is_string(json_object_get(reply, "evalue")));
        CHECK(json_is_array(json_object_get(reply, "traceback")));
        json_decref(req);
        json_decref(reply);
        tap_case("bad request %s gives status error", bad[i]);
    }
    /* A request that is not an object at all. */
    json_t *arr = json_array();
    json_t *reply = history_query(h, arr);
    CHECK_STR(json_string_value(json_object_get(reply, "status")), "error");
    json_decref(reply);
    json_decref(arr);
    tap_case("a request that is not an object gives status error");
    history_destroy(&h);
}

static void test_copies(void)
{
    history_t *h = history_new();
    char input[] = "x = 1";
    json_t *output = json_stringn("1\0two", 5); /* a result may hold a NUL */
    CHECK_INT(history_add(h, 1, input, output), 0);
    json_decref(output);
    input[0] = 'y';
    /* Enough entries to grow the table. */
    for (int i = 2; i <= 100; i++)
        CHECK_INT(history_add(h, i, "pass", NULL), 0);
    json_t *req = json_pack("{s:s, s:i, s:i, s:b}", "hist_access_type", "range", "start", 1,
                            "stop", 2, "output", 1);
    json_t *reply = history_query(h, req);
    json_t *want = json_pack("{s:s, s:[[i, i, [s, s#]]]}", "status", "ok", "history", 1, 1,
                             "x = 1", "1\0two", (size_t)5);
    CHECK(json_equal(reply, want));
    CHECK_LINES(h, "{\"hist_access_type\":\"tail\",\"n\":2}", "99,100");
    CHECK_LINES(h, "{\"hist_access_type\":\"tail\"}", "91,92,93,94,95,96,97,98,99,100");
    json_decref(req);
    json_decref(reply);
    json_decref(want);
    history_destroy(&h);
    tap_case("history_add copies its input and keeps the whole result, NUL included; 100 "
             "entries; tail without n gives 10");
}

int main(void)
{
    test_empty();
    test_tail();
    test_range();
    test_search();
    test_output();
    test_bad_requests();
    test_copies();
    return tap_done();
}
