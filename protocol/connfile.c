/* connfile — read and write Jupyter connection files. */
#include "connfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static const char *const s_port_names[CONN_NCHANNELS] = {
    [CONN_SHELL] = "shell_port", [CONN_IOPUB] = "iopub_port",
    [CONN_STDIN] = "stdin_port", [CONN_CONTROL] = "control_port",
    [CONN_HB] = "hb_port",
};

const char *connfile_port_name(conn_channel_t channel)
{
    return s_port_names[channel];
}

static int s_fail(proto_err_t *err, char *why, size_t why_len, const char *reason)
{
    *err = PROTO_ERR_BAD_CONNFILE;
    snprintf(why, why_len, "%s", reason);
    return -1;
}

static int s_copy_string(const json_t *obj, const char *key, const char *fallback,
                         char *dst, size_t dst_len)
{
    const json_t *v = json_object_get(obj, key);
    const char *s = v ? json_string_value(v) : fallback;
    if (!s || strlen(s) >= dst_len)
        return -1;
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

int connfile_from_json(const json_t *obj, connfile_t *out, proto_err_t *err,
                       char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(obj))
        return s_fail(err, why, why_len, "not a JSON object");
    if (s_copy_string(obj, "transport", "tcp", out->transport, sizeof out->transport) < 0 ||
        (strcmp(out->transport, "tcp") != 0 && strcmp(out->transport, "ipc") != 0))
        return s_fail(err, why, why_len, "transport must be \"tcp\" or \"ipc\"");
    if (s_copy_string(obj, "ip", NULL, out->ip, sizeof out->ip) < 0 || !out->ip[0])
        return s_fail(err, why, why_len, "ip missing or not a string");
    if (s_copy_string(obj, "signature_scheme", "hmac-sha256", out->signature_scheme,
                      sizeof out->signature_scheme) < 0 ||
        strcmp(out->signature_scheme, "hmac-sha256") != 0)
        return s_fail(err, why, why_len, "signature_scheme must be \"hmac-sha256\"");
    for (int c = 0; c < CONN_NCHANNELS; c++) {
        const json_t *p = json_object_get(obj, s_port_names[c]);
        if (!json_is_integer(p) || json_integer_value(p) < 0 ||
            json_integer_value(p) > 65535) {
            char reason[64];
            snprintf(reason, sizeof reason, "%s missing or out of range", s_port_names[c]);
            return s_fail(err, why, why_len, reason);
        }
        out->ports[c] = (int)json_integer_value(p);
    }
    const char *key = json_string_value(json_object_get(obj, "key"));
    if (!key || !key[0])
        return s_fail(err, why, why_len,
                      "key missing or empty (sandcell refuses unauthenticated messages)");
    out->key = strdup(key);
    if (!out->key) {
        *err = PROTO_ERR_NOMEM;
        return -1;
    }
    *err = PROTO_OK;
    return 0;
}

int connfile_load(const char *path, connfile_t *out, proto_err_t *err, char *why,
                  size_t why_len)
{
    json_error_t jerr;
    json_auto_t *obj = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
        memset(out, 0, sizeof *out);
        *err = PROTO_ERR_BAD_CONNFILE;
        snprintf(why, why_len, "%s: %s", path, jerr.text);
        return -1;
    }
    return connfile_from_json(obj, out, err, why, why_len);
}

json_t *connfile_to_json(const connfile_t *conn)
{
    json_t *obj = json_pack("{s:s, s:s, s:s, s:s}", "transport", conn->transport,
                            "ip", conn->ip, "key", conn->key ? conn->key : "",
                            "signature_scheme", "hmac-sha256");
    if (!obj)
        return NULL;
    for (int c = 0; c < CONN_NCHANNELS; c++) {
        if (json_object_set_new(obj, s_port_names[c], json_integer(conn->ports[c])) < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

int connfile_save(const connfile_t *conn, const char *path)
{
    json_auto_t *obj = connfile_to_json(conn);
    if (!obj)
        return -ENOMEM;
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp-%d", path, (int)getpid()) < 0)
        return -ENOMEM;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (json_dumpfd(obj, fd, JSON_INDENT(2)) < 0 || fsync(fd) < 0) {
        int e = errno ? errno : EIO;
        close(fd);
        unlink(tmp);
        return -e;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return -e;
    }
    return 0;
}

int connfile_endpoint(const connfile_t *conn, conn_channel_t channel, char *out,
                      size_t out_len)
{
    int n = strcmp(conn->transport, "ipc") == 0
                ? snprintf(out, out_len, "ipc://%s-%d", conn->ip, conn->ports[channel])
                : snprintf(out, out_len, "tcp://%s:%d", conn->ip, conn->ports[channel]);
    return n < 0 || (size_t)n >= out_len ? -1 : 0;
}

void connfile_clear(connfile_t *conn)
{
    free(conn->key);
    memset(conn, 0, sizeof *conn);
}
