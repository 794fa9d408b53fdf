/* test_control_request — the daemon's control requests, parsed and checked
 * (session/serve/control_request.c): one row per request, valid or not, with the
 * error and the reason a client gets. */
#include <jansson.h>
#include <string.h>

#include "control_request.h"
#include "tap.h"

static void test_table(void)
{
    static const struct {
        const char *type, *content; /* content NULL: not an object */
        size_t n_buffers;
        int rc;
        control_kind_t kind;
        const char *ename, *why; /* failures: ename and a part of why */
    } rows[] = {
        {"start_request", "{}", 0, 0, CONTROL_START, NULL, NULL},
        {"list_request", "{}", 0, 0, CONTROL_LIST, NULL, NULL},
        {"stop_request", "{\"id\": \"a1\"}", 0, 0, CONTROL_STOP, NULL, NULL},
        {"connection_request", "{\"id\": \"a1\"}", 0, 0, CONTROL_CONNECTION, NULL, NULL},
        {"put_file_request", "{\"id\": \"a1\", \"path\": \"x\"}", 1, 0, CONTROL_PUT_FILE, NULL,
         NULL},
        {"get_file_request", "{\"id\": \"a1\", \"path\": \"x\"}", 0, 0, CONTROL_GET_FILE, NULL,
         NULL},
        {"stop_request", "{}", 0, -1, CONTROL_STOP, "BadRequest", "(missing)"},
        {"stop_request", "{\"id\": 42}", 0, -1, CONTROL_STOP, "BadRequest", "(missing)"},
        {"connection_request", "{\"id\": null}", 0, -1, CONTROL_CONNECTION, "BadRequest",
         "(missing)"},
        {"put_file_request", "{\"id\": \"a1\", \"path\": \"x\"}", 0, -1, CONTROL_PUT_FILE,
         "BadRequest", "one buffer"},
        {"put_file_request", "{\"id\": \"a1\", \"path\": \"x\"}", 2, -1, CONTROL_PUT_FILE,
         "BadRequest", "one buffer"},
        {"start_request", "{\"memory\": \"lots\"}", 0, -1, CONTROL_START, "BadRequest",
         "'memory' must be a number between 16 and 1048576"},
        {"start_request", "{\"max_executions\": -1}", 0, -1, CONTROL_START, "BadRequest",
         "'max_executions'"},
        {"start_request", "{\"timeout\": 86401}", 0, -1, CONTROL_START, "BadRequest",
         "'timeout'"},
        {"start_request", "{\"cpus\": 0.001}", 0, -1, CONTROL_START, "BadRequest", "'cpus'"},
        {"start_request", "{\"restore\": 5}", 0, -1, CONTROL_START, "BadRequest",
         "the path of a journal"},
        {"start_request", NULL, 0, -1, CONTROL_START, "BadRequest", "must be an object"},
        {"start_request", "{\"memroy\": 100}", 0, -1, CONTROL_START, "BadRequest",
         "start_request has no key 'memroy' (did you mean 'memory'?)"},
        {"start_request", "{\"timeout\": 5, \"colour\": 1}", 0, -1, CONTROL_START,
         "BadRequest", "no key 'colour' (it takes max_executions, idle_timeout,"},
        {"list_request", "{\"all\": true}", 0, -1, CONTROL_LIST, "BadRequest",
         "list_request has no key 'all' (it takes none)"},
        {"stop_request", "{\"id\": \"a1\", \"force\": true}", 0, -1, CONTROL_STOP,
         "BadRequest", "no key 'force' (it takes id)"},
        {"get_file_request", "{\"id\": \"a1\", \"pth\": \"x\"}", 0, -1, CONTROL_GET_FILE,
         "BadRequest", "no key 'pth' (did you mean 'path'?)"},
        {"foo_request", "{}", 0, -1, CONTROL_UNKNOWN_REQUEST, "UnknownMessageType",
         "does not handle foo_request"},
        {"execute_reply", "{}", 0, -1, CONTROL_NOT_A_REQUEST, "UnknownMessageType",
         "does not handle execute_reply"},
        {"_request", "{}", 0, -1, CONTROL_NOT_A_REQUEST, "UnknownMessageType", "_request"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        json_t *content = rows[i].content ? json_loads(rows[i].content, 0, NULL) : json_array();
        control_request_t req;
        char ename[32] = "", why[256] = "";
        int rc = control_request_parse(rows[i].type, content, rows[i].n_buffers, &req, ename,
                                       sizeof ename, why, sizeof why);
        CHECK_INT(rc, rows[i].rc);
        CHECK_INT(req.kind, rows[i].kind);
        if (rows[i].ename) {
            CHECK_STR(ename, rows[i].ename);
            CHECK(strstr(why, rows[i].why) != NULL);
        } else if (req.kind != CONTROL_START && req.kind != CONTROL_LIST) {
            CHECK_STR(req.id, "a1");
        }
        json_decref(content);
        tap_case("%s %s with %zu buffers: %s", rows[i].type,
                 rows[i].content ? rows[i].content : "[]", rows[i].n_buffers,
                 rows[i].ename ? rows[i].ename : "ok");
    }
}

static void test_start_numbers(void)
{
    json_t *content = json_loads("{\"timeout\": 5, \"memory\": 256, \"cpus\": 0.5, \"pids\": null, "
                                 "\"restore\": \"/j/a.jsonl\"}",
                                 0, NULL);
    control_request_t req;
    char ename[32], why[256];
    CHECK_INT(control_request_parse("start_request", content, 0, &req, ename, sizeof ename, why,
                                    sizeof why),
              0);
    CHECK(req.given[CONTROL_TIMEOUT] && req.number[CONTROL_TIMEOUT] == 5);
    CHECK(req.given[CONTROL_MEMORY] && req.number[CONTROL_MEMORY] == 256);
    CHECK(req.given[CONTROL_CPUS] && req.number[CONTROL_CPUS] == 0.5);
    CHECK(!req.given[CONTROL_PIDS] && !req.given[CONTROL_DISK]);
    CHECK_STR(req.restore, "/j/a.jsonl");
    CHECK_STR(control_number_key(CONTROL_OPEN_FILES), "open_files");
    json_decref(content);
    tap_case("start_request: the numbers given, null as not given, and the journal");
}

int main(void)
{
    test_table();
    test_start_numbers();
    return tap_done();
}
