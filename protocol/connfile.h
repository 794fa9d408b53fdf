/* connfile — Jupyter connection files (the JSON that names a kernel's
 * transport, address, five ports and key).
 *
 * For transport "tcp" an endpoint is tcp://IP:PORT; for "ipc" it is
 * ipc://IP-PORT, where IP is a path prefix, as jupyter_client does. */
#ifndef SANDCELL_CONNFILE_H
#define SANDCELL_CONNFILE_H

#include <jansson.h>
#include "proto_error.h"

typedef enum {
    CONN_SHELL,
    CONN_IOPUB,
    CONN_STDIN,
    CONN_CONTROL,
    CONN_HB,
    CONN_NCHANNELS
} conn_channel_t;

typedef struct {
    char transport[8]; /* "tcp" or "ipc" */
    char ip[256];
    int ports[CONN_NCHANNELS];
    char *key; /* owned; NUL-terminated */
    char signature_scheme[32];
} connfile_t;

/* The connection-file key of each channel's port, e.g. "shell_port". */
const char *connfile_port_name(conn_channel_t channel);

/* Reads |path| into |out|. Caller frees with connfile_clear. Returns 0, or
 * -1 with *err set and a human-readable reason in |why| (|why_len| bytes). */
int connfile_load(const char *path, connfile_t *out, proto_err_t *err,
                  char *why, size_t why_len);

/* Parses a connection dict. Same contract as connfile_load. */
int connfile_from_json(const json_t *obj, connfile_t *out, proto_err_t *err,
                       char *why, size_t why_len);

/* Returns the connection dict. New reference; NULL on allocation failure. */
json_t *connfile_to_json(const connfile_t *conn);

/* Writes |conn| to |path| with mode 0600 (replacing it atomically).
 * Returns 0 or -errno. */
int connfile_save(const connfile_t *conn, const char *path);

/* Writes the ZeroMQ endpoint of |channel| into |out|. Returns 0, or -1 if
 * it does not fit. */
int connfile_endpoint(const connfile_t *conn, conn_channel_t channel, char *out,
                      size_t out_len);

void connfile_clear(connfile_t *conn);

#endif
