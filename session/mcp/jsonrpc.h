/* jsonrpc — JSON-RPC 2.0 messages as MCP sends them over stdio: one line
 * in, a classified message out; responses and errors built as objects.
 *
 * Pure: bytes in, structs out, no I/O. The parser reads what an MCP client
 * (or anyone holding the pipe) writes, so it never asserts on its input,
 * bounds what a line may cost before parsing it, and says which JSON-RPC
 * error each bad line earns. */
#ifndef SANDCELL_JSONRPC_H
#define SANDCELL_JSONRPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* JSON-RPC 2.0 error codes. */
#define JSONRPC_PARSE_ERROR (-32700)
#define JSONRPC_INVALID_REQUEST (-32600)
#define JSONRPC_METHOD_NOT_FOUND (-32601)
#define JSONRPC_INVALID_PARAMS (-32602)
#define JSONRPC_INTERNAL_ERROR (-32603)

/* A line longer than this is refused unread (an upload of the workspace's
 * largest file, base64, fits). */
#define JSONRPC_MAX_LINE ((size_t)32 << 20)
/* A parsed value costs about a hundred bytes whatever its size in the
 * text; a line with more values than this is refused before parsing. */
#define JSONRPC_MAX_VALUES 200000

typedef enum {
    JSONRPC_REQUEST,      /* method and id */
    JSONRPC_NOTIFICATION, /* method, no id */
    JSONRPC_RESPONSE,     /* result or error, with id (a client's answer) */
    JSONRPC_INVALID,      /* error_code and error_message say why */
} jsonrpc_kind_t;

typedef struct {
    jsonrpc_kind_t kind;
    json_t *id;         /* string or integer (borrowed from |root|), or NULL */
    const char *method; /* borrowed from |root|, or NULL */
    json_t *params;     /* object or array (borrowed), or NULL if absent */
    int error_code;     /* JSONRPC_INVALID: the code to answer with */
    const char *error_message; /* static */
} jsonrpc_msg_t;

/* Classifies one parsed message |value| (borrowed; a member of a batch or
 * the whole line) into |out|, whose borrowed pointers live as long as
 * |value|. Never fails: what is wrong is JSONRPC_INVALID. */
void jsonrpc_classify(json_t *value, jsonrpc_msg_t *out);

/* Parses one line (|len| bytes, without its newline). Returns a new
 * reference, or NULL with *code (JSONRPC_PARSE_ERROR or
 * JSONRPC_INVALID_REQUEST for a line too big) and a static |*why|. */
json_t *jsonrpc_parse_line(const char *line, size_t len, int *code, const char **why);

/* {"jsonrpc":"2.0","id":ID,"result":RESULT}. Takes ownership of |result|;
 * |id| is borrowed (NULL: null). New reference, or NULL on allocation
 * failure. */
json_t *jsonrpc_result(const json_t *id, json_t *result);

/* {"jsonrpc":"2.0","id":ID,"error":{"code","message"[,"data"]}}. Takes
 * ownership of |data| (may be NULL); |id| is borrowed (NULL: null). */
json_t *jsonrpc_error(const json_t *id, int code, const char *message, json_t *data);

/* {"jsonrpc":"2.0","method":METHOD,"params":PARAMS}. Takes ownership of
 * |params|. */
json_t *jsonrpc_notification(const char *method, json_t *params);

/* The text a message goes out as: compact JSON with the newline that ends
 * it (jansson escapes newlines inside strings). Caller frees; NULL on
 * allocation failure. */
char *jsonrpc_line(const json_t *msg, size_t *len);

#endif
