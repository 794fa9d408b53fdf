/* handlers — one function per request type, and the table that maps
 * msg_type to them. Busy/idle and the queue are the router's (conversation_requests.c);
 * a handler checks the request's fields, then either replies itself
 * (HANDLER_DONE) or forwards to the interpreter (HANDLER_FORWARDED).
 * A field of the wrong type gets an error reply naming the field. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "conversation_internal.h"
#include "handlers.h"
#include "header.h"
#include "kernel_info.h"
#include "log.h"
#include "util.h"

/* Reads an optional boolean field; false with an error reply if mistyped. */
static bool s_bool_field(conversation_t *c, request_t *req, const char *key, bool dflt,
                         bool *out)
{
    json_t *v = json_object_get(req->msg.content, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return true;
    }
    if (!json_is_boolean(v)) {
        char why[96];
        snprintf(why, sizeof why, "'%s' must be a boolean", key);
        conversation_reply_error(c, req, "BadRequest", why);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* Reads the required string field 'code'; NULL with an error reply. */
static const char *s_code_field(conversation_t *c, request_t *req)
{
    const char *code = json_string_value(json_object_get(req->msg.content, "code"));
    if (!code)
        conversation_reply_error(c, req, "BadRequest", "'code' must be a string");
    return code;
}

/* Reads 'cursor_pos' (defaults to the end of |code|, in code points). */
static bool s_cursor_field(conversation_t *c, request_t *req, const char *code,
                           json_int_t *out)
{
    json_t *v = json_object_get(req->msg.content, "cursor_pos");
    if (!v || json_is_null(v)) {
        json_int_t n = 0;
        for (const unsigned char *p = (const unsigned char *)code; *p; p++)
            n += (*p & 0xC0) != 0x80;
        *out = n;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        conversation_reply_error(c, req, "BadRequest",
                                 "'cursor_pos' must be a non-negative integer");
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

static handler_result_t s_forward(conversation_t *c, request_t *req, json_t *record)
{
    int rc = conversation_forward(c, req, record);
    json_decref(record);
    if (rc == -ENOBUFS) {
        char why[200];
        snprintf(why, sizeof why,
                 "the interpreter left more than %zu MiB of requests unread and was stopped",
                 CHANNEL_MAX_PENDING >> 20);
        conversation_reply_error(c, req, "InterpreterDied", why);
        return HANDLER_DONE;
    }
    if (rc < 0) {
        conversation_reply_error(c, req, "InterpreterDied",
                                 "the interpreter stopped accepting requests");
        return HANDLER_DONE;
    }
    return HANDLER_FORWARDED;
}

static handler_result_t s_execute(conversation_t *c, request_t *req)
{
    const char *code = s_code_field(c, req);
    bool silent, store_history, allow_stdin;
    if (!code || !s_bool_field(c, req, "silent", false, &silent) ||
        !s_bool_field(c, req, "store_history", !silent, &store_history) ||
        !s_bool_field(c, req, "allow_stdin", true, &allow_stdin) ||
        !s_bool_field(c, req, "stop_on_error", true, &req->stop_on_error))
        return HANDLER_DONE;
    json_t *exprs = json_object_get(req->msg.content, "user_expressions");
    if (exprs && !json_is_object(exprs) && !json_is_null(exprs)) {
        conversation_reply_error(c, req, "BadRequest", "'user_expressions' must be an object");
        return HANDLER_DONE;
    }
    req->store_history = store_history && !silent;
    req->allow_stdin = allow_stdin;
    if (req->store_history)
        c->execution_count++;
    req->execution_count = c->execution_count;
    req->code = strdup(code);
    if (!req->code) {
        conversation_reply_error(c, req, "MemoryError", "out of memory in the kernel");
        return HANDLER_DONE;
    }
    handler_result_t r = s_forward(
        c, req,
        json_pack("{s:s, s:s, s:b, s:b, s:o, s:b, s:i}", "op", "execute", "code", code, "silent",
                  silent, "store_history", req->store_history, "user_expressions",
                  json_is_object(exprs) ? json_incref(exprs) : json_object(), "allow_stdin",
                  allow_stdin, "execution_count", req->execution_count));
    if (r != HANDLER_FORWARDED)
        return r;
    /* The interpreter is already at work; its outputs are read only after
     * this returns, so these still come first on iopub. */
    if (!silent)
        conversation_publish(c, &req->msg.raw_header, "execute_input",
                             json_pack("{s:s, s:i}", "code", code, "execution_count",
                                       req->execution_count));
    conversation_publish_notes(c, req);
    return r;
}

/* complete_request and inspect_request share their fields. */
static handler_result_t s_code_at_cursor(conversation_t *c, request_t *req, const char *op)
{
    const char *code = s_code_field(c, req);
    json_int_t cursor;
    if (!code || !s_cursor_field(c, req, code, &cursor))
        return HANDLER_DONE;
    json_t *level = json_object_get(req->msg.content, "detail_level");
    return s_forward(c, req,
                     json_pack("{s:s, s:s, s:I, s:i}", "op", op, "code", code, "cursor_pos",
                               cursor, "detail_level",
                               json_is_integer(level) ? (int)json_integer_value(level) : 0));
}

static handler_result_t s_complete(conversation_t *c, request_t *req)
{
    return s_code_at_cursor(c, req, "complete");
}

static handler_result_t s_inspect(conversation_t *c, request_t *req)
{
    return s_code_at_cursor(c, req, "inspect");
}

static handler_result_t s_is_complete(conversation_t *c, request_t *req)
{
    const char *code = s_code_field(c, req);
    if (!code)
        return HANDLER_DONE;
    return s_forward(c, req, json_pack("{s:s, s:s}", "op", "is_complete", "code", code));
}

/* Replies with |content| (a new reference; NULL: it could not be made). */
static handler_result_t s_reply_made(conversation_t *c, request_t *req, json_t *content)
{
    if (!content)
        conversation_reply_error(c, req, "MemoryError", "out of memory in the kernel");
    else
        conversation_reply(c, req, content);
    return HANDLER_DONE;
}

static handler_result_t s_history(conversation_t *c, request_t *req)
{
    return s_reply_made(c, req, history_query(c->history, req->msg.content));
}

static handler_result_t s_kernel_info(conversation_t *c, request_t *req)
{
    return s_reply_made(c, req, kernel_info_content());
}

static handler_result_t s_comm_info(conversation_t *c, request_t *req)
{
    conversation_reply(c, req, json_pack("{s:s, s:{}}", "status", "ok", "comms"));
    return HANDLER_DONE;
}

/* No comm targets exist, so every comm_open is closed at once, as the
 * protocol asks of a kernel that does not know the target. */
static handler_result_t s_comm_open(conversation_t *c, request_t *req)
{
    const char *id = json_string_value(json_object_get(req->msg.content, "comm_id"));
    if (id)
        conversation_publish(c, &req->msg.raw_header, "comm_close",
                             json_pack("{s:s, s:{}}", "comm_id", id, "data"));
    return HANDLER_DONE;
}

/* comm_msg and comm_close for comms that do not exist: nothing to do. */
static handler_result_t s_comm_ignore(conversation_t *c, request_t *req)
{
    return HANDLER_DONE;
}

static handler_result_t s_shutdown(conversation_t *c, request_t *req)
{
    bool restart;
    if (!s_bool_field(c, req, "restart", false, &restart))
        return HANDLER_DONE;
    conversation_reply(c, req, json_pack("{s:s, s:b}", "status", "ok", "restart", restart));
    if (restart && c->restart_in_place)
        conversation_restart_interpreter(c);
    else
        c->closed = true;
    return HANDLER_DONE;
}

static handler_result_t s_interrupt(conversation_t *c, request_t *req)
{
    conversation_interrupt(c);
    conversation_reply(c, req, json_pack("{s:s}", "status", "ok"));
    return HANDLER_DONE;
}

static handler_result_t s_unknown(conversation_t *c, request_t *req)
{
    char why[128];
    snprintf(why, sizeof why, "sandcell does not handle %.64s", wire_msg_type(&req->msg));
    log_warn("answered an unknown request: %s", why);
    conversation_reply_error(c, req, "UnknownMessageType", why);
    return HANDLER_DONE;
}

static const handler_t s_handlers[] = {
    {"execute_request", s_execute, true},
    {"complete_request", s_complete, true},
    {"inspect_request", s_inspect, true},
    {"is_complete_request", s_is_complete, true},
    {"history_request", s_history, false},
    {"kernel_info_request", s_kernel_info, false},
    {"comm_info_request", s_comm_info, false},
    {"comm_open", s_comm_open, false},
    {"comm_msg", s_comm_ignore, false},
    {"comm_close", s_comm_ignore, false},
    {"shutdown_request", s_shutdown, false},
    {"interrupt_request", s_interrupt, false},
};

static const handler_t s_unknown_handler = {NULL, s_unknown, false};

/* A frontend asks is_complete when its user presses Enter and waits for
 * the answer before it shows anything (jupyter_console: 1 s, after which it
 * stops asking for the rest of the session). While the interpreter starts
 * (seconds, on a loaded machine, with its preloads), "unknown" — the
 * frontend decides itself, as the protocol allows — beats a wait. */
static handler_result_t s_is_complete_unknown(conversation_t *c, request_t *req)
{
    conversation_reply(c, req, json_pack("{s:s}", "status", "unknown"));
    return HANDLER_DONE;
}

static const handler_t s_starting_handlers[] = {
    {"is_complete_request", s_is_complete_unknown, false},
};

const handler_t *handlers_while_starting(const char *msg_type)
{
    for (size_t i = 0; i < ARRAY_SIZE(s_starting_handlers); i++)
        if (strcmp(s_starting_handlers[i].msg_type, msg_type) == 0)
            return &s_starting_handlers[i];
    return NULL;
}

const handler_t *handlers_lookup(const char *msg_type)
{
    for (size_t i = 0; i < ARRAY_SIZE(s_handlers); i++)
        if (strcmp(s_handlers[i].msg_type, msg_type) == 0)
            return &s_handlers[i];
    size_t n = strlen(msg_type);
    if (n > 8 && strcmp(msg_type + n - 8, "_request") == 0)
        return &s_unknown_handler;
    return NULL;
}
