/* history — the inputs (and text outputs) of a conversation's executions,
 * answering history_request: tail, range and search.
 *
 * Entries are [session, line, input] or, with output, [session, line,
 * [input, output]], as IPython gives them. The session number is always 1:
 * one conversation is one session. */
#ifndef SANDCELL_HISTORY_H
#define SANDCELL_HISTORY_H

#include <jansson.h>

#define HISTORY_SESSION 1

typedef struct history history_t;

/* Caller owns the result; NULL on allocation failure. */
history_t *history_new(void);
void history_destroy(history_t **self_p);

/* Records execution |line|. |output| (the text/plain result, a JSON string,
 * borrowed: it may hold a NUL) may be NULL. Copies |input| and keeps a
 * reference to |output|. Returns 0 or -1. */
int history_add(history_t *self, int line, const char *input, const json_t *output);

/* Answers a history_request |content| (borrowed). Returns the reply
 * content, a new reference; a bad request gives status "error". */
json_t *history_query(const history_t *self, const json_t *content);

#endif
