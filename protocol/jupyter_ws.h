/* jupyter_ws — Jupyter messages as WebSocket payloads, both framings that
 * Jupyter Server speaks on /api/kernels/{id}/channels.
 *
 * Legacy (no subprotocol): one JSON text frame per message, the message
 * dict with its top-level "channel" (jupyter_server's
 * _reserialize_reply); a message with buffers is one binary frame instead:
 * a big-endian u32 count N of parts, N big-endian u32 offsets from the
 * start of the frame, then the parts, the JSON (without "buffers") first
 * and the buffers after it (serialize_binary_message).
 *
 * v1.kernel.websocket.jupyter.org: one binary frame per message: a
 * little-endian u64 count N of offsets, N little-endian u64 offsets, then
 * N - 1 parts: channel, header, parent_header, metadata, content and the
 * buffers; the last offset is the end of the frame
 * (serialize_msg_to_ws_v1).
 *
 * Decoding is what a client sends, made into the four JSON texts and the
 * buffers of a wire message (see jupyter_ws_wire_views) and normalised the
 * way real clients need: no "channel" means shell, "buffers": {} means
 * none, a missing or null parent_header or metadata is {}, a missing
 * header.session is the connection's, a date given as a number (seconds,
 * or milliseconds as JavaScript counts) becomes ISO-8601 UTC text, and a
 * naive or missing date stays as sent. Encoding takes the JSON texts of a
 * message the daemon signed and puts them in a frame without parsing
 * anything but the header (legacy needs its msg_id and msg_type), so the
 * bytes of the content reach the client as the kernel wrote them. */
#ifndef SANDCELL_JUPYTER_WS_H
#define SANDCELL_JUPYTER_WS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connfile.h"
#include "signer.h"
#include "wire.h"

#define JUPYTER_WS_V1_PROTOCOL "v1.kernel.websocket.jupyter.org"
/* A payload larger than this is refused unread (the wire's own bound). */
#define JUPYTER_WS_MAX_BYTES WIRE_MAX_BYTES
/* Buffers one message may carry (a wire message holds identities + 6 +
 * buffers frames; wire_io takes up to 64). */
#define JUPYTER_WS_MAX_BUFFERS 32

typedef enum { JUPYTER_WS_LEGACY, JUPYTER_WS_V1 } jupyter_ws_framing_t;

typedef enum {
    JUPYTER_WS_OK = 0,
    JUPYTER_WS_ERR_TOO_LARGE,       /* payload over JUPYTER_WS_MAX_BYTES */
    JUPYTER_WS_ERR_TEXT_IN_V1,      /* a text frame under the v1 subprotocol */
    JUPYTER_WS_ERR_BAD_UTF8,        /* a text frame (or the channel) that is not UTF-8 */
    JUPYTER_WS_ERR_BAD_TABLE,       /* a binary frame's offset table is malformed */
    JUPYTER_WS_ERR_TOO_MANY_BUFFERS, /* more than JUPYTER_WS_MAX_BUFFERS */
    JUPYTER_WS_ERR_BAD_JSON,        /* a JSON part does not parse */
    JUPYTER_WS_ERR_BAD_FIELD,       /* a part is not an object, or buffers is malformed */
    JUPYTER_WS_ERR_BAD_HEADER,      /* header lacks msg_id or msg_type, or has a bad field */
    JUPYTER_WS_ERR_BAD_CHANNEL,     /* channel is not a string */
    JUPYTER_WS_ERR_UNKNOWN_CHANNEL, /* not shell, control or stdin */
    JUPYTER_WS_ERR_NOMEM,
    JUPYTER_WS_ERR_COUNT
} jupyter_ws_err_t;

/* A static phrase such as "unknown channel"; never NULL. */
const char *jupyter_ws_err_to_string(jupyter_ws_err_t err);

/* The WebSocket close code (RFC 6455, 7.4.1) that answers |err|: 1009
 * for a payload too large, 1007 for invalid UTF-8, 1003 for a text frame
 * under v1, 1011 when out of memory, 1008 for every other bad message. */
uint16_t jupyter_ws_err_close_code(jupyter_ws_err_t err);

/* The channel named |name| (|len| bytes): shell, iopub, stdin or control.
 * Returns 0, or -1 for any other. */
int jupyter_ws_channel_from_name(const char *name, size_t len, conn_channel_t *out);

/* "shell", "iopub", "stdin", "control" or "hb". Static. */
const char *jupyter_ws_channel_name(conn_channel_t channel);

/* A message a client sent, ready for the wire. Owns what it allocated;
 * |parts| and |buffers| may point into the decoded payload, so the
 * message is valid only as long as that payload is. */
typedef struct {
    conn_channel_t channel; /* CONN_SHELL, CONN_CONTROL or CONN_STDIN */
    json_t *header;         /* the normalised header (owned) */
    /* The JSON texts of header, parent_header, metadata and content. */
    wire_frame_t parts[4];
    char *owned[4]; /* the texts made here, freed by jupyter_ws_msg_clear */
    wire_frame_t buffers[JUPYTER_WS_MAX_BUFFERS];
    size_t n_buffers;
} jupyter_ws_msg_t;

/* Decodes one WebSocket message (|binary|: its opcode was binary; else
 * text) of |size| bytes under |framing| into |out| (zeroed on entry).
 * |session| (UTF-8, may be "") fills a header without "session". Returns
 * 0, or -1 with *err set; on failure |out| holds nothing. */
int jupyter_ws_decode(jupyter_ws_framing_t framing, bool binary, const void *data, size_t size,
                      const char *session, jupyter_ws_msg_t *out, jupyter_ws_err_t *err);

/* Frees what |msg| owns and zeroes it. */
void jupyter_ws_msg_clear(jupyter_ws_msg_t *msg);

/* The frames of |msg| as a wire message with no identities: <IDS|MSG>,
 * the HMAC of the four parts signed by |signer| (written into |hex|,
 * SIGNER_HEX_LEN + 1 bytes), the four parts, the buffers. Fills |views|
 * (6 + msg->n_buffers entries, borrowed from |msg| and |hex|) and returns
 * how many. */
size_t jupyter_ws_wire_views(const signer_t *signer, const jupyter_ws_msg_t *msg,
                             char hex[SIGNER_HEX_LEN + 1], wire_frame_t *views);

/* An encoded WebSocket message. Owns |data|. */
typedef struct {
    unsigned char *data;
    size_t size;
    bool binary; /* send with the binary opcode; else text */
} jupyter_ws_frame_t;

/* Encodes the message whose JSON texts are |parts| (header,
 * parent_header, metadata, content: the caller vouches that each is one
 * JSON object, as the daemon signed them) and |buffers| under |framing|
 * for |channel| into |out| (caller frees out->data). Returns 0, or -1
 * with *err set (BAD_HEADER when the header has no string msg_id or
 * msg_type, TOO_LARGE past what an offset table holds, NOMEM). */
int jupyter_ws_encode(jupyter_ws_framing_t framing, conn_channel_t channel,
                      const wire_frame_t parts[4], const wire_frame_t *buffers, size_t n_buffers,
                      jupyter_ws_frame_t *out, jupyter_ws_err_t *err);

void jupyter_ws_frame_clear(jupyter_ws_frame_t *frame);

/* Whether |len| bytes at |s| are UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF). */
bool jupyter_ws_utf8_valid(const void *s, size_t len);

#endif
