/* cell_outputs — replays a cell's output messages the way a frontend applies
 * them to the output area.
 *
 * The display ids of the outputs are kept in a parallel array (nbformat
 * outputs have no room for the transient part), cleared together with the
 * outputs, so update_display_data finds what it updates. */
#include "cell_outputs.h"

#include <stdbool.h>
#include <string.h>

#include "util.h"

static json_t *s_copy_or_empty(const json_t *v)
{
    return json_is_object(v) ? json_deep_copy(v) : json_object();
}

static json_t *s_convert(const char *msg_type, const json_t *content,
                         const json_t *execution_count)
{
    if (strcmp(msg_type, "stream") == 0)
        return json_pack("{s:s, s:O, s:O}", "output_type", "stream", "name",
                         json_object_get(content, "name"), "text",
                         json_object_get(content, "text"));
    if (strcmp(msg_type, "display_data") == 0)
        return json_pack("{s:s, s:o, s:o}", "output_type", "display_data", "data",
                         s_copy_or_empty(json_object_get(content, "data")), "metadata",
                         s_copy_or_empty(json_object_get(content, "metadata")));
    if (strcmp(msg_type, "execute_result") == 0) {
        const json_t *count = json_object_get(content, "execution_count");
        if (!json_is_integer(count))
            count = execution_count;
        return json_pack("{s:s, s:O, s:o, s:o}", "output_type", "execute_result",
                         "execution_count", count ? count : json_null(), "data",
                         s_copy_or_empty(json_object_get(content, "data")), "metadata",
                         s_copy_or_empty(json_object_get(content, "metadata")));
    }
    if (strcmp(msg_type, "error") == 0)
        return json_pack("{s:s, s:O, s:O, s:o}", "output_type", "error", "ename",
                         json_object_get(content, "ename"), "evalue",
                         json_object_get(content, "evalue"), "traceback",
                         json_deep_copy(json_object_get(content, "traceback")));
    return NULL;
}

static const char *s_display_id(const json_t *content)
{
    return json_string_value(json_object_get(json_object_get(content, "transient"), "display_id"));
}

/* Appends the text of stream |out| to the last output if that is a stream
 * of the same name. Returns true if it did. */
static bool s_merge_stream(json_t *list, const json_t *out)
{
    json_t *last = json_array_get(list, json_array_size(list) - 1);
    const char *type = json_string_value(json_object_get(out, "output_type"));
    if (!last || strcmp(type, "stream") != 0 ||
        !json_equal(json_object_get(last, "output_type"), json_object_get(out, "output_type")) ||
        !json_equal(json_object_get(last, "name"), json_object_get(out, "name")))
        return false;
    const char *a = json_string_value(json_object_get(last, "text"));
    const char *b = json_string_value(json_object_get(out, "text"));
    size_t la = json_string_length(json_object_get(last, "text"));
    size_t lb = json_string_length(json_object_get(out, "text"));
    _cleanup_free_ char *joined = malloc(la + lb + 1);
    if (!joined)
        return false;
    memcpy(joined, a, la);
    memcpy(joined + la, b, lb);
    joined[la + lb] = '\0';
    return json_object_set_new(last, "text", json_stringn(joined, la + lb)) == 0;
}

static void s_update_display(json_t *list, json_t *ids, const char *id, const json_t *content)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        const char *other = json_string_value(v);
        if (!other || strcmp(other, id) != 0)
            continue;
        json_t *out = json_array_get(list, i);
        json_object_set_new(out, "data", s_copy_or_empty(json_object_get(content, "data")));
        json_object_set_new(out, "metadata",
                            s_copy_or_empty(json_object_get(content, "metadata")));
    }
}

json_t *cell_outputs_to_notebook(const json_t *outputs, const json_t *execution_count)
{
    json_auto_t *list = json_array();
    json_auto_t *ids = json_array(); /* display id of list[i], or null */
    if (!list || !ids)
        return NULL;
    bool clear_pending = false;
    size_t i;
    const json_t *msg;
    json_array_foreach(outputs, i, msg) {
        const char *msg_type = json_string_value(json_object_get(msg, "msg_type"));
        const json_t *content = json_object_get(msg, "content");
        if (!msg_type || !json_is_object(content))
            continue;
        if (strcmp(msg_type, "clear_output") == 0) {
            if (json_is_true(json_object_get(content, "wait"))) {
                clear_pending = true;
            } else {
                json_array_clear(list);
                json_array_clear(ids);
                clear_pending = false;
            }
            continue;
        }
        if (strcmp(msg_type, "update_display_data") == 0) {
            const char *id = s_display_id(content);
            if (id)
                s_update_display(list, ids, id, content);
            continue;
        }
        json_t *out = s_convert(msg_type, content, execution_count);
        if (!out)
            continue; /* not a notebook output, or out of memory */
        if (clear_pending) {
            json_array_clear(list);
            json_array_clear(ids);
            clear_pending = false;
        }
        if (s_merge_stream(list, out)) {
            json_decref(out);
            continue;
        }
        const char *id = s_display_id(content);
        if (json_array_append_new(list, out) < 0 ||
            json_array_append_new(ids, id ? json_string(id) : json_null()) < 0)
            return NULL;
    }
    return json_incref(list);
}
