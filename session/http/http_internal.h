/* http_internal — what the server's plumbing (http_server.c) and the
 * kernels API's handlers (http_kernels.c) share. Not for other folders. */
#ifndef SANDCELL_HTTP_INTERNAL_H
#define SANDCELL_HTTP_INTERNAL_H

#include <jansson.h>

#include "http_route.h"
#include "http_server.h"

/* A handler's answer: |status|, a JSON |body| (new reference, NULL for
 * none, as with 204) and, for 201, the Location. */
typedef struct {
    int status;
    json_t *body;
    char location[128];
    char *raw;                /* instead of |body|: bytes (malloc'd, owned) */
    size_t raw_len;
    const char *content_type; /* of |raw| (static) */
} http_reply_t;

/* {"message": |message|, "reason": null}, jupyter_server's error body. */
void http_reply_error(http_reply_t *reply, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Answers an authenticated request for |route| with |method| (allowed by
 * the route) and the |len| bytes of |body| (NULL if none); reply->status
 * HTTP_START_PENDING: a start answered later through |pending|. */
void http_kernels_handle(http_server_t *srv, const http_route_t *route, unsigned method,
                         const char *tenant, const char *body, size_t len,
                         http_pending_t *pending, http_reply_t *reply);

/* The 201 answer of a start of |k|. */
void http_reply_started(const http_server_t *srv, const http_kernel_t *k, http_reply_t *reply);

/* The kernel model of |k| ({id, name, last_activity, execution_state,
 * connections}). New reference. */
json_t *http_kernel_model(const http_server_t *srv, const http_kernel_t *k);

/* The backend and its argument, for the handlers. */
const http_backend_t *http_server_backend(const http_server_t *srv, void **arg);

/* When the server started, in ISO form, and how many upgraded
 * connections |tenant| has open. */
const char *http_server_started(const http_server_t *srv);
long http_server_total_connections(const http_server_t *srv, const char *tenant);

#endif
