/* secure.h - what the Secure image's files share. */
#ifndef NACRE_MPS2_SECURE_H
#define NACRE_MPS2_SECURE_H

#include <stdint.h>

#include <nacre/pluton.h>
#include <nacre/secmon.h>
#include <nacre/update.h>

/* Bytes of the Secure stack ever used (stack painted at reset). */
uint32_t secure_stack_high_water(void);
/* Paint the stack below the caller's frame again: the boot stage is done
 * with it, and from then on the high-water mark is the veneers' (tz.c
 * moves MSP back to the top before the NS world starts). */
void secure_stack_repaint(void);

/* The Secure world's state once booted: one pluton, one secmon core with
 * the NS app registered as app `ns_app`. */
struct secure_world {
    nacre_pluton pluton;
    struct nacre_board *board;
    struct nacre_update_config cfg;
    struct nacre_boot_result *boot; /* in the core's memory until the core starts */
    struct nacre_secmon_core *core;
    unsigned ns_app;
    int busy; /* a veneer call is in progress */
};

extern struct secure_world secure;

/* The veneers' Secure copy of a request: the secmon core's own request
 * buffer (secmon_core_request_buffer), so the core handles it in place. */
extern uint8_t *secure_req;

#endif
