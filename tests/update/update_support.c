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

void upd_device(struct nacre_test_device *d, const char *tag, const struct upd_keys *k,
                const struct nacre_host_geometry *geometry)
{
    nacre_test_device_new_geometry(d, tag, NULL, 0, geometry);
    nacre_pluton_status s = nacre_pluton_provision(d->p, k->root_hash);
    if (s != NACRE_PLUTON_OK) {
        fprintf(stderr, "upd_device: provision: %s\n", nacre_pluton_strerror(s));
        abort();
    }
}

struct nacre_host_geometry upd_small_geometry(uint32_t sector, uint32_t slot_sectors)
{
    struct nacre_host_geometry g;
    nacre_host_geometry_default(&g);
    g.sector_size = sector;
    g.write_size = 8;
    g.area_sectors[NACRE_FLASH_AREA_COUNTERS] = 2;
    g.area_sectors[NACRE_FLASH_AREA_BOOT_STATE] = 2;
    g.area_sectors[NACRE_FLASH_AREA_SLOT_A] = slot_sectors;
    g.area_sectors[NACRE_FLASH_AREA_SLOT_B] = slot_sectors;
    g.area_sectors[NACRE_FLASH_AREA_EVENT_LOG] = 1;
    g.area_sectors[NACRE_FLASH_AREA_STORAGE] = 1;
    return g;
}

nacre_update_status upd_install(struct nacre_test_device *d, const uint8_t *image, size_t len,
                                size_t chunk, const struct nacre_update_config *cfg)
{
    static nacre_installer in;
    uint32_t offset = 0;
    nacre_update_status s = nacre_install_begin(&in, d->p, d->board, cfg, &offset);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    if (offset > len) {
        fprintf(stderr, "upd_install: resume offset %u past the image (%zu)\n", offset, len);
        abort();
    }
    for (size_t off = offset; off < len && s == NACRE_UPDATE_OK; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        s = nacre_install_write(&in, image + off, n);
    }
    if (s == NACRE_UPDATE_OK) {
        s = nacre_install_finish(&in, NULL);
    }
    return s;
}

nacre_update_status upd_boot(struct nacre_test_device *d, const struct nacre_update_config *cfg,
                             struct nacre_boot_result *r)
{
    nacre_pluton_status ps = nacre_test_device_reset(d);
    if (ps != NACRE_PLUTON_OK) {
        return ps == NACRE_PLUTON_ERR_POWER_LOST ? NACRE_UPDATE_ERR_POWER_LOST : NACRE_UPDATE_ERR_PLUTON;
    }
    return nacre_boot_run(d->p, d->board, cfg, r);
}

nacre_update_status upd_confirm(struct nacre_test_device *d, const struct nacre_update_config *cfg)
{
    struct nacre_boot_result r;
    nacre_pluton_status ps = nacre_test_device_reset(d);
    if (ps != NACRE_PLUTON_OK) {
        return NACRE_UPDATE_ERR_PLUTON;
    }
    nacre_update_status s = nacre_boot_attach(d->p, d->board, cfg, &r);
    if (s == NACRE_UPDATE_OK) {
        s = nacre_update_confirm(d->p, d->board, cfg, NULL);
    }
    return s;
}
