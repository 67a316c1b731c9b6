/*
 * nacre_target.c - Nacre's additions to libsodium for the Cortex-M33 board
 * (boards/qemu-mps2-an505), where the Secure image has a 64 KiB flash
 * budget. Written for Nacre from the specifications; not libsodium code.
 * Overlaid on Debian's libsodium source by subprojects/libsodium.wrap.
 *
 *  1. sodium_init() asks each primitive family for its best implementation;
 *     the families this build leaves out (Argon2, X25519, Salsa20) get
 *     choosers that do nothing.
 *  2. ge25519_scalarmult_base() without libsodium's 30 KiB precomputed table:
 *     the constant-time variable-base ge25519_scalarmult() (4-bit signed
 *     window, cmov table lookups; "p is public") on the base point. The
 *     table version is renamed away at compile time (meson.build) and
 *     dropped by --gc-sections. Slower (key generation and signing only;
 *     verification does not use it), 30 KiB smaller.
 *  3. blake2b_compress_ref() with one round written out and a loop over the
 *     twelve (RFC 7693 §3.2) instead of libsodium's fully unrolled twelve:
 *     a few KiB instead of 14 KiB.
 *  4. SHA-512 (FIPS 180-4 §6.4) with a rolled compression function, for the
 *     same reason; the constants are computed (cube and square roots of the
 *     first primes) when this file was written.
 * The target unit tests check each against published vectors (RFC 8032,
 * RFC 7693, FIPS 180-4 "abc"), and every image the board boots is checked
 * against digests and signatures made on the host by the system libsodium.
 */
#include <stdint.h>
#include <string.h>

#include "crypto_hash_sha512.h"
#include "private/ed25519_ref10.h"
#include "crypto_generichash/blake2b/ref/blake2.h"

int _crypto_pwhash_argon2_pick_best_implementation(void);
int _crypto_scalarmult_curve25519_pick_best_implementation(void);
int _crypto_stream_salsa20_pick_best_implementation(void);

int _crypto_pwhash_argon2_pick_best_implementation(void)
{
    return 0;
}

int _crypto_scalarmult_curve25519_pick_best_implementation(void)
{
    return 0;
}

int _crypto_stream_salsa20_pick_best_implementation(void)
{
    return 0;
}

/* ---- 2. h = a * B -------------------------------------------------------- */

void ge25519_scalarmult_base(ge25519_p3 *h, const unsigned char *a)
{
    /* The Ed25519 base point, encoded (RFC 8032 §5.1): y = 4/5, x positive. */
    static const unsigned char b_enc[32] = {
        0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
        0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
        0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    };
    ge25519_p3 b;
    (void) ge25519_frombytes(&b, b_enc);
    ge25519_scalarmult(h, a, &b);
}

/* ---- 3. BLAKE2b compression ------------------------------------------------ */

static const uint64_t blake2b_iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t blake2b_sigma[10][16] = {
    { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
    { 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
    { 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 },
    { 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 },
    { 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 },
    { 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 },
    { 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 },
    { 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 },
    { 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 },
    { 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 },
};

static inline __attribute__((always_inline)) uint64_t nrotr64(uint64_t x, unsigned n)
{
    return (x >> n) | (x << (64 - n));
}

static uint64_t nload64_le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

int blake2b_compress_ref(blake2b_state *S, const uint8_t block[BLAKE2B_BLOCKBYTES])
{
    uint64_t m[16], v[16];
    for (int i = 0; i < 16; i++) {
        m[i] = nload64_le(block + 8 * i);
    }
    for (int i = 0; i < 8; i++) {
        v[i] = S->h[i];
        v[i + 8] = blake2b_iv[i];
    }
    v[12] ^= S->t[0];
    v[13] ^= S->t[1];
    v[14] ^= S->f[0];
    v[15] ^= S->f[1];
    /* One round written out (constant v indices, so the 64-bit rotations
     * compile to shifts), the twelve rounds a loop. */
#define NACRE_G(a, b, c, d, k)                     \
    do {                                           \
        v[a] = v[a] + v[b] + m[s[2 * (k)]];        \
        v[d] = nrotr64(v[d] ^ v[a], 32);           \
        v[c] = v[c] + v[d];                        \
        v[b] = nrotr64(v[b] ^ v[c], 24);           \
        v[a] = v[a] + v[b] + m[s[2 * (k) + 1]];    \
        v[d] = nrotr64(v[d] ^ v[a], 16);           \
        v[c] = v[c] + v[d];                        \
        v[b] = nrotr64(v[b] ^ v[c], 63);           \
    } while (0)
    for (int r = 0; r < 12; r++) {
        const uint8_t *s = blake2b_sigma[r % 10];
        NACRE_G(0, 4, 8, 12, 0);
        NACRE_G(1, 5, 9, 13, 1);
        NACRE_G(2, 6, 10, 14, 2);
        NACRE_G(3, 7, 11, 15, 3);
        NACRE_G(0, 5, 10, 15, 4);
        NACRE_G(1, 6, 11, 12, 5);
        NACRE_G(2, 7, 8, 13, 6);
        NACRE_G(3, 4, 9, 14, 7);
    }
#undef NACRE_G
    for (int i = 0; i < 8; i++) {
        S->h[i] ^= v[i] ^ v[i + 8];
    }
    return 0;
}

/* ---- 4. SHA-512 ---------------------------------------------------------------- */

static const uint64_t sha512_k[80] = {
    0x428a2f98d728ae22ULL, 0x7137449123ef65cdULL, 0xb5c0fbcfec4d3b2fULL,
    0xe9b5dba58189dbbcULL, 0x3956c25bf348b538ULL, 0x59f111f1b605d019ULL,
    0x923f82a4af194f9bULL, 0xab1c5ed5da6d8118ULL, 0xd807aa98a3030242ULL,
    0x12835b0145706fbeULL, 0x243185be4ee4b28cULL, 0x550c7dc3d5ffb4e2ULL,
    0x72be5d74f27b896fULL, 0x80deb1fe3b1696b1ULL, 0x9bdc06a725c71235ULL,
    0xc19bf174cf692694ULL, 0xe49b69c19ef14ad2ULL, 0xefbe4786384f25e3ULL,
    0x0fc19dc68b8cd5b5ULL, 0x240ca1cc77ac9c65ULL, 0x2de92c6f592b0275ULL,
    0x4a7484aa6ea6e483ULL, 0x5cb0a9dcbd41fbd4ULL, 0x76f988da831153b5ULL,
    0x983e5152ee66dfabULL, 0xa831c66d2db43210ULL, 0xb00327c898fb213fULL,
    0xbf597fc7beef0ee4ULL, 0xc6e00bf33da88fc2ULL, 0xd5a79147930aa725ULL,
    0x06ca6351e003826fULL, 0x142929670a0e6e70ULL, 0x27b70a8546d22ffcULL,
    0x2e1b21385c26c926ULL, 0x4d2c6dfc5ac42aedULL, 0x53380d139d95b3dfULL,
    0x650a73548baf63deULL, 0x766a0abb3c77b2a8ULL, 0x81c2c92e47edaee6ULL,
    0x92722c851482353bULL, 0xa2bfe8a14cf10364ULL, 0xa81a664bbc423001ULL,
    0xc24b8b70d0f89791ULL, 0xc76c51a30654be30ULL, 0xd192e819d6ef5218ULL,
    0xd69906245565a910ULL, 0xf40e35855771202aULL, 0x106aa07032bbd1b8ULL,
    0x19a4c116b8d2d0c8ULL, 0x1e376c085141ab53ULL, 0x2748774cdf8eeb99ULL,
    0x34b0bcb5e19b48a8ULL, 0x391c0cb3c5c95a63ULL, 0x4ed8aa4ae3418acbULL,
    0x5b9cca4f7763e373ULL, 0x682e6ff3d6b2b8a3ULL, 0x748f82ee5defb2fcULL,
    0x78a5636f43172f60ULL, 0x84c87814a1f0ab72ULL, 0x8cc702081a6439ecULL,
    0x90befffa23631e28ULL, 0xa4506cebde82bde9ULL, 0xbef9a3f7b2c67915ULL,
    0xc67178f2e372532bULL, 0xca273eceea26619cULL, 0xd186b8c721c0c207ULL,
    0xeada7dd6cde0eb1eULL, 0xf57d4f7fee6ed178ULL, 0x06f067aa72176fbaULL,
    0x0a637dc5a2c898a6ULL, 0x113f9804bef90daeULL, 0x1b710b35131c471bULL,
    0x28db77f523047d84ULL, 0x32caab7b40c72493ULL, 0x3c9ebe0a15c9bebcULL,
    0x431d67c49c100d4cULL, 0x4cc5d4becb3e42b6ULL, 0x597f299cfc657e2aULL,
    0x5fcb6fab3ad6faecULL, 0x6c44198c4a475817ULL,
};
static const uint64_t sha512_iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL,
    0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
    0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static uint64_t nload64_be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void nstore64_be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t) v;
        v >>= 8;
    }
}

static void sha512_block(uint64_t st[8], const uint8_t *blk)
{
    uint64_t w[16], s[8];
    memcpy(s, st, sizeof s);
    for (int t = 0; t < 80; t++) {
        uint64_t wt;
        if (t < 16) {
            wt = w[t] = nload64_be(blk + 8 * t);
        } else {
            uint64_t w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
            uint64_t s0 = nrotr64(w15, 1) ^ nrotr64(w15, 8) ^ (w15 >> 7);
            uint64_t s1 = nrotr64(w2, 19) ^ nrotr64(w2, 61) ^ (w2 >> 6);
            wt = w[t & 15] = w[t & 15] + s0 + w[(t - 7) & 15] + s1;
        }
        uint64_t e = s[4], a = s[0];
        uint64_t t1 = s[7] + (nrotr64(e, 14) ^ nrotr64(e, 18) ^ nrotr64(e, 41)) +
                      ((e & s[5]) ^ (~e & s[6])) + sha512_k[t] + wt;
        uint64_t t2 = (nrotr64(a, 28) ^ nrotr64(a, 34) ^ nrotr64(a, 39)) +
                      ((a & s[1]) ^ (a & s[2]) ^ (s[1] & s[2]));
        memmove(s + 1, s, 7 * sizeof s[0]);
        s[4] += t1;
        s[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++) {
        st[i] += s[i];
    }
}

/* count[1]: message length in bits (low word), count[0]: high word. */
int crypto_hash_sha512_init(crypto_hash_sha512_state *state)
{
    memcpy(state->state, sha512_iv, sizeof state->state);
    state->count[0] = state->count[1] = 0;
    return 0;
}

int crypto_hash_sha512_update(crypto_hash_sha512_state *state, const unsigned char *in,
                              unsigned long long inlen)
{
    size_t used = (size_t) ((state->count[1] >> 3) & 127);
    uint64_t bits = (uint64_t) inlen << 3;
    state->count[0] += (uint64_t) inlen >> 61;
    if ((state->count[1] += bits) < bits) {
        state->count[0]++;
    }
    while (inlen > 0) {
        size_t n = 128 - used;
        if (n > inlen) {
            n = (size_t) inlen;
        }
        memcpy(state->buf + used, in, n);
        used += n;
        in += n;
        inlen -= n;
        if (used == 128) {
            sha512_block(state->state, state->buf);
            used = 0;
        }
    }
    return 0;
}

int crypto_hash_sha512_final(crypto_hash_sha512_state *state, unsigned char *out)
{
    size_t used = (size_t) ((state->count[1] >> 3) & 127);
    state->buf[used++] = 0x80;
    if (used > 112) {
        memset(state->buf + used, 0, 128 - used);
        sha512_block(state->state, state->buf);
        used = 0;
    }
    memset(state->buf + used, 0, 112 - used);
    nstore64_be(state->buf + 112, state->count[0]);
    nstore64_be(state->buf + 120, state->count[1]);
    sha512_block(state->state, state->buf);
    for (int i = 0; i < 8; i++) {
        nstore64_be(out + 8 * i, state->state[i]);
    }
    memset(state, 0, sizeof *state);
    return 0;
}

int crypto_hash_sha512(unsigned char *out, const unsigned char *in, unsigned long long inlen)
{
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, in, inlen);
    crypto_hash_sha512_final(&st, out);
    return 0;
}
