/*
 * nonce.c - the verifier's single-use nonces.
 *
 * A slot is free (expires == 0), live (issued, unused, now < expires), used,
 * or expired. Issuing prefers a free slot, then an expired one, then a used
 * one: a used slot is kept as long as there is room so that a replay is
 * reported as a reuse, not merely as an unknown nonce (both are refused).
 * Only live nonces are never overwritten, so ERR_NONCE_STORE_FULL means
 * NACRE_ATTEST_NONCE_SLOTS challenges are outstanding.
 *
 * A lookup compares the candidate with every slot, each comparison in
 * constant time and without stopping at the first match, so its timing says
 * little about how much of a guess was right or where it was stored.
 */
#include <string.h>

#include <sodium.h>

#include "attest_priv.h"

_Static_assert(NACRE_ATTEST_NONCE_BYTES == 32u, "crypto_verify_32 compares nonces");
_Static_assert(NACRE_ATTEST_NONCE_BYTES >= NACRE_ATTEST_NONCE_MIN &&
                   NACRE_ATTEST_NONCE_BYTES <= NACRE_ATTEST_NONCE_MAX,
               "store nonces fit the nonce claim");

void nacre_attest_nonce_store_init(struct nacre_attest_nonce_store *store, uint64_t ttl_seconds)
{
    if (store == NULL) {
        return;
    }
    memset(store, 0, sizeof *store);
    /* A nonce valid for zero seconds could never be used. */
    store->ttl = ttl_seconds > 0 ? ttl_seconds : 1;
}

static int expired(uint64_t expires, uint64_t now)
{
    return now >= expires;
}

nacre_attest_status nacre_attest_nonce_issue(struct nacre_attest_nonce_store *store, uint64_t now,
                                             uint8_t nonce[NACRE_ATTEST_NONCE_BYTES])
{
    if (store == NULL || nonce == NULL) {
        return NACRE_ATTEST_ERR_ARGUMENT;
    }
    size_t pick = NACRE_ATTEST_NONCE_SLOTS;
    int pick_rank = 0; /* 3 free, 2 expired, 1 used; 0 none */
    for (size_t i = 0; i < NACRE_ATTEST_NONCE_SLOTS; i++) {
        int rank;
        if (store->slots[i].expires == 0) {
            rank = 3;
        } else if (expired(store->slots[i].expires, now)) {
            rank = 2;
        } else if (store->slots[i].used) {
            rank = 1;
        } else {
            rank = 0; /* live */
        }
        if (rank > pick_rank) {
            pick_rank = rank;
            pick = i;
        }
    }
    if (pick == NACRE_ATTEST_NONCE_SLOTS) {
        return NACRE_ATTEST_ERR_NONCE_STORE_FULL;
    }
    uint64_t ttl = store->ttl > 0 ? store->ttl : 1;
    /* Saturates instead of wrapping into the past; never 0 (= free). */
    uint64_t expires = now > UINT64_MAX - ttl ? UINT64_MAX : now + ttl;
    randombytes_buf(store->slots[pick].nonce, NACRE_ATTEST_NONCE_BYTES);
    store->slots[pick].expires = expires;
    store->slots[pick].used = 0;
    memcpy(nonce, store->slots[pick].nonce, NACRE_ATTEST_NONCE_BYTES);
    return NACRE_ATTEST_OK;
}

nacre_attest_status attest_nonce_lookup(struct nacre_attest_nonce_store *store,
                                        const uint8_t *nonce, size_t nonce_len, uint64_t now,
                                        int consume)
{
    if (store == NULL || nonce == NULL) {
        return NACRE_ATTEST_ERR_ARGUMENT;
    }
    if (nonce_len != NACRE_ATTEST_NONCE_BYTES) {
        return NACRE_ATTEST_ERR_NONCE_UNKNOWN; /* the store only issues 32-byte nonces */
    }
    size_t found = NACRE_ATTEST_NONCE_SLOTS;
    for (size_t i = 0; i < NACRE_ATTEST_NONCE_SLOTS; i++) {
        /* Every slot is compared, free ones included, whatever matched before. */
        int same = crypto_verify_32(store->slots[i].nonce, nonce) == 0;
        int in_use = store->slots[i].expires != 0;
        if (same && in_use) {
            found = i;
        }
    }
    if (found == NACRE_ATTEST_NONCE_SLOTS) {
        return NACRE_ATTEST_ERR_NONCE_UNKNOWN;
    }
    if (store->slots[found].used) {
        return NACRE_ATTEST_ERR_NONCE_REUSED;
    }
    if (expired(store->slots[found].expires, now)) {
        return NACRE_ATTEST_ERR_NONCE_EXPIRED;
    }
    if (consume) {
        store->slots[found].used = 1;
    }
    return NACRE_ATTEST_OK;
}

nacre_attest_status nacre_attest_nonce_consume(struct nacre_attest_nonce_store *store,
                                               const uint8_t *nonce, size_t nonce_len, uint64_t now)
{
    return attest_nonce_lookup(store, nonce, nonce_len, now, 1);
}
