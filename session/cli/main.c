/* sandcell — the command-line entry point: parse, then run the command. */
#include <stdio.h>

#include "cli.h"
#include "client_cmd.h"
#include "config.h"
#include "doctor.h"
#include "export_cmd.h"
#include "install.h"
#include "kernel_cmd.h"
#include "replay_cmd.h"
#include "serve.h"

int main(int argc, char **argv)
{
    cli_options_t opts;
    char why[256];
    if (cli_parse(argc, argv, &opts, why, sizeof why) < 0) {
        fprintf(stderr, "sandcell: %s\n", why);
        return 2;
    }
    switch (opts.command) {
    case CMD_HELP:
        cli_usage(stdout, opts.help_topic);
        return 0;
    case CMD_VERSION:
        printf("sandcell %s\n", PACKAGE_VERSION);
        return 0;
    case CMD_INSTALL:
        return install_run(&opts);
    case CMD_KERNEL:
        return kernel_cmd_run(&opts);
    case CMD_DOCTOR:
        return doctor_run();
    case CMD_SERVE: {
        serve_options_t serve = cli_serve_options(&opts);
        return serve_run(&serve);
    }
    case CMD_MCP: {
        mcp_options_t mcp = cli_mcp_options(&opts);
        return mcp_server_run(&mcp);
    }
    case CMD_EXPORT:
        return export_cmd_run(&opts);
    case CMD_REPLAY:
        return replay_cmd_run(&opts);
    case CMD_CLIENT:
        return client_cmd_run(opts.client_argc, opts.client_argv);
    }
    return 2;
}
