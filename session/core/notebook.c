/* notebook — a conversation's journal as an nbformat 4 notebook, for
 * `sandcell export` and the MCP server's export_notebook tool.
 *
 * nbformat 4.5 (cells carry ids). Silent executions (a frontend's own,
 * never shown) are left out; aborted cells are kept with no count and no
 * outputs, as a notebook shows a cell that never ran. */
#include "notebook.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cell_outputs.h"
#include "kernel_info.h"
#include "util.h"

/* A new object with the fields |keys| of |from| that it has (NULL if out
 * of memory). */
static json_t *s_pick(const json_t *from, const char *const *keys, size_t n_keys)
{
    json_t *to = json_object();
    for (size_t i = 0; to && i < n_keys; i++) {
        json_t *v = json_object_get(from, keys[i]);
        if (v)
            json_object_set(to, keys[i], v);
    }
    return to;
}

static json_t *s_metadata(const json_t *header)
{
    const char *python = json_string_value(json_object_get(header, "python"));
    static const char *const keys[] = {"conversation", "created", "sandcell", "restored_from"};
    json_t *sandcell = s_pick(header, keys, ARRAY_SIZE(keys));
    return json_pack("{s:{s:s, s:s, s:s}, s:o, s:o*}", "kernelspec", "name", "sandcell-python",
                     "display_name", "Python (sandcell)", "language", "python", "language_info",
                     kernel_info_language(python ? python : "3"), "sandcell", sandcell);
}

static json_t *s_cell(const json_t *rec, size_t index)
{
    const char *status = json_string_value(json_object_get(rec, "status"));
    bool aborted = status && strcmp(status, "aborted") == 0;
    const json_t *count = json_object_get(rec, "execution_count");
    json_t *outputs = aborted ? json_array()
                              : cell_outputs_to_notebook(json_object_get(rec, "outputs"), count);
    static const char *const keys[] = {"interpreter", "status", "started", "duration_s"};
    json_t *meta = s_pick(rec, keys, ARRAY_SIZE(keys));
    char id[32];
    snprintf(id, sizeof id, "cell-%zu", index + 1);
    return json_pack("{s:s, s:s, s:O, s:{s:o*}, s:O, s:o*}", "cell_type", "code", "id", id,
                     "execution_count", aborted || !json_is_integer(count) ? json_null() : count,
                     "metadata", "sandcell", meta, "source", json_object_get(rec, "code"),
                     "outputs", outputs);
}

json_t *notebook_from_journal(const json_t *journal)
{
    json_auto_t *cells = json_array();
    if (!cells)
        return NULL;
    size_t i;
    const json_t *rec;
    json_array_foreach(json_object_get(journal, "executions"), i, rec) {
        if (json_is_true(json_object_get(rec, "silent")))
            continue;
        json_t *cell = s_cell(rec, json_array_size(cells));
        if (!cell || json_array_append_new(cells, cell) < 0)
            return NULL;
    }
    return json_pack("{s:i, s:i, s:o*, s:O}", "nbformat", 4, "nbformat_minor", 5, "metadata",
                     s_metadata(json_object_get(journal, "header")), "cells", cells);
}
