/* header — Jupyter message headers: ids, timestamps, the protocol version. */
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

#endif
