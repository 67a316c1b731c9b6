/*
 * test_metadata_cap.c - libupdate built for a board that lowers
 * NACRE_UPDATE_METADATA_MAX (this program compiles libupdate's sources with
 * it at 256 bytes; a Cortex-M33 board uses 1 KiB): an image whose metadata
 * is larger than the build holds is refused with NACRE_UPDATE_ERR_TOO_LARGE,
 * by the installer before it accepts any payload and by the boot stage if
 * such an image is found in a slot; the device keeps booting what it had.
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

_Static_assert(NACRE_UPDATE_METADATA_MAX == 256u, "built with the lowered capacity");
_Static_assert(NACRE_INSTALL_STATE_BYTES == 1024u + 256u, "the installer state follows it");

static struct upd_keys keys;
static struct nacre_update_config cfg = {"thermostat", 3, NULL};

static int setup(void **state)
{
    (void)state;
    upd_keys_make(&keys, 0x42, 1);
    return 0;
}

static void test_installer_refuses_large_metadata(void **state)
{
    (void)state;
    struct nacre_test_device d;
    struct nacre_boot_result r;
    size_t len;
    /* A certified signing key: 512 bytes of metadata, more than 256. */
    uint8_t *img = upd_image(&len, &keys, 1, "thermostat", "1.0.0", 1, 5000, 1);
    struct nacre_image_info info;
    assert_int_equal(nacre_image_parse(img, len, &info), NACRE_UPDATE_OK);
    assert_true(info.payload_offset > NACRE_UPDATE_METADATA_MAX);

    upd_device(&d, "upd-cap-install", &keys, NULL);
    for (size_t chunk = 1; chunk <= 4096; chunk *= 8) {
        assert_int_equal(upd_install(&d, img, len, chunk, &cfg), NACRE_UPDATE_ERR_TOO_LARGE);
        assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    }
    /* Nothing was made bootable. */
    assert_int_equal(upd_boot(&d, &cfg, &r), NACRE_UPDATE_ERR_NO_IMAGE);
    free(img);
    nacre_test_device_free(&d);
}

static void test_boot_stage_refuses_large_metadata(void **state)
{
    (void)state;
    struct nacre_test_device d;
    struct nacre_boot_result r;
    size_t len;
    uint8_t *img = upd_image(&len, &keys, 1, "thermostat", "1.0.0", 1, 5000, 1);
    upd_device(&d, "upd-cap-boot", &keys, NULL);

    /* Put the image straight into slot A, as a programmer would. */
    struct nacre_flash_area area;
    assert_int_equal(nacre_board_flash_area(d.board, NACRE_FLASH_AREA_SLOT_A, &area), NACRE_BOARD_OK);
    size_t padded = (len + area.write_size - 1) / area.write_size * area.write_size;
    uint8_t *buf = malloc(padded);
    assert_non_null(buf);
    memset(buf, 0xFF, padded);
    memcpy(buf, img, len);
    assert_int_equal(nacre_board_flash_write(d.board, NACRE_FLASH_AREA_SLOT_A, 0, buf, padded),
                     NACRE_BOARD_OK);
    assert_int_equal(upd_boot(&d, &cfg, &r), NACRE_UPDATE_ERR_NO_IMAGE);
    assert_int_equal(r.rejected, NACRE_UPDATE_SLOT_A);
    assert_int_equal(r.rejected_why, NACRE_UPDATE_ERR_TOO_LARGE);
    free(buf);
    free(img);
    nacre_test_device_free(&d);
}

int main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_installer_refuses_large_metadata),
        cmocka_unit_test(test_boot_stage_refuses_large_metadata),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
