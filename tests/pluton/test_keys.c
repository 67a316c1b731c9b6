/*
 * DICE derivation and key handles of libpluton.
 *
 * Derivations are checked two ways: properties (stable, firmware-bound,
 * different across devices) and an independent recomputation from the UDS,
 * read straight out of otp.bin with raw libsodium, following the byte
 * strings documented in docs/pluton.md.
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

static uint8_t seed_a[32];
static uint8_t seed_b[32];

static int setup_seeds(void **state)
{
    (void)state;
    memset(seed_a, 0xA1, sizeof seed_a);
    memset(seed_b, 0xB2, sizeof seed_b);
    return 0;
}

static void public_of(struct nacre_test_device *d, nacre_pluton_key k, uint8_t pk[32])
{
    assert_int_equal(nacre_pluton_key_public(d->p, k, pk), NACRE_PLUTON_OK);
}

/* Boots a device (new or reset) with firmware, returns DeviceID and Alias keys. */
static void boot_keys(struct nacre_test_device *d, const char *fw, uint8_t id[32], uint8_t alias[32])
{
    nacre_test_device_boot(d, fw);
    public_of(d, NACRE_PLUTON_KEY_DEVICE_ID, id);
    public_of(d, NACRE_PLUTON_KEY_ALIAS, alias);
}

/* The documented KDF, written again from the spec with raw libsodium. */
static void spec_kdf(uint8_t out[32], const uint8_t key[32], const char *label, const void *info,
                     size_t info_len)
{
    uint8_t msg[256];
    size_t n = 0;
    const char prefix[] = "nacre/v1/";
    memcpy(msg, prefix, sizeof prefix - 1);
    n += sizeof prefix - 1;
    memcpy(msg + n, label, strlen(label) + 1); /* with its NUL separator */
    n += strlen(label) + 1;
    if (info_len > 0) {
        memcpy(msg + n, info, info_len);
        n += info_len;
    }
    crypto_generichash(out, 32, msg, n, key, 32);
}

static void read_uds_from_file(const char *dir, uint8_t uds[32])
{
    char path[512];
    snprintf(path, sizeof path, "%s/otp.bin", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 32 + 0x10, SEEK_SET), 0); /* header, then fuse 0x10 */
    assert_int_equal(fread(uds, 1, 32, f), 32);
    fclose(f);
}

static void test_device_id_stable_alias_follows_firmware(void **state)
{
    (void)state;
    struct nacre_test_device d;
    uint8_t id1[32], id2[32], id3[32], al1[32], al2[32], al3[32];
    nacre_test_device_new(&d, "keys-fw", NULL, 1);

    boot_keys(&d, "firmware v1", id1, al1);
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    boot_keys(&d, "firmware v2", id2, al2);
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    boot_keys(&d, "firmware v1", id3, al3);

    assert_memory_equal(id1, id2, 32);   /* DeviceID: the device, for life */
    assert_memory_equal(id1, id3, 32);
    assert_memory_not_equal(al1, al2, 32); /* Alias: the firmware */
    assert_memory_equal(al1, al3, 32);
    assert_memory_not_equal(id1, al1, 32);
    nacre_test_device_free(&d);
}

static void test_derivation_deterministic_per_uds(void **state)
{
    (void)state;
    struct nacre_test_device a, a2, b;
    uint8_t ida[32], ida2[32], idb[32], ala[32], ala2[32], alb[32];
    nacre_test_device_new(&a, "keys-a", seed_a, 1);
    nacre_test_device_new(&a2, "keys-a2", seed_a, 1);
    nacre_test_device_new(&b, "keys-b", seed_b, 1);
    boot_keys(&a, "fw", ida, ala);
    boot_keys(&a2, "fw", ida2, ala2);
    boot_keys(&b, "fw", idb, alb);
    /* Same UDS (same entropy seed) -> same keys; another device -> others. */
    assert_memory_equal(ida, ida2, 32);
    assert_memory_equal(ala, ala2, 32);
    assert_memory_not_equal(ida, idb, 32);
    assert_memory_not_equal(ala, alb, 32);

    nacre_pluton_key ka, kb;
    uint8_t pka[32], pkb[32];
    assert_int_equal(nacre_pluton_key_derive(a.p, NACRE_PLUTON_KEY_BASE_DEVICE, "app:hello", 9, &ka),
                     NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_key_derive(b.p, NACRE_PLUTON_KEY_BASE_DEVICE, "app:hello", 9, &kb),
                     NACRE_PLUTON_OK);
    public_of(&a, ka, pka);
    public_of(&b, kb, pkb);
    assert_memory_not_equal(pka, pkb, 32);
    nacre_test_device_free(&a);
    nacre_test_device_free(&a2);
    nacre_test_device_free(&b);
}

static void test_derivation_matches_documented_kdf(void **state)
{
    (void)state;
    struct nacre_test_device d;
    uint8_t uds[32], id[32], alias[32], seed[32], cdi[32], r0[32], pk[32], sk[64], droot[32];
    nacre_test_device_new(&d, "keys-spec", seed_a, 1);
    read_uds_from_file(d.dir, uds);
    boot_keys(&d, "measured firmware", id, alias);
    assert_int_equal(nacre_pluton_measure_read(d.p, 0, r0), NACRE_PLUTON_OK);

    spec_kdf(seed, uds, "device-id", NULL, 0);
    crypto_sign_seed_keypair(pk, sk, seed);
    assert_memory_equal(pk, id, 32);

    spec_kdf(cdi, uds, "cdi", r0, 32);
    spec_kdf(seed, cdi, "alias", NULL, 0);
    crypto_sign_seed_keypair(pk, sk, seed);
    assert_memory_equal(pk, alias, 32);

    nacre_pluton_key k;
    uint8_t got[32];
    spec_kdf(droot, uds, "derive", NULL, 0);
    spec_kdf(seed, droot, "key", "app:thermostat", 14);
    crypto_sign_seed_keypair(pk, sk, seed);
    assert_int_equal(nacre_pluton_key_derive(d.p, NACRE_PLUTON_KEY_BASE_DEVICE, "app:thermostat", 14, &k),
                     NACRE_PLUTON_OK);
    public_of(&d, k, got);
    assert_memory_equal(got, pk, 32);

    spec_kdf(seed, cdi, "key", "app:thermostat", 14);
    crypto_sign_seed_keypair(pk, sk, seed);
    assert_int_equal(nacre_pluton_key_derive(d.p, NACRE_PLUTON_KEY_BASE_FIRMWARE, "app:thermostat", 14, &k),
                     NACRE_PLUTON_OK);
    public_of(&d, k, got);
    assert_memory_equal(got, pk, 32);
    sodium_memzero(sk, sizeof sk);
    nacre_test_device_free(&d);
}

static void test_derived_keys_bases_and_labels(void **state)
{
    (void)state;
    struct nacre_test_device d;
    uint8_t id[32], al[32], dev1[32], dev2[32], fw1[32], fw2[32], other[32];
    nacre_pluton_key k;
    nacre_test_device_new(&d, "keys-derive", NULL, 1);

    boot_keys(&d, "fw-1", id, al);
    assert_int_equal(nacre_pluton_key_derive(d.p, NACRE_PLUTON_KEY_BASE_DEVICE, "app:a", 5, &k), NACRE_PLUTON_OK);
    public_of(&d, k, dev1);
    assert_int_equal(nacre_pluton_key_derive(d.p, NACRE_PLUTON_KEY_BASE_FIRMWARE, "app:a", 5, &k), NACRE_PLUTON_OK);
    public_of(&d, k, fw1);
    assert_int_equal(nacre_pluton_key_derive(d.p, NACRE_PLUTON_KEY_BASE_DEVICE, "app:b", 5, &k), NACRE_PLUTON_OK);
    public_of(&d, k, other);
    assert_memory_not_equal(dev1, other, 32);  /* purpose separation */
    assert_memory_not_equal(dev1, fw1, 32);    /* base separation */
    assert_memory_not_equal(dev1, id, 32);

    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    boot_keys(&d, "fw-2", id, al);
    assert_int_equal(nacre_pluton_key_derive(d.p, NACRE_PLUTON_KEY_BASE_DEVICE, "app:a", 5, &k), NACRE_PLUTON_OK);
    public_of(&d, k, dev2);
    assert_int_equal(nacre_pluton_key_derive(d.p, NACRE_PLUTON_KEY_BASE_FIRMWARE, "app:a", 5, &k), NACRE_PLUTON_OK);
    public_of(&d, k, fw2);
    assert_memory_equal(dev1, dev2, 32);       /* device-bound survives an update */
    assert_memory_not_equal(fw1, fw2, 32);     /* firmware-bound does not */

    uint8_t long_label[NACRE_PLUTON_LABEL_MAX + 1];
    memset(long_label, 'x', sizeof long_label);
    assert_int_equal(nacre_pluton_key_derive(d.p, NACRE_PLUTON_KEY_BASE_DEVICE, long_label, 0, &k),
                     NACRE_PLUTON_ERR_ARGUMENT);
    assert_int_equal(nacre_pluton_key_derive(d.p, NACRE_PLUTON_KEY_BASE_DEVICE, long_label,
                                             sizeof long_label, &k), NACRE_PLUTON_ERR_ARGUMENT);
    assert_int_equal(nacre_pluton_key_derive(d.p, NACRE_PLUTON_KEY_BASE_DEVICE, long_label,
                                             NACRE_PLUTON_LABEL_MAX, &k), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_key_derive(d.p, (nacre_pluton_key_base)7, "a", 1, &k),
                     NACRE_PLUTON_ERR_ARGUMENT);
    nacre_test_device_free(&d);
}

static void test_handles(void **state)
{
    (void)state;
    struct nacre_test_device d;
    nacre_pluton_key keys[NACRE_PLUTON_KEY_SLOTS], extra, again;
    uint8_t sig[64], pk[32];
    nacre_test_device_new(&d, "keys-handles", NULL, 1);
    nacre_test_device_boot(&d, NULL);

    for (unsigned i = 0; i < NACRE_PLUTON_KEY_SLOTS; i++) {
        assert_int_equal(nacre_pluton_key_derive(d.p, NACRE_PLUTON_KEY_BASE_DEVICE, "k", 1, &keys[i]),
                         NACRE_PLUTON_OK);
        assert_true(keys[i] != NACRE_PLUTON_KEY_DEVICE_ID && keys[i] != NACRE_PLUTON_KEY_ALIAS);
    }
    assert_int_equal(nacre_pluton_key_derive(d.p, NACRE_PLUTON_KEY_BASE_DEVICE, "k", 1, &extra),
                     NACRE_PLUTON_ERR_NO_KEY_SLOT);

    /* A destroyed handle stays dead, even once its slot holds a new key. */
    assert_int_equal(nacre_pluton_key_destroy(d.p, keys[3]), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_sign(d.p, keys[3], sig, "m", 1), NACRE_PLUTON_ERR_BAD_HANDLE);
    assert_int_equal(nacre_pluton_key_destroy(d.p, keys[3]), NACRE_PLUTON_ERR_BAD_HANDLE);
    assert_int_equal(nacre_pluton_key_derive(d.p, NACRE_PLUTON_KEY_BASE_DEVICE, "new", 3, &again),
                     NACRE_PLUTON_OK);
    assert_true(again != keys[3]);
    assert_int_equal(nacre_pluton_key_public(d.p, keys[3], pk), NACRE_PLUTON_ERR_BAD_HANDLE);
    assert_int_equal(nacre_pluton_sign(d.p, again, sig, "m", 1), NACRE_PLUTON_OK);

    /* Made-up handles and the fixed DICE handles. */
    assert_int_equal(nacre_pluton_sign(d.p, 0, sig, "m", 1), NACRE_PLUTON_ERR_BAD_HANDLE);
    assert_int_equal(nacre_pluton_sign(d.p, 0xFFFFFFFFu, sig, "m", 1), NACRE_PLUTON_ERR_BAD_HANDLE);
    assert_int_equal(nacre_pluton_sign(d.p, keys[0] ^ 0x10000u, sig, "m", 1), NACRE_PLUTON_ERR_BAD_HANDLE);
    assert_int_equal(nacre_pluton_key_destroy(d.p, NACRE_PLUTON_KEY_DEVICE_ID), NACRE_PLUTON_ERR_BAD_HANDLE);
    assert_int_equal(nacre_pluton_key_destroy(d.p, NACRE_PLUTON_KEY_ALIAS), NACRE_PLUTON_ERR_BAD_HANDLE);
    assert_int_equal(nacre_pluton_sign(d.p, NACRE_PLUTON_KEY_DEVICE_ID, NULL, "m", 1), NACRE_PLUTON_ERR_ARGUMENT);
    nacre_test_device_free(&d);
}

static void test_sign_verify_and_random(void **state)
{
    (void)state;
    struct nacre_test_device d;
    uint8_t sig[64], pk[32], r1[64], r2[64];
    static const char msg[] = "attest me";
    nacre_test_device_new(&d, "keys-sign", NULL, 1);
    nacre_test_device_boot(&d, "fw");

    const nacre_pluton_key keys[] = {NACRE_PLUTON_KEY_DEVICE_ID, NACRE_PLUTON_KEY_ALIAS};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(nacre_pluton_sign(d.p, keys[i], sig, msg, sizeof msg), NACRE_PLUTON_OK);
        public_of(&d, keys[i], pk);
        /* Checked by raw libsodium, not only by our own verify. */
        assert_int_equal(crypto_sign_verify_detached(sig, (const uint8_t *)msg, sizeof msg, pk), 0);
        assert_int_equal(nacre_pluton_verify(sig, msg, sizeof msg, pk), NACRE_PLUTON_OK);
        sig[10] ^= 1;
        assert_int_equal(nacre_pluton_verify(sig, msg, sizeof msg, pk), NACRE_PLUTON_ERR_BAD_SIGNATURE);
    }
    assert_int_equal(nacre_pluton_sign(d.p, NACRE_PLUTON_KEY_ALIAS, sig, NULL, 0), NACRE_PLUTON_OK);
    public_of(&d, NACRE_PLUTON_KEY_ALIAS, pk);
    assert_int_equal(nacre_pluton_verify(sig, NULL, 0, pk), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_verify(NULL, msg, 1, pk), NACRE_PLUTON_ERR_ARGUMENT);

    assert_int_equal(nacre_pluton_random(d.p, r1, sizeof r1), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_random(d.p, r2, sizeof r2), NACRE_PLUTON_OK);
    assert_memory_not_equal(r1, r2, sizeof r1);
    assert_int_equal(nacre_pluton_random(d.p, NULL, 0), NACRE_PLUTON_OK);
    nacre_test_device_free(&d);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_device_id_stable_alias_follows_firmware),
    cmocka_unit_test(test_derivation_deterministic_per_uds),
    cmocka_unit_test(test_derivation_matches_documented_kdf),
    cmocka_unit_test(test_derived_keys_bases_and_labels),
    cmocka_unit_test(test_handles),
    cmocka_unit_test(test_sign_verify_and_random),
};

int main(void)
{
    return cmocka_run_group_tests(tests, setup_seeds, NULL);
}
