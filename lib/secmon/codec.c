/*
 * codec.c - the request ABI of nacre/secmon_abi.h.
 *
 * Portable and strict: a message is accepted only if every byte is where
 * the ABI puts it. Decoding checks, in this order, the magic, the version,
 * the zero fields, the length, the zero padding and last the call number,
 * so that UNKNOWN_CALL always means "a well-formed message naming a call
 * this secmon does not have" and everything else is MALFORMED.
 */
#include <string.h>

#include "nacre_le.h"
#include "secmon_priv.h"

#define OFF_MAGIC 0u
#define OFF_VERSION 2u
#define OFF_CALL 3u
#define OFF_ID 4u
#define OFF_LEN 8u
#define OFF_FLAGS 10u
#define OFF_STATUS 12u /* request: 4 zero bytes; response: status */

static const uint8_t request_magic[2] = {'N', 'Q'};
static const uint8_t response_magic[2] = {'N', 'R'};

static int call_known(unsigned call)
{
    return call >= NACRE_SECMON_CALL_PING && call < NACRE_SECMON_CALL_COUNT_;
}

int secmon_status_on_wire(uint32_t status)
{
    switch (status) {
    case NACRE_SECMON_OK:
    case NACRE_SECMON_ERR_MALFORMED:
    case NACRE_SECMON_ERR_UNKNOWN_CALL:
    case NACRE_SECMON_ERR_DENIED:
    case NACRE_SECMON_ERR_RATE_LIMITED:
    case NACRE_SECMON_ERR_QUOTA:
    case NACRE_SECMON_ERR_NOT_FOUND:
    case NACRE_SECMON_ERR_VERIFY:
    case NACRE_SECMON_ERR_INTERNAL:
    case NACRE_SECMON_ERR_UNSUPPORTED:
    case NACRE_SECMON_ERR_STATE:
        return 1;
    default:
        /* ERR_ARGUMENT and ERR_IO describe the caller's own library use or
         * transport; secmon never sends them. */
        return 0;
    }
}

const char *secmon_fault_name(enum secmon_fault fault)
{
    switch (fault) {
    case SECMON_FAULT_NONE:
        return "none";
    case SECMON_FAULT_MAGIC:
        return "magic";
    case SECMON_FAULT_VERSION:
        return "version";
    case SECMON_FAULT_RESERVED:
        return "reserved";
    case SECMON_FAULT_LENGTH:
        return "length";
    case SECMON_FAULT_PADDING:
        return "padding";
    case SECMON_FAULT_CALL:
        return "call";
    case SECMON_FAULT_STATUS:
        return "status";
    case SECMON_FAULT_SIZE:
        return "size";
    case SECMON_FAULT_LAYOUT:
        return "layout";
    }
    return "unknown";
}

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= p[i];
    }
    return acc == 0;
}

/* Writes the common header fields and the payload; word12 is 0 or a status. */
static void encode(uint8_t msg[NACRE_SECMON_MSG_BYTES], const uint8_t magic[2], unsigned call,
                   uint32_t request_id, uint32_t word12, const void *payload, size_t len)
{
    /* Payload first: it may point into msg (an echo), so copy before zeroing. */
    if (len > 0) {
        memmove(msg + NACRE_SECMON_HEADER_BYTES, payload, len);
    }
    memset(msg + NACRE_SECMON_HEADER_BYTES + len, 0, NACRE_SECMON_PAYLOAD_MAX - len);
    memcpy(msg + OFF_MAGIC, magic, 2);
    msg[OFF_VERSION] = NACRE_SECMON_ABI_VERSION;
    msg[OFF_CALL] = (uint8_t)call;
    le32_put(msg + OFF_ID, request_id);
    le16_put(msg + OFF_LEN, (uint16_t)len);
    le16_put(msg + OFF_FLAGS, 0);
    le32_put(msg + OFF_STATUS, word12);
}

/* The checks shared by requests and responses, up to the padding. */
static enum secmon_fault check_common(const uint8_t msg[NACRE_SECMON_MSG_BYTES], const uint8_t magic[2],
                                      size_t *len)
{
    if (memcmp(msg + OFF_MAGIC, magic, 2) != 0) {
        return SECMON_FAULT_MAGIC;
    }
    if (msg[OFF_VERSION] != NACRE_SECMON_ABI_VERSION) {
        return SECMON_FAULT_VERSION;
    }
    if (le16_get(msg + OFF_FLAGS) != 0) {
        return SECMON_FAULT_RESERVED;
    }
    size_t n = le16_get(msg + OFF_LEN);
    if (n > NACRE_SECMON_PAYLOAD_MAX) {
        return SECMON_FAULT_LENGTH;
    }
    if (!all_zero(msg + NACRE_SECMON_HEADER_BYTES + n, NACRE_SECMON_PAYLOAD_MAX - n)) {
        return SECMON_FAULT_PADDING;
    }
    *len = n;
    return SECMON_FAULT_NONE;
}

nacre_secmon_status nacre_secmon_encode_request(uint8_t msg[NACRE_SECMON_MSG_BYTES], unsigned call,
                                                uint32_t request_id, const void *payload, size_t len)
{
    if (msg == NULL || (payload == NULL && len > 0) || len > NACRE_SECMON_PAYLOAD_MAX) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    if (!call_known(call)) {
        return NACRE_SECMON_ERR_UNKNOWN_CALL;
    }
    encode(msg, request_magic, call, request_id, 0, payload, len);
    return NACRE_SECMON_OK;
}

nacre_secmon_status secmon_decode_request_fault(const uint8_t msg[NACRE_SECMON_MSG_BYTES], unsigned *call,
                                                uint32_t *request_id, const uint8_t **payload, size_t *len,
                                                enum secmon_fault *fault)
{
    enum secmon_fault f = SECMON_FAULT_NONE;
    size_t n = 0;
    nacre_secmon_status s = NACRE_SECMON_OK;
    if (msg == NULL || call == NULL || request_id == NULL || payload == NULL || len == NULL) {
        s = NACRE_SECMON_ERR_ARGUMENT;
    } else {
        f = check_common(msg, request_magic, &n);
        if (f == SECMON_FAULT_NONE && le32_get(msg + OFF_STATUS) != 0) {
            f = SECMON_FAULT_RESERVED;
        }
        if (f == SECMON_FAULT_NONE && !call_known(msg[OFF_CALL])) {
            f = SECMON_FAULT_CALL;
        }
        if (f == SECMON_FAULT_CALL) {
            s = NACRE_SECMON_ERR_UNKNOWN_CALL;
        } else if (f != SECMON_FAULT_NONE) {
            s = NACRE_SECMON_ERR_MALFORMED;
        } else {
            *call = msg[OFF_CALL];
            *request_id = le32_get(msg + OFF_ID);
            *payload = msg + NACRE_SECMON_HEADER_BYTES;
            *len = n;
        }
    }
    if (fault != NULL) {
        *fault = f;
    }
    return s;
}

nacre_secmon_status nacre_secmon_decode_request(const uint8_t msg[NACRE_SECMON_MSG_BYTES], unsigned *call,
                                                uint32_t *request_id, const uint8_t **payload, size_t *len)
{
    return secmon_decode_request_fault(msg, call, request_id, payload, len, NULL);
}

nacre_secmon_status nacre_secmon_encode_response(uint8_t msg[NACRE_SECMON_MSG_BYTES], unsigned call,
                                                 uint32_t request_id, nacre_secmon_status status,
                                                 const void *payload, size_t len)
{
    if (msg == NULL || (payload == NULL && len > 0) || len > NACRE_SECMON_PAYLOAD_MAX || call > 0xFFu ||
        !secmon_status_on_wire((uint32_t)status)) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    /* A refusal carries no data; success only answers a real call. */
    if ((status != NACRE_SECMON_OK && len != 0) || (status == NACRE_SECMON_OK && !call_known(call))) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    encode(msg, response_magic, call, request_id, (uint32_t)status, payload, len);
    return NACRE_SECMON_OK;
}

nacre_secmon_status nacre_secmon_decode_response(const uint8_t msg[NACRE_SECMON_MSG_BYTES], unsigned *call,
                                                 uint32_t *request_id, nacre_secmon_status *status,
                                                 const uint8_t **payload, size_t *len)
{
    if (msg == NULL || call == NULL || request_id == NULL || status == NULL || payload == NULL ||
        len == NULL) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    size_t n = 0;
    if (check_common(msg, response_magic, &n) != SECMON_FAULT_NONE) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    uint32_t st = le32_get(msg + OFF_STATUS);
    /* The call is an echo: a refusal may echo a number this ABI lacks (that
     * is what UNKNOWN_CALL answers), but success needs a real call. */
    if (!secmon_status_on_wire(st) || (st != NACRE_SECMON_OK && n != 0) ||
        (st == NACRE_SECMON_OK && !call_known(msg[OFF_CALL]))) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    *call = msg[OFF_CALL];
    *request_id = le32_get(msg + OFF_ID);
    *status = (nacre_secmon_status)st;
    *payload = msg + NACRE_SECMON_HEADER_BYTES;
    *len = n;
    return NACRE_SECMON_OK;
}
