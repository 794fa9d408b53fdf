/* cgroup — one interpreter's control group: memory, pids and cpu limits,
 * on cgroup v2 where its controllers are available to us, else on the v1
 * hierarchies (memory, pids, cpu mounted under /sys/fs/cgroup/NAME).
 *
 * Groups are made below the zygote's own group in each hierarchy, so a
 * delegated subtree (systemd, a container) works as well as the root. */
#ifndef SANDCELL_CGROUP_H
#define SANDCELL_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef enum { CGROUP_NONE, CGROUP_V1, CGROUP_V2 } cgroup_mode_t;

typedef struct {
    long memory_mib; /* 0: no limit */
    long pids;       /* 0: no limit */
    double cpus;     /* CPU time per wall-clock second; 0: no limit */
} cgroup_limits_t;

typedef struct {
    cgroup_mode_t mode;
    char paths[3][512]; /* v1: memory, pids, cpu; v2: paths[0] only */
    int npaths;
} cgroup_t;

/* Which mode this machine gives us, writing a reason into |why| when it is
 * CGROUP_NONE. */
cgroup_mode_t cgroup_detect(char *why, size_t why_len);

/* Creates the group |name| with |limits|. Returns 0, or -errno with the
 * failing file in |why|; on failure nothing is left behind. */
int cgroup_create(cgroup_t *cg, const char *name, const cgroup_limits_t *limits, char *why,
                  size_t why_len);

/* Sets the limits of an existing group to |limits| (0: no limit). Returns
 * 0, or -errno with the failing file in |why|. */
int cgroup_set_limits(const cgroup_t *cg, const cgroup_limits_t *limits, char *why,
                      size_t why_len);

/* Moves |pid| into the group. Returns 0 or -errno. */
int cgroup_attach(const cgroup_t *cg, pid_t pid, char *why, size_t why_len);

/* True if the kernel OOM-killed a process of the group. */
bool cgroup_oom_killed(const cgroup_t *cg);

/* Peak memory use in bytes, or -1 if unknown. */
long long cgroup_peak_memory(const cgroup_t *cg);

/* Removes the groups "sandcell-PID-N" left behind by zygotes that no
 * longer run (a daemon killed outright cannot clean up). Returns how many
 * were removed. */
int cgroup_sweep_stale(void);

/* Kills whatever is left in the group and removes it. Returns 0 or -errno. */
int cgroup_destroy(cgroup_t *cg);

#endif
