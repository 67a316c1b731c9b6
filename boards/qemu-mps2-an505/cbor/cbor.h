/*
 * cbor.h (qemu-mps2-an505) - the libcbor encoder subset that libattest's
 * evidence writer (lib/attest/cbor_out.c) calls, for the microcontroller
 * board, where the system libcbor is not available (Debian's libcbor is not
 * built for arm-none-eabi, and its source package could not be fetched on
 * this project's machines). Same names and signatures as libcbor 0.8's
 * cbor/encoding.h, so cbor_out.c compiles unchanged; the implementation
 * (cbor_encode.c) is Nacre's, written from RFC 8949 §3: the shortest head
 * for every argument, as libcbor's encoders also produce.
 * Only the encoders: the verifier (cose.c, verify.c) stays host-side.
 */
#ifndef NACRE_MPS2_CBOR_H
#define NACRE_MPS2_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

size_t cbor_encode_uint(uint64_t value, unsigned char *buffer, size_t buffer_size);
size_t cbor_encode_negint(uint64_t value, unsigned char *buffer, size_t buffer_size);
size_t cbor_encode_bytestring_start(size_t length, unsigned char *buffer, size_t buffer_size);
size_t cbor_encode_string_start(size_t length, unsigned char *buffer, size_t buffer_size);
size_t cbor_encode_array_start(size_t length, unsigned char *buffer, size_t buffer_size);
size_t cbor_encode_map_start(size_t length, unsigned char *buffer, size_t buffer_size);
size_t cbor_encode_tag(uint64_t value, unsigned char *buffer, size_t buffer_size);
size_t cbor_encode_bool(bool value, unsigned char *buffer, size_t buffer_size);

#endif
