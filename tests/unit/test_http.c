/* test_http — the pure parts of the HTTP front door (session/http/): the
 * route table, the token file and the Authorization header, the tenant
 * match, and the WebSocket accept key against RFC 6455's example. */
#include <stdlib.h>
#include <string.h>

#include "http_route.h"
#include "http_token.h"
#include "http_upgrade.h"
#include "tap.h"

#define ID "0f8fad5b-d9cb-469f-a165-70867728950e"

static void test_routes(void)
{
    static const struct {
        const char *path;
        int rc;
        http_route_kind_t kind;
        unsigned methods;
        const char *id, *name, *file;
    } rows[] = {
        {"/api", 0, HTTP_ROUTE_API, HTTP_GET, "", "", ""},
        {"/api/", 0, HTTP_ROUTE_API, HTTP_GET, "", "", ""},
        {"/api/status", 0, HTTP_ROUTE_STATUS, HTTP_GET, "", "", ""},
        {"/api/kernelspecs", 0, HTTP_ROUTE_KERNELSPECS, HTTP_GET, "", "", ""},
        {"/api/kernelspecs/sandcell-python", 0, HTTP_ROUTE_KERNELSPEC, HTTP_GET, "",
         "sandcell-python", ""},
        {"/kernelspecs/python3/logo-64x64.png", 0, HTTP_ROUTE_KERNELSPEC_FILE, HTTP_GET, "",
         "python3", "logo-64x64.png"},
        {"/api/kernels", 0, HTTP_ROUTE_KERNELS, HTTP_GET | HTTP_POST, "", "", ""},
        {"/api/kernels/", 0, HTTP_ROUTE_KERNELS, HTTP_GET | HTTP_POST, "", "", ""},
        {"/api/kernels/" ID, 0, HTTP_ROUTE_KERNEL, HTTP_GET | HTTP_DELETE, ID, "", ""},
        {"/api/kernels/" ID "/interrupt", 0, HTTP_ROUTE_INTERRUPT, HTTP_POST, ID, "", ""},
        {"/api/kernels/" ID "/restart/", 0, HTTP_ROUTE_RESTART, HTTP_POST, ID, "", ""},
        {"/api/kernels/" ID "/channels", 0, HTTP_ROUTE_CHANNELS, HTTP_GET, ID, "", ""},
        {"/metrics", 0, HTTP_ROUTE_METRICS, HTTP_GET, "", "", ""},
        {"/api/sandcell/health", 0, HTTP_ROUTE_HEALTH, HTTP_GET, "", "", ""},
        {"/api/sandcell/kernels/" ID "/journal", 0, HTTP_ROUTE_JOURNAL, HTTP_GET, ID, "", ""},
        {"/api/sandcell/kernels/" ID "/notebook", 0, HTTP_ROUTE_NOTEBOOK, HTTP_GET, ID, "", ""},
        {"/api/sandcell/kernels/" ID "/files/a/b.csv", 0, HTTP_ROUTE_FILE, HTTP_GET | HTTP_PUT,
         ID, "", ""},
        {"/api/sandcell/kernels/" ID "/files/", -1, 0, 0, "", "", ""},
        {"/api/sandcell/kernels/" ID "/other", -1, 0, 0, "", "", ""},
        {"/api/sandcell/kernels/abc/journal", -1, 0, 0, "", "", ""},
        {"/metrics/x", -1, 0, 0, "", "", ""},
        {"/api/sandcell", -1, 0, 0, "", "", ""},
        {"/api/sandcell/other", -1, 0, 0, "", "", ""},
        {"", -1, 0, 0, "", "", ""},
        {"/", -1, 0, 0, "", "", ""},
        {"api", -1, 0, 0, "", "", ""},
        {"/api//kernels", -1, 0, 0, "", "", ""},
        {"/api/kernels//", -1, 0, 0, "", "", ""},
        {"/api/kernels/abc", -1, 0, 0, "", "", ""},
        {"/api/kernels/" ID "x", -1, 0, 0, "", "", ""},
        {"/api/kernels/0f8fad5b-d9cb-469f-a165-70867728950g", -1, 0, 0, "", "", ""},
        {"/api/kernels/0f8fad5bd-9cb-469f-a165-70867728950e", -1, 0, 0, "", "", ""},
        {"/api/kernels/" ID "/other", -1, 0, 0, "", "", ""},
        {"/api/kernels/" ID "/channels/x", -1, 0, 0, "", "", ""},
        {"/api/kernelspecs/a/b", -1, 0, 0, "", "", ""},
        {"/kernelspecs/python3", -1, 0, 0, "", "", ""},
        {"/kernelspecs/python3/..", -1, 0, 0, "", "", ""},
        {"/api/status/x", -1, 0, 0, "", "", ""},
        {"/a/b/c/d/e/f/g/h", -1, 0, 0, "", "", ""},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        http_route_t r;
        int rc = http_route_match(rows[i].path, &r);
        CHECK_INT(rc, rows[i].rc);
        if (rc == 0) {
            CHECK_INT(r.kind, rows[i].kind);
            CHECK_INT(r.methods, rows[i].methods);
            CHECK_STR(r.id, rows[i].id);
            CHECK_STR(r.name, rows[i].name);
            CHECK_STR(r.file, rows[i].file);
        }
        tap_case("route %s", rows[i].path);
    }
    char big[1000];
    memset(big, 'a', sizeof big);
    big[0] = '/';
    big[sizeof big - 1] = '\0';
    http_route_t r;
    CHECK_INT(http_route_match(big, &r), -1);
    tap_case("a path longer than any route is none");
    char allow[64];
    http_route_allow(HTTP_GET | HTTP_DELETE, allow, sizeof allow);
    CHECK_STR(allow, "GET, DELETE");
    http_route_allow(HTTP_POST, allow, sizeof allow);
    CHECK_STR(allow, "POST");
    CHECK_INT(http_route_method("DELETE"), HTTP_DELETE);
    CHECK_INT(http_route_method("HEAD"), HTTP_OTHER);
    CHECK_INT(http_route_method("get"), HTTP_OTHER); /* methods are case-sensitive */
    tap_case("methods and the Allow header");
}

static void test_token_file(void)
{
    static const struct {
        const char *text;
        int rc;
        size_t n;
        const char *name0, *token0, *why;
    } rows[] = {
        {"tok\n", 0, 1, "", "tok", NULL},
        {"  tok  ", 0, 1, "", "tok", NULL},
        {"# c\n\nalice a-1\r\nbob\tb-2\n", 0, 2, "alice", "a-1", NULL},
        {"alice a-1", 0, 1, "alice", "a-1", NULL},
        {"", -1, 0, NULL, NULL, "no token"},
        {"# only a comment\n", -1, 0, NULL, NULL, "no token"},
        {"a b c\n", -1, 0, NULL, NULL, "line 1: expected NAME TOKEN"},
        {"a x\nb\n", -1, 0, NULL, NULL, "line 2: a token without a name"},
        {"a/b tok\n", -1, 0, NULL, NULL, "line 1: a name"},
        {"a x\na y\n", -1, 0, NULL, NULL, "line 2: the name a is given twice"},
        {"a x\nb x\n", -1, 0, NULL, NULL, "line 2: the same token"},
        {"a t\xc3\xa9\n", -1, 0, NULL, NULL, "line 1: a token is"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        http_tenant_t *t = NULL;
        size_t n = 99;
        char why[200] = "";
        int rc = http_token_parse_file(rows[i].text, strlen(rows[i].text), &t, &n, why,
                                       sizeof why);
        CHECK_INT(rc, rows[i].rc);
        if (rc == 0) {
            CHECK_INT(n, rows[i].n);
            CHECK_STR(t[0].name, rows[i].name0);
            CHECK_STR(t[0].token, rows[i].token0);
        } else {
            CHECK(t == NULL && n == 0);
            CHECK(strstr(why, rows[i].why) != NULL);
        }
        free(t);
        tap_case("token file %zu (%s)", i, rows[i].why ? rows[i].why : "ok");
    }
    char nul[] = "a x\0y\n";
    http_tenant_t *t;
    size_t n;
    char why[200];
    CHECK_INT(http_token_parse_file(nul, sizeof nul - 1, &t, &n, why, sizeof why), -1);
    tap_case("a NUL byte in a token file");
}

static void test_header(void)
{
    static const struct {
        const char *header, *token;
    } rows[] = {
        {"token abc", "abc"},   {"Token abc", "abc"},  {"Bearer abc", "abc"},
        {"bearer  abc ", "abc"}, {"TOKEN\tabc", "abc"}, {"token ", NULL},
        {"token", NULL},        {"tokenabc", NULL},    {"Basic abc", NULL},
        {"", NULL},             {"Bearer    ", NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *tok = NULL;
        size_t len = 0;
        bool got = http_token_from_header(rows[i].header, &tok, &len);
        CHECK_INT(got, rows[i].token != NULL);
        if (got && rows[i].token)
            CHECK(len == strlen(rows[i].token) && memcmp(tok, rows[i].token, len) == 0);
        tap_case("Authorization: \"%s\"", rows[i].header);
    }
}

static void test_match(void)
{
    http_tenant_t t[3] = {{"a", "alpha"}, {"b", "beta"}, {"c", "gamma"}};
    CHECK_INT(http_token_match(t, 3, "alpha", 5), 0);
    CHECK_INT(http_token_match(t, 3, "gamma", 5), 2);
    CHECK_INT(http_token_match(t, 3, "gamm", 4), -1);
    CHECK_INT(http_token_match(t, 3, "gammaa", 6), -1);
    CHECK_INT(http_token_match(t, 3, "", 0), -1);
    CHECK_INT(http_token_match(t, 0, "alpha", 5), -1);
    CHECK(http_token_valid("x") && !http_token_valid("") && !http_token_valid("a b"));
    tap_case("tenant match");
}

static void test_accept_key(void)
{
    char out[29];
    /* RFC 6455, 1.3 */
    CHECK_INT(http_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* RFC 6455, 4.2.1: 16 bytes in base64, nothing else */
    CHECK_INT(http_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ", out), -1);
    CHECK_INT(http_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=!", out), -1);
    CHECK_INT(http_ws_accept_key("YWJj", out), -1);
    CHECK_INT(http_ws_accept_key(NULL, out), -1);
    tap_case("Sec-WebSocket-Accept of RFC 6455's example, and bad keys");
    CHECK(http_ws_offers_v1("v1.kernel.websocket.jupyter.org"));
    CHECK(http_ws_offers_v1("foo, v1.kernel.websocket.jupyter.org"));
    CHECK(!http_ws_offers_v1("v1.kernel.websocket.jupyter.org.x"));
    CHECK(!http_ws_offers_v1(""));
    CHECK(!http_ws_offers_v1(NULL));
    tap_case("the v1 subprotocol, offered or not");
}

int main(void)
{
    test_routes();
    test_token_file();
    test_header();
    test_match();
    test_accept_key();
    return tap_done();
}
