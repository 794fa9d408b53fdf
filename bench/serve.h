/* serve — what the files of bench/serve share: the cells and targets, the
 * client, the hub that serves many clients, the daemon, the run's state and
 * each mode's figures.
 *
 * bench/serve is one program in several files, one per part: serve.c (the
 * driver: main, the header and the targets), serve_cli.c (options),
 * serve_client.c (one Jupyter client), serve_hub.c (clients served by one
 * epoll), serve_proc.c (/proc: processes, descriptors, leftovers),
 * serve_daemon.c (`sandcell serve` and its control endpoint),
 * serve_memory.c (PSS), serve_start.c, serve_tput.c (throughput and round
 * trip), serve_neighbour.c (one conversation's round trip while another
 * misbehaves) and serve_density.c, one per mode. Nothing here is used outside
 * bench/serve.
 *
 * Errors: functions return 0 or -1; the reason is kept in the client's,
 * the hub's or the daemon's failure (the first one wins) or printed on
 * stderr where no such place exists. */
#ifndef SANDCELL_BENCH_SERVE_H
#define SANDCELL_BENCH_SERVE_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "bench_kernel.h"
#include "bench_stats.h"
#include "connfile.h"
#include "control_client.h"
#include "header.h"
#include "signer.h"
#include "wire.h"

#define CODE_TRIVIAL "1+1"
#define CODE_IMPORTS "import pandas, numpy, matplotlib"
/* Evaluates to [] when the three are imported (checked once, untimed). */
#define CODE_PRELOADED                                                                     \
    "import sys; [m for m in ('pandas', 'numpy', 'matplotlib') if m not in sys.modules]"
/* A small DataFrame (1000 rows, an int, a float and a string column),
 * looked at the way an agent does. */
#define CODE_FRAME                                                                         \
    "import pandas as pd\n"                                                                \
    "df = pd.DataFrame({'x': range(1000), 'y': [i * 0.5 for i in range(1000)],\n"         \
    "                   's': [f'r{i}' for i in range(1000)]})\n"                           \
    "df.head()"
#define CODE_SWEEP "len(df)"
#define SWEEP_RESULT "1000"

#define TARGET_START_P50_MS 5.0
#define TARGET_START_P99_MS 20.0
#define TARGET_PSS_MIB 5.0
#define TARGET_DENSITY 1000

#define DAEMON_READY_TIMEOUT_S 120
#define IPYKERNEL_START_TIMEOUT_S 120
#define CELL_TIMEOUT_S 60
#define DENSITY_CELL_TIMEOUT_S 600
#define TICK_US 50e3
#define SYNC_RESEND_US 200e3
#define SETTLE_S 2
#define CLIENT_NOFILE 65536
#define MAX_CONSECUTIVE_START_FAILURES 50
#define MAX_DAEMON_ARGS 8

/* ---------------------------------------------------------------- client */

typedef enum { OP_NONE, OP_SYNC, OP_EXEC } op_t;

/* One Jupyter client: shell and iopub of a sandcell conversation or of an
 * ipykernel. */
typedef struct {
    const char *kind;  /* "sandcell" or "ipykernel"; static */
    char id[64];       /* the conversation's id (a UUID); "" for an ipykernel */
    bench_kernel_t *k; /* the ipykernel (process, sockets, key); NULL for sandcell */
    void *shell, *iopub;
    signer_t *signer;
    connfile_t conn;   /* sandcell: owns conn.key */
    char session[HEADER_ID_LEN + 1];
    size_t hub_index;  /* where it sits in its hub; SIZE_MAX when in none */
    /* the request in flight */
    op_t op;
    bool need_idle, replied, idled, kicked;
    char msg_id[HEADER_ID_LEN + 1];
    double sent_us, reply_us, idle_us, resend_us;
    char status[16], ename[64], result[96];
    /* a script of cells run one after the other (setup phases) */
    const char *const *script;
    size_t step;
    long done, bad; /* finished execute requests; those whose reply was not ok */
    char failure[256];
} client_t;

/* ------------------------------------------------------------------- hub */

struct hub;
typedef void (*done_fn)(struct hub *h, client_t *c);

/* Clients served by one epoll over their sockets' ZMQ_FDs. libzmq's ZMQ_FD
 * only says "look at this socket": each socket is drained to EAGAIN when
 * it fires, right after every send (a send may consume the signal), and
 * every 250 ms as a safety net. */
typedef struct hub {
    int epfd;
    client_t **cl;
    size_t n, cap;
    client_t **kicked; /* clients to drain before sleeping */
    size_t nkicked;
    size_t busy;       /* clients with a request in flight */
    done_fn on_done;   /* called when a client's request finishes or fails */
    void *arg;
    double cell_timeout_us;
    pid_t watch;       /* the daemon: its end fails every sandcell client; 0 for none */
    double next_tick_us;
    unsigned ticks;
    char fatal[256];   /* the daemon ended, epoll failed, or interrupted */
} hub_t;

/* ------------------------------------------------------------- processes */

/* A process and its parent, as /proc says. */
typedef struct {
    pid_t pid, ppid;
} proc_t;

typedef struct {
    double pss_kib, rss_kib, uss_kib; /* USS: Private_Clean + Private_Dirty */
    long nproc;
} mem_t;

typedef struct {
    mem_t total, root, children, deeper; /* the daemon: manager, zygote, interpreters */
} tree_mem_t;

/* ---------------------------------------------------------------- daemon */

typedef struct {
    char dir[64], runtime[128], log[128], journals[128];
    pid_t pid;
    pid_t zygote; /* its first child, once known: names the interpreters' cgroups */
    control_client_t *cc;
    long pool, max_conversations;
    const char *extra[MAX_DAEMON_ARGS]; /* more arguments for `sandcell serve` */
    int nextra;
    long nofile; /* the RLIMIT_NOFILE it got */
    double ready_s;
    char ended[64]; /* how it ended by itself, if it did */
    char failure[256];
} daemon_t;

/* ----------------------------------------------------------------- state */

typedef struct {
    const char *sandcell;
    bool run_sc, run_ipk;
    bool m_start, m_rtt, m_memory, m_tput, m_neighbour;
    long rounds, starts, burst, gap_ms;
    long conversations, ipykernels, duration_s, pool;
    long density; /* 0: the normal modes */
    const char *daemon_args[MAX_DAEMON_ARGS];
    int ndaemon_args;
} options_t;

/* Everything the run owns, for the one cleanup path. */
typedef struct {
    options_t o;
    char sandcell[PATH_MAX];
    void *ctx;
    daemon_t d;
    client_t *convs;     /* [nconvs] sandcell conversations kept for a phase */
    size_t nconvs;
    bench_kernel_t *ipks; /* [nipks] ipykernels kept for a phase */
    client_t *ipk_cl;     /* their clients */
    size_t nipks;
    int status;
} run_t;

/* --------------------------------------------------------- modes' figures */

typedef struct {
    bench_samples_t total, control;  /* paced: start_request -> 1+1 reply; -> start_reply */
    bench_samples_t after;           /* paced: start_reply -> 1+1 reply */
    bench_samples_t burst;           /* back to back, the pool drains */
    bench_samples_t ipk;             /* launch -> 1+1 reply */
    bool preload_checked, preloaded;
    char preload_result[96];
    long bad;                  /* 1+1 replies that were not ok */
} start_res_t;

typedef struct {
    tree_mem_t base, loaded;
    long conversations;
    mem_t ipk_alone;
    double ipk_many_pss_kib; /* summed over all the ipykernels */
    long ipk_many;
    long sc_bad, ipk_bad;
    bool have_sc, have_ipk;
} mem_res_t;

typedef struct {
    const char *label;
    client_t **cl;
    size_t n;
    long cells;       /* replies (ok or not) inside the windows */
    long errors;      /* replies not ok, failures */
    double seconds;   /* total window */
    bench_samples_t lat;    /* send -> reply, microseconds */
    long min_cells, max_cells;
} tput_t;

typedef struct {
    tput_t sc_many, sc_few, ipk;
    bool have_sc, have_ipk;
} tput_res_t;

#define RTT_WARMUP 50
#define RTT_ROUNDS 10
#define TARGET_RTT_P50_US 250.0

typedef struct {
    tput_t sc, ipk;
} rtt_res_t;
/* neighbour: what A does while B's round trip is measured; the two sides. */
typedef enum { NB_ALONE, NB_FLOOD, NB_STALL, NB_SLOW, NB_FORGE, NB_NCOND } nb_cond_t;
enum { NB_SANDCELL, NB_IPYKERNEL, NB_NSIDES };
#define NEIGHBOUR_ROUNDS 5
#define NEIGHBOUR_LEAD_MS 300   /* A is under way this long before B's window opens */
#define TARGET_NEIGHBOUR_P99_MS 10.0

typedef struct {
    tput_t b[NB_NSIDES][NB_NCOND]; /* B's cells in each condition */
    long a_cells[NB_NSIDES][NB_NCOND], a_bad[NB_NSIDES][NB_NCOND];
    long a_msgs[NB_NSIDES][NB_NCOND]; /* iopub messages A's client read in B's windows */
    double a_seconds[NB_NSIDES][NB_NCOND];
    double daemon_cpu_s[NB_NCOND]; /* the manager's CPU time in B's windows */
    bool have[NB_NSIDES];
} nb_res_t;

/* The condition's name ("alone", "flood", ...); static. */
const char *serve_nb_cond_name(nb_cond_t cond);

typedef struct {
    long asked, started, refused, holding, answered;
    char first_refusal[300];
    double t_started_s, t_holding_s, t_sweep_s, stop_s;
    tree_mem_t mem;
    long daemon_fds;
    bench_samples_t sweep_lat;
    bool done;
} dens_res_t;


/* ------------------------------------------------------- serve_client.c */

/* Zeroes |c| for a client of |kind| (static string). Owns nothing yet. */
void serve_client_init(client_t *c, const char *kind);

/* Records a printf-style failure unless one is recorded (bench_fail).
 * Returns -1. */
#define serve_client_fail(c, ...) bench_fail((c)->failure, sizeof (c)->failure, __VA_ARGS__)

/* Connects a client to the conversation whose connection dict is
 * |connection| (borrowed): the client owns its sockets, signer and key. */
int serve_client_connect_conv(client_t *c, void *ctx, const json_t *connection);

/* Connects a client to the launched ipykernel |k|: the sockets are made
 * here and owned by |k| (bench_kernel_stop closes them); |c| borrows them. */
int serve_client_connect_kernel(client_t *c, void *ctx, bench_kernel_t *k);

/* Closes what the client owns (an ipykernel's sockets are its kernel's). */
void serve_client_close(client_t *c);

/* Signs and sends a request on shell. Does not take ownership of
 * |content|. Writes the msg_id into |msg_id| unless NULL. */
int serve_client_send(client_t *c, const char *msg_type, const json_t *content, char *msg_id);

/* One message from |sock| if one waits: 1 (in *out, which the caller
 * clears; *t_us when its frames had all arrived, before it was verified),
 * 0 for none, -1 on error. */
int serve_client_recv(client_t *c, void *sock, wire_msg_t *out, double *t_us);

/* Launches one ipykernel into |k| (temp dir, connection file, process)
 * and connects |c| to it with sockets of the ZeroMQ context |ctx|. Stop
 * both with serve_ipk_stop, also on -1. */
int serve_ipk_launch(void *ctx, bench_kernel_t *k, client_t *c);

/* Takes |c| out of |h| (unless NULL), closes it and stops |k|. */
void serve_ipk_stop(hub_t *h, bench_kernel_t *k, client_t *c);

/* ---------------------------------------------------------- serve_hub.c */

/* An empty hub whose requests time out after |cell_timeout_s|. Returns 0
 * or -1; free with serve_hub_free either way. */
int serve_hub_init(hub_t *h, double cell_timeout_s);

/* Frees what the hub owns; its clients stay open and are no longer in it. */
void serve_hub_free(hub_t *h);

/* Adds |c| (not owned; it must outlive its membership). */
int serve_hub_add(hub_t *h, client_t *c);

/* Takes |c| out of the hub, dropping any request in flight. */
void serve_hub_remove(hub_t *h, client_t *c);

/* Sends an execute_request for |code|; done at its reply, and at its idle
 * too when |need_idle|. */
int serve_hub_exec(hub_t *h, client_t *c, const char *code, bool need_idle);

/* Sends kernel_info_request (again every 200 ms) until the kernel has
 * answered on shell AND a status it published about one of them reached
 * our SUB: from then on no iopub message of ours is missed. */
int serve_hub_sync(hub_t *h, client_t *c);

/* One round: waits up to |timeout_ms| for events, handles them. */
void serve_hub_wait(hub_t *h, int timeout_ms);

/* Runs until no request is in flight, |deadline_us| passes or the hub
 * turns fatal. Returns 0 when nothing is left in flight. */
int serve_hub_settle(hub_t *h, double deadline_us);

/* on_done for setup phases: after a sync, or after each cell, the next
 * cell of the client's script. */
void serve_on_script(hub_t *h, client_t *c);

/* --------------------------------------------------------- serve_proc.c */

/* Every process and its parent, from /proc, in *out (caller frees).
 * Returns the number of entries, or -1. */
long serve_proc_list(proc_t **out);

/* CPU seconds |pid| has used, all its threads (/proc/PID/stat), or -1. */
double serve_proc_cpu_s(pid_t pid);

/* The soft RLIMIT_NOFILE of |pid| (from /proc/PID/limits), or -1. */
long serve_proc_nofile(pid_t pid);

/* Gives the interpreters' cgroups of |zygote| up to 10 s to go, then
 * counts (and reports on stderr) what is left. */
int serve_leftover_cgroups(pid_t zygote);

/* Reaps, and reports and kills, whatever process is left parented to us.
 * Returns how many were killed. */
int serve_reap_leftovers(void);

/* ------------------------------------------------------- serve_daemon.c */

/* Raises our RLIMIT_NOFILE as far as allowed (up to |want|), remembering
 * the one we were started with for the daemon. */
void serve_raise_nofile(rlim_t want);

/* Records a printf-style failure unless one is recorded (bench_fail).
 * Returns -1. */
#define serve_daemon_fail(d, ...) bench_fail((d)->failure, sizeof (d)->failure, __VA_ARGS__)

/* Forks |sandcell| serve (does not take ownership of the path) in a temp
 * dir, its own process group, and opens its control endpoint. Call before
 * any ZeroMQ context exists. Stop with serve_daemon_stop, also on -1. */
int serve_daemon_start(daemon_t *d, const char *sandcell);

/* A control request; takes ownership of |content|. Returns a new
 * reference to the reply's content, or NULL with |why|. */
json_t *serve_daemon_call(daemon_t *d, const char *type, json_t *content, char *why,
                          size_t why_len);

/* SIGTERM, up to |grace_s| for a clean exit, then SIGKILL to its group;
 * removes the temp dir. Returns the seconds the clean stop took, or -1. */
double serve_daemon_stop(daemon_t *d, int grace_s);

/* The first conversation waits for the zygote's preload; then the pool
 * gets time to fill. Learns the zygote's pid. */
int serve_daemon_warm(run_t *r);

/* Starts a conversation with |req| (borrowed) and connects |c| to it.
 * *t_reply_us (unless NULL): when the start_reply came. Returns 0, or -1
 * with c->failure; *refused when the daemon said no (an error reply, not
 * a broken daemon). */
int serve_conv_start(run_t *r, client_t *c, const json_t *req, double *t_reply_us,
                     bool *refused);

/* The same, the client's sockets in the ZeroMQ context |ctx|. */
int serve_conv_start_on(run_t *r, void *ctx, client_t *c, const json_t *req,
                        double *t_reply_us, bool *refused);

/* Takes |c| out of |h| (unless NULL), closes it and stops its conversation. */
void serve_conv_stop(run_t *r, hub_t *h, client_t *c);

/* ------------------------------------------------------- serve_memory.c */

/* Makes r->convs room for |n| conversations and |h| a hub for them: cells
 * time out after |cell_timeout_s|, the daemon's end fails them all, and
 * each client runs its script. Returns 0 or -1; free |h| with
 * serve_hub_free either way. */
int serve_frame_hub(run_t *r, hub_t *h, long n, double cell_timeout_s);

/* Adds the started conversation |c| to |h| (made by serve_frame_hub) to
 * make the DataFrame: a sync, then CODE_FRAME, as events come. */
int serve_frame_add(hub_t *h, client_t *c);

/* PSS, RSS and USS summed over |root| and every descendant, by depth. */
int serve_tree_mem(pid_t root, tree_mem_t *out);

/* The memory mode: the daemon's tree at rest and with o.conversations
 * conversations holding a DataFrame (kept in r->convs), o.ipykernels
 * ipykernels (kept in r->ipks). */
int serve_mode_memory(run_t *r, mem_res_t *mem);

/* PSS per conversation, MiB: (loaded - base) / conversations. */
double serve_per_conv_mib(const mem_res_t *m);

/* One line: a tree's PSS, split into manager, zygote and interpreters. */
void serve_print_tree(const char *when, const tree_mem_t *t);

void serve_report_memory(const run_t *r, const mem_res_t *m);

/* -------------------------------------------- one file per mode: the rest */

int serve_mode_start(run_t *r, start_res_t *res);
void serve_report_start(const run_t *r, const start_res_t *res);

/* Throughput over the conversations and ipykernels the memory mode left. */
int serve_mode_tput(run_t *r, tput_res_t *res);

/* |seconds| of back-to-back trivial cells over t->cl (all of one kind), one
 * outstanding each, each done at its reply and its status idle; adds to
 * t's cells, errors, seconds and latencies (send -> reply). The clients
 * are in a hub of their own for the window only. Returns 0 or -1. */
int serve_tput_window(run_t *r, tput_t *t, double seconds);
void serve_report_tput(const run_t *r, const tput_res_t *t);

int serve_mode_rtt(run_t *r, rtt_res_t *res);
void serve_report_rtt(const rtt_res_t *t);

/* The neighbour mode: conversations A and B of one daemon, then two
 * ipykernels A and B; B's `1+1` while A is alone, floods, stalls, reads
 * slowly or forges. */
int serve_mode_neighbour(run_t *r, nb_res_t *res);
void serve_report_neighbour(const run_t *r, const nb_res_t *res);
/* Frees the samples of |res|. */
void serve_neighbour_free(nb_res_t *res);

/* The density mode: o.density conversations, kept in r->convs. */
int serve_mode_density(run_t *r, dens_res_t *res);
void serve_report_density(const run_t *r, const dens_res_t *d);

/* ---------------------------------------------------------- serve_cli.c */

/* Parses the command line into |o| (borrowing argv's strings). Returns 0,
 * 1 after --help (printed), -1 on a usage error (usage on stderr). */
int serve_parse_args(int argc, char **argv, options_t *o);

/* ---------------------------------------------------------------- serve.c */

/* The daemon's --pool as given, or "its default"; a static buffer. */
const char *serve_pool_desc(long pool);

#endif
