/*
 * nacre/pluton.h - libpluton, the hardware root of trust.
 *
 * libpluton owns the device secrets. It reads the Unique Device Secret (UDS)
 * from OTP, derives keys from it in DICE layers, and hands callers key
 * *handles*: no function in this API returns a private key or the UDS.
 *
 *   UDS (OTP, 32 bytes, read-locked after boot)
 *    |-- DeviceID key   = Ed25519(KDF(UDS, "device-id"))      stable for life
 *    |-- CDI            = KDF(UDS, "cdi", R0)                  R0 = measured firmware
 *    |    |-- Alias key = Ed25519(KDF(CDI, "alias"))           changes with firmware
 *    |    `-- firmware-bound derived keys  KDF(CDI, "key", label)
 *    |-- device-bound derived keys          KDF(UDS, "derive") -> KDF(., "key", label)
 *    |-- sealing root                       KDF(UDS, "seal")
 *    `-- counter MAC key                    KDF(UDS, "counter-mac")
 *
 * The KDF is keyed BLAKE2b-256 over a domain-separated label; docs/pluton.md
 * gives the exact byte strings.
 *
 * Life of a pluton instance (one per device, one per reset):
 *   nacre_pluton_init()            power-on reset: reads OTP, registers zeroed
 *   nacre_pluton_measure_extend()  the boot stage measures the next stage into R0
 *   nacre_pluton_boot_complete()   DICE derivation, then UDS read-locked and R0 frozen
 *   ... sign / derive / seal / counters ...
 *   nacre_pluton_deinit()          wipes every secret
 *
 * Lifecycle: BLANK -> PROVISIONED -> SECURED, recorded in OTP so it can only
 * move forward. OTP writes happen only before SECURED; key, seal and counter
 * operations need at least PROVISIONED.
 *
 * Return values: every function returns nacre_pluton_status. Success is
 * NACRE_PLUTON_OK, a value many bits away from every error code, so that a
 * single glitched bit cannot turn a refusal into an acceptance. Always test
 * `status == NACRE_PLUTON_OK`, never `!status`.
 *
 * THREAD SAFETY: an instance is used by one thread at a time; instances for
 * different boards are independent.
 *
 * WARNING: struct nacre_pluton holds secrets (derived keys, CDI). On a hosted
 * system put it in memory that is not swapped and is guarded (sodium_malloc),
 * and always call nacre_pluton_deinit(), which wipes it.
 */
#ifndef NACRE_PLUTON_H
#define NACRE_PLUTON_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/board.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define NACRE_PLUTON_WUR __attribute__((warn_unused_result))
#else
#define NACRE_PLUTON_WUR
#endif

/** Status codes. Values are pinned; retired codes are never reused. */
typedef enum nacre_pluton_status {
    NACRE_PLUTON_OK = 0x3CA5965A,                /**< success (many-bit value) */
    NACRE_PLUTON_ERR_ARGUMENT = 1,               /**< NULL pointer, bad id, bad length */
    NACRE_PLUTON_ERR_BUFFER_TOO_SMALL = 2,       /**< output buffer too small */
    NACRE_PLUTON_ERR_NOT_PROVISIONED = 3,        /**< lifecycle is BLANK */
    NACRE_PLUTON_ERR_ALREADY_PROVISIONED = 4,    /**< provisioning twice */
    NACRE_PLUTON_ERR_OTP_LOCKED = 5,             /**< lifecycle SECURED: OTP is closed */
    NACRE_PLUTON_ERR_NOT_BOOTED = 6,             /**< keys need nacre_pluton_boot_complete() */
    NACRE_PLUTON_ERR_ALREADY_BOOTED = 7,         /**< UDS already locked until reset */
    NACRE_PLUTON_ERR_REGISTER_LOCKED = 8,        /**< R0 is frozen after boot */
    NACRE_PLUTON_ERR_BAD_HANDLE = 9,             /**< unknown or destroyed key handle */
    NACRE_PLUTON_ERR_NO_KEY_SLOT = 10,           /**< key table full */
    NACRE_PLUTON_ERR_BAD_SIGNATURE = 11,         /**< signature does not verify */
    NACRE_PLUTON_ERR_COUNTER_ROLLBACK = 12,      /**< counter would go backwards */
    NACRE_PLUTON_ERR_COUNTER_OVERFLOW = 13,      /**< counter at its maximum */
    NACRE_PLUTON_ERR_SEAL_FORMAT = 14,           /**< sealed blob malformed */
    NACRE_PLUTON_ERR_SEAL_WRONG_DEVICE = 15,     /**< sealed on another device */
    NACRE_PLUTON_ERR_SEAL_MEASUREMENT = 16,      /**< bound measurements differ */
    NACRE_PLUTON_ERR_SEAL_AUTH = 17,             /**< tampered, or wrong context */
    NACRE_PLUTON_ERR_ENTROPY = 18,               /**< no entropy */
    NACRE_PLUTON_ERR_STORAGE = 19,               /**< board I/O failed */
    NACRE_PLUTON_ERR_STORAGE_CORRUPT = 20,       /**< counter storage unreadable */
    NACRE_PLUTON_ERR_POWER_LOST = 21,            /**< power cut: reset needed */
    NACRE_PLUTON_ERR_OTP_INTERRUPTED = 22,       /**< OTP partly programmed, unusable */
    NACRE_PLUTON_ERR_OTP_CORRUPT = 23,           /**< OTP check values do not match */
    NACRE_PLUTON_ERR_CRYPTO = 24,                /**< crypto primitive failed */
    NACRE_PLUTON_ERR_NOT_SET = 25,               /**< optional OTP field not programmed */
    NACRE_PLUTON_ERR_NOT_INITIALIZED = 26,       /**< instance not initialised */
    NACRE_PLUTON_ERR_NOT_SECURABLE = 27,         /**< SECURED needs a root key hash */
} nacre_pluton_status;

/** Lifecycle states, in the only order they can be reached. */
typedef enum nacre_pluton_lifecycle {
    NACRE_PLUTON_LIFECYCLE_BLANK = 0,       /**< no UDS; only provisioning allowed */
    NACRE_PLUTON_LIFECYCLE_PROVISIONED = 1, /**< UDS set; debug open; OTP writable */
    NACRE_PLUTON_LIFECYCLE_SECURED = 2,     /**< debug locked; OTP closed for good */
} nacre_pluton_lifecycle;

#define NACRE_PLUTON_UDS_BYTES 32u
#define NACRE_PLUTON_DIGEST_BYTES 32u     /**< measurement / hash size */
#define NACRE_PLUTON_PUBLICKEY_BYTES 32u  /**< Ed25519 public key */
#define NACRE_PLUTON_SIGNATURE_BYTES 64u  /**< Ed25519 signature */
#define NACRE_PLUTON_SEED_BYTES 32u       /**< Ed25519 seed (for import) */
#define NACRE_PLUTON_REGISTER_COUNT 8u    /**< measurement registers R0..R7 */
#define NACRE_PLUTON_BOOT_REGISTER 0u     /**< R0: next stage, feeds the CDI */
#define NACRE_PLUTON_COUNTER_COUNT 8u     /**< monotonic counters 0..7 */
/* Derived + imported keys at once. A board may lower it at compile time
 * (-DNACRE_PLUTON_KEY_SLOTS=n for the whole build) to the keys it holds:
 * each slot is 100 bytes of NACRE_PLUTON_STATE_BYTES. */
#ifndef NACRE_PLUTON_KEY_SLOTS
#define NACRE_PLUTON_KEY_SLOTS 12u
#endif
#define NACRE_PLUTON_LABEL_MAX 64u        /**< max derive label / seal context */
#define NACRE_PLUTON_SEAL_HEADER_BYTES 88u
#define NACRE_PLUTON_SEAL_TAG_BYTES 16u
/** Sealed blob size = plaintext size + NACRE_PLUTON_SEAL_OVERHEAD. */
#define NACRE_PLUTON_SEAL_OVERHEAD (NACRE_PLUTON_SEAL_HEADER_BYTES + NACRE_PLUTON_SEAL_TAG_BYTES)
#define NACRE_PLUTON_SEAL_MAX_PLAINTEXT (64u * 1024u)

size_t nacre_pluton_seal_overhead(void);
size_t nacre_pluton_register_count(void);
size_t nacre_pluton_counter_count(void);

/** Key handles. The two DICE keys have fixed handles. */
typedef uint32_t nacre_pluton_key;
#define NACRE_PLUTON_KEY_DEVICE_ID ((nacre_pluton_key)0x0D1Du) /**< stable device identity */
#define NACRE_PLUTON_KEY_ALIAS ((nacre_pluton_key)0x0A1Au)     /**< firmware-bound identity */

/** What a derived key is bound to. */
typedef enum nacre_pluton_key_base {
    NACRE_PLUTON_KEY_BASE_DEVICE = 1,   /**< stable across firmware updates */
    NACRE_PLUTON_KEY_BASE_FIRMWARE = 2, /**< changes when the measured firmware changes */
} nacre_pluton_key_base;

/** Size of the opaque state; firmware may allocate it statically. 1,360
 * bytes plus 100 per key slot: 2,560 with the default 12 slots. A board may
 * set it (-D, whole build) to its exact need; libpluton refuses to compile
 * if the state does not fit. */
#ifndef NACRE_PLUTON_STATE_BYTES
#define NACRE_PLUTON_STATE_BYTES (1360u + 100u * NACRE_PLUTON_KEY_SLOTS)
#endif

/** Opaque instance. Its contents are private to libpluton. */
typedef struct nacre_pluton {
    _Alignas(16) unsigned char opaque[NACRE_PLUTON_STATE_BYTES];
} nacre_pluton;

/* ---- reset and lifecycle --------------------------------------------- */

/**
 * \brief Power-on reset: bind to a board, read OTP, zero the registers.
 *
 * The UDS is readable until nacre_pluton_boot_complete(). On a provisioned
 * device the OTP check values are verified here.
 *
 * \retval NACRE_PLUTON_OK           ready (any lifecycle)
 * \retval NACRE_PLUTON_ERR_OTP_CORRUPT / ERR_OTP_INTERRUPTED  OTP unusable
 * \retval NACRE_PLUTON_ERR_STORAGE  the board could not be read
 */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_init(nacre_pluton *p, struct nacre_board *board);

/** \brief Wipe every secret held by the instance. Safe on a zeroed instance. */
void nacre_pluton_deinit(nacre_pluton *p);

/**
 * \brief BLANK -> PROVISIONED: program a fresh UDS from board entropy,
 * optionally the hash of the image-signing root public key, format the
 * counter storage, then burn the lifecycle.
 *
 * The lifecycle is burned last, so a power cut never leaves a device that
 * claims to be provisioned with a partial UDS. It leaves a BLANK device —
 * and if the UDS was already written and verified, calling provision again
 * resumes with that UDS — or, if the cut fell inside a fuse write, one whose
 * init reports ERR_OTP_INTERRUPTED (fuses cannot be erased: scrap the part).
 * Resuming with a root_key_hash other than one already burned is refused.
 *
 * \param root_key_hash 32-byte BLAKE2b-256 of the root public key, or NULL.
 * \retval NACRE_PLUTON_ERR_ALREADY_PROVISIONED  not BLANK
 */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_provision(nacre_pluton *p,
                                                           const uint8_t *root_key_hash);

/**
 * \brief Program the root-key hash later (PROVISIONED only, once).
 * \retval NACRE_PLUTON_ERR_OTP_LOCKED  lifecycle SECURED
 * \retval NACRE_PLUTON_ERR_ALREADY_PROVISIONED  already programmed
 */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_set_root_key_hash(
    nacre_pluton *p, const uint8_t root_key_hash[NACRE_PLUTON_DIGEST_BYTES]);

/**
 * \brief PROVISIONED -> SECURED: lock debug and close OTP for good.
 * \retval NACRE_PLUTON_ERR_NOT_SECURABLE  no root-key hash programmed
 */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_secure(nacre_pluton *p);

/** \brief Current lifecycle (BLANK for an uninitialised instance). */
nacre_pluton_lifecycle nacre_pluton_lifecycle_get(const nacre_pluton *p);

/** \brief 1 if debug is locked (lifecycle SECURED), else 0. */
int nacre_pluton_debug_locked(const nacre_pluton *p);

/** \brief The root-key hash from OTP. \retval NACRE_PLUTON_ERR_NOT_SET none. */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_root_key_hash(
    const nacre_pluton *p, uint8_t out[NACRE_PLUTON_DIGEST_BYTES]);

/* ---- measurements and boot ------------------------------------------- */

/**
 * \brief Extend register reg: R = BLAKE2b-256(R || digest).
 * Registers cannot be written, only extended, and are zero after reset.
 * \retval NACRE_PLUTON_ERR_REGISTER_LOCKED  R0 after boot_complete
 */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_measure_extend(
    nacre_pluton *p, unsigned reg, const uint8_t digest[NACRE_PLUTON_DIGEST_BYTES]);

/** \brief Read register reg. */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_measure_read(
    const nacre_pluton *p, unsigned reg, uint8_t out[NACRE_PLUTON_DIGEST_BYTES]);

/**
 * \brief The boot stage's last call: derive CDI, DeviceID and Alias keys from
 * the UDS and R0, then read-lock the UDS in OTP and freeze R0 until reset.
 * \retval NACRE_PLUTON_ERR_ALREADY_BOOTED  called twice
 * \retval NACRE_PLUTON_ERR_NOT_PROVISIONED  BLANK device
 */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_boot_complete(nacre_pluton *p);

/** \brief 1 once nacre_pluton_boot_complete() succeeded, else 0. */
int nacre_pluton_booted(const nacre_pluton *p);

/**
 * \brief The boot seed: 32 random bytes, KDF("boot-seed") of a fresh draw of
 * the board's entropy at nacre_pluton_boot_complete() (never the raw draw),
 * the same until the next reset. Attestation reports it so a verifier can
 * tell two boots apart.
 * \retval NACRE_PLUTON_ERR_NOT_BOOTED  before boot_complete
 */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_boot_seed(const nacre_pluton *p,
                                                           uint8_t out[NACRE_PLUTON_DIGEST_BYTES]);

/* ---- keys -------------------------------------------------------------- */

/**
 * \brief Derive an Ed25519 key for a purpose (label, 1..NACRE_PLUTON_LABEL_MAX
 * bytes). The same label on the same device (and, for BASE_FIRMWARE, the same
 * firmware) always gives the same key; different labels give unrelated keys.
 */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_key_derive(nacre_pluton *p,
                                                            nacre_pluton_key_base base,
                                                            const void *label, size_t label_len,
                                                            nacre_pluton_key *out);

/**
 * \brief Import an Ed25519 seed as a volatile key (lost at reset), e.g. for
 * known-answer tests. The seed is copied in and the caller should wipe its copy.
 */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_key_import_ed25519(
    nacre_pluton *p, const uint8_t seed[NACRE_PLUTON_SEED_BYTES], nacre_pluton_key *out);

/** \brief Destroy a derived or imported key (the DICE keys cannot be). */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_key_destroy(nacre_pluton *p, nacre_pluton_key key);

/** \brief Export the public half of a key. */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_key_public(
    const nacre_pluton *p, nacre_pluton_key key, uint8_t pk[NACRE_PLUTON_PUBLICKEY_BYTES]);

/** \brief Ed25519 (RFC 8032, pure) signature of msg with key. */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_sign(nacre_pluton *p, nacre_pluton_key key,
                                                      uint8_t sig[NACRE_PLUTON_SIGNATURE_BYTES],
                                                      const void *msg, size_t msg_len);

/**
 * \brief Verify an Ed25519 signature (no secret involved; no instance needed).
 * Rejects non-canonical S and small-order public keys, as libsodium does.
 * \retval NACRE_PLUTON_OK  valid
 * \retval NACRE_PLUTON_ERR_BAD_SIGNATURE  anything else
 */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_verify(
    const uint8_t sig[NACRE_PLUTON_SIGNATURE_BYTES], const void *msg, size_t msg_len,
    const uint8_t pk[NACRE_PLUTON_PUBLICKEY_BYTES]);

/** \brief Random bytes from the board's entropy source. */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_random(nacre_pluton *p, void *buf, size_t len);

/* ---- monotonic counters ------------------------------------------------ */

/** \brief Read counter id (0..NACRE_PLUTON_COUNTER_COUNT-1). */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_counter_read(nacre_pluton *p, unsigned id,
                                                              uint32_t *value);

/**
 * \brief Add one to counter id and persist it before returning.
 * If power is cut, the counter afterwards reads either the old or the new
 * value, never less than the old one.
 * \param new_value  receives the new value; may be NULL.
 */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_counter_increment(nacre_pluton *p, unsigned id,
                                                                   uint32_t *new_value);

/**
 * \brief Raise counter id to value (no-op if equal).
 * \retval NACRE_PLUTON_ERR_COUNTER_ROLLBACK  value is below the current one
 */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_counter_advance(nacre_pluton *p, unsigned id,
                                                                 uint32_t value);

/* ---- sealed storage ----------------------------------------------------- */

/**
 * \brief Seal plaintext to this device, to context (0..NACRE_PLUTON_LABEL_MAX
 * bytes, e.g. an app id; may be empty), and to the current values of the
 * registers in reg_mask (bit n = Rn; 0 for none). XChaCha20-Poly1305.
 * Output layout in docs/pluton.md; *out_len = pt_len + NACRE_PLUTON_SEAL_OVERHEAD.
 */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_seal(nacre_pluton *p, uint8_t *out, size_t out_max,
                                                      size_t *out_len, const void *pt, size_t pt_len,
                                                      const void *context, size_t context_len,
                                                      uint32_t reg_mask);

/**
 * \brief Open a sealed blob. On any failure out holds no plaintext (at most
 * zeros). blob and out must not overlap.
 * \retval NACRE_PLUTON_ERR_SEAL_FORMAT        malformed blob
 * \retval NACRE_PLUTON_ERR_SEAL_WRONG_DEVICE  sealed on another device
 * \retval NACRE_PLUTON_ERR_SEAL_MEASUREMENT   bound registers hold other values now
 * \retval NACRE_PLUTON_ERR_SEAL_AUTH          tampered, or another context
 */
NACRE_PLUTON_WUR nacre_pluton_status nacre_pluton_unseal(nacre_pluton *p, uint8_t *out, size_t out_max,
                                                        size_t *out_len, const uint8_t *blob,
                                                        size_t blob_len, const void *context,
                                                        size_t context_len);

/* ---- names --------------------------------------------------------------- */

/** \brief One-line description of a status. Never NULL. */
const char *nacre_pluton_strerror(nacre_pluton_status status);

/** \brief "blank", "provisioned" or "secured". Never NULL. */
const char *nacre_pluton_lifecycle_name(nacre_pluton_lifecycle lifecycle);

/** \brief Library version, e.g. "0.1.0". */
const char *nacre_pluton_version(void);

#ifdef __cplusplus
}
#endif

#endif /* NACRE_PLUTON_H */
