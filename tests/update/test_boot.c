/*
 * The boot stage and the installer on a host device: trial boot, confirm,
 * automatic revert, anti-rollback, refused images leaving the active slot
 * alone, fallback, resume, and the Alias key following the booted image.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "update_support.h"

#define FLASH_FILE_HEADER 128 /* flash.bin header; areas follow in enum order */

static struct upd_keys keys;
/* Not const: test_verify_buffer runs the scenarios again with a lent buffer. */
static struct nacre_update_config cfg = {"thermostat", 3, NULL};

static int setup(void **state)
{
    (void)state;
    upd_keys_make(&keys, 0x42, 1);
    return 0;
}

/* An image of the thermostat component, signed with the certified key. */
static uint8_t *image(size_t *len, const char *version, uint32_t counter)
{
    return upd_image(len, &keys, 1, "thermostat", version, counter, 20000, (uint8_t)counter);
}

static void install_ok(struct nacre_test_device *d, const char *version, uint32_t counter)
{
    size_t len;
    uint8_t *img = image(&len, version, counter);
    assert_int_equal(upd_install(d, img, len, 1000, &cfg), NACRE_UPDATE_OK);
    free(img);
}

static void boot_expect(struct nacre_test_device *d, nacre_boot_reason reason, const char *version,
                        struct nacre_boot_result *r)
{
    struct nacre_boot_result local;
    r = r != NULL ? r : &local;
    assert_int_equal(upd_boot(d, &cfg, r), NACRE_UPDATE_OK);
    assert_int_equal(r->reason, reason);
    struct nacre_image_version v;
    assert_int_equal(nacre_image_version_parse(version, &v), NACRE_UPDATE_OK);
    assert_int_equal(nacre_image_version_compare(&r->image.version, &v), 0);
}

static uint32_t counter(struct nacre_test_device *d, unsigned id)
{
    uint32_t v;
    assert_int_equal(nacre_pluton_counter_read(d->p, id, &v), NACRE_PLUTON_OK);
    return v;
}

static void test_first_install_trial_confirm(void **state)
{
    (void)state;
    struct nacre_test_device d;
    struct nacre_boot_result r;
    upd_device(&d, "upd-first", &keys, NULL);

    assert_int_equal(upd_boot(&d, &cfg, &r), NACRE_UPDATE_ERR_NO_IMAGE);
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    install_ok(&d, "1.0.0", 1);

    boot_expect(&d, NACRE_BOOT_TRIAL, "1.0.0", &r);
    assert_int_equal(r.slot, NACRE_UPDATE_SLOT_A);
    assert_int_equal(r.trial, 1);
    assert_int_equal(counter(&d, NACRE_UPDATE_COUNTER_SECURITY), 0); /* not before confirm */

    /* R0 = BLAKE2b-256(0^32 || measurement): the booted image, measured. */
    uint8_t r0[32], cat[64] = {0}, expect[32];
    memcpy(cat + 32, r.image.measurement, 32);
    crypto_generichash(expect, 32, cat, 64, NULL, 0);
    assert_int_equal(nacre_pluton_measure_read(d.p, 0, r0), NACRE_PLUTON_OK);
    assert_memory_equal(r0, expect, 32);
    assert_int_equal(nacre_pluton_booted(d.p), 1);

    assert_int_equal(upd_confirm(&d, &cfg), NACRE_UPDATE_OK);
    assert_int_equal(counter(&d, NACRE_UPDATE_COUNTER_SECURITY), 1);
    assert_int_equal(counter(&d, NACRE_UPDATE_COUNTER_KEY_EPOCH), 1);
    assert_int_equal(upd_confirm(&d, &cfg), NACRE_UPDATE_ERR_NOT_PENDING);
    boot_expect(&d, NACRE_BOOT_CONFIRMED, "1.0.0", &r);
    assert_int_equal(r.slot, NACRE_UPDATE_SLOT_A);
    nacre_test_device_free(&d);
}

static void test_update_revert_and_alias(void **state)
{
    (void)state;
    struct nacre_test_device d;
    struct nacre_boot_result r;
    uint8_t alias1[32], alias2[32], alias_again[32];
    upd_device(&d, "upd-revert", &keys, NULL);
    install_ok(&d, "1.0.0", 1);
    boot_expect(&d, NACRE_BOOT_TRIAL, "1.0.0", NULL);
    assert_int_equal(upd_confirm(&d, &cfg), NACRE_UPDATE_OK);
    boot_expect(&d, NACRE_BOOT_CONFIRMED, "1.0.0", NULL);
    assert_int_equal(nacre_pluton_key_public(d.p, NACRE_PLUTON_KEY_ALIAS, alias1), NACRE_PLUTON_OK);

    /* 1.1.0 goes into B, gets its trial, is confirmed: counter 2. */
    install_ok(&d, "1.1.0", 2);
    boot_expect(&d, NACRE_BOOT_TRIAL, "1.1.0", &r);
    assert_int_equal(r.slot, NACRE_UPDATE_SLOT_B);
    assert_int_equal(nacre_pluton_key_public(d.p, NACRE_PLUTON_KEY_ALIAS, alias2), NACRE_PLUTON_OK);
    assert_memory_not_equal(alias1, alias2, 32); /* the Alias key follows the firmware */
    assert_int_equal(upd_confirm(&d, &cfg), NACRE_UPDATE_OK);
    assert_int_equal(counter(&d, NACRE_UPDATE_COUNTER_SECURITY), 2);

    /* 1.2.0 is never confirmed: 3 trials, then back to 1.1.0 for good. */
    install_ok(&d, "1.2.0", 3);
    for (unsigned t = 1; t <= cfg.max_trial_boots; t++) {
        boot_expect(&d, NACRE_BOOT_TRIAL, "1.2.0", &r);
        assert_int_equal(r.trial, t);
        assert_int_equal(r.slot, NACRE_UPDATE_SLOT_A);
    }
    boot_expect(&d, NACRE_BOOT_REVERTED, "1.1.0", &r);
    assert_int_equal(r.rejected, NACRE_UPDATE_SLOT_A);
    assert_int_equal(nacre_pluton_key_public(d.p, NACRE_PLUTON_KEY_ALIAS, alias_again), NACRE_PLUTON_OK);
    assert_memory_equal(alias2, alias_again, 32);
    boot_expect(&d, NACRE_BOOT_CONFIRMED, "1.1.0", NULL);
    assert_int_equal(counter(&d, NACRE_UPDATE_COUNTER_SECURITY), 2); /* never raised by a trial */
    assert_int_equal(upd_confirm(&d, &cfg), NACRE_UPDATE_ERR_NOT_PENDING);
    nacre_test_device_free(&d);
}

/* Each refused install: its own status, and the confirmed image still boots. */
static void test_refused_installs_leave_active_slot(void **state)
{
    (void)state;
    struct nacre_test_device d;
    upd_device(&d, "upd-refuse", &keys, NULL);
    install_ok(&d, "2.0.0", 5);
    boot_expect(&d, NACRE_BOOT_TRIAL, "2.0.0", NULL);
    assert_int_equal(upd_confirm(&d, &cfg), NACRE_UPDATE_OK);

    struct upd_keys stranger;
    upd_keys_make(&stranger, 0x99, 1);
    size_t len;
    struct {
        const char *what;
        uint8_t *img;
        size_t len;
        nacre_update_status expect;
    } cases[8];
    unsigned n = 0;
    cases[n].what = "downgrade";
    cases[n].img = image(&cases[n].len, "1.9.0", 4);
    cases[n++].expect = NACRE_UPDATE_ERR_ROLLBACK;
    cases[n].what = "wrong component";
    cases[n].img = upd_image(&cases[n].len, &keys, 1, "other", "3.0.0", 6, 20000, 1);
    cases[n++].expect = NACRE_UPDATE_ERR_WRONG_COMPONENT;
    cases[n].what = "unknown key";
    cases[n].img = upd_image(&cases[n].len, &stranger, 1, "thermostat", "3.0.0", 6, 20000, 1);
    cases[n++].expect = NACRE_UPDATE_ERR_UNKNOWN_KEY;
    cases[n].what = "tampered payload";
    cases[n].img = image(&cases[n].len, "3.0.0", 6);
    cases[n].img[cases[n].len - 5] ^= 0x20;
    cases[n++].expect = NACRE_UPDATE_ERR_PAYLOAD_DIGEST;
    cases[n].what = "tampered version";
    cases[n].img = image(&cases[n].len, "3.0.0", 6);
    cases[n].img[64 + 4 + 10 + 4] ^= 0x01; /* inside the protected area */
    cases[n++].expect = NACRE_UPDATE_ERR_BAD_SIGNATURE;

    for (unsigned i = 0; i < n; i++) {
        struct nacre_update_state st;
        assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
        nacre_update_status s = upd_install(&d, cases[i].img, cases[i].len, 777, &cfg);
        if (s != cases[i].expect) {
            fail_msg("%s: got '%s', expected '%s'", cases[i].what, nacre_update_strerror(s),
                     nacre_update_strerror(cases[i].expect));
        }
        /* The inactive slot is empty again, nothing is pending. */
        assert_int_equal(nacre_update_state_get(d.p, d.board, &cfg, &st), NACRE_UPDATE_OK);
        assert_int_equal(st.pending, NACRE_UPDATE_SLOT_NONE);
        assert_int_equal(st.confirmed, NACRE_UPDATE_SLOT_A);
        assert_int_equal(st.slots[1].has_image, 0);
        assert_int_equal(st.slots[0].verdict, NACRE_UPDATE_OK);
        boot_expect(&d, NACRE_BOOT_CONFIRMED, "2.0.0", NULL);
        free(cases[i].img);
    }

    /* Too large for the slot: refused as soon as the header is in. */
    struct nacre_test_device small;
    struct nacre_host_geometry g = upd_small_geometry(512, 16); /* 8 KiB slots */
    upd_device(&small, "upd-large", &keys, &g);
    uint8_t *big = image(&len, "1.0.0", 1);
    assert_int_equal(upd_install(&small, big, len, 4096, &cfg), NACRE_UPDATE_ERR_TOO_LARGE);
    free(big);
    nacre_test_device_free(&small);
    nacre_test_device_free(&d);
}

static void test_key_revocation(void **state)
{
    (void)state;
    struct nacre_test_device d;
    struct upd_keys epoch2 = keys;
    upd_device(&d, "upd-revoke", &keys, NULL);
    /* The root certifies a new signing key at epoch 2 (same root). */
    memset(epoch2.signer_seed, 0x77, sizeof epoch2.signer_seed);
    uint8_t sk[64];
    crypto_sign_seed_keypair(epoch2.signer_pk, sk, epoch2.signer_seed);
    sodium_memzero(sk, sizeof sk);
    assert_int_equal(nacre_keycert_create(epoch2.cert, keys.root_seed, epoch2.signer_pk, 2), NACRE_UPDATE_OK);

    size_t len;
    uint8_t *img = upd_image(&len, &epoch2, 1, "thermostat", "1.0.0", 1, 4000, 3);
    assert_int_equal(upd_install(&d, img, len, 500, &cfg), NACRE_UPDATE_OK);
    free(img);
    boot_expect(&d, NACRE_BOOT_TRIAL, "1.0.0", NULL);
    assert_int_equal(upd_confirm(&d, &cfg), NACRE_UPDATE_OK);
    assert_int_equal(counter(&d, NACRE_UPDATE_COUNTER_KEY_EPOCH), 2);

    /* The epoch-1 certificate (the old, leaked key) is now refused. */
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    img = image(&len, "1.1.0", 2);
    assert_int_equal(upd_install(&d, img, len, 500, &cfg), NACRE_UPDATE_ERR_KEY_REVOKED);
    free(img);
    /* Root-signed images stay valid whatever the epoch. */
    img = upd_image(&len, &keys, 0, "thermostat", "1.1.0", 2, 4000, 4);
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    assert_int_equal(upd_install(&d, img, len, 500, &cfg), NACRE_UPDATE_OK);
    free(img);
    boot_expect(&d, NACRE_BOOT_TRIAL, "1.1.0", NULL);
    nacre_test_device_free(&d);
}

static void flip_flash_byte(const char *dir, long offset)
{
    char path[512];
    snprintf(path, sizeof path, "%s/flash.bin", dir);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, FLASH_FILE_HEADER + offset, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, FLASH_FILE_HEADER + offset, SEEK_SET), 0);
    fputc(c ^ 0x01, f);
    assert_int_equal(fclose(f), 0);
}

static long slot_file_offset(struct nacre_test_device *d, nacre_update_slot slot)
{
    /* Areas are laid out in enum order: counters, boot state, slot A, slot B. */
    struct nacre_flash_area a;
    long off = 0;
    for (unsigned id = 0; id < (slot == NACRE_UPDATE_SLOT_A ? 2u : 3u); id++) {
        assert_int_equal(nacre_board_flash_area(d->board, id, &a), NACRE_BOARD_OK);
        off += a.size;
    }
    return off;
}

static void test_damaged_slots(void **state)
{
    (void)state;
    struct nacre_test_device d;
    struct nacre_boot_result r;
    upd_device(&d, "upd-damage", &keys, NULL);
    install_ok(&d, "1.0.0", 1);
    boot_expect(&d, NACRE_BOOT_TRIAL, "1.0.0", NULL);
    assert_int_equal(upd_confirm(&d, &cfg), NACRE_UPDATE_OK);
    install_ok(&d, "1.1.0", 2);

    /* A pending image damaged in flash after install: dropped, not booted. */
    long b_off = slot_file_offset(&d, NACRE_UPDATE_SLOT_B);
    long a_off = slot_file_offset(&d, NACRE_UPDATE_SLOT_A);
    nacre_host_board_close(d.board);
    d.board = NULL;
    flip_flash_byte(d.dir, b_off + 4096 + 100);
    boot_expect(&d, NACRE_BOOT_PENDING_REJECTED, "1.0.0", &r);
    assert_int_equal(r.rejected, NACRE_UPDATE_SLOT_B);
    assert_int_equal(r.rejected_why, NACRE_UPDATE_ERR_PAYLOAD_DIGEST);
    boot_expect(&d, NACRE_BOOT_CONFIRMED, "1.0.0", NULL);

    /* Reinstall 1.1.0, let it revert, then damage the confirmed 1.0.0: the
     * device falls back to the valid image left in B instead of bricking —
     * but an image nobody confirmed is neither made confirmed nor allowed to
     * raise the anti-rollback counter. */
    install_ok(&d, "1.1.0", 2);
    for (unsigned t = 0; t < cfg.max_trial_boots; t++) {
        boot_expect(&d, NACRE_BOOT_TRIAL, "1.1.0", NULL);
    }
    boot_expect(&d, NACRE_BOOT_REVERTED, "1.0.0", NULL);
    nacre_host_board_close(d.board);
    d.board = NULL;
    flip_flash_byte(d.dir, a_off + 2000);
    for (int i = 0; i < 2; i++) {
        boot_expect(&d, NACRE_BOOT_FALLBACK, "1.1.0", &r);
        assert_int_equal(r.slot, NACRE_UPDATE_SLOT_B);
        assert_int_equal(r.rejected, NACRE_UPDATE_SLOT_A);
        assert_int_equal(r.rejected_why, NACRE_UPDATE_ERR_PAYLOAD_DIGEST);
        assert_int_equal(counter(&d, NACRE_UPDATE_COUNTER_SECURITY), 1);
    }
    assert_int_equal(upd_confirm(&d, &cfg), NACRE_UPDATE_ERR_NOT_PENDING);

    /* The repair goes into the damaged slot A, never over the running B. */
    install_ok(&d, "1.2.0", 3);
    boot_expect(&d, NACRE_BOOT_TRIAL, "1.2.0", &r);
    assert_int_equal(r.slot, NACRE_UPDATE_SLOT_A);
    assert_int_equal(upd_confirm(&d, &cfg), NACRE_UPDATE_OK);
    assert_int_equal(counter(&d, NACRE_UPDATE_COUNTER_SECURITY), 3);
    boot_expect(&d, NACRE_BOOT_CONFIRMED, "1.2.0", NULL);

    /* Both damaged: nothing to boot, and it says why (the confirmed image first). */
    nacre_host_board_close(d.board);
    d.board = NULL;
    flip_flash_byte(d.dir, a_off + 3000);
    flip_flash_byte(d.dir, b_off + 3000);
    assert_int_equal(upd_boot(&d, &cfg, &r), NACRE_UPDATE_ERR_NO_IMAGE);
    assert_int_equal(r.rejected, NACRE_UPDATE_SLOT_A);
    assert_int_equal(r.rejected_why, NACRE_UPDATE_ERR_PAYLOAD_DIGEST);
    nacre_test_device_free(&d);
}

static void test_no_root_key(void **state)
{
    (void)state;
    struct nacre_test_device d;
    struct nacre_boot_result r;
    nacre_installer in;
    uint32_t off;
    nacre_test_device_new(&d, "upd-noroot", NULL, 1);
    assert_int_equal(upd_boot(&d, &cfg, &r), NACRE_UPDATE_ERR_NO_ROOT_KEY);
    assert_int_equal(nacre_install_begin(&in, d.p, d.board, &cfg, &off), NACRE_UPDATE_ERR_NO_ROOT_KEY);
    nacre_test_device_free(&d);
}

static void test_resume_interrupted_install(void **state)
{
    (void)state;
    struct nacre_test_device d;
    nacre_installer in;
    uint32_t off = 99;
    size_t len;
    uint8_t *img = image(&len, "1.0.0", 1);
    upd_device(&d, "upd-resume", &keys, NULL);

    /* Send 3/4 of the image, then the process dies (no finish, no abort). */
    assert_int_equal(nacre_install_begin(&in, d.p, d.board, &cfg, &off), NACRE_UPDATE_OK);
    assert_int_equal(off, 0);
    for (size_t o = 0; o < len * 3 / 4; o += 1000) {
        assert_int_equal(nacre_install_write(&in, img + o, 1000), NACRE_UPDATE_OK);
    }
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    assert_int_equal(nacre_install_begin(&in, d.p, d.board, &cfg, &off), NACRE_UPDATE_OK);
    assert_true(off > 0 && off <= len * 3 / 4 && off % 4096 == 0);
    print_message("resume: restarted at byte %u of %zu\n", off, len);
    for (size_t o = off; o < len; o += 1000) {
        size_t n = len - o < 1000 ? len - o : 1000;
        assert_int_equal(nacre_install_write(&in, img + o, n), NACRE_UPDATE_OK);
    }
    assert_int_equal(nacre_install_finish(&in, NULL), NACRE_UPDATE_OK);
    boot_expect(&d, NACRE_BOOT_TRIAL, "1.0.0", NULL);

    /* Misuse: writing past the end, finishing twice. */
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    free(img);
    img = image(&len, "1.1.0", 2);
    assert_int_equal(nacre_install_begin(&in, d.p, d.board, &cfg, &off), NACRE_UPDATE_OK);
    assert_int_equal(nacre_install_write(&in, img, len), NACRE_UPDATE_OK);
    assert_int_equal(nacre_install_write(&in, img, 1), NACRE_UPDATE_ERR_INSTALL_STATE);
    assert_int_equal(nacre_install_finish(&in, NULL), NACRE_UPDATE_ERR_INSTALL_STATE);
    /* A short image is refused at finish. */
    assert_int_equal(nacre_install_begin(&in, d.p, d.board, &cfg, &off), NACRE_UPDATE_OK);
    assert_int_equal(nacre_install_write(&in, img, len - 1), NACRE_UPDATE_OK);
    assert_int_equal(nacre_install_finish(&in, NULL), NACRE_UPDATE_ERR_TRUNCATED);
    nacre_install_abort(&in);
    free(img);
    nacre_test_device_free(&d);
}

static void test_chunk_sizes(void **state)
{
    (void)state;
    static const size_t chunks[] = {1, 7, 64, 255, 4096, 100000};
    size_t len;
    uint8_t *img = image(&len, "1.0.0", 1);
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        struct nacre_test_device d;
        upd_device(&d, "upd-chunks", &keys, NULL);
        assert_int_equal(upd_install(&d, img, len, chunks[i], &cfg), NACRE_UPDATE_OK);
        boot_expect(&d, NACRE_BOOT_TRIAL, "1.0.0", NULL);
        nacre_test_device_free(&d);
    }
    free(img);
}

/*
 * The same scenarios with a verify_buffer lent by the caller (firmware with
 * a small stack does this: boards/qemu-mps2-an505): the same boots, trial
 * counts, verdicts, reverts, fallbacks and counters. The buffer starts full
 * of garbage, so nothing may depend on what it held; under ASan a read or
 * write past NACRE_IMAGE_METADATA_MAX bytes fails the test.
 */
static void test_verify_buffer(void **state)
{
    uint8_t *buf = malloc(NACRE_IMAGE_METADATA_MAX);
    assert_non_null(buf);
    memset(buf, 0xA5, NACRE_IMAGE_METADATA_MAX);
    cfg.verify_buffer = buf;
    test_first_install_trial_confirm(state);
    test_update_revert_and_alias(state);
    test_key_revocation(state);
    test_damaged_slots(state);
    cfg.verify_buffer = NULL;
    free(buf);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_first_install_trial_confirm),
    cmocka_unit_test(test_update_revert_and_alias),
    cmocka_unit_test(test_refused_installs_leave_active_slot),
    cmocka_unit_test(test_key_revocation),
    cmocka_unit_test(test_damaged_slots),
    cmocka_unit_test(test_no_root_key),
    cmocka_unit_test(test_resume_interrupted_install),
    cmocka_unit_test(test_chunk_sizes),
    cmocka_unit_test(test_verify_buffer),
};

int main(void)
{
    return cmocka_run_group_tests(tests, setup, NULL);
}
