/* content_check — whether the content of a message follows the Jupyter
 * schema of its type.
 *
 * The interpreter is untrusted: what it sends may have been written by a
 * cell, not by sandcell's runtime. Every output and reply it sends is
 * checked here before it is published or journaled; one that fails is
 * replaced by an error naming the first problem. The check is a pure
 * function of the JSON value, so it can be fuzzed and table-tested. */
#ifndef SANDCELL_CONTENT_CHECK_H
#define SANDCELL_CONTENT_CHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Bounds beyond the schema (docs/design-decisions.md, "Output content").
 * The record as a whole is bounded by the conversation's output limit and
 * by the count of its JSON values before it is parsed (interp_record.c). */
#define CONTENT_MAX_MIME_TYPES 64   /* entries of one mime bundle */
#define CONTENT_MAX_MIME_LEN 255    /* bytes of a mime type ("type/subtype") */
#define CONTENT_MAX_DEPTH 64        /* nesting of JSON data and metadata */
#define CONTENT_MAX_NAME_LEN 1024   /* bytes of ename, display_id, status */

/* Room for any message content_check writes. */
#define CONTENT_WHY_LEN 256

/* Checks |content| (borrowed) of a message of type |msg_type|:
 * - the outputs stream, display_data, update_display_data, execute_result,
 *   error and clear_output;
 * - input_request (prompt, password);
 * - the replies the interpreter gives: execute_reply, complete_reply,
 *   inspect_reply, is_complete_reply (any reply whose status is "error"
 *   needs ename, evalue and traceback).
 * Extra keys are allowed, as in Jupyter; keys the schema names must have
 * their types. Returns 0 when |content| follows the schema; otherwise -1,
 * with a sentence naming the first problem in |why| (NUL-terminated,
 * truncated to |why_len|), e.g.
 *   display_data.data['text/plain'] is a number, not a string
 * A |msg_type| outside the list above fails. Quoted keys are cut short and
 * their control characters shown as '?'. */
int content_check(const char *msg_type, const json_t *content, char *why, size_t why_len);

/* Whether content_check knows |msg_type| as an output (not a reply). */
bool content_check_is_output(const char *msg_type);

#endif
