/* metrics — counters and histograms as relaxed atomics, rendered in the
 * Prometheus text format.
 *
 * Every series with labels is written with all its label values, zeros
 * included, so a rate() over a series that has not moved yet still has
 * something to read. Histogram sums are kept in nanoseconds (an integer
 * adds atomically; a double does not). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

typedef unsigned long long counter_t;

static void s_add(counter_t *c, counter_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static counter_t s_get(const counter_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static const char *const s_states[METRICS_STATES] = {"starting", "idle", "busy", "dead"};

static const char *const s_limits[METRICS_LIMIT_COUNT] = {
    "time", "input", "memory", "disk", "open_files", "processes", "idle", "lifetime",
};

static const char *const s_reasons[] = {
    "stop", "shutdown", "stalled", "idle", "lifetime", "cap", "daemon-exit", "other",
};
#define REASONS (sizeof s_reasons / sizeof s_reasons[0])

static const char *const s_methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "other"};
#define METHODS (sizeof s_methods / sizeof s_methods[0])
#define CODE_CLASSES 5 /* 1xx .. 5xx */

#define BUCKETS_MAX 20

typedef struct {
    const char *name, *help;
    size_t nbuckets;
    double le[BUCKETS_MAX]; /* upper bounds, ascending; +Inf is implied */
} hist_spec_t;

static const hist_spec_t s_hist_specs[METRICS_HIST_COUNT] = {
    [METRICS_START_SECONDS] = {"sandcell_start_duration_seconds",
                               "Time to start a conversation, from its start request to its "
                               "answer.",
                               13,
                               {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                1, 2.5, 5}},
    [METRICS_CELL_SECONDS] = {"sandcell_cell_duration_seconds",
                              "Time an execute_request took, from reaching the interpreter to "
                              "its reply.",
                              17,
                              {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                               0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}},
    [METRICS_FSYNC_SECONDS] = {"sandcell_journal_fsync_duration_seconds",
                               "Time one fsync of a conversation's journal took.",
                               13,
                               {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                0.025, 0.05, 0.1, 0.25, 1}},
};

typedef struct {
    counter_t bucket[BUCKETS_MAX + 1]; /* not cumulative; the last is +Inf */
    counter_t count;
    counter_t sum_ns;
} hist_t;

static struct {
    counter_t starts, start_refusals, caps;
    counter_t stops[REASONS];
    counter_t limits[METRICS_LIMIT_COUNT];
    counter_t http[METHODS][CODE_CLASSES];
    hist_t hist[METRICS_HIST_COUNT];
} s_m;

int metrics_state_index(const char *state)
{
    for (int i = 0; state && i < METRICS_STATES; i++)
        if (strcmp(state, s_states[i]) == 0)
            return i;
    return -1;
}

void metrics_started(void)
{
    s_add(&s_m.starts, 1);
}

void metrics_start_refused(void)
{
    s_add(&s_m.start_refusals, 1);
}

void metrics_stopped(const char *reason)
{
    size_t i = 0;
    while (i < REASONS - 1 && (!reason || strcmp(reason, s_reasons[i]) != 0))
        i++;
    s_add(&s_m.stops[i], 1);
}

void metrics_cap_reached(void)
{
    s_add(&s_m.caps, 1);
}

void metrics_limit_hit(metrics_limit_t limit)
{
    if (limit < METRICS_LIMIT_COUNT)
        s_add(&s_m.limits[limit], 1);
}

void metrics_observe(metrics_hist_t h, double seconds)
{
    if (h >= METRICS_HIST_COUNT)
        return;
    if (!(seconds >= 0)) /* NaN too */
        seconds = 0;
    const hist_spec_t *spec = &s_hist_specs[h];
    size_t b = 0;
    while (b < spec->nbuckets && seconds > spec->le[b])
        b++;
    hist_t *hist = &s_m.hist[h];
    s_add(&hist->bucket[b], 1);
    s_add(&hist->count, 1);
    s_add(&hist->sum_ns, seconds > 1e9 ? (counter_t)1e18 : (counter_t)(seconds * 1e9));
}

double metrics_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void metrics_http_response(const char *method, int status)
{
    size_t m = 0;
    while (m < METHODS - 1 && (!method || strcmp(method, s_methods[m]) != 0))
        m++;
    int cls = status / 100 - 1;
    if (cls < 0 || cls >= CODE_CLASSES)
        cls = CODE_CLASSES - 1;
    s_add(&s_m.http[m][cls], 1);
}

void metrics_reset(void)
{
    memset(&s_m, 0, sizeof s_m);
}

/* ------------------------------------------------------------ rendering */

static void s_head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void s_counter(FILE *f, const char *name, const char *help, counter_t v)
{
    s_head(f, name, "counter", help);
    fprintf(f, "%s %llu\n", name, v);
}

static void s_gauge(FILE *f, const char *name, const char *help, long v)
{
    s_head(f, name, "gauge", help);
    fprintf(f, "%s %ld\n", name, v);
}

static void s_histogram(FILE *f, metrics_hist_t h)
{
    const hist_spec_t *spec = &s_hist_specs[h];
    const hist_t *hist = &s_m.hist[h];
    s_head(f, spec->name, "histogram", spec->help);
    counter_t cum = 0;
    for (size_t b = 0; b < spec->nbuckets; b++) {
        cum += s_get(&hist->bucket[b]);
        fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", spec->name, spec->le[b], cum);
    }
    cum += s_get(&hist->bucket[spec->nbuckets]);
    /* The count is read after the buckets: an observation landing between
     * the reads must not leave +Inf below a finite bucket. */
    counter_t count = s_get(&hist->count);
    if (count < cum)
        count = cum;
    fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", spec->name, count);
    fprintf(f, "%s_sum %.9f\n", spec->name, (double)s_get(&hist->sum_ns) / 1e9);
    fprintf(f, "%s_count %llu\n", spec->name, count);
}

char *metrics_render(const metrics_gauges_t *g, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (!f)
        return NULL;
    s_head(f, "sandcell_conversations", "gauge", "Live conversations, by execution state.");
    for (int i = 0; i < METRICS_STATES; i++)
        fprintf(f, "sandcell_conversations{state=\"%s\"} %ld\n", s_states[i],
                g->conversations[i]);
    s_counter(f, "sandcell_conversation_starts_total", "Conversations started.",
              s_get(&s_m.starts));
    s_counter(f, "sandcell_conversation_start_refusals_total",
              "Starts refused (at capacity, no sandbox, out of memory).",
              s_get(&s_m.start_refusals));
    s_head(f, "sandcell_conversation_stops_total", "counter",
           "Conversations ended, by the journal's end reason.");
    for (size_t i = 0; i < REASONS; i++)
        fprintf(f, "sandcell_conversation_stops_total{reason=\"%s\"} %llu\n", s_reasons[i],
                s_get(&s_m.stops[i]));
    s_counter(f, "sandcell_caps_reached_total",
              "Conversations whose interpreter reached the --max-executions cap.",
              s_get(&s_m.caps));
    s_head(f, "sandcell_limit_hits_total", "counter", "Limits reached, by limit.");
    for (int i = 0; i < METRICS_LIMIT_COUNT; i++)
        fprintf(f, "sandcell_limit_hits_total{limit=\"%s\"} %llu\n", s_limits[i],
                s_get(&s_m.limits[i]));
    for (int h = 0; h < METRICS_HIST_COUNT; h++)
        s_histogram(f, (metrics_hist_t)h);
    s_gauge(f, "sandcell_pool_interpreters", "Interpreters the pool keeps ready (--pool).",
            g->pool_size);
    s_gauge(f, "sandcell_pool_ready_interpreters", "Pooled interpreters ready to be taken now.",
            g->pool_ready);
    s_gauge(f, "sandcell_capacity_conversations",
            "Conversations the daemon can hold (--max-conversations and the open-file limit).",
            g->capacity);
    s_head(f, "sandcell_http_requests_total", "counter",
           "HTTP responses, by request method and status class.");
    for (size_t m = 0; m < METHODS; m++)
        for (int c = 0; c < CODE_CLASSES; c++)
            fprintf(f, "sandcell_http_requests_total{method=\"%s\",code=\"%dxx\"} %llu\n",
                    s_methods[m], c + 1, s_get(&s_m.http[m][c]));
    s_gauge(f, "sandcell_websocket_connections", "Open WebSocket channel connections.",
            g->ws_connections);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    if (len)
        *len = n;
    return text;
}
