/* http_token — the HTTP front door's tokens: the token file, the token a
 * request carries, and which tenant it is.
 *
 * Token file (--http-token-file): one token a line; blank lines and lines
 * starting with '#' are skipped. A line is "NAME TOKEN" (a tenant) or, when
 * the file holds one line, just "TOKEN". NAME is 1-63 of [A-Za-z0-9._-];
 * TOKEN is 1-256 printable ASCII characters without spaces. With two or
 * more tokens every one needs a name, and names and tokens are unique.
 *
 * Pure functions (no daemon, no file): unit-tested and fuzzed alone. */
#ifndef SANDCELL_HTTP_TOKEN_H
#define SANDCELL_HTTP_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_TENANT_NAME_MAX 63
#define HTTP_TOKEN_MAX 256
#define HTTP_TENANTS_MAX 1024

typedef struct {
    char name[HTTP_TENANT_NAME_MAX + 1]; /* "" for a token without a name */
    char token[HTTP_TOKEN_MAX + 1];
} http_tenant_t;

/* Parses a token file's |len| bytes of |text| into *out (caller frees)
 * and *n. Returns 0, or -1 with a reason naming the line in |why| (never
 * the token). An empty file is an error. */
int http_token_parse_file(const char *text, size_t len, http_tenant_t **out, size_t *n,
                          char *why, size_t why_len);

/* True if |token| may be used as a token: 1-256 printable ASCII
 * characters, no space. */
bool http_token_valid(const char *token);

/* The token an Authorization header's value carries ("token T" or
 * "Bearer T", the scheme in any case, spaces around T ignored): sets
 * *token and *len (pointing into |header|) and returns true; false when
 * the header carries none (another scheme, or "token " with nothing). */
bool http_token_from_header(const char *header, const char **token, size_t *len);

/* Which of the |n| tenants holds the |len| bytes of |token|: its index,
 * or -1. Compares with every tenant in constant time (hashes of equal
 * length, sodium_memcmp), so neither timing nor length tells a guess how
 * close it came. */
int http_token_match(const http_tenant_t *tenants, size_t n, const char *token, size_t len);

#endif
