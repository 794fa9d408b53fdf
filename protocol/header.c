/* header — Jupyter message headers. msg_id is a random UUID4: 16 bytes of
 * ChaCha20 keystream under a key drawn once from the system CSPRNG, with a
 * counter as nonce, so a message costs no system call. (A process that
 * forks must not create headers in both halves; sandcell's manager never
 * forks after its first message.) Dates come from CLOCK_REALTIME.
 *
 * Every message the manager sends carries a new header, so this is on the
 * per-message path: ids are written with a hex table, the date's
 * "YYYY-MM-DDTHH:MM:SS" part is formatted once per second, and
 * header_format writes the JSON text directly (no jansson object to build
 * and dump). */
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
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 0x0f];
    }
    *o = '\0';
}

void header_now(char *out)
{
    static time_t cached_sec = -1;
    static char cached[HEADER_DATE_LEN + 1]; /* "YYYY-MM-DDTHH:MM:SS" */
    static size_t cached_len;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        cached_len = strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = ts.tv_sec;
    }
    memcpy(out, cached, cached_len);
    unsigned usec = (unsigned)(ts.tv_nsec / 1000) % 1000000u;
    char *o = out + cached_len;
    *o++ = '.';
    for (int i = 5; i >= 0; i--, usec /= 10)
        o[i] = (char)('0' + usec % 10);
    o[6] = 'Z';
    o[7] = '\0';
}

/* Appends |s| as a JSON string (quoted, escaped) to out[*n..len); returns
 * -1 when it does not fit. |s| is UTF-8 (it came through jansson or from
 * sandcell itself), so only quotes, backslashes and control characters
 * need escaping. */
static int s_put_string(char *out, size_t len, size_t *n, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t k = *n;
    if (k >= len)
        return -1;
    out[k++] = '"';
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (k + 6 >= len)
            return -1;
        if (ch == '"' || ch == '\\') {
            out[k++] = '\\';
            out[k++] = (char)ch;
        } else if (ch < 0x20) {
            memcpy(out + k, "\\u00", 4);
            out[k + 4] = hex[ch >> 4];
            out[k + 5] = hex[ch & 0x0f];
            k += 6;
        } else {
            out[k++] = (char)ch;
        }
    }
    if (k + 1 >= len)
        return -1;
    out[k++] = '"';
    *n = k;
    return 0;
}

static int s_put_raw(char *out, size_t len, size_t *n, const char *s)
{
    size_t l = strlen(s);
    if (*n + l >= len)
        return -1;
    memcpy(out + *n, s, l);
    *n += l;
    return 0;
}

int header_format(char *out, size_t len, const char *msg_type, const char *session,
                  const char *username)
{
    char id[HEADER_ID_LEN + 1], date[HEADER_DATE_LEN + 1];
    header_new_id(id);
    header_now(date);
    size_t n = 0;
    if (s_put_raw(out, len, &n, "{\"msg_id\":\"") < 0 || s_put_raw(out, len, &n, id) < 0 ||
        s_put_raw(out, len, &n, "\",\"msg_type\":") < 0 ||
        s_put_string(out, len, &n, msg_type) < 0 ||
        s_put_raw(out, len, &n, ",\"session\":") < 0 ||
        s_put_string(out, len, &n, session) < 0 ||
        s_put_raw(out, len, &n, ",\"username\":") < 0 ||
        s_put_string(out, len, &n, username) < 0 || s_put_raw(out, len, &n, ",\"date\":\"") < 0 ||
        s_put_raw(out, len, &n, date) < 0 ||
        s_put_raw(out, len, &n, "\",\"version\":\"" HEADER_PROTOCOL_VERSION "\"}") < 0)
        return -1;
    out[n] = '\0';
    return (int)n;
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
