/*
 * Fuzz target: nacre_image_parse and nacre_image_verify on arbitrary bytes.
 * An image arrives from the network and sits in a slot that an attacker may
 * have written; the boot stage parses it on every reset.
 *
 * The policy trusts the root key of the seed corpus (corpus/image/, made
 * from fuzz_image_root_seed below), so mutations of the signed seeds get
 * past the structure checks into the signer, signature, policy and payload
 * checks. The target aborts if verify accepts an image whose payload does
 * not hash to its signed digest or whose sizes do not add up, if parse and
 * verify disagree about the structure, or if an accepted version string is
 * not in canonical form. Reads outside the input are caught by ASan (the
 * input is an exactly-sized heap buffer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <nacre/image.h>

/*
 * The corpus root key: Ed25519 from this seed, a throwaway key for fuzzing.
 * The seeds in corpus/image/ were built with nacre_image_create and
 * nacre_image_sign: signed by this root (root-signed, empty-payload), or by
 * a signing key from the seed "nacre-fuzz-image-signer" (zero-padded to 32
 * bytes) that this root certified at epoch 2 (cert-signed, dependencies),
 * plus one unsigned image.
 */
static const uint8_t fuzz_image_root_seed[32] = {'n', 'a', 'c', 'r', 'e', '-', 'f', 'u', 'z', 'z',
                                                 '-', 'i', 'm', 'a', 'g', 'e', '-', 'r', 'o', 'o',
                                                 't'};

static uint8_t root_hash[NACRE_IMAGE_DIGEST_BYTES];
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void setup(void)
{
    uint8_t pk[32], sk[64];
    if (sodium_init() < 0 || crypto_sign_seed_keypair(pk, sk, fuzz_image_root_seed) != 0) {
        abort();
    }
    sodium_memzero(sk, sizeof sk);
    nacre_image_key_id(root_hash, pk);
    ready = 1;
}

/* A version that parses must print back as the very same text. */
static void version_round_trip(const uint8_t *data, size_t size)
{
    char text[48], again[48];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    struct nacre_image_version v;
    if (nacre_image_version_parse(text, &v) == NACRE_UPDATE_OK) {
        snprintf(again, sizeof again, "%u.%u.%u", (unsigned)v.major, (unsigned)v.minor,
                 (unsigned)v.patch);
        if (strcmp(text, again) != 0) {
            abort(); /* accepted a non-canonical version */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        setup();
    }
    if (size < NACRE_IMAGE_HEADER_BYTES) {
        version_round_trip(data, size);
    }

    struct nacre_image_policy policy;
    memset(&policy, 0, sizeof policy);
    policy.root_key_hash = root_hash;

    struct nacre_image_info parsed, verified;
    nacre_update_status ps = nacre_image_parse(data, size, &parsed);
    nacre_update_status vs = nacre_image_verify(data, size, &policy, &verified);

    /* verify parses the same bytes first: a structural refusal is the same. */
    if (ps != NACRE_UPDATE_OK && vs != ps) {
        abort();
    }
    if (ps == NACRE_UPDATE_OK) {
        if (parsed.payload_offset % NACRE_IMAGE_PAYLOAD_ALIGN != 0 ||
            parsed.payload_offset > NACRE_IMAGE_METADATA_MAX || parsed.payload_offset > size ||
            parsed.component[0] == '\0' || parsed.dependency_count > NACRE_IMAGE_DEPENDENCY_MAX) {
            abort();
        }
        const uint8_t *tbs = NULL;
        size_t tbs_len = 0;
        if (nacre_image_tbs(data, size, &tbs, &tbs_len) != NACRE_UPDATE_OK || tbs != data ||
            tbs_len >= parsed.payload_offset) {
            abort();
        }
        uint8_t m[NACRE_IMAGE_DIGEST_BYTES];
        crypto_generichash(m, sizeof m, tbs, tbs_len, NULL, 0);
        if (memcmp(m, parsed.measurement, sizeof m) != 0) {
            abort();
        }
    }
    if (vs == NACRE_UPDATE_OK) {
        uint8_t d[NACRE_IMAGE_DIGEST_BYTES];
        if (verified.image_size != size ||
            (uint64_t)verified.payload_offset + verified.payload_size != size) {
            abort(); /* accepted an image whose sizes do not add up */
        }
        crypto_generichash(d, sizeof d, data + verified.payload_offset, verified.payload_size, NULL, 0);
        if (memcmp(d, verified.payload_digest, sizeof d) != 0) {
            abort(); /* accepted a payload that does not match its digest */
        }
        if (memcmp(verified.measurement, parsed.measurement, sizeof d) != 0 ||
            !verified.has_signature) {
            abort();
        }
    }
    return 0;
}
