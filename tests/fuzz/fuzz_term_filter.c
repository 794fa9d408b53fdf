/* fuzz_term_filter — cell output on its way to the user's terminal
 * (session/cli/term_filter.c): a cell writes whatever bytes it likes, and the
 * filter must leave nothing a terminal would obey.
 *
 * Input: one byte choosing the chunk size (1 to 256 bytes: sequences and
 * UTF-8 characters split between stream messages), then the output. What
 * must hold: each call writes no more than term_filter_bound promises; the
 * result is the same however the output was cut; and it is valid UTF-8
 * holding no control but newline, tab, carriage return and ESC as the start
 * of an SGR sequence (ESC [ digits ; : m), and no C1 code point. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "term_filter.h"

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_term_filter: %s:%d: %s does not hold\n", __FILE__, __LINE__, \
                    #cond);                                                                     \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* Filters |len| bytes in chunks of |chunk|; returns the output (caller
 * frees) and its length in *out_len. */
static char *s_filter(const uint8_t *in, size_t len, size_t chunk, size_t *out_len)
{
    size_t cap = term_filter_bound(len) + term_filter_bound(0) * (len / chunk + 2) + 1;
    char *out = malloc(cap);
    CHECK(out);
    term_filter_t f;
    term_filter_init(&f);
    size_t n = 0;
    for (size_t i = 0; i < len; i += chunk) {
        size_t k = len - i < chunk ? len - i : chunk;
        size_t wrote = term_filter_feed(&f, in + i, k, out + n);
        CHECK(wrote <= term_filter_bound(k));
        n += wrote;
    }
    size_t wrote = term_filter_finish(&f, out + n);
    CHECK(wrote <= term_filter_bound(0));
    n += wrote;
    CHECK(f.n_held == 0);
    *out_len = n;
    return out;
}

/* Length of the SGR sequence at |s| (ESC [ [0-9;:]* m), or 0. */
static size_t s_sgr(const unsigned char *s, size_t len)
{
    if (len < 3 || s[0] != 0x1b || s[1] != '[')
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (s[i] == 'm')
            return i + 1;
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == ';' || s[i] == ':'))
            return 0;
    }
    return 0;
}

/* Length of the UTF-8 character at |s| (1 to 4), or 0 if it is not one. */
static size_t s_utf8(const unsigned char *s, size_t len, unsigned *cp)
{
    size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
                               : s[0] >= 0xe0 && s[0] <= 0xef ? 3
                               : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
    if (n == 0 || n > len)
        return 0;
    unsigned c = n == 1 ? s[0] : s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

static void s_check_safe(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        size_t sgr = s_sgr(s + i, len - i);
        if (sgr) {
            i += sgr;
            continue;
        }
        unsigned cp = 0;
        size_t n = s_utf8(s + i, len - i, &cp);
        if (n == 0 || (cp < 0x20 && cp != '\n' && cp != '\t' && cp != '\r') || cp == 0x7f ||
            (cp >= 0x80 && cp <= 0x9f)) {
            fprintf(stderr, "fuzz_term_filter: unsafe byte 0x%02x at %zu of %zu\n", s[i], i, len);
            CHECK(!"the output is safe for a terminal");
        }
        i += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] + 1;
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    size_t whole_len, cut_len;
    char *whole = s_filter(in, len, len ? len : 1, &whole_len);
    char *cut = s_filter(in, len, chunk, &cut_len);
    CHECK(whole_len == cut_len && memcmp(whole, cut, whole_len) == 0);
    s_check_safe(whole, whole_len);
    free(cut);
    free(whole);
    return 0;
}
