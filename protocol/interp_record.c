/* interp_record — repair, bound and parse what an interpreter wrote.
 *
 * The repair is a check pass that finds the first thing to replace, and
 * only then a copy: records from sandcell's runtime are valid UTF-8 (it
 * replaces lone surrogates itself) and are parsed in place. jansson refuses
 * a whole text for one bad byte, and it refuses "\u0000" unless asked
 * (JSON_ALLOW_NUL); NUL is a character like any other to Jupyter, and every
 * string the manager handles from here on carries its length. */
#include "interp_record.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content_check.h"
#include "util.h"

static const char s_fffd[] = "\xEF\xBF\xBD";

/* Length of the UTF-8 sequence starting at |s| (|len| > 0 bytes left) if
 * it is valid; otherwise 0, with the length of its maximal invalid subpart
 * (at least 1) in *|bad|. */
static size_t s_utf8_seq(const unsigned char *s, size_t len, size_t *bad)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i < need; i++) {
        bool ok = i < len && s[i] >= (i == 1 ? lo : 0x80) && s[i] <= (i == 1 ? hi : 0xBF);
        if (!ok) {
            *bad = i;
            return 0;
        }
    }
    return need;
}

static int s_hex(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* The code unit of the escape "\uXXXX" at |s| (|len| bytes left), or -1. */
static long s_escape(const unsigned char *s, size_t len)
{
    if (len < 6 || s[0] != '\\' || s[1] != 'u')
        return -1;
    long v = 0;
    for (size_t i = 2; i < 6; i++) {
        int d = s_hex(s[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

typedef enum { STEP_KEEP, STEP_BAD_BYTES, STEP_LONE_SURROGATE } step_kind_t;

/* What to do at |s|: keep *|n| bytes, replace *|n| bytes by U+FFFD, or
 * replace a 6-byte escape by \ufffd. Backslashes outside strings make the
 * text invalid JSON anyway, so escapes are found without tracking strings. */
static step_kind_t s_step(const unsigned char *s, size_t len, size_t *n)
{
    if (s[0] == '\\') {
        long unit = s_escape(s, len);
        if (unit >= 0xD800 && unit <= 0xDBFF) {
            long next = s_escape(s + 6, len - 6);
            if (next >= 0xDC00 && next <= 0xDFFF) {
                *n = 12; /* a pair: one character */
                return STEP_KEEP;
            }
        }
        if (unit >= 0xD800 && unit <= 0xDFFF) {
            *n = 6;
            return STEP_LONE_SURROGATE;
        }
        /* any other escape: its second byte cannot start a UTF-8 sequence
         * worth checking unless it is not ASCII */
        *n = len > 1 && s[1] < 0x80 ? 2 : 1;
        return STEP_KEEP;
    }
    size_t bad = 0;
    size_t good = s_utf8_seq(s, len, &bad);
    *n = good ? good : bad;
    return good ? STEP_KEEP : STEP_BAD_BYTES;
}

char *interp_record_repair(const char *text, size_t len, size_t *out_len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, n = 0;
    *out_len = 0;
    while (i < len && s_step(s + i, len - i, &n) == STEP_KEEP)
        i += n;
    if (i >= len)
        return NULL; /* nothing to replace */
    /* Each replaced byte becomes at most three. */
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    memcpy(out, text, i);
    size_t o = i;
    while (i < len) {
        step_kind_t kind = s_step(s + i, len - i, &n);
        if (kind == STEP_KEEP) {
            memcpy(out + o, text + i, n);
            o += n;
        } else if (kind == STEP_BAD_BYTES) {
            memcpy(out + o, s_fffd, 3);
            o += 3;
        } else {
            memcpy(out + o, "\\ufffd", 6);
            o += 6;
        }
        i += n;
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

bool interp_record_too_many_values(const char *text, size_t len)
{
    size_t values = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (in_string) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_string = false;
        } else if (ch == '"') {
            in_string = true;
        } else if ((ch == ',' || ch == '[' || ch == '{') && ++values > INTERP_RECORD_MAX_VALUES) {
            return true;
        }
    }
    return false;
}

json_t *interp_record_decode(const char *text, size_t len, char *why, size_t why_len)
{
    if (why_len)
        why[0] = '\0';
    size_t fixed_len = 0;
    _cleanup_free_ char *fixed = interp_record_repair(text, len, &fixed_len);
    if (fixed) {
        text = fixed;
        len = fixed_len;
    }
    json_error_t err;
    json_t *rec = json_loadb(text, len, JSON_ALLOW_NUL, &err);
    if (!rec) {
        /* jansson's text may quote the input; keep only what is safe to show */
        char detail[80];
        size_t n = 0;
        for (const char *p = err.text; *p && n + 1 < sizeof detail; p++)
            detail[n++] = (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f ? '?' : *p;
        detail[n] = '\0';
        snprintf(why, why_len, "the record is not JSON (%s, at byte %d)", detail, err.position);
        return NULL;
    }
    const json_t *type = json_object_get(rec, "type");
    const char *name = json_string_value(type);
    const char *problem = NULL;
    if (!json_is_object(rec))
        problem = "the record is not a JSON object";
    else if (!json_is_string(type) || json_string_length(type) == 0 ||
             memchr(name, '\0', json_string_length(type)))
        problem = "the record has no type";
    else if (!json_is_object(json_object_get(rec, "content")))
        problem = "the record's content is not an object";
    if (problem) {
        snprintf(why, why_len, "%s", problem);
        json_decref(rec);
        return NULL;
    }
    if ((content_check_is_output(name) || strcmp(name, "input_request") == 0) &&
        content_check(name, json_object_get(rec, "content"), why, why_len) < 0) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

json_t *interp_record_error(const char *what)
{
    /* A message cut short in the middle of a character is not UTF-8. */
    size_t fixed_len;
    _cleanup_free_ char *fixed = interp_record_repair(what, strlen(what), &fixed_len);
    if (fixed)
        what = fixed;
    json_t *line = json_sprintf("%s: %s", INTERP_RECORD_ENAME, what);
    return line ? json_pack("{s:s, s:s, s:[o]}", "ename", INTERP_RECORD_ENAME, "evalue", what,
                            "traceback", line)
                : NULL;
}
