/* jail — what every interpreter gets before it runs a single cell:
 * user, pid, net, mount, ipc, uts and cgroup namespaces; a minimal root
 * filesystem (pivot_root); cgroup limits; rlimits; no capabilities;
 * no_new_privs; seccomp; a clean environment and no descriptors but its
 * channel.
 *
 * jail_spawn() runs in the zygote and creates the child; jail_enter() runs
 * in the child and either completes every layer or kills the child: a
 * half-applied sandbox never runs user code. The layer that failed is sent
 * to the manager as {"type":"jail_failed","content":{"layer","error"}}. */
#ifndef SANDCELL_JAIL_H
#define SANDCELL_JAIL_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "cgroup.h"

/* The uid and gid the interpreter has inside its user namespace. */
#define JAIL_UID 1000
#define JAIL_GID 1000
#define JAIL_WORKSPACE "/workspace"
/* Exit status of a child whose jail could not be completed. */
#define JAIL_EXIT_FAILED 75

typedef struct {
    bool enabled;          /* false only with --no-jail */
    bool require_cgroups;  /* false only with --no-cgroups */
    cgroup_limits_t limits;
    long disk_mib;         /* size of /workspace and of /tmp */
    long open_files;
    char data_dir[512];    /* mounted read-only at /data; "" for none */
} jail_config_t;

/* The state the zygote keeps for one jailed child. */
typedef struct {
    pid_t pid;
    cgroup_t cgroup;
    bool oom_killed;
    long long peak_memory; /* bytes, -1 if unknown */
} jail_t;

/* The whole environment of a jailed interpreter (NULL-terminated). */
extern const char *const jail_environment[];

/* Reads a config from its JSON form (borrowed); missing keys keep the
 * defaults of jail_config_default(). Returns 0, or -1 with |why|. */
int jail_config_from_json(const json_t *obj, jail_config_t *out, char *why, size_t why_len);
void jail_config_default(jail_config_t *out);

/* In the zygote: creates the interpreter process, inside its namespaces
 * and cgroup. Returns the child's pid in the parent (filling |jail|) and 0
 * in the child, which must then call jail_enter(); -errno on failure with
 * |why| set. */
pid_t jail_spawn(const jail_config_t *config, const char *name, jail_t *jail, char *why,
                 size_t why_len);

/* In the child: applies every remaining layer. Keeps only |keep_fd| open.
 * Never returns on failure: reports through |keep_fd| and exits with
 * JAIL_EXIT_FAILED. */
void jail_enter(const jail_config_t *config, int keep_fd);

/* In the zygote, after the child was reaped: records OOM and peak memory,
 * then removes its cgroup. */
void jail_release(jail_t *jail);

#endif
