/*
 * image_build.c - HOST ONLY: building and signing images, for tools.
 *
 * Not built for boards other than the host: it allocates, and a device never
 * signs anything. Everything it writes is checked the way the boot stage
 * would check it (nacre_image_parse on the result, the signature against the
 * signer before it is attached), so a tool cannot produce an image that it
 * believes good and a device refuses.
 *
 * Layout written by nacre_image_create (docs/image-format.md):
 *   header | COMPONENT VERSION SECURITY_COUNTER PAYLOAD_DIGEST SIGNER_KEY_ID
 *   DEPENDENCY* | unprotected area: zero, at least 216 bytes (room for
 *   SIGNATURE and KEY_CERT) | payload at the next multiple of 256.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <nacre/image.h>
#include "nacre_le.h"

#define TLV_HEADER_BYTES 4u
#define VERSION_BYTES 12u
/* Room left in the unprotected area: SIGNATURE plus the larger signer TLV. */
#define UNPROTECTED_RESERVE \
    (TLV_HEADER_BYTES + NACRE_IMAGE_SIGNATURE_BYTES + TLV_HEADER_BYTES + NACRE_KEYCERT_BYTES)

/* Key certificate layout; keycert.c parses the same one (image.h). It is
 * written here rather than there so that the device library, which links
 * keycert.c, carries no signing code. */
#define KC_VERSION 1u
#define KC_SIGNED_BYTES 80u
#define KC_EPOCH 8u
#define KC_ROOT_PK 16u
#define KC_SIGNER_PK 48u
#define KC_SIGNATURE 80u

_Static_assert(UNPROTECTED_RESERVE == 216u, "documented unprotected reserve");
/* The largest protected area (longest names, four dependencies) still leaves
 * payload_offset within NACRE_IMAGE_METADATA_MAX. */
_Static_assert(NACRE_IMAGE_HEADER_BYTES + (4 + NACRE_IMAGE_COMPONENT_MAX) + (4 + 12) + (4 + 4) +
                       2 * (4 + 32) + NACRE_IMAGE_DEPENDENCY_MAX * (4 + 12 + NACRE_IMAGE_COMPONENT_MAX) +
                       UNPROTECTED_RESERVE <=
                   NACRE_IMAGE_METADATA_MAX,
               "largest metadata fits");
_Static_assert(KC_SIGNATURE + NACRE_IMAGE_SIGNATURE_BYTES == NACRE_KEYCERT_BYTES, "keycert layout");

static const uint8_t image_magic[4] = {'N', 'I', 'M', 'G'};
static const uint8_t keycert_magic[4] = {'N', 'K', 'C', '1'};

static void version_put(uint8_t *p, const struct nacre_image_version *v)
{
    le32_put(p, v->major);
    le32_put(p + 4, v->minor);
    le32_put(p + 8, v->patch);
}

/* Appends one TLV at p; returns the bytes written. */
static size_t tlv_put(uint8_t *p, uint16_t type, const void *value, size_t len)
{
    le16_put(p, type);
    le16_put(p + 2, (uint16_t)len);
    memcpy(p + TLV_HEADER_BYTES, value, len);
    return TLV_HEADER_BYTES + len;
}

/* The rule the parser applies: 1..32 bytes of [a-z0-9._-]. name may lack a
 * NUL within max bytes; then it is too long. */
static int component_ok(const char *name, size_t max, size_t *len)
{
    const char *end = memchr(name, '\0', max);
    if (end == NULL) {
        return 0;
    }
    size_t n = (size_t)(end - name);
    if (n < 1 || n > NACRE_IMAGE_COMPONENT_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-')) {
            return 0;
        }
    }
    *len = n;
    return 1;
}

/* The protected area's size, validating params with the parser's statuses. */
static nacre_update_status params_check(const struct nacre_image_params *params, size_t *protected_size)
{
    size_t comp_len = 0;
    if (params->component == NULL) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    if (!component_ok(params->component, NACRE_IMAGE_COMPONENT_MAX + 1, &comp_len)) {
        return NACRE_UPDATE_ERR_BAD_TLV;
    }
    if (params->dependency_count > NACRE_IMAGE_DEPENDENCY_MAX) {
        return NACRE_UPDATE_ERR_DUPLICATE_TLV;
    }
    size_t size = TLV_HEADER_BYTES + comp_len + TLV_HEADER_BYTES + VERSION_BYTES + TLV_HEADER_BYTES +
                  4u + 2u * (TLV_HEADER_BYTES + NACRE_IMAGE_DIGEST_BYTES);
    for (unsigned i = 0; i < params->dependency_count; i++) {
        size_t dep_len = 0;
        const char *name = params->dependencies[i].component;
        if (!component_ok(name, sizeof params->dependencies[i].component, &dep_len)) {
            return NACRE_UPDATE_ERR_BAD_TLV;
        }
        for (unsigned j = 0; j < i; j++) {
            if (strcmp(name, params->dependencies[j].component) == 0) {
                return NACRE_UPDATE_ERR_DUPLICATE_TLV;
            }
        }
        size += TLV_HEADER_BYTES + VERSION_BYTES + dep_len;
    }
    *protected_size = size;
    return NACRE_UPDATE_OK;
}

nacre_update_status nacre_image_create(uint8_t **image, size_t *image_len, const uint8_t *payload,
                                       size_t payload_len, const struct nacre_image_params *params)
{
    if (image == NULL || image_len == NULL || params == NULL || (payload == NULL && payload_len > 0)) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    *image = NULL;
    *image_len = 0;
    size_t psize = 0;
    nacre_update_status s = params_check(params, &psize);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    size_t meta = NACRE_IMAGE_HEADER_BYTES + psize + UNPROTECTED_RESERVE;
    meta = (meta + NACRE_IMAGE_PAYLOAD_ALIGN - 1) / NACRE_IMAGE_PAYLOAD_ALIGN * NACRE_IMAGE_PAYLOAD_ALIGN;
    /* The header's image size is 32-bit, as the parser demands. */
    if (payload_len > UINT32_MAX - meta) {
        return NACRE_UPDATE_ERR_BAD_HEADER;
    }
    size_t total = meta + payload_len;
    uint8_t *img = calloc(1, total);
    if (img == NULL) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }

    memcpy(img, image_magic, sizeof image_magic);
    le16_put(img + 4, NACRE_IMAGE_FORMAT_VERSION);
    le16_put(img + 6, NACRE_IMAGE_HEADER_BYTES);
    le32_put(img + 8, (uint32_t)psize);
    le32_put(img + 12, (uint32_t)meta);
    le32_put(img + 16, (uint32_t)payload_len);
    /* flags and reserved stay zero (calloc). */

    uint8_t value[VERSION_BYTES + NACRE_IMAGE_COMPONENT_MAX];
    uint8_t *p = img + NACRE_IMAGE_HEADER_BYTES;
    p += tlv_put(p, NACRE_IMAGE_TLV_COMPONENT, params->component, strlen(params->component));
    version_put(value, &params->version);
    p += tlv_put(p, NACRE_IMAGE_TLV_VERSION, value, VERSION_BYTES);
    le32_put(value, params->security_counter);
    p += tlv_put(p, NACRE_IMAGE_TLV_SECURITY_COUNTER, value, 4);
    crypto_generichash(value, NACRE_IMAGE_DIGEST_BYTES, payload_len ? payload : value, payload_len,
                       NULL, 0);
    p += tlv_put(p, NACRE_IMAGE_TLV_PAYLOAD_DIGEST, value, NACRE_IMAGE_DIGEST_BYTES);
    nacre_image_key_id(value, params->signer_pk);
    p += tlv_put(p, NACRE_IMAGE_TLV_SIGNER_KEY_ID, value, NACRE_IMAGE_DIGEST_BYTES);
    for (unsigned i = 0; i < params->dependency_count; i++) {
        const struct nacre_image_dependency *d = &params->dependencies[i];
        size_t n = strlen(d->component);
        version_put(value, &d->min_version);
        memcpy(value + VERSION_BYTES, d->component, n);
        p += tlv_put(p, NACRE_IMAGE_TLV_DEPENDENCY, value, VERSION_BYTES + n);
    }
    if (payload_len > 0) {
        memcpy(img + meta, payload, payload_len);
    }

    /* The parser is the judge of the format, not this function. */
    struct nacre_image_info info;
    s = nacre_image_parse(img, total, &info);
    if (s != NACRE_UPDATE_OK) {
        free(img);
        return s;
    }
    *image = img;
    *image_len = total;
    return NACRE_UPDATE_OK;
}

nacre_update_status nacre_image_attach_signature(uint8_t *image, size_t image_len,
                                                 const uint8_t sig[NACRE_IMAGE_SIGNATURE_BYTES],
                                                 const uint8_t *key_cert, const uint8_t *root_pk)
{
    if (image == NULL || sig == NULL || (key_cert == NULL) == (root_pk == NULL)) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    struct nacre_image_info info;
    const uint8_t *tbs = NULL;
    size_t tbs_len = 0;
    nacre_update_status s = nacre_image_parse(image, image_len, &info);
    if (s == NACRE_UPDATE_OK) {
        s = nacre_image_tbs(image, image_len, &tbs, &tbs_len);
    }
    if (s != NACRE_UPDATE_OK) {
        return s;
    }

    /* Who signs, and is it the key the protected area names? */
    uint8_t signer[NACRE_IMAGE_PUBLICKEY_BYTES];
    if (key_cert != NULL) {
        struct nacre_keycert cert;
        if (nacre_keycert_verify(key_cert, &cert) != NACRE_UPDATE_OK) {
            return NACRE_UPDATE_ERR_BAD_KEY_CERT;
        }
        memcpy(signer, cert.signer_pk, sizeof signer);
    } else {
        memcpy(signer, root_pk, sizeof signer);
    }
    uint8_t id[NACRE_IMAGE_DIGEST_BYTES];
    nacre_image_key_id(id, signer);
    if (memcmp(id, info.signer_key_id, sizeof id) != 0) {
        return NACRE_UPDATE_ERR_UNKNOWN_KEY;
    }
    if (crypto_sign_ed25519_verify_detached(sig, tbs, tbs_len, signer) != 0) {
        return NACRE_UPDATE_ERR_BAD_SIGNATURE;
    }
    size_t area = tbs_len;
    size_t area_len = info.payload_offset - tbs_len;
    size_t need = 2u * TLV_HEADER_BYTES + NACRE_IMAGE_SIGNATURE_BYTES +
                  (key_cert != NULL ? NACRE_KEYCERT_BYTES : NACRE_IMAGE_PUBLICKEY_BYTES);
    if (need > area_len) {
        return NACRE_UPDATE_ERR_BAD_TLV;
    }

    /* Every check passed: only now is the image touched. The whole area is
     * cleared first so that re-signing leaves nothing of an older signer. */
    memset(image + area, 0, area_len);
    uint8_t *p = image + area;
    p += tlv_put(p, NACRE_IMAGE_TLV_SIGNATURE, sig, NACRE_IMAGE_SIGNATURE_BYTES);
    if (key_cert != NULL) {
        (void)tlv_put(p, NACRE_IMAGE_TLV_KEY_CERT, key_cert, NACRE_KEYCERT_BYTES);
    } else {
        (void)tlv_put(p, NACRE_IMAGE_TLV_ROOT_KEY, root_pk, NACRE_IMAGE_PUBLICKEY_BYTES);
    }
    return NACRE_UPDATE_OK;
}

nacre_update_status nacre_image_sign(uint8_t *image, size_t image_len, const uint8_t seed[32],
                                     const uint8_t *key_cert)
{
    if (image == NULL || seed == NULL) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    const uint8_t *tbs = NULL;
    size_t tbs_len = 0;
    nacre_update_status s = nacre_image_tbs(image, image_len, &tbs, &tbs_len);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    uint8_t pk[crypto_sign_ed25519_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_ed25519_SECRETKEYBYTES];
    uint8_t sig[crypto_sign_ed25519_BYTES];
    int rc = crypto_sign_ed25519_seed_keypair(pk, sk, seed);
    if (rc == 0) {
        rc = crypto_sign_ed25519_detached(sig, NULL, tbs, tbs_len, sk);
    }
    sodium_memzero(sk, sizeof sk);
    if (rc != 0) {
        return NACRE_UPDATE_ERR_BAD_SIGNATURE;
    }
    /* Attach checks the signature against the certified key (or, root-signed,
     * this seed's own public key): a seed that does not match is refused. */
    return nacre_image_attach_signature(image, image_len, sig, key_cert,
                                        key_cert != NULL ? NULL : pk);
}

nacre_update_status nacre_keycert_create(uint8_t out[NACRE_KEYCERT_BYTES], const uint8_t root_seed[32],
                                         const uint8_t signer_pk[NACRE_IMAGE_PUBLICKEY_BYTES],
                                         uint32_t epoch)
{
    if (out == NULL || root_seed == NULL || signer_pk == NULL) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    uint8_t cert[NACRE_KEYCERT_BYTES];
    uint8_t sk[crypto_sign_ed25519_SECRETKEYBYTES];
    memset(cert, 0, sizeof cert);
    memcpy(cert, keycert_magic, sizeof keycert_magic);
    cert[4] = KC_VERSION;
    le32_put(cert + KC_EPOCH, epoch);
    memcpy(cert + KC_SIGNER_PK, signer_pk, NACRE_IMAGE_PUBLICKEY_BYTES);
    int rc = crypto_sign_ed25519_seed_keypair(cert + KC_ROOT_PK, sk, root_seed);
    if (rc == 0) {
        rc = crypto_sign_ed25519_detached(cert + KC_SIGNATURE, NULL, cert, KC_SIGNED_BYTES, sk);
    }
    sodium_memzero(sk, sizeof sk);
    if (rc != 0 || nacre_keycert_verify(cert, NULL) != NACRE_UPDATE_OK) {
        return NACRE_UPDATE_ERR_BAD_KEY_CERT;
    }
    memcpy(out, cert, sizeof cert);
    return NACRE_UPDATE_OK;
}
