/*
 * strerror.c - names for libupdate status codes, slots and boot reasons.
 * Tools print these to people deciding what to do about a refused update, so
 * each says what was wrong, not just which check ran.
 */
#include <nacre/update.h>

const char *nacre_update_strerror(nacre_update_status status)
{
    switch (status) {
    case NACRE_UPDATE_OK:
        return "success";
    case NACRE_UPDATE_ERR_ARGUMENT:
        return "invalid argument";
    case NACRE_UPDATE_ERR_TRUNCATED:
        return "image is shorter than its header says";
    case NACRE_UPDATE_ERR_BAD_MAGIC:
        return "not a Nacre image (bad magic)";
    case NACRE_UPDATE_ERR_FORMAT_VERSION:
        return "unsupported image format version";
    case NACRE_UPDATE_ERR_BAD_HEADER:
        return "image header fields are inconsistent or out of range";
    case NACRE_UPDATE_ERR_BAD_TLV:
        return "malformed image metadata (TLV overflows its area, bad length or content)";
    case NACRE_UPDATE_ERR_UNKNOWN_TLV:
        return "image metadata has an unknown TLV type, or a TLV in the wrong area";
    case NACRE_UPDATE_ERR_DUPLICATE_TLV:
        return "image metadata repeats a TLV that may appear only once";
    case NACRE_UPDATE_ERR_MISSING_TLV:
        return "image metadata lacks a required TLV";
    case NACRE_UPDATE_ERR_UNSIGNED:
        return "image is not signed";
    case NACRE_UPDATE_ERR_BAD_SIGNATURE:
        return "image signature does not verify";
    case NACRE_UPDATE_ERR_UNKNOWN_KEY:
        return "image signer is neither the device's root key nor certified by it";
    case NACRE_UPDATE_ERR_BAD_KEY_CERT:
        return "signing-key certificate is malformed or not signed by its root key";
    case NACRE_UPDATE_ERR_KEY_REVOKED:
        return "signing key revoked: its certificate epoch is below the device's";
    case NACRE_UPDATE_ERR_PAYLOAD_DIGEST:
        return "image payload does not match its signed digest";
    case NACRE_UPDATE_ERR_ROLLBACK:
        return "refused downgrade: security counter below the device's";
    case NACRE_UPDATE_ERR_WRONG_COMPONENT:
        return "image is for another component";
    case NACRE_UPDATE_ERR_TOO_LARGE:
        return "image does not fit the slot";
    case NACRE_UPDATE_ERR_NO_ROOT_KEY:
        return "device has no root-key hash in OTP: it cannot verify images";
    case NACRE_UPDATE_ERR_NO_IMAGE:
        return "no bootable image in either slot";
    case NACRE_UPDATE_ERR_NOT_PENDING:
        return "nothing to confirm: the running image is not a trial boot";
    case NACRE_UPDATE_ERR_STORAGE:
        return "board storage failed";
    case NACRE_UPDATE_ERR_POWER_LOST:
        return "power lost: reset required";
    case NACRE_UPDATE_ERR_STATE_CORRUPT:
        return "slot state journal is unreadable";
    case NACRE_UPDATE_ERR_PLUTON:
        return "the root of trust (pluton) refused the operation";
    case NACRE_UPDATE_ERR_DEPENDENCY:
        return "a dependency of the image is not met";
    case NACRE_UPDATE_ERR_BAD_VERSION:
        return "malformed version: expected X.Y.Z";
    case NACRE_UPDATE_ERR_INSTALL_STATE:
        return "installer call out of order, or more bytes than the image";
    }
    return "unknown status";
}

const char *nacre_update_slot_name(nacre_update_slot slot)
{
    switch (slot) {
    case NACRE_UPDATE_SLOT_A:
        return "A";
    case NACRE_UPDATE_SLOT_B:
        return "B";
    case NACRE_UPDATE_SLOT_NONE:
        return "none";
    }
    return "none";
}

const char *nacre_boot_reason_name(nacre_boot_reason reason)
{
    switch (reason) {
    case NACRE_BOOT_CONFIRMED:
        return "confirmed image";
    case NACRE_BOOT_TRIAL:
        return "trial boot of a pending update";
    case NACRE_BOOT_REVERTED:
        return "reverted: pending update not confirmed after its trial boots";
    case NACRE_BOOT_PENDING_REJECTED:
        return "pending update failed verification";
    case NACRE_BOOT_FALLBACK:
        return "fallback: confirmed image invalid";
    }
    return "unknown reason";
}
