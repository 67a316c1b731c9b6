/*
 * unit_main.c - target unit tests, run in QEMU by `meson test` (suite
 * mps2-unit). Secure-only image: known-answer tests of the libsodium build
 * for the target, the board contract on its semihosted files, libpluton's
 * provisioning and DICE boot on the board, the secmon codec and the CBOR
 * encoder subset. Prints one line per check and "N passed, M failed"; the
 * exit status is the number of failures.
 */
#include <string.h>

#include <sodium.h>

#include <nacre/board_mps2.h>
#include <nacre/pluton.h>
#include <nacre/secmon.h>

#include "cbor.h"
#include "console.h"

static unsigned passed, failed;

static void check(int ok, const char *name)
{
    con_puts(ok ? "ok - " : "not ok - ");
    con_puts(name);
    con_puts("\n");
    if (ok) {
        passed++;
    } else {
        failed++;
    }
}

static int unhex(uint8_t *out, const char *hex, size_t len)
{
    size_t bin_len;
    return sodium_hex2bin(out, len, hex, strlen(hex), NULL, &bin_len, NULL) == 0 && bin_len == len;
}

/* RFC 8032 §7.1, TEST 1 (empty message). */
static void test_ed25519(void)
{
    uint8_t seed[32], pk[32], sk[64], want_pk[32], want_sig[64], sig[64];
    check(unhex(seed, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", 32) &&
              unhex(want_pk, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", 32) &&
              unhex(want_sig, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b", 64),
          "rfc8032 vectors parse");
    crypto_sign_ed25519_seed_keypair(pk, sk, seed);
    check(memcmp(pk, want_pk, 32) == 0, "ed25519 seed_keypair matches RFC 8032 test 1");
    crypto_sign_ed25519_detached(sig, NULL, (const uint8_t *)"", 0, sk);
    check(memcmp(sig, want_sig, 64) == 0, "ed25519 sign matches RFC 8032 test 1");
    check(crypto_sign_ed25519_verify_detached(sig, (const uint8_t *)"", 0, pk) == 0, "ed25519 verify accepts");
    sig[63] ^= 0x10;
    check(crypto_sign_ed25519_verify_detached(sig, (const uint8_t *)"", 0, pk) != 0,
          "ed25519 verify refuses a flipped bit");
    sodium_memzero(sk, sizeof sk);
}

/* RFC 8032 §7.1, TEST 2 (one-byte message 0x72). */
static void test_ed25519_2(void)
{
    uint8_t seed[32], pk[32], sk[64], want_pk[32], want_sig[64], sig[64];
    const uint8_t m = 0x72;
    unhex(seed, "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", 32);
    unhex(want_pk, "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", 32);
    unhex(want_sig, "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00", 64);
    crypto_sign_ed25519_seed_keypair(pk, sk, seed);
    crypto_sign_ed25519_detached(sig, NULL, &m, 1, sk);
    check(memcmp(pk, want_pk, 32) == 0 && memcmp(sig, want_sig, 64) == 0,
          "ed25519 matches RFC 8032 test 2");
    check(crypto_sign_ed25519_verify_detached(sig, &m, 1, pk) == 0 &&
              crypto_sign_ed25519_verify_detached(sig, (const uint8_t *)"\x73", 1, pk) != 0,
          "ed25519 verify: right message accepted, other message refused");
    sodium_memzero(sk, sizeof sk);
}

/* FIPS 180-4 examples: SHA-512 of "abc" (one block), of the 896-bit
 * two-block message, and of 1,000 'a' (eight blocks, streamed unevenly). */
static void test_sha512(void)
{
    uint8_t want[64], got[64];
    unhex(want, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f", 64);
    crypto_hash_sha512(got, (const uint8_t *)"abc", 3);
    check(memcmp(got, want, 64) == 0, "sha512(abc) matches FIPS 180-4");
    static const char m2[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                             "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    unhex(want, "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
                "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909", 64);
    crypto_hash_sha512(got, (const uint8_t *)m2, sizeof m2 - 1);
    check(memcmp(got, want, 64) == 0, "sha512(896-bit message) matches FIPS 180-4");
    static uint8_t a[1000];
    memset(a, 'a', sizeof a);
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, a, 1);
    crypto_hash_sha512_update(&st, a + 1, 200);
    crypto_hash_sha512_update(&st, a + 201, 799);
    crypto_hash_sha512_final(&st, got);
    unhex(want, "67ba5535a46e3f86dbfbed8cbbaf0125c76ed549ff8b0b9e03e0c88cf90fa634"
                "fa7b12b47d77b694de488ace8d9a65967dc96df599727d3292a8d9d447709c97", 64);
    check(memcmp(got, want, 64) == 0, "sha512 streamed in uneven chunks");
}

/* RFC 7693 Appendix A: BLAKE2b-512("abc"). */
static void test_blake2b(void)
{
    uint8_t want[64], got[64];
    unhex(want, "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
                "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923", 64);
    crypto_generichash_blake2b(got, 64, (const uint8_t *)"abc", 3, NULL, 0);
    check(memcmp(got, want, 64) == 0, "blake2b-512(abc) matches RFC 7693");
}

static void test_aead(void)
{
    uint8_t key[32] = {1}, nonce[24] = {2}, ct[16 + 5], pt[5];
    unsigned long long ct_len, pt_len;
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ct_len, (const uint8_t *)"hello", 5, NULL, 0, NULL,
                                               nonce, key);
    check(crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &pt_len, NULL, ct, ct_len, NULL, 0, nonce, key) == 0 &&
              pt_len == 5 && memcmp(pt, "hello", 5) == 0,
          "xchacha20poly1305 round trip");
    ct[0] ^= 1;
    check(crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &pt_len, NULL, ct, ct_len, NULL, 0, nonce, key) != 0,
          "xchacha20poly1305 refuses a tampered ciphertext");
}

static void test_board(struct nacre_board *b)
{
    uint8_t v[4], w[16];
    struct nacre_flash_area a;
    check(nacre_board_otp_program(b, 200, (const uint8_t[]){0x0F}, 1) == NACRE_BOARD_OK &&
              nacre_board_otp_program(b, 200, (const uint8_t[]){0xF0}, 1) == NACRE_BOARD_OK &&
              nacre_board_otp_read(b, 200, v, 1) == NACRE_BOARD_OK && v[0] == 0xFF,
          "otp program ORs bits (0x0F then 0xF0 gives 0xFF)");
    check(nacre_board_otp_read(b, 254, v, 4) == NACRE_BOARD_ERR_RANGE, "otp read past the end is RANGE");
    check(nacre_board_otp_lock_read(b, 196, 8) == NACRE_BOARD_OK &&
              nacre_board_otp_read(b, 200, v, 1) == NACRE_BOARD_ERR_LOCKED &&
              nacre_board_otp_program(b, 199, v, 2) == NACRE_BOARD_ERR_LOCKED,
          "otp lock refuses read and program until reset");
    check(nacre_board_flash_area(b, NACRE_FLASH_AREA_SLOT_A, &a) == NACRE_BOARD_OK && a.size == 96u * 4096u &&
              a.sector_size == 4096 && a.write_size == 8,
          "flash geometry of SLOT_A");
    check(nacre_board_flash_area(b, NACRE_FLASH_AREA_COUNT, &a) == NACRE_BOARD_ERR_ARGUMENT,
          "unknown area is ARGUMENT");
    memset(w, 0x5A, sizeof w);
    check(nacre_board_flash_erase(b, NACRE_FLASH_AREA_STORAGE, 0, 4096) == NACRE_BOARD_OK &&
              nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 8, w, 16) == NACRE_BOARD_OK,
          "flash erase then write");
    check(nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 8, w, 8) == NACRE_BOARD_ERR_NOT_ERASED,
          "flash write over written bytes is NOT_ERASED");
    check(nacre_board_flash_write(b, NACRE_FLASH_AREA_STORAGE, 4, w, 8) == NACRE_BOARD_ERR_ALIGNMENT,
          "flash write off write_size is ALIGNMENT");
    check(nacre_board_flash_erase(b, NACRE_FLASH_AREA_STORAGE, 100, 4096) == NACRE_BOARD_ERR_ALIGNMENT,
          "flash erase off sector is ALIGNMENT");
    check(nacre_board_flash_read(b, NACRE_FLASH_AREA_STORAGE, 0xFFFFFFFCu, w, 8) == NACRE_BOARD_ERR_RANGE,
          "flash read range check cannot wrap");
    check(nacre_board_flash_read(b, NACRE_FLASH_AREA_STORAGE, 0, w, 16) == NACRE_BOARD_OK && w[0] == 0xFF &&
              w[8] == 0x5A && w[15] == 0x5A,
          "flash reads back erased and written bytes");
    check(nacre_board_flash_erase(b, NACRE_FLASH_AREA_STORAGE, 0, 4096) == NACRE_BOARD_OK &&
              nacre_board_flash_read(b, NACRE_FLASH_AREA_STORAGE, 8, w, 8) == NACRE_BOARD_OK && w[0] == 0xFF,
          "flash erase restores 0xFF");
    uint8_t e1[32], e2[32];
    check(nacre_board_entropy(b, e1, 32) == NACRE_BOARD_OK && nacre_board_entropy(b, e2, 32) == NACRE_BOARD_OK &&
              memcmp(e1, e2, 32) != 0,
          "entropy stream does not repeat");
}

static void test_pluton(struct nacre_board *b)
{
    static nacre_pluton p;
    uint8_t root_hash[32] = {0x42}, pk[32], sig[64], r0[32] = {7};
    check(nacre_pluton_init(&p, b) == NACRE_PLUTON_OK, "pluton init");
    check(nacre_pluton_provision(&p, root_hash) == NACRE_PLUTON_OK, "pluton provision on the board");
    check(nacre_pluton_lifecycle_get(&p) == NACRE_PLUTON_LIFECYCLE_PROVISIONED, "lifecycle provisioned");
    check(nacre_pluton_measure_extend(&p, 0, r0) == NACRE_PLUTON_OK && nacre_pluton_boot_complete(&p) == NACRE_PLUTON_OK,
          "pluton DICE boot");
    uint8_t u[32];
    check(nacre_board_otp_read(b, 0x10, u, 32) == NACRE_BOARD_ERR_LOCKED, "UDS read-locked after boot");
    check(nacre_pluton_key_public(&p, NACRE_PLUTON_KEY_DEVICE_ID, pk) == NACRE_PLUTON_OK &&
              nacre_pluton_sign(&p, NACRE_PLUTON_KEY_DEVICE_ID, sig, "m", 1) == NACRE_PLUTON_OK &&
              nacre_pluton_verify(sig, "m", 1, pk) == NACRE_PLUTON_OK,
          "DeviceID signs, signature verifies");
    uint32_t c = 0;
    check(nacre_pluton_counter_increment(&p, 3, &c) == NACRE_PLUTON_OK && c == 1, "counter increments");
    nacre_pluton_deinit(&p);
}

static void test_codec(void)
{
    static uint8_t msg[NACRE_SECMON_MSG_BYTES];
    unsigned call;
    uint32_t id;
    const uint8_t *pl;
    size_t len;
    check(nacre_secmon_encode_request(msg, NACRE_SECMON_CALL_PING, 7, "hi", 2) == NACRE_SECMON_OK &&
              nacre_secmon_decode_request(msg, &call, &id, &pl, &len) == NACRE_SECMON_OK && call == 1 && id == 7 &&
              len == 2,
          "secmon codec round trip");
    msg[1000] = 1;
    check(nacre_secmon_decode_request(msg, &call, &id, &pl, &len) == NACRE_SECMON_ERR_MALFORMED,
          "secmon codec refuses non-zero padding");
}

static void test_cbor(void)
{
    unsigned char h[9];
    check(cbor_encode_uint(23, h, 9) == 1 && h[0] == 0x17, "cbor uint 23 is one byte");
    check(cbor_encode_uint(24, h, 9) == 2 && h[0] == 0x18 && h[1] == 24, "cbor uint 24 is two bytes");
    check(cbor_encode_uint(1000000, h, 9) == 5 && h[0] == 0x1a && h[1] == 0x00 && h[2] == 0x0f && h[3] == 0x42 &&
              h[4] == 0x40,
          "cbor uint 1000000 (RFC 8949 App. A)");
    check(cbor_encode_negint(99, h, 9) == 2 && h[0] == 0x38 && h[1] == 0x63, "cbor -100 (RFC 8949 App. A)");
    check(cbor_encode_tag(18, h, 9) == 1 && h[0] == 0xd2, "cbor tag 18");
    check(cbor_encode_uint(1ull << 40, h, 8) == 0, "cbor head refuses a short buffer");
}

int main(void);
int main(void)
{
    struct nacre_board *b;
    con_puts("mps2 unit tests\n");
    check(nacre_mps2_board_open(&b, -1) == NACRE_BOARD_OK, "board open (fresh files)");
    check(nacre_board_entropy(b, (uint8_t[4]){0}, 4) == NACRE_BOARD_ERR_ENTROPY,
          "no entropy before the seed fuse is programmed");
    uint8_t seed[32];
    memset(seed, 0x3C, sizeof seed);
    check(nacre_mps2_board_set_entropy_seed(b, seed) == NACRE_BOARD_OK, "program the entropy-seed fuse");
    check(sodium_init() >= 0, "sodium_init");
    test_ed25519();
    test_ed25519_2();
    test_sha512();
    test_blake2b();
    test_aead();
    test_board(b);
    test_codec();
    test_cbor();
    /* pluton needs an unlocked, blank OTP: the board test locked bytes
     * 196..203, outside pluton's fields. */
    test_pluton(b);
    con_u32(passed);
    con_puts(" passed, ");
    con_u32(failed);
    con_puts(" failed\n");
    return (int)failed;
}
