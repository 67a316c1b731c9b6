#include "fuzz_common.h"

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

const char *fuzz_device_dir(void)
{
    if (device_dir[0] != '\0') {
        return device_dir;
    }
    const char *tmp = getenv("TMPDIR");
    char base[400];
    snprintf(base, sizeof base, "%s/nacre-fuzz-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(base) == NULL) {
        die("mkdtemp");
    }
    snprintf(device_dir, sizeof device_dir, "%s/dev", base);
    struct nacre_host_geometry g;
    nacre_host_geometry_default(&g);
    g.sector_size = 512;
    for (unsigned i = 0; i < NACRE_FLASH_AREA_COUNT; i++) {
        g.area_sectors[i] = 1;
    }
    g.area_sectors[NACRE_FLASH_AREA_COUNTERS] = 2;
    if (nacre_host_device_create(device_dir, &g, NULL) != NACRE_BOARD_OK) {
        die("create device");
    }
    nacre_pluton p;
    struct nacre_board *b = fuzz_power_on(&p);
    if (nacre_pluton_provision(&p, NULL) != NACRE_PLUTON_OK) {
        die("provision");
    }
    nacre_pluton_deinit(&p);
    nacre_host_board_close(b);
    return device_dir;
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
