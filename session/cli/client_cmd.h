/* client_cmd — `sandcell start | ls | stop | exec | put | get`: the
 * command-line clients of `sandcell serve`. Each parses its own flags. */
#ifndef SANDCELL_CLIENT_CMD_H
#define SANDCELL_CLIENT_CMD_H

#include <stdbool.h>
#include <stdio.h>

/* Whether |name| is one of the client commands. */
bool client_cmd_is_command(const char *name);

/* Prints the usage of the client command |name|, or of all of them when
 * |name| is NULL, in the style of cli_usage. */
void client_cmd_usage(FILE *out, const char *name);

/* Runs a client command: argv[0] is its name, the rest its arguments
 * (does not take ownership; strings are not modified). Returns the process
 * exit status: 0 done, 1 failed (one line on stderr says why), 2 bad usage,
 * and for exec 124 when --timeout ran out, 130 when interrupted. */
int client_cmd_run(int argc, char **argv);

#endif
