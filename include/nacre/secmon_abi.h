/*
 * nacre/secmon_abi.h - the request ABI of the security monitor.
 *
 * One codec, the same on every board: on the host a request crosses a
 * socket (one channel per app, created by secmon); on the Cortex-M33 board
 * the same bytes cross a TrustZone veneer. Every message is exactly
 * NACRE_SECMON_MSG_BYTES long, little-endian, versioned:
 *
 *   request                              response
 *   0  magic "NQ"      2                 0  magic "NR"      2
 *   2  version (1)     1                 2  version (1)     1
 *   3  call            1                 3  call            1   (echoed)
 *   4  request id      4                 4  request id      4   (echoed)
 *   8  payload length  2                 8  payload length  2
 *  10  flags (0)       2                10  0               2
 *  12  0               4                12  status          4   (nacre_secmon_status)
 *  16  payload         NACRE_SECMON_PAYLOAD_MAX, zero past payload length
 *
 * Secmon validates every field (magic, version, zero fields, length, the
 * zero padding, each call's exact payload layout) and refuses unknown calls.
 * The caller's identity is NEVER in the message: secmon knows which app a
 * channel belongs to because it created the channel. Every refusal becomes
 * a security event.
 *
 * Payload layouts per call are below; integers little-endian; "bytes[n]"
 * is raw. A call's payload length must be exactly as given (or within the
 * stated range).
 */
#ifndef NACRE_SECMON_ABI_H
#define NACRE_SECMON_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NACRE_SECMON_ABI_VERSION 1u
#define NACRE_SECMON_MSG_BYTES 1024u
#define NACRE_SECMON_HEADER_BYTES 16u
#define NACRE_SECMON_PAYLOAD_MAX (NACRE_SECMON_MSG_BYTES - NACRE_SECMON_HEADER_BYTES)
#define NACRE_SECMON_DATA_MAX 512u  /**< max bytes signed / sealed / stored per call */

/** Status codes (responses and libsecmon functions). Pinned; never reused. */
typedef enum nacre_secmon_status {
    NACRE_SECMON_OK = 0x2E5AA5D1,          /**< success (many-bit value) */
    NACRE_SECMON_ERR_MALFORMED = 1,        /**< bad magic, version, length, padding or field */
    NACRE_SECMON_ERR_UNKNOWN_CALL = 2,     /**< call number not defined */
    NACRE_SECMON_ERR_DENIED = 3,           /**< the app's manifest does not grant it */
    NACRE_SECMON_ERR_RATE_LIMITED = 4,     /**< too many requests from this app */
    NACRE_SECMON_ERR_QUOTA = 5,            /**< mutable storage quota exceeded */
    NACRE_SECMON_ERR_NOT_FOUND = 6,        /**< no such object (certificate, storage) */
    NACRE_SECMON_ERR_VERIFY = 7,           /**< unseal / image verification failed */
    NACRE_SECMON_ERR_INTERNAL = 8,         /**< pluton / flash failure inside secmon */
    NACRE_SECMON_ERR_ARGUMENT = 9,         /**< library call misuse (not on the wire) */
    NACRE_SECMON_ERR_IO = 10,              /**< transport failure (not on the wire) */
    NACRE_SECMON_ERR_UNSUPPORTED = 11,     /**< not on this board (e.g. connect on MCU) */
    NACRE_SECMON_ERR_STATE = 12,           /**< call out of order (update stream) */
} nacre_secmon_status;

/** Call numbers. Pinned; retired numbers are never reused. */
enum nacre_secmon_call {
    /* 0x00 reserved: never a valid call */
    NACRE_SECMON_CALL_PING = 0x01,        /**< req: 0..64 bytes; resp: the same bytes. Always allowed. */
    NACRE_SECMON_CALL_IDENTITY = 0x02,    /**< req: empty; resp: device id [32] (BLAKE2b-256 of DeviceID pk),
                                               DeviceID pk [32], app pk [32], component id (37, NUL-padded) */
    NACRE_SECMON_CALL_SIGN = 0x03,        /**< req: data 1..512; resp: Ed25519 signature [64] by the APP's
                                               own key (derived per ComponentId, device-bound) */
    NACRE_SECMON_CALL_CERTIFICATE = 0x04, /**< req: empty; resp: the device certificate, DER 1..1000 bytes.
                                               Needs DeviceAuthentication. */
    NACRE_SECMON_CALL_SEAL = 0x05,        /**< req: data 0..512; resp: sealed blob, bound to the app */
    NACRE_SECMON_CALL_UNSEAL = 0x06,      /**< req: blob; resp: data */
    NACRE_SECMON_CALL_STORAGE_WRITE = 0x07, /**< req: offset u32, data 1..512; resp: empty.
                                               Needs MutableStorage; offset+len <= SizeKB*1024 */
    NACRE_SECMON_CALL_STORAGE_READ = 0x08,  /**< req: offset u32, length u32 (1..512); resp: data */
    NACRE_SECMON_CALL_COUNTER_READ = 0x09,  /**< req: id u32 (0..7); resp: value u32 */
    NACRE_SECMON_CALL_LOG_EVENT = 0x0A,   /**< req: level u8, text 1..200 (UTF-8, no NUL); resp: empty */
    NACRE_SECMON_CALL_CONNECT = 0x0B,     /**< req: port u16, host length u8, host (1..253, ASCII);
                                               resp: empty + a connected TCP socket passed as
                                               SCM_RIGHTS (host board only). Only AllowedConnections;
                                               otherwise ERR_DENIED and a security event. */
    NACRE_SECMON_CALL_PERIPHERAL = 0x0C,  /**< req: kind u8 (1 GPIO, 2 UART, 3 I2C), id u8, op u8
                                               (1 read, 2 write), arg u16, data 0..64;
                                               resp: data. Only granted Gpio/Uart/I2cMaster ids.
                                               Emulated devices; I2C id 1 addr 0x48 is a
                                               temperature sensor (reg 0: centi-degrees C, i16). */
    NACRE_SECMON_CALL_UPDATE_BEGIN = 0x0D,  /**< req: empty; resp: resume offset u32. Needs SoftwareUpdate */
    NACRE_SECMON_CALL_UPDATE_WRITE = 0x0E,  /**< req: chunk 1..1000; resp: empty */
    NACRE_SECMON_CALL_UPDATE_FINISH = 0x0F, /**< req: empty; resp: version major/minor/patch u32 x3 */
    NACRE_SECMON_CALL_COUNT_ = 0x10       /**< first unused number */
};

#ifdef __cplusplus
}
#endif

#endif /* NACRE_SECMON_ABI_H */
