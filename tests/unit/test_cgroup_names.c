/* test_cgroup_names — the owner a cgroup folder's name records (pid and
 * start time, or the older pid alone), the start time read out of
 * /proc/PID/stat text (a command name may hold spaces and parentheses),
 * and that cgroup_name() names our own process. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "tap.h"

static void s_owners(void)
{
    static const struct {
        const char *name;
        bool ok;
        int pid;
        unsigned long long start;
    } cases[] = {
        {"sandcell-123-t456-7", true, 123, 456},
        {"sandcell-123-t456-s2", true, 123, 456},
        {"sandcell-123-t456-doctor", true, 123, 456},
        {"sandcell-123-7", true, 123, 0},      /* older name: pid only */
        {"sandcell-123-s2", true, 123, 0},
        {"sandcell-123-tx-1", true, 123, 0},   /* not a start time: pid only */
        {"sandcell-123-t456", true, 123, 0},   /* no suffix after the time */
        {"sandcell-123-", false, 0, 0},
        {"sandcell-123", false, 0, 0},
        {"sandcell--1", false, 0, 0},
        {"sandcell-0-1", false, 0, 0},
        {"sandcell-99999999-1", false, 0, 0},  /* above PID_MAX_LIMIT */
        {"sandcell-doctor-123", false, 0, 0},
        {"sandcell-cleanup-canary", false, 0, 0},
        {"other-123-1", false, 0, 0},
        {"", false, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int pid = -1;
        unsigned long long start = 99;
        bool ok = cgroup_name_owner(cases[i].name, &pid, &start);
        bool right = ok == cases[i].ok &&
                     (!ok || (pid == cases[i].pid && start == cases[i].start));
        if (!CHECK(right))
            tap_diag("%s: ok %d pid %d start %llu", cases[i].name, ok, pid, start);
    }
    tap_case("cgroup_name_owner reads pid and start time, or the older pid alone");
}

static void s_starttimes(void)
{
    CHECK(cgroup_stat_starttime("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 "
                                "4242 100 200") == 4242);
    CHECK(cgroup_stat_starttime("7 (a) b (c) ) R 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 "
                                "0 99 100") == 99);
    CHECK(cgroup_stat_starttime("7 (short) R 0 1") == 0);
    CHECK(cgroup_stat_starttime("no parenthesis") == 0);
    CHECK(cgroup_stat_starttime("") == 0);
    tap_case("cgroup_stat_starttime counts fields from the last ')'");
}

static void s_own_name(void)
{
    char name[64], tiny[8];
    CHECK_INT(cgroup_name(name, sizeof name, "s3"), 0);
    int pid = 0;
    unsigned long long start = 0;
    CHECK(cgroup_name_owner(name, &pid, &start));
    CHECK_INT(pid, (int)getpid());
    CHECK(start > 0);
    CHECK(strcmp(name + strlen(name) - 3, "-s3") == 0);
    CHECK_INT(cgroup_name(tiny, sizeof tiny, "s3"), -1);
    tap_case("cgroup_name names the calling process with its start time");
}

int main(void)
{
    s_owners();
    s_starttimes();
    s_own_name();
    return tap_done();
}
