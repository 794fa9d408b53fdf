/* mcp_files — the MCP tools on the workspace and the journal: upload_file,
 * download_file, list_files (session/base/workspace.c's rules: relative
 * paths beneath the workspace, no "..", no symlinks, regular files of at
 * most 16 MiB) and export_notebook (core/notebook.c over the journal).
 * Each returns a CallToolResult (a new reference, never NULL but on
 * allocation failure); bad arguments are tool errors (isError), so the
 * model can correct them. |structured| adds structuredContent. */
#ifndef SANDCELL_MCP_FILES_H
#define SANDCELL_MCP_FILES_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "conversation.h"

/* {path, content | content_base64} into the workspace of interpreter
 * |pid|; recorded in |conv|'s journal, so a restore puts it back. */
json_t *mcp_files_upload(conversation_t *conv, pid_t pid, bool jailed, const json_t *args,
                         bool structured);

/* {path}: an embedded resource, text for UTF-8 and a base64 blob otherwise. */
json_t *mcp_files_download(pid_t pid, bool jailed, const json_t *args, bool structured);

/* {path?}: the entries of a workspace folder. */
json_t *mcp_files_list(pid_t pid, bool jailed, const json_t *args, bool structured);

/* |conv|'s journal as an nbformat 4 notebook, an embedded resource; a tool
 * error without a journal. */
json_t *mcp_files_export(const conversation_t *conv, bool structured);

#endif
