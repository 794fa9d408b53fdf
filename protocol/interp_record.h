/* interp_record — one record an interpreter sent, decoded without trusting it.
 *
 * A record is a JSON object {"type": ..., "content": {...}, ...} that the
 * runtime writes to its channel; a cell can write any bytes there instead.
 * Decoding keeps what ipykernel would deliver: NUL (\u0000) stays in
 * strings, bytes that are not UTF-8 and escaped lone surrogates become
 * U+FFFD, so one bad character never drops the output around it. What
 * cannot be used at all is reported with a reason, which the manager
 * turns into an error output (interp_record_error). Pure functions over
 * (bytes, length), for the fuzzer. */
#ifndef SANDCELL_INTERP_RECORD_H
#define SANDCELL_INTERP_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* JSON values a record may hold. A parsed value costs the manager about a
 * hundred bytes whatever its size in the text, so an interpreter could turn
 * a few MiB of "0," into gigabytes of the manager's memory, which no cgroup
 * of the interpreter counts. Real outputs have few values and long strings. */
#define INTERP_RECORD_MAX_VALUES 100000

/* Room for any reason interp_record_decode gives (content_check's too). */
#define INTERP_RECORD_WHY_LEN 256

/* The ename of the error output that stands for an unusable record. */
#define INTERP_RECORD_ENAME "InvalidOutput"

/* Whether the JSON text |len| bytes at |text| holds more than
 * INTERP_RECORD_MAX_VALUES values, counted by its separators and openers
 * outside strings, without parsing it. Call it before decoding. */
bool interp_record_too_many_values(const char *text, size_t len);

/* Decodes |len| bytes at |text| (need not be NUL-terminated). Returns the
 * record (new reference): an object whose "type" is a non-empty string
 * without NUL and whose "content" is an object; the content of an output
 * content_check knows, and of input_request, follows its schema. Other
 * types are the caller's to know, and replies are checked by the caller,
 * who knows what they answer. On failure returns NULL and writes why into
 * |why|: "the record is not JSON (...)", or content_check's
 * "display_data.data['text/plain'] is a number, not a string". */
json_t *interp_record_decode(const char *text, size_t len, char *why, size_t why_len);

/* Replaces, in a copy of |len| bytes at |text|, every byte sequence that is
 * not UTF-8 by U+FFFD (one per maximal invalid subpart, as Python's
 * "replace" decoder does) and every \uXXXX escape of a lone surrogate by
 * \ufffd. Returns NULL when nothing needs replacing (or out of memory, with
 * *|out_len| set to 0); otherwise a new buffer the caller frees, with its
 * length in *|out_len| (NUL-terminated as well). */
char *interp_record_repair(const char *text, size_t len, size_t *out_len);

/* The content of an error output saying the interpreter sent something
 * unusable: {"ename": "InvalidOutput", "evalue": |what|, "traceback":
 * ["InvalidOutput: " |what|]}. |what| must be UTF-8. New reference, or
 * NULL when out of memory. */
json_t *interp_record_error(const char *what);

#endif
