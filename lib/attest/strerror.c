/*
 * strerror.c - names for status codes and failure reasons.
 */
#include "attest_priv.h"

const char *nacre_attest_strerror(nacre_attest_status status)
{
    switch (status) {
    case NACRE_ATTEST_OK:
        return "success";
    case NACRE_ATTEST_ERR_ARGUMENT:
        return "invalid argument";
    case NACRE_ATTEST_ERR_BUFFER_TOO_SMALL:
        return "output buffer too small";
    case NACRE_ATTEST_ERR_PLUTON:
        return "the root of trust refused (is the device booted?)";
    case NACRE_ATTEST_ERR_REFUSED:
        return "evidence refused: see the failure reasons";
    case NACRE_ATTEST_ERR_NONCE_UNKNOWN:
        return "nonce was never issued";
    case NACRE_ATTEST_ERR_NONCE_REUSED:
        return "nonce already used";
    case NACRE_ATTEST_ERR_NONCE_EXPIRED:
        return "nonce expired";
    case NACRE_ATTEST_ERR_NONCE_STORE_FULL:
        return "nonce store full: every nonce is still outstanding";
    case NACRE_ATTEST_ERR_TOO_MANY:
        return "too many components";
    case NACRE_ATTEST_ERR_COSE:
        return "malformed COSE_Sign1";
    case NACRE_ATTEST_ERR_ALGORITHM:
        return "COSE algorithm is not EdDSA";
    case NACRE_ATTEST_ERR_BAD_SIGNATURE:
        return "COSE signature does not verify";
    }
    return "unknown status";
}

const char *nacre_attest_failure_name(uint32_t failure_bit)
{
    switch (failure_bit) {
    case NACRE_ATTEST_FAIL_FORMAT:
        return "malformed or non-canonical evidence";
    case NACRE_ATTEST_FAIL_ALGORITHM:
        return "wrong COSE algorithm";
    case NACRE_ATTEST_FAIL_UNKNOWN_DEVICE:
        return "unknown device";
    case NACRE_ATTEST_FAIL_CHAIN:
        return "Alias key not certified by the DeviceID key";
    case NACRE_ATTEST_FAIL_SIGNATURE:
        return "token signature invalid";
    case NACRE_ATTEST_FAIL_CLAIMS:
        return "bad claims";
    case NACRE_ATTEST_FAIL_NONCE:
        return "wrong nonce";
    case NACRE_ATTEST_FAIL_NONCE_REUSED:
        return "nonce reused";
    case NACRE_ATTEST_FAIL_NONCE_EXPIRED:
        return "nonce expired";
    case NACRE_ATTEST_FAIL_MEASUREMENT:
        return "measurement not in the reference values";
    case NACRE_ATTEST_FAIL_COUNTER:
        return "security counter below the reference";
    case NACRE_ATTEST_FAIL_LIFECYCLE:
        return "device not secured (debug open)";
    case NACRE_ATTEST_FAIL_BINDING:
        return "token and certificate disagree";
    default:
        return "unknown failure";
    }
}
