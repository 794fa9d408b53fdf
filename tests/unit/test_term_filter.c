/* test_term_filter — what a cell's output may do to a terminal: the kept
 * subset (text, \n \t \r, SGR colours), every other control shown
 * visibly, sequences split between chunks, and a property check over
 * random bytes (nothing a terminal interprets comes out, however the
 * input is cut). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "term_filter.h"

/* Filters |in| fed in pieces of |step| bytes (0: all at once), finished.
 * Returns a static NUL-terminated copy of the output. */
static const char *s_run(const char *in, size_t len, size_t step)
{
    static char out[8192];
    term_filter_t f;
    term_filter_init(&f);
    size_t n = 0;
    if (!step)
        step = len ? len : 1;
    for (size_t at = 0; at < len; at += step) {
        size_t k = len - at < step ? len - at : step;
        n += term_filter_feed(&f, in + at, k, out + n);
    }
    n += term_filter_finish(&f, out + n);
    out[n] = '\0';
    return out;
}

#define FILTERED(lit) s_run((lit), sizeof(lit) - 1, 0)
#define FILTERED_BY(lit, step) s_run((lit), sizeof(lit) - 1, (step))

static void test_kept(void)
{
    CHECK_STR(FILTERED("plain text, 1 + 1 = 2\n"), "plain text, 1 + 1 = 2\n");
    CHECK_STR(FILTERED("a\tb\r\nc\rd"), "a\tb\r\nc\rd");
    tap_case("text, newline, tab and carriage return are kept");

    CHECK_STR(FILTERED("h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80 \xe4\xb8\xad"),
              "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80 \xe4\xb8\xad");
    CHECK_STR(FILTERED("\xc2\xa0\xc2\xa9"), "\xc2\xa0\xc2\xa9"); /* U+00A0, U+00A9 */
    tap_case("UTF-8 text is kept, U+00A0 and up included");

    CHECK_STR(FILTERED("\x1b[1;31mred\x1b[0m \x1b[m"), "\x1b[1;31mred\x1b[0m \x1b[m");
    CHECK_STR(FILTERED("\x1b[38;5;196mx\x1b[38:2::255:0:0my"),
              "\x1b[38;5;196mx\x1b[38:2::255:0:0my");
    tap_case("SGR colour sequences are kept (as less -R keeps them)");
}

static void test_neutralised(void)
{
    CHECK_STR(FILTERED("\x1b]52;c;aGVsbG8=\x07"), "^[]52;c;aGVsbG8=^G");
    CHECK_STR(FILTERED("\x1b]52;c;aGVsbG8=\x1b\\"), "^[]52;c;aGVsbG8=^[\\");
    tap_case("OSC 52 (clipboard) is shown, not sent: %s", FILTERED("\x1b]52;c;aGk=\x07"));

    CHECK_STR(FILTERED("\x1b]0;pwned\x07"), "^[]0;pwned^G");
    CHECK_STR(FILTERED("\x1b]2;pwned\x1b\\"), "^[]2;pwned^[\\");
    tap_case("OSC 0 and OSC 2 (window title) are shown, not sent");

    CHECK_STR(FILTERED("\x1b[2J\x1b[H\x1b[3J"), "^[[2J^[[H^[[3J");
    CHECK_STR(FILTERED("\x1b[31;1H"), "^[[31;1H");
    CHECK_STR(FILTERED("\x1b[?1049h\x1b[6n"), "^[[?1049h^[[6n");
    CHECK_STR(FILTERED("\x1b" "c\x1b" "7\x1b(0"), "^[c^[7^[(0");
    tap_case("CSI other than SGR (clear, cursor, modes, reports) and other escapes are shown");

    CHECK_STR(FILTERED("\x1bP1$r0m\x1b\\"), "^[P1$r0m^[\\");
    CHECK_STR(FILTERED("\x1b_apc\x1b\\\x1b^pm\x1b\\"), "^[_apc^[\\^[^pm^[\\");
    tap_case("DCS, APC and PM strings are shown");

    CHECK_STR(FILTERED("\xc2\x9b" "2J"), "<U+009B>2J");
    CHECK_STR(FILTERED("\xc2\x9d" "0;t\xc2\x9c"), "<U+009D>0;t<U+009C>");
    CHECK_STR(FILTERED("\xc2\x90q\xc2\x85\xc2\x80\xc2\x9f"), "<U+0090>q<U+0085><U+0080><U+009F>");
    tap_case("C1 controls written as UTF-8 (U+0080-U+009F) are shown as <U+00XX>");

    CHECK_STR(FILTERED("\x9b" "2J\x9d" "0;t\x07"), "<9B>2J<9D>0;t^G");
    CHECK_STR(FILTERED("\x90\x80\xff\xfe"), "<90><80><FF><FE>");
    tap_case("8-bit CSI and OSC, and other bytes that are not UTF-8, are shown as <XX>");

    CHECK_STR(FILTERED("ding\x07"), "ding^G");
    CHECK_STR(FILTERED("abc\b\b\bxyz"), "abc^H^H^Hxyz");
    CHECK_STR(FILTERED("a\0b\x7f\x0b\x0c\x0e\x1f"), "a^@b^?^K^L^N^_");
    tap_case("BEL, backspace, NUL, DEL, VT, FF, SO and the other C0 controls in caret notation");

    CHECK_STR(FILTERED("\xc0\x9b"), "<C0><9B>");
    CHECK_STR(FILTERED("\xe0\x82\x9b"), "<E0><82><9B>");
    CHECK_STR(FILTERED("\xf0\x80\x82\x9b"), "<F0><80><82><9B>");
    CHECK_STR(FILTERED("\xed\xa0\x80"), "<ED><A0><80>");
    CHECK_STR(FILTERED("\xf4\x90\x80\x80"), "<F4><90><80><80>");
    CHECK_STR(FILTERED("\xe2\x9c" "a"), "<E2><9C>a");
    CHECK_STR(FILTERED("\xe2\x1b]0;t\x07"), "<E2>^[]0;t^G");
    tap_case("overlong forms (of U+009B too), surrogates, past U+10FFFF and cut characters "
             "are shown byte by byte; what follows is kept");

    char longer[64] = "\x1b[";
    memset(longer + 2, '1', 40);
    strcpy(longer + 42, "mx");
    const char *got = s_run(longer, strlen(longer), 0);
    CHECK(strncmp(got, "^[[", 3) == 0 && strchr(got, 0x1b) == NULL);
    CHECK(strlen(got) == strlen(longer) + 1);
    tap_case("an SGR longer than the filter holds is shown, not kept");
}

static void test_split(void)
{
    static const char text[] = "a\x1b[31mred\x1b[0m\x1b]52;c;aGk=\x07\xe2\x9c\x93\xc2\x9b"
                               "2J\x1b[2J\xf0\x9f\x98\x80\x9b\n";
    char whole[1024];
    snprintf(whole, sizeof whole, "%s", FILTERED(text));
    CHECK_STR(whole, "a\x1b[31mred\x1b[0m^[]52;c;aGk=^G\xe2\x9c\x93<U+009B>2J^[[2J"
                     "\xf0\x9f\x98\x80<9B>\n");
    for (size_t step = 1; step < sizeof text; step++)
        if (!CHECK_STR(FILTERED_BY(text, step), whole))
            tap_diag("fed %zu bytes at a time", step);
    tap_case("a sequence or character split between chunks is filtered as if whole");

    term_filter_t f;
    char out[256];
    term_filter_init(&f);
    CHECK_INT(term_filter_feed(&f, "x\x1b[3", 4, out), 1);
    size_t n = term_filter_feed(&f, "1mred", 5, out);
    CHECK(n == 8 && memcmp(out, "\x1b[31mred", 8) == 0);
    CHECK_INT(term_filter_feed(&f, "\x1b", 1, out), 0);
    n = term_filter_feed(&f, "]0;t\x07", 5, out);
    CHECK(n == 8 && memcmp(out, "^[]0;t^G", 8) == 0);
    tap_case("the state carries an unfinished SGR and a lone ESC to the next chunk");

    term_filter_init(&f);
    CHECK_INT(term_filter_feed(&f, "\x1b[31", 4, out), 0);
    n = term_filter_finish(&f, out);
    CHECK(n == 5 && memcmp(out, "^[[31", 5) == 0);
    CHECK_INT(term_filter_feed(&f, "\xe2\x9c", 2, out), 0);
    n = term_filter_finish(&f, out);
    CHECK(n == 8 && memcmp(out, "<E2><9C>", 8) == 0);
    CHECK_INT(term_filter_finish(&f, out), 0);
    tap_case("finish shows what is still held, and leaves the filter empty");
}

/* Whether |out| (|n| bytes) holds anything a terminal would interpret:
 * an ESC not starting a short SGR, a C0 control other than \n \t \r, DEL,
 * or a byte that does not belong to well-formed UTF-8 without C1. */
static const char *s_unsafe(const unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char b = out[i];
        if (b == 0x1b) {
            size_t j = i + 1;
            if (j >= n || out[j] != '[')
                return "ESC not followed by [";
            for (j++; j < n && ((out[j] >= '0' && out[j] <= '9') || out[j] == ';' ||
                                out[j] == ':');
                 j++)
                ;
            if (j >= n || out[j] != 'm')
                return "ESC [ not an SGR";
            i = j;
        } else if ((b < 0x20 && b != '\n' && b != '\t' && b != '\r') || b == 0x7f) {
            return "a C0 control";
        } else if (b >= 0x80) {
            size_t k = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 ? 2 : 0;
            if (!k || i + k > n)
                return "a byte that is not UTF-8";
            if (b == 0xc2 && out[i + 1] <= 0x9f)
                return "a C1 control";
            for (size_t m = 1; m < k; m++)
                if ((out[i + m] & 0xc0) != 0x80)
                    return "a broken UTF-8 character";
            i += k - 1;
        }
    }
    return NULL;
}

static void test_property(void)
{
    static const unsigned char alphabet[] = {0x1b, '[', ']', 'm', '0', '3', ';', ':', 'P',
                                             '\\', 0x07, 0x08, 0x00, 0x7f, 0x9b, 0x9d, 0xc2,
                                             0xc0, 0xe0, 0xe2, 0xed, 0xf0, 0xf4, 0x80, 0x9c,
                                             0xbf, 'a', '\n', '\r', 0xff};
    unsigned seed = 12345;
    int bad = 0, over = 0;
    for (int round = 0; round < 20000 && bad < 3; round++) {
        unsigned char in[96];
        size_t len = (size_t)(rand_r(&seed) % sizeof in);
        for (size_t i = 0; i < len; i++)
            in[i] = (round & 1) ? (unsigned char)rand_r(&seed)
                                : alphabet[rand_r(&seed) % sizeof alphabet];
        unsigned char out[4096];
        term_filter_t f;
        term_filter_init(&f);
        size_t n = 0, at = 0;
        while (at < len) {
            size_t k = 1 + (size_t)rand_r(&seed) % 8;
            if (k > len - at)
                k = len - at;
            size_t wrote = term_filter_feed(&f, in + at, k, (char *)out + n);
            over += wrote > term_filter_bound(k);
            n += wrote;
            at += k;
        }
        size_t wrote = term_filter_finish(&f, (char *)out + n);
        over += wrote > term_filter_bound(0);
        n += wrote;
        const char *why = s_unsafe(out, n);
        if (why) {
            bad++;
            tap_diag("round %d: %s", round, why);
        }
    }
    CHECK_INT(bad, 0);
    CHECK_INT(over, 0);
    tap_case("20000 random inputs cut at random: nothing interpretable comes out, within the "
             "bound");
}

static void test_write(void)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *fp = open_memstream(&buf, &size);
    CHECK(fp != NULL);
    if (!fp)
        return;
    term_filter_t f;
    term_filter_init(&f);
    CHECK_INT(term_filter_write(NULL, fp, "\x1b]0;t\x07 \x1b[1m", 11, false), 0);
    CHECK_INT(term_filter_write(&f, fp, "|\x1b[3", 4, false), 0);
    CHECK_INT(term_filter_write(&f, fp, "2m|\x1b", 4, false), 0);
    CHECK_INT(term_filter_flush(&f, fp), 0);
    CHECK_INT(term_filter_write(NULL, fp, "|\x1b]52;c;x\x07", 10, true), 0);
    fclose(fp);
    static const char want[] = "^[]0;t^G \x1b[1m|\x1b[32m|^[|\x1b]52;c;x\x07";
    CHECK(size == sizeof want - 1 && memcmp(buf, want, size) == 0);
    free(buf);
    tap_case("term_filter_write: one-shot, streaming with a flush, and raw");

    static char big[100000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (i % 7 == 0) ? 0x1b : (i % 5 == 0) ? '[' : 'x';
    fp = open_memstream(&buf, &size);
    CHECK(fp != NULL);
    if (!fp)
        return;
    CHECK_INT(term_filter_write(NULL, fp, big, sizeof big, false), 0);
    fclose(fp);
    CHECK(s_unsafe((unsigned char *)buf, size) == NULL);
    CHECK(memchr(buf, 0x1b, size) == NULL);
    free(buf);
    tap_case("a text longer than one slice is filtered across the slices");
}

int main(void)
{
    test_kept();
    test_neutralised();
    test_split();
    test_property();
    test_write();
    return tap_done();
}
