/* fuzz_mcp — what an MCP client writes on sandcell mcp's stdin
 * (session/mcp/jsonrpc.c), and the text helpers that read what a cell
 * printed (session/mcp/mcp_tools.c).
 *
 * Input: one line. It is parsed and classified as the server does (a
 * batch member by member), and the answer the server would give is built
 * and serialised. What must hold: no crash or leak; every answer is one
 * line ending in its only newline; an invalid message earns one of the
 * JSON-RPC error codes; strip_ansi leaves no ESC byte and never grows the
 * text; html_text never returns NULL for a NUL-terminated input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jsonrpc.h"
#include "mcp_tools.h"

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz_mcp: %s:%d: %s does not hold\n", __FILE__, __LINE__,      \
                    #cond);                                                                  \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

static void s_check_line(json_t *msg)
{
    CHECK(msg);
    size_t len = 0;
    char *line = jsonrpc_line(msg, &len);
    CHECK(line && len > 0 && line[len - 1] == '\n');
    CHECK(memchr(line, '\n', len) == line + len - 1);
    free(line);
    json_decref(msg);
}

static void s_answer(json_t *value)
{
    jsonrpc_msg_t m;
    jsonrpc_classify(value, &m);
    switch (m.kind) {
    case JSONRPC_INVALID:
        CHECK(m.error_code == JSONRPC_INVALID_REQUEST || m.error_code == JSONRPC_INVALID_PARAMS);
        CHECK(m.error_message);
        s_check_line(jsonrpc_error(m.id, m.error_code, m.error_message, NULL));
        break;
    case JSONRPC_REQUEST:
        CHECK(m.method && m.id && (json_is_string(m.id) || json_is_integer(m.id)));
        CHECK(!m.params || json_is_object(m.params) || json_is_array(m.params));
        s_check_line(jsonrpc_result(m.id, json_pack("{s:s}", "method", m.method)));
        if (mcp_tools_known(json_string_value(json_object_get(m.params, "name"))))
            s_check_line(jsonrpc_result(m.id, mcp_tools_error("known")));
        break;
    case JSONRPC_NOTIFICATION:
        CHECK(m.method && !m.id);
        s_check_line(jsonrpc_notification(m.method, json_object()));
        break;
    case JSONRPC_RESPONSE:
        CHECK(m.id);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int code = 0;
    const char *why = NULL;
    json_t *v = jsonrpc_parse_line((const char *)data, size, &code, &why);
    if (!v) {
        CHECK(code == JSONRPC_PARSE_ERROR || code == JSONRPC_INVALID_REQUEST);
        CHECK(why);
        s_check_line(jsonrpc_error(NULL, code, why, NULL));
    } else if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
            s_answer(m);
    } else {
        s_answer(v);
    }
    json_decref(v);

    char *text = malloc(size + 1);
    CHECK(text);
    memcpy(text, data, size);
    text[size] = '\0';
    char *plain = mcp_tools_strip_ansi(text, size);
    CHECK(plain && strlen(plain) <= size && !strchr(plain, 0x1b));
    free(plain);
    char *html = mcp_tools_html_text(text);
    CHECK(html && strlen(html) <= size * 3 + 1);
    free(html);
    free(text);
    return 0;
}
