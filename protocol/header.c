/* header — Jupyter message headers. msg_id is a random UUID4 from
 * libsodium's CSPRNG; dates come from CLOCK_REALTIME. */
#include "header.h"

#include <sodium.h>
#include <stdio.h>
#include <time.h>

void header_new_id(char *out)
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
    b[8] = (b[8] & 0x3f) | 0x80; /* variant 10 */
    snprintf(out, HEADER_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
}

void header_now(char *out)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, HEADER_DATE_LEN + 1, "%Y-%m-%dT%H:%M:%S", &tm);
    unsigned usec = (unsigned)(ts.tv_nsec / 1000) % 1000000u;
    snprintf(out + n, HEADER_DATE_LEN + 1 - n, ".%06uZ", usec);
}

json_t *header_new(const char *msg_type, const char *session, const char *username)
{
    char id[HEADER_ID_LEN + 1], date[HEADER_DATE_LEN + 1];
    header_new_id(id);
    header_now(date);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "msg_id", id, "msg_type",
                     msg_type, "session", session, "username", username, "date",
                     date, "version", HEADER_PROTOCOL_VERSION);
}
