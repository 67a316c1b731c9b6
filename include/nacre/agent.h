/*
 * nacre/agent.h - libnacre-agent: the device agent, the trusted normal-world
 * component of a Linux-class device that keeps it in touch with
 * nacre-service (docs/service-api.md). docs/agent.md describes the cycle.
 *
 * One cycle (nacre_agent_cycle):
 *
 *   power on     open the device, nacre_pluton_init, the boot stage (the first
 *                cycle of an agent, and after an install: nacre_boot_run;
 *                otherwise nacre_boot_attach, "as the last boot left it")
 *   attest       POST /v1/device/nonce, evidence by libattest with the booted
 *                image as its component, POST /v1/device/attest; the
 *                certificate is stored in the device directory. Done when
 *                there is no certificate, the Alias key changed (another
 *                image), a trial image awaits confirmation, the last
 *                attestation was refused, or less than a quarter of the
 *                certificate's life remains.
 *   confirm      a trial boot of an update is confirmed (nacre_update_confirm)
 *                only after the service accepted its attestation
 *   report       install reports (installed, confirmed, refused, reverted,
 *                failed), queued in the state file until the service took them
 *   events       the secmon security-event log above the last acknowledged seq
 *   update       GET /v1/device/update; an offered image is downloaded in
 *                Range chunks straight into libupdate's streaming installer
 *                (resumable), then the device "reboots" into a trial boot and
 *                the cycle goes on from "attest".
 *
 * Every request but nonce and attest is signed (RFC 9421, libnacre-httpsig)
 * with the Alias key inside libpluton: no private key leaves the root of trust.
 * The device is powered off (board closed, pluton wiped) between cycles.
 *
 * Files in the device directory (next to otp.bin / flash.bin):
 *   agent-state.json   last acknowledged event seq, queued reports, the
 *                      update in flight, refused offers (written atomically)
 *   agent-cert.pem     the device certificate the service issued
 *   agent-ca.pem       the tenant CA certificate that came with it
 *
 * THREAD SAFETY: one nacre_agent per thread; different agents (different
 * devices) may run concurrently. nacre_agent_global_init() must have been
 * called once, before any thread starts.
 */
#ifndef NACRE_AGENT_H
#define NACRE_AGENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. Values are pinned; retired codes are never reused. */
typedef enum nacre_agent_status {
    NACRE_AGENT_OK = 0,
    NACRE_AGENT_ERR_ARGUMENT = 1,      /**< NULL pointer, missing URL or directory */
    NACRE_AGENT_ERR_NO_MEMORY = 2,     /**< allocation failed */
    NACRE_AGENT_ERR_DEVICE = 3,        /**< the device could not be opened or booted */
    NACRE_AGENT_ERR_UNREACHABLE = 4,   /**< service unreachable / 5xx after every retry */
    NACRE_AGENT_ERR_SERVICE = 5,       /**< the service refused a request (4xx) */
    NACRE_AGENT_ERR_ATTESTATION = 6,   /**< the service refused the evidence */
    NACRE_AGENT_ERR_QUARANTINED = 7,   /**< the device is quarantined */
    NACRE_AGENT_ERR_STATE = 8,         /**< the state file or certificate cannot be written */
    NACRE_AGENT_ERR_INSTALL = 9,       /**< the installer failed (not a refusal: storage, ...) */
    NACRE_AGENT_ERR_INTERRUPTED = 10,  /**< a download was cut short (resumes next cycle) */
    NACRE_AGENT_ERR_STOPPED = 11,      /**< *config.stop was set */
    NACRE_AGENT_ERR_PROTOCOL = 12,     /**< the service's answer is not what the contract says */
} nacre_agent_status;

/** \brief One-line description of a status. Never NULL. */
const char *nacre_agent_strerror(nacre_agent_status status);

/** What a progress callback is told about. */
typedef enum nacre_agent_event {
    NACRE_AGENT_EV_BOOTED = 1,      /**< text: "slot A: firmware 1.0.0 (confirmed)" */
    NACRE_AGENT_EV_ATTESTED = 2,    /**< a certificate; value = its expiry */
    NACRE_AGENT_EV_ATTEST_FAILED = 3, /**< text: the service's failure names */
    NACRE_AGENT_EV_CONFIRMED = 4,   /**< the trial image was confirmed; text: version */
    NACRE_AGENT_EV_REPORTED = 5,    /**< an install report was taken; text: result */
    NACRE_AGENT_EV_EVENTS = 6,      /**< value = events uploaded, text: "last_seq N" */
    NACRE_AGENT_EV_OFFER = 7,       /**< an update offered; text: version, value = size */
    NACRE_AGENT_EV_DOWNLOAD = 8,    /**< value = bytes in the slot so far, total = size */
    NACRE_AGENT_EV_RESUME = 9,      /**< an interrupted download resumes at value */
    NACRE_AGENT_EV_INSTALLED = 10,  /**< the image is pending; text: version */
    NACRE_AGENT_EV_REFUSED = 11,    /**< the installer refused the image; text: reason */
    NACRE_AGENT_EV_REBOOT = 12,     /**< powering off and on again to trial-boot */
    NACRE_AGENT_EV_BACKOFF = 13,    /**< service unreachable; value = ms to wait, text: why */
    NACRE_AGENT_EV_ERROR = 14,      /**< a cycle failed; text: why */
    NACRE_AGENT_EV_REVERTED = 15,   /**< the boot stage reverted an unconfirmed update */
} nacre_agent_event;

/** One progress report. Pointers are valid during the callback only. */
struct nacre_agent_progress {
    nacre_agent_event event;
    const char *device_dir;
    const char *device_id; /**< 64 hex, or "" before the device booted */
    const char *text;      /**< never NULL */
    uint64_t value;
    uint64_t total;
};

typedef void (*nacre_agent_progress_fn)(const struct nacre_agent_progress *p, void *ctx);

struct nacre_agent_config {
    const char *service_url;   /**< e.g. "http://127.0.0.1:8443" (no trailing path) */
    const char *device_dir;    /**< the host device directory */
    const char *component;     /**< the component the device runs, or NULL for any */
    unsigned poll_seconds;     /**< nacre_agent_run: pause between cycles (0 = 60) */
    unsigned backoff_cap_seconds; /**< largest backoff delay (0 = 60) */
    unsigned max_attempts;     /**< tries per request while the service is unreachable
                                    or answers 5xx (0 = 8); then ERR_UNREACHABLE */
    unsigned max_cycles;       /**< nacre_agent_run: stop after this many cycles (0 = no limit) */
    uint32_t chunk_bytes;      /**< bytes per Range request (0 = 65536) */
    unsigned timeout_seconds;  /**< per HTTP request (0 = 30) */
    nacre_agent_progress_fn progress; /**< may be NULL */
    void *progress_ctx;
    volatile int *stop;        /**< if not NULL, a non-zero value stops at the next wait */
    const char *service_ca;    /**< https: PEM file of the CA(s) the service's TLS
                                    certificate must chain to, or NULL for the system's
                                    trust store; the certificate is always verified */
    /* ---- FOR TESTS ONLY ---- */
    int tamper_download;       /**< flip one byte of every received image, like an
                                    on-path attacker: the installer must refuse it */
    unsigned stop_after_chunks; /**< cut a download after this many chunks
                                     (ERR_INTERRUPTED): a lost connection (0 = off) */
};

/** What one cycle did and where the device stands. */
struct nacre_agent_cycle_result {
    nacre_agent_status status;
    char device_id[65];          /**< "" if the device could not boot */
    char version[36];            /**< the running image's version, "" if none */
    int attested;                /**< holds a certificate for the running image */
    uint64_t cert_expires_at;    /**< 0 if none */
    int attested_now;            /**< this cycle attested (first time or renewal) */
    int confirmed;               /**< this cycle confirmed a trial image */
    int installed;               /**< this cycle installed an image (then rebooted) */
    int refused;                 /**< this cycle refused an offered image */
    int reverted;                /**< the boot stage reverted an update */
    unsigned events_uploaded;
    unsigned reports_sent;
    int update_offered;          /**< the service offers an update not yet refused */
    int idle;                    /**< nothing done or left to do: attested, no report or
                                      event queued, no update to take */
    char detail[200];            /**< why, when status != OK */
};

typedef struct nacre_agent nacre_agent;

/** \brief Once per process, before threads: libsodium and libcurl global init. 0 = OK. */
int nacre_agent_global_init(void);

/**
 * \brief Create an agent for one device. The configuration is copied (its
 * strings must stay valid while the agent lives). Nothing is opened yet.
 */
nacre_agent_status nacre_agent_new(const struct nacre_agent_config *config, nacre_agent **out);

/** \brief Free an agent (the device is already closed between cycles). NULL is allowed. */
void nacre_agent_free(nacre_agent *agent);

/**
 * \brief One cycle: power on, attest if needed, confirm a trial, send
 * reports and events, take an offered update, power off. The result says
 * what happened; the return value is result->status.
 */
nacre_agent_status nacre_agent_cycle(nacre_agent *agent, struct nacre_agent_cycle_result *result);

/**
 * \brief Cycles every poll_seconds until max_cycles or *stop. A failed
 * cycle (service unreachable, ...) is reported and the next one tried.
 * Returns the status of the last cycle.
 */
nacre_agent_status nacre_agent_run(nacre_agent *agent, struct nacre_agent_cycle_result *last);

/**
 * \brief Device id of a DeviceID public key: 64 hex of BLAKE2b-256(pk),
 * the id the service uses.
 */
void nacre_agent_device_id(const uint8_t pk[32], char out[65]);

#ifdef __cplusplus
}
#endif

#endif /* NACRE_AGENT_H */
