/*
 * Fuzz target: nacre_pluton_unseal on arbitrary blobs (a sealed blob is read
 * back from flash, where an attacker may have written anything).
 * A blob may only open if it is one this device sealed; the target checks
 * that nothing else is ever accepted.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static nacre_pluton pluton;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[NACRE_PLUTON_SEAL_MAX_PLAINTEXT];
    if (!ready) {
        (void)fuzz_power_on(&pluton); /* the board stays open for the process */
        if (nacre_pluton_boot_complete(&pluton) != NACRE_PLUTON_OK) {
            abort();
        }
        ready = 1;
    }
    /* Input: 1 byte context length (mod 8), the context, then the blob. */
    if (size < 1) {
        return 0;
    }
    size_t ctx_len = data[0] % 8u;
    if (ctx_len > size - 1) {
        ctx_len = size - 1;
    }
    const uint8_t *ctx = data + 1;
    const uint8_t *blob = ctx + ctx_len;
    size_t blob_len = size - 1 - ctx_len;
    size_t out_len = 0;
    nacre_pluton_status s = nacre_pluton_unseal(&pluton, out, sizeof out, &out_len, blob, blob_len,
                                                ctx, ctx_len);
    if (s == NACRE_PLUTON_OK && out_len + NACRE_PLUTON_SEAL_OVERHEAD != blob_len) {
        abort(); /* accepted a blob whose length does not add up */
    }
    return 0;
}
