/* capacity — the daemon's budget of ZeroMQ sockets and descriptors.
 *
 * The static part: at start, the descriptors already open are counted and
 * the soft RLIMIT_NOFILE is raised so that |wanted| conversations fit at
 * CAPACITY_FDS_PER_CONVERSATION each (never past the hard limit); ZeroMQ's
 * socket limit is set to match. The dynamic part guards against what the
 * estimate cannot know (a client holding many connections): a reserve of
 * RESERVE_FDS descriptors on /dev/null is held between starts. A start
 * must first find as many free besides it; it then releases the reserve,
 * creates the conversation, and takes the reserve back; if it cannot, the
 * process is nearly out of descriptors and the start is undone. The point
 * is to never reach EMFILE inside libzmq, which aborts on it in some
 * paths (a bind resolves its address with getifaddrs(), which needs a
 * socket). A client flooding the daemon with connections in the instant
 * between the check and the start can still win that race. */
#include "capacity.h"
#include "procfs.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

/* Descriptors held back between starts; a start uses about 13. */
#define RESERVE_FDS 32
/* Descriptors for everything that is not a conversation: control clients,
 * file requests, libzmq's threads, the zygote's channel, logs. */
#define HEADROOM_FDS 64
/* ZeroMQ sockets that are not a conversation's (the control socket). */
#define HEADROOM_SOCKETS 16

struct capacity {
    long wanted, max;
    long nofile;
    int reserve[RESERVE_FDS];
    int nreserve;
};

static void s_fill_reserve(capacity_t *self)
{
    while (self->nreserve < RESERVE_FDS) {
        int fd = self->nreserve ? fcntl(self->reserve[0], F_DUPFD_CLOEXEC, 0)
                                : open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return;
        self->reserve[self->nreserve++] = fd;
    }
}

static void s_release_reserve(capacity_t *self)
{
    while (self->nreserve > 0)
        close(self->reserve[--self->nreserve]);
}

capacity_t *capacity_new(long wanted, long pool)
{
    capacity_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->wanted = wanted;
    long open_now = procfs_count_fds(0);
    if (open_now < 0)
        open_now = 32;
    long fixed = open_now + RESERVE_FDS + HEADROOM_FDS + pool;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        rl.rlim_cur = 1024;
        rl.rlim_max = 1024;
    }
    rlim_t need = (rlim_t)(fixed + wanted * CAPACITY_FDS_PER_CONVERSATION);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            log_warn("cannot raise the open-file limit from %llu to %llu: %s",
                     (unsigned long long)old, (unsigned long long)rl.rlim_cur, strerror(errno));
            rl.rlim_cur = old;
        }
    }
    self->nofile = rl.rlim_cur == RLIM_INFINITY ? (long)need : (long)rl.rlim_cur;
    long fit = (self->nofile - fixed) / CAPACITY_FDS_PER_CONVERSATION;
    self->max = fit < 0 ? 0 : fit < wanted ? fit : wanted;
    if (self->max < wanted)
        log_warn("the open-file limit (RLIMIT_NOFILE %ld, hard limit %llu) holds %ld "
                 "conversations, not the %ld of --max-conversations; raise the hard limit "
                 "(ulimit -Hn, LimitNOFILE=) for more",
                 self->nofile, (unsigned long long)rl.rlim_max, self->max, wanted);
    /* czmq's default is 1024 sockets (about 200 conversations); past it,
     * zmq_socket fails and czmq asserts. Sockets are sized from the
     * descriptors, not from the conversations: a stopped conversation's
     * sockets live on until libzmq's reaper has closed them, so a client
     * that stops and starts in a quick loop has more of them open than it
     * has conversations; each holds a descriptor, so the descriptor checks
     * below catch what would run out first. Must precede the first socket. */
    size_t sockets = (size_t)(self->max * CAPACITY_SOCKETS_PER_CONVERSATION + HEADROOM_SOCKETS);
    if (sockets < (size_t)self->nofile)
        sockets = (size_t)self->nofile;
    if (sockets > zsys_socket_limit())
        sockets = zsys_socket_limit();
    zsys_set_max_sockets(sockets);
    s_fill_reserve(self);
    return self;
}

void capacity_destroy(capacity_t **self_p)
{
    capacity_t *self = *self_p;
    if (!self)
        return;
    s_release_reserve(self);
    free(self);
    *self_p = NULL;
}

long capacity_max(const capacity_t *self)
{
    return self->max;
}

long capacity_nofile(const capacity_t *self)
{
    return self->nofile;
}

int capacity_begin(capacity_t *self, size_t active, char *why, size_t why_len)
{
    if ((long)active >= self->max) {
        if (self->max < self->wanted)
            snprintf(why, why_len,
                     "the daemon already runs %zu conversations, as many as its open-file limit "
                     "(%ld) holds; stop one or try again later",
                     active, self->nofile);
        else
            snprintf(why, why_len,
                     "the daemon already runs %zu conversations (--max-conversations %ld); stop "
                     "one or try again later",
                     active, self->wanted);
        return -1;
    }
    s_fill_reserve(self);
    /* Besides the reserve, RESERVE_FDS more must be free: a start releases
     * the reserve, and were nothing else free, libzmq's I/O thread (which
     * retries accept() while connections wait) could take it first. */
    int probe[RESERVE_FDS], n = 0;
    while (self->nreserve == RESERVE_FDS && n < RESERVE_FDS &&
           (probe[n] = fcntl(self->reserve[0], F_DUPFD_CLOEXEC, 0)) >= 0)
        n++;
    for (int i = 0; i < n; i++)
        close(probe[i]);
    if (n < RESERVE_FDS) {
        snprintf(why, why_len,
                 "the daemon is out of file descriptors (open-file limit %ld, %zu conversations "
                 "running); stop one, close idle connections or try again later",
                 self->nofile, active);
        return -1;
    }
    s_release_reserve(self);
    return 0;
}

int capacity_end(capacity_t *self, char *why, size_t why_len)
{
    s_fill_reserve(self);
    if (self->nreserve == RESERVE_FDS)
        return 0;
    snprintf(why, why_len,
             "the daemon ran out of file descriptors while starting the conversation "
             "(open-file limit %ld); stop one, close idle connections or try again later",
             self->nofile);
    return -1;
}
