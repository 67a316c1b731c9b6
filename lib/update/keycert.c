/*
 * keycert.c - signing-key certificates (layout in nacre/image.h and
 * docs/image-format.md).
 *
 * The root key stays offline; it only certifies signing keys, each at an
 * epoch. Raising the device's epoch counter revokes every certificate below
 * it without touching OTP. The certificate starts with its own magic so a
 * root signature over one can never be mistaken for a signature over image
 * bytes (which start with "NIMG"), and vice versa.
 */
#include <string.h>

#include <sodium.h>

#include <nacre/image.h>
#include "nacre_le.h"

#define KC_VERSION 1u
#define KC_SIGNED_BYTES 80u /* bytes 0..79 are signed; the signature follows */
#define KC_EPOCH 8u
#define KC_RESERVED 12u
#define KC_ROOT_PK 16u
#define KC_SIGNER_PK 48u
#define KC_SIGNATURE 80u

_Static_assert(KC_SIGNATURE + NACRE_IMAGE_SIGNATURE_BYTES == NACRE_KEYCERT_BYTES, "keycert layout");
_Static_assert(KC_SIGNER_PK + NACRE_IMAGE_PUBLICKEY_BYTES == KC_SIGNED_BYTES, "keycert layout");

static const uint8_t keycert_magic[4] = {'N', 'K', 'C', '1'};

nacre_update_status nacre_keycert_verify(const uint8_t cert[NACRE_KEYCERT_BYTES],
                                         struct nacre_keycert *out)
{
    if (cert == NULL) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    if (out != NULL) {
        memset(out, 0, sizeof *out);
    }
    /* One accepted encoding: magic, version, and zero bytes exactly. */
    if (memcmp(cert, keycert_magic, sizeof keycert_magic) != 0 || cert[4] != KC_VERSION ||
        cert[5] != 0 || cert[6] != 0 || cert[7] != 0 || le32_get(cert + KC_RESERVED) != 0) {
        return NACRE_UPDATE_ERR_BAD_KEY_CERT;
    }
    nacre_update_status s = NACRE_UPDATE_ERR_BAD_KEY_CERT;
    if (crypto_sign_ed25519_verify_detached(cert + KC_SIGNATURE, cert, KC_SIGNED_BYTES,
                                            cert + KC_ROOT_PK) == 0) {
        s = NACRE_UPDATE_OK;
    }
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    if (out != NULL) {
        out->epoch = le32_get(cert + KC_EPOCH);
        memcpy(out->root_pk, cert + KC_ROOT_PK, NACRE_IMAGE_PUBLICKEY_BYTES);
        memcpy(out->signer_pk, cert + KC_SIGNER_PK, NACRE_IMAGE_PUBLICKEY_BYTES);
    }
    return NACRE_UPDATE_OK;
}
