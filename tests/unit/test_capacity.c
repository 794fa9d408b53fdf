/* test_capacity — the daemon's budget of sockets and descriptors: the soft
 * RLIMIT_NOFILE is raised no further than needed and never past the hard
 * limit, the number of conversations follows the hard limit, and a start
 * is refused (never attempted) when descriptors run short. The process
 * lowers its own hard limit, so each case that needs a fresh one runs in
 * a child. */
#include <czmq.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capacity.h"
#include "log.h"
#include "procfs.h"
#include "tap.h"

static void s_set_nofile(rlim_t soft, rlim_t hard)
{
    struct rlimit rl = {soft, hard};
    setrlimit(RLIMIT_NOFILE, &rl);
}

static rlim_t s_soft(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

/* Runs |fn| in a child; true if it exited 0. */
static bool s_in_child(int (*fn)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn());
    int status;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
}

/* A low hard limit: fewer conversations than asked, refused past them. */
static int s_low_hard_limit(void)
{
    s_set_nofile(300, 300);
    capacity_t *cap = capacity_new(1000, 2);
    char why[512];
    int bad = 0;
    long max = cap ? capacity_max(cap) : -1;
    bad |= !(max > 3 && max < 20);
    bad |= capacity_nofile(cap) != 300;
    bad |= capacity_begin(cap, (size_t)max, why, sizeof why) != -1;
    bad |= strstr(why, "open-file limit (300)") == NULL;
    bad |= capacity_begin(cap, 0, why, sizeof why) != 0;
    bad |= capacity_end(cap, why, sizeof why) != 0;
    capacity_destroy(&cap);
    bad |= cap != NULL;
    return bad;
}

/* The soft limit is raised to what the conversations need, not further. */
static int s_raise_soft(void)
{
    s_set_nofile(256, 4096);
    capacity_t *cap = capacity_new(50, 0);
    int bad = 0;
    rlim_t soft = s_soft();
    bad |= !(soft > 50 * CAPACITY_FDS_PER_CONVERSATION && soft < 4096);
    bad |= capacity_max(cap) != 50;
    bad |= capacity_nofile(cap) != (long)soft;
    capacity_destroy(&cap);
    return bad;
}

/* Descriptors eaten by something else: refused, then allowed once freed. */
static int s_exhausted(void)
{
    s_set_nofile(400, 400);
    capacity_t *cap = capacity_new(4, 0);
    char why[512];
    int bad = capacity_max(cap) != 4;
    int fds[512], n = 0;
    while (n < 512 && (fds[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        n++;
    bad |= capacity_begin(cap, 0, why, sizeof why) != -1;
    bad |= strstr(why, "out of file descriptors") == NULL;
    /* a start that took the last descriptors is to be undone */
    for (int i = 0; i < 40 && n > 0; i++)
        close(fds[--n]);
    if (capacity_begin(cap, 0, why, sizeof why) == 0) {
        while (n < 512 && (fds[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
            n++;
        bad |= capacity_end(cap, why, sizeof why) != -1;
    } else {
        bad |= 1;
    }
    while (n > 0)
        close(fds[--n]);
    bad |= capacity_begin(cap, 0, why, sizeof why) != 0;
    bad |= capacity_end(cap, why, sizeof why) != 0;
    capacity_destroy(&cap);
    return bad;
}

int main(void)
{
    log_set_level(LEVEL_ERROR);
    CHECK(s_in_child(s_low_hard_limit));
    tap_case("under a hard limit of 300 descriptors, a handful of conversations; one more is "
             "refused naming the limit");

    CHECK(s_in_child(s_raise_soft));
    tap_case("the soft limit is raised as far as 50 conversations need, not to the hard limit");

    CHECK(s_in_child(s_exhausted));
    tap_case("with descriptors eaten elsewhere a start is refused, one that takes the last is "
             "undone, and starts are allowed again once they are freed");

    long before = procfs_count_fds(0);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(before > 2 && fd >= 0 && procfs_count_fds(0) == before + 1);
    CHECK(procfs_count_fds(getpid()) == before + 2); /* its DIR counted too */
    close(fd);
    CHECK(procfs_count_fds(0) == before);
    tap_case("procfs_count_fds counts this process's descriptors, one more when one is opened");

    capacity_t *cap = capacity_new(10, 0);
    char why[512];
    CHECK(cap != NULL);
    CHECK(capacity_begin(cap, 0, why, sizeof why) == 0);
    CHECK(capacity_end(cap, why, sizeof why) == 0);
    capacity_destroy(&cap);
    zsys_shutdown(); /* capacity_new made czmq's context, and its descriptors */
    CHECK(procfs_count_fds(0) == before);
    tap_case("no descriptor left open after capacity_destroy");
    return tap_done();
}
