/*
 * Fuzz target: the monotonic-counter journal. The input becomes the raw
 * contents of the counter area; the device is powered on and every counter
 * read, then one incremented. Whatever the flash holds, pluton must not
 * crash, and an increment that succeeds must raise the counter by one.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nacre_pluton p;
    struct nacre_board *b = fuzz_power_on(&p);
    struct nacre_flash_area area;
    if (nacre_board_flash_area(b, NACRE_FLASH_AREA_COUNTERS, &area) != NACRE_BOARD_OK ||
        nacre_board_flash_erase(b, NACRE_FLASH_AREA_COUNTERS, 0, area.size) != NACRE_BOARD_OK) {
        abort();
    }
    static uint8_t image[8192];
    size_t n = size < area.size ? size : area.size;
    n -= n % area.write_size;
    if (n > sizeof image) {
        n = sizeof image;
    }
    memcpy(image, data, n);
    if (n > 0 && nacre_board_flash_write(b, NACRE_FLASH_AREA_COUNTERS, 0, image, n) != NACRE_BOARD_OK) {
        abort();
    }
    /* Power-cycle so pluton parses the journal from flash, not from its cache. */
    nacre_pluton_deinit(&p);
    nacre_host_board_close(b);
    b = fuzz_power_on(&p);

    uint32_t before = 0, after = 0;
    for (unsigned id = 0; id < NACRE_PLUTON_COUNTER_COUNT; id++) {
        (void)nacre_pluton_counter_read(&p, id, &before);
    }
    unsigned id = size > 0 ? data[size - 1] % NACRE_PLUTON_COUNTER_COUNT : 0;
    if (nacre_pluton_counter_read(&p, id, &before) == NACRE_PLUTON_OK &&
        nacre_pluton_counter_increment(&p, id, &after) == NACRE_PLUTON_OK && after != before + 1) {
        abort();
    }
    nacre_pluton_deinit(&p);
    nacre_host_board_close(b);
    return 0;
}
