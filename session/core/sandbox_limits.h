/* sandbox_limits — the sandbox limits of a conversation, as flags and as the JSON
 * the zygote's jail reads (kernel/jail.h, jail_config_from_json).
 *
 * Every limit has a documented default; --no-jail and --no-cgroups are the
 * explicit, loudly logged ways to run without a layer. */
#ifndef SANDCELL_SANDBOX_LIMITS_H
#define SANDCELL_SANDBOX_LIMITS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    double timeout_s;    /* wall clock per request, from when it is forwarded; 0: none */
    double input_timeout_s; /* wall clock a cell may wait for an input_reply; 0: none */
    long memory_mib;     /* cgroup memory (and swap) */
    long pids;           /* processes and threads */
    double cpus;         /* CPU time per wall-clock second */
    long disk_mib;       /* /workspace and /tmp, each */
    long open_files;     /* RLIMIT_NOFILE */
    long max_output_mib; /* output bytes per execution */
    const char *data_dir; /* host folder mounted read-only at /data, or NULL */
    const char *work_dir; /* host folder /workspace starts with (read-only to the host:
                           * writes stay in the jail), or NULL for an empty one */
    bool no_jail;
    bool no_cgroups;
} sandbox_limits_t;

#define LIMITS_HELP                                                                      \
    "    --timeout S        wall-clock limit per cell, seconds (default 30; 0: none)\n"    \
    "    --input-timeout S  how long input() waits for the client (default 300; 0: none)\n" \
    "    --memory MIB       memory limit of the interpreter, swap included (default 512)\n" \
    "    --pids N           processes and threads (default 64)\n"                          \
    "    --cpus N           CPU time per second of wall clock (default 1)\n"               \
    "    --disk MIB         size of /workspace, and of /tmp (default 100)\n"               \
    "    --open-files N     open file descriptors (default 256)\n"                         \
    "    --max-output MIB   output of one cell; the rest is dropped (default 10)\n"        \
    "    --data DIR         mount DIR read-only at /data\n"                                \
    "    --no-cgroups       UNSAFE: run without memory, pids and cpu cgroup limits\n"      \
    "    --no-jail          UNSAFE: run interpreters with no sandbox at all\n"

void sandbox_limits_default(sandbox_limits_t *out);

/* If argv[*i] is a limits flag, consumes it (and its value), advancing *i
 * past it, and returns 1; returns 0 if it is not one; -1 with |why| for a
 * bad value. */
int sandbox_limits_parse_flag(sandbox_limits_t *limits, int argc, char **argv, int *i, char *why,
                      size_t why_len);

/* The jail options for the zygote. New reference; NULL on allocation
 * failure. |data_dir| must already be absolute (see sandbox_limits_resolve). */
json_t *sandbox_limits_to_jail_json(const sandbox_limits_t *limits);

/* Checks what can only be checked at start (the data folder exists) and
 * makes paths absolute; |storage| holds the resolved path. Returns 0 or -1. */
int sandbox_limits_resolve(sandbox_limits_t *limits, char *storage, size_t storage_len, char *why,
                   size_t why_len);

/* Checks that the jail can have its cgroups, unless --no-jail or
 * --no-cgroups: with |full|, makes and removes a throwaway group
 * (cgroup_probe, about 2 ms on v1); else only that our groups are there
 * and writable (cgroup_detect, microseconds: for every start). Returns 0,
 * or -1 with |why| naming what failed and both fixes (delegation, or
 * --no-cgroups). */
int sandbox_limits_check_cgroups(const sandbox_limits_t *limits, bool full, char *why,
                                 size_t why_len);

/* What a command that runs interpreters does once, before it starts
 * them: logs that a layer is off ("UNSAFE: --no-jail: " then |no_jail_risk|,
 * what that command's code then reaches; or the --no-cgroups warning),
 * then checks the cgroups fully (sandbox_limits_check_cgroups). Returns 0,
 * or -1 with |why|. */
int sandbox_limits_check_start(const sandbox_limits_t *limits, const char *no_jail_risk,
                               char *why, size_t why_len);

#endif
