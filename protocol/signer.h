/* signer — HMAC-SHA256 signing and verification of wire messages.
 *
 * A signer holds one key. Verification runs over the raw frames, before
 * anything is parsed: the signature frame must be exactly 64 hex digits and
 * is compared in constant time. A signature that verified once is
 * remembered, and the same signature arriving again is rejected as a
 * replay. The memory is bounded: two generations of a hash set of 64-bit
 * prefixes of the MAC; when the young one fills, the old one is dropped, so
 * at least SIGNER_REPLAY_WINDOW recent signatures are always remembered. */
#ifndef SANDCELL_SIGNER_H
#define SANDCELL_SIGNER_H

#include <stddef.h>
#include "proto_error.h"

#define SIGNER_HEX_LEN 64
#define SIGNER_REPLAY_WINDOW 16384

typedef struct signer signer_t;

/* A view of one frame; does not own |data|. */
typedef struct {
    const void *data;
    size_t size;
} wire_frame_t;

/* Creates a signer for |key| (|key_len| bytes, must be > 0).
 * Caller owns the result; returns NULL on allocation failure or empty key. */
signer_t *signer_new(const void *key, size_t key_len);

/* Destroys *self_p and sets it to NULL; no-op on NULL. */
void signer_destroy(signer_t **self_p);

/* Writes the hex HMAC of the four JSON frames (header, parent, metadata,
 * content) into |hex| (SIGNER_HEX_LEN + 1 bytes, NUL-terminated). */
void signer_sign(const signer_t *self, const wire_frame_t frames[4], char *hex);

/* Checks |signature| against the four JSON frames, then against the replay
 * memory; remembers it when it is valid and new. Returns 0 or -1 with
 * *err set to PROTO_ERR_UNSIGNED, _BAD_SIGNATURE or _REPLAYED. */
int signer_verify(signer_t *self, const wire_frame_t *signature,
                  const wire_frame_t frames[4], proto_err_t *err);

#endif
