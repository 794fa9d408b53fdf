/* test_wire — wire_decode against the vectors in tests/vectors/{valid,invalid},
 * plus the encode→decode round trip and replay refusal.
 *
 * The vector format is described in tests/vectors/README.md. Signatures in
 * vectors are computed here with libsodium's HMAC directly, not through
 * signer.c, so the vectors check the signer too. The folder comes from
 * $SANDCELL_VECTORS_DIR, else from the SC_VECTORS_DIR define. */
#include <ctype.h>
#include <dirent.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "wire.h"

#ifndef SC_VECTORS_DIR
#define SC_VECTORS_DIR "tests/vectors"
#endif

/* The frames of one vector, owned. */
typedef struct {
    wire_blob_t *f;
    size_t n;
} frames_t;

static void s_frames_clear(frames_t *fr)
{
    for (size_t i = 0; i < fr->n; i++)
        free(fr->f[i].data);
    free(fr->f);
    fr->f = NULL;
    fr->n = 0;
}

static int s_set(wire_blob_t *b, const void *data, size_t size)
{
    b->data = malloc(size ? size : 1);
    if (!b->data)
        return -1;
    if (size)
        memcpy(b->data, data, size);
    b->size = size;
    return 0;
}

static int s_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int s_hex_decode(wire_blob_t *b, const char *hex)
{
    size_t len = strlen(hex);
    if (len % 2)
        return -1;
    unsigned char *p = malloc(len / 2 + 1);
    if (!p)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = s_hexval(hex[2 * i]), lo = s_hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(p);
            return -1;
        }
        p[i] = (unsigned char)(hi << 4 | lo);
    }
    b->data = p;
    b->size = len / 2;
    return 0;
}

static int s_repeat(wire_blob_t *b, const char *unit, size_t size)
{
    size_t ulen = strlen(unit);
    if (ulen == 0)
        return -1;
    char *p = malloc(size ? size : 1);
    if (!p)
        return -1;
    for (size_t i = 0; i < size; i++)
        p[i] = unit[i % ulen];
    b->data = p;
    b->size = size;
    return 0;
}

/* The HMAC-SHA256 hex of four frames, computed independently of signer.c. */
static void s_hmac_hex(const char *key, const wire_blob_t four[4], char hex[65])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
    for (int i = 0; i < 4; i++)
        crypto_auth_hmacsha256_update(&st, four[i].data, four[i].size);
    crypto_auth_hmacsha256_final(&st, mac);
    for (size_t i = 0; i < sizeof mac; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

typedef enum { PASS_PLAIN, PASS_SIGN, PASS_FILL } pass_t;

/* Builds a plain frame (string, json, hex, repeat+count). Returns 1 if it
 * did, 0 if |spec| is for a later pass, -1 on a malformed spec. */
static int s_plain(const json_t *spec, wire_blob_t *b, char *why, size_t why_len)
{
    if (json_is_string(spec))
        return s_set(b, json_string_value(spec), json_string_length(spec)) < 0 ? -1 : 1;
    if (!json_is_object(spec)) {
        snprintf(why, why_len, "frame is neither a string nor an object");
        return -1;
    }
    const json_t *v;
    if ((v = json_object_get(spec, "json"))) {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!s)
            return -1;
        b->data = s;
        b->size = strlen(s);
        return 1;
    }
    if ((v = json_object_get(spec, "hex"))) {
        if (!json_is_string(v) || s_hex_decode(b, json_string_value(v)) < 0) {
            snprintf(why, why_len, "bad hex frame");
            return -1;
        }
        return 1;
    }
    if ((v = json_object_get(spec, "repeat"))) {
        const json_t *count = json_object_get(spec, "count");
        if (json_object_get(spec, "fill_to"))
            return 0;
        if (!json_is_string(v) || !json_is_integer(count) || json_integer_value(count) < 0 ||
            s_repeat(b, json_string_value(v),
                     json_string_length(v) * (size_t)json_integer_value(count)) < 0) {
            snprintf(why, why_len, "bad repeat frame");
            return -1;
        }
        return 1;
    }
    if (json_is_true(json_object_get(spec, "sign")))
        return 0;
    snprintf(why, why_len, "unknown frame spec");
    return -1;
}

static int s_sign(const json_t *spec, const char *vector_key, frames_t *fr, size_t at,
                  char *why, size_t why_len)
{
    const char *key = vector_key;
    const json_t *v;
    if ((v = json_object_get(spec, "key")))
        key = json_string_value(v);
    if (!key) {
        snprintf(why, why_len, "sign.key must be a string");
        return -1;
    }
    wire_blob_t over[4] = {{0}};
    const json_t *over_spec = json_object_get(spec, "over");
    bool own_over = false;
    if (over_spec) {
        if (json_array_size(over_spec) != 4) {
            snprintf(why, why_len, "sign.over needs four frames");
            return -1;
        }
        own_over = true;
        for (size_t i = 0; i < 4; i++) {
            if (s_plain(json_array_get(over_spec, i), &over[i], why, why_len) != 1) {
                for (size_t j = 0; j < i; j++)
                    free(over[j].data);
                snprintf(why, why_len, "sign.over frames must be plain");
                return -1;
            }
        }
    } else {
        if (at + 4 >= fr->n) {
            snprintf(why, why_len, "sign needs four frames after it");
            return -1;
        }
        for (size_t i = 0; i < 4; i++) {
            if (!fr->f[at + 1 + i].data) {
                snprintf(why, why_len, "sign over a frame that is not built yet");
                return -1;
            }
            over[i] = fr->f[at + 1 + i];
        }
    }
    char hex[65 + 256];
    s_hmac_hex(key, over, hex);
    if (own_over)
        for (size_t i = 0; i < 4; i++)
            free(over[i].data);
    if (json_is_true(json_object_get(spec, "upper")))
        for (char *p = hex; *p; p++)
            *p = (char)toupper((unsigned char)*p);
    if ((v = json_object_get(spec, "length"))) {
        json_int_t len = json_integer_value(v);
        if (len < 0 || len > 64) {
            snprintf(why, why_len, "bad sign.length");
            return -1;
        }
        hex[len] = '\0';
    }
    if ((v = json_object_get(spec, "append"))) {
        if (strlen(json_string_value(v)) > 255) {
            snprintf(why, why_len, "sign.append too long");
            return -1;
        }
        strcat(hex, json_string_value(v));
    }
    return s_set(&fr->f[at], hex, strlen(hex));
}

/* Builds the frames a vector describes. Returns 0, or -1 with |why|. */
static int s_build(const json_t *specs, const char *key, frames_t *fr, char *why,
                   size_t why_len)
{
    fr->n = json_array_size(specs);
    fr->f = calloc(fr->n ? fr->n : 1, sizeof *fr->f);
    if (!fr->f || !json_is_array(specs)) {
        snprintf(why, why_len, "frames must be an array");
        return -1;
    }
    for (pass_t pass = PASS_PLAIN; pass <= PASS_FILL; pass++) {
        for (size_t i = 0; i < fr->n; i++) {
            const json_t *spec = json_array_get(specs, i);
            if (fr->f[i].data)
                continue;
            if (pass == PASS_PLAIN) {
                if (s_plain(spec, &fr->f[i], why, why_len) < 0)
                    return -1;
            } else if (pass == PASS_SIGN) {
                if (json_is_true(json_object_get(spec, "sign")) &&
                    s_sign(spec, key, fr, i, why, why_len) < 0)
                    return -1;
            } else {
                const json_t *fill = json_object_get(spec, "fill_to");
                size_t others = 0;
                for (size_t j = 0; j < fr->n; j++)
                    others += fr->f[j].size;
                if (!json_is_integer(fill) || (size_t)json_integer_value(fill) < others) {
                    snprintf(why, why_len, "bad fill_to frame");
                    return -1;
                }
                if (s_repeat(&fr->f[i], json_string_value(json_object_get(spec, "repeat")),
                             (size_t)json_integer_value(fill) - others) < 0) {
                    snprintf(why, why_len, "bad fill_to frame");
                    return -1;
                }
            }
        }
    }
    return 0;
}

static wire_frame_t *s_views(const frames_t *fr)
{
    wire_frame_t *v = calloc(fr->n ? fr->n : 1, sizeof *v);
    if (!v)
        TAP_BAIL("out of memory");
    for (size_t i = 0; i < fr->n; i++)
        v[i] = (wire_frame_t){fr->f[i].data, fr->f[i].size};
    return v;
}

static bool s_blob_equals_spec(const wire_blob_t *b, const json_t *spec)
{
    wire_blob_t want = {0};
    char why[128];
    if (s_plain(spec, &want, why, sizeof why) != 1)
        return false;
    bool eq = want.size == b->size && memcmp(want.data, b->data, b->size) == 0;
    free(want.data);
    return eq;
}

static bool s_msg_is_empty(const wire_msg_t *m)
{
    return !m->identities && !m->n_identities && !m->raw_header.data && !m->header &&
           !m->parent && !m->metadata && !m->content && !m->buffers && !m->n_buffers;
}

static const struct {
    const char *name;
    proto_err_t err;
} s_err_names[] = {
    {"ok", PROTO_OK},
    {"no_delimiter", PROTO_ERR_NO_DELIMITER},
    {"truncated", PROTO_ERR_TRUNCATED},
    {"too_large", PROTO_ERR_TOO_LARGE},
    {"unsigned", PROTO_ERR_UNSIGNED},
    {"bad_signature", PROTO_ERR_BAD_SIGNATURE},
    {"replayed", PROTO_ERR_REPLAYED},
    {"bad_json", PROTO_ERR_BAD_JSON},
    {"bad_header", PROTO_ERR_BAD_HEADER},
    {"bad_field", PROTO_ERR_BAD_FIELD},
    {"bad_connfile", PROTO_ERR_BAD_CONNFILE},
    {"nomem", PROTO_ERR_NOMEM},
};

static int s_err_from_name(const char *name)
{
    for (size_t i = 0; name && i < sizeof s_err_names / sizeof *s_err_names; i++)
        if (strcmp(s_err_names[i].name, name) == 0)
            return (int)s_err_names[i].err;
    return -1;
}

static const char *s_err_name(proto_err_t err)
{
    for (size_t i = 0; i < sizeof s_err_names / sizeof *s_err_names; i++)
        if (s_err_names[i].err == err)
            return s_err_names[i].name;
    return "?";
}

static void s_check_json_field(const json_t *expect, const char *field, const json_t *got)
{
    const json_t *want = json_object_get(expect, field);
    if (!want)
        return;
    if (!tap_check(json_equal(want, got), __FILE__, __LINE__, field)) {
        char *a = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
        char *b = got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        tap_diag("    want %s", a ? a : "?");
        tap_diag("    got  %s", b ? b : "(null)");
        free(a);
        free(b);
    }
}

static void s_run_valid(const char *name, const json_t *vec, const frames_t *fr,
                        const char *key)
{
    const json_t *expect = json_object_get(vec, "expect");
    wire_frame_t *views = s_views(fr);
    signer_t *signer = signer_new(key, strlen(key));
    wire_msg_t msg;
    proto_err_t err = PROTO_ERR_COUNT;
    CHECK(json_is_object(expect));
    int rc = wire_decode(signer, views, fr->n, &msg, &err);
    CHECK_INT(rc, 0);
    if (!CHECK_INT(err, PROTO_OK))
        tap_diag("    got %s", s_err_name(err));
    if (rc == 0) {
        CHECK_STR(wire_msg_type(&msg), json_string_value(json_object_get(expect, "msg_type")));
        CHECK_INT(msg.n_identities, json_integer_value(json_object_get(expect, "n_identities")));
        CHECK_INT(msg.n_buffers, json_integer_value(json_object_get(expect, "n_buffers")));
        CHECK(msg.header && msg.parent && msg.metadata && msg.content);
        /* raw_header is the header frame, byte for byte. */
        const wire_blob_t *hf = &fr->f[msg.n_identities + 2];
        CHECK(msg.raw_header.size == hf->size &&
              memcmp(msg.raw_header.data, hf->data, hf->size) == 0);
        const json_t *ids = json_object_get(expect, "identities");
        if (ids && CHECK_INT(json_array_size(ids), msg.n_identities))
            for (size_t i = 0; i < msg.n_identities; i++)
                CHECK(s_blob_equals_spec(&msg.identities[i], json_array_get(ids, i)));
        const json_t *bufs = json_object_get(expect, "buffers");
        if (bufs && CHECK_INT(json_array_size(bufs), msg.n_buffers))
            for (size_t i = 0; i < msg.n_buffers; i++)
                CHECK(s_blob_equals_spec(&msg.buffers[i], json_array_get(bufs, i)));
        /* Without an explicit list, buffers are still the trailing frames. */
        for (size_t i = 0; i < msg.n_buffers; i++) {
            const wire_blob_t *src = &fr->f[fr->n - msg.n_buffers + i];
            CHECK(msg.buffers[i].size == src->size &&
                  memcmp(msg.buffers[i].data, src->data, src->size) == 0);
        }
        s_check_json_field(expect, "header", msg.header);
        s_check_json_field(expect, "parent", msg.parent);
        s_check_json_field(expect, "metadata", msg.metadata);
        s_check_json_field(expect, "content", msg.content);
        wire_msg_clear(&msg);
        CHECK(s_msg_is_empty(&msg));
    }
    tap_case("valid/%s: %s", name, json_string_value(json_object_get(vec, "description")));

    /* The same frames again, to the same signer: a replay. */
    err = PROTO_ERR_COUNT;
    CHECK_INT(wire_decode(signer, views, fr->n, &msg, &err), -1);
    if (!CHECK_INT(err, PROTO_ERR_REPLAYED))
        tap_diag("    got %s", s_err_name(err));
    CHECK(s_msg_is_empty(&msg));
    /* A fresh signer has no memory of it. */
    signer_t *fresh = signer_new(key, strlen(key));
    CHECK_INT(wire_decode(fresh, views, fr->n, &msg, &err), 0);
    wire_msg_clear(&msg);
    signer_destroy(&fresh);
    tap_case("valid/%s: refused as replayed when decoded again", name);
    signer_destroy(&signer);
    free(views);
}

static void s_run_invalid(const char *name, const json_t *vec, const frames_t *fr,
                          const char *key)
{
    int want = s_err_from_name(json_string_value(json_object_get(vec, "error")));
    wire_frame_t *views = s_views(fr);
    signer_t *signer = signer_new(key, strlen(key));
    wire_msg_t msg;
    memset(&msg, 0x5a, sizeof msg); /* decode must zero it */
    proto_err_t err = PROTO_OK;
    CHECK(want > 0);
    CHECK_INT(wire_decode(signer, views, fr->n, &msg, &err), -1);
    if (!CHECK_INT(err, want))
        tap_diag("    want %s, got %s", s_err_name((proto_err_t)want), s_err_name(err));
    CHECK(s_msg_is_empty(&msg));
    CHECK(strcmp(proto_err_to_string(err), "unknown error") != 0);
    const char *todo = json_string_value(json_object_get(vec, "todo"));
    const char *desc = json_string_value(json_object_get(vec, "description"));
    const char *want_name = want > 0 ? s_err_name((proto_err_t)want) : "?";
    if (todo)
        tap_case_todo(todo, "invalid/%s: %s (%s)", name, desc, want_name);
    else
        tap_case("invalid/%s: %s (%s)", name, desc, want_name);
    signer_destroy(&signer);
    free(views);
}

static int s_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every *.json vector of |dir|/|kind|, in name order. Returns how
 * many were found. */
static int s_run_folder(const char *dir, const char *kind)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, kind);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char **grown = realloc(names, (n + 1) * sizeof *names);
        if (!grown || !(grown[n] = strdup(e->d_name)))
            TAP_BAIL("out of memory");
        names = grown;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, s_cmp_names);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s/%s", dir, kind, names[i]);
        names[i][strlen(names[i]) - 5] = '\0';
        json_error_t jerr;
        json_t *vec = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        const char *key = json_string_value(json_object_get(vec, "key"));
        char why[256] = "";
        frames_t fr = {0};
        if (!vec || !key ||
            s_build(json_object_get(vec, "frames"), key, &fr, why, sizeof why) < 0) {
            tap_diag("%s: %s", path, vec ? (key ? why : "no key") : jerr.text);
            CHECK(!"vector is well-formed");
            tap_case("%s/%s: vector is well-formed", kind, names[i]);
        } else if (strcmp(kind, "valid") == 0) {
            s_run_valid(names[i], vec, &fr, key);
        } else {
            s_run_invalid(names[i], vec, &fr, key);
        }
        s_frames_clear(&fr);
        json_decref(vec);
        free(names[i]);
    }
    free(names);
    return (int)n;
}

/* ---- encode / decode ---- */

static void test_round_trip(void)
{
    signer_t *signer = signer_new("round-trip-key", 14);
    json_t *req_header = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "msg_id", "req-1",
                                   "msg_type", "execute_request", "session", "S",
                                   "username", "bob", "date", "2026-01-02T03:04:05.000000Z",
                                   "version", "5.3");
    char *raw_parent = json_dumps(req_header, JSON_COMPACT);
    json_t *header = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "msg_id", "rep-1",
                               "msg_type", "execute_reply", "session", "K", "username",
                               "sandcell", "date", "2026-01-02T03:04:06.000000Z", "version",
                               "5.3");
    json_t *metadata = json_pack("{s:{s:b}}", "dependencies_met", "x", 1);
    json_t *content = json_pack("{s:s, s:i, s:s, s:{}}", "status", "ok", "execution_count", 7,
                                "text", "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80",
                                "user_expressions");
    const wire_blob_t ids[2] = {{"client-A", 8}, {"\x00\x01\xff", 3}};
    const wire_frame_t bufs[3] = {{"\x00\x00\x00", 3}, {"", 0}, {WIRE_DELIMITER, 9}};
    wire_outgoing_t out = {
        .identities = ids, .n_identities = 2, .header = header,
        .parent = {raw_parent, strlen(raw_parent)}, .metadata = metadata,
        .content = content, .buffers = bufs, .n_buffers = 3,
    };
    wire_frames_t frames = {0};
    proto_err_t err = PROTO_ERR_COUNT;
    CHECK_INT(wire_encode(signer, &out, &frames, &err), 0);
    CHECK_INT(err, PROTO_OK);
    CHECK_INT(frames.n, 2 + 6 + 3);
    if (frames.n == 11) {
        CHECK(frames.frames[2].size == 9 && memcmp(frames.frames[2].data, WIRE_DELIMITER, 9) == 0);
        /* The signature is 64 lowercase hex digits. */
        CHECK_INT(frames.frames[3].size, SIGNER_HEX_LEN);
        bool lower_hex = frames.frames[3].size == SIGNER_HEX_LEN;
        for (size_t i = 0; lower_hex && i < SIGNER_HEX_LEN; i++)
            lower_hex = strchr("0123456789abcdef", ((char *)frames.frames[3].data)[i]) != NULL;
        CHECK(lower_hex);
        /* The parent frame is sent as given, byte for byte. */
        CHECK(frames.frames[5].size == strlen(raw_parent) &&
              memcmp(frames.frames[5].data, raw_parent, strlen(raw_parent)) == 0);
    }
    tap_case("encode: identities, delimiter, lowercase hex signature, raw parent");

    wire_frame_t *views = calloc(frames.n, sizeof *views);
    for (size_t i = 0; views && i < frames.n; i++)
        views[i] = (wire_frame_t){frames.frames[i].data, frames.frames[i].size};
    wire_msg_t msg;
    CHECK_INT(wire_decode(signer, views, frames.n, &msg, &err), 0);
    CHECK_INT(err, PROTO_OK);
    if (err == PROTO_OK) {
        CHECK_INT(msg.n_identities, 2);
        CHECK(msg.identities[0].size == 8 && memcmp(msg.identities[0].data, "client-A", 8) == 0);
        CHECK(msg.identities[1].size == 3 && memcmp(msg.identities[1].data, "\x00\x01\xff", 3) == 0);
        CHECK(json_equal(msg.header, header));
        CHECK(json_equal(msg.parent, req_header));
        CHECK(json_equal(msg.metadata, metadata));
        CHECK(json_equal(msg.content, content));
        CHECK_STR(wire_msg_type(&msg), "execute_reply");
        CHECK_INT(msg.n_buffers, 3);
        for (size_t i = 0; i < 3 && i < msg.n_buffers; i++)
            CHECK(msg.buffers[i].size == bufs[i].size &&
                  memcmp(msg.buffers[i].data, bufs[i].data, bufs[i].size) == 0);
        wire_msg_clear(&msg);
    }
    tap_case("encode then decode with the same key gives the same message");

    CHECK_INT(wire_decode(signer, views, frames.n, &msg, &err), -1);
    CHECK_INT(err, PROTO_ERR_REPLAYED);
    tap_case("decoding the same encoded frames twice: replayed");

    signer_t *other = signer_new("another-key", 11);
    CHECK_INT(wire_decode(other, views, frames.n, &msg, &err), -1);
    CHECK_INT(err, PROTO_ERR_BAD_SIGNATURE);
    CHECK(s_msg_is_empty(&msg));
    tap_case("a message encoded with one key fails with another");
    signer_destroy(&other);

    /* A key that is a prefix of the real one must not verify either. */
    other = signer_new("round-trip-ke", 13);
    CHECK_INT(wire_decode(other, views, frames.n, &msg, &err), -1);
    CHECK_INT(err, PROTO_ERR_BAD_SIGNATURE);
    tap_case("a message encoded with one key fails with a prefix of that key");
    signer_destroy(&other);

    free(views);
    wire_frames_clear(&frames);
    CHECK(frames.frames == NULL && frames.n == 0);
    free(raw_parent);
    json_decref(req_header);
    json_decref(header);
    json_decref(metadata);
    json_decref(content);
    signer_destroy(&signer);
    tap_case("wire_frames_clear empties the frames");
}

static void test_encode_defaults(void)
{
    signer_t *signer = signer_new("k", 1);
    json_t *header = json_pack("{s:s, s:s, s:s}", "msg_id", "m", "msg_type", "status",
                               "session", "s");
    json_t *content = json_pack("{s:s}", "execution_state", "idle");
    wire_outgoing_t out = {.header = header, .content = content};
    wire_frames_t frames;
    proto_err_t err;
    CHECK_INT(wire_encode(signer, &out, &frames, &err), 0);
    CHECK_INT(frames.n, 6);
    if (frames.n == 6) {
        CHECK(frames.frames[0].size == 9 && memcmp(frames.frames[0].data, WIRE_DELIMITER, 9) == 0);
        CHECK(frames.frames[3].size == 2 && memcmp(frames.frames[3].data, "{}", 2) == 0);
        CHECK(frames.frames[4].size == 2 && memcmp(frames.frames[4].data, "{}", 2) == 0);
        wire_frame_t views[6];
        for (int i = 0; i < 6; i++)
            views[i] = (wire_frame_t){frames.frames[i].data, frames.frames[i].size};
        wire_msg_t msg;
        CHECK_INT(wire_decode(signer, views, 6, &msg, &err), 0);
        if (err == PROTO_OK) {
            CHECK_INT(msg.n_identities, 0);
            CHECK_INT(msg.n_buffers, 0);
            CHECK(json_is_object(msg.parent) && json_object_size(msg.parent) == 0);
            CHECK(json_is_object(msg.metadata) && json_object_size(msg.metadata) == 0);
            wire_msg_clear(&msg);
        }
    }
    wire_frames_clear(&frames);
    json_decref(header);
    json_decref(content);
    signer_destroy(&signer);
    tap_case("encode without identities, parent or metadata sends {} and decodes");
}

/* Texts given as is and objects dumped by the encoder make the same
 * message; a content larger than the encoder's stack room goes to the heap. */
static void test_encode_views(void)
{
    signer_t *signer = signer_new("key", 3);
    const char *header_text = "{\"msg_id\":\"m\",\"msg_type\":\"status\",\"session\":\"s\"}";
    json_t *header = json_loads(header_text, 0, NULL);
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    json_t *content = json_pack("{s:s}", "text", big);
    char *content_text = json_dumps(content, JSON_COMPACT);
    wire_blob_t id = {"id", 2};
    wire_frame_t buffer = {"raw", 3};
    wire_outgoing_t as_json = {.identities = &id, .n_identities = 1, .header = header,
                               .content = content, .buffers = &buffer, .n_buffers = 1};
    wire_outgoing_t as_text = as_json;
    as_text.header = NULL;
    as_text.content = NULL;
    as_text.header_text = (wire_frame_t){header_text, strlen(header_text)};
    as_text.content_text = (wire_frame_t){content_text, strlen(content_text)};
    CHECK_INT(wire_encoded_frames(&as_json), 8);
    wire_frame_t a[8], b[8];
    wire_scratch_t sa, sb;
    proto_err_t err;
    CHECK_INT(wire_encode_views(signer, &as_json, a, &sa, &err), 0);
    CHECK_INT(wire_encode_views(signer, &as_text, b, &sb, &err), 0);
    for (int i = 0; i < 8; i++)
        CHECK(a[i].size == b[i].size && memcmp(a[i].data, b[i].data, a[i].size) == 0);
    CHECK(sa.heap[2] != NULL); /* the 5 KB content did not fit the stack room */
    wire_msg_t msg;
    CHECK_INT(wire_decode(signer, b, 8, &msg, &err), 0);
    if (err == PROTO_OK) {
        CHECK_STR(json_string_value(json_object_get(msg.content, "text")), big);
        CHECK_INT(msg.n_buffers, 1);
        wire_msg_clear(&msg);
    }
    wire_scratch_clear(&sa);
    wire_scratch_clear(&sb);
    CHECK(sa.heap[2] == NULL);
    free(content_text);
    json_decref(header);
    json_decref(content);
    signer_destroy(&signer);
    tap_case("encode views: header_text/content_text send the same frames as objects");
}

static void test_error_strings(void)
{
    for (int e = 0; e < PROTO_ERR_COUNT; e++) {
        const char *s = proto_err_to_string((proto_err_t)e);
        CHECK(s && s[0] && strcmp(s, "unknown error") != 0);
    }
    CHECK_STR(proto_err_to_string(PROTO_ERR_COUNT), "unknown error");
    CHECK_STR(proto_err_to_string((proto_err_t)-1), "unknown error");
    CHECK_STR(proto_err_to_string(PROTO_ERR_BAD_SIGNATURE), "bad signature");
    tap_case("proto_err_to_string names every code and never returns NULL");
}

/* A content string with \u0000 decodes, as an empty content with the
 * reason, so the request can be answered and no handler sees the string cut
 * short; without one, content_error stays NULL. */
static void test_nul_in_content(void)
{
    signer_t *signer = signer_new("nul-key", 7);
    const char *contents[] = {"{\"path\":\"a\\u0000/etc/passwd\"}",
                              "{\"deep\":[1,{\"x\":\"\\u0000\"}]}", "{\"path\":\"plain\"}"};
    for (size_t i = 0; i < 3; i++) {
        json_auto_t *content = json_loads(contents[i], JSON_ALLOW_NUL, NULL);
        json_auto_t *header = json_pack("{s:s, s:s, s:s}", "msg_id", "m", "msg_type",
                                        "get_file_request", "session", "s");
        char id[16];
        snprintf(id, sizeof id, "m%zu", i);
        json_object_set_new(header, "msg_id", json_string(id));
        wire_outgoing_t out = {.header = header, .content = content};
        wire_frames_t frames = {0};
        proto_err_t err;
        CHECK_INT(wire_encode(signer, &out, &frames, &err), 0);
        wire_frame_t views[16];
        for (size_t k = 0; k < frames.n && k < 16; k++)
            views[k] = (wire_frame_t){frames.frames[k].data, frames.frames[k].size};
        wire_msg_t msg;
        CHECK_INT(wire_decode(signer, views, frames.n, &msg, &err), 0);
        if (i < 2) {
            CHECK(msg.content_error && strstr(msg.content_error, "NUL"));
            CHECK(json_is_object(msg.content) && json_object_size(msg.content) == 0);
        } else {
            CHECK(msg.content_error == NULL);
            CHECK(json_equal(msg.content, content));
        }
        wire_msg_clear(&msg);
        wire_frames_clear(&frames);
        tap_case("content %s: %s", i < 2 ? "with a NUL is emptied, with the reason" : "without one is kept",
                 contents[i]);
    }
    signer_destroy(&signer);
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        TAP_BAIL("sodium_init failed");
    const char *dir = argc > 1 ? argv[1] : getenv("SANDCELL_VECTORS_DIR");
    if (!dir || !dir[0])
        dir = SC_VECTORS_DIR;
    int nvalid = s_run_folder(dir, "valid");
    int ninvalid = s_run_folder(dir, "invalid");
    if (!CHECK(nvalid >= 5 && ninvalid >= 10))
        tap_diag("vectors folder %s: %d valid, %d invalid", dir, nvalid, ninvalid);
    tap_case("vectors found in %s", dir);
    test_round_trip();
    test_encode_defaults();
    test_encode_views();
    test_error_strings();
    test_nul_in_content();
    return tap_done();
}
