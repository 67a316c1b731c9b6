/*
 * Lifecycle, OTP and boot-stage rules of libpluton.
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

#define OTP_FILE_HEADER 32 /* otp.bin: header, then the fuses (docs/boards.md) */

static const uint8_t seed_a[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static void patch_otp(const char *dir, long offset, const uint8_t *bytes, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/otp.bin", dir);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, OTP_FILE_HEADER + offset, SEEK_SET), 0);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void test_blank_refuses_everything_but_provisioning(void **state)
{
    (void)state;
    struct nacre_test_device d;
    nacre_test_device_new(&d, "lc-blank", NULL, 0);
    nacre_pluton *p = d.p;
    uint8_t sig[64], buf[256], pk[32];
    size_t len;
    uint32_t v;
    nacre_pluton_key k;

    assert_int_equal(nacre_pluton_lifecycle_get(p), NACRE_PLUTON_LIFECYCLE_BLANK);
    assert_int_equal(nacre_pluton_boot_complete(p), NACRE_PLUTON_ERR_NOT_PROVISIONED);
    assert_int_equal(nacre_pluton_sign(p, NACRE_PLUTON_KEY_DEVICE_ID, sig, "x", 1),
                     NACRE_PLUTON_ERR_NOT_PROVISIONED);
    assert_int_equal(nacre_pluton_key_public(p, NACRE_PLUTON_KEY_ALIAS, pk),
                     NACRE_PLUTON_ERR_NOT_PROVISIONED);
    assert_int_equal(nacre_pluton_key_derive(p, NACRE_PLUTON_KEY_BASE_DEVICE, "a", 1, &k),
                     NACRE_PLUTON_ERR_NOT_PROVISIONED);
    assert_int_equal(nacre_pluton_key_import_ed25519(p, seed_a, &k), NACRE_PLUTON_ERR_NOT_PROVISIONED);
    assert_int_equal(nacre_pluton_seal(p, buf, sizeof buf, &len, "x", 1, NULL, 0, 0),
                     NACRE_PLUTON_ERR_NOT_PROVISIONED);
    assert_int_equal(nacre_pluton_counter_read(p, 0, &v), NACRE_PLUTON_ERR_NOT_PROVISIONED);
    assert_int_equal(nacre_pluton_counter_increment(p, 0, &v), NACRE_PLUTON_ERR_NOT_PROVISIONED);
    assert_int_equal(nacre_pluton_secure(p), NACRE_PLUTON_ERR_NOT_PROVISIONED);
    assert_int_equal(nacre_pluton_set_root_key_hash(p, seed_a), NACRE_PLUTON_ERR_NOT_PROVISIONED);
    assert_int_equal(nacre_pluton_root_key_hash(p, buf), NACRE_PLUTON_ERR_NOT_SET);
    assert_int_equal(nacre_pluton_debug_locked(p), 0);
    nacre_test_device_free(&d);
}

static void test_lifecycle_moves_forward_only(void **state)
{
    (void)state;
    struct nacre_test_device d;
    uint8_t hash[32], got[32];
    memset(hash, 0x5C, sizeof hash);
    nacre_test_device_new(&d, "lc-forward", NULL, 1);

    assert_int_equal(nacre_pluton_lifecycle_get(d.p), NACRE_PLUTON_LIFECYCLE_PROVISIONED);
    assert_int_equal(nacre_pluton_provision(d.p, NULL), NACRE_PLUTON_ERR_ALREADY_PROVISIONED);
    /* SECURED needs a root key to verify updates against. */
    assert_int_equal(nacre_pluton_secure(d.p), NACRE_PLUTON_ERR_NOT_SECURABLE);
    assert_int_equal(nacre_pluton_root_key_hash(d.p, got), NACRE_PLUTON_ERR_NOT_SET);

    /* The lifecycle is in OTP: it survives a reset. */
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_lifecycle_get(d.p), NACRE_PLUTON_LIFECYCLE_PROVISIONED);

    assert_int_equal(nacre_pluton_set_root_key_hash(d.p, hash), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_set_root_key_hash(d.p, hash), NACRE_PLUTON_ERR_ALREADY_PROVISIONED);
    assert_int_equal(nacre_pluton_root_key_hash(d.p, got), NACRE_PLUTON_OK);
    assert_memory_equal(got, hash, 32);
    assert_int_equal(nacre_pluton_debug_locked(d.p), 0);

    assert_int_equal(nacre_pluton_secure(d.p), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_lifecycle_get(d.p), NACRE_PLUTON_LIFECYCLE_SECURED);
    assert_int_equal(nacre_pluton_debug_locked(d.p), 1);
    assert_int_equal(nacre_pluton_secure(d.p), NACRE_PLUTON_ERR_OTP_LOCKED);
    assert_int_equal(nacre_pluton_set_root_key_hash(d.p, hash), NACRE_PLUTON_ERR_OTP_LOCKED);
    assert_int_equal(nacre_pluton_provision(d.p, NULL), NACRE_PLUTON_ERR_ALREADY_PROVISIONED);

    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_lifecycle_get(d.p), NACRE_PLUTON_LIFECYCLE_SECURED);
    assert_int_equal(nacre_pluton_root_key_hash(d.p, got), NACRE_PLUTON_OK);
    assert_memory_equal(got, hash, 32);
    /* A secured device still does everything a provisioned one does. */
    nacre_test_device_boot(&d, "fw");
    uint8_t sig[64], pk[32];
    assert_int_equal(nacre_pluton_sign(d.p, NACRE_PLUTON_KEY_DEVICE_ID, sig, "m", 1), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_key_public(d.p, NACRE_PLUTON_KEY_DEVICE_ID, pk), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_verify(sig, "m", 1, pk), NACRE_PLUTON_OK);
    nacre_test_device_free(&d);
}

static void test_provision_with_root_hash(void **state)
{
    (void)state;
    struct nacre_test_device d;
    uint8_t hash[32], got[32];
    randombytes_buf(hash, sizeof hash);
    nacre_test_device_new(&d, "lc-root", NULL, 0);
    assert_int_equal(nacre_pluton_provision(d.p, hash), NACRE_PLUTON_OK);
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_root_key_hash(d.p, got), NACRE_PLUTON_OK);
    assert_memory_equal(got, hash, 32);
    assert_int_equal(nacre_pluton_set_root_key_hash(d.p, hash), NACRE_PLUTON_ERR_ALREADY_PROVISIONED);
    assert_int_equal(nacre_pluton_secure(d.p), NACRE_PLUTON_OK);
    nacre_test_device_free(&d);
}

static void test_uds_locked_after_boot(void **state)
{
    (void)state;
    struct nacre_test_device d;
    uint8_t buf[32];
    nacre_test_device_new(&d, "lc-uds", NULL, 1);
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);

    /* Before boot the boot stage (pluton) can read the UDS fuses. */
    assert_int_equal(nacre_board_otp_read(d.board, 0x10, buf, sizeof buf), NACRE_BOARD_OK);
    assert_false(sodium_is_zero(buf, sizeof buf));
    nacre_pluton_key k;
    assert_int_equal(nacre_pluton_key_derive(d.p, NACRE_PLUTON_KEY_BASE_DEVICE, "a", 1, &k),
                     NACRE_PLUTON_ERR_NOT_BOOTED);
    uint8_t sig[64];
    assert_int_equal(nacre_pluton_sign(d.p, NACRE_PLUTON_KEY_ALIAS, sig, "x", 1), NACRE_PLUTON_ERR_NOT_BOOTED);

    nacre_test_device_boot(&d, NULL);
    assert_int_equal(nacre_pluton_booted(d.p), 1);
    /* After boot nobody gets the UDS again, not even through the board... */
    memset(buf, 0xEE, sizeof buf);
    assert_int_equal(nacre_board_otp_read(d.board, 0x10, buf, sizeof buf), NACRE_BOARD_ERR_LOCKED);
    assert_int_equal(nacre_board_otp_read(d.board, 0x2F, buf, 1), NACRE_BOARD_ERR_LOCKED);
    assert_int_equal(nacre_board_otp_program(d.board, 0x10, buf, 1), NACRE_BOARD_ERR_LOCKED);
    /* ...nor by running the derivation again, nor by re-initialising without a reset. */
    assert_int_equal(nacre_pluton_boot_complete(d.p), NACRE_PLUTON_ERR_ALREADY_BOOTED);
    nacre_pluton_deinit(d.p);
    assert_int_equal(nacre_pluton_init(d.p, d.board), NACRE_PLUTON_ERR_ALREADY_BOOTED);

    /* The boot seed: fixed within a boot, new at the next one. */
    uint8_t seed1[32], seed2[32], seed3[32];
    assert_int_equal(nacre_pluton_boot_seed(d.p, seed1), NACRE_PLUTON_ERR_NOT_INITIALIZED);

    /* A reset opens it again for the next boot stage. */
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    assert_int_equal(nacre_board_otp_read(d.board, 0x10, buf, sizeof buf), NACRE_BOARD_OK);
    assert_int_equal(nacre_pluton_boot_seed(d.p, seed1), NACRE_PLUTON_ERR_NOT_BOOTED);
    nacre_test_device_boot(&d, NULL);
    assert_int_equal(nacre_pluton_boot_seed(d.p, seed1), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_boot_seed(d.p, seed2), NACRE_PLUTON_OK);
    assert_memory_equal(seed1, seed2, 32);
    assert_false(sodium_is_zero(seed1, 32));
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    nacre_test_device_boot(&d, NULL);
    assert_int_equal(nacre_pluton_boot_seed(d.p, seed3), NACRE_PLUTON_OK);
    assert_memory_not_equal(seed1, seed3, 32);
    nacre_test_device_free(&d);
}

static void test_registers_extend_only_and_reset(void **state)
{
    (void)state;
    struct nacre_test_device d;
    uint8_t r[32], expect[32], digest[32], zero[32] = {0};
    nacre_test_device_new(&d, "lc-regs", NULL, 1);

    for (unsigned i = 0; i < NACRE_PLUTON_REGISTER_COUNT; i++) {
        assert_int_equal(nacre_pluton_measure_read(d.p, i, r), NACRE_PLUTON_OK);
        assert_memory_equal(r, zero, 32);
    }
    assert_int_equal(nacre_pluton_measure_read(d.p, NACRE_PLUTON_REGISTER_COUNT, r),
                     NACRE_PLUTON_ERR_ARGUMENT);
    memset(digest, 0xAB, sizeof digest);
    assert_int_equal(nacre_pluton_measure_extend(d.p, NACRE_PLUTON_REGISTER_COUNT, digest),
                     NACRE_PLUTON_ERR_ARGUMENT);

    /* R' = BLAKE2b-256(R || digest), computed independently here. */
    uint8_t cat[64];
    memcpy(cat, zero, 32);
    memcpy(cat + 32, digest, 32);
    crypto_generichash(expect, 32, cat, 64, NULL, 0);
    assert_int_equal(nacre_pluton_measure_extend(d.p, 3, digest), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_measure_read(d.p, 3, r), NACRE_PLUTON_OK);
    assert_memory_equal(r, expect, 32);
    memcpy(cat, expect, 32);
    crypto_generichash(expect, 32, cat, 64, NULL, 0);
    assert_int_equal(nacre_pluton_measure_extend(d.p, 3, digest), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_measure_read(d.p, 3, r), NACRE_PLUTON_OK);
    assert_memory_equal(r, expect, 32);

    /* R0 is frozen after boot; the others keep extending. */
    assert_int_equal(nacre_pluton_measure_extend(d.p, 0, digest), NACRE_PLUTON_OK);
    nacre_test_device_boot(&d, NULL);
    assert_int_equal(nacre_pluton_measure_extend(d.p, 0, digest), NACRE_PLUTON_ERR_REGISTER_LOCKED);
    assert_int_equal(nacre_pluton_measure_extend(d.p, 1, digest), NACRE_PLUTON_OK);

    /* Only a reset clears them. */
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    for (unsigned i = 0; i < NACRE_PLUTON_REGISTER_COUNT; i++) {
        assert_int_equal(nacre_pluton_measure_read(d.p, i, r), NACRE_PLUTON_OK);
        assert_memory_equal(r, zero, 32);
    }
    nacre_test_device_free(&d);
}

static void test_uninitialised_instance(void **state)
{
    (void)state;
    nacre_pluton p;
    uint8_t buf[64];
    uint32_t v;
    memset(&p, 0, sizeof p);
    assert_int_equal(nacre_pluton_boot_complete(&p), NACRE_PLUTON_ERR_NOT_INITIALIZED);
    assert_int_equal(nacre_pluton_sign(&p, NACRE_PLUTON_KEY_DEVICE_ID, buf, "x", 1),
                     NACRE_PLUTON_ERR_NOT_INITIALIZED);
    assert_int_equal(nacre_pluton_counter_read(&p, 0, &v), NACRE_PLUTON_ERR_NOT_INITIALIZED);
    assert_int_equal(nacre_pluton_measure_read(&p, 0, buf), NACRE_PLUTON_ERR_NOT_INITIALIZED);
    assert_int_equal(nacre_pluton_boot_complete(NULL), NACRE_PLUTON_ERR_ARGUMENT);
    assert_int_equal(nacre_pluton_init(&p, NULL), NACRE_PLUTON_ERR_ARGUMENT);
    assert_int_equal(nacre_pluton_lifecycle_get(&p), NACRE_PLUTON_LIFECYCLE_BLANK);
    nacre_pluton_deinit(NULL);
}

static void test_status_codes(void **state)
{
    (void)state;
    /* Success must be many bits away from every error (glitch resistance). */
    for (int e = 1; e <= 64; e++) {
        unsigned diff = (unsigned)NACRE_PLUTON_OK ^ (unsigned)e;
        assert_true(__builtin_popcount(diff) >= 12);
        assert_non_null(nacre_pluton_strerror((nacre_pluton_status)e));
    }
    assert_string_equal(nacre_pluton_strerror(NACRE_PLUTON_OK), "success");
    assert_string_equal(nacre_pluton_strerror((nacre_pluton_status)9999), "unknown status");
    assert_string_not_equal(nacre_pluton_strerror(NACRE_PLUTON_ERR_SEAL_AUTH),
                            nacre_pluton_strerror(NACRE_PLUTON_ERR_SEAL_WRONG_DEVICE));
    assert_string_equal(nacre_pluton_lifecycle_name(NACRE_PLUTON_LIFECYCLE_SECURED), "secured");
    assert_string_equal(nacre_board_strerror(NACRE_BOARD_ERR_POWER_LOST), "power lost");
}

/*
 * Cut power at every write of provisioning: never a half-provisioned device.
 * A cut between whole fuse fields is resumed by provisioning again; only a cut
 * inside a fuse write leaves an unusable part, and it says so.
 */
static void test_provision_power_cut_at_every_write(void **state)
{
    (void)state;
    int cuts = 0, resumed = 0, scrapped = 0;
    uint8_t hash[32], other[32];
    memset(hash, 0x77, sizeof hash);
    memset(other, 0x78, sizeof other);
    for (long n = 0;; n++) {
        struct nacre_test_device d;
        nacre_test_device_new(&d, "lc-cut", seed_a, 0);
        nacre_host_board_set_power_cut(d.board, n);
        nacre_pluton_status s = nacre_pluton_provision(d.p, hash);
        int completed = s == NACRE_PLUTON_OK;
        if (!completed) {
            assert_int_equal(s, NACRE_PLUTON_ERR_POWER_LOST);
            cuts++;
        }
        nacre_pluton_status r = nacre_test_device_reset(&d);
        if (completed) {
            assert_int_equal(r, NACRE_PLUTON_OK);
            assert_int_equal(nacre_pluton_lifecycle_get(d.p), NACRE_PLUTON_LIFECYCLE_PROVISIONED);
            uint32_t v;
            assert_int_equal(nacre_pluton_counter_read(d.p, 0, &v), NACRE_PLUTON_OK);
            nacre_test_device_free(&d);
            break;
        }
        if (r == NACRE_PLUTON_OK) {
            /* Blank again, or blank with whole fields to resume from. */
            uint8_t sig[64];
            assert_int_equal(nacre_pluton_lifecycle_get(d.p), NACRE_PLUTON_LIFECYCLE_BLANK);
            assert_int_equal(nacre_pluton_boot_complete(d.p), NACRE_PLUTON_ERR_NOT_PROVISIONED);
            assert_int_equal(nacre_pluton_sign(d.p, NACRE_PLUTON_KEY_DEVICE_ID, sig, "x", 1),
                             NACRE_PLUTON_ERR_NOT_PROVISIONED);
            uint8_t got[32];
            if (nacre_pluton_root_key_hash(d.p, got) == NACRE_PLUTON_OK) {
                /* The burned root hash is write-once: no other one. */
                assert_int_equal(nacre_pluton_provision(d.p, other), NACRE_PLUTON_ERR_ALREADY_PROVISIONED);
            }
            assert_int_equal(nacre_pluton_provision(d.p, hash), NACRE_PLUTON_OK);
            assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
            assert_int_equal(nacre_pluton_lifecycle_get(d.p), NACRE_PLUTON_LIFECYCLE_PROVISIONED);
            assert_int_equal(nacre_pluton_root_key_hash(d.p, got), NACRE_PLUTON_OK);
            assert_memory_equal(got, hash, 32);
            nacre_test_device_boot(&d, NULL);
            resumed++;
        } else {
            assert_int_equal(r, NACRE_PLUTON_ERR_OTP_INTERRUPTED);
            scrapped++;
        }
        nacre_test_device_free(&d);
    }
    print_message("provisioning: %d power-cut points: %d recovered by provisioning again, "
                  "%d inside a fuse write (reported unusable); none half-provisioned\n",
                  cuts, resumed, scrapped);
    /* 4 fuse writes (UDS, check, root hash, check), counter erase + header,
     * lifecycle byte: only the cuts after the last fuse field are resumable. */
    assert_int_equal(cuts, 7);
    assert_int_equal(resumed, 3);
}

static void test_damaged_otp_is_refused(void **state)
{
    (void)state;
    struct nacre_test_device d;
    nacre_test_device_new(&d, "lc-dmg", NULL, 1);

    /* One flipped bit in the UDS (patched in the file): its check value no longer matches. */
    uint8_t uds0;
    assert_int_equal(nacre_board_otp_read(d.board, 0x10, &uds0, 1), NACRE_BOARD_OK);
    uint8_t flipped = (uint8_t)(uds0 ^ 0x01u);
    nacre_host_board_close(d.board);
    d.board = NULL;
    patch_otp(d.dir, 0x10, &flipped, 1);
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_ERR_OTP_CORRUPT);

    /* A lifecycle byte that is neither blank nor burned. */
    struct nacre_test_device e;
    nacre_test_device_new(&e, "lc-dmg2", NULL, 1);
    nacre_host_board_close(e.board);
    e.board = NULL;
    uint8_t odd = 0x5A;
    patch_otp(e.dir, 0x01, &odd, 1);
    assert_int_equal(nacre_test_device_reset(&e), NACRE_PLUTON_ERR_OTP_CORRUPT);

    /* SECURED burned without PROVISIONED. */
    struct nacre_test_device f;
    nacre_test_device_new(&f, "lc-dmg3", NULL, 0);
    nacre_host_board_close(f.board);
    f.board = NULL;
    uint8_t burned = 0xA5;
    patch_otp(f.dir, 0x01, &burned, 1);
    assert_int_equal(nacre_test_device_reset(&f), NACRE_PLUTON_ERR_OTP_CORRUPT);

    nacre_test_device_free(&d);
    nacre_test_device_free(&e);
    nacre_test_device_free(&f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_blank_refuses_everything_but_provisioning),
    cmocka_unit_test(test_lifecycle_moves_forward_only),
    cmocka_unit_test(test_provision_with_root_hash),
    cmocka_unit_test(test_uds_locked_after_boot),
    cmocka_unit_test(test_registers_extend_only_and_reset),
    cmocka_unit_test(test_uninitialised_instance),
    cmocka_unit_test(test_status_codes),
    cmocka_unit_test(test_provision_power_cut_at_every_write),
    cmocka_unit_test(test_damaged_otp_is_refused),
};

int main(void)
{
    return cmocka_run_group_tests(tests, NULL, NULL);
}
