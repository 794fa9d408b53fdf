/* serve_start — the start mode of bench/serve: a new conversation's first cell.
 *
 * sandcell: start_request sent -> execute_reply of `1+1` on the new
 * conversation, timed at the reply (a SUB that has just connected may miss
 * what is published before its subscription lands). Paced (one start,
 * stop, a pause) and back to back (more than the pool holds). ipykernel:
 * launching the process -> the reply of `1+1` queued behind a cell that
 * imports pandas, numpy and matplotlib. The two sides alternate who goes
 * first, round by round. */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_print_pcts_row(const char *label, const bench_samples_t *s, double scale)
{
    bench_pcts_t p = bench_pcts(s);
    printf("%-30s %6zu %10.2f %10.2f %10.2f\n", label, s->n, p.p50 / scale, p.p90 / scale,
           p.p99 / scale);
}

/* One sandcell start: start_request -> connect -> 1+1 -> its reply. The
 * conversation stays in |c| (connected, in |h|). */
static int s_start_one_sc(run_t *r, hub_t *h, client_t *c, bench_samples_t *total,
                          bench_samples_t *ctrl, bench_samples_t *after, long *bad)
{
    json_auto_t *req = json_object();
    double t0 = bench_now_us(), t_ctrl;
    bool refused;
    if (serve_conv_start(r, c, req, &t_ctrl, &refused) < 0 || serve_hub_add(h, c) < 0 ||
        serve_hub_exec(h, c, CODE_TRIVIAL, false) < 0)
        return -1;
    serve_hub_settle(h, bench_now_us() + CELL_TIMEOUT_S * 1e6);
    if (c->failure[0] || h->fatal[0])
        return serve_client_fail(c, "%s", h->fatal[0] ? h->fatal : c->failure);
    if (strcmp(c->status, "ok") != 0)
        (*bad)++;
    bench_samples_push(total, c->reply_us - t0);
    if (ctrl)
        bench_samples_push(ctrl, t_ctrl - t0);
    if (after)
        bench_samples_push(after, c->reply_us - t_ctrl);
    return 0;
}

static int s_start_round_sc(run_t *r, start_res_t *res)
{
    hub_t h;
    if (serve_hub_init(&h, CELL_TIMEOUT_S) < 0)
        return -1;
    h.watch = r->d.pid;
    int rc = 0;
    for (long i = 0; i < r->o.starts && rc == 0; i++) {
        client_t c;
        if (s_start_one_sc(r, &h, &c, &res->total, &res->control, &res->after, &res->bad) < 0) {
            fprintf(stderr, "serve: sandcell start failed: %s\n", c.failure);
            rc = -1;
        } else if (!res->preload_checked) {
            /* untimed: are pandas, numpy and matplotlib really imported? */
            res->preload_checked = true;
            if (serve_hub_sync(&h, &c) == 0 && serve_hub_settle(&h, bench_now_us() + 30e6) == 0 &&
                serve_hub_exec(&h, &c, CODE_PRELOADED, true) == 0 &&
                serve_hub_settle(&h, bench_now_us() + 30e6) == 0) {
                snprintf(res->preload_result, sizeof res->preload_result, "%s", c.result);
                res->preloaded = strcmp(c.result, "[]") == 0;
            }
        }
        serve_conv_stop(r, &h, &c);
        bench_sleep_ms(r->o.gap_ms);
        if (bench_interrupted())
            rc = -1;
    }
    /* back to back: more than the pool holds, then stop them all */
    client_t *b = calloc((size_t)r->o.burst + 1, sizeof *b);
    long nb = 0;
    for (long i = 0; i < r->o.burst && rc == 0 && b; i++, nb++)
        if (s_start_one_sc(r, &h, &b[i], &res->burst, NULL, NULL, &res->bad) < 0) {
            fprintf(stderr, "serve: sandcell start (burst) failed: %s\n", b[i].failure);
            rc = -1;
            nb++;
            break;
        }
    for (long i = 0; i < nb; i++)
        serve_conv_stop(r, &h, &b[i]);
    free(b);
    if (r->o.burst > 0)
        bench_sleep_ms(1000); /* let the pool refill */
    serve_hub_free(&h);
    return rc;
}

static int s_start_one_ipk(run_t *r, start_res_t *res)
{
    hub_t h;
    bench_kernel_t k;
    client_t c;
    if (serve_hub_init(&h, IPYKERNEL_START_TIMEOUT_S) < 0)
        return -1;
    double t0 = bench_now_us();
    int rc = 0;
    json_auto_t *imports =
        json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", CODE_IMPORTS, "silent", 0,
                  "store_history", 1, "user_expressions", "allow_stdin", 0, "stop_on_error", 1);
    /* both cells are queued on the DEALER and go out once it connects */
    if (serve_ipk_launch(r->ctx, &k, &c) < 0 || serve_hub_add(&h, &c) < 0 ||
        serve_client_send(&c, "execute_request", imports, NULL) < 0 ||
        serve_hub_exec(&h, &c, CODE_TRIVIAL, false) < 0 ||
        serve_hub_settle(&h, bench_now_us() + IPYKERNEL_START_TIMEOUT_S * 1e6) < 0 || c.failure[0]) {
        serve_client_fail(&c, "%s", h.fatal[0] ? h.fatal : "start failed");
        fprintf(stderr, "serve: ipykernel start failed: %s\n", c.failure);
        rc = -1;
    } else {
        bench_samples_push(&res->ipk, c.reply_us - t0);
        if (strcmp(c.status, "ok") != 0)
            res->bad++;
    }
    serve_ipk_stop(&h, &k, &c);
    serve_hub_free(&h);
    return rc;
}

int serve_mode_start(run_t *r, start_res_t *res)
{
    fprintf(stderr, "start: %ld rounds of %ld paced + %ld back-to-back sandcell starts and 1 "
                    "ipykernel launch\n",
            r->o.rounds, r->o.run_sc ? r->o.starts : 0, r->o.run_sc ? r->o.burst : 0);
    for (long round = 0; round < r->o.rounds; round++) {
        for (int turn = 0; turn < 2; turn++) {
            bool ipk_turn = (turn == 0) == (round % 2 == 1);
            if (ipk_turn && r->o.run_ipk && s_start_one_ipk(r, res) < 0)
                return -1;
            if (!ipk_turn && r->o.run_sc && s_start_round_sc(r, res) < 0)
                return -1;
        }
        bench_pcts_t ps = bench_pcts(&res->total), pi = bench_pcts(&res->ipk);
        fprintf(stderr, "  round %ld/%ld: sandcell p50 %.2f ms (%zu), ipykernel p50 %.0f ms (%zu)\n",
                round + 1, r->o.rounds, ps.p50 / 1e3, res->total.n, pi.p50 / 1e3, res->ipk.n);
        if (bench_interrupted())
            return -1;
    }
    return 0;
}

void serve_report_start(const run_t *r, const start_res_t *res)
{
    printf("\n== start: start_request -> first execute_reply of `1+1`, with pandas, numpy,\n"
           "   matplotlib imported (ipykernel: launch -> `1+1` queued behind their import)\n");
    printf("%-30s %6s %10s %10s %10s   (milliseconds)\n", "", "n", "p50", "p90", "p99");
    if (r->o.run_sc) {
        s_print_pcts_row("sandcell, paced", &res->total, 1e3);
        s_print_pcts_row("  start_request -> start_reply", &res->control, 1e3);
        s_print_pcts_row("  start_reply -> 1+1 reply", &res->after, 1e3);
        if (res->burst.n)
            s_print_pcts_row("sandcell, back to back", &res->burst, 1e3);
    }
    if (r->o.run_ipk)
        s_print_pcts_row("ipykernel", &res->ipk, 1e3);
    if (r->o.run_sc && r->o.run_ipk && res->total.n && res->ipk.n)
        printf("ratio ipykernel/sandcell (paced) of p50: %.0fx\n",
               bench_pcts(&res->ipk).p50 / bench_pcts(&res->total).p50);
    if (r->o.run_sc) {
        printf("paced: one start every %ld ms or so (start, `1+1`, stop, %ld ms pause); back to "
               "back: %ld starts in a row against a pool of %s\n",
               r->o.gap_ms, r->o.gap_ms, r->o.burst, serve_pool_desc(r->o.pool));
        printf("pandas, numpy, matplotlib in sys.modules of a fresh conversation: %s%s%s\n",
               res->preloaded ? "yes" : "NO", res->preloaded ? "" : " — got ",
               res->preloaded ? "" : res->preload_result);
    }
    if (res->bad)
        printf("replies whose status was not ok: %ld\n", res->bad);
}

