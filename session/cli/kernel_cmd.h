/* kernel_cmd — `sandcell kernel -f CONNECTION_FILE`: one conversation on
 * the sockets of a Jupyter connection file, as a kernelspec starts it. */
#ifndef SANDCELL_KERNEL_CMD_H
#define SANDCELL_KERNEL_CMD_H

#include "cli.h"

/* Runs the kernel until shutdown_request, SIGTERM or SIGHUP. Returns a
 * process exit status. */
int kernel_cmd_run(const cli_options_t *opts);

#endif
