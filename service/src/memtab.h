/*
 * memtab.h - an in-memory hash table with time-based expiry, for the
 * service's hot paths: attestation nonces (60 s), the (keyid, nonce) replay
 * cache (600 s) and verified device certificates.
 *
 * Keys are 32 bytes (already hashes or random values), values fixed-size.
 * Expiry is by generation: entries live in the current generation; every
 * `period` seconds the previous one is dropped and the current one becomes
 * previous. An entry is thus kept at least `period` and at most 2 x period
 * seconds; callers that need an exact deadline store it in the value.
 *
 * THREAD SAFETY: every function takes the table's mutex.
 */
#ifndef NACRE_SERVICE_MEMTAB_H
#define NACRE_SERVICE_MEMTAB_H

#include <stddef.h>
#include <stdint.h>

struct memtab;

struct memtab *memtab_new(size_t value_size, uint64_t period, size_t buckets_log2, uint64_t now);
void memtab_free(struct memtab *t);
/* Copy the value of key into value (may be NULL): 1 found, 0 not. */
int memtab_get(struct memtab *t, const uint8_t key[32], void *value, uint64_t now);
/* Insert or replace. -1 on allocation failure. */
int memtab_put(struct memtab *t, const uint8_t key[32], const void *value, uint64_t now);
/* Insert only if absent: 1 inserted, 0 already there, -1 no memory. */
int memtab_add(struct memtab *t, const uint8_t key[32], const void *value, uint64_t now);
void memtab_del(struct memtab *t, const uint8_t key[32]);
size_t memtab_count(struct memtab *t);

#endif /* NACRE_SERVICE_MEMTAB_H */
