/*
 * Fuzz target: the slot state journal (libupdate) as the boot stage reads it
 * from flash. Slot A holds a valid, signed image; the input becomes the raw
 * contents of the BOOT_STATE area. Whatever the journal says — any slot
 * confirmed or pending, any trial count, torn or forged records — the boot
 * stage must still boot that valid image (as confirmed, trial or fallback),
 * never refuse to boot and never crash. The journal is not what makes an
 * image trusted; this target checks that it cannot make a device unbootable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nacre/board_host.h>
#include <nacre/pluton.h>
#include <nacre/update.h>

#include "fuzz_common.h"

static char dir[512];
static uint8_t measurement[32];
static const struct nacre_update_config cfg = {"fuzz", 3};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static nacre_pluton p;
    static uint8_t area_buf[1024];
    if (dir[0] == '\0') {
        fuzz_update_device(dir, sizeof dir, &cfg, measurement);
    }
    struct nacre_board *b = NULL;
    if (nacre_host_board_open(dir, &b, NULL) != NACRE_BOARD_OK) {
        abort();
    }
    struct nacre_flash_area area;
    if (nacre_board_flash_area(b, NACRE_FLASH_AREA_BOOT_STATE, &area) != NACRE_BOARD_OK ||
        area.size > sizeof area_buf ||
        nacre_board_flash_erase(b, NACRE_FLASH_AREA_BOOT_STATE, 0, area.size) != NACRE_BOARD_OK) {
        abort();
    }
    size_t n = size < area.size ? size : area.size;
    n -= n % area.write_size;
    memcpy(area_buf, data, n);
    if (n > 0 && nacre_board_flash_write(b, NACRE_FLASH_AREA_BOOT_STATE, 0, area_buf, n) != NACRE_BOARD_OK) {
        abort();
    }
    nacre_host_board_close(b);

    /* Power on and boot, twice: the first boot may rewrite the journal. */
    for (int boot = 0; boot < 2; boot++) {
        struct nacre_boot_result r;
        if (nacre_host_board_open(dir, &b, NULL) != NACRE_BOARD_OK || nacre_pluton_init(&p, b) != NACRE_PLUTON_OK) {
            abort();
        }
        nacre_update_status s = nacre_boot_run(&p, b, &cfg, &r);
        if (s != NACRE_UPDATE_OK || r.slot != NACRE_UPDATE_SLOT_A ||
            memcmp(r.image.measurement, measurement, sizeof measurement) != 0) {
            fprintf(stderr, "boot %d: %s (slot %d)\n", boot, nacre_update_strerror(s), (int)r.slot);
            abort(); /* a journal must never make the valid image unbootable */
        }
        nacre_pluton_deinit(&p);
        nacre_host_board_close(b);
    }
    return 0;
}
