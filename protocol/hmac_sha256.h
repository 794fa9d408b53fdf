/* hmac_sha256 — HMAC-SHA256 under a key prepared once, computed with the
 * CPU's SHA extensions when it has them, else with libsodium.
 *
 * Every message sandcell sends or receives costs one HMAC over about half
 * a kilobyte; libsodium's portable SHA-256 spends ~2,500 instructions a
 * 64-byte block, the SHA extensions (x86-64 SHA-NI) a tenth of that. The
 * two paths give the same MAC (tests/unit/test_signer.c compares them on
 * random keys and messages); only the compression function differs: the
 * padding, the key block and the HMAC construction are the same code
 * shape as RFC 2104 / FIPS 180-4 describe. */
#ifndef SANDCELL_HMAC_SHA256_H
#define SANDCELL_HMAC_SHA256_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HMAC_SHA256_BYTES 32

/* One part of a message to authenticate; does not own |data|. */
typedef struct {
    const void *data;
    size_t size;
} hmac_part_t;

/* SHA-256 state on the accelerated path. */
typedef struct {
    uint32_t h[8];
    unsigned char buf[64];
    size_t buf_len;
    uint64_t total; /* bytes hashed so far */
} hmac_sha_state_t;

/* A prepared key: the states after the inner and outer key blocks. */
typedef struct {
    bool accelerated;
    crypto_auth_hmacsha256_state sodium;     /* when !accelerated */
    hmac_sha_state_t inner, outer;           /* when accelerated */
} hmac_sha256_key_t;

/* True if this CPU has the SHA extensions (and SSSE3, SSE4.1). */
bool hmac_sha256_accelerated(void);

/* Prepares |key| (|len| bytes, any length) into |out|, on the accelerated
 * path if |accelerate| is true and the CPU allows it. */
void hmac_sha256_key_init(hmac_sha256_key_t *out, const void *key, size_t len, bool accelerate);

/* The HMAC of the concatenation of |n| parts, into |mac|. */
void hmac_sha256(const hmac_sha256_key_t *key, const hmac_part_t *parts, size_t n,
                 unsigned char mac[HMAC_SHA256_BYTES]);

/* Wipes |key|. */
void hmac_sha256_key_clear(hmac_sha256_key_t *key);

#endif
