/* client_cmd — start, ls, stop, put and get against `sandcell serve`, the
 * dispatch of every client command (exec lives in exec_cmd.c), and the
 * helpers they share.
 *
 * Every command parses its own flags through one table-driven parser, so
 * each accepts exactly its flags and names a stray one, and --help is
 * answered before anything else. Each request goes through control_client
 * (10 s per request). A reply with status "error" becomes one line,
 * "sandcell CMD: ENAME: EVALUE", and exit status 1. Files cross as one
 * buffer frame each way, so a put or get is bounded by WIRE_MAX_BYTES; a get
 * never replaces a local file without --force (O_EXCL), and removes what it
 * half wrote. */
#include "client_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client_cmd_internal.h"
#include "connfile.h"
#include "journal_read.h"
#include "runtime_file.h"
#include "util.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
} client_command_t;

/* ------------------------------------------------------------- helpers */

int client_cmd_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sandcell %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (try sandcell %s --help)\n", cmd);
    va_end(ap);
    return 2;
}

int client_cmd_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sandcell %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

void client_args_clear(client_args_t *args)
{
    free(args->pos);
    args->pos = NULL;
    args->n_pos = 0;
}

int client_cmd_parse(int argc, char **argv, const client_option_t *opts, size_t n_opts,
                     client_args_t *args)
{
    bool flags_done = false;
    *args = (client_args_t){.pos = calloc((size_t)argc, sizeof *args->pos)};
    if (!args->pos)
        return client_cmd_fail(argv[0], "out of memory");
    const client_option_t runtime = {"--runtime-file", NULL, &args->runtime_file, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (flags_done || a[0] != '-' || strcmp(a, "-") == 0) {
            args->pos[args->n_pos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            flags_done = true;
            continue;
        }
        const client_option_t *o = NULL;
        const char *inline_value = NULL;
        for (size_t k = 0; k <= n_opts && !o; k++) {
            const client_option_t *c = k == 0 ? &runtime : &opts[k - 1];
            size_t len = strlen(c->name);
            if (strcmp(a, c->name) == 0 || (c->alias && strcmp(a, c->alias) == 0))
                o = c;
            else if (c->value && strncmp(a, c->name, len) == 0 && a[len] == '=')
                o = c, inline_value = a + len + 1;
        }
        if (!o)
            return client_cmd_usage_error(argv[0], "unknown option %s", a);
        if (!o->value) {
            *o->set = true;
        } else if (inline_value) {
            *o->value = inline_value;
        } else {
            if (i + 1 >= argc)
                return client_cmd_usage_error(argv[0], "%s needs a value", a);
            *o->value = argv[++i];
        }
    }
    return 0;
}

int client_cmd_parse_options(int argc, char **argv, const client_option_t *opts, size_t n_opts,
                             client_args_t *args)
{
    int rc = client_cmd_parse(argc, argv, opts, n_opts, args);
    if (rc == 0 && args->n_pos > 0)
        return client_cmd_usage_error(argv[0], "unexpected argument %s", args->pos[0]);
    return rc;
}

int client_cmd_connect(const char *cmd, const char *runtime_file, control_client_t **out)
{
    char path[4096], why[512];
    if (runtime_file_path(runtime_file, path, sizeof path) < 0)
        return client_cmd_fail(cmd, "runtime file path too long");
    int rc = control_client_open(path, out, why, sizeof why);
    if (rc == -ENOENT) {
        fprintf(stderr,
                "sandcell: no daemon found (looked for %s); start one with `sandcell serve`\n",
                path);
        return 1;
    }
    return rc < 0 ? client_cmd_fail(cmd, "%s", why) : 0;
}

int client_cmd_call(control_client_t *cc, const char *cmd, const char *msg_type,
                    const json_t *content, const wire_frame_t *buffers, size_t n_buffers,
                    wire_msg_t *reply)
{
    char why[1024];
    if (!content)
        return client_cmd_fail(cmd, "out of memory");
    if (control_client_call(cc, msg_type, content, buffers, n_buffers, reply, why, sizeof why) < 0)
        return client_cmd_fail(cmd, "%s", why);
    const char *status = json_string_value(json_object_get(reply->content, "status"));
    if (status && strcmp(status, "ok") == 0)
        return 0;
    const char *ename = json_string_value(json_object_get(reply->content, "ename"));
    const char *evalue = json_string_value(json_object_get(reply->content, "evalue"));
    client_cmd_fail(cmd, "%s: %s", ename ? ename : "Error",
                    evalue ? evalue : (status ? status : "malformed reply"));
    wire_msg_clear(reply);
    return 1;
}

/* Connects to the daemon found through |runtime_file|, makes one call and
 * disconnects. Same contract as client_cmd_call. */
static int s_request(const char *cmd, const char *runtime_file, const char *msg_type,
                     const json_t *content, const wire_frame_t *buffers, size_t n_buffers,
                     wire_msg_t *reply)
{
    control_client_t *cc = NULL;
    if (client_cmd_connect(cmd, runtime_file, &cc))
        return 1;
    int rc = client_cmd_call(cc, cmd, msg_type, content, buffers, n_buffers, reply);
    control_client_destroy(&cc);
    return rc;
}

/* The last component of |path|; "" if it ends in a slash. Borrowed. */
static const char *s_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int client_cmd_read_all(int fd, char **data, size_t *size)
{
    size_t cap = 65536, n = 0;
    _cleanup_free_ char *buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (n == cap) {
            if (cap >= WIRE_MAX_BYTES)
                return -EFBIG;
            char *grown = realloc(buf, cap * 2 + 1);
            if (!grown)
                return -ENOMEM;
            buf = grown;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *data = steal_pointer(&buf);
    *size = n;
    return 0;
}

/* ---------------------------------------------------------------- start */

static const struct {
    const char *flag;
    const char *key;
    bool fractional; /* seconds and cpus may have a fraction */
} s_start_limits[] = {
    {"--max-executions", "max_executions", false},
    {"--timeout", "timeout", true},
    {"--input-timeout", "input_timeout", true},
    {"--memory", "memory", false},
    {"--pids", "pids", false},
    {"--cpus", "cpus", true},
    {"--disk", "disk", false},
    {"--open-files", "open_files", false},
    {"--max-output", "max_output", false},
    {"--idle-timeout", "idle_timeout", true},
    {"--lifetime", "lifetime", true},
};

#define N_START_LIMITS (sizeof s_start_limits / sizeof *s_start_limits)

/* The daemon reads journals only from its own journal folder; a journal
 * elsewhere is read here, as the invoking user, with the journals it was
 * restored from, and sent as the request's buffer: one journal whose
 * records are the whole chain's (a header without "restored_from", then
 * the execution and file records in order). Up to RESTORE_SEND_MAX bytes;
 * a bigger one, or a name that is no file here (a conversation id), is
 * sent as a name for the daemon to find in its folder. Returns 0 with
 * *out (caller frees) or NULL, or 1 after printing why. */
#define RESTORE_SEND_MAX ((size_t)24 << 20)

static int s_restore_read(const char *given, const char *name, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    struct stat st;
    if (stat(given, &st) < 0 || !S_ISREG(st.st_mode))
        return 0; /* an id, or a file the daemon may know: it says */
    char why[1024], warning[1024];
    json_auto_t *chain = journal_read_chain(name, why, sizeof why, warning, sizeof warning);
    if (!chain)
        return client_cmd_fail("start", "RestoreFailed: %s", why);
    if (warning[0])
        fprintf(stderr, "sandcell start: warning: %s\n", warning);
    json_t *header = json_object_get(chain, "header");
    json_object_del(header, "restored_from");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return client_cmd_fail("start", "out of memory");
    bool ok = json_dumpf(header, f, JSON_COMPACT) == 0 && fputc('\n', f) != EOF;
    const json_t *files = json_object_get(chain, "files");
    const json_t *executions = json_object_get(chain, "executions");
    size_t next_file = 0, n = json_array_size(executions);
    for (size_t i = 0; ok && i <= n; i++) {
        const json_t *file;
        while (ok && (file = json_array_get(files, next_file)) &&
               (i == n || (size_t)json_integer_value(json_object_get(file, "after")) <= i)) {
            json_auto_t *copy = json_copy((json_t *)file);
            ok = copy && json_object_del(copy, "after") == 0 &&
                 json_dumpf(copy, f, JSON_COMPACT) == 0 && fputc('\n', f) != EOF;
            next_file++;
        }
        if (ok && i < n)
            ok = json_dumpf(json_array_get(executions, i), f, JSON_COMPACT) == 0 &&
                 fputc('\n', f) != EOF;
    }
    if (fclose(f) != 0 || !ok) {
        free(text);
        return client_cmd_fail("start", "out of memory");
    }
    if (len > RESTORE_SEND_MAX) {
        free(text);
        return 0; /* too big to send: the daemon reads it if it is in its folder */
    }
    *out = text;
    *out_len = len;
    return 0;
}

/* Writes the conversation's connection file. Returns 0 or 1 (printed). */
static int s_write_connection(const json_t *connection, const char *path)
{
    connfile_t conn;
    proto_err_t err;
    char why[256];
    if (connfile_from_json(connection, &conn, &err, why, sizeof why) < 0)
        return client_cmd_fail("start", "the daemon sent a bad connection: %s", why);
    int rc = connfile_save(&conn, path);
    connfile_clear(&conn);
    return rc < 0 ? client_cmd_fail("start", "cannot write %s: %s", path, strerror(-rc)) : 0;
}

static int s_start(int argc, char **argv)
{
    const char *connection_file = NULL, *restore = NULL;
    const char *values[N_START_LIMITS] = {0};
    client_option_t opts[N_START_LIMITS + 2] = {
        {"--connection-file", NULL, &connection_file, NULL},
        {"--restore", NULL, &restore, NULL},
    };
    for (size_t k = 0; k < N_START_LIMITS; k++)
        opts[k + 2] = (client_option_t){s_start_limits[k].flag, NULL, &values[k], NULL};
    _cleanup_client_args_ client_args_t args = {0};
    int rc = client_cmd_parse_options(argc, argv, opts, ARRAY_SIZE(opts), &args);
    if (rc)
        return rc;
    json_auto_t *content = json_object();
    for (size_t k = 0; k < N_START_LIMITS && content; k++) {
        if (!values[k])
            continue;
        char *end;
        errno = 0;
        double v = strtod(values[k], &end);
        if (end == values[k] || *end || errno || !isfinite(v) || v < 0 ||
            (!s_start_limits[k].fractional && (v != floor(v) || v > 1e15)))
            return client_cmd_usage_error(
                "start", "%s needs a %s, not \"%s\"", s_start_limits[k].flag,
                s_start_limits[k].fractional ? "non-negative number" : "non-negative whole number",
                values[k]);
        json_object_set_new(content, s_start_limits[k].key,
                            v == floor(v) && v <= 1e15 ? json_integer((json_int_t)v)
                                                       : json_real(v));
    }
    _cleanup_free_ char *sent = NULL;
    size_t sent_len = 0;
    if (restore) { /* the daemon has its own working directory */
        char abs[PATH_MAX];
        const char *name = realpath(restore, abs) ? abs : restore;
        if (s_restore_read(restore, name, &sent, &sent_len))
            return 1;
        json_object_set_new(content, "restore", json_string(name));
    }
    wire_frame_t journal = {sent, sent_len};
    control_client_t *cc = NULL;
    if (client_cmd_connect("start", args.runtime_file, &cc))
        return 1;
    wire_msg_t reply;
    rc = client_cmd_call(cc, "start", "start_request", content, sent ? &journal : NULL,
                         sent ? 1 : 0, &reply);
    if (rc == 0) {
        const char *id = json_string_value(json_object_get(reply.content, "id"));
        if (!id) {
            rc = client_cmd_fail("start", "the daemon's start_reply has no id");
        } else if (connection_file &&
                   s_write_connection(json_object_get(reply.content, "connection"),
                                      connection_file)) {
            /* the caller cannot use a conversation it cannot attach to */
            json_auto_t *stop = json_pack("{s:s}", "id", id);
            wire_msg_t stopped;
            if (client_cmd_call(cc, "start", "stop_request", stop, NULL, 0, &stopped) == 0)
                wire_msg_clear(&stopped);
            fprintf(stderr, "sandcell start: conversation %s stopped again\n", id);
            rc = 1;
        } else {
            printf("%s\n", id);
        }
        wire_msg_clear(&reply);
    }
    control_client_destroy(&cc);
    return rc;
}

/* ------------------------------------------------------------------- ls */

/* The text of a list entry's field: strings as they are (but an ISO-8601
 * date loses its fraction of a second), numbers as numbers, epoch seconds
 * (for "started") as local time. */
static void s_field(const json_t *entry, const char *key, char *out, size_t out_len)
{
    const json_t *v = json_object_get(entry, key);
    if (json_is_string(v)) {
        const char *text = json_string_value(v);
        const char *dot = strchr(text, '.');
        if (strlen(text) > 19 && text[10] == 'T' && dot == text + 19 &&
            text[strlen(text) - 1] == 'Z')
            snprintf(out, out_len, "%.19sZ", text);
        else
            snprintf(out, out_len, "%s", text);
    } else if (json_is_number(v) && strcmp(key, "started") == 0) {
        time_t t = (time_t)json_number_value(v);
        struct tm tm;
        if (!localtime_r(&t, &tm) || !strftime(out, out_len, "%Y-%m-%d %H:%M:%S", &tm))
            snprintf(out, out_len, "%.0f", json_number_value(v));
    } else if (json_is_integer(v)) {
        snprintf(out, out_len, "%lld", (long long)json_integer_value(v));
    } else if (json_is_number(v)) {
        format_number(json_number_value(v), out, out_len);
    } else {
        snprintf(out, out_len, "-");
    }
}

/* A list entry's "limits" as `sandcell start` flags name them, with units:
 * "timeout=30s memory=512MiB pids=64 ..."; limits at 0 (none) left out. */
static void s_limits_text(const json_t *entry, char *out, size_t out_len)
{
    static const struct {
        const char *key, *unit;
    } fields[] = {
        {"timeout", "s"}, {"input_timeout", "s"}, {"memory", "MiB"}, {"pids", ""}, {"cpus", ""},
        {"disk", "MiB"},  {"open_files", ""}, {"max_output", "MiB"}, {"idle_timeout", "s"},
        {"lifetime", "s"},
    };
    const json_t *limits = json_object_get(entry, "limits");
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(fields) && used < out_len; i++) {
        const json_t *v = json_object_get(limits, fields[i].key);
        if (!json_is_number(v) || json_number_value(v) == 0)
            continue;
        char number[32];
        int n = snprintf(out + used, out_len - used, "%s%s=%s%s", used ? " " : "",
                         fields[i].key, format_number(json_number_value(v), number, sizeof number),
                         fields[i].unit);
        used += n > 0 ? (size_t)n : 0;
    }
    if (!out[0])
        snprintf(out, out_len, "-");
}

static int s_ls(int argc, char **argv)
{
    bool as_json = false;
    const client_option_t opts[] = {{"--json", NULL, NULL, &as_json}};
    _cleanup_client_args_ client_args_t args = {0};
    int rc = client_cmd_parse_options(argc, argv, opts, ARRAY_SIZE(opts), &args);
    if (rc)
        return rc;
    json_auto_t *content = json_object();
    wire_msg_t reply;
    rc = s_request("ls", args.runtime_file, "list_request", content, NULL, 0, &reply);
    if (rc)
        return rc;
    const json_t *list = json_object_get(reply.content, "conversations");
    if (!json_is_array(list)) {
        wire_msg_clear(&reply);
        return client_cmd_fail("ls", "the daemon's list_reply has no conversations");
    }
    if (as_json) {
        /* 15 digits: the daemon's own figures as written (idle_seconds
         * 16.505, not 16.504999999999999), every decimal of up to 15 digits
         * exact. */
        json_dumpf(list, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        putchar('\n');
        wire_msg_clear(&reply);
        return 0;
    }
    enum { N_COLUMNS = 6 };
    static const char *const heads[] = {"ID",      "STATE",  "EXECUTIONS",
                                        "STARTED", "LIMITS", "JOURNAL"};
    static const char *const keys[] = {"id", "state", "executions", "started", NULL, "journal"};
    size_t n = json_array_size(list);
    _cleanup_free_ char(*cells)[N_COLUMNS][PATH_MAX] = calloc(n + 1, sizeof *cells);
    if (!cells) {
        wire_msg_clear(&reply);
        return client_cmd_fail("ls", "out of memory");
    }
    int width[N_COLUMNS] = {0};
    for (size_t r = 0; r <= n; r++) {
        const json_t *e = r ? json_array_get(list, r - 1) : NULL;
        for (int c = 0; c < N_COLUMNS; c++) {
            if (!e) {
                snprintf(cells[r][c], sizeof cells[r][c], "%s", heads[c]);
            } else if (c == 2) {
                char done[32], max[32];
                s_field(e, "executions", done, sizeof done);
                s_field(e, "max_executions", max, sizeof max);
                bool capped = json_integer_value(json_object_get(e, "max_executions")) > 0;
                snprintf(cells[r][c], sizeof cells[r][c], capped ? "%s/%s" : "%s", done, max);
            } else if (!keys[c]) {
                s_limits_text(e, cells[r][c], sizeof cells[r][c]);
            } else {
                s_field(e, keys[c], cells[r][c], sizeof cells[r][c]);
            }
            int len = (int)strlen(cells[r][c]);
            width[c] = len > width[c] ? len : width[c];
        }
    }
    for (size_t r = 0; r <= n; r++)
        printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", width[0], cells[r][0], width[1],
               cells[r][1], width[2], cells[r][2], width[3], cells[r][3], width[4], cells[r][4],
               cells[r][5]);
    wire_msg_clear(&reply);
    return 0;
}

/* ----------------------------------------------------------------- stop */

static int s_stop(int argc, char **argv)
{
    _cleanup_client_args_ client_args_t args = {0};
    int rc = client_cmd_parse(argc, argv, NULL, 0, &args);
    if (rc)
        return rc;
    if (args.n_pos == 0)
        return client_cmd_usage_error("stop", "which conversation? give its ID");
    control_client_t *cc = NULL;
    if (client_cmd_connect("stop", args.runtime_file, &cc))
        return 1;
    for (int i = 0; i < args.n_pos; i++) {
        json_auto_t *content = json_pack("{s:s}", "id", args.pos[i]);
        wire_msg_t reply;
        if (client_cmd_call(cc, "stop", "stop_request", content, NULL, 0, &reply)) {
            rc = 1;
            continue;
        }
        wire_msg_clear(&reply);
    }
    control_client_destroy(&cc);
    return rc;
}

/* ------------------------------------------------------------ put / get */

static int s_put(int argc, char **argv)
{
    _cleanup_client_args_ client_args_t args = {0};
    int rc = client_cmd_parse(argc, argv, NULL, 0, &args);
    if (rc)
        return rc;
    if (args.n_pos < 2 || args.n_pos > 3)
        return client_cmd_usage_error("put", "expected ID LOCAL [REMOTE]");
    const char *id = args.pos[0], *local = args.pos[1];
    const char *remote = args.n_pos == 3 ? args.pos[2] : s_basename(local);
    if (!remote[0])
        return client_cmd_usage_error("put", "%s names no file; give REMOTE", local);
    _cleanup_close_ int fd = open(local, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return client_cmd_fail("put", "%s: %s", local, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return client_cmd_fail("put", "%s: not a regular file", local);
    if ((size_t)st.st_size > WIRE_MAX_BYTES - 65536)
        return client_cmd_fail("put", "%s: %lld bytes; a put carries at most %zu MiB", local,
                               (long long)st.st_size, WIRE_MAX_BYTES >> 20);
    _cleanup_free_ char *data = NULL;
    size_t size;
    int e = client_cmd_read_all(fd, &data, &size);
    if (e < 0)
        return client_cmd_fail("put", "%s: %s", local, strerror(-e));
    json_auto_t *content = json_pack("{s:s, s:s}", "id", id, "path", remote);
    wire_frame_t buffer = {data, size};
    wire_msg_t reply;
    rc = s_request("put", args.runtime_file, "put_file_request", content, &buffer, 1, &reply);
    if (rc)
        return rc;
    const char *path = json_string_value(json_object_get(reply.content, "path"));
    const json_t *n = json_object_get(reply.content, "size");
    printf("%s (%lld bytes)\n", path ? path : remote,
           json_is_integer(n) ? (long long)json_integer_value(n) : (long long)size);
    wire_msg_clear(&reply);
    return 0;
}

static int s_get(int argc, char **argv)
{
    bool force = false;
    const client_option_t opts[] = {{"--force", "-f", NULL, &force}};
    _cleanup_client_args_ client_args_t args = {0};
    int rc = client_cmd_parse(argc, argv, opts, ARRAY_SIZE(opts), &args);
    if (rc)
        return rc;
    if (args.n_pos < 2 || args.n_pos > 3)
        return client_cmd_usage_error("get", "expected ID REMOTE [LOCAL]");
    const char *id = args.pos[0], *remote = args.pos[1];
    const char *to = args.n_pos == 3 ? args.pos[2] : NULL; /* LOCAL as given */
    if (to && !to[0])
        return client_cmd_usage_error("get", "LOCAL is empty");
    char local[4096];
    struct stat st;
    if (to && !(stat(to, &st) == 0 && S_ISDIR(st.st_mode)))
        snprintf(local, sizeof local, "%s", to);
    else if (!s_basename(remote)[0])
        return client_cmd_usage_error("get", "%s names no file; give LOCAL", remote);
    else if (snprintf(local, sizeof local, "%s%s%s", to ? to : "",
                      to && to[strlen(to) - 1] != '/' ? "/" : "",
                      s_basename(remote)) >= (int)sizeof local)
        return client_cmd_usage_error("get", "local path too long");
    if (!force && access(local, F_OK) == 0)
        return client_cmd_fail("get", "%s exists; add --force to replace it", local);
    json_auto_t *content = json_pack("{s:s, s:s}", "id", id, "path", remote);
    wire_msg_t reply;
    rc = s_request("get", args.runtime_file, "get_file_request", content, NULL, 0, &reply);
    if (rc)
        return rc;
    if (reply.n_buffers < 1) {
        wire_msg_clear(&reply);
        return client_cmd_fail("get", "the daemon's reply carries no file");
    }
    const wire_blob_t *file = &reply.buffers[0];
    int fd = open(local, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0666);
    int e = fd < 0 ? -errno : write_all(fd, file->data, file->size);
    if (fd >= 0 && close(fd) < 0 && e == 0)
        e = -errno;
    if (e < 0) {
        if (fd >= 0)
            unlink(local);
        wire_msg_clear(&reply);
        return client_cmd_fail("get", "%s: %s", local, strerror(-e));
    }
    printf("%s (%zu bytes)\n", local, file->size);
    wire_msg_clear(&reply);
    return 0;
}

/* ------------------------------------------------------------- commands */

static const client_command_t s_commands[] = {
    {"start", s_start,
     "sandcell start [--connection-file PATH] [--restore JOURNAL] [LIMITS]\n"
     "    Start a conversation in the daemon (`sandcell serve`) and print its ID.\n"
     "    --connection-file PATH  also write its Jupyter connection file (mode 0600),\n"
     "                         for `jupyter console --existing PATH`\n"
     "    --restore JOURNAL  first run the cells of an earlier conversation's journal\n"
     "                         again (outputs not shown), so this one continues where\n"
     "                         that one stopped: its variables, imports and data\n"
     "    LIMITS: --max-executions N, --timeout S, --memory MIB, --pids N, --cpus N,\n"
     "    --disk MIB, --open-files N, --max-output MIB, --idle-timeout S, --lifetime S\n"
     "    (see `sandcell serve --help`; the daemon's own limits are the defaults)\n" RUNTIME_FLAG},
    {"ls", s_ls,
     "sandcell ls [--json]\n"
     "    List the daemon's conversations: ID, state, executions, start time, journal.\n"
     "    --json             print the list as JSON\n" RUNTIME_FLAG},
    {"stop", s_stop,
     "sandcell stop ID [ID...]\n"
     "    End conversations: their interpreters are killed, their files removed.\n" RUNTIME_FLAG},
    {"exec", exec_cmd_run,
     "sandcell exec -c ID [--out-dir DIR] [--timeout S] [--raw] CODE\n"
     "    Run CODE (\"-\": read it from stdin) in conversation ID and print its output\n"
     "    as it comes: stdout, stderr, results, tracebacks. Images are saved as\n"
     "    DIR/sandcell-ID-N.png (or .jpg). Exits 0 if the cell succeeded, 1 if not.\n"
     "    --out-dir DIR      where images go (default: the current directory)\n"
     "    --timeout S        stop waiting after S seconds, interrupt the cell, exit 124\n"
     "    --raw              print the cell's output byte for byte; by default control\n"
     "                         sequences other than colours are shown as text (^[]0;..)\n"
     "    Ctrl-C interrupts the cell; a second Ctrl-C stops waiting (exit 130).\n"
     "    Put -- before a CODE that starts with \"-\".\n" RUNTIME_FLAG},
    {"put", s_put,
     "sandcell put ID LOCAL [REMOTE]\n"
     "    Copy the file LOCAL into the conversation's workspace as REMOTE\n"
     "    (default: LOCAL's file name).\n" RUNTIME_FLAG},
    {"get", s_get,
     "sandcell get [--force] ID REMOTE [LOCAL]\n"
     "    Copy the file REMOTE out of the conversation's workspace to LOCAL (default:\n"
     "    REMOTE's file name; a directory: into it). An existing LOCAL is replaced\n"
     "    only with --force.\n" RUNTIME_FLAG},
};

bool client_cmd_is_command(const char *name)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(s_commands); i++)
        if (strcmp(name, s_commands[i].name) == 0)
            return true;
    return false;
}

void client_cmd_usage(FILE *out, const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(s_commands); i++)
        if (!name || strcmp(name, s_commands[i].name) == 0)
            fprintf(out, "  %s", s_commands[i].usage);
}

int client_cmd_run(int argc, char **argv)
{
    const client_command_t *cmd = NULL;
    for (size_t i = 0; argc > 0 && i < ARRAY_SIZE(s_commands); i++)
        if (strcmp(argv[0], s_commands[i].name) == 0)
            cmd = &s_commands[i];
    if (!cmd) {
        fprintf(stderr, "sandcell: unknown command %s (try sandcell --help)\n",
                argc > 0 ? argv[0] : "(none)");
        return 2;
    }
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs("usage:\n", stdout);
            client_cmd_usage(stdout, cmd->name);
            return 0;
        }
    }
    return cmd->run(argc, argv);
}
