/*
 * strerror.c - names for status codes and lifecycle states.
 */
#include "pluton_priv.h"

const char *nacre_pluton_strerror(nacre_pluton_status status)
{
    switch (status) {
    case NACRE_PLUTON_OK:
        return "success";
    case NACRE_PLUTON_ERR_ARGUMENT:
        return "invalid argument";
    case NACRE_PLUTON_ERR_BUFFER_TOO_SMALL:
        return "output buffer too small";
    case NACRE_PLUTON_ERR_NOT_PROVISIONED:
        return "device is blank: provision it first";
    case NACRE_PLUTON_ERR_ALREADY_PROVISIONED:
        return "already provisioned: OTP fields are write-once";
    case NACRE_PLUTON_ERR_OTP_LOCKED:
        return "device is secured: OTP is closed for good";
    case NACRE_PLUTON_ERR_NOT_BOOTED:
        return "keys are not derived yet: the boot stage has not completed";
    case NACRE_PLUTON_ERR_ALREADY_BOOTED:
        return "boot already completed: the UDS is locked until reset";
    case NACRE_PLUTON_ERR_REGISTER_LOCKED:
        return "register R0 is frozen after boot";
    case NACRE_PLUTON_ERR_BAD_HANDLE:
        return "unknown or destroyed key handle";
    case NACRE_PLUTON_ERR_NO_KEY_SLOT:
        return "key table full";
    case NACRE_PLUTON_ERR_BAD_SIGNATURE:
        return "signature does not verify";
    case NACRE_PLUTON_ERR_COUNTER_ROLLBACK:
        return "refused: a monotonic counter cannot go backwards";
    case NACRE_PLUTON_ERR_COUNTER_OVERFLOW:
        return "counter is at its maximum";
    case NACRE_PLUTON_ERR_SEAL_FORMAT:
        return "not a sealed blob (bad magic, version or length)";
    case NACRE_PLUTON_ERR_SEAL_WRONG_DEVICE:
        return "sealed on another device";
    case NACRE_PLUTON_ERR_SEAL_MEASUREMENT:
        return "bound measurements differ: sealed under other firmware";
    case NACRE_PLUTON_ERR_SEAL_AUTH:
        return "authentication failed: blob tampered or wrong context";
    case NACRE_PLUTON_ERR_ENTROPY:
        return "no entropy available";
    case NACRE_PLUTON_ERR_STORAGE:
        return "board storage failed";
    case NACRE_PLUTON_ERR_STORAGE_CORRUPT:
        return "counter storage is corrupt";
    case NACRE_PLUTON_ERR_POWER_LOST:
        return "power lost: reset required";
    case NACRE_PLUTON_ERR_OTP_INTERRUPTED:
        return "OTP partly programmed (an interrupted write): device unusable";
    case NACRE_PLUTON_ERR_OTP_CORRUPT:
        return "OTP contents are damaged";
    case NACRE_PLUTON_ERR_CRYPTO:
        return "cryptographic primitive failed";
    case NACRE_PLUTON_ERR_NOT_SET:
        return "OTP field not programmed";
    case NACRE_PLUTON_ERR_NOT_INITIALIZED:
        return "pluton instance not initialised";
    case NACRE_PLUTON_ERR_NOT_SECURABLE:
        return "cannot secure: no root key hash programmed";
    }
    return "unknown status";
}

const char *nacre_pluton_lifecycle_name(nacre_pluton_lifecycle lifecycle)
{
    switch (lifecycle) {
    case NACRE_PLUTON_LIFECYCLE_BLANK:
        return "blank";
    case NACRE_PLUTON_LIFECYCLE_PROVISIONED:
        return "provisioned";
    case NACRE_PLUTON_LIFECYCLE_SECURED:
        return "secured";
    }
    return "unknown";
}

const char *nacre_board_strerror(nacre_board_status status)
{
    switch (status) {
    case NACRE_BOARD_OK:
        return "success";
    case NACRE_BOARD_ERR_ARGUMENT:
        return "invalid argument";
    case NACRE_BOARD_ERR_RANGE:
        return "out of range";
    case NACRE_BOARD_ERR_ALIGNMENT:
        return "misaligned flash access";
    case NACRE_BOARD_ERR_NOT_ERASED:
        return "flash not erased";
    case NACRE_BOARD_ERR_LOCKED:
        return "OTP range locked until reset";
    case NACRE_BOARD_ERR_POWER_LOST:
        return "power lost";
    case NACRE_BOARD_ERR_IO:
        return "I/O error";
    case NACRE_BOARD_ERR_ENTROPY:
        return "no entropy";
    case NACRE_BOARD_ERR_CORRUPT:
        return "device files corrupt";
    }
    return "unknown board status";
}
