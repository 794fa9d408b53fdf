/* control_request — the daemon's control requests (start, list, stop,
 * connection, put_file, get_file), parsed and checked before anything acts
 * on them.
 *
 * A pure function of the request's type, content and buffer count: no
 * daemon state, no file, no socket, so the checks can be unit-tested and
 * fuzzed alone. What needs the daemon (does the conversation exist, is the
 * path inside the workspace, may the journal be read) is checked by
 * control.c and workspace.c after this. */
#ifndef SANDCELL_CONTROL_REQUEST_H
#define SANDCELL_CONTROL_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    CONTROL_START,
    CONTROL_LIST,
    CONTROL_STOP,
    CONTROL_CONNECTION,
    CONTROL_PUT_FILE,
    CONTROL_GET_FILE,
    CONTROL_UNKNOWN_REQUEST, /* a *_request the endpoint does not handle */
    CONTROL_NOT_A_REQUEST,   /* any other message type: dropped with a log line */
} control_kind_t;

/* The number fields of start_request, in the order of control_start_keys. */
typedef enum {
    CONTROL_MAX_EXECUTIONS,
    CONTROL_IDLE_TIMEOUT,
    CONTROL_LIFETIME,
    CONTROL_TIMEOUT,
    CONTROL_MEMORY,
    CONTROL_PIDS,
    CONTROL_CPUS,
    CONTROL_DISK,
    CONTROL_OPEN_FILES,
    CONTROL_MAX_OUTPUT,
    CONTROL_INPUT_TIMEOUT,
    CONTROL_NNUMBERS
} control_number_t;

/* A parsed request. Every pointer is borrowed from the content it was
 * parsed from and valid while that content is. */
typedef struct {
    control_kind_t kind;
    const char *id;      /* stop, connection, put_file, get_file: never NULL */
    const char *path;    /* put_file, get_file: as given, or NULL (workspace.c
                            refuses it) */
    const char *restore; /* start: the journal to restore, or NULL */
    bool restore_sent;   /* start: the journal itself is the request's one
                            buffer (sent by the local command line);
                            |restore| only names it */
    bool given[CONTROL_NNUMBERS]; /* start: which numbers the request sets */
    double number[CONTROL_NNUMBERS]; /* start: their values, within bounds */
} control_request_t;

/* The JSON key of a start_request number field, e.g. "idle_timeout". */
const char *control_number_key(control_number_t n);

/* Parses a request of type |msg_type| with |content| (borrowed) and
 * |n_buffers| binary buffers into |out|. Returns 0, or -1 with |ename|
 * (|ename_len| bytes; "BadRequest" or "UnknownConversation") and a reason
 * for the client in |why|. kind is set even on failure, and for
 * CONTROL_UNKNOWN_REQUEST and CONTROL_NOT_A_REQUEST the call fails with a
 * reason naming the type (ename "UnknownMessageType"). Never asserts on
 * its input. */
int control_request_parse(const char *msg_type, const json_t *content, size_t n_buffers,
                          control_request_t *out, char *ename, size_t ename_len, char *why,
                          size_t why_len);

#endif
