/* http_front — the daemon's side of the HTTP front door: --http and its
 * tokens, and the backend (http_server.h) that answers the server from
 * the daemon's one list of conversations, through the same functions as
 * the control endpoint (conversations.c).
 *
 * Tokens: --http-token-file FILE, else --http-token TOKEN, else
 * $SANDCELL_HTTP_TOKEN, else a random one (logged in the URL, as
 * jupyter_server does, and written to the runtime file). A non-loopback
 * address needs one of the first three; --no-http-auth is refused off
 * loopback. With two or more tokens in the file each is a tenant: it
 * lists, reaches and stops only the kernels it started, and another's id
 * is answered 404. With one token every kernel is its own, those started
 * over ZeroMQ included: today's single-user daemon. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal_read.h"
#include "log.h"
#include "notebook.h"
#include "serve_internal.h"
#include "ws_upgrade.h"

/* ---------------------------------------------------------- the backend */

static void s_describe(const entry_t *e, http_kernel_t *out)
{
    memcpy(out->id, e->id, sizeof out->id);
    snprintf(out->name, sizeof out->name, "%s", e->kernel_name);
    out->idle_ms = reactor_now_ms() - conversation_last_activity_ms(e->conv);
    if (out->idle_ms < 0)
        out->idle_ms = 0;
    out->execution_state = conversation_execution_state(e->conv);
}

static entry_t *s_entry(server_t *s, const char *tenant, const char *id)
{
    char why[300];
    return serve_find(s, id, tenant, why, sizeof why);
}

static void s_list(void *arg, const char *tenant, http_each_fn each, void *ctx)
{
    server_t *s = arg;
    for (size_t i = 0; i < s->n; i++) {
        const entry_t *e = &s->entries[i];
        if (e->ending || strcmp(e->tenant, tenant) != 0)
            continue;
        http_kernel_t k;
        s_describe(e, &k);
        each(ctx, &k);
    }
}

static int s_get(void *arg, const char *tenant, const char *id, http_kernel_t *out)
{
    entry_t *e = s_entry(arg, tenant, id);
    if (!e)
        return -1;
    s_describe(e, out);
    return 0;
}

/* The HTTP status of a start's failure named |ename|. */
static int s_status(const char *ename)
{
    if (strcmp(ename, "BadRequest") == 0 || strcmp(ename, "UnknownMessageType") == 0 ||
        strcmp(ename, "RestoreFailed") == 0)
        return 400;
    if (strcmp(ename, "TooManyConversations") == 0 || strcmp(ename, "SandboxUnavailable") == 0)
        return 503;
    return 500;
}

/* Starts |req| for |tenant| as |name| (restore: owned, or NULL). */
static int s_start_now(server_t *s, const control_request_t *req, restore_t *restore,
                       const char *tenant, const char *name, http_kernel_t *out, char *why,
                       size_t why_len)
{
    char ename[40];
    json_t *restored = NULL;
    entry_t *e = serve_start(s, req, restore, tenant, strcmp(name, "python3") == 0 ? name : NULL,
                             &restored, ename, sizeof ename, why, why_len);
    json_decref(restored);
    if (!e)
        return s_status(ename);
    s_describe(e, out);
    return 0;
}

void serve_http_restored(server_t *s, held_start_t *held, restore_t *restore, const char *why)
{
    http_kernel_t k;
    char reason[1600];
    control_request_t req;
    char ename[40];
    int status;
    if (!restore) {
        snprintf(reason, sizeof reason, "%s", why);
        status = 400;
    } else if (control_request_parse("start_request", held->options, 0, &req, ename,
                                     sizeof ename, reason, sizeof reason) < 0) {
        restore_destroy(&restore); /* it parsed once; it cannot fail now */
        status = 500;
    } else {
        status = s_start_now(s, &req, restore, held->tenant, held->kernel_name, &k, reason,
                             sizeof reason);
    }
    http_start_done(held->pending, status, status == 0 ? &k : NULL, reason);
}

static int s_start(void *arg, const char *tenant, const char *name, const json_t *options,
                   http_pending_t *pending, http_kernel_t *out, char *why, size_t why_len)
{
    server_t *s = arg;
    json_auto_t *empty = json_object();
    control_request_t req;
    char ename[40];
    if (control_request_parse("start_request", options ? options : empty, 0, &req, ename,
                              sizeof ename, why, why_len) < 0)
        return s_status(ename);
    if (req.restore) {
        /* The journals are read off the loop (restore_loader); the request
         * waits, suspended, and is answered by serve_http_restored. */
        if (!s->journal_dir) {
            snprintf(why, why_len,
                     "this daemon keeps no journals (--no-journal), so it restores none");
            return 400;
        }
        held_start_t *held = calloc(1, sizeof *held);
        if (!held) {
            snprintf(why, why_len, "out of memory in the daemon");
            return 500;
        }
        held->http = true;
        held->pending = pending;
        held->options = json_deep_copy(options);
        snprintf(held->tenant, sizeof held->tenant, "%s", tenant);
        snprintf(held->kernel_name, sizeof held->kernel_name, "%s", name);
        if (!held->options ||
            restore_loader_start(s->restore_loader, req.restore, held, why, why_len) < 0) {
            if (!held->options)
                snprintf(why, why_len, "out of memory in the daemon");
            serve_drop_held(held);
            return 400;
        }
        return HTTP_START_PENDING;
    }
    return s_start_now(s, &req, NULL, tenant, name, out, why, why_len);
}

static int s_stop(void *arg, const char *tenant, const char *id)
{
    entry_t *e = s_entry(arg, tenant, id);
    if (!e)
        return -1;
    serve_stop(e, "stopped over HTTP (DELETE /api/kernels)");
    return 0;
}

static int s_interrupt(void *arg, const char *tenant, const char *id)
{
    entry_t *e = s_entry(arg, tenant, id);
    if (!e)
        return -1;
    conversation_interrupt(e->conv);
    return 0;
}

static int s_restart(void *arg, const char *tenant, const char *id)
{
    entry_t *e = s_entry(arg, tenant, id);
    if (!e)
        return -1;
    log_info("conversation %s: restarted over HTTP", e->id);
    conversation_restart_interpreter(e->conv);
    return 0;
}

static json_t *s_connection(void *arg, const char *tenant, const char *id)
{
    entry_t *e = s_entry(arg, tenant, id);
    if (!e)
        return NULL;
    json_t *c = conversation_connection(e->conv);
    if (c)
        json_object_set_new(c, "kernel_name", json_string(e->kernel_name));
    return c;
}

static void s_gauges(void *arg, metrics_gauges_t *out)
{
    server_t *s = arg;
    for (size_t i = 0; i < s->n; i++) {
        const entry_t *e = &s->entries[i];
        int st = e->ending ? -1 : metrics_state_index(conversation_execution_state(e->conv));
        if (st >= 0)
            out->conversations[st]++;
    }
    int ready = 0;
    out->pool_size = s->pool ? pool_size(s->pool, &ready) : 0;
    out->pool_ready = ready;
    out->capacity = capacity_max(s->capacity);
}

/* Ready when one more conversation fits and, with a pool, an interpreter
 * of it is warm: what a load balancer's readiness probe wants to know. */
static int s_ready(void *arg, char *why, size_t why_len)
{
    server_t *s = arg;
    size_t active = serve_active(s);
    long max = capacity_max(s->capacity);
    if ((long)active >= max) {
        snprintf(why, why_len, "at capacity: %zu of %ld conversations are running", active,
                 max);
        return -1;
    }
    int ready = 0;
    int size = s->pool ? pool_size(s->pool, &ready) : 0;
    if (size > 0 && ready == 0) {
        snprintf(why, why_len, "no interpreter of the pool is ready yet (%d warming up)", size);
        return -1;
    }
    return 0;
}

/* The HTTP status of serve_put_file's or serve_get_file's |rc| for |e|. */
static int s_file_status(const entry_t *e, int rc, bool get)
{
    if (rc == 0)
        return 0;
    if (rc == SERVE_FILE_WAIT)
        return 503;
    if (conversation_capped(e->conv))
        return 409;
    return get ? 404 : 400;
}

static int s_put_file(void *arg, const char *tenant, const char *id, const char *path,
                      const void *data, size_t len, char *why, size_t why_len)
{
    entry_t *e = s_entry(arg, tenant, id);
    if (!e) {
        snprintf(why, why_len, "Kernel does not exist: %s", id);
        return 404;
    }
    int rc = serve_put_file(e, path, data, len, why, why_len);
    if (rc == SERVE_FILE_WAIT)
        snprintf(why, why_len, "the kernel's interpreter is starting; try again");
    return s_file_status(e, rc, false);
}

static int s_get_file(void *arg, const char *tenant, const char *id, const char *path,
                      void **data, size_t *len, char *why, size_t why_len)
{
    entry_t *e = s_entry(arg, tenant, id);
    if (!e) {
        snprintf(why, why_len, "Kernel does not exist: %s", id);
        return 404;
    }
    int rc = serve_get_file(e, path, data, len, why, why_len);
    if (rc == SERVE_FILE_WAIT)
        snprintf(why, why_len, "the kernel's interpreter is starting; try again");
    return s_file_status(e, rc, true);
}

/* How big a journal GET .../journal reads into memory. */
#define JOURNAL_GET_MAX ((size_t)64 << 20)

/* Reads |path| whole (at most JOURNAL_GET_MAX) into *text. */
static int s_read_journal(const char *path, char **text, size_t *len, char *why, size_t why_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(why, why_len, "cannot read the journal: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return 500;
    }
    if ((size_t)st.st_size > JOURNAL_GET_MAX) {
        close(fd);
        snprintf(why, why_len, "the journal is over %zu MiB; read it from %.400s",
                 JOURNAL_GET_MAX >> 20, path);
        return 413;
    }
    size_t cap = (size_t)st.st_size, n = 0;
    char *buf = malloc(cap + 1);
    ssize_t got = 1;
    while (buf && n < cap && (got = read(fd, buf + n, cap - n)) > 0)
        n += (size_t)got;
    close(fd);
    if (!buf || got < 0) {
        snprintf(why, why_len, "cannot read the journal: %s",
                 buf ? strerror(errno) : "out of memory");
        free(buf);
        return 500;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

static int s_journal(void *arg, const char *tenant, const char *id, char **text, size_t *len,
                     json_t **nb, char *why, size_t why_len)
{
    entry_t *e = s_entry(arg, tenant, id);
    if (!e) {
        snprintf(why, why_len, "Kernel does not exist: %s", id);
        return 404;
    }
    const char *path = conversation_journal_path(e->conv);
    if (!path) {
        snprintf(why, why_len, "this daemon keeps no journals (--no-journal)");
        return 404;
    }
    if (text)
        return s_read_journal(path, text, len, why, why_len);
    /* As `sandcell export` does: with the cells of the journals it was
     * restored from, else the journal alone. */
    char warning[512];
    json_auto_t *journal = journal_read_chain(path, why, why_len, warning, sizeof warning);
    if (!journal)
        journal = journal_read(path, why, why_len, warning, sizeof warning);
    if (!journal)
        return 500;
    *nb = notebook_from_journal(journal);
    if (!*nb) {
        snprintf(why, why_len, "out of memory in the daemon");
        return 500;
    }
    return 0;
}

static const http_backend_t s_backend = {
    .list = s_list,
    .get = s_get,
    .start = s_start,
    .stop = s_stop,
    .interrupt = s_interrupt,
    .restart = s_restart,
    .connection = s_connection,
    .gauges = s_gauges,
    .ready = s_ready,
    .put_file = s_put_file,
    .get_file = s_get_file,
    .journal = s_journal,
};

/* ------------------------------------------------------------- options */

/* Splits "[ADDR:]PORT" ("[V6]:PORT" for IPv6) into |addr| and *port. */
static int s_parse_listen(const char *given, char *addr, size_t addr_len, int *port, char *why,
                          size_t why_len)
{
    const char *colon = strrchr(given, ':');
    const char *digits = colon ? colon + 1 : given;
    size_t n = colon ? (size_t)(colon - given) : 0;
    const char *a = given;
    if (colon && given[0] == '[') {
        if (n < 2 || given[n - 1] != ']') {
            snprintf(why, why_len, "--http %s: expected [ADDR]:PORT for IPv6", given);
            return -1;
        }
        a = given + 1;
        n -= 2;
    } else if (colon && memchr(given, ':', n)) {
        snprintf(why, why_len, "--http %s: write an IPv6 address in brackets, [ADDR]:PORT",
                 given);
        return -1;
    }
    char *end;
    errno = 0;
    long p = strtol(digits, &end, 10);
    if (!*digits || *end || errno || p < 0 || p > 65535) {
        snprintf(why, why_len, "--http %s: the port must be a number from 0 to 65535", given);
        return -1;
    }
    if (colon && n == 0) {
        snprintf(why, why_len, "--http %s: an empty address", given);
        return -1;
    }
    if (n >= addr_len) {
        snprintf(why, why_len, "--http %s: the address is too long", given);
        return -1;
    }
    if (colon) {
        memcpy(addr, a, n);
        addr[n] = '\0';
    } else {
        snprintf(addr, addr_len, "127.0.0.1");
    }
    struct in6_addr probe;
    if (strcmp(addr, "localhost") != 0 && inet_pton(AF_INET, addr, &probe) != 1 &&
        inet_pton(AF_INET6, addr, &probe) != 1) {
        snprintf(why, why_len, "--http %s: %s is not a numeric IPv4 or IPv6 address", given,
                 addr);
        return -1;
    }
    *port = (int)p;
    return 0;
}

static bool s_loopback(const char *addr)
{
    struct in_addr in4;
    struct in6_addr in6;
    if (strcmp(addr, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, addr, &in4) == 1)
        return (ntohl(in4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, addr, &in6) == 1 && IN6_IS_ADDR_LOOPBACK(&in6);
}

/* Reads the token file |path| (at most 1 MiB) into *tenants. */
static int s_read_token_file(const char *path, http_tenant_t **tenants, size_t *n, char *why,
                             size_t why_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_len, "--http-token-file %.400s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap + 1);
    ssize_t got = 0;
    while (text && len <= cap && (got = read(fd, text + len, cap + 1 - len)) > 0)
        len += (size_t)got;
    close(fd);
    if (!text || got < 0 || len > cap) {
        snprintf(why, why_len, "--http-token-file %.400s: %s", path,
                 !text ? "out of memory" : got < 0 ? strerror(errno) : "over 1 MiB");
        free(text);
        return -1;
    }
    char reason[300];
    int rc = http_token_parse_file(text, len, tenants, n, reason, sizeof reason);
    sodium_memzero(text, len);
    free(text);
    if (rc < 0)
        snprintf(why, why_len, "--http-token-file %.400s: %s", path, reason);
    return rc;
}

/* Checks the options; fills |addr|, *port, the token (or NULL) and
 * *loopback. */
static int s_check(const serve_options_t *o, char *addr, size_t addr_len, int *port,
                   const char **token_p, char *why, size_t why_len)
{
    if (s_parse_listen(o->http, addr, addr_len, port, why, why_len) < 0)
        return -1;
    const char *env = getenv("SANDCELL_HTTP_TOKEN");
    const char *token = o->http_token ? o->http_token : env && *env ? env : NULL;
    bool loopback = s_loopback(addr);
    *token_p = token;
    if (o->http_token && o->http_token_file) {
        snprintf(why, why_len, "--http-token and --http-token-file exclude each other");
        return -1;
    }
    if (o->no_http_auth && (o->http_token || o->http_token_file)) {
        snprintf(why, why_len, "--no-http-auth and a token exclude each other");
        return -1;
    }
    if (o->no_http_auth && !loopback) {
        snprintf(why, why_len,
                 "--no-http-auth is taken only on a loopback address (127.0.0.1, ::1), not %s: "
                 "anyone who reaches %s could run code",
                 addr, addr);
        return -1;
    }
    if (!loopback && !o->http_token_file && !token) {
        snprintf(why, why_len,
                 "--http %s listens beyond this machine: give it a token (--http-token, "
                 "--http-token-file or SANDCELL_HTTP_TOKEN)",
                 o->http);
        return -1;
    }
    if (token && !o->http_token_file && !o->no_http_auth && !http_token_valid(token)) {
        snprintf(why, why_len, "the HTTP token must be 1-%d printable ASCII characters "
                               "without spaces", HTTP_TOKEN_MAX);
        return -1;
    }
    if (o->http_token_file) {
        http_tenant_t *t;
        size_t n;
        if (s_read_token_file(o->http_token_file, &t, &n, why, why_len) < 0)
            return -1;
        sodium_memzero(t, n * sizeof *t);
        free(t);
    }
    return 0;
}

int serve_http_check(const serve_options_t *o, char *why, size_t why_len)
{
    char addr[128];
    int port;
    const char *token;
    if (!o->http && o->metrics_public) {
        snprintf(why, why_len, "--metrics-public is an option of the HTTP front door: give "
                               "--http too");
        return -1;
    }
    return o->http ? s_check(o, addr, sizeof addr, &port, &token, why, why_len) : 0;
}

int serve_http_start(server_t *s, char *why, size_t why_len)
{
    const serve_options_t *o = s->opts;
    if (!o->http)
        return 0;
    char addr[128];
    int port;
    const char *token;
    if (s_check(o, addr, sizeof addr, &port, &token, why, why_len) < 0)
        return -1;
    http_tenant_t *tenants = NULL;
    size_t ntenants = 0;
    bool generated = false;
    if (o->http_token_file) {
        if (s_read_token_file(o->http_token_file, &tenants, &ntenants, why, why_len) < 0)
            return -1;
    } else if (!o->no_http_auth) {
        tenants = calloc(1, sizeof *tenants);
        if (!tenants) {
            snprintf(why, why_len, "out of memory");
            return -1;
        }
        ntenants = 1;
        if (token) {
            snprintf(tenants[0].token, sizeof tenants[0].token, "%s", token);
        } else {
            unsigned char raw[24];
            randombytes_buf(raw, sizeof raw);
            sodium_bin2hex(tenants[0].token, sizeof tenants[0].token, raw, sizeof raw);
            generated = true;
        }
    }
    http_config_t cfg = {.addr = addr, .port = port, .tenants = tenants, .ntenants = ntenants,
                         .no_auth = o->no_http_auth, .metrics_public = o->metrics_public};
    s->http = http_server_new(s->reactor, &cfg, &s_backend, s, why, why_len);
    if (s->http && !(s->ws = ws_hub_new(s->reactor))) {
        snprintf(why, why_len, "cannot set up the WebSocket channels (out of memory)");
        http_server_destroy(&s->http);
    }
    if (s->http) {
        ws_upgrade_register(s->ws, s->http);
        bool v6 = strchr(addr, ':') != NULL;
        snprintf(s->http_url, sizeof s->http_url, "http://%s%s%s:%d/", v6 ? "[" : "", addr,
                 v6 ? "]" : "", http_server_port(s->http));
        /* The runtime file names the one token (none with tenants: each
         * holds their own). */
        if (ntenants == 1)
            snprintf(s->http_token, sizeof s->http_token, "%s", tenants[0].token);
        if (generated)
            log_info("HTTP on %s?token=%s", s->http_url, s->http_token);
        else
            log_info("HTTP on %s (%s)", s->http_url,
                     o->no_http_auth ? "no authentication: --no-http-auth"
                     : ntenants > 1  ? "one token per tenant, from --http-token-file"
                                     : "token required");
    }
    if (tenants)
        sodium_memzero(tenants, ntenants * sizeof *tenants);
    free(tenants);
    return s->http ? 0 : -1;
}
