/* bench_cli — the benchmarks' shared command-line steps. */
#include "bench_cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>

int bench_cli_other(int opt, bench_usage_fn usage)
{
    if (opt == 'h') {
        usage(stdout);
        return 1;
    }
    usage(stderr);
    return -1;
}

int bench_cli_no_operands(int argc, bench_usage_fn usage)
{
    if (optind < argc) {
        usage(stderr);
        return -1;
    }
    return 0;
}

bool bench_cli_long(const char *arg, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || *end || end == arg || v < min || v > max)
        return false;
    *out = v;
    return true;
}
