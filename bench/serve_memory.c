/* serve_memory — the memory mode of bench/serve: PSS per idle conversation.
 *
 * PSS (smaps_rollup) is summed over the daemon's process tree, found by
 * walking /proc's parent links from the daemon, and split by depth:
 * manager, zygote, interpreters. The figure is the tree with
 * o.conversations conversations, each holding a small DataFrame, less the
 * tree at rest, divided by their number; both are read SETTLE_S after the
 * last cell. ipykernel: one process holding the same frame alone, then all
 * of them side by side. The conversations and ipykernels made here stay in
 * the run for the throughput mode. */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One process's smaps_rollup, in KiB. */
static int s_rollup(pid_t pid, mem_t *out)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "re");
    *out = (mem_t){.nproc = 1};
    if (!f)
        return -1;
    int got = 0;
    while (fgets(line, sizeof line, f)) {
        double v;
        if (sscanf(line, "Pss: %lf", &v) == 1) {
            out->pss_kib = v;
            got |= 1;
        } else if (sscanf(line, "Rss: %lf", &v) == 1) {
            out->rss_kib = v;
            got |= 2;
        } else if (sscanf(line, "Private_Clean: %lf", &v) == 1 ||
                   sscanf(line, "Private_Dirty: %lf", &v) == 1) {
            out->uss_kib += v;
        }
    }
    fclose(f);
    return got == 3 ? 0 : -1;
}

static void s_mem_add(mem_t *m, const mem_t *p)
{
    m->pss_kib += p->pss_kib;
    m->rss_kib += p->rss_kib;
    m->uss_kib += p->uss_kib;
    m->nproc += p->nproc;
}

/* PSS and RSS summed over |root| and every descendant. */
int serve_tree_mem(pid_t root, tree_mem_t *out)
{
    *out = (tree_mem_t){0};
    proc_t *procs;
    long n = serve_proc_list(&procs);
    if (n < 0)
        return -1;
    pid_t *queue = malloc(((size_t)n + 1) * sizeof *queue);
    int *depth = malloc(((size_t)n + 1) * sizeof *depth);
    if (!queue || !depth) {
        free(procs);
        free(queue);
        free(depth);
        return -1;
    }
    size_t head = 0, tail = 0;
    queue[tail] = root;
    depth[tail++] = 0;
    while (head < tail) {
        pid_t p = queue[head];
        int dp = depth[head++];
        mem_t one;
        if (s_rollup(p, &one) == 0) {
            s_mem_add(&out->total, &one);
            s_mem_add(dp == 0 ? &out->root : dp == 1 ? &out->children : &out->deeper, &one);
        }
        for (long i = 0; i < n && tail <= (size_t)n; i++)
            if (procs[i].ppid == p) {
                queue[tail] = procs[i].pid;
                depth[tail++] = dp + 1;
            }
    }
    free(procs);
    free(queue);
    free(depth);
    return 0;
}

static const char *const s_script_frame[] = {CODE_FRAME, NULL};
static const char *const s_script_ipk[] = {CODE_IMPORTS, CODE_FRAME, NULL};

int serve_frame_hub(run_t *r, hub_t *h, long n, double cell_timeout_s)
{
    r->convs = calloc((size_t)n, sizeof *r->convs);
    if (serve_hub_init(h, cell_timeout_s) < 0 || !r->convs)
        return -1;
    h->watch = r->d.pid;
    h->on_done = serve_on_script;
    return 0;
}

int serve_frame_add(hub_t *h, client_t *c)
{
    if (serve_hub_add(h, c) < 0)
        return -1;
    c->script = s_script_frame;
    serve_hub_sync(h, c);
    serve_hub_wait(h, 0);
    return 0;
}

/* The end of a setup whose starts returned |rc|: unless that failed, up to
 * 300 s for every client's script, then the first of the |n| clients |cl|
 * that failed is said on stderr ("serve: WHAT N: why"). Returns 0 or -1. */
static int s_setup_done(hub_t *h, const client_t *cl, size_t n, const char *what, int rc)
{
    if (rc == 0 && serve_hub_settle(h, bench_now_us() + 300e6) < 0)
        rc = -1;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (cl[i].failure[0]) {
            fprintf(stderr, "serve: %s %zu: %s\n", what, i + 1, cl[i].failure);
            rc = -1;
        }
    return rc;
}

/* Starts |n| conversations (no execution cap), each running CODE_FRAME.
 * They stay in r->convs. */
static int s_setup_convs(run_t *r, long n)
{
    hub_t h;
    if (serve_frame_hub(r, &h, n, CELL_TIMEOUT_S) < 0) {
        serve_hub_free(&h);
        return -1;
    }
    json_auto_t *req = json_pack("{s:i}", "max_executions", 0);
    int rc = 0;
    for (long i = 0; i < n && rc == 0; i++) {
        client_t *c = &r->convs[i];
        bool refused;
        r->nconvs++;
        if (serve_conv_start(r, c, req, NULL, &refused) < 0 || serve_frame_add(&h, c) < 0) {
            fprintf(stderr, "serve: starting conversation %ld: %s\n", i + 1, c->failure);
            rc = -1;
        }
    }
    rc = s_setup_done(&h, r->convs, r->nconvs, "conversation", rc);
    if (h.fatal[0])
        fprintf(stderr, "serve: %s\n", h.fatal);
    serve_hub_free(&h);
    return rc;
}

/* Launches |n| ipykernels, each importing pandas, numpy, matplotlib and
 * making the DataFrame. With |alone|, PSS of the first is measured before
 * the others launch. */
static int s_setup_ipks(run_t *r, long n, mem_res_t *mem)
{
    r->ipks = calloc((size_t)n, sizeof *r->ipks);
    r->ipk_cl = calloc((size_t)n, sizeof *r->ipk_cl);
    if (!r->ipks || !r->ipk_cl)
        return -1;
    hub_t h;
    if (serve_hub_init(&h, IPYKERNEL_START_TIMEOUT_S) < 0)
        return -1;
    h.on_done = serve_on_script;
    int rc = 0;
    for (long i = 0; i < n && rc == 0; i++) {
        client_t *c = &r->ipk_cl[i];
        r->nipks++;
        if (serve_ipk_launch(r->ctx, &r->ipks[i], c) < 0 || serve_hub_add(&h, c) < 0) {
            fprintf(stderr, "serve: launching ipykernel %ld: %s\n", i + 1, c->failure);
            rc = -1;
            break;
        }
        c->script = s_script_ipk;
        serve_hub_sync(&h, c);
        if (i == 0 && mem) { /* the first one alone, for its PSS */
            if (serve_hub_settle(&h, bench_now_us() + 300e6) < 0 || c->failure[0]) {
                rc = -1;
                break;
            }
            bench_sleep_ms(SETTLE_S * 1000);
            tree_mem_t t;
            if (serve_tree_mem(r->ipks[0].pid, &t) == 0)
                mem->ipk_alone = t.total;
        }
    }
    rc = s_setup_done(&h, r->ipk_cl, r->nipks, "ipykernel", rc);
    serve_hub_free(&h);
    return rc;
}

int serve_mode_memory(run_t *r, mem_res_t *mem)
{
    if (r->o.run_sc) {
        fprintf(stderr, "memory: daemon tree at rest, then %ld conversations holding a "
                        "DataFrame\n", r->o.conversations);
        bench_sleep_ms(SETTLE_S * 1000);
        if (serve_tree_mem(r->d.pid, &mem->base) < 0)
            return -1;
        double t0 = bench_now_us();
        if (s_setup_convs(r, r->o.conversations) < 0)
            return -1;
        fprintf(stderr, "  %ld conversations started and holding a DataFrame in %.1f s\n",
                r->o.conversations, (bench_now_us() - t0) / 1e6);
        bench_sleep_ms(SETTLE_S * 1000);
        if (serve_tree_mem(r->d.pid, &mem->loaded) < 0)
            return -1;
        mem->conversations = (long)r->nconvs;
        for (size_t i = 0; i < r->nconvs; i++)
            mem->sc_bad += r->convs[i].bad;
        mem->have_sc = true;
    }
    if (r->o.run_ipk) {
        fprintf(stderr, "memory: %ld ipykernels, each importing pandas, numpy, matplotlib and "
                        "holding the DataFrame\n", r->o.ipykernels);
        if (s_setup_ipks(r, r->o.ipykernels, mem) < 0)
            return -1;
        bench_sleep_ms(SETTLE_S * 1000);
        for (size_t i = 0; i < r->nipks; i++) {
            tree_mem_t t;
            if (serve_tree_mem(r->ipks[i].pid, &t) == 0)
                mem->ipk_many_pss_kib += t.total.pss_kib;
            mem->ipk_bad += r->ipk_cl[i].bad;
        }
        mem->ipk_many = (long)r->nipks;
        mem->have_ipk = true;
    }
    return 0;
}

double serve_per_conv_mib(const mem_res_t *m)
{
    return m->conversations
               ? (m->loaded.total.pss_kib - m->base.total.pss_kib) / 1024.0 / (double)m->conversations
               : 0;
}

void serve_print_tree(const char *when, const tree_mem_t *t)
{
    printf("  %-22s PSS %8.1f MiB in %ld processes: manager %.1f, zygote %.1f, %ld interpreters "
           "%.1f",
           when, t->total.pss_kib / 1024, t->total.nproc, t->root.pss_kib / 1024,
           t->children.pss_kib / 1024, t->deeper.nproc, t->deeper.pss_kib / 1024);
    if (t->deeper.nproc)
        printf(" (private to each: %.2f MiB)", t->deeper.uss_kib / 1024 / (double)t->deeper.nproc);
    printf("\n");
}

void serve_report_memory(const run_t *r, const mem_res_t *m)
{
    printf("\n== memory: PSS (smaps_rollup) per idle conversation holding a small DataFrame\n"
           "   (1000 rows x 3 columns, shown with df.head())\n");
    if (m->have_sc) {
        printf("sandcell daemon tree (pool of %s):\n", serve_pool_desc(r->o.pool));
        serve_print_tree("no conversation:", &m->base);
        char label[64];
        snprintf(label, sizeof label, "%ld conversations:", m->conversations);
        serve_print_tree(label, &m->loaded);
        printf("  per conversation (difference / %ld): %.2f MiB PSS\n", m->conversations,
               serve_per_conv_mib(m));
    }
    if (m->have_ipk) {
        printf("ipykernel (pandas, numpy, matplotlib imported, same DataFrame):\n");
        printf("  one process alone:      PSS %8.1f MiB (RSS %.1f, private %.1f)\n",
               m->ipk_alone.pss_kib / 1024, m->ipk_alone.rss_kib / 1024,
               m->ipk_alone.uss_kib / 1024);
        if (m->ipk_many)
            printf("  %ld processes side by side: PSS %8.1f MiB, %.1f MiB each\n", m->ipk_many,
                   m->ipk_many_pss_kib / 1024, m->ipk_many_pss_kib / 1024 / (double)m->ipk_many);
    }
    if (m->have_sc && m->have_ipk && serve_per_conv_mib(m) > 0)
        printf("ratio ipykernel (alone) / sandcell (per conversation): %.1fx; "
               "ipykernel (side by side, each) / sandcell: %.1fx\n",
               m->ipk_alone.pss_kib / 1024 / serve_per_conv_mib(m),
               m->ipk_many ? m->ipk_many_pss_kib / 1024 / (double)m->ipk_many / serve_per_conv_mib(m)
                           : 0);
    if (m->sc_bad || m->ipk_bad)
        printf("DataFrame cells whose reply was not ok: sandcell %ld, ipykernel %ld\n", m->sc_bad,
               m->ipk_bad);
}

