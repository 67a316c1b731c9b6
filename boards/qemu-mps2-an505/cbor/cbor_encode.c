/*
 * cbor_encode.c - CBOR heads (RFC 8949 §3.1): major type in the top three
 * bits of the initial byte; arguments below 24 in its low five bits, else
 * 24/25/26/27 followed by 1/2/4/8 big-endian bytes, always the shortest.
 * Each function returns the head's length, or 0 if buffer_size is too small.
 */
#include "cbor.h"

static size_t head(unsigned major, uint64_t v, unsigned char *b, size_t cap)
{
    unsigned char ib = (unsigned char)(major << 5);
    size_t extra;
    if (v < 24) {
        if (cap < 1) {
            return 0;
        }
        b[0] = (unsigned char)(ib | v);
        return 1;
    }
    if (v <= 0xFFu) {
        ib |= 24;
        extra = 1;
    } else if (v <= 0xFFFFu) {
        ib |= 25;
        extra = 2;
    } else if (v <= 0xFFFFFFFFu) {
        ib |= 26;
        extra = 4;
    } else {
        ib |= 27;
        extra = 8;
    }
    if (cap < 1 + extra) {
        return 0;
    }
    b[0] = ib;
    for (size_t i = 0; i < extra; i++) {
        b[1 + i] = (unsigned char)(v >> (8 * (extra - 1 - i)));
    }
    return 1 + extra;
}

size_t cbor_encode_uint(uint64_t value, unsigned char *buffer, size_t buffer_size)
{
    return head(0, value, buffer, buffer_size);
}

size_t cbor_encode_negint(uint64_t value, unsigned char *buffer, size_t buffer_size)
{
    return head(1, value, buffer, buffer_size);
}

size_t cbor_encode_bytestring_start(size_t length, unsigned char *buffer, size_t buffer_size)
{
    return head(2, length, buffer, buffer_size);
}

size_t cbor_encode_string_start(size_t length, unsigned char *buffer, size_t buffer_size)
{
    return head(3, length, buffer, buffer_size);
}

size_t cbor_encode_array_start(size_t length, unsigned char *buffer, size_t buffer_size)
{
    return head(4, length, buffer, buffer_size);
}

size_t cbor_encode_map_start(size_t length, unsigned char *buffer, size_t buffer_size)
{
    return head(5, length, buffer, buffer_size);
}

size_t cbor_encode_tag(uint64_t value, unsigned char *buffer, size_t buffer_size)
{
    return head(6, value, buffer, buffer_size);
}

size_t cbor_encode_bool(bool value, unsigned char *buffer, size_t buffer_size)
{
    if (buffer_size < 1) {
        return 0;
    }
    buffer[0] = value ? 0xF5 : 0xF4;
    return 1;
}
