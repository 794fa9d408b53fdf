/* header — Jupyter message headers. msg_id is a random UUID4: 16 bytes of
 * ChaCha20 keystream under a key drawn once from the system CSPRNG, with a
 * counter as nonce, so a message costs no system call. (A process that
 * forks must not create headers in both halves; sandcell's manager never
 * forks after its first message.) Dates come from CLOCK_REALTIME. */
#include "header.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void header_new_id(char *out)
{
    static unsigned char key[crypto_stream_chacha20_KEYBYTES];
    static uint64_t counter;
    if (counter == 0) {
        if (sodium_init() < 0)
            abort();
        randombytes_buf(key, sizeof key);
    }
    unsigned char nonce[crypto_stream_chacha20_NONCEBYTES] = {0};
    uint64_t n = ++counter;
    memcpy(nonce, &n, sizeof n < sizeof nonce ? sizeof n : sizeof nonce);
    unsigned char b[16];
    crypto_stream_chacha20(b, sizeof b, nonce, key);
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
