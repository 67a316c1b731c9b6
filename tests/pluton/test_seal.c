#define _GNU_SOURCE /* memmem */
/*
 * Sealed storage: round trips, binding to device / context / measurements,
 * every-byte tampering, and an independent decryption of the documented
 * format with raw libsodium.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "test_support.h"

#define BIG (NACRE_PLUTON_SEAL_MAX_PLAINTEXT + NACRE_PLUTON_SEAL_OVERHEAD + 16)

static uint8_t blob[BIG];
static uint8_t out[BIG];
static const char secret[] = "wifi password: correct horse battery staple";

static size_t seal_it(struct nacre_test_device *d, const void *ctx, size_t ctx_len, uint32_t mask)
{
    size_t len = 0;
    assert_int_equal(nacre_pluton_seal(d->p, blob, sizeof blob, &len, secret, sizeof secret, ctx,
                                       ctx_len, mask), NACRE_PLUTON_OK);
    assert_int_equal(len, sizeof secret + NACRE_PLUTON_SEAL_OVERHEAD);
    return len;
}

static nacre_pluton_status unseal_it(struct nacre_test_device *d, size_t len, const void *ctx,
                                     size_t ctx_len)
{
    size_t out_len = 0;
    memset(out, 0, sizeof out);
    nacre_pluton_status s = nacre_pluton_unseal(d->p, out, sizeof out, &out_len, blob, len, ctx, ctx_len);
    if (s == NACRE_PLUTON_OK) {
        assert_int_equal(out_len, sizeof secret);
        assert_memory_equal(out, secret, sizeof secret);
    } else {
        /* A refusal never leaks plaintext. */
        assert_null(memmem(out, sizeof out, "correct horse", 13));
    }
    return s;
}

static void test_round_trip_and_sizes(void **state)
{
    (void)state;
    struct nacre_test_device d;
    size_t len;
    nacre_test_device_new(&d, "seal-rt", NULL, 1);
    assert_int_equal(nacre_pluton_seal(d.p, blob, sizeof blob, &len, "x", 1, NULL, 0, 0),
                     NACRE_PLUTON_ERR_NOT_BOOTED);
    nacre_test_device_boot(&d, "fw");

    len = seal_it(&d, NULL, 0, 0);
    assert_int_equal(unseal_it(&d, len, NULL, 0), NACRE_PLUTON_OK);
    /* Two seals of the same data differ (random nonce). */
    uint8_t first[256];
    memcpy(first, blob, len);
    seal_it(&d, NULL, 0, 0);
    assert_memory_not_equal(first, blob, len);

    /* Empty plaintext, maximum plaintext, one byte too many. */
    size_t out_len = 99;
    assert_int_equal(nacre_pluton_seal(d.p, blob, sizeof blob, &len, NULL, 0, NULL, 0, 0), NACRE_PLUTON_OK);
    assert_int_equal(len, NACRE_PLUTON_SEAL_OVERHEAD);
    assert_int_equal(nacre_pluton_unseal(d.p, NULL, 0, &out_len, blob, len, NULL, 0), NACRE_PLUTON_OK);
    assert_int_equal(out_len, 0);
    static uint8_t big[NACRE_PLUTON_SEAL_MAX_PLAINTEXT + 1];
    randombytes_buf(big, sizeof big);
    assert_int_equal(nacre_pluton_seal(d.p, blob, sizeof blob, &len, big, sizeof big - 1, NULL, 0, 0),
                     NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_unseal(d.p, out, sizeof out, &out_len, blob, len, NULL, 0), NACRE_PLUTON_OK);
    assert_memory_equal(out, big, sizeof big - 1);
    assert_int_equal(nacre_pluton_seal(d.p, blob, sizeof blob, &len, big, sizeof big, NULL, 0, 0),
                     NACRE_PLUTON_ERR_ARGUMENT);

    /* Buffers too small on either side. */
    assert_int_equal(nacre_pluton_seal(d.p, blob, sizeof secret + NACRE_PLUTON_SEAL_OVERHEAD - 1, &len,
                                       secret, sizeof secret, NULL, 0, 0), NACRE_PLUTON_ERR_BUFFER_TOO_SMALL);
    len = seal_it(&d, NULL, 0, 0);
    assert_int_equal(nacre_pluton_unseal(d.p, out, sizeof secret - 1, &out_len, blob, len, NULL, 0),
                     NACRE_PLUTON_ERR_BUFFER_TOO_SMALL);
    /* Bad arguments. */
    assert_int_equal(nacre_pluton_seal(d.p, blob, sizeof blob, &len, secret, sizeof secret, NULL, 0, 1u << 8),
                     NACRE_PLUTON_ERR_ARGUMENT);
    uint8_t ctx[NACRE_PLUTON_LABEL_MAX + 1] = {0};
    assert_int_equal(nacre_pluton_seal(d.p, blob, sizeof blob, &len, secret, sizeof secret, ctx, sizeof ctx, 0),
                     NACRE_PLUTON_ERR_ARGUMENT);
    nacre_test_device_free(&d);
}

static void test_every_byte_tampered(void **state)
{
    (void)state;
    struct nacre_test_device d;
    nacre_test_device_new(&d, "seal-tamper", NULL, 1);
    nacre_test_device_boot(&d, "fw");
    size_t len = seal_it(&d, "app:x", 5, 0x1);
    int refused = 0;
    for (size_t i = 0; i < len; i++) {
        for (unsigned bit = 0; bit < 8; bit += 7) {
            blob[i] ^= (uint8_t)(1u << bit);
            nacre_pluton_status s = unseal_it(&d, len, "app:x", 5);
            assert_int_not_equal(s, NACRE_PLUTON_OK);
            refused++;
            blob[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(unseal_it(&d, len, "app:x", 5), NACRE_PLUTON_OK);
    /* Truncated, extended, garbage. */
    for (size_t cut = 0; cut < len; cut += 7) {
        assert_int_not_equal(unseal_it(&d, cut, "app:x", 5), NACRE_PLUTON_OK);
    }
    blob[len] = 0;
    assert_int_equal(unseal_it(&d, len + 1, "app:x", 5), NACRE_PLUTON_ERR_SEAL_FORMAT);
    memcpy(blob, "NOPE", 4);
    assert_int_equal(unseal_it(&d, len, "app:x", 5), NACRE_PLUTON_ERR_SEAL_FORMAT);
    print_message("seal: %d single-bit tamperings of a %zu-byte blob, all refused\n", refused, len);
    nacre_test_device_free(&d);
}

static void test_bound_to_device_and_context(void **state)
{
    (void)state;
    struct nacre_test_device a, b;
    nacre_test_device_new(&a, "seal-a", NULL, 1);
    nacre_test_device_new(&b, "seal-b", NULL, 1);
    nacre_test_device_boot(&a, "fw");
    nacre_test_device_boot(&b, "fw");
    size_t len = seal_it(&a, "app:hello", 9, 0);
    assert_int_equal(unseal_it(&b, len, "app:hello", 9), NACRE_PLUTON_ERR_SEAL_WRONG_DEVICE);
    assert_int_equal(unseal_it(&a, len, "app:other", 9), NACRE_PLUTON_ERR_SEAL_AUTH);
    assert_int_equal(unseal_it(&a, len, NULL, 0), NACRE_PLUTON_ERR_SEAL_AUTH);
    assert_int_equal(unseal_it(&a, len, "app:hello", 9), NACRE_PLUTON_OK);

    /* Contexts that share a prefix or differ only in length stay apart
     * (the last context's key is cached inside pluton). */
    len = seal_it(&a, "ab", 2, 0);
    assert_int_equal(unseal_it(&a, len, "abc", 3), NACRE_PLUTON_ERR_SEAL_AUTH);
    assert_int_equal(unseal_it(&a, len, "a", 1), NACRE_PLUTON_ERR_SEAL_AUTH);
    assert_int_equal(unseal_it(&a, len, "ab", 2), NACRE_PLUTON_OK);
    assert_int_equal(unseal_it(&a, len, "ab\0", 3), NACRE_PLUTON_ERR_SEAL_AUTH);
    assert_int_equal(unseal_it(&a, len, "ab", 2), NACRE_PLUTON_OK);

    /* Copying device A's tag into the blob does not help device B. */
    uint8_t tag_b[16];
    size_t len_b = seal_it(&b, "app:hello", 9, 0);
    memcpy(tag_b, blob + 16, 16);
    (void)len_b;
    len = seal_it(&a, "app:hello", 9, 0);
    memcpy(blob + 16, tag_b, 16);
    assert_int_equal(unseal_it(&b, len, "app:hello", 9), NACRE_PLUTON_ERR_SEAL_AUTH);
    nacre_test_device_free(&a);
    nacre_test_device_free(&b);
}

static void test_bound_to_measurements(void **state)
{
    (void)state;
    struct nacre_test_device d;
    nacre_test_device_new(&d, "seal-meas", NULL, 1);
    nacre_test_device_boot(&d, "firmware 1.0");
    uint8_t ev[32];
    memset(ev, 0x11, sizeof ev);
    assert_int_equal(nacre_pluton_measure_extend(d.p, 2, ev), NACRE_PLUTON_OK);

    size_t len_r0 = seal_it(&d, NULL, 0, 0x1);
    uint8_t blob_r0[256];
    memcpy(blob_r0, blob, len_r0);
    size_t len_none = seal_it(&d, NULL, 0, 0);
    uint8_t blob_none[256];
    memcpy(blob_none, blob, len_none);
    size_t len_r2 = seal_it(&d, NULL, 0, 0x4);

    /* A later extend of R2 breaks the R2-bound blob only. */
    assert_int_equal(unseal_it(&d, len_r2, NULL, 0), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_measure_extend(d.p, 2, ev), NACRE_PLUTON_OK);
    assert_int_equal(unseal_it(&d, len_r2, NULL, 0), NACRE_PLUTON_ERR_SEAL_MEASUREMENT);

    /* Other firmware: the R0-bound blob is refused, the device-bound one opens. */
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    nacre_test_device_boot(&d, "firmware 2.0 (or a tampered 1.0)");
    memcpy(blob, blob_r0, len_r0);
    assert_int_equal(unseal_it(&d, len_r0, NULL, 0), NACRE_PLUTON_ERR_SEAL_MEASUREMENT);
    memcpy(blob, blob_none, len_none);
    assert_int_equal(unseal_it(&d, len_none, NULL, 0), NACRE_PLUTON_OK);

    /* Clearing the mask to dodge the policy breaks the AEAD instead. */
    memcpy(blob, blob_r0, len_r0);
    memset(blob + 8, 0, 4);
    memset(blob + 32, 0, 32);
    assert_int_equal(unseal_it(&d, len_r0, NULL, 0), NACRE_PLUTON_ERR_SEAL_AUTH);

    /* Back on the original firmware it opens again. */
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    nacre_test_device_boot(&d, "firmware 1.0");
    memcpy(blob, blob_r0, len_r0);
    assert_int_equal(unseal_it(&d, len_r0, NULL, 0), NACRE_PLUTON_OK);
    nacre_test_device_free(&d);
}

/* Decrypt a blob with raw libsodium from the documented format and KDF. */
static void test_format_matches_documentation(void **state)
{
    (void)state;
    struct nacre_test_device d;
    static const uint8_t seed[32] = {0x5E};
    nacre_test_device_new(&d, "seal-doc", seed, 1);
    char path[512];
    uint8_t uds[32];
    snprintf(path, sizeof path, "%s/otp.bin", d.dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 32 + 0x10, SEEK_SET), 0);
    assert_int_equal(fread(uds, 1, 32, f), 32);
    fclose(f);
    nacre_test_device_boot(&d, "fw");
    size_t len = seal_it(&d, "ctx", 3, 0);

    /* seal root = KDF(UDS, "seal"); key = KDF(seal root, "seal", context). */
    uint8_t msg[64], seal_root[32], key[32], tag[32];
    memcpy(msg, "nacre/v1/seal\0", 14);
    crypto_generichash(seal_root, 32, msg, 14, uds, 32);
    memcpy(msg, "nacre/v1/seal\0ctx", 17);
    crypto_generichash(key, 32, msg, 17, seal_root, 32);
    memcpy(msg, "nacre/v1/seal-device-tag\0", 25);
    crypto_generichash(tag, 32, msg, 25, seal_root, 32);

    assert_memory_equal(blob, "NSEL\x01\0\0\0", 8);
    assert_int_equal(blob[12] | blob[13] << 8, sizeof secret);
    assert_memory_equal(blob + 16, tag, 16);
    unsigned long long mlen;
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, blob + 88, len - 88,
                                                                blob, 88, blob + 64, key), 0);
    assert_int_equal(mlen, sizeof secret);
    assert_memory_equal(out, secret, sizeof secret);
    sodium_memzero(key, sizeof key);
    nacre_test_device_free(&d);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_round_trip_and_sizes),
    cmocka_unit_test(test_every_byte_tampered),
    cmocka_unit_test(test_bound_to_device_and_context),
    cmocka_unit_test(test_bound_to_measurements),
    cmocka_unit_test(test_format_matches_documentation),
};

int main(void)
{
    return cmocka_run_group_tests(tests, NULL, NULL);
}
