/* secure.h - what the Secure image's files share. */
#ifndef NACRE_MPS2_SECURE_H
#define NACRE_MPS2_SECURE_H

#include <stdint.h>

#include <nacre/pluton.h>
#include <nacre/secmon.h>
#include <nacre/update.h>

/* Bytes of the Secure stack ever used (stack painted at reset). */
uint32_t secure_stack_high_water(void);

/* The Secure world's state once booted: one pluton, one secmon core with
 * the NS app registered as app `ns_app`. */
struct secure_world {
    nacre_pluton pluton;
    struct nacre_board *board;
    struct nacre_update_config cfg;
    struct nacre_boot_result boot;
    struct nacre_secmon_core *core;
    unsigned ns_app;
    int busy; /* a veneer call is in progress */
};

extern struct secure_world secure;

/* The veneers' Secure copies of a request and a response; before the NS
 * world starts the boot stage borrows them (2 KiB) to build evidence. */
extern uint8_t secure_msg[2 * NACRE_SECMON_MSG_BYTES];

#endif
