/*
 * nacre/mps2_veneers.h - the Non-secure-callable entry points of the
 * qemu-mps2-an505 Secure image: the only way from the Non-secure world into
 * the Secure one. Each is a `cmse_nonsecure_entry` function whose SG veneer
 * lives in the NSC region (.gnu.sgstubs at 0x10100000); the NS image links
 * against the import library the Secure link writes (nacre-veneers.o).
 *
 * Every pointer and length is checked with cmse_check_address_range against
 * the caller's view (Non-secure, and unprivileged if the caller was an
 * unprivileged thread), copied into Secure memory, and only then decoded.
 * Returns are nacre_secmon_status values.
 */
#ifndef NACRE_MPS2_VENEERS_H
#define NACRE_MPS2_VENEERS_H

#include <stdint.h>

#if defined(__ARM_FEATURE_CMSE) && (__ARM_FEATURE_CMSE & 2) && defined(NACRE_MPS2_SECURE)
#define NACRE_NSC_ENTRY __attribute__((cmse_nonsecure_entry))
#else
#define NACRE_NSC_ENTRY
#endif

/**
 * \brief One secmon request/response (nacre/secmon_abi.h), the same codec
 * as on the host. req and resp are NACRE_SECMON_MSG_BYTES each, in memory
 * the caller may read (req) and write (resp). The caller is the board's one
 * NS app: its identity comes from the veneer, not from the message.
 * \retval NACRE_SECMON_OK  resp holds the response (whose status may be a refusal)
 * \retval NACRE_SECMON_ERR_MALFORMED  a pointer/length outside the caller's
 *         memory, an overflowing length, or a length other than 1,024;
 *         nothing was read or written, and a security event is logged
 * \retval NACRE_SECMON_ERR_STATE  re-entered while a call is in progress
 */
NACRE_NSC_ENTRY uint32_t nacre_nsc_secmon_call(const void *req, uint32_t req_len, void *resp,
                                               uint32_t resp_len);

/**
 * \brief The running trial image declares itself good (nacre_update_confirm):
 * it becomes the confirmed image and the anti-rollback counters rise.
 * \retval NACRE_SECMON_OK / NACRE_SECMON_ERR_STATE (not a trial boot) /
 *         NACRE_SECMON_ERR_INTERNAL
 */
NACRE_NSC_ENTRY uint32_t nacre_nsc_update_confirm(void);

/**
 * \brief The transport alone, for the benchmark: the same checks and copies
 * as nacre_nsc_secmon_call, then the request copied back into resp; secmon
 * is not called. Nothing Secure is revealed (the caller gets its own bytes).
 */
NACRE_NSC_ENTRY uint32_t nacre_nsc_transport_echo(const void *req, uint32_t req_len, void *resp,
                                                  uint32_t resp_len);

/** Diagnostics for the benchmark: which = 0 Secure stack high-water (bytes). */
NACRE_NSC_ENTRY uint32_t nacre_nsc_stats(uint32_t which);

#endif /* NACRE_MPS2_VENEERS_H */
