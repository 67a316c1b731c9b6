/*
 * Fuzz target: svc_evidence_nonce, the service's unauthenticated first look
 * into attestation evidence (it finds the claimed nonce before
 * nacre_attest_verify checks anything). Any input must give 0 or -1, never
 * a crash or a read outside the input; a nonce it returns fits the buffer
 * and lies within the input.
 */
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t nonce[64];
    size_t n = 0;
    if (svc_evidence_nonce(data, size, nonce, sizeof nonce, &n) == 0) {
        if (n == 0 || n > sizeof nonce || n > size) {
            abort();
        }
    }
    return 0;
}
