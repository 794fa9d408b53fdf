/* bench_cli — what the benchmarks' command lines share: the options of
 * rtt, jail and idle (--count, --sandcell, --json, --samples, --help), a
 * usage error, operands, a whole number within bounds, and where the
 * sandcell binary is.
 *
 * Every benchmark parses with getopt_long and returns 0 to run, 1 after
 * --help (exit 0) or -1 on a usage error (exit 2); the usage text goes to
 * stdout when asked for and to stderr on an error. rtt, jail and idle go
 * through bench_cli_parse(), which handles the shared options and hands
 * each benchmark its own; serve has options of its own only and uses the
 * steps below it. */
#ifndef SANDCELL_BENCH_CLI_H
#define SANDCELL_BENCH_CLI_H

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Prints a benchmark's usage text on |f|. */
typedef void (*bench_usage_fn)(FILE *f);

/* The usage lines of the shared options, for the benchmarks' own texts
 * (|prog| a string literal: "rtt"). */
#define BENCH_USAGE_SANDCELL(prog)                                                         \
    "  --sandcell PATH  the sandcell binary (default: ../sandcell next to " prog ")\n"
#define BENCH_USAGE_JSON "  --json           print one JSON line instead of the table\n"
#define BENCH_USAGE_SAMPLES "  --samples FILE   also write every measurement, in order, as CSV\n"

/* The shared options, as parsed; the caller sets the defaults first. */
typedef struct {
    long count;           /* --count N, 1 to 10000000 */
    const char *sandcell; /* --sandcell PATH, borrowed from argv; NULL for the default */
    bool json;            /* --json */
    const char *samples;  /* --samples FILE, borrowed from argv; NULL for none */
    bool no_sandcell;     /* set by a benchmark's own option when it will not run
                             sandcell (rtt --only ipykernel) */
    char sandcell_path[PATH_MAX]; /* the binary to run, set by bench_cli_start */
} bench_opts_t;

/* Takes the argument |arg| of one of a benchmark's own options, |self|
 * being the options it fills (bench_cli_t.self). Returns 0, or -1 after
 * saying why on stderr (a usage error). */
typedef int (*bench_arg_fn)(const char *arg, void *self);

/* One of a benchmark's own options, --NAME, which does one of three
 * things: a whole number into *count (as bench_cli_count, from |min|), a
 * flag set to true, or its argument handed to |parse|. */
typedef struct {
    const char *name; /* NULL ends a list */
    long *count;
    long min;
    bool *flag;
    bench_arg_fn parse;
} bench_opt_t;

/* One benchmark's command line. */
typedef struct {
    const char *prog;       /* "rtt": starts every message */
    bench_usage_fn usage;
    bool samples;           /* it takes --samples FILE */
    const bench_opt_t *own; /* its own options, up to a NULL name; NULL for none */
    void *self;             /* for each own option's |parse| */
} bench_cli_t;

/* The start of rtt's, jail's and idle's main(): parses |argv|
 * (bench_cli_parse), finds the sandcell binary into o->sandcell_path
 * (bench_cli_sandcell; it must be there unless o->no_sandcell), then
 * initialises libsodium and the signal handlers (bench_init). Returns -1
 * to go on with the run, or the status to exit with: 0 after --help, 2 on
 * a usage error, 1 when libsodium fails. */
int bench_cli_start(int argc, char **argv, const bench_cli_t *cli, bench_opts_t *o);

/* Parses |argv| for |cli| into |o| (defaults already set): --count,
 * --sandcell, --json, --help, --samples when cli->samples, and cli->own.
 * Returns 0 to run, 1 after --help (printed on stdout), -1 on a usage
 * error (said on stderr). */
int bench_cli_parse(int argc, char **argv, const bench_cli_t *cli, bench_opts_t *o);

/* Parses |arg|, the argument of |flag|, as a whole number from |min| (0 or
 * 1) to 10000000 into *out. On anything else says "PROG: FLAG wants a
 * positive integer" ("non-negative" when |min| is 0) and returns -1. */
int bench_cli_count(const char *prog, const char *flag, const char *arg, long min, long *out);

/* For the `default:` of the getopt_long switch: 'h' (--help) prints the
 * usage on stdout and returns 1; anything else (getopt's '?') prints it on
 * stderr and returns -1. */
int bench_cli_other(int opt, bench_usage_fn usage);

/* After the getopt_long loop: an operand is a usage error (usage on
 * stderr, -1); none, 0. */
int bench_cli_no_operands(int argc, bench_usage_fn usage);

/* Parses |arg| as a whole decimal number in [min, max] into *out. False
 * (and *out untouched) when it is empty, not a number, has anything after
 * it or is out of bounds. */
bool bench_cli_long(const char *arg, long min, long max, long *out);

/* Writes into |out| the sandcell binary to run: |given| (--sandcell) if
 * not NULL, else ../sandcell next to this benchmark, else ./sandcell.
 * When |needed|, it must be executable: if not, says "PROG: PATH: error
 * (run make, or pass --sandcell PATH)" and returns -1 (a usage error).
 * Returns 0. */
int bench_cli_sandcell(const char *prog, const char *given, bool needed, char *out, size_t len);

#endif
