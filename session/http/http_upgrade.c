/* http_upgrade — the WebSocket handshake's accept key (RFC 6455 4.2.2):
 * SHA-1 from czmq's zdigest (libsodium has none), base64 from libsodium. */
#include <czmq.h>
#include <sodium.h>
#include <string.h>

#include "http_upgrade.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

int http_ws_accept_key(const char *key, char out[29])
{
    unsigned char raw[32];
    size_t raw_len = 0;
    if (!key || strlen(key) != 24 ||
        sodium_base642bin(raw, sizeof raw, key, 24, NULL, &raw_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        raw_len != 16)
        return -1;
    zdigest_t *digest = zdigest_new();
    if (!digest)
        return -1;
    zdigest_update(digest, (const byte *)key, 24);
    zdigest_update(digest, (const byte *)WS_GUID, strlen(WS_GUID));
    const byte *sha1 = zdigest_data(digest);
    sodium_bin2base64(out, 29, sha1, zdigest_size(digest), sodium_base64_VARIANT_ORIGINAL);
    zdigest_destroy(&digest);
    return 0;
}

bool http_ws_offers_v1(const char *offered)
{
    size_t want = strlen(HTTP_WS_SUBPROTOCOL);
    for (const char *p = offered; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',' && *end != ' ' && *end != '\t')
            end++;
        if ((size_t)(end - p) == want && strncmp(p, HTTP_WS_SUBPROTOCOL, want) == 0)
            return true;
        p = end;
    }
    return false;
}
