/* rtt — round trip of a trivial cell ("1+1"), sandcell against ipykernel,
 * measured by the same C client in the same run.
 *
 * Two figures per cell: execute_request sent -> its execute_reply received
 * on shell (the target's definition), and -> its status idle received on
 * iopub. The next cell goes out only after both, so cells never overlap,
 * and iopub is drained as messages arrive, so the kernel's PUB never backs
 * up. Timestamps are taken when a message's frames have arrived, before it
 * is verified and decoded; shell is served before iopub, and iopub one
 * message at a time, so decoding an output never delays seeing the reply
 * more than one message's worth. Every message is still verified and
 * decoded: the client does what a real frontend does, and costs both
 * kernels the same. The kernels run in interleaved rounds (who goes first
 * alternates) so that noise on a shared machine hits both alike; a missed
 * target is reported, never a failure — only a broken kernel fails the run.
 * Starting, talking to and stopping a kernel (and never leaking one) is
 * bench_kernel's job; this file is the measurement and the report.
 *
 * Exit status: 0, 1 if a kernel failed, 2 on a usage error, 130 when
 * interrupted. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "bench_cli.h"
#include "bench_kernel.h"
#include "bench_stats.h"
#include "wire.h"

#define RTT_CODE "1+1"
#define RTT_WARMUP 50
#define RTT_ROUNDS 10
#define RTT_READY_TIMEOUT_S 60
#define RTT_CELL_TIMEOUT_S 30
#define RTT_TARGET_P50_US 250.0

/* One kernel under test and what was measured on it. */
typedef struct {
    bench_kernel_t k;
    bench_samples_t reply, idle; /* microseconds, in the order measured */
    unsigned errors; /* execute_replies whose status was not "ok" */
} subject_t;

typedef struct {
    long count;
    const char *sandcell; /* borrowed from argv; NULL for the default */
    bool run[BENCH_NKINDS];
    bool json;
    const char *samples; /* borrowed from argv; NULL for none */
} options_t;

/* Runs one cell (|content| is the execute_request's, borrowed) and stores
 * its two latencies in microseconds. Returns 0, or -1 with the kernel's
 * failure set (timeout, death, protocol error, interrupt). */
static int s_run_cell(subject_t *s, const json_t *content, double *reply_us, double *idle_us)
{
    bench_cell_t cell;
    if (bench_kernel_execute(&s->k, content, true, RTT_CELL_TIMEOUT_S, &cell) < 0)
        return -1;
    if (strcmp(cell.status, "ok") != 0)
        s->errors++;
    *reply_us = cell.reply_us - cell.sent_us;
    *idle_us = cell.idle_us - cell.sent_us;
    return 0;
}

/* Runs |n| cells; records them unless |record| is false (warm-up). */
static int s_run_cells(subject_t *s, long n, bool record)
{
    json_auto_t *content = bench_execute_content(RTT_CODE);
    if (!content)
        return bench_kernel_fail(&s->k, "out of memory");
    for (long i = 0; i < n; i++) {
        double r = 0, idle = 0;
        if (s_run_cell(s, content, &r, &idle) < 0)
            return -1;
        if (record &&
            (bench_samples_push(&s->reply, r) < 0 || bench_samples_push(&s->idle, idle) < 0))
            return bench_kernel_fail(&s->k, "out of memory");
    }
    return 0;
}

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: rtt [--count N] [--sandcell PATH] [--only sandcell|ipykernel] [--json]\n"
            "           [--samples FILE]\n"
            "Round trip of the cell \"" RTT_CODE "\": execute_request -> execute_reply on\n"
            "shell, and -> status idle on iopub; sandcell against ipykernel.\n"
            "  --count N        cells measured per kernel (default 2000), after %d warm-up\n"
            "  --sandcell PATH  the sandcell binary (default: ../sandcell next to rtt)\n"
            "  --only KERNEL    run one kernel only\n"
            "  --json           print one JSON line instead of the table\n"
            "  --samples FILE   also write every measurement, in order, as CSV\n",
            RTT_WARMUP);
}

/* Returns 0, 1 after --help, or -1 on a usage error (already reported). */
static int s_parse_args(int argc, char **argv, options_t *o)
{
    static const struct option longs[] = {
        {"count", required_argument, NULL, 'n'},   {"sandcell", required_argument, NULL, 's'},
        {"only", required_argument, NULL, 'o'},    {"json", no_argument, NULL, 'j'},
        {"samples", required_argument, NULL, 'S'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (options_t){.count = 2000, .run = {true, true}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (!bench_cli_long(optarg, 1, 10000000, &o->count)) {
                fprintf(stderr, "rtt: --count wants a positive integer\n");
                return -1;
            }
            break;
        case 's':
            o->sandcell = optarg;
            break;
        case 'o':
            o->run[BENCH_SANDCELL] = strcmp(optarg, "sandcell") == 0;
            o->run[BENCH_IPYKERNEL] = strcmp(optarg, "ipykernel") == 0;
            if (!o->run[BENCH_SANDCELL] && !o->run[BENCH_IPYKERNEL]) {
                fprintf(stderr, "rtt: --only wants sandcell or ipykernel\n");
                return -1;
            }
            break;
        case 'j':
            o->json = true;
            break;
        case 'S':
            o->samples = optarg;
            break;
        default:
            return bench_cli_other(c, s_usage);
        }
    }
    return bench_cli_no_operands(argc, s_usage);
}

/* Writes every measurement, in the order taken, as CSV. Returns 0 or -1
 * (reported). */
static int s_write_samples(const char *path, const subject_t *ss, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "rtt: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "kernel,seq,reply_us,idle_us\n");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < ss[i].reply.n; j++)
            fprintf(f, "%s,%zu,%.1f,%.1f\n", ss[i].k.name, j, ss[i].reply.v[j],
                    ss[i].idle.v[j]);
    if (fclose(f) != 0) {
        fprintf(stderr, "rtt: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* What the report says, computed once for both formats. */
typedef struct {
    bool ok[BENCH_NKINDS];
    bench_pcts_t reply[BENCH_NKINDS], idle[BENCH_NKINDS];
    bool both, p50_met, faster_met;
    double ratio_reply, ratio_idle;
} summary_t;

static summary_t s_summarise(const subject_t *ss, size_t n)
{
    summary_t m = {0};
    for (size_t i = 0; i < n; i++) {
        bench_kind_t kd = ss[i].k.kind;
        m.ok[kd] = !ss[i].k.failure[0] && ss[i].reply.n > 0;
        m.reply[kd] = bench_pcts(&ss[i].reply);
        m.idle[kd] = bench_pcts(&ss[i].idle);
    }
    const bench_pcts_t *sr = &m.reply[BENCH_SANDCELL], *ir = &m.reply[BENCH_IPYKERNEL];
    m.both = m.ok[BENCH_SANDCELL] && m.ok[BENCH_IPYKERNEL];
    m.ratio_reply = m.both ? ir->p50 / sr->p50 : 0;
    m.ratio_idle = m.both ? m.idle[BENCH_IPYKERNEL].p50 / m.idle[BENCH_SANDCELL].p50 : 0;
    m.p50_met = m.ok[BENCH_SANDCELL] && sr->p50 <= RTT_TARGET_P50_US;
    m.faster_met = m.both && sr->p50 < ir->p50;
    return m;
}

static json_t *s_pcts_json(const bench_pcts_t *p)
{
    return json_pack("{s:f, s:f, s:f}", "p50", p->p50, "p90", p->p90, "p99", p->p99);
}

static void s_report_json(const subject_t *ss, size_t n, const options_t *o, long rounds)
{
    summary_t m = s_summarise(ss, n);
    json_auto_t *root = json_pack("{s:s, s:s, s:I, s:i, s:i, s:f, s:{}}", "bench", "rtt", "code",
                                  RTT_CODE, "count", (json_int_t)o->count, "rounds", (int)rounds,
                                  "warmup", RTT_WARMUP, "target_p50_us", RTT_TARGET_P50_US,
                                  "kernels");
    if (!root)
        return;
    json_t *kernels = json_object_get(root, "kernels"); /* borrowed */
    for (size_t i = 0; i < n; i++) {
        bench_kind_t kd = ss[i].k.kind;
        json_t *v = m.ok[kd] ? json_pack("{s:f, s:I, s:i, s:o, s:o}", "ready_s", ss[i].k.ready_s,
                                         "cells", (json_int_t)ss[i].reply.n, "errors",
                                         (int)ss[i].errors, "reply_us", s_pcts_json(&m.reply[kd]),
                                         "idle_us", s_pcts_json(&m.idle[kd]))
                             : json_pack("{s:s}", "failure",
                                         ss[i].k.failure[0] ? ss[i].k.failure : "no cells");
        json_object_set_new(kernels, ss[i].k.name, v);
    }
    if (m.both)
        json_object_set_new(root, "ratio_p50",
                            json_pack("{s:f, s:f}", "reply", m.ratio_reply, "idle", m.ratio_idle));
    json_object_set_new(root, "target_met", json_boolean(m.p50_met && m.faster_met));
    char *text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (text)
        printf("%s\n", text);
    free(text);
}

static void s_report_table(const subject_t *ss, size_t n, const options_t *o, long rounds)
{
    summary_t m = s_summarise(ss, n);
    printf("\nround trip of \"%s\": %ld cells per kernel after %d warm-up, "
           "%ld interleaved rounds\n",
           RTT_CODE, o->count, RTT_WARMUP, rounds);
    printf("reply = execute_request sent -> execute_reply received (shell)\n"
           "idle  = execute_request sent -> status idle received (iopub)\n\n");
    printf("%-10s %-6s %10s %10s %10s   (microseconds)\n", "kernel", "figure", "p50", "p90",
           "p99");
    for (size_t i = 0; i < n; i++) {
        bench_kind_t kd = ss[i].k.kind;
        if (!m.ok[kd]) {
            printf("%-10s FAILED: %s\n", ss[i].k.name,
                   ss[i].k.failure[0] ? ss[i].k.failure : "no cells");
            continue;
        }
        printf("%-10s %-6s %10.0f %10.0f %10.0f\n", ss[i].k.name, "reply", m.reply[kd].p50,
               m.reply[kd].p90, m.reply[kd].p99);
        printf("%-10s %-6s %10.0f %10.0f %10.0f\n", "", "idle", m.idle[kd].p50, m.idle[kd].p90,
               m.idle[kd].p99);
        if (ss[i].errors)
            printf("%-10s %u execute_replies had a status other than \"ok\"\n", "",
                   ss[i].errors);
    }
    if (m.both)
        printf("\nratio ipykernel/sandcell of p50: reply %.2fx, idle %.2fx\n", m.ratio_reply,
               m.ratio_idle);
    if (!m.ok[BENCH_SANDCELL])
        return;
    printf("\ntarget: sandcell p50 <= %.0f us and faster than ipykernel\n", RTT_TARGET_P50_US);
    printf("  p50 %.0f us <= %.0f us: %s\n", m.reply[BENCH_SANDCELL].p50, RTT_TARGET_P50_US,
           m.p50_met ? "met" : "NOT met");
    printf("  faster than ipykernel: %s\n",
           m.both ? (m.faster_met ? "met" : "NOT met") : "not measured");
    printf("  (one run on this machine; a miss is reported, never a failure)\n");
}

/* Starts every kernel before the ZeroMQ context exists (libzmq runs
 * threads, and starting a kernel forks), then connects, waits until each
 * is ready and warms it up. A kernel that fails is marked and skipped. */
static void *s_start_all(subject_t *ss, size_t n, const char *sandcell)
{
    int ports[BENCH_NKINDS * CONN_NCHANNELS];
    int rc = bench_pick_ports(ports, n * CONN_NCHANNELS);
    for (size_t i = 0; i < n; i++) {
        if (rc < 0)
            bench_kernel_fail(&ss[i].k, "picking free ports: %s", strerror(-rc));
        else
            bench_kernel_start(&ss[i].k, &ports[i * CONN_NCHANNELS], sandcell);
    }
    void *ctx = zmq_ctx_new();
    for (size_t i = 0; i < n; i++) {
        bench_kernel_t *k = &ss[i].k;
        if (k->failure[0])
            continue;
        if (!ctx) {
            bench_kernel_fail(k, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
            continue;
        }
        if (bench_kernel_connect(k, ctx) < 0 ||
            bench_kernel_wait_ready(k, RTT_READY_TIMEOUT_S) < 0)
            continue;
        fprintf(stderr, "rtt: %s ready in %.2f s\n", k->name, k->ready_s);
        s_run_cells(&ss[i], RTT_WARMUP, false);
    }
    return ctx;
}

/* |count| cells per kernel in up to RTT_ROUNDS rounds; the kernel that
 * goes first alternates. Stops early when no kernel is left. */
static long s_run_rounds(subject_t *ss, size_t n, long count)
{
    long rounds = count < RTT_ROUNDS ? count : RTT_ROUNDS;
    for (long r = 0; r < rounds && !bench_interrupted(); r++) {
        long cells = count / rounds + (r < count % rounds ? 1 : 0);
        size_t ran = 0;
        for (size_t j = 0; j < n && !bench_interrupted(); j++) {
            subject_t *s = &ss[r % 2 ? n - 1 - j : j];
            if (!s->k.failure[0] && s_run_cells(s, cells, true) == 0)
                ran++;
        }
        if (ran == 0)
            break;
        fprintf(stderr, "rtt: round %ld/%ld done\n", r + 1, rounds);
    }
    return rounds;
}

int main(int argc, char **argv)
{
    options_t opt;
    int prc = s_parse_args(argc, argv, &opt);
    if (prc != 0)
        return prc > 0 ? 0 : 2;
    char sandcell[PATH_MAX];
    if (opt.sandcell)
        snprintf(sandcell, sizeof sandcell, "%s", opt.sandcell);
    else if (bench_default_sandcell(sandcell, sizeof sandcell) < 0)
        snprintf(sandcell, sizeof sandcell, "./sandcell");
    if (opt.run[BENCH_SANDCELL] && access(sandcell, X_OK) < 0) {
        fprintf(stderr, "rtt: %s: %s (run make, or pass --sandcell PATH)\n", sandcell,
                strerror(errno));
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "rtt: libsodium failed to initialise\n");
        return 1;
    }
    bench_install_signals();

    subject_t ss[BENCH_NKINDS];
    size_t n = 0;
    for (int kd = 0; kd < BENCH_NKINDS; kd++) {
        if (!opt.run[kd])
            continue;
        ss[n] = (subject_t){.errors = 0};
        bench_kernel_init(&ss[n++].k, (bench_kind_t)kd);
    }
    void *ctx = s_start_all(ss, n, sandcell);
    long rounds = s_run_rounds(ss, n, opt.count);

    int status = bench_interrupted() ? 130 : 0;
    for (size_t i = 0; i < n; i++) {
        if (ss[i].k.failure[0]) {
            fprintf(stderr, "rtt: %s: %s\n", ss[i].k.name, ss[i].k.failure);
            status = status ? status : 1;
        }
        bench_kernel_stop(&ss[i].k);
    }
    if (ctx)
        zmq_ctx_term(ctx);
    bench_reap_orphans();
    if (!bench_interrupted()) {
        if (opt.samples && s_write_samples(opt.samples, ss, n) < 0)
            status = status ? status : 1;
        if (opt.json)
            s_report_json(ss, n, &opt, rounds);
        else
            s_report_table(ss, n, &opt, rounds);
    }
    for (size_t i = 0; i < n; i++) {
        bench_samples_free(&ss[i].reply);
        bench_samples_free(&ss[i].idle);
    }
    return status;
}
