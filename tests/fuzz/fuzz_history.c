/* fuzz_history — a client's history_request (session/journal/history.c), which
 * the kernel answers itself from its index of the journal: tail, range
 * and a search whose glob pattern the client writes.
 *
 * Input: the request's content (JSON) and then the inputs of the
 * conversation's cells, cut at FUZZ_SEPARATOR (cell k has line k; every
 * other one has a text result). What must hold: the reply is "ok" with a
 * list of [session, line, input] (or [session, line, [input, output]] with
 * "output") entries that exist, oldest first, at most n of them for tail
 * and search; or "error" for a request that names no known access type. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "history.h"

#define MAX_CELLS 128

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_history: %s:%d: %s does not hold\n", __FILE__, __LINE__,    \
                    #cond);                                                                     \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part_t parts[MAX_CELLS + 1];
    size_t n = fuzz_split(data, size, parts, MAX_CELLS + 1);
    json_t *content = json_loadb((const char *)parts[0].data, parts[0].size,
                                 JSON_REJECT_DUPLICATES, NULL);
    if (!content)
        return 0;
    history_t *h = history_new();
    CHECK(h);
    json_t *result = json_string("result");
    CHECK(result);
    for (size_t i = 1; i < n; i++) {
        char *input = strndup((const char *)parts[i].data, parts[i].size);
        CHECK(input);
        CHECK(history_add(h, (int)i, input, i % 2 ? result : NULL) == 0);
        free(input);
    }
    json_decref(result);
    json_t *reply = history_query(h, content);
    CHECK(reply);
    const char *status = json_string_value(json_object_get(reply, "status"));
    CHECK(status);
    if (strcmp(status, "ok") == 0) {
        json_t *list = json_object_get(reply, "history");
        CHECK(json_is_array(list) && json_array_size(list) <= n - 1);
        const char *type = json_string_value(json_object_get(content, "hist_access_type"));
        json_t *want = json_object_get(content, "n");
        if (type && strcmp(type, "range") != 0 && json_is_integer(want) &&
            json_integer_value(want) >= 0)
            CHECK(json_array_size(list) <= (size_t)json_integer_value(want));
        json_int_t last = 0;
        size_t i;
        json_t *entry;
        json_array_foreach(list, i, entry) {
            json_int_t line = json_integer_value(json_array_get(entry, 1));
            CHECK(json_array_size(entry) == 3 && line >= 1 && (size_t)line < n);
            CHECK(line > last); /* oldest first, each once */
            last = line;
        }
    } else {
        CHECK(strcmp(status, "error") == 0);
    }
    json_decref(reply);
    history_destroy(&h);
    json_decref(content);
    return 0;
}
