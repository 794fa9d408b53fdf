/* control_request — parse and check the daemon's control requests.
 *
 * One table names each request type and what its content must hold; one
 * table bounds the numbers of start_request. The messages are the ones the
 * daemon sent before the checks moved here, so clients see the same
 * errors. */
#include "control_request.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

static const struct {
    const char *key;
    double min, max;
} s_numbers[CONTROL_NNUMBERS] = {
    [CONTROL_MAX_EXECUTIONS] = {"max_executions", 0, 1e9},
    [CONTROL_IDLE_TIMEOUT] = {"idle_timeout", 0, 1e7},
    [CONTROL_LIFETIME] = {"lifetime", 0, 1e7},
    [CONTROL_TIMEOUT] = {"timeout", 0, 86400},
    [CONTROL_MEMORY] = {"memory", 16, 1 << 20},
    [CONTROL_PIDS] = {"pids", 4, 65536},
    [CONTROL_CPUS] = {"cpus", 0.01, 1024},
    [CONTROL_DISK] = {"disk", 1, 1 << 20},
    [CONTROL_OPEN_FILES] = {"open_files", 16, 1 << 20},
    [CONTROL_MAX_OUTPUT] = {"max_output", 0, 4096},
};

/* What a request's content must carry besides being an object. */
enum { NEEDS_ID = 1 << 0, NEEDS_ONE_BUFFER = 1 << 1, HAS_PATH = 1 << 2 };

static const struct {
    const char *type;
    control_kind_t kind;
    unsigned needs;
} s_types[] = {
    {"start_request", CONTROL_START, 0},
    {"list_request", CONTROL_LIST, 0},
    {"stop_request", CONTROL_STOP, NEEDS_ID},
    {"connection_request", CONTROL_CONNECTION, NEEDS_ID},
    {"put_file_request", CONTROL_PUT_FILE, NEEDS_ID | NEEDS_ONE_BUFFER | HAS_PATH},
    {"get_file_request", CONTROL_GET_FILE, NEEDS_ID | HAS_PATH},
};

const char *control_number_key(control_number_t n)
{
    return s_numbers[n].key;
}

static int s_fail(const char *ename, char *ename_buf, size_t ename_len, char *why,
                  size_t why_len, const char *reason)
{
    snprintf(ename_buf, ename_len, "%s", ename);
    snprintf(why, why_len, "%s", reason);
    return -1;
}

/* Reads the numbers of a start_request and its journal to restore. */
static int s_parse_start(const json_t *content, control_request_t *out, char *ename,
                         size_t ename_len, char *why, size_t why_len)
{
    for (int n = 0; n < CONTROL_NNUMBERS; n++) {
        const json_t *v = json_object_get(content, s_numbers[n].key);
        if (!v || json_is_null(v))
            continue;
        double x = json_is_number(v) ? json_number_value(v) : 0;
        /* Written so that NaN, which no comparison holds for, is refused. */
        if (!json_is_number(v) || !(x >= s_numbers[n].min && x <= s_numbers[n].max)) {
            char reason[128];
            snprintf(reason, sizeof reason, "'%s' must be a number between %g and %g",
                     s_numbers[n].key, s_numbers[n].min, s_numbers[n].max);
            return s_fail("BadRequest", ename, ename_len, why, why_len, reason);
        }
        out->given[n] = true;
        out->number[n] = x;
    }
    const json_t *restore = json_object_get(content, "restore");
    if (restore && !json_is_null(restore)) {
        if (!json_is_string(restore))
            return s_fail("BadRequest", ename, ename_len, why, why_len,
                          "'restore' must be the path of a journal");
        out->restore = json_string_value(restore);
    }
    return 0;
}

int control_request_parse(const char *msg_type, const json_t *content, size_t n_buffers,
                          control_request_t *out, char *ename, size_t ename_len, char *why,
                          size_t why_len)
{
    memset(out, 0, sizeof *out);
    size_t t = 0;
    while (t < ARRAY_SIZE(s_types) && (!msg_type || strcmp(msg_type, s_types[t].type) != 0))
        t++;
    if (t == ARRAY_SIZE(s_types)) {
        const char *type = msg_type ? msg_type : "";
        size_t len = strlen(type);
        out->kind = len > 8 && strcmp(type + len - 8, "_request") == 0 ? CONTROL_UNKNOWN_REQUEST
                                                                         : CONTROL_NOT_A_REQUEST;
        char reason[128];
        snprintf(reason, sizeof reason, "the control endpoint does not handle %.64s", type);
        return s_fail("UnknownMessageType", ename, ename_len, why, why_len, reason);
    }
    out->kind = s_types[t].kind;
    unsigned needs = s_types[t].needs;
    if (!json_is_object(content))
        return s_fail("BadRequest", ename, ename_len, why, why_len,
                      "content must be an object");
    if (needs & NEEDS_ID) {
        out->id = json_string_value(json_object_get(content, "id"));
        if (!out->id)
            return s_fail("BadRequest", ename, ename_len, why, why_len,
                          "no conversation with id (missing)");
    }
    if ((needs & NEEDS_ONE_BUFFER) && n_buffers != 1)
        return s_fail("BadRequest", ename, ename_len, why, why_len,
                      "put_file_request carries the file as one buffer");
    if (needs & HAS_PATH)
        out->path = json_string_value(json_object_get(content, "path"));
    if (out->kind == CONTROL_START)
        return s_parse_start(content, out, ename, ename_len, why, why_len);
    return 0;
}
