/* jsonrpc — the line parser and the message builders.
 *
 * Values are counted by a scan of the bytes before jansson sees them (every
 * '[', '{', ',' and ':' outside strings bounds the values a text can hold),
 * so a short line of "[[[[" or "0,0,0" cannot make the manager allocate a
 * hundred times its size. Ids must be strings or integers, as MCP asks
 * (JSON-RPC's null id is refused); a message with both "result" and
 * "error", or with neither and no method, is invalid. */
#include "jsonrpc.h"

#include <stdlib.h>
#include <string.h>

/* An upper bound on the values in |len| bytes of JSON text. */
static size_t s_count_values(const char *s, size_t len)
{
    size_t n = 1;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{' || c == ',' || c == ':') {
            n++;
        }
    }
    return n;
}

json_t *jsonrpc_parse_line(const char *line, size_t len, int *code, const char **why)
{
    if (len > JSONRPC_MAX_LINE) {
        *code = JSONRPC_INVALID_REQUEST;
        *why = "message too large";
        return NULL;
    }
    if (s_count_values(line, len) > JSONRPC_MAX_VALUES) {
        *code = JSONRPC_INVALID_REQUEST;
        *why = "message has too many JSON values";
        return NULL;
    }
    json_error_t err;
    json_t *v = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    if (!v) {
        *code = JSONRPC_PARSE_ERROR;
        *why = "parse error: not one JSON value in UTF-8";
        return NULL;
    }
    return v;
}

static void s_invalid(jsonrpc_msg_t *out, int code, const char *why)
{
    out->kind = JSONRPC_INVALID;
    out->error_code = code;
    out->error_message = why;
}

void jsonrpc_classify(json_t *value, jsonrpc_msg_t *out)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(value)) {
        s_invalid(out, JSONRPC_INVALID_REQUEST, "invalid request: not a JSON object");
        return;
    }
    json_t *id = json_object_get(value, "id");
    if (id && (json_is_string(id) || json_is_integer(id)))
        out->id = id;
    const char *version = json_string_value(json_object_get(value, "jsonrpc"));
    if (!version || strcmp(version, "2.0") != 0) {
        s_invalid(out, JSONRPC_INVALID_REQUEST, "invalid request: \"jsonrpc\" must be \"2.0\"");
        return;
    }
    if (id && !out->id) {
        s_invalid(out, JSONRPC_INVALID_REQUEST,
                  "invalid request: \"id\" must be a string or an integer");
        return;
    }
    json_t *method = json_object_get(value, "method");
    if (!method) {
        json_t *result = json_object_get(value, "result");
        json_t *error = json_object_get(value, "error");
        if (!out->id || (result && error) || (!result && !error) ||
            (error && !json_is_object(error))) {
            s_invalid(out, JSONRPC_INVALID_REQUEST,
                      "invalid request: no \"method\", and not a response");
            return;
        }
        out->kind = JSONRPC_RESPONSE;
        return;
    }
    if (!json_is_string(method) || !json_string_value(method)[0] ||
        strlen(json_string_value(method)) != json_string_length(method)) {
        s_invalid(out, JSONRPC_INVALID_REQUEST, "invalid request: \"method\" must be a string");
        return;
    }
    json_t *params = json_object_get(value, "params");
    if (params && !json_is_object(params) && !json_is_array(params)) {
        s_invalid(out, JSONRPC_INVALID_REQUEST,
                  "invalid request: \"params\" must be an object or an array");
        return;
    }
    out->method = json_string_value(method);
    out->params = params;
    out->kind = out->id ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION;
}

json_t *jsonrpc_result(const json_t *id, json_t *result)
{
    if (!result)
        return NULL;
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "result",
                     result);
}

json_t *jsonrpc_error(const json_t *id, int code, const char *message, json_t *data)
{
    json_t *error = json_pack("{s:i, s:s}", "code", code, "message", message);
    if (error && data)
        json_object_set_new(error, "data", data);
    else
        json_decref(data);
    if (!error)
        return NULL;
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error",
                     error);
}

json_t *jsonrpc_notification(const char *method, json_t *params)
{
    if (!params)
        return NULL;
    return json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method, "params", params);
}

char *jsonrpc_line(const json_t *msg, size_t *len)
{
    char *text = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (!line) {
        free(text);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    *len = n + 1;
    return line;
}
