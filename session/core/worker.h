/* worker — the manager's view of one interpreter process: its channel, its
 * pid (learned from the zygote), its state, and how it ended.
 *
 * An interpreter is gone when its channel reaches end of stream AND the
 * zygote has reported its exit status (or a grace period has passed):
 * only then can the manager say how it died. */
#ifndef SANDCELL_WORKER_H
#define SANDCELL_WORKER_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "channel.h"
#include "interp_record.h"
#include "zygote_client.h"

typedef enum {
    WORKER_STARTING, /* spawned, no ready record yet */
    WORKER_IDLE,     /* waiting for a request */
    WORKER_BUSY,     /* handling a request */
    WORKER_DYING,    /* channel closed or killed; waiting for the exit status */
    WORKER_DEAD,
} worker_state_t;

typedef struct worker {
    int spawn_id;
    pid_t pid;          /* 0 until the zygote reports it */
    channel_t *chan;    /* NULL once closed */
    worker_state_t state;
    json_t *ready;      /* the ready record's content; owned */
    json_t *preload;    /* {module: version} from the ready record; owned, or NULL */
    double cpu_s;       /* CPU seconds it had used at its last record with usage */
    bool exited;        /* the exit status below is known */
    bool oom_killed;    /* by the kernel, for the cgroup's memory limit */
    int exit_code;      /* -1 if killed by a signal */
    int exit_signal;    /* 0 if it exited */
    long long dying_since_ms;
    bool frozen;        /* its process group is stopped (worker_freeze) */
} worker_t;

/* Asks the zygote for a new interpreter jailed with |jail| (borrowed).
 * Caller owns the result (free with worker_destroy); NULL with -errno in
 * *err. */
worker_t *worker_spawn(zygote_client_t *zygote, const json_t *jail, int *err);

/* Kills the interpreter and its process group if still alive, closes the
 * channel and frees. Sets *self_p to NULL. */
void worker_destroy(worker_t **self_p);

/* Queues one request record (borrowed) on the channel and writes what the
 * socket takes, never waiting for the interpreter to read; the rest goes
 * out with worker_flush. Returns 0, or -errno: -ENOBUFS when the
 * interpreter has left CHANNEL_MAX_PENDING bytes unread, -EPIPE when its
 * channel is closed. */
int worker_send(worker_t *self, json_t *request);

/* Writes more of what worker_send queued, without blocking. Returns 0 or
 * -errno (the interpreter is gone). */
int worker_flush(worker_t *self);

/* Bytes queued for the interpreter and not yet written. */
size_t worker_pending(const worker_t *self);

/* Delivers SIGINT to the interpreter. Returns 0 or -errno. */
int worker_interrupt(worker_t *self);

/* Stops the interpreter's whole process group (SIGSTOP): nothing of it
 * runs until worker_thaw. Asked before the pid is known, the stop is
 * applied by worker_set_pid. Every process of a jail is in that group:
 * setsid and setpgid fail there (kernel/seccomp_filter.c). */
void worker_freeze(worker_t *self);

/* Continues the process group stopped by worker_freeze (SIGCONT). */
void worker_thaw(worker_t *self);

/* Records the pid the zygote reported; applies a freeze asked before. */
void worker_set_pid(worker_t *self, pid_t pid);

/* Marks the channel closed and kills the process group; the worker waits in
 * WORKER_DYING for its exit status. */
void worker_mark_dying(worker_t *self, long long now_ms);

/* Takes the ready record |record| (borrowed): keeps its content, the
 * preloaded modules' versions and the CPU time used so far, and makes the
 * worker idle. Returns false (and changes nothing) if it is malformed or
 * the worker was ready already. */
bool worker_set_ready(worker_t *self, const json_t *record);

/* Reads the "usage" of a reply |record| (borrowed): the CPU seconds the
 * request used, since the previous record with usage, into *cpu_s, and the
 * interpreter's peak memory in bytes into *peak. Returns false, with both
 * at -1, if the record has no usable figures. */
bool worker_take_usage(worker_t *self, const json_t *record, double *cpu_s, long long *peak);

/* A parsed record costs the manager about a hundred bytes per JSON value
 * whatever its size in the text, so an interpreter could turn a few MiB of
 * "0," into gigabytes of the manager's memory, which no cgroup of the
 * interpreter counts. Real outputs have few values and long strings. */
#define WORKER_RECORD_MAX_VALUES INTERP_RECORD_MAX_VALUES

/* What a record from the interpreter is. */
typedef enum {
    WORKER_RECORD_TOO_BIG,       /* more than WORKER_RECORD_MAX_VALUES values: not parsed */
    WORKER_RECORD_MALFORMED,     /* not JSON, no string "type" and object "content", or an
                                    output whose content does not follow its schema */
    WORKER_RECORD_READY,
    WORKER_RECORD_REPLY,
    WORKER_RECORD_INPUT_REQUEST,
    WORKER_RECORD_JAIL_FAILED,
    WORKER_RECORD_OUTPUT,        /* an iopub output: stream, display_data, error, ... */
    WORKER_RECORD_UNKNOWN,       /* well formed, of a type the manager does not know */
} worker_record_kind_t;

/* Parses one record (|len| bytes at |text|) from an interpreter, which may
 * have forged it (interp_record_decode: NUL kept, what is not UTF-8
 * replaced by U+FFFD, outputs and input requests checked against their
 * Jupyter schema). Sets *rec to the record (new reference, NULL for TOO_BIG
 * and MALFORMED), *type to its "type" and *content to its "content"
 * (borrowed from *rec; NULL when *rec is). For TOO_BIG, MALFORMED and
 * UNKNOWN writes what is wrong into |why| (INTERP_RECORD_WHY_LEN bytes
 * hold any message). A pure function of its input; never asserts on it. */
worker_record_kind_t worker_record_parse(const char *text, size_t len, json_t **rec,
                                         const char **type, json_t **content, char *why,
                                         size_t why_len);

/* Records the exit status reported by the zygote. */
void worker_set_exit(worker_t *self, json_t *event);

/* Writes how the interpreter ended, e.g. "was killed by signal 9 (SIGKILL)"
 * or "exited with code 3", into |out|. */
void worker_describe_end(const worker_t *self, char *out, size_t out_len);

#endif
