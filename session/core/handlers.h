/* handlers — the table of request handlers, one per msg_type (handlers.c).
 * The conversation's router (conversation_requests.c) owns the dispatch:
 * it looks a handler up here and publishes busy and idle around it; the
 * handlers call back only through conversation_internal.h, never into the
 * router, so the dependency runs one way. */
#ifndef SANDCELL_HANDLERS_H
#define SANDCELL_HANDLERS_H

#include <stdbool.h>

struct conversation;
struct request;

typedef enum {
    HANDLER_DONE,      /* the reply is sent */
    HANDLER_FORWARDED, /* the interpreter will reply */
} handler_result_t;

typedef handler_result_t (*handler_fn)(struct conversation *c, struct request *req);

typedef struct {
    const char *msg_type;
    handler_fn fn;
    bool needs_interpreter;
} handler_t;

/* The handler for |msg_type|, or the handler for unknown requests.
 * Returns NULL for unknown types that are not requests (dropped). */
const handler_t *handlers_lookup(const char *msg_type);

/* The handler that answers |msg_type| while the interpreter is still
 * starting, instead of waiting for it, or NULL (the request waits). */
const handler_t *handlers_while_starting(const char *msg_type);

#endif
