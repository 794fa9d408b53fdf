/* jupyter_ws — decode what a WebSocket client sends into wire parts;
 * encode what the kernel signed into WebSocket payloads.
 *
 * Offset tables are checked before any part is read: every offset within
 * the payload, in order, the first past the table. A part that must be
 * JSON is parsed as the wire decoder parses it (duplicate keys refused,
 * a NUL character only in the content), so a message this accepts is one
 * the daemon accepts too, and a client learns of a bad message from the
 * close code instead of never hearing back. */
#include "jupyter_ws.h"

#include <math.h> /* isfinite, a macro: no libm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "header.h"
#include "util.h"

static const char *const s_errors[JUPYTER_WS_ERR_COUNT] = {
    [JUPYTER_WS_OK] = "ok",
    [JUPYTER_WS_ERR_TOO_LARGE] = "message too large",
    [JUPYTER_WS_ERR_TEXT_IN_V1] = "text frame under the v1.kernel.websocket.jupyter.org "
                                  "subprotocol (messages are binary)",
    [JUPYTER_WS_ERR_BAD_UTF8] = "text is not valid UTF-8",
    [JUPYTER_WS_ERR_BAD_TABLE] = "malformed offset table",
    [JUPYTER_WS_ERR_TOO_MANY_BUFFERS] = "too many buffers",
    [JUPYTER_WS_ERR_BAD_JSON] = "a part is not valid JSON",
    [JUPYTER_WS_ERR_BAD_FIELD] = "parent_header, metadata or content is not an object, "
                                 "or buffers is malformed",
    [JUPYTER_WS_ERR_BAD_HEADER] = "header lacks msg_id or msg_type, or has a malformed field",
    [JUPYTER_WS_ERR_BAD_CHANNEL] = "channel is not a string",
    [JUPYTER_WS_ERR_UNKNOWN_CHANNEL] = "unknown channel (shell, control or stdin)",
    [JUPYTER_WS_ERR_NOMEM] = "out of memory",
};

const char *jupyter_ws_err_to_string(jupyter_ws_err_t err)
{
    if ((int)err < 0 || err >= JUPYTER_WS_ERR_COUNT || !s_errors[err])
        return "unknown error";
    return s_errors[err];
}

uint16_t jupyter_ws_err_close_code(jupyter_ws_err_t err)
{
    switch (err) {
    case JUPYTER_WS_ERR_TOO_LARGE:
        return 1009; /* message too big */
    case JUPYTER_WS_ERR_BAD_UTF8:
        return 1007; /* invalid frame payload data */
    case JUPYTER_WS_ERR_TEXT_IN_V1:
        return 1003; /* unsupported data */
    case JUPYTER_WS_ERR_NOMEM:
        return 1011; /* internal error */
    default:
        return 1008; /* policy violation */
    }
}

static const char *const s_channels[CONN_NCHANNELS] = {
    [CONN_SHELL] = "shell", [CONN_IOPUB] = "iopub", [CONN_STDIN] = "stdin",
    [CONN_CONTROL] = "control", [CONN_HB] = "hb",
};

const char *jupyter_ws_channel_name(conn_channel_t channel)
{
    return (int)channel >= 0 && channel < CONN_NCHANNELS ? s_channels[channel] : "?";
}

int jupyter_ws_channel_from_name(const char *name, size_t len, conn_channel_t *out)
{
    static const conn_channel_t known[] = {CONN_SHELL, CONN_IOPUB, CONN_STDIN, CONN_CONTROL};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        const char *n = s_channels[known[i]];
        if (strlen(n) == len && memcmp(n, name, len) == 0) {
            *out = known[i];
            return 0;
        }
    }
    return -1;
}

bool jupyter_ws_utf8_valid(const void *s, size_t len)
{
    const unsigned char *p = s, *end = p + len;
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n;
        unsigned lo = 0x80, hi = 0xbf; /* the range of the second byte */
        if (c >= 0xc2 && c <= 0xdf)
            n = 2;
        else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* past U+10FFFF */
        } else
            return false;
        if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
            return false;
        for (size_t i = 2; i < n; i++)
            if ((p[i] & 0xc0) != 0x80)
                return false;
        p += n;
    }
    return true;
}

/* ------------------------------------------------------------ decoding */

/* |secs| since the epoch as the header's date text. Returns 0 or -1. */
static int s_format_date(double secs, char out[HEADER_DATE_LEN + 1])
{
    if (!isfinite(secs) || secs < 0 || secs > 253402300799.0) /* 9999-12-31T23:59:59 */
        return -1;
    double whole = (double)(long long)secs; /* secs >= 0: truncation is floor */
    long usec = (long)((secs - whole) * 1e6 + 0.5);
    if (usec > 999999)
        usec = 999999;
    time_t t = (time_t)whole;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return -1;
    int n = snprintf(out, HEADER_DATE_LEN + 1, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, usec);
    return n == HEADER_DATE_LEN ? 0 : -1;
}

/* Checks and normalises a client's header in place; sets *changed when
 * it did change it. Returns 0, or -1 with *err set. */
static int s_normalise_header(json_t *h, const char *session, bool *changed,
                              jupyter_ws_err_t *err)
{
    *err = JUPYTER_WS_ERR_BAD_HEADER;
    if (!json_is_object(h) || wire_json_holds_nul(h))
        return -1;
    static const char *const required[] = {"msg_id", "msg_type"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = json_object_get(h, required[i]);
        if (!json_is_string(v) || json_string_length(v) == 0)
            return -1;
    }
    const json_t *s = json_object_get(h, "session");
    if (!s || json_is_null(s)) {
        if (json_object_set_new(h, "session", json_string(session ? session : "")) < 0) {
            *err = JUPYTER_WS_ERR_NOMEM;
            return -1;
        }
        *changed = true;
    } else if (!json_is_string(s)) {
        return -1;
    }
    static const char *const optional[] = {"username", "version"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = json_object_get(h, optional[i]);
        if (json_is_null(v)) {
            json_object_del(h, optional[i]);
            *changed = true;
        } else if (v && !json_is_string(v)) {
            return -1;
        }
    }
    const json_t *date = json_object_get(h, "date");
    if (json_is_null(date)) {
        json_object_del(h, "date");
        *changed = true;
    } else if (json_is_number(date)) {
        double secs = json_number_value(date);
        if (secs > 1e11) /* JavaScript's Date.now(): milliseconds */
            secs /= 1000;
        char text[HEADER_DATE_LEN + 1];
        if (s_format_date(secs, text) < 0)
            return -1;
        if (json_object_set_new(h, "date", json_string(text)) < 0) {
            *err = JUPYTER_WS_ERR_NOMEM;
            return -1;
        }
        *changed = true;
    } else if (date && !json_is_string(date)) {
        return -1;
    }
    *err = JUPYTER_WS_OK;
    return 0;
}

/* Stores the compact text of |v| as part |i| of |out| (owned). */
static int s_set_dumped(jupyter_ws_msg_t *out, int i, const json_t *v, size_t flags)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | flags);
    if (!text)
        return -1;
    free(out->owned[i]);
    out->owned[i] = text;
    out->parts[i] = (wire_frame_t){text, strlen(text)};
    return 0;
}

static int s_set_channel(const char *name, size_t len, conn_channel_t *out, jupyter_ws_err_t *err)
{
    if (jupyter_ws_channel_from_name(name, len, out) < 0 ||
        !(*out == CONN_SHELL || *out == CONN_CONTROL || *out == CONN_STDIN)) {
        *err = JUPYTER_WS_ERR_UNKNOWN_CHANNEL;
        return -1;
    }
    return 0;
}

/* One message dict of the legacy framing (the JSON of a text frame, or the
 * first part of a binary one) into |out|. */
static int s_decode_legacy_json(const void *text, size_t len, bool buffers_allowed,
                                const char *session, jupyter_ws_msg_t *out, jupyter_ws_err_t *err)
{
    json_auto_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (!msg) {
        *err = JUPYTER_WS_ERR_BAD_JSON;
        return -1;
    }
    if (!json_is_object(msg)) {
        *err = JUPYTER_WS_ERR_BAD_FIELD;
        return -1;
    }
    const json_t *channel = json_object_get(msg, "channel");
    out->channel = CONN_SHELL;
    if (json_is_string(channel)) {
        if (s_set_channel(json_string_value(channel), json_string_length(channel), &out->channel,
                          err) < 0)
            return -1;
    } else if (channel && !json_is_null(channel)) {
        *err = JUPYTER_WS_ERR_BAD_CHANNEL;
        return -1;
    }
    /* A text frame carries no buffers: [] or {} (what some clients send)
     * or nothing; a binary frame's JSON may keep the key, which the
     * offset table supersedes. */
    const json_t *buffers = json_object_get(msg, "buffers");
    if (!buffers_allowed && buffers && !json_is_null(buffers) &&
        !(json_is_array(buffers) && json_array_size(buffers) == 0) &&
        !(json_is_object(buffers) && json_object_size(buffers) == 0)) {
        *err = JUPYTER_WS_ERR_BAD_FIELD;
        return -1;
    }
    json_t *header = json_object_get(msg, "header");
    bool changed = false;
    if (!header) {
        *err = JUPYTER_WS_ERR_BAD_HEADER;
        return -1;
    }
    if (s_normalise_header(header, session, &changed, err) < 0)
        return -1;
    out->header = json_incref(header);
    static const char *const keys[3] = {"parent_header", "metadata", "content"};
    for (int i = 0; i < 3; i++) {
        const json_t *v = json_object_get(msg, keys[i]);
        if ((v && !json_is_null(v) && !json_is_object(v)) || (i < 2 && v && wire_json_holds_nul(v))) {
            *err = JUPYTER_WS_ERR_BAD_FIELD;
            return -1;
        }
        if (!json_is_object(v)) {
            out->parts[i + 1] = (wire_frame_t){"{}", 2};
        } else if (s_set_dumped(out, i + 1, v, 0) < 0) {
            *err = JUPYTER_WS_ERR_NOMEM;
            return -1;
        }
    }
    if (s_set_dumped(out, 0, out->header, 0) < 0) {
        *err = JUPYTER_WS_ERR_NOMEM;
        return -1;
    }
    return 0;
}

static uint64_t s_get_u32be(const unsigned char *p)
{
    return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
}

static uint64_t s_get_u64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Reads the offset table of a binary frame: a count N in |width| bytes,
 * then N offsets. Writes the N + 1 bounds of the N parts into |bounds| (the
 * last part ends at |end_offset_given| ? its own offset : the payload's
 * end). |min_n| and |max_n| bound N. */
static int s_offset_table(const unsigned char *p, size_t size, int width, uint64_t min_n,
                          uint64_t max_n, uint64_t *bounds, size_t *n_out, jupyter_ws_err_t *err)
{
    *err = JUPYTER_WS_ERR_BAD_TABLE;
    if (size < (size_t)width)
        return -1;
    uint64_t n = width == 4 ? s_get_u32be(p) : s_get_u64le(p);
    if (n < min_n)
        return -1;
    if (n > max_n) {
        *err = JUPYTER_WS_ERR_TOO_MANY_BUFFERS;
        return -1;
    }
    uint64_t table = (uint64_t)width * (n + 1);
    if (table > size)
        return -1;
    uint64_t prev = table;
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *q = p + width * (i + 1);
        uint64_t off = width == 4 ? s_get_u32be(q) : s_get_u64le(q);
        if (off < prev || off > size)
            return -1;
        bounds[i] = prev = off;
    }
    *n_out = (size_t)n;
    *err = JUPYTER_WS_OK;
    return 0;
}

static int s_decode_legacy_binary(const unsigned char *p, size_t size, const char *session,
                                  jupyter_ws_msg_t *out, jupyter_ws_err_t *err)
{
    /* N parts, the JSON first; the last ends where the payload does. */
    uint64_t bounds[1 + JUPYTER_WS_MAX_BUFFERS + 1];
    size_t n;
    if (s_offset_table(p, size, 4, 1, 1 + JUPYTER_WS_MAX_BUFFERS, bounds, &n, err) < 0)
        return -1;
    bounds[n] = size;
    if (s_decode_legacy_json(p + bounds[0], (size_t)(bounds[1] - bounds[0]), true, session, out,
                             err) < 0)
        return -1;
    for (size_t i = 1; i < n; i++)
        out->buffers[out->n_buffers++] =
            (wire_frame_t){p + bounds[i], (size_t)(bounds[i + 1] - bounds[i])};
    return 0;
}

static int s_decode_v1(const unsigned char *p, size_t size, const char *session,
                       jupyter_ws_msg_t *out, jupyter_ws_err_t *err)
{
    /* N offsets bound N - 1 parts: channel, four JSON texts, buffers. */
    uint64_t bounds[6 + JUPYTER_WS_MAX_BUFFERS];
    size_t n;
    if (s_offset_table(p, size, 8, 6, 6 + JUPYTER_WS_MAX_BUFFERS, bounds, &n, err) < 0)
        return -1;
    const char *channel = (const char *)p + bounds[0];
    size_t channel_len = (size_t)(bounds[1] - bounds[0]);
    if (!jupyter_ws_utf8_valid(channel, channel_len)) {
        *err = JUPYTER_WS_ERR_BAD_UTF8;
        return -1;
    }
    if (s_set_channel(channel, channel_len, &out->channel, err) < 0)
        return -1;
    for (int i = 0; i < 4; i++) {
        const char *text = (const char *)p + bounds[i + 1];
        size_t len = (size_t)(bounds[i + 2] - bounds[i + 1]);
        json_auto_t *v = json_loadb(text, len,
                                    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY |
                                        (i == 3 ? JSON_ALLOW_NUL : 0),
                                    NULL);
        if (!v) {
            *err = JUPYTER_WS_ERR_BAD_JSON;
            return -1;
        }
        out->parts[i] = (wire_frame_t){text, len};
        if (i == 0) {
            bool changed = false;
            if (s_normalise_header(v, session, &changed, err) < 0)
                return -1;
            out->header = json_incref(v);
            if (changed && s_set_dumped(out, 0, v, 0) < 0) {
                *err = JUPYTER_WS_ERR_NOMEM;
                return -1;
            }
        } else if (json_is_null(v) && i < 3) {
            out->parts[i] = (wire_frame_t){"{}", 2}; /* a null parent or metadata */
        } else if (!json_is_object(v)) {
            *err = JUPYTER_WS_ERR_BAD_FIELD;
            return -1;
        }
    }
    for (size_t i = 5; i + 1 < n; i++)
        out->buffers[out->n_buffers++] =
            (wire_frame_t){p + bounds[i], (size_t)(bounds[i + 1] - bounds[i])};
    return 0;
}

int jupyter_ws_decode(jupyter_ws_framing_t framing, bool binary, const void *data, size_t size,
                      const char *session, jupyter_ws_msg_t *out, jupyter_ws_err_t *err)
{
    memset(out, 0, sizeof *out);
    int rc;
    if (size > JUPYTER_WS_MAX_BYTES) {
        *err = JUPYTER_WS_ERR_TOO_LARGE;
        rc = -1;
    } else if (framing == JUPYTER_WS_V1) {
        if (!binary) {
            *err = JUPYTER_WS_ERR_TEXT_IN_V1;
            rc = -1;
        } else {
            rc = s_decode_v1(data, size, session, out, err);
        }
    } else if (binary) {
        rc = s_decode_legacy_binary(data, size, session, out, err);
    } else if (!jupyter_ws_utf8_valid(data, size)) {
        *err = JUPYTER_WS_ERR_BAD_UTF8;
        rc = -1;
    } else {
        rc = s_decode_legacy_json(data, size, false, session, out, err);
    }
    if (rc < 0) {
        jupyter_ws_msg_clear(out);
        return -1;
    }
    *err = JUPYTER_WS_OK;
    return 0;
}

void jupyter_ws_msg_clear(jupyter_ws_msg_t *msg)
{
    json_decref(msg->header);
    for (int i = 0; i < 4; i++)
        free(msg->owned[i]);
    memset(msg, 0, sizeof *msg);
}

size_t jupyter_ws_wire_views(const signer_t *signer, const jupyter_ws_msg_t *msg,
                             char hex[SIGNER_HEX_LEN + 1], wire_frame_t *views)
{
    signer_sign(signer, msg->parts, hex);
    size_t k = 0;
    views[k++] = (wire_frame_t){WIRE_DELIMITER, WIRE_DELIMITER_LEN};
    views[k++] = (wire_frame_t){hex, SIGNER_HEX_LEN};
    for (int i = 0; i < 4; i++)
        views[k++] = msg->parts[i];
    for (size_t i = 0; i < msg->n_buffers; i++)
        views[k++] = msg->buffers[i];
    return k;
}

/* ------------------------------------------------------------ encoding */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} s_buf_t;

static void s_put(s_buf_t *b, const void *data, size_t len)
{
    if (len == 0)
        return; /* |data| may be NULL (an empty buffer): memcpy must not see it */
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

static void s_put_str(s_buf_t *b, const char *s)
{
    s_put(b, s, strlen(s));
}

static void s_put_u32be(s_buf_t *b, uint64_t v)
{
    unsigned char q[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    s_put(b, q, 4);
}

static void s_put_u64le(s_buf_t *b, uint64_t v)
{
    unsigned char q[8];
    for (int i = 0; i < 8; i++)
        q[i] = (unsigned char)(v >> (8 * i));
    s_put(b, q, 8);
}

static int s_encode_v1(conn_channel_t channel, const wire_frame_t parts[4],
                       const wire_frame_t *buffers, size_t n_buffers, jupyter_ws_frame_t *out)
{
    const char *name = jupyter_ws_channel_name(channel);
    size_t n = 6 + n_buffers; /* offsets: channel, four parts, buffers, end */
    size_t total = 8 * (n + 1) + strlen(name);
    for (int i = 0; i < 4; i++)
        total += parts[i].size;
    for (size_t i = 0; i < n_buffers; i++)
        total += buffers[i].size;
    s_buf_t b = {malloc(total), 0, total};
    if (!b.p)
        return -1;
    s_put_u64le(&b, n);
    uint64_t off = 8 * (n + 1);
    s_put_u64le(&b, off);
    off += strlen(name);
    for (int i = 0; i < 4; i++) {
        s_put_u64le(&b, off);
        off += parts[i].size;
    }
    for (size_t i = 0; i < n_buffers; i++) {
        s_put_u64le(&b, off);
        off += buffers[i].size;
    }
    s_put_u64le(&b, off); /* the end */
    s_put_str(&b, name);
    for (int i = 0; i < 4; i++)
        s_put(&b, parts[i].data, parts[i].size);
    for (size_t i = 0; i < n_buffers; i++)
        s_put(&b, buffers[i].data, buffers[i].size);
    *out = (jupyter_ws_frame_t){b.p, b.len, true};
    return 0;
}

/* The message dict as jupyter_server writes it: header, msg_id, msg_type,
 * parent_header, metadata, content, buffers (text frames only), channel. */
static int s_encode_legacy(conn_channel_t channel, const wire_frame_t parts[4],
                           const char *msg_id, const char *msg_type, const wire_frame_t *buffers,
                           size_t n_buffers, jupyter_ws_frame_t *out, jupyter_ws_err_t *err)
{
    const char *name = jupyter_ws_channel_name(channel);
    size_t json_len = sizeof "{\"header\":,\"msg_id\":,\"msg_type\":,\"parent_header\":,"
                             "\"metadata\":,\"content\":,\"buffers\":[],\"channel\":\"\"}" +
                      strlen(msg_id) + strlen(msg_type) + strlen(name);
    for (int i = 0; i < 4; i++)
        json_len += parts[i].size;
    size_t nbufs = 1 + n_buffers;
    size_t total = json_len + (n_buffers ? 4 * (nbufs + 1) : 0);
    for (size_t i = 0; i < n_buffers; i++)
        total += buffers[i].size;
    if (n_buffers && total > UINT32_MAX) {
        *err = JUPYTER_WS_ERR_TOO_LARGE;
        return -1;
    }
    s_buf_t b = {malloc(total), 0, total};
    if (!b.p) {
        *err = JUPYTER_WS_ERR_NOMEM;
        return -1;
    }
    size_t table = n_buffers ? 4 * (nbufs + 1) : 0;
    b.len = table; /* written once the JSON's length is known */
    s_put_str(&b, "{\"header\":");
    s_put(&b, parts[0].data, parts[0].size);
    s_put_str(&b, ",\"msg_id\":");
    s_put_str(&b, msg_id);
    s_put_str(&b, ",\"msg_type\":");
    s_put_str(&b, msg_type);
    s_put_str(&b, ",\"parent_header\":");
    s_put(&b, parts[1].data, parts[1].size);
    s_put_str(&b, ",\"metadata\":");
    s_put(&b, parts[2].data, parts[2].size);
    s_put_str(&b, ",\"content\":");
    s_put(&b, parts[3].data, parts[3].size);
    if (!n_buffers)
        s_put_str(&b, ",\"buffers\":[]");
    s_put_str(&b, ",\"channel\":\"");
    s_put_str(&b, name);
    s_put_str(&b, "\"}");
    if (n_buffers) {
        size_t end = b.len;
        b.len = 0;
        s_put_u32be(&b, nbufs);
        uint64_t off = table;
        s_put_u32be(&b, off);
        off = end;
        for (size_t i = 0; i < n_buffers; i++) {
            s_put_u32be(&b, off);
            off += buffers[i].size;
        }
        b.len = end;
        for (size_t i = 0; i < n_buffers; i++)
            s_put(&b, buffers[i].data, buffers[i].size);
    }
    *out = (jupyter_ws_frame_t){b.p, b.len, n_buffers > 0};
    return 0;
}

int jupyter_ws_encode(jupyter_ws_framing_t framing, conn_channel_t channel,
                      const wire_frame_t parts[4], const wire_frame_t *buffers, size_t n_buffers,
                      jupyter_ws_frame_t *out, jupyter_ws_err_t *err)
{
    memset(out, 0, sizeof *out);
    size_t total = 0;
    for (int i = 0; i < 4; i++)
        total += parts[i].size;
    for (size_t i = 0; i < n_buffers; i++)
        total += buffers[i].size;
    if (total > JUPYTER_WS_MAX_BYTES || n_buffers > JUPYTER_WS_MAX_BUFFERS) {
        *err = n_buffers > JUPYTER_WS_MAX_BUFFERS ? JUPYTER_WS_ERR_TOO_MANY_BUFFERS
                                                  : JUPYTER_WS_ERR_TOO_LARGE;
        return -1;
    }
    json_auto_t *header = json_loadb(parts[0].data, parts[0].size, 0, NULL);
    const json_t *id = json_object_get(header, "msg_id");
    const json_t *type = json_object_get(header, "msg_type");
    if (!json_is_string(id) || !json_is_string(type)) {
        *err = JUPYTER_WS_ERR_BAD_HEADER;
        return -1;
    }
    if (framing == JUPYTER_WS_V1) {
        if (s_encode_v1(channel, parts, buffers, n_buffers, out) < 0) {
            *err = JUPYTER_WS_ERR_NOMEM;
            return -1;
        }
        *err = JUPYTER_WS_OK;
        return 0;
    }
    _cleanup_free_ char *id_text = json_dumps(id, JSON_ENCODE_ANY);
    _cleanup_free_ char *type_text = json_dumps(type, JSON_ENCODE_ANY);
    if (!id_text || !type_text) {
        *err = JUPYTER_WS_ERR_NOMEM;
        return -1;
    }
    if (s_encode_legacy(channel, parts, id_text, type_text, buffers, n_buffers, out, err) < 0)
        return -1;
    *err = JUPYTER_WS_OK;
    return 0;
}

void jupyter_ws_frame_clear(jupyter_ws_frame_t *frame)
{
    free(frame->data);
    memset(frame, 0, sizeof *frame);
}
