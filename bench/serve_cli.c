/* serve_cli — bench/serve's command line.
 *
 * getopt_long over long options only; every number is range-checked, a
 * bad one is a usage error (exit 2). --modes throughput implies memory,
 * whose conversations it runs on; neighbour runs only when named. */
#include "serve.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_cli.h"

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: serve [--modes start,rtt,memory,throughput,neighbour]\n"
            "             [--only sandcell|ipykernel]\n"
            "             [--rounds N] [--starts N] [--burst N] [--gap-ms MS]\n"
            "             [--conversations N] [--ipykernels N] [--duration S] [--pool K]\n"
            "             [--sandcell PATH] [--daemon-arg=ARG ...]\n"
            "       serve --density N [--pool K] [--sandcell PATH]\n"
            "`sandcell serve` against ipykernel: start latency, round trip, memory per idle\n"
            "conversation, throughput over many conversations; neighbour: one conversation's\n"
            "round trip while another floods, stalls, reads slowly or forges; --density N\n"
            "alone: N live conversations.\n"
            "  --modes LIST       which modes (default start,rtt,memory,throughput;\n"
            "                     throughput needs memory's conversations and runs it too;\n"
            "                     neighbour only when named)\n"
            "  --rounds N         start: interleaved rounds (default 10)\n"
            "  --starts N         start: paced sandcell starts per round (default 10)\n"
            "  --burst N          start: back-to-back sandcell starts per round (default 8)\n"
            "  --gap-ms MS        start: pause after each paced start (default 100)\n"
            "  --conversations N  memory, throughput: sandcell conversations (default 100)\n"
            "  --ipykernels N     memory, throughput: ipykernel processes (default 10)\n"
            "  --duration S       rtt, throughput, neighbour: seconds per configuration, or\n"
            "                     per condition and side (default 10)\n"
            "  --pool K           the daemon's --pool (default: the daemon's default)\n"
            "  --density N        only the density mode, with N conversations (issue: 1000)\n"
            "  --sandcell PATH    the sandcell binary (default: ../sandcell next to serve)\n"
            "  --daemon-arg=ARG   one more argument for `sandcell serve` (up to 8), e.g.\n"
            "                     --daemon-arg=--no-journal (default: journals in the temp dir)\n");
}

int serve_parse_args(int argc, char **argv, options_t *o)
{
    *o = (options_t){.run_sc = true, .run_ipk = true, .m_start = true, .m_rtt = true,
                     .m_memory = true, .m_tput = true, .rounds = 10, .starts = 10, .burst = 8,
                     .gap_ms = 100, .conversations = 100, .ipykernels = 10, .duration_s = 10,
                     .pool = -1};
    static const struct option longs[] = {
        {"modes", required_argument, NULL, 'm'},    {"only", required_argument, NULL, 'o'},
        {"rounds", required_argument, NULL, 'r'},   {"starts", required_argument, NULL, 's'},
        {"burst", required_argument, NULL, 'b'},    {"gap-ms", required_argument, NULL, 'g'},
        {"conversations", required_argument, NULL, 'c'},
        {"ipykernels", required_argument, NULL, 'i'},
        {"duration", required_argument, NULL, 'd'}, {"pool", required_argument, NULL, 'p'},
        {"density", required_argument, NULL, 'D'},  {"sandcell", required_argument, NULL, 'S'},
        {"daemon-arg", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},           {0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        bool ok = true;
        switch (ch) {
        case 'm': {
            o->m_start = o->m_rtt = o->m_memory = o->m_tput = o->m_neighbour = false;
            char *list = strdup(optarg), *save = NULL;
            for (char *t = list ? strtok_r(list, ",", &save) : NULL; t && ok;
                 t = strtok_r(NULL, ",", &save)) {
                if (strcmp(t, "start") == 0)
                    o->m_start = true;
                else if (strcmp(t, "rtt") == 0)
                    o->m_rtt = true;
                else if (strcmp(t, "memory") == 0)
                    o->m_memory = true;
                else if (strcmp(t, "throughput") == 0)
                    o->m_tput = o->m_memory = true;
                else if (strcmp(t, "neighbour") == 0)
                    o->m_neighbour = true;
                else
                    ok = false;
            }
            free(list);
            break;
        }
        case 'o':
            o->run_sc = strcmp(optarg, "sandcell") == 0;
            o->run_ipk = strcmp(optarg, "ipykernel") == 0;
            ok = o->run_sc || o->run_ipk;
            break;
        case 'r': ok = bench_cli_long(optarg, 1, 100000, &o->rounds); break;
        case 's': ok = bench_cli_long(optarg, 0, 100000, &o->starts); break;
        case 'b': ok = bench_cli_long(optarg, 0, 1000, &o->burst); break;
        case 'g': ok = bench_cli_long(optarg, 0, 100000, &o->gap_ms); break;
        case 'c': ok = bench_cli_long(optarg, 1, 100000, &o->conversations); break;
        case 'i': ok = bench_cli_long(optarg, 1, 1000, &o->ipykernels); break;
        case 'd': ok = bench_cli_long(optarg, 1, 100000, &o->duration_s); break;
        case 'p': ok = bench_cli_long(optarg, 0, 64, &o->pool); break;
        case 'D': ok = bench_cli_long(optarg, 1, 100000, &o->density); break;
        case 'S': o->sandcell = optarg; break;
        case 'a':
            ok = o->ndaemon_args < MAX_DAEMON_ARGS;
            if (ok)
                o->daemon_args[o->ndaemon_args++] = optarg;
            break;
        case 'h': s_usage(stdout); return 1;
        default: ok = false;
        }
        if (!ok) {
            if (ch != '?')
                fprintf(stderr, "serve: bad value: %s\n", optarg ? optarg : "");
            s_usage(stderr);
            return -1;
        }
    }
    return bench_cli_no_operands(argc, s_usage);
}

