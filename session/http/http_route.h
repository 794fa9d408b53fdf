/* http_route — which endpoint of the Jupyter Server API a request path
 * names, and which methods it takes.
 *
 * A pure function of the path: no daemon state, so the table can be
 * unit-tested alone. Routes are jupyter_server's: a kernel id must have
 * the shape of a UUID (its route pattern is \w+-\w+-\w+-\w+-\w+), anything
 * else is no route at all (404), as there. One trailing slash is accepted. */
#ifndef SANDCELL_HTTP_ROUTE_H
#define SANDCELL_HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    HTTP_ROUTE_API,             /* GET /api */
    HTTP_ROUTE_STATUS,          /* GET /api/status */
    HTTP_ROUTE_KERNELSPECS,     /* GET /api/kernelspecs */
    HTTP_ROUTE_KERNELSPEC,      /* GET /api/kernelspecs/{name} */
    HTTP_ROUTE_KERNELSPEC_FILE, /* GET /kernelspecs/{name}/{file} */
    HTTP_ROUTE_KERNELS,         /* GET, POST /api/kernels */
    HTTP_ROUTE_KERNEL,          /* GET, DELETE /api/kernels/{id} */
    HTTP_ROUTE_INTERRUPT,       /* POST /api/kernels/{id}/interrupt */
    HTTP_ROUTE_RESTART,         /* POST /api/kernels/{id}/restart */
    HTTP_ROUTE_CHANNELS,        /* GET /api/kernels/{id}/channels (WebSocket) */
    HTTP_ROUTE_METRICS,         /* GET /metrics (Prometheus text format) */
    HTTP_ROUTE_HEALTH,          /* GET /api/sandcell/health */
    HTTP_ROUTE_FILE,            /* GET, PUT /api/sandcell/kernels/{id}/files/{path} */
    HTTP_ROUTE_JOURNAL,         /* GET /api/sandcell/kernels/{id}/journal (JSON Lines) */
    HTTP_ROUTE_NOTEBOOK,        /* GET /api/sandcell/kernels/{id}/notebook */
} http_route_kind_t;

enum {
    HTTP_GET = 1,
    HTTP_POST = 2,
    HTTP_DELETE = 4,
    HTTP_PUT = 8,
    HTTP_PATCH = 16,
    HTTP_OTHER = 32, /* HEAD, OPTIONS, anything else */
};

#define HTTP_ID_LEN 36    /* a UUID: 8-4-4-4-12 */
#define HTTP_NAME_MAX 64  /* a kernelspec name */
#define HTTP_FILE_MAX 128 /* a kernelspec resource file */
#define HTTP_PATH_MAX 1024 /* a workspace path (HTTP_ROUTE_FILE) */

typedef struct {
    http_route_kind_t kind;
    unsigned methods; /* HTTP_GET | ...: what the route takes */
    char id[HTTP_ID_LEN + 1];     /* the kernel routes */
    char name[HTTP_NAME_MAX + 1]; /* the kernelspec routes */
    char file[HTTP_FILE_MAX + 1]; /* HTTP_ROUTE_KERNELSPEC_FILE */
    char path[HTTP_PATH_MAX + 1]; /* HTTP_ROUTE_FILE: the rest of the path, as given (the
                                     workspace's rules check it) */
} http_route_t;

/* Matches |path| (the URL's path, percent-decoded, without the query).
 * Returns 0 with |out| filled, or -1 if no route has that path (404). */
int http_route_match(const char *path, http_route_t *out);

/* HTTP_GET etc. for a method name; HTTP_OTHER for any other. */
unsigned http_route_method(const char *method);

/* True if |text| has the shape of a UUID: 36 characters, hex digits with
 * '-' at 8, 13, 18 and 23. */
bool http_route_is_uuid(const char *text);

/* The Allow header's value for |methods| ("GET, DELETE"). */
void http_route_allow(unsigned methods, char *out, size_t len);

#endif
