/* fuzz_content — what an interpreter says its outputs are
 * (protocol/interp_record.c decoding, protocol/content_check.c schema):
 * a cell can write any record to its channel, and only content that
 * follows the Jupyter schema of its type may reach clients and journals.
 *
 * Input: a record's bytes, as the channel delivers them. What must hold: a
 * record that decodes has a string type and an object content, and the
 * content of an output or input_request passes content_check; a refusal
 * says why; content_check's reason is NUL-terminated within its room; the
 * repair of invalid UTF-8 and lone surrogates gives text that needs no
 * second repair. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content_check.h"
#include "fuzz.h"
#include "interp_record.h"

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_content: %s:%d: %s does not hold\n", __FILE__, __LINE__,    \
                    #cond);                                                                     \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char why[INTERP_RECORD_WHY_LEN];
    why[0] = '\0';
    json_t *rec = interp_record_decode(text, size, why, sizeof why);
    if (!rec) {
        CHECK(why[0] && memchr(why, '\0', sizeof why));
    } else {
        const char *type = json_string_value(json_object_get(rec, "type"));
        json_t *content = json_object_get(rec, "content");
        CHECK(type && json_is_object(content));
        char inner[CONTENT_WHY_LEN];
        if (content_check_is_output(type) || strcmp(type, "input_request") == 0)
            CHECK(content_check(type, content, inner, sizeof inner) == 0);
        /* The replies are checked by the caller, with their request type. */
        static const char *const replies[] = {"execute_reply", "complete_reply",
                                              "inspect_reply", "is_complete_reply"};
        for (size_t i = 0; i < sizeof replies / sizeof *replies; i++) {
            inner[0] = '\0';
            if (content_check(replies[i], content, inner, sizeof inner) < 0)
                CHECK(inner[0] && memchr(inner, '\0', sizeof inner));
        }
        json_decref(rec);
    }
    size_t fixed_len;
    char *fixed = interp_record_repair(text, size, &fixed_len);
    if (fixed) {
        CHECK(fixed[fixed_len] == '\0');
        size_t again_len;
        char *again = interp_record_repair(fixed, fixed_len, &again_len);
        CHECK(again == NULL && again_len == 0); /* nothing left to repair */
        free(fixed);
    }
    return 0;
}
