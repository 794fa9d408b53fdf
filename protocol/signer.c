/* signer — HMAC-SHA256 over the raw frames, with a bounded replay memory.
 *
 * The replay memory stores 64-bit prefixes of authentic MACs only: an
 * attacker without the key cannot fill it, and a prefix collision between
 * two honest messages has probability ~2^-50 over a whole window. */
#include "signer.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GEN_MIN_SLOTS 64
#define GEN_MAX_SLOTS (2 * SIGNER_REPLAY_WINDOW)

typedef struct {
    uint64_t *slots; /* open addressing, 0 = empty */
    size_t nslots;   /* power of two */
    size_t count;
} generation_t;

struct signer {
    /* The HMAC state after the key block: copying it costs a memcpy, while
     * crypto_auth_hmacsha256_init hashes the padded key twice per message. */
    crypto_auth_hmacsha256_state keyed;
    generation_t young, old;
};

signer_t *signer_new(const void *key, size_t key_len)
{
    if (key_len == 0 || sodium_init() < 0)
        return NULL;
    signer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    crypto_auth_hmacsha256_init(&self->keyed, key, key_len);
    return self;
}

void signer_destroy(signer_t **self_p)
{
    signer_t *self = *self_p;
    if (!self)
        return;
    sodium_memzero(&self->keyed, sizeof self->keyed);
    free(self->young.slots);
    free(self->old.slots);
    free(self);
    *self_p = NULL;
}

static void s_mac(const signer_t *self, const wire_frame_t frames[4],
                  unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st = self->keyed;
    for (int i = 0; i < 4; i++)
        crypto_auth_hmacsha256_update(&st, frames[i].data, frames[i].size);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
}

void signer_sign(const signer_t *self, const wire_frame_t frames[4], char *hex)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    s_mac(self, frames, mac);
    sodium_bin2hex(hex, SIGNER_HEX_LEN + 1, mac, sizeof mac);
}

static bool s_generation_has(const generation_t *gen, uint64_t tag)
{
    if (!gen->slots)
        return false;
    size_t mask = gen->nslots - 1;
    for (size_t i = tag & mask;; i = (i + 1) & mask) {
        if (gen->slots[i] == tag)
            return true;
        if (gen->slots[i] == 0)
            return false;
    }
}

static void s_generation_put(generation_t *gen, uint64_t tag)
{
    size_t mask = gen->nslots - 1;
    size_t i = tag & mask;
    while (gen->slots[i] != 0)
        i = (i + 1) & mask;
    gen->slots[i] = tag;
    gen->count++;
}

/* Grows |gen| to |nslots| slots, rehashing; returns -1 on allocation failure. */
static int s_generation_resize(generation_t *gen, size_t nslots)
{
    generation_t bigger = {calloc(nslots, sizeof(uint64_t)), nslots, 0};
    if (!bigger.slots)
        return -1;
    for (size_t i = 0; i < gen->nslots; i++)
        if (gen->slots[i])
            s_generation_put(&bigger, gen->slots[i]);
    free(gen->slots);
    *gen = bigger;
    return 0;
}

/* Remembers |tag|. When the young generation is full it becomes the old one
 * and the previous old one is forgotten. */
static void s_remember(signer_t *self, uint64_t tag)
{
    generation_t *young = &self->young;
    if (2 * (young->count + 1) > young->nslots) {
        if (young->nslots < GEN_MAX_SLOTS) {
            size_t want = young->nslots ? 2 * young->nslots : GEN_MIN_SLOTS;
            if (s_generation_resize(young, want) < 0)
                return;
        } else {
            free(self->old.slots);
            self->old = *young;
            *young = (generation_t){0};
            if (s_generation_resize(young, GEN_MIN_SLOTS) < 0)
                return;
        }
    }
    s_generation_put(young, tag);
}

int signer_verify(signer_t *self, const wire_frame_t *signature,
                  const wire_frame_t frames[4], proto_err_t *err)
{
    if (signature->size == 0) {
        *err = PROTO_ERR_UNSIGNED;
        return -1;
    }
    char expected[SIGNER_HEX_LEN + 1];
    signer_sign(self, frames, expected);
    if (signature->size != SIGNER_HEX_LEN ||
        sodium_memcmp(expected, signature->data, SIGNER_HEX_LEN) != 0) {
        *err = PROTO_ERR_BAD_SIGNATURE;
        return -1;
    }
    uint64_t tag;
    unsigned char mac[8];
    sodium_hex2bin(mac, sizeof mac, expected, 16, NULL, NULL, NULL);
    memcpy(&tag, mac, sizeof tag);
    if (tag == 0)
        tag = 1;
    if (s_generation_has(&self->young, tag) || s_generation_has(&self->old, tag)) {
        *err = PROTO_ERR_REPLAYED;
        return -1;
    }
    s_remember(self, tag);
    *err = PROTO_OK;
    return 0;
}
