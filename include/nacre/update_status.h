/*
 * nacre/update_status.h - status codes of libupdate (nacre/image.h and
 * nacre/update.h). Success is a many-bit value: compare with ==.
 */
#ifndef NACRE_UPDATE_STATUS_H
#define NACRE_UPDATE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define NACRE_UPDATE_WUR __attribute__((warn_unused_result))
#else
#define NACRE_UPDATE_WUR
#endif

/** Status codes of libupdate. Values are pinned; retired codes are never reused. */
typedef enum nacre_update_status {
    NACRE_UPDATE_OK = 0x5A3CC3A5,              /**< success (many-bit value) */
    NACRE_UPDATE_ERR_ARGUMENT = 1,             /**< NULL pointer, bad size, bad call order */
    NACRE_UPDATE_ERR_TRUNCATED = 2,            /**< image shorter than its header says */
    NACRE_UPDATE_ERR_BAD_MAGIC = 3,            /**< not a Nacre image */
    NACRE_UPDATE_ERR_FORMAT_VERSION = 4,       /**< unknown format version */
    NACRE_UPDATE_ERR_BAD_HEADER = 5,           /**< inconsistent or oversized header fields */
    NACRE_UPDATE_ERR_BAD_TLV = 6,              /**< TLV overlaps, overflows, or is malformed */
    NACRE_UPDATE_ERR_UNKNOWN_TLV = 7,          /**< TLV type not in the registry */
    NACRE_UPDATE_ERR_DUPLICATE_TLV = 8,        /**< a TLV that may appear once appears twice */
    NACRE_UPDATE_ERR_MISSING_TLV = 9,          /**< a required TLV is absent */
    NACRE_UPDATE_ERR_UNSIGNED = 10,            /**< no signature attached */
    NACRE_UPDATE_ERR_BAD_SIGNATURE = 11,       /**< signature does not verify */
    NACRE_UPDATE_ERR_UNKNOWN_KEY = 12,         /**< signer not the root key nor certified by it */
    NACRE_UPDATE_ERR_BAD_KEY_CERT = 13,        /**< key certificate malformed or badly signed */
    NACRE_UPDATE_ERR_KEY_REVOKED = 14,         /**< key certificate epoch below the device's */
    NACRE_UPDATE_ERR_PAYLOAD_DIGEST = 15,      /**< payload does not match its digest */
    NACRE_UPDATE_ERR_ROLLBACK = 16,            /**< security counter below the device's */
    NACRE_UPDATE_ERR_WRONG_COMPONENT = 17,     /**< image for another component */
    NACRE_UPDATE_ERR_TOO_LARGE = 18,           /**< image does not fit the slot */
    NACRE_UPDATE_ERR_NO_ROOT_KEY = 19,         /**< device has no root-key hash in OTP */
    NACRE_UPDATE_ERR_NO_IMAGE = 20,            /**< no bootable image in either slot */
    NACRE_UPDATE_ERR_NOT_PENDING = 21,         /**< nothing to confirm: not running a trial */
    NACRE_UPDATE_ERR_STORAGE = 22,             /**< board I/O failed */
    NACRE_UPDATE_ERR_POWER_LOST = 23,          /**< power cut: reset required */
    NACRE_UPDATE_ERR_STATE_CORRUPT = 24,       /**< slot state journal unreadable */
    NACRE_UPDATE_ERR_PLUTON = 25,              /**< the root of trust refused (see pluton status) */
    NACRE_UPDATE_ERR_DEPENDENCY = 26,          /**< a declared dependency is not met */
    NACRE_UPDATE_ERR_BAD_VERSION = 27,         /**< malformed semantic version */
    NACRE_UPDATE_ERR_INSTALL_STATE = 28,       /**< installer call out of order / image overrun */
} nacre_update_status;

/** \brief One-line description of a status. Never NULL. */
const char *nacre_update_strerror(nacre_update_status status);

#ifdef __cplusplus
}
#endif

#endif /* NACRE_UPDATE_STATUS_H */
