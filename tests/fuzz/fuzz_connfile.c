/* fuzz_connfile — connection files (protocol/connfile.c), as `sandcell
 * kernel` reads the one jupyter_client writes for it.
 *
 * Input: the file's bytes, parsed as connfile_load parses them
 * (JSON_REJECT_DUPLICATES). What must hold: a file that loads has a known
 * transport, ports in range and a non-empty key; every channel's endpoint
 * is written or refused without overflowing; and connfile_to_json gives a
 * dict that loads again to the same values. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connfile.h"
#include "fuzz.h"

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_connfile: %s:%d: %s does not hold\n", __FILE__, __LINE__,   \
                    #cond);                                                                     \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *obj = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj)
        return 0;
    connfile_t conn;
    proto_err_t err;
    char why[256];
    if (connfile_from_json(obj, &conn, &err, why, sizeof why) < 0) {
        CHECK(err == PROTO_ERR_BAD_CONNFILE || err == PROTO_ERR_NOMEM);
        CHECK(memchr(why, '\0', sizeof why) && why[0]);
        json_decref(obj);
        return 0;
    }
    CHECK(err == PROTO_OK);
    CHECK(strcmp(conn.transport, "tcp") == 0 || strcmp(conn.transport, "ipc") == 0);
    CHECK(conn.key && conn.key[0] && conn.ip[0]);
    for (int c = 0; c < CONN_NCHANNELS; c++) {
        CHECK(conn.ports[c] >= 0 && conn.ports[c] <= 65535);
        CHECK(connfile_port_name((conn_channel_t)c) != NULL);
        char endpoint[300], tiny[16];
        int rc = connfile_endpoint(&conn, (conn_channel_t)c, endpoint, sizeof endpoint);
        CHECK(rc == 0 && strlen(endpoint) < sizeof endpoint);
        if (connfile_endpoint(&conn, (conn_channel_t)c, tiny, sizeof tiny) == 0)
            CHECK(strlen(tiny) < sizeof tiny);
    }
    json_t *again = connfile_to_json(&conn);
    CHECK(again);
    connfile_t back;
    CHECK(connfile_from_json(again, &back, &err, why, sizeof why) == 0);
    CHECK(strcmp(back.transport, conn.transport) == 0 && strcmp(back.ip, conn.ip) == 0 &&
          strcmp(back.key, conn.key) == 0 &&
          memcmp(back.ports, conn.ports, sizeof conn.ports) == 0);
    connfile_clear(&back);
    json_decref(again);
    connfile_clear(&conn);
    json_decref(obj);
    return 0;
}
