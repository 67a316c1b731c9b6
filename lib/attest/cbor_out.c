/*
 * cbor_out.c - a small deterministic CBOR writer over a caller buffer.
 *
 * Every head goes through libcbor's allocation-free encoders
 * (cbor_encode_uint, _negint, _bytestring_start, ...), which always pick the
 * shortest form, and only definite lengths are ever written: together with
 * callers that emit map keys in sorted order, that is RFC 8949 §4.2.1
 * deterministic encoding. The writer itself never allocates: a head is
 * encoded into 9 bytes of stack and copied out.
 *
 * One code path serves three modes (attest_priv.h): COUNT, WRITE and
 * COMPARE. A byte string wrapped around CBOR is written by counting its
 * contents first; the verifier re-encodes in COMPARE mode against the input.
 */
#include <string.h>

#include <cbor.h>

#include "attest_priv.h"

/* The longest CBOR head: initial byte + 8-byte argument. */
#define HEAD_MAX 9u

void attest_out_count(struct attest_out *o)
{
    memset(o, 0, sizeof *o);
}

void attest_out_write(struct attest_out *o, uint8_t *buf, size_t cap)
{
    memset(o, 0, sizeof *o);
    o->buf = buf;
    o->cap = buf != NULL ? cap : 0;
    /* A WRITE without a buffer can hold nothing. */
    o->overflow = buf == NULL;
}

void attest_out_compare(struct attest_out *o, const uint8_t *expect, size_t len)
{
    memset(o, 0, sizeof *o);
    o->expect = expect;
    o->cap = expect != NULL ? len : 0;
}

int attest_out_ok(const struct attest_out *o)
{
    if (o->overflow || o->mismatch) {
        return 0;
    }
    /* In COMPARE mode the output must also cover all of the input. */
    return o->expect == NULL || o->len == o->cap;
}

/* The one place bytes leave the writer. */
static void put(struct attest_out *o, const void *src, size_t n)
{
    if (n > SIZE_MAX - o->len) {
        o->overflow = 1;
        return;
    }
    int fits = o->len <= o->cap && n <= o->cap - o->len;
    if (o->buf != NULL) {
        if (fits && !o->overflow) {
            if (n > 0) {
                memcpy(o->buf + o->len, src, n);
            }
        } else {
            o->overflow = 1;
        }
    } else if (o->expect != NULL) {
        if (!fits) {
            o->overflow = 1;
        } else if (n > 0 && memcmp(o->expect + o->len, src, n) != 0) {
            o->mismatch = 1;
        }
    }
    o->len += n;
}

/* A head from a libcbor encoder; 0 from it cannot happen with 9 bytes, but
 * is treated as an overflow rather than trusted. */
static void put_head(struct attest_out *o, const uint8_t *head, size_t n)
{
    if (n == 0 || n > HEAD_MAX) {
        o->overflow = 1;
        return;
    }
    put(o, head, n);
}

void attest_out_uint(struct attest_out *o, uint64_t v)
{
    uint8_t h[HEAD_MAX];
    put_head(o, h, cbor_encode_uint(v, h, sizeof h));
}

void attest_out_int(struct attest_out *o, int64_t v)
{
    uint8_t h[HEAD_MAX];
    if (v >= 0) {
        put_head(o, h, cbor_encode_uint((uint64_t)v, h, sizeof h));
    } else {
        /* CBOR major type 1 carries n for the value -1 - n; -(v + 1) cannot
         * overflow even for INT64_MIN. */
        put_head(o, h, cbor_encode_negint((uint64_t)(-(v + 1)), h, sizeof h));
    }
}

void attest_out_bstr_head(struct attest_out *o, size_t len)
{
    uint8_t h[HEAD_MAX];
    put_head(o, h, cbor_encode_bytestring_start(len, h, sizeof h));
}

void attest_out_bstr(struct attest_out *o, const uint8_t *data, size_t len)
{
    attest_out_bstr_head(o, len);
    put(o, data, len);
}

void attest_out_tstr(struct attest_out *o, const char *text, size_t len)
{
    uint8_t h[HEAD_MAX];
    put_head(o, h, cbor_encode_string_start(len, h, sizeof h));
    put(o, text, len);
}

void attest_out_hex(struct attest_out *o, const uint8_t *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    uint8_t h[HEAD_MAX];
    if (len > SIZE_MAX / 2) {
        o->overflow = 1;
        return;
    }
    put_head(o, h, cbor_encode_string_start(2 * len, h, sizeof h));
    /* Out in small chunks: no buffer proportional to the input. */
    char chunk[32];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        chunk[n++] = digits[data[i] >> 4];
        chunk[n++] = digits[data[i] & 0x0F];
        if (n == sizeof chunk) {
            put(o, chunk, n);
            n = 0;
        }
    }
    put(o, chunk, n);
}

void attest_out_array(struct attest_out *o, size_t count)
{
    uint8_t h[HEAD_MAX];
    put_head(o, h, cbor_encode_array_start(count, h, sizeof h));
}

void attest_out_map(struct attest_out *o, size_t count)
{
    uint8_t h[HEAD_MAX];
    put_head(o, h, cbor_encode_map_start(count, h, sizeof h));
}

void attest_out_tag(struct attest_out *o, uint64_t tag)
{
    uint8_t h[HEAD_MAX];
    put_head(o, h, cbor_encode_tag(tag, h, sizeof h));
}

void attest_out_bool(struct attest_out *o, int v)
{
    uint8_t h[HEAD_MAX];
    put_head(o, h, cbor_encode_bool(v != 0, h, sizeof h));
}

void attest_out_raw(struct attest_out *o, const uint8_t *data, size_t len)
{
    put(o, data, len);
}

void attest_out_wrapped(struct attest_out *o, attest_put_fn fn, const void *ctx)
{
    struct attest_out counter;
    attest_out_count(&counter);
    fn(&counter, ctx);
    if (counter.overflow) {
        o->overflow = 1;
        return;
    }
    attest_out_bstr_head(o, counter.len);
    size_t before = o->len;
    fn(o, ctx);
    /* The same writer twice must give the same length; anything else would
     * leave a head that lies about its contents. */
    if (o->len - before != counter.len) {
        o->overflow = 1;
    }
}

/* The head of a COSE Sig_structure (RFC 9052 §4.4) for COSE_Sign1. It is
 * writer code shared by the signer (evidence.c) and the verifier (cose.c),
 * so it lives here, where a producer-only build (the microcontroller board)
 * has it without the decoder. */
void attest_put_sig_structure_head(struct attest_out *o, const uint8_t *protected_hdr,
                                   size_t protected_len, size_t payload_len)
{
    static const char context[] = "Signature1";
    attest_out_array(o, 4);
    attest_out_tstr(o, context, sizeof context - 1);
    attest_out_bstr(o, protected_hdr, protected_len);
    attest_out_bstr(o, NULL, 0); /* external_aad: empty */
    attest_out_bstr_head(o, payload_len);
}
