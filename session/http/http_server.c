/* http_server — libmicrohttpd in external-epoll mode on the reactor:
 * requests are authenticated, routed and their bodies bounded here, then
 * answered by http_kernels.c; WebSocket upgrades go to the registered
 * handler.
 *
 * Authenticate before parsing: the token is checked on MHD's first call
 * for a request, before any byte of its body is read or its JSON parsed.
 * A request that cannot be answered (its route, method or size) is
 * answered on that first call, and MHD closes the connection after it
 * rather than read a body nobody wants. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http_internal.h"
#include "log.h"

/* Open upgraded connections, per kernel and in all. */
typedef struct live_upgrade {
    http_upgrade_t up;
    char *extra_copy;
    char *session_copy;
    char tenant_copy[HTTP_TENANT_NAME_MAX + 1];
    struct live_upgrade *next, *prev;
} live_upgrade_t;

struct http_server {
    reactor_t *reactor;
    struct MHD_Daemon *mhd;
    int epoll_fd;
    int port;
    http_tenant_t *tenants;
    size_t ntenants;
    bool no_auth;
    bool metrics_public; /* GET /metrics without a token */
    bool tenanted; /* two or more tokens: each its own kernels */
    const http_backend_t *backend;
    void *backend_arg;
    http_upgrade_fn on_upgrade, on_drop;
    void *upgrade_arg;
    live_upgrade_t *upgrades;
    long nupgrades;
    bool run_due; /* MHD has work no descriptor will signal (a resumed
                     connection, a closed upgrade): run it before sleeping */
    char started[32];
};

/* One request, from MHD's first call for it to its completion; a
 * suspended start's http_pending_t. */
struct http_pending {
    http_server_t *srv;
    struct MHD_Connection *conn;
    http_reply_t reply; /* a suspended start's answer, once it came */
    bool suspended, resumed;
    http_route_t route;
    unsigned method;
    char tenant[HTTP_TENANT_NAME_MAX + 1];
    char *body;
    size_t len;
    bool answered; /* a response is queued */
    bool too_big;  /* a body without Content-Length passed HTTP_BODY_MAX */
};
typedef struct http_pending request_t;

const http_backend_t *http_server_backend(const http_server_t *srv, void **arg)
{
    *arg = srv->backend_arg;
    return srv->backend;
}

const char *http_server_started(const http_server_t *srv)
{
    return srv->started;
}

long http_server_total_connections(const http_server_t *srv, const char *tenant)
{
    long n = 0;
    for (const live_upgrade_t *u = srv->upgrades; u; u = u->next)
        n += strcmp(u->tenant_copy, tenant) == 0;
    return n;
}

long http_server_connections(const http_server_t *self, const char *id)
{
    long n = 0;
    for (const live_upgrade_t *u = self->upgrades; u; u = u->next)
        n += strcmp(u->up.kernel_id, id) == 0;
    return n;
}

int http_server_port(const http_server_t *self)
{
    return self->port;
}

void http_iso_ago(long long ago_ms, char *out, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long us = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - ago_ms * 1000;
    time_t sec = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%06lldZ", us % 1000000);
}

void http_reply_error(http_reply_t *reply, int status, const char *fmt, ...)
{
    char message[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    reply->status = status;
    json_decref(reply->body);
    reply->body = json_pack("{s:s, s:n}", "message", message, "reason");
}

/* ------------------------------------------------------------ responses */

/* The metrics' name of |method| (an HTTP_GET etc. flag). */
static const char *s_method_name(unsigned method)
{
    switch (method) {
    case HTTP_GET: return "GET";
    case HTTP_POST: return "POST";
    case HTTP_PUT: return "PUT";
    case HTTP_DELETE: return "DELETE";
    case HTTP_PATCH: return "PATCH";
    default: return "other";
    }
}

static enum MHD_Result s_queue(struct MHD_Connection *conn, request_t *req, http_reply_t *reply,
                               const char *allow)
{
    char *text = reply->raw ? reply->raw : reply->body ? json_dumps(reply->body, JSON_COMPACT)
                                                       : NULL;
    size_t len = reply->raw ? reply->raw_len : text ? strlen(text) : 0;
    reply->raw = NULL;
    struct MHD_Response *resp =
        text ? MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(text);
        json_decref(reply->body);
        return MHD_NO;
    }
    if (reply->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
    else if (reply->body)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (reply->location[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, reply->location);
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)reply->status, resp);
    MHD_destroy_response(resp);
    json_decref(reply->body);
    reply->body = NULL;
    if (req)
        req->answered = true;
    if (rc == MHD_YES)
        metrics_http_response(req ? s_method_name(req->method) : "other", reply->status);
    return rc;
}

static enum MHD_Result s_queue_error(struct MHD_Connection *conn, request_t *req, int status,
                                     const char *message)
{
    http_reply_t reply = {0};
    http_reply_error(&reply, status, "%s", message);
    return s_queue(conn, req, &reply, NULL);
}

/* ------------------------------------------------------------------ auth */

/* True unless the request comes from a browser page of another origin:
 * an Origin header whose host[:port] is not the Host header's. */
static bool s_same_origin(struct MHD_Connection *conn)
{
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!origin)
        return true;
    const char *sep = strstr(origin, "://");
    return sep && host && strcasecmp(sep + 3, host) == 0;
}

/* Lets the request in and sets its tenant, or returns false. Without
 * tokens (--no-http-auth, loopback only) a page in the user's browser
 * could reach the daemon (a WebSocket is not held back by CORS): such a
 * request, from another origin, is refused as jupyter_server refuses it. */
static bool s_authenticate(http_server_t *srv, struct MHD_Connection *conn, request_t *req)
{
    if (srv->no_auth)
        return s_same_origin(conn);
    const char *token = NULL;
    size_t len = 0;
    const char *header = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_AUTHORIZATION);
    if (!header || !http_token_from_header(header, &token, &len)) {
        token = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
        len = token ? strlen(token) : 0;
    }
    if (!token || len == 0)
        return false;
    int i = http_token_match(srv->tenants, srv->ntenants, token, len);
    if (i < 0)
        return false;
    if (srv->tenanted)
        snprintf(req->tenant, sizeof req->tenant, "%s", srv->tenants[i].name);
    return true;
}

/* --------------------------------------------------------------- upgrade */

static void s_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock,
                       struct MHD_UpgradeResponseHandle *urh)
{
    live_upgrade_t *u = cls;
    http_server_t *srv = u->up.server;
    int flags = fcntl(sock, F_GETFL);
    if (flags >= 0)
        fcntl(sock, F_SETFL, flags | O_NONBLOCK);
    u->extra_copy = extra_in_size ? malloc(extra_in_size) : NULL;
    if (extra_in_size && !u->extra_copy) {
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        json_decref(u->up.connection);
        connfile_clear(&u->up.conn);
        free(u->session_copy);
        free(u);
        return;
    }
    if (extra_in_size)
        memcpy(u->extra_copy, extra_in, extra_in_size);
    u->up.fd = sock;
    u->up.extra = u->extra_copy;
    u->up.extra_len = extra_in_size;
    u->up.urh = urh;
    u->next = srv->upgrades;
    if (u->next)
        u->next->prev = u;
    srv->upgrades = u;
    srv->nupgrades++;
    srv->on_upgrade(srv->upgrade_arg, &u->up);
}

void http_upgrade_close(http_upgrade_t *up)
{
    live_upgrade_t *u = (live_upgrade_t *)up; /* up is the first member */
    http_server_t *srv = up->server;
    if (u->prev)
        u->prev->next = u->next;
    else
        srv->upgrades = u->next;
    if (u->next)
        u->next->prev = u->prev;
    srv->nupgrades--;
    MHD_upgrade_action(up->urh, MHD_UPGRADE_ACTION_CLOSE);
    json_decref(up->connection);
    connfile_clear(&up->conn);
    free(u->extra_copy);
    free(u->session_copy);
    free(u);
    srv->run_due = true; /* MHD finishes the close on its next run */
    reactor_wake_in(srv->reactor, 0);
}

/* GET /api/kernels/{id}/channels, authenticated: 101 to the handler. */
static enum MHD_Result s_channels(http_server_t *srv, struct MHD_Connection *conn, request_t *req)
{
    void *arg;
    const http_backend_t *b = http_server_backend(srv, &arg);
    http_kernel_t k;
    if (b->get(arg, req->tenant, req->route.id, &k) < 0) {
        char message[100];
        snprintf(message, sizeof message, "Kernel does not exist: %s", req->route.id);
        return s_queue_error(conn, req, MHD_HTTP_NOT_FOUND, message);
    }
    const char *upgrade = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Upgrade");
    if (!upgrade || strcasecmp(upgrade, "websocket") != 0)
        return s_queue_error(conn, req, MHD_HTTP_BAD_REQUEST,
                             "Can \"Upgrade\" only to \"WebSocket\".");
    if (!srv->on_upgrade)
        return s_queue_error(conn, req, MHD_HTTP_NOT_IMPLEMENTED,
                             "WebSocket channels are not served by this daemon yet");
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    const char *version =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Version");
    char accept[29];
    if (!version || strcmp(version, "13") != 0 || http_ws_accept_key(key, accept) < 0)
        return s_queue_error(conn, req, MHD_HTTP_BAD_REQUEST,
                             "a WebSocket upgrade needs Sec-WebSocket-Version: 13 and a "
                             "Sec-WebSocket-Key of 16 bytes in base64");
    json_t *connection = b->connection(arg, req->tenant, req->route.id);
    live_upgrade_t *u = calloc(1, sizeof *u);
    const char *session = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "session_id");
    if (u)
        u->session_copy = strdup(session ? session : "");
    proto_err_t perr;
    char cwhy[200];
    if (!connection || !u || !u->session_copy ||
        connfile_from_json(connection, &u->up.conn, &perr, cwhy, sizeof cwhy) < 0) {
        json_decref(connection);
        if (u) {
            connfile_clear(&u->up.conn);
            free(u->session_copy);
        }
        free(u);
        return s_queue_error(conn, req, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "out of memory in the daemon");
    }
    u->up.fd = -1;
    memcpy(u->up.kernel_id, req->route.id, sizeof u->up.kernel_id);
    u->up.session_id = u->session_copy;
    u->up.v1 = http_ws_offers_v1(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Protocol"));
    snprintf(u->tenant_copy, sizeof u->tenant_copy, "%s", req->tenant);
    u->up.tenant = u->tenant_copy;
    u->up.connection = connection;
    u->up.server = srv;
    struct MHD_Response *resp = MHD_create_response_for_upgrade(s_upgraded, u);
    if (!resp) {
        json_decref(connection);
        connfile_clear(&u->up.conn);
        free(u->session_copy);
        free(u);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    if (u->up.v1)
        MHD_add_response_header(resp, "Sec-WebSocket-Protocol", HTTP_WS_SUBPROTOCOL);
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    req->answered = true;
    if (rc == MHD_YES)
        metrics_http_response(s_method_name(req->method), MHD_HTTP_SWITCHING_PROTOCOLS);
    if (rc != MHD_YES) {
        json_decref(connection);
        connfile_clear(&u->up.conn);
        free(u->session_copy);
        free(u);
    }
    return rc;
}

/* How big |req|'s body may be: a file PUT takes what a workspace file may
 * be, anything else HTTP_BODY_MAX. */
static size_t s_body_max(const request_t *req)
{
    return req->route.kind == HTTP_ROUTE_FILE ? HTTP_FILE_BODY_MAX : HTTP_BODY_MAX;
}

static enum MHD_Result s_too_big(struct MHD_Connection *conn, request_t *req)
{
    char message[100];
    snprintf(message, sizeof message, "the request's body is over the limit of %zu bytes",
             s_body_max(req));
    return s_queue_error(conn, req, MHD_HTTP_CONTENT_TOO_LARGE, message);
}

/* ---------------------------------------------------------------- metrics */

/* GET /metrics: the Prometheus text exposition (format 0.0.4). */
static enum MHD_Result s_metrics(http_server_t *srv, struct MHD_Connection *conn, request_t *req)
{
    metrics_gauges_t g = {0};
    if (srv->backend->gauges)
        srv->backend->gauges(srv->backend_arg, &g);
    g.ws_connections = srv->nupgrades;
    size_t len = 0;
    char *text = metrics_render(&g, &len);
    if (!text)
        return s_queue_error(conn, req, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "out of memory in the daemon");
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    req->answered = true;
    if (rc == MHD_YES)
        metrics_http_response(s_method_name(req->method), MHD_HTTP_OK);
    return rc;
}

/* --------------------------------------------------------------- requests */

static enum MHD_Result s_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls)
{
    http_server_t *srv = cls;
    request_t *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->srv = srv;
        req->conn = conn;
        req->method = http_route_method(method);
        *con_cls = req;
        /* The path is matched first (a pure function: nothing of the
         * request is parsed) only to let /metrics in with --metrics-public. */
        bool routed = http_route_match(url, &req->route) == 0;
        bool open = routed && srv->metrics_public && req->route.kind == HTTP_ROUTE_METRICS;
        if (!open && !s_authenticate(srv, conn, req))
            return s_queue_error(conn, req, MHD_HTTP_UNAUTHORIZED,
                                 srv->no_auth
                                     ? "Unauthorized: a request from another origin (a page in "
                                       "a browser) to a daemon without tokens (--no-http-auth)"
                                     : "Unauthorized: give the token as \"Authorization: token "
                                       "TOKEN\", \"Authorization: Bearer TOKEN\" or "
                                       "?token=TOKEN");
        if (!routed)
            return s_queue_error(conn, req, MHD_HTTP_NOT_FOUND, "Not Found");
        if (!(req->method & req->route.methods)) {
            http_reply_t reply = {0};
            char allow[64];
            http_route_allow(req->route.methods, allow, sizeof allow);
            http_reply_error(&reply, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
            return s_queue(conn, req, &reply, allow);
        }
        const char *length =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > s_body_max(req))
            return s_too_big(conn, req);
        if (req->route.kind == HTTP_ROUTE_CHANNELS)
            return s_channels(srv, conn, req);
        if (req->route.kind == HTTP_ROUTE_METRICS)
            return s_metrics(srv, conn, req);
        return MHD_YES;
    }
    if (req->answered) {
        *upload_data_size = 0; /* a body nobody reads; MHD closes after the answer */
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        /* MHD takes a response only before the body or after all of it:
         * the rest of a body too big is read and dropped, then answered. */
        if (req->too_big || req->len + n > s_body_max(req)) {
            req->too_big = true;
            free(req->body);
            req->body = NULL;
            req->len = 0;
            return MHD_YES;
        }
        char *grown = realloc(req->body, req->len + n + 1);
        if (!grown)
            return s_queue_error(conn, req, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                 "out of memory in the daemon");
        memcpy(grown + req->len, upload_data, n);
        req->body = grown;
        req->len += n;
        req->body[req->len] = '\0';
        return MHD_YES;
    }
    if (req->too_big)
        return s_too_big(conn, req);
    if (req->resumed)
        return s_queue(conn, req, &req->reply, NULL);
    if (req->suspended)
        return MHD_YES; /* not answered yet */
    http_reply_t reply = {0};
    http_kernels_handle(srv, &req->route, req->method, req->tenant, req->body, req->len, req,
                        &reply);
    if (reply.status == HTTP_START_PENDING) {
        req->suspended = true;
        MHD_suspend_connection(conn);
        return MHD_YES;
    }
    return s_queue(conn, req, &reply, NULL);
}

void http_start_done(http_pending_t *req, int status, const http_kernel_t *k, const char *why)
{
    if (status == 0)
        http_reply_started(req->srv, k, &req->reply);
    else
        http_reply_error(&req->reply, status, "%s", why);
    req->resumed = true;
    MHD_resume_connection(req->conn);
    /* MHD answers it on its next run, which nothing else would start: in
     * external-epoll mode its wakeup pipe does not reach its epoll set. */
    req->srv->run_due = true;
    reactor_wake_in(req->srv->reactor, 0);
}

static void s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    request_t *req = *con_cls;
    if (!req)
        return;
    json_decref(req->reply.body);
    free(req->reply.raw);
    free(req->body);
    free(req);
    *con_cls = NULL;
}

static void s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_debug("http: %s", line);
}

/* ------------------------------------------------------------------ loop */

static void s_run(http_server_t *self)
{
    MHD_run(self->mhd);
}

static void s_on_readable(void *arg)
{
    s_run(arg);
}

void http_server_before_sleep(http_server_t *self)
{
    MHD_UNSIGNED_LONG_LONG ms;
    bool has_timeout = MHD_get_timeout(self->mhd, &ms) == MHD_YES;
    if (self->run_due || (has_timeout && ms == 0)) {
        self->run_due = false;
        s_run(self);
        has_timeout = MHD_get_timeout(self->mhd, &ms) == MHD_YES;
    }
    if (!has_timeout)
        return;
    reactor_wake_in(self->reactor, ms > 60000 ? 60000 : (long long)ms);
}

void http_server_set_upgrade(http_server_t *self, http_upgrade_fn on_upgrade,
                             http_upgrade_fn on_drop, void *arg)
{
    self->on_upgrade = on_upgrade;
    self->on_drop = on_drop;
    self->upgrade_arg = arg;
}

/* Fills |ss| for |addr|:|port|; returns its length, or 0. */
static socklen_t s_address(const char *addr, int port, struct sockaddr_storage *ss, bool *v6)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (strcmp(addr, "localhost") == 0)
        addr = "127.0.0.1";
    if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *v6 = false;
        return sizeof *in4;
    }
    if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *v6 = true;
        return sizeof *in6;
    }
    return 0;
}

http_server_t *http_server_new(reactor_t *reactor, const http_config_t *cfg,
                               const http_backend_t *backend, void *backend_arg, char *why,
                               size_t why_len)
{
    struct sockaddr_storage ss;
    bool v6 = false;
    if (!s_address(cfg->addr, cfg->port, &ss, &v6)) {
        snprintf(why, why_len, "--http %s: not a numeric IPv4 or IPv6 address", cfg->addr);
        return NULL;
    }
    http_server_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    self->reactor = reactor;
    self->backend = backend;
    self->backend_arg = backend_arg;
    self->no_auth = cfg->no_auth;
    self->metrics_public = cfg->metrics_public;
    self->epoll_fd = -1;
    http_iso_ago(0, self->started, sizeof self->started);
    if (!cfg->no_auth) {
        self->tenants = calloc(cfg->ntenants ? cfg->ntenants : 1, sizeof *self->tenants);
        if (!self->tenants) {
            free(self);
            snprintf(why, why_len, "out of memory");
            return NULL;
        }
        memcpy(self->tenants, cfg->tenants, cfg->ntenants * sizeof *self->tenants);
        self->ntenants = cfg->ntenants;
        self->tenanted = cfg->ntenants > 1;
    }
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_UPGRADE | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    self->mhd = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, s_access, self, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log,
        self, MHD_OPTION_END);
    if (!self->mhd) {
        snprintf(why, why_len, "cannot listen on %s%s%s:%d: %s", v6 ? "[" : "", cfg->addr,
                 v6 ? "]" : "", cfg->port, errno ? strerror(errno) : "libmicrohttpd failed");
        http_server_destroy(&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *port = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_BIND_PORT);
    self->epoll_fd = info ? info->epoll_fd : -1;
    self->port = port ? port->port : cfg->port;
    if (self->epoll_fd < 0 || reactor_add(reactor, NULL, self->epoll_fd, s_on_readable, self) < 0) {
        snprintf(why, why_len, "cannot watch the HTTP server on the event loop");
        self->epoll_fd = -1;
        http_server_destroy(&self);
        return NULL;
    }
    return self;
}

void http_server_destroy(http_server_t **self_p)
{
    http_server_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    while (self->upgrades) {
        http_upgrade_t *up = &self->upgrades->up;
        if (self->on_drop)
            self->on_drop(self->upgrade_arg, up);
        http_upgrade_close(up);
    }
    if (self->epoll_fd >= 0)
        reactor_remove(self->reactor, NULL, self->epoll_fd);
    if (self->mhd) {
        MHD_run(self->mhd); /* finishes the closes of the upgraded connections */
        MHD_stop_daemon(self->mhd);
    }
    if (self->tenants)
        sodium_memzero(self->tenants, self->ntenants * sizeof *self->tenants);
    free(self->tenants);
    free(self);
}
