/* bench_stats — samples in microseconds and their percentiles, shared by
 * the benchmarks. */
#ifndef SANDCELL_BENCH_STATS_H
#define SANDCELL_BENCH_STATS_H

#include <stddef.h>

typedef struct {
    double *v; /* owned; in the order measured */
    size_t n, cap;
} bench_samples_t;

typedef struct {
    double p50, p90, p99;
} bench_pcts_t;

/* Appends |v|. Returns 0, or -1 when out of memory. */
int bench_samples_push(bench_samples_t *s, double v);

/* Frees what |s| owns and empties it. */
void bench_samples_free(bench_samples_t *s);

/* Nearest-rank percentiles of a copy of |s|; zeros when it is empty. */
bench_pcts_t bench_pcts(const bench_samples_t *s);

#endif
