/*
 * Tests of the host board (boards/host): the board contract as emulated in a
 * directory, power-cut injection, and robustness against corrupt files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include <nacre/board.h>
#include <nacre/board_host.h>

#include "test_support.h"

#define SECTOR 4096u
#define WRITE_UNIT 8u
#define OTP_FILE_BYTES (32u + NACRE_BOARD_OTP_BYTES)
#define FLASH_HDR 128u
#define DEFAULT_SECTORS (2u + 2u + 256u + 256u + 4u + 16u)
#define FLASH_FILE_BYTES (FLASH_HDR + DEFAULT_SECTORS * SECTOR)

struct fx {
    char *tmp; /* scratch directory, removed by teardown */
    char *dev; /* tmp/dev, a default device */
};

/* ----------------------------------------------------------------- helpers */

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static struct nacre_board *open_dev(const char *dev)
{
    struct nacre_board *b = NULL;
    const char *detail = NULL;
    nacre_board_status st = nacre_host_board_open(dev, &b, &detail);
    if (st != NACRE_BOARD_OK) {
        print_error("open %s: %d %s\n", dev, (int)st, detail != NULL ? detail : "(null)");
    }
    assert_int_equal(st, NACRE_BOARD_OK);
    assert_non_null(b);
    return b;
}

/* Create a fresh default device at tmp/name; returns its malloc'd path. */
static char *new_dev(const struct fx *f, const char *name)
{
    char *dev = join(f->tmp, name);
    assert_int_equal(nacre_host_device_create(dev, NULL, NULL), NACRE_BOARD_OK);
    return dev;
}

/* Expect open to fail with want and a non-empty detail; returns the detail. */
static const char *expect_open_fails(const char *dev, nacre_board_status want)
{
    struct nacre_board *b = (struct nacre_board *)(uintptr_t)1;
    const char *detail = NULL;
    nacre_board_status st = nacre_host_board_open(dev, &b, &detail);
    if (st == NACRE_BOARD_OK) {
        nacre_host_board_close(b);
    }
    assert_int_equal(st, want);
    assert_null(b);
    assert_non_null(detail);
    assert_true(strlen(detail) > 0);
    return detail;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void spill(const char *path, const uint8_t *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (len > 0) {
        assert_int_equal(fwrite(buf, 1, len, fp), len);
    }
    assert_int_equal(fclose(fp), 0);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* Recompute a header's BLAKE2b-128 over the hashed prefix. */
static void rehash(uint8_t *h, size_t hashed)
{
    assert_int_equal(crypto_generichash(h + hashed, 16, h, hashed, NULL, 0), 0);
}

static void fill_pattern(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed + i * 7);
    }
}

static void assert_all(const uint8_t *buf, size_t len, uint8_t v)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != v) {
            print_error("byte %zu is 0x%02x, expected 0x%02x\n", i, buf[i], v);
        }
        assert_int_equal(buf[i], v);
    }
}

/* Every board call reports a lost power supply. */
static void assert_all_power_lost(struct nacre_board *b)
{
    uint8_t buf[16] = {0};
    struct nacre_flash_area a;
    memset(buf, 0xFF, sizeof buf);
    assert_int_equal(nacre_board_otp_read(b, 0, buf, 1), NACRE_BOARD_ERR_POWER_LOST);
    assert_int_equal(nacre_board_otp_program(b, 0, buf, 1), NACRE_BOARD_ERR_POWER_LOST);
    assert_int_equal(nacre_board_otp_lock_read(b, 0, 1), NACRE_BOARD_ERR_POWER_LOST);
    assert_int_equal(nacre_board_flash_area(b, NACRE_FLASH_AREA_STORAGE, &a),
                     NACRE_BOARD_ERR_POWER_LOST);
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_STORAGE, 0, buf, 8),
                     NACRE_BOARD_ERR_POWER_LOST);
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 3 * SECTOR, buf, 8),
                     NACRE_BOARD_ERR_POWER_LOST);
    assert_int_equal(nacre_board_flash_erase(b, NACRE_FLASH_AREA_STORAGE, 0, SECTOR),
                     NACRE_BOARD_ERR_POWER_LOST);
    assert_int_equal(nacre_board_entropy(b, buf, sizeof buf), NACRE_BOARD_ERR_POWER_LOST);
    assert_true(strlen(nacre_host_board_detail(b)) > 0);
    assert_int_equal(nacre_host_board_power_lost(b), 1);
}

/* ---------------------------------------------------------------- fixtures */

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return -1;
    }
    f->tmp = nacre_test_tmpdir("board");
    f->dev = join(f->tmp, "dev");
    const char *detail = NULL;
    if (nacre_host_device_create(f->dev, NULL, &detail) != NACRE_BOARD_OK) {
        print_error("create: %s\n", detail);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    nacre_test_rmtree(f->tmp);
    free(f->tmp);
    free(f->dev);
    free(f);
    return 0;
}

/* ------------------------------------------------------------------- tests */

static void test_default_device(void **state)
{
    struct fx *f = *state;

    struct nacre_host_geometry g;
    nacre_host_geometry_default(&g);
    assert_int_equal(g.sector_size, SECTOR);
    assert_int_equal(g.write_size, WRITE_UNIT);
    const uint32_t want_sectors[NACRE_FLASH_AREA_COUNT] = {2, 2, 256, 256, 4, 16};
    for (unsigned i = 0; i < NACRE_FLASH_AREA_COUNT; i++) {
        assert_int_equal(g.area_sectors[i], want_sectors[i]);
    }

    /* Directory created 0700, files 0600, exact sizes. */
    struct stat st;
    assert_int_equal(stat(f->dev, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char *otp = join(f->dev, "otp.bin");
    char *flash = join(f->dev, "flash.bin");
    assert_int_equal(stat(otp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, OTP_FILE_BYTES);
    assert_int_equal(stat(flash, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, FLASH_FILE_BYTES);

    /* Header fields as documented in docs/boards.md. */
    size_t len = 0;
    uint8_t *h = slurp(flash, &len);
    assert_memory_equal(h, "NACREFL1", 8);
    assert_int_equal(get_le32(h + 8), 1);
    assert_int_equal(get_le32(h + 12), SECTOR);
    assert_int_equal(get_le32(h + 16), WRITE_UNIT);
    assert_int_equal(get_le32(h + 20), NACRE_FLASH_AREA_COUNT);
    uint32_t first = 0;
    for (unsigned i = 0; i < NACRE_FLASH_AREA_COUNT; i++) {
        assert_int_equal(get_le32(h + 24 + 8 * i), first);
        assert_int_equal(get_le32(h + 28 + 8 * i), want_sectors[i]);
        first += want_sectors[i];
    }
    assert_all(h + 72, 40, 0);
    uint8_t sum[16];
    crypto_generichash(sum, 16, h, 112, NULL, 0);
    assert_memory_equal(sum, h + 112, 16);
    free(h);
    h = slurp(otp, &len);
    assert_memory_equal(h, "NACREOTP", 8);
    assert_int_equal(get_le32(h + 8), 1);
    assert_int_equal(get_le32(h + 12), NACRE_BOARD_OTP_BYTES);
    crypto_generichash(sum, 16, h, 16, NULL, 0);
    assert_memory_equal(sum, h + 16, 16);
    assert_all(h + 32, NACRE_BOARD_OTP_BYTES, 0);
    free(h);
    free(otp);
    free(flash);

    struct nacre_board *b = open_dev(f->dev);
    assert_string_equal(nacre_host_board_detail(b), "");
    assert_int_equal(nacre_host_board_write_count(b), 0);
    assert_int_equal(nacre_host_board_power_lost(b), 0);
    for (unsigned i = 0; i < NACRE_FLASH_AREA_COUNT; i++) {
        struct nacre_flash_area a;
        assert_int_equal(nacre_board_flash_area(b, i, &a), NACRE_BOARD_OK);
        assert_int_equal(a.size, want_sectors[i] * SECTOR);
        assert_int_equal(a.sector_size, SECTOR);
        assert_int_equal(a.write_size, WRITE_UNIT);
    }
    struct nacre_flash_area a;
    assert_int_equal(nacre_board_flash_area(b, NACRE_FLASH_AREA_COUNT, &a),
                     NACRE_BOARD_ERR_ARGUMENT);
    assert_true(strlen(nacre_host_board_detail(b)) > 0);
    assert_int_equal(nacre_board_flash_area(b, 0, NULL), NACRE_BOARD_ERR_ARGUMENT);
    nacre_host_board_close(b);
}

static void test_custom_geometry(void **state)
{
    struct fx *f = *state;
    struct nacre_host_geometry g = {
        .sector_size = 256,
        .write_size = 1,
        .area_sectors = {2, 1, 3, 3, 1, 0},
    };
    char *dev = join(f->tmp, "small");
    assert_int_equal(nacre_host_device_create(dev, &g, NULL), NACRE_BOARD_OK);
    struct nacre_board *b = open_dev(dev);
    for (unsigned i = 0; i < NACRE_FLASH_AREA_COUNT; i++) {
        struct nacre_flash_area a;
        assert_int_equal(nacre_board_flash_area(b, i, &a), NACRE_BOARD_OK);
        assert_int_equal(a.size, g.area_sectors[i] * 256u);
        assert_int_equal(a.sector_size, 256);
        assert_int_equal(a.write_size, 1);
    }
    /* Byte-granular writes; an empty area accepts only empty requests. */
    uint8_t v = 0x5A;
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_BOOT_STATE, 3, &v, 1),
                     NACRE_BOARD_OK);
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_STORAGE, 0, NULL, 0),
                     NACRE_BOARD_OK);
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_STORAGE, 0, &v, 1),
                     NACRE_BOARD_ERR_RANGE);
    nacre_host_board_close(b);
    free(dev);
}

static void test_create_bad_geometry(void **state)
{
    struct fx *f = *state;
    struct nacre_host_geometry base;
    nacre_host_geometry_default(&base);
    struct nacre_host_geometry bad[8];
    for (unsigned i = 0; i < 8; i++) {
        bad[i] = base;
    }
    bad[0].sector_size = 3;
    bad[1].sector_size = 128; /* below the 256-byte minimum */
    bad[2].write_size = 0;
    bad[3].write_size = 12;
    bad[4].write_size = 8192; /* larger than a sector */
    bad[5].area_sectors[NACRE_FLASH_AREA_COUNTERS] = 1;
    bad[6].area_sectors[NACRE_FLASH_AREA_SLOT_A] = UINT32_MAX; /* overflows 32 bits */
    bad[7].sector_size = 1u << 31;
    bad[7].area_sectors[NACRE_FLASH_AREA_COUNTERS] = 2; /* 4 GiB: too large */

    char *dev = join(f->tmp, "badgeo");
    char *otp = join(dev, "otp.bin");
    char *flash = join(dev, "flash.bin");
    for (unsigned i = 0; i < 8; i++) {
        const char *detail = NULL;
        assert_int_equal(nacre_host_device_create(dev, &bad[i], &detail),
                         NACRE_BOARD_ERR_ARGUMENT);
        assert_non_null(detail);
        assert_true(strlen(detail) > 0);
        assert_int_equal(access(otp, F_OK), -1);
        assert_int_equal(access(flash, F_OK), -1);
    }
    const char *detail = NULL;
    assert_int_equal(nacre_host_device_create(NULL, NULL, &detail), NACRE_BOARD_ERR_ARGUMENT);
    assert_true(strlen(detail) > 0);
    assert_int_equal(nacre_host_device_create("", NULL, NULL), NACRE_BOARD_ERR_ARGUMENT);
    free(dev);
    free(otp);
    free(flash);
}

static void test_create_refuses_existing(void **state)
{
    struct fx *f = *state;
    const char *detail = NULL;
    assert_int_equal(nacre_host_device_create(f->dev, NULL, &detail), NACRE_BOARD_ERR_IO);
    assert_non_null(strstr(detail, "already holds a device"));

    /* A lone flash.bin (e.g. an interrupted create) is refused too. */
    char *otp = join(f->dev, "otp.bin");
    assert_int_equal(unlink(otp), 0);
    assert_int_equal(nacre_host_device_create(f->dev, NULL, &detail), NACRE_BOARD_ERR_IO);
    assert_non_null(strstr(detail, "already holds a device"));
    free(otp);

    /* The device that was there is untouched by the refusals. */
    char *flash = join(f->dev, "flash.bin");
    struct stat st;
    assert_int_equal(stat(flash, &st), 0);
    assert_int_equal(st.st_size, FLASH_FILE_BYTES);
    free(flash);
}

static void test_read_erased(void **state)
{
    struct fx *f = *state;
    struct nacre_board *b = open_dev(f->dev);
    uint8_t *buf = malloc(256 * SECTOR);
    assert_non_null(buf);
    for (unsigned i = 0; i < NACRE_FLASH_AREA_COUNT; i++) {
        struct nacre_flash_area a;
        assert_int_equal(nacre_board_flash_area(b, i, &a), NACRE_BOARD_OK);
        memset(buf, 0, a.size);
        assert_int_equal(nacre_board_flash_read(b, i, 0, buf, a.size), NACRE_BOARD_OK);
        assert_all(buf, a.size, NACRE_BOARD_FLASH_ERASED);
    }
    /* Reads need no alignment. */
    memset(buf, 0, 7);
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_SLOT_B, 4093, buf, 7),
                     NACRE_BOARD_OK);
    assert_all(buf, 7, 0xFF);
    memset(buf, 0xAA, NACRE_BOARD_OTP_BYTES);
    assert_int_equal(nacre_board_otp_read(b, 0, buf, NACRE_BOARD_OTP_BYTES), NACRE_BOARD_OK);
    assert_all(buf, NACRE_BOARD_OTP_BYTES, 0);
    assert_int_equal(nacre_host_board_write_count(b), 0);
    free(buf);
    nacre_host_board_close(b);
}

static void test_write_read_back(void **state)
{
    struct fx *f = *state;
    struct nacre_board *b = open_dev(f->dev);
    uint8_t data[64];
    uint8_t got[80];
    fill_pattern(data, sizeof data, 1);
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 8, data, sizeof data),
                     NACRE_BOARD_OK);
    assert_int_equal(nacre_host_board_write_count(b), 1);
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_STORAGE, 0, got, sizeof got),
                     NACRE_BOARD_OK);
    assert_all(got, 8, 0xFF);
    assert_memory_equal(got + 8, data, sizeof data);
    assert_all(got + 72, 8, 0xFF);

    /* The last write unit of an area, and the first of the next one. */
    struct nacre_flash_area a;
    assert_int_equal(nacre_board_flash_area(b, NACRE_FLASH_AREA_COUNTERS, &a), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_COUNTERS, a.size - 8, data, 8),
                     NACRE_BOARD_OK);
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_BOOT_STATE, 0, got, 8),
                     NACRE_BOARD_OK);
    assert_all(got, 8, 0xFF); /* areas do not bleed into each other */
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_COUNTERS, a.size - 8, got, 8),
                     NACRE_BOARD_OK);
    assert_memory_equal(got, data, 8);

    /* Zero-length writes succeed and are not persistent writes. */
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 8, data, 0),
                     NACRE_BOARD_OK);
    assert_int_equal(nacre_board_flash_erase(b, NACRE_FLASH_AREA_STORAGE, 0, 0), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_otp_program(b, 0, data, 0), NACRE_BOARD_OK);
    assert_int_equal(nacre_host_board_write_count(b), 2);
    nacre_host_board_close(b);
}

static void test_write_not_erased(void **state)
{
    struct fx *f = *state;
    struct nacre_board *b = open_dev(f->dev);
    uint8_t data[16];
    uint8_t other[32];
    uint8_t got[48];
    fill_pattern(data, sizeof data, 3);
    fill_pattern(other, sizeof other, 0x80);
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_BOOT_STATE, 16, data, 16),
                     NACRE_BOARD_OK);
    /* Same bytes again: still refused (the target is not erased). */
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_BOOT_STATE, 16, data, 16),
                     NACRE_BOARD_ERR_NOT_ERASED);
    /* Mostly erased range with one programmed unit at its end: nothing is written. */
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_BOOT_STATE, 0, other, 24),
                     NACRE_BOARD_ERR_NOT_ERASED);
    assert_true(strlen(nacre_host_board_detail(b)) > 0);
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_BOOT_STATE, 0, got, sizeof got),
                     NACRE_BOARD_OK);
    assert_all(got, 16, 0xFF);
    assert_memory_equal(got + 16, data, 16);
    assert_all(got + 32, 16, 0xFF);
    assert_int_equal(nacre_host_board_write_count(b), 1);
    nacre_host_board_close(b);
}

static void test_alignment(void **state)
{
    struct fx *f = *state;
    struct nacre_board *b = open_dev(f->dev);
    uint8_t data[16] = {0};
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 4, data, 8),
                     NACRE_BOARD_ERR_ALIGNMENT);
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 0, data, 12),
                     NACRE_BOARD_ERR_ALIGNMENT);
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 1, data, 1),
                     NACRE_BOARD_ERR_ALIGNMENT);
    assert_int_equal(nacre_board_flash_erase(b, NACRE_FLASH_AREA_STORAGE, 8, SECTOR),
                     NACRE_BOARD_ERR_ALIGNMENT);
    assert_int_equal(nacre_board_flash_erase(b, NACRE_FLASH_AREA_STORAGE, 0, 100),
                     NACRE_BOARD_ERR_ALIGNMENT);
    assert_true(strlen(nacre_host_board_detail(b)) > 0);
    assert_int_equal(nacre_host_board_write_count(b), 0);
    uint8_t got[16];
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_STORAGE, 0, got, sizeof got),
                     NACRE_BOARD_OK);
    assert_all(got, sizeof got, 0xFF);
    nacre_host_board_close(b);
}

static void test_range(void **state)
{
    struct fx *f = *state;
    struct nacre_board *b = open_dev(f->dev);
    const uint32_t size = 16 * SECTOR; /* STORAGE */
    const unsigned st = NACRE_FLASH_AREA_STORAGE;
    uint8_t buf[16] = {0};

    assert_int_equal(nacre_board_flash_read(b, st, size, buf, 0), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_flash_read(b, st, size, buf, 1), NACRE_BOARD_ERR_RANGE);
    assert_int_equal(nacre_board_flash_read(b, st, size - 4, buf, 8), NACRE_BOARD_ERR_RANGE);
    assert_int_equal(nacre_board_flash_read(b, st, size + 1, buf, 0), NACRE_BOARD_ERR_RANGE);
    assert_int_equal(nacre_board_flash_read(b, st, UINT32_MAX - 3, buf, 8),
                     NACRE_BOARD_ERR_RANGE);
    assert_int_equal(nacre_board_flash_write(b, st, UINT32_MAX - 3, buf, 8),
                     NACRE_BOARD_ERR_RANGE);
    assert_int_equal(nacre_board_flash_write(b, st, UINT32_MAX - 7, buf, 8),
                     NACRE_BOARD_ERR_RANGE);
    assert_int_equal(nacre_board_flash_write(b, st, size, buf, 8), NACRE_BOARD_ERR_RANGE);
    /* A length that would wrap offset + len around. */
    assert_int_equal(nacre_board_flash_read(b, st, 8, buf, SIZE_MAX), NACRE_BOARD_ERR_RANGE);
    assert_int_equal(nacre_board_flash_write(b, st, 8, buf, SIZE_MAX - 7), NACRE_BOARD_ERR_RANGE);
    assert_int_equal(nacre_board_flash_erase(b, st, size, SECTOR), NACRE_BOARD_ERR_RANGE);
    assert_int_equal(nacre_board_flash_erase(b, st, SECTOR, SIZE_MAX - SECTOR + 1),
                     NACRE_BOARD_ERR_RANGE);
    assert_int_equal(nacre_board_flash_erase(b, st, 0, size + SECTOR), NACRE_BOARD_ERR_RANGE);

    assert_int_equal(nacre_board_otp_read(b, NACRE_BOARD_OTP_BYTES - 4, buf, 8),
                     NACRE_BOARD_ERR_RANGE);
    assert_int_equal(nacre_board_otp_read(b, UINT32_MAX, buf, 2), NACRE_BOARD_ERR_RANGE);
    assert_int_equal(nacre_board_otp_program(b, 1, buf, SIZE_MAX), NACRE_BOARD_ERR_RANGE);
    assert_int_equal(nacre_board_otp_lock_read(b, 0, NACRE_BOARD_OTP_BYTES + 1),
                     NACRE_BOARD_ERR_RANGE);

    /* Unknown areas and NULL buffers are argument errors. */
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_COUNT, 0, buf, 1),
                     NACRE_BOARD_ERR_ARGUMENT);
    assert_int_equal(nacre_board_flash_write(b, UINT32_MAX, 0, buf, 8), NACRE_BOARD_ERR_ARGUMENT);
    assert_int_equal(nacre_board_flash_erase(b, 99, 0, SECTOR), NACRE_BOARD_ERR_ARGUMENT);
    assert_int_equal(nacre_board_flash_read(b, st, 0, NULL, 1), NACRE_BOARD_ERR_ARGUMENT);
    assert_int_equal(nacre_board_flash_write(b, st, 0, NULL, 8), NACRE_BOARD_ERR_ARGUMENT);
    assert_int_equal(nacre_board_otp_read(b, 0, NULL, 1), NACRE_BOARD_ERR_ARGUMENT);
    assert_int_equal(nacre_board_otp_program(b, 0, NULL, 1), NACRE_BOARD_ERR_ARGUMENT);
    assert_int_equal(nacre_board_entropy(b, NULL, 1), NACRE_BOARD_ERR_ARGUMENT);
    assert_true(strlen(nacre_host_board_detail(b)) > 0);
    assert_int_equal(nacre_host_board_write_count(b), 0);
    nacre_host_board_close(b);
}

static void test_null_board(void **state)
{
    (void)state;
    uint8_t buf[8] = {0};
    struct nacre_flash_area a;
    assert_int_equal(nacre_board_otp_read(NULL, 0, buf, 1), NACRE_BOARD_ERR_ARGUMENT);
    assert_int_equal(nacre_board_otp_program(NULL, 0, buf, 1), NACRE_BOARD_ERR_ARGUMENT);
    assert_int_equal(nacre_board_otp_lock_read(NULL, 0, 1), NACRE_BOARD_ERR_ARGUMENT);
    assert_int_equal(nacre_board_flash_area(NULL, 0, &a), NACRE_BOARD_ERR_ARGUMENT);
    assert_int_equal(nacre_board_flash_read(NULL, 0, 0, buf, 1), NACRE_BOARD_ERR_ARGUMENT);
    assert_int_equal(nacre_board_flash_write(NULL, 0, 0, buf, 8), NACRE_BOARD_ERR_ARGUMENT);
    assert_int_equal(nacre_board_flash_erase(NULL, 0, 0, SECTOR), NACRE_BOARD_ERR_ARGUMENT);
    assert_int_equal(nacre_board_entropy(NULL, buf, 1), NACRE_BOARD_ERR_ARGUMENT);
    assert_non_null(nacre_host_board_detail(NULL));
    assert_int_equal(nacre_host_board_write_count(NULL), 0);
    assert_int_equal(nacre_host_board_power_lost(NULL), 0);
    nacre_host_board_set_power_cut(NULL, 1);
    uint8_t seed[32] = {0};
    nacre_host_board_set_entropy_seed(NULL, seed);
    nacre_host_board_close(NULL);
    nacre_host_geometry_default(NULL);

    const char *detail = NULL;
    struct nacre_board *b = NULL;
    assert_int_equal(nacre_host_board_open(NULL, &b, &detail), NACRE_BOARD_ERR_ARGUMENT);
    assert_true(strlen(detail) > 0);
    assert_int_equal(nacre_host_board_open("/tmp", NULL, NULL), NACRE_BOARD_ERR_ARGUMENT);
}

static void test_erase(void **state)
{
    struct fx *f = *state;
    struct nacre_board *b = open_dev(f->dev);
    uint8_t *data = malloc(2 * SECTOR);
    uint8_t *got = malloc(2 * SECTOR);
    assert_non_null(data);
    assert_non_null(got);
    fill_pattern(data, 2 * SECTOR, 9);
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_EVENT_LOG, SECTOR, data,
                                             2 * SECTOR),
                     NACRE_BOARD_OK);
    assert_int_equal(nacre_board_flash_erase(b, NACRE_FLASH_AREA_EVENT_LOG, SECTOR, SECTOR),
                     NACRE_BOARD_OK);
    assert_int_equal(nacre_host_board_write_count(b), 2);
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_EVENT_LOG, SECTOR, got,
                                            2 * SECTOR),
                     NACRE_BOARD_OK);
    assert_all(got, SECTOR, 0xFF);
    assert_memory_equal(got + SECTOR, data + SECTOR, SECTOR);
    /* Erased bytes can be written again. */
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_EVENT_LOG, SECTOR, data + 64,
                                             64),
                     NACRE_BOARD_OK);
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_EVENT_LOG, SECTOR, got, 64),
                     NACRE_BOARD_OK);
    assert_memory_equal(got, data + 64, 64);
    /* Erasing the whole area. */
    assert_int_equal(nacre_board_flash_erase(b, NACRE_FLASH_AREA_EVENT_LOG, 0, 4 * SECTOR),
                     NACRE_BOARD_OK);
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_EVENT_LOG, SECTOR, got,
                                            2 * SECTOR),
                     NACRE_BOARD_OK);
    assert_all(got, 2 * SECTOR, 0xFF);
    free(data);
    free(got);
    nacre_host_board_close(b);
}

static void test_otp_or_semantics(void **state)
{
    struct fx *f = *state;
    struct nacre_board *b = open_dev(f->dev);
    uint8_t v;
    v = 0x0F;
    assert_int_equal(nacre_board_otp_program(b, 100, &v, 1), NACRE_BOARD_OK);
    v = 0xF0;
    assert_int_equal(nacre_board_otp_program(b, 100, &v, 1), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_otp_read(b, 100, &v, 1), NACRE_BOARD_OK);
    assert_int_equal(v, 0xFF);
    /* Programming zeros clears nothing. */
    v = 0x00;
    assert_int_equal(nacre_board_otp_program(b, 100, &v, 1), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_otp_read(b, 100, &v, 1), NACRE_BOARD_OK);
    assert_int_equal(v, 0xFF);
    uint8_t two[2] = {0x81, 0x42};
    assert_int_equal(nacre_board_otp_program(b, 254, two, 2), NACRE_BOARD_OK);
    two[0] = 0x02;
    two[1] = 0x00;
    assert_int_equal(nacre_board_otp_program(b, 254, two, 2), NACRE_BOARD_OK);
    assert_int_equal(nacre_host_board_write_count(b), 5);
    nacre_host_board_close(b);

    /* Every program was written through. */
    b = open_dev(f->dev);
    uint8_t otp[NACRE_BOARD_OTP_BYTES];
    assert_int_equal(nacre_board_otp_read(b, 0, otp, sizeof otp), NACRE_BOARD_OK);
    for (size_t i = 0; i < sizeof otp; i++) {
        uint8_t want = i == 100 ? 0xFF : i == 254 ? 0x83 : i == 255 ? 0x42 : 0x00;
        assert_int_equal(otp[i], want);
    }
    nacre_host_board_close(b);
}

static void test_otp_lock(void **state)
{
    struct fx *f = *state;
    struct nacre_board *b = open_dev(f->dev);
    uint8_t uds[32];
    uint8_t got[32];
    fill_pattern(uds, sizeof uds, 0x33);
    assert_int_equal(nacre_board_otp_program(b, 16, uds, sizeof uds), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_otp_lock_read(b, 16, 32), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_otp_lock_read(b, 16, 32), NACRE_BOARD_OK); /* idempotent */

    memset(got, 0, sizeof got);
    assert_int_equal(nacre_board_otp_read(b, 16, got, 32), NACRE_BOARD_ERR_LOCKED);
    assert_true(strlen(nacre_host_board_detail(b)) > 0);
    assert_int_equal(nacre_board_otp_read(b, 47, got, 1), NACRE_BOARD_ERR_LOCKED);
    assert_int_equal(nacre_board_otp_read(b, 0, got, 17), NACRE_BOARD_ERR_LOCKED);
    assert_all(got, sizeof got, 0); /* nothing leaked into the buffer */
    assert_int_equal(nacre_board_otp_read(b, 0, got, 16), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_otp_read(b, 48, got, 16), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_otp_program(b, 20, uds, 1), NACRE_BOARD_ERR_LOCKED);
    assert_int_equal(nacre_board_otp_program(b, 8, uds, 9), NACRE_BOARD_ERR_LOCKED);
    assert_int_equal(nacre_board_otp_program(b, 48, uds, 1), NACRE_BOARD_OK);

    /* At least four independent ranges. */
    assert_int_equal(nacre_board_otp_lock_read(b, 100, 4), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_otp_lock_read(b, 200, 4), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_otp_lock_read(b, 250, 6), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_otp_read(b, 101, got, 1), NACRE_BOARD_ERR_LOCKED);
    assert_int_equal(nacre_board_otp_read(b, 203, got, 1), NACRE_BOARD_ERR_LOCKED);
    assert_int_equal(nacre_board_otp_read(b, 255, got, 1), NACRE_BOARD_ERR_LOCKED);
    uint8_t between[96];
    assert_int_equal(nacre_board_otp_read(b, 104, between, sizeof between), NACRE_BOARD_OK);
    nacre_host_board_close(b);

    /* A reset clears the locks; the data is intact. */
    b = open_dev(f->dev);
    assert_int_equal(nacre_board_otp_read(b, 16, got, 32), NACRE_BOARD_OK);
    assert_memory_equal(got, uds, 32);
    nacre_host_board_close(b);
}

static void test_persistence(void **state)
{
    struct fx *f = *state;
    struct nacre_board *b = open_dev(f->dev);
    uint8_t data[128];
    uint8_t got[128];
    fill_pattern(data, sizeof data, 0x42);
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_SLOT_B, 255 * SECTOR, data,
                                             sizeof data),
                     NACRE_BOARD_OK);
    assert_int_equal(nacre_board_otp_program(b, 0, data, 64), NACRE_BOARD_OK);
    nacre_host_board_close(b);

    b = open_dev(f->dev);
    assert_int_equal(nacre_host_board_write_count(b), 0); /* counts since open */
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_SLOT_B, 255 * SECTOR, got,
                                            sizeof got),
                     NACRE_BOARD_OK);
    assert_memory_equal(got, data, sizeof data);
    assert_int_equal(nacre_board_otp_read(b, 0, got, 64), NACRE_BOARD_OK);
    assert_memory_equal(got, data, 64);
    nacre_host_board_close(b);
}

/* The data written by the i-th write of the power-cut sequence. */
#define SEQ_WRITES 4
#define SEQ_LEN 64

static void seq_data(unsigned i, uint8_t out[SEQ_LEN])
{
    memset(out, (int)(0x11 * (i + 1)), SEQ_LEN);
}

static void test_power_cut_sequence(void **state)
{
    struct fx *f = *state;
    for (long n = 0; n <= 2; n++) {
        char name[16];
        snprintf(name, sizeof name, "cut%ld", n);
        char *dev = new_dev(f, name);
        struct nacre_board *b = open_dev(dev);
        nacre_host_board_set_power_cut(b, n);
        for (unsigned i = 0; i < SEQ_WRITES; i++) {
            uint8_t data[SEQ_LEN];
            seq_data(i, data);
            nacre_board_status st =
                nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, i * SEQ_LEN, data, SEQ_LEN);
            assert_int_equal(st, (long)i < n ? NACRE_BOARD_OK : NACRE_BOARD_ERR_POWER_LOST);
            assert_int_equal(nacre_host_board_power_lost(b), (long)i >= n);
        }
        /* The torn write counts; the refused ones after it do not. */
        assert_int_equal(nacre_host_board_write_count(b), (uint64_t)n + 1);
        assert_all_power_lost(b);
        assert_int_equal(nacre_host_board_write_count(b), (uint64_t)n + 1);
        nacre_host_board_close(b);

        /* After the reset: whole writes before the cut, half of the torn one. */
        b = open_dev(dev);
        assert_int_equal(nacre_host_board_power_lost(b), 0);
        uint8_t got[SEQ_WRITES * SEQ_LEN];
        assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_STORAGE, 0, got, sizeof got),
                         NACRE_BOARD_OK);
        for (unsigned i = 0; i < SEQ_WRITES; i++) {
            uint8_t data[SEQ_LEN];
            seq_data(i, data);
            for (unsigned j = 0; j < SEQ_LEN; j++) {
                uint8_t want = 0xFF;
                if ((long)i < n || ((long)i == n && j < SEQ_LEN / 2)) {
                    want = data[j];
                }
                assert_int_equal(got[i * SEQ_LEN + j], want);
            }
        }
        nacre_host_board_close(b);
        free(dev);
    }
}

static void test_power_cut_rounding(void **state)
{
    struct fx *f = *state;
    uint8_t data[24];
    uint8_t got[24];
    fill_pattern(data, sizeof data, 0x10);

    /* 24 bytes torn: half is 12, rounded down to the 8-byte write unit. */
    struct nacre_board *b = open_dev(f->dev);
    nacre_host_board_set_power_cut(b, 0);
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 0, data, 24),
                     NACRE_BOARD_ERR_POWER_LOST);
    assert_int_equal(nacre_host_board_write_count(b), 1);
    nacre_host_board_close(b);
    b = open_dev(f->dev);
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_STORAGE, 0, got, 24),
                     NACRE_BOARD_OK);
    assert_memory_equal(got, data, 8);
    assert_all(got + 8, 16, 0xFF);

    /* A single write unit torn: nothing reaches flash. */
    nacre_host_board_set_power_cut(b, 0);
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 64, data, 8),
                     NACRE_BOARD_ERR_POWER_LOST);
    nacre_host_board_close(b);
    b = open_dev(f->dev);
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_STORAGE, 64, got, 8),
                     NACRE_BOARD_OK);
    assert_all(got, 8, 0xFF);

    /* Disarming: n < 0 cancels an armed cut. */
    nacre_host_board_set_power_cut(b, 0);
    nacre_host_board_set_power_cut(b, -1);
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 64, data, 8),
                     NACRE_BOARD_OK);
    assert_int_equal(nacre_host_board_power_lost(b), 0);
    /* Rejected calls are not persistent writes and do not trigger the cut. */
    nacre_host_board_set_power_cut(b, 0);
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 64, data, 8),
                     NACRE_BOARD_ERR_NOT_ERASED);
    assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 4, data, 8),
                     NACRE_BOARD_ERR_ALIGNMENT);
    assert_int_equal(nacre_host_board_power_lost(b), 0);
    assert_int_equal(nacre_host_board_write_count(b), 1);
    nacre_host_board_close(b);
}

static void test_power_cut_erase(void **state)
{
    struct fx *f = *state;
    /* sectors erased by a torn erase of k sectors: floor(k / 2) */
    const unsigned ks[3] = {4, 3, 1};
    uint8_t *data = malloc(4 * SECTOR);
    uint8_t *got = malloc(4 * SECTOR);
    assert_non_null(data);
    assert_non_null(got);
    fill_pattern(data, 4 * SECTOR, 0x77);
    for (unsigned c = 0; c < 3; c++) {
        unsigned k = ks[c];
        struct nacre_board *b = open_dev(f->dev);
        assert_int_equal(nacre_board_flash_erase(b, NACRE_FLASH_AREA_STORAGE, 0, 4 * SECTOR),
                         NACRE_BOARD_OK);
        assert_int_equal(nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 0, data,
                                                 4 * SECTOR),
                         NACRE_BOARD_OK);
        nacre_host_board_set_power_cut(b, 1); /* one more write, then the cut */
        assert_int_equal(nacre_board_flash_erase(b, NACRE_FLASH_AREA_STORAGE, 8 * SECTOR, SECTOR),
                         NACRE_BOARD_OK);
        assert_int_equal(nacre_board_flash_erase(b, NACRE_FLASH_AREA_STORAGE, 0, k * SECTOR),
                         NACRE_BOARD_ERR_POWER_LOST);
        assert_int_equal(nacre_host_board_write_count(b), 4);
        assert_all_power_lost(b);
        nacre_host_board_close(b);

        b = open_dev(f->dev);
        assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_STORAGE, 0, got, 4 * SECTOR),
                         NACRE_BOARD_OK);
        unsigned erased = k / 2;
        assert_all(got, erased * SECTOR, 0xFF);
        assert_memory_equal(got + erased * SECTOR, data + erased * SECTOR,
                            (4 - erased) * SECTOR);
        nacre_host_board_close(b);
    }
    free(data);
    free(got);
}

static void test_power_cut_otp(void **state)
{
    struct fx *f = *state;
    struct nacre_board *b = open_dev(f->dev);
    const uint8_t v[5] = {1, 2, 3, 4, 5};
    assert_int_equal(nacre_board_otp_program(b, 10, v, 5), NACRE_BOARD_OK);
    nacre_host_board_set_power_cut(b, 0);
    const uint8_t w[5] = {0x10, 0x20, 0x30, 0x40, 0x50};
    assert_int_equal(nacre_board_otp_program(b, 40, w, 5), NACRE_BOARD_ERR_POWER_LOST);
    assert_int_equal(nacre_host_board_write_count(b), 2);
    assert_all_power_lost(b);
    nacre_host_board_close(b);

    b = open_dev(f->dev);
    uint8_t got[5];
    assert_int_equal(nacre_board_otp_read(b, 10, got, 5), NACRE_BOARD_OK);
    assert_memory_equal(got, v, 5);
    assert_int_equal(nacre_board_otp_read(b, 40, got, 5), NACRE_BOARD_OK);
    assert_int_equal(got[0], 0x10);
    assert_int_equal(got[1], 0x20);
    assert_all(got + 2, 3, 0x00);
    nacre_host_board_close(b);
}

static void test_entropy(void **state)
{
    struct fx *f = *state;
    uint8_t seed_a[32];
    uint8_t seed_b[32];
    memset(seed_a, 0xA5, sizeof seed_a);
    memset(seed_b, 0xA5, sizeof seed_b);
    seed_b[31] ^= 1;
    uint8_t one[150];
    uint8_t two[150];
    uint8_t three[150];

    /* Same seed, two opens, different request sizes: same stream. */
    struct nacre_board *b = open_dev(f->dev);
    nacre_host_board_set_entropy_seed(b, seed_a);
    assert_int_equal(nacre_board_entropy(b, one, 1), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_entropy(b, one + 1, 63), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_entropy(b, one + 64, 0), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_entropy(b, one + 64, 86), NACRE_BOARD_OK);
    nacre_host_board_close(b);
    b = open_dev(f->dev);
    nacre_host_board_set_entropy_seed(b, seed_a);
    assert_int_equal(nacre_board_entropy(b, two, sizeof two), NACRE_BOARD_OK);
    assert_memory_equal(one, two, sizeof one);
    /* Reseeding restarts the stream. */
    nacre_host_board_set_entropy_seed(b, seed_a);
    assert_int_equal(nacre_board_entropy(b, three, sizeof three), NACRE_BOARD_OK);
    assert_memory_equal(one, three, sizeof one);
    nacre_host_board_set_entropy_seed(b, seed_b);
    assert_int_equal(nacre_board_entropy(b, three, sizeof three), NACRE_BOARD_OK);
    assert_memory_not_equal(one, three, sizeof one);

    /* The documented construction: block i = BLAKE2b-512(key = seed, LE64(i)). */
    uint8_t block[64];
    uint8_t ctr[8] = {2, 0, 0, 0, 0, 0, 0, 0};
    crypto_generichash(block, 64, ctr, 8, seed_a, 32);
    assert_memory_equal(one + 128, block, 22);

    /* Back to getrandom(). */
    nacre_host_board_set_entropy_seed(b, NULL);
    assert_int_equal(nacre_board_entropy(b, two, 32), NACRE_BOARD_OK);
    assert_int_equal(nacre_board_entropy(b, three, 32), NACRE_BOARD_OK);
    assert_memory_not_equal(two, three, 32);
    nacre_host_board_close(b);

    /* Unseeded by default, independently of a previous seed. */
    b = open_dev(f->dev);
    assert_int_equal(nacre_board_entropy(b, two, 32), NACRE_BOARD_OK);
    assert_memory_not_equal(two, one, 32);
    nacre_host_board_close(b);
}

static void test_device_in_use(void **state)
{
    struct fx *f = *state;
    struct nacre_board *b = open_dev(f->dev);
    const char *detail = expect_open_fails(f->dev, NACRE_BOARD_ERR_IO);
    assert_non_null(strstr(detail, "device is in use"));
    /* The failed open did not disturb the open one. */
    uint8_t v = 0;
    assert_int_equal(nacre_board_otp_read(b, 0, &v, 1), NACRE_BOARD_OK);
    nacre_host_board_close(b);
    b = open_dev(f->dev);
    nacre_host_board_close(b);
}

static void test_killed_process(void **state)
{
    struct fx *f = *state;
    uint8_t data[32];
    fill_pattern(data, sizeof data, 0x61);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Child: write and die without closing (no cleanup, no exit handlers). */
        struct nacre_board *b = NULL;
        if (nacre_host_board_open(f->dev, &b, NULL) != NACRE_BOARD_OK ||
            nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 0, data, sizeof data) !=
                NACRE_BOARD_OK ||
            nacre_board_otp_program(b, 7, data, 3) != NACRE_BOARD_OK) {
            _exit(1);
        }
        raise(SIGKILL);
        _exit(2);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    /* The lock died with the process; the writes did not. */
    struct nacre_board *b = open_dev(f->dev);
    uint8_t got[32];
    assert_int_equal(nacre_board_flash_read(b, NACRE_FLASH_AREA_STORAGE, 0, got, sizeof got),
                     NACRE_BOARD_OK);
    assert_memory_equal(got, data, sizeof data);
    assert_int_equal(nacre_board_otp_read(b, 7, got, 3), NACRE_BOARD_OK);
    assert_memory_equal(got, data, 3);
    nacre_host_board_close(b);
}

static void test_open_not_a_device(void **state)
{
    struct fx *f = *state;
    char *empty = join(f->tmp, "empty");
    assert_int_equal(mkdir(empty, 0700), 0);
    const char *detail = expect_open_fails(empty, NACRE_BOARD_ERR_IO);
    assert_non_null(strstr(detail, "not a Nacre device (no otp.bin)"));
    assert_non_null(strstr(detail, empty));

    char *missing = join(f->tmp, "missing");
    expect_open_fails(missing, NACRE_BOARD_ERR_IO);

    /* otp.bin without flash.bin. */
    char *flash = join(f->dev, "flash.bin");
    char *moved = join(f->tmp, "flash.moved");
    assert_int_equal(rename(flash, moved), 0);
    detail = expect_open_fails(f->dev, NACRE_BOARD_ERR_IO);
    assert_non_null(strstr(detail, "no flash.bin"));
    assert_int_equal(rename(moved, flash), 0);
    nacre_host_board_close(open_dev(f->dev));
    free(empty);
    free(missing);
    free(flash);
    free(moved);
}

static void test_corrupt_otp(void **state)
{
    struct fx *f = *state;
    char *path = join(f->dev, "otp.bin");
    size_t len = 0;
    uint8_t *orig = slurp(path, &len);
    assert_int_equal(len, OTP_FILE_BYTES);
    uint8_t *m = malloc(len + 1);
    assert_non_null(m);
    const char *detail;

    spill(path, orig, len - 1);
    detail = expect_open_fails(f->dev, NACRE_BOARD_ERR_CORRUPT);
    assert_non_null(strstr(detail, "otp.bin: truncated: 287 bytes, expected 288"));
    spill(path, orig, 0);
    expect_open_fails(f->dev, NACRE_BOARD_ERR_CORRUPT);
    spill(path, orig, 16);
    expect_open_fails(f->dev, NACRE_BOARD_ERR_CORRUPT);
    memcpy(m, orig, len);
    m[len] = 0;
    spill(path, m, len + 1);
    detail = expect_open_fails(f->dev, NACRE_BOARD_ERR_CORRUPT);
    assert_non_null(strstr(detail, "extended"));

    memcpy(m, orig, len);
    m[0] = 'X';
    spill(path, m, len);
    detail = expect_open_fails(f->dev, NACRE_BOARD_ERR_CORRUPT);
    assert_non_null(strstr(detail, "magic"));

    memcpy(m, orig, len);
    m[20] ^= 0x01; /* checksum byte */
    spill(path, m, len);
    detail = expect_open_fails(f->dev, NACRE_BOARD_ERR_CORRUPT);
    assert_non_null(strstr(detail, "checksum"));

    memcpy(m, orig, len);
    m[13] ^= 0x01; /* OTP size field, checksum now stale */
    spill(path, m, len);
    detail = expect_open_fails(f->dev, NACRE_BOARD_ERR_CORRUPT);
    assert_non_null(strstr(detail, "checksum"));

    memcpy(m, orig, len);
    put_le32(m + 12, 512); /* valid checksum, wrong size */
    rehash(m, 16);
    spill(path, m, len);
    expect_open_fails(f->dev, NACRE_BOARD_ERR_CORRUPT);

    memcpy(m, orig, len);
    put_le32(m + 8, 2); /* a future version */
    rehash(m, 16);
    spill(path, m, len);
    detail = expect_open_fails(f->dev, NACRE_BOARD_ERR_CORRUPT);
    assert_non_null(strstr(detail, "version"));

    /* Restored: opens again. */
    spill(path, orig, len);
    nacre_host_board_close(open_dev(f->dev));
    free(m);
    free(orig);
    free(path);
}

/* One header mutation: up to three u32 fields, optionally with a fresh checksum. */
struct hdr_case {
    const char *what;
    unsigned nfields;
    uint32_t off[3];
    uint32_t val[3];
    int rehash;
    const char *expect; /* substring of the detail */
};

static void test_corrupt_flash_header(void **state)
{
    struct fx *f = *state;
    char *path = join(f->dev, "flash.bin");
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t orig[FLASH_HDR];
    assert_int_equal(pread(fd, orig, sizeof orig, 0), (ssize_t)sizeof orig);

    /* Area table entry i: first_sector at 24 + 8i, sector_count at 28 + 8i. */
    const struct hdr_case cases[] = {
        {"bad magic", 1, {0}, {0x41414141}, 1, "magic"},
        {"stale checksum", 1, {12}, {8192}, 0, "checksum"},
        {"version 2", 1, {8}, {2}, 1, "version"},
        {"area count 5", 1, {20}, {5}, 1, "areas"},
        {"sector_size 3", 1, {12}, {3}, 1, "sector_size"},
        {"sector_size 0", 1, {12}, {0}, 1, "sector_size"},
        {"sector_size 2^31", 1, {12}, {0x80000000u}, 1, ""},
        {"sector_size 8192: file too short", 1, {12}, {8192}, 1, "truncated"},
        {"write_size 0", 1, {16}, {0}, 1, "write_size"},
        {"write_size 6", 1, {16}, {6}, 1, "write_size"},
        {"write_size > sector", 1, {16}, {8192}, 1, "write_size"},
        {"counters 1 sector", 1, {28}, {1}, 1, "counters"},
        {"storage past the file", 1, {68}, {17}, 1, "truncated"},
        {"slot A sectors huge", 1, {44}, {UINT32_MAX}, 1, "32 bits"},
        {"slot A 2^20 sectors", 1, {44}, {1u << 20}, 1, ""},
        {"gap between areas", 1, {48}, {261}, 1, "contiguous"},
        {"first_sector huge", 1, {64}, {UINT32_MAX}, 1, "contiguous"},
        {"counters not at 0", 1, {24}, {1}, 1, "contiguous"},
        {"reserved byte set", 1, {100}, {1}, 1, "reserved"},
        {"all sector counts max", 3, {28, 44, 52}, {UINT32_MAX, UINT32_MAX, UINT32_MAX}, 1, ""},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint8_t h[FLASH_HDR];
        memcpy(h, orig, sizeof h);
        for (unsigned i = 0; i < cases[c].nfields; i++) {
            put_le32(h + cases[c].off[i], cases[c].val[i]);
        }
        if (cases[c].rehash) {
            rehash(h, 112);
        }
        assert_int_equal(pwrite(fd, h, sizeof h, 0), (ssize_t)sizeof h);
        const char *detail = expect_open_fails(f->dev, NACRE_BOARD_ERR_CORRUPT);
        if (strstr(detail, cases[c].expect) == NULL) {
            print_error("%s: unexpected detail \"%s\"\n", cases[c].what, detail);
        }
        assert_non_null(strstr(detail, cases[c].expect));
    }
    assert_int_equal(pwrite(fd, orig, sizeof orig, 0), (ssize_t)sizeof orig);
    close(fd);
    nacre_host_board_close(open_dev(f->dev));
    free(path);
}

static void test_corrupt_flash_size(void **state)
{
    struct fx *f = *state;
    char *path = join(f->dev, "flash.bin");
    const char *detail;
    char want[128];

    /* Extended by one byte. */
    assert_int_equal(truncate(path, FLASH_FILE_BYTES + 1), 0);
    detail = expect_open_fails(f->dev, NACRE_BOARD_ERR_CORRUPT);
    snprintf(want, sizeof want, "flash.bin: extended: %u bytes, expected %u",
             FLASH_FILE_BYTES + 1, FLASH_FILE_BYTES);
    assert_non_null(strstr(detail, want));

    /* Missing its last sector. */
    assert_int_equal(truncate(path, FLASH_FILE_BYTES - SECTOR), 0);
    detail = expect_open_fails(f->dev, NACRE_BOARD_ERR_CORRUPT);
    snprintf(want, sizeof want, "flash.bin: truncated: %u bytes, expected %u",
             FLASH_FILE_BYTES - SECTOR, FLASH_FILE_BYTES);
    assert_non_null(strstr(detail, want));

    /* Shorter than its header, and empty. */
    assert_int_equal(truncate(path, 100), 0);
    detail = expect_open_fails(f->dev, NACRE_BOARD_ERR_CORRUPT);
    assert_non_null(strstr(detail, "truncated"));
    assert_int_equal(truncate(path, 0), 0);
    detail = expect_open_fails(f->dev, NACRE_BOARD_ERR_CORRUPT);
    assert_non_null(strstr(detail, "truncated"));

    /* Not a regular file. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    expect_open_fails(f->dev, NACRE_BOARD_ERR_IO);
    assert_int_equal(rmdir(path), 0);
    free(path);
}

int main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_geometry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_bad_geometry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_refuses_existing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_erased, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_not_erased, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alignment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range, setup, teardown),
        cmocka_unit_test(test_null_board),
        cmocka_unit_test_setup_teardown(test_erase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_otp_or_semantics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_otp_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_rounding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_erase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_otp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entropy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_not_a_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_otp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_flash_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_flash_size, setup, teardown),
    };
    return cmocka_run_group_tests_name("board_host", tests, NULL, NULL);
}
