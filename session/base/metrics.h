/* metrics — the daemon's counters and histograms, and their Prometheus
 * text exposition (format 0.0.4), served by GET /metrics.
 *
 * One process-wide set, kept here in base/ so every layer can count
 * without an upward include: core/ counts cells, caps and limits, journal/
 * fsyncs, serve/ starts and stops, http/ requests; http/ renders them with
 * the gauges the daemon fills at scrape time (metrics_gauges_t). Counting
 * is a relaxed atomic add (the journal's fsyncs are timed on its threads);
 * no label carries a conversation id, so the series are a fixed set. */
#ifndef SANDCELL_METRICS_H
#define SANDCELL_METRICS_H

#include <stddef.h>

/* The limits whose hits are counted (sandcell_limit_hits_total{limit}). */
typedef enum {
    METRICS_LIMIT_TIME,       /* --timeout interrupted a request */
    METRICS_LIMIT_INPUT,      /* --input-timeout */
    METRICS_LIMIT_MEMORY,     /* a MemoryError under --memory */
    METRICS_LIMIT_DISK,       /* --disk */
    METRICS_LIMIT_OPEN_FILES, /* --open-files */
    METRICS_LIMIT_PROCESSES,  /* --pids */
    METRICS_LIMIT_IDLE,       /* --idle-timeout ended a conversation */
    METRICS_LIMIT_LIFETIME,   /* --lifetime */
    METRICS_LIMIT_COUNT,
    METRICS_LIMIT_NONE = METRICS_LIMIT_COUNT,
} metrics_limit_t;

typedef enum {
    METRICS_START_SECONDS, /* a start: request to conversation ready to take cells */
    METRICS_CELL_SECONDS,  /* an execute_request: sent to the interpreter to its reply */
    METRICS_FSYNC_SECONDS, /* one fsync of a journal */
    METRICS_HIST_COUNT,
} metrics_hist_t;

/* The execution states a live conversation is in (the kernel model's). */
#define METRICS_STATES 4 /* "starting", "idle", "busy", "dead" */

/* What is read at scrape time rather than counted. */
typedef struct {
    long conversations[METRICS_STATES]; /* live, by metrics_state_index() */
    long pool_size;       /* interpreters the pool keeps */
    long pool_ready;      /* of them, ready to be taken now */
    long capacity;        /* conversations that fit */
    long ws_connections;  /* open WebSocket connections */
} metrics_gauges_t;

/* The index of execution state |state| in metrics_gauges_t.conversations,
 * or -1 for a state it does not know. */
int metrics_state_index(const char *state);

/* A conversation started; one ended, for |reason| (the journal's end
 * reason: "stop", "shutdown", "stalled", "idle", "lifetime", "cap",
 * "daemon-exit"; any other is counted as "other"). */
void metrics_started(void);
void metrics_stopped(const char *reason);

/* A conversation reached its --max-executions cap. */
void metrics_cap_reached(void);

/* A limit was hit. METRICS_LIMIT_NONE is ignored. */
void metrics_limit_hit(metrics_limit_t limit);

/* A start was refused (at capacity, no sandbox, out of memory). */
void metrics_start_refused(void);

/* Observes |seconds| in histogram |h|. Safe from any thread. */
void metrics_observe(metrics_hist_t h, double seconds);

/* A monotonic clock in seconds, to time what metrics_observe is given. */
double metrics_clock(void);

/* An HTTP response with |status| to a request of |method| ("GET", ...;
 * anything else counts as "other"). */
void metrics_http_response(const char *method, int status);

/* The exposition of every metric, with |g|. Caller owns the result (a
 * NUL-terminated string, its length in *len); NULL when out of memory. */
char *metrics_render(const metrics_gauges_t *g, size_t *len);

/* Sets every counter and histogram to zero (for the unit tests). */
void metrics_reset(void);

#endif
