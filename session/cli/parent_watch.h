/* parent_watch — notices that the frontend which started a kernel is gone.
 *
 * jupyter_client puts its own pid in JPY_PARENT_PID when it launches a
 * kernel; ipykernel's ParentPollerUnix then exits once its parent changes.
 * Here the parent is watched through a pidfd (readable the moment it
 * exits, so the reactor wakes at once) where the kernel has pidfd_open,
 * else by comparing getppid() with it on every tick. Only the caller's own
 * parent is watched: getppid() is never fooled by a reused pid. */
#ifndef SANDCELL_PARENT_WATCH_H
#define SANDCELL_PARENT_WATCH_H

#include <stdbool.h>
#include <sys/types.h>

/* A value: embed it; {.pidfd = -1} (or parent_watch_stop) watches nothing. */
typedef struct {
    pid_t parent; /* 0: nothing watched */
    int pidfd;    /* -1: polled, or nothing watched */
} parent_watch_t;

/* The pid to watch, from the value of JPY_PARENT_PID (|jpy_parent_pid|,
 * NULL when unset) and getppid() (|ppid|); 0: watch nothing. Nothing is
 * watched without JPY_PARENT_PID (a kernel started by hand stays up, as
 * ipykernel does), when it is not a pid above 1, or when the parent is
 * already init (or outside our pid namespace). When JPY_PARENT_PID names
 * another process than the parent (a wrapper script between frontend and
 * kernel), the parent is watched all the same: it changes once the
 * wrapper is gone, as ipykernel's "reparented to init" check. Pure. */
pid_t parent_watch_target(const char *jpy_parent_pid, pid_t ppid);

/* Starts watching |parent| (> 1), which must be the caller's parent
 * (getppid()). With |use_pidfd| false, or where pidfd_open fails, the
 * watch polls. A parent that died before the call is reported by the
 * first parent_watch_gone(). */
void parent_watch_start(parent_watch_t *self, pid_t parent, bool use_pidfd);

/* Closes the watch's descriptor; nothing is watched after. */
void parent_watch_stop(parent_watch_t *self);

/* A descriptor (owned by the watch) that becomes readable when the parent
 * exits, for the reactor; -1 when the watch polls: then call
 * parent_watch_gone() on the tick. */
int parent_watch_fd(const parent_watch_t *self);

/* The pid watched, or 0. */
pid_t parent_watch_pid(const parent_watch_t *self);

/* True once the parent is gone: its pidfd is readable, or getppid() is no
 * longer it (it died and we were reparented). False when nothing is
 * watched. */
bool parent_watch_gone(const parent_watch_t *self);

#endif
