/* interp — the interface between the interpreter loop and a language
 * implementation.
 *
 * The zygote calls prepare() once; every forked interpreter calls
 * child_init() once, then handle() for each request record. The CPython
 * implementation lives in py_interp.c; mock_interp.c answers without any
 * Python so the session core can be tested on its own. Records are JSON
 * texts (see docs/internals.md, "The channel"). */
#ifndef SANDCELL_INTERP_H
#define SANDCELL_INTERP_H

#include <stddef.h>
#include "channel.h"

typedef struct {
    const char *preload; /* comma-separated module names; may be empty */
} interp_config_t;

typedef struct {
    const char *name;
    /* In the zygote, before any fork. Returns a record (caller frees) to
     * report as the zygote's ready message, or NULL on a fatal error with a
     * reason written to stderr. */
    char *(*prepare)(const interp_config_t *config);
    /* In a fresh child. |chan| is the child's channel, which handle() may
     * use to send events and read input replies; |env| is the environment
     * to install (NULL-terminated "NAME=value"), or NULL to keep it.
     * Returns the "ready" record (caller frees) or NULL on failure. */
    char *(*child_init)(channel_t *chan, const char *const *env);
    /* Handles one request record; returns the reply record (caller frees),
     * never NULL except when out of memory. */
    char *(*handle)(const char *request, size_t len);
} interp_ops_t;

extern const interp_ops_t py_interp_ops;
extern const interp_ops_t mock_interp_ops;

#endif
