/* test_jupyter_ws — the WebSocket codec (protocol/jupyter_ws.c) against
 * the vectors in tests/vectors/ws/ (format in tests/vectors/ws/README.md):
 * valid/ and invalid/ client payloads, encode/ kernel messages as
 * jupyter_server writes them. Every valid payload is also checked to make
 * a wire message the daemon's decoder accepts, and to decode the same
 * after it is encoded again. */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jupyter_ws.h"
#include "signer.h"
#include "tap.h"
#include "wire.h"

#ifndef SC_VECTORS_DIR
#define SC_VECTORS_DIR "tests/vectors"
#endif

typedef struct {
    unsigned char *p;
    size_t len, cap;
} buf_t;

static void s_put(buf_t *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2 + 16;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            TAP_BAIL("out of memory");
    }
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
}

static int s_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int s_hex(buf_t *b, const char *hex)
{
    size_t len = strlen(hex);
    if (len % 2)
        return -1;
    for (size_t i = 0; i < len; i += 2) {
        int hi = s_hexval(hex[i]), lo = s_hexval(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        unsigned char c = (unsigned char)(hi << 4 | lo);
        s_put(b, &c, 1);
    }
    return 0;
}

/* A PART: a string (its bytes), {"json": V} or {"hex": H}. */
static int s_part(buf_t *b, const json_t *spec)
{
    if (json_is_string(spec)) {
        s_put(b, json_string_value(spec), json_string_length(spec));
        return 0;
    }
    const json_t *v;
    if ((v = json_object_get(spec, "json"))) {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!s)
            return -1;
        s_put(b, s, strlen(s));
        free(s);
        return 0;
    }
    if ((v = json_object_get(spec, "hex")))
        return s_hex(b, json_string_value(v));
    return -1;
}

static void s_put_u32be(buf_t *b, uint64_t v)
{
    unsigned char q[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    s_put(b, q, 4);
}

static void s_put_u64le(buf_t *b, uint64_t v)
{
    unsigned char q[8];
    for (int i = 0; i < 8; i++)
        q[i] = (unsigned char)(v >> (8 * i));
    s_put(b, q, 8);
}

/* Lays |parts| out behind an offset table: v1 (u64 LE, an end offset) or
 * legacy (u32 BE, no end offset). */
static int s_table(buf_t *b, const json_t *parts, bool v1)
{
    size_t n = json_array_size(parts);
    buf_t body = {0};
    size_t *starts = calloc(n + 1, sizeof *starts);
    if (!starts)
        TAP_BAIL("out of memory");
    for (size_t i = 0; i < n; i++) {
        starts[i] = body.len;
        if (s_part(&body, json_array_get(parts, i)) < 0) {
            free(starts);
            free(body.p);
            return -1;
        }
    }
    starts[n] = body.len;
    size_t count = v1 ? n + 1 : n, width = v1 ? 8 : 4;
    size_t table = width * (count + 1);
    if (v1)
        s_put_u64le(b, count);
    else
        s_put_u32be(b, count);
    for (size_t i = 0; i < count; i++) {
        if (v1)
            s_put_u64le(b, table + starts[i]);
        else
            s_put_u32be(b, table + starts[i]);
    }
    s_put(b, body.p, body.len);
    free(body.p);
    free(starts);
    return 0;
}

/* The payload a vector describes, and whether it goes in a binary frame. */
static int s_payload(const json_t *spec, buf_t *b, bool *binary)
{
    const json_t *v;
    *binary = json_is_true(json_object_get(spec, "binary"));
    if ((v = json_object_get(spec, "text")) || (v = json_object_get(spec, "json")))
        return s_part(b, json_object_get(spec, "text") ? v : spec);
    if ((v = json_object_get(spec, "hex"))) {
        if (!json_object_get(spec, "binary"))
            *binary = true;
        return s_hex(b, json_string_value(v));
    }
    if ((v = json_object_get(spec, "v1"))) {
        *binary = true;
        return s_table(b, v, true);
    }
    if ((v = json_object_get(spec, "legacy_binary"))) {
        *binary = true;
        return s_table(b, v, false);
    }
    if ((v = json_object_get(spec, "fill"))) {
        size_t n = (size_t)json_integer_value(v);
        b->p = malloc(n);
        if (!b->p)
            TAP_BAIL("out of memory");
        memset(b->p, ' ', n);
        b->len = b->cap = n;
        return 0;
    }
    return -1;
}

static const char *const s_err_names[JUPYTER_WS_ERR_COUNT] = {
    [JUPYTER_WS_OK] = "ok",
    [JUPYTER_WS_ERR_TOO_LARGE] = "too_large",
    [JUPYTER_WS_ERR_TEXT_IN_V1] = "text_in_v1",
    [JUPYTER_WS_ERR_BAD_UTF8] = "bad_utf8",
    [JUPYTER_WS_ERR_BAD_TABLE] = "bad_table",
    [JUPYTER_WS_ERR_TOO_MANY_BUFFERS] = "too_many_buffers",
    [JUPYTER_WS_ERR_BAD_JSON] = "bad_json",
    [JUPYTER_WS_ERR_BAD_FIELD] = "bad_field",
    [JUPYTER_WS_ERR_BAD_HEADER] = "bad_header",
    [JUPYTER_WS_ERR_BAD_CHANNEL] = "bad_channel",
    [JUPYTER_WS_ERR_UNKNOWN_CHANNEL] = "unknown_channel",
    [JUPYTER_WS_ERR_NOMEM] = "nomem",
};

static const char *s_err_name(jupyter_ws_err_t e)
{
    return (int)e >= 0 && e < JUPYTER_WS_ERR_COUNT ? s_err_names[e] : "?";
}

static json_t *s_load_part(const wire_frame_t *f)
{
    return json_loadb(f->data, f->size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

static void s_check_json(const char *what, const json_t *want, const json_t *got)
{
    if (!tap_check(json_equal(want, got), __FILE__, __LINE__, what)) {
        char *a = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
        char *b = got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        tap_diag("    want %s", a ? a : "?");
        tap_diag("    got  %s", b ? b : "(null)");
        free(a);
        free(b);
    }
}

static bool s_same_frame(const wire_frame_t *a, const wire_frame_t *b)
{
    return a->size == b->size && (a->size == 0 || memcmp(a->data, b->data, a->size) == 0);
}

/* The parts and buffers of |msg| make a wire message the daemon accepts. */
static void s_check_wire(const jupyter_ws_msg_t *msg)
{
    signer_t *signer = signer_new("k", 1);
    char hex[SIGNER_HEX_LEN + 1];
    wire_frame_t views[6 + JUPYTER_WS_MAX_BUFFERS];
    size_t n = jupyter_ws_wire_views(signer, msg, hex, views);
    CHECK_INT(n, 6 + msg->n_buffers);
    wire_msg_t w;
    proto_err_t err;
    if (CHECK_INT(wire_decode(signer, views, n, &w, &err), 0)) {
        CHECK_INT(w.n_buffers, msg->n_buffers);
        CHECK(json_equal(w.header, msg->header));
        wire_msg_clear(&w);
    } else {
        tap_diag("    wire_decode: %s", proto_err_to_string(err));
    }
    signer_destroy(&signer);
}

/* Encoding the decoded message again (for its own channel) decodes to the
 * same parts and buffers. */
static void s_check_round_trip(jupyter_ws_framing_t framing, const jupyter_ws_msg_t *msg)
{
    jupyter_ws_frame_t frame;
    jupyter_ws_err_t err;
    if (!CHECK_INT(jupyter_ws_encode(framing, msg->channel, msg->parts, msg->buffers,
                                     msg->n_buffers, &frame, &err),
                   0))
        return;
    CHECK(frame.binary == (framing == JUPYTER_WS_V1 || msg->n_buffers > 0));
    jupyter_ws_msg_t back;
    if (CHECK_INT(jupyter_ws_decode(framing, frame.binary, frame.data, frame.size, "", &back,
                                    &err),
                  0)) {
        CHECK_INT(back.channel, msg->channel);
        CHECK_INT(back.n_buffers, msg->n_buffers);
        for (int i = 0; i < 4; i++) {
            json_t *a = s_load_part(&msg->parts[i]), *b = s_load_part(&back.parts[i]);
            CHECK(a && b && json_equal(a, b));
            json_decref(a);
            json_decref(b);
        }
        for (size_t i = 0; i < msg->n_buffers && i < back.n_buffers; i++)
            CHECK(s_same_frame(&msg->buffers[i], &back.buffers[i]));
        jupyter_ws_msg_clear(&back);
    } else {
        tap_diag("    decode of the encoding: %s", s_err_name(err));
    }
    jupyter_ws_frame_clear(&frame);
}

static jupyter_ws_framing_t s_framing(const json_t *vec)
{
    const char *f = json_string_value(json_object_get(vec, "framing"));
    return f && strcmp(f, "v1") == 0 ? JUPYTER_WS_V1 : JUPYTER_WS_LEGACY;
}

static void s_run_decode(const char *name, const json_t *vec, bool valid)
{
    buf_t b = {0};
    bool binary;
    if (!CHECK_INT(s_payload(json_object_get(vec, "payload"), &b, &binary), 0)) {
        tap_case("%s: payload spec", name);
        return;
    }
    jupyter_ws_framing_t framing = s_framing(vec);
    const char *session = json_string_value(json_object_get(vec, "session"));
    jupyter_ws_msg_t msg;
    memset(&msg, 0x5a, sizeof msg); /* decode must zero it */
    jupyter_ws_err_t err = JUPYTER_WS_ERR_COUNT;
    int rc = jupyter_ws_decode(framing, binary, b.p, b.len, session ? session : "", &msg, &err);
    if (valid) {
        const json_t *expect = json_object_get(vec, "expect");
        if (CHECK_INT(rc, 0)) {
            CHECK_INT(err, JUPYTER_WS_OK);
            const char *ch = json_string_value(json_object_get(expect, "channel"));
            if (ch)
                CHECK_STR(jupyter_ws_channel_name(msg.channel), ch);
            const json_t *header = json_object_get(expect, "header");
            if (header)
                s_check_json("header", header, msg.header);
            const json_t *parts = json_object_get(expect, "parts");
            for (size_t i = 0; i < json_array_size(parts); i++) {
                json_t *got = s_load_part(&msg.parts[i]);
                s_check_json("part", json_array_get(parts, i), got);
                json_decref(got);
            }
            /* The header part is the frame's own bytes unless it had to change. */
            const json_t *raw = json_object_get(expect, "header_raw");
            if (raw) {
                bool inside = (const unsigned char *)msg.parts[0].data >= b.p &&
                              (const unsigned char *)msg.parts[0].data < b.p + b.len;
                CHECK(inside == json_is_true(raw));
            }
            const json_t *bufs = json_object_get(expect, "buffers");
            if (bufs && CHECK_INT(json_array_size(bufs), msg.n_buffers)) {
                for (size_t i = 0; i < msg.n_buffers; i++) {
                    buf_t want = {0};
                    CHECK_INT(s_part(&want, json_array_get(bufs, i)), 0);
                    wire_frame_t w = {want.p, want.len};
                    CHECK(s_same_frame(&w, &msg.buffers[i]));
                    free(want.p);
                }
            }
            s_check_wire(&msg);
            s_check_round_trip(framing, &msg);
            jupyter_ws_msg_clear(&msg);
        } else {
            tap_diag("    got %s", s_err_name(err));
        }
    } else {
        const char *want = json_string_value(json_object_get(vec, "error"));
        CHECK_INT(rc, -1);
        CHECK_STR(s_err_name(err), want ? want : "(none)");
        CHECK(msg.header == NULL && msg.n_buffers == 0 && msg.owned[0] == NULL);
        CHECK(strcmp(jupyter_ws_err_to_string(err), "unknown error") != 0);
        uint16_t code = jupyter_ws_err_close_code(err);
        CHECK(code >= 1000 && code < 1012 && code != 1004 && code != 1005 && code != 1006);
    }
    free(b.p);
    tap_case("%s/%s: %s", valid ? "valid" : "invalid", name,
             json_string_value(json_object_get(vec, "description")));
}

/* Reads a binary frame's u32 BE table into its parts. Returns how many. */
static size_t s_legacy_parts(const unsigned char *p, size_t size, wire_frame_t *parts, size_t max)
{
    if (size < 4)
        return 0;
    size_t n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    if (n > max || 4 * (n + 1) > size)
        return 0;
    size_t off[64];
    for (size_t i = 0; i < n; i++) {
        const unsigned char *q = p + 4 * (i + 1);
        off[i] = (size_t)q[0] << 24 | (size_t)q[1] << 16 | (size_t)q[2] << 8 | q[3];
    }
    off[n] = size;
    for (size_t i = 0; i < n; i++)
        parts[i] = (wire_frame_t){p + off[i], off[i + 1] - off[i]};
    return n;
}

static void s_run_encode(const char *name, const json_t *vec)
{
    jupyter_ws_framing_t framing = s_framing(vec);
    conn_channel_t channel;
    const char *ch = json_string_value(json_object_get(vec, "channel"));
    CHECK(ch && jupyter_ws_channel_from_name(ch, strlen(ch), &channel) == 0);
    wire_frame_t parts[4];
    const json_t *pspec = json_object_get(vec, "parts");
    for (size_t i = 0; i < 4; i++)
        parts[i] = (wire_frame_t){json_string_value(json_array_get(pspec, i)),
                                  json_string_length(json_array_get(pspec, i))};
    const json_t *bspec = json_object_get(vec, "buffers");
    size_t nb = json_array_size(bspec);
    buf_t bufs[8] = {{0}};
    wire_frame_t views[8];
    for (size_t i = 0; i < nb && i < 8; i++) {
        CHECK_INT(s_part(&bufs[i], json_array_get(bspec, i)), 0);
        views[i] = (wire_frame_t){bufs[i].p, bufs[i].len};
    }
    jupyter_ws_frame_t out;
    jupyter_ws_err_t err;
    buf_t want = {0};
    const char *hex = json_string_value(json_object_get(vec, "expect_hex"));
    if (hex)
        CHECK_INT(s_hex(&want, hex), 0);
    if (CHECK_INT(jupyter_ws_encode(framing, channel, parts, views, nb, &out, &err), 0)) {
        bool binary = json_is_true(json_object_get(vec, "expect_binary")) || framing == JUPYTER_WS_V1;
        CHECK(out.binary == binary);
        if (framing == JUPYTER_WS_V1) {
            /* Byte for byte what serialize_msg_to_ws_v1 writes. */
            CHECK(out.size == want.len && memcmp(out.data, want.p, want.len) == 0);
        } else if (!binary) {
            json_t *got = json_loadb((const char *)out.data, out.size, 0, NULL);
            s_check_json("legacy text", json_object_get(vec, "expect_json"), got);
            json_decref(got);
        } else {
            /* The same table and buffers; the JSON equal as JSON (Python
             * writes ", " and ": "). */
            wire_frame_t a[40], b[40];
            size_t na = s_legacy_parts(out.data, out.size, a, 40);
            size_t nw = s_legacy_parts(want.p, want.len, b, 40);
            if (CHECK_INT(na, nw) && CHECK(na >= 1)) {
                json_t *ja = s_load_part(&a[0]), *jb = s_load_part(&b[0]);
                s_check_json("legacy binary JSON", jb, ja);
                json_decref(ja);
                json_decref(jb);
                for (size_t i = 1; i < na; i++)
                    CHECK(s_same_frame(&a[i], &b[i]));
            }
        }
        jupyter_ws_frame_clear(&out);
    } else {
        tap_diag("    got %s", s_err_name(err));
    }
    free(want.p);
    for (size_t i = 0; i < 8; i++)
        free(bufs[i].p);
    tap_case("encode/%s: %s", name, json_string_value(json_object_get(vec, "description")));
}

static int s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void s_run_folder(const char *root, const char *sub)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/ws/%s", root, sub);
    DIR *d = opendir(dir);
    if (!d)
        TAP_BAIL("cannot open %s", dir);
    char *names[512];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 512) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, s_cmp);
    if (n == 0)
        TAP_BAIL("no vectors in %s", dir);
    for (size_t i = 0; i < n; i++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        json_error_t jerr;
        json_t *vec = json_load_file(path, 0, &jerr);
        if (!vec)
            TAP_BAIL("%s: %s", path, jerr.text);
        if (strcmp(sub, "encode") == 0)
            s_run_encode(names[i], vec);
        else
            s_run_decode(names[i], vec, strcmp(sub, "valid") == 0);
        json_decref(vec);
        free(names[i]);
    }
}

static void s_test_utf8(void)
{
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"", true},           {"abc", true},         {"caf\xc3\xa9", true},
        {"\xe2\x98\x83", true}, {"\xf0\x9f\x98\x80", true}, {"\xf4\x8f\xbf\xbf", true},
        {"\xc3", false},      {"\xc1\xbf", false},   {"\xe0\x80\xaf", false},
        {"\xed\xbf\xbf", false}, {"\xf0\x80\x80\x80", false}, {"\xf5\x80\x80\x80", false},
        {"\x80", false},      {"\xe2\x98", false},   {"\xe2\x28\xa1", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        if (!CHECK(jupyter_ws_utf8_valid(cases[i].s, strlen(cases[i].s)) == cases[i].ok))
            tap_diag("    case %zu", i);
    tap_case("UTF-8 validation: overlong forms, surrogates, past U+10FFFF, truncation");
}

static void s_test_names(void)
{
    for (int e = 0; e < JUPYTER_WS_ERR_COUNT; e++)
        CHECK(strcmp(jupyter_ws_err_to_string((jupyter_ws_err_t)e), "unknown error") != 0);
    CHECK_STR(jupyter_ws_err_to_string(JUPYTER_WS_ERR_COUNT), "unknown error");
    CHECK_INT(jupyter_ws_err_close_code(JUPYTER_WS_ERR_TOO_LARGE), 1009);
    CHECK_INT(jupyter_ws_err_close_code(JUPYTER_WS_ERR_BAD_UTF8), 1007);
    CHECK_INT(jupyter_ws_err_close_code(JUPYTER_WS_ERR_UNKNOWN_CHANNEL), 1008);
    conn_channel_t ch;
    CHECK(jupyter_ws_channel_from_name("stdin", 5, &ch) == 0 && ch == CONN_STDIN);
    CHECK(jupyter_ws_channel_from_name("hb", 2, &ch) < 0);
    CHECK(jupyter_ws_channel_from_name("shel", 4, &ch) < 0);
    tap_case("every error has a phrase and a close code; channel names");
}

int main(void)
{
    const char *root = getenv("SANDCELL_VECTORS_DIR");
    if (!root)
        root = SC_VECTORS_DIR;
    s_test_utf8();
    s_test_names();
    s_run_folder(root, "valid");
    s_run_folder(root, "invalid");
    s_run_folder(root, "encode");
    return tap_done();
}
