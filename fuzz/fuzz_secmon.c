/*
 * Fuzz target: one request from an app to the security monitor's core.
 *
 * The input (padded with zeros or cut to NACRE_SECMON_MSG_BYTES) is handed
 * to nacre_secmon_core_handle as app 0's request, on a core set up once on
 * a device with a fixed seed (the core keeps using its flash: the event
 * ring and the storage area fill and wrap as the run goes on).
 *
 * App 0 holds MutableStorage (4 KiB), SoftwareUpdate, GPIO 0..3, UART 0,
 * I2C 1 and one allowed connection (127.0.0.1:9); it lacks
 * DeviceAuthentication and every other peripheral id and connection.
 * Checks beyond "no crash":
 *   - the response always decodes as a valid response, echoing the call
 *     and request id bytes;
 *   - a message the codec refuses gets exactly that refusal;
 *   - nothing the app's manifest denies (CERTIFICATE, an ungranted
 *     peripheral id, a connection outside the policy) ever answers OK;
 *   - an OK answer has the length its call defines;
 *   - only an OK CONNECT passes a file descriptor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>
#include <sodium.h>

#include <nacre/board_host.h>
#include <nacre/image.h>
#include <nacre/secmon.h>

#include "../lib/secmon/secmon_priv.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct nacre_board *g_board;
static nacre_pluton g_pluton;
static struct nacre_secmon_core *g_core;
static uint64_t g_runs;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_secmon set-up: %s\n", what);
    abort();
}

static int allow_one(const void *policy, const char *host, uint16_t port)
{
    (void)policy;
    return strcmp(host, "127.0.0.1") == 0 && port == 9;
}

/* A broker that connects nothing: it hands out /dev/null. */
static nacre_secmon_status fake_broker(void *ctx, unsigned app, const char *host, uint16_t port, int *fd)
{
    (void)ctx;
    (void)app;
    (void)host;
    (void)port;
    *fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return *fd >= 0 ? NACRE_SECMON_OK : NACRE_SECMON_ERR_INTERNAL;
}

static void set_up(void)
{
    char dir[512];
    const char *tmp = getenv("TMPDIR");
    char base[400];
    snprintf(base, sizeof base, "%s/nacre-fuzz-secmon-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (sodium_init() < 0 || mkdtemp(base) == NULL) {
        die("mkdtemp");
    }
    snprintf(dir, sizeof dir, "%s/dev", base);
    struct nacre_host_geometry g;
    nacre_host_geometry_default(&g);
    g.sector_size = 1024;
    g.area_sectors[NACRE_FLASH_AREA_SLOT_A] = 8;
    g.area_sectors[NACRE_FLASH_AREA_SLOT_B] = 8;
    g.area_sectors[NACRE_FLASH_AREA_EVENT_LOG] = 3;
    g.area_sectors[NACRE_FLASH_AREA_STORAGE] = 10;
    if (nacre_host_device_create(dir, &g, NULL) != NACRE_BOARD_OK ||
        nacre_host_board_open(dir, &g_board, NULL) != NACRE_BOARD_OK) {
        die("device");
    }
    nacre_host_board_set_entropy_seed(g_board, fuzz_device_seed);
    /* A root key, so that UPDATE_* streams reach the installer's checks. */
    uint8_t seed[32], pk[32], sk[64], root_hash[32];
    memset(seed, 0x2B, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(sk, sizeof sk);
    nacre_image_key_id(root_hash, pk);
    if (nacre_pluton_init(&g_pluton, g_board) != NACRE_PLUTON_OK ||
        nacre_pluton_provision(&g_pluton, root_hash) != NACRE_PLUTON_OK ||
        nacre_pluton_boot_complete(&g_pluton) != NACRE_PLUTON_OK) {
        die("pluton");
    }
    g_core = malloc(nacre_secmon_core_size());
    if (g_core == NULL || nacre_secmon_core_init(g_core, &g_pluton, g_board, 1000000u) != NACRE_SECMON_OK) {
        die("core");
    }
    secmon_core_set_broker(g_core, fake_broker, NULL);
    struct nacre_secmon_caps caps;
    memset(&caps, 0, sizeof caps);
    strcpy(caps.component_id, "f0220000-0000-4000-8000-00000000f022");
    caps.storage_bytes = 4096;
    caps.software_update = 1;
    caps.gpio_mask = 0xFu;
    caps.uart_mask = 1u;
    caps.i2c_mask = 1u << 1;
    caps.allows_connection = allow_one;
    unsigned app = 99;
    if (nacre_secmon_core_add_app(g_core, &caps, &app) != NACRE_SECMON_OK || app != 0) {
        die("add app");
    }
}

/* Length an OK answer to a well-formed request of `call` must have; -1: varies. */
static long ok_length(unsigned call, const uint8_t *payload, size_t len)
{
    switch (call) {
    case NACRE_SECMON_CALL_PING:
        return (long)len;
    case NACRE_SECMON_CALL_IDENTITY:
        return 133;
    case NACRE_SECMON_CALL_SIGN:
        return 64;
    case NACRE_SECMON_CALL_SEAL:
        return (long)(len + NACRE_PLUTON_SEAL_OVERHEAD);
    case NACRE_SECMON_CALL_UNSEAL:
        return len >= NACRE_PLUTON_SEAL_OVERHEAD ? (long)(len - NACRE_PLUTON_SEAL_OVERHEAD) : -2;
    case NACRE_SECMON_CALL_STORAGE_READ:
        return len == 8 ? (long)(payload[4] | (payload[5] << 8) | (payload[6] << 16) |
                                 ((uint32_t)payload[7] << 24))
                        : -2;
    case NACRE_SECMON_CALL_COUNTER_READ:
    case NACRE_SECMON_CALL_UPDATE_BEGIN:
        return 4;
    case NACRE_SECMON_CALL_UPDATE_FINISH:
        return 12;
    case NACRE_SECMON_CALL_STORAGE_WRITE:
    case NACRE_SECMON_CALL_LOG_EVENT:
    case NACRE_SECMON_CALL_CONNECT:
    case NACRE_SECMON_CALL_UPDATE_WRITE:
        return 0;
    default:
        return -1;
    }
}

/* 1 if the manifest of app 0 denies this (well-formed) request outright. */
static int denied(unsigned call, const uint8_t *payload, size_t len)
{
    if (call == NACRE_SECMON_CALL_CERTIFICATE) {
        return 1;
    }
    if (call == NACRE_SECMON_CALL_PERIPHERAL && len >= 5) {
        unsigned kind = payload[0], id = payload[1];
        uint32_t mask = kind == 1 ? 0xFu : kind == 2 ? 1u : kind == 3 ? 2u : 0xFFFFFFFFu;
        return id > 31 || (mask & (1u << id)) == 0;
    }
    if (call == NACRE_SECMON_CALL_CONNECT && len >= 4) {
        size_t hl = payload[2];
        unsigned port = payload[0] | (payload[1] << 8);
        return !(port == 9 && hl == 9 && len == 12 && memcmp(payload + 3, "127.0.0.1", 9) == 0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_core == NULL) {
        set_up();
    }
    uint8_t req[NACRE_SECMON_MSG_BYTES], resp[NACRE_SECMON_MSG_BYTES];
    memset(req, 0, sizeof req);
    memcpy(req, data, size < sizeof req ? size : sizeof req);

    unsigned call = 0;
    uint32_t id = 0;
    const uint8_t *payload = NULL;
    size_t len = 0;
    nacre_secmon_status codec = nacre_secmon_decode_request(req, &call, &id, &payload, &len);

    int fd = -7;
    nacre_secmon_core_handle(g_core, 0, 1700000000u + g_runs++ / 1000u, req, resp, &fd);

    unsigned rcall = 0;
    uint32_t rid = 0;
    nacre_secmon_status status;
    const uint8_t *rpayload;
    size_t rlen;
    if (nacre_secmon_decode_response(resp, &rcall, &rid, &status, &rpayload, &rlen) != NACRE_SECMON_OK) {
        abort(); /* every answer is a valid response */
    }
    if (rcall != req[3] || rid != ((uint32_t)req[4] | ((uint32_t)req[5] << 8) | ((uint32_t)req[6] << 16) |
                                   ((uint32_t)req[7] << 24))) {
        abort(); /* call and id are always echoed */
    }
    if (codec != NACRE_SECMON_OK && status != codec) {
        abort(); /* the codec's refusal is the answer */
    }
    if (codec == NACRE_SECMON_OK && denied(call, payload, len) && status == NACRE_SECMON_OK) {
        abort(); /* the manifest denies it: never OK */
    }
    if (status == NACRE_SECMON_OK) {
        long want = ok_length(call, payload, len);
        if (want >= 0 && (size_t)want != rlen) {
            abort();
        }
        if (call == NACRE_SECMON_CALL_PING && memcmp(rpayload, payload, len) != 0) {
            abort();
        }
    }
    if (fd >= 0) {
        if (call != NACRE_SECMON_CALL_CONNECT || status != NACRE_SECMON_OK) {
            abort(); /* a descriptor only with an accepted CONNECT */
        }
        close(fd);
    } else if (fd != -1) {
        abort();
    }
    return 0;
}
