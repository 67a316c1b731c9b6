/*
 * measure.c - extend-only measurement registers.
 *
 * Rn starts at 32 zero bytes on reset and can only be extended:
 * Rn' = BLAKE2b-256(Rn || digest). R0 holds the next stage measured by the
 * boot stage; it feeds the CDI and is frozen once boot_complete has run, so
 * a later stage cannot make R0 claim other firmware than the keys reflect.
 */
#include <string.h>

#include "pluton_priv.h"

nacre_pluton_status nacre_pluton_measure_extend(nacre_pluton *p, unsigned reg,
                                                const uint8_t digest[NACRE_PLUTON_DIGEST_BYTES])
{
    struct pluton_state *st;
    nacre_pluton_status s = pluton_get(p, &st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if (digest == NULL || reg >= NACRE_PLUTON_REGISTER_COUNT) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    if (reg == NACRE_PLUTON_BOOT_REGISTER && st->booted) {
        return NACRE_PLUTON_ERR_REGISTER_LOCKED;
    }
    crypto_generichash_blake2b_state h;
    crypto_generichash_blake2b_init(&h, NULL, 0, NACRE_PLUTON_DIGEST_BYTES);
    crypto_generichash_blake2b_update(&h, st->regs[reg], NACRE_PLUTON_DIGEST_BYTES);
    crypto_generichash_blake2b_update(&h, digest, NACRE_PLUTON_DIGEST_BYTES);
    crypto_generichash_blake2b_final(&h, st->regs[reg], NACRE_PLUTON_DIGEST_BYTES);
    return NACRE_PLUTON_OK;
}

nacre_pluton_status nacre_pluton_measure_read(const nacre_pluton *p, unsigned reg,
                                              uint8_t out[NACRE_PLUTON_DIGEST_BYTES])
{
    if (p == NULL || out == NULL || reg >= NACRE_PLUTON_REGISTER_COUNT) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    const struct pluton_state *st = pluton_state_const(p);
    if (st->magic != PLUTON_MAGIC) {
        return NACRE_PLUTON_ERR_NOT_INITIALIZED;
    }
    memcpy(out, st->regs[reg], NACRE_PLUTON_DIGEST_BYTES);
    return NACRE_PLUTON_OK;
}

nacre_pluton_status measure_policy(const struct pluton_state *st, uint32_t mask,
                                   uint8_t out[NACRE_PLUTON_DIGEST_BYTES])
{
    static const char label[] = "nacre/v1/seal-policy";
    uint8_t mask_le[4];
    le32_put(mask_le, mask);
    if (mask >> NACRE_PLUTON_REGISTER_COUNT) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    if (mask == 0) {
        memset(out, 0, NACRE_PLUTON_DIGEST_BYTES);
        return NACRE_PLUTON_OK;
    }
    crypto_generichash_blake2b_state h;
    crypto_generichash_blake2b_init(&h, NULL, 0, NACRE_PLUTON_DIGEST_BYTES);
    crypto_generichash_blake2b_update(&h, (const uint8_t *)label, sizeof label);
    crypto_generichash_blake2b_update(&h, mask_le, sizeof mask_le);
    for (unsigned i = 0; i < NACRE_PLUTON_REGISTER_COUNT; i++) {
        if (mask & (1u << i)) {
            crypto_generichash_blake2b_update(&h, st->regs[i], NACRE_PLUTON_DIGEST_BYTES);
        }
    }
    crypto_generichash_blake2b_final(&h, out, NACRE_PLUTON_DIGEST_BYTES);
    return NACRE_PLUTON_OK;
}
