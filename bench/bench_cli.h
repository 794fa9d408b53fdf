/* bench_cli — what the benchmarks' command lines share: --help, a usage
 * error, operands, and a whole number within bounds.
 *
 * Every benchmark parses with getopt_long and returns 0 to run, 1 after
 * --help (exit 0) or -1 on a usage error (exit 2); the usage text goes to
 * stdout when asked for and to stderr on an error. Each benchmark words
 * its own messages about a bad value. */
#ifndef SANDCELL_BENCH_CLI_H
#define SANDCELL_BENCH_CLI_H

#include <stdbool.h>
#include <stdio.h>

/* Prints a benchmark's usage text on |f|. */
typedef void (*bench_usage_fn)(FILE *f);

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

#endif
