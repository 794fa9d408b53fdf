/* cli — the command line of the sandcell binary, parsed into options.
 * Parsing is separate from running so it can be tested on its own. */
#ifndef SANDCELL_CLI_H
#define SANDCELL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "sandbox_limits.h"

typedef enum {
    CMD_HELP,
    CMD_VERSION,
    CMD_INSTALL,
    CMD_KERNEL,
    CMD_DOCTOR,
} cli_command_t;

typedef enum {
    INSTALL_SYSTEM, /* /usr/local/share/jupyter/kernels */
    INSTALL_USER,   /* $XDG_DATA_HOME/jupyter/kernels */
    INSTALL_PREFIX, /* PREFIX/share/jupyter/kernels */
} install_scope_t;

typedef struct {
    cli_command_t command;
    const char *help_topic; /* CMD_HELP: the command asked about, or NULL */
    /* install */
    install_scope_t scope;
    const char *prefix;
    /* kernel */
    const char *connection_file;
    const char *preload;
    bool mock_interpreter;
    bool verbose;
    sandbox_limits_t limits;
} cli_options_t;

#define CLI_DEFAULT_PRELOAD "pandas,numpy,matplotlib"

/* Parses |argv| (argv[0] is the program). Returns 0, or -1 with a one-line
 * reason in |why|. Strings in |out| point into |argv|. */
int cli_parse(int argc, char **argv, cli_options_t *out, char *why, size_t why_len);

/* Prints the usage of |topic| (a command name, or NULL for all). */
void cli_usage(FILE *out, const char *topic);

#endif
