/* mcp_files — the workspace and journal tools.
 *
 * A file is text when it is valid UTF-8 without NUL (jansson's own check),
 * so a CSV comes back readable and a PNG as a blob. */
#include "mcp_files.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "journal_read.h"
#include "mcp_tools.h"
#include "notebook.h"
#include "util.h"
#include "workspace.h"

static const char *s_str_arg(const json_t *args, const char *name, bool *bad)
{
    json_t *v = json_object_get(args, name);
    if (v && !json_is_string(v))
        *bad = true;
    return json_string_value(v);
}

static json_t *s_file_result(bool structured_out, const char *text, json_t *structured)
{
    json_t *r = json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", text,
                          "isError", 0);
    if (r && structured_out)
        json_object_set(r, "structuredContent", structured);
    json_decref(structured);
    return r;
}

json_t *mcp_files_upload(conversation_t *conv, pid_t pid, bool jailed, const json_t *args,
                         bool structured)
{
    bool bad = false;
    const char *path = s_str_arg(args, "path", &bad);
    json_t *text = json_object_get(args, "content");
    const char *b64 = s_str_arg(args, "content_base64", &bad);
    if (bad || !path || (json_is_string(text) == (b64 != NULL)) || (text && !json_is_string(text)))
        return mcp_tools_error("upload_file needs a string `path` and exactly one of "
                               "`content` (text) or `content_base64`");
    unsigned char *data = NULL;
    size_t len = 0;
    if (b64) {
        size_t b64_len = strlen(b64);
        data = malloc(b64_len / 4 * 3 + 4);
        if (!data || sodium_base642bin(data, b64_len / 4 * 3 + 4, b64, b64_len, "\r\n ", &len,
                                       NULL, sodium_base64_VARIANT_ORIGINAL) < 0) {
            free(data);
            return mcp_tools_error("content_base64 is not valid base64");
        }
    }
    const void *bytes = b64 ? (const void *)data : json_string_value(text);
    if (!b64)
        len = json_string_length(text);
    char why[1200];
    int rc = len > WORKSPACE_MAX_FILE ? -1 : workspace_put(pid, jailed, path, bytes, len, why,
                                                           sizeof why);
    if (len > WORKSPACE_MAX_FILE)
        snprintf(why, sizeof why, "%.1000s: larger than the 16 MiB limit", path);
    if (rc == 0)
        conversation_journal_file(conv, path, bytes, len);
    free(data);
    if (rc < 0)
        return mcp_tools_error(why);
    char msg[1200];
    snprintf(msg, sizeof msg, "Wrote %zu bytes to %.1000s in the workspace.", len, path);
    return s_file_result(structured, msg,
                         json_pack("{s:s, s:I}", "path", path, "size", (json_int_t)len));
}

static bool s_is_text(const unsigned char *p, size_t n)
{
    if (memchr(p, 0, n))
        return false;
    json_t *probe = json_stringn((const char *)p, n); /* NULL unless valid UTF-8 */
    bool ok = probe != NULL;
    json_decref(probe);
    return ok;
}

static const char *s_mime(const char *path)
{
    static const struct {
        const char *ext, *mime;
    } types[] = {{".png", "image/png"},  {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
                 {".gif", "image/gif"},  {".svg", "image/svg+xml"}, {".csv", "text/csv"},
                 {".json", "application/json"}, {".html", "text/html"}, {".pdf", "application/pdf"},
                 {".ipynb", "application/x-ipynb+json"}, {".parquet", "application/vnd.apache.parquet"}};
    size_t n = strlen(path);
    for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
        size_t k = strlen(types[i].ext);
        if (n > k && strcasecmp(path + n - k, types[i].ext) == 0)
            return types[i].mime;
    }
    return NULL;
}

json_t *mcp_files_download(pid_t pid, bool jailed, const json_t *args, bool structured)
{
    bool bad = false;
    const char *path = s_str_arg(args, "path", &bad);
    if (bad || !path)
        return mcp_tools_error("download_file needs a string `path`");
    void *data = NULL;
    size_t len = 0;
    char why[1200];
    if (workspace_get(pid, jailed, path, &data, &len, why, sizeof why) < 0)
        return mcp_tools_error(why);
    bool text = s_is_text(data, len);
    const char *mime = s_mime(path);
    char uri[1200];
    snprintf(uri, sizeof uri, "file:///workspace/%.1100s", path);
    json_t *resource = json_pack("{s:s, s:s}", "uri", uri, "mimeType",
                                 mime ? mime : text ? "text/plain" : "application/octet-stream");
    if (text) {
        json_object_set_new(resource, "text", json_stringn(data, len));
    } else {
        size_t b64_len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(b64_len);
        if (b64) {
            sodium_bin2base64(b64, b64_len, data, len, sodium_base64_VARIANT_ORIGINAL);
            json_object_set_new(resource, "blob", json_string(b64));
        }
        free(b64);
    }
    free(data);
    json_t *r = json_pack("{s:[{s:s, s:o}], s:b}", "content", "type", "resource", "resource",
                          resource, "isError", 0);
    if (r && structured)
        json_object_set_new(r, "structuredContent",
                            json_pack("{s:s, s:I, s:s}", "path", path, "size", (json_int_t)len,
                                      "encoding", text ? "utf-8" : "base64"));
    return r;
}

json_t *mcp_files_list(pid_t pid, bool jailed, const json_t *args, bool structured)
{
    bool bad = false;
    const char *path = s_str_arg(args, "path", &bad);
    if (bad)
        return mcp_tools_error("list_files: `path` must be a string");
    json_t *entries = NULL;
    char why[1200];
    if (workspace_list(pid, jailed, path, &entries, why, sizeof why) < 0)
        return mcp_tools_error(why);
    char *text = NULL;
    size_t n = json_array_size(entries);
    if (n == 0) {
        text = strdup("(empty)");
    } else {
        size_t cap = n * 80 + 64, off = 0;
        text = malloc(cap);
        size_t i;
        json_t *e;
        json_array_foreach(entries, i, e) {
            if (!text)
                break;
            const char *name = json_string_value(json_object_get(e, "name"));
            const char *type = json_string_value(json_object_get(e, "type"));
            size_t need = strlen(name) + 64;
            if (off + need >= cap) {
                char *p = realloc(text, cap = (off + need) * 2);
                if (!p) {
                    free(text);
                    text = NULL;
                    break;
                }
                text = p;
            }
            off += (size_t)snprintf(text + off, cap - off, "%s%s\t%s\t%lld\n", name,
                                    strcmp(type, "directory") == 0 ? "/" : "", type,
                                    (long long)json_integer_value(json_object_get(e, "size")));
        }
    }
    json_t *r = s_file_result(structured, text ? text : "", json_pack("{s:s, s:o}", "path",
                                                              path && path[0] ? path : ".",
                                                              "entries", entries));
    free(text);
    return r;
}

json_t *mcp_files_export(const conversation_t *conv, bool structured)
{
    const char *path = conv ? conversation_journal_path(conv) : NULL;
    if (!path)
        return mcp_tools_error("export_notebook needs the journal, and this server runs with "
                               "--no-journal");
    char why[600], warning[600] = "";
    json_auto_t *journal = journal_read(path, why, sizeof why, warning, sizeof warning);
    if (!journal)
        return mcp_tools_error(why);
    json_auto_t *nb = notebook_from_journal(journal);
    char *text = nb ? json_dumps(nb, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    if (!text)
        return mcp_tools_error("out of memory");
    char uri[600];
    snprintf(uri, sizeof uri, "file://%s", path);
    size_t ulen = strlen(uri);
    if (ulen > 6 && strcmp(uri + ulen - 6, ".jsonl") == 0)
        snprintf(uri + ulen - 6, sizeof uri - ulen + 6, ".ipynb");
    size_t cells = json_array_size(json_object_get(nb, "cells"));
    json_t *r = json_pack("{s:[{s:s, s:{s:s, s:s, s:s}}], s:b}", "content", "type", "resource",
                          "resource", "uri", uri, "mimeType", "application/x-ipynb+json", "text",
                          text, "isError", 0);
    free(text);
    if (r && structured)
        json_object_set_new(r, "structuredContent",
                            json_pack("{s:I, s:s}", "cells", (json_int_t)cells, "journal", path));
    return r;
}
