/* history — an in-memory list of executions, searched the way IPython's
 * history manager does: search patterns are globs over the whole input
 * (fnmatch), n keeps the most recent matches, unique keeps the latest of
 * each input. */
#include "history.h"

#include <fnmatch.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int line;
    char *input;
    json_t *output; /* a JSON string, or NULL */
} entry_t;

struct history {
    entry_t *entries;
    size_t n, cap;
};

history_t *history_new(void)
{
    return calloc(1, sizeof(history_t));
}

void history_destroy(history_t **self_p)
{
    history_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++) {
        free(self->entries[i].input);
        json_decref(self->entries[i].output);
    }
    free(self->entries);
    free(self);
    *self_p = NULL;
}

int history_add(history_t *self, int line, const char *input, const json_t *output)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? 2 * self->cap : 32;
        entry_t *e = realloc(self->entries, cap * sizeof *e);
        if (!e)
            return -1;
        self->entries = e;
        self->cap = cap;
    }
    entry_t *e = &self->entries[self->n];
    e->line = line;
    e->input = strdup(input);
    if (!e->input)
        return -1;
    e->output = json_is_string(output) ? json_incref((json_t *)output) : NULL;
    self->n++;
    return 0;
}

static json_t *s_entry(const entry_t *e, bool output)
{
    if (!output)
        return json_pack("[i, i, s]", HISTORY_SESSION, e->line, e->input);
    return json_pack("[i, i, [s, O?]]", HISTORY_SESSION, e->line, e->input, e->output);
}

static bool s_get_int(const json_t *content, const char *key, long long *out)
{
    const json_t *v = json_object_get(content, key);
    if (!v || json_is_null(v))
        return false;
    if (!json_is_integer(v))
        return false;
    *out = json_integer_value(v);
    return true;
}

/* Indices of the entries selected by |content|, oldest first, into |sel|
 * (room for self->n). Returns how many, or -1 for a malformed request. */
static long s_select(const history_t *self, const json_t *content, size_t *sel)
{
    const char *type = json_string_value(json_object_get(content, "hist_access_type"));
    long long n = -1;
    bool has_n = s_get_int(content, "n", &n);
    size_t k = 0;
    if (!type)
        return -1;
    if (strcmp(type, "tail") == 0) {
        size_t want = has_n && n >= 0 ? (size_t)n : 10;
        for (size_t i = self->n > want ? self->n - want : 0; i < self->n; i++)
            sel[k++] = i;
    } else if (strcmp(type, "range") == 0) {
        long long session = 0, start = 1, stop = -1;
        s_get_int(content, "session", &session);
        s_get_int(content, "start", &start);
        bool has_stop = s_get_int(content, "stop", &stop);
        if (session != 0 && session != HISTORY_SESSION)
            return 0;
        for (size_t i = 0; i < self->n; i++) {
            int line = self->entries[i].line;
            if (line >= start && (!has_stop || line < stop))
                sel[k++] = i;
        }
    } else if (strcmp(type, "search") == 0) {
        const char *pattern = json_string_value(json_object_get(content, "pattern"));
        bool unique = json_is_true(json_object_get(content, "unique"));
        if (!pattern)
            pattern = "*";
        for (size_t i = self->n; i-- > 0;) { /* newest first, for unique and n */
            if (has_n && n >= 0 && k >= (size_t)n)
                break; /* before the first match too: n = 0 selects none, as in tail */
            if (fnmatch(pattern, self->entries[i].input, 0) != 0)
                continue;
            bool seen = false;
            for (size_t j = 0; unique && j < k && !seen; j++)
                seen = strcmp(self->entries[sel[j]].input, self->entries[i].input) == 0;
            if (seen)
                continue;
            sel[k++] = i;
        }
        for (size_t a = 0, b = k; a + 1 < b; a++, b--) { /* back to oldest first */
            size_t t = sel[a];
            sel[a] = sel[b - 1];
            sel[b - 1] = t;
        }
    } else {
        return -1;
    }
    return (long)k;
}

json_t *history_query(const history_t *self, const json_t *content)
{
    size_t *sel = malloc((self->n ? self->n : 1) * sizeof *sel);
    if (!sel)
        return NULL;
    long k = s_select(self, content, sel);
    if (k < 0) {
        free(sel);
        return json_pack("{s:s, s:s, s:s, s:[], s:[]}", "status", "error", "ename",
                         "BadRequest", "evalue",
                         "hist_access_type must be \"tail\", \"range\" or \"search\"",
                         "traceback", "history");
    }
    bool output = json_is_true(json_object_get(content, "output"));
    json_t *list = json_array();
    for (long i = 0; i < k; i++)
        json_array_append_new(list, s_entry(&self->entries[sel[i]], output));
    free(sel);
    return json_pack("{s:s, s:o}", "status", "ok", "history", list);
}
