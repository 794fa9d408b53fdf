/* mcp_server — the stdio transport, the lifecycle and the tool calls.
 *
 * Start-up follows `sandcell kernel` (session/cli/kernel_cmd.c): the
 * zygote forks before any ZeroMQ context exists, and one interpreter is
 * jailed and warmed at once (mcp_kernel_new), so the first call does not
 * wait for it. stdin is read without blocking on the reactor; stdout is
 * written whole, message by message, waiting for the pipe if it is full
 * (an MCP client reads its responses; nothing else of the session can
 * make progress meanwhile anyway).
 *
 * A tools/call is answered when its work is done: cells from the reactor
 * when their outputs are in, file tools at once (or once the interpreter
 * they need has started). Calls run concurrently as far as the
 * conversation allows: cells one after another in arrival order, file
 * tools meanwhile. A cancelled call gets no response (as the
 * specification asks); its cell is interrupted and the session goes on. */
#include "mcp_server.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "config.h"
#include "journal.h"
#include "jsonrpc.h"
#include "log.h"
#include "mcp_files.h"
#include "mcp_kernel.h"
#include "mcp_tools.h"
#include "restore.h"
#include "paths.h"
#include "util.h"

const char *const mcp_protocol_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", NULL};

#define READ_CHUNK 65536
#define PROGRESS_EVERY_MS 1000
#define FILE_WAIT_MS 30000 /* how long a file tool waits for the interpreter to start */

typedef struct server server_t;

typedef enum { CALL_EXECUTE, CALL_RESET, CALL_FILE } call_kind_t;

typedef struct call {
    struct call *next;
    server_t *server;
    call_kind_t kind;
    json_t *id;        /* the request's id (owned) */
    json_t *token;     /* its progressToken (owned), or NULL */
    json_t *arguments; /* CALL_FILE: the arguments until the interpreter is there (owned) */
    char tool[32];
    mcp_op_t *op;
    double timeout_s;  /* CALL_EXECUTE: the call's own limit; 0: the server's */
    bool timed_out;
    long long waiting_since_ms, last_progress_ms;
    double progress;
} call_t;

struct server {
    const mcp_options_t *opts;
    reactor_t *reactor;
    zygote_client_t *zygote;
    journal_sync_t *journal_sync;
    mcp_kernel_t *kernel;
    int in_fd, out_fd, sigfd;
    char *buf;
    size_t len, cap;
    bool discarding; /* inside a line too long to keep */
    bool initialized;
    bool structured; /* the negotiated version has structuredContent */
    call_t *calls;
    int status;
};

/* ---- output ---------------------------------------------------------- */

static void s_write_all(server_t *s, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(s->out_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = s->out_fd, .events = POLLOUT};
            poll(&pfd, 1, 1000);
            continue;
        }
        if (w <= 0) {
            log_error("mcp: stdout is gone (%s); stopping", strerror(errno));
            reactor_stop(s->reactor);
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Sends |msg| (owned) as one line. */
static void s_send(server_t *s, json_t *msg)
{
    size_t len;
    char *line = msg ? jsonrpc_line(msg, &len) : NULL;
    json_decref(msg);
    if (!line) {
        log_error("mcp: out of memory writing a message");
        return;
    }
    s_write_all(s, line, len);
    free(line);
}

static void s_error(server_t *s, const json_t *id, int code, const char *message)
{
    s_send(s, jsonrpc_error(id, code, message, NULL));
}

static void s_result(server_t *s, const json_t *id, json_t *result)
{
    json_t *msg = jsonrpc_result(id, result);
    if (!msg) {
        s_error(s, id, JSONRPC_INTERNAL_ERROR, "out of memory");
        return;
    }
    s_send(s, msg);
}

/* ---- calls in flight ------------------------------------------------- */

static call_t *s_call_new(server_t *s, call_kind_t kind, const json_t *id, const json_t *token,
                          const char *tool)
{
    call_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->server = s;
    c->kind = kind;
    c->id = json_deep_copy(id);
    c->token = token ? json_deep_copy(token) : NULL;
    snprintf(c->tool, sizeof c->tool, "%s", tool);
    c->waiting_since_ms = reactor_now_ms();
    c->next = s->calls;
    s->calls = c;
    return c;
}

static void s_call_free(server_t *s, call_t *c)
{
    for (call_t **p = &s->calls; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    json_decref(c->id);
    json_decref(c->token);
    json_decref(c->arguments);
    free(c);
}

static long s_executions_left(server_t *s)
{
    conversation_t *conv = mcp_kernel_conversation(s->kernel);
    long max = conv ? conversation_max_executions(conv) : s->opts->max_executions;
    if (max <= 0)
        return -1;
    long left = max - (conv ? conversation_executions(conv) : 0);
    return left > 0 ? left : 0;
}

static void s_on_executed(void *arg, const json_t *outputs, const json_t *reply)
{
    call_t *c = arg;
    server_t *s = c->server;
    char note[900] = "";
    const char *ename = json_string_value(json_object_get(reply, "ename"));
    conversation_t *conv = mcp_kernel_conversation(s->kernel);
    if (c->timed_out)
        snprintf(note, sizeof note,
                 "TimeoutError: the cell ran past its timeout of %g s and was interrupted; "
                 "the session's state is kept",
                 c->timeout_s);
    else if (ename && strcmp(ename, "ExecutionLimitReached") == 0) {
        const char *journal = conv ? conversation_journal_path(conv) : NULL;
        if (journal)
            snprintf(note, sizeof note,
                     "To continue, start a new MCP session restored from this one's journal: "
                     "`sandcell mcp --restore %.400s` runs its cells again (and puts its "
                     "uploaded files back) before the first call, so its variables are there "
                     "again.",
                     journal);
        else
            snprintf(note, sizeof note, "To continue, start a new MCP session.");
    }
    json_t *result = mcp_tools_execute_result(outputs, reply, s_executions_left(s),
                                              note[0] ? note : NULL, s->structured);
    s_result(s, c->id, result);
    s_call_free(s, c);
}

static void s_on_reset(void *arg, const json_t *outputs, const json_t *reply)
{
    (void)outputs;
    call_t *c = arg;
    server_t *s = c->server;
    const char *status = json_string_value(json_object_get(reply, "status"));
    json_t *result;
    if (status && strcmp(status, "ok") == 0) {
        long left = s_executions_left(s);
        result = json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text",
                           "The interpreter was restarted: variables and workspace files are "
                           "gone.",
                           "isError", 0);
        if (result && s->structured)
            json_object_set_new(result, "structuredContent",
                                json_pack("{s:o}", "executions_left",
                                          left < 0 ? json_null() : json_integer(left)));
    } else {
        result = mcp_tools_error("the interpreter could not be restarted");
    }
    s_result(s, c->id, result);
    s_call_free(s, c);
}

static const char s_capped_text[] =
    "ExecutionLimitReached: this session reached its execution limit and its interpreter, "
    "with its workspace, was stopped; start a new MCP session to continue (execute_code's "
    "error names the journal to restore it from)";

/* Runs a file tool if the interpreter is there; returns false to wait. */
static bool s_try_file_call(server_t *s, call_t *c)
{
    conversation_t *conv = mcp_kernel_conversation(s->kernel);
    bool jailed = false;
    pid_t pid = conv ? conversation_interpreter_pid(conv, &jailed) : 0;
    json_t *result;
    if (strcmp(c->tool, "export_notebook") == 0) {
        result = mcp_files_export(conv, s->structured);
    } else if (conv && conversation_capped(conv)) {
        result = mcp_tools_error(s_capped_text);
    } else if (pid <= 0) {
        if (reactor_now_ms() - c->waiting_since_ms < FILE_WAIT_MS)
            return false;
        result = mcp_tools_error("the interpreter did not start; try again, or call reset");
    } else if (strcmp(c->tool, "upload_file") == 0) {
        result = mcp_files_upload(conv, pid, jailed, c->arguments, s->structured);
    } else if (strcmp(c->tool, "download_file") == 0) {
        result = mcp_files_download(pid, jailed, c->arguments, s->structured);
    } else {
        result = mcp_files_list(pid, jailed, c->arguments, s->structured);
    }
    s_result(s, c->id, result ? result : mcp_tools_error("out of memory"));
    s_call_free(s, c);
    return true;
}

/* ---- methods --------------------------------------------------------- */

static void s_initialize(server_t *s, const jsonrpc_msg_t *m)
{
    if (s->initialized) {
        s_error(s, m->id, JSONRPC_INVALID_REQUEST, "the session is initialized already");
        return;
    }
    const char *asked = json_string_value(json_object_get(m->params, "protocolVersion"));
    if (!json_is_object(m->params) || !asked) {
        s_error(s, m->id, JSONRPC_INVALID_PARAMS,
                "initialize needs params with a string protocolVersion");
        return;
    }
    /* The client's version if it is one of ours, else our newest: the
     * client then decides whether it can go on. */
    const char *version = mcp_protocol_versions[0];
    for (int i = 0; mcp_protocol_versions[i]; i++)
        if (strcmp(asked, mcp_protocol_versions[i]) == 0)
            version = mcp_protocol_versions[i];
    s->structured = strcmp(version, "2025-03-26") != 0;
    s->initialized = true;
    s_result(s, m->id,
             json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s}, s:s}", "protocolVersion", version,
                       "capabilities", "tools", "listChanged", 0, "serverInfo", "name",
                       "sandcell", "title", "sandcell (sandboxed Python)", "version",
                       PACKAGE_VERSION, "instructions",
                       "A sandboxed, stateful Python interpreter. Use execute_code to run "
                       "Python; state persists between calls. Put input files in the "
                       "workspace with upload_file and fetch results with download_file; "
                       "charts come back as PNG images."));
}

static bool s_progress_token(const json_t *params, json_t **token)
{
    json_t *meta = json_object_get(params, "_meta");
    json_t *t = json_object_get(meta, "progressToken");
    *token = t;
    return !t || json_is_string(t) || json_is_integer(t);
}

static void s_tools_call(server_t *s, const jsonrpc_msg_t *m)
{
    json_t *params = m->params;
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "arguments");
    json_t *token = NULL;
    if (!json_is_object(params) || !name || (args && !json_is_object(args)) ||
        !s_progress_token(params, &token)) {
        s_error(s, m->id, JSONRPC_INVALID_PARAMS,
                "tools/call needs params {name: string, arguments?: object}");
        return;
    }
    if (!mcp_tools_known(name)) {
        char msg[200];
        snprintf(msg, sizeof msg, "unknown tool: %.100s", name);
        s_error(s, m->id, JSONRPC_INVALID_PARAMS, msg);
        return;
    }
    for (call_t *c = s->calls; c; c = c->next)
        if (json_equal(c->id, m->id)) {
            s_error(s, m->id, JSONRPC_INVALID_REQUEST, "a request with this id is in flight");
            return;
        }
    char why[600];
    log_debug("mcp: tools/call %s", name);
    if (mcp_kernel_begin(s->kernel, why, sizeof why) < 0) {
        log_error("mcp: the conversation could not begin: %s", why);
        s_result(s, m->id, mcp_tools_error(why));
        return;
    }
    if (strcmp(name, "execute_code") == 0) {
        const char *code = json_string_value(json_object_get(args, "code"));
        json_t *timeout = json_object_get(args, "timeout");
        double t = timeout ? json_number_value(timeout) : 0;
        if (!code || (timeout && (!json_is_number(timeout) || !(t > 0) || !isfinite(t)))) {
            s_result(s, m->id, mcp_tools_error("execute_code needs a string `code` and, if "
                                               "given, a positive number `timeout`"));
            return;
        }
        if (strlen(code) != json_string_length(json_object_get(args, "code"))) {
            s_result(s, m->id, mcp_tools_error("`code` holds a NUL character"));
            return;
        }
        call_t *c = s_call_new(s, CALL_EXECUTE, m->id, token, name);
        if (c)
            c->timeout_s = t;
        if (!c || !(c->op = mcp_kernel_execute(s->kernel, code, s_on_executed, NULL, c))) {
            if (c)
                s_call_free(s, c);
            s_error(s, m->id, JSONRPC_INTERNAL_ERROR, "out of memory");
        }
        return;
    }
    if (strcmp(name, "reset") == 0) {
        conversation_t *conv = mcp_kernel_conversation(s->kernel);
        if (conv && conversation_capped(conv)) {
            s_result(s, m->id, mcp_tools_error(s_capped_text));
            return;
        }
        call_t *c = s_call_new(s, CALL_RESET, m->id, token, name);
        if (!c || !(c->op = mcp_kernel_restart(s->kernel, s_on_reset, c))) {
            if (c)
                s_call_free(s, c);
            s_error(s, m->id, JSONRPC_INTERNAL_ERROR, "out of memory");
        }
        return;
    }
    call_t *c = s_call_new(s, CALL_FILE, m->id, token, name);
    if (!c) {
        s_error(s, m->id, JSONRPC_INTERNAL_ERROR, "out of memory");
        return;
    }
    c->arguments = args ? json_incref(args) : json_object();
    s_try_file_call(s, c);
}

static void s_cancelled(server_t *s, const jsonrpc_msg_t *m)
{
    json_t *id = json_object_get(m->params, "requestId");
    for (call_t *c = s->calls; id && c; c = c->next) {
        if (!json_equal(c->id, id))
            continue;
        const char *reason = json_string_value(json_object_get(m->params, "reason"));
        log_info("mcp: request cancelled%s%s", reason ? ": " : "", reason ? reason : "");
        if (c->op) {
            if (c->kind == CALL_EXECUTE)
                mcp_kernel_interrupt(s->kernel, c->op);
            mcp_kernel_orphan(c->op);
        }
        s_call_free(s, c);
        return;
    }
}

typedef void (*method_fn)(server_t *s, const jsonrpc_msg_t *m);

static void s_ping(server_t *s, const jsonrpc_msg_t *m)
{
    s_result(s, m->id, json_object());
}

static void s_tools_list(server_t *s, const jsonrpc_msg_t *m)
{
    s_result(s, m->id, mcp_tools_list(s->structured));
}

static const struct {
    const char *method;
    method_fn fn;
    bool before_init; /* allowed before initialize */
} s_methods[] = {
    {"initialize", s_initialize, true},
    {"ping", s_ping, true},
    {"tools/list", s_tools_list, false},
    {"tools/call", s_tools_call, false},
};

/* Handles one message; returns its response for a batch instead of
 * sending it when |batch| is set (NULL: none). */
static void s_handle(server_t *s, json_t *value)
{
    jsonrpc_msg_t m;
    jsonrpc_classify(value, &m);
    if (m.kind == JSONRPC_INVALID) {
        s_error(s, m.id, m.error_code, m.error_message);
        return;
    }
    if (m.kind == JSONRPC_RESPONSE) /* we send no requests; nothing to match */
        return;
    if (m.kind == JSONRPC_NOTIFICATION) {
        if (strcmp(m.method, "notifications/cancelled") == 0)
            s_cancelled(s, &m);
        return; /* notifications/initialized and others need nothing */
    }
    for (size_t i = 0; i < ARRAY_SIZE(s_methods); i++) {
        if (strcmp(m.method, s_methods[i].method) != 0)
            continue;
        if (!s->initialized && !s_methods[i].before_init) {
            s_error(s, m.id, JSONRPC_INVALID_REQUEST,
                    "the session is not initialized: send initialize first");
            return;
        }
        if (m.params && !json_is_object(m.params)) {
            s_error(s, m.id, JSONRPC_INVALID_PARAMS, "params must be an object");
            return;
        }
        s_methods[i].fn(s, &m);
        return;
    }
    char msg[200];
    snprintf(msg, sizeof msg, "method not found: %.100s", m.method);
    s_error(s, m.id, JSONRPC_METHOD_NOT_FOUND, msg);
}

static void s_line(server_t *s, const char *line, size_t len)
{
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (len == 0)
        return; /* blank lines between messages are harmless */
    int code;
    const char *why;
    json_t *value = jsonrpc_parse_line(line, len, &code, &why);
    if (!value) {
        s_error(s, NULL, code, why);
        return;
    }
    if (json_is_array(value)) {
        /* JSON-RPC batches were removed in 2025-06-18 and MCP clients do
         * not send them; each member is answered on its own line. */
        if (json_array_size(value) == 0)
            s_error(s, NULL, JSONRPC_INVALID_REQUEST, "invalid request: an empty batch");
        size_t i;
        json_t *v;
        json_array_foreach(value, i, v)
            s_handle(s, v);
    } else {
        s_handle(s, value);
    }
    json_decref(value);
}

/* ---- the loop -------------------------------------------------------- */

static void s_on_stdin(void *arg)
{
    server_t *s = arg;
    for (;;) {
        if (s->cap - s->len < READ_CHUNK) {
            size_t cap = s->cap ? s->cap * 2 : READ_CHUNK * 2;
            char *p = realloc(s->buf, cap);
            if (!p) {
                log_error("mcp: out of memory reading stdin");
                reactor_stop(s->reactor);
                return;
            }
            s->buf = p;
            s->cap = cap;
        }
        ssize_t n = read(s->in_fd, s->buf + s->len, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            if (s->len && !s->discarding)
                s_line(s, s->buf, s->len);
            s->len = 0;
            log_debug("mcp: end of input; ending the session");
            reactor_stop(s->reactor);
            return;
        }
        size_t start = s->len;
        s->len += (size_t)n;
        char *nl;
        while ((nl = memchr(s->buf + start, '\n', s->len - start)) != NULL) {
            size_t line_len = (size_t)(nl - s->buf);
            if (!s->discarding)
                s_line(s, s->buf, line_len);
            s->discarding = false;
            memmove(s->buf, nl + 1, s->len - line_len - 1);
            s->len -= line_len + 1;
            start = 0;
        }
        if (s->len > JSONRPC_MAX_LINE) {
            if (!s->discarding)
                s_error(s, NULL, JSONRPC_INVALID_REQUEST, "message too large");
            s->discarding = true;
            s->len = 0;
        }
        if (s->cap > (size_t)4 * READ_CHUNK && s->len < READ_CHUNK) {
            char *p = realloc(s->buf, READ_CHUNK * 2); /* give back a big line's room */
            if (p) {
                s->buf = p;
                s->cap = READ_CHUNK * 2;
            }
        }
    }
}

static void s_on_zygote_event(void *arg, json_t *event)
{
    server_t *s = arg;
    mcp_kernel_zygote_event(s->kernel, event);
}

static void s_before_sleep(void *arg)
{
    server_t *s = arg;
    for (call_t *c = s->calls, *next; c; c = next) {
        next = c->next;
        if (c->kind == CALL_FILE)
            s_try_file_call(s, c);
    }
}

static void s_tick(void *arg)
{
    server_t *s = arg;
    long long now = reactor_now_ms();
    mcp_kernel_tick(s->kernel, now);
    for (call_t *c = s->calls; c; c = c->next) {
        long long since;
        if (c->kind != CALL_EXECUTE || !c->op || !mcp_op_running(c->op, &since))
            continue;
        if (c->timeout_s > 0 && !c->timed_out && now - since > (long long)(c->timeout_s * 1000)) {
            c->timed_out = true;
            mcp_kernel_interrupt(s->kernel, c->op);
        }
        if (c->token && now - since >= PROGRESS_EVERY_MS &&
            now - c->last_progress_ms >= PROGRESS_EVERY_MS) {
            c->last_progress_ms = now;
            double elapsed = (double)(now - since) / 1000.0;
            c->progress = elapsed > c->progress ? elapsed : c->progress + 0.001;
            char msg[120];
            snprintf(msg, sizeof msg, "running for %.0f s, %zu outputs so far", elapsed,
                     mcp_op_outputs(c->op));
            s_send(s, jsonrpc_notification(
                          "notifications/progress",
                          json_pack("{s:O, s:f, s:s}", "progressToken", c->token, "progress",
                                    c->progress, "message", msg)));
        }
    }
    s_before_sleep(s);
}

/* Moves the protocol's descriptors out of 0 and 1, so nothing this process
 * starts can read the client's input or write on its output. */
static int s_take_stdio(server_t *s)
{
    s->in_fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
    s->out_fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (s->in_fd < 0 || s->out_fd < 0 || null < 0 || dup2(null, 0) < 0 || dup2(2, 1) < 0)
        return -1;
    close(null);
    int fl = fcntl(s->in_fd, F_GETFL);
    return fl < 0 || fcntl(s->in_fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : 0;
}

int mcp_server_run(const mcp_options_t *opts)
{
    if (opts->verbose)
        log_set_level(LEVEL_DEBUG);
    server_t s = {.opts = opts, .in_fd = -1, .out_fd = -1, .sigfd = -1};
    sandbox_limits_t limits = opts->limits;
    char data_dir[PATH_MAX], journal_dir[PATH_MAX], why[1600];
    const char *jdir = NULL;
    if (!opts->no_journal) {
        char dflt[PATH_MAX];
        jdir = opts->journal_dir;
        if (!jdir && journal_default_dir(dflt, sizeof dflt) == 0)
            jdir = dflt;
        if (!jdir) {
            fprintf(stderr, "sandcell mcp: no journal folder (set --journal-dir or HOME)\n");
            return 2;
        }
        if (journal_prepare_dir(jdir, journal_dir, sizeof journal_dir, why, sizeof why) < 0) {
            fprintf(stderr, "sandcell mcp: %s\n", why);
            return 2;
        }
        jdir = journal_dir;
    }
    if (sandbox_limits_resolve(&limits, data_dir, sizeof data_dir, why, sizeof why) < 0 ||
        sandbox_limits_check_start(&limits,
                                   "interpreters run with the server's own user, files and "
                                   "network; never use it for code you do not trust",
                                   why, sizeof why) < 0) {
        fprintf(stderr, "sandcell mcp: %s\n", why);
        return 2;
    }
    char worker[PATH_MAX];
    if (paths_worker(worker, sizeof worker) < 0) {
        fprintf(stderr, "sandcell mcp: cannot find sandcell-worker\n");
        return 1;
    }
    /* Read before anything starts: a bad journal is said at once. */
    restore_t *restore = NULL;
    if (opts->restore && !(restore = restore_new(NULL, opts->restore, why, sizeof why))) {
        fprintf(stderr, "sandcell mcp: --restore %s\n", why);
        return 2;
    }
    if (s_take_stdio(&s) < 0) {
        fprintf(stderr, "sandcell mcp: cannot set up stdin and stdout: %s\n", strerror(errno));
        restore_destroy(&restore);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN); /* an MCP host ends the server by closing stdin */
    zygote_config_t zc = {worker, opts->preload, opts->mock_interpreter};
    int preload_rc = zygote_client_open(&zc, opts->preload_given, &s.zygote, why, sizeof why);
    if (preload_rc) {
        if (why[0])
            fprintf(stderr, "sandcell mcp: %s\n", why);
        restore_destroy(&restore);
        return preload_rc;
    }
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGHUP);
    sigprocmask(SIG_BLOCK, &term, NULL);
    s.sigfd = signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);
    zsys_handler_set(NULL);
    s.reactor = reactor_new();
    if (!s.reactor) {
        restore_destroy(&restore);
        s.status = 1;
        goto out;
    }
    if (jdir) {
        s.journal_sync = journal_sync_new(1);
        if (!s.journal_sync || journal_sync_watch(s.journal_sync, s.reactor) < 0) {
            fprintf(stderr, "sandcell mcp: cannot start the journal's thread\n");
            restore_destroy(&restore);
            s.status = 1;
            goto out;
        }
    }
    mcp_kernel_config_t kc = {
        .reactor = s.reactor,
        .zygote = s.zygote,
        .limits = &limits,
        .max_executions = opts->max_executions,
        .journal_dir = jdir,
        .journal_sync = s.journal_sync,
        .restore = steal_pointer(&restore), /* the kernel owns it, even on failure */
    };
    zygote_client_set_listener(s.zygote, s_on_zygote_event, &s);
    s.kernel = mcp_kernel_new(&kc);
    if (!s.kernel || zygote_client_watch(s.zygote, s.reactor, &s.status) < 0 ||
        reactor_stop_on_signal(s.reactor, s.sigfd, "shutting down") < 0 ||
        reactor_add(s.reactor, NULL, s.in_fd, s_on_stdin, &s) < 0) {
        fprintf(stderr, "sandcell mcp: cannot set up the event loop\n");
        s.status = 1;
        goto out;
    }
    reactor_set_hooks(s.reactor, s_before_sleep, s_tick, 100, &s);
    log_debug("mcp: ready on stdio (journal %s)", jdir ? jdir : "off");
    if (reactor_run(s.reactor) < 0) {
        log_error("the event loop failed");
        s.status = 1;
    }
out:
    while (s.calls)
        s_call_free(&s, s.calls);
    mcp_kernel_destroy(&s.kernel, "shutdown");
    if (s.journal_sync) {
        reactor_remove(s.reactor, NULL, journal_sync_fd(s.journal_sync));
        journal_sync_destroy(&s.journal_sync);
    }
    zygote_client_stop(&s.zygote);
    if (s.reactor && s.in_fd >= 0)
        reactor_remove(s.reactor, NULL, s.in_fd);
    reactor_destroy(&s.reactor);
    free(s.buf);
    if (s.sigfd >= 0)
        close(s.sigfd);
    if (s.in_fd >= 0)
        close(s.in_fd);
    if (s.out_fd >= 0)
        close(s.out_fd);
    zsys_shutdown();
    return s.status;
}
