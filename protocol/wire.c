/* wire — Jupyter multipart messages: authenticate, then parse; serialise,
 * then sign. */
#include "wire.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int s_blob_copy(wire_blob_t *dst, const wire_frame_t *src)
{
    dst->data = malloc(src->size ? src->size : 1);
    if (!dst->data)
        return -1;
    memcpy(dst->data, src->data, src->size);
    dst->size = src->size;
    return 0;
}

static void s_blobs_free(wire_blob_t *blobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(blobs[i].data);
    free(blobs);
}

static int s_blobs_copy(wire_blob_t **dst, const wire_frame_t *src, size_t n)
{
    *dst = NULL;
    if (n == 0)
        return 0;
    wire_blob_t *blobs = calloc(n, sizeof *blobs);
    if (!blobs)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s_blob_copy(&blobs[i], &src[i]) < 0) {
            s_blobs_free(blobs, i);
            return -1;
        }
    }
    *dst = blobs;
    return 0;
}

static json_t *s_parse_object(const wire_frame_t *frame, size_t flags, proto_err_t *err)
{
    json_t *v = json_loadb(frame->data, frame->size,
                           JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | flags, NULL);
    if (!v) {
        *err = PROTO_ERR_BAD_JSON;
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        *err = PROTO_ERR_BAD_FIELD;
        return NULL;
    }
    return v;
}

bool wire_json_holds_nul(const json_t *v)
{
    size_t i;
    const char *key;
    json_t *item;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return strlen(json_string_value(v)) != json_string_length(v);
    case JSON_ARRAY:
        json_array_foreach((json_t *)v, i, item) if (wire_json_holds_nul(item)) return true;
        return false;
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, key, item) if (wire_json_holds_nul(item)) return true;
        return false;
    default:
        return false;
    }
}

static bool s_has_string(const json_t *obj, const char *key, bool nonempty)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) && (!nonempty || json_string_length(v) > 0);
}

/* The header needs msg_id, msg_type and session as strings; username, date
 * and version, when present, must be strings too. */
static bool s_header_ok(const json_t *h)
{
    if (!s_has_string(h, "msg_id", true) || !s_has_string(h, "msg_type", true) ||
        !s_has_string(h, "session", false))
        return false;
    static const char *const optional[] = {"username", "date", "version"};
    for (size_t i = 0; i < sizeof optional / sizeof *optional; i++) {
        const json_t *v = json_object_get(h, optional[i]);
        if (v && !json_is_string(v))
            return false;
    }
    return true;
}

int wire_decode(signer_t *signer, const wire_frame_t *frames, size_t n,
                wire_msg_t *out, proto_err_t *err)
{
    memset(out, 0, sizeof *out);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += frames[i].size;
    if (total > WIRE_MAX_BYTES) {
        *err = PROTO_ERR_TOO_LARGE;
        return -1;
    }
    size_t delim = 0;
    while (delim < n && !(frames[delim].size == WIRE_DELIMITER_LEN &&
                          memcmp(frames[delim].data, WIRE_DELIMITER, WIRE_DELIMITER_LEN) == 0))
        delim++;
    if (delim == n) {
        *err = PROTO_ERR_NO_DELIMITER;
        return -1;
    }
    if (n - delim < 6) {
        *err = PROTO_ERR_TRUNCATED;
        return -1;
    }
    const wire_frame_t *json_frames = &frames[delim + 2];
    if (signer_verify(signer, &frames[delim + 1], json_frames, err) < 0)
        return -1;

    json_t **slots[4] = {&out->header, &out->parent, &out->metadata, &out->content};
    for (int i = 0; i < 4; i++) {
        *slots[i] = s_parse_object(&json_frames[i], i == 3 ? JSON_ALLOW_NUL : 0, err);
        if (!*slots[i])
            goto fail;
    }
    if (wire_json_holds_nul(out->content)) {
        /* No handler ever sees a string that C would cut short: the
         * request is answered as one without fields, and the error says
         * why. */
        out->content_nul = out->content;
        out->content = json_object();
        out->content_error = "a string in the content holds a NUL character (\\u0000)";
        if (!out->content) {
            *err = PROTO_ERR_NOMEM;
            goto fail;
        }
    }
    if (!s_header_ok(out->header)) {
        *err = PROTO_ERR_BAD_HEADER;
        goto fail;
    }
    size_t first_buffer = delim + 6;
    if (s_blob_copy(&out->raw_header, &json_frames[0]) < 0 ||
        s_blobs_copy(&out->identities, frames, delim) < 0 ||
        s_blobs_copy(&out->buffers, &frames[first_buffer], n - first_buffer) < 0) {
        *err = PROTO_ERR_NOMEM;
        goto fail;
    }
    out->n_identities = delim;
    out->n_buffers = n - first_buffer;
    *err = PROTO_OK;
    return 0;
fail:
    wire_msg_clear(out);
    return -1;
}

void wire_msg_clear(wire_msg_t *msg)
{
    s_blobs_free(msg->identities, msg->n_identities);
    s_blobs_free(msg->buffers, msg->n_buffers);
    free(msg->raw_header.data);
    json_decref(msg->header);
    json_decref(msg->parent);
    json_decref(msg->metadata);
    json_decref(msg->content);
    json_decref(msg->content_nul);
    memset(msg, 0, sizeof *msg);
}

const char *wire_msg_type(const wire_msg_t *msg)
{
    return json_string_value(json_object_get(msg->header, "msg_type"));
}

/* The compact JSON text of |v| ("{}" for NULL) as a frame: written into
 * |small| when it fits, else into a heap buffer stored in *heap. */
static int s_dump_view(const json_t *v, char *small, size_t small_len, char **heap,
                       wire_frame_t *view)
{
    if (!v) {
        *view = (wire_frame_t){"{}", 2};
        return 0;
    }
    size_t need = json_dumpb(v, small, small_len, JSON_COMPACT | JSON_ENCODE_ANY);
    if (need == 0)
        return -1;
    if (need <= small_len) {
        *view = (wire_frame_t){small, need};
        return 0;
    }
    *heap = malloc(need);
    if (!*heap || json_dumpb(v, *heap, need, JSON_COMPACT | JSON_ENCODE_ANY) != need)
        return -1;
    *view = (wire_frame_t){*heap, need};
    return 0;
}

size_t wire_encoded_frames(const wire_outgoing_t *msg)
{
    return msg->n_identities + 6 + msg->n_buffers;
}

int wire_encode_views(const signer_t *signer, const wire_outgoing_t *msg, wire_frame_t *views,
                      wire_scratch_t *scratch, proto_err_t *err)
{
    memset(scratch, 0, sizeof *scratch);
    size_t k = 0;
    for (size_t i = 0; i < msg->n_identities; i++)
        views[k++] = (wire_frame_t){msg->identities[i].data, msg->identities[i].size};
    views[k++] = (wire_frame_t){WIRE_DELIMITER, WIRE_DELIMITER_LEN};
    size_t sig = k++;
    wire_frame_t *json_frames = &views[k];
    if (msg->header_text.size)
        json_frames[0] = msg->header_text;
    else if (s_dump_view(msg->header, scratch->header, sizeof scratch->header,
                         &scratch->heap[0], &json_frames[0]) < 0)
        goto nomem;
    json_frames[1] = msg->parent.size ? msg->parent : (wire_frame_t){"{}", 2};
    if (s_dump_view(msg->metadata, scratch->metadata, sizeof scratch->metadata,
                    &scratch->heap[1], &json_frames[2]) < 0)
        goto nomem;
    if (msg->content_text.size)
        json_frames[3] = msg->content_text;
    else if (s_dump_view(msg->content, scratch->content, sizeof scratch->content,
                         &scratch->heap[2], &json_frames[3]) < 0)
        goto nomem;
    k += 4;
    for (size_t i = 0; i < msg->n_buffers; i++)
        views[k++] = msg->buffers[i];
    signer_sign(signer, json_frames, scratch->signature);
    views[sig] = (wire_frame_t){scratch->signature, SIGNER_HEX_LEN};
    *err = PROTO_OK;
    return 0;
nomem:
    wire_scratch_clear(scratch);
    *err = PROTO_ERR_NOMEM;
    return -1;
}

void wire_scratch_clear(wire_scratch_t *scratch)
{
    for (size_t i = 0; i < sizeof scratch->heap / sizeof *scratch->heap; i++) {
        free(scratch->heap[i]);
        scratch->heap[i] = NULL;
    }
}

int wire_encode(const signer_t *signer, const wire_outgoing_t *msg,
                wire_frames_t *out, proto_err_t *err)
{
    size_t n = wire_encoded_frames(msg);
    out->n = 0;
    out->frames = NULL;
    wire_frame_t *views = calloc(n, sizeof *views);
    wire_scratch_t *scratch = malloc(sizeof *scratch);
    if (!views || !scratch || wire_encode_views(signer, msg, views, scratch, err) < 0) {
        free(views);
        free(scratch);
        *err = PROTO_ERR_NOMEM;
        return -1;
    }
    out->frames = calloc(n, sizeof *out->frames);
    if (!out->frames)
        goto nomem;
    out->n = n;
    for (size_t i = 0; i < n; i++)
        if (s_blob_copy(&out->frames[i], &views[i]) < 0)
            goto nomem;
    wire_scratch_clear(scratch);
    free(scratch);
    free(views);
    *err = PROTO_OK;
    return 0;
nomem:
    wire_frames_clear(out);
    wire_scratch_clear(scratch);
    free(scratch);
    free(views);
    *err = PROTO_ERR_NOMEM;
    return -1;
}

void wire_frames_clear(wire_frames_t *frames)
{
    s_blobs_free(frames->frames, frames->n);
    frames->frames = NULL;
    frames->n = 0;
}
