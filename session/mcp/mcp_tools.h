/* mcp_tools — the MCP server's tools as data: their list (names,
 * descriptions for a model, input and output schemas) and the turning of
 * a cell's Jupyter outputs into a CallToolResult. Pure: no I/O. */
#ifndef SANDCELL_MCP_TOOLS_H
#define SANDCELL_MCP_TOOLS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The tools/list result. |structured|: the protocol version has
 * outputSchema (2025-06-18 on). New reference. */
json_t *mcp_tools_list(bool structured);

/* Whether |name| is one of the tools. */
bool mcp_tools_known(const char *name);

/* The result of execute_code: content blocks in output order (text for
 * streams and text/plain, image blocks for PNG/JPEG/GIF, HTML as readable
 * text, the error with its traceback, ANSI colour stripped), isError when
 * the cell failed, and (|structured|) structuredContent {stdout, stderr,
 * results, error, execution_count, executions_left}. |outputs| is the
 * journal's [{"msg_type","content"}...] (borrowed), |reply| the
 * execute_reply content (borrowed, may be NULL), |executions_left| -1 for
 * no cap. |note| (may be NULL) is added as a last text block. New
 * reference. */
json_t *mcp_tools_execute_result(const json_t *outputs, const json_t *reply,
                                 long executions_left, const char *note, bool structured);

/* A tool error: isError with one text block. New reference. */
json_t *mcp_tools_error(const char *text);

/* |len| bytes of |in| without ANSI escape sequences, into a new string
 * (caller frees); NULL on allocation failure. */
char *mcp_tools_strip_ansi(const char *in, size_t len);

/* The readable text of an HTML fragment: tags dropped, block ends as
 * newlines, table cells apart, the common entities decoded. Caller frees. */
char *mcp_tools_html_text(const char *html);

#endif
