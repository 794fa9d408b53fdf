/* workspace — moving files into and out of a conversation's workspace
 * from the manager, while the interpreter may be running a cell.
 *
 * The workspace is reached through /proc/PID/root/workspace (or, without a
 * jail, /proc/PID/cwd). Paths are relative, without "..": openat2 with
 * RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS enforces that against an
 * interpreter that races to swap in a symlink, and only regular files are
 * read or written. */
#ifndef SANDCELL_WORKSPACE_H
#define SANDCELL_WORKSPACE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define WORKSPACE_MAX_FILE ((size_t)16 << 20)

/* Writes |len| bytes as |path| in the workspace of interpreter |pid|,
 * owned by the interpreter's user. Returns 0, or -1 with |why|. */
int workspace_put(pid_t pid, bool jailed, const char *path, const void *data, size_t len,
                  char *why, size_t why_len);

/* Reads |path| from the workspace of interpreter |pid| into *data (caller
 * frees) and *len. Returns 0, or -1 with |why|. */
int workspace_get(pid_t pid, bool jailed, const char *path, void **data, size_t *len,
                  char *why, size_t why_len);

/* Lists folder |path| of the workspace ("" or NULL: its top) as a new
 * array of {"name", "type": "file"|"directory"|"symlink"|"other", "size"}
 * in *out (caller owns it). Same path rules as workspace_get. Returns 0, or
 * -1 with |why|. */
int workspace_list(pid_t pid, bool jailed, const char *path, json_t **out, char *why,
                   size_t why_len);

#endif
