/* tz.h - TrustZone set-up of the Secure image (SAU, MPC, PPC) and the jump
 * into the Non-secure world. */
#ifndef NACRE_MPS2_TZ_H
#define NACRE_MPS2_TZ_H

#include <stdint.h>

/* Make exactly what the NS image needs Non-secure (see tz.c). */
void tz_configure(void);

/* Start the NS image whose vector table is at vtor; never returns. */
__attribute__((noreturn)) void tz_start_ns(uint32_t vtor);

#endif
