/* test_http_server — the HTTP server on a real reactor and a real socket:
 * the WebSocket upgrade hook hands over the socket, the bytes the client
 * sent past its request, the session id, the subprotocol and the
 * connection dict; without a token the upgrade is 401, without a handler
 * 501. The backend is a table of one kernel: what is tested is the
 * server's plumbing, not the daemon (tests/integration/test_http_*.py
 * test both together). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_server.h"
#include "tap.h"

#define KID "0f8fad5b-d9cb-469f-a165-70867728950e"

static void s_list(void *arg, const char *tenant, http_each_fn each, void *ctx)
{
    http_kernel_t k = {KID, "sandcell-python", 0, "idle"};
    each(ctx, &k);
}

static int s_get(void *arg, const char *tenant, const char *id, http_kernel_t *out)
{
    if (strcmp(id, KID) != 0)
        return -1;
    *out = (http_kernel_t){KID, "sandcell-python", 0, "idle"};
    return 0;
}

static http_pending_t *s_waiting; /* a start answered later, by s_tick */

static int s_start(void *arg, const char *tenant, const char *name, const json_t *options,
                   http_pending_t *pending, http_kernel_t *out, char *why, size_t why_len)
{
    if (options && json_object_get(options, "restore")) {
        s_waiting = pending;
        return HTTP_START_PENDING;
    }
    snprintf(why, why_len, "not here");
    return 500;
}

static int s_id(void *arg, const char *tenant, const char *id)
{
    return strcmp(id, KID) == 0 ? 0 : -1;
}

static json_t *s_connection(void *arg, const char *tenant, const char *id)
{
    return json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:s, s:s}", "transport", "tcp", "ip",
                     "127.0.0.1", "shell_port", 5555, "iopub_port", 5556, "stdin_port", 5557,
                     "control_port", 5558, "hb_port", 5559, "key", "k3y", "signature_scheme",
                     "hmac-sha256");
}

static void s_gauges(void *arg, metrics_gauges_t *out)
{
    out->conversations[metrics_state_index("busy")] = 2;
    out->capacity = 10;
}

static bool s_full; /* what s_ready says */

static int s_ready(void *arg, char *why, size_t why_len)
{
    if (s_full)
        snprintf(why, why_len, "at capacity");
    return s_full ? -1 : 0;
}

static const http_backend_t s_backend = {s_list,  s_get,        s_start,  s_id,
                                         s_id,    s_id,         s_connection, s_gauges,
                                         s_ready, NULL,         NULL,     NULL};

typedef struct {
    reactor_t *reactor;
    int client;
    char got[8192];
    size_t len;
    bool upgraded;
    char session[64], kernel[64], extra[64], key[16];
    bool v1, parsed_ok;
    long connections_during;
    http_server_t *srv;
    long long deadline;
} ctx_t;

static void s_on_upgrade(void *arg, http_upgrade_t *up)
{
    ctx_t *c = arg;
    c->upgraded = true;
    snprintf(c->session, sizeof c->session, "%s", up->session_id);
    snprintf(c->kernel, sizeof c->kernel, "%s", up->kernel_id);
    snprintf(c->extra, sizeof c->extra, "%.*s", (int)up->extra_len, up->extra);
    snprintf(c->key, sizeof c->key, "%s",
             json_string_value(json_object_get(up->connection, "key")));
    c->v1 = up->v1;
    c->parsed_ok = up->conn.ports[CONN_SHELL] == 5555 && strcmp(up->conn.key, "k3y") == 0 &&
                   strcmp(up->conn.ip, "127.0.0.1") == 0;
    c->connections_during = http_server_connections(c->srv, KID);
    ssize_t n = write(up->fd, "pong", 4);
    (void)n;
    http_upgrade_close(up);
}

static void s_on_client(void *arg)
{
    ctx_t *c = arg;
    ssize_t n = read(c->client, c->got + c->len, sizeof c->got - 1 - c->len);
    if (n > 0) {
        c->len += (size_t)n;
        c->got[c->len] = '\0';
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        reactor_remove(c->reactor, NULL, c->client);
        reactor_stop(c->reactor);
    }
}

static void s_before_sleep(void *arg)
{
    ctx_t *c = arg;
    http_server_before_sleep(c->srv);
}

static void s_tick(void *arg)
{
    ctx_t *c = arg;
    if (s_waiting && reactor_now_ms() > c->deadline - 4500) {
        http_kernel_t k = {KID, "sandcell-python", 0, "idle"};
        http_start_done(s_waiting, 0, &k, NULL);
        s_waiting = NULL;
    }
    if (reactor_now_ms() > c->deadline)
        reactor_stop(c->reactor); /* the test fails on what it did not get */
}

/* Sends |request| to a server with |token| (NULL: no auth) and runs the
 * loop until the server closes the connection; fills |c|. */
static void s_exchange(ctx_t *c, const char *request, bool handler)
{
    memset(c, 0, sizeof *c);
    c->reactor = reactor_new();
    http_tenant_t t = {"", "s3cret"};
    http_config_t cfg = {.addr = "127.0.0.1", .port = 0, .tenants = &t, .ntenants = 1};
    char why[256];
    c->srv = http_server_new(c->reactor, &cfg, &s_backend, NULL, why, sizeof why);
    if (!CHECK(c->srv != NULL)) {
        tap_diag("%s", why);
        reactor_destroy(&c->reactor);
        return;
    }
    if (handler)
        http_server_set_upgrade(c->srv, s_on_upgrade, NULL, c);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)http_server_port(c->srv))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    c->client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(connect(c->client, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(write(c->client, request, strlen(request)) == (ssize_t)strlen(request));
    fcntl(c->client, F_SETFL, O_NONBLOCK);
    c->deadline = reactor_now_ms() + 5000;
    reactor_add(c->reactor, NULL, c->client, s_on_client, c);
    reactor_set_hooks(c->reactor, s_before_sleep, s_tick, 50, c);
    reactor_run(c->reactor);
    close(c->client);
    http_server_destroy(&c->srv);
    reactor_destroy(&c->reactor);
}

#define UPGRADE(path, auth)                                                                     \
    "GET " path " HTTP/1.1\r\nHost: x\r\n" auth "Upgrade: websocket\r\nConnection: Upgrade\r\n" \
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"             \
    "Sec-WebSocket-Protocol: v1.kernel.websocket.jupyter.org\r\n\r\n"

static void test_upgrade(void)
{
    ctx_t c;
    s_exchange(&c,
               UPGRADE("/api/kernels/" KID "/channels?session_id=abc",
                       "Authorization: token s3cret\r\n") "EXTRA",
               true);
    CHECK(c.upgraded);
    CHECK(strncmp(c.got, "HTTP/1.1 101", 12) == 0);
    CHECK(strstr(c.got, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != NULL);
    CHECK(strstr(c.got, "\r\nSec-WebSocket-Protocol: v1.kernel.websocket.jupyter.org\r\n"));
    const char *body = strstr(c.got, "\r\n\r\n");
    CHECK(body && strcmp(body + 4, "pong") == 0);
    CHECK_STR(c.session, "abc");
    CHECK_STR(c.kernel, KID);
    CHECK_STR(c.extra, "EXTRA");
    CHECK_STR(c.key, "k3y");
    CHECK(c.v1);
    CHECK(c.parsed_ok);
    CHECK_INT(c.connections_during, 1);
    if (!CHECK(c.len > 0))
        tap_diag("got nothing");
    tap_case("an upgrade reaches the handler with its socket, extra bytes and connection");
}

static void test_upgrade_refused(void)
{
    ctx_t c;
    s_exchange(&c, UPGRADE("/api/kernels/" KID "/channels?token=wrong", ""), true);
    CHECK(!c.upgraded);
    CHECK(strncmp(c.got, "HTTP/1.1 401", 12) == 0);
    tap_case("an upgrade without the token is 401");
    s_exchange(&c, UPGRADE("/api/kernels/" KID "/channels?token=s3cret", ""), false);
    CHECK(strncmp(c.got, "HTTP/1.1 501", 12) == 0);
    CHECK(strstr(c.got, "\"message\"") != NULL);
    tap_case("an upgrade without a handler is 501 JSON");
    s_exchange(&c,
               UPGRADE("/api/kernels/00000000-0000-4000-8000-000000000000/channels?token=s3cret",
                       ""),
               true);
    CHECK(!c.upgraded);
    CHECK(strncmp(c.got, "HTTP/1.1 404", 12) == 0);
    CHECK(strstr(c.got, "Kernel does not exist: 00000000-0000-4000-8000-000000000000"));
    tap_case("an upgrade to an unknown kernel is 404 naming it");
}

static void test_suspended_start(void)
{
    ctx_t c;
    static const char body[] = "{\"sandcell\": {\"restore\": \"j\"}}";
    char request[512];
    snprintf(request, sizeof request,
             "POST /api/kernels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
             "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    long long t0 = reactor_now_ms();
    s_exchange(&c, request, false);
    CHECK(reactor_now_ms() - t0 >= 400); /* answered when the backend said, not before */
    if (!CHECK(strncmp(c.got, "HTTP/1.1 201", 12) == 0))
        tap_diag("got: %.300s", c.got);
    CHECK(strstr(c.got, "\r\nLocation: /api/kernels/" KID "\r\n") != NULL);
    CHECK(strstr(c.got, "\"execution_state\":\"idle\"") != NULL);
    CHECK(s_waiting == NULL);
    tap_case("a start answered later: the connection waits, suspended, then gets its 201");
}

static void test_metrics(void)
{
    metrics_reset();
    metrics_started();
    metrics_stopped("idle");
    metrics_stopped("no such reason");
    metrics_limit_hit(METRICS_LIMIT_MEMORY);
    metrics_limit_hit(METRICS_LIMIT_NONE);
    metrics_observe(METRICS_CELL_SECONDS, 0.003);
    metrics_observe(METRICS_CELL_SECONDS, 1e6);
    metrics_observe(METRICS_CELL_SECONDS, -1);
    metrics_http_response("HEAD", 404);
    metrics_http_response("GET", 999);
    ctx_t c;
    s_exchange(&c, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: token s3cret\r\n"
                   "Connection: close\r\n\r\n", false);
    if (!CHECK(strncmp(c.got, "HTTP/1.1 200", 12) == 0))
        tap_diag("got: %.300s", c.got);
    CHECK(strstr(c.got, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") != NULL);
    CHECK(strstr(c.got, "\nsandcell_conversations{state=\"busy\"} 2\n") != NULL);
    CHECK(strstr(c.got, "\nsandcell_conversations{state=\"idle\"} 0\n") != NULL);
    CHECK(strstr(c.got, "\nsandcell_capacity_conversations 10\n") != NULL);
    CHECK(strstr(c.got, "\nsandcell_conversation_starts_total 1\n") != NULL);
    CHECK(strstr(c.got, "\nsandcell_conversation_stops_total{reason=\"idle\"} 1\n") != NULL);
    CHECK(strstr(c.got, "\nsandcell_conversation_stops_total{reason=\"other\"} 1\n") != NULL);
    CHECK(strstr(c.got, "\nsandcell_limit_hits_total{limit=\"memory\"} 1\n") != NULL);
    CHECK(strstr(c.got, "\nsandcell_limit_hits_total{limit=\"time\"} 0\n") != NULL);
    CHECK(strstr(c.got, "\nsandcell_cell_duration_seconds_bucket{le=\"0.0025\"} 1\n"));
    CHECK(strstr(c.got, "\nsandcell_cell_duration_seconds_bucket{le=\"0.005\"} 2\n"));
    CHECK(strstr(c.got, "\nsandcell_cell_duration_seconds_bucket{le=\"30\"} 2\n"));
    CHECK(strstr(c.got, "\nsandcell_cell_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
    CHECK(strstr(c.got, "\nsandcell_cell_duration_seconds_count 3\n"));
    CHECK(strstr(c.got, "\nsandcell_http_requests_total{method=\"other\",code=\"4xx\"} 1\n"));
    CHECK(strstr(c.got, "\nsandcell_http_requests_total{method=\"GET\",code=\"5xx\"} 1\n"));
    tap_case("GET /metrics renders the counters, histograms and the backend's gauges");
    s_exchange(&c, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false);
    CHECK(strncmp(c.got, "HTTP/1.1 401", 12) == 0);
    s_exchange(&c, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: token s3cret\r\n"
                   "Connection: close\r\n\r\n", false);
    CHECK(strstr(c.got, "\nsandcell_http_requests_total{method=\"GET\",code=\"4xx\"} 1\n"));
    CHECK(strstr(c.got, "\nsandcell_http_requests_total{method=\"GET\",code=\"2xx\"} 1\n"));
    tap_case("GET /metrics needs the token; the answers it gave are counted");
}

static void test_health(void)
{
    ctx_t c;
    static const char req[] = "GET /api/sandcell/health HTTP/1.1\r\nHost: x\r\n"
                              "Authorization: token s3cret\r\nConnection: close\r\n\r\n";
    s_full = false;
    s_exchange(&c, req, false);
    CHECK(strncmp(c.got, "HTTP/1.1 200", 12) == 0);
    CHECK(strstr(c.got, "\"status\":\"ready\"") != NULL);
    CHECK(strstr(c.got, "\"conversations\":2") != NULL);
    tap_case("health is 200 ready when the backend can start");
    s_full = true;
    s_exchange(&c, req, false);
    CHECK(strncmp(c.got, "HTTP/1.1 503", 12) == 0);
    CHECK(strstr(c.got, "\"message\":\"at capacity\"") != NULL);
    s_full = false;
    tap_case("health is 503 with the reason when it cannot");
}

int main(void)
{
    test_metrics();
    test_health();
    test_suspended_start();
    test_upgrade();
    test_upgrade_refused();
    return tap_done();
}
