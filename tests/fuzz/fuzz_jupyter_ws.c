/* fuzz_jupyter_ws — the WebSocket codec (protocol/jupyter_ws.c) as the
 * daemon runs it on every WebSocket message a client sends to
 * /api/kernels/{id}/channels, and its encoder on what goes back.
 *
 * Input: one flag byte, then the payload. The flag's low bits choose the
 * framing (bit 0: v1, else legacy) and the opcode (bit 1: binary, else
 * text); with bit 2 the payload is the parts of an offset table cut at
 * FUZZ_SEPARATOR, and the harness lays the table out itself (u64 LE with
 * an end offset for v1, u32 BE for legacy), so mutations reach the JSON
 * parsers behind a well-formed table.
 *
 * What must hold, besides no crash, leak or undefined behaviour: a message
 * that decodes names shell, control or stdin, its parts make a wire
 * message the daemon's decoder accepts, and it encodes again into a
 * payload that decodes to the same parts and buffers; a failure has a
 * phrase and a close code, and leaves the message empty. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jupyter_ws.h"
#include "signer.h"
#include "wire.h"

#define MAX_PARTS 48

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_jupyter_ws: %s:%d: %s does not hold\n", __FILE__,        \
                    __LINE__, #cond);                                                      \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static unsigned char *s_table(const fuzz_part_t *parts, size_t n, int v1, size_t *size)
{
    size_t count = v1 ? n + 1 : n, width = v1 ? 8 : 4, table = width * (count + 1);
    size_t total = table;
    for (size_t i = 0; i < n; i++)
        total += parts[i].size;
    unsigned char *p = malloc(total ? total : 1);
    CHECK(p);
    size_t off = table, at = 0;
    for (size_t i = 0; i <= count; i++) {
        uint64_t v = i == 0 ? count : off;
        for (size_t k = 0; k < width; k++)
            p[at++] = v1 ? (unsigned char)(v >> (8 * k))
                         : (unsigned char)(v >> (8 * (width - 1 - k)));
        if (i > 0 && i - 1 < n)
            off += parts[i - 1].size;
    }
    for (size_t i = 0; i < n; i++) {
        if (parts[i].size)
            memcpy(p + at, parts[i].data, parts[i].size);
        at += parts[i].size;
    }
    *size = total;
    return p;
}

static json_t *s_load(const wire_frame_t *f)
{
    return json_loadb(f->data, f->size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

static void s_check_message(jupyter_ws_framing_t framing, const jupyter_ws_msg_t *msg)
{
    CHECK(msg->channel == CONN_SHELL || msg->channel == CONN_CONTROL ||
          msg->channel == CONN_STDIN);
    CHECK(msg->header && msg->n_buffers <= JUPYTER_WS_MAX_BUFFERS);

    signer_t *signer = signer_new("fuzz-key", 8);
    CHECK(signer);
    char hex[SIGNER_HEX_LEN + 1];
    wire_frame_t views[6 + JUPYTER_WS_MAX_BUFFERS];
    size_t n = jupyter_ws_wire_views(signer, msg, hex, views);
    wire_msg_t w;
    proto_err_t perr;
    CHECK(wire_decode(signer, views, n, &w, &perr) == 0);
    CHECK(json_equal(w.header, msg->header));
    wire_msg_clear(&w);
    signer_destroy(&signer);

    jupyter_ws_frame_t frame;
    jupyter_ws_err_t err;
    CHECK(jupyter_ws_encode(framing, msg->channel, msg->parts, msg->buffers, msg->n_buffers,
                            &frame, &err) == 0);
    jupyter_ws_msg_t back;
    CHECK(jupyter_ws_decode(framing, frame.binary, frame.data, frame.size, "", &back, &err) == 0);
    CHECK(back.channel == msg->channel && back.n_buffers == msg->n_buffers);
    for (int i = 0; i < 4; i++) {
        json_t *a = s_load(&msg->parts[i]), *b = s_load(&back.parts[i]);
        CHECK(a && b && json_equal(a, b));
        json_decref(a);
        json_decref(b);
    }
    for (size_t i = 0; i < msg->n_buffers; i++)
        CHECK(back.buffers[i].size == msg->buffers[i].size &&
              (!back.buffers[i].size ||
               memcmp(back.buffers[i].data, msg->buffers[i].data, back.buffers[i].size) == 0));
    jupyter_ws_msg_clear(&back);
    jupyter_ws_frame_clear(&frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int flag = data[0];
    jupyter_ws_framing_t framing = flag & 1 ? JUPYTER_WS_V1 : JUPYTER_WS_LEGACY;
    bool binary = flag & 2;
    const unsigned char *payload = data + 1;
    size_t len = size - 1;
    unsigned char *built = NULL;
    if (flag & 4) {
        fuzz_part_t parts[MAX_PARTS];
        size_t n = fuzz_split(data + 1, size - 1, parts, MAX_PARTS);
        built = s_table(parts, n, framing == JUPYTER_WS_V1, &len);
        payload = built;
        binary = true;
    }
    jupyter_ws_msg_t msg;
    jupyter_ws_err_t err;
    if (jupyter_ws_decode(framing, binary, payload, len, "fuzz-session", &msg, &err) == 0) {
        CHECK(err == JUPYTER_WS_OK);
        s_check_message(framing, &msg);
        jupyter_ws_msg_clear(&msg);
    } else {
        CHECK(err > JUPYTER_WS_OK && err < JUPYTER_WS_ERR_COUNT);
        CHECK(strcmp(jupyter_ws_err_to_string(err), "unknown error") != 0);
        CHECK(jupyter_ws_err_close_code(err) >= 1000);
        CHECK(msg.header == NULL && msg.n_buffers == 0);
    }
    free(built);
    return 0;
}
