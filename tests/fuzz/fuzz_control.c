/* fuzz_control — the daemon's control requests (session/serve/control_request.c)
 * as `sandcell serve` parses them once a message on its control endpoint
 * has passed the wire decoder (fuzz_wire covers that part).
 *
 * Input: the msg_type on the first line, then the content's JSON text,
 * loaded with the wire decoder's flags. Each request is parsed with no
 * buffer and with one. What must hold: a request that parses has a kind
 * the dispatch table handles, an id when its kind needs one, and only
 * numbers within their bounds (checked by parsing a start_request that
 * sets each number to the value found); a refusal names an error and a
 * reason. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control_request.h"
#include "fuzz.h"

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_control: %s:%d: %s does not hold\n", __FILE__, __LINE__,    \
                    #cond);                                                                     \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

static void s_parse(const char *type, const json_t *content, size_t n_buffers)
{
    control_request_t req;
    char ename[32], why[256];
    ename[0] = why[0] = '\0';
    if (control_request_parse(type, content, n_buffers, &req, ename, sizeof ename, why,
                              sizeof why) < 0) {
        CHECK(ename[0] && why[0]);
        CHECK(req.kind >= CONTROL_START && req.kind <= CONTROL_NOT_A_REQUEST);
        return;
    }
    CHECK(req.kind >= CONTROL_START && req.kind <= CONTROL_GET_FILE);
    CHECK(json_is_object(content));
    bool needs_id = req.kind == CONTROL_STOP || req.kind == CONTROL_CONNECTION ||
                    req.kind == CONTROL_PUT_FILE || req.kind == CONTROL_GET_FILE;
    CHECK(!needs_id || req.id);
    CHECK(req.kind != CONTROL_PUT_FILE || n_buffers == 1);
    if (req.kind != CONTROL_START)
        return;
    /* Each number found must be one that a request can set on its own. */
    for (int n = 0; n < CONTROL_NNUMBERS; n++) {
        if (!req.given[n])
            continue;
        CHECK(isfinite(req.number[n]));
        json_t *alone = json_pack("{s:f}", control_number_key((control_number_t)n),
                                  req.number[n]);
        CHECK(alone);
        control_request_t again;
        CHECK(control_request_parse("start_request", alone, 0, &again, ename, sizeof ename,
                                    why, sizeof why) == 0);
        CHECK(again.given[n] && again.number[n] == req.number[n]);
        json_decref(alone);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t type_len = nl ? (size_t)(nl - data) : size;
    char *type = strndup((const char *)data, type_len); /* up to a NUL, as a C string */
    CHECK(type);
    size_t rest = nl ? size - type_len - 1 : 0;
    json_t *content = json_loadb(nl ? (const char *)nl + 1 : "", rest,
                                 JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (content) {
        s_parse(type, content, 0);
        s_parse(type, content, 1);
    }
    s_parse(type, NULL, 0); /* content that is not an object */
    json_decref(content);
    free(type);
    return 0;
}
