/* serve_tput — the throughput and round-trip modes of bench/serve.
 *
 * Both run windows of back-to-back `1+1` with one cell outstanding per
 * client, a cell being done at its reply and its status idle; a cell
 * counts if its reply came inside the window, its latency is send ->
 * reply. Throughput: over many conversations, over as many as there are
 * ipykernels, and over the ipykernels, in 2 interleaved rounds. Round trip:
 * one conversation and one ipykernel, warmed up, in RTT_ROUNDS interleaved
 * rounds. */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    tput_t *t;
    double end_us;
    long *per_client; /* cells inside the window, per client */
} tput_run_t;

static void s_on_tput(hub_t *h, client_t *c)
{
    tput_run_t *tr = h->arg;
    if (c->failure[0]) {
        tr->t->errors++;
        return;
    }
    if (c->reply_us > 0 && c->reply_us <= tr->end_us) {
        tr->t->cells++;
        tr->per_client[c->hub_index]++;
        bench_samples_push(&tr->t->lat, c->reply_us - c->sent_us);
        if (strcmp(c->status, "ok") != 0)
            tr->t->errors++;
    }
    if (bench_now_us() < tr->end_us)
        serve_hub_exec(h, c, CODE_TRIVIAL, true);
}

int serve_tput_window(run_t *r, tput_t *t, double seconds)
{
    hub_t h;
    if (serve_hub_init(&h, CELL_TIMEOUT_S) < 0)
        return -1;
    tput_run_t tr = {t, 0, calloc(t->n, sizeof(long))};
    h.watch = strcmp(t->cl[0]->kind, "sandcell") == 0 ? r->d.pid : 0;
    h.on_done = s_on_tput;
    h.arg = &tr;
    int rc = tr.per_client ? 0 : -1;
    for (size_t i = 0; i < t->n && rc == 0; i++)
        if (serve_hub_add(&h, t->cl[i]) < 0)
            rc = -1;
    double t0 = bench_now_us();
    tr.end_us = t0 + seconds * 1e6;
    for (size_t i = 0; i < t->n && rc == 0; i++)
        serve_hub_exec(&h, t->cl[i], CODE_TRIVIAL, true);
    while (rc == 0 && !h.fatal[0] && bench_now_us() < tr.end_us)
        serve_hub_wait(&h, 20);
    if (serve_hub_settle(&h, bench_now_us() + CELL_TIMEOUT_S * 1e6) < 0 || h.fatal[0])
        rc = -1;
    t->seconds += seconds;
    for (size_t i = 0; i < h.n; i++) {
        long v = tr.per_client[i];
        if (t->min_cells < 0 || v < t->min_cells)
            t->min_cells = v;
        if (v > t->max_cells)
            t->max_cells = v;
    }
    for (size_t i = 0; i < t->n; i++)
        if (t->cl[i]->failure[0] && rc == 0) {
            fprintf(stderr, "serve: %s: %s\n", t->label, t->cl[i]->failure);
            rc = -1;
        }
    if (h.fatal[0])
        fprintf(stderr, "serve: %s: %s\n", t->label, h.fatal);
    while (h.n)
        serve_hub_remove(&h, h.cl[h.n - 1]);
    serve_hub_free(&h);
    free(tr.per_client);
    return rc;
}

int serve_mode_tput(run_t *r, tput_res_t *res)
{
    const int rounds = 2;
    double window = (double)r->o.duration_s / rounds;
    client_t **sc = calloc(r->nconvs + 1, sizeof *sc), **ipk = calloc(r->nipks + 1, sizeof *ipk);
    if (!sc || !ipk) {
        free(sc);
        free(ipk);
        return -1;
    }
    for (size_t i = 0; i < r->nconvs; i++)
        sc[i] = &r->convs[i];
    for (size_t i = 0; i < r->nipks; i++)
        ipk[i] = &r->ipk_cl[i];
    static char l_many[64], l_few[64], l_ipk[64];
    snprintf(l_many, sizeof l_many, "sandcell, %zu conversations", r->nconvs);
    size_t few = r->nipks ? r->nipks : (size_t)r->o.ipykernels;
    if (few > r->nconvs)
        few = r->nconvs;
    snprintf(l_few, sizeof l_few, "sandcell, %zu conversations", few);
    snprintf(l_ipk, sizeof l_ipk, "ipykernel, %zu kernels", r->nipks);
    res->sc_many = (tput_t){l_many, sc, r->nconvs, .min_cells = -1};
    res->sc_few = (tput_t){l_few, sc, few, .min_cells = -1};
    res->ipk = (tput_t){l_ipk, ipk, r->nipks, .min_cells = -1};
    int rc = 0;
    fprintf(stderr, "throughput: %d rounds of %.1f s per configuration\n", rounds, window);
    for (int round = 0; round < rounds && rc == 0; round++) {
        tput_t *order[3] = {&res->sc_many, &res->ipk, &res->sc_few};
        if (round % 2) {
            order[0] = &res->sc_few;
            order[2] = &res->sc_many;
        }
        for (int i = 0; i < 3 && rc == 0; i++) {
            if (!order[i]->n)
                continue;
            rc = serve_tput_window(r, order[i], window);
            fprintf(stderr, "  %-30s %.0f cells/s so far\n", order[i]->label,
                    order[i]->seconds ? order[i]->cells / order[i]->seconds : 0);
            if (bench_interrupted())
                rc = -1;
        }
    }
    res->have_sc = res->sc_many.n > 0;
    res->have_ipk = res->ipk.n > 0;
    free(sc);
    free(ipk);
    return rc;
}

static void s_print_tput_row(const tput_t *t)
{
    if (!t->n)
        return;
    bench_pcts_t p = bench_pcts(&t->lat);
    double rate = t->seconds ? t->cells / t->seconds : 0;
    printf("%-30s %9.0f %11.1f %8.2f %8.2f %8.2f %6ld..%-6ld %6ld\n", t->label, rate,
           rate / (double)t->n, p.p50 / 1e3, p.p90 / 1e3, p.p99 / 1e3,
           t->min_cells < 0 ? 0 : t->min_cells, t->max_cells, t->errors);
}

static double s_rate(const tput_t *t)
{
    return t->seconds ? t->cells / t->seconds : 0;
}

void serve_report_tput(const run_t *r, const tput_res_t *t)
{
    printf("\n== throughput: trivial cells (`1+1`) per second, one cell outstanding per\n"
           "   conversation or kernel, %ld s per configuration in 2 interleaved rounds;\n"
           "   a cell is done at its reply and its status idle\n",
           r->o.duration_s);
    printf("%-30s %9s %11s %8s %8s %8s %14s %6s\n", "", "cells/s", "per conv/s", "p50 ms",
           "p90 ms", "p99 ms", "cells min..max", "errors");
    s_print_tput_row(&t->sc_many);
    s_print_tput_row(&t->sc_few);
    s_print_tput_row(&t->ipk);
    printf("(latency: execute_request sent -> execute_reply, under that load; min..max: cells "
           "per conversation in one window)\n");
    if (t->have_sc && t->have_ipk && s_rate(&t->ipk) > 0) {
        printf("ratio sandcell/ipykernel, total cells/s: %s %.1fx, %s %.1fx\n", t->sc_many.label,
               s_rate(&t->sc_many) / s_rate(&t->ipk), t->sc_few.label,
               s_rate(&t->sc_few) / s_rate(&t->ipk));
    }
}

/* One conversation (no cap) and one ipykernel, each warmed up with
 * RTT_WARMUP cells, then RTT_ROUNDS rounds in which each does `1+1` back to
 * back for duration/RTT_ROUNDS seconds, who goes first alternating. A
 * cell's figure is execute_request sent -> execute_reply; the next goes
 * out once its status idle has come too. */
int serve_mode_rtt(run_t *r, rtt_res_t *res)
{
    hub_t h;
    client_t sc, ipk;
    bench_kernel_t k;
    serve_client_init(&sc, "sandcell");
    serve_client_init(&ipk, "ipykernel");
    bench_kernel_init(&k, BENCH_IPYKERNEL);
    if (serve_hub_init(&h, IPYKERNEL_START_TIMEOUT_S) < 0)
        return -1;
    json_auto_t *req = json_pack("{s:i}", "max_executions", 0);
    bool refused, have_sc = false, have_ipk = false;
    int rc = 0;
    if (r->o.run_sc) {
        h.watch = r->d.pid;
        if (serve_conv_start(r, &sc, req, NULL, &refused) < 0 || serve_hub_add(&h, &sc) < 0 ||
            serve_hub_sync(&h, &sc) < 0)
            rc = -1;
        have_sc = true;
    }
    if (rc == 0 && r->o.run_ipk) {
        if (serve_ipk_launch(r->ctx, &k, &ipk) < 0 || serve_hub_add(&h, &ipk) < 0 ||
            serve_hub_sync(&h, &ipk) < 0)
            rc = -1;
        have_ipk = true;
    }
    for (int i = 0; i < RTT_WARMUP && rc == 0; i++) {
        double deadline = bench_now_us() + IPYKERNEL_START_TIMEOUT_S * 1e6;
        if ((have_sc && serve_hub_settle(&h, deadline) < 0) ||
            (have_sc && serve_hub_exec(&h, &sc, CODE_TRIVIAL, true) < 0) ||
            (have_ipk && serve_hub_exec(&h, &ipk, CODE_TRIVIAL, true) < 0) ||
            serve_hub_settle(&h, bench_now_us() + IPYKERNEL_START_TIMEOUT_S * 1e6) < 0 ||
            sc.failure[0] || ipk.failure[0])
            rc = -1;
    }
    if (rc < 0)
        fprintf(stderr, "serve: rtt set-up: %s\n",
                sc.failure[0] ? sc.failure : ipk.failure[0] ? ipk.failure : h.fatal);
    while (h.n)
        serve_hub_remove(&h, h.cl[h.n - 1]);
    serve_hub_free(&h);
    client_t *scp = &sc, *ipkp = &ipk;
    res->sc = (tput_t){"sandcell, 1 conversation", &scp, have_sc ? 1 : 0, .min_cells = -1};
    res->ipk = (tput_t){"ipykernel, 1 kernel", &ipkp, have_ipk ? 1 : 0, .min_cells = -1};
    double window = (double)r->o.duration_s / RTT_ROUNDS;
    fprintf(stderr, "rtt: %d rounds of %.1f s per kernel, back-to-back `1+1`\n", RTT_ROUNDS,
            window);
    for (int round = 0; round < RTT_ROUNDS && rc == 0; round++) {
        tput_t *order[2] = {&res->sc, &res->ipk};
        if (round % 2) {
            order[0] = &res->ipk;
            order[1] = &res->sc;
        }
        for (int i = 0; i < 2 && rc == 0; i++)
            if (order[i]->n)
                rc = serve_tput_window(r, order[i], window);
        if (bench_interrupted())
            rc = -1;
    }
    res->sc.cl = NULL;
    res->ipk.cl = NULL;
    if (have_sc)
        serve_conv_stop(r, NULL, &sc);
    if (have_ipk)
        serve_ipk_stop(NULL, &k, &ipk);
    return rc;
}

void serve_report_rtt(const rtt_res_t *t)
{
    printf("\n== rtt: round trip of `1+1` from this C client, one conversation or kernel,\n"
           "   execute_request sent -> execute_reply (next cell after status idle)\n");
    printf("%-30s %8s %10s %10s %10s %9s   (microseconds)\n", "", "cells", "p50", "p90", "p99",
           "cells/s");
    const tput_t *rows[2] = {&t->sc, &t->ipk};
    for (int i = 0; i < 2; i++) {
        if (!rows[i]->n)
            continue;
        bench_pcts_t p = bench_pcts(&rows[i]->lat);
        printf("%-30s %8zu %10.0f %10.0f %10.0f %9.0f\n", rows[i]->label, rows[i]->lat.n, p.p50,
               p.p90, p.p99, s_rate(rows[i]));
    }
    if (t->sc.n && t->ipk.n && t->sc.lat.n && t->ipk.lat.n)
        printf("ratio ipykernel/sandcell of p50: %.2fx, of p99: %.2fx\n",
               bench_pcts(&t->ipk.lat).p50 / bench_pcts(&t->sc.lat).p50,
               bench_pcts(&t->ipk.lat).p99 / bench_pcts(&t->sc.lat).p99);
    if (t->sc.errors || t->ipk.errors)
        printf("replies whose status was not ok: sandcell %ld, ipykernel %ld\n", t->sc.errors,
               t->ipk.errors);
}

