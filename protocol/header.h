/* header — Jupyter message headers: ids, timestamps, the protocol version.
 * Not thread-safe: ids and dates keep per-process state (one thread of a
 * process makes headers; sandcell's processes have one). */
#ifndef SANDCELL_HEADER_H
#define SANDCELL_HEADER_H

#include <jansson.h>

#define HEADER_PROTOCOL_VERSION "5.3"
#define HEADER_ID_LEN 36   /* a UUID4 in its 8-4-4-4-12 text form */
#define HEADER_DATE_LEN 27 /* 2026-01-02T03:04:05.678901Z */

/* Writes a fresh random UUID4 into |out| (HEADER_ID_LEN + 1 bytes). */
void header_new_id(char *out);

/* Writes the current UTC time as ISO-8601 with six-digit microseconds and a
 * trailing Z into |out| (HEADER_DATE_LEN + 1 bytes). */
void header_now(char *out);

/* Returns a new header object {msg_id, msg_type, session, username, date,
 * version}. New reference; NULL on allocation failure. */
json_t *header_new(const char *msg_type, const char *session, const char *username);

/* Writes the compact JSON text of a new header (the same fields as
 * header_new, in the same order) into |out| (|len| bytes, NUL-terminated).
 * |msg_type|, |session| and |username| must be UTF-8. Returns the length of
 * the text, or -1 if it does not fit. HEADER_TEXT_MAX bytes always hold it
 * when the three strings are at most HEADER_FIELD_MAX bytes each. */
int header_format(char *out, size_t len, const char *msg_type, const char *session,
                  const char *username);
#define HEADER_FIELD_MAX 64
#define HEADER_TEXT_MAX (160 + 3 * 6 * HEADER_FIELD_MAX)

#endif
