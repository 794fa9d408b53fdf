/* mcp_tools — tool definitions and results.
 *
 * A cell's outputs are first folded as a notebook shows them
 * (cell_outputs_to_notebook: streams merged, clear_output applied,
 * update_display_data replacing what it updates), so a model reads what a
 * person would see once the cell finished, not every intermediate frame.
 * A display with an image becomes the image alone (matplotlib's text/plain
 * "<Figure size ...>" says nothing a model needs); a display with only
 * HTML becomes its readable text. */
#include "mcp_tools.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cell_outputs.h"
#include "util.h"

#define PATH_RULES                                                                          \
    "Paths are relative to the workspace (the interpreter's working directory, "           \
    "/workspace); absolute paths, \"..\", symlinks and special files are refused; a file " \
    "is at most 16 MiB."

static const char s_execute_desc[] =
    "Run Python code in a sandboxed, stateful interpreter (CPython 3 with pandas, numpy and "
    "matplotlib already imported once and ready). Variables, imports, functions and loaded "
    "data persist between calls, like cells of one notebook; files written to the working "
    "directory persist too (see list_files, download_file). The value of the last "
    "expression is returned, as in Jupyter. Charts: matplotlib figures are returned as PNG "
    "images (call plt.show() or leave the figure as the last expression); display() works "
    "for images, HTML and DataFrames. Errors come back with isError, 'ename: evalue' and "
    "the traceback. Limits: each call has a wall-clock limit (the server's --timeout, 30 s "
    "by default; `timeout` can only shorten it) after which the cell is interrupted with "
    "KeyboardInterrupt; memory, processes and output size are capped; there is no network "
    "access; the session allows a limited number of executions (executions_left in the "
    "result says how many remain; after the last one the interpreter is stopped and calls "
    "fail with ExecutionLimitReached). input() is not available.";

static const char s_upload_desc[] =
    "Write a file into the workspace, where code run by execute_code can open it "
    "(e.g. pd.read_csv('data.csv')). Give `content` for text (written as UTF-8) or "
    "`content_base64` for binary data. Replaces an existing file; folders in the path must "
    "exist. " PATH_RULES " Does not count as an execution.";

static const char s_download_desc[] =
    "Read a file from the workspace, e.g. one that code wrote. Returns it as an embedded "
    "resource: text for UTF-8 files, a base64 blob otherwise. " PATH_RULES
    " Does not count as an execution.";

static const char s_list_desc[] =
    "List a folder of the workspace (default: its top): each entry's name, type (file, "
    "directory, symlink, other) and size in bytes. " PATH_RULES
    " Does not count as an execution.";

static const char s_reset_desc[] =
    "Replace the interpreter with a fresh one: every variable, import and loaded object is "
    "lost, and so are the workspace's files (they live in the interpreter's sandbox; "
    "download what you need first). The execution count restarts at 1 but the session's "
    "execution limit keeps counting: executions before the reset still count. Use it after "
    "a crash or to start over cleanly.";

static const char s_export_desc[] =
    "The session so far as a Jupyter notebook (.ipynb, nbformat 4): one code cell per "
    "execute_code call with its outputs, returned as an embedded resource. Needs the "
    "server's journal (off with --no-journal).";

static json_t *s_tool(const char *name, const char *title, const char *desc, json_t *input,
                      json_t *output, bool read_only, bool structured)
{
    json_t *tool = json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:b, s:b}}", "name", name, "title",
                             title, "description", desc, "inputSchema", input, "annotations",
                             "title", title, "readOnlyHint", read_only, "openWorldHint", 0);
    if (tool && structured)
        json_object_set_new(tool, "outputSchema", output);
    else
        json_decref(output);
    return tool;
}

static json_t *s_object(json_t *props, const char *required)
{
    json_t *schema = json_pack("{s:s, s:o, s:b}", "type", "object", "properties",
                               props ? props : json_object(), "additionalProperties", 0);
    if (schema && required)
        json_object_set_new(schema, "required", json_pack("[s]", required));
    return schema;
}

json_t *mcp_tools_list(bool structured)
{
    json_t *tools = json_array();
    json_t *nullable_int = json_pack("{s:[s,s]}", "type", "integer", "null");
    json_array_append_new(
        tools,
        s_tool("execute_code", "Run Python code", s_execute_desc,
               s_object(json_pack("{s:{s:s, s:s}, s:{s:s, s:i, s:s}}", "code", "type", "string",
                                  "description", "Python source of one cell; may span lines",
                                  "timeout", "type", "number", "exclusiveMinimum", 0,
                                  "description",
                                  "seconds before the cell is interrupted (at most the "
                                  "server's limit)"),
                        "code"),
               json_pack("{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s, s:{s:s}}, s:{s:[s,s]}, s:O, s:O},"
                         " s:[s,s,s,s,s,s]}",
                         "type", "object", "properties", "stdout", "type", "string", "stderr",
                         "type", "string", "results", "type", "array", "items", "type",
                         "object", "error", "type", "object", "null", "execution_count",
                         nullable_int, "executions_left", nullable_int, "required", "stdout",
                         "stderr", "results", "error", "execution_count", "executions_left"),
               false, structured));
    json_array_append_new(
        tools,
        s_tool("upload_file", "Upload a file to the workspace", s_upload_desc,
               s_object(json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}}", "path", "type",
                                  "string", "description", "where to write it, e.g. data.csv",
                                  "content", "type", "string", "description",
                                  "the file's text (UTF-8)", "content_base64", "type", "string",
                                  "description", "the file's bytes, base64"),
                        "path"),
               json_pack("{s:s, s:{s:{s:s}, s:{s:s}}, s:[s,s]}", "type", "object",
                         "properties", "path", "type", "string", "size", "type", "integer",
                         "required", "path", "size"),
               false, structured));
    json_array_append_new(
        tools, s_tool("download_file", "Download a file from the workspace", s_download_desc,
                      s_object(json_pack("{s:{s:s, s:s}}", "path", "type", "string",
                                         "description", "the file to read, e.g. out.csv"),
                               "path"),
                      json_pack("{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s, s:[s,s]}}, s:[s,s,s]}",
                                "type", "object", "properties", "path", "type", "string",
                                "size", "type", "integer", "encoding", "type", "string", "enum",
                                "utf-8", "base64", "required", "path", "size", "encoding"),
                      true, structured));
    json_array_append_new(
        tools,
        s_tool("list_files", "List workspace files", s_list_desc,
               s_object(json_pack("{s:{s:s, s:s}}", "path", "type", "string", "description",
                                  "folder to list (default: the workspace's top)"),
                        NULL),
               json_pack("{s:s, s:{s:{s:s}, s:{s:s, s:{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}}}}},"
                         " s:[s,s]}",
                         "type", "object", "properties", "path", "type", "string", "entries",
                         "type", "array", "items", "type", "object", "properties", "name",
                         "type", "string", "type", "type", "string", "size", "type", "integer",
                         "required", "path", "entries"),
               true, structured));
    json_array_append_new(tools,
                          s_tool("reset", "Restart the interpreter", s_reset_desc,
                                 s_object(NULL, NULL),
                                 json_pack("{s:s, s:{s:O}, s:[s]}", "type", "object",
                                           "properties", "executions_left", nullable_int,
                                           "required", "executions_left"),
                                 false, structured));
    json_array_append_new(
        tools, s_tool("export_notebook", "Export the session as a notebook", s_export_desc,
                      s_object(NULL, NULL),
                      json_pack("{s:s, s:{s:{s:s}, s:{s:s}}, s:[s,s]}", "type", "object",
                                "properties", "cells", "type", "integer", "journal", "type",
                                "string", "required", "cells", "journal"),
                      true, structured));
    json_decref(nullable_int);
    return json_pack("{s:o}", "tools", tools);
}

bool mcp_tools_known(const char *name)
{
    static const char *const names[] = {"execute_code", "upload_file", "download_file",
                                        "list_files",   "reset",       "export_notebook"};
    for (size_t i = 0; name && i < ARRAY_SIZE(names); i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

char *mcp_tools_strip_ansi(const char *in, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c != 0x1b) {
            out[o++] = (char)c;
            continue;
        }
        if (i + 1 >= len)
            break;
        unsigned char k = (unsigned char)in[++i];
        if (k == '[') { /* CSI: parameters, then one final byte */
            while (++i < len && !((unsigned char)in[i] >= 0x40 && (unsigned char)in[i] <= 0x7e))
                ;
        } else if (k == ']') { /* OSC: up to BEL or ESC \ */
            while (++i < len && in[i] != '\a' && !(in[i] == 0x1b && i + 1 < len && in[i + 1] == '\\'))
                ;
            if (i < len && in[i] == 0x1b)
                i++;
        }
    }
    out[o] = '\0';
    return out;
}

/* A growing string. */
typedef struct {
    char *s;
    size_t len, cap;
    bool failed;
} sbuf_t;

static void s_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void s_puts(sbuf_t *b, const char *s)
{
    s_put(b, s, strlen(s));
}

static char *s_done(sbuf_t *b)
{
    if (b->failed) {
        free(b->s);
        return NULL;
    }
    if (!b->s)
        return strdup("");
    return b->s;
}

static bool s_tag_is(const char *tag, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n >= k && strncasecmp(tag, name, k) == 0 &&
           (n == k || !isalnum((unsigned char)tag[k]));
}

char *mcp_tools_html_text(const char *html)
{
    sbuf_t b = {0};
    bool space = false; /* a run of white space is pending */
    const char *skip_until = NULL; /* inside <style> or <script> */
    for (const char *p = html; *p;) {
        if (*p == '<') {
            const char *end = strchr(p, '>');
            if (!end)
                break;
            const char *tag = p + 1;
            bool closing = *tag == '/';
            tag += closing;
            size_t n = (size_t)(end - tag);
            if (skip_until) {
                if (closing && s_tag_is(tag, n, skip_until))
                    skip_until = NULL;
            } else if (!closing && (s_tag_is(tag, n, "style") || s_tag_is(tag, n, "script"))) {
                skip_until = s_tag_is(tag, n, "style") ? "style" : "script";
            } else if (s_tag_is(tag, n, "br") || s_tag_is(tag, n, "tr") ||
                       s_tag_is(tag, n, "p") || s_tag_is(tag, n, "div") ||
                       s_tag_is(tag, n, "li") || s_tag_is(tag, n, "table") ||
                       (n >= 2 && (tag[0] == 'h' || tag[0] == 'H') && isdigit((unsigned char)tag[1]))) {
                if (b.len && b.s[b.len - 1] != '\n')
                    s_puts(&b, "\n");
                space = false;
            } else if (!closing && (s_tag_is(tag, n, "td") || s_tag_is(tag, n, "th"))) {
                if (b.len && b.s[b.len - 1] != '\n')
                    s_puts(&b, " | ");
                space = false;
            }
            p = end + 1;
            continue;
        }
        if (skip_until) {
            p++;
            continue;
        }
        if (isspace((unsigned char)*p)) {
            space = true;
            p++;
            continue;
        }
        if (space && b.len && b.s[b.len - 1] != '\n' && b.s[b.len - 1] != ' ')
            s_puts(&b, " ");
        space = false;
        if (*p == '&') {
            static const struct {
                const char *name, *text;
            } ents[] = {{"&amp;", "&"}, {"&lt;", "<"},  {"&gt;", ">"},
                        {"&quot;", "\""}, {"&#39;", "'"}, {"&nbsp;", " "}};
            size_t i;
            for (i = 0; i < ARRAY_SIZE(ents); i++)
                if (strncmp(p, ents[i].name, strlen(ents[i].name)) == 0)
                    break;
            if (i < ARRAY_SIZE(ents)) {
                s_puts(&b, ents[i].text);
                p += strlen(ents[i].name);
                continue;
            }
        }
        s_put(&b, p, 1);
        p++;
    }
    while (b.len && (b.s[b.len - 1] == '\n' || b.s[b.len - 1] == ' '))
        b.s[--b.len] = '\0';
    return s_done(&b);
}

static void s_text_block(json_t *content, const char *text)
{
    if (text && text[0])
        json_array_append_new(content, json_pack("{s:s, s:s}", "type", "text", "text", text));
}

/* A string or a list of strings (nbformat's multiline) as one new string. */
static char *s_joined(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    sbuf_t b = {0};
    size_t i;
    const json_t *line;
    json_array_foreach(v, i, line)
        if (json_is_string(line))
            s_puts(&b, json_string_value(line));
    return s_done(&b);
}

/* The content block of one rich output's |data| (a mime bundle). */
static void s_data_block(json_t *content, const json_t *data)
{
    static const char *const images[] = {"image/png", "image/jpeg", "image/gif", "image/webp"};
    for (size_t i = 0; i < ARRAY_SIZE(images); i++) {
        const json_t *img = json_object_get(data, images[i]);
        if (json_is_string(img)) {
            /* base64 in Jupyter messages; strip the line breaks some add */
            sbuf_t b = {0};
            for (const char *p = json_string_value(img); *p; p++)
                if (!isspace((unsigned char)*p))
                    s_put(&b, p, 1);
            char *b64 = s_done(&b);
            if (b64)
                json_array_append_new(content, json_pack("{s:s, s:s, s:s}", "type", "image",
                                                         "data", b64, "mimeType", images[i]));
            free(b64);
            return;
        }
    }
    const json_t *plain = json_object_get(data, "text/plain");
    const json_t *html = json_object_get(data, "text/html");
    const json_t *md = json_object_get(data, "text/markdown");
    char *text = NULL;
    if (plain)
        text = s_joined(plain);
    else if (html) {
        char *h = s_joined(html);
        text = h ? mcp_tools_html_text(h) : NULL;
        free(h);
    } else if (md)
        text = s_joined(md);
    else if (json_object_get(data, "application/json"))
        text = json_dumps(json_object_get(data, "application/json"), JSON_COMPACT);
    if (text) {
        char *clean = mcp_tools_strip_ansi(text, strlen(text));
        s_text_block(content, clean);
        free(clean);
    }
    free(text);
}

static json_t *s_error_object(const char *ename, const char *evalue, const json_t *traceback)
{
    json_t *tb = json_array();
    size_t i;
    const json_t *line;
    json_array_foreach(traceback, i, line) {
        const char *s = json_string_value(line);
        char *clean = s ? mcp_tools_strip_ansi(s, json_string_length(line)) : NULL;
        if (clean)
            json_array_append_new(tb, json_string(clean));
        free(clean);
    }
    char *value = mcp_tools_strip_ansi(evalue ? evalue : "", evalue ? strlen(evalue) : 0);
    json_t *error = json_pack("{s:s, s:s, s:o}", "ename", ename ? ename : "Error", "evalue",
                              value ? value : "", "traceback", tb);
    free(value);
    return error;
}

static char *s_error_text(const json_t *error)
{
    sbuf_t b = {0};
    s_puts(&b, json_string_value(json_object_get(error, "ename")));
    s_puts(&b, ": ");
    s_puts(&b, json_string_value(json_object_get(error, "evalue")));
    size_t i;
    const json_t *line;
    json_array_foreach(json_object_get(error, "traceback"), i, line) {
        s_puts(&b, "\n");
        s_puts(&b, json_string_value(line));
    }
    return s_done(&b);
}

json_t *mcp_tools_execute_result(const json_t *outputs, const json_t *reply,
                                 long executions_left, const char *note, bool structured)
{
    json_auto_t *nb = cell_outputs_to_notebook(outputs, NULL);
    json_t *content = json_array();
    json_t *results = json_array();
    sbuf_t out = {0}, err = {0};
    json_t *error = NULL;
    size_t i;
    const json_t *o;
    json_array_foreach(nb, i, o) {
        const char *type = json_string_value(json_object_get(o, "output_type"));
        if (!type)
            continue;
        if (strcmp(type, "stream") == 0) {
            char *text = s_joined(json_object_get(o, "text"));
            char *clean = text ? mcp_tools_strip_ansi(text, strlen(text)) : NULL;
            bool is_err = strcmp(json_string_value(json_object_get(o, "name")), "stderr") == 0;
            if (clean) {
                s_puts(is_err ? &err : &out, clean);
                s_text_block(content, clean);
            }
            free(text);
            free(clean);
        } else if (strcmp(type, "execute_result") == 0 || strcmp(type, "display_data") == 0) {
            const json_t *data = json_object_get(o, "data");
            json_array_append(results, (json_t *)data);
            s_data_block(content, data);
        } else if (strcmp(type, "error") == 0 && !error) {
            error = s_error_object(json_string_value(json_object_get(o, "ename")),
                                   json_string_value(json_object_get(o, "evalue")),
                                   json_object_get(o, "traceback"));
        }
    }
    const char *status = json_string_value(json_object_get(reply, "status"));
    if (!error && (!status || strcmp(status, "ok") != 0)) {
        /* a failure with no error output: the reply says why */
        const char *ename = json_string_value(json_object_get(reply, "ename"));
        error = s_error_object(ename ? ename : status && strcmp(status, "aborted") == 0
                                                   ? "ExecutionAborted"
                                                   : "ExecutionFailed",
                               json_string_value(json_object_get(reply, "evalue")),
                               json_object_get(reply, "traceback"));
    }
    if (error) {
        char *text = s_error_text(error);
        s_text_block(content, text);
        free(text);
    }
    s_text_block(content, note);
    if (json_array_size(content) == 0) /* a cell with no output says so */
        s_text_block(content, "(no output)");
    json_t *count = json_object_get(reply, "execution_count");
    json_t *result = json_pack("{s:o, s:b}", "content", content, "isError", error != NULL);
    char *so = s_done(&out), *se = s_done(&err);
    if (result && structured)
        json_object_set_new(
            result, "structuredContent",
            json_pack("{s:s, s:s, s:O, s:O, s:O, s:o}", "stdout", so ? so : "", "stderr",
                      se ? se : "", "results", results, "error", error ? error : json_null(),
                      "execution_count", json_is_integer(count) ? count : json_null(),
                      "executions_left",
                      executions_left < 0 ? json_null() : json_integer(executions_left)));
    free(so);
    free(se);
    json_decref(results);
    json_decref(error);
    return result;
}

json_t *mcp_tools_error(const char *text)
{
    return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", text,
                     "isError", 1);
}
