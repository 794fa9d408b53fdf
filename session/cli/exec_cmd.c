/* exec_cmd — `sandcell exec`: run one cell in a conversation of `sandcell
 * serve` and print its output as it comes.
 *
 * exec asks the daemon for the conversation's connection, then speaks to
 * the conversation directly, like any Jupyter client: DEALERs on its shell
 * and control ports and a SUB on iopub, signed with the conversation's
 * key. PUB/SUB drops whatever is published before the subscription reaches
 * the publisher, so before the execute_request goes out exec sends
 * kernel_info_request on the conversation's *control* channel (answered at
 * once even while another client's cell runs; on shell it would queue
 * behind that cell) and repeats with backoff until anything at all arrives
 * on iopub: from then on nothing published is lost. The run ends when both
 * the execute_reply and the idle status for the request are in. Images are
 * written to files that never replace an existing one: the counter skips
 * names already taken. --timeout and a first Ctrl-C send interrupt_request
 * (the cell should not run on unobserved); a second Ctrl-C stops waiting.
 * Everything the cell wrote goes through term_filter (unless --raw), one
 * filter per stream so that a sequence split between two stream messages
 * is still recognised: a cell cannot set the terminal's title, clear it or
 * write its clipboard, whether exec prints to a terminal or to a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "client_cmd_internal.h"
#include "connfile.h"
#include "term_filter.h"
#include "util.h"
#include "wire_io.h"

/* How long exec still waits for a cell it interrupted at --timeout. */
#define EXEC_GRACE_MS 3000

enum { X_SHELL, X_CONTROL, X_IOPUB, X_NSOCKETS };

/* One `sandcell exec` run: the conversation's sockets and what has come
 * back for the execute_request. */
typedef struct {
    const char *id;
    const char *out_dir;      /* NULL: the current directory */
    control_client_t *daemon; /* borrowed */
    void *sockets[X_NSOCKETS];
    signer_t *signer;
    char session[HEADER_ID_LEN + 1];
    char exec_id[HEADER_ID_LEN + 1];
    int images;
    bool idle, error_shown;
    bool raw;                  /* --raw: the cell's bytes as they came */
    term_filter_t streams[2];  /* stdout's and stderr's, across messages */
    json_t *reply; /* the execute_reply's content, owned; NULL until it comes */
} exec_t;

static volatile sig_atomic_t s_interrupts;

static void s_on_sigint(int sig)
{
    (void)sig;
    s_interrupts++;
}

static long long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The filter of |fp|'s stream messages. */
static term_filter_t *s_stream_filter(exec_t *x, FILE *fp)
{
    return &x->streams[fp == stderr];
}

/* Prints |text| (the cell's) on |fp|, filtered unless --raw; a sequence
 * held from |fp|'s stream messages is shown first, so the order stays. */
static void s_print(exec_t *x, FILE *fp, const json_t *text)
{
    if (!json_is_string(text))
        return;
    term_filter_flush(s_stream_filter(x, fp), fp);
    /* by length: a NUL is a character of the output (term_filter shows it) */
    term_filter_write(NULL, fp, json_string_value(text), json_string_length(text), x->raw);
}

static int s_exec_send(exec_t *x, int sock, const char *msg_type, const json_t *content,
                       char *msg_id)
{
    if (content && control_client_send(x->sockets[sock], x->signer, x->session, msg_type, content,
                                       NULL, 0, msg_id) == 0)
        return 0;
    return client_cmd_fail("exec", "cannot send %s: %s", msg_type,
                           content ? zmq_strerror(errno) : "out of memory");
}

/* Decodes one base64 image and writes it to the first free
 * DIR/sandcell-ID-N.EXT; prints where it went. */
static void s_save_image(exec_t *x, const char *b64, const char *ext)
{
    size_t len = strlen(b64), size = 0;
    _cleanup_free_ unsigned char *bin = malloc(len / 4 * 3 + 3);
    if (!bin || sodium_base642bin(bin, len / 4 * 3 + 3, b64, len, "\n\r ", &size, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) < 0) {
        fprintf(stderr, "sandcell exec: an image/%s output is not valid base64\n", ext);
        return;
    }
    char id[128], path[4096];
    snprintf(id, sizeof id, "%s", x->id);
    for (char *p = id; *p; p++)
        if (*p == '/')
            *p = '_';
    _cleanup_close_ int fd = -1;
    for (int tries = 0; fd < 0 && tries < 10000; tries++) {
        snprintf(path, sizeof path, "%s%ssandcell-%s-%d.%s", x->out_dir ? x->out_dir : "",
                 x->out_dir && x->out_dir[strlen(x->out_dir) - 1] != '/' ? "/" : "", id,
                 ++x->images, ext);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    int e = fd < 0 ? -errno : write_all(fd, bin, size);
    if (e < 0) {
        fprintf(stderr, "sandcell exec: cannot save an image as %s: %s\n", path, strerror(-e));
        return;
    }
    printf("[image saved: %s]\n", path);
}

static void s_show_data(exec_t *x, const json_t *data)
{
    const json_t *plain = json_object_get(data, "text/plain");
    size_t len = json_string_length(plain);
    if (len > 0) {
        s_print(x, stdout, plain);
        if (json_string_value(plain)[len - 1] != '\n')
            putchar('\n');
    }
    const char *png = json_string_value(json_object_get(data, "image/png"));
    const char *jpeg = json_string_value(json_object_get(data, "image/jpeg"));
    if (png)
        s_save_image(x, png, "png");
    if (jpeg)
        s_save_image(x, jpeg, "jpg");
}

static void s_on_iopub(exec_t *x, const wire_msg_t *msg)
{
    if (strcmp(control_client_parent_id(msg), x->exec_id) != 0)
        return;
    const char *type = wire_msg_type(msg);
    const json_t *c = msg->content;
    if (strcmp(type, "status") == 0) {
        const char *state = json_string_value(json_object_get(c, "execution_state"));
        x->idle = x->idle || (state && strcmp(state, "idle") == 0);
    } else if (strcmp(type, "stream") == 0) {
        const char *name = json_string_value(json_object_get(c, "name"));
        const json_t *text = json_object_get(c, "text");
        FILE *fp = name && strcmp(name, "stderr") == 0 ? stderr : stdout;
        if (json_is_string(text))
            term_filter_write(s_stream_filter(x, fp), fp, json_string_value(text),
                              json_string_length(text), x->raw);
    } else if (strcmp(type, "execute_result") == 0 || strcmp(type, "display_data") == 0 ||
               strcmp(type, "update_display_data") == 0) {
        s_show_data(x, json_object_get(c, "data"));
    } else if (strcmp(type, "error") == 0) {
        const json_t *tb = json_object_get(c, "traceback");
        size_t i;
        const json_t *line;
        json_array_foreach(tb, i, line) {
            s_print(x, stderr, line);
            if (json_is_string(line))
                fputc('\n', stderr);
        }
        if (json_array_size(tb) == 0) {
            s_print(x, stderr, json_object_get(c, "ename"));
            fputs(": ", stderr);
            s_print(x, stderr, json_object_get(c, "evalue"));
            fputc('\n', stderr);
        }
        x->error_shown = true;
    }
    fflush(stdout);
    fflush(stderr);
}

/* Reads everything waiting on the three sockets; sets *iopub_seen when
 * anything arrived on iopub. */
static void s_exec_drain(exec_t *x, bool *iopub_seen)
{
    for (int s = 0; s < X_NSOCKETS; s++) {
        wire_msg_t msg;
        const char *reason;
        wire_io_result_t rc;
        while ((rc = wire_io_recv(x->sockets[s], x->signer, false, &msg, &reason)) !=
               WIRE_IO_NONE) {
            if (s == X_IOPUB && iopub_seen)
                *iopub_seen = true;
            if (rc != WIRE_IO_MESSAGE)
                continue;
            if (msg.content_nul) { /* output with a NUL: shown, by length */
                json_decref(msg.content);
                msg.content = msg.content_nul;
                msg.content_nul = NULL;
                msg.content_error = NULL;
            }
            if (s == X_IOPUB)
                s_on_iopub(x, &msg);
            else if (s == X_SHELL && !x->reply &&
                     strcmp(control_client_parent_id(&msg), x->exec_id) == 0)
                x->reply = json_incref(msg.content);
            wire_msg_clear(&msg);
        }
    }
}

static void s_exec_poll(exec_t *x, long long timeout_ms)
{
    zmq_pollitem_t items[X_NSOCKETS];
    for (int s = 0; s < X_NSOCKETS; s++)
        items[s] = (zmq_pollitem_t){.socket = x->sockets[s], .events = ZMQ_POLLIN};
    zmq_poll(items, X_NSOCKETS, timeout_ms > 0 ? (long)timeout_ms : 0);
}

/* PUB/SUB drops what is published before the subscription arrives: probe
 * with kernel_info_request on control (answered even while a cell runs)
 * until anything at all comes in on iopub. */
static int s_exec_wait_iopub(exec_t *x)
{
    json_auto_t *empty = json_object();
    long long now = s_now_ms(), deadline = now + CONTROL_CLIENT_TIMEOUT_MS, next = now;
    long long interval = 20;
    bool seen = false;
    while (!seen && !s_interrupts && (now = s_now_ms()) < deadline) {
        if (now >= next) {
            if (s_exec_send(x, X_CONTROL, "kernel_info_request", empty, NULL))
                return 1;
            next = now + interval;
            interval = interval * 2 < 1000 ? interval * 2 : 1000;
        }
        s_exec_poll(x, (next < deadline ? next : deadline) - now);
        s_exec_drain(x, &seen);
    }
    if (seen)
        return 0;
    if (s_interrupts)
        return 130;
    return client_cmd_fail("exec", "conversation %s did not answer within %d s", x->id,
                           CONTROL_CLIENT_TIMEOUT_MS / 1000);
}

/* Whether the cell's end can no longer come: the daemon is gone, or (when
 * |ask|) the daemon no longer knows the conversation (stopped, culled).
 * Prints why. An unanswered question counts as neither. */
static bool s_exec_gone(exec_t *x, bool ask)
{
    if (control_client_daemon_gone(x->daemon)) {
        client_cmd_fail("exec", "the daemon has gone away");
        return true;
    }
    json_auto_t *content = json_pack("{s:s}", "id", x->id);
    wire_msg_t reply;
    char why[512];
    if (!ask || !content ||
        control_client_call(x->daemon, "connection_request", content, NULL, 0, &reply, why,
                            sizeof why) < 0)
        return false;
    const char *status = json_string_value(json_object_get(reply.content, "status"));
    bool gone = !status || strcmp(status, "ok") != 0;
    const char *ename = json_string_value(json_object_get(reply.content, "ename"));
    const char *evalue = json_string_value(json_object_get(reply.content, "evalue"));
    if (gone && evalue && strncmp(evalue, "conversation ", 13) == 0)
        client_cmd_fail("exec", "%s", evalue); /* "conversation ID ended at T: why" */
    else if (gone)
        client_cmd_fail("exec", "conversation %s has ended: %s: %s", x->id,
                        ename ? ename : "Error", evalue ? evalue : "");
    wire_msg_clear(&reply);
    return gone;
}

static int s_exec_run(exec_t *x, const char *code, double timeout_s)
{
    json_auto_t *request =
        json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", code, "silent", 0, "store_history", 1,
                  "user_expressions", "allow_stdin", 0, "stop_on_error", 1);
    json_auto_t *empty = json_object();
    if (s_exec_send(x, X_SHELL, "execute_request", request, x->exec_id))
        return 1;
    long long deadline = timeout_s > 0 ? s_now_ms() + (long long)(timeout_s * 1000) : 0;
    int handled = 0;
    bool timed_out = false;
    long long next_check = s_now_ms() + 1000;
    unsigned checks = 0;
    while (!(x->reply && x->idle)) {
        if (s_interrupts > 1) {
            fprintf(stderr, "sandcell exec: stopped waiting; the cell may still be running\n");
            return 130;
        }
        if (s_interrupts > handled) {
            handled = s_interrupts;
            fprintf(stderr,
                    "sandcell exec: interrupting the cell (Ctrl-C again to stop waiting)\n");
            if (s_exec_send(x, X_CONTROL, "interrupt_request", empty, NULL))
                return 1;
        }
        long long now = s_now_ms();
        if (deadline && now >= deadline && timed_out)
            break;
        if (now >= next_check) {
            if (s_exec_gone(x, ++checks % 5 == 0))
                return 1;
            next_check = now + 1000;
        }
        if (deadline && now >= deadline) {
            /* Interrupt the cell and see it end, so that the next exec does
             * not find it still running (or is aborted by its error). */
            timed_out = true;
            deadline = now + EXEC_GRACE_MS;
            if (s_exec_send(x, X_CONTROL, "interrupt_request", empty, NULL))
                return 1;
        }
        s_exec_poll(x, deadline && deadline - now < 200 ? deadline - now : 200);
        s_exec_drain(x, NULL);
    }
    if (timed_out) {
        char secs[32];
        fprintf(stderr, "sandcell exec: no result within %s s; %s\n",
                format_number(timeout_s, secs, sizeof secs),
                x->reply && x->idle ? "the cell was interrupted"
                                    : "interrupted, but the cell may still be running");
        return 124;
    }
    const char *status = json_string_value(json_object_get(x->reply, "status"));
    if (status && strcmp(status, "ok") == 0)
        return 0;
    const json_t *ename = json_object_get(x->reply, "ename");
    if (!x->error_shown && json_is_string(ename)) {
        fputs("sandcell exec: ", stderr);
        s_print(x, stderr, ename);
        fputs(": ", stderr);
        s_print(x, stderr, json_object_get(x->reply, "evalue"));
        fputc('\n', stderr);
    }
    else if (!x->error_shown && status && strcmp(status, "aborted") == 0)
        fprintf(stderr, "sandcell exec: the cell was not run: an earlier cell failed\n");
    else if (!x->error_shown)
        fprintf(stderr, "sandcell exec: the cell ended with status %s\n", status ? status : "?");
    return 1;
}

/* Connects to the conversation named by |connection|. Returns 0 or 1. */
static int s_exec_connect(exec_t *x, void *ctx, const json_t *connection)
{
    connfile_t conn;
    proto_err_t err;
    char why[256];
    if (connfile_from_json(connection, &conn, &err, why, sizeof why) < 0)
        return client_cmd_fail("exec", "the daemon sent a bad connection: %s", why);
    static const int types[X_NSOCKETS] = {ZMQ_DEALER, ZMQ_DEALER, ZMQ_SUB};
    static const conn_channel_t channels[X_NSOCKETS] = {CONN_SHELL, CONN_CONTROL, CONN_IOPUB};
    int rc = 0, zero = 0;
    x->signer = signer_new(conn.key, strlen(conn.key));
    header_new_id(x->session);
    for (int s = 0; s < X_NSOCKETS && rc == 0; s++) {
        char endpoint[300];
        x->sockets[s] = zmq_socket(ctx, types[s]);
        if (!x->signer || !x->sockets[s] ||
            connfile_endpoint(&conn, channels[s], endpoint, sizeof endpoint) < 0 ||
            zmq_setsockopt(x->sockets[s], ZMQ_LINGER, &zero, sizeof zero) < 0 ||
            (types[s] == ZMQ_SUB && zmq_setsockopt(x->sockets[s], ZMQ_SUBSCRIBE, "", 0) < 0) ||
            zmq_connect(x->sockets[s], endpoint) < 0)
            rc = client_cmd_fail("exec", "cannot connect to conversation %s: %s", x->id,
                                 zmq_strerror(errno));
    }
    connfile_clear(&conn);
    return rc;
}

int exec_cmd_run(int argc, char **argv)
{
    const char *timeout = NULL;
    exec_t x = {0};
    term_filter_init(&x.streams[0]);
    term_filter_init(&x.streams[1]);
    const client_option_t opts[] = {
        {"--conversation", "-c", &x.id, NULL},
        {"--raw", NULL, NULL, &x.raw},
        {"--out-dir", NULL, &x.out_dir, NULL},
        {"--timeout", NULL, &timeout, NULL},
    };
    _cleanup_client_args_ client_args_t args = {0};
    int rc = client_cmd_parse(argc, argv, opts, ARRAY_SIZE(opts), &args);
    if (rc)
        return rc;
    if (!x.id)
        return client_cmd_usage_error("exec", "which conversation? give -c ID");
    if (args.n_pos != 1)
        return client_cmd_usage_error("exec", args.n_pos ? "expected one CODE argument (quote it)"
                                                         : "no CODE given (\"-\" reads it from stdin)");
    if (x.out_dir && !x.out_dir[0])
        x.out_dir = NULL;
    if (x.out_dir && mkdir(x.out_dir, 0777) < 0 && errno != EEXIST)
        return client_cmd_fail("exec", "--out-dir %s: %s", x.out_dir, strerror(errno));
    double timeout_s = 0;
    char *end;
    if (timeout && ((timeout_s = strtod(timeout, &end)) <= 0 || *end || !isfinite(timeout_s)))
        return client_cmd_usage_error("exec", "--timeout needs a positive number of seconds");
    _cleanup_free_ char *stdin_code = NULL;
    size_t code_len;
    if (strcmp(args.pos[0], "-") == 0) {
        int e = client_cmd_read_all(STDIN_FILENO, &stdin_code, &code_len);
        if (e < 0)
            return client_cmd_fail("exec", "reading the code from stdin: %s", strerror(-e));
    }
    control_client_t *cc = NULL;
    if (client_cmd_connect("exec", args.runtime_file, &cc))
        return 1;
    json_auto_t *content = json_pack("{s:s}", "id", x.id);
    wire_msg_t reply;
    rc = client_cmd_call(cc, "exec", "connection_request", content, NULL, 0, &reply);
    x.daemon = cc;
    if (rc == 0) {
        rc = s_exec_connect(&x, control_client_context(cc),
                            json_object_get(reply.content, "connection"));
        wire_msg_clear(&reply);
    }
    if (rc == 0) {
        struct sigaction sa = {.sa_handler = s_on_sigint};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        rc = s_exec_wait_iopub(&x);
        if (rc == 0)
            rc = s_exec_run(&x, stdin_code ? stdin_code : args.pos[0], timeout_s);
    }
    term_filter_flush(&x.streams[0], stdout);
    term_filter_flush(&x.streams[1], stderr);
    fflush(stdout);
    for (int s = 0; s < X_NSOCKETS; s++)
        if (x.sockets[s])
            zmq_close(x.sockets[s]);
    signer_destroy(&x.signer);
    json_decref(x.reply);
    control_client_destroy(&cc);
    return rc;
}
