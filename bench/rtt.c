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
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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
    bench_trips_t t;
} subject_t;

typedef struct {
    bench_opts_t c; /* --count, --sandcell, --json, --samples */
    bool run[BENCH_NKINDS];
} options_t;

/* Runs |n| cells; records them unless |record| is false (warm-up). */
static int s_run_cells(subject_t *s, long n, bool record)
{
    json_auto_t *content = bench_execute_content(RTT_CODE);
    if (!content)
        return bench_kernel_fail(&s->k, "out of memory");
    return bench_kernel_trips(&s->k, content, n, RTT_CELL_TIMEOUT_S, &s->t, record);
}

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: rtt [--count N] [--sandcell PATH] [--only sandcell|ipykernel] [--json]\n"
            "           [--samples FILE]\n"
            "Round trip of the cell \"" RTT_CODE "\": execute_request -> execute_reply on\n"
            "shell, and -> status idle on iopub; sandcell against ipykernel.\n"
            "  --count N        cells measured per kernel (default 2000), after %d warm-up\n"
            BENCH_USAGE_SANDCELL("rtt")
            "  --only KERNEL    run one kernel only\n"
            BENCH_USAGE_JSON
            BENCH_USAGE_SAMPLES,
            RTT_WARMUP);
}

/* --only KERNEL (a bench_arg_fn). */
static int s_only(const char *arg, void *self)
{
    options_t *o = self;
    o->run[BENCH_SANDCELL] = strcmp(arg, "sandcell") == 0;
    o->run[BENCH_IPYKERNEL] = strcmp(arg, "ipykernel") == 0;
    o->c.no_sandcell = !o->run[BENCH_SANDCELL];
    if (!o->run[BENCH_SANDCELL] && !o->run[BENCH_IPYKERNEL]) {
        fprintf(stderr, "rtt: --only wants sandcell or ipykernel\n");
        return -1;
    }
    return 0;
}

/* Writes every measurement, in the order taken, as CSV. Returns 0 or -1
 * (reported). */
static int s_write_samples(const char *path, const subject_t *ss, size_t n)
{
    FILE *f = bench_csv_open("rtt", path, "kernel,seq,reply_us,idle_us");
    if (!f)
        return -1;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < ss[i].t.reply.n; j++)
            fprintf(f, "%s,%zu,%.1f,%.1f\n", ss[i].k.name, j, ss[i].t.reply.v[j],
                    ss[i].t.idle.v[j]);
    return bench_csv_close("rtt", path, f);
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
        m.ok[kd] = !ss[i].k.failure[0] && ss[i].t.reply.n > 0;
        m.reply[kd] = bench_pcts(&ss[i].t.reply);
        m.idle[kd] = bench_pcts(&ss[i].t.idle);
    }
    const bench_pcts_t *sr = &m.reply[BENCH_SANDCELL], *ir = &m.reply[BENCH_IPYKERNEL];
    m.both = m.ok[BENCH_SANDCELL] && m.ok[BENCH_IPYKERNEL];
    m.ratio_reply = m.both ? ir->p50 / sr->p50 : 0;
    m.ratio_idle = m.both ? m.idle[BENCH_IPYKERNEL].p50 / m.idle[BENCH_SANDCELL].p50 : 0;
    m.p50_met = m.ok[BENCH_SANDCELL] && sr->p50 <= RTT_TARGET_P50_US;
    m.faster_met = m.both && sr->p50 < ir->p50;
    return m;
}

static void s_report_json(const subject_t *ss, size_t n, const options_t *o, long rounds)
{
    summary_t m = s_summarise(ss, n);
    json_auto_t *root = json_pack("{s:s, s:s, s:I, s:i, s:i, s:f, s:{}}", "bench", "rtt", "code",
                                  RTT_CODE, "count", (json_int_t)o->c.count, "rounds", (int)rounds,
                                  "warmup", RTT_WARMUP, "target_p50_us", RTT_TARGET_P50_US,
                                  "kernels");
    if (!root)
        return;
    json_t *kernels = json_object_get(root, "kernels"); /* borrowed */
    for (size_t i = 0; i < n; i++) {
        bench_kind_t kd = ss[i].k.kind;
        json_t *v = m.ok[kd] ? json_pack("{s:f, s:I, s:i, s:o, s:o}", "ready_s", ss[i].k.ready_s,
                                         "cells", (json_int_t)ss[i].t.reply.n, "errors",
                                         (int)ss[i].t.errors, "reply_us", bench_pcts_json(&m.reply[kd]),
                                         "idle_us", bench_pcts_json(&m.idle[kd]))
                             : json_pack("{s:s}", "failure",
                                         ss[i].k.failure[0] ? ss[i].k.failure : "no cells");
        json_object_set_new(kernels, ss[i].k.name, v);
    }
    if (m.both)
        json_object_set_new(root, "ratio_p50",
                            json_pack("{s:f, s:f}", "reply", m.ratio_reply, "idle", m.ratio_idle));
    json_object_set_new(root, "target_met", json_boolean(m.p50_met && m.faster_met));
    bench_print_json(root);
}

static void s_report_table(const subject_t *ss, size_t n, const options_t *o, long rounds)
{
    summary_t m = s_summarise(ss, n);
    printf("\nround trip of \"%s\": %ld cells per kernel after %d warm-up, "
           "%ld interleaved rounds\n",
           RTT_CODE, o->c.count, RTT_WARMUP, rounds);
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
        if (ss[i].t.errors)
            printf("%-10s %u execute_replies had a status other than \"ok\"\n", "",
                   ss[i].t.errors);
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

/* bench_warm_fn: the warm-up cells of kernel |i| of the subjects |arg|. */
static void s_warm(size_t i, void *arg)
{
    subject_t *ss = arg;
    s_run_cells(&ss[i], RTT_WARMUP, false);
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
    options_t opt = {.c.count = 2000, .run = {true, true}};
    const bench_opt_t own[] = {{"only", .parse = s_only}, {NULL}};
    const bench_cli_t cli = {"rtt", s_usage, true, own, &opt};
    int rc = bench_cli_start(argc, argv, &cli, &opt.c);
    if (rc >= 0)
        return rc;

    subject_t ss[BENCH_NKINDS];
    bench_kernel_t *ks[BENCH_NKINDS];
    size_t n = 0;
    for (int kd = 0; kd < BENCH_NKINDS; kd++) {
        if (!opt.run[kd])
            continue;
        ss[n] = (subject_t){.t.errors = 0};
        bench_kernel_init(&ss[n].k, (bench_kind_t)kd);
        ks[n] = &ss[n].k;
        n++;
    }
    void *ctx = bench_kernels_start(ks, n, opt.c.sandcell_path, "rtt", RTT_READY_TIMEOUT_S, s_warm, ss);
    long rounds = s_run_rounds(ss, n, opt.c.count);

    int status = bench_kernels_stop(ks, n, ctx, "rtt");
    if (!bench_interrupted()) {
        if (opt.c.samples && s_write_samples(opt.c.samples, ss, n) < 0)
            status = status ? status : 1;
        if (opt.c.json)
            s_report_json(ss, n, &opt, rounds);
        else
            s_report_table(ss, n, &opt, rounds);
    }
    for (size_t i = 0; i < n; i++) {
        bench_trips_free(&ss[i].t);
    }
    return status;
}
