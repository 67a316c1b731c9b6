/*
 * veneers.c - the Non-secure-callable entry points (nacre/mps2_veneers.h).
 *
 * Rules every entry follows, because the NS world controls its arguments:
 *   - every pointer/length pair is checked with cmse_check_address_range()
 *     for the caller's world (CMSE_NONSECURE) and, if the caller was an
 *     unprivileged thread, its privilege (CMSE_MPU_UNPRIV): a Secure
 *     address, a range that wraps, or memory the calling task may not touch
 *     is refused before a single byte is read;
 *   - the request is copied into Secure memory before it is decoded, and the
 *     response is built in Secure memory and copied out last, so the NS side
 *     cannot change a message while secmon looks at it;
 *   - the caller's identity is the veneer (there is one NS app), never a
 *     field of the message;
 *   - one call at a time (an NS interrupt cannot re-enter secmon);
 *   - refusals become security events.
 */
#include <arm_cmse.h>
#include <string.h>

#include <nacre/mps2_veneers.h>

#include <sodium.h>

#include "secmon_priv.h" /* secmon_core_idle_installer */
#include "secure.h"

/* The Secure copies of a message: the request goes into the core's own
 * request buffer (one 1 KiB buffer serves both the transport and the core),
 * the response is built here. */
uint8_t *secure_req;
static uint8_t secure_resp[NACRE_SECMON_MSG_BYTES] __attribute__((aligned(8)));
#define req_s secure_req
#define resp_s secure_resp

/* CMSE flags for the caller: NS, and unprivileged if it was an NS thread
 * with CONTROL_NS.nPRIV set (a veneer runs in the caller's mode). */
static int caller_flags(void)
{
    uint32_t ipsr, control_ns;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    __asm__ volatile("mrs %0, control_ns" : "=r"(control_ns));
    int flags = CMSE_NONSECURE;
    if ((ipsr & 0x1FFu) == 0 && (control_ns & 1u) != 0) {
        flags |= CMSE_MPU_UNPRIV;
    }
    return flags;
}

/* Copy one message (NACRE_SECMON_MSG_BYTES) 128 bytes per loop with LDM/STM
 * when both ends are word-aligned (the common case: ~80 instructions per
 * KiB), else with memcpy (an unaligned LDM would fault). */
static inline __attribute__((always_inline)) void msg_copy(void *dst, const void *src)
{
    if ((((uintptr_t)dst | (uintptr_t)src) & 3u) != 0) {
        memcpy(dst, src, NACRE_SECMON_MSG_BYTES);
        return;
    }
    _Static_assert(NACRE_SECMON_MSG_BYTES % 128u == 0, "message is whole 128-byte blocks");
    const uint32_t *s = src;
    uint32_t *d = dst;
    uint32_t n = NACRE_SECMON_MSG_BYTES / 128u;
    __asm__ volatile("1:\n"
                     "ldmia %0!, {r2-r9}\n"
                     "stmia %1!, {r2-r9}\n"
                     "ldmia %0!, {r2-r9}\n"
                     "stmia %1!, {r2-r9}\n"
                     "ldmia %0!, {r2-r9}\n"
                     "stmia %1!, {r2-r9}\n"
                     "ldmia %0!, {r2-r9}\n"
                     "stmia %1!, {r2-r9}\n"
                     "subs %2, %2, #1\n"
                     "bne 1b\n"
                     : "+r"(s), "+r"(d), "+r"(n)
                     :
                     : "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "cc", "memory");
}

static void refuse(const char *why)
{
    nacre_secmon_core_log(secure.core, secure.ns_app, 0, NACRE_SECMON_EVENT_REFUSED,
                          NACRE_SECMON_ERR_MALFORMED, 0, why);
}

/* The transport half of a call: caller checks, pointer/length checks, the
 * copy in. Returns NACRE_SECMON_OK with the request in req_s. */
static inline __attribute__((always_inline)) uint32_t transport_in(const void *req, uint32_t req_len,
                                                                    void *resp, uint32_t resp_len)
{
    int flags = caller_flags();
    if (cmse_check_address_range((void *)(uintptr_t)req, req_len, flags | CMSE_MPU_READ) == NULL) {
        refuse("nsc:req range");
        return NACRE_SECMON_ERR_MALFORMED;
    }
    if (cmse_check_address_range(resp, resp_len, flags | CMSE_MPU_READWRITE) == NULL) {
        refuse("nsc:resp range");
        return NACRE_SECMON_ERR_MALFORMED;
    }
    if (req_len != NACRE_SECMON_MSG_BYTES || resp_len != NACRE_SECMON_MSG_BYTES) {
        refuse("nsc:length");
        return NACRE_SECMON_ERR_MALFORMED;
    }
    msg_copy(req_s, req);
    return NACRE_SECMON_OK;
}

NACRE_NSC_ENTRY uint32_t nacre_nsc_secmon_call(const void *req, uint32_t req_len, void *resp,
                                               uint32_t resp_len)
{
    if (secure.core == NULL || secure.busy) {
        return NACRE_SECMON_ERR_STATE;
    }
    secure.busy = 1;
    uint32_t status = transport_in(req, req_len, resp, resp_len);
    if (status == NACRE_SECMON_OK) {
        int fd = -1;
        nacre_secmon_core_handle(secure.core, secure.ns_app, 0, req_s, resp_s, &fd);
        msg_copy(resp, resp_s);
    }
    secure.busy = 0;
    return status;
}

NACRE_NSC_ENTRY uint32_t nacre_nsc_transport_echo(const void *req, uint32_t req_len, void *resp,
                                                  uint32_t resp_len)
{
    if (secure.core == NULL || secure.busy) {
        return NACRE_SECMON_ERR_STATE;
    }
    secure.busy = 1;
    uint32_t status = transport_in(req, req_len, resp, resp_len);
    if (status == NACRE_SECMON_OK) {
        msg_copy(resp, req_s); /* the caller's own bytes, back */
    }
    secure.busy = 0;
    return status;
}

NACRE_NSC_ENTRY uint32_t nacre_nsc_update_confirm(void)
{
    if (secure.core == NULL || secure.busy) {
        return NACRE_SECMON_ERR_STATE;
    }
    /*
     * libupdate re-verifies the slot, its 4 KiB of metadata in the core's
     * installer memory instead of on the Secure stack. That memory is in use
     * only while an UPDATE stream is open, and then there is nothing to
     * confirm: UPDATE_BEGIN on a trial boot cancels the running pending
     * image, so libupdate would answer NOT_PENDING (STATE below) anyway.
     */
    void *vbuf = secmon_core_idle_installer(secure.core);
    if (vbuf == NULL) {
        return NACRE_SECMON_ERR_STATE;
    }
    secure.busy = 1;
    secure.cfg.verify_buffer = vbuf;
    nacre_update_status s = nacre_update_confirm(&secure.pluton, secure.board, &secure.cfg, NULL);
    secure.cfg.verify_buffer = NULL;
    sodium_memzero(vbuf, NACRE_UPDATE_METADATA_MAX);
    secure.busy = 0;
    if (s == NACRE_UPDATE_OK) {
        return NACRE_SECMON_OK;
    }
    return s == NACRE_UPDATE_ERR_NOT_PENDING ? NACRE_SECMON_ERR_STATE : NACRE_SECMON_ERR_INTERNAL;
}

NACRE_NSC_ENTRY uint32_t nacre_nsc_stats(uint32_t which)
{
    return which == 0 ? secure_stack_high_water() : 0;
}
