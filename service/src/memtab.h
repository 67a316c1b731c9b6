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
/* Insert or replace. -1 on allocation failure, -2 full (see memtab_set_max). */
int memtab_put(struct memtab *t, const uint8_t key[32], const void *value, uint64_t now);
/* Insert only if absent: 1 inserted, 0 already there, -1 no memory, -2 full. */
int memtab_add(struct memtab *t, const uint8_t key[32], const void *value, uint64_t now);
/*
 * Cap the entries (both generations): an insert of a new key into a full
 * table fails with -2 and nothing is evicted, so a table that guards against
 * replays never forgets an entry early. Memory per entry: one malloc of
 * 40 bytes + value_size (48 bytes with glibc's 16-byte chunks for a value of
 * 0-8 bytes), plus the bucket arrays (2 x 8 bytes x 2^buckets_log2).
 */
void memtab_set_max(struct memtab *t, size_t max);
/* Seconds until entries are next dropped (at least 1): when a full table
 * can take entries again (at most 2 x period). */
uint64_t memtab_next_expiry(struct memtab *t, uint64_t now);
void memtab_del(struct memtab *t, const uint8_t key[32]);
size_t memtab_count(struct memtab *t);

#endif /* NACRE_SERVICE_MEMTAB_H */
