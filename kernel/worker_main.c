/* sandcell-worker — the zygote binary. The manager execs it with its
 * control channel on fd 3; it never links ZeroMQ and never sees a key. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "interp.h"
#include "zygote.h"

#define CONTROL_FD 3

static void s_usage(FILE *out)
{
    fputs("usage: sandcell-worker [--mock] [--preload MODULES]\n"
          "Started by sandcell with its control channel on fd 3; not meant to be run by hand.\n",
          out);
}

int main(int argc, char **argv)
{
    const interp_ops_t *ops = &py_interp_ops;
    interp_config_t config = {.preload = ""};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mock") == 0) {
            ops = &mock_interp_ops;
        } else if (strcmp(argv[i], "--preload") == 0 && i + 1 < argc) {
            config.preload = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0) {
            s_usage(stdout);
            return 0;
        } else {
            s_usage(stderr);
            return 2;
        }
    }
    /* _exit: the embedded Python is never finalised (its state lives as long
     * as the process), so running atexit handlers would only be slow. */
    _exit(zygote_run(CONTROL_FD, ops, &config));
}
