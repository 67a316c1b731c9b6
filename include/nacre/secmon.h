/*
 * nacre/secmon.h - libsecmon: the security monitor.
 *
 * Secmon is the only component that holds libpluton, the flash and the
 * counters. Apps reach it through the request ABI of nacre/secmon_abi.h,
 * one channel per app, and secmon decides who is calling from the channel,
 * never from the message.
 *
 * Three layers, so the same code serves every board:
 *   - the codec (nacre_secmon_encode_* / decode_*): portable, strict;
 *   - the core (struct nacre_secmon_core): portable request handling for a
 *     set of registered apps — capability checks, per-app keys, sealing,
 *     storage quotas, rate limits, the persistent security-event log;
 *   - the host server (struct nacre_secmon): a process that runs the boot
 *     stage, verifies and measures each app image, launches it in its
 *     sandbox (libsandbox) with a fresh socketpair channel, serves requests
 *     with poll(), brokers network connections, and records app crashes.
 * Apps use the client functions (nacre_app_*), which need only the channel.
 *
 * Success is NACRE_SECMON_OK (many-bit); compare with ==.
 */
#ifndef NACRE_SECMON_H
#define NACRE_SECMON_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/board.h>
#include <nacre/pluton.h>
#include <nacre/secmon_abi.h>

#ifdef __cplusplus
extern "C" {
#endif

const char *nacre_secmon_strerror(nacre_secmon_status status);
/** Short upper-case name of a status ("DENIED", "RATE_LIMITED", ...); NULL if not a status. */
const char *nacre_secmon_status_name(nacre_secmon_status status);
const char *nacre_secmon_call_name(unsigned call); /* "ping", "sign", ... or "unknown" */

/* ---- codec (portable) ----------------------------------------------------- */

NACRE_PLUTON_WUR nacre_secmon_status nacre_secmon_encode_request(uint8_t msg[NACRE_SECMON_MSG_BYTES],
                                                                unsigned call, uint32_t request_id,
                                                                const void *payload, size_t len);
/** Strict: every header field, the length and the zero padding. */
NACRE_PLUTON_WUR nacre_secmon_status nacre_secmon_decode_request(const uint8_t msg[NACRE_SECMON_MSG_BYTES],
                                                                unsigned *call, uint32_t *request_id,
                                                                const uint8_t **payload, size_t *len);
NACRE_PLUTON_WUR nacre_secmon_status nacre_secmon_encode_response(uint8_t msg[NACRE_SECMON_MSG_BYTES],
                                                                 unsigned call, uint32_t request_id,
                                                                 nacre_secmon_status status,
                                                                 const void *payload, size_t len);
NACRE_PLUTON_WUR nacre_secmon_status nacre_secmon_decode_response(const uint8_t msg[NACRE_SECMON_MSG_BYTES],
                                                                 unsigned *call, uint32_t *request_id,
                                                                 nacre_secmon_status *status,
                                                                 const uint8_t **payload, size_t *len);

/* ---- security-event log (portable; flash area EVENT_LOG) -------------------- */

enum nacre_secmon_event_type {
    NACRE_SECMON_EVENT_REFUSED = 1,       /**< a request refused (code = status, call in detail) */
    NACRE_SECMON_EVENT_VERIFY_FAILED = 2, /**< an image / blob failed verification */
    NACRE_SECMON_EVENT_APP_CRASH = 3,     /**< app killed by a signal (code = signal, addr = fault address) */
    NACRE_SECMON_EVENT_ROLLBACK = 4,      /**< a downgrade attempt */
    NACRE_SECMON_EVENT_CONNECTION_DENIED = 5, /**< connect outside AllowedConnections */
    NACRE_SECMON_EVENT_APP_LOG = 6,       /**< LOG_EVENT from an app */
    NACRE_SECMON_EVENT_APP_START = 7,     /**< an app launched (measurement in detail) */
    NACRE_SECMON_EVENT_APP_EXIT = 8,      /**< an app exited normally (code = exit status) */
    NACRE_SECMON_EVENT_SANDBOX_DEGRADED = 9, /**< a sandbox mechanism missing, run anyway (--degrade) */
};

#define NACRE_SECMON_EVENT_DETAIL_MAX 40u

struct nacre_secmon_event {
    uint32_t seq;              /**< monotonically increasing */
    uint64_t time;             /**< seconds since the epoch (0 if the board has no clock) */
    uint8_t type;              /**< nacre_secmon_event_type */
    uint8_t app_id[8];         /**< first 8 bytes of BLAKE2b-256(ComponentId); zero for secmon itself */
    uint32_t code;
    uint64_t addr;
    char detail[NACRE_SECMON_EVENT_DETAIL_MAX + 1]; /**< the flash record keeps the first 13
                                                       bytes (a record is 64 bytes) */
};

const char *nacre_secmon_event_type_name(unsigned type);

/**
 * \brief Append an event to the persistent ring. Power-cut safe: a torn
 * record is ignored on read; the oldest sector is erased when the ring wraps.
 */
NACRE_PLUTON_WUR nacre_secmon_status nacre_secmon_event_append(struct nacre_board *board,
                                                              const struct nacre_secmon_event *ev);
/** \brief Read every valid event, oldest first (callback returns non-zero to stop). */
NACRE_PLUTON_WUR nacre_secmon_status nacre_secmon_event_read(struct nacre_board *board,
                                                            int (*cb)(const struct nacre_secmon_event *ev, void *ctx),
                                                            void *ctx);

/* ---- core (portable) ------------------------------------------------------- */

/* Apps one core can hold. A board may lower it at compile time
 * (-DNACRE_SECMON_APPS_MAX=n for the whole build) to what it runs: each
 * app costs ~180 bytes of core memory (qemu-mps2-an505 has one NS app). */
#ifndef NACRE_SECMON_APPS_MAX
#define NACRE_SECMON_APPS_MAX 8u
#endif
#define NACRE_SECMON_COMPONENT_ID_MAX 36u  /**< a UUID in text form */

/** What an app may do; filled from its manifest (libsandbox) by the server. */
struct nacre_secmon_caps {
    char component_id[NACRE_SECMON_COMPONENT_ID_MAX + 1];
    uint32_t storage_bytes;        /**< MutableStorage SizeKB * 1024; 0 = none */
    int device_authentication;     /**< DeviceAuthentication */
    int software_update;           /**< SoftwareUpdate */
    uint32_t gpio_mask, uart_mask, i2c_mask; /**< granted peripheral ids (bit n = id n) */
    /** The host-only connection policy: returns 1 if host:port is allowed. */
    int (*allows_connection)(const void *policy, const char *host, uint16_t port);
    const void *connection_policy;
};

struct nacre_secmon_core; /* opaque; see nacre_secmon_core_size() */

/** Bytes of memory a core needs (static allocation on a microcontroller). */
size_t nacre_secmon_core_size(void);

/**
 * \brief Start a core on a booted pluton and its board.
 * rate: requests per second each app may make (token bucket, burst = rate).
 */
NACRE_PLUTON_WUR nacre_secmon_status nacre_secmon_core_init(struct nacre_secmon_core *core, nacre_pluton *p,
                                                           struct nacre_board *board, unsigned rate);

/** \brief Register an app; *app receives its index (the channel identity). */
NACRE_PLUTON_WUR nacre_secmon_status nacre_secmon_core_add_app(struct nacre_secmon_core *core,
                                                              const struct nacre_secmon_caps *caps,
                                                              unsigned *app);

/**
 * \brief Handle one request from app `app` (established by the transport,
 * never by the message) and write the response. Refusals are logged.
 * *out_fd receives a file descriptor to pass back (CONNECT on the host), or -1.
 * now: seconds since the epoch (rate limiting, event times).
 */
void nacre_secmon_core_handle(struct nacre_secmon_core *core, unsigned app, uint64_t now,
                              const uint8_t req[NACRE_SECMON_MSG_BYTES],
                              uint8_t resp[NACRE_SECMON_MSG_BYTES], int *out_fd);

/** \brief Record an event for app (or NACRE_SECMON_APPS_MAX for secmon itself). */
void nacre_secmon_core_log(struct nacre_secmon_core *core, unsigned app, uint64_t now, unsigned type,
                           uint32_t code, uint64_t addr, const char *detail);

void nacre_secmon_core_deinit(struct nacre_secmon_core *core);

/* ---- host server --------------------------------------------------------------- */

struct nacre_secmon;

struct nacre_secmon_config {
    const char *device_dir;   /**< the host device */
    const char *component;    /**< firmware component for the boot stage (NULL = any) */
    const char *certificate;  /**< device certificate file (PEM or DER) served to apps, or NULL */
    unsigned rate;            /**< requests/s per app (0 = default 200) */
    int allow_degraded;       /**< run apps even if a sandbox mechanism is missing (logged) */
    int app_stdio_fd;         /**< where apps' stdout/stderr go (-1 = /dev/null; note that a
                                   zero-filled config means fd 0) */
};

/** \brief Boot the device (boot stage), start the core. */
NACRE_PLUTON_WUR nacre_secmon_status nacre_secmon_start(struct nacre_secmon **out,
                                                       const struct nacre_secmon_config *cfg);

/**
 * \brief Verify a signed app image (libupdate, against the device's root key;
 * the image component must equal the manifest's Name — a ComponentId UUID
 * does not fit an image component, and the signed manifest carries it),
 * parse its package and manifest
 * (libsandbox), extend pluton R1 with its measurement, and launch it in its
 * sandbox with a fresh channel. Refusals are logged.
 */
NACRE_PLUTON_WUR nacre_secmon_status nacre_secmon_launch(struct nacre_secmon *sm, const uint8_t *image,
                                                        size_t image_len, char *error, size_t error_max);

/** \brief Serve requests for up to timeout_ms; returns the number of apps still
 * running, or -1 (NULL server, poll failure). */
int nacre_secmon_serve(struct nacre_secmon *sm, int timeout_ms);

/** \brief Stop every app (SIGKILL after a grace period), close the device, wipe. */
void nacre_secmon_stop(struct nacre_secmon *sm);

/** \brief The running core (for tests and tools). */
struct nacre_secmon_core *nacre_secmon_core_of(struct nacre_secmon *sm);

/* ---- app side (client) ------------------------------------------------------------ */

/** The channel fd number an app inherits; also in env NACRE_SECMON_FD. */
#define NACRE_SECMON_APP_FD 3

/**
 * \brief One request/response on the channel. resp_len may be NULL;
 * passed_fd (may be NULL) receives an fd passed back, or -1.
 */
NACRE_PLUTON_WUR nacre_secmon_status nacre_app_call(int channel, unsigned call, const void *req,
                                                   size_t req_len, void *resp, size_t resp_max,
                                                   size_t *resp_len, int *passed_fd);

#ifdef __cplusplus
}
#endif

#endif /* NACRE_SECMON_H */
