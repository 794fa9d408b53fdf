/* client_cmd_internal — what client_cmd.c shares with exec_cmd.c: the
 * flag parser, error printing and daemon calls of the client commands.
 * Not for use outside session/cli/client_cmd.c and session/cli/exec_cmd.c. */
#ifndef SANDCELL_CLIENT_CMD_INTERNAL_H
#define SANDCELL_CLIENT_CMD_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "control_client.h"
#include "wire.h"

#define RUNTIME_FLAG                                                                               \
    "    --runtime-file PATH  the daemon's runtime file (default: $SANDCELL_RUNTIME_FILE,\n"       \
    "                       else $XDG_RUNTIME_DIR/sandcell-serve.json,\n"                          \
    "                       else /tmp/sandcell-UID/serve.json)\n"

/* One flag of a command: a value flag (|value| set) stores its argument
 * there, a switch sets *|set|. |alias| is a second spelling, or NULL. */
typedef struct {
    const char *name;
    const char *alias;
    const char **value;
    bool *set;
} client_option_t;

/* Prints "sandcell CMD: ..." and a hint to --help on stderr. Returns 2. */
int client_cmd_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "sandcell CMD: ..." on stderr. Returns 1. */
int client_cmd_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A client command's command line once parsed: --runtime-file, which
 * every client command takes (NULL: the default path), and the arguments
 * that are not flags, borrowed from argv in an array of their own. */
typedef struct {
    const char *runtime_file;
    const char **pos;
    int n_pos;
} client_args_t;

/* Frees |args|'s array of arguments. */
void client_args_clear(client_args_t *args);
#define _cleanup_client_args_ __attribute__((cleanup(client_args_clear)))

/* Parses argv[1..] (argv[0] is the command) against --runtime-file and
 * |opts| (NULL when n_opts is 0); "NAME VALUE" and "NAME=VALUE" both
 * work, "--" ends the flags, "-" is an argument. Fills *args, which the
 * caller clears (client_args_clear), on failure too. Returns 0, or 1 (out
 * of memory) or 2 (bad usage) after printing the error. */
int client_cmd_parse(int argc, char **argv, const client_option_t *opts, size_t n_opts,
                     client_args_t *args);

/* client_cmd_parse for a command that takes options only: an argument is
 * a usage error (2). */
int client_cmd_parse_options(int argc, char **argv, const client_option_t *opts, size_t n_opts,
                             client_args_t *args);

/* Opens the daemon's control client from |runtime_file| (NULL: the
 * default path). Returns 0 with *out (caller destroys it), or 1 after
 * printing why not (no daemon: "sandcell: no daemon found ..."). */
int client_cmd_connect(const char *cmd, const char *runtime_file, control_client_t **out);

/* Sends |msg_type| with |content| (borrowed; NULL counts as out of memory)
 * and checks the reply's status. Returns 0 with *reply (caller clears it),
 * or 1 after printing "sandcell CMD: ENAME: EVALUE" or why no reply came. */
int client_cmd_call(control_client_t *cc, const char *cmd, const char *msg_type,
                    const json_t *content, const wire_frame_t *buffers, size_t n_buffers,
                    wire_msg_t *reply);

/* Reads all of |fd| (at most WIRE_MAX_BYTES) into *data, NUL-terminated;
 * caller owns it. Returns 0 or -errno. */
int client_cmd_read_all(int fd, char **data, size_t *size);


/* `sandcell exec` (exec_cmd.c). Same contract as client_cmd_run. */
int exec_cmd_run(int argc, char **argv);

#endif
