/*
 * cli_device.c - open, boot and close a host device for the device commands.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <nacre/board_host.h>

int cli_board_fail(const char *what, nacre_board_status st, const char *detail)
{
    if (detail != NULL && detail[0] != '\0') {
        return cli_fail("%s: %s: %s", what, nacre_board_strerror(st), detail);
    }
    return cli_fail("%s: %s", what, nacre_board_strerror(st));
}

int cli_pluton_fail(const struct cli_device *dev, const char *what, nacre_pluton_status st)
{
    /* Storage trouble is the board's to explain (power cut, I/O, ...). */
    const char *detail = "";
    if (dev != NULL && dev->board != NULL &&
        (st == NACRE_PLUTON_ERR_STORAGE || st == NACRE_PLUTON_ERR_POWER_LOST ||
         st == NACRE_PLUTON_ERR_STORAGE_CORRUPT)) {
        detail = nacre_host_board_detail(dev->board);
    }
    if (detail[0] != '\0') {
        return cli_fail("%s: %s (%s)", what, nacre_pluton_strerror(st), detail);
    }
    return cli_fail("%s: %s", what, nacre_pluton_strerror(st));
}

/* NACRE_POWER_CUT_AFTER: -1 if unset, else N >= 0; CLI_USAGE if malformed. */
static int power_cut_from_env(long *out)
{
    const char *s = getenv(CLI_POWER_CUT_ENV);
    uint32_t n = 0;
    *out = -1;
    if (s == NULL) {
        return CLI_OK;
    }
    if (cli_parse_u32(s, &n) != 0 || n > (uint32_t)INT32_MAX) {
        fflush(stdout);
        return cli_usage_error(NULL, "%s must be a decimal number of writes, not '%s'",
                               CLI_POWER_CUT_ENV, s);
    }
    *out = (long)n;
    return CLI_OK;
}

void cli_device_close(struct cli_device *dev)
{
    if (dev->pluton != NULL) {
        nacre_pluton_deinit(dev->pluton);
        sodium_free(dev->pluton);
        dev->pluton = NULL;
    }
    dev->initialized = 0;
    nacre_host_board_close(dev->board);
    dev->board = NULL;
}

/* Open the board, arm the hook and init pluton; cut is from the environment. */
static int power_on(struct cli_device *dev, const char *dir, long cut)
{
    const char *detail = NULL;
    nacre_board_status bst = nacre_host_board_open(dir, &dev->board, &detail);
    if (bst != NACRE_BOARD_OK) {
        dev->board = NULL;
        return cli_board_fail("opening device", bst, detail);
    }
    if (cut >= 0) {
        nacre_host_board_set_power_cut(dev->board, cut);
    }

    dev->pluton = sodium_malloc(sizeof *dev->pluton);
    if (dev->pluton == NULL) {
        cli_device_close(dev);
        return cli_fail("opening device %s: out of memory", dir);
    }
    memset(dev->pluton, 0, sizeof *dev->pluton);

    nacre_pluton_status st = nacre_pluton_init(dev->pluton, dev->board);
    if (st != NACRE_PLUTON_OK) {
        int rc = cli_pluton_fail(dev, "starting the root of trust", st);
        cli_device_close(dev);
        return rc;
    }
    dev->initialized = 1;
    return CLI_OK;
}

int cli_device_open(struct cli_device *dev, const char *dir)
{
    memset(dev, 0, sizeof *dev);
    dev->dir = dir;
    dev->attach_status = NACRE_UPDATE_ERR_NO_IMAGE;

    long cut = -1;
    int rc = power_cut_from_env(&cut);
    if (rc != CLI_OK) {
        return rc;
    }
    return power_on(dev, dir, cut);
}

/*
 * Without --firmware: re-enter the image the last boot chose. Nothing
 * installed, or no root key to verify with: the plain boot (R0 zero).
 */
static int boot_attach(struct cli_device *dev)
{
    nacre_update_status us = nacre_boot_attach(dev->pluton, dev->board, NULL, &dev->running);
    dev->attach_status = us;
    if (us == NACRE_UPDATE_OK) {
        dev->attached = 1;
        return CLI_OK;
    }
    if (us != NACRE_UPDATE_ERR_NO_IMAGE && us != NACRE_UPDATE_ERR_NO_ROOT_KEY) {
        return cli_update_fail(dev, "attaching to the running image", us);
    }
    nacre_pluton_status st = nacre_pluton_boot_complete(dev->pluton);
    if (st != NACRE_PLUTON_OK) {
        return cli_pluton_fail(dev, "completing boot", st);
    }
    return CLI_OK;
}

int cli_device_boot(struct cli_device *dev, const char *dir, const char *firmware)
{
    memset(dev, 0, sizeof *dev);
    dev->dir = dir;
    dev->attach_status = NACRE_UPDATE_ERR_NO_IMAGE;

    long cut = -1;
    int rc = power_cut_from_env(&cut);
    if (rc != CLI_OK) {
        return rc;
    }
    /* Hash the firmware before powering on: a bad path touches nothing. */
    if (firmware != NULL) {
        rc = cli_hash_file("reading firmware", firmware, dev->firmware_digest);
        if (rc != CLI_OK) {
            return rc;
        }
    }
    rc = power_on(dev, dir, cut);
    if (rc != CLI_OK) {
        return rc;
    }
    if (nacre_pluton_lifecycle_get(dev->pluton) == NACRE_PLUTON_LIFECYCLE_BLANK) {
        return CLI_OK;
    }

    nacre_pluton_status st;
    if (firmware != NULL) {
        st = nacre_pluton_measure_extend(dev->pluton, NACRE_PLUTON_BOOT_REGISTER,
                                         dev->firmware_digest);
        if (st != NACRE_PLUTON_OK) {
            rc = cli_pluton_fail(dev, "measuring firmware into R0", st);
            cli_device_close(dev);
            return rc;
        }
        dev->measured = 1;
        st = nacre_pluton_boot_complete(dev->pluton);
        if (st != NACRE_PLUTON_OK) {
            rc = cli_pluton_fail(dev, "completing boot", st);
        }
    } else {
        rc = boot_attach(dev);
    }
    if (rc != CLI_OK) {
        cli_device_close(dev);
    }
    return rc;
}
