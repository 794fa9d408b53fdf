/* bench_kernel — one kernel under test, started the way a Jupyter frontend
 * starts it, and the client end of its sockets.
 *
 * A kernel gets a private temp dir holding its connection file (fresh
 * loopback ports, random key) and its log (the kernel's stdout and stderr);
 * it runs as its own process group, in that dir, and dies with the
 * benchmark (PR_SET_PDEATHSIG). The client holds DEALER sockets on shell
 * and control and a SUB socket subscribed to everything on iopub, and
 * speaks the wire format through protocol/ (every message it receives is
 * verified and decoded, as a real frontend does).
 *
 * Errors: functions return 0 or -1; on -1 the first reason is kept in
 * k->failure and every later call leaves it alone. bench_kernel_stop() runs
 * on every path and leaves no process, socket or file behind.
 *
 * Interrupts: bench_install_signals() makes SIGINT, SIGTERM and SIGHUP set
 * a flag (no SA_RESTART, so waits return); every wait here checks it and
 * fails with "interrupted", which sends the caller down its cleanup path. */
#ifndef SANDCELL_BENCH_KERNEL_H
#define SANDCELL_BENCH_KERNEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "bench_stats.h"
#include "connfile.h"
#include "header.h"
#include "signer.h"
#include "wire.h"

typedef enum { BENCH_SANDCELL, BENCH_IPYKERNEL, BENCH_NKINDS } bench_kind_t;

typedef struct {
    bench_kind_t kind;
    const char *name;              /* "sandcell" or "ipykernel" unless the caller
                                      set another; static */
    const char *const *extra_args; /* NULL-terminated arguments appended to
                                      sandcell's command line, or NULL; borrowed,
                                      set before bench_kernel_start() */
    int reconnect_ms;              /* the client sockets' ZMQ_RECONNECT_IVL; 0 for
                                      libzmq's default; set before connecting */
    char dir[64];                  /* the temp dir; "" when there is none */
    char conn_path[96];            /* dir/kernel.json */
    char log_path[96];             /* dir/kernel.log */
    connfile_t conn;               /* owns conn.key */
    pid_t pid;                     /* > 0 while the process group may exist */
    void *shell, *control, *iopub; /* owned ZeroMQ sockets, or NULL */
    signer_t *signer;              /* owned */
    char session[HEADER_ID_LEN + 1];
    double started_us;             /* bench_now_us() at fork */
    double ready_s;                /* fork to ready, set by wait_ready */
    char failure[256];             /* "" while healthy */
} bench_kernel_t;

/* One execute_request and what came back, in bench_now_us() time. */
typedef struct {
    double sent_us;  /* just before the send */
    double reply_us; /* its execute_reply's frames had all arrived */
    double idle_us;  /* its status idle's frames had all arrived; -1 if not waited for */
    char status[16]; /* the reply's status: "ok", "error", "aborted"... */
    char ename[64];  /* the reply's ename; "" when it has none */
} bench_cell_t;

/* CLOCK_MONOTONIC in microseconds. */
double bench_now_us(void);

/* Installs the SIGINT/SIGTERM/SIGHUP flag handler and makes this process a
 * child subreaper, so that a kernel's orphaned descendants are ours to
 * reap. Call once, before starting kernels. */
void bench_install_signals(void);

/* What every benchmark does first: libsodium initialised (said on stderr,
 * "PROG: libsodium failed to initialise", if it cannot be), then
 * bench_install_signals(). Returns 0 or -1. */
int bench_init(const char *prog);

/* True once one of those signals arrived. */
bool bench_interrupted(void);

/* Sleeps |ms| milliseconds; an interrupt (see above) cuts it short, other
 * signals do not. */
void bench_sleep_ms(long ms);

/* Reaps whatever orphans of the kernels were handed to us (we are a
 * subreaper), so none is left as a zombie. Never blocks. */
void bench_reap_orphans(void);

/* Makes a new private directory from |tmpl| (mkdtemp's template, such as
 * "/tmp/sandcell-bench-XXXXXX") and writes its path into |dir| (|len|
 * bytes). Returns 0, or -errno with |dir| set to "". Remove it with
 * bench_rm_tree. */
int bench_tmpdir(char *dir, size_t len, const char *tmpl);

/* Removes |dir| and everything below it, not following symlinks; a
 * missing entry is not an error. Does nothing for "". Returns 0, or -1
 * with errno set. */
int bench_rm_tree(const char *dir);

/* Prints the last |max_bytes| of the log at |path| (none for "") on
 * stderr, framed as "--- end of NAME's log ---" ... "---". */
void bench_print_log_tail(const char *path, const char *name, size_t max_bytes);

/* Picks |n| distinct free TCP ports on 127.0.0.1 (binding port 0 and
 * holding every socket until all are picked, so two kernels started
 * together never share one). Returns 0 or -errno. */
int bench_pick_ports(int *ports, size_t n);

/* Zeroes |k| for a kernel of |kind|. Owns nothing yet. */
void bench_kernel_init(bench_kernel_t *k, bench_kind_t kind);

/* Records a printf-style reason in |failure| (|len| bytes) unless it holds
 * one already: the first reason is the one reported. Always returns -1.
 * Every benchmark's kernels, clients and daemons keep their failure so. */
__attribute__((format(printf, 3, 4))) int bench_fail(char *failure, size_t len, const char *fmt,
                                                     ...);

/* bench_fail on k->failure: bench_kernel_fail(k, fmt, ...). */
#define bench_kernel_fail(k, ...) bench_fail((k)->failure, sizeof (k)->failure, __VA_ARGS__)

/* Creates the temp dir, writes the connection file with |ports| (five,
 * in conn_channel_t order) and a random key, and forks/execs the kernel:
 * |sandcell| (does not take ownership) for BENCH_SANDCELL, Debian's
 * /usr/bin/python3 -m ipykernel_launcher for BENCH_IPYKERNEL. Call before
 * any ZeroMQ context exists: libzmq runs threads and this forks. */
int bench_kernel_start(bench_kernel_t *k, const int *ports, const char *sandcell);

/* A new socket of |type| in |ctx| connected to channel |ch| of |conn|
 * (does not take ownership of either), with no linger, subscribed to
 * everything if it is a SUB, and reconnecting every |reconnect_ms| (0:
 * libzmq's default). The caller closes it. NULL on failure (zmq_errno). */
void *bench_socket(void *ctx, int type, const connfile_t *conn, conn_channel_t ch,
                   int reconnect_ms);

/* Connects the three client sockets in |ctx| (does not take ownership). */
int bench_kernel_connect(bench_kernel_t *k, void *ctx);

/* Sends kernel_info_request on shell every 250 ms until the kernel answers
 * on shell AND its iopub status reaches our SUB socket (a SUB that joins
 * late misses what was published before), up to |timeout_s| after the
 * fork. Fails early if the kernel process exits. */
int bench_kernel_wait_ready(bench_kernel_t *k, int timeout_s);

/* Signs and sends a request on |sock| (k->shell or k->control). Does not
 * take ownership of |content|. Writes the new msg_id into |msg_id|
 * (HEADER_ID_LEN + 1 bytes) unless it is NULL. */
int bench_kernel_send(bench_kernel_t *k, void *sock, const char *msg_type,
                      const json_t *content, char *msg_id);

/* Receives one message from |sock| if one is waiting and decodes it into
 * |out|; the caller clears it with wire_msg_clear(). *t_us is when all its
 * frames had arrived, before decoding. Returns 1 with a message, 0 when
 * none was waiting, -1 on error (a message that does not verify or decode
 * is an error: the kernel broke the protocol). */
int bench_kernel_recv(bench_kernel_t *k, void *sock, wire_msg_t *out, double *t_us);

/* A new execute_request content for |code| as a notebook sends it (not
 * silent, stored in history, no user_expressions, no stdin, stop on
 * error). NULL when out of memory. */
json_t *bench_execute_content(const char *code);

/* Sends an execute_request with |content| (borrowed) on shell and waits for
 * its execute_reply and, when |wait_idle|, for its status idle on iopub,
 * up to |timeout_s| after the send; fills |out|. Other messages are
 * drained and dropped: stale replies, outputs, the idle of an earlier cell.
 * Shell is served before iopub, and iopub one message at a time, so
 * decoding an output never delays seeing the reply more than one message's
 * worth. Returns 0 (whatever the reply's status), or -1 with the kernel's
 * failure set (timeout, the kernel process died, protocol error,
 * interrupt). */
int bench_kernel_execute(bench_kernel_t *k, const json_t *content, bool wait_idle,
                         int timeout_s, bench_cell_t *out);

/* Runs |n| cells of |content| (borrowed) with bench_kernel_execute, each
 * waited for to its status idle, up to |timeout_s| each. Unless |reply| and
 * |idle| are NULL (warm-up), pushes each cell's two latencies onto them
 * (microseconds from the send to the execute_reply, and to the status
 * idle). A reply whose status is not "ok" is counted in *errors, or, when
 * |errors| is NULL, fails the kernel ("the cell failed: ENAME"). Returns
 * 0, or -1 with the kernel's failure set. */
int bench_kernel_run_cells(bench_kernel_t *k, const json_t *content, long n, int timeout_s,
                           bench_samples_t *reply, bench_samples_t *idle, unsigned *errors);

/* The round trips of `1+1` measured on one kernel (rtt, jail). */
typedef struct {
    bench_samples_t reply, idle; /* microseconds from the send, in the order measured */
    unsigned errors;             /* replies whose status was not "ok", warm-up included */
} bench_trips_t;

/* bench_kernel_run_cells into |t|: every reply not "ok" counted in
 * t->errors, the latencies recorded only when |record| (not in warm-up). */
int bench_kernel_trips(bench_kernel_t *k, const json_t *content, long n, int timeout_s,
                       bench_trips_t *t, bool record);

/* Frees the samples of |t| and empties it. */
void bench_trips_free(bench_trips_t *t);

/* Called by bench_kernels_start() for kernel |i| once it is ready. */
typedef void (*bench_warm_fn)(size_t i, void *arg);

/* Starts the |n| kernels |ks| (at most BENCH_NKINDS; ports picked for all
 * at once) with |sandcell| before any ZeroMQ context exists (libzmq runs
 * threads, and starting a kernel forks); then makes the context and, one
 * kernel after the other, connects it, waits up to |ready_timeout_s| for
 * it to be ready ("PROG: NAME ready in S s" on stderr) and calls |warm|
 * (unless NULL) with |arg|. A kernel that fails is marked and skipped.
 * Returns the context (the caller's: see bench_kernels_stop), or NULL if
 * there is none, which every kernel's failure then says. */
void *bench_kernels_start(bench_kernel_t *const *ks, size_t n, const char *sandcell,
                          const char *prog, int ready_timeout_s, bench_warm_fn warm, void *arg);

/* The end of a run: says "PROG: NAME: FAILURE" on stderr for each kernel
 * that failed, stops all |n| kernels |ks|, terminates |ctx| (unless NULL)
 * and reaps orphans. Returns the exit status: 130 when interrupted, 1 when
 * a kernel failed, 0 otherwise. */
int bench_kernels_stop(bench_kernel_t *const *ks, size_t n, void *ctx, const char *prog);

/* True if our child |pid| (> 0) has exited; describes how in |how|
 * ("exited with status 1", "was killed by signal 9"). Does not reap it. */
bool bench_pid_exited(pid_t pid, char *how, size_t how_len);

/* bench_pid_exited for the kernel's process; false when it has none. */
bool bench_kernel_exited(const bench_kernel_t *k, char *how, size_t how_len);

/* Stops the kernel whatever state it is in: a shutdown_request on control
 * if it is still running (also after a failure or an interrupt: only a
 * clean shutdown lets sandcell remove its interpreters' cgroups), up to 5 s
 * for it to exit, then SIGKILL to its process group; reaps, closes the sockets, prints the tail of the log if
 * it failed, removes the temp dir, frees what |k| owns. k->failure is kept
 * for the report. Says on stderr what did not go cleanly. Safe on a kernel
 * that never started, and twice. */
void bench_kernel_stop(bench_kernel_t *k);

/* A borrowed string field of |obj|, or "" when absent or not a string. */
const char *bench_str(const json_t *obj, const char *key);

#endif
