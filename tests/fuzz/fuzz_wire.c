/* fuzz_wire — the wire decoder with its signature check (protocol/wire.c,
 * protocol/signer.c), as the kernel and the daemon run it on every
 * multipart message a client sends.
 *
 * Input: one flag byte, then the frames cut at FUZZ_SEPARATOR. With the
 * flag 's' the harness signs the message itself (it writes the right HMAC
 * into the frame after the first <IDS|MSG>), so mutations of the JSON
 * frames reach the parser; with any other flag the frames go in as they
 * are and only a forged signature that verifies could get past the check.
 *
 * What must hold, besides no crash, leak or undefined behaviour: a message
 * that decodes is refused as a replay the second time; its msg_type is a
 * non-empty string; and it encodes again into frames that decode, with a
 * fresh signer, to the same identities, JSON and buffers. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "signer.h"
#include "wire.h"

#define KEY "fuzz-key"
/* More than any limit of the decoder, so every count can be reached. */
#define MAX_FRAMES 80

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_wire: %s:%d: %s does not hold\n", __FILE__, __LINE__, #cond); \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

static bool s_same_blobs(const wire_blob_t *a, const wire_blob_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].size != b[i].size || (a[i].size && memcmp(a[i].data, b[i].data, a[i].size)))
            return false;
    return true;
}

/* Encodes |msg| again and checks that it decodes to the same message. */
static void s_check_round_trip(const wire_msg_t *msg)
{
    char *parent = json_dumps(msg->parent, JSON_COMPACT);
    CHECK(parent);
    wire_frame_t *buffers = calloc(msg->n_buffers + 1, sizeof *buffers);
    CHECK(buffers);
    for (size_t i = 0; i < msg->n_buffers; i++)
        buffers[i] = (wire_frame_t){msg->buffers[i].data, msg->buffers[i].size};
    wire_outgoing_t out = {
        .identities = msg->identities,
        .n_identities = msg->n_identities,
        .header = msg->header,
        .parent = {parent, strlen(parent)},
        .metadata = msg->metadata,
        .content = msg->content,
        .buffers = buffers,
        .n_buffers = msg->n_buffers,
    };
    signer_t *fresh = signer_new(KEY, strlen(KEY));
    CHECK(fresh);
    wire_frames_t frames;
    proto_err_t err;
    CHECK(wire_encode(fresh, &out, &frames, &err) == 0);
    wire_frame_t *views = calloc(frames.n, sizeof *views);
    CHECK(views);
    for (size_t i = 0; i < frames.n; i++)
        views[i] = (wire_frame_t){frames.frames[i].data, frames.frames[i].size};
    wire_msg_t back;
    CHECK(wire_decode(fresh, views, frames.n, &back, &err) == 0);
    CHECK(back.n_identities == msg->n_identities && back.n_buffers == msg->n_buffers);
    CHECK(s_same_blobs(back.identities, msg->identities, msg->n_identities));
    CHECK(s_same_blobs(back.buffers, msg->buffers, msg->n_buffers));
    CHECK(json_equal(back.header, msg->header) && json_equal(back.parent, msg->parent) &&
          json_equal(back.metadata, msg->metadata) && json_equal(back.content, msg->content));
    wire_msg_clear(&back);
    free(views);
    wire_frames_clear(&frames);
    signer_destroy(&fresh);
    free(buffers);
    free(parent);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fuzz_part_t parts[MAX_FRAMES];
    size_t n = fuzz_split(data + 1, size - 1, parts, MAX_FRAMES);
    wire_frame_t frames[MAX_FRAMES];
    for (size_t i = 0; i < n; i++)
        frames[i] = (wire_frame_t){parts[i].data, parts[i].size};

    signer_t *signer = signer_new(KEY, strlen(KEY));
    CHECK(signer);
    char hex[SIGNER_HEX_LEN + 1];
    if (data[0] == 's') {
        size_t d = 0;
        while (d < n && !(frames[d].size == WIRE_DELIMITER_LEN &&
                          memcmp(frames[d].data, WIRE_DELIMITER, WIRE_DELIMITER_LEN) == 0))
            d++;
        if (d + 6 <= n) {
            signer_sign(signer, &frames[d + 2], hex);
            frames[d + 1] = (wire_frame_t){hex, SIGNER_HEX_LEN};
        }
    }
    wire_msg_t msg;
    proto_err_t err;
    if (wire_decode(signer, frames, n, &msg, &err) == 0) {
        CHECK(err == PROTO_OK);
        const char *type = wire_msg_type(&msg);
        CHECK(type && type[0]);
        wire_msg_t again;
        proto_err_t err2;
        CHECK(wire_decode(signer, frames, n, &again, &err2) < 0 && err2 == PROTO_ERR_REPLAYED);
        s_check_round_trip(&msg);
        wire_msg_clear(&msg);
    } else {
        CHECK(err > PROTO_OK && err < PROTO_ERR_COUNT);
        CHECK(proto_err_to_string(err) != NULL);
        CHECK(msg.header == NULL && msg.identities == NULL);
    }
    signer_destroy(&signer);
    return 0;
}
