/* journal_outputs — the outputs of one cell as its journal record will
 * hold them, serialised one by one as they are published.
 *
 * A cell may publish thousands of outputs (megabytes of them, up to its
 * output limit). Serialised all at once when its reply comes, they would
 * hold the manager's one event loop for tens of milliseconds, and every
 * other conversation with it. Each output is serialised instead when it
 * is published (a small piece of work between other events), into one
 * growing text that already starts the record: `{"outputs":[o1,o2,...`;
 * journal_append_outputs ends it with the rest of the record, appended,
 * not copied. */
#ifndef SANDCELL_JOURNAL_OUTPUTS_H
#define SANDCELL_JOURNAL_OUTPUTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* A value: zero it to start; journal_outputs_clear frees it. */
typedef struct {
    char *text;   /* `{"outputs":[` and the outputs so far, comma-separated; NUL-ended */
    size_t len, cap;
    size_t n;     /* outputs added */
    bool failed;  /* out of memory once: the record cannot be written whole */
} journal_outputs_t;

/* Adds the output {"msg_type": |msg_type|, "content": |content|}
 * (borrowed), serialised now. Returns 0, or -1 out of memory (then the
 * outputs are marked failed and further adds are ignored). */
int journal_outputs_add(journal_outputs_t *self, const char *msg_type, const json_t *content);

/* Appends |len| bytes of |text| to the record's text. Returns 0, or -1
 * (marked failed). */
int journal_outputs_append(journal_outputs_t *self, const char *text, size_t len);

/* Frees the text; the outputs are empty again. */
void journal_outputs_clear(journal_outputs_t *self);

#endif
