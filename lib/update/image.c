/*
 * image.c - parsing and verification of signed images (nacre/image.h).
 *
 * This is the code the boot stage runs on every reset, on whatever an
 * attacker managed to write into a slot. So it is strict: every field has
 * exactly one accepted form, every length is checked against the area it
 * lives in before anything is read, and each kind of bad input gets its own
 * status so that a refusal can be diagnosed. It never allocates and makes no
 * OS calls (it must build for the Cortex-M33 board); the only state is on
 * the stack. docs/image-format.md is the byte-by-byte description.
 */
#include <string.h>

#include <sodium.h>

#include <nacre/image.h>
#include "nacre_le.h"

static const uint8_t image_magic[4] = {'N', 'I', 'M', 'G'};

/* Header field offsets (struct nacre_image_header, little-endian on flash). */
#define HDR_MAGIC 0u
#define HDR_FORMAT_VERSION 4u
#define HDR_HEADER_SIZE 6u
#define HDR_PROTECTED_SIZE 8u
#define HDR_PAYLOAD_OFFSET 12u
#define HDR_PAYLOAD_SIZE 16u
#define HDR_FLAGS 20u
#define HDR_RESERVED 24u

#define TLV_HEADER_BYTES 4u
#define VERSION_BYTES 12u
#define COUNTER_BYTES 4u

_Static_assert(NACRE_IMAGE_METADATA_MAX % NACRE_IMAGE_PAYLOAD_ALIGN == 0, "metadata limit aligned");
_Static_assert(NACRE_IMAGE_DIGEST_BYTES == crypto_generichash_BYTES, "BLAKE2b-256");
_Static_assert(NACRE_IMAGE_PUBLICKEY_BYTES == crypto_sign_ed25519_PUBLICKEYBYTES, "Ed25519 pk");
_Static_assert(NACRE_IMAGE_SIGNATURE_BYTES == crypto_sign_ed25519_BYTES, "Ed25519 signature");

/* What the parse found beyond struct nacre_image_info: where the unsigned
 * TLVs are (offsets into the metadata; 0 = absent). */
struct image_parsed {
    size_t tbs_len;
    size_t signature;
    size_t key_cert;
    size_t root_key;
};

/* A component name: 1..32 bytes of [a-z0-9._-] (no NUL inside). */
static int component_name_ok(const uint8_t *name, size_t len)
{
    if (len < 1 || len > NACRE_IMAGE_COMPONENT_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-')) {
            return 0;
        }
    }
    return 1;
}

static void version_get(struct nacre_image_version *v, const uint8_t *p)
{
    v->major = le32_get(p);
    v->minor = le32_get(p + 4);
    v->patch = le32_get(p + 8);
}

/* Bit in the "seen" mask of a TLV type (types are checked before this). */
static uint32_t tlv_bit(uint16_t type)
{
    return type < 0x0100u ? 1u << type : 1u << (16u + (type & 0xFFu));
}

/* One TLV value whose type, area and length are already known to be valid
 * for its area: check its contents and record it. */
static nacre_update_status tlv_take(uint16_t type, const uint8_t *v, uint16_t len, size_t at,
                                    struct nacre_image_info *info, struct image_parsed *pp)
{
    switch (type) {
    case NACRE_IMAGE_TLV_COMPONENT:
        if (!component_name_ok(v, len)) {
            return NACRE_UPDATE_ERR_BAD_TLV;
        }
        memcpy(info->component, v, len);
        info->component[len] = '\0';
        return NACRE_UPDATE_OK;
    case NACRE_IMAGE_TLV_VERSION:
        if (len != VERSION_BYTES) {
            return NACRE_UPDATE_ERR_BAD_TLV;
        }
        version_get(&info->version, v);
        return NACRE_UPDATE_OK;
    case NACRE_IMAGE_TLV_SECURITY_COUNTER:
        if (len != COUNTER_BYTES) {
            return NACRE_UPDATE_ERR_BAD_TLV;
        }
        info->security_counter = le32_get(v);
        return NACRE_UPDATE_OK;
    case NACRE_IMAGE_TLV_PAYLOAD_DIGEST:
        if (len != NACRE_IMAGE_DIGEST_BYTES) {
            return NACRE_UPDATE_ERR_BAD_TLV;
        }
        memcpy(info->payload_digest, v, NACRE_IMAGE_DIGEST_BYTES);
        return NACRE_UPDATE_OK;
    case NACRE_IMAGE_TLV_SIGNER_KEY_ID:
        if (len != NACRE_IMAGE_DIGEST_BYTES) {
            return NACRE_UPDATE_ERR_BAD_TLV;
        }
        memcpy(info->signer_key_id, v, NACRE_IMAGE_DIGEST_BYTES);
        return NACRE_UPDATE_OK;
    case NACRE_IMAGE_TLV_DEPENDENCY: {
        if (len <= VERSION_BYTES || !component_name_ok(v + VERSION_BYTES, len - VERSION_BYTES)) {
            return NACRE_UPDATE_ERR_BAD_TLV;
        }
        size_t name_len = len - VERSION_BYTES;
        /* Two minimum versions for one component would be ambiguous. */
        for (unsigned i = 0; i < info->dependency_count; i++) {
            const char *other = info->dependencies[i].component;
            if (strlen(other) == name_len && memcmp(other, v + VERSION_BYTES, name_len) == 0) {
                return NACRE_UPDATE_ERR_DUPLICATE_TLV;
            }
        }
        struct nacre_image_dependency *d = &info->dependencies[info->dependency_count++];
        version_get(&d->min_version, v);
        memcpy(d->component, v + VERSION_BYTES, name_len);
        d->component[name_len] = '\0';
        return NACRE_UPDATE_OK;
    }
    case NACRE_IMAGE_TLV_SIGNATURE:
        if (len != NACRE_IMAGE_SIGNATURE_BYTES) {
            return NACRE_UPDATE_ERR_BAD_TLV;
        }
        pp->signature = at;
        info->has_signature = 1;
        return NACRE_UPDATE_OK;
    case NACRE_IMAGE_TLV_KEY_CERT:
        if (len != NACRE_KEYCERT_BYTES) {
            return NACRE_UPDATE_ERR_BAD_TLV;
        }
        pp->key_cert = at;
        return NACRE_UPDATE_OK;
    case NACRE_IMAGE_TLV_ROOT_KEY:
        if (len != NACRE_IMAGE_PUBLICKEY_BYTES) {
            return NACRE_UPDATE_ERR_BAD_TLV;
        }
        pp->root_key = at;
        return NACRE_UPDATE_OK;
    default:
        return NACRE_UPDATE_ERR_UNKNOWN_TLV;
    }
}


/* Types that must be present in the protected area. */
#define REQUIRED_TLVS                                                                        \
    ((1u << NACRE_IMAGE_TLV_COMPONENT) | (1u << NACRE_IMAGE_TLV_VERSION) |                   \
     (1u << NACRE_IMAGE_TLV_SECURITY_COUNTER) | (1u << NACRE_IMAGE_TLV_PAYLOAD_DIGEST) |     \
     (1u << NACRE_IMAGE_TLV_SIGNER_KEY_ID))

/*
 * Walk the TLVs of one area, meta[start, end). Every TLV must lie wholly
 * inside the area: the bytes remaining in the area are computed once per
 * TLV and its length is checked against them, so no sum of attacker-chosen
 * lengths can wrap. *seen receives a bit per type found.
 */
static nacre_update_status tlv_area(const uint8_t *meta, size_t start, size_t end, int protected_area,
                                    struct nacre_image_info *info, struct image_parsed *pp,
                                    uint32_t *seen)
{
    size_t off = start;
    *seen = 0;
    while (off < end) {
        size_t remaining = end - off;
        /* END (type 0), or the start of a TLV header cut off by the end of
         * the area: everything from here on must be zero padding. */
        if (remaining < TLV_HEADER_BYTES || le16_get(meta + off) == NACRE_IMAGE_TLV_END) {
            for (size_t i = off; i < end; i++) {
                if (meta[i] != 0) {
                    return NACRE_UPDATE_ERR_BAD_TLV;
                }
            }
            return NACRE_UPDATE_OK;
        }
        uint16_t type = le16_get(meta + off);
        uint16_t len = le16_get(meta + off + 2);
        if (len > remaining - TLV_HEADER_BYTES) {
            return NACRE_UPDATE_ERR_BAD_TLV;
        }
        /* The high byte of a type names its area: a protected type outside
         * the signed bytes (or the reverse) is not a type of that area. */
        int known = protected_area
                        ? (type >= NACRE_IMAGE_TLV_COMPONENT && type <= NACRE_IMAGE_TLV_DEPENDENCY)
                        : (type >= NACRE_IMAGE_TLV_SIGNATURE && type <= NACRE_IMAGE_TLV_ROOT_KEY);
        if (!known) {
            return NACRE_UPDATE_ERR_UNKNOWN_TLV;
        }
        if (type == NACRE_IMAGE_TLV_DEPENDENCY) {
            if (info->dependency_count >= NACRE_IMAGE_DEPENDENCY_MAX) {
                return NACRE_UPDATE_ERR_DUPLICATE_TLV;
            }
        } else if (*seen & tlv_bit(type)) {
            return NACRE_UPDATE_ERR_DUPLICATE_TLV;
        }
        *seen |= tlv_bit(type);
        nacre_update_status s = tlv_take(type, meta + off + TLV_HEADER_BYTES, len,
                                         off + TLV_HEADER_BYTES, info, pp);
        if (s != NACRE_UPDATE_OK) {
            return s;
        }
        off += TLV_HEADER_BYTES + (size_t)len;
    }
    return NACRE_UPDATE_OK;
}

/* The fixed header. Fills the payload fields of info once they are known. */
static nacre_update_status header_parse(const uint8_t *meta, size_t meta_len,
                                        struct nacre_image_info *info, uint32_t *protected_size)
{
    if (meta_len < NACRE_IMAGE_HEADER_BYTES) {
        return NACRE_UPDATE_ERR_TRUNCATED;
    }
    if (memcmp(meta + HDR_MAGIC, image_magic, sizeof image_magic) != 0) {
        return NACRE_UPDATE_ERR_BAD_MAGIC;
    }
    if (le16_get(meta + HDR_FORMAT_VERSION) != NACRE_IMAGE_FORMAT_VERSION) {
        return NACRE_UPDATE_ERR_FORMAT_VERSION;
    }
    if (le16_get(meta + HDR_HEADER_SIZE) != NACRE_IMAGE_HEADER_BYTES ||
        le32_get(meta + HDR_FLAGS) != 0) {
        return NACRE_UPDATE_ERR_BAD_HEADER;
    }
    /* Reserved bytes must be zero, so that a later format can give them a
     * meaning without old boot stages silently ignoring it. */
    for (size_t i = HDR_RESERVED; i < NACRE_IMAGE_HEADER_BYTES; i++) {
        if (meta[i] != 0) {
            return NACRE_UPDATE_ERR_BAD_HEADER;
        }
    }
    uint32_t psize = le32_get(meta + HDR_PROTECTED_SIZE);
    uint32_t poff = le32_get(meta + HDR_PAYLOAD_OFFSET);
    uint32_t plen = le32_get(meta + HDR_PAYLOAD_SIZE);
    /* payload_offset first, within fixed bounds; then protected_size against
     * it by subtraction (no sum that could wrap). The unprotected area holds
     * at least one TLV header, so a signature can always be looked for. */
    if (poff % NACRE_IMAGE_PAYLOAD_ALIGN != 0 || poff > NACRE_IMAGE_METADATA_MAX ||
        poff < NACRE_IMAGE_HEADER_BYTES + TLV_HEADER_BYTES ||
        psize > poff - NACRE_IMAGE_HEADER_BYTES - TLV_HEADER_BYTES) {
        return NACRE_UPDATE_ERR_BAD_HEADER;
    }
    /* image_size must be representable: slot offsets are 32-bit. */
    if (plen > UINT32_MAX - poff) {
        return NACRE_UPDATE_ERR_BAD_HEADER;
    }
    info->payload_offset = poff;
    info->payload_size = plen;
    info->image_size = poff + plen;
    *protected_size = psize;
    return NACRE_UPDATE_OK;
}

/* Both TLV areas, after a good header. */
static nacre_update_status areas_parse(const uint8_t *meta, size_t prot_end,
                                       struct nacre_image_info *info, struct image_parsed *pp)
{
    uint32_t seen = 0;
    nacre_update_status s = tlv_area(meta, NACRE_IMAGE_HEADER_BYTES, prot_end, 1, info, pp, &seen);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    if ((seen & REQUIRED_TLVS) != REQUIRED_TLVS) {
        return NACRE_UPDATE_ERR_MISSING_TLV;
    }
    return tlv_area(meta, prot_end, info->payload_offset, 0, info, pp, &seen);
}

/*
 * Parse into *info. On a failure after the header, info keeps only the
 * header's payload fields (a caller learns how much to read, never a
 * half-parsed image); on success the measurement is computed.
 */
static nacre_update_status image_parse(const uint8_t *meta, size_t meta_len,
                                       struct nacre_image_info *info, struct image_parsed *pp)
{
    memset(info, 0, sizeof *info);
    memset(pp, 0, sizeof *pp);
    uint32_t psize = 0;
    nacre_update_status s = header_parse(meta, meta_len, info, &psize);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    if (meta_len < info->payload_offset) {
        return NACRE_UPDATE_ERR_TRUNCATED;
    }
    size_t prot_end = NACRE_IMAGE_HEADER_BYTES + (size_t)psize;
    s = areas_parse(meta, prot_end, info, pp);
    if (s != NACRE_UPDATE_OK) {
        struct nacre_image_info header_only;
        memset(&header_only, 0, sizeof header_only);
        header_only.payload_offset = info->payload_offset;
        header_only.payload_size = info->payload_size;
        header_only.image_size = info->image_size;
        *info = header_only;
        memset(pp, 0, sizeof *pp);
        return s;
    }
    pp->tbs_len = prot_end;
    /* Before check: what the TLVs claim (unverified). check sets both from
     * the signer it verified. The epoch sits at bytes 8..11 of a certificate. */
    info->signed_by_root = pp->root_key != 0 && pp->key_cert == 0;
    info->key_epoch = pp->key_cert != 0 ? le32_get(meta + pp->key_cert + 8) : 0;
    crypto_generichash(info->measurement, NACRE_IMAGE_DIGEST_BYTES, meta, prot_end, NULL, 0);
    return NACRE_UPDATE_OK;
}

nacre_update_status nacre_image_parse(const uint8_t *meta, size_t meta_len,
                                      struct nacre_image_info *info)
{
    if (meta == NULL || info == NULL) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    struct image_parsed pp;
    return image_parse(meta, meta_len, info, &pp);
}

void nacre_image_key_id(uint8_t out[NACRE_IMAGE_DIGEST_BYTES],
                        const uint8_t pk[NACRE_IMAGE_PUBLICKEY_BYTES])
{
    if (out == NULL || pk == NULL) {
        return;
    }
    crypto_generichash(out, NACRE_IMAGE_DIGEST_BYTES, pk, NACRE_IMAGE_PUBLICKEY_BYTES, NULL, 0);
}

/*
 * Who signed: the root key itself (ROOT_KEY) or a key the root certified
 * (KEY_CERT), never both or neither. The signer's public key is copied out
 * so that the signature is checked against exactly the key vetted here.
 */
static nacre_update_status signer_check(const uint8_t *meta, const struct nacre_image_policy *policy,
                                        struct nacre_image_info *info, const struct image_parsed *pp,
                                        uint8_t signer_pk[NACRE_IMAGE_PUBLICKEY_BYTES])
{
    uint8_t id[NACRE_IMAGE_DIGEST_BYTES];
    if ((pp->root_key == 0) == (pp->key_cert == 0)) {
        return NACRE_UPDATE_ERR_UNKNOWN_KEY;
    }
    if (pp->root_key != 0) {
        memcpy(signer_pk, meta + pp->root_key, NACRE_IMAGE_PUBLICKEY_BYTES);
        nacre_image_key_id(id, signer_pk);
        /* The OTP root hash is compared in constant time, as a secret would
         * be: it costs nothing and leaks nothing about near misses. */
        if (sodium_memcmp(id, policy->root_key_hash, NACRE_IMAGE_DIGEST_BYTES) != 0) {
            return NACRE_UPDATE_ERR_UNKNOWN_KEY;
        }
        /* The signed key id must name the key that signs: otherwise the
         * protected area would not say who vouched for the image. */
        if (memcmp(id, info->signer_key_id, NACRE_IMAGE_DIGEST_BYTES) != 0) {
            return NACRE_UPDATE_ERR_UNKNOWN_KEY;
        }
        info->signed_by_root = 1;
        info->key_epoch = 0;
        return NACRE_UPDATE_OK;
    }

    struct nacre_keycert cert;
    if (nacre_keycert_verify(meta + pp->key_cert, &cert) != NACRE_UPDATE_OK) {
        return NACRE_UPDATE_ERR_BAD_KEY_CERT;
    }
    nacre_image_key_id(id, cert.root_pk);
    if (sodium_memcmp(id, policy->root_key_hash, NACRE_IMAGE_DIGEST_BYTES) != 0) {
        return NACRE_UPDATE_ERR_UNKNOWN_KEY;
    }
    nacre_image_key_id(id, cert.signer_pk);
    if (memcmp(id, info->signer_key_id, NACRE_IMAGE_DIGEST_BYTES) != 0) {
        return NACRE_UPDATE_ERR_UNKNOWN_KEY;
    }
    if (cert.epoch < policy->min_key_epoch) {
        return NACRE_UPDATE_ERR_KEY_REVOKED;
    }
    memcpy(signer_pk, cert.signer_pk, NACRE_IMAGE_PUBLICKEY_BYTES);
    info->signed_by_root = 0;
    info->key_epoch = cert.epoch;
    return NACRE_UPDATE_OK;
}

nacre_update_status nacre_image_check(const uint8_t *meta, size_t meta_len,
                                      const struct nacre_image_policy *policy,
                                      struct nacre_image_info *info)
{
    if (meta == NULL || policy == NULL || policy->root_key_hash == NULL || info == NULL) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    struct image_parsed pp;
    nacre_update_status s = image_parse(meta, meta_len, info, &pp);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    if (policy->max_image_size != 0 && info->image_size > policy->max_image_size) {
        return NACRE_UPDATE_ERR_TOO_LARGE;
    }
    if (pp.signature == 0) {
        return NACRE_UPDATE_ERR_UNSIGNED;
    }
    uint8_t signer_pk[NACRE_IMAGE_PUBLICKEY_BYTES];
    s = signer_check(meta, policy, info, &pp, signer_pk);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    /* Refuse unless the verifier explicitly said 0: a skipped or corrupted
     * call must not fall through to acceptance. */
    s = NACRE_UPDATE_ERR_BAD_SIGNATURE;
    if (crypto_sign_ed25519_verify_detached(meta + pp.signature, meta, pp.tbs_len, signer_pk) == 0) {
        s = NACRE_UPDATE_OK;
    }
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    /* Policy last: only a genuine image gets to say why it is not wanted. */
    if (info->security_counter < policy->min_security_counter) {
        return NACRE_UPDATE_ERR_ROLLBACK;
    }
    if (policy->component != NULL && strcmp(policy->component, info->component) != 0) {
        return NACRE_UPDATE_ERR_WRONG_COMPONENT;
    }
    return NACRE_UPDATE_OK;
}

nacre_update_status nacre_image_verify(const uint8_t *image, size_t image_len,
                                       const struct nacre_image_policy *policy,
                                       struct nacre_image_info *info)
{
    nacre_update_status s = nacre_image_check(image, image_len, policy, info);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    if (image_len < info->image_size) {
        return NACRE_UPDATE_ERR_TRUNCATED;
    }
    /* Trailing bytes are refused too: the header must describe the image
     * exactly, or two different byte strings would carry one signature. */
    if (image_len > info->image_size) {
        return NACRE_UPDATE_ERR_BAD_HEADER;
    }
    uint8_t digest[NACRE_IMAGE_DIGEST_BYTES];
    crypto_generichash(digest, sizeof digest, image + info->payload_offset, info->payload_size,
                       NULL, 0);
    s = NACRE_UPDATE_ERR_PAYLOAD_DIGEST;
    if (sodium_memcmp(digest, info->payload_digest, sizeof digest) == 0) {
        s = NACRE_UPDATE_OK;
    }
    return s;
}

nacre_update_status nacre_image_tbs(const uint8_t *image, size_t image_len, const uint8_t **tbs,
                                    size_t *tbs_len)
{
    if (image == NULL || tbs == NULL || tbs_len == NULL) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    /* Only a well-formed image has to-be-signed bytes: nobody should sign
     * something the boot stage would refuse to parse. */
    struct nacre_image_info info;
    struct image_parsed pp;
    nacre_update_status s = image_parse(image, image_len, &info, &pp);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    *tbs = image;
    *tbs_len = pp.tbs_len;
    return NACRE_UPDATE_OK;
}

/* One decimal part of a version: digits, no leading zero, < 2^32. */
static const char *version_part(const char *p, uint32_t *out)
{
    if (*p < '0' || *p > '9') {
        return NULL;
    }
    if (p[0] == '0' && p[1] >= '0' && p[1] <= '9') {
        return NULL;
    }
    uint32_t v = 0;
    while (*p >= '0' && *p <= '9') {
        uint32_t d = (uint32_t)(*p - '0');
        if (v > (UINT32_MAX - d) / 10u) {
            return NULL;
        }
        v = v * 10u + d;
        p++;
    }
    *out = v;
    return p;
}

nacre_update_status nacre_image_version_parse(const char *text, struct nacre_image_version *out)
{
    if (text == NULL || out == NULL) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    uint32_t part[3];
    const char *p = text;
    for (unsigned i = 0; i < 3; i++) {
        p = version_part(p, &part[i]);
        if (p == NULL) {
            return NACRE_UPDATE_ERR_BAD_VERSION;
        }
        if (i < 2) {
            if (*p != '.') {
                return NACRE_UPDATE_ERR_BAD_VERSION;
            }
            p++;
        }
    }
    if (*p != '\0') {
        return NACRE_UPDATE_ERR_BAD_VERSION;
    }
    out->major = part[0];
    out->minor = part[1];
    out->patch = part[2];
    return NACRE_UPDATE_OK;
}

static int cmp_u32(uint32_t a, uint32_t b)
{
    return a < b ? -1 : a > b ? 1 : 0;
}

int nacre_image_version_compare(const struct nacre_image_version *a,
                                const struct nacre_image_version *b)
{
    /* Defined for NULL too (it sorts first), so a caller never crashes here. */
    if (a == NULL || b == NULL) {
        return a == b ? 0 : a == NULL ? -1 : 1;
    }
    int c = cmp_u32(a->major, b->major);
    if (c == 0) {
        c = cmp_u32(a->minor, b->minor);
    }
    if (c == 0) {
        c = cmp_u32(a->patch, b->patch);
    }
    return c;
}
