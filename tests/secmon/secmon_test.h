/* Helpers shared by the libsecmon tests. */
#ifndef NACRE_SECMON_TEST_H
#define NACRE_SECMON_TEST_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/secmon.h>

#include "test_support.h"

/* A small flash geometry: `sector`-byte sectors, 8-byte writes, event ring
 * of ring_sectors, storage of storage_sectors, 64-sector image slots. */
struct nacre_host_geometry smt_geometry(uint32_t sector, uint32_t ring_sectors, uint32_t storage_sectors);

/* A provisioned device (fixed seed from tag), booted with firmware "fw-1". */
void smt_device(struct nacre_test_device *d, const char *tag, const struct nacre_host_geometry *g);

/* Power-cycle and boot again with `firmware`. */
void smt_reboot(struct nacre_test_device *d, const char *firmware);

/* A core on d (malloc'd; free with smt_core_free). */
struct nacre_secmon_core *smt_core(struct nacre_test_device *d, unsigned rate);
void smt_core_free(struct nacre_secmon_core *core);

/* Caps with only a ComponentId. */
struct nacre_secmon_caps smt_caps(const char *component_id);

/* One request through the core; the response must decode (asserted) and
 * echo call and id. Returns its status; out gets the payload. */
nacre_secmon_status smt_call(struct nacre_secmon_core *core, unsigned app, uint64_t now, unsigned call,
                             const void *req, size_t req_len, uint8_t *out, size_t *out_len, int *out_fd);

/* A raw (possibly malformed) message through the core; returns the status
 * of the response (which must decode). */
nacre_secmon_status smt_raw(struct nacre_secmon_core *core, unsigned app, uint64_t now,
                            const uint8_t msg[NACRE_SECMON_MSG_BYTES]);

/* NACRE_CUT_STRIDE=k: the power-cut proofs try every k-th cut point only
 * (as tests/update does; a valgrind pass uses it). Default 1: all of them. */
long smt_cut_stride(void);

/* Every event in the ring, oldest first (at most max). */
size_t smt_events(struct nacre_board *board, struct nacre_secmon_event *evs, size_t max);

#endif
