/* mock_interp — an interpreter without Python, for testing the session
 * core. It understands one "language": an execute request's code is
 * echoed to stdout, "fail" gives an error, "input" asks for a line and
 * echoes it, and "crash" exits the process. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interp.h"

static channel_t *s_chan;

static char *s_record(json_t *rec)
{
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    return text;
}

static void s_emit(json_t *rec)
{
    char *text = s_record(rec);
    if (text)
        channel_send(s_chan, text, strlen(text), -1);
    free(text);
}

static char *s_prepare(const interp_config_t *config)
{
    return s_record(json_pack("{s:s, s:[]}", "type", "zygote_ready", "preload_errors"));
}

static char *s_child_init(channel_t *chan, const char *const *env)
{
    s_chan = chan;
    return s_record(json_pack(
        "{s:s, s:{s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:s, s:[]}}", "type", "ready",
        "content", "implementation", "mock", "implementation_version", "0",
        "language_info", "name", "mock", "version", "0", "mimetype", "text/plain",
        "file_extension", ".txt", "banner", "mock interpreter", "help_links"));
}

static json_t *s_execute(const char *code)
{
    if (strcmp(code, "crash") == 0)
        _exit(3);
    if (strcmp(code, "fail") == 0) {
        s_emit(json_pack("{s:s, s:{s:s, s:s, s:[s]}}", "type", "error", "content", "ename",
                         "MockError", "evalue", "failed", "traceback", "MockError: failed"));
        return json_pack("{s:s, s:s, s:s, s:[s]}", "status", "error", "ename", "MockError",
                         "evalue", "failed", "traceback", "MockError: failed");
    }
    const char *text = code;
    json_t *input = NULL;
    if (strcmp(code, "input") == 0) {
        s_emit(json_pack("{s:s, s:{s:s, s:b}}", "type", "input_request", "content", "prompt",
                         "? ", "password", 0));
        char *reply;
        size_t len;
        if (channel_recv(s_chan, 0, &reply, &len) == 1) {
            input = json_loads(reply, 0, NULL);
            free(reply);
        }
        text = json_string_value(json_object_get(input, "value"));
        if (!text)
            text = "";
    }
    s_emit(json_pack("{s:s, s:{s:s, s:s}}", "type", "stream", "content", "name", "stdout",
                     "text", text));
    json_decref(input);
    return json_pack("{s:s, s:{}, s:[]}", "status", "ok", "user_expressions", "payload");
}

static char *s_handle(const char *request, size_t len)
{
    json_t *req = json_loadb(request, len, 0, NULL);
    const char *op = json_string_value(json_object_get(req, "op"));
    json_t *seq = json_incref(json_object_get(req, "seq"));
    json_t *content;
    if (op && strcmp(op, "execute") == 0)
        content = s_execute(json_string_value(json_object_get(req, "code")) ?: "");
    else if (op && strcmp(op, "is_complete") == 0)
        content = json_pack("{s:s}", "status", "complete");
    else
        content = json_pack("{s:s, s:[], s:i, s:i, s:{}}", "status", "ok", "matches",
                            "cursor_start", 0, "cursor_end", 0, "metadata");
    json_decref(req);
    return s_record(json_pack("{s:s, s:o, s:o*}", "type", "reply", "content", content, "seq",
                              seq));
}

const interp_ops_t mock_interp_ops = {
    .name = "mock",
    .prepare = s_prepare,
    .child_init = s_child_init,
    .handle = s_handle,
};
