/* test_signer — HMAC-SHA256 against RFC 4231, exact-match verification, and
 * the replay memory's window. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "signer.h"
#include "tap.h"

/* Splits |data| into four frames at the given cut points. */
static void s_split(const char *data, size_t len, size_t a, size_t b, size_t c,
                    wire_frame_t f[4])
{
    f[0] = (wire_frame_t){data, a};
    f[1] = (wire_frame_t){data + a, b - a};
    f[2] = (wire_frame_t){data + b, c - b};
    f[3] = (wire_frame_t){data + c, len - c};
}

static void test_rfc4231(void)
{
    static const struct {
        const char *name;
        unsigned char key[131];
        size_t key_len;
        const char *data;
        const char *mac;
    } cases[] = {
        {"test case 1",
         {0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
          0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b},
         20, "Hi There",
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {"test case 2", "Jefe", 4, "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {"test case 6 (key longer than a block)", {0}, 131,
         "Test Using Larger Than Block-Size Key - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unsigned char key[131];
        memcpy(key, cases[i].key, sizeof key);
        if (i == 2)
            memset(key, 0xaa, sizeof key);
        signer_t *s = signer_new(key, cases[i].key_len);
        if (!CHECK(s != NULL)) {
            tap_case("RFC 4231 %s", cases[i].name);
            continue;
        }
        const char *data = cases[i].data;
        size_t len = strlen(data);
        /* However the bytes are split into the four frames, the MAC is
         * that of their concatenation (as in jupyter_client). */
        const size_t cuts[][3] = {{0, 0, 0}, {len, len, len}, {1, 2, 3}, {2, len / 2, len - 1}};
        for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
            wire_frame_t f[4];
            char hex[SIGNER_HEX_LEN + 1];
            memset(hex, 'X', sizeof hex);
            s_split(data, len, cuts[k][0], cuts[k][1], cuts[k][2], f);
            signer_sign(s, f, hex);
            CHECK_STR(hex, cases[i].mac);
        }
        signer_destroy(&s);
        CHECK(s == NULL);
        tap_case("RFC 4231 %s, split four ways over the frames", cases[i].name);
    }
}

static void test_new_destroy(void)
{
    CHECK(signer_new("", 0) == NULL);
    CHECK(signer_new("x", 0) == NULL);
    signer_t *none = NULL;
    signer_destroy(&none);
    CHECK(none == NULL);
    /* The key is copied: changing the caller's buffer changes nothing. */
    char key[] = "mutable";
    signer_t *a = signer_new(key, 7);
    signer_t *b = signer_new("mutable", 7);
    memset(key, 0, sizeof key);
    wire_frame_t f[4] = {{"{}", 2}, {"{}", 2}, {"{}", 2}, {"{}", 2}};
    char ha[SIGNER_HEX_LEN + 1], hb[SIGNER_HEX_LEN + 1];
    signer_sign(a, f, ha);
    signer_sign(b, f, hb);
    CHECK_STR(ha, hb);
    signer_destroy(&a);
    signer_destroy(&b);
    tap_case("signer_new refuses an empty key, copies the key; destroy(NULL) is a no-op");
}

static void test_verify(void)
{
    signer_t *s = signer_new("secret", 6);
    wire_frame_t f[4] = {{"{\"msg_id\":\"1\"}", 14}, {"{}", 2}, {"{}", 2}, {"{\"a\":1}", 7}};
    char hex[SIGNER_HEX_LEN + 1];
    signer_sign(s, f, hex);
    CHECK_INT(strlen(hex), SIGNER_HEX_LEN);
    proto_err_t err;

    wire_frame_t empty = {"", 0};
    err = PROTO_OK;
    CHECK_INT(signer_verify(s, &empty, f, &err), -1);
    CHECK_INT(err, PROTO_ERR_UNSIGNED);
    tap_case("verify: empty signature is unsigned");

    char upper[SIGNER_HEX_LEN + 1];
    for (int i = 0; i <= SIGNER_HEX_LEN; i++)
        upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
    wire_frame_t up = {upper, SIGNER_HEX_LEN};
    CHECK(strcmp(upper, hex) != 0);
    CHECK_INT(signer_verify(s, &up, f, &err), -1);
    CHECK_INT(err, PROTO_ERR_BAD_SIGNATURE);
    tap_case("verify: uppercase hex of the right MAC is refused");

    wire_frame_t short_sig = {hex, SIGNER_HEX_LEN - 1};
    CHECK_INT(signer_verify(s, &short_sig, f, &err), -1);
    CHECK_INT(err, PROTO_ERR_BAD_SIGNATURE);
    char longer[SIGNER_HEX_LEN + 2];
    memcpy(longer, hex, SIGNER_HEX_LEN);
    longer[SIGNER_HEX_LEN] = '0';
    wire_frame_t long_sig = {longer, SIGNER_HEX_LEN + 1};
    CHECK_INT(signer_verify(s, &long_sig, f, &err), -1);
    CHECK_INT(err, PROTO_ERR_BAD_SIGNATURE);
    wire_frame_t one = {hex, 1};
    CHECK_INT(signer_verify(s, &one, f, &err), -1);
    CHECK_INT(err, PROTO_ERR_BAD_SIGNATURE);
    tap_case("verify: the right MAC cut short or lengthened is refused");

    for (int pos = 0; pos < SIGNER_HEX_LEN; pos += 9) {
        char flipped[SIGNER_HEX_LEN + 1];
        memcpy(flipped, hex, sizeof flipped);
        flipped[pos] = flipped[pos] == '0' ? '1' : '0';
        wire_frame_t fl = {flipped, SIGNER_HEX_LEN};
        CHECK_INT(signer_verify(s, &fl, f, &err), -1);
        CHECK_INT(err, PROTO_ERR_BAD_SIGNATURE);
    }
    tap_case("verify: one wrong digit anywhere is refused");

    wire_frame_t tampered[4] = {f[0], f[1], f[2], {"{\"a\":2}", 7}};
    wire_frame_t sig = {hex, SIGNER_HEX_LEN};
    CHECK_INT(signer_verify(s, &sig, tampered, &err), -1);
    CHECK_INT(err, PROTO_ERR_BAD_SIGNATURE);
    tap_case("verify: changed content is refused");

    /* None of the refusals above was remembered: the real one still passes. */
    err = PROTO_ERR_COUNT;
    CHECK_INT(signer_verify(s, &sig, f, &err), 0);
    CHECK_INT(err, PROTO_OK);
    tap_case("verify: the right signature passes after refused attempts");

    CHECK_INT(signer_verify(s, &sig, f, &err), -1);
    CHECK_INT(err, PROTO_ERR_REPLAYED);
    CHECK_INT(signer_verify(s, &sig, f, &err), -1);
    CHECK_INT(err, PROTO_ERR_REPLAYED);
    tap_case("verify: the same signature again is a replay, every time");

    /* Replay memory belongs to one signer. */
    signer_t *other = signer_new("secret", 6);
    CHECK_INT(signer_verify(other, &sig, f, &err), 0);
    signer_destroy(&other);
    other = signer_new("Secret", 6);
    CHECK_INT(signer_verify(other, &sig, f, &err), -1);
    CHECK_INT(err, PROTO_ERR_BAD_SIGNATURE);
    signer_destroy(&other);
    tap_case("verify: a second signer with the same key accepts it, another key does not");

    signer_destroy(&s);
}

/* Message |i| of a stream: distinct content, so a distinct MAC. */
static void s_message(unsigned i, char *content, size_t len, wire_frame_t f[4])
{
    int n = snprintf(content, len, "{\"i\":%u}", i);
    f[0] = (wire_frame_t){"{\"msg_id\":\"x\"}", 14};
    f[1] = (wire_frame_t){"{}", 2};
    f[2] = (wire_frame_t){"{}", 2};
    f[3] = (wire_frame_t){content, (size_t)n};
}

/* Verifies |total| distinct messages, then replays the last
 * SIGNER_REPLAY_WINDOW of them: every one must be refused. */
static void test_replay_window(unsigned total)
{
    signer_t *s = signer_new("window", 6);
    char content[32], hex[SIGNER_HEX_LEN + 1];
    wire_frame_t f[4], sig = {hex, SIGNER_HEX_LEN};
    proto_err_t err;
    unsigned accepted = 0, refused = 0, first_bad = 0;
    for (unsigned i = 0; i < total; i++) {
        s_message(i, content, sizeof content, f);
        signer_sign(s, f, hex);
        if (signer_verify(s, &sig, f, &err) == 0)
            accepted++;
    }
    CHECK_INT(accepted, total);
    for (unsigned i = total - SIGNER_REPLAY_WINDOW; i < total; i++) {
        s_message(i, content, sizeof content, f);
        signer_sign(s, f, hex);
        if (signer_verify(s, &sig, f, &err) == -1 && err == PROTO_ERR_REPLAYED)
            refused++;
        else if (!first_bad)
            first_bad = i + 1;
    }
    if (!CHECK_INT(refused, SIGNER_REPLAY_WINDOW))
        tap_diag("    first accepted replay: message %u of %u", first_bad - 1, total);
    signer_destroy(&s);
    tap_case("replay window: after %u signatures, the last %d are all refused", total,
             SIGNER_REPLAY_WINDOW);
}

int main(void)
{
    test_rfc4231();
    test_new_destroy();
    test_verify();
    /* Exactly one window; just past it; just past two generations; and a
     * long stream ending in the middle of a generation. */
    test_replay_window(SIGNER_REPLAY_WINDOW);
    test_replay_window(SIGNER_REPLAY_WINDOW + 1);
    test_replay_window(2 * SIGNER_REPLAY_WINDOW + 1);
    test_replay_window(5 * SIGNER_REPLAY_WINDOW + SIGNER_REPLAY_WINDOW / 3);
    return tap_done();
}
