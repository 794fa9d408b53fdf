/* replay_cmd — a small synchronous manager for one interpreter at a time.
 *
 * It starts the zygote and its interpreters with the same modules as
 * `sandcell kernel` (zygote_client, worker) and the journal's limits, and
 * runs one poll() loop per cell over the zygote's and the interpreter's
 * channels; no ZeroMQ is involved. A new interpreter is started whenever
 * the recorded "interpreter" generation changes, since the original lost
 * its state there, and whenever the replay's own interpreter died.
 *
 * Per cell, what counts as what (README, "Replaying a conversation"):
 * - "same" / "different": the outputs as a notebook shows them, compared
 *   by output_compare, plus the reply status;
 * - "error": the replay itself failed where the original did not: its
 *   interpreter could not start, died or was killed at the time limit while
 *   the recorded cell ended normally;
 * - cells that never ran in the original (aborted, refused at the cap) are
 *   listed as skipped; silent executions are run for their effect on the
 *   state but not reported. input() cannot be answered in a replay: such a
 *   cell fails with StdinNotImplementedError and is reported different. */
#include "replay_cmd.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cell_outputs.h"
#include "interp_record.h"
#include "journal_read.h"
#include "log.h"
#include "output_compare.h"
#include "paths.h"
#include "restore.h"
#include "util.h"
#include "worker.h"
#include "zygote_client.h"

#define START_TIMEOUT_MS 60000   /* for a fresh interpreter to say it is ready */
#define TIMEOUT_GRACE_MS 2000    /* between the interrupt at the time limit and the kill */
#define EXIT_REPORT_MS 2000      /* for the zygote to report how an interpreter ended */
#define MAX_START_FAILURES 3
#define DIFF_LINES 12

typedef struct {
    zygote_client_t *zygote;
    worker_t *worker;
    json_t *jail;
    sandbox_limits_t limits;
    json_int_t generation; /* the recorded generation the worker stands for */
    int start_failures;
    char start_error[256];
    restore_t *restore; /* the state the original started from, until rebuilt */
    const json_t *files; /* the journal's file records (borrowed) */
    size_t next_file;    /* index in files of the next to put */
    /* the running cell */
    json_t *outputs; /* [{"msg_type","content"}] as the journal records them */
    json_t *reply;
    size_t output_bytes;
    bool output_capped;
    bool timed_out;
} replay_t;

static long long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_on_zygote_event(void *arg, json_t *event)
{
    replay_t *r = arg;
    worker_t *w = r->worker;
    const char *type = json_string_value(json_object_get(event, "type"));
    if (!w || !type)
        return;
    json_int_t id = json_integer_value(json_object_get(event, "id"));
    json_int_t pid = json_integer_value(json_object_get(event, "pid"));
    if (strcmp(type, "spawned") == 0 && id == w->spawn_id) {
        worker_set_pid(w, (pid_t)pid);
    } else if (strcmp(type, "spawn_failed") == 0 && id == w->spawn_id) {
        const char *error = json_string_value(json_object_get(event, "error"));
        snprintf(r->start_error, sizeof r->start_error, "the sandbox could not be set up (%s)",
                 error ? error : "no detail");
        w->exited = true;
        worker_mark_dying(w, s_now_ms());
    } else if (strcmp(type, "exited") == 0 && pid > 0 && pid == w->pid) {
        worker_set_exit(w, event);
    }
}

/* The cell reached the output limit: the rest is dropped, after a note on
 * stderr where the conversation puts one (its "[sandcell] " line is not
 * compared, the line break before it is). */
static void s_output_capped(replay_t *r)
{
    if (r->output_capped || !r->outputs)
        return;
    r->output_capped = true;
    json_array_append_new(r->outputs,
                          json_pack("{s:s, s:{s:s, s:s}}", "msg_type", "stream", "content",
                                    "name", "stderr", "text",
                                    "\n[sandcell] this cell reached the output limit; the rest "
                                    "of its output is dropped.\n"));
}

/* A record decoded and checked as the conversation does it
 * (worker_record_parse): what cannot be used becomes an InvalidOutput
 * error output, so the replay shows what the conversation showed. New
 * reference, or NULL when out of memory. */
static json_t *s_decode(const char *text, size_t len)
{
    json_t *rec, *content;
    const char *type;
    char why[INTERP_RECORD_WHY_LEN], evalue[INTERP_RECORD_WHY_LEN + 64];
    worker_record_kind_t kind =
        worker_record_parse(text, len, &rec, &type, &content, why, sizeof why);
    if (kind != WORKER_RECORD_TOO_BIG && kind != WORKER_RECORD_MALFORMED &&
        kind != WORKER_RECORD_UNKNOWN)
        return rec;
    json_decref(rec);
    snprintf(evalue, sizeof evalue, "the interpreter sent an output sandcell cannot use: %s",
             why);
    return json_pack("{s:s, s:o}", "type", "error", "content", interp_record_error(evalue));
}

static void s_on_record(replay_t *r, const char *text, size_t len)
{
    worker_t *w = r->worker;
    json_auto_t *rec = s_decode(text, len);
    const char *type = json_string_value(json_object_get(rec, "type"));
    json_t *content = json_object_get(rec, "content");
    if (!type || !json_is_object(content))
        return;
    if (strcmp(type, "ready") == 0 && w->state == WORKER_STARTING) {
        w->ready = json_incref(content);
        w->state = WORKER_IDLE;
    } else if (strcmp(type, "jail_failed") == 0) {
        const char *layer = json_string_value(json_object_get(content, "layer"));
        const char *error = json_string_value(json_object_get(content, "error"));
        snprintf(r->start_error, sizeof r->start_error,
                 "the sandbox layer \"%s\" could not be applied (%s)", layer ? layer : "?",
                 error ? error : "no detail");
    } else if (strcmp(type, "reply") == 0 && w->state == WORKER_BUSY) {
        json_decref(r->reply);
        r->reply = json_incref(content);
        w->state = WORKER_IDLE;
    } else if (strcmp(type, "input_request") == 0 && w->state == WORKER_BUSY) {
        json_auto_t *answer = json_pack("{s:s, s:s}", "op", "input_reply", "value", "");
        if (worker_send(w, answer) < 0)
            worker_mark_dying(w, s_now_ms());
    } else if (w->state == WORKER_BUSY && r->outputs) {
        /* the --max-output rule of the conversation: errors always pass */
        size_t cap = (size_t)r->limits.max_output_mib << 20;
        if (strcmp(type, "error") != 0 && cap && (r->output_bytes += len) > cap) {
            s_output_capped(r);
            return;
        }
        json_array_append_new(r->outputs, json_pack("{s:s, s:O}", "msg_type", type, "content",
                                                     content));
    }
}

/* Waits for the channels once (up to |timeout_ms|) and handles what came. */
static void s_poll(replay_t *r, int timeout_ms)
{
    worker_t *w = r->worker;
    /* Requests are queued (worker_send): what the socket did not take goes
     * out as it becomes writable. */
    short want = w && worker_pending(w) ? POLLIN | POLLOUT : POLLIN;
    struct pollfd fds[2] = {{zygote_client_fd(r->zygote), POLLIN, 0},
                            {w && w->chan ? channel_fd(w->chan) : -1, want, 0}};
    if (poll(fds, 2, timeout_ms) < 0)
        return;
    if (fds[0].revents && zygote_client_dispatch(r->zygote) < 0) {
        if (w)
            worker_mark_dying(w, s_now_ms());
        return;
    }
    if ((fds[1].revents & POLLOUT) && w->chan && worker_flush(w) < 0) {
        worker_mark_dying(w, s_now_ms());
        return;
    }
    for (int batch = 0; fds[1].revents && w && w->chan && batch < 64; batch++) {
        char *text;
        size_t len;
        int rc = channel_recv(w->chan, 1, &text, &len);
        if (rc == 0 || rc == -EINTR)
            break;
        if (rc == -EMSGSIZE) {
            s_output_capped(r);
            continue;
        }
        if (rc < 0) {
            worker_mark_dying(w, s_now_ms());
            break;
        }
        s_on_record(r, text, len);
        free(text);
    }
}

/* Waits until the zygote says how a dying worker ended (or a while). */
static void s_await_exit(replay_t *r)
{
    long long until = s_now_ms() + EXIT_REPORT_MS;
    while (r->worker && !r->worker->exited && s_now_ms() < until)
        s_poll(r, 50);
}

static void s_drop_worker(replay_t *r)
{
    worker_destroy(&r->worker);
}

/* Starts a fresh interpreter and waits for it to be ready. Returns 0, or
 * -1 with the reason in r->start_error. */
static int s_start_worker(replay_t *r)
{
    s_drop_worker(r);
    r->start_error[0] = '\0';
    int err = 0;
    r->worker = worker_spawn(r->zygote, r->jail, &err);
    if (!r->worker) {
        snprintf(r->start_error, sizeof r->start_error, "cannot start an interpreter: %s",
                 strerror(-err));
        return -1;
    }
    size_t cap = r->limits.max_output_mib > 0 ? (size_t)r->limits.max_output_mib << 20
                                              : CHANNEL_MAX_RECORD;
    channel_set_max_record(r->worker->chan, cap + ((size_t)1 << 20));
    /* Ready is said on the interpreter's channel, its pid on the zygote's:
     * the two may come in either order, and files are put by pid. */
    long long until = s_now_ms() + START_TIMEOUT_MS;
    while ((r->worker->state == WORKER_STARTING ||
            (r->worker->state == WORKER_IDLE && r->worker->pid <= 0)) &&
           s_now_ms() < until)
        s_poll(r, 100);
    if (r->worker->state == WORKER_IDLE) {
        r->start_failures = 0;
        return 0;
    }
    s_await_exit(r);
    if (!r->start_error[0]) {
        char how[128];
        worker_describe_end(r->worker, how, sizeof how);
        if (r->worker->state == WORKER_STARTING)
            snprintf(r->start_error, sizeof r->start_error,
                     "the interpreter was not ready within %d s", START_TIMEOUT_MS / 1000);
        else
            snprintf(r->start_error, sizeof r->start_error,
                     "the interpreter %s before it was ready", how);
    }
    s_drop_worker(r);
    r->start_failures++;
    return -1;
}

/* The execute op of |rec|: its code, flags and execution count (which
 * names the cell in tracebacks), with no one to answer input(). */
static json_t *s_execute_op(const json_t *rec)
{
    const json_t *count = json_object_get(rec, "execution_count");
    return json_pack(
        "{s:s, s:O, s:b, s:b, s:{}, s:b, s:I}", "op", "execute", "code",
        json_object_get(rec, "code"), "silent", json_is_true(json_object_get(rec, "silent")),
        "store_history", !json_is_false(json_object_get(rec, "store_history")),
        "user_expressions", "allow_stdin", 0, "execution_count",
        json_is_integer(count) ? json_integer_value(count) : (json_int_t)0);
}

/* Runs the execute op |req| (borrowed). Returns 0 with r->outputs and
 * r->reply set, or -1 with |why| when the interpreter died or stopped
 * answering (r->outputs then holds what came before). */
static int s_execute(replay_t *r, const json_t *req, char *why, size_t why_len)
{
    json_decref(r->outputs);
    json_decref(steal_pointer(&r->reply));
    r->outputs = json_array();
    r->output_bytes = 0;
    r->output_capped = false;
    r->timed_out = false;
    worker_t *w = r->worker;
    if (!req || !r->outputs || worker_send(w, (json_t *)req) < 0) {
        snprintf(why, why_len, "the interpreter does not accept requests");
        worker_mark_dying(w, s_now_ms());
        return -1;
    }
    w->state = WORKER_BUSY;
    long long deadline =
        r->limits.timeout_s > 0 ? s_now_ms() + (long long)(r->limits.timeout_s * 1000) : 0;
    long long kill_at = 0;
    while (w->state == WORKER_BUSY) {
        s_poll(r, 100);
        long long now = s_now_ms();
        if (deadline && now >= deadline && !r->timed_out) {
            r->timed_out = true;
            kill_at = now + TIMEOUT_GRACE_MS;
            worker_interrupt(w);
        } else if (kill_at && now >= kill_at && w->state == WORKER_BUSY) {
            worker_mark_dying(w, now);
        }
    }
    if (w->state == WORKER_IDLE && r->reply)
        return 0;
    s_await_exit(r);
    char how[128];
    worker_describe_end(w, how, sizeof how);
    if (w->oom_killed)
        snprintf(how, sizeof how, "exceeded the %ld MiB memory limit and was killed",
                 r->limits.memory_mib);
    if (r->timed_out)
        snprintf(why, why_len, "the cell exceeded the %g s time limit and the interpreter was "
                 "killed", r->limits.timeout_s);
    else
        snprintf(why, why_len, "the interpreter %s", how);
    return -1;
}

/* The cell's error as the conversation would have told it: a cell
 * interrupted at the time limit fails with TimeoutError, one whose
 * interpreter died with InterpreterDied (or TimeoutError, if killed at the
 * limit). Edits r->outputs and r->reply. */
static void s_explain(replay_t *r, bool died)
{
    const char *ename = r->timed_out ? "TimeoutError" : "InterpreterDied";
    if (died) {
        json_array_append_new(r->outputs,
                              json_pack("{s:s, s:{s:s, s:s, s:[]}}", "msg_type", "error",
                                        "content", "ename", ename, "evalue", "", "traceback"));
        json_decref(r->reply);
        r->reply = json_pack("{s:s, s:s}", "status", "error", "ename", ename);
        return;
    }
    if (!r->timed_out)
        return;
    size_t i;
    json_t *out;
    json_array_foreach(r->outputs, i, out) {
        json_t *content = json_object_get(out, "content");
        const char *e = json_string_value(json_object_get(content, "ename"));
        if (e && strcmp(e, "KeyboardInterrupt") == 0)
            json_object_set_new(content, "ename", json_string("TimeoutError"));
    }
    const char *e = json_string_value(json_object_get(r->reply, "ename"));
    if (e && strcmp(e, "KeyboardInterrupt") == 0)
        json_object_set_new(r->reply, "ename", json_string("TimeoutError"));
}

static const char *s_reply_field(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(json_object_get(rec, "reply"), key));
}

/* Whether the original never ran the cell: aborted after an error, refused
 * at the cap or for want of an interpreter, refused as a bad request. The
 * writer records all of these with a null execution count (docs/journal.md);
 * the status and the error name are checked too, for older or hand-made
 * journals. */
static bool s_not_run(const json_t *rec)
{
    const char *status = json_string_value(json_object_get(rec, "status"));
    const char *ename = s_reply_field(rec, "ename");
    return json_is_null(json_object_get(rec, "execution_count")) ||
           (status && strcmp(status, "aborted") == 0) ||
           (ename && (strcmp(ename, "ExecutionLimitReached") == 0 ||
                      strcmp(ename, "InterpreterUnavailable") == 0));
}

/* Whether the original's interpreter died (or was killed) in this cell. */
static bool s_died_in_original(const json_t *rec)
{
    const char *ename = s_reply_field(rec, "ename");
    return ename && (strcmp(ename, "InterpreterDied") == 0 || strcmp(ename, "TimeoutError") == 0);
}

/* Puts file record |file| into the replay's workspace, as the original
 * conversation got it; a failure is logged (and named in |restore|'s note
 * when it comes from there): the cells that read it will differ. */
static void s_put_file(replay_t *r, const json_t *file, restore_t *restore)
{
    const char *path = json_string_value(json_object_get(file, "path"));
    char why[512];
    int rc = r->worker && r->worker->pid > 0
                 ? restore_put_file(file, r->worker->pid, !r->limits.no_jail, why, sizeof why)
                 : (snprintf(why, sizeof why, "no interpreter"), -1);
    if (rc == 0)
        return;
    log_warn("file %s could not be put into the workspace: %s", path, why);
    if (restore)
        restore_file_failed(restore, path, why);
}

/* Puts the files the original got before execution record |index|. */
static void s_put_files_before(replay_t *r, size_t index)
{
    const json_t *file;
    while ((file = json_array_get(r->files, r->next_file)) &&
           (size_t)json_integer_value(json_object_get(file, "after")) <= index) {
        s_put_file(r, file, NULL);
        r->next_file++;
    }
}

/* A journal of a restored conversation starts from the state of the
 * journal it was restored from: its first interpreter runs the same
 * cells again first (restore_t chooses them, as for the original), and
 * later ones, after a loss of state, start empty as the original's did. */
static void s_rebuild_state(replay_t *r)
{
    if (!r->restore)
        return;
    char why[300];
    json_t *op;
    while (r->worker) {
        const json_t *file;
        while ((file = restore_next_file(r->restore)))
            s_put_file(r, file, r->restore);
        if (!(op = restore_next_op(r->restore)))
            break;
        bool died = s_execute(r, op, why, sizeof why) < 0;
        json_decref(op);
        restore_done_cell(r->restore, died ? NULL : r->reply);
        if (died) {
            s_drop_worker(r);
            log_warn("a restored cell killed the interpreter: %s", why);
        }
    }
    _cleanup_free_ char *note = restore_note(r->restore);
    log_info("rebuilt the state from %s: %zu cells ran again%s%s",
             restore_journal(r->restore), restore_cells(r->restore), note ? "; " : "",
             note ? note : "");
    restore_destroy(&r->restore);
}

typedef struct {
    int same, different, errors, skipped;
} tally_t;

static void s_label(const json_t *rec, char *out, size_t out_len)
{
    const json_t *count = json_object_get(rec, "execution_count");
    if (json_is_integer(count))
        snprintf(out, out_len, "[%lld]", (long long)json_integer_value(count));
    else
        snprintf(out, out_len, "[-]");
}

/* Replays execution record |index|, |rec|, and prints its line. */
static void s_replay_one(replay_t *r, size_t index, const json_t *rec, tally_t *t)
{
    char label[32], why[300];
    s_label(rec, label, sizeof label);
    bool silent = json_is_true(json_object_get(rec, "silent"));
    if (s_not_run(rec)) {
        char what[64];
        snprintf(what, sizeof what, "%s",
                 s_reply_field(rec, "ename") ? s_reply_field(rec, "ename") : "aborted");
        if (!silent)
            printf("%s skipped: not run in the original (%s)\n", label,
                   output_compare_printable(what));
        t->skipped += !silent;
        return;
    }
    json_int_t gen = json_integer_value(json_object_get(rec, "interpreter"));
    if (!json_object_get(rec, "interpreter"))
        gen = r->generation ? r->generation : 1;
    if (gen != r->generation || !r->worker || r->worker->state != WORKER_IDLE) {
        r->generation = gen;
        if (r->start_failures >= MAX_START_FAILURES) {
            printf("%s error: not run: %s\n", label, r->start_error);
            t->errors++;
            return;
        }
        if (s_start_worker(r) < 0) {
            printf("%s error: %s\n", label, r->start_error);
            t->errors++;
            return;
        }
        s_rebuild_state(r);
    }
    s_put_files_before(r, index);
    json_auto_t *op = s_execute_op(rec);
    bool died = s_execute(r, op, why, sizeof why) < 0;
    s_explain(r, died);
    if (died)
        s_drop_worker(r);
    if (silent)
        return;
    if (died && !s_died_in_original(rec)) {
        printf("%s error: %s\n", label, why);
        t->errors++;
        return;
    }
    const json_t *count = json_object_get(rec, "execution_count");
    json_auto_t *before = cell_outputs_to_notebook(json_object_get(rec, "outputs"), count);
    json_auto_t *now = cell_outputs_to_notebook(r->outputs, count);
    _cleanup_free_ char *diff = NULL;
    int rc = before && now ? output_compare(before, now, DIFF_LINES, &diff) : -1;
    const char *was = s_reply_field(rec, "status");
    const char *is = json_string_value(json_object_get(r->reply, "status"));
    bool status_differs = was && is && strcmp(was, is) != 0;
    if (rc < 0) {
        printf("%s error: out of memory while comparing\n", label);
        t->errors++;
    } else if (rc == 0 && !status_differs) {
        printf("%s same\n", label);
        t->same++;
    } else {
        printf("%s different\n", label);
        if (status_differs) {
            char a[32], b[32];
            snprintf(a, sizeof a, "%s", was);
            snprintf(b, sizeof b, "%s", is);
            printf("  @@ status @@\n  -%s\n  +%s\n", output_compare_printable(a),
                   output_compare_printable(b));
        }
        if (diff)
            fputs(diff, stdout);
        t->different++;
    }
    fflush(stdout);
}

void replay_limits_from_header(const json_t *header, sandbox_limits_t *out, bool *jail,
                               bool *cgroups)
{
    sandbox_limits_default(out);
    const json_t *l = json_object_get(header, "limits");
    const json_t *v;
#define POSITIVE(key) ((v = json_object_get(l, key)) && json_number_value(v) > 0)
    if ((v = json_object_get(l, "timeout_s")) && json_is_number(v))
        out->timeout_s = json_number_value(v) > 0 ? json_number_value(v) : 0;
    else if (json_is_null(v))
        out->timeout_s = 0;
    if (POSITIVE("memory_mib"))
        out->memory_mib = (long)json_number_value(v);
    if (POSITIVE("pids"))
        out->pids = (long)json_number_value(v);
    if (POSITIVE("cpus"))
        out->cpus = json_number_value(v);
    if (POSITIVE("disk_mib"))
        out->disk_mib = (long)json_number_value(v);
    if (POSITIVE("open_files"))
        out->open_files = (long)json_number_value(v);
    if ((v = json_object_get(l, "max_output_bytes")))
        out->max_output_mib = json_number_value(v) > 0
                                  ? (long)((json_number_value(v) + (1 << 20) - 1) / (1 << 20))
                                  : 0;
#undef POSITIVE
    out->data_dir = json_string_value(json_object_get(l, "data_dir"));
    *jail = !json_is_false(json_object_get(l, "jail"));
    *cgroups = !json_is_false(json_object_get(l, "cgroups"));
}

/* The recorded preload modules, comma-separated (caller frees). */
static char *s_preload(const json_t *header)
{
    const json_t *preload = json_object_get(header, "preload");
    if (!json_is_object(preload))
        return strdup(CLI_DEFAULT_PRELOAD);
    char *list = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&list, &len);
    if (!f)
        return NULL;
    const char *module;
    const json_t *v;
    json_object_foreach((json_t *)preload, module, v) {
        if (strspn(module, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") ==
            strlen(module)) /* a module name; anything else is not passed on */
            fprintf(f, "%s%s", ftell(f) > 0 ? "," : "", module);
    }
    fclose(f);
    return list;
}

/* The records to replay: all, or up to the first with count |until|.
 * Returns the number, or -1 if no record has that count. */
static long s_cut(const json_t *executions, long until)
{
    if (until < 0)
        return (long)json_array_size(executions);
    size_t i;
    const json_t *rec;
    json_array_foreach(executions, i, rec) {
        const json_t *count = json_object_get(rec, "execution_count");
        if (json_is_integer(count) && json_integer_value(count) == until)
            return (long)i + 1;
    }
    return -1;
}

int replay_cmd_run(const cli_options_t *opts)
{
    if (opts->verbose)
        log_set_level(LEVEL_DEBUG);
    char why[1600], warning[1024];
    json_auto_t *journal = journal_read(opts->journal, why, sizeof why, warning, sizeof warning);
    if (!journal) {
        fprintf(stderr, "sandcell replay: %s\n", why);
        return REPLAY_BAD_INPUT;
    }
    if (warning[0])
        fprintf(stderr, "sandcell replay: warning: %s\n", warning);
    const json_t *header = json_object_get(journal, "header");
    const json_t *executions = json_object_get(journal, "executions");
    long n = s_cut(executions, opts->until);
    if (n < 0) {
        fprintf(stderr, "sandcell replay: %s: no execution %ld in the journal\n", opts->journal,
                opts->until);
        return REPLAY_BAD_INPUT;
    }
    replay_t r = {.files = json_object_get(journal, "files")};
    bool jail, cgroups;
    replay_limits_from_header(header, &r.limits, &jail, &cgroups);
    if (opts->limits.data_dir)
        r.limits.data_dir = opts->limits.data_dir;
    r.limits.no_cgroups = opts->limits.no_cgroups;
    r.limits.no_jail = opts->limits.no_jail;
    if (!jail && !r.limits.no_jail) {
        fprintf(stderr, "sandcell replay: %s:1: the journal was recorded with \"jail\": false; "
                "replaying it without a sandbox needs --no-jail\n", opts->journal);
        return REPLAY_BAD_INPUT;
    }
    (void)cgroups; /* a replay keeps cgroups unless told --no-cgroups: stricter is safe */
    char data_dir[PATH_MAX];
    if (sandbox_limits_resolve(&r.limits, data_dir, sizeof data_dir, why, sizeof why) < 0) {
        fprintf(stderr, "sandcell replay: %s (the journal's data folder; --data DIR gives "
                "another)\n", why);
        return REPLAY_BAD_INPUT;
    }
    if (sandbox_limits_check_start(&r.limits,
                                   "the journal's code runs with your own user, files and network",
                                   why, sizeof why) < 0) {
        fprintf(stderr, "sandcell replay: %s\n", why);
        return REPLAY_BAD_INPUT;
    }
    const char *from = json_string_value(
        json_object_get(json_object_get(header, "restored_from"), "journal"));
    if (from && !(r.restore = restore_new(NULL, from, why, sizeof why))) {
        fprintf(stderr, "sandcell replay: %s:1: the conversation was restored from a journal "
                "that cannot be used: %s\n", opts->journal, why);
        return REPLAY_BAD_INPUT;
    }
    char worker[PATH_MAX];
    _cleanup_free_ char *preload = s_preload(header);
    if (paths_worker(worker, sizeof worker) < 0 || !preload) {
        fprintf(stderr, "sandcell replay: cannot find sandcell-worker\n");
        restore_destroy(&r.restore);
        return REPLAY_NO_SANDBOX;
    }
    signal(SIGPIPE, SIG_IGN);
    zygote_config_t zc = {worker, preload, false};
    r.zygote = zygote_client_start(&zc);
    r.jail = sandbox_limits_to_jail_json(&r.limits);
    if (!r.zygote || !r.jail) {
        fprintf(stderr, "sandcell replay: cannot start the zygote\n");
        zygote_client_stop(&r.zygote);
        json_decref(r.jail);
        restore_destroy(&r.restore);
        return REPLAY_NO_SANDBOX;
    }
    zygote_client_set_listener(r.zygote, s_on_zygote_event, &r);
    tally_t t = {0};
    for (long i = 0; i < n; i++)
        s_replay_one(&r, (size_t)i, json_array_get(executions, (size_t)i), &t);
    printf("replayed %d cells: %d same, %d different, %d errors; %d skipped\n",
           t.same + t.different + t.errors, t.same, t.different, t.errors, t.skipped);
    bool no_sandbox = t.same + t.different == 0 && t.errors > 0 && r.start_failures > 0;
    s_drop_worker(&r);
    zygote_client_stop(&r.zygote);
    json_decref(r.jail);
    json_decref(r.outputs);
    json_decref(r.reply);
    restore_destroy(&r.restore);
    if (no_sandbox)
        return REPLAY_NO_SANDBOX;
    return t.different + t.errors ? REPLAY_DIFFERENT : REPLAY_SAME;
}
