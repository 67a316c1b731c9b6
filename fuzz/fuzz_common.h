/* Shared set-up for the fuzz targets: one scratch device per process. */
#ifndef NACRE_FUZZ_COMMON_H
#define NACRE_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/board_host.h>
#include <nacre/pluton.h>

/* Fixed entropy seed: the fuzzed device always has the same UDS, so seeds
 * made by one run (with valid MACs) stay meaningful for the next. */
extern const uint8_t fuzz_device_seed[32];

/* Creates (once) a provisioned device under $TMPDIR; returns its path. */
const char *fuzz_device_dir(void);
/* Opens the device with the fixed seed and inits pluton; aborts on failure. */
struct nacre_board *fuzz_power_on(nacre_pluton *p);
/* Creates a host device in a fresh temp dir (path written to dir, which has
 * dir_max bytes) with 512-byte sectors: 2 for counters and the slot journal,
 * slot_sectors per image slot, 1 for the rest. Aborts on failure. */
void fuzz_create_device(char *dir, size_t dir_max, const char *tag, unsigned slot_sectors);

/* A device (as above) provisioned with a fixed root key whose slot A holds a
 * valid image of component "fuzz", installed, booted and confirmed. Its
 * measurement goes to measurement[32]. cfg is the update configuration used. */
struct nacre_update_config;
void fuzz_update_device(char *dir, size_t dir_max, const struct nacre_update_config *cfg,
                        uint8_t measurement[32]);

/* Writes len bytes to path (creating or truncating it); aborts on failure. */
void fuzz_write_file(const char *path, const uint8_t *data, size_t len);

#endif
