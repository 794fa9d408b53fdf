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
/* Who the jail's user is outside it when the zygote runs as root. */
#define JAIL_OUTER_NOBODY 65534
#define JAIL_GID 1000
#define JAIL_WORKSPACE "/workspace"
/* The process name (comm) of a spare until it becomes an interpreter. */
#define JAIL_SPARE_NAME "sandcell-spare"
/* Exit status of a child whose jail could not be completed. */
#define JAIL_EXIT_FAILED 75

typedef struct {
    bool enabled;          /* false only with --no-jail */
    bool require_cgroups;  /* false only with --no-cgroups */
    cgroup_limits_t limits;
    long disk_mib;         /* size of /workspace and of /tmp */
    long open_files;
    char data_dir[512];    /* mounted read-only at /data; "" for none */
    char work_dir[512];    /* the files /workspace starts with, under an overlay whose
                            * writes stay in the jail; "" for an empty /workspace */
} jail_config_t;

/* The state the zygote keeps for one jailed child. */
typedef struct {
    pid_t pid;
    cgroup_t cgroup;
    bool oom_killed;
    long long peak_memory; /* bytes, -1 if unknown */
} jail_t;

/* A child made ahead of its request (by the zygote, while it is idle):
 * cloned into its namespaces with its id maps written, it moves itself
 * into its cgroup, applies every layer of the jail but the rlimits and
 * the descriptors, says it is ready and waits on |go_fd| for its request's
 * configuration and channel. Cloning, the cgroup v1 attach (which waits
 * for an RCU grace period, often 10 ms and more; the spare waits, not the
 * zygote) and the layers are then off the path of the request. */
typedef struct {
    jail_t jail;
    int go_fd;            /* the zygote's end; -1: no spare */
    bool ready;           /* it said "r": jailed and waiting */
    jail_config_t shape;  /* what it was made for (its cgroup has these limits) */
} jail_spare_t;

/* The whole environment of a jailed interpreter (NULL-terminated). */
extern const char *const jail_environment[];

/* Reads a config from its JSON form (borrowed); missing keys keep the
 * defaults of jail_config_default(). Returns 0, or -1 with |why|. */
int jail_config_from_json(const json_t *obj, jail_config_t *out, char *why, size_t why_len);
void jail_config_default(jail_config_t *out);

/* In the zygote, once: compiles what every child would otherwise build for
 * itself (the seccomp program). A child whose parent did not, or could
 * not, compiles it in jail_enter() and fails there if it cannot. Returns 0
 * or -errno with |why|. */
int jail_prepare(char *why, size_t why_len);

/* In the zygote: creates the interpreter process, inside its namespaces
 * and cgroup. Returns the child's pid in the parent (filling |jail|) and 0
 * in the child, which must then call jail_enter(); -errno on failure with
 * |why| set. */
pid_t jail_spawn(const jail_config_t *config, const char *name, jail_t *jail, char *why,
                 size_t why_len);

/* In the zygote: an empty spare. */
void jail_spare_init(jail_spare_t *spare);
/* There is a spare (ready or still jailing itself). */
bool jail_spare_exists(const jail_spare_t *spare);
/* There is a spare and it is ready. */
bool jail_spare_ready(const jail_spare_t *spare);

/* True if there is a spare that can become an interpreter with |config|:
 * the same jail (jailed, cgroups wanted or not, disk size, data folder);
 * only the cgroup limits may differ, and are rewritten. */
bool jail_spare_fits(const jail_spare_t *spare, const jail_config_t *config);

/* In the zygote: makes a spare shaped like |shape| (jailed), not yet ready
 * (see jail_spare_check). Returns its pid in the parent; -errno with |why|
 * on failure (nothing left behind). In the
 * child it returns 0 only once jail_spare_start() has sent the request's
 * config (into |config_out|) and channel (|fd_out|, owned by the child);
 * the child must then call jail_enter(). */
pid_t jail_spare_make(const jail_config_t *shape, const char *name, jail_spare_t *spare,
                      jail_config_t *config_out, int *fd_out, char *why, size_t why_len);

/* In the zygote: waits up to |timeout_ms| (0: not at all, -1: for ever)
 * for the spare to say it is ready. Returns 1 if it is, 0 if not yet, -1
 * if there is none or it failed (it is then discarded). */
int jail_spare_check(jail_spare_t *spare, int timeout_ms);

/* In the zygote, for a ready spare: sets its cgroup to |config|'s limits if they
 * differ, then sends it |config| and a copy of |fd| (not taken). Fills
 * |jail| and empties |spare|. Returns the pid, or -errno with |why|, the
 * spare then discarded. */
pid_t jail_spare_start(jail_spare_t *spare, const jail_config_t *config, int fd, jail_t *jail,
                       char *why, size_t why_len);

/* In the zygote: kills and reaps the spare and removes its cgroup. */
void jail_spare_discard(jail_spare_t *spare);

/* In the zygote, when the spare's pid was reaped: forgets it and removes
 * its cgroup. */
void jail_spare_lost(jail_spare_t *spare);

/* In the child: applies every remaining layer. Keeps only |keep_fd| open.
 * Never returns on failure: reports through |keep_fd| and exits with
 * JAIL_EXIT_FAILED. */
void jail_enter(const jail_config_t *config, int keep_fd);

/* In the zygote, after the child was reaped: records OOM and peak memory,
 * then removes its cgroup. */
void jail_release(jail_t *jail);

#endif
