/* term_filter — makes a cell's output safe to show on a terminal.
 *
 * One byte at a time through a small state held in term_filter_t: empty,
 * an ESC (perhaps followed by '[' and SGR parameters), or the first bytes
 * of a UTF-8 character. UTF-8 is checked strictly (no overlong forms, no
 * surrogates, nothing past U+10FFFF) because a lenient terminal may read
 * an overlong form of a C1 control as that control. A byte that ends a
 * held prefix without completing it is handled again from the empty
 * state, so what follows a broken sequence is never swallowed. */
#include "term_filter.h"

#include <string.h>

#define ESC 0x1b

void term_filter_init(term_filter_t *f)
{
    f->n_held = 0;
}

/* Per input byte at most 4 output bytes (<9B>, or 8 for the two bytes of
 * a C1 character); held bytes are written again when a prefix breaks. */
size_t term_filter_bound(size_t len)
{
    return 4 * (len + TERM_FILTER_HOLD_MAX) + 16;
}

static const char s_hex[] = "0123456789ABCDEF";

static size_t s_hexbyte(unsigned char b, char *out)
{
    out[0] = '<';
    out[1] = s_hex[b >> 4];
    out[2] = s_hex[b & 15];
    out[3] = '>';
    return 4;
}

/* A C0 control or DEL in caret notation: ^[ for ESC, ^? for DEL. */
static size_t s_caret(unsigned char b, char *out)
{
    out[0] = '^';
    out[1] = (char)(b ^ 0x40);
    return 2;
}

/* How many bytes the UTF-8 character led by |b| has; 0: not a lead. */
static size_t s_utf8_len(unsigned char b)
{
    if (b >= 0xc2 && b <= 0xdf)
        return 2;
    if (b >= 0xe0 && b <= 0xef)
        return 3;
    if (b >= 0xf0 && b <= 0xf4)
        return 4;
    return 0;
}

/* Whether |b| may follow the held bytes |held| (|n| of them, n >= 1). */
static bool s_utf8_continues(const unsigned char *held, size_t n, unsigned char b)
{
    if (n == 1) {
        switch (held[0]) {
        case 0xe0:
            return b >= 0xa0 && b <= 0xbf;
        case 0xed:
            return b >= 0x80 && b <= 0x9f;
        case 0xf0:
            return b >= 0x90 && b <= 0xbf;
        case 0xf4:
            return b >= 0x80 && b <= 0x8f;
        default:
            break;
        }
    }
    return b >= 0x80 && b <= 0xbf;
}

static bool s_sgr_param(unsigned char b)
{
    return (b >= '0' && b <= '9') || b == ';' || b == ':';
}

/* Writes the held bytes neutralised and empties the state. */
static size_t s_release(term_filter_t *f, char *out)
{
    size_t n = 0;
    if (f->n_held && f->held[0] == ESC) {
        n += s_caret(ESC, out);
        memcpy(out + n, f->held + 1, f->n_held - 1); /* '[' and digits: plain text */
        n += f->n_held - 1;
    } else {
        for (size_t i = 0; i < f->n_held; i++)
            n += s_hexbyte(f->held[i], out + n);
    }
    f->n_held = 0;
    return n;
}

/* One byte from the empty state. */
static size_t s_plain(term_filter_t *f, unsigned char b, char *out)
{
    if (b == ESC || s_utf8_len(b)) {
        f->held[0] = b;
        f->n_held = 1;
        return 0;
    }
    if (b == '\n' || b == '\t' || b == '\r' || (b >= 0x20 && b < 0x7f)) {
        out[0] = (char)b;
        return 1;
    }
    if (b < 0x20 || b == 0x7f)
        return s_caret(b, out);
    return s_hexbyte(b, out); /* a continuation byte or 0xc0, 0xc1, 0xf5-0xff alone */
}

/* One byte after an ESC. */
static size_t s_escape(term_filter_t *f, unsigned char b, char *out)
{
    if (f->n_held == 1 && b == '[') {
        f->held[f->n_held++] = b;
        return 0;
    }
    if (f->n_held >= 2 && b == 'm') {
        memcpy(out, f->held, f->n_held); /* a complete SGR: kept */
        out[f->n_held] = 'm';
        size_t n = f->n_held + 1;
        f->n_held = 0;
        return n;
    }
    if (f->n_held >= 2 && s_sgr_param(b) && f->n_held < TERM_FILTER_HOLD_MAX - 1) {
        f->held[f->n_held++] = b;
        return 0;
    }
    size_t n = s_release(f, out);
    return n + s_plain(f, b, out + n);
}

/* One byte after the lead of a UTF-8 character. */
static size_t s_utf8(term_filter_t *f, unsigned char b, char *out)
{
    if (!s_utf8_continues(f->held, f->n_held, b)) {
        size_t n = s_release(f, out);
        return n + s_plain(f, b, out + n);
    }
    f->held[f->n_held++] = b;
    if (f->n_held < s_utf8_len(f->held[0]))
        return 0;
    size_t n = f->n_held;
    f->n_held = 0;
    if (f->held[0] == 0xc2 && f->held[1] <= 0x9f) {
        /* U+0080-U+009F: the C1 controls (CSI, OSC, DCS, ST...). */
        memcpy(out, "<U+00", 5);
        out[5] = s_hex[f->held[1] >> 4];
        out[6] = s_hex[f->held[1] & 15];
        out[7] = '>';
        return 8;
    }
    memcpy(out, f->held, n);
    return n;
}

size_t term_filter_feed(term_filter_t *f, const void *in, size_t len, char *out)
{
    const unsigned char *p = in;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (f->n_held == 0)
            n += s_plain(f, p[i], out + n);
        else if (f->held[0] == ESC)
            n += s_escape(f, p[i], out + n);
        else
            n += s_utf8(f, p[i], out + n);
    }
    return n;
}

size_t term_filter_finish(term_filter_t *f, char *out)
{
    return s_release(f, out);
}

#define SLICE 1024

int term_filter_write(term_filter_t *f, FILE *fp, const char *text, size_t len, bool raw)
{
    if (raw)
        return len && fwrite(text, 1, len, fp) != len ? -1 : 0;
    term_filter_t one;
    term_filter_t *use = f;
    if (!use) {
        term_filter_init(&one);
        use = &one;
    }
    char buf[4 * (SLICE + TERM_FILTER_HOLD_MAX) + 16];
    for (size_t at = 0; at < len; at += SLICE) {
        size_t chunk = len - at < SLICE ? len - at : SLICE;
        size_t n = term_filter_feed(use, text + at, chunk, buf);
        if (n && fwrite(buf, 1, n, fp) != n)
            return -1;
    }
    return f ? 0 : term_filter_flush(use, fp);
}

int term_filter_flush(term_filter_t *f, FILE *fp)
{
    char buf[4 * TERM_FILTER_HOLD_MAX + 16];
    size_t n = term_filter_finish(f, buf);
    return n && fwrite(buf, 1, n, fp) != n ? -1 : 0;
}
