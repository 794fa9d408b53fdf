/* msgtype — the table of Jupyter message types sandcell accepts: which
 * channel each may arrive on and what its reply is called. */
#ifndef SANDCELL_MSGTYPE_H
#define SANDCELL_MSGTYPE_H

#include <stddef.h>

typedef enum {
    MSG_ON_SHELL = 1 << 0,
    MSG_ON_CONTROL = 1 << 1,
    MSG_ON_STDIN = 1 << 2,
} msg_channels_t;

typedef struct {
    const char *name;  /* e.g. "execute_request" */
    const char *reply; /* e.g. "execute_reply"; NULL if none (comm_msg) */
    unsigned channels; /* msg_channels_t bits */
} msgtype_t;

/* Returns the entry for |name|, or NULL for an unknown type. Static. */
const msgtype_t *msgtype_lookup(const char *name);

/* Writes the reply name of a "*_request" into |out|: "foo_request" gives
 * "foo_reply". Returns 0, or -1 if |name| is not a request or |out| is too
 * small. Works for unknown types too, so they can be answered. */
int msgtype_reply_name(const char *name, char *out, size_t out_len);

#endif
