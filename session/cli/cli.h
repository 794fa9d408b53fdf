/* cli — the command line of the sandcell binary, parsed into options.
 * Parsing is separate from running so it can be tested on its own. */
#ifndef SANDCELL_CLI_H
#define SANDCELL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "sandbox_limits.h"
#include "mcp_server.h"
#include "serve.h"

typedef enum {
    CMD_HELP,
    CMD_VERSION,
    CMD_INSTALL,
    CMD_KERNEL,
    CMD_DOCTOR,
    CMD_SERVE,
    CMD_MCP,
    CMD_CLIENT, /* start, ls, stop, exec, put, get: client_cmd_run parses them */
    CMD_EXPORT,
    CMD_REPLAY,
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
    bool preload_given;       /* --preload was on the command line */
    bool mock_interpreter;
    const char *workspace_from; /* kernel --workspace-from DIR, or NULL: its working folder */
    bool empty_workspace;       /* kernel --empty-workspace */
    bool verbose;
    long max_executions; /* 0: no cap */
    const char *journal_dir;  /* --journal-dir, or NULL (serve: the default) */
    bool no_journal;          /* serve, mcp --no-journal */
    const char *restore;      /* mcp --restore JOURNAL, or NULL */
    /* serve */
    const char *control;      /* control endpoint, tcp://IP:PORT */
    const char *http;         /* --http [ADDR:]PORT */
    const char *http_token;   /* --http-token */
    const char *http_token_file; /* --http-token-file */
    bool no_http_auth;        /* --no-http-auth */
    bool metrics_public;      /* --metrics-public */
    const char *runtime_file;
    long pool;
    long max_conversations;
    double idle_timeout_s;    /* 0: none */
    double lifetime_s;        /* 0: none */
    long journal_retention_days; /* journals unchanged this long are removed; 0: kept */
    long journal_max_mib;        /* the journal folder's cap, oldest removed first; 0: none */
    /* export, replay */
    const char *journal;
    const char *output;   /* export -o: a file, or "-" for stdout */
    long until;           /* replay --until N: last execution count to run; -1: all */
    /* client commands: argv from the command name on */
    int client_argc;
    char **client_argv;
    sandbox_limits_t limits;
} cli_options_t;

#define CLI_DEFAULT_PRELOAD "pandas,numpy,matplotlib"
#define CLI_DEFAULT_POOL 2
#define CLI_DEFAULT_MAX_CONVERSATIONS 1000
#define CLI_DEFAULT_SERVE_MAX_EXECUTIONS 1000
#define CLI_DEFAULT_IDLE_TIMEOUT 3600
#define CLI_DEFAULT_LIFETIME 86400

/* Parses |argv| (argv[0] is the program). Returns 0, or -1 with a one-line
 * reason in |why|. Strings in |out| point into |argv|. */
int cli_parse(int argc, char **argv, cli_options_t *out, char *why, size_t why_len);

/* The daemon's options from a parsed `sandcell serve` (strings borrowed
 * from |opts|). */
serve_options_t cli_serve_options(const cli_options_t *opts);

/* The MCP server's options from a parsed `sandcell mcp` (strings
 * borrowed from |opts|). */
mcp_options_t cli_mcp_options(const cli_options_t *opts);

/* Prints the usage of |topic| (a command name, or NULL for all). */
void cli_usage(FILE *out, const char *topic);

#endif
