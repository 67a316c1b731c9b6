#define _XOPEN_SOURCE 700 /* nftw */
#include "test_support.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *nacre_test_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    size_t n = strlen(base) + strlen(tag) + 32;
    char *path = malloc(n);
    if (path == NULL) {
        abort();
    }
    snprintf(path, n, "%s/nacre-%s-XXXXXX", base, tag);
    if (mkdtemp(path) == NULL) {
        perror("mkdtemp");
        abort();
    }
    return path;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void nacre_test_rmtree(const char *path)
{
    if (path != NULL) {
        (void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

long nacre_test_unhex(const char *hex, uint8_t *out, size_t out_max)
{
    size_t len = strlen(hex);
    if (len % 2 != 0 || len / 2 > out_max) {
        return -1;
    }
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(hex[2 * i]);
        int lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    return (long)(len / 2);
}

char *nacre_test_vector_path(const char *name)
{
    const char *dir = getenv("NACRE_TEST_VECTORS");
    if (dir == NULL) {
        dir = "tests/vectors";
    }
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p == NULL) {
        abort();
    }
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

#include <sodium.h>

static void die(const char *what, const char *why)
{
    fprintf(stderr, "test fixture: %s: %s\n", what, why);
    abort();
}

static void open_board(struct nacre_test_device *d)
{
    const char *detail = NULL;
    nacre_board_status b = nacre_host_board_open(d->dir, &d->board, &detail);
    if (b != NACRE_BOARD_OK) {
        die("open", detail ? detail : nacre_board_strerror(b));
    }
    if (d->seeded) {
        nacre_host_board_set_entropy_seed(d->board, d->seed);
    }
}

void nacre_test_device_new(struct nacre_test_device *d, const char *tag, const uint8_t *seed,
                           int provision)
{
    nacre_test_device_new_geometry(d, tag, seed, provision, NULL);
}

void nacre_test_device_new_geometry(struct nacre_test_device *d, const char *tag, const uint8_t *seed,
                                    int provision, const struct nacre_host_geometry *geometry)
{
    memset(d, 0, sizeof *d);
    if (sodium_init() < 0) {
        die("sodium_init", "failed");
    }
    d->dir = nacre_test_tmpdir(tag);
    const char *detail = NULL;
    /* nacre_test_tmpdir made the dir; the device goes in a subdirectory. */
    size_t n = strlen(d->dir) + 8;
    char *dev = malloc(n);
    if (dev == NULL) {
        abort();
    }
    snprintf(dev, n, "%s/dev", d->dir);
    nacre_board_status b = nacre_host_device_create(dev, geometry, &detail);
    if (b != NACRE_BOARD_OK) {
        die("create", detail ? detail : nacre_board_strerror(b));
    }
    free(d->dir);
    d->dir = dev;
    if (seed != NULL) {
        memcpy(d->seed, seed, sizeof d->seed);
        d->seeded = 1;
    }
    d->p = sodium_malloc(sizeof *d->p);
    if (d->p == NULL) {
        abort();
    }
    open_board(d);
    if (nacre_pluton_init(d->p, d->board) != NACRE_PLUTON_OK) {
        die("init", "failed");
    }
    if (provision) {
        nacre_pluton_status s = nacre_pluton_provision(d->p, NULL);
        if (s != NACRE_PLUTON_OK) {
            die("provision", nacre_pluton_strerror(s));
        }
    }
}

nacre_pluton_status nacre_test_device_reset(struct nacre_test_device *d)
{
    nacre_pluton_deinit(d->p);
    nacre_host_board_close(d->board);
    d->board = NULL;
    open_board(d);
    return nacre_pluton_init(d->p, d->board);
}

void nacre_test_device_boot(struct nacre_test_device *d, const char *firmware)
{
    nacre_pluton_status s;
    if (firmware != NULL) {
        uint8_t digest[NACRE_PLUTON_DIGEST_BYTES];
        crypto_generichash(digest, sizeof digest, (const uint8_t *)firmware, strlen(firmware),
                           NULL, 0);
        s = nacre_pluton_measure_extend(d->p, NACRE_PLUTON_BOOT_REGISTER, digest);
        if (s != NACRE_PLUTON_OK) {
            die("measure", nacre_pluton_strerror(s));
        }
    }
    s = nacre_pluton_boot_complete(d->p);
    if (s != NACRE_PLUTON_OK) {
        die("boot", nacre_pluton_strerror(s));
    }
}

void nacre_test_device_free(struct nacre_test_device *d)
{
    if (d->p != NULL) {
        nacre_pluton_deinit(d->p);
        sodium_free(d->p);
    }
    nacre_host_board_close(d->board);
    if (d->dir != NULL) {
        /* d->dir is TMP/nacre-tag-XXXXXX/dev: remove the parent. */
        char *slash = strrchr(d->dir, '/');
        if (slash != NULL) {
            *slash = '\0';
        }
        nacre_test_rmtree(d->dir);
        free(d->dir);
    }
    memset(d, 0, sizeof *d);
}
