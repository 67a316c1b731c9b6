/*
 * cose.c - a CBOR reader and COSE_Sign1 (EdDSA) verification.
 *
 * The reader walks a byte range one head at a time on libcbor's stateless
 * decoder, cbor_stream_decode: no allocation, and string contents come back
 * as pointers into the input, which is what a COSE verifier needs (the
 * Sig_structure is built from the exact protected and payload bytes, and
 * nacre_attest_cose_verify returns the payload in place). Declared lengths
 * are checked against the bytes that are actually there before anything is
 * read, and nesting is bounded, so no input can make it read outside its
 * range, recurse without bound or loop for long.
 *
 * libcbor 0.8 refuses the one-byte heads of tags 6..20 (0xC6..0xD4), among
 * them 0xD2, tag 18 = COSE_Sign1 itself (fixed in later libcbor). Those heads
 * are plain "major type 6, argument in the initial byte", so the reader
 * decodes them itself; every other head goes to libcbor.
 */
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <sodium.h>

#include "attest_priv.h"

/* ---- the reader --------------------------------------------------------------- */

struct decode_ctx {
    struct attest_item *it;
    int fired; /* a callback ran: the head decoded */
};

static void set(void *c, enum attest_kind kind, uint64_t value, int indefinite)
{
    struct decode_ctx *ctx = c;
    ctx->it->kind = kind;
    ctx->it->value = value;
    ctx->it->indefinite = indefinite;
    ctx->fired = 1;
}

static void cb_uint8(void *c, uint8_t v)
{
    set(c, ATTEST_CBOR_UINT, v, 0);
}

static void cb_uint16(void *c, uint16_t v)
{
    set(c, ATTEST_CBOR_UINT, v, 0);
}

static void cb_uint32(void *c, uint32_t v)
{
    set(c, ATTEST_CBOR_UINT, v, 0);
}

static void cb_uint64(void *c, uint64_t v)
{
    set(c, ATTEST_CBOR_UINT, v, 0);
}

static void cb_negint8(void *c, uint8_t v)
{
    set(c, ATTEST_CBOR_NEGINT, v, 0);
}

static void cb_negint16(void *c, uint16_t v)
{
    set(c, ATTEST_CBOR_NEGINT, v, 0);
}

static void cb_negint32(void *c, uint32_t v)
{
    set(c, ATTEST_CBOR_NEGINT, v, 0);
}

static void cb_negint64(void *c, uint64_t v)
{
    set(c, ATTEST_CBOR_NEGINT, v, 0);
}

static void cb_bstr(void *c, cbor_data data, size_t len)
{
    struct decode_ctx *ctx = c;
    set(c, ATTEST_CBOR_BSTR, len, 0);
    ctx->it->data = data;
    ctx->it->len = len;
}

static void cb_bstr_start(void *c)
{
    set(c, ATTEST_CBOR_BSTR, 0, 1);
}

static void cb_tstr(void *c, cbor_data data, size_t len)
{
    struct decode_ctx *ctx = c;
    set(c, ATTEST_CBOR_TSTR, len, 0);
    ctx->it->data = data;
    ctx->it->len = len;
}

static void cb_tstr_start(void *c)
{
    set(c, ATTEST_CBOR_TSTR, 0, 1);
}

static void cb_array(void *c, size_t n)
{
    set(c, ATTEST_CBOR_ARRAY, n, 0);
}

static void cb_array_start(void *c)
{
    set(c, ATTEST_CBOR_ARRAY, 0, 1);
}

static void cb_map(void *c, size_t n)
{
    set(c, ATTEST_CBOR_MAP, n, 0);
}

static void cb_map_start(void *c)
{
    set(c, ATTEST_CBOR_MAP, 0, 1);
}

static void cb_tag(void *c, uint64_t v)
{
    set(c, ATTEST_CBOR_TAG, v, 0);
}

static void cb_float(void *c, float v)
{
    (void)v;
    set(c, ATTEST_CBOR_SIMPLE, 0, 0);
}

static void cb_double(void *c, double v)
{
    (void)v;
    set(c, ATTEST_CBOR_SIMPLE, 0, 0);
}

static void cb_simple(void *c)
{
    set(c, ATTEST_CBOR_SIMPLE, 0, 0);
}

static void cb_bool(void *c, bool v)
{
    set(c, ATTEST_CBOR_SIMPLE, v ? 1u : 0u, 0);
}

static void cb_break(void *c)
{
    set(c, ATTEST_CBOR_BREAK, 0, 0);
}

static const struct cbor_callbacks callbacks = {
    .uint8 = cb_uint8,
    .uint16 = cb_uint16,
    .uint32 = cb_uint32,
    .uint64 = cb_uint64,
    .negint64 = cb_negint64,
    .negint32 = cb_negint32,
    .negint16 = cb_negint16,
    .negint8 = cb_negint8,
    .byte_string_start = cb_bstr_start,
    .byte_string = cb_bstr,
    .string = cb_tstr,
    .string_start = cb_tstr_start,
    .indef_array_start = cb_array_start,
    .array_start = cb_array,
    .indef_map_start = cb_map_start,
    .map_start = cb_map,
    .tag = cb_tag,
    .float2 = cb_float,
    .float4 = cb_float,
    .float8 = cb_double,
    .undefined = cb_simple,
    .null = cb_simple,
    .boolean = cb_bool,
    .indef_break = cb_break,
};

void attest_in_init(struct attest_in *in, const uint8_t *buf, size_t len)
{
    in->buf = buf;
    in->len = buf != NULL ? len : 0;
    in->pos = 0;
}

int attest_in_next(struct attest_in *in, struct attest_item *it)
{
    memset(it, 0, sizeof *it);
    if (in->pos >= in->len) {
        return 0;
    }
    const uint8_t *p = in->buf + in->pos;
    size_t avail = in->len - in->pos;
    uint8_t initial = p[0];

    /* Tags 6..20 in the initial byte, which libcbor 0.8 refuses (see top). */
    if (initial >= 0xC6u && initial <= 0xD4u) {
        it->kind = ATTEST_CBOR_TAG;
        it->value = (uint64_t)(initial - 0xC0u);
        in->pos++;
        return 1;
    }
#if SIZE_MAX < UINT64_MAX
    /* libcbor narrows 8-byte lengths and counts to size_t: a length that
     * does not fit must be refused here, not silently truncated. */
    unsigned major = initial >> 5;
    if ((initial & 0x1Fu) == 27u && major >= 2u && major <= 5u &&
        (avail < 9u || (p[1] | p[2] | p[3] | p[4]) != 0)) {
        return 0;
    }
#endif
    struct decode_ctx ctx = {it, 0};
    struct cbor_decoder_result r = cbor_stream_decode(p, avail, &callbacks, &ctx);
    if (r.status != CBOR_DECODER_FINISHED || !ctx.fired || r.read == 0 || r.read > avail) {
        memset(it, 0, sizeof *it);
        return 0;
    }
    in->pos += r.read;
    return 1;
}

/* Reads one head without consuming it. */
static int peek(struct attest_in *in, struct attest_item *it)
{
    size_t pos = in->pos;
    int ok = attest_in_next(in, it);
    in->pos = pos;
    return ok;
}

static int skip(struct attest_in *in, int strict, unsigned depth)
{
    struct attest_item it;
    if (depth > ATTEST_CBOR_DEPTH_MAX || !attest_in_next(in, &it)) {
        return 0;
    }
    switch (it.kind) {
    case ATTEST_CBOR_UINT:
    case ATTEST_CBOR_NEGINT:
    case ATTEST_CBOR_SIMPLE:
        return 1;
    case ATTEST_CBOR_BSTR:
    case ATTEST_CBOR_TSTR:
        if (!it.indefinite) {
            return 1;
        }
        if (strict) {
            return 0;
        }
        /* Chunks: definite strings of the same type, then a break. */
        for (;;) {
            struct attest_item chunk;
            if (!attest_in_next(in, &chunk)) {
                return 0;
            }
            if (chunk.kind == ATTEST_CBOR_BREAK) {
                return 1;
            }
            if (chunk.kind != it.kind || chunk.indefinite) {
                return 0;
            }
        }
    case ATTEST_CBOR_ARRAY:
    case ATTEST_CBOR_MAP: {
        uint64_t per_entry = it.kind == ATTEST_CBOR_MAP ? 2u : 1u;
        if (it.indefinite) {
            if (strict) {
                return 0;
            }
            for (;;) {
                struct attest_item next;
                if (!peek(in, &next)) {
                    return 0;
                }
                if (next.kind == ATTEST_CBOR_BREAK) {
                    in->pos++;
                    return 1;
                }
                for (uint64_t k = 0; k < per_entry; k++) {
                    if (!skip(in, strict, depth + 1)) {
                        return 0;
                    }
                }
            }
        }
        /* Every item takes at least one byte: a count larger than what is
         * left is refused at once instead of being walked. */
        if (it.value > (in->len - in->pos) / per_entry) {
            return 0;
        }
        for (uint64_t i = 0; i < it.value * per_entry; i++) {
            if (!skip(in, strict, depth + 1)) {
                return 0;
            }
        }
        return 1;
    }
    case ATTEST_CBOR_TAG:
        return skip(in, strict, depth + 1);
    case ATTEST_CBOR_BREAK:
        return 0; /* a break outside an indefinite-length item */
    }
    return 0;
}

int attest_in_skip(struct attest_in *in, int strict)
{
    return skip(in, strict, 0);
}

int attest_in_int(struct attest_in *in, int64_t *v)
{
    struct attest_item it;
    if (!attest_in_next(in, &it) || it.value > (uint64_t)INT64_MAX) {
        return 0;
    }
    if (it.kind == ATTEST_CBOR_UINT) {
        *v = (int64_t)it.value;
        return 1;
    }
    if (it.kind == ATTEST_CBOR_NEGINT) {
        *v = -1 - (int64_t)it.value;
        return 1;
    }
    return 0;
}

/* ---- COSE_Sign1 --------------------------------------------------------------- */

/* A COSE header label: an integer (*is_int, *label) or a text string. */
static int read_label(struct attest_in *in, int strict, int *is_int, int64_t *label)
{
    struct attest_item it;
    size_t start = in->pos;
    if (!peek(in, &it)) {
        return 0;
    }
    if (it.kind == ATTEST_CBOR_UINT || it.kind == ATTEST_CBOR_NEGINT) {
        *is_int = attest_in_int(in, label);
        if (!*is_int) {
            /* An integer beyond int64_t is some label we do not know. */
            in->pos = start;
            return skip(in, strict, 1);
        }
        return 1;
    }
    *is_int = 0;
    return it.kind == ATTEST_CBOR_TSTR && skip(in, strict, 1);
}

/* Reads a map head; *count is the entry count, or SIZE_MAX for indefinite. */
static int read_map(struct attest_in *in, int strict, uint64_t *count)
{
    struct attest_item it;
    if (!attest_in_next(in, &it) || it.kind != ATTEST_CBOR_MAP) {
        return 0;
    }
    if (it.indefinite) {
        if (strict) {
            return 0;
        }
        *count = UINT64_MAX;
        return 1;
    }
    if (it.value > (in->len - in->pos) / 2u) {
        return 0;
    }
    *count = it.value;
    return 1;
}

/* 1 if there is another entry in a map being walked (consumes its break). */
static int map_more(struct attest_in *in, uint64_t count, uint64_t i, int *ok)
{
    if (count != UINT64_MAX) {
        return i < count;
    }
    struct attest_item it;
    if (!peek(in, &it)) {
        *ok = 0;
        return 0;
    }
    if (it.kind == ATTEST_CBOR_BREAK) {
        in->pos++;
        return 0;
    }
    return 1;
}

/* The protected header: a map (or nothing) in which alg is looked for. */
static nacre_attest_status parse_protected(struct attest_sign1 *s, int strict)
{
    struct attest_in in;
    uint64_t count;
    int ok = 1;
    if (s->protected_len == 0) {
        return NACRE_ATTEST_OK; /* h'' stands for the empty map: no alg */
    }
    attest_in_init(&in, s->protected_hdr, s->protected_len);
    if (!read_map(&in, strict, &count)) {
        return NACRE_ATTEST_ERR_COSE;
    }
    for (uint64_t i = 0; map_more(&in, count, i, &ok); i++) {
        int is_int;
        int64_t label;
        if (!read_label(&in, strict, &is_int, &label)) {
            return NACRE_ATTEST_ERR_COSE;
        }
        size_t value_at = in.pos;
        if (!skip(&in, strict, 1)) {
            return NACRE_ATTEST_ERR_COSE;
        }
        if (!is_int) {
            continue;
        }
        if (label == ATTEST_HDR_CRIT) {
            /* We understand no critical parameter, so none may be present. */
            return NACRE_ATTEST_ERR_COSE;
        }
        if (label == ATTEST_HDR_ALG) {
            struct attest_in v;
            struct attest_item it;
            if (s->has_alg) {
                return NACRE_ATTEST_ERR_COSE; /* duplicate */
            }
            s->has_alg = 1;
            attest_in_init(&v, in.buf + value_at, in.pos - value_at);
            if (!peek(&v, &it)) {
                return NACRE_ATTEST_ERR_COSE;
            }
            if (it.kind == ATTEST_CBOR_UINT || it.kind == ATTEST_CBOR_NEGINT) {
                s->alg_is_int = attest_in_int(&v, &s->alg);
            } else if (it.kind != ATTEST_CBOR_TSTR) {
                return NACRE_ATTEST_ERR_COSE; /* alg is an int or a text string */
            }
        }
    }
    if (!ok || in.pos != in.len) {
        return NACRE_ATTEST_ERR_COSE;
    }
    return NACRE_ATTEST_OK;
}

/* The unprotected header: a map; picks up kid (4). */
static nacre_attest_status parse_unprotected(struct attest_in *in, struct attest_sign1 *s,
                                             int strict)
{
    uint64_t count;
    int ok = 1;
    if (!read_map(in, strict, &count)) {
        return NACRE_ATTEST_ERR_COSE;
    }
    for (uint64_t i = 0; map_more(in, count, i, &ok); i++) {
        int is_int;
        int64_t label;
        if (!read_label(in, strict, &is_int, &label)) {
            return NACRE_ATTEST_ERR_COSE;
        }
        if (is_int && label == ATTEST_HDR_KID) {
            struct attest_item it;
            if (s->kid != NULL || !attest_in_next(in, &it) || it.kind != ATTEST_CBOR_BSTR ||
                it.indefinite) {
                return NACRE_ATTEST_ERR_COSE;
            }
            s->kid = it.data;
            s->kid_len = it.len;
            continue;
        }
        /* crit only has a meaning when protected; alg may not be in both. */
        if (is_int && (label == ATTEST_HDR_CRIT || (label == ATTEST_HDR_ALG && s->has_alg))) {
            return NACRE_ATTEST_ERR_COSE;
        }
        if (!skip(in, strict, 1)) {
            return NACRE_ATTEST_ERR_COSE;
        }
    }
    return ok ? NACRE_ATTEST_OK : NACRE_ATTEST_ERR_COSE;
}

/* A definite-length byte string (its contents must be contiguous). */
static int read_bstr(struct attest_in *in, const uint8_t **data, size_t *len)
{
    struct attest_item it;
    if (!attest_in_next(in, &it) || it.kind != ATTEST_CBOR_BSTR || it.indefinite) {
        return 0;
    }
    *data = it.data;
    *len = it.len;
    return 1;
}

nacre_attest_status attest_sign1_parse(struct attest_in *in, struct attest_sign1 *s, int strict)
{
    struct attest_item it;
    size_t sig_len = 0;
    memset(s, 0, sizeof *s);
    s->start = in->pos;
    if (!attest_in_next(in, &it)) {
        return NACRE_ATTEST_ERR_COSE;
    }
    if (it.kind == ATTEST_CBOR_TAG) {
        if (it.value != ATTEST_TAG_COSE_SIGN1) {
            return NACRE_ATTEST_ERR_COSE; /* another COSE structure, or not COSE */
        }
        s->tagged = 1;
        if (!attest_in_next(in, &it)) {
            return NACRE_ATTEST_ERR_COSE;
        }
    }
    if (it.kind != ATTEST_CBOR_ARRAY || it.indefinite || it.value != 4) {
        return NACRE_ATTEST_ERR_COSE;
    }
    if (!read_bstr(in, &s->protected_hdr, &s->protected_len)) {
        return NACRE_ATTEST_ERR_COSE;
    }
    nacre_attest_status st = parse_protected(s, strict);
    if (st == NACRE_ATTEST_OK) {
        st = parse_unprotected(in, s, strict);
    }
    if (st != NACRE_ATTEST_OK) {
        return st;
    }
    /* A nil payload is a detached one: there is nothing here to verify. */
    if (!read_bstr(in, &s->payload, &s->payload_len) || !read_bstr(in, &s->sig, &sig_len) ||
        sig_len != crypto_sign_ed25519_BYTES) {
        return NACRE_ATTEST_ERR_COSE;
    }
    s->end = in->pos;
    if (!s->has_alg || !s->alg_is_int || s->alg != ATTEST_ALG_EDDSA) {
        return NACRE_ATTEST_ERR_ALGORITHM;
    }
    return NACRE_ATTEST_OK;
}

size_t attest_sig_structure_len(const struct attest_sign1 *s)
{
    struct attest_out o;
    attest_out_count(&o);
    attest_put_sig_structure_head(&o, s->protected_hdr, s->protected_len, s->payload_len);
    attest_out_raw(&o, s->payload, s->payload_len);
    return o.overflow ? 0 : o.len;
}

nacre_attest_status attest_sign1_check(const struct attest_sign1 *s, const uint8_t pk[32],
                                       uint8_t *scratch, size_t scratch_max)
{
    struct attest_out o;
    attest_out_write(&o, scratch, scratch_max);
    attest_put_sig_structure_head(&o, s->protected_hdr, s->protected_len, s->payload_len);
    attest_out_raw(&o, s->payload, s->payload_len);
    if (!attest_out_ok(&o)) {
        return NACRE_ATTEST_ERR_BUFFER_TOO_SMALL;
    }
    /* Start from "bad": only an explicit 0 from libsodium turns it OK. */
    nacre_attest_status st = NACRE_ATTEST_ERR_BAD_SIGNATURE;
    if (crypto_sign_ed25519_verify_detached(s->sig, scratch, o.len, pk) == 0) {
        st = NACRE_ATTEST_OK;
    }
    return st;
}

nacre_attest_status nacre_attest_cose_verify(const uint8_t *msg, size_t msg_len, const uint8_t pk[32],
                                             const uint8_t **payload, size_t *payload_len)
{
    struct attest_in in;
    struct attest_sign1 s;
    if (payload != NULL) {
        *payload = NULL;
    }
    if (payload_len != NULL) {
        *payload_len = 0;
    }
    if (msg == NULL || pk == NULL) {
        return NACRE_ATTEST_ERR_ARGUMENT;
    }
    attest_in_init(&in, msg, msg_len);
    nacre_attest_status st = attest_sign1_parse(&in, &s, 0);
    if (st == NACRE_ATTEST_ERR_COSE || in.pos != msg_len) {
        return NACRE_ATTEST_ERR_COSE; /* malformed, or bytes after the message */
    }
    if (st != NACRE_ATTEST_OK) {
        return st;
    }
    /* The Sig_structure is about as long as the message: it is built on the
     * heap, since this entry point takes messages of any size. */
    size_t n = attest_sig_structure_len(&s);
    uint8_t *scratch = n > 0 ? malloc(n) : NULL;
    if (scratch == NULL) {
        return NACRE_ATTEST_ERR_BUFFER_TOO_SMALL;
    }
    st = attest_sign1_check(&s, pk, scratch, n);
    free(scratch);
    if (st == NACRE_ATTEST_OK) {
        if (payload != NULL) {
            *payload = s.payload;
        }
        if (payload_len != NULL) {
            *payload_len = s.payload_len;
        }
    }
    return st;
}
