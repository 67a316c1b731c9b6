/*
 * Writes seed inputs for the fuzz targets into DIR/<target>/: sealed blobs
 * from the fuzz device (same fixed UDS as the targets use), counter-area
 * images after real increments, and real host device files.
 * Usage: fuzz_make_seeds DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

#include <nacre/update.h>

static void put(const char *dir, const char *target, const char *name, const uint8_t *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, target);
    (void)mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", dir, target, name);
    fuzz_write_file(path, data, len);
}

static size_t slurp(const char *path, uint8_t *buf, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        abort();
    }
    size_t n = fread(buf, 1, max, f);
    fclose(f);
    return n;
}

int main(int argc, char **argv)
{
    static uint8_t buf[1 << 16];
    static uint8_t blob[4096];
    char name[64];
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *out = argv[1];
    (void)mkdir(out, 0755);

    nacre_pluton p;
    struct nacre_board *b = fuzz_power_on(&p);
    if (nacre_pluton_boot_complete(&p) != NACRE_PLUTON_OK) {
        abort();
    }
    static const char *const contexts[] = {"", "app", "app:hello"};
    for (unsigned i = 0; i < 3; i++) {
        size_t ctx_len = strlen(contexts[i]) % 8u;
        size_t len = 0;
        blob[0] = (uint8_t)ctx_len;
        memcpy(blob + 1, contexts[i], ctx_len);
        if (nacre_pluton_seal(&p, blob + 1 + ctx_len, sizeof blob - 1 - ctx_len, &len,
                              "seed plaintext", 14 * i, contexts[i], ctx_len, i == 2 ? 0x3u : 0) !=
            NACRE_PLUTON_OK) {
            abort();
        }
        snprintf(name, sizeof name, "sealed-%u", i);
        put(out, "unseal", name, blob, 1 + ctx_len + len);
    }

    /* Counter journals: after a few and after many (compacted) increments. */
    for (unsigned round = 0; round < 3; round++) {
        unsigned n = round == 0 ? 3 : round == 1 ? 20 : 70;
        for (unsigned i = 0; i < n; i++) {
            if (nacre_pluton_counter_increment(&p, i % NACRE_PLUTON_COUNTER_COUNT, NULL) != NACRE_PLUTON_OK) {
                abort();
            }
        }
        struct nacre_flash_area area;
        if (nacre_board_flash_area(b, NACRE_FLASH_AREA_COUNTERS, &area) != NACRE_BOARD_OK ||
            area.size > sizeof buf ||
            nacre_board_flash_read(b, NACRE_FLASH_AREA_COUNTERS, 0, buf, area.size) != NACRE_BOARD_OK) {
            abort();
        }
        buf[area.size] = (uint8_t)round;
        snprintf(name, sizeof name, "journal-%u", round);
        put(out, "counters", name, buf, area.size + 1);
    }
    nacre_pluton_deinit(&p);
    nacre_host_board_close(b);

    /* The device files themselves: 2-byte OTP length, otp.bin, flash.bin. */
    char path[1024];
    snprintf(path, sizeof path, "%s/otp.bin", fuzz_device_dir());
    size_t otp_len = slurp(path, buf + 2, 1024);
    snprintf(path, sizeof path, "%s/flash.bin", fuzz_device_dir());
    size_t flash_len = slurp(path, buf + 2 + otp_len, sizeof buf - 2 - otp_len);
    buf[0] = (uint8_t)otp_len;
    buf[1] = (uint8_t)(otp_len >> 8);
    put(out, "host_device", "device", buf, 2 + otp_len + flash_len);
    /* Slot journals: a confirmed image; then a pending trial of a re-install;
     * then, after many boots, a journal that has compacted. */
    static const struct nacre_update_config cfg = {"fuzz", 3};
    char udir[512];
    uint8_t measurement[32];
    fuzz_update_device(udir, sizeof udir, &cfg, measurement);
    for (unsigned round = 0; round < 3; round++) {
        struct nacre_board *ub = NULL;
        static nacre_pluton up;
        struct nacre_boot_result r;
        if (nacre_host_board_open(udir, &ub, NULL) != NACRE_BOARD_OK || nacre_pluton_init(&up, ub) != NACRE_PLUTON_OK) {
            abort();
        }
        if (round > 0) {
            /* Boots append records (last boot, trials); enough of them compact. */
            for (unsigned i = 0; i < (round == 1 ? 1u : 20u); i++) {
                nacre_pluton_deinit(&up);
                nacre_host_board_close(ub);
                if (nacre_host_board_open(udir, &ub, NULL) != NACRE_BOARD_OK ||
                    nacre_pluton_init(&up, ub) != NACRE_PLUTON_OK || nacre_boot_run(&up, ub, &cfg, &r) != NACRE_UPDATE_OK) {
                    abort();
                }
            }
        }
        struct nacre_flash_area area;
        if (nacre_board_flash_area(ub, NACRE_FLASH_AREA_BOOT_STATE, &area) != NACRE_BOARD_OK ||
            area.size > sizeof buf ||
            nacre_board_flash_read(ub, NACRE_FLASH_AREA_BOOT_STATE, 0, buf, area.size) != NACRE_BOARD_OK) {
            abort();
        }
        snprintf(name, sizeof name, "journal-%u", round);
        put(out, "boot_state", name, buf, area.size);
        nacre_pluton_deinit(&up);
        nacre_host_board_close(ub);
    }
    printf("seeds written to %s\n", out);
    return 0;
}
