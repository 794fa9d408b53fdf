/* mcp_server — `sandcell mcp`: the Model Context Protocol over stdio, one
 * MCP session being one conversation run in this process.
 *
 * Newline-delimited JSON-RPC 2.0 on stdin and stdout; stdout carries
 * protocol messages only (logs, and anything a child writes, go to stderr:
 * the protocol's descriptor is a private copy, and descriptor 1 becomes
 * stderr before anything starts). See docs/mcp.md. */
#ifndef SANDCELL_MCP_SERVER_H
#define SANDCELL_MCP_SERVER_H

#include <stdbool.h>

#include "sandbox_limits.h"

typedef struct {
    const char *preload;
    bool preload_given;
    bool mock_interpreter;
    bool verbose;
    long max_executions;     /* 0: no cap */
    const char *journal_dir; /* NULL: the default folder (unless no_journal) */
    bool no_journal;
    const char *restore;     /* a journal whose cells run again first, or NULL */
    sandbox_limits_t limits;
} mcp_options_t;

/* The protocol versions spoken, newest first. */
extern const char *const mcp_protocol_versions[];

/* Runs the server until end of input on stdin (or SIGTERM/SIGHUP).
 * Returns the exit status: 0, 1 (could not start), 2 (bad options). */
int mcp_server_run(const mcp_options_t *opts);

#endif
