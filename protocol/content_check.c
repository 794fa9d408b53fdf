/* content_check — the Jupyter content schema of outputs and replies.
 *
 * Each check walks the value once, building the path of what it looks at
 * ("display_data.data['text/plain']") in a small buffer, and stops at the
 * first problem. Mime bundles hold strings except for JSON mime types
 * (application/json, application/...json, ...+json), which may hold any
 * JSON, as nbformat's schema says; metadata may hold any JSON. Nesting is
 * bounded because the daemon copies and prints these values recursively. */
#include "content_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define PATH_LEN 160 /* bytes of a path in a message; longer ones are cut */
#define QUOTE_LEN 40 /* bytes of a quoted key or value */

typedef struct {
    char *buf;
    size_t len;
} why_t;

typedef enum { WANT_STRING, WANT_OBJECT, WANT_ARRAY, WANT_BOOL, WANT_INT } want_t;

static const char *const s_want_names[] = {"a string", "an object", "an array", "a boolean",
                                           "an integer"};

static const char *const s_outputs[] = {
    "stream", "display_data", "update_display_data", "execute_result", "error", "clear_output",
};

static __attribute__((format(printf, 2, 3))) int s_fail(why_t *w, const char *fmt, ...)
{
    if (w->len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->buf, w->len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *s_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

static bool s_is(const json_t *v, want_t want)
{
    switch (want) {
    case WANT_STRING:
        return json_is_string(v);
    case WANT_OBJECT:
        return json_is_object(v);
    case WANT_ARRAY:
        return json_is_array(v);
    case WANT_BOOL:
        return json_is_boolean(v);
    case WANT_INT:
        return json_is_integer(v);
    }
    return false;
}

/* |s| (|len| bytes of UTF-8) as it may appear in a message: at most
 * QUOTE_LEN bytes, cut at a character boundary, control characters as '?'.
 * |out| has room for QUOTE_LEN + 4 bytes. */
static const char *s_quote(char out[QUOTE_LEN + 4], const char *s, size_t len)
{
    size_t n = len;
    if (n > QUOTE_LEN) {
        n = QUOTE_LEN;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* do not split a character */
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    if (n < len)
        memcpy(out + n, "...", 3), n += 3;
    out[n] = '\0';
    return out;
}

/* Appends ".key" (|sep| '.') or "['key']" (|sep| '[') to |path| into |out|. */
static const char *s_child(char out[PATH_LEN], const char *path, char sep, const char *key,
                           size_t key_len)
{
    char quoted[QUOTE_LEN + 4];
    int n = sep == '.' ? snprintf(out, PATH_LEN, "%s.%s", path, key)
                       : snprintf(out, PATH_LEN, "%s['%s']", path, s_quote(quoted, key, key_len));
    if (n < 0)
        out[0] = '\0';
    return out; /* a path longer than PATH_LEN is cut: it only names the place */
}

/* Checks member |key| of |obj| at |path|: present if |required|, and of
 * type |want| if present. Sets *|value_p| (borrowed; may be NULL). */
static int s_member(why_t *w, const json_t *obj, const char *path, const char *key, want_t want,
                    bool required, const json_t **value_p)
{
    const json_t *v = json_object_get(obj, key);
    if (value_p)
        *value_p = v;
    if (!v)
        return required ? s_fail(w, "%s.%s is missing", path, key) : 0;
    if (!s_is(v, want))
        return s_fail(w, "%s.%s is %s, not %s", path, key, s_kind(v), s_want_names[want]);
    return 0;
}

/* A name (ename, display_id): a string of at most CONTENT_MAX_NAME_LEN bytes. */
static int s_name(why_t *w, const json_t *obj, const char *path, const char *key, bool required)
{
    const json_t *v;
    if (s_member(w, obj, path, key, WANT_STRING, required, &v) < 0)
        return -1;
    if (v && json_string_length(v) > CONTENT_MAX_NAME_LEN)
        return s_fail(w, "%s.%s is longer than %d bytes", path, key, CONTENT_MAX_NAME_LEN);
    return 0;
}

static bool s_string_is(const json_t *v, const char *s)
{
    return json_string_length(v) == strlen(s) && strcmp(json_string_value(v), s) == 0;
}

/* Whether |v| nests no deeper than |depth| more levels. */
static bool s_shallow(const json_t *v, int depth)
{
    if (!json_is_object(v) && !json_is_array(v))
        return true;
    if (depth <= 0)
        return false;
    if (json_is_array(v)) {
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item)
            if (!s_shallow(item, depth - 1))
                return false;
        return true;
    }
    const char *key;
    const json_t *item;
    json_object_foreach((json_t *)v, key, item)
        if (!s_shallow(item, depth - 1))
            return false;
    return true;
}

static int s_any_json(why_t *w, const json_t *v, const char *path)
{
    if (!s_shallow(v, CONTENT_MAX_DEPTH))
        return s_fail(w, "%s nests deeper than %d levels", path, CONTENT_MAX_DEPTH);
    return 0;
}

static bool s_mime_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$&^_.+-", ch) != NULL);
}

/* "type/subtype" with RFC 6838's restricted-name characters. */
static bool s_mime_name(const char *key, size_t len)
{
    if (len == 0 || len > CONTENT_MAX_MIME_LEN)
        return false;
    size_t slash = 0, slashes = 0;
    for (size_t i = 0; i < len; i++) {
        if (key[i] == '/') {
            slash = i;
            slashes++;
        } else if (!s_mime_char((unsigned char)key[i])) {
            return false;
        }
    }
    return slashes == 1 && slash > 0 && slash + 1 < len;
}

static bool s_ends_with(const char *s, size_t len, const char *tail)
{
    size_t n = strlen(tail);
    return len >= n && memcmp(s + len - n, tail, n) == 0;
}

/* JSON mime types carry any JSON: application/json, application/...json
 * (application/vnd.plotly.v1+json, application/geo+json) and ...+json. */
static bool s_json_mime(const char *key, size_t len)
{
    return (len > 12 && memcmp(key, "application/", 12) == 0 && s_ends_with(key, len, "json")) ||
           s_ends_with(key, len, "+json");
}

static int s_bundle(why_t *w, const json_t *data, const char *path)
{
    if (json_object_size(data) > CONTENT_MAX_MIME_TYPES)
        return s_fail(w, "%s has more than %d mime types", path, CONTENT_MAX_MIME_TYPES);
    const char *key;
    size_t key_len;
    const json_t *v;
    char child[PATH_LEN], quoted[QUOTE_LEN + 4];
    json_object_keylen_foreach((json_t *)data, key, key_len, v) {
        if (!s_mime_name(key, key_len))
            return s_fail(w, "%s has a key that is not a mime type: '%s'", path,
                          s_quote(quoted, key, key_len));
        s_child(child, path, '[', key, key_len);
        if (s_json_mime(key, key_len)) {
            if (s_any_json(w, v, child) < 0)
                return -1;
        } else if (!json_is_string(v)) {
            return s_fail(w, "%s is %s, not a string", child, s_kind(v));
        }
    }
    return 0;
}

/* data (required), metadata (optional): a display or an execute_result. */
static int s_display(why_t *w, const json_t *c, const char *path, bool data_required)
{
    const json_t *data, *metadata;
    char child[PATH_LEN];
    if (s_member(w, c, path, "data", WANT_OBJECT, data_required, &data) < 0 ||
        (data && s_bundle(w, data, s_child(child, path, '.', "data", 4)) < 0) ||
        s_member(w, c, path, "metadata", WANT_OBJECT, false, &metadata) < 0 ||
        (metadata && s_any_json(w, metadata, s_child(child, path, '.', "metadata", 8)) < 0))
        return -1;
    return 0;
}

static int s_transient(why_t *w, const json_t *c, const char *path, bool id_required)
{
    const json_t *transient;
    char child[PATH_LEN];
    if (s_member(w, c, path, "transient", WANT_OBJECT, id_required, &transient) < 0)
        return -1;
    if (!transient)
        return 0;
    s_child(child, path, '.', "transient", 9);
    if (s_name(w, transient, child, "display_id", id_required) < 0 ||
        s_any_json(w, transient, child) < 0)
        return -1;
    return 0;
}

static int s_strings(why_t *w, const json_t *list, const char *path)
{
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v)
        if (!json_is_string(v))
            return s_fail(w, "%s[%zu] is %s, not a string", path, i, s_kind(v));
    return 0;
}

/* ename, evalue, traceback: an error output or a failed request. */
static int s_error(why_t *w, const json_t *c, const char *path)
{
    const json_t *traceback;
    char child[PATH_LEN];
    if (s_name(w, c, path, "ename", true) < 0 ||
        s_member(w, c, path, "evalue", WANT_STRING, true, NULL) < 0 ||
        s_member(w, c, path, "traceback", WANT_ARRAY, true, &traceback) < 0 ||
        s_strings(w, traceback, s_child(child, path, '.', "traceback", 9)) < 0)
        return -1;
    return 0;
}

static int s_stream(why_t *w, const json_t *c, const char *path)
{
    const json_t *name;
    char quoted[QUOTE_LEN + 4];
    if (s_member(w, c, path, "name", WANT_STRING, true, &name) < 0 ||
        s_member(w, c, path, "text", WANT_STRING, true, NULL) < 0)
        return -1;
    if (!s_string_is(name, "stdout") && !s_string_is(name, "stderr"))
        return s_fail(w, "%s.name is '%s', not stdout or stderr", path,
                      s_quote(quoted, json_string_value(name), json_string_length(name)));
    return 0;
}

/* The status of a reply: one of |allowed| (NULL-terminated). Sets *|status_p|. */
static int s_status(why_t *w, const json_t *c, const char *path, const char *const *allowed,
                    const char **status_p)
{
    const json_t *status;
    char quoted[QUOTE_LEN + 4];
    if (s_member(w, c, path, "status", WANT_STRING, true, &status) < 0)
        return -1;
    const char *s = json_string_value(status);
    for (size_t i = 0; allowed[i]; i++) {
        if (s_string_is(status, allowed[i])) {
            *status_p = allowed[i];
            return 0;
        }
    }
    return s_fail(w, "%s.status is '%s', not a status this reply has", path,
                  s_quote(quoted, s, json_string_length(status)));
}

static int s_user_expressions(why_t *w, const json_t *exprs, const char *path)
{
    static const char *const allowed[] = {"ok", "error", NULL};
    const char *key, *status;
    size_t key_len;
    const json_t *v;
    char child[PATH_LEN];
    json_object_keylen_foreach((json_t *)exprs, key, key_len, v) {
        s_child(child, path, '[', key, key_len);
        if (!json_is_object(v))
            return s_fail(w, "%s is %s, not an object", child, s_kind(v));
        if (s_status(w, v, child, allowed, &status) < 0)
            return -1;
        if (strcmp(status, "error") == 0 ? s_error(w, v, child) < 0
                                         : s_display(w, v, child, true) < 0)
            return -1;
    }
    return 0;
}

static int s_execute_reply(why_t *w, const json_t *c, const char *path, const char *status)
{
    const json_t *payload, *exprs;
    char child[PATH_LEN];
    if (strcmp(status, "ok") != 0)
        return 0;
    if (s_member(w, c, path, "execution_count", WANT_INT, false, NULL) < 0 ||
        s_member(w, c, path, "payload", WANT_ARRAY, false, &payload) < 0 ||
        (payload && s_any_json(w, payload, s_child(child, path, '.', "payload", 7)) < 0) ||
        s_member(w, c, path, "user_expressions", WANT_OBJECT, false, &exprs) < 0 ||
        (exprs &&
         s_user_expressions(w, exprs, s_child(child, path, '.', "user_expressions", 16)) < 0))
        return -1;
    size_t i;
    const json_t *item;
    json_array_foreach(payload, i, item)
        if (!json_is_object(item))
            return s_fail(w, "%s.payload[%zu] is %s, not an object", path, i, s_kind(item));
    return 0;
}

static int s_complete_reply(why_t *w, const json_t *c, const char *path)
{
    const json_t *matches, *metadata;
    char child[PATH_LEN];
    if (s_member(w, c, path, "matches", WANT_ARRAY, true, &matches) < 0 ||
        s_strings(w, matches, s_child(child, path, '.', "matches", 7)) < 0 ||
        s_member(w, c, path, "cursor_start", WANT_INT, true, NULL) < 0 ||
        s_member(w, c, path, "cursor_end", WANT_INT, true, NULL) < 0 ||
        s_member(w, c, path, "metadata", WANT_OBJECT, false, &metadata) < 0 ||
        (metadata && s_any_json(w, metadata, s_child(child, path, '.', "metadata", 8)) < 0))
        return -1;
    return 0;
}

static int s_reply(why_t *w, const char *msg_type, const json_t *c)
{
    static const char *const normal[] = {"ok", "error", NULL};
    static const char *const execute[] = {"ok", "error", "aborted", NULL};
    static const char *const is_complete[] = {"complete", "incomplete", "invalid", "unknown",
                                              "error", NULL};
    const char *status;
    bool is_execute = strcmp(msg_type, "execute_reply") == 0;
    bool is_is_complete = strcmp(msg_type, "is_complete_reply") == 0;
    if (s_status(w, c, msg_type, is_execute ? execute : is_is_complete ? is_complete : normal,
                 &status) < 0)
        return -1;
    if (strcmp(status, "error") == 0)
        return s_error(w, c, msg_type);
    if (is_execute)
        return s_execute_reply(w, c, msg_type, status);
    if (strcmp(msg_type, "complete_reply") == 0)
        return s_complete_reply(w, c, msg_type);
    if (strcmp(msg_type, "inspect_reply") == 0)
        return s_member(w, c, msg_type, "found", WANT_BOOL, true, NULL) < 0 ||
                       s_display(w, c, msg_type, true) < 0
                   ? -1
                   : 0;
    if (is_is_complete)
        return s_member(w, c, msg_type, "indent", WANT_STRING, false, NULL);
    return -1; /* not reached: the caller knows the type */
}

bool content_check_is_output(const char *msg_type)
{
    for (size_t i = 0; i < ARRAY_SIZE(s_outputs); i++)
        if (strcmp(msg_type, s_outputs[i]) == 0)
            return true;
    return false;
}

int content_check(const char *msg_type, const json_t *content, char *why, size_t why_len)
{
    why_t w = {why, why_len};
    if (why_len)
        why[0] = '\0';
    if (!msg_type)
        return s_fail(&w, "the message has no type");
    if (!content)
        return s_fail(&w, "%.64s has no content", msg_type);
    if (!json_is_object(content))
        return s_fail(&w, "%.64s content is %s, not an object", msg_type, s_kind(content));
    if (strcmp(msg_type, "stream") == 0)
        return s_stream(&w, content, msg_type);
    if (strcmp(msg_type, "display_data") == 0)
        return s_display(&w, content, msg_type, true) < 0 ||
                       s_transient(&w, content, msg_type, false) < 0
                   ? -1
                   : 0;
    if (strcmp(msg_type, "update_display_data") == 0)
        return s_display(&w, content, msg_type, true) < 0 ||
                       s_transient(&w, content, msg_type, true) < 0
                   ? -1
                   : 0;
    if (strcmp(msg_type, "execute_result") == 0) {
        const json_t *count = json_object_get(content, "execution_count");
        if (count && !json_is_integer(count) && !json_is_null(count))
            return s_fail(&w, "execute_result.execution_count is %s, not an integer",
                          s_kind(count));
        return s_display(&w, content, msg_type, true) < 0 ||
                       s_transient(&w, content, msg_type, false) < 0
                   ? -1
                   : 0;
    }
    if (strcmp(msg_type, "error") == 0)
        return s_error(&w, content, msg_type);
    if (strcmp(msg_type, "clear_output") == 0)
        return s_member(&w, content, msg_type, "wait", WANT_BOOL, false, NULL);
    if (strcmp(msg_type, "input_request") == 0)
        return s_member(&w, content, msg_type, "prompt", WANT_STRING, true, NULL) < 0 ||
                       s_member(&w, content, msg_type, "password", WANT_BOOL, false, NULL) < 0
                   ? -1
                   : 0;
    if (strcmp(msg_type, "execute_reply") == 0 || strcmp(msg_type, "complete_reply") == 0 ||
        strcmp(msg_type, "inspect_reply") == 0 || strcmp(msg_type, "is_complete_reply") == 0)
        return s_reply(&w, msg_type, content);
    char quoted[QUOTE_LEN + 4];
    return s_fail(&w, "'%s' is not a message type sandcell takes from an interpreter",
                  s_quote(quoted, msg_type, strlen(msg_type)));
}
