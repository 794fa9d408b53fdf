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

/* Checks that the jail's groups can be built here: creates a throwaway
 * group below ours (named by cgroup_name "probe"), sets limits in it and
 * removes it. Returns 0, or -errno with what failed in |why|. */
int cgroup_probe(char *why, size_t why_len);

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

/* Writes the name of a group owned by the calling process into |out|:
 * "sandcell-PID-tSTART-SUFFIX", START being the process's start time
 * (clock ticks after boot, from /proc/self/stat), so that a sweep tells a
 * live owner from a process that got its pid later. Returns 0, or -1 if
 * it does not fit or the start time cannot be read. */
int cgroup_name(char *out, size_t len, const char *suffix);

/* Reads the owner out of a group's folder name: "sandcell-PID-tSTART-..."
 * sets *start, the older "sandcell-PID-..." sets it to 0 (unknown).
 * Returns false for a name sandcell did not make. Pure. */
bool cgroup_name_owner(const char *name, int *pid, unsigned long long *start);

/* The start time (field 22) out of the text of a /proc/PID/stat file, or
 * 0 if it cannot be parsed. Pure. */
unsigned long long cgroup_stat_starttime(const char *stat);

/* Called by cgroup_sweep() for each stale group found: its path, and
 * whether it could be removed. */
typedef void (*cgroup_stale_fn)(const char *path, bool removed, void *arg);

/* Removes the groups below ours (in each hierarchy) whose owner no longer
 * runs: a zygote killed outright (its daemon was SIGKILLed) cannot clean
 * up. The owner is gone when its pid does not run, is a zombie, or runs
 * with another start time than the name holds; groups of a live owner
 * (another daemon) are never touched. Calls |fn| (may be NULL) for each.
 * Returns how many were removed. */
int cgroup_sweep(cgroup_stale_fn fn, void *arg);

/* cgroup_sweep(NULL, NULL). */
int cgroup_sweep_stale(void);

/* Kills whatever is left in the group and removes it. Returns 0 or -errno. */
int cgroup_destroy(cgroup_t *cg);

#endif
