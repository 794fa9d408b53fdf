/* serve_cmd — `sandcell serve`: one daemon, many conversations, started
 * over a signed control endpoint. */
#ifndef SANDCELL_SERVE_CMD_H
#define SANDCELL_SERVE_CMD_H

#include "cli.h"

/* Runs the daemon until SIGTERM, SIGINT or SIGHUP. Returns a process exit
 * status. */
int serve_cmd_run(const cli_options_t *opts);

/* Writes the runtime file path to use into |out|: |given|, else
 * $SANDCELL_RUNTIME_FILE, else $XDG_RUNTIME_DIR/sandcell-serve.json, else
 * /tmp/sandcell-UID/serve.json. Returns 0 or -1. */
int serve_runtime_path(const char *given, char *out, size_t len);

#endif
