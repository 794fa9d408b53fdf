/* http_token — token file, Authorization header, tenant lookup. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_token.h"

static bool s_token_char(char c)
{
    return c > ' ' && c < 127;
}

bool http_token_valid(const char *token)
{
    size_t n = strlen(token);
    if (n == 0 || n > HTTP_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!s_token_char(token[i]))
            return false;
    return true;
}

static bool s_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/* One line's words (at most 3 are told apart): their starts and lengths. */
static int s_words(const char *line, size_t len, const char *w[3], size_t wl[3])
{
    int n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == len)
            break;
        size_t start = i;
        while (i < len && line[i] != ' ' && line[i] != '\t')
            i++;
        if (n == 3)
            return 4;
        w[n] = line + start;
        wl[n++] = i - start;
    }
    return n;
}

static bool s_word_is(const char *w, size_t n, bool (*ok)(char), size_t max)
{
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!ok(w[i]))
            return false;
    return true;
}

int http_token_parse_file(const char *text, size_t len, http_tenant_t **out, size_t *n,
                          char *why, size_t why_len)
{
    *out = NULL;
    *n = 0;
    http_tenant_t *t = NULL;
    size_t count = 0, cap = 0, lineno = 0, unnamed_line = 0;
    for (size_t i = 0; i < len;) {
        const char *line = text + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t ll = nl ? (size_t)(nl - line) : len - i;
        i += ll + (nl ? 1 : 0);
        lineno++;
        if (ll && line[ll - 1] == '\r')
            ll--;
        const char *w[3];
        size_t wl[3];
        int words = s_words(line, ll, w, wl);
        if (words == 0 || w[0][0] == '#')
            continue;
        if (memchr(line, '\0', ll)) {
            snprintf(why, why_len, "line %zu: a NUL byte", lineno);
            goto fail;
        }
        if (words > 2) {
            snprintf(why, why_len, "line %zu: expected NAME TOKEN", lineno);
            goto fail;
        }
        const char *name = words == 2 ? w[0] : NULL, *tok = w[words - 1];
        size_t name_len = words == 2 ? wl[0] : 0, tok_len = wl[words - 1];
        if (name && !s_word_is(name, name_len, s_name_char, HTTP_TENANT_NAME_MAX)) {
            snprintf(why, why_len, "line %zu: a name is 1-%d of A-Z a-z 0-9 . _ -", lineno,
                     HTTP_TENANT_NAME_MAX);
            goto fail;
        }
        if (!s_word_is(tok, tok_len, s_token_char, HTTP_TOKEN_MAX)) {
            snprintf(why, why_len, "line %zu: a token is 1-%d printable ASCII characters",
                     lineno, HTTP_TOKEN_MAX);
            goto fail;
        }
        if (count == HTTP_TENANTS_MAX) {
            snprintf(why, why_len, "line %zu: more than %d tokens", lineno, HTTP_TENANTS_MAX);
            goto fail;
        }
        if (!name && !unnamed_line)
            unnamed_line = lineno;
        if (count == cap) {
            cap = cap ? 2 * cap : 8;
            http_tenant_t *grown = realloc(t, cap * sizeof *t);
            if (!grown) {
                snprintf(why, why_len, "out of memory");
                goto fail;
            }
            t = grown;
        }
        http_tenant_t *e = &t[count];
        memset(e, 0, sizeof *e);
        memcpy(e->name, name ? name : "", name_len);
        memcpy(e->token, tok, tok_len);
        for (size_t k = 0; k < count; k++) {
            if (e->name[0] && strcmp(t[k].name, e->name) == 0) {
                snprintf(why, why_len, "line %zu: the name %s is given twice", lineno, e->name);
                goto fail;
            }
            if (strcmp(t[k].token, e->token) == 0) {
                snprintf(why, why_len, "line %zu: the same token as an earlier line", lineno);
                goto fail;
            }
        }
        count++;
    }
    if (count == 0) {
        snprintf(why, why_len, "no token in it");
        goto fail;
    }
    if (count > 1 && unnamed_line) {
        snprintf(why, why_len,
                 "line %zu: a token without a name; with several tokens each line is NAME TOKEN",
                 unnamed_line);
        goto fail;
    }
    *out = t;
    *n = count;
    return 0;
fail:
    if (t)
        sodium_memzero(t, cap * sizeof *t);
    free(t);
    return -1;
}

bool http_token_from_header(const char *header, const char **token, size_t *len)
{
    size_t skip;
    if (strncasecmp(header, "token", 5) == 0)
        skip = 5;
    else if (strncasecmp(header, "bearer", 6) == 0)
        skip = 6;
    else
        return false;
    if (header[skip] != ' ' && header[skip] != '\t')
        return false;
    const char *p = header + skip;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n == 0)
        return false;
    *token = p;
    *len = n;
    return true;
}

int http_token_match(const http_tenant_t *tenants, size_t n, const char *token, size_t len)
{
    unsigned char given[crypto_generichash_BYTES], held[crypto_generichash_BYTES];
    crypto_generichash(given, sizeof given, (const unsigned char *)token, len, NULL, 0);
    int found = -1;
    for (size_t i = 0; i < n; i++) {
        crypto_generichash(held, sizeof held, (const unsigned char *)tenants[i].token,
                           strlen(tenants[i].token), NULL, 0);
        int same = sodium_memcmp(given, held, sizeof held) == 0;
        found = same && found < 0 ? (int)i : found; /* every tenant is hashed */
    }
    sodium_memzero(given, sizeof given);
    return found;
}
