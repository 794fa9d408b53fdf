/* http_kernels — the Jupyter Server kernels and kernelspecs API, as
 * jupyter_server 1.23/2.x answers it: models, status codes, error bodies
 * ({"message", "reason"}; a 404 names the id).
 *
 * One kernelspec, "sandcell-python" (every kernel is a sandcell
 * conversation); "python3", the name clients send when they assume
 * ipykernel, is taken as the same one so that they work unchanged.
 * POST /api/kernels takes {"name", "env", "path", "sandcell": {...}}:
 * "env" and "path" are checked and not used (an interpreter's environment
 * is built from an allowlist, its working directory is its workspace);
 * "sandcell" holds the control endpoint's start_request fields; a start
 * that restores answers once its journals are read (http_start_done). */
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "http_internal.h"

#define KERNEL_NAME "sandcell-python"
#define API_VERSION "1.23.3" /* the jupyter_server whose API this is */

json_t *http_kernel_model(const http_server_t *srv, const http_kernel_t *k)
{
    char last[40];
    http_iso_ago(k->idle_ms, last, sizeof last);
    return json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", k->id, "name", k->name, "last_activity",
                     last, "execution_state", k->execution_state, "connections",
                     (json_int_t)http_server_connections(srv, k->id));
}

static json_t *s_kernelspec(void)
{
    return json_pack("{s:s, s:{s:[s,s,s,s], s:s, s:s, s:s, s:{}, s:{}}, s:{}}", "name",
                     KERNEL_NAME, "spec", "argv", "sandcell", "kernel", "-f",
                     "{connection_file}", "display_name", "Python (sandcell)", "language",
                     "python", "interrupt_mode", "message", "env", "metadata", "resources");
}

static bool s_known_spec(const char *name)
{
    return strcmp(name, KERNEL_NAME) == 0 || strcmp(name, "python3") == 0;
}

static void s_not_found(http_reply_t *reply, const char *id)
{
    http_reply_error(reply, MHD_HTTP_NOT_FOUND, "Kernel does not exist: %s", id);
}

typedef struct {
    const http_server_t *srv;
    json_t *list;
    long long least_idle_ms;
} list_ctx_t;

static void s_each(void *arg, const http_kernel_t *k)
{
    list_ctx_t *ctx = arg;
    json_array_append_new(ctx->list, http_kernel_model(ctx->srv, k));
    if (ctx->least_idle_ms < 0 || k->idle_ms < ctx->least_idle_ms)
        ctx->least_idle_ms = k->idle_ms;
}

/* POST /api/kernels: the body is absent, or an object. */
void http_reply_started(const http_server_t *srv, const http_kernel_t *k, http_reply_t *reply)
{
    reply->status = MHD_HTTP_CREATED;
    reply->body = http_kernel_model(srv, k);
    snprintf(reply->location, sizeof reply->location, "/api/kernels/%s", k->id);
}

static void s_start(http_server_t *srv, const char *tenant, const char *body, size_t len,
                    http_pending_t *pending, http_reply_t *reply)
{
    void *arg;
    const http_backend_t *b = http_server_backend(srv, &arg);
    json_auto_t *model = NULL;
    size_t blank = 0;
    while (body && blank < len && strchr(" \t\r\n", body[blank]))
        blank++;
    if (body && blank < len) {
        json_error_t err;
        model = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
        if (!model) {
            http_reply_error(reply, MHD_HTTP_BAD_REQUEST, "Invalid JSON in body of request: %s",
                             err.text);
            return;
        }
        if (!json_is_object(model)) {
            http_reply_error(reply, MHD_HTTP_BAD_REQUEST,
                             "the body of POST /api/kernels must be a JSON object");
            return;
        }
    }
    const json_t *name = json_object_get(model, "name");
    const json_t *env = json_object_get(model, "env");
    const json_t *path = json_object_get(model, "path");
    const json_t *options = json_object_get(model, "sandcell");
    if (name && !json_is_null(name) && !json_is_string(name)) {
        http_reply_error(reply, MHD_HTTP_BAD_REQUEST, "\"name\" must be a string");
        return;
    }
    const char *spec = json_is_string(name) ? json_string_value(name) : KERNEL_NAME;
    if (!s_known_spec(spec)) {
        http_reply_error(reply, MHD_HTTP_BAD_REQUEST,
                         "No such kernel named %.64s (this server has " KERNEL_NAME ")", spec);
        return;
    }
    if (env && !json_is_null(env)) {
        const char *key;
        json_t *value;
        bool ok = json_is_object(env);
        json_object_foreach ((json_t *)env, key, value)
            ok = ok && json_is_string(value);
        if (!ok) {
            http_reply_error(reply, MHD_HTTP_BAD_REQUEST,
                             "\"env\" must be an object of strings");
            return;
        }
    }
    if (path && !json_is_null(path) && !json_is_string(path)) {
        http_reply_error(reply, MHD_HTTP_BAD_REQUEST, "\"path\" must be a string");
        return;
    }
    if (options && !json_is_null(options) && !json_is_object(options)) {
        http_reply_error(reply, MHD_HTTP_BAD_REQUEST,
                         "\"sandcell\" must be an object of start options (timeout, memory, "
                         "max_executions, restore, ...)");
        return;
    }
    http_kernel_t k;
    char why[1024];
    int rc = b->start(arg, tenant, spec, json_is_object(options) ? options : NULL, pending, &k,
                      why, sizeof why);
    if (rc == HTTP_START_PENDING)
        reply->status = HTTP_START_PENDING;
    else if (rc != 0)
        http_reply_error(reply, rc, "%s", why);
    else
        http_reply_started(srv, &k, reply);
}

void http_kernels_handle(http_server_t *srv, const http_route_t *route, unsigned method,
                         const char *tenant, const char *body, size_t len,
                         http_pending_t *pending, http_reply_t *reply)
{
    void *arg;
    const http_backend_t *b = http_server_backend(srv, &arg);
    http_kernel_t k;
    reply->status = MHD_HTTP_OK;
    switch (route->kind) {
    case HTTP_ROUTE_API:
        reply->body = json_pack("{s:s, s:s}", "version", API_VERSION, "sandcell", PACKAGE_VERSION);
        return;
    case HTTP_ROUTE_STATUS: {
        list_ctx_t ctx = {srv, json_array(), -1};
        b->list(arg, tenant, s_each, &ctx);
        char last[40];
        if (ctx.least_idle_ms >= 0)
            http_iso_ago(ctx.least_idle_ms, last, sizeof last);
        reply->body = json_pack("{s:s, s:s, s:I, s:I}", "started", http_server_started(srv),
                                "last_activity",
                                ctx.least_idle_ms >= 0 ? last : http_server_started(srv),
                                "connections", (json_int_t)http_server_total_connections(srv, tenant),
                                "kernels", (json_int_t)json_array_size(ctx.list));
        json_decref(ctx.list);
        return;
    }
    case HTTP_ROUTE_KERNELSPECS:
        reply->body = json_pack("{s:s, s:{s:o}}", "default", KERNEL_NAME, "kernelspecs",
                                KERNEL_NAME, s_kernelspec());
        return;
    case HTTP_ROUTE_KERNELSPEC:
        if (!s_known_spec(route->name)) {
            http_reply_error(reply, MHD_HTTP_NOT_FOUND, "Kernel spec %s not found",
                             route->name);
            return;
        }
        reply->body = s_kernelspec();
        return;
    case HTTP_ROUTE_KERNELSPEC_FILE:
        if (s_known_spec(route->name) && strcmp(route->file, "kernel.json") == 0) {
            json_t *spec = s_kernelspec();
            reply->body = json_incref(json_object_get(spec, "spec"));
            json_decref(spec);
            return;
        }
        http_reply_error(reply, MHD_HTTP_NOT_FOUND, "Kernel spec resource %s/%s not found",
                         route->name, route->file);
        return;
    case HTTP_ROUTE_KERNELS:
        if (method == HTTP_POST) {
            s_start(srv, tenant, body, len, pending, reply);
            return;
        }
        {
            list_ctx_t ctx = {srv, json_array(), -1};
            b->list(arg, tenant, s_each, &ctx);
            reply->body = ctx.list;
        }
        return;
    case HTTP_ROUTE_KERNEL:
        if (method == HTTP_DELETE) {
            if (b->stop(arg, tenant, route->id) < 0)
                s_not_found(reply, route->id);
            else
                reply->status = MHD_HTTP_NO_CONTENT;
            return;
        }
        if (b->get(arg, tenant, route->id, &k) < 0)
            s_not_found(reply, route->id);
        else
            reply->body = http_kernel_model(srv, &k);
        return;
    case HTTP_ROUTE_INTERRUPT:
        if (b->interrupt(arg, tenant, route->id) < 0)
            s_not_found(reply, route->id);
        else
            reply->status = MHD_HTTP_NO_CONTENT;
        return;
    case HTTP_ROUTE_RESTART:
        if (b->restart(arg, tenant, route->id) < 0 || b->get(arg, tenant, route->id, &k) < 0)
            s_not_found(reply, route->id);
        else
            reply->body = http_kernel_model(srv, &k);
        return;
    case HTTP_ROUTE_HEALTH: {
        metrics_gauges_t g = {0};
        char why[300] = "";
        b->gauges(arg, &g);
        long live = 0;
        for (int i = 0; i < METRICS_STATES; i++)
            live += g.conversations[i];
        bool ready = b->ready(arg, why, sizeof why) == 0;
        reply->status = ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
        reply->body = json_pack("{s:s, s:I, s:I, s:{s:I, s:I}}", "status",
                                ready ? "ready" : "unavailable", "conversations",
                                (json_int_t)live, "capacity", (json_int_t)g.capacity, "pool",
                                "size", (json_int_t)g.pool_size, "ready",
                                (json_int_t)g.pool_ready);
        if (!ready && reply->body) {
            json_object_set_new(reply->body, "message", json_string(why));
            json_object_set_new(reply->body, "reason", json_string(why));
        }
        return;
    }
    case HTTP_ROUTE_FILE: {
        char why[600] = "";
        int rc;
        if (method == HTTP_PUT) {
            rc = b->put_file(arg, tenant, route->id, route->path, body ? body : "", len, why,
                             sizeof why);
            if (rc == 0) {
                reply->status = MHD_HTTP_CREATED;
                reply->body = json_pack("{s:s, s:I}", "path", route->path, "size",
                                        (json_int_t)len);
            }
        } else {
            void *data = NULL;
            size_t n = 0;
            rc = b->get_file(arg, tenant, route->id, route->path, &data, &n, why, sizeof why);
            if (rc == 0) {
                reply->raw = data ? data : strdup("");
                reply->raw_len = n;
                reply->content_type = "application/octet-stream";
            }
        }
        if (rc != 0)
            http_reply_error(reply, rc, "%s", why);
        return;
    }
    case HTTP_ROUTE_JOURNAL:
    case HTTP_ROUTE_NOTEBOOK: {
        char why[600] = "";
        bool lines = route->kind == HTTP_ROUTE_JOURNAL;
        char *text = NULL;
        size_t n = 0;
        json_t *nb = NULL;
        int rc = b->journal(arg, tenant, route->id, lines ? &text : NULL, &n, &nb, why,
                            sizeof why);
        if (rc != 0) {
            http_reply_error(reply, rc, "%s", why);
        } else if (lines) {
            reply->raw = text;
            reply->raw_len = n;
            reply->content_type = "application/jsonl";
        } else {
            reply->body = nb;
        }
        return;
    }
    case HTTP_ROUTE_METRICS:  /* answered by http_server.c before any body */
    case HTTP_ROUTE_CHANNELS: /* answered by http_server.c before any body */
        http_reply_error(reply, MHD_HTTP_BAD_REQUEST, "Bad Request");
        return;
    }
}
