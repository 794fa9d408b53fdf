/* test_header — message ids, timestamps and new headers. */
#include <regex.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "header.h"
#include "tap.h"

#define UUID4_RE "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
#define DATE_RE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$"

static bool s_matches(const char *re, const char *s)
{
    regex_t rx;
    if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    bool ok = regexec(&rx, s, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}

static int s_cmp_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_ids(void)
{
    enum { N = 2000 };
    char (*ids)[HEADER_ID_LEN + 1] = calloc(N, sizeof *ids);
    if (!ids)
        TAP_BAIL("out of memory");
    unsigned bad = 0;
    for (int i = 0; i < N; i++) {
        memset(ids[i], 'Z', sizeof ids[i]);
        header_new_id(ids[i]);
        if (strlen(ids[i]) != HEADER_ID_LEN || !s_matches(UUID4_RE, ids[i])) {
            if (!bad++)
                tap_diag("    not a UUID4: %.40s", ids[i]);
        }
    }
    CHECK_INT(bad, 0);
    tap_case("header_new_id: %d ids in UUID4 form (version 4, variant 8-b)", N);

    qsort(ids, N, sizeof *ids, s_cmp_ids);
    unsigned dups = 0;
    for (int i = 1; i < N; i++)
        dups += strcmp(ids[i - 1], ids[i]) == 0;
    CHECK_INT(dups, 0);
    /* The random nibbles really vary: every position that is not fixed
     * takes more than one value across the ids. */
    for (int pos = 0; pos < HEADER_ID_LEN; pos++) {
        if (pos == 8 || pos == 13 || pos == 14 || pos == 18 || pos == 23)
            continue;
        bool varies = false;
        for (int i = 1; i < N && !varies; i++)
            varies = ids[i][pos] != ids[0][pos];
        if (!CHECK(varies))
            tap_diag("    position %d is always '%c'", pos, ids[0][pos]);
    }
    free(ids);
    tap_case("header_new_id: %d ids are distinct and random", N);
}

static void test_now(void)
{
    char date[HEADER_DATE_LEN + 1];
    memset(date, 'Z', sizeof date);
    /* time() may read a coarser clock than header_now: use the same one. */
    struct timespec before, after;
    clock_gettime(CLOCK_REALTIME, &before);
    header_now(date);
    clock_gettime(CLOCK_REALTIME, &after);
    CHECK_INT(strlen(date), HEADER_DATE_LEN);
    if (!CHECK(s_matches(DATE_RE, date)))
        tap_diag("    %s", date);
    tap_case("header_now: %s matches YYYY-MM-DDTHH:MM:SS.ffffffZ", date);

    struct tm tm = {0};
    const char *rest = strptime(date, "%Y-%m-%dT%H:%M:%S", &tm);
    CHECK(rest && *rest == '.');
    time_t t = timegm(&tm);
    CHECK(t >= before.tv_sec && t <= after.tv_sec);
    long usec = strtol(date + 20, NULL, 10);
    if (t == before.tv_sec && before.tv_sec == after.tv_sec)
        CHECK(usec >= before.tv_nsec / 1000 && usec <= after.tv_nsec / 1000);
    tap_case("header_now: is the current UTC time");
}

static void test_new(void)
{
    json_t *h = header_new("execute_reply", "sess-1", "alice");
    if (!CHECK(json_is_object(h))) {
        tap_case("header_new: returns an object");
        return;
    }
    CHECK_INT(json_object_size(h), 6);
    static const char *const keys[] = {"msg_id", "msg_type", "session", "username", "date",
                                       "version"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (!CHECK(json_is_string(json_object_get(h, keys[i]))))
            tap_diag("    %s missing or not a string", keys[i]);
    CHECK_STR(json_string_value(json_object_get(h, "msg_type")), "execute_reply");
    CHECK_STR(json_string_value(json_object_get(h, "session")), "sess-1");
    CHECK_STR(json_string_value(json_object_get(h, "username")), "alice");
    CHECK_STR(json_string_value(json_object_get(h, "version")), "5.3");
    CHECK_STR(HEADER_PROTOCOL_VERSION, "5.3");
    const char *id = json_string_value(json_object_get(h, "msg_id"));
    const char *date = json_string_value(json_object_get(h, "date"));
    CHECK(id && s_matches(UUID4_RE, id));
    CHECK(date && s_matches(DATE_RE, date));
    tap_case("header_new: six string fields, version 5.3, UUID4 msg_id, date");

    json_t *h2 = header_new("execute_reply", "sess-1", "alice");
    CHECK(h2 && strcmp(json_string_value(json_object_get(h2, "msg_id")), id) != 0);
    json_decref(h2);
    json_decref(h);
    tap_case("header_new: two headers have different msg_ids");

    /* Strings are copied and may be empty or non-ASCII. */
    char session[] = "s\xc3\xa9ssion";
    h = header_new("status", session, "");
    session[0] = 'X';
    CHECK(h != NULL);
    CHECK_STR(json_string_value(json_object_get(h, "session")), "s\xc3\xa9ssion");
    CHECK_STR(json_string_value(json_object_get(h, "username")), "");
    json_decref(h);
    tap_case("header_new: copies its strings; empty and UTF-8 values are kept");
}

static void test_format(void)
{
    char text[HEADER_TEXT_MAX];
    int n = header_format(text, sizeof text, "execute_reply", "sess-1", "alice");
    CHECK(n > 0 && (size_t)n == strlen(text));
    json_error_t jerr;
    json_t *h = n > 0 ? json_loadb(text, (size_t)n, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!CHECK(json_is_object(h))) {
        tap_diag("    not a JSON object: %s", text);
        tap_case("header_format: writes one JSON object");
        return;
    }
    CHECK_INT(json_object_size(h), 6);
    CHECK_STR(json_string_value(json_object_get(h, "msg_type")), "execute_reply");
    CHECK_STR(json_string_value(json_object_get(h, "session")), "sess-1");
    CHECK_STR(json_string_value(json_object_get(h, "username")), "alice");
    CHECK_STR(json_string_value(json_object_get(h, "version")), "5.3");
    const char *id = json_string_value(json_object_get(h, "msg_id"));
    const char *date = json_string_value(json_object_get(h, "date"));
    CHECK(id && s_matches(UUID4_RE, id));
    CHECK(date && s_matches(DATE_RE, date));
    /* The same text jansson writes for the same object: compact, in order. */
    char *dumped = json_dumps(h, JSON_COMPACT);
    CHECK_STR(dumped, text);
    free(dumped);
    json_decref(h);
    tap_case("header_format: the compact JSON of header_new's six fields, in its order");

    /* A client's message type comes back in "foo_reply": escape it. */
    const char *nasty = "a\"b\\c\n\x01\x1f\xc3\xa9/";
    n = header_format(text, sizeof text, nasty, "s\"", "");
    h = n > 0 ? json_loadb(text, (size_t)n, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    CHECK(json_is_object(h));
    CHECK_STR(json_string_value(json_object_get(h, "msg_type")), nasty);
    CHECK_STR(json_string_value(json_object_get(h, "session")), "s\"");
    CHECK_STR(json_string_value(json_object_get(h, "username")), "");
    json_decref(h);
    tap_case("header_format: quotes, backslashes and control characters are escaped");

    char longest[HEADER_FIELD_MAX + 1];
    memset(longest, '\x01', HEADER_FIELD_MAX); /* six bytes each once escaped */
    longest[HEADER_FIELD_MAX] = '\0';
    CHECK(header_format(text, sizeof text, longest, longest, longest) > 0);
    char small[100];
    memset(small, 'Z', sizeof small);
    CHECK_INT(header_format(small, sizeof small, "execute_reply", "sess-1", "alice"), -1);
    for (size_t len = 0; len < 200; len++) {
        char buf[200];
        int r = header_format(buf, len, "execute_reply", "sess-1", "alice");
        if (!CHECK(r < 0 || ((size_t)r < len && strlen(buf) == (size_t)r)))
            break;
    }
    tap_case("header_format: HEADER_TEXT_MAX holds the longest fields; -1 when it does not fit");
}

int main(void)
{
    test_ids();
    test_now();
    test_new();
    test_format();
    return tap_done();
}
