/*
 * libupdate image format (nacre/image.h, docs/image-format.md): round trips,
 * the documented layout recomputed with raw libsodium, offline signing with
 * libsodium and with the openssl binary, and bad input. Bad input is either
 * a single bit flipped in a good image (every header byte, every byte of
 * both TLV areas, sampled payload bytes) or an image hand-assembled here by
 * a small builder that follows the documentation, not the library, and
 * signs the result with the test keys so that each refusal comes from the
 * check it targets rather than from the signature. Each case asserts its
 * own status, and that verification never writes to the image.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "update_support.h" /* includes test_support.h (which has no include guard) */

/* Documented offsets and sizes (docs/image-format.md), restated here so that
 * the tests check the documentation rather than the library's own macros. */
#define H_PROTECTED_SIZE 8
#define H_PAYLOAD_OFFSET 12
#define H_PAYLOAD_SIZE 16
#define T_END 0x0000
#define T_COMPONENT 0x0001
#define T_VERSION 0x0002
#define T_SECURITY_COUNTER 0x0003
#define T_PAYLOAD_DIGEST 0x0004
#define T_SIGNER_KEY_ID 0x0005
#define T_DEPENDENCY 0x0006
#define T_SIGNATURE 0x0101
#define T_KEY_CERT 0x0102
#define T_ROOT_KEY 0x0103
#define UNPROTECTED_RESERVE 216u /* SIGNATURE (4 + 64) + KEY_CERT (4 + 144) */

static struct upd_keys K;     /* the device's keys */
static struct upd_keys OTHER; /* an unrelated root and signer */
#define K_EPOCH 3u

static int setup(void **state)
{
    (void)state;
    upd_keys_make(&K, 1, K_EPOCH);
    upd_keys_make(&OTHER, 2, K_EPOCH);
    return 0;
}

/* ---- little helpers ---------------------------------------------------------- */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static size_t round_up(size_t v, size_t a)
{
    return (v + a - 1) / a * a;
}

static void b2b(uint8_t out[32], const uint8_t *in, size_t len)
{
    assert_int_equal(crypto_generichash(out, 32, in, len, NULL, 0), 0);
}

/* nacre_image_verify, asserting that the image bytes are left as they were. */
static nacre_update_status verify_ro(const uint8_t *img, size_t len, const struct nacre_image_policy *pol,
                                     struct nacre_image_info *info)
{
    struct nacre_image_info local;
    uint8_t *before = malloc(len + 1);
    assert_non_null(before);
    memcpy(before, img, len);
    nacre_update_status s = nacre_image_verify(img, len, pol, info != NULL ? info : &local);
    assert_memory_equal(before, img, len);
    free(before);
    return s;
}

static nacre_update_status verify_k(const uint8_t *img, size_t len)
{
    struct nacre_image_policy pol;
    upd_policy(&pol, &K, NULL);
    return verify_ro(img, len, &pol, NULL);
}

/* Whole-image assertion with a readable failure: status names, not numbers. */
#define assert_status(got, want)                                                           \
    do {                                                                                   \
        nacre_update_status got_ = (got), want_ = (want);                                  \
        if (got_ != want_) {                                                               \
            print_error("status: got %d (%s), want %d (%s)\n", (int)got_,                   \
                        nacre_update_strerror(got_), (int)want_, nacre_update_strerror(want_)); \
        }                                                                                  \
        assert_int_equal(got_, want_);                                                     \
    } while (0)

/* ---- the documented layout, checked byte by byte ------------------------------ */

/* Checks img against docs/image-format.md with raw libsodium. */
static void expect_layout(const uint8_t *img, size_t len, const struct nacre_image_info *info,
                          const uint8_t signer_pk[32], const uint8_t *cert)
{
    static const uint8_t zero[64];
    assert_true(len >= 64);
    assert_memory_equal(img, "NIMG", 4);
    assert_int_equal(rd16(img + 4), 1);
    assert_int_equal(rd16(img + 6), 64);
    assert_int_equal(rd32(img + 20), 0);
    assert_memory_equal(img + 24, zero, 40);
    uint32_t psize = rd32(img + H_PROTECTED_SIZE);
    uint32_t poff = rd32(img + H_PAYLOAD_OFFSET);
    uint32_t plen = rd32(img + H_PAYLOAD_SIZE);
    assert_int_equal(poff % 256, 0);
    assert_int_equal(poff, round_up(64 + psize + UNPROTECTED_RESERVE, 256));
    assert_int_equal((size_t)poff + plen, len);
    assert_int_equal(info->payload_offset, poff);
    assert_int_equal(info->payload_size, plen);
    assert_int_equal(info->image_size, len);

    /* to-be-signed bytes, measurement, payload digest, key id */
    const uint8_t *tbs = NULL;
    size_t tbs_len = 0;
    assert_status(nacre_image_tbs(img, len, &tbs, &tbs_len), NACRE_UPDATE_OK);
    assert_ptr_equal(tbs, img);
    assert_int_equal(tbs_len, 64 + psize);
    uint8_t d[32];
    b2b(d, img, 64 + psize);
    assert_memory_equal(info->measurement, d, 32);
    b2b(d, img + poff, plen);
    assert_memory_equal(info->payload_digest, d, 32);
    b2b(d, signer_pk, 32);
    assert_memory_equal(info->signer_key_id, d, 32);

    /* The protected area in registry order: COMPONENT first. */
    assert_int_equal(rd16(img + 64), T_COMPONENT);
    assert_int_equal(rd16(img + 66), strlen(info->component));
    assert_memory_equal(img + 68, info->component, strlen(info->component));

    /* Unprotected area: SIGNATURE, then KEY_CERT or ROOT_KEY, then zeros. */
    size_t u = 64 + psize;
    assert_int_equal(rd16(img + u), T_SIGNATURE);
    assert_int_equal(rd16(img + u + 2), 64);
    assert_int_equal(crypto_sign_ed25519_verify_detached(img + u + 4, img, 64 + psize, signer_pk), 0);
    u += 68;
    if (cert != NULL) {
        assert_int_equal(rd16(img + u), T_KEY_CERT);
        assert_int_equal(rd16(img + u + 2), NACRE_KEYCERT_BYTES);
        assert_memory_equal(img + u + 4, cert, NACRE_KEYCERT_BYTES);
        u += 4 + NACRE_KEYCERT_BYTES;
    } else {
        assert_int_equal(rd16(img + u), T_ROOT_KEY);
        assert_int_equal(rd16(img + u + 2), 32);
        assert_memory_equal(img + u + 4, signer_pk, 32);
        u += 36;
    }
    for (; u < poff; u++) {
        assert_int_equal(img[u], 0);
    }
}

static void test_round_trip_root_signed(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *img = upd_image(&len, &K, 0, "app", "1.2.3", 7, 3000, 0x11);
    struct nacre_image_policy pol;
    upd_policy(&pol, &K, "app");
    struct nacre_image_info info;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_OK);
    assert_string_equal(info.component, "app");
    assert_int_equal(info.version.major, 1);
    assert_int_equal(info.version.minor, 2);
    assert_int_equal(info.version.patch, 3);
    assert_int_equal(info.security_counter, 7);
    assert_int_equal(info.payload_size, 3000);
    assert_int_equal(info.dependency_count, 0);
    assert_int_equal(info.signed_by_root, 1);
    assert_int_equal(info.key_epoch, 0);
    assert_int_equal(info.has_signature, 1);
    for (size_t i = 0; i < 3000; i++) {
        assert_int_equal(img[info.payload_offset + i], (uint8_t)(0x11 + i));
    }
    expect_layout(img, len, &info, K.root_pk, NULL);

    /* parse sees the same metadata; check needs only the metadata. */
    struct nacre_image_info parsed, checked;
    assert_status(nacre_image_parse(img, info.payload_offset, &parsed), NACRE_UPDATE_OK);
    assert_memory_equal(parsed.measurement, info.measurement, 32);
    assert_int_equal(parsed.has_signature, 1);
    assert_status(nacre_image_check(img, info.payload_offset, &pol, &checked), NACRE_UPDATE_OK);
    assert_memory_equal(&checked, &info, sizeof info);
    free(img);
}

static void test_round_trip_cert_signed(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *img = upd_image(&len, &K, 1, "net.core-fw_2", "10.0.4294967295", 4000000000u, 5000, 0x80);
    struct nacre_image_policy pol;
    upd_policy(&pol, &K, "net.core-fw_2");
    pol.min_key_epoch = K_EPOCH;
    pol.min_security_counter = 4000000000u;
    pol.max_image_size = (uint32_t)len;
    struct nacre_image_info info;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_OK);
    assert_string_equal(info.component, "net.core-fw_2");
    assert_int_equal(info.version.major, 10);
    assert_int_equal(info.version.minor, 0);
    assert_int_equal(info.version.patch, 4294967295u);
    assert_int_equal(info.security_counter, 4000000000u);
    assert_int_equal(info.signed_by_root, 0);
    assert_int_equal(info.key_epoch, K_EPOCH);
    assert_int_equal(info.has_signature, 1);
    expect_layout(img, len, &info, K.signer_pk, K.cert);
    /* parse alone reports what the (unverified) certificate claims. */
    struct nacre_image_info parsed;
    assert_status(nacre_image_parse(img, len, &parsed), NACRE_UPDATE_OK);
    assert_int_equal(parsed.signed_by_root, 0);
    assert_int_equal(parsed.key_epoch, K_EPOCH);
    free(img);
}

static void test_dependencies_and_empty_payload(void **state)
{
    (void)state;
    struct nacre_image_params params;
    memset(&params, 0, sizeof params);
    params.component = "app";
    params.version = (struct nacre_image_version){2, 0, 1};
    params.security_counter = 1;
    memcpy(params.signer_pk, K.signer_pk, 32);
    params.dependency_count = 4;
    static const char *const names[4] = {"boot", "secmon", "a", "abcdefghijklmnopqrstuvwxyz012345"};
    for (unsigned i = 0; i < 4; i++) {
        strcpy(params.dependencies[i].component, names[i]);
        params.dependencies[i].min_version = (struct nacre_image_version){i, i + 1, i + 2};
    }
    uint8_t *img = NULL;
    size_t len = 0;
    assert_status(nacre_image_create(&img, &len, NULL, 0, &params), NACRE_UPDATE_OK);
    struct nacre_image_info info;
    assert_status(nacre_image_parse(img, len, &info), NACRE_UPDATE_OK);
    assert_int_equal(info.has_signature, 0);
    assert_int_equal(len, info.payload_offset); /* empty payload */
    assert_status(nacre_image_sign(img, len, K.signer_seed, K.cert), NACRE_UPDATE_OK);
    assert_status(verify_k(img, len), NACRE_UPDATE_OK);
    assert_status(verify_ro(img, len, &(struct nacre_image_policy){.root_key_hash = K.root_hash}, &info),
                  NACRE_UPDATE_OK);
    assert_int_equal(info.payload_size, 0);
    assert_int_equal(info.dependency_count, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_string_equal(info.dependencies[i].component, names[i]);
        assert_int_equal(info.dependencies[i].min_version.major, i);
        assert_int_equal(info.dependencies[i].min_version.minor, i + 1);
        assert_int_equal(info.dependencies[i].min_version.patch, i + 2);
    }
    expect_layout(img, len, &info, K.signer_pk, K.cert);
    /* The largest protected area still fits the first 768 bytes. */
    assert_true(info.payload_offset <= 768);
    free(img);
}

/* ---- a hand builder that follows the documentation ------------------------------ */

struct hand {
    const struct upd_keys *k;
    int use_cert;                    /* signer: the certified key (1) or the root (0) */
    uint8_t prot[2048];
    size_t prot_len;
    uint8_t uextra[1024];            /* unprotected bytes after the standard TLVs */
    size_t uextra_len;
    int no_signature;                /* leave out the SIGNATURE TLV */
    int no_signer_tlv;               /* leave out KEY_CERT / ROOT_KEY */
    const uint8_t *sign_seed;        /* sign with this seed instead of the signer's */
    const uint8_t *key_id_pk;        /* SIGNER_KEY_ID names this key instead */
    const uint8_t *cert;             /* KEY_CERT value instead of k->cert */
    const uint8_t *root_key;         /* ROOT_KEY value instead of k->root_pk */
    uint32_t payload_offset;         /* 0: where nacre_image_create puts it */
    size_t payload_len;
    uint8_t fill;                    /* payload byte i = fill + i, as upd_image */
    /* filled by hand_build */
    size_t sig_at;                   /* offset of the SIGNATURE value, 0 if none */
    size_t len;
};

static void hand_init(struct hand *h, const struct upd_keys *k, int use_cert, size_t payload_len)
{
    memset(h, 0, sizeof *h);
    h->k = k;
    h->use_cert = use_cert;
    h->payload_len = payload_len;
    h->fill = 0x5A;
}

/* Appends a TLV whose length field says len_field and whose value is
 * value_len bytes (they differ only for malformed TLVs). */
static void tlv_raw(uint8_t *area, size_t *at, size_t cap, uint16_t type, uint16_t len_field,
                    const void *value, size_t value_len)
{
    assert_true(*at + 4 + value_len <= cap);
    wr16(area + *at, type);
    wr16(area + *at + 2, len_field);
    if (value_len > 0) {
        memcpy(area + *at + 4, value, value_len);
    }
    *at += 4 + value_len;
}

static void hand_tlv(struct hand *h, uint16_t type, const void *value, size_t len)
{
    tlv_raw(h->prot, &h->prot_len, sizeof h->prot, type, (uint16_t)len, value, len);
}

static void hand_bytes(struct hand *h, const void *bytes, size_t len)
{
    assert_true(h->prot_len + len <= sizeof h->prot);
    memcpy(h->prot + h->prot_len, bytes, len);
    h->prot_len += len;
}

static void hand_utlv(struct hand *h, uint16_t type, uint16_t len_field, const void *value, size_t len)
{
    tlv_raw(h->uextra, &h->uextra_len, sizeof h->uextra, type, len_field, value, len);
}

static void payload_digest(const struct hand *h, uint8_t out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    for (size_t i = 0; i < h->payload_len; i++) {
        uint8_t b = (uint8_t)(h->fill + i);
        crypto_generichash_update(&st, &b, 1);
    }
    crypto_generichash_final(&st, out, 32);
}

static const uint8_t *hand_signer_pk(const struct hand *h)
{
    return h->use_cert ? h->k->signer_pk : h->k->root_pk;
}

/* The required TLVs in registry order, leaving out the types in omit
 * (a bit mask by type number). */
#define OMIT(t) (1u << (t))
static void hand_std_with(struct hand *h, unsigned omit, const char *component, uint32_t sc)
{
    uint8_t v[32];
    if (!(omit & OMIT(T_COMPONENT))) {
        hand_tlv(h, T_COMPONENT, component, strlen(component));
    }
    if (!(omit & OMIT(T_VERSION))) {
        wr32(v, 1);
        wr32(v + 4, 2);
        wr32(v + 8, 3);
        hand_tlv(h, T_VERSION, v, 12);
    }
    if (!(omit & OMIT(T_SECURITY_COUNTER))) {
        wr32(v, sc);
        hand_tlv(h, T_SECURITY_COUNTER, v, 4);
    }
    if (!(omit & OMIT(T_PAYLOAD_DIGEST))) {
        payload_digest(h, v);
        hand_tlv(h, T_PAYLOAD_DIGEST, v, 32);
    }
    if (!(omit & OMIT(T_SIGNER_KEY_ID))) {
        b2b(v, h->key_id_pk != NULL ? h->key_id_pk : hand_signer_pk(h), 32);
        hand_tlv(h, T_SIGNER_KEY_ID, v, 32);
    }
}

static void hand_std(struct hand *h, unsigned omit)
{
    hand_std_with(h, omit, "app", 7);
}

static void hand_dependency(struct hand *h, uint32_t major, const char *name)
{
    uint8_t v[12 + 64];
    size_t n = strlen(name);
    assert_true(n <= 64);
    wr32(v, major);
    wr32(v + 4, 0);
    wr32(v + 8, 0);
    memcpy(v + 12, name, n);
    hand_tlv(h, T_DEPENDENCY, v, 12 + n);
}

/* Bytes the standard unprotected TLVs take. */
static size_t hand_unprot_used(const struct hand *h)
{
    size_t used = h->uextra_len;
    if (!h->no_signature) {
        used += 4 + 64;
    }
    if (!h->no_signer_tlv) {
        used += h->use_cert ? 4 + NACRE_KEYCERT_BYTES : 4 + 32;
    }
    return used;
}

/* Signs header || protected area of img in place (the SIGNATURE value). */
static void hand_resign(const struct hand *h, uint8_t *img)
{
    if (h->sig_at == 0) {
        return;
    }
    size_t tbs_len = 64 + (size_t)rd32(img + H_PROTECTED_SIZE);
    assert_true(tbs_len <= h->sig_at);
    const uint8_t *seed = h->sign_seed != NULL ? h->sign_seed
                                               : h->use_cert ? h->k->signer_seed : h->k->root_seed;
    uint8_t pk[32], sk[64];
    assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
    assert_int_equal(crypto_sign_detached(img + h->sig_at, NULL, img, tbs_len, sk), 0);
    sodium_memzero(sk, sizeof sk);
}

/* Assembles header || protected || unprotected || payload and signs it. */
static uint8_t *hand_build(struct hand *h, size_t *len)
{
    size_t used = hand_unprot_used(h);
    size_t poff = h->payload_offset;
    if (poff == 0) {
        poff = round_up(64 + h->prot_len + (used > UNPROTECTED_RESERVE ? used : UNPROTECTED_RESERVE), 256);
    }
    assert_true(poff >= 64 + h->prot_len + used);
    h->len = poff + h->payload_len;
    uint8_t *img = calloc(1, h->len);
    assert_non_null(img);
    memcpy(img, "NIMG", 4);
    wr16(img + 4, 1);
    wr16(img + 6, 64);
    wr32(img + H_PROTECTED_SIZE, (uint32_t)h->prot_len);
    wr32(img + H_PAYLOAD_OFFSET, (uint32_t)poff);
    wr32(img + H_PAYLOAD_SIZE, (uint32_t)h->payload_len);
    memcpy(img + 64, h->prot, h->prot_len);
    size_t u = 64 + h->prot_len;
    h->sig_at = 0;
    if (!h->no_signature) {
        wr16(img + u, T_SIGNATURE);
        wr16(img + u + 2, 64);
        h->sig_at = u + 4;
        u += 68;
    }
    if (!h->no_signer_tlv) {
        if (h->use_cert) {
            wr16(img + u, T_KEY_CERT);
            wr16(img + u + 2, NACRE_KEYCERT_BYTES);
            memcpy(img + u + 4, h->cert != NULL ? h->cert : h->k->cert, NACRE_KEYCERT_BYTES);
            u += 4 + NACRE_KEYCERT_BYTES;
        } else {
            wr16(img + u, T_ROOT_KEY);
            wr16(img + u + 2, 32);
            memcpy(img + u + 4, h->root_key != NULL ? h->root_key : h->k->root_pk, 32);
            u += 36;
        }
    }
    memcpy(img + u, h->uextra, h->uextra_len);
    for (size_t i = 0; i < h->payload_len; i++) {
        img[poff + i] = (uint8_t)(h->fill + i);
    }
    hand_resign(h, img);
    *len = h->len;
    return img;
}

/* Builds, verifies against K's policy, frees; returns the status. */
static nacre_update_status hand_verify(struct hand *h)
{
    size_t len = 0;
    uint8_t *img = hand_build(h, &len);
    nacre_update_status s = verify_k(img, len);
    free(img);
    return s;
}

static void test_hand_builder_matches_library(void **state)
{
    (void)state;
    /* The documentation, followed by hand, gives the library's bytes. */
    for (int use_cert = 0; use_cert <= 1; use_cert++) {
        size_t lib_len = 0, hand_len = 0;
        uint8_t *lib = upd_image(&lib_len, &K, use_cert, "app", "1.2.3", 7, 1000, 0x5A);
        struct hand h;
        hand_init(&h, &K, use_cert, 1000);
        hand_std(&h, 0);
        uint8_t *img = hand_build(&h, &hand_len);
        assert_int_equal(hand_len, lib_len);
        assert_memory_equal(img, lib, lib_len);
        assert_status(verify_k(img, hand_len), NACRE_UPDATE_OK);
        free(img);
        free(lib);
    }
}

/* ---- offline signing ------------------------------------------------------------ */

static uint8_t *unsigned_image(size_t *len, const uint8_t signer_pk[32], size_t payload_len)
{
    struct nacre_image_params params;
    memset(&params, 0, sizeof params);
    params.component = "app";
    params.version = (struct nacre_image_version){1, 0, 0};
    params.security_counter = 2;
    memcpy(params.signer_pk, signer_pk, 32);
    uint8_t *payload = malloc(payload_len + 1);
    assert_non_null(payload);
    randombytes_buf(payload, payload_len);
    uint8_t *img = NULL;
    assert_status(nacre_image_create(&img, len, payload, payload_len, &params), NACRE_UPDATE_OK);
    free(payload);
    return img;
}

static void test_offline_signing_libsodium(void **state)
{
    (void)state;
    for (int use_cert = 0; use_cert <= 1; use_cert++) {
        const uint8_t *seed = use_cert ? K.signer_seed : K.root_seed;
        const uint8_t *pk = use_cert ? K.signer_pk : K.root_pk;
        size_t len = 0;
        uint8_t *img = unsigned_image(&len, pk, 4096);
        assert_status(verify_k(img, len), NACRE_UPDATE_ERR_UNSIGNED);

        /* The tbs bytes leave the machine; a signature comes back. */
        const uint8_t *tbs = NULL;
        size_t tbs_len = 0;
        assert_status(nacre_image_tbs(img, len, &tbs, &tbs_len), NACRE_UPDATE_OK);
        assert_true(tbs_len < 512);
        uint8_t sk[64], pk2[32], sig[64];
        assert_int_equal(crypto_sign_seed_keypair(pk2, sk, seed), 0);
        assert_int_equal(crypto_sign_detached(sig, NULL, tbs, tbs_len, sk), 0);
        sodium_memzero(sk, sizeof sk);
        assert_status(nacre_image_attach_signature(img, len, sig, use_cert ? K.cert : NULL,
                                                   use_cert ? NULL : K.root_pk),
                      NACRE_UPDATE_OK);
        struct nacre_image_info info;
        struct nacre_image_policy pol;
        upd_policy(&pol, &K, "app");
        assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_OK);
        expect_layout(img, len, &info, pk, use_cert ? K.cert : NULL);

        /* nacre_image_sign with the same seed gives the same bytes
         * (Ed25519 signatures are deterministic). */
        uint8_t *copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, img, len);
        assert_status(nacre_image_sign(copy, len, seed, use_cert ? K.cert : NULL), NACRE_UPDATE_OK);
        assert_memory_equal(copy, img, len);
        free(copy);
        free(img);
    }
}

static int run(const char *cmd)
{
    return system(cmd);
}

static size_t read_file(const char *path, uint8_t *buf, size_t max)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, max, f);
    fclose(f);
    return n;
}

static void write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* The offline flow of docs/image-format.md with the openssl binary as the
 * signer: PKCS#8 DER seed -> PEM -> `pkeyutl -sign -rawin` over tbs.bin. */
static void test_offline_signing_openssl(void **state)
{
    (void)state;
    if (run("command -v openssl >/dev/null 2>&1") != 0) {
        print_message("openssl not found: offline openssl signing skipped\n");
        skip();
    }
    static const uint8_t pkcs8_prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                             0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
    char *dir = nacre_test_tmpdir("img-openssl");
    char path[1024], cmd[4096];
    for (int use_cert = 0; use_cert <= 1; use_cert++) {
        const uint8_t *seed = use_cert ? K.signer_seed : K.root_seed;
        size_t len = 0;
        uint8_t *img = unsigned_image(&len, use_cert ? K.signer_pk : K.root_pk, 10000);

        uint8_t der[48];
        memcpy(der, pkcs8_prefix, 16);
        memcpy(der + 16, seed, 32);
        snprintf(path, sizeof path, "%s/k.der", dir);
        write_file(path, der, sizeof der);
        sodium_memzero(der, sizeof der);
        const uint8_t *tbs = NULL;
        size_t tbs_len = 0;
        assert_status(nacre_image_tbs(img, len, &tbs, &tbs_len), NACRE_UPDATE_OK);
        snprintf(path, sizeof path, "%s/tbs.bin", dir);
        write_file(path, tbs, tbs_len);

        snprintf(cmd, sizeof cmd,
                 "cd '%s' && openssl pkey -inform DER -in k.der -out k.pem && "
                 "openssl pkeyutl -sign -rawin -inkey k.pem -in tbs.bin -out sig.bin",
                 dir);
        assert_int_equal(run(cmd), 0);
        uint8_t sig[65];
        snprintf(path, sizeof path, "%s/sig.bin", dir);
        assert_int_equal(read_file(path, sig, sizeof sig), 64);

        /* A tampered signature is refused and leaves the image untouched. */
        uint8_t *before = malloc(len);
        assert_non_null(before);
        memcpy(before, img, len);
        sig[10] ^= 1;
        assert_status(nacre_image_attach_signature(img, len, sig, use_cert ? K.cert : NULL,
                                                   use_cert ? NULL : K.root_pk),
                      NACRE_UPDATE_ERR_BAD_SIGNATURE);
        assert_memory_equal(before, img, len);
        sig[10] ^= 1;

        assert_status(nacre_image_attach_signature(img, len, sig, use_cert ? K.cert : NULL,
                                                   use_cert ? NULL : K.root_pk),
                      NACRE_UPDATE_OK);
        struct nacre_image_policy pol;
        upd_policy(&pol, &K, "app");
        struct nacre_image_info info;
        assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_OK);
        assert_int_equal(info.signed_by_root, !use_cert);

        /* OpenSSL's Ed25519 and libsodium's agree to the byte. */
        memcpy(before, img, len);
        assert_status(nacre_image_sign(before, len, seed, use_cert ? K.cert : NULL), NACRE_UPDATE_OK);
        assert_memory_equal(before, img, len);
        free(before);
        free(img);
    }
    nacre_test_rmtree(dir);
    free(dir);
}

/* ---- bit flips ---------------------------------------------------------------- */

struct flip_counts {
    int header, protected_area, unprotected, signature, payload;
    int by_status[64];
};

static int component_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* What a flip of bit `bit` of byte `at` must give; 0 = "any refusal from the
 * structural set" (the outcome depends on how the damaged bytes re-parse). */
static nacre_update_status expected_flip(const uint8_t *img, size_t at, int bit, int *structural)
{
    uint32_t psize = rd32(img + H_PROTECTED_SIZE);
    uint32_t poff = rd32(img + H_PAYLOAD_OFFSET);
    uint8_t nb = (uint8_t)(img[at] ^ (1u << bit));
    *structural = 0;
    if (at < 4) {
        return NACRE_UPDATE_ERR_BAD_MAGIC;
    }
    if (at < 6) {
        return NACRE_UPDATE_ERR_FORMAT_VERSION;
    }
    if (at < 8) {
        return NACRE_UPDATE_ERR_BAD_HEADER;
    }
    if (at < 12) { /* protected_size: the areas move */
        uint32_t ps = psize ^ (1u << (8 * (at - 8) + bit));
        if (ps > poff - 68) {
            return NACRE_UPDATE_ERR_BAD_HEADER;
        }
        *structural = 1;
        return 0;
    }
    if (at < 16) {
        uint32_t po = poff ^ (1u << (8 * (at - 12) + bit));
        if (po % 256 != 0 || po > 4096 || po < 68 || psize > po - 68) {
            return NACRE_UPDATE_ERR_BAD_HEADER;
        }
        *structural = 1;
        return 0;
    }
    if (at < 20) {
        uint32_t pl = rd32(img + H_PAYLOAD_SIZE) ^ (1u << (8 * (at - 16) + bit));
        return pl > UINT32_MAX - poff ? NACRE_UPDATE_ERR_BAD_HEADER : NACRE_UPDATE_ERR_BAD_SIGNATURE;
    }
    if (at < 64) {
        return NACRE_UPDATE_ERR_BAD_HEADER; /* flags, reserved */
    }
    /* Walk the areas as documented to find which TLV byte `at` is. */
    size_t end = 64 + psize;
    size_t off = 64;
    int prot = 1;
    for (;;) {
        if (off >= end) {
            if (!prot) {
                break;
            }
            prot = 0;
            off = end;
            end = poff;
            continue;
        }
        uint16_t type = rd16(img + off);
        if (type == T_END) { /* padding */
            if (at >= off && at < end) {
                return at < off + 2 ? NACRE_UPDATE_ERR_UNKNOWN_TLV : NACRE_UPDATE_ERR_BAD_TLV;
            }
            off = end;
            continue;
        }
        uint16_t len = rd16(img + off + 2);
        if (at < off + 4) {
            *structural = 1;
            return 0;
        }
        if (at < off + 4 + len) {
            size_t i = at - off - 4;
            switch (type) {
            case T_COMPONENT:
                return component_char(nb) ? NACRE_UPDATE_ERR_BAD_SIGNATURE : NACRE_UPDATE_ERR_BAD_TLV;
            case T_DEPENDENCY:
                if (i >= 12 && !component_char(nb)) {
                    return NACRE_UPDATE_ERR_BAD_TLV;
                }
                return NACRE_UPDATE_ERR_BAD_SIGNATURE;
            case T_VERSION:
            case T_SECURITY_COUNTER:
            case T_PAYLOAD_DIGEST:
            case T_SIGNATURE:
                return NACRE_UPDATE_ERR_BAD_SIGNATURE;
            case T_SIGNER_KEY_ID:
            case T_ROOT_KEY:
                return NACRE_UPDATE_ERR_UNKNOWN_KEY;
            case T_KEY_CERT:
                return NACRE_UPDATE_ERR_BAD_KEY_CERT;
            default:
                fail_msg("unexpected TLV type 0x%04x in a good image", type);
            }
        }
        off += 4 + len;
    }
    return NACRE_UPDATE_ERR_PAYLOAD_DIGEST;
}

/* Refusals of the structure (before any key or signature is looked at).
 * TRUNCATED belongs here: a flipped payload_offset may point past the end. */
static int is_structural(nacre_update_status s)
{
    return s == NACRE_UPDATE_ERR_TRUNCATED || s == NACRE_UPDATE_ERR_BAD_HEADER || s == NACRE_UPDATE_ERR_BAD_TLV ||
           s == NACRE_UPDATE_ERR_UNKNOWN_TLV || s == NACRE_UPDATE_ERR_DUPLICATE_TLV ||
           s == NACRE_UPDATE_ERR_MISSING_TLV;
}

static void flip_and_check(uint8_t *img, size_t len, size_t at, int bit, struct flip_counts *c)
{
    int structural = 0;
    nacre_update_status want = expected_flip(img, at, bit, &structural);
    img[at] ^= (uint8_t)(1u << bit);
    nacre_update_status got = verify_k(img, len);
    img[at] ^= (uint8_t)(1u << bit);
    if (got == NACRE_UPDATE_OK || (structural ? !is_structural(got) : got != want)) {
        print_error("flip of byte %zu bit %d: got %s, want %s\n", at, bit, nacre_update_strerror(got),
                    structural ? "a structural refusal" : nacre_update_strerror(want));
        fail();
    }
    c->by_status[(unsigned)got < 64 ? (unsigned)got : 0]++;
}

/* Every bit of the header and both TLV areas, every 97th payload byte. */
static void flip_campaign(uint8_t *img, size_t len, struct flip_counts *c)
{
    uint32_t psize = rd32(img + H_PROTECTED_SIZE);
    uint32_t poff = rd32(img + H_PAYLOAD_OFFSET);
    size_t sig_at = 64 + psize + 4;
    assert_int_equal(rd16(img + 64 + psize), T_SIGNATURE);
    assert_status(verify_k(img, len), NACRE_UPDATE_OK);
    for (size_t at = 0; at < poff; at++) {
        for (int bit = 0; bit < 8; bit++) {
            flip_and_check(img, len, at, bit, c);
            if (at < 64) {
                c->header++;
            } else if (at < 64 + psize) {
                c->protected_area++;
            } else {
                c->unprotected++;
                if (at >= sig_at && at < sig_at + 64) {
                    c->signature++;
                }
            }
        }
    }
    for (size_t at = poff; at < len; at += 97) {
        for (int bit = 0; bit < 8; bit++) {
            flip_and_check(img, len, at, bit, c);
            c->payload++;
        }
    }
    assert_status(verify_k(img, len), NACRE_UPDATE_OK);
}

static void test_bit_flips_refused(void **state)
{
    (void)state;
    struct flip_counts c;
    memset(&c, 0, sizeof c);
    size_t len = 0;
    uint8_t *img = upd_image(&len, &K, 0, "app", "1.2.3", 7, 2000, 1);
    flip_campaign(img, len, &c);
    free(img);
    img = upd_image(&len, &K, 1, "app", "1.2.3", 7, 2000, 2);
    flip_campaign(img, len, &c);
    free(img);

    /* With dependencies, so DEPENDENCY bytes are flipped too. */
    struct hand h;
    hand_init(&h, &K, 1, 2000);
    hand_std(&h, 0);
    hand_dependency(&h, 3, "boot");
    hand_dependency(&h, 1, "net");
    img = hand_build(&h, &len);
    flip_campaign(img, len, &c);
    free(img);

    print_message("bit flips: %d header, %d protected area, %d unprotected area (%d in signatures), "
                  "%d payload: all %d refused\n",
                  c.header, c.protected_area, c.unprotected, c.signature, c.payload,
                  c.header + c.protected_area + c.unprotected + c.payload);
    print_message("  by status:");
    for (int i = 0; i < 64; i++) {
        if (c.by_status[i] > 0) {
            print_message(" %s %d;", nacre_update_strerror((nacre_update_status)i), c.by_status[i]);
        }
    }
    print_message("\n");
}

static void test_truncated_every_length(void **state)
{
    (void)state;
    int tried = 0;
    for (int use_cert = 0; use_cert <= 1; use_cert++) {
        size_t len = 0;
        uint8_t *img = upd_image(&len, &K, use_cert, "app", "1.2.3", 7, 1000, 3);
        uint32_t poff = rd32(img + H_PAYLOAD_OFFSET);
        for (size_t n = 0; n < len; n++) {
            /* An exact-size copy, so that a read past the end is caught by
             * ASan / valgrind rather than landing in the rest of img. */
            uint8_t *cut = malloc(n > 0 ? n : 1);
            assert_non_null(cut);
            memcpy(cut, img, n);
            struct nacre_image_info info;
            assert_status(verify_ro(cut, n, NULL, &info), NACRE_UPDATE_ERR_ARGUMENT);
            struct nacre_image_policy pol;
            upd_policy(&pol, &K, NULL);
            assert_status(verify_ro(cut, n, &pol, &info), NACRE_UPDATE_ERR_TRUNCATED);
            assert_status(nacre_image_parse(cut, n, &info), n < poff ? NACRE_UPDATE_ERR_TRUNCATED
                                                                     : NACRE_UPDATE_OK);
            /* Once the header is in, parse says how much metadata to read. */
            assert_int_equal(info.payload_offset, n < 64 ? 0 : poff);
            if (n >= 64) {
                assert_int_equal(info.image_size, len);
            }
            free(cut);
            tried++;
        }
        /* One byte too many is not "more than enough": it is refused. */
        uint8_t *longer = calloc(1, len + 1);
        assert_non_null(longer);
        memcpy(longer, img, len);
        assert_status(verify_k(longer, len + 1), NACRE_UPDATE_ERR_BAD_HEADER);
        free(longer);
        free(img);
    }
    print_message("truncation: %d lengths tried, all refused as truncated\n", tried);
}

/* ---- header fields -------------------------------------------------------------- */

/* Builds a good root-signed image, sets a header field, re-signs, verifies. */
static nacre_update_status header_case(size_t field, uint32_t value, int width)
{
    struct hand h;
    hand_init(&h, &K, 0, 600);
    hand_std(&h, 0);
    size_t len = 0;
    uint8_t *img = hand_build(&h, &len);
    if (width == 2) {
        wr16(img + field, (uint16_t)value);
    } else if (width == 4) {
        wr32(img + field, value);
    } else {
        img[field] = (uint8_t)value;
    }
    /* Re-sign whenever the new tbs still ends before the signature. */
    if (64 + (size_t)rd32(img + H_PROTECTED_SIZE) <= h.sig_at) {
        hand_resign(&h, img);
    }
    nacre_update_status s = verify_k(img, len);
    free(img);
    return s;
}

static void test_header_fields(void **state)
{
    (void)state;
    assert_status(header_case(0, 'n', 1), NACRE_UPDATE_ERR_BAD_MAGIC);
    assert_status(header_case(3, 'H', 1), NACRE_UPDATE_ERR_BAD_MAGIC);
    assert_status(header_case(4, 0, 2), NACRE_UPDATE_ERR_FORMAT_VERSION);
    assert_status(header_case(4, 2, 2), NACRE_UPDATE_ERR_FORMAT_VERSION);
    assert_status(header_case(4, 0x0101, 2), NACRE_UPDATE_ERR_FORMAT_VERSION);
    assert_status(header_case(6, 0, 2), NACRE_UPDATE_ERR_BAD_HEADER);
    assert_status(header_case(6, 63, 2), NACRE_UPDATE_ERR_BAD_HEADER);
    assert_status(header_case(6, 128, 2), NACRE_UPDATE_ERR_BAD_HEADER);
    assert_status(header_case(20, 1, 4), NACRE_UPDATE_ERR_BAD_HEADER);
    assert_status(header_case(20, 0x80000000u, 4), NACRE_UPDATE_ERR_BAD_HEADER);
    for (size_t i = 24; i < 64; i++) {
        assert_status(header_case(i, 0x01, 1), NACRE_UPDATE_ERR_BAD_HEADER);
    }
}

static void test_oversized_lengths(void **state)
{
    (void)state;
    struct hand h;
    hand_init(&h, &K, 0, 600);
    hand_std(&h, 0);
    size_t len = 0;
    uint8_t *img = hand_build(&h, &len);
    uint32_t poff = rd32(img + H_PAYLOAD_OFFSET);
    uint32_t psize = rd32(img + H_PROTECTED_SIZE);
    free(img);
    assert_int_equal(poff, 512);

    /* payload_size: image_size must fit 32 bits. */
    assert_status(header_case(H_PAYLOAD_SIZE, UINT32_MAX, 4), NACRE_UPDATE_ERR_BAD_HEADER);
    assert_status(header_case(H_PAYLOAD_SIZE, UINT32_MAX - poff + 1, 4), NACRE_UPDATE_ERR_BAD_HEADER);
    /* ... and at exactly 2^32 - 1 the header is fine and signed: the image
     * is just much shorter than it says. */
    assert_status(header_case(H_PAYLOAD_SIZE, UINT32_MAX - poff, 4), NACRE_UPDATE_ERR_TRUNCATED);
    assert_status(header_case(H_PAYLOAD_SIZE, 601, 4), NACRE_UPDATE_ERR_TRUNCATED);
    assert_status(header_case(H_PAYLOAD_SIZE, 599, 4), NACRE_UPDATE_ERR_BAD_HEADER);

    /* protected_size: past payload_offset, or leaving < 4 bytes unprotected;
     * values whose sum with 64 would wrap. */
    assert_status(header_case(H_PROTECTED_SIZE, poff, 4), NACRE_UPDATE_ERR_BAD_HEADER);
    assert_status(header_case(H_PROTECTED_SIZE, poff - 64 + 1, 4), NACRE_UPDATE_ERR_BAD_HEADER);
    assert_status(header_case(H_PROTECTED_SIZE, poff - 64, 4), NACRE_UPDATE_ERR_BAD_HEADER);
    assert_status(header_case(H_PROTECTED_SIZE, poff - 64 - 3, 4), NACRE_UPDATE_ERR_BAD_HEADER);
    assert_status(header_case(H_PROTECTED_SIZE, UINT32_MAX, 4), NACRE_UPDATE_ERR_BAD_HEADER);
    assert_status(header_case(H_PROTECTED_SIZE, UINT32_MAX - 63, 4), NACRE_UPDATE_ERR_BAD_HEADER);
    assert_status(header_case(H_PROTECTED_SIZE, 0x80000000u, 4), NACRE_UPDATE_ERR_BAD_HEADER);
    /* Within bounds but cutting the last protected TLV: its length now runs
     * past the protected area (into bytes the signature does not cover). */
    assert_status(header_case(H_PROTECTED_SIZE, psize - 1, 4), NACRE_UPDATE_ERR_BAD_TLV);
    assert_status(header_case(H_PROTECTED_SIZE, psize - 20, 4), NACRE_UPDATE_ERR_BAD_TLV);
    /* Growing it pulls the SIGNATURE TLV into the protected area: its
     * header alone (its length then runs past the area), or all of it (an
     * unprotected type in the protected area). */
    assert_status(header_case(H_PROTECTED_SIZE, psize + 4, 4), NACRE_UPDATE_ERR_BAD_TLV);
    assert_status(header_case(H_PROTECTED_SIZE, psize + 68, 4), NACRE_UPDATE_ERR_UNKNOWN_TLV);

    /* payload_offset: aligned, within 68..4096, and past the metadata. */
    static const uint32_t bad_offsets[] = {0, 64, 68, 100, 256 + 1, 511, 513, 4096 + 256, 8192,
                                           0x10000, 0xFFFFFF00u, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad_offsets / sizeof bad_offsets[0]; i++) {
        assert_status(header_case(H_PAYLOAD_OFFSET, bad_offsets[i], 4), NACRE_UPDATE_ERR_BAD_HEADER);
    }
    /* 256: aligned but the metadata does not fit before it. */
    assert_status(header_case(H_PAYLOAD_OFFSET, 256, 4), NACRE_UPDATE_ERR_BAD_TLV);

    /* The largest payload_offset, with 3.5 KiB of zero padding: fine. */
    hand_init(&h, &K, 1, 10);
    hand_std(&h, 0);
    h.payload_offset = 4096;
    assert_status(hand_verify(&h), NACRE_UPDATE_OK);
    /* protected_size as large as allowed (4 bytes left unprotected): the
     * signature cannot fit, but the structure parses. */
    hand_init(&h, &K, 0, 10);
    hand_std(&h, 0);
    static const uint8_t zeros[512];
    hand_bytes(&h, zeros, 512 - 64 - 4 - h.prot_len);
    h.no_signature = 1;
    h.no_signer_tlv = 1;
    h.payload_offset = 512;
    img = hand_build(&h, &len);
    assert_int_equal(rd32(img + H_PROTECTED_SIZE), 512 - 64 - 4);
    assert_status(verify_k(img, len), NACRE_UPDATE_ERR_UNSIGNED);
    free(img);
}

/* ---- TLV structure ------------------------------------------------------------- */

static void test_tlv_bounds(void **state)
{
    (void)state;
    struct hand h;
    uint8_t v[64];
    memset(v, 'a', sizeof v);

    /* A protected TLV whose length runs past the end of its area (its last
     * bytes would be unsigned). */
    hand_init(&h, &K, 0, 100);
    hand_std(&h, 0);
    tlv_raw(h.prot, &h.prot_len, sizeof h.prot, T_DEPENDENCY, 20, v, 17);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
    hand_init(&h, &K, 0, 100);
    hand_std(&h, 0);
    tlv_raw(h.prot, &h.prot_len, sizeof h.prot, T_DEPENDENCY, 0xFFFF, v, 16);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
    /* The first TLV claiming everything. */
    hand_init(&h, &K, 0, 100);
    tlv_raw(h.prot, &h.prot_len, sizeof h.prot, T_COMPONENT, 0xFFFF, "app", 3);
    hand_std(&h, OMIT(T_COMPONENT));
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);

    /* A TLV header straddling the end of the protected area. */
    for (size_t n = 1; n <= 3; n++) {
        static const uint8_t partial[3] = {T_DEPENDENCY, 0, 13};
        hand_init(&h, &K, 0, 100);
        hand_std(&h, 0);
        hand_bytes(&h, partial, n);
        assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
        /* ... whereas 1..3 zero bytes are just padding. */
        static const uint8_t zero3[3];
        hand_init(&h, &K, 0, 100);
        hand_std(&h, 0);
        hand_bytes(&h, zero3, n);
        assert_status(hand_verify(&h), NACRE_UPDATE_OK);
    }

    /* Unprotected area: a length past payload_offset; a TLV header cut by
     * payload_offset (the protected area is padded so that the unprotected
     * TLVs end exactly 2 bytes before the payload). */
    hand_init(&h, &K, 1, 100);
    hand_std(&h, 0);
    hand_utlv(&h, T_ROOT_KEY, 0x0400, v, 16);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
    for (size_t n = 1; n <= 3; n++) {
        hand_init(&h, &K, 0, 100);
        hand_std(&h, 0);
        static const uint8_t partial[3] = {0x03, 0x01, 32};
        memcpy(h.uextra, partial, n);
        h.uextra_len = n;
        static const uint8_t zeros[512];
        hand_bytes(&h, zeros, 512 - 64 - h.prot_len - hand_unprot_used(&h));
        h.payload_offset = 512;
        size_t len = 0;
        uint8_t *img = hand_build(&h, &len);
        assert_int_equal(img[511], n == 3 ? 32 : n == 2 ? 0x01 : 0x03);
        assert_status(verify_k(img, len), NACRE_UPDATE_ERR_BAD_TLV);
        free(img);
    }

    /* Overlapping TLVs: a length that swallows the next TLV's header. */
    hand_init(&h, &K, 0, 100);
    uint8_t comp[7] = {'a', 'p', 'p', T_VERSION, 0, 12, 0};
    tlv_raw(h.prot, &h.prot_len, sizeof h.prot, T_COMPONENT, 7, comp, 7);
    wr32(v, 1);
    wr32(v + 4, 2);
    wr32(v + 8, 3);
    hand_bytes(&h, v, 12);
    hand_std(&h, OMIT(T_COMPONENT) | OMIT(T_VERSION));
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
    /* ... or a counter claiming the next TLV's header as its value. */
    hand_init(&h, &K, 0, 100);
    hand_std(&h, OMIT(T_SECURITY_COUNTER));
    uint8_t sc[8] = {7, 0, 0, 0, T_COMPONENT, 0, 0, 0};
    hand_tlv(&h, T_SECURITY_COUNTER, sc, 8);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
}

static void test_tlv_lengths_and_contents(void **state)
{
    (void)state;
    struct hand h;
    uint8_t v[256];
    memset(v, 'a', sizeof v);
    static const struct {
        uint16_t type;
        uint16_t len;
    } bad[] = {
        {T_COMPONENT, 0},       {T_COMPONENT, 33},      {T_VERSION, 0},
        {T_VERSION, 11},        {T_VERSION, 13},        {T_SECURITY_COUNTER, 3},
        {T_SECURITY_COUNTER, 8}, {T_PAYLOAD_DIGEST, 31}, {T_PAYLOAD_DIGEST, 64},
        {T_SIGNER_KEY_ID, 0},   {T_SIGNER_KEY_ID, 33},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hand_init(&h, &K, 0, 100);
        hand_std(&h, OMIT(bad[i].type));
        hand_tlv(&h, bad[i].type, v, bad[i].len);
        assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
    }
    /* Dependencies: a version and 1..32 name bytes. */
    static const size_t bad_dep[] = {0, 1, 11, 12, 12 + 33, 100};
    for (size_t i = 0; i < sizeof bad_dep / sizeof bad_dep[0]; i++) {
        hand_init(&h, &K, 0, 100);
        hand_std(&h, 0);
        hand_tlv(&h, T_DEPENDENCY, v, bad_dep[i]);
        assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
    }
    hand_init(&h, &K, 0, 100);
    hand_std(&h, 0);
    hand_tlv(&h, T_DEPENDENCY, v, 12 + 32);
    assert_status(hand_verify(&h), NACRE_UPDATE_OK);

    /* Component names. */
    static const char *const bad_names[] = {"App", "a/b", "a b", "a\tb", "a\xc3\xa9", "a:b", "a+b",
                                            "abcdefghijklmnopqrstuvwxyz0123456"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        hand_init(&h, &K, 0, 100);
        hand_std_with(&h, 0, bad_names[i], 7);
        assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
        hand_init(&h, &K, 0, 100);
        hand_std(&h, 0);
        hand_dependency(&h, 1, bad_names[i]);
        assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
    }
    static const uint8_t nul_inside[3] = {'a', 0, 'b'};
    hand_init(&h, &K, 0, 100);
    hand_tlv(&h, T_COMPONENT, nul_inside, 3);
    hand_std(&h, OMIT(T_COMPONENT));
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
    static const char *const good_names[] = {"a", "0", "x.y_z-0", "..", "abcdefghijklmnopqrstuvwxyz012345"};
    for (size_t i = 0; i < sizeof good_names / sizeof good_names[0]; i++) {
        hand_init(&h, &K, 0, 100);
        hand_std_with(&h, 0, good_names[i], 7);
        size_t len = 0;
        uint8_t *img = hand_build(&h, &len);
        struct nacre_image_policy pol;
        upd_policy(&pol, &K, good_names[i]);
        struct nacre_image_info info;
        assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_OK);
        assert_string_equal(info.component, good_names[i]);
        free(img);
    }

    /* Unprotected TLVs have exact lengths too. */
    static const struct {
        uint16_t type;
        uint16_t len;
    } ubad[] = {{T_SIGNATURE, 63}, {T_SIGNATURE, 65}, {T_SIGNATURE, 0}, {T_KEY_CERT, 143},
                {T_KEY_CERT, 145}, {T_ROOT_KEY, 31},  {T_ROOT_KEY, 33}};
    for (size_t i = 0; i < sizeof ubad / sizeof ubad[0]; i++) {
        hand_init(&h, &K, 0, 100);
        hand_std(&h, 0);
        h.no_signature = 1;
        h.no_signer_tlv = 1;
        hand_utlv(&h, ubad[i].type, ubad[i].len, v, ubad[i].len);
        assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
    }
}

static void test_tlv_missing_duplicate_unknown(void **state)
{
    (void)state;
    struct hand h;
    uint8_t v[256];
    memset(v, 0, sizeof v);
    int cases = 0;

    /* Each required TLV missing; each present twice. */
    for (uint16_t t = T_COMPONENT; t <= T_SIGNER_KEY_ID; t++) {
        hand_init(&h, &K, 0, 100);
        hand_std(&h, OMIT(t));
        assert_status(hand_verify(&h), NACRE_UPDATE_ERR_MISSING_TLV);
        hand_init(&h, &K, 0, 100);
        hand_std(&h, 0);
        size_t before = h.prot_len;
        hand_std(&h, 0xFFu & ~OMIT(t)); /* just type t again */
        assert_true(h.prot_len > before);
        assert_status(hand_verify(&h), NACRE_UPDATE_ERR_DUPLICATE_TLV);
        cases += 2;
    }
    /* An empty protected area. */
    hand_init(&h, &K, 0, 100);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_MISSING_TLV);

    /* Dependencies: four are fine, a fifth is one too many, and one
     * component may be named only once. */
    hand_init(&h, &K, 0, 100);
    hand_std(&h, 0);
    hand_dependency(&h, 1, "a");
    hand_dependency(&h, 1, "b");
    hand_dependency(&h, 1, "c");
    hand_dependency(&h, 1, "d");
    assert_status(hand_verify(&h), NACRE_UPDATE_OK);
    hand_dependency(&h, 1, "e");
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_DUPLICATE_TLV);
    hand_init(&h, &K, 0, 100);
    hand_std(&h, 0);
    hand_dependency(&h, 1, "boot");
    hand_dependency(&h, 2, "boot");
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_DUPLICATE_TLV);

    /* Unprotected duplicates. */
    uint8_t sig[64] = {0};
    hand_init(&h, &K, 1, 100);
    hand_std(&h, 0);
    hand_utlv(&h, T_SIGNATURE, 64, sig, 64);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_DUPLICATE_TLV);
    hand_init(&h, &K, 1, 100);
    hand_std(&h, 0);
    hand_utlv(&h, T_KEY_CERT, NACRE_KEYCERT_BYTES, K.cert, NACRE_KEYCERT_BYTES);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_DUPLICATE_TLV);
    hand_init(&h, &K, 0, 100);
    hand_std(&h, 0);
    hand_utlv(&h, T_ROOT_KEY, 32, K.root_pk, 32);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_DUPLICATE_TLV);
    cases += 6;

    /* Unknown types, and known types in the wrong area. */
    static const uint16_t not_protected[] = {0x0007, 0x0008, 0x00FF, 0x0100, T_SIGNATURE,
                                             T_KEY_CERT, T_ROOT_KEY, 0x0104, 0x0201, 0x8001,
                                             0xFFFF};
    for (size_t i = 0; i < sizeof not_protected / sizeof not_protected[0]; i++) {
        hand_init(&h, &K, 0, 100);
        hand_std(&h, 0);
        hand_tlv(&h, not_protected[i], v, 32);
        assert_status(hand_verify(&h), NACRE_UPDATE_ERR_UNKNOWN_TLV);
        cases++;
    }
    static const uint16_t not_unprotected[] = {T_COMPONENT,     T_VERSION, T_SECURITY_COUNTER,
                                               T_PAYLOAD_DIGEST, T_SIGNER_KEY_ID, T_DEPENDENCY,
                                               0x0007,          0x0100,    0x0104, 0xFFFF};
    for (size_t i = 0; i < sizeof not_unprotected / sizeof not_unprotected[0]; i++) {
        hand_init(&h, &K, 0, 100);
        hand_std(&h, 0);
        uint8_t val[16];
        memset(val, 'a', sizeof val);
        hand_utlv(&h, not_unprotected[i], sizeof val, val, sizeof val);
        assert_status(hand_verify(&h), NACRE_UPDATE_ERR_UNKNOWN_TLV);
        cases++;
    }
    /* The version TLV moved to the unprotected area (where it would not be
     * signed) is never taken from there: the signed area lacks it. */
    hand_init(&h, &K, 0, 100);
    hand_std(&h, OMIT(T_VERSION));
    uint8_t ver[12] = {9};
    hand_utlv(&h, T_VERSION, 12, ver, 12);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_MISSING_TLV);
    hand_init(&h, &K, 0, 100);
    hand_std(&h, 0);
    hand_utlv(&h, T_VERSION, 12, ver, 12);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_UNKNOWN_TLV);
    print_message("missing / duplicate / unknown TLVs: %d hand-built images refused\n", cases);
}

static void test_non_zero_after_end(void **state)
{
    (void)state;
    struct hand h;
    static const uint8_t end_then_one[6] = {0, 0, 0, 0, 0, 1};
    static const uint8_t end_len[4] = {0, 0, 4, 0}; /* END with a length */
    hand_init(&h, &K, 0, 100);
    hand_std(&h, 0);
    hand_bytes(&h, end_then_one, sizeof end_then_one);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
    hand_init(&h, &K, 0, 100);
    hand_std(&h, 0);
    hand_bytes(&h, end_len, sizeof end_len);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
    /* A well-formed TLV hidden after END is not ignored: refused. */
    hand_init(&h, &K, 0, 100);
    hand_std(&h, OMIT(T_SIGNER_KEY_ID));
    static const uint8_t end4[4];
    hand_bytes(&h, end4, 4);
    hand_std(&h, 0xFFu & ~OMIT(T_SIGNER_KEY_ID));
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
    /* END then zeros is fine in both areas. */
    hand_init(&h, &K, 0, 100);
    hand_std(&h, 0);
    static const uint8_t zeros[40];
    hand_bytes(&h, zeros, sizeof zeros);
    assert_status(hand_verify(&h), NACRE_UPDATE_OK);

    /* Unprotected area: a stray byte in the padding, or a TLV after END. */
    hand_init(&h, &K, 0, 100);
    hand_std(&h, 0);
    memcpy(h.uextra, end_then_one, sizeof end_then_one);
    h.uextra_len = sizeof end_then_one;
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
    hand_init(&h, &K, 1, 100);
    hand_std(&h, 0);
    h.uextra_len = 8;
    hand_utlv(&h, T_ROOT_KEY, 32, K.root_pk, 32);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_TLV);
    size_t len = 0;
    hand_init(&h, &K, 0, 100);
    hand_std(&h, 0);
    uint8_t *img = hand_build(&h, &len);
    img[rd32(img + H_PAYLOAD_OFFSET) - 1] = 0x80; /* the last padding byte */
    assert_status(verify_k(img, len), NACRE_UPDATE_ERR_BAD_TLV);
    free(img);
}

/* ---- keys, signatures, policy ---------------------------------------------------- */

static void test_signer_and_keys(void **state)
{
    (void)state;
    struct hand h;
    struct nacre_image_policy pol;
    size_t len = 0;

    /* Wrong root key in OTP: both kinds of image are from an unknown key. */
    for (int use_cert = 0; use_cert <= 1; use_cert++) {
        uint8_t *img = upd_image(&len, &K, use_cert, "app", "1.0.0", 1, 100, 0);
        upd_policy(&pol, &OTHER, NULL);
        assert_status(verify_ro(img, len, &pol, NULL), NACRE_UPDATE_ERR_UNKNOWN_KEY);
        upd_policy(&pol, &K, NULL);
        assert_status(verify_ro(img, len, &pol, NULL), NACRE_UPDATE_OK);
        free(img);
    }

    /* Root-signed by another root, everything else consistent. */
    hand_init(&h, &OTHER, 0, 100);
    hand_std(&h, 0);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_UNKNOWN_KEY);
    /* The real root key, but the protected area names the signing key. */
    hand_init(&h, &K, 0, 100);
    h.key_id_pk = K.signer_pk;
    hand_std(&h, 0);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_UNKNOWN_KEY);
    /* A self-made "root" that is just the (certified) signing key. */
    hand_init(&h, &K, 0, 100);
    h.key_id_pk = K.signer_pk;
    h.root_key = K.signer_pk;
    h.sign_seed = K.signer_seed;
    hand_std(&h, 0);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_UNKNOWN_KEY);

    /* Unknown signer: signed by an uncertified key that the protected area
     * names, carrying the device's (valid) certificate for another key. */
    hand_init(&h, &K, 1, 100);
    h.key_id_pk = OTHER.signer_pk;
    h.sign_seed = OTHER.signer_seed;
    hand_std(&h, 0);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_UNKNOWN_KEY);
    /* A certificate from another root. */
    hand_init(&h, &OTHER, 1, 100);
    hand_std(&h, 0);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_UNKNOWN_KEY);
    /* A corrupt certificate, at every byte. */
    int cert_flips = 0;
    for (size_t i = 0; i < NACRE_KEYCERT_BYTES; i++) {
        uint8_t cert[NACRE_KEYCERT_BYTES];
        memcpy(cert, K.cert, sizeof cert);
        cert[i] ^= 0x10;
        hand_init(&h, &K, 1, 100);
        h.cert = cert;
        hand_std(&h, 0);
        assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_KEY_CERT);
        cert_flips++;
    }
    /* Right key ids and certificate, signature by some other key. */
    hand_init(&h, &K, 1, 100);
    h.sign_seed = OTHER.signer_seed;
    hand_std(&h, 0);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_SIGNATURE);
    hand_init(&h, &K, 0, 100);
    h.sign_seed = K.signer_seed;
    hand_std(&h, 0);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_BAD_SIGNATURE);

    /* Both a root key and a certificate, or neither. */
    hand_init(&h, &K, 1, 100);
    hand_std(&h, 0);
    hand_utlv(&h, T_ROOT_KEY, 32, K.root_pk, 32);
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_UNKNOWN_KEY);
    hand_init(&h, &K, 0, 100);
    hand_std(&h, 0);
    h.no_signer_tlv = 1;
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_UNKNOWN_KEY);
    /* A signer but no signature is unsigned. */
    hand_init(&h, &K, 0, 100);
    hand_std(&h, 0);
    h.no_signature = 1;
    assert_status(hand_verify(&h), NACRE_UPDATE_ERR_UNSIGNED);
    print_message("signer checks: %d corrupt certificates refused\n", cert_flips);
}

static void test_revoked_key(void **state)
{
    (void)state;
    struct nacre_image_policy pol;
    size_t len = 0;
    uint8_t *img = upd_image(&len, &K, 1, "app", "1.0.0", 1, 100, 0);
    upd_policy(&pol, &K, NULL);
    pol.min_key_epoch = K_EPOCH + 1;
    struct nacre_image_info info;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_ERR_KEY_REVOKED);
    pol.min_key_epoch = UINT32_MAX;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_ERR_KEY_REVOKED);
    pol.min_key_epoch = K_EPOCH;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_OK);
    assert_int_equal(info.key_epoch, K_EPOCH);
    free(img);

    /* A certificate at a new epoch for the same signing key works again. */
    struct upd_keys k2 = K;
    assert_status(nacre_keycert_create(k2.cert, K.root_seed, K.signer_pk, K_EPOCH + 5), NACRE_UPDATE_OK);
    img = upd_image(&len, &k2, 1, "app", "1.0.0", 1, 100, 0);
    pol.min_key_epoch = K_EPOCH + 1;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_OK);
    assert_int_equal(info.key_epoch, K_EPOCH + 5);
    free(img);

    /* The root key itself has no epoch: revocation does not touch it. */
    img = upd_image(&len, &K, 0, "app", "1.0.0", 1, 100, 0);
    pol.min_key_epoch = UINT32_MAX;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_OK);
    assert_int_equal(info.key_epoch, 0);
    free(img);
}

static void test_policy(void **state)
{
    (void)state;
    struct nacre_image_policy pol;
    struct nacre_image_info info;
    size_t len = 0;
    uint8_t *img = upd_image(&len, &K, 1, "app", "1.0.0", 7, 1000, 0);

    /* Anti-rollback. */
    upd_policy(&pol, &K, NULL);
    pol.min_security_counter = 8;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_ERR_ROLLBACK);
    pol.min_security_counter = 7;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_OK);
    /* The payload digest is checked after the policy (check never reads
     * the payload); a forged signature, on the other hand, is reported as
     * such whatever the policy. */
    img[len - 1] ^= 1;
    pol.min_security_counter = 8;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_ERR_ROLLBACK);
    pol.min_security_counter = 0;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_ERR_PAYLOAD_DIGEST);
    img[len - 1] ^= 1;
    uint32_t psize = rd32(img + H_PROTECTED_SIZE);
    img[64 + psize + 4] ^= 1; /* signature */
    pol.min_security_counter = 8;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_ERR_BAD_SIGNATURE);
    img[64 + psize + 4] ^= 1;

    /* Component. */
    upd_policy(&pol, &K, "other");
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_ERR_WRONG_COMPONENT);
    upd_policy(&pol, &K, "ap");
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_ERR_WRONG_COMPONENT);
    upd_policy(&pol, &K, "app2");
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_ERR_WRONG_COMPONENT);
    upd_policy(&pol, &K, "");
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_ERR_WRONG_COMPONENT);
    upd_policy(&pol, &K, "app");
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_OK);

    /* Size: the slot. */
    pol.max_image_size = (uint32_t)len - 1;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_ERR_TOO_LARGE);
    pol.max_image_size = (uint32_t)len;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_OK);
    pol.max_image_size = 0;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_OK);
    free(img);

    /* Unsigned; and an unsigned image too large is refused for size first. */
    img = unsigned_image(&len, K.root_pk, 100);
    upd_policy(&pol, &K, NULL);
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_ERR_UNSIGNED);
    assert_int_equal(info.has_signature, 0);
    assert_string_equal(info.component, "app"); /* parsed, untrusted */
    pol.max_image_size = 256;
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_ERR_TOO_LARGE);
    assert_status(nacre_image_parse(img, len, &info), NACRE_UPDATE_OK);
    assert_int_equal(info.has_signature, 0);
    free(img);
}

static void test_attach_refusals(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *img = unsigned_image(&len, K.signer_pk, 300);
    uint8_t *before = malloc(len);
    assert_non_null(before);
    memcpy(before, img, len);
    const uint8_t *tbs = NULL;
    size_t tbs_len = 0;
    assert_status(nacre_image_tbs(img, len, &tbs, &tbs_len), NACRE_UPDATE_OK);
    uint8_t pk[32], sk[64], sig[64];

    /* Signed by the wrong key (OTHER's signer) with K's certificate. */
    assert_int_equal(crypto_sign_seed_keypair(pk, sk, OTHER.signer_seed), 0);
    assert_int_equal(crypto_sign_detached(sig, NULL, tbs, tbs_len, sk), 0);
    assert_status(nacre_image_attach_signature(img, len, sig, K.cert, NULL),
                  NACRE_UPDATE_ERR_BAD_SIGNATURE);
    assert_memory_equal(before, img, len);
    /* ... with OTHER's certificate: not the key the image names. */
    assert_status(nacre_image_attach_signature(img, len, sig, OTHER.cert, NULL),
                  NACRE_UPDATE_ERR_UNKNOWN_KEY);
    /* ... as if it were a root key. */
    assert_status(nacre_image_attach_signature(img, len, sig, NULL, pk), NACRE_UPDATE_ERR_UNKNOWN_KEY);
    assert_status(nacre_image_sign(img, len, OTHER.signer_seed, K.cert), NACRE_UPDATE_ERR_BAD_SIGNATURE);
    assert_status(nacre_image_sign(img, len, K.root_seed, NULL), NACRE_UPDATE_ERR_UNKNOWN_KEY);
    assert_status(nacre_image_sign(img, len, K.root_seed, K.cert), NACRE_UPDATE_ERR_BAD_SIGNATURE);
    /* A damaged certificate. */
    uint8_t cert[NACRE_KEYCERT_BYTES];
    memcpy(cert, K.cert, sizeof cert);
    cert[100] ^= 1;
    assert_status(nacre_image_sign(img, len, K.signer_seed, cert), NACRE_UPDATE_ERR_BAD_KEY_CERT);
    /* Arguments: exactly one of key_cert / root_pk. */
    assert_status(nacre_image_attach_signature(img, len, sig, NULL, NULL), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_attach_signature(img, len, sig, K.cert, K.root_pk),
                  NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_attach_signature(img, len, NULL, K.cert, NULL), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_attach_signature(NULL, len, sig, K.cert, NULL), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_attach_signature(img, 100, sig, K.cert, NULL), NACRE_UPDATE_ERR_TRUNCATED);
    assert_memory_equal(before, img, len);

    /* The builder cannot know which key is the device's root: the signing
     * key attached as if it were the root is accepted here, and refused by
     * verification (the OTP root-key hash does not match). */
    memcpy(before, img, len);
    assert_status(nacre_image_sign(before, len, K.signer_seed, NULL), NACRE_UPDATE_OK);
    assert_status(verify_k(before, len), NACRE_UPDATE_ERR_UNKNOWN_KEY);
    memcpy(before, img, len);

    /* The right key. */
    assert_int_equal(crypto_sign_seed_keypair(pk, sk, K.signer_seed), 0);
    assert_int_equal(crypto_sign_detached(sig, NULL, tbs, tbs_len, sk), 0);
    sodium_memzero(sk, sizeof sk);
    assert_status(nacre_image_attach_signature(img, len, sig, K.cert, NULL), NACRE_UPDATE_OK);
    assert_status(verify_k(img, len), NACRE_UPDATE_OK);
    free(before);
    free(img);
}

static void test_resign_clears_area(void **state)
{
    (void)state;
    /* An image the root signs directly, first attached with a (pointless
     * but valid) certificate by which the root certifies itself, then
     * re-signed with the shorter ROOT_KEY: nothing of the certificate may
     * remain. And back. */
    uint8_t self_cert[NACRE_KEYCERT_BYTES];
    assert_status(nacre_keycert_create(self_cert, K.root_seed, K.root_pk, 9), NACRE_UPDATE_OK);
    size_t len = 0;
    uint8_t *img = unsigned_image(&len, K.root_pk, 300);
    struct nacre_image_info info;
    struct nacre_image_policy pol;
    upd_policy(&pol, &K, NULL);
    assert_status(nacre_image_sign(img, len, K.root_seed, self_cert), NACRE_UPDATE_OK);
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_OK);
    assert_int_equal(info.signed_by_root, 0);
    assert_int_equal(info.key_epoch, 9);
    assert_status(nacre_image_sign(img, len, K.root_seed, NULL), NACRE_UPDATE_OK);
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_OK);
    assert_int_equal(info.signed_by_root, 1);
    expect_layout(img, len, &info, K.root_pk, NULL);
    assert_status(nacre_image_sign(img, len, K.root_seed, self_cert), NACRE_UPDATE_OK);
    assert_status(verify_ro(img, len, &pol, &info), NACRE_UPDATE_OK);
    expect_layout(img, len, &info, K.root_pk, self_cert);
    free(img);

    /* An unprotected area too small for a certificate is refused, intact. */
    struct hand h;
    hand_init(&h, &K, 1, 10);
    hand_std(&h, 0);
    static const uint8_t zeros[512];
    hand_bytes(&h, zeros, 512 - 64 - h.prot_len - 100);
    h.no_signature = 1;
    h.no_signer_tlv = 1;
    h.payload_offset = 512;
    img = hand_build(&h, &len);
    uint8_t *before = malloc(len);
    assert_non_null(before);
    memcpy(before, img, len);
    assert_status(nacre_image_sign(img, len, K.signer_seed, K.cert), NACRE_UPDATE_ERR_BAD_TLV);
    assert_memory_equal(before, img, len);
    free(before);
    free(img);
}

/* ---- builder parameters, key certificates, arguments ------------------------------ */

static void test_create_validates_params(void **state)
{
    (void)state;
    struct nacre_image_params p;
    memset(&p, 0, sizeof p);
    p.component = "app";
    uint8_t *img = (uint8_t *)&p; /* must be reset to NULL on failure */
    size_t len = 99;
    uint8_t payload[4] = {1, 2, 3, 4};
    static const char *const bad[] = {"", "App", "a b", "abcdefghijklmnopqrstuvwxyz0123456"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p.component = bad[i];
        assert_status(nacre_image_create(&img, &len, payload, 4, &p), NACRE_UPDATE_ERR_BAD_TLV);
        assert_null(img);
        assert_int_equal(len, 0);
    }
    p.component = NULL;
    assert_status(nacre_image_create(&img, &len, payload, 4, &p), NACRE_UPDATE_ERR_ARGUMENT);
    p.component = "app";
    assert_status(nacre_image_create(&img, &len, NULL, 4, &p), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_create(NULL, &len, payload, 4, &p), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_create(&img, NULL, payload, 4, &p), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_create(&img, &len, payload, 4, NULL), NACRE_UPDATE_ERR_ARGUMENT);
    p.dependency_count = 5;
    assert_status(nacre_image_create(&img, &len, payload, 4, &p), NACRE_UPDATE_ERR_DUPLICATE_TLV);
    p.dependency_count = 2;
    strcpy(p.dependencies[0].component, "boot");
    strcpy(p.dependencies[1].component, "boot");
    assert_status(nacre_image_create(&img, &len, payload, 4, &p), NACRE_UPDATE_ERR_DUPLICATE_TLV);
    strcpy(p.dependencies[1].component, "Boot");
    assert_status(nacre_image_create(&img, &len, payload, 4, &p), NACRE_UPDATE_ERR_BAD_TLV);
    memset(p.dependencies[1].component, 'a', sizeof p.dependencies[1].component); /* no NUL */
    assert_status(nacre_image_create(&img, &len, payload, 4, &p), NACRE_UPDATE_ERR_BAD_TLV);
    p.dependencies[1].component[0] = '\0';
    assert_status(nacre_image_create(&img, &len, payload, 4, &p), NACRE_UPDATE_ERR_BAD_TLV);
    /* A payload the 32-bit header cannot describe (not allocated). */
    p.dependency_count = 0;
    if (SIZE_MAX > UINT32_MAX) {
        assert_status(nacre_image_create(&img, &len, payload, (size_t)UINT32_MAX, &p),
                      NACRE_UPDATE_ERR_BAD_HEADER);
    }
    assert_status(nacre_image_create(&img, &len, payload, 4, &p), NACRE_UPDATE_OK);
    assert_non_null(img);
    free(img);
}

static void test_keycert(void **state)
{
    (void)state;
    struct nacre_keycert c;
    assert_status(nacre_keycert_verify(K.cert, &c), NACRE_UPDATE_OK);
    assert_int_equal(c.epoch, K_EPOCH);
    assert_memory_equal(c.root_pk, K.root_pk, 32);
    assert_memory_equal(c.signer_pk, K.signer_pk, 32);
    assert_status(nacre_keycert_verify(K.cert, NULL), NACRE_UPDATE_OK);
    assert_status(nacre_keycert_verify(NULL, &c), NACRE_UPDATE_ERR_ARGUMENT);

    /* The documented layout, with raw libsodium. */
    assert_memory_equal(K.cert, "NKC1", 4);
    assert_int_equal(K.cert[4], 1);
    assert_int_equal(K.cert[5] | K.cert[6] | K.cert[7], 0);
    assert_int_equal(rd32(K.cert + 8), K_EPOCH);
    assert_int_equal(rd32(K.cert + 12), 0);
    assert_memory_equal(K.cert + 16, K.root_pk, 32);
    assert_memory_equal(K.cert + 48, K.signer_pk, 32);
    assert_int_equal(crypto_sign_ed25519_verify_detached(K.cert + 80, K.cert, 80, K.root_pk), 0);

    /* Every bit of it matters. */
    int flips = 0;
    for (size_t i = 0; i < NACRE_KEYCERT_BYTES; i++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t cert[NACRE_KEYCERT_BYTES];
            memcpy(cert, K.cert, sizeof cert);
            cert[i] ^= (uint8_t)(1u << bit);
            memset(&c, 0xAA, sizeof c);
            assert_status(nacre_keycert_verify(cert, &c), NACRE_UPDATE_ERR_BAD_KEY_CERT);
            assert_int_equal(c.epoch, 0); /* nothing half-filled */
            flips++;
        }
    }
    /* A correctly signed certificate with a non-zero reserved byte. */
    uint8_t sk[64], pk[32], cert[NACRE_KEYCERT_BYTES];
    memcpy(cert, K.cert, sizeof cert);
    cert[13] = 1;
    assert_int_equal(crypto_sign_seed_keypair(pk, sk, K.root_seed), 0);
    assert_int_equal(crypto_sign_detached(cert + 80, NULL, cert, 80, sk), 0);
    assert_status(nacre_keycert_verify(cert, &c), NACRE_UPDATE_ERR_BAD_KEY_CERT);
    cert[13] = 0;
    cert[4] = 2;
    assert_int_equal(crypto_sign_detached(cert + 80, NULL, cert, 80, sk), 0);
    sodium_memzero(sk, sizeof sk);
    assert_status(nacre_keycert_verify(cert, &c), NACRE_UPDATE_ERR_BAD_KEY_CERT);

    uint8_t out[NACRE_KEYCERT_BYTES];
    assert_status(nacre_keycert_create(NULL, K.root_seed, K.signer_pk, 1), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_keycert_create(out, NULL, K.signer_pk, 1), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_keycert_create(out, K.root_seed, NULL, 1), NACRE_UPDATE_ERR_ARGUMENT);
    print_message("key certificate: %d single-bit corruptions refused\n", flips);
}

static void test_arguments(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *img = upd_image(&len, &K, 0, "app", "1.0.0", 1, 100, 0);
    struct nacre_image_policy pol;
    struct nacre_image_info info;
    upd_policy(&pol, &K, NULL);
    const uint8_t *tbs = NULL;
    size_t tbs_len = 0;
    assert_status(nacre_image_parse(NULL, len, &info), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_parse(img, len, NULL), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_check(NULL, len, &pol, &info), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_check(img, len, NULL, &info), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_check(img, len, &pol, NULL), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_verify(NULL, len, &pol, &info), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_verify(img, len, &pol, NULL), NACRE_UPDATE_ERR_ARGUMENT);
    pol.root_key_hash = NULL; /* the device must know its root */
    assert_status(nacre_image_verify(img, len, &pol, &info), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_tbs(NULL, len, &tbs, &tbs_len), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_tbs(img, len, NULL, &tbs_len), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_tbs(img, len, &tbs, NULL), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_tbs(img, 63, &tbs, &tbs_len), NACRE_UPDATE_ERR_TRUNCATED);
    assert_status(nacre_image_sign(NULL, len, K.root_seed, NULL), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_sign(img, len, NULL, NULL), NACRE_UPDATE_ERR_ARGUMENT);
    img[0] = 'X';
    assert_status(nacre_image_tbs(img, len, &tbs, &tbs_len), NACRE_UPDATE_ERR_BAD_MAGIC);
    assert_status(nacre_image_sign(img, len, K.root_seed, NULL), NACRE_UPDATE_ERR_BAD_MAGIC);
    free(img);

    uint8_t id[32], d[32];
    nacre_image_key_id(id, K.root_pk);
    b2b(d, K.root_pk, 32);
    assert_memory_equal(id, d, 32);
    assert_memory_equal(id, K.root_hash, 32);
    nacre_image_key_id(NULL, K.root_pk); /* no crash */
    nacre_image_key_id(id, NULL);
}

static void test_version_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint32_t major, minor, patch;
    } good[] = {
        {"0.0.0", 0, 0, 0},
        {"1.2.3", 1, 2, 3},
        {"10.20.30", 10, 20, 30},
        {"4294967295.4294967295.4294967295", 4294967295u, 4294967295u, 4294967295u},
        {"0.10.0", 0, 10, 0},
        {"100.0.9", 100, 0, 9},
    };
    static const char *const bad[] = {
        "", "1", "1.2", "1.2.3.4", "1..3", ".1.2", "1.2.", "01.2.3", "1.02.3", "1.2.03", "00.0.0",
        "+1.2.3", "-1.2.3", "1.-2.3", " 1.2.3", "1.2.3 ", "1. 2.3", "1.2.3\n", "a.b.c", "1.2.3a",
        "1.2.3-rc1", "1.2.3+build", "4294967296.0.0", "0.4294967296.0", "0.0.4294967296",
        "99999999999999999999.0.0", "1,2,3", "v1.2.3", "0x1.2.3", "1.2.3.",
    };
    struct nacre_image_version v;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_status(nacre_image_version_parse(good[i].text, &v), NACRE_UPDATE_OK);
        assert_int_equal(v.major, good[i].major);
        assert_int_equal(v.minor, good[i].minor);
        assert_int_equal(v.patch, good[i].patch);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = (struct nacre_image_version){7, 7, 7};
        nacre_update_status s = nacre_image_version_parse(bad[i], &v);
        if (s != NACRE_UPDATE_ERR_BAD_VERSION) {
            print_error("version \"%s\" accepted\n", bad[i]);
        }
        assert_status(s, NACRE_UPDATE_ERR_BAD_VERSION);
        assert_int_equal(v.major, 7); /* untouched on failure */
    }
    assert_status(nacre_image_version_parse(NULL, &v), NACRE_UPDATE_ERR_ARGUMENT);
    assert_status(nacre_image_version_parse("1.2.3", NULL), NACRE_UPDATE_ERR_ARGUMENT);

    static const struct nacre_image_version order[] = {
        {0, 0, 0}, {0, 0, 1}, {0, 1, 0}, {0, 4294967295u, 4294967295u}, {1, 0, 0}, {1, 0, 10},
        {1, 2, 0}, {2, 0, 0}, {4294967295u, 0, 0},
    };
    const size_t n = sizeof order / sizeof order[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            int want = i < j ? -1 : i > j ? 1 : 0;
            assert_int_equal(nacre_image_version_compare(&order[i], &order[j]), want);
        }
    }
    assert_int_equal(nacre_image_version_compare(NULL, &order[0]), -1);
    assert_int_equal(nacre_image_version_compare(&order[0], NULL), 1);
    assert_int_equal(nacre_image_version_compare(NULL, NULL), 0);
}

static void test_names(void **state)
{
    (void)state;
    /* Every status has its own sentence. */
    const char *seen[29] = {0};
    for (int i = 1; i <= 28; i++) {
        const char *s = nacre_update_strerror((nacre_update_status)i);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown status");
        for (int j = 1; j < i; j++) {
            assert_string_not_equal(s, seen[j]);
        }
        seen[i] = s;
    }
    assert_string_equal(nacre_update_strerror(NACRE_UPDATE_OK), "success");
    assert_string_equal(nacre_update_strerror((nacre_update_status)0), "unknown status");
    assert_string_equal(nacre_update_strerror((nacre_update_status)29), "unknown status");
    assert_string_equal(nacre_update_strerror((nacre_update_status)-1), "unknown status");
    assert_string_equal(nacre_update_slot_name(NACRE_UPDATE_SLOT_A), "A");
    assert_string_equal(nacre_update_slot_name(NACRE_UPDATE_SLOT_B), "B");
    assert_string_equal(nacre_update_slot_name(NACRE_UPDATE_SLOT_NONE), "none");
    assert_string_equal(nacre_update_slot_name((nacre_update_slot)7), "none");
    assert_string_equal(nacre_boot_reason_name(NACRE_BOOT_CONFIRMED), "confirmed image");
    assert_string_equal(nacre_boot_reason_name(NACRE_BOOT_TRIAL), "trial boot of a pending update");
    for (int r = NACRE_BOOT_CONFIRMED; r <= NACRE_BOOT_FALLBACK; r++) {
        assert_string_not_equal(nacre_boot_reason_name((nacre_boot_reason)r), "unknown reason");
    }
    assert_string_equal(nacre_boot_reason_name((nacre_boot_reason)0), "unknown reason");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_round_trip_root_signed),
    cmocka_unit_test(test_round_trip_cert_signed),
    cmocka_unit_test(test_dependencies_and_empty_payload),
    cmocka_unit_test(test_hand_builder_matches_library),
    cmocka_unit_test(test_offline_signing_libsodium),
    cmocka_unit_test(test_offline_signing_openssl),
    cmocka_unit_test(test_bit_flips_refused),
    cmocka_unit_test(test_truncated_every_length),
    cmocka_unit_test(test_header_fields),
    cmocka_unit_test(test_oversized_lengths),
    cmocka_unit_test(test_tlv_bounds),
    cmocka_unit_test(test_tlv_lengths_and_contents),
    cmocka_unit_test(test_tlv_missing_duplicate_unknown),
    cmocka_unit_test(test_non_zero_after_end),
    cmocka_unit_test(test_signer_and_keys),
    cmocka_unit_test(test_revoked_key),
    cmocka_unit_test(test_policy),
    cmocka_unit_test(test_attach_refusals),
    cmocka_unit_test(test_resign_clears_area),
    cmocka_unit_test(test_create_validates_params),
    cmocka_unit_test(test_keycert),
    cmocka_unit_test(test_arguments),
    cmocka_unit_test(test_version_parse),
    cmocka_unit_test(test_names),
};

int main(void)
{
    return cmocka_run_group_tests(tests, setup, NULL);
}
