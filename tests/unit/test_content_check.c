/* test_content_check — the Jupyter content schema of outputs and replies
 * (content_check) and the decoding of interpreter records (interp_record):
 * tables of JSON contents with the message each gets, and of record bytes
 * with what they decode to. */
#include <stdio.h>
#include <string.h>

#include "content_check.h"
#include "interp_record.h"
#include "tap.h"

typedef struct {
    const char *type;
    const char *json; /* the content */
    const char *why;  /* NULL: valid; else the exact message */
} case_t;

static const case_t s_cases[] = {
    /* stream */
    {"stream", "{\"name\": \"stdout\", \"text\": \"hi\\n\"}", NULL},
    {"stream", "{\"name\": \"stderr\", \"text\": \"a\\u0000b\\u001b[0m\"}", NULL},
    {"stream", "{\"name\": \"stdout\", \"text\": 5}", "stream.text is a number, not a string"},
    {"stream", "{\"name\": \"stdin\", \"text\": \"\"}", "stream.name is 'stdin', not stdout or stderr"},
    {"stream", "{\"name\": \"stdout\\u0000x\", \"text\": \"\"}",
     "stream.name is 'stdout?x', not stdout or stderr"},
    {"stream", "{\"text\": \"x\"}", "stream.name is missing"},
    {"stream", "[]", "stream content is an array, not an object"},
    /* display_data */
    {"display_data", "{\"data\": {\"text/plain\": \"1\"}, \"metadata\": {}, \"transient\": {}}", NULL},
    {"display_data", "{\"data\": {}}", NULL},
    {"display_data", "{\"data\": {\"text/plain\": 5}, \"metadata\": {}}",
     "display_data.data['text/plain'] is a number, not a string"},
    {"display_data", "{\"data\": \"text\", \"metadata\": {}}",
     "display_data.data is a string, not an object"},
    {"display_data", "{\"metadata\": {}}", "display_data.data is missing"},
    {"display_data", "{\"data\": {\"text/plain\": \"x\"}, \"metadata\": 3}",
     "display_data.metadata is a number, not an object"},
    {"display_data", "{\"data\": {\"text/plain\": [\"a\", \"b\"]}}",
     "display_data.data['text/plain'] is an array, not a string"},
    {"display_data", "{\"data\": {\"application/json\": {\"a\": [1, null, true]}}}", NULL},
    {"display_data", "{\"data\": {\"application/vnd.plotly.v1+json\": {\"data\": []}}}", NULL},
    {"display_data", "{\"data\": {\"application/geo+json\": [1]}}", NULL},
    {"display_data", "{\"data\": {\"text/x-custom+json\": 3}}", NULL},
    {"display_data", "{\"data\": {\"application/javascript\": 3}}",
     "display_data.data['application/javascript'] is a number, not a string"},
    {"display_data", "{\"data\": {\"text plain\": \"x\"}}",
     "display_data.data has a key that is not a mime type: 'text plain'"},
    {"display_data", "{\"data\": {\"textplain\": \"x\"}}",
     "display_data.data has a key that is not a mime type: 'textplain'"},
    {"display_data", "{\"data\": {\"a/b/c\": \"x\"}}",
     "display_data.data has a key that is not a mime type: 'a/b/c'"},
    {"display_data", "{\"data\": {\"text/\\u001b[2J\": \"x\"}}",
     "display_data.data has a key that is not a mime type: 'text/?[2J'"},
    {"display_data", "{\"data\": {\"text/plain\": \"x\"}, \"transient\": []}",
     "display_data.transient is an array, not an object"},
    {"display_data", "{\"data\": {\"text/plain\": \"x\"}, \"transient\": {\"display_id\": 7}}",
     "display_data.transient.display_id is a number, not a string"},
    /* update_display_data needs its display id */
    {"update_display_data", "{\"data\": {}, \"metadata\": {}, \"transient\": {\"display_id\": \"d\"}}",
     NULL},
    {"update_display_data", "{\"data\": {}, \"metadata\": {}}",
     "update_display_data.transient is missing"},
    {"update_display_data", "{\"data\": {}, \"transient\": {}}",
     "update_display_data.transient.display_id is missing"},
    /* execute_result */
    {"execute_result", "{\"data\": {\"text/plain\": \"2\"}, \"metadata\": {}, \"execution_count\": 1}",
     NULL},
    {"execute_result", "{\"data\": {\"text/plain\": \"2\"}, \"execution_count\": null}", NULL},
    {"execute_result", "{\"data\": {\"text/plain\": \"2\"}, \"execution_count\": \"1\"}",
     "execute_result.execution_count is a string, not an integer"},
    {"execute_result", "{\"data\": {\"image/png\": null}}",
     "execute_result.data['image/png'] is null, not a string"},
    /* error */
    {"error", "{\"ename\": \"E\", \"evalue\": \"v\", \"traceback\": [\"E: v\"]}", NULL},
    {"error", "{\"ename\": 1, \"evalue\": \"v\", \"traceback\": []}",
     "error.ename is a number, not a string"},
    {"error", "{\"ename\": \"E\", \"evalue\": [], \"traceback\": []}",
     "error.evalue is an array, not a string"},
    {"error", "{\"ename\": \"E\", \"evalue\": \"v\", \"traceback\": \"E: v\"}",
     "error.traceback is a string, not an array"},
    {"error", "{\"ename\": \"E\", \"evalue\": \"v\", \"traceback\": [\"a\", 2]}",
     "error.traceback[1] is a number, not a string"},
    {"error", "{\"ename\": \"E\", \"evalue\": \"v\"}", "error.traceback is missing"},
    /* clear_output */
    {"clear_output", "{\"wait\": false}", NULL},
    {"clear_output", "{}", NULL},
    {"clear_output", "{\"wait\": 1}", "clear_output.wait is a number, not a boolean"},
    /* input_request */
    {"input_request", "{\"prompt\": \"name? \", \"password\": false}", NULL},
    {"input_request", "{\"prompt\": null, \"password\": false}",
     "input_request.prompt is null, not a string"},
    /* replies */
    {"execute_reply", "{\"status\": \"ok\", \"execution_count\": 3, \"payload\": [], "
                      "\"user_expressions\": {}}", NULL},
    {"execute_reply", "{\"status\": \"error\", \"ename\": \"E\", \"evalue\": \"\", \"traceback\": []}",
     NULL},
    {"execute_reply", "{\"status\": \"aborted\"}", NULL},
    {"execute_reply", "{\"status\": 0}", "execute_reply.status is a number, not a string"},
    {"execute_reply", "{\"status\": \"fine\"}",
     "execute_reply.status is 'fine', not a status this reply has"},
    {"execute_reply", "{\"status\": \"error\", \"ename\": \"E\"}", "execute_reply.evalue is missing"},
    {"execute_reply", "{\"status\": \"ok\", \"payload\": [1]}",
     "execute_reply.payload[0] is a number, not an object"},
    {"execute_reply", "{\"status\": \"ok\", \"user_expressions\": {\"x\": {\"status\": \"ok\", "
                      "\"data\": {\"text/plain\": 1}, \"metadata\": {}}}}",
     "execute_reply.user_expressions['x'].data['text/plain'] is a number, not a string"},
    {"execute_reply", "{\"status\": \"ok\", \"user_expressions\": {\"x\": {\"status\": \"error\", "
                      "\"ename\": \"E\", \"evalue\": \"v\", \"traceback\": []}}}", NULL},
    {"complete_reply", "{\"status\": \"ok\", \"matches\": [\"abs\"], \"cursor_start\": 0, "
                       "\"cursor_end\": 2, \"metadata\": {}}", NULL},
    {"complete_reply", "{\"status\": \"ok\", \"matches\": [\"abs\", {}], \"cursor_start\": 0, "
                       "\"cursor_end\": 2}", "complete_reply.matches[1] is an object, not a string"},
    {"complete_reply", "{\"status\": \"ok\", \"matches\": [], \"cursor_start\": 0.5, "
                       "\"cursor_end\": 2}", "complete_reply.cursor_start is a number, not an integer"},
    {"inspect_reply", "{\"status\": \"ok\", \"found\": true, \"data\": {\"text/plain\": \"x\"}, "
                      "\"metadata\": {}}", NULL},
    {"inspect_reply", "{\"status\": \"ok\", \"found\": \"yes\", \"data\": {}}",
     "inspect_reply.found is a string, not a boolean"},
    {"is_complete_reply", "{\"status\": \"incomplete\", \"indent\": \"    \"}", NULL},
    {"is_complete_reply", "{\"status\": \"ok\"}",
     "is_complete_reply.status is 'ok', not a status this reply has"},
    {"is_complete_reply", "{\"status\": \"incomplete\", \"indent\": 4}",
     "is_complete_reply.indent is a number, not a string"},
    /* types no interpreter may send */
    {"status", "{\"execution_state\": \"idle\"}",
     "'status' is not a message type sandcell takes from an interpreter"},
    {"kernel_info_reply", "{}",
     "'kernel_info_reply' is not a message type sandcell takes from an interpreter"},
};

static void test_table(void)
{
    for (size_t i = 0; i < sizeof s_cases / sizeof *s_cases; i++) {
        const case_t *c = &s_cases[i];
        json_error_t err;
        json_t *content = json_loads(c->json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (!CHECK(content != NULL)) {
            tap_diag("case %zu does not parse: %s", i, err.text);
            tap_case("case %zu parses", i);
            continue;
        }
        char why[CONTENT_WHY_LEN];
        int rc = content_check(c->type, content, why, sizeof why);
        if (c->why) {
            CHECK_INT(rc, -1);
            CHECK_STR(why, c->why);
        } else {
            CHECK_INT(rc, 0);
            if (rc != 0)
                tap_diag("unexpected: %s", why);
        }
        tap_case("%s %s", c->type, c->why ? c->why : "is valid");
        json_decref(content);
    }
}

/* A mime bundle key with a NUL, bundles and nesting past the bounds. */
static void test_bounds(void)
{
    char why[CONTENT_WHY_LEN];
    json_t *c = json_pack("{s:{}}", "data");
    json_t *data = json_object_get(c, "data");
    json_object_setn_new(data, "text/pl\0ain", 11, json_string("x"));
    CHECK_INT(content_check("display_data", c, why, sizeof why), -1);
    CHECK_STR(why, "display_data.data has a key that is not a mime type: 'text/pl?ain'");
    tap_case("a mime type with a NUL is refused");

    json_object_clear(data);
    for (int i = 0; i < CONTENT_MAX_MIME_TYPES; i++) {
        char key[32];
        snprintf(key, sizeof key, "text/x-%d", i);
        json_object_set_new(data, key, json_string(""));
    }
    CHECK_INT(content_check("display_data", c, why, sizeof why), 0);
    json_object_set_new(data, "text/one-more", json_string(""));
    CHECK_INT(content_check("display_data", c, why, sizeof why), -1);
    CHECK_STR(why, "display_data.data has more than 64 mime types");
    tap_case("at most %d mime types in a bundle", CONTENT_MAX_MIME_TYPES);

    json_object_clear(data);
    json_t *deep = json_integer(1);
    for (int i = 0; i < CONTENT_MAX_DEPTH; i++)
        deep = json_pack("[o]", deep);
    json_object_set(data, "application/json", deep);
    CHECK_INT(content_check("display_data", c, why, sizeof why), 0);
    json_object_set_new(data, "application/json", json_pack("[O]", deep));
    CHECK_INT(content_check("display_data", c, why, sizeof why), -1);
    CHECK_STR(why, "display_data.data['application/json'] nests deeper than 64 levels");
    json_object_clear(data);
    json_object_set_new(c, "metadata", json_pack("{s:[O]}", "k", deep));
    CHECK_INT(content_check("display_data", c, why, sizeof why), -1);
    CHECK_STR(why, "display_data.metadata nests deeper than 64 levels");
    json_decref(deep);
    tap_case("JSON data and metadata nest at most %d levels", CONTENT_MAX_DEPTH);

    char name[CONTENT_MAX_NAME_LEN + 2];
    memset(name, 'E', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    json_t *err = json_pack("{s:s, s:s, s:[]}", "ename", name, "evalue", "", "traceback");
    CHECK_INT(content_check("error", err, why, sizeof why), -1);
    CHECK_STR(why, "error.ename is longer than 1024 bytes");
    name[sizeof name - 2] = '\0';
    json_object_set_new(err, "ename", json_string(name));
    CHECK_INT(content_check("error", err, why, sizeof why), 0);
    tap_case("an ename has at most %d bytes", CONTENT_MAX_NAME_LEN);

    /* a long key is cut at a character boundary: the message stays UTF-8 */
    json_object_clear(data);
    json_object_del(c, "metadata");
    json_object_set_new(data, "text/\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                              "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                              "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
                        json_string(""));
    CHECK_INT(content_check("display_data", c, why, sizeof why), -1);
    json_t *as_json = json_string(why);
    CHECK(as_json != NULL);
    CHECK(strstr(why, "...'") != NULL);
    json_decref(as_json);
    tap_case("a quoted key is cut without splitting a character");

    CHECK_INT(content_check(NULL, c, why, sizeof why), -1);
    CHECK_INT(content_check("display_data", NULL, why, sizeof why), -1);
    CHECK_STR(why, "display_data has no content");
    CHECK(content_check_is_output("stream") && content_check_is_output("clear_output"));
    CHECK(!content_check_is_output("input_request") && !content_check_is_output("reply"));
    tap_case("no type, no content");
    json_decref(err);
    json_decref(c);
}

typedef struct {
    const char *in;
    size_t in_len;
    const char *out; /* NULL: nothing to repair */
} repair_t;

#define R(s) s, sizeof s - 1

static const repair_t s_repairs[] = {
    {R("plain ascii"), NULL},
    {R("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), NULL},
    {R("\"\\ud83d\\ude00\""), NULL}, /* an escaped pair is one character */
    {R("\"\\\\ud800\""), NULL},        /* an escaped backslash, then text */
    {R("a\xff" "b"), "a\xef\xbf\xbd" "b"},
    {R("a\xc3"), "a\xef\xbf\xbd"},                          /* cut short */
    {R("\xe2\x82" "x"), "\xef\xbf\xbd" "x"},                /* one U+FFFD per subpart */
    {R("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* an encoded surrogate */
    {R("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd"},             /* overlong */
    {R("\xf4\x90\x80\x80"),
     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},   /* past U+10FFFF */
    {R("\"x\\ud800y\""), "\"x\\ufffdy\""},
    {R("\"\\uDFFF\\uD800\""), "\"\\ufffd\\ufffd\""},
    {R("\"\\ud800\\u0041\""), "\"\\ufffd\\u0041\""},
    {R("\\\xff"), "\\\xef\xbf\xbd"},
};

static void test_repair(void)
{
    for (size_t i = 0; i < sizeof s_repairs / sizeof *s_repairs; i++) {
        const repair_t *r = &s_repairs[i];
        size_t len = 99;
        char *out = interp_record_repair(r->in, r->in_len, &len);
        if (!r->out) {
            CHECK(out == NULL);
            CHECK_INT(len, 0);
        } else if (CHECK(out != NULL)) {
            CHECK_INT(len, strlen(r->out));
            CHECK(memcmp(out, r->out, strlen(r->out)) == 0);
            CHECK_INT(out[len], '\0');
        }
        free(out);
        tap_case("repair case %zu", i);
    }
}

#define VALUES_HEAD "{\"type\":\"stream\",\"content\":{\"x\":["

/* A record whose array holds |pairs| "0," and a last 0. Caller frees. */
static char *s_values_text(size_t pairs, size_t *len)
{
    size_t head = strlen(VALUES_HEAD);
    *len = head + 2 * pairs + 4;
    char *text = malloc(*len);
    memcpy(text, VALUES_HEAD, head);
    for (size_t i = 0; i < pairs; i++)
        memcpy(text + head + 2 * i, "0,", 2);
    memcpy(text + *len - 4, "0]}}", 4);
    return text;
}

static void test_decode(void)
{
    char why[INTERP_RECORD_WHY_LEN];
    static const char nul[] = "{\"type\":\"stream\",\"content\":{\"name\":\"stdout\","
                              "\"text\":\"a\\u0000b\xff\"}}";
    json_t *rec = interp_record_decode(nul, sizeof nul - 1, why, sizeof why);
    const json_t *text = json_object_get(json_object_get(rec, "content"), "text");
    CHECK(rec != NULL);
    CHECK_INT(json_string_length(text), 6);
    CHECK(json_string_value(text) && memcmp(json_string_value(text), "a\0b\xef\xbf\xbd", 6) == 0);
    json_decref(rec);
    tap_case("NUL is kept and bad bytes are replaced");

    static const struct {
        const char *text, *why;
    } bad[] = {
        {"{\"type\":\"stream\"", "the record is not JSON ('}' expected near end of file, at byte 16)"},
        {"[1]", "the record is not a JSON object"},
        {"{\"content\":{}}", "the record has no type"},
        {"{\"type\":\"stream\\u0000x\",\"content\":{}}", "the record has no type"},
        {"{\"type\":\"stream\",\"content\":[]}", "the record's content is not an object"},
        {"{\"type\":\"display_data\",\"content\":{\"data\":\"x\"}}",
         "display_data.data is a string, not an object"},
        {"{\"type\":\"input_request\",\"content\":{}}", "input_request.prompt is missing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rec = interp_record_decode(bad[i].text, strlen(bad[i].text), why, sizeof why);
        CHECK(rec == NULL);
        if (!CHECK(strncmp(why, bad[i].why, strlen(bad[i].why)) == 0))
            tap_diag("got: %s", why);
        json_decref(rec);
        tap_case("refused: %s", bad[i].why);
    }

    /* more values than the bound, before any parse: the head holds four
     * openers and separators, each "0," one more */
    size_t n;
    char *many = s_values_text(INTERP_RECORD_MAX_VALUES - 4, &n);
    CHECK(!interp_record_too_many_values(many, n));
    free(many);
    many = s_values_text(INTERP_RECORD_MAX_VALUES - 3, &n);
    CHECK(interp_record_too_many_values(many, n));
    /* with the separators inside a string, they are one value */
    many[strlen(VALUES_HEAD) - 1] = '"';
    memcpy(many + n - 4, "0\"}}", 4);
    CHECK(!interp_record_too_many_values(many, n));
    free(many);
    tap_case("the values of a record are counted without parsing it");

    json_t *error = interp_record_error("the record is not JSON");
    CHECK_STR(json_string_value(json_object_get(error, "ename")), "InvalidOutput");
    CHECK_STR(json_string_value(json_object_get(error, "evalue")), "the record is not JSON");
    CHECK_STR(json_string_value(json_array_get(json_object_get(error, "traceback"), 0)),
              "InvalidOutput: the record is not JSON");
    CHECK(content_check("error", error, why, sizeof why) == 0);
    json_decref(error);
    error = interp_record_error("cut \xc3");
    CHECK_STR(json_string_value(json_object_get(error, "evalue")), "cut \xef\xbf\xbd");
    json_decref(error);
    tap_case("the error output that stands for an unusable record");
}

int main(void)
{
    test_table();
    test_bounds();
    test_repair();
    test_decode();
    return tap_done();
}
