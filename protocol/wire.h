/* wire — the Jupyter v5.3 multipart wire format, as data.
 *
 *   identities... | <IDS|MSG> | signature | header | parent_header |
 *   metadata | content | buffers...
 *
 * Decoding authenticates first: the signature is checked over the raw JSON
 * frames (and against the replay memory) before any JSON is parsed, so an
 * unauthenticated peer never reaches the parser. A content string that
 * holds a NUL (\u0000) does not make the message undecodable (its sender
 * gets an answer): see wire_msg_t.content_error. */
#ifndef SANDCELL_WIRE_H
#define SANDCELL_WIRE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "proto_error.h"
#include "signer.h"

#define WIRE_DELIMITER "<IDS|MSG>"
#define WIRE_DELIMITER_LEN 9
/* A message whose frames add up to more than this is refused unread. */
#define WIRE_MAX_BYTES ((size_t)32 << 20)

/* An owned byte string. */
typedef struct {
    void *data;
    size_t size;
} wire_blob_t;

/* A decoded message. Owns everything it points to. */
typedef struct {
    wire_blob_t *identities;
    size_t n_identities;
    wire_blob_t raw_header; /* the header frame as received, for parent_header */
    json_t *header;
    json_t *parent;
    json_t *metadata;
    json_t *content;
    /* NULL, or why |content| was replaced by an empty object: a string in
     * it held a NUL character (\u0000), which no C string can carry. The
     * message is still answered; a handler that sees this replies with an
     * error naming it. Static. */
    const char *content_error;
    /* With content_error: the content as it came, NUL characters kept, for
     * a reader that goes by string lengths (a client showing a cell's
     * output, as ipykernel's clients do); never for a handler. Owned. */
    json_t *content_nul;
    wire_blob_t *buffers;
    size_t n_buffers;
} wire_msg_t;

/* What to send. Does not own anything it points to. */
typedef struct {
    const wire_blob_t *identities;
    size_t n_identities;
    const json_t *header;
    wire_frame_t header_text; /* header JSON text; when its size is > 0 it is
                                 sent as is and |header| is ignored */
    wire_frame_t parent; /* raw parent header JSON; size 0 sends {} */
    const json_t *metadata; /* NULL sends {} */
    const json_t *content;
    wire_frame_t content_text; /* like header_text, for |content|: the caller
                                  vouches that it is one JSON object */
    const wire_frame_t *buffers;
    size_t n_buffers;
} wire_outgoing_t;

/* The frames of an encoded message. Owns its frames. */
typedef struct {
    wire_blob_t *frames;
    size_t n;
} wire_frames_t;

/* Authenticates then parses |n| frames into |out| (zeroed on entry).
 * Returns 0, or -1 with *err set; on failure |out| holds nothing. */
int wire_decode(signer_t *signer, const wire_frame_t *frames, size_t n,
                wire_msg_t *out, proto_err_t *err);

/* Frees what |msg| owns and zeroes it. */
void wire_msg_clear(wire_msg_t *msg);

/* The header's msg_type. Borrowed from msg->header. */
const char *wire_msg_type(const wire_msg_t *msg);

/* Whether a string anywhere in |v| holds a NUL character (jansson refuses
 * one in a key even with JSON_ALLOW_NUL; the daemon refuses one anywhere
 * in a header or, where it matters, content). */
bool wire_json_holds_nul(const json_t *v);

/* Serialises and signs |msg| into |out|. Caller owns out->frames (free them
 * with wire_frames_clear). Returns 0, or -1 with *err set. */
int wire_encode(const signer_t *signer, const wire_outgoing_t *msg,
                wire_frames_t *out, proto_err_t *err);

void wire_frames_clear(wire_frames_t *frames);

/* Room for what wire_encode_views serialises; small texts stay inside. */
typedef struct {
    char signature[SIGNER_HEX_LEN + 1];
    char header[512], metadata[256], content[2048];
    char *heap[3]; /* texts that did not fit; freed by wire_scratch_clear */
} wire_scratch_t;

/* Frames |msg| encodes to: identities + 6 + buffers. */
size_t wire_encoded_frames(const wire_outgoing_t *msg);

/* Serialises and signs |msg| without copying what it points to: fills
 * |views| (wire_encoded_frames(msg) entries) with frames that point into
 * |msg| and |scratch|, valid until |msg| or |scratch| changes. Call
 * wire_scratch_clear after the frames are sent. Returns 0, or -1 with *err
 * set (|scratch| is then clear). */
int wire_encode_views(const signer_t *signer, const wire_outgoing_t *msg, wire_frame_t *views,
                      wire_scratch_t *scratch, proto_err_t *err);

void wire_scratch_clear(wire_scratch_t *scratch);

#endif
