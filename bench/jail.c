/* jail — what the jail costs: a new interpreter's start and a trivial
 * cell's round trip, in a jailed sandcell kernel and a `--no-jail` one,
 * measured by the same C client in the same run.
 *
 * Start ("requested to first cell answered") must time a NEW interpreter,
 * not the kernel process. The manager forks a fresh one from the zygote as
 * soon as the previous one dies, so a restart is: run the cell
 * `import os; os._exit(0)`; its reply is an InterpreterDied error, sent
 * just before the manager asks the zygote for a new interpreter; on that
 * reply send `1+1` at once (the kernel queues it until the new interpreter
 * is ready). start = the death reply arrived -> the `1+1` reply arrived: the
 * request to the zygote, clone, the jail's layers (or a plain fork), the
 * interpreter's child_init and its ready record, then the whole first cell.
 * death = the death cell sent -> its reply, for the record (it includes
 * the zygote reaping the old interpreter and removing its cgroup).
 *
 * Round trip: `1+1` sent -> execute_reply, and -> status idle, as rtt
 * measures it. Each round does the restarts of both kernels, then (after a
 * few unrecorded cells, so the new interpreter is warm) the round trips of
 * both, alternating every JAIL_BLOCK cells; who goes first alternates, so
 * noise on a shared machine hits both alike. A missed target is reported, never a failure; only a broken
 * kernel fails the run. Starting, talking to and stopping a kernel (and
 * never leaking one) is bench_kernel's job; this file is the measurement
 * and the report.
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

#define JAIL_CELL "1+1"
#define JAIL_DIE "import os; os._exit(0)"
#define JAIL_WARMUP_CELLS 50
#define JAIL_WARMUP_RESTARTS 5
#define JAIL_SETTLE_CELLS 20 /* unrecorded, between a round's restarts and its round trips */
#define JAIL_ROUNDS 10
#define JAIL_BLOCK 10 /* round trips in a row on one kernel before the other's turn */
#define JAIL_READY_TIMEOUT_S 60
#define JAIL_CELL_TIMEOUT_S 30
#define JAIL_MAX_KERNEL_ARGS 8
#define JAIL_TARGET_START_US 5000.0 /* the jail adds at most this to start */
#define JAIL_TARGET_RATIO 1.05      /* and at most 5% to the round trip */

enum { JAILED, UNJAILED, NSUBJECTS };
static const char *const s_labels[NSUBJECTS] = {"jail", "no-jail"};

/* One kernel under test and what was measured on it, in microseconds, in
 * the order measured. */
typedef struct {
    bench_kernel_t k;
    bench_samples_t start, death;
    bench_trips_t t; /* the round trips */
} subject_t;

typedef struct {
    bench_opts_t c; /* --count, --sandcell, --json, --samples */
    long restarts;
    const char *kernel_args[JAIL_MAX_KERNEL_ARGS];
    size_t nkernel_args;
} options_t;

/* The two cells, built once. */
typedef struct {
    json_t *one, *die;
} cells_t;

/* One restart: the death cell, then `1+1` sent as soon as its reply is in.
 * Records start and death unless |record| is false (warm-up). Returns 0,
 * or -1 with the kernel's failure set. */
static int s_restart(subject_t *s, const cells_t *cells, bool record)
{
    bench_kernel_t *k = &s->k;
    bench_cell_t die, one;
    if (bench_kernel_execute(k, cells->die, false, JAIL_CELL_TIMEOUT_S, &die) < 0)
        return -1;
    if (strcmp(die.status, "error") != 0 || strcmp(die.ename, "InterpreterDied") != 0)
        return bench_kernel_fail(k, "\"%s\" did not end the interpreter: reply %s%s%s", JAIL_DIE,
                                 die.status, die.ename[0] ? " " : "", die.ename);
    if (bench_kernel_execute(k, cells->one, true, JAIL_CELL_TIMEOUT_S, &one) < 0)
        return -1;
    if (strcmp(one.status, "ok") != 0)
        return bench_kernel_fail(k, "the first cell of a new interpreter failed: reply %s%s%s",
                                 one.status, one.ename[0] ? " " : "", one.ename);
    if (record && (bench_samples_push(&s->start, one.reply_us - die.reply_us) < 0 ||
                   bench_samples_push(&s->death, die.reply_us - die.sent_us) < 0))
        return bench_kernel_fail(k, "out of memory");
    return 0;
}

static int s_restarts(subject_t *s, const cells_t *cells, long n, bool record)
{
    for (long i = 0; i < n; i++)
        if (s_restart(s, cells, record) < 0)
            return -1;
    return 0;
}

/* |n| round trips of `1+1`; recorded unless |record| is false. */
static int s_cells(subject_t *s, const cells_t *cells, long n, bool record)
{
    return bench_kernel_trips(&s->k, cells->one, n, JAIL_CELL_TIMEOUT_S, &s->t, record);
}

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: jail [--restarts N] [--count N] [--sandcell PATH] [--kernel-arg ARG]...\n"
            "            [--json] [--samples FILE]\n"
            "What the jail costs: a new interpreter's start and the round trip of \"" JAIL_CELL
            "\",\n"
            "in a jailed sandcell kernel and a --no-jail one, side by side.\n"
            "  --restarts N     interpreter starts measured per kernel (default 200), after %d\n"
            "                   warm-up\n"
            "  --count N        round trips measured per kernel (default 2000), after %d warm-up\n"
            BENCH_USAGE_SANDCELL("jail")
            "  --kernel-arg ARG an argument for both kernels' command lines (repeatable, up to\n"
            "                   %d), e.g. --kernel-arg=--no-cgroups\n"
            BENCH_USAGE_JSON
            BENCH_USAGE_SAMPLES,
            JAIL_WARMUP_RESTARTS, JAIL_WARMUP_CELLS, JAIL_MAX_KERNEL_ARGS);
}

/* --kernel-arg ARG (a bench_arg_fn). */
static int s_kernel_arg(const char *arg, void *self)
{
    options_t *o = self;
    if (o->nkernel_args == JAIL_MAX_KERNEL_ARGS) {
        fprintf(stderr, "jail: at most %d --kernel-arg\n", JAIL_MAX_KERNEL_ARGS);
        return -1;
    }
    if (strcmp(arg, "--no-jail") == 0) {
        fprintf(stderr, "jail: --no-jail is what one of the two kernels gets already\n");
        return -1;
    }
    o->kernel_args[o->nkernel_args++] = arg;
    return 0;
}

/* Writes every measurement, in the order taken, as CSV. Returns 0 or -1
 * (reported). */
static int s_write_samples(const char *path, const subject_t *ss)
{
    FILE *f = bench_csv_open("jail", path, "kernel,figure,seq,us");
    if (!f)
        return -1;
    for (int i = 0; i < NSUBJECTS; i++) {
        const struct {
            const char *name;
            const bench_samples_t *s;
        } figs[] = {{"start", &ss[i].start},
                    {"death", &ss[i].death},
                    {"reply", &ss[i].t.reply},
                    {"idle", &ss[i].t.idle}};
        for (size_t j = 0; j < sizeof figs / sizeof *figs; j++)
            for (size_t n = 0; n < figs[j].s->n; n++)
                fprintf(f, "%s,%s,%zu,%.1f\n", ss[i].k.name, figs[j].name, n, figs[j].s->v[n]);
    }
    return bench_csv_close("jail", path, f);
}

/* What the report says, computed once for both formats. */
typedef struct {
    bool ok[NSUBJECTS], both;
    bench_pcts_t start[NSUBJECTS], death[NSUBJECTS], reply[NSUBJECTS], idle[NSUBJECTS];
    double start_diff_us;          /* p50 jail - p50 no-jail */
    double ratio_reply, ratio_idle; /* p50 jail / p50 no-jail */
    bool start_met, reply_met;
} summary_t;

static summary_t s_summarise(const subject_t *ss)
{
    summary_t m = {.both = true};
    for (int i = 0; i < NSUBJECTS; i++) {
        m.ok[i] = !ss[i].k.failure[0] && ss[i].start.n > 0 && ss[i].t.reply.n > 0;
        m.both = m.both && m.ok[i];
        m.start[i] = bench_pcts(&ss[i].start);
        m.death[i] = bench_pcts(&ss[i].death);
        m.reply[i] = bench_pcts(&ss[i].t.reply);
        m.idle[i] = bench_pcts(&ss[i].t.idle);
    }
    if (m.both) {
        m.start_diff_us = m.start[JAILED].p50 - m.start[UNJAILED].p50;
        m.ratio_reply = m.reply[JAILED].p50 / m.reply[UNJAILED].p50;
        m.ratio_idle = m.idle[JAILED].p50 / m.idle[UNJAILED].p50;
        m.start_met = m.start_diff_us <= JAIL_TARGET_START_US;
        m.reply_met = m.ratio_reply <= JAIL_TARGET_RATIO;
    }
    return m;
}

static void s_report_json(const subject_t *ss, const options_t *o)
{
    summary_t m = s_summarise(ss);
    json_auto_t *root = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:i, s:{s:i, s:i}, s:[], s:{s:f, s:f}, s:{}}", "bench", "jail",
        "code", JAIL_CELL, "die", JAIL_DIE, "restarts", (json_int_t)o->restarts, "count",
        (json_int_t)o->c.count, "rounds", JAIL_ROUNDS, "warmup", "restarts", JAIL_WARMUP_RESTARTS,
        "cells", JAIL_WARMUP_CELLS, "kernel_args", "target", "start_diff_us",
        JAIL_TARGET_START_US, "reply_ratio", JAIL_TARGET_RATIO, "kernels");
    if (!root)
        return;
    json_t *args = json_object_get(root, "kernel_args"); /* borrowed */
    for (size_t i = 0; i < o->nkernel_args; i++)
        json_array_append_new(args, json_string(o->kernel_args[i]));
    json_t *kernels = json_object_get(root, "kernels"); /* borrowed */
    for (int i = 0; i < NSUBJECTS; i++) {
        json_t *v =
            m.ok[i]
                ? json_pack("{s:f, s:I, s:I, s:i, s:o, s:o, s:o, s:o}", "ready_s",
                            ss[i].k.ready_s, "restarts", (json_int_t)ss[i].start.n, "cells",
                            (json_int_t)ss[i].t.reply.n, "errors", (int)ss[i].t.errors, "start_us",
                            bench_pcts_json(&m.start[i]), "death_us", bench_pcts_json(&m.death[i]),
                            "reply_us", bench_pcts_json(&m.reply[i]), "idle_us",
                            bench_pcts_json(&m.idle[i]))
                : json_pack("{s:s}", "failure",
                            ss[i].k.failure[0] ? ss[i].k.failure : "nothing measured");
        json_object_set_new(kernels, ss[i].k.name, v);
    }
    if (m.both) {
        json_object_set_new(root, "start_p50_diff_us", json_real(m.start_diff_us));
        json_object_set_new(root, "ratio_p50",
                            json_pack("{s:f, s:f}", "reply", m.ratio_reply, "idle", m.ratio_idle));
        json_object_set_new(root, "start_met", json_boolean(m.start_met));
        json_object_set_new(root, "reply_met", json_boolean(m.reply_met));
    }
    json_object_set_new(root, "target_met", json_boolean(m.both && m.start_met && m.reply_met));
    bench_print_json(root);
}

static void s_row(const char *kernel, const char *figure, const bench_pcts_t *p)
{
    printf("%-8s %-6s %10.0f %10.0f %10.0f\n", kernel, figure, p->p50, p->p90, p->p99);
}

static void s_report_table(const subject_t *ss, const options_t *o)
{
    summary_t m = s_summarise(ss);
    printf("\nthe jail's cost: %ld interpreter starts and %ld round trips of \"%s\" per kernel,\n"
           "%d interleaved rounds (round trips alternate every %d cells), after %d warm-up\n"
           "starts and %d warm-up cells",
           o->restarts, o->c.count, JAIL_CELL, JAIL_ROUNDS, JAIL_BLOCK, JAIL_WARMUP_RESTARTS,
           JAIL_WARMUP_CELLS);
    if (o->nkernel_args) {
        printf("; kernels run with");
        for (size_t i = 0; i < o->nkernel_args; i++)
            printf(" %s", o->kernel_args[i]);
    }
    printf("\nstart = reply to \"%s\" (InterpreterDied) received -> reply to the\n"
           "        next \"%s\" received: a new interpreter forked, jailed, ready, first cell\n"
           "death = \"%s\" sent -> its InterpreterDied reply received\n"
           "reply = \"%s\" sent -> execute_reply received (shell)\n"
           "idle  = \"%s\" sent -> status idle received (iopub)\n\n",
           JAIL_DIE, JAIL_CELL, JAIL_DIE, JAIL_CELL, JAIL_CELL);
    printf("%-8s %-6s %10s %10s %10s   (microseconds)\n", "kernel", "figure", "p50", "p90",
           "p99");
    for (int i = 0; i < NSUBJECTS; i++) {
        if (!m.ok[i]) {
            printf("%-8s FAILED: %s\n", ss[i].k.name,
                   ss[i].k.failure[0] ? ss[i].k.failure : "nothing measured");
            continue;
        }
        s_row(ss[i].k.name, "start", &m.start[i]);
        s_row("", "death", &m.death[i]);
        s_row("", "reply", &m.reply[i]);
        s_row("", "idle", &m.idle[i]);
        if (ss[i].t.errors)
            printf("%-8s %u execute_replies had a status other than \"ok\"\n", "",
                   ss[i].t.errors);
    }
    if (!m.both)
        return;
    printf("\njail - no-jail, p50: start %+.0f us, death %+.0f us\n", m.start_diff_us,
           m.death[JAILED].p50 - m.death[UNJAILED].p50);
    printf("ratio jail/no-jail of p50: reply %.3fx (%+.1f%%), idle %.3fx (%+.1f%%)\n",
           m.ratio_reply, (m.ratio_reply - 1) * 100, m.ratio_idle, (m.ratio_idle - 1) * 100);
    printf("\ntarget: the jail adds <= %.0f ms to start and <= %.0f%% to the round trip\n",
           JAIL_TARGET_START_US / 1e3, (JAIL_TARGET_RATIO - 1) * 100);
    printf("  start: %+.2f ms <= %.0f ms: %s\n", m.start_diff_us / 1e3,
           JAIL_TARGET_START_US / 1e3, m.start_met ? "met" : "NOT met");
    printf("  round trip: %+.1f%% <= %.0f%%: %s\n", (m.ratio_reply - 1) * 100,
           (JAIL_TARGET_RATIO - 1) * 100, m.reply_met ? "met" : "NOT met");
    printf("  (one run on this machine; a miss is reported, never a failure)\n");
}

/* What bench_warm_fn gets: the subjects and the cells. */
typedef struct {
    subject_t *ss;
    const cells_t *cells;
} warm_t;

/* bench_warm_fn: the warm-up of kernel |i| (cells, restarts, cells). */
static void s_warm(size_t i, void *arg)
{
    const warm_t *w = arg;
    subject_t *s = &w->ss[i];
    if (s_cells(s, w->cells, JAIL_WARMUP_CELLS, false) == 0 &&
        s_restarts(s, w->cells, JAIL_WARMUP_RESTARTS, false) == 0)
        s_cells(s, w->cells, JAIL_SETTLE_CELLS, false);
}

/* The share of |total| that round |r| of JAIL_ROUNDS gets. */
static long s_share(long total, int r)
{
    return total / JAIL_ROUNDS + (r < total % JAIL_ROUNDS ? 1 : 0);
}

/* Every round: the restarts of both kernels, then their round trips in
 * alternating blocks of JAIL_BLOCK cells; the kernel that goes first
 * alternates. A kernel that fails is left out (its
 * figures so far are kept, the comparison is not made); stops when none
 * is left. */
static void s_run_rounds(subject_t *ss, const cells_t *cells, const options_t *o)
{
    for (int r = 0; r < JAIL_ROUNDS && !bench_interrupted(); r++) {
        for (int j = 0; j < NSUBJECTS; j++) {
            subject_t *s = &ss[r % 2 ? NSUBJECTS - 1 - j : j];
            if (!s->k.failure[0] && s_restarts(s, cells, s_share(o->restarts, r), true) == 0)
                s_cells(s, cells, JAIL_SETTLE_CELLS, false);
        }
        long n = s_share(o->c.count, r);
        size_t healthy = NSUBJECTS;
        for (long done = 0; done < n && healthy > 0 && !bench_interrupted();
             done += JAIL_BLOCK) {
            healthy = 0;
            for (int j = 0; j < NSUBJECTS; j++) {
                subject_t *s = &ss[r % 2 ? NSUBJECTS - 1 - j : j];
                if (!s->k.failure[0] &&
                    s_cells(s, cells, n - done < JAIL_BLOCK ? n - done : JAIL_BLOCK, true) == 0)
                    healthy++;
            }
        }
        if (healthy == 0)
            break;
        fprintf(stderr, "jail: round %d/%d done\n", r + 1, JAIL_ROUNDS);
    }
}

int main(int argc, char **argv)
{
    options_t opt = {.c.count = 2000, .restarts = 200};
    const bench_opt_t own[] = {
        {"restarts", .count = &opt.restarts, .min = 1},
        {"kernel-arg", .parse = s_kernel_arg},
        {NULL},
    };
    const bench_cli_t cli = {"jail", s_usage, true, own, &opt};
    int rc = bench_cli_start(argc, argv, &cli, &opt.c);
    if (rc >= 0)
        return rc;
    cells_t cells = {bench_execute_content(JAIL_CELL), bench_execute_content(JAIL_DIE)};
    if (!cells.one || !cells.die) {
        fprintf(stderr, "jail: out of memory\n");
        json_decref(cells.one);
        json_decref(cells.die);
        return 1;
    }

    /* Both kernels get the --kernel-arg arguments; the second also --no-jail. */
    const char *args[NSUBJECTS][JAIL_MAX_KERNEL_ARGS + 2];
    subject_t ss[NSUBJECTS];
    bench_kernel_t *ks[NSUBJECTS];
    for (int i = 0; i < NSUBJECTS; i++) {
        size_t n = 0;
        for (size_t a = 0; a < opt.nkernel_args; a++)
            args[i][n++] = opt.kernel_args[a];
        if (i == UNJAILED)
            args[i][n++] = "--no-jail";
        args[i][n] = NULL;
        ss[i] = (subject_t){.t.errors = 0};
        bench_kernel_init(&ss[i].k, BENCH_SANDCELL);
        ss[i].k.name = s_labels[i];
        ss[i].k.extra_args = args[i];
        ks[i] = &ss[i].k;
    }
    warm_t warm = {ss, &cells};
    void *ctx =
        bench_kernels_start(ks, NSUBJECTS, opt.c.sandcell_path, "jail", JAIL_READY_TIMEOUT_S, s_warm, &warm);
    s_run_rounds(ss, &cells, &opt);

    int status = bench_kernels_stop(ks, NSUBJECTS, ctx, "jail");
    if (!bench_interrupted()) {
        if (opt.c.samples && s_write_samples(opt.c.samples, ss) < 0)
            status = status ? status : 1;
        if (opt.c.json)
            s_report_json(ss, &opt);
        else
            s_report_table(ss, &opt);
    }
    for (int i = 0; i < NSUBJECTS; i++) {
        bench_samples_free(&ss[i].start);
        bench_samples_free(&ss[i].death);
        bench_trips_free(&ss[i].t);
    }
    json_decref(cells.one);
    json_decref(cells.die);
    return status;
}
