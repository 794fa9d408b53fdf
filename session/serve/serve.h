/* serve — the daemon: one process, many conversations, started over a
 * signed control endpoint (docs/internals.md, "The daemon"). */
#ifndef SANDCELL_SERVE_H
#define SANDCELL_SERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "sandbox_limits.h"

/* What `sandcell serve` was asked for; strings are borrowed. */
typedef struct {
    const char *control;      /* control endpoint, tcp://IP:PORT, or NULL: loopback */
    const char *runtime_file; /* or NULL: runtime_file_path's default */
    const char *journal_dir;  /* or NULL: the default folder */
    bool no_journal;
    const char *preload;      /* modules the zygote imports */
    bool preload_given;       /* named by the user: a missing one is an error */
    bool mock_interpreter;
    bool verbose;
    long pool;                /* interpreters kept ready */
    long max_conversations;
    long max_executions;      /* a conversation's default cap; 0: none */
    double idle_timeout_s;    /* 0: none */
    double lifetime_s;        /* 0: none */
    long journal_retention_days; /* journals unchanged this long are removed; 0: kept */
    long journal_max_mib;        /* the journal folder's cap, oldest removed first; 0: none */
    sandbox_limits_t limits;  /* every conversation's defaults */
    /* The HTTP front door (docs/http.md): off unless |http| is given. */
    const char *http;            /* --http [ADDR:]PORT, or NULL */
    const char *http_token;      /* --http-token, or NULL */
    const char *http_token_file; /* --http-token-file, or NULL */
    bool no_http_auth;           /* --no-http-auth (loopback only) */
    bool metrics_public;         /* --metrics-public: GET /metrics needs no token */
} serve_options_t;

/* Runs the daemon until SIGTERM, SIGINT or SIGHUP. Returns a process exit
 * status. */
int serve_run(const serve_options_t *opts);

#endif
