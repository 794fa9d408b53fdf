/* test_mcp — the MCP server's pure parts: the JSON-RPC line parser and
 * classifier (session/mcp/jsonrpc.c), and the tools' results built from
 * a cell's Jupyter outputs (session/mcp/mcp_tools.c). */
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"
#include "mcp_tools.h"
#include "tap.h"

/* Parses and classifies |line|; returns the kind, or -code for a line
 * that does not parse. */
static int s_kind(const char *line, jsonrpc_msg_t *m, json_t **root)
{
    int code = 0;
    const char *why = NULL;
    *root = jsonrpc_parse_line(line, strlen(line), &code, &why);
    if (!*root)
        return -code;
    jsonrpc_classify(*root, m);
    return (int)m->kind;
}

static void test_classify(void)
{
    static const struct {
        const char *line;
        int kind;
    } cases[] = {
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", JSONRPC_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"tools/list\",\"params\":{}}",
         JSONRPC_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", JSONRPC_NOTIFICATION},
        {"{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}}", JSONRPC_RESPONSE},
        {"{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":1,\"message\":\"m\"}}",
         JSONRPC_RESPONSE},
        {"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", JSONRPC_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", JSONRPC_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}", JSONRPC_INVALID},
        {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", JSONRPC_INVALID},
        {"{\"id\":1,\"method\":\"ping\"}", JSONRPC_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", JSONRPC_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}", JSONRPC_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\\u0000\"}", -JSONRPC_PARSE_ERROR},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":\"s\"}", JSONRPC_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{}}", JSONRPC_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"result\":1}", JSONRPC_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}", -JSONRPC_PARSE_ERROR},
        {"[1,2]", -1}, /* an array parses; its members are classified one by one */
        {"42", JSONRPC_INVALID},
        {"{\"jsonrpc\":\"2.0\",", -JSONRPC_PARSE_ERROR},
        {"\xff\xfe", -JSONRPC_PARSE_ERROR},
        {"", -JSONRPC_PARSE_ERROR},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        jsonrpc_msg_t m;
        json_t *root = NULL;
        int kind = s_kind(cases[i].line, &m, &root);
        if (cases[i].kind == -1) {
            CHECK(json_is_array(root));
        } else if (kind != cases[i].kind) {
            tap_diag("line %zu: %s: kind %d, expected %d", i, cases[i].line, kind,
                     cases[i].kind);
            CHECK(0);
        }
        if (kind == JSONRPC_INVALID)
            CHECK_INT(m.error_code, JSONRPC_INVALID_REQUEST);
        json_decref(root);
    }
    tap_case("requests, notifications, responses and invalid messages are told apart");

    jsonrpc_msg_t m;
    json_t *root;
    s_kind("{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"tools/call\",\"params\":{\"a\":1}}",
           &m, &root);
    CHECK_STR(m.method, "tools/call");
    CHECK_STR(json_string_value(m.id), "abc");
    CHECK(json_is_object(m.params));
    json_decref(root);
    tap_case("method, id and params are borrowed from the message");
}

static void test_limits(void)
{
    size_t n = 3 * JSONRPC_MAX_VALUES;
    char *many = malloc(n + 2);
    many[0] = '[';
    for (size_t i = 1; i < n; i += 2) {
        many[i] = '0';
        many[i + 1] = ',';
    }
    many[n - 1] = '0';
    many[n] = ']';
    int code = 0;
    const char *why = NULL;
    CHECK(jsonrpc_parse_line(many, n + 1, &code, &why) == NULL);
    CHECK_INT(code, JSONRPC_INVALID_REQUEST);
    CHECK(strstr(why, "too many"));
    free(many);
    /* commas inside strings are not values */
    const char *s = "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"code\":\""
                    ",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\\\",,,,\"}}";
    json_t *v = jsonrpc_parse_line(s, strlen(s), &code, &why);
    CHECK(v != NULL);
    json_decref(v);
    tap_case("a line with too many values is refused before parsing");
}

static void test_builders(void)
{
    json_t *id = json_integer(7);
    size_t len;
    json_t *msg = jsonrpc_error(id, JSONRPC_METHOD_NOT_FOUND, "method not found: x", NULL);
    char *line = jsonrpc_line(msg, &len);
    CHECK_STR(line, "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32601,\"message\":"
                    "\"method not found: x\"}}\n");
    free(line);
    json_decref(msg);
    msg = jsonrpc_result(NULL, json_pack("{s:s}", "t", "a\nb"));
    line = jsonrpc_line(msg, &len);
    CHECK_STR(line, "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{\"t\":\"a\\nb\"}}\n");
    CHECK_INT((long)len, (long)strlen(line));
    free(line);
    json_decref(msg);
    json_decref(id);
    tap_case("responses and errors go out as one line each");
}

static void test_text(void)
{
    char *s = mcp_tools_strip_ansi("\x1b[0;31mred\x1b[0m \x1b]0;t\x07ok\x1b", 25);
    CHECK_STR(s, "red ok");
    free(s);
    tap_case("ANSI colour and title sequences are stripped");
    s = mcp_tools_html_text("<style>td{}</style><table><tr><th>a</th><th>b</th></tr>"
                            "<tr><td>1</td><td>&lt;2&gt;</td></tr></table><p>x &amp;  y</p>");
    CHECK_STR(s, "a | b\n1 | <2>\nx & y");
    free(s);
    tap_case("HTML becomes readable text: rows on lines, cells apart, entities decoded");
}

static void test_execute_result(void)
{
    json_t *outputs = json_pack(
        "[{s:s, s:{s:s, s:s}}, {s:s, s:{s:s, s:s}}, {s:s, s:{s:s, s:s}},"
        " {s:s, s:{s:{s:s, s:s}, s:{}}}, {s:s, s:{s:i, s:{s:s}, s:{}}}]",
        "msg_type", "stream", "content", "name", "stdout", "text", "a", "msg_type", "stream",
        "content", "name", "stdout", "text", "b\n", "msg_type", "stream", "content", "name",
        "stderr", "text", "warn\n", "msg_type", "display_data", "content", "data",
        "image/png", "iVBO\nRw==", "text/plain", "<Figure>", "metadata", "msg_type",
        "execute_result", "content", "execution_count", 3, "data", "text/plain", "42",
        "metadata");
    json_t *reply = json_pack("{s:s, s:i}", "status", "ok", "execution_count", 3);
    json_t *r = mcp_tools_execute_result(outputs, reply, 5, NULL, true);
    json_t *content = json_object_get(r, "content");
    CHECK_INT((long)json_array_size(content), 4);
    CHECK_STR(json_string_value(json_object_get(json_array_get(content, 0), "text")), "ab\n");
    CHECK_STR(json_string_value(json_object_get(json_array_get(content, 2), "type")), "image");
    CHECK_STR(json_string_value(json_object_get(json_array_get(content, 2), "data")), "iVBORw==");
    CHECK_STR(json_string_value(json_object_get(json_array_get(content, 3), "text")), "42");
    CHECK(json_is_false(json_object_get(r, "isError")));
    json_t *sc = json_object_get(r, "structuredContent");
    CHECK_STR(json_string_value(json_object_get(sc, "stdout")), "ab\n");
    CHECK_STR(json_string_value(json_object_get(sc, "stderr")), "warn\n");
    CHECK_INT((long)json_array_size(json_object_get(sc, "results")), 2);
    CHECK(json_is_null(json_object_get(sc, "error")));
    CHECK_INT((long)json_integer_value(json_object_get(sc, "execution_count")), 3);
    CHECK_INT((long)json_integer_value(json_object_get(sc, "executions_left")), 5);
    json_decref(r);
    json_decref(outputs);
    json_decref(reply);
    tap_case("streams merge, images become image blocks, the result its text");

    outputs = json_pack("[{s:s, s:{s:s, s:s, s:[s]}}]", "msg_type", "error", "content", "ename",
                        "KeyError", "evalue", "'k'", "traceback", "\x1b[31mKeyError\x1b[0m: 'k'");
    reply = json_pack("{s:s, s:s}", "status", "error", "ename", "KeyError");
    r = mcp_tools_execute_result(outputs, reply, -1, "note", false);
    CHECK(json_is_true(json_object_get(r, "isError")));
    CHECK(!json_object_get(r, "structuredContent"));
    content = json_object_get(r, "content");
    CHECK_STR(json_string_value(json_object_get(json_array_get(content, 0), "text")),
              "KeyError: 'k'\nKeyError: 'k'");
    CHECK_STR(json_string_value(json_object_get(json_array_get(content, 1), "text")), "note");
    json_decref(r);
    json_decref(outputs);
    json_decref(reply);
    tap_case("an error is isError with ename: evalue and the traceback, ANSI stripped");

    outputs = json_array();
    reply = json_pack("{s:s, s:s, s:s, s:[]}", "status", "error", "ename",
                      "ExecutionLimitReached", "evalue", "cap", "traceback");
    r = mcp_tools_execute_result(outputs, reply, 0, NULL, true);
    sc = json_object_get(r, "structuredContent");
    CHECK_STR(json_string_value(json_object_get(json_object_get(sc, "error"), "ename")),
              "ExecutionLimitReached");
    CHECK(json_is_null(json_object_get(sc, "execution_count")));
    json_decref(r);
    json_decref(outputs);
    json_decref(reply);
    tap_case("a refused cell with no error output is described from its reply");
}

static void test_tools(void)
{
    json_t *list = mcp_tools_list(true);
    json_t *tools = json_object_get(list, "tools");
    CHECK_INT((long)json_array_size(tools), 6);
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        CHECK(mcp_tools_known(json_string_value(json_object_get(t, "name"))));
        CHECK(json_is_object(json_object_get(t, "inputSchema")));
        CHECK(json_is_object(json_object_get(t, "outputSchema")));
    }
    json_decref(list);
    list = mcp_tools_list(false);
    CHECK(!json_object_get(json_array_get(json_object_get(list, "tools"), 0), "outputSchema"));
    json_decref(list);
    CHECK(!mcp_tools_known("rm_rf"));
    CHECK(!mcp_tools_known(NULL));
    tap_case("six tools, each with input and (from 2025-06-18) output schemas");
}

int main(void)
{
    test_classify();
    test_limits();
    test_builders();
    test_text();
    test_execute_result();
    test_tools();
    return tap_done();
}
