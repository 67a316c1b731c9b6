#include "fuzz_common.h"

#include <sodium.h>

#include <nacre/image.h>
#include <nacre/update.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const uint8_t fuzz_device_seed[32] = {'n', 'a', 'c', 'r', 'e', '-', 'f', 'u', 'z', 'z'};

static char device_dir[512];

static void die(const char *what)
{
    fprintf(stderr, "fuzz set-up: %s\n", what);
    abort();
}

void fuzz_create_device(char *dir, size_t dir_max, const char *tag, unsigned slot_sectors)
{
    const char *tmp = getenv("TMPDIR");
    char base[400];
    snprintf(base, sizeof base, "%s/nacre-fuzz-%s-XXXXXX", tmp != NULL ? tmp : "/tmp", tag);
    if (mkdtemp(base) == NULL) {
        die("mkdtemp");
    }
    snprintf(dir, dir_max, "%s/dev", base);
    struct nacre_host_geometry g;
    nacre_host_geometry_default(&g);
    g.sector_size = 512;
    for (unsigned i = 0; i < NACRE_FLASH_AREA_COUNT; i++) {
        g.area_sectors[i] = 1;
    }
    g.area_sectors[NACRE_FLASH_AREA_COUNTERS] = 2;
    g.area_sectors[NACRE_FLASH_AREA_BOOT_STATE] = 2;
    g.area_sectors[NACRE_FLASH_AREA_SLOT_A] = slot_sectors;
    g.area_sectors[NACRE_FLASH_AREA_SLOT_B] = slot_sectors;
    if (nacre_host_device_create(dir, &g, NULL) != NACRE_BOARD_OK) {
        die("create device");
    }
}

const char *fuzz_device_dir(void)
{
    if (device_dir[0] != '\0') {
        return device_dir;
    }
    fuzz_create_device(device_dir, sizeof device_dir, "dev", 1);
    nacre_pluton p;
    struct nacre_board *b = fuzz_power_on(&p);
    if (nacre_pluton_provision(&p, NULL) != NACRE_PLUTON_OK) {
        die("provision");
    }
    nacre_pluton_deinit(&p);
    nacre_host_board_close(b);
    return device_dir;
}

void fuzz_update_device(char *dir, size_t dir_max, const struct nacre_update_config *cfg,
                        uint8_t measurement[32])
{
    fuzz_create_device(dir, dir_max, "update", 8);

    uint8_t seed[32], pk[32], sk[64], root_hash[32];
    memset(seed, 0x2B, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(sk, sizeof sk);
    nacre_image_key_id(root_hash, pk);
    struct nacre_image_params params;
    memset(&params, 0, sizeof params);
    params.component = "fuzz";
    params.version = (struct nacre_image_version){1, 0, 0};
    params.security_counter = 1;
    memcpy(params.signer_pk, pk, sizeof pk);
    uint8_t payload[1500];
    memset(payload, 0x5A, sizeof payload);
    uint8_t *image = NULL;
    size_t len = 0;
    if (nacre_image_create(&image, &len, payload, sizeof payload, &params) != NACRE_UPDATE_OK ||
        nacre_image_sign(image, len, seed, NULL) != NACRE_UPDATE_OK) {
        die("image");
    }

    static nacre_pluton p;
    static nacre_installer in;
    struct nacre_board *b = NULL;
    uint32_t from = 0;
    struct nacre_image_info info;
    struct nacre_boot_result r;
    if (nacre_host_board_open(dir, &b, NULL) != NACRE_BOARD_OK || nacre_pluton_init(&p, b) != NACRE_PLUTON_OK ||
        nacre_pluton_provision(&p, root_hash) != NACRE_PLUTON_OK ||
        nacre_install_begin(&in, &p, b, cfg, &from) != NACRE_UPDATE_OK ||
        nacre_install_write(&in, image, len) != NACRE_UPDATE_OK ||
        nacre_install_finish(&in, &info) != NACRE_UPDATE_OK) {
        die("install");
    }
    memcpy(measurement, info.measurement, 32);
    nacre_pluton_deinit(&p);
    nacre_host_board_close(b);
    if (nacre_host_board_open(dir, &b, NULL) != NACRE_BOARD_OK || nacre_pluton_init(&p, b) != NACRE_PLUTON_OK ||
        nacre_boot_run(&p, b, cfg, &r) != NACRE_UPDATE_OK ||
        nacre_update_confirm(&p, b, cfg, NULL) != NACRE_UPDATE_OK) {
        die("boot and confirm");
    }
    nacre_pluton_deinit(&p);
    nacre_host_board_close(b);
    free(image);
}

struct nacre_board *fuzz_power_on(nacre_pluton *p)
{
    struct nacre_board *b = NULL;
    if (nacre_host_board_open(fuzz_device_dir(), &b, NULL) != NACRE_BOARD_OK) {
        die("open device");
    }
    nacre_host_board_set_entropy_seed(b, fuzz_device_seed);
    if (nacre_pluton_init(p, b) != NACRE_PLUTON_OK) {
        die("pluton init");
    }
    return b;
}

void fuzz_write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        die("write file");
    }
}
