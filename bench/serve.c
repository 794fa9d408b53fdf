/* serve — `sandcell serve` (the daemon, many conversations) side by side
 * with ipykernel, driven by the same C client in the same run: the driver
 * (main, the header line, the targets); the rest is in serve_*.c (see
 * serve.h).
 *
 * Modes (the targets in brackets):
 *   start       start_request -> first execute_reply of `1+1`, pandas, numpy
 *               and matplotlib imported [p50 <= 5 ms, p99 <= 20 ms]; ipykernel:
 *               launching `python3 -m ipykernel_launcher` whose first cell
 *               imports them -> the reply of `1+1` queued behind it.
 *   rtt         round trip of a trivial cell (`1+1`) on one conversation, from
 *               this C client [p50 <= 250 us, faster than ipykernel]; one
 *               ipykernel with the same client, interleaved.
 *   memory      PSS (smaps_rollup, summed over the daemon's process tree) per
 *               idle conversation holding a small DataFrame [<= 5 MiB];
 *               ipykernel: one process holding the same DataFrame.
 *   throughput  trivial cells per second over many conversations, one cell
 *               outstanding per conversation; ipykernel: as many kernels as
 *               fit (default 10).
 *   neighbour   (only when named) round trip of `1+1` on conversation B while
 *               conversation A of the same daemon is idle, floods, stalls its
 *               iopub, reads it slowly or forges channel records [B's p99 <=
 *               10 ms in every condition]; two ipykernels alike.
 *   --density N N live conversations, each holding a small DataFrame, every
 *               one answering a cell [N = 1000]; a separate mode, it takes a
 *               while.
 *
 * The client: control requests through session/control_client; each
 * conversation (and each ipykernel) gets a DEALER on shell and a SUB on
 * iopub, every message verified and decoded through protocol/, as a real
 * frontend does. Many clients are served by one epoll over the sockets'
 * ZMQ_FDs (zmq_poll costs a system call per socket per call, which would
 * bill the client's overhead to the side with more conversations). A cell
 * is done when its execute_reply AND its status idle have arrived, except
 * the timed cell of a start, which is done at its reply (a SUB that has
 * just connected may miss what is published before its subscription
 * lands; the figure ends at the reply).
 *
 * Processes: the daemon and every ipykernel are their own process group,
 * die with the benchmark (PR_SET_PDEATHSIG), and we are a child subreaper,
 * so orphans (interpreters whose zygote went first) are ours to reap.
 * Ctrl-C, SIGTERM and SIGHUP take the same cleanup path as a normal end:
 * ipykernels get shutdown_request (then SIGKILL), the daemon SIGTERM (then
 * SIGKILL to its group), temp dirs are removed, and any process still
 * parented to us is reported and killed.
 *
 * Exit status: 0 whatever the figures (a missed target is reported, never
 * a failure), 1 if the daemon or a kernel broke, 2 on a usage error, 130
 * when interrupted. */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bench_cli.h"

const char *serve_pool_desc(long pool)
{
    static char buf[24];
    if (pool < 0)
        return "its default";
    snprintf(buf, sizeof buf, "%ld", pool);
    return buf;
}

static const char *s_met(bool met)
{
    return met ? "met" : "NOT met";
}

static void s_print_header(const run_t *r)
{
    double load[3] = {0};
    getloadavg(load, 3);
    time_t now = time(NULL);
    char date[40];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    printf("bench/serve: sandcell serve against ipykernel — %s, %ld CPUs, load average %.2f "
           "%.2f %.2f\n",
           date, sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2]);
}

int main(int argc, char **argv)
{
    run_t r = {.status = 0};
    r.d.pid = -1;
    int prc = serve_parse_args(argc, argv, &r.o);
    if (prc != 0)
        return prc > 0 ? 0 : 2;
    if (r.o.density) {
        r.o.run_sc = true;
        r.o.run_ipk = false;
    }
    if (bench_cli_sandcell("serve", r.o.sandcell, r.o.run_sc, r.sandcell, sizeof r.sandcell) < 0)
        return 2;
    bench_install_signals();
    serve_raise_nofile(CLIENT_NOFILE);
    setvbuf(stdout, NULL, _IOLBF, 0);

    start_res_t st = {0};
    mem_res_t mem = {0};
    tput_res_t tp = {0};
    rtt_res_t rt = {0};
    dens_res_t dens = {.stop_s = -1};
    nb_res_t nb = {0};
    bool did_start = false, did_rtt = false, did_mem = false, did_tput = false, did_nb = false;

    /* the daemon first: it forks, and we hold no ZeroMQ context yet */
    if (r.o.run_sc) {
        r.d.pool = r.o.pool;
        for (int i = 0; i < r.o.ndaemon_args; i++)
            r.d.extra[r.d.nextra++] = r.o.daemon_args[i];
        r.d.max_conversations =
            r.o.density ? r.o.density + 100 : r.o.conversations + r.o.burst + 16;
        if (serve_daemon_start(&r.d, r.sandcell) < 0) {
            fprintf(stderr, "serve: cannot start the daemon: %s\n", r.d.failure);
            goto failed;
        }
    }
    r.ctx = zmq_ctx_new();
    long max_sockets = 2 * (r.o.density + r.o.conversations + r.o.ipykernels * 2) + 256;
    if (!r.ctx || zmq_ctx_set(r.ctx, ZMQ_MAX_SOCKETS, (int)max_sockets) < 0) {
        fprintf(stderr, "serve: zmq context: %s\n", zmq_strerror(zmq_errno()));
        goto failed;
    }
    if (r.o.run_sc && serve_daemon_warm(&r) < 0) {
        fprintf(stderr, "serve: the daemon does not answer: %s\n", r.d.failure);
        goto failed;
    }
    if (r.o.density) {
        if (serve_mode_density(&r, &dens) < 0)
            goto failed;
        goto out;
    }
    /* A mode that fails ends the run, but for throughput (the last), whose
     * figures so far are still reported. */
    if (r.o.m_start && !(did_start = serve_mode_start(&r, &st) == 0))
        goto failed;
    if (r.o.m_rtt && !(did_rtt = serve_mode_rtt(&r, &rt) == 0))
        goto failed;
    if (r.o.m_neighbour && !(did_nb = serve_mode_neighbour(&r, &nb) == 0))
        goto failed;
    if (r.o.m_memory && !(did_mem = serve_mode_memory(&r, &mem) == 0))
        goto failed;
    did_tput = r.o.m_tput;
    if (r.o.m_tput && serve_mode_tput(&r, &tp) < 0)
        goto failed;
    goto out;
failed:
    r.status = 1;
out:
    for (size_t i = 0; i < r.nconvs; i++)
        serve_client_close(&r.convs[i]); /* the daemon's SIGTERM ends the conversations */
    for (size_t i = 0; i < r.nipks; i++)
        serve_ipk_stop(NULL, &r.ipks[i], &r.ipk_cl[i]);
    if (r.ctx)
        zmq_ctx_term(r.ctx);
    if (r.d.pid > 0) {
        if (r.status)
            serve_daemon_fail(&r.d, "%s", bench_interrupted() ? "interrupted" : "the run failed");
        double took = serve_daemon_stop(&r.d, r.o.density ? 300 : 30);
        if (r.o.density)
            dens.stop_s = took;
    } else {
        serve_daemon_stop(&r.d, 0);
    }
    int left = serve_reap_leftovers();
    int cgroups_left = serve_leftover_cgroups(r.d.zygote);
    if (bench_interrupted())
        r.status = 130;

    s_print_header(&r);
    if (r.o.run_sc) {
        printf("daemon: %s serve --pool %s --max-conversations %ld", r.sandcell,
               serve_pool_desc(r.d.pool), r.d.max_conversations);
        for (int i = 0; i < r.d.nextra; i++)
            printf(" %s", r.d.extra[i]);
        printf(" (its RLIMIT_NOFILE %ld)\n", r.d.nofile);
    }
    if (did_start)
        serve_report_start(&r, &st);
    if (did_rtt)
        serve_report_rtt(&rt);
    if (did_nb)
        serve_report_neighbour(&r, &nb);
    if (did_mem)
        serve_report_memory(&r, &mem);
    if (did_tput)
        serve_report_tput(&r, &tp);
    if (dens.asked)
        serve_report_density(&r, &dens);

    printf("\n== targets (the issue's; a miss is reported, never a failure)\n");
    if (did_start && st.total.n) {
        bench_pcts_t p = bench_pcts(&st.total);
        printf("  start p50 %.2f ms <= %.0f ms: %s\n", p.p50 / 1e3, TARGET_START_P50_MS,
               s_met(p.p50 / 1e3 <= TARGET_START_P50_MS));
        printf("  start p99 %.2f ms <= %.0f ms: %s\n", p.p99 / 1e3, TARGET_START_P99_MS,
               s_met(p.p99 / 1e3 <= TARGET_START_P99_MS));
    }
    if (did_rtt && rt.sc.lat.n) {
        double p50 = bench_pcts(&rt.sc.lat).p50;
        printf("  round trip p50 %.0f us <= %.0f us: %s\n", p50, TARGET_RTT_P50_US,
               s_met(p50 <= TARGET_RTT_P50_US));
        if (rt.ipk.lat.n)
            printf("  round trip faster than ipykernel (p50 %.0f us): %s\n",
                   bench_pcts(&rt.ipk.lat).p50, s_met(p50 < bench_pcts(&rt.ipk.lat).p50));
    }
    if (did_nb && nb.have[NB_SANDCELL]) {
        double worst = 0;
        int at = NB_ALONE;
        for (int c = 0; c < NB_NCOND; c++) {
            double p99 = bench_pcts(&nb.b[NB_SANDCELL][c].lat).p99 / 1e3;
            if (nb.b[NB_SANDCELL][c].lat.n && p99 >= worst) {
                worst = p99;
                at = c;
            }
        }
        printf("  B p99 <= %.0f ms in every condition (sandcell): worst %.2f ms (A %s): %s\n",
               TARGET_NEIGHBOUR_P99_MS, worst, serve_nb_cond_name((nb_cond_t)at),
               s_met(worst <= TARGET_NEIGHBOUR_P99_MS));
    }
    if (did_mem && mem.have_sc)
        printf("  PSS per idle conversation with a DataFrame %.2f MiB <= %.0f MiB: %s\n",
               serve_per_conv_mib(&mem), TARGET_PSS_MIB,
               s_met(serve_per_conv_mib(&mem) <= TARGET_PSS_MIB));
    if (dens.asked)
        printf("  %d live conversations, each answering: %ld started, %ld answered: %s\n",
               TARGET_DENSITY, dens.started, dens.answered,
               s_met(dens.answered >= TARGET_DENSITY));
    else if (r.o.run_sc)
        printf("  %d live conversations: run `serve --density %d`\n", TARGET_DENSITY,
               TARGET_DENSITY);
    if (did_tput)
        printf("  throughput: no numeric target; compared above\n");
    if (left)
        printf("\n%d processes were left behind and killed\n", left);
    if (cgroups_left)
        printf("\n%d interpreter cgroups of this daemon were left behind (see stderr)\n",
               cgroups_left);

    for (size_t i = 0; i < r.nconvs; i++)
        serve_client_close(&r.convs[i]);
    free(r.convs);
    free(r.ipks);
    free(r.ipk_cl);
    bench_samples_free(&st.total);
    bench_samples_free(&st.control);
    bench_samples_free(&st.after);
    bench_samples_free(&st.burst);
    bench_samples_free(&st.ipk);
    bench_samples_free(&tp.sc_many.lat);
    bench_samples_free(&tp.sc_few.lat);
    bench_samples_free(&tp.ipk.lat);
    bench_samples_free(&rt.sc.lat);
    bench_samples_free(&rt.ipk.lat);
    bench_samples_free(&dens.sweep_lat);
    serve_neighbour_free(&nb);
    return r.status;
}
