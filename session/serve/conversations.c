/* conversations — what the control endpoint and the HTTP front door
 * both do to the daemon's conversations: start one (limits, capacity,
 * journal, restore), find one, stop one. One list, one set of rules,
 * whichever door a request came through.
 *
 * Conversation ids are UUIDs (version 4, random): jupyter_server's
 * routes take nothing else, and one list means one kind of id, so a
 * conversation started over ZeroMQ is reachable over HTTP and the
 * reverse (docs/design-decisions.md). */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "serve_internal.h"
#include "workspace.h"

size_t serve_active(const server_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += !s->entries[i].ending;
    return n;
}

/* A random (version 4) UUID, 36 characters and a NUL. */
static void s_new_uuid(char out[HTTP_ID_LEN + 1])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, HTTP_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

static entry_t *s_fail(char *ename, size_t ename_len, char *why, size_t why_len, const char *name,
                       const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static entry_t *s_fail(char *ename, size_t ename_len, char *why, size_t why_len, const char *name,
                       const char *fmt, ...)
{
    snprintf(ename, ename_len, "%s", name);
    metrics_start_refused();
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return NULL;
}

entry_t *serve_find(server_t *s, const char *id, const char *tenant, char *why, size_t why_len)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->entries[i].id, id) == 0 && !s->entries[i].ending &&
            (!tenant || strcmp(s->entries[i].tenant, tenant) == 0))
            return &s->entries[i];
    snprintf(why, why_len, "no conversation with id %.40s", id);
    for (size_t i = 0; i < ENDED_MAX && !tenant; i++)
        if (s->ended[i].id[0] && strcmp(s->ended[i].id, id) == 0)
            snprintf(why, why_len, "conversation %s %s", s->ended[i].id, s->ended[i].why);
    return NULL;
}

void serve_stop(entry_t *e, const char *why)
{
    e->ending = why;
    e->end_reason = "stop";
}

/* |*out| = the request's value of number |n|, if it gives one. */
static void s_number(const control_request_t *req, control_number_t n, double *out)
{
    if (req->given[n])
        *out = req->number[n];
}

/* |recorded|'s number (or integer) |key| into *out, if it has one. */
static void s_recorded_number(const json_t *recorded, const char *key, double *out)
{
    const json_t *v = json_object_get(recorded, key);
    if (json_is_number(v))
        *out = json_number_value(v);
}

static void s_recorded_integer(const json_t *recorded, const char *key, long *out)
{
    const json_t *v = json_object_get(recorded, key);
    if (json_is_integer(v))
        *out = (long)json_integer_value(v);
}

/* The limits recorded in a restored journal's header, over the daemon's
 * defaults: a restored conversation keeps its own unless the request
 * overrides them. */
static void s_restored_limits(const json_t *recorded, sandbox_limits_t *limits, double *max_exec)
{
    s_recorded_number(recorded, "timeout_s", &limits->timeout_s);
    s_recorded_number(recorded, "input_timeout_s", &limits->input_timeout_s);
    s_recorded_integer(recorded, "memory_mib", &limits->memory_mib);
    s_recorded_integer(recorded, "pids", &limits->pids);
    s_recorded_number(recorded, "cpus", &limits->cpus);
    s_recorded_integer(recorded, "disk_mib", &limits->disk_mib);
    s_recorded_integer(recorded, "open_files", &limits->open_files);
    const json_t *v;
    if (json_is_integer(v = json_object_get(recorded, "max_output_bytes")))
        limits->max_output_mib = (long)(json_integer_value(v) >> 20);
    if (json_is_integer(v = json_object_get(recorded, "max_executions")))
        *max_exec = (double)json_integer_value(v);
}

/* The interpreter whose workspace |e|'s file requests reach. */
static int s_file_target(entry_t *e, pid_t *pid, bool *jailed, char *why, size_t why_len)
{
    *pid = conversation_interpreter_pid(e->conv, jailed);
    if (*pid > 0)
        return 0;
    if (conversation_capped(e->conv)) {
        snprintf(why, why_len, "the conversation reached its cap; its workspace is gone");
        return -1;
    }
    return SERVE_FILE_WAIT;
}

int serve_put_file(entry_t *e, const char *path, const void *data, size_t len, char *why,
                   size_t why_len)
{
    pid_t pid;
    bool jailed;
    int rc = s_file_target(e, &pid, &jailed, why, why_len);
    if (rc != 0)
        return rc;
    if (workspace_put(pid, jailed, path, data, len, why, why_len) < 0)
        return -1;
    conversation_journal_file(e->conv, path, data, len);
    return 0;
}

int serve_get_file(entry_t *e, const char *path, void **data, size_t *len, char *why,
                   size_t why_len)
{
    pid_t pid;
    bool jailed;
    int rc = s_file_target(e, &pid, &jailed, why, why_len);
    if (rc != 0)
        return rc;
    return workspace_get(pid, jailed, path, data, len, why, why_len) < 0 ? -1 : 0;
}

entry_t *serve_start(server_t *s, const control_request_t *req, restore_t *restore,
                     const char *tenant, const char *kernel_name, json_t **restored_p,
                     char *ename, size_t ename_len, char *why_out, size_t why_len)
{
    const serve_options_t *o = s->opts;
    sandbox_limits_t limits = s->limits;
    char why[1600];
    double t0 = metrics_clock();
    *restored_p = NULL;
    double max_exec = (double)o->max_executions;
    if (restore)
        s_restored_limits(restore_limits(restore), &limits, &max_exec);
    double idle = o->idle_timeout_s,
           life = o->lifetime_s, memory = (double)limits.memory_mib, pids = (double)limits.pids,
           disk = (double)limits.disk_mib, files = (double)limits.open_files,
           output = (double)limits.max_output_mib;
    s_number(req, CONTROL_MAX_EXECUTIONS, &max_exec);
    s_number(req, CONTROL_IDLE_TIMEOUT, &idle);
    s_number(req, CONTROL_LIFETIME, &life);
    s_number(req, CONTROL_TIMEOUT, &limits.timeout_s);
    s_number(req, CONTROL_MEMORY, &memory);
    s_number(req, CONTROL_PIDS, &pids);
    s_number(req, CONTROL_CPUS, &limits.cpus);
    s_number(req, CONTROL_DISK, &disk);
    s_number(req, CONTROL_OPEN_FILES, &files);
    s_number(req, CONTROL_MAX_OUTPUT, &output);
    s_number(req, CONTROL_INPUT_TIMEOUT, &limits.input_timeout_s);
    limits.memory_mib = (long)memory;
    limits.pids = (long)pids;
    limits.disk_mib = (long)disk;
    limits.open_files = (long)files;
    limits.max_output_mib = (long)output;

    /* Before anything is taken or created; capacity_end() follows. */
    if (capacity_begin(s->capacity, serve_active(s), why, sizeof why) < 0) {
        restore_destroy(&restore);
        log_warn("refused a start: %s", why);
        return s_fail(ename, ename_len, why_out, why_len, "TooManyConversations", "%s", why);
    }
    /* A conversation whose jail cannot have its cgroups could never run
     * a cell: refuse it now rather than at its first cell. After the
     * capacity check, which is the one that explains a daemon short of
     * descriptors (the cgroup check itself needs a few). */
    if (sandbox_limits_check_cgroups(&limits, false, why, sizeof why) < 0) {
        char ignored[512];
        capacity_end(s->capacity, ignored, sizeof ignored);
        restore_destroy(&restore);
        log_error("refused a start: %s", why);
        return s_fail(ename, ename_len, why_out, why_len, "SandboxUnavailable", "%s", why);
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        entry_t *e = realloc(s->entries, cap * sizeof *e);
        if (!e) {
            restore_destroy(&restore);
            capacity_end(s->capacity, why, sizeof why);
            return s_fail(ename, ename_len, why_out, why_len, "MemoryError", "out of memory in the daemon");
        }
        s->entries = e;
        s->cap = cap;
    }
    unsigned char key_bytes[32];
    char key[65];
    randombytes_buf(key_bytes, sizeof key_bytes);
    sodium_bin2hex(key, sizeof key, key_bytes, sizeof key_bytes);
    connfile_t conn = {.transport = "tcp", .key = key, .signature_scheme = "hmac-sha256"};
    snprintf(conn.ip, sizeof conn.ip, "%s", s->ip);

    json_t *restored = restore ? restore_describe(restore) : NULL; /* conversation_new owns it */
    char id[sizeof s->entries[0].id];
    s_new_uuid(id);
    json_auto_t *jail = sandbox_limits_to_jail_json(&limits);
    conversation_options_t copts = {
        .max_executions = (long)max_exec,
        .restart_in_place = true,
        .worker = jail && json_equal(jail, s->default_jail) && s->pool ? pool_take(s->pool)
                                                                       : NULL,
        .journal_dir = s->journal_dir,
        .journal_name = id,
        .journal_sync = s->journal_sync,
        .restore = restore,
    };
    conversation_t *conv =
        conversation_new(s->reactor, s->zygote, &conn, &limits, &copts, why, sizeof why);
    char full[512];
    if (capacity_end(s->capacity, full, sizeof full) < 0 && conv) {
        json_decref(restored);
        conversation_discard(&conv); /* nobody was told of it: no journal stays */
        log_warn("refused a start: %s", full);
        return s_fail(ename, ename_len, why_out, why_len, "TooManyConversations", "%s", full);
    }
    if (!conv) {
        json_decref(restored);
        log_error("cannot start a conversation: %s", why);
        return s_fail(ename, ename_len, why_out, why_len, "StartFailed", "%s", why);
    }
    entry_t *e = &s->entries[s->n++];
    memset(e, 0, sizeof *e);
    memcpy(e->id, id, sizeof e->id);
    snprintf(e->tenant, sizeof e->tenant, "%s", tenant ? tenant : "");
    snprintf(e->kernel_name, sizeof e->kernel_name, "%s", kernel_name ? kernel_name : "sandcell-python");
    e->conv = conv;
    e->started_ms = reactor_now_ms();
    header_now(e->started);
    e->idle_timeout_s = idle;
    e->lifetime_s = life;
    *restored_p = restored;
    log_info("started conversation %s (%zu running)", e->id, serve_active(s));
    metrics_started();
    metrics_observe(METRICS_START_SECONDS, metrics_clock() - t0);
    sodium_memzero(key, sizeof key);
    return e;
}
