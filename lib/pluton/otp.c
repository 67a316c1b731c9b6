/*
 * otp.c - the fuse map: fields with check values.
 *
 * Each secret-bearing OTP field is followed by a 16-byte check value,
 * BLAKE2b-128("nacre/v1/otp-" || field || 0x00 || value). Fuses only go from
 * 0 to 1, so a field is programmed value first, check second; reading both
 * back tells apart "never written" (all zero), "written" (check matches) and
 * "interrupted or damaged" (anything else).
 */
#include <string.h>

#include "pluton_priv.h"

void otp_check_value(uint8_t out[OTP_CHECK_BYTES], const char *field, const uint8_t *value,
                     size_t len)
{
    static const char prefix[] = "nacre/v1/otp-";
    static const uint8_t zero = 0;
    crypto_generichash_blake2b_state h;

    crypto_generichash_blake2b_init(&h, NULL, 0, OTP_CHECK_BYTES);
    crypto_generichash_blake2b_update(&h, (const uint8_t *)prefix, sizeof prefix - 1);
    crypto_generichash_blake2b_update(&h, (const uint8_t *)field, strlen(field));
    crypto_generichash_blake2b_update(&h, &zero, 1);
    crypto_generichash_blake2b_update(&h, value, len);
    crypto_generichash_blake2b_final(&h, out, OTP_CHECK_BYTES);
    sodium_memzero(&h, sizeof h);
}

nacre_pluton_status otp_read_field(struct pluton_state *st, uint32_t value_off, uint32_t check_off,
                                   const char *field, uint8_t *value, size_t len,
                                   enum otp_field_state *state)
{
    uint8_t check[OTP_CHECK_BYTES];
    uint8_t expect[OTP_CHECK_BYTES];
    nacre_board_status b = nacre_board_otp_read(st->board, value_off, value, len);
    if (b == NACRE_BOARD_OK) {
        b = nacre_board_otp_read(st->board, check_off, check, sizeof check);
    }
    if (b != NACRE_BOARD_OK) {
        sodium_memzero(value, len);
        return pluton_from_board(b);
    }
    if (sodium_is_zero(value, len) && sodium_is_zero(check, sizeof check)) {
        *state = OTP_FIELD_UNSET;
    } else {
        otp_check_value(expect, field, value, len);
        *state = sodium_memcmp(expect, check, sizeof check) == 0 ? OTP_FIELD_SET
                                                                 : OTP_FIELD_INTERRUPTED;
    }
    if (*state != OTP_FIELD_SET) {
        sodium_memzero(value, len);
    }
    sodium_memzero(expect, sizeof expect);
    return NACRE_PLUTON_OK;
}

nacre_pluton_status otp_program_field(struct pluton_state *st, uint32_t value_off,
                                      uint32_t check_off, const char *field, const uint8_t *value,
                                      size_t len)
{
    uint8_t check[OTP_CHECK_BYTES];
    otp_check_value(check, field, value, len);
    nacre_board_status b = nacre_board_otp_program(st->board, value_off, value, len);
    if (b == NACRE_BOARD_OK) {
        b = nacre_board_otp_program(st->board, check_off, check, sizeof check);
    }
    sodium_memzero(check, sizeof check);
    return pluton_from_board(b);
}
