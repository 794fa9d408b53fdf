/* serve_density — the density mode of bench/serve: N live conversations.
 *
 * N conversations are started one after the other, each making the small
 * DataFrame as soon as it is up (so starts and cells overlap, as with many
 * agents); then the tree's PSS and the daemon's descriptors are read, and
 * every conversation answers `len(df)` at once. Refusals are counted, not
 * fatal, until MAX_CONSECUTIVE_START_FAILURES in a row. */
#include "serve.h"
#include "procfs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_on_sweep(hub_t *h, client_t *c)
{
    dens_res_t *d = h->arg;
    if (!c->failure[0] && c->reply_us > 0)
        bench_samples_push(&d->sweep_lat, c->reply_us - c->sent_us);
}

int serve_mode_density(run_t *r, dens_res_t *res)
{
    long n = r->o.density;
    res->asked = n;
    hub_t h;
    if (serve_frame_hub(r, &h, n, DENSITY_CELL_TIMEOUT_S) < 0) {
        serve_hub_free(&h);
        return -1;
    }
    json_auto_t *req = json_object();
    int rc = 0;
    long consecutive = 0;
    fprintf(stderr, "density: starting %ld conversations, each making a DataFrame\n", n);
    double t0 = bench_now_us();
    for (long i = 0; i < n && rc == 0 && !h.fatal[0]; i++) {
        client_t *c = &r->convs[r->nconvs];
        bool refused;
        if (serve_conv_start(r, c, req, NULL, &refused) < 0) {
            serve_client_close(c);
            if (!refused) {
                fprintf(stderr, "serve: %s\n", c->failure);
                rc = -1;
                break;
            }
            if (!res->refused++)
                snprintf(res->first_refusal, sizeof res->first_refusal, "%s", c->failure);
            if (++consecutive >= MAX_CONSECUTIVE_START_FAILURES) {
                fprintf(stderr, "  %ld refusals in a row; not asking for more\n", consecutive);
                break;
            }
            continue;
        }
        consecutive = 0;
        r->nconvs++;
        res->started++;
        if (serve_frame_add(&h, c) < 0) {
            fprintf(stderr, "serve: %s\n", c->failure);
            rc = -1;
            break;
        }
        if ((i + 1) % 100 == 0)
            fprintf(stderr, "  %ld start_requests answered (%ld refused) in %.1f s; %zu busy\n",
                    i + 1, res->refused, (bench_now_us() - t0) / 1e6, h.busy);
        if (bench_interrupted())
            rc = -1;
    }
    res->t_started_s = (bench_now_us() - t0) / 1e6;
    while (rc == 0 && h.busy && !h.fatal[0]) {
        double until = bench_now_us() + 10e6;
        serve_hub_settle(&h, until);
        if (h.busy)
            fprintf(stderr, "  %.0f s: %zu conversations still busy\n",
                    (bench_now_us() - t0) / 1e6, h.busy);
        if (bench_now_us() - t0 > DENSITY_CELL_TIMEOUT_S * 1e6 + 60e6)
            break;
    }
    res->t_holding_s = (bench_now_us() - t0) / 1e6;
    for (size_t i = 0; i < r->nconvs; i++) {
        client_t *c = &r->convs[i];
        if (!c->failure[0] && c->done == 1 && c->bad == 0)
            res->holding++;
        else if (c->failure[0] || c->bad)
            fprintf(stderr, "  conversation %zu: %s%s\n", i + 1,
                    c->failure[0] ? c->failure : "reply status ", c->failure[0] ? "" : c->status);
    }
    fprintf(stderr, "  %ld of %ld hold a DataFrame after %.1f s\n", res->holding, res->started,
            res->t_holding_s);
    if (h.fatal[0]) {
        fprintf(stderr, "serve: %s\n", h.fatal);
        rc = -1;
    }
    if (rc == 0) {
        bench_sleep_ms(SETTLE_S * 1000);
        serve_tree_mem(r->d.pid, &res->mem);
        res->daemon_fds = procfs_count_fds(r->d.pid);
        /* every one answers a cell, all at once */
        h.on_done = s_on_sweep;
        h.arg = res;
        double ts = bench_now_us();
        for (size_t i = 0; i < r->nconvs; i++)
            if (!r->convs[i].failure[0])
                serve_hub_exec(&h, &r->convs[i], CODE_SWEEP, true);
        serve_hub_settle(&h, ts + DENSITY_CELL_TIMEOUT_S * 1e6);
        res->t_sweep_s = (bench_now_us() - ts) / 1e6;
        for (size_t i = 0; i < r->nconvs; i++) {
            client_t *c = &r->convs[i];
            if (!c->failure[0] && strcmp(c->status, "ok") == 0 &&
                strcmp(c->result, SWEEP_RESULT) == 0)
                res->answered++;
        }
        fprintf(stderr, "  %ld answered `%s` in %.1f s\n", res->answered, CODE_SWEEP,
                res->t_sweep_s);
        res->done = true;
    }
    while (h.n)
        serve_hub_remove(&h, h.cl[h.n - 1]);
    serve_hub_free(&h);
    return rc;
}

void serve_report_density(const run_t *r, const dens_res_t *d)
{
    printf("\n== density: %ld conversations asked for (sandcell serve --pool %s "
           "--max-conversations %ld, RLIMIT_NOFILE %ld), each making a small DataFrame,\n"
           "   then every one answering `%s` at once\n",
           d->asked, serve_pool_desc(r->o.pool), r->d.max_conversations, r->d.nofile, CODE_SWEEP);
    printf("started         %6ld  (refused %ld%s%s)\n", d->started, d->refused,
           d->refused ? "; first: " : "", d->refused ? d->first_refusal : "");
    printf("holding a frame %6ld  (all start_requests answered in %.1f s; all frames made "
           "%.1f s after the first start)\n",
           d->holding, d->t_started_s, d->t_holding_s);
    printf("answered        %6ld  (the sweep took %.2f s: %.0f cells/s)\n", d->answered,
           d->t_sweep_s, d->t_sweep_s > 0 ? d->answered / d->t_sweep_s : 0);
    if (d->sweep_lat.n) {
        bench_pcts_t p = bench_pcts(&d->sweep_lat);
        printf("sweep latency   p50 %.1f ms, p90 %.1f ms, p99 %.1f ms (all sent at once)\n",
               p.p50 / 1e3, p.p90 / 1e3, p.p99 / 1e3);
    }
    if (d->mem.total.nproc) {
        serve_print_tree("daemon tree:", &d->mem);
        if (d->holding)
            printf("  per conversation (whole tree / %ld): %.2f MiB PSS; the daemon holds %ld "
                   "file descriptors\n",
                   d->started, d->mem.total.pss_kib / 1024 / (double)d->started, d->daemon_fds);
    }
    if (d->stop_s >= 0)
        printf("SIGTERM to exit with every conversation: %.1f s\n", d->stop_s);
    if (r->d.ended[0])
        printf("THE DAEMON ENDED DURING THE RUN: it %s (its log's end is on stderr)\n",
               r->d.ended);
    else if (!d->done)
        printf("the run stopped early (see stderr)\n");
}

