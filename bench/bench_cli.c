/* bench_cli — the benchmarks' shared command-line steps.
 *
 * bench_cli_parse() builds one getopt_long table from the shared options
 * and the benchmark's own, so that abbreviations are resolved over both
 * (`--s` is ambiguous in rtt: --sandcell or --samples). */
#include "bench_cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_kernel.h"
#include "util.h"

#define MAX_OPTIONS 16
#define MAX_COUNT 10000000

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

int bench_cli_count(const char *prog, const char *flag, const char *arg, long min, long *out)
{
    if (bench_cli_long(arg, min, MAX_COUNT, out))
        return 0;
    fprintf(stderr, "%s: %s wants a %s integer\n", prog, flag,
            min > 0 ? "positive" : "non-negative");
    return -1;
}

/* getopt_long's value for own option |i|: past every character. */
#define OWN_VAL(i) (256 + (int)(i))

/* The table getopt_long gets: the shared options, then the benchmark's
 * own. Returns -1 if they do not fit (a benchmark's bug). */
static int s_table(const bench_cli_t *cli, struct option *out, size_t cap)
{
    static const struct option shared[] = {
        {"count", required_argument, NULL, 'n'},
        {"sandcell", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"samples", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
    };
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(shared); i++)
        if (shared[i].val != 'S' || cli->samples)
            out[n++] = shared[i];
    for (size_t i = 0; cli->own && cli->own[i].name; i++) {
        if (n + 1 >= cap)
            return -1;
        const bench_opt_t *own = &cli->own[i];
        out[n++] = (struct option){own->name, own->flag ? no_argument : required_argument, NULL,
                                   OWN_VAL(i)};
    }
    out[n] = (struct option){0};
    return 0;
}

/* One of the benchmark's own options, with its argument |arg|. */
static int s_own(const bench_cli_t *cli, const bench_opt_t *own, const char *arg)
{
    if (own->flag) {
        *own->flag = true;
        return 0;
    }
    if (own->count) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", own->name);
        return bench_cli_count(cli->prog, flag, arg, own->min, own->count);
    }
    return own->parse(arg, cli->self);
}

int bench_cli_parse(int argc, char **argv, const bench_cli_t *cli, bench_opts_t *o)
{
    struct option longs[MAX_OPTIONS + 1];
    if (s_table(cli, longs, ARRAY_SIZE(longs)) < 0) {
        fprintf(stderr, "%s: too many options\n", cli->prog);
        return -1;
    }
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (bench_cli_count(cli->prog, "--count", optarg, 1, &o->count) < 0)
                return -1;
            break;
        case 's':
            o->sandcell = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'S':
            o->samples = optarg;
            break;
        default:
            if (c < OWN_VAL(0))
                return bench_cli_other(c, cli->usage); /* --help, or getopt's '?' */
            if (s_own(cli, &cli->own[c - OWN_VAL(0)], optarg) < 0)
                return -1;
        }
    }
    return bench_cli_no_operands(argc, cli->usage);
}

/* The default sandcell binary, ../sandcell next to this one: the
 * benchmarks live in bench/ of the build tree, sandcell at its top. */
static int s_default_sandcell(char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    int w = snprintf(out, len, "%s/../sandcell", self);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

int bench_cli_sandcell(const char *prog, const char *given, bool needed, char *out, size_t len)
{
    if (given)
        snprintf(out, len, "%s", given);
    else if (s_default_sandcell(out, len) < 0)
        snprintf(out, len, "./sandcell");
    if (needed && access(out, X_OK) < 0) {
        fprintf(stderr, "%s: %s: %s (run make, or pass --sandcell PATH)\n", prog, out,
                strerror(errno));
        return -1;
    }
    return 0;
}

int bench_cli_start(int argc, char **argv, const bench_cli_t *cli, bench_opts_t *o)
{
    int rc = bench_cli_parse(argc, argv, cli, o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (bench_cli_sandcell(cli->prog, o->sandcell, !o->no_sandcell, o->sandcell_path,
                           sizeof o->sandcell_path) < 0)
        return 2;
    return bench_init(cli->prog) < 0 ? 1 : -1;
}
