/* journal_read — one pass over a JSON Lines journal, checking each record
 * against a table of field types.
 *
 * The file is read whole (it is bounded by JOURNAL_READ_MAX_BYTES), then
 * split at newlines, so the line number of every complaint is exact and
 * the parser is a pure function of the bytes. Only the last
 * line may lack its newline: that is what a write torn by SIGKILL leaves,
 * and it is skipped with a warning (even when the part written happens to
 * parse: a record that was not finished is not trusted). Duplicate keys are
 * refused, since the writer never produces them and a hand edit that adds a
 * second "code" should not silently win or lose. Until the first line has
 * passed as a header the file is not known to be a journal, and no message
 * quotes any of its bytes (jansson's "near '...'" is cut from every one). */
#include "journal_read.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output_compare.h"
#include "util.h"

/* The JSON kinds a field may have. */
enum {
    K_STRING = 1 << 0,
    K_INT = 1 << 1,
    K_REAL = 1 << 2,
    K_NUMBER = K_INT | K_REAL,
    K_BOOL = 1 << 3,
    K_NULL = 1 << 4,
    K_OBJECT = 1 << 5,
    K_ARRAY = 1 << 6,
};

typedef struct {
    const char *key;
    unsigned kinds;
    bool required;
} field_t;

static const field_t s_header_fields[] = {
    {"format", K_STRING, true},       {"version", K_INT, true},
    {"limits", K_OBJECT, true},       {"conversation", K_STRING, false},
    {"created", K_STRING, false},     {"sandcell", K_STRING, false},
    {"python", K_STRING, false},      {"preload", K_OBJECT, false},
    {"restored_from", K_OBJECT, false},
};

static const field_t s_limits_fields[] = {
    {"timeout_s", K_NUMBER | K_NULL, false},  {"input_timeout_s", K_NUMBER | K_NULL, false},
    {"memory_mib", K_INT | K_NULL, false},
    {"pids", K_INT | K_NULL, false},          {"cpus", K_NUMBER | K_NULL, false},
    {"disk_mib", K_INT | K_NULL, false},      {"open_files", K_INT | K_NULL, false},
    {"max_output_bytes", K_INT | K_NULL, false}, {"data_dir", K_STRING | K_NULL, false},
    {"jail", K_BOOL, false},                  {"cgroups", K_BOOL, false},
    {"max_executions", K_INT | K_NULL, false},
};

static const field_t s_execution_fields[] = {
    {"code", K_STRING, true},
    {"execution_count", K_INT | K_NULL, false},
    {"silent", K_BOOL, false},
    {"store_history", K_BOOL, false},
    {"interpreter", K_INT, false},
    {"started", K_STRING, false},
    {"duration_s", K_NUMBER | K_NULL, false},
    {"cpu_s", K_NUMBER | K_NULL, false},
    {"peak_memory_bytes", K_INT | K_NULL, false},
    {"status", K_STRING, false},
    {"outputs", K_ARRAY, false},
    {"reply", K_OBJECT, false},
};

static const field_t s_file_fields[] = {
    {"path", K_STRING, true},          {"size", K_INT, true},
    {"time", K_STRING, false},         {"content_base64", K_STRING, false},
    {"omitted", K_STRING, false},
};

static const field_t s_output_fields[] = {
    {"msg_type", K_STRING, true},
    {"content", K_OBJECT, true},
};

/* The content of each output type a notebook can show. */
static const field_t s_stream_fields[] = {{"name", K_STRING, true}, {"text", K_STRING, true}};
static const field_t s_display_fields[] = {{"data", K_OBJECT, true},
                                           {"metadata", K_OBJECT, false},
                                           {"transient", K_OBJECT, false}};
static const field_t s_result_fields[] = {{"data", K_OBJECT, true},
                                          {"metadata", K_OBJECT, false},
                                          {"execution_count", K_INT | K_NULL, false}};
static const field_t s_error_fields[] = {{"ename", K_STRING, true},
                                         {"evalue", K_STRING, true},
                                         {"traceback", K_ARRAY, true}};
static const field_t s_clear_fields[] = {{"wait", K_BOOL, false}};

static const struct {
    const char *msg_type;
    const field_t *fields;
    size_t n;
} s_output_types[] = {
    {"stream", s_stream_fields, ARRAY_SIZE(s_stream_fields)},
    {"display_data", s_display_fields, ARRAY_SIZE(s_display_fields)},
    {"update_display_data", s_display_fields, ARRAY_SIZE(s_display_fields)},
    {"execute_result", s_result_fields, ARRAY_SIZE(s_result_fields)},
    {"error", s_error_fields, ARRAY_SIZE(s_error_fields)},
    {"clear_output", s_clear_fields, ARRAY_SIZE(s_clear_fields)},
};

static unsigned s_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: return K_STRING;
    case JSON_INTEGER: return K_INT;
    case JSON_REAL: return K_REAL;
    case JSON_TRUE:
    case JSON_FALSE: return K_BOOL;
    case JSON_NULL: return K_NULL;
    case JSON_OBJECT: return K_OBJECT;
    case JSON_ARRAY: return K_ARRAY;
    }
    return 0;
}

static const char *s_kind_name(unsigned kind)
{
    switch (kind) {
    case K_STRING: return "a string";
    case K_INT: return "an integer";
    case K_REAL: return "a number";
    case K_BOOL: return "a boolean";
    case K_NULL: return "null";
    case K_OBJECT: return "an object";
    case K_ARRAY: return "an array";
    }
    return "?";
}

/* "a string or null", from a mask of kinds. */
static void s_kinds_name(unsigned kinds, char *out, size_t out_len)
{
    static const unsigned order[] = {K_STRING, K_NUMBER, K_INT, K_BOOL, K_OBJECT, K_ARRAY, K_NULL};
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(order) && used < out_len; i++) {
        if ((kinds & order[i]) != order[i])
            continue;
        const char *name = order[i] == K_NUMBER ? "a number" : s_kind_name(order[i]);
        used += (size_t)snprintf(out + used, out_len - used, "%s%s", used ? " or " : "", name);
        kinds &= ~order[i];
    }
}

/* Checks |obj|'s fields against |fields|; on failure writes the reason,
 * prefixed by |what|, to |why| and returns -1. */
static int s_check_fields(const json_t *obj, const field_t *fields, size_t n, const char *what,
                          char *why, size_t why_len)
{
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(obj, fields[i].key);
        if (!v) {
            if (!fields[i].required)
                continue;
            snprintf(why, why_len, "%s: \"%s\" is missing", what, fields[i].key);
            return -1;
        }
        if (!(s_kind(v) & fields[i].kinds)) {
            char expected[96];
            s_kinds_name(fields[i].kinds, expected, sizeof expected);
            snprintf(why, why_len, "%s: \"%s\" must be %s, not %s", what, fields[i].key,
                     expected, s_kind_name(s_kind(v)));
            return -1;
        }
    }
    return 0;
}

static int s_check_header(const json_t *rec, char *why, size_t why_len)
{
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (!type || strcmp(type, "header") != 0) {
        snprintf(why, why_len, "the first record must be the header (\"type\":\"header\")");
        return -1;
    }
    if (s_check_fields(rec, s_header_fields, ARRAY_SIZE(s_header_fields), "header", why,
                       why_len) < 0)
        return -1;
    const char *format = json_string_value(json_object_get(rec, "format"));
    if (strcmp(format, "sandcell-journal") != 0) {
        snprintf(why, why_len, "unknown format (expected \"sandcell-journal\")");
        return -1;
    }
    json_int_t version = json_integer_value(json_object_get(rec, "version"));
    if (version != JOURNAL_READ_VERSION) {
        snprintf(why, why_len, "unknown format version %lld (this sandcell reads version %d)",
                 (long long)version, JOURNAL_READ_VERSION);
        return -1;
    }
    if (s_check_fields(json_object_get(rec, "limits"), s_limits_fields,
                       ARRAY_SIZE(s_limits_fields), "header limits", why, why_len) < 0)
        return -1;
    const char *module;
    json_t *v;
    json_object_foreach(json_object_get(rec, "preload"), module, v) {
        if (!json_is_string(v) && !json_is_null(v)) {
            snprintf(why, why_len, "header preload: \"%.64s\" must be a string or null, not %s",
                     module, s_kind_name(s_kind(v)));
            return -1;
        }
    }
    return 0;
}

/* nbformat's rule for a mime bundle: each value is a string or a list of
 * strings, except JSON types ("application/json", "...+json"). */
static int s_check_mimebundle(const json_t *data, const char *what, char *why, size_t why_len)
{
    const char *mime;
    const json_t *v;
    json_object_foreach((json_t *)data, mime, v) {
        size_t n = strlen(mime);
        if (n >= 4 && strcmp(mime + n - 4, "json") == 0)
            continue;
        bool ok = json_is_string(v);
        if (json_is_array(v)) {
            size_t k;
            const json_t *part;
            ok = true;
            json_array_foreach(v, k, part) ok = ok && json_is_string(part);
        }
        if (!ok) {
            snprintf(why, why_len, "%s: \"data\" \"%.64s\" must be a string or a list of strings",
                     what, mime);
            return -1;
        }
    }
    return 0;
}

static int s_check_output(const json_t *out, size_t index, char *why, size_t why_len)
{
    char what[96];
    snprintf(what, sizeof what, "outputs[%zu]", index);
    if (!json_is_object(out)) {
        snprintf(why, why_len, "%s must be an object, not %s", what, s_kind_name(s_kind(out)));
        return -1;
    }
    if (s_check_fields(out, s_output_fields, ARRAY_SIZE(s_output_fields), what, why, why_len) < 0)
        return -1;
    const char *msg_type = json_string_value(json_object_get(out, "msg_type"));
    const json_t *content = json_object_get(out, "content");
    for (size_t i = 0; i < ARRAY_SIZE(s_output_types); i++) {
        if (strcmp(msg_type, s_output_types[i].msg_type) != 0)
            continue;
        snprintf(what, sizeof what, "outputs[%zu] (%s)", index, msg_type);
        if (s_check_fields(content, s_output_types[i].fields, s_output_types[i].n, what, why,
                           why_len) < 0)
            return -1;
        if (s_check_mimebundle(json_object_get(content, "data"), what, why, why_len) < 0)
            return -1;
        const json_t *tb = json_object_get(content, "traceback");
        size_t k;
        const json_t *line;
        json_array_foreach(tb, k, line) {
            if (!json_is_string(line)) {
                snprintf(why, why_len, "%s: \"traceback\"[%zu] must be a string", what, k);
                return -1;
            }
        }
        return 0;
    }
    return 0; /* a type no notebook shows: kept, ignored by export */
}

static int s_check_execution(const json_t *rec, char *why, size_t why_len)
{
    if (s_check_fields(rec, s_execution_fields, ARRAY_SIZE(s_execution_fields),
                       "execution record", why, why_len) < 0)
        return -1;
    const json_t *gen = json_object_get(rec, "interpreter");
    if (gen && json_integer_value(gen) < 1) {
        snprintf(why, why_len, "execution record: \"interpreter\" must be at least 1");
        return -1;
    }
    const json_t *count = json_object_get(rec, "execution_count");
    if (json_is_integer(count) && json_integer_value(count) < 0) {
        snprintf(why, why_len, "execution record: \"execution_count\" must not be negative");
        return -1;
    }
    size_t i;
    const json_t *out;
    json_array_foreach(json_object_get(rec, "outputs"), i, out) {
        char inner[256];
        if (s_check_output(out, i, inner, sizeof inner) < 0) {
            snprintf(why, why_len, "execution record: %s", inner);
            return -1;
        }
    }
    return 0;
}

static int s_check_file(const json_t *rec, char *why, size_t why_len)
{
    if (s_check_fields(rec, s_file_fields, ARRAY_SIZE(s_file_fields), "file record", why,
                       why_len) < 0)
        return -1;
    if (json_integer_value(json_object_get(rec, "size")) < 0) {
        snprintf(why, why_len, "file record: \"size\" must not be negative");
        return -1;
    }
    if (!json_object_get(rec, "content_base64") && !json_object_get(rec, "omitted")) {
        snprintf(why, why_len, "file record: has neither \"content_base64\" nor \"omitted\"");
        return -1;
    }
    return 0;
}

/* Appends file record |rec| (takes the reference) to |files| with "after":
 * how many execution records came before it. */
static int s_append_file(json_t *files, json_t *rec, size_t after)
{
    if (json_object_set_new(rec, "after", json_integer((json_int_t)after)) < 0) {
        json_decref(rec);
        return -1;
    }
    return json_array_append_new(files, rec);
}

static json_t *s_fail(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static json_t *s_fail(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    if (why_len)
        output_compare_printable(why); /* it may quote the file */
    return NULL;
}

/* jansson's error text without the "near '...'" that quotes the input. */
static void s_json_reason(const json_error_t *jerr, char *out, size_t out_len)
{
    snprintf(out, out_len, "%s", jerr->text);
    char *near = strstr(out, " near ");
    if (near)
        *near = '\0';
}

json_t *journal_parse(const char *name, const void *bytes, size_t len, char *why,
                      size_t why_len, char *warning, size_t warning_len)
{
    const char *data = bytes;
    if (warning_len)
        warning[0] = '\0';
    json_t *result = json_object();
    json_t *executions = json_array();
    json_t *files = json_array();
    if (!result || !executions || json_object_set_new(result, "executions", executions) < 0 ||
        !files || json_object_set_new(result, "files", files) < 0) {
        json_decref(result);
        return s_fail(why, why_len, "%s: out of memory", name);
    }
    long lineno = 0;
    for (size_t off = 0; off < len;) {
        lineno++;
        const char *line = data + off;
        const char *nl = memchr(line, '\n', len - off);
        size_t n = nl ? (size_t)(nl - line) + 1 : len - off;
        off += n;
        if (!nl) {
            /* Only the last line can end without a newline. */
            if (lineno == 1) {
                json_decref(result);
                return s_fail(why, why_len,
                              "%s:1: the header is incomplete (no newline at its end)", name);
            }
            snprintf(warning, warning_len,
                     "%s:%ld: the last line has no newline (a write cut short); skipped", name,
                     lineno);
            break;
        }
        json_error_t jerr;
        /* NUL is a character of outputs (\u0000), as the writer keeps it. */
        json_t *rec = json_loadb(line, n,
                                 JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        char reason[320], detail[200];
        reason[0] = '\0';
        if (!rec) {
            s_json_reason(&jerr, detail, sizeof detail);
            snprintf(reason, sizeof reason, "not JSON (column %d: %s)", jerr.column, detail);
        } else if (!json_is_object(rec)) {
            snprintf(reason, sizeof reason, "a record must be a JSON object, not %s",
                     s_kind_name(s_kind(rec)));
        } else if (lineno == 1) {
            s_check_header(rec, reason, sizeof reason);
        } else if (!json_is_string(json_object_get(rec, "type"))) {
            snprintf(reason, sizeof reason, "record: \"type\" must be a string");
        } else if (strcmp(json_string_value(json_object_get(rec, "type")), "execution") == 0) {
            s_check_execution(rec, reason, sizeof reason);
        } else if (strcmp(json_string_value(json_object_get(rec, "type")), "file") == 0) {
            s_check_file(rec, reason, sizeof reason);
        }
        if (reason[0]) {
            json_decref(rec);
            json_decref(result);
            /* Until the header is valid the file is not known to be a
             * journal: nothing of it is quoted (none of the reasons does). */
            return s_fail(why, why_len, "%s:%ld: %s%s", name, lineno,
                          lineno == 1 ? "not a sandcell journal: " : "", reason);
        }
        int rc = 0;
        const char *type = json_string_value(json_object_get(rec, "type"));
        if (lineno == 1)
            rc = json_object_set_new(result, "header", rec);
        else if (strcmp(type, "execution") == 0)
            rc = json_array_append_new(executions, rec);
        else if (strcmp(type, "file") == 0)
            rc = s_append_file(files, rec, json_array_size(executions));
        else
            json_decref(rec); /* "end", or a type from a later sandcell */
        if (rc < 0) {
            json_decref(result);
            return s_fail(why, why_len, "%s:%ld: out of memory", name, lineno);
        }
    }
    if (lineno == 0) {
        json_decref(result);
        return s_fail(why, why_len, "%s:1: empty file: no header", name);
    }
    return result;
}

/* What a file that is not a regular file is, for the message. */
static const char *s_file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "a device";
    return "not a regular file";
}

json_t *journal_read_fd(int fd, const char *name, char *why, size_t why_len, char *warning,
                        size_t warning_len)
{
    _cleanup_close_ int owned = fd;
    struct stat st;
    if (warning_len)
        warning[0] = '\0';
    if (fstat(owned, &st) < 0)
        return s_fail(why, why_len, "%s: %s", name, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return s_fail(why, why_len, "%s: not a regular file (%s); a journal is one", name,
                      s_file_kind(st.st_mode));
    if (st.st_size > (off_t)JOURNAL_READ_MAX_BYTES)
        return s_fail(why, why_len, "%s: %lld MiB, larger than the %zu MiB a journal may have",
                      name, (long long)(st.st_size >> 20), JOURNAL_READ_MAX_BYTES >> 20);
    /* A regular file: reads never wait on another process; blocking reads
     * from here on keep the loop below simple. */
    int flags = fcntl(owned, F_GETFL);
    if (flags >= 0)
        fcntl(owned, F_SETFL, flags & ~O_NONBLOCK);
    size_t cap = (size_t)st.st_size + 1, len = 0;
    _cleanup_free_ char *data = malloc(cap);
    if (!data)
        return s_fail(why, why_len, "%s: out of memory", name);
    for (;;) {
        ssize_t n = read(owned, data + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return s_fail(why, why_len, "%s: read error: %s", name, strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap) { /* it grows while read: take what it holds now, in bounds */
            if (cap > JOURNAL_READ_MAX_BYTES)
                return s_fail(why, why_len, "%s: larger than the %zu MiB a journal may have",
                              name, JOURNAL_READ_MAX_BYTES >> 20);
            size_t bigger = cap * 2 > JOURNAL_READ_MAX_BYTES + 1 ? JOURNAL_READ_MAX_BYTES + 1
                                                                 : cap * 2;
            char *grown = realloc(data, bigger);
            if (!grown)
                return s_fail(why, why_len, "%s: out of memory", name);
            data = grown;
            cap = bigger;
        }
    }
    return journal_parse(name, data, len, why, why_len, warning, warning_len);
}

json_t *journal_read(const char *path, char *why, size_t why_len, char *warning,
                     size_t warning_len)
{
    if (warning_len)
        warning[0] = '\0';
    /* O_NONBLOCK: opening a FIFO or a device never waits; fstat refuses it. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return s_fail(why, why_len, "%s: cannot open: %s", path, strerror(errno));
    return journal_read_fd(fd, path, why, why_len, warning, warning_len);
}

/* A conversation id, or a journal's file name: one name of the folder. */
static bool s_is_name(const char *text)
{
    size_t n = strlen(text);
    if (n == 0 || n > 200 || text[0] == '.')
        return false;
    for (const char *p = text; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

int journal_open_in_folder(const char *dir, const char *given, char *path, size_t path_len,
                           char *why, size_t why_len)
{
    char name[256];
    const char *slash = strrchr(given, '/');
    if (!slash) {
        if (!s_is_name(given)) {
            snprintf(why, why_len, "%.300s: not a conversation id, nor the path of a journal in "
                                   "the journal folder", given);
            return -1;
        }
        size_t n = strlen(given);
        snprintf(name, sizeof name, "%s%s", given,
                 n > 6 && strcmp(given + n - 6, ".jsonl") == 0 ? "" : ".jsonl");
    } else {
        if (given[0] != '/' || !s_is_name(slash + 1)) {
            snprintf(why, why_len, "%.300s: restore takes a conversation id or the absolute path "
                                   "of a journal in the journal folder %.300s", given, dir);
            return -1;
        }
        snprintf(name, sizeof name, "%s", slash + 1);
    }
    _cleanup_close_ int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat want, got;
    if (dirfd < 0 || fstat(dirfd, &want) < 0) {
        snprintf(why, why_len, "the journal folder %.300s cannot be opened: %s", dir,
                 strerror(errno));
        return -1;
    }
    if (slash) {
        /* The folder the path names must be the journal folder itself:
         * stat opens nothing, and the name is then opened in the folder
         * this descriptor holds, whatever the path's folder becomes. */
        char folder[PATH_MAX];
        snprintf(folder, sizeof folder, "%.*s", slash == given ? 1 : (int)(slash - given), given);
        if (stat(folder, &got) < 0 || got.st_dev != want.st_dev || got.st_ino != want.st_ino) {
            snprintf(why, why_len, "%.300s: outside the journal folder %.300s; over the control "
                                   "endpoint restore reads only journals of that folder (a "
                                   "conversation id or a path in it)", given, dir);
            return -1;
        }
    }
    if (snprintf(path, path_len, "%s/%s", dir, name) >= (int)path_len) {
        snprintf(why, why_len, "%.300s: path too long", given);
        return -1;
    }
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 && errno == ELOOP)
        snprintf(why, why_len, "%.400s: a symbolic link; restore reads only journals in the "
                               "journal folder itself", path);
    else if (fd < 0 && errno == ENOENT)
        snprintf(why, why_len, "%.400s: no such journal in the journal folder", path);
    else if (fd < 0)
        snprintf(why, why_len, "%.400s: cannot open: %s", path, strerror(errno));
    return fd;
}

/* Reads the journal |given| names: inside |dir|, or any file the local
 * user can read when |dir| is NULL. Writes its path to |path|. */
static json_t *s_read_one(const char *dir, const char *given, char *path, size_t path_len,
                          char *why, size_t why_len, char *warning, size_t warning_len)
{
    if (!dir) {
        snprintf(path, path_len, "%s", given);
        return journal_read(given, why, why_len, warning, warning_len);
    }
    int fd = journal_open_in_folder(dir, given, path, path_len, why, why_len);
    if (fd < 0) {
        if (warning_len)
            warning[0] = '\0';
        return NULL;
    }
    return journal_read_fd(fd, path, why, why_len, warning, warning_len);
}

/* Appends the records of |given| and of the journals it was restored
 * from, oldest first, to |into| ("executions" and "files"); the first call
 * keeps |given|'s header and writes its path to |path|. */
static int s_read_chain(const char *dir, const char *given, char *path, size_t path_len,
                        json_t *into, int depth, char *why, size_t why_len, char *warning,
                        size_t warning_len)
{
    char own_warning[512];
    json_auto_t *journal = s_read_one(dir, given, path, path_len, why, why_len, own_warning,
                                      sizeof own_warning);
    if (!journal)
        return -1;
    if (own_warning[0] && warning_len && !warning[0])
        snprintf(warning, warning_len, "%s", own_warning);
    json_t *header = json_object_get(journal, "header");
    if (depth == 0 && json_object_set(into, "header", header) < 0)
        return s_fail(why, why_len, "%s: out of memory", path), -1;
    const json_t *older_v = json_object_get(json_object_get(header, "restored_from"), "journal");
    const char *older = json_string_value(older_v);
    if (older && strlen(older) != json_string_length(older_v)) {
        s_fail(why, why_len, "%.400s: the journal it was restored from is named with a NUL "
                             "character", path);
        return -1;
    }
    if (older) {
        if (depth + 1 >= JOURNAL_CHAIN_MAX) {
            s_fail(why, why_len, "%.400s: restored from more than %d journals in a row", path,
                   JOURNAL_CHAIN_MAX - 1);
            return -1;
        }
        char inner[600], older_path[PATH_MAX];
        if (s_read_chain(dir, older, older_path, sizeof older_path, into, depth + 1, inner,
                         sizeof inner, warning, warning_len) < 0) {
            snprintf(why, why_len, "%.300s was restored from a journal that cannot be read: %s",
                     path, inner);
            return -1;
        }
    }
    json_t *executions = json_object_get(into, "executions");
    size_t before = json_array_size(executions);
    size_t i;
    json_t *file;
    json_array_foreach(json_object_get(journal, "files"), i, file) {
        json_int_t after = json_integer_value(json_object_get(file, "after"));
        if (json_object_set_new(file, "after", json_integer((json_int_t)before + after)) < 0 ||
            json_array_append(json_object_get(into, "files"), file) < 0)
            return s_fail(why, why_len, "%s: out of memory", path), -1;
    }
    if (json_array_extend(executions, json_object_get(journal, "executions")) < 0)
        return s_fail(why, why_len, "%s: out of memory", path), -1;
    return 0;
}

json_t *journal_read_chain_in(const char *journal_dir, const char *given, char *path,
                              size_t path_len, char *why, size_t why_len, char *warning,
                              size_t warning_len)
{
    if (warning_len)
        warning[0] = '\0';
    json_t *chain = json_pack("{s:[], s:[]}", "executions", "files");
    if (!chain)
        return s_fail(why, why_len, "%s: out of memory", given);
    if (s_read_chain(journal_dir, given, path, path_len, chain, 0, why, why_len, warning,
                     warning_len) < 0) {
        json_decref(chain);
        return NULL;
    }
    return chain;
}

json_t *journal_read_chain(const char *path, char *why, size_t why_len, char *warning,
                           size_t warning_len)
{
    char ignored[PATH_MAX];
    return journal_read_chain_in(NULL, path, ignored, sizeof ignored, why, why_len, warning,
                                 warning_len);
}
