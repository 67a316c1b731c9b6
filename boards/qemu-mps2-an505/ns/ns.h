/* ns.h - between the NS kernel part (privileged) and the app task
 * (unprivileged). The task reaches the kernel only through SVC. */
#ifndef NACRE_MPS2_NS_H
#define NACRE_MPS2_NS_H

#include <stdint.h>

#define NS_SVC_PUTS 0
#define NS_SVC_EXIT 1

/* The app task's entry; scenario is the first word after the image name
 * on the semihosting command line ("run" when absent). Never returns. */
__attribute__((noreturn)) void ns_task_main(const char *scenario);

/* Kernel memory the task must not reach (the attack-priv scenario). */
extern volatile uint32_t ns_kernel_secret;

#endif
