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
    [CONTROL_INPUT_TIMEOUT] = {"input_timeout", 0, 86400},
};

/* What a request's content must carry besides being an object. */
enum { NEEDS_ID = 1 << 0, NEEDS_ONE_BUFFER = 1 << 1, HAS_PATH = 1 << 2 };

/* The keys each request takes besides start_request's numbers
 * (NULL-terminated). Any other key is an error naming it: a misspelt
 * limit must not silently leave the default in force. */
static const char *const s_start_keys[] = {"restore", NULL};
static const char *const s_no_keys[] = {NULL};
static const char *const s_id_keys[] = {"id", NULL};
static const char *const s_file_keys[] = {"id", "path", NULL};

static const struct {
    const char *type;
    control_kind_t kind;
    unsigned needs;
    const char *const *keys;
} s_types[] = {
    {"start_request", CONTROL_START, 0, s_start_keys},
    {"list_request", CONTROL_LIST, 0, s_no_keys},
    {"stop_request", CONTROL_STOP, NEEDS_ID, s_id_keys},
    {"connection_request", CONTROL_CONNECTION, NEEDS_ID, s_id_keys},
    {"put_file_request", CONTROL_PUT_FILE, NEEDS_ID | NEEDS_ONE_BUFFER | HAS_PATH, s_file_keys},
    {"get_file_request", CONTROL_GET_FILE, NEEDS_ID | HAS_PATH, s_file_keys},
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

/* Edit distance of |a| and |b|, capped at 3 (enough for "did you mean"). */
static size_t s_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64 || (la > lb ? la - lb : lb - la) > 2)
        return 3;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] < 3 ? row[lb] : 3;
}

/* The |i|th key request type |t| takes, or NULL past the last. */
static const char *s_key(size_t t, size_t i)
{
    if (s_types[t].kind == CONTROL_START) {
        if (i < CONTROL_NNUMBERS)
            return s_numbers[i].key;
        i -= CONTROL_NNUMBERS;
    }
    return s_types[t].keys[i];
}

/* 0 if |content| holds only keys request type |t| takes; else -1 with a
 * reason naming the first other key, and the nearest known one if any. */
static int s_check_keys(size_t t, const json_t *content, char *why, size_t why_len)
{
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)content, key, value) {
        const char *near = NULL, *k;
        size_t i = 0, best = 3;
        for (; (k = s_key(t, i)) && strcmp(k, key) != 0; i++)
            if (s_distance(k, key) < best)
                best = s_distance(k, key), near = k;
        if (k)
            continue;
        size_t n = (size_t)snprintf(why, why_len, "%s has no key '%.64s'", s_types[t].type, key);
        if (n >= why_len)
            return -1;
        if (near) {
            snprintf(why + n, why_len - n, " (did you mean '%s'?)", near);
        } else if (!s_key(t, 0)) {
            snprintf(why + n, why_len - n, " (it takes none)");
        } else {
            n += (size_t)snprintf(why + n, why_len - n, " (it takes");
            for (i = 0; (k = s_key(t, i)) && n < why_len; i++)
                n += (size_t)snprintf(why + n, why_len - n, "%s %s", i ? "," : "", k);
            if (n < why_len)
                snprintf(why + n, why_len - n, ")");
        }
        return -1;
    }
    return 0;
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
            char lo[32], hi[32];
            snprintf(reason, sizeof reason, "'%s' must be a number between %s and %s",
                     s_numbers[n].key, format_number(s_numbers[n].min, lo, sizeof lo),
                     format_number(s_numbers[n].max, hi, sizeof hi));
            return s_fail("BadRequest", ename, ename_len, why, why_len, reason);
        }
        out->given[n] = true;
        out->number[n] = x;
    }
    const json_t *restore = json_object_get(content, "restore");
    if (restore && !json_is_null(restore)) {
        if (!json_is_string(restore))
            return s_fail("BadRequest", ename, ename_len, why, why_len,
                          "'restore' must be a conversation id or the path of a journal");
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
    char reason[512];
    if (s_check_keys(t, content, reason, sizeof reason) < 0)
        return s_fail("BadRequest", ename, ename_len, why, why_len, reason);
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
    if (out->kind == CONTROL_START) {
        if (s_parse_start(content, out, ename, ename_len, why, why_len) < 0)
            return -1;
        if (n_buffers > 1 || (n_buffers == 1 && !out->restore))
            return s_fail("BadRequest", ename, ename_len, why, why_len,
                          "start_request carries at most one buffer: the journal to restore, "
                          "named by 'restore'");
        out->restore_sent = n_buffers == 1;
    }
    return 0;
}
