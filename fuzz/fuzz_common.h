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
/* Writes len bytes to path (creating or truncating it); aborts on failure. */
void fuzz_write_file(const char *path, const uint8_t *data, size_t len);

#endif
