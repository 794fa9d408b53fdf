/* output_compare — the notion of "same output" that replay reports.
 *
 * Each side is split into its stdout text, its stderr text and the list of
 * its other outputs; each part is compared on its own so that a diff can
 * say which part differs. Text diffs are line-based and short: the common
 * leading and trailing lines are dropped and what remains is shown as
 * "-recorded" / "+replayed" lines, cut after a few. */
#include "output_compare.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define MASKED " at 0x?"

char *output_compare_normalise(const char *text, size_t len, size_t *out_len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t hex = 0;
        if (len - i > 6 && memcmp(text + i, " at 0x", 6) == 0)
            while (i + 6 + hex < len && strchr("0123456789abcdefABCDEF", text[i + 6 + hex]) &&
                   text[i + 6 + hex])
                hex++;
        if (hex) { /* never longer than what it replaces */
            memcpy(out + o, MASKED, strlen(MASKED));
            o += strlen(MASKED);
            i += 6 + hex;
        } else {
            out[o++] = text[i++];
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

char *output_compare_printable(char *text)
{
    for (unsigned char *p = (unsigned char *)text; *p; p++) {
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            *p = '?';
        else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            p[0] = p[1] = '?';
    }
    return text;
}

/* Decodes base64 |b64| (newlines allowed). Caller owns *out. */
static int s_decode(const char *b64, unsigned char **out, size_t *out_len)
{
    size_t len = strlen(b64);
    unsigned char *bin = malloc(len / 4 * 3 + 3);
    if (!bin)
        return -1;
    if (sodium_base642bin(bin, len / 4 * 3 + 3, b64, len, "\r\n ", out_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(bin);
        return -1;
    }
    *out = bin;
    return 0;
}

static const unsigned char s_png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* Advances *pos to the next PNG chunk that is not text or time; returns
 * false at the end (or at a malformed chunk, *bad set). */
static bool s_png_next(const unsigned char *png, size_t len, size_t *pos, size_t *chunk_len,
                       bool *bad)
{
    while (*pos < len) {
        if (len - *pos < 12) {
            *bad = true;
            return false;
        }
        const unsigned char *p = png + *pos;
        size_t n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        if (n > len - *pos - 12) {
            *bad = true;
            return false;
        }
        *chunk_len = n + 12;
        if (memcmp(p + 4, "tEXt", 4) && memcmp(p + 4, "zTXt", 4) && memcmp(p + 4, "iTXt", 4) &&
            memcmp(p + 4, "tIME", 4))
            return true;
        *pos += n + 12;
    }
    return false;
}

static bool s_png_equal(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    if (alen < 8 || blen < 8 || memcmp(a, s_png_signature, 8) || memcmp(b, s_png_signature, 8))
        return false;
    size_t pa = 8, pb = 8, la = 0, lb = 0;
    bool bad = false;
    for (;;) {
        bool more_a = s_png_next(a, alen, &pa, &la, &bad);
        bool more_b = s_png_next(b, blen, &pb, &lb, &bad);
        if (bad || more_a != more_b)
            return false;
        if (!more_a)
            return true;
        if (la != lb || memcmp(a + pa, b + pb, la) != 0)
            return false;
        pa += la;
        pb += lb;
    }
}

int output_compare_images(const char *a_b64, const char *b_b64)
{
    _cleanup_free_ unsigned char *a = NULL;
    _cleanup_free_ unsigned char *b = NULL;
    size_t alen, blen;
    if (s_decode(a_b64, &a, &alen) < 0 || s_decode(b_b64, &b, &blen) < 0)
        return 0;
    if (alen == blen && memcmp(a, b, alen) == 0)
        return 1;
    return s_png_equal(a, alen, b, blen);
}

/* ------------------------------------------------------------- the diff */

typedef struct {
    FILE *f;
    size_t lines, max_lines;
} diff_t;

static void s_say(diff_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_say(diff_t *d, const char *fmt, ...)
{
    if (d->lines >= d->max_lines)
        return;
    char line[512]; /* every line of a diff is cut to this */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fputs(output_compare_printable(line), d->f);
    fputc('\n', d->f);
    d->lines++;
}

/* Offsets of the starts of the lines of |t| (|n| bytes); a final line
 * without newline counts. Caller frees. */
static size_t *s_lines(const char *t, size_t n, size_t *count)
{
    size_t k = 1;
    for (size_t i = 0; i + 1 < n; i++)
        k += t[i] == '\n';
    size_t *starts = malloc((k + 1) * sizeof *starts);
    if (!starts)
        return NULL;
    size_t j = 0;
    starts[j++] = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (t[i] == '\n')
            starts[j++] = i + 1;
    starts[j] = n;
    *count = n ? j : 0;
    return starts;
}

static bool s_line_eq(const char *a, const size_t *as, size_t i, const char *b, const size_t *bs,
                      size_t j)
{
    size_t la = as[i + 1] - as[i], lb = bs[j + 1] - bs[j];
    return la == lb && memcmp(a + as[i], b + bs[j], la) == 0;
}

#define SHOWN_PER_SIDE 3

static void s_show(diff_t *d, char sign, const char *t, const size_t *st, size_t from, size_t to)
{
    for (size_t i = from; i < to && i < from + SHOWN_PER_SIDE; i++) {
        size_t len = st[i + 1] - st[i];
        if (len && t[st[i] + len - 1] == '\n')
            len--;
        s_say(d, "  %c%.*s", sign, len > 160 ? 160 : (int)len, t + st[i]);
    }
    if (to - from > SHOWN_PER_SIDE)
        s_say(d, "  %c... %zu more lines", sign, to - from - SHOWN_PER_SIDE);
}

/* Compares two texts after masking; adds a hunk named |what| if they
 * differ. Returns 1 if they differ, 0 if not, -1 on allocation failure. */
static int s_text(diff_t *d, const char *what, const char *a0, size_t alen0, const char *b0,
                  size_t blen0)
{
    size_t alen, blen;
    _cleanup_free_ char *a = output_compare_normalise(a0, alen0, &alen);
    _cleanup_free_ char *b = output_compare_normalise(b0, blen0, &blen);
    if (!a || !b)
        return -1;
    if (alen == blen && memcmp(a, b, alen) == 0)
        return 0;
    size_t na, nb;
    _cleanup_free_ size_t *as = s_lines(a, alen, &na);
    _cleanup_free_ size_t *bs = s_lines(b, blen, &nb);
    if (!as || !bs)
        return -1;
    size_t head = 0, tail = 0;
    while (head < na && head < nb && s_line_eq(a, as, head, b, bs, head))
        head++;
    while (tail < na - head && tail < nb - head &&
           s_line_eq(a, as, na - 1 - tail, b, bs, nb - 1 - tail))
        tail++;
    s_say(d, "  @@ %s, line %zu @@", what, head + 1);
    if (head == na - tail && head == nb - tail) /* only a final newline differs */
        s_say(d, "  (the texts differ in their last newline)");
    s_show(d, '-', a, as, head, na - tail);
    s_show(d, '+', b, bs, head, nb - tail);
    return 1;
}

/* ---------------------------------------------------- splitting a side */

typedef struct {
    char *stream[2]; /* stdout, stderr */
    size_t stream_len[2];
    json_t *rich; /* borrowed outputs that are not streams */
    bool capped;  /* the cell reached the output limit */
} side_t;

#define CAP_NOTE "[sandcell] this cell reached the output limit"

static void s_side_clear(side_t *s)
{
    free(s->stream[0]);
    free(s->stream[1]);
    json_decref(s->rich);
}

/* Whether stderr line |line| is a note of the manager, not of the cell. */
static bool s_manager_note(const char *line, size_t len)
{
    return len >= 11 && memcmp(line, "[sandcell] ", 11) == 0;
}

static int s_side(const json_t *outputs, side_t *s)
{
    memset(s, 0, sizeof *s);
    FILE *f[2] = {open_memstream(&s->stream[0], &s->stream_len[0]),
                  open_memstream(&s->stream[1], &s->stream_len[1])};
    s->rich = json_array();
    size_t i;
    const json_t *out;
    json_array_foreach(outputs, i, out) {
        const char *type = json_string_value(json_object_get(out, "output_type"));
        if (!type || strcmp(type, "stream") != 0) {
            json_array_append(s->rich, (json_t *)out);
            continue;
        }
        const char *name = json_string_value(json_object_get(out, "name"));
        int k = name && strcmp(name, "stderr") == 0 ? 1 : 0;
        const char *t = json_string_value(json_object_get(out, "text"));
        size_t n = json_string_length(json_object_get(out, "text"));
        for (size_t p = 0; f[k] && t && p < n;) {
            const char *nl = memchr(t + p, '\n', n - p);
            size_t len = nl ? (size_t)(nl - (t + p)) + 1 : n - p;
            if (k == 0 || !s_manager_note(t + p, len))
                fwrite(t + p, 1, len, f[k]);
            else if (len >= strlen(CAP_NOTE) && memcmp(t + p, CAP_NOTE, strlen(CAP_NOTE)) == 0)
                s->capped = true;
            p += len;
        }
    }
    bool ok = f[0] && f[1] && s->rich;
    for (int k = 0; k < 2; k++)
        if (f[k])
            fclose(f[k]);
    return ok ? 0 : -1;
}

/* ------------------------------------------------------ rich outputs */

static bool s_explained_by_sandcell(const char *ename)
{
    return strcmp(ename, "TimeoutError") == 0 || strcmp(ename, "InterpreterDied") == 0 ||
           strcmp(ename, "MemoryError") == 0;
}

/* A mime value as one text: a string, or a list of strings joined. */
static char *s_mime_text(const json_t *v, size_t *len)
{
    if (json_is_string(v)) {
        *len = json_string_length(v);
        char *t = malloc(*len + 1);
        if (t)
            memcpy(t, json_string_value(v), *len + 1);
        return t;
    }
    char *t = NULL;
    FILE *f = open_memstream(&t, len);
    if (!f)
        return NULL;
    size_t i;
    const json_t *part;
    json_array_foreach(v, i, part) {
        if (json_is_string(part))
            fwrite(json_string_value(part), 1, json_string_length(part), f);
    }
    fclose(f);
    return t;
}

static int s_data(diff_t *d, const char *label, const json_t *a, const json_t *b)
{
    int differ = 0;
    const char *mime;
    const json_t *va;
    json_object_foreach((json_t *)a, mime, va) {
        const json_t *vb = json_object_get(b, mime);
        char what[160];
        snprintf(what, sizeof what, "%s %s", label, mime);
        if (!vb) {
            s_say(d, "  @@ %s @@ missing in the replay", what);
            differ = 1;
            continue;
        }
        size_t n = strlen(mime);
        if (n >= 4 && strcmp(mime + n - 4, "json") == 0) {
            if (!json_equal(va, vb)) {
                s_say(d, "  @@ %s @@ the JSON values differ", what);
                differ = 1;
            }
            continue;
        }
        size_t la, lb;
        _cleanup_free_ char *ta = s_mime_text(va, &la);
        _cleanup_free_ char *tb = s_mime_text(vb, &lb);
        if (!ta || !tb)
            return -1;
        if (strncmp(mime, "image/", 6) == 0 && strcmp(mime, "image/svg+xml") != 0) {
            if (!output_compare_images(ta, tb)) {
                s_say(d, "  @@ %s @@ the images differ (%zu vs %zu base64 bytes)", what, la, lb);
                differ = 1;
            }
            continue;
        }
        int rc = s_text(d, what, ta, la, tb, lb);
        if (rc < 0)
            return -1;
        differ |= rc;
    }
    json_object_foreach((json_t *)b, mime, va) {
        if (!json_object_get(a, mime)) {
            s_say(d, "  @@ %s %s @@ only in the replay", label, mime);
            differ = 1;
        }
    }
    return differ;
}

static int s_error(diff_t *d, const char *label, const json_t *a, const json_t *b)
{
    const char *ea = json_string_value(json_object_get(a, "ename"));
    const char *eb = json_string_value(json_object_get(b, "ename"));
    if (!ea || !eb || strcmp(ea, eb) != 0) {
        s_say(d, "  @@ %s @@", label);
        s_say(d, "  -%.200s", ea ? ea : "?");
        s_say(d, "  +%.200s", eb ? eb : "?");
        return 1;
    }
    if (s_explained_by_sandcell(ea))
        return 0;
    _cleanup_free_ char *ta = NULL, *tb = NULL;
    size_t la = 0, lb = 0;
    FILE *fa = open_memstream(&ta, &la), *fb = open_memstream(&tb, &lb);
    if (!fa || !fb) {
        if (fa)
            fclose(fa);
        if (fb)
            fclose(fb);
        return -1;
    }
    const json_t *sides[2] = {a, b};
    FILE *files[2] = {fa, fb};
    for (int k = 0; k < 2; k++) {
        fprintf(files[k], "%s: %s\n", json_string_value(json_object_get(sides[k], "ename")),
                json_string_value(json_object_get(sides[k], "evalue")));
        size_t i;
        const json_t *line;
        json_array_foreach(json_object_get(sides[k], "traceback"), i, line)
            fprintf(files[k], "%s\n", json_string_value(line) ? json_string_value(line) : "");
        fclose(files[k]);
    }
    if (!ta || !tb)
        return -1;
    return s_text(d, label, ta, la, tb, lb);
}

static int s_rich(diff_t *d, const json_t *a, const json_t *b)
{
    int differ = 0;
    size_t n = json_array_size(a) < json_array_size(b) ? json_array_size(a) : json_array_size(b);
    for (size_t i = 0; i < n; i++) {
        const json_t *oa = json_array_get(a, i), *ob = json_array_get(b, i);
        const char *ta = json_string_value(json_object_get(oa, "output_type"));
        const char *tb = json_string_value(json_object_get(ob, "output_type"));
        char label[96];
        snprintf(label, sizeof label, "output %zu (%s)", i + 1, ta ? ta : "?");
        int rc;
        if (!ta || !tb || strcmp(ta, tb) != 0) {
            s_say(d, "  @@ output %zu @@ %s recorded, %s replayed", i + 1, ta ? ta : "?",
                  tb ? tb : "?");
            rc = 1;
        } else if (strcmp(ta, "error") == 0) {
            rc = s_error(d, label, oa, ob);
        } else {
            rc = s_data(d, label, json_object_get(oa, "data"), json_object_get(ob, "data"));
        }
        if (rc < 0)
            return -1;
        differ |= rc;
    }
    for (size_t i = n; i < json_array_size(a); i++) {
        const char *t = json_string_value(json_object_get(json_array_get(a, i), "output_type"));
        s_say(d, "  @@ output %zu (%s) @@ missing in the replay", i + 1, t ? t : "?");
        differ = 1;
    }
    for (size_t i = n; i < json_array_size(b); i++) {
        const char *t = json_string_value(json_object_get(json_array_get(b, i), "output_type"));
        s_say(d, "  @@ output %zu (%s) @@ only in the replay", i + 1, t ? t : "?");
        differ = 1;
    }
    return differ;
}

int output_compare(const json_t *recorded, const json_t *replayed, size_t max_lines, char **diff)
{
    *diff = NULL;
    side_t a, b;
    int rc_a = s_side(recorded, &a), rc_b = s_side(replayed, &b);
    char *text = NULL;
    size_t text_len = 0;
    diff_t d = {open_memstream(&text, &text_len), 0, max_lines ? max_lines : 1};
    int differ = -1;
    if (rc_a == 0 && rc_b == 0 && d.f) {
        static const char *const names[2] = {"stdout", "stderr"};
        differ = 0;
        for (int k = 0; k < 2 && differ >= 0; k++) {
            /* Where the output limit cut the text depends on how it was
             * sent; when both were cut, what both kept is compared. */
            size_t la = a.stream_len[k], lb = b.stream_len[k];
            if (a.capped && b.capped)
                la = lb = la < lb ? la : lb;
            int rc = s_text(&d, names[k], a.stream[k], la, b.stream[k], lb);
            differ = rc < 0 ? -1 : differ | rc;
        }
        if (differ >= 0) {
            int rc = s_rich(&d, a.rich, b.rich);
            differ = rc < 0 ? -1 : differ | rc;
        }
    }
    if (d.f)
        fclose(d.f);
    s_side_clear(&a);
    s_side_clear(&b);
    if (differ == 1 && text)
        *diff = text;
    else
        free(text);
    return differ;
}
