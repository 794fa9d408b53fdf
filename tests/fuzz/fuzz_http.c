/* fuzz_http — what the HTTP front door parses itself (session/http/): a
 * token file, an Authorization header, a request path and a
 * Sec-WebSocket-Key. (HTTP itself is libmicrohttpd's.)
 *
 * Input: up to four parts cut at FUZZ_SEPARATOR: the token file, the
 * header, the path, the key. What must hold: no crash or leak; a parsed
 * file has 1..HTTP_TENANTS_MAX valid, distinct tokens; a token found in
 * a header lies inside it; a matched kernel route's id is a UUID. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "http_route.h"
#include "http_token.h"
#include "http_upgrade.h"

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_http: %s:%d: %s does not hold\n", __FILE__, __LINE__, #cond); \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* A NUL-terminated copy of |p| (caller frees). */
static char *s_text(const fuzz_part_t *p)
{
    char *t = malloc(p->size + 1);
    CHECK(t);
    memcpy(t, p->data, p->size);
    t[p->size] = '\0';
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part_t parts[4] = {{0}};
    size_t n = fuzz_split(data, size, parts, 4);
    http_tenant_t *t = NULL;
    size_t nt = 0;
    char why[300];
    if (http_token_parse_file((const char *)parts[0].data, parts[0].size, &t, &nt, why,
                              sizeof why) == 0) {
        CHECK(nt >= 1 && nt <= HTTP_TENANTS_MAX);
        for (size_t i = 0; i < nt; i++) {
            CHECK(http_token_valid(t[i].token));
            CHECK(http_token_match(t, nt, t[i].token, strlen(t[i].token)) == (int)i);
        }
        free(t);
    } else {
        CHECK(t == NULL && nt == 0);
    }
    if (n > 1) {
        char *header = s_text(&parts[1]);
        const char *tok;
        size_t len;
        if (http_token_from_header(header, &tok, &len))
            CHECK(len > 0 && tok >= header && tok + len <= header + strlen(header));
        free(header);
    }
    if (n > 2) {
        char *path = s_text(&parts[2]);
        http_route_t r;
        if (http_route_match(path, &r) == 0 && r.kind >= HTTP_ROUTE_KERNEL)
            CHECK(http_route_is_uuid(r.id));
        free(path);
    }
    if (n > 3) {
        char *key = s_text(&parts[3]);
        char accept[29];
        if (http_ws_accept_key(key, accept) == 0)
            CHECK(strlen(accept) == 28);
        http_ws_offers_v1(key);
        free(key);
    }
    return 0;
}
