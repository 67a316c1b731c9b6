#include "update_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

static void die(const char *what, nacre_update_status s)
{
    fprintf(stderr, "update test support: %s: %s\n", what, nacre_update_strerror(s));
    abort();
}

void upd_keys_make(struct upd_keys *k, uint8_t tag, uint32_t epoch)
{
    uint8_t sk[64];
    if (sodium_init() < 0) {
        abort();
    }
    memset(k, 0, sizeof *k);
    memset(k->root_seed, tag, sizeof k->root_seed);
    k->root_seed[0] = 'R';
    memset(k->signer_seed, tag, sizeof k->signer_seed);
    k->signer_seed[0] = 'S';
    crypto_sign_seed_keypair(k->root_pk, sk, k->root_seed);
    crypto_sign_seed_keypair(k->signer_pk, sk, k->signer_seed);
    sodium_memzero(sk, sizeof sk);
    nacre_image_key_id(k->root_hash, k->root_pk);
    k->epoch = epoch;
    nacre_update_status s = nacre_keycert_create(k->cert, k->root_seed, k->signer_pk, epoch);
    if (s != NACRE_UPDATE_OK) {
        die("keycert_create", s);
    }
}

uint8_t *upd_image(size_t *len, const struct upd_keys *k, int use_cert, const char *component,
                   const char *version, uint32_t security_counter, size_t payload_len, uint8_t fill)
{
    struct nacre_image_params params;
    memset(&params, 0, sizeof params);
    params.component = component;
    nacre_update_status s = nacre_image_version_parse(version, &params.version);
    if (s != NACRE_UPDATE_OK) {
        die("version", s);
    }
    params.security_counter = security_counter;
    memcpy(params.signer_pk, use_cert ? k->signer_pk : k->root_pk, 32);

    uint8_t *payload = malloc(payload_len ? payload_len : 1);
    if (payload == NULL) {
        abort();
    }
    for (size_t i = 0; i < payload_len; i++) {
        payload[i] = (uint8_t)(fill + i);
    }
    uint8_t *image = NULL;
    s = nacre_image_create(&image, len, payload, payload_len, &params);
    free(payload);
    if (s != NACRE_UPDATE_OK) {
        die("image_create", s);
    }
    s = nacre_image_sign(image, *len, use_cert ? k->signer_seed : k->root_seed,
                         use_cert ? k->cert : NULL);
    if (s != NACRE_UPDATE_OK) {
        die("image_sign", s);
    }
    return image;
}

void upd_policy(struct nacre_image_policy *pol, const struct upd_keys *k, const char *component)
{
    memset(pol, 0, sizeof *pol);
    pol->root_key_hash = k->root_hash;
    pol->component = component;
}
