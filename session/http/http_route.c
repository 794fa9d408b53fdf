/* http_route — the Jupyter Server API's paths, matched segment by segment. */
#include <string.h>

#include "http_route.h"

bool http_route_is_uuid(const char *text)
{
    for (int i = 0; i < HTTP_ID_LEN; i++) {
        char c = text[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-'
                 : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return text[HTTP_ID_LEN] == '\0';
}

unsigned http_route_method(const char *method)
{
    static const struct {
        const char *name;
        unsigned bit;
    } s_methods[] = {{"GET", HTTP_GET},       {"POST", HTTP_POST},   {"DELETE", HTTP_DELETE},
                     {"PUT", HTTP_PUT},       {"PATCH", HTTP_PATCH}};
    for (size_t i = 0; i < sizeof s_methods / sizeof s_methods[0]; i++)
        if (strcmp(method, s_methods[i].name) == 0)
            return s_methods[i].bit;
    return HTTP_OTHER;
}

void http_route_allow(unsigned methods, char *out, size_t len)
{
    static const char *const s_names[] = {"GET", "POST", "DELETE", "PUT", "PATCH"};
    size_t n = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < 5; i++) {
        if (!(methods & (1u << i)))
            continue;
        size_t need = strlen(s_names[i]) + (n ? 2 : 0);
        if (n + need + 1 > len)
            break;
        if (n) {
            memcpy(out + n, ", ", 2);
            n += 2;
        }
        strcpy(out + n, s_names[i]);
        n += strlen(s_names[i]);
    }
}

#define MAX_SEGMENTS 6

/* Splits |path| into at most MAX_SEGMENTS segments of |buf| ("/a/b/" is
 * a, b). Returns the count, or -1: no leading '/', an empty segment in the
 * middle ("//"), too many segments, or too long. */
static int s_split(const char *path, char *buf, size_t len, const char *seg[MAX_SEGMENTS])
{
    size_t n = strlen(path);
    if (path[0] != '/' || n >= len)
        return -1;
    memcpy(buf, path + 1, n); /* with the NUL */
    if (n > 1 && buf[n - 2] == '/')
        buf[n - 2] = '\0'; /* one trailing slash */
    if (buf[0] == '\0')
        return 0;
    int count = 0;
    for (char *p = buf;;) {
        if (count == MAX_SEGMENTS || *p == '/' || *p == '\0')
            return -1;
        seg[count++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            return count;
        *slash = '\0';
        p = slash + 1;
    }
}

/* A kernelspec name or resource file: jupyter_server's [^/]+, minus what
 * could never name one here ("." and ".." included). */
static bool s_copy_name(const char *seg, char *out, size_t max)
{
    size_t n = strlen(seg);
    if (n == 0 || n > max || strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0)
        return false;
    memcpy(out, seg, n + 1);
    return true;
}

#define SANDCELL_KERNELS "/api/sandcell/kernels/"

/* /api/sandcell/kernels/{id}/(files/{path}|journal|notebook): the file's
 * path is everything after "files/", slashes included, so it is taken
 * whole rather than split. */
static int s_sandcell_kernel(const char *path, http_route_t *out)
{
    const char *p = path + strlen(SANDCELL_KERNELS);
    if (strlen(p) < HTTP_ID_LEN + 1 || p[HTTP_ID_LEN] != '/')
        return -1;
    memcpy(out->id, p, HTTP_ID_LEN);
    out->id[HTTP_ID_LEN] = '\0';
    if (!http_route_is_uuid(out->id))
        return -1;
    const char *rest = p + HTTP_ID_LEN + 1;
    out->methods = HTTP_GET;
    if (strcmp(rest, "journal") == 0 || strcmp(rest, "journal/") == 0) {
        out->kind = HTTP_ROUTE_JOURNAL;
        return 0;
    }
    if (strcmp(rest, "notebook") == 0 || strcmp(rest, "notebook/") == 0) {
        out->kind = HTTP_ROUTE_NOTEBOOK;
        return 0;
    }
    if (strncmp(rest, "files/", 6) != 0 || !rest[6] || strlen(rest + 6) > HTTP_PATH_MAX)
        return -1;
    out->kind = HTTP_ROUTE_FILE;
    out->methods = HTTP_GET | HTTP_PUT;
    strcpy(out->path, rest + 6);
    return 0;
}

int http_route_match(const char *path, http_route_t *out)
{
    char buf[512];
    const char *seg[MAX_SEGMENTS];
    memset(out, 0, sizeof *out);
    if (strncmp(path, SANDCELL_KERNELS, strlen(SANDCELL_KERNELS)) == 0)
        return s_sandcell_kernel(path, out);
    int n = s_split(path, buf, sizeof buf, seg);
    if (n == 3 && strcmp(seg[0], "kernelspecs") == 0) {
        out->kind = HTTP_ROUTE_KERNELSPEC_FILE;
        out->methods = HTTP_GET;
        return s_copy_name(seg[1], out->name, HTTP_NAME_MAX) &&
                       s_copy_name(seg[2], out->file, HTTP_FILE_MAX)
                   ? 0
                   : -1;
    }
    if (n == 1 && strcmp(seg[0], "metrics") == 0) {
        out->kind = HTTP_ROUTE_METRICS;
        out->methods = HTTP_GET;
        return 0;
    }
    if (n < 1 || strcmp(seg[0], "api") != 0)
        return -1;
    if (n == 1) {
        out->kind = HTTP_ROUTE_API;
        out->methods = HTTP_GET;
        return 0;
    }
    if (n == 2 && strcmp(seg[1], "status") == 0) {
        out->kind = HTTP_ROUTE_STATUS;
        out->methods = HTTP_GET;
        return 0;
    }
    if (n == 3 && strcmp(seg[1], "sandcell") == 0 && strcmp(seg[2], "health") == 0) {
        out->kind = HTTP_ROUTE_HEALTH;
        out->methods = HTTP_GET;
        return 0;
    }
    if (strcmp(seg[1], "kernelspecs") == 0 && n <= 3) {
        out->kind = n == 2 ? HTTP_ROUTE_KERNELSPECS : HTTP_ROUTE_KERNELSPEC;
        out->methods = HTTP_GET;
        return n == 2 || s_copy_name(seg[2], out->name, HTTP_NAME_MAX) ? 0 : -1;
    }
    if (strcmp(seg[1], "kernels") != 0 || n > 4)
        return -1;
    if (n == 2) {
        out->kind = HTTP_ROUTE_KERNELS;
        out->methods = HTTP_GET | HTTP_POST;
        return 0;
    }
    if (!http_route_is_uuid(seg[2]))
        return -1;
    memcpy(out->id, seg[2], HTTP_ID_LEN + 1);
    if (n == 3) {
        out->kind = HTTP_ROUTE_KERNEL;
        out->methods = HTTP_GET | HTTP_DELETE;
        return 0;
    }
    if (strcmp(seg[3], "interrupt") == 0) {
        out->kind = HTTP_ROUTE_INTERRUPT;
        out->methods = HTTP_POST;
    } else if (strcmp(seg[3], "restart") == 0) {
        out->kind = HTTP_ROUTE_RESTART;
        out->methods = HTTP_POST;
    } else if (strcmp(seg[3], "channels") == 0) {
        out->kind = HTTP_ROUTE_CHANNELS;
        out->methods = HTTP_GET;
    } else {
        return -1;
    }
    return 0;
}
