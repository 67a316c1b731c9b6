/*
 * secmon_priv.h - libsecmon internals shared by codec.c, eventlog.c, core.c
 * and the host server (server.c). Not installed: nothing here is part of
 * the public contract, and the hooks below exist so that the host server
 * can give the portable core what only a host has (a network broker, a
 * certificate read from a file, the firmware component name).
 */
#ifndef NACRE_SECMON_PRIV_H
#define NACRE_SECMON_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/secmon.h>
#include <nacre/update.h>

/* ---- codec (codec.c) ------------------------------------------------------ */

/*
 * Why a message was refused. The wire only carries MALFORMED or
 * UNKNOWN_CALL; the fault names the exact field so that a refusal's event
 * (and a test) can tell the malformations apart.
 */
enum secmon_fault {
    SECMON_FAULT_NONE = 0,
    SECMON_FAULT_MAGIC,    /* not "NQ" / "NR" */
    SECMON_FAULT_VERSION,  /* not NACRE_SECMON_ABI_VERSION */
    SECMON_FAULT_RESERVED, /* flags or a zero field is not zero */
    SECMON_FAULT_LENGTH,   /* payload length > NACRE_SECMON_PAYLOAD_MAX */
    SECMON_FAULT_PADDING,  /* a byte after the payload is not zero */
    SECMON_FAULT_CALL,     /* call number not defined */
    SECMON_FAULT_STATUS,   /* response status not a wire status, or data with an error */
    SECMON_FAULT_SIZE,     /* transport: the message is not NACRE_SECMON_MSG_BYTES long */
    SECMON_FAULT_LAYOUT,   /* the call's own payload layout (core) */
};

const char *secmon_fault_name(enum secmon_fault fault);

/* nacre_secmon_decode_request, also reporting which check failed. */
nacre_secmon_status secmon_decode_request_fault(const uint8_t msg[NACRE_SECMON_MSG_BYTES],
                                                unsigned *call, uint32_t *request_id,
                                                const uint8_t **payload, size_t *len,
                                                enum secmon_fault *fault);

/* 1 if status may appear in a response (OK and the errors that are not
 * "library only"). */
int secmon_status_on_wire(uint32_t status);

/* ---- security-event ring (eventlog.c) --------------------------------------- */

#define SECMON_EVENT_RECORD_BYTES 64u
/* Detail bytes a 64-byte record can hold; longer details are truncated. */
#define SECMON_EVENT_RECORD_DETAIL 13u

/* Where the ring's head is, so that appends need not rescan the area. */
struct secmon_evlog {
    int loaded;
    uint32_t record_size;      /* 64, or the write size if larger */
    uint32_t sector_size;
    uint32_t sectors;
    uint32_t slots_per_sector;
    uint32_t head_sector;      /* the sector being filled */
    uint32_t next_slot;        /* next never-written slot in it */
    uint32_t next_seq;         /* seq of the next record */
};

/* Scans the ring once and fills log. */
nacre_secmon_status secmon_evlog_load(struct nacre_board *board, struct secmon_evlog *log);
/* Appends ev (its seq is assigned here; *seq may be NULL). Loads log first if needed. */
nacre_secmon_status secmon_evlog_append(struct nacre_board *board, struct secmon_evlog *log,
                                        const struct nacre_secmon_event *ev, uint32_t *seq);

/* ---- core (core.c) ---------------------------------------------------------- */

#define SECMON_APP_KEY_BYTES 8u        /* first bytes of BLAKE2b-256(ComponentId) */
/*
 * Capacities a board may lower at compile time (-D for the whole build) so
 * that the core holds only what it can use; the defaults are the host's.
 * qemu-mps2-an505 serves no device certificate (0), grants no emulated UART
 * (0: its NS app has a real one) and has an 8-sector STORAGE area.
 */
#ifndef SECMON_CERT_MAX
#define SECMON_CERT_MAX 1000u
#endif
#ifndef SECMON_STORAGE_MAP_MAX
#define SECMON_STORAGE_MAP_MAX 64u     /* data sectors the storage area may use */
#endif
#define SECMON_STORAGE_MAP_PER_RECORD 3u
#ifndef SECMON_UART_COUNT
#define SECMON_UART_COUNT 8u
#endif
#define SECMON_UART_BUFFER 128u
#define SECMON_DEFAULT_RATE 200u

/*
 * The broker: the host server's hook for CONNECT. Called only after the
 * app's connection policy allowed host:port. Returns NACRE_SECMON_OK and a
 * connected socket in *fd (which the transport passes to the app and then
 * closes), or an error status.
 */
typedef nacre_secmon_status (*secmon_broker_fn)(void *ctx, unsigned app, const char *host,
                                                uint16_t port, int *fd);

struct secmon_app {
    int active;
    struct nacre_secmon_caps caps;
    uint8_t app_id[SECMON_APP_KEY_BYTES];
    nacre_pluton_key key;          /* derived from "app:" + ComponentId, device-bound */
    uint8_t context[5 + NACRE_SECMON_COMPONENT_ID_MAX]; /* "app:" + ComponentId */
    size_t context_len;
    uint32_t storage_pages;        /* quota in storage pages (sectors) */
    /* token bucket: tokens refill at `rate` per second up to `rate` */
    uint32_t tokens;
    uint64_t bucket_time;
    uint64_t rate_log_time;        /* last second a RATE_LIMITED refusal was logged */
    int rate_logged;
    uint32_t rate_suppressed;      /* refusals not logged since */
};

/* One page of one app's storage lives in one data sector. */
struct secmon_map_entry {
    uint8_t app_key[SECMON_APP_KEY_BYTES];
    uint16_t page;
    uint16_t phys;                 /* data sector index (0 = first data sector) */
};

struct secmon_storage {
    int loaded;
    int usable;                    /* 0: the area is too small for the scheme */
    uint32_t record_size, sector_size, data_sectors;
    uint32_t journal_slots;        /* record slots per journal sector (after the header) */
    uint32_t active;               /* journal sector holding the current table (0/1) */
    uint32_t generation;           /* its header's generation; 0 = unformatted */
    uint32_t next_slot;            /* next never-written record slot in it (1-based: 0 is the header) */
    uint32_t count;
    struct secmon_map_entry map[SECMON_STORAGE_MAP_MAX];
};

struct nacre_secmon_core {
    int initialized;
    nacre_pluton *p;
    struct nacre_board *board;
    unsigned rate;
    struct secmon_app apps[NACRE_SECMON_APPS_MAX];
    struct secmon_evlog evlog;
    uint32_t events_lost;          /* appends that failed (flash error) */
    struct secmon_storage storage;
    /* host hooks */
    secmon_broker_fn broker;
    void *broker_ctx;
    const char *update_component;
    uint8_t cert[SECMON_CERT_MAX > 0 ? SECMON_CERT_MAX : 1];
    size_t cert_len;
    /* emulated peripherals */
    uint32_t gpio;
    struct {
        uint8_t buf[SECMON_UART_BUFFER];
        uint32_t head, len;
    } uart[SECMON_UART_COUNT > 0 ? SECMON_UART_COUNT : 1];
    /* the one update stream (UPDATE_BEGIN .. FINISH) */
    int update_app;                /* owner app, or -1 */
    unsigned char installer[NACRE_INSTALL_STATE_BYTES + 64]; /* aligned at run time */
    uint8_t scratch[512];          /* page copy buffer (no large stack frames) */
    uint8_t req_copy[NACRE_SECMON_MSG_BYTES]; /* the request, if the caller gave one buffer for both */
};

void secmon_core_set_broker(struct nacre_secmon_core *core, secmon_broker_fn fn, void *ctx);
/* Copies der (1..SECMON_CERT_MAX bytes) as the CERTIFICATE answer; NULL/0 clears it. */
nacre_secmon_status secmon_core_set_certificate(struct nacre_secmon_core *core, const uint8_t *der,
                                                size_t len);
/* The firmware component UPDATE_* installs (NULL = any); the string must outlive the core. */
void secmon_core_set_update_component(struct nacre_secmon_core *core, const char *component);
/* Forgets an app (its channel is gone): destroys its key; add_app may reuse the index. */
void secmon_core_remove_app(struct nacre_secmon_core *core, unsigned app);
/* The transport received a message that is not NACRE_SECMON_MSG_BYTES long
 * (raw_len bytes, possibly truncated) from app: rate limit, log, answer
 * MALFORMED echoing whatever call and id bytes arrived. */
void secmon_core_refuse_size(struct nacre_secmon_core *core, unsigned app, uint64_t now, const uint8_t *raw,
                             size_t raw_len, uint8_t resp[NACRE_SECMON_MSG_BYTES]);
/*
 * For a transport that copies each request into its own memory anyway (the
 * Cortex-M33 veneers): copy it here, into the core's request buffer, and
 * nacre_secmon_core_handle() works on it in place (no second copy, no
 * second 1 KiB buffer). Valid for the life of the core.
 */
uint8_t *secmon_core_request_buffer(struct nacre_secmon_core *core);
/*
 * The update installer's memory (NACRE_INSTALL_STATE_BYTES, 64-aligned)
 * while no UPDATE_BEGIN..FINISH stream is open, else NULL. A board with a
 * small RAM lends it between calls, e.g. as nacre_update_config's
 * verify_buffer for nacre_update_confirm; the next UPDATE_BEGIN
 * re-initialises it.
 */
void *secmon_core_idle_installer(struct nacre_secmon_core *core);
/* The app id (first 8 bytes of BLAKE2b-256(component_id)). */
void secmon_app_id(uint8_t out[SECMON_APP_KEY_BYTES], const char *component_id);

#endif /* NACRE_SECMON_PRIV_H */
