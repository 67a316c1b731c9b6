/*
 * Fuzz target: PEM key files (PKCS#8 private, SPKI public) as the nacre tool
 * reads them. Any input must give a status, never a crash; and a private key
 * that parses must give the same public key as the public-key parser.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <nacre/keyfile.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t seed[NACRE_KEYFILE_SEED_BYTES], pk[NACRE_KEYFILE_PUBLICKEY_BYTES];
    uint8_t pk2[NACRE_KEYFILE_PUBLICKEY_BYTES], sk[crypto_sign_SECRETKEYBYTES];
    const char *pem = (const char *)data;
    if (nacre_keyfile_parse_private(pem, size, seed) == NACRE_KEYFILE_OK) {
        crypto_sign_seed_keypair(pk, sk, seed);
        if (nacre_keyfile_parse_public(pem, size, pk2) != NACRE_KEYFILE_OK ||
            memcmp(pk, pk2, sizeof pk) != 0) {
            abort(); /* the two parsers disagree about the same key */
        }
        sodium_memzero(sk, sizeof sk);
        sodium_memzero(seed, sizeof seed);
    } else {
        (void)nacre_keyfile_parse_public(pem, size, pk);
    }
    return 0;
}
