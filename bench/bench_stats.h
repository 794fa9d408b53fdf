/* bench_stats — samples in microseconds, their percentiles, and how the
 * benchmarks write them out (a JSON line, a CSV file), shared by the
 * benchmarks. */
#ifndef SANDCELL_BENCH_STATS_H
#define SANDCELL_BENCH_STATS_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

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

/* {"p50": .., "p90": .., "p99": ..}: a new reference, or NULL. */
json_t *bench_pcts_json(const bench_pcts_t *p);

/* Prints |root| (borrowed) on stdout as one compact line, reals with six
 * significant digits. */
void bench_print_json(const json_t *root);

/* Opens |path| for writing and writes the CSV header line |header| (no
 * newline). Returns the file, or NULL after saying "PROG: PATH: error" on
 * stderr. */
FILE *bench_csv_open(const char *prog, const char *path, const char *header);

/* Closes |f| (the CSV of bench_csv_open at |path|). Returns 0, or -1 after
 * saying why as bench_csv_open does. */
int bench_csv_close(const char *prog, const char *path, FILE *f);

#endif
