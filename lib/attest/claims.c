/*
 * claims.c - the claims a device makes about itself, read from libpluton.
 *
 * Everything here is public information (the UEID is a hash of the DeviceID
 * public key; the boot seed is random per boot), so nothing needs wiping;
 * on failure the claims are zeroed so that a half-filled struct cannot be
 * signed by mistake.
 */
#include <string.h>

#include <sodium.h>

#include "attest_priv.h"

#define UEID_TYPE_RAND 0x01u /* RFC 9711 §4.2.1.1: a random / hashed UEID */

nacre_attest_status nacre_attest_claims_init(struct nacre_attest_claims *claims, nacre_pluton *p,
                                             const uint8_t *nonce, size_t nonce_len,
                                             uint64_t issued_at)
{
    uint8_t pk[NACRE_PLUTON_PUBLICKEY_BYTES];
    if (claims == NULL) {
        return NACRE_ATTEST_ERR_ARGUMENT;
    }
    memset(claims, 0, sizeof *claims);
    if (p == NULL || nonce == NULL || nonce_len < NACRE_ATTEST_NONCE_MIN ||
        nonce_len > NACRE_ATTEST_NONCE_MAX) {
        return NACRE_ATTEST_ERR_ARGUMENT;
    }
    memcpy(claims->nonce, nonce, nonce_len);
    claims->nonce_len = nonce_len;
    claims->issued_at = issued_at;

    /* The DeviceID key exists only after boot_complete, which also makes the
     * boot seed: a device that has not booted has nothing to attest. */
    nacre_pluton_status ps = nacre_pluton_key_public(p, NACRE_PLUTON_KEY_DEVICE_ID, pk);
    if (ps == NACRE_PLUTON_OK) {
        ps = nacre_pluton_boot_seed(p, claims->boot_seed);
    }
    if (ps == NACRE_PLUTON_OK) {
        ps = nacre_pluton_counter_read(p, 0, &claims->security_counter);
    }
    if (ps == NACRE_PLUTON_OK) {
        ps = nacre_pluton_counter_read(p, 1, &claims->key_epoch);
    }
    if (ps != NACRE_PLUTON_OK) {
        memset(claims, 0, sizeof *claims);
        return NACRE_ATTEST_ERR_PLUTON;
    }
    claims->ueid[0] = UEID_TYPE_RAND;
    crypto_generichash(claims->ueid + 1, NACRE_ATTEST_UEID_BYTES - 1, pk, sizeof pk, NULL, 0);

    claims->lifecycle = (unsigned)nacre_pluton_lifecycle_get(p);
    /* SECURED is the only state in which debug is locked, and it is locked
     * for good (the lifecycle only moves forward): EAT "disabled-permanently". */
    claims->debug_state = claims->lifecycle == NACRE_PLUTON_LIFECYCLE_SECURED
                              ? ATTEST_DBGSTAT_DISABLED_PERMANENTLY
                              : ATTEST_DBGSTAT_ENABLED;
    return NACRE_ATTEST_OK;
}

nacre_attest_status nacre_attest_claims_add_component(struct nacre_attest_claims *claims,
                                                      const struct nacre_attest_component *component)
{
    if (claims == NULL || component == NULL || !attest_component_ok(component)) {
        return NACRE_ATTEST_ERR_ARGUMENT;
    }
    if (claims->component_count >= NACRE_ATTEST_COMPONENTS_MAX) {
        return NACRE_ATTEST_ERR_TOO_MANY;
    }
    struct nacre_attest_component *c = &claims->components[claims->component_count];
    /* Field by field: copies exactly the checked, NUL-terminated strings and
     * leaves the rest of each array zero. */
    memset(c, 0, sizeof *c);
    memcpy(c->name, component->name, strlen(component->name));
    memcpy(c->version, component->version, strlen(component->version));
    memcpy(c->measurement, component->measurement, sizeof c->measurement);
    memcpy(c->signer_id, component->signer_id, sizeof c->signer_id);
    c->security_counter = component->security_counter;
    claims->component_count++;
    return NACRE_ATTEST_OK;
}
