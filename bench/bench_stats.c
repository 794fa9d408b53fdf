/* bench_stats — samples, nearest-rank percentiles, JSON and CSV. */
#include "bench_stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int bench_samples_push(bench_samples_t *s, double v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        double *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    return 0;
}

void bench_samples_free(bench_samples_t *s)
{
    free(s->v);
    *s = (bench_samples_t){NULL, 0, 0};
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bench_pcts_t bench_pcts(const bench_samples_t *s)
{
    bench_pcts_t p = {0, 0, 0};
    double *v = s->n ? malloc(s->n * sizeof *v) : NULL;
    if (!v)
        return p;
    memcpy(v, s->v, s->n * sizeof *v);
    qsort(v, s->n, sizeof *v, s_cmp_double);
    double *out[] = {&p.p50, &p.p90, &p.p99};
    const double q[] = {50, 90, 99};
    for (int i = 0; i < 3; i++) {
        size_t rank = (size_t)(q[i] / 100.0 * (double)s->n + 0.999999);
        *out[i] = v[(rank < 1 ? 1 : rank > s->n ? s->n : rank) - 1];
    }
    free(v);
    return p;
}

json_t *bench_pcts_json(const bench_pcts_t *p)
{
    return json_pack("{s:f, s:f, s:f}", "p50", p->p50, "p90", p->p90, "p99", p->p99);
}

void bench_print_json(const json_t *root)
{
    char *text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (text)
        printf("%s\n", text);
    free(text);
}

FILE *bench_csv_open(const char *prog, const char *path, const char *header)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return NULL;
    }
    fprintf(f, "%s\n", header);
    return f;
}

int bench_csv_close(const char *prog, const char *path, FILE *f)
{
    if (fclose(f) != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    return 0;
}
