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

/* The run of same-name streams at the end of the list. Its text is
 * gathered here and set on the output once the run ends: joining into the
 * jansson string at each message copied the whole text every time, which
 * made a cell of many small writes (10 MiB in 8 KiB messages) quadratic. */
typedef struct {
    json_t *out; /* borrowed: the list's last output, a stream; or NULL */
    char *text;  /* the run's text so far, once a second message joined */
    size_t len, cap;
} run_t;

static int s_run_append(run_t *run, const char *text, size_t len)
{
    if (run->cap - run->len <= len) {
        size_t cap = run->cap ? run->cap : 4096;
        while (cap - run->len <= len)
            cap *= 2;
        char *grown = realloc(run->text, cap);
        if (!grown)
            return -1;
        run->text = grown;
        run->cap = cap;
    }
    memcpy(run->text + run->len, text, len);
    run->len += len;
    return 0;
}

/* Sets the gathered text on the run's output and forgets the run. The
 * parts were valid UTF-8 jansson strings, so their join is too. */
static int s_run_end(run_t *run)
{
    int rc = 0;
    if (run->out && run->text)
        rc = json_object_set_new(run->out, "text", json_stringn_nocheck(run->text, run->len));
    free(run->text);
    *run = (run_t){0};
    return rc;
}

/* Adds the text of stream |out| to the run if that is a stream of the same
 * name. Returns 1 if it did, 0 if not, -1 on allocation failure. */
static int s_run_join(run_t *run, const json_t *out)
{
    const char *type = json_string_value(json_object_get(out, "output_type"));
    if (!run->out || strcmp(type, "stream") != 0 ||
        !json_equal(json_object_get(run->out, "name"), json_object_get(out, "name")))
        return 0;
    const json_t *text = json_object_get(out, "text");
    if (!run->text) {
        const json_t *first = json_object_get(run->out, "text");
        if (s_run_append(run, json_string_value(first), json_string_length(first)) < 0)
            return -1;
    }
    return s_run_append(run, json_string_value(text), json_string_length(text)) < 0 ? -1 : 1;
}

static void s_run_free(run_t *run)
{
    free(run->text);
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
    __attribute__((cleanup(s_run_free))) run_t run = {0};
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
                s_run_end(&run);
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
            s_run_end(&run);
            json_array_clear(list);
            json_array_clear(ids);
            clear_pending = false;
        }
        int joined = s_run_join(&run, out);
        if (joined) {
            json_decref(out);
            if (joined < 0)
                return NULL;
            continue;
        }
        if (s_run_end(&run) < 0)
            return NULL;
        const char *id = s_display_id(content);
        if (json_array_append_new(list, out) < 0 ||
            json_array_append_new(ids, id ? json_string(id) : json_null()) < 0)
            return NULL;
        if (strcmp(msg_type, "stream") == 0)
            run.out = out; /* borrowed: the list holds it */
    }
    if (s_run_end(&run) < 0)
        return NULL;
    return json_incref(list);
}
