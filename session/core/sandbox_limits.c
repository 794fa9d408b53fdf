/* sandbox_limits — parse, default and serialise the sandbox limits. */
#include "sandbox_limits.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cgroup.h"
#include "log.h"
#include "util.h"

void sandbox_limits_default(sandbox_limits_t *out)
{
    *out = (sandbox_limits_t){
        .timeout_s = 30,
        .input_timeout_s = 300,
        .memory_mib = 512,
        .pids = 64,
        .cpus = 1,
        .disk_mib = 100,
        .open_files = 256,
        .max_output_mib = 10,
    };
}

static int s_number(const char *flag, const char *text, double min, double max, double *out,
                    char *why, size_t why_len)
{
    char *end;
    errno = 0;
    double v = text ? strtod(text, &end) : 0;
    if (!text || errno || end == text || *end || v < min || v > max) {
        char lo[32], hi[32];
        snprintf(why, why_len, "%s needs a number between %s and %s", flag,
                 format_number(min, lo, sizeof lo), format_number(max, hi, sizeof hi));
        return -1;
    }
    *out = v;
    return 0;
}

int sandbox_limits_parse_flag(sandbox_limits_t *limits, int argc, char **argv, int *i, char *why,
                      size_t why_len)
{
    static const struct {
        const char *flag;
        double min, max;
        bool integer;
    } numeric[] = {
        {"--timeout", 0, 86400, false},   {"--memory", 16, 1 << 20, true},
        {"--pids", 4, 1 << 16, true},     {"--cpus", 0.01, 1024, false},
        {"--disk", 1, 1 << 20, true},     {"--open-files", 16, 1 << 20, true},
        {"--max-output", 0, 1 << 12, true}, {"--input-timeout", 0, 86400, false},
    };
    const char *flag = argv[*i];
    if (strcmp(flag, "--no-jail") == 0) {
        limits->no_jail = true;
        return 1;
    }
    if (strcmp(flag, "--no-cgroups") == 0) {
        limits->no_cgroups = true;
        return 1;
    }
    const char *value = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (strcmp(flag, "--data") == 0) {
        if (!value || !value[0]) {
            snprintf(why, why_len, "--data needs a directory");
            return -1;
        }
        limits->data_dir = value;
        (*i)++;
        return 1;
    }
    for (size_t k = 0; k < sizeof numeric / sizeof *numeric; k++) {
        if (strcmp(flag, numeric[k].flag) != 0)
            continue;
        double v;
        if (s_number(flag, value, numeric[k].min, numeric[k].max, &v, why, why_len) < 0)
            return -1;
        if (numeric[k].integer && v != (double)(long)v) {
            snprintf(why, why_len, "%s needs a whole number", flag);
            return -1;
        }
        switch (k) {
        case 0: limits->timeout_s = v; break;
        case 1: limits->memory_mib = (long)v; break;
        case 2: limits->pids = (long)v; break;
        case 3: limits->cpus = v; break;
        case 4: limits->disk_mib = (long)v; break;
        case 5: limits->open_files = (long)v; break;
        case 6: limits->max_output_mib = (long)v; break;
        default: limits->input_timeout_s = v; break;
        }
        (*i)++;
        return 1;
    }
    return 0;
}

int sandbox_limits_resolve(sandbox_limits_t *limits, char *storage, size_t storage_len, char *why,
                   size_t why_len)
{
    if (!limits->data_dir)
        return 0;
    char resolved[PATH_MAX];
    struct stat st;
    if (!realpath(limits->data_dir, resolved) || stat(resolved, &st) < 0 ||
        !S_ISDIR(st.st_mode)) {
        snprintf(why, why_len, "--data %s: not a directory", limits->data_dir);
        return -1;
    }
    if (strlen(resolved) >= storage_len || strlen(resolved) >= 512) {
        snprintf(why, why_len, "--data %s: path too long", limits->data_dir);
        return -1;
    }
    memcpy(storage, resolved, strlen(resolved) + 1);
    limits->data_dir = storage;
    return 0;
}

json_t *sandbox_limits_to_jail_json(const sandbox_limits_t *limits)
{
    return json_pack("{s:b, s:b, s:I, s:I, s:f, s:I, s:I, s:s, s:s}", "enabled", !limits->no_jail,
                     "require_cgroups", !limits->no_cgroups, "memory_mib",
                     (json_int_t)limits->memory_mib, "pids", (json_int_t)limits->pids, "cpus",
                     limits->cpus, "disk_mib", (json_int_t)limits->disk_mib, "open_files",
                     (json_int_t)limits->open_files, "data_dir",
                     limits->data_dir ? limits->data_dir : "", "work_dir",
                     limits->work_dir ? limits->work_dir : "");
}

int sandbox_limits_check_cgroups(const sandbox_limits_t *limits, bool full, char *why,
                                 size_t why_len)
{
    if (limits->no_jail || limits->no_cgroups)
        return 0;
    char reason[1024];
    if (full ? cgroup_probe(reason, sizeof reason) == 0
             : cgroup_detect(reason, sizeof reason) != CGROUP_NONE)
        return 0;
    snprintf(why, why_len,
             "the jail's cgroups cannot be made, so no cell could run: %s. Either delegate a "
             "cgroup subtree to this user (cgroup v2: the memory and pids controllers, e.g. "
             "systemd-run --user -p Delegate=yes; cgroup v1: a group in the memory, pids and "
             "cpu hierarchies owned by this user, with sandcell started in it), or run with "
             "--no-cgroups (UNSAFE: then only rlimits bound each process's memory and the "
             "number of processes, and cpu is not limited)",
             reason);
    return -1;
}

int sandbox_limits_check_start(const sandbox_limits_t *limits, const char *no_jail_risk,
                               char *why, size_t why_len)
{
    if (limits->no_jail)
        log_warn("UNSAFE: --no-jail: %s", no_jail_risk);
    else if (limits->no_cgroups)
        log_warn("UNSAFE: --no-cgroups: no memory, pids or cpu limits beyond rlimits");
    return sandbox_limits_check_cgroups(limits, true, why, why_len);
}
