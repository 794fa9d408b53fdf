/* hmac_sha256 — HMAC-SHA256 (RFC 2104) over SHA-256 (FIPS 180-4). The
 * accelerated path's compression function uses the x86-64 SHA extensions
 * (the layout of the state in two registers, ABEF and CDGH, is the one
 * those instructions want); everything around it (buffering, padding,
 * the key blocks) is plain C. Without the extensions, libsodium does all
 * of it. */
#include "hmac_sha256.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI_CODE 1
#endif

#ifdef HAVE_SHA_NI_CODE
static const uint32_t s_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

/* Runs |blocks| 64-byte blocks of |p| through the compression function. */
__attribute__((target("sha,ssse3,sse4.1"))) static void
s_compress(uint32_t h[8], const unsigned char *p, size_t blocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&h[0]);
    __m128i st1 = _mm_loadu_si128((const __m128i *)&h[4]);
    tmp = _mm_shuffle_epi32(tmp, 0xB1);         /* CDAB */
    st1 = _mm_shuffle_epi32(st1, 0x1B);         /* EFGH */
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8); /* ABEF */
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);      /* CDGH */
    for (; blocks > 0; blocks--, p += 64) {
        __m128i save0 = st0, save1 = st1;
        __m128i w[4]; /* w[i & 3]: message words 4i..4i+3 */
        for (int i = 0; i < 16; i++) {
            if (i < 4) {
                w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
            } else {
                /* W[i] from W[i-4] (w[i&3]), W[i-3], W[i-2], W[i-1]. */
                __m128i t = _mm_sha256msg1_epu32(w[i & 3], w[(i + 1) & 3]);
                t = _mm_add_epi32(t, _mm_alignr_epi8(w[(i + 3) & 3], w[(i + 2) & 3], 4));
                w[i & 3] = _mm_sha256msg2_epu32(t, w[(i + 3) & 3]);
            }
            __m128i m = _mm_add_epi32(w[i & 3], _mm_loadu_si128((const __m128i *)&s_k[4 * i]));
            st1 = _mm_sha256rnds2_epu32(st1, st0, m);
            m = _mm_shuffle_epi32(m, 0x0E);
            st0 = _mm_sha256rnds2_epu32(st0, st1, m);
        }
        st0 = _mm_add_epi32(st0, save0);
        st1 = _mm_add_epi32(st1, save1);
    }
    tmp = _mm_shuffle_epi32(st0, 0x1B);    /* FEBA */
    st1 = _mm_shuffle_epi32(st1, 0xB1);    /* DCHG */
    st0 = _mm_blend_epi16(tmp, st1, 0xF0); /* DCBA */
    st1 = _mm_alignr_epi8(st1, tmp, 8);    /* HGFE */
    _mm_storeu_si128((__m128i *)&h[0], st0);
    _mm_storeu_si128((__m128i *)&h[4], st1);
}

bool hmac_sha256_accelerated(void)
{
    static int cached = -1;
    if (cached < 0) {
        unsigned a, b, c, d;
        bool sha = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
        bool sse = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 9)) && (c & (1u << 19));
        cached = sha && sse;
    }
    return cached;
}

static void s_init(hmac_sha_state_t *st)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(st->h, iv, sizeof iv);
    st->buf_len = 0;
    st->total = 0;
}

static void s_update(hmac_sha_state_t *st, const unsigned char *p, size_t len)
{
    if (len == 0)
        return;
    st->total += len;
    if (st->buf_len) {
        size_t take = 64 - st->buf_len < len ? 64 - st->buf_len : len;
        memcpy(st->buf + st->buf_len, p, take);
        st->buf_len += take;
        p += take;
        len -= take;
        if (st->buf_len < 64)
            return;
        s_compress(st->h, st->buf, 1);
        st->buf_len = 0;
    }
    if (len >= 64) {
        s_compress(st->h, p, len / 64);
        p += len - len % 64;
        len %= 64;
    }
    memcpy(st->buf, p, len);
    st->buf_len = len;
}

static void s_final(hmac_sha_state_t *st, unsigned char out[32])
{
    uint64_t bits = st->total * 8;
    unsigned char pad[72] = {0x80};
    size_t pad_len = (st->buf_len < 56 ? 56 : 120) - st->buf_len;
    for (int i = 0; i < 8; i++)
        pad[pad_len + i] = (unsigned char)(bits >> (56 - 8 * i));
    s_update(st, pad, pad_len + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(st->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(st->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(st->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)st->h[i];
    }
}
#else
bool hmac_sha256_accelerated(void)
{
    return false;
}
#endif

void hmac_sha256_key_init(hmac_sha256_key_t *out, const void *key, size_t len, bool accelerate)
{
    memset(out, 0, sizeof *out);
    out->accelerated = accelerate && hmac_sha256_accelerated();
    if (!out->accelerated) {
        crypto_auth_hmacsha256_init(&out->sodium, key, len);
        return;
    }
#ifdef HAVE_SHA_NI_CODE
    unsigned char block[64] = {0}, pad[64];
    if (len > sizeof block)
        crypto_hash_sha256(block, key, len);
    else
        memcpy(block, key, len);
    for (int i = 0; i < 64; i++)
        pad[i] = block[i] ^ 0x36;
    s_init(&out->inner);
    s_update(&out->inner, pad, 64);
    for (int i = 0; i < 64; i++)
        pad[i] = block[i] ^ 0x5c;
    s_init(&out->outer);
    s_update(&out->outer, pad, 64);
    sodium_memzero(block, sizeof block);
    sodium_memzero(pad, sizeof pad);
#endif
}

void hmac_sha256(const hmac_sha256_key_t *key, const hmac_part_t *parts, size_t n,
                 unsigned char mac[HMAC_SHA256_BYTES])
{
    if (!key->accelerated) {
        crypto_auth_hmacsha256_state st = key->sodium;
        for (size_t i = 0; i < n; i++)
            crypto_auth_hmacsha256_update(&st, parts[i].data, parts[i].size);
        crypto_auth_hmacsha256_final(&st, mac);
        sodium_memzero(&st, sizeof st);
        return;
    }
#ifdef HAVE_SHA_NI_CODE
    hmac_sha_state_t st = key->inner;
    unsigned char inner[32];
    for (size_t i = 0; i < n; i++)
        s_update(&st, parts[i].data, parts[i].size);
    s_final(&st, inner);
    st = key->outer;
    s_update(&st, inner, sizeof inner);
    s_final(&st, mac);
    sodium_memzero(&st, sizeof st);
    sodium_memzero(inner, sizeof inner);
#endif
}

void hmac_sha256_key_clear(hmac_sha256_key_t *key)
{
    sodium_memzero(key, sizeof *key);
}
