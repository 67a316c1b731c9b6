/*
 * ns_app.c - the Non-secure example app: an unprivileged task that blinks
 * the LED and sends telemetry, reaching secmon only through the veneers
 * (nacre/mps2_veneers.h) with the same request codec as on the host. It
 * also carries the NS-side attack scenarios and the veneer benchmark.
 *
 * Everything the task touches is in its own memory (.task_bss, NS task
 * RAM) or read-only code; it prints and exits through SVCs to the kernel.
 *
 * Scenarios (first word after the image on the command line):
 *   run            telemetry app; confirms a trial boot      (default)
 *   noconfirm      the same, but never confirms (an update that never
 *                  becomes healthy, for the automatic revert)
 *   update         stream update.img to secmon (UPDATE_BEGIN/WRITE/FINISH)
 *   attack-secptr  pass a Secure pointer to the veneer        -> refused
 *   attack-overflow pass a length that wraps the address space -> refused
 *   attack-privptr pass the kernel's privileged RAM            -> refused
 *   attack-priv    read the kernel's privileged RAM           -> MemManage
 *   attack-devkey  try to get a signature by the device key   -> only ever
 *                  the app's own key; an undefined call is refused
 *   bench N        N secmon PINGs through the veneer
 *   bench-empty N  N calls of an empty veneer (the bare world switch)
 *   bench-codec N  N request/response codec round trips, no veneer
 *   bench-transport N  N transport-only veneer calls (checks and copies)
 */
#include <string.h>

#include <nacre/mps2_an505_map.h>
#include <nacre/mps2_veneers.h>
#include <nacre/secmon.h>

#include "ns.h"
#include "semihost.h"

#define TASK __attribute__((section(".task_bss")))

static uint8_t req[NACRE_SECMON_MSG_BYTES] TASK __attribute__((aligned(8)));
static uint8_t resp[NACRE_SECMON_MSG_BYTES] TASK __attribute__((aligned(8)));
static char line[256] TASK;
static size_t line_len TASK;
static uint8_t chunk[1000] TASK;

/* ---- output through the kernel ----------------------------------------- */

static void svc_puts(const char *s)
{
    register const char *r0 __asm__("r0") = s;
    __asm__ volatile("svc %0" ::"i"(NS_SVC_PUTS), "r"(r0) : "memory");
}

__attribute__((noreturn)) static void svc_exit(int code)
{
    register int r0 __asm__("r0") = code;
    for (;;) {
        __asm__ volatile("svc %0" ::"i"(NS_SVC_EXIT), "r"(r0) : "memory");
    }
}

static void out(const char *s)
{
    size_t n = strlen(s);
    if (line_len + n >= sizeof line) {
        n = sizeof line - 1 - line_len;
    }
    memcpy(line + line_len, s, n);
    line_len += n;
    line[line_len] = '\0';
}

static void out_hex(const uint8_t *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    char two[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        two[0] = d[p[i] >> 4];
        two[1] = d[p[i] & 15];
        out(two);
    }
}

static void out_u32(uint32_t v)
{
    char b[11];
    int i = 10;
    b[i] = '\0';
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    out(b + i);
}

static void flush(void)
{
    out("\n");
    svc_puts(line);
    line_len = 0;
    line[0] = '\0';
}

/* ---- secmon through the veneer ------------------------------------------ */

static uint32_t next_id TASK;

/* One call: encode, cross the veneer, decode. Returns the secmon status;
 * *pl / *len receive the response payload. */
static nacre_secmon_status call(unsigned c, const void *payload, size_t plen, const uint8_t **pl, size_t *len)
{
    uint32_t id = ++next_id;
    nacre_secmon_status s = nacre_secmon_encode_request(req, c, id, payload, plen);
    if (s != NACRE_SECMON_OK) {
        return s;
    }
    uint32_t t = nacre_nsc_secmon_call(req, sizeof req, resp, sizeof resp);
    if (t != NACRE_SECMON_OK) {
        return (nacre_secmon_status)t;
    }
    unsigned rc;
    uint32_t rid;
    nacre_secmon_status st;
    const uint8_t *p;
    size_t n;
    s = nacre_secmon_decode_response(resp, &rc, &rid, &st, &p, &n);
    if (s != NACRE_SECMON_OK || rid != id) {
        return NACRE_SECMON_ERR_IO;
    }
    if (pl != NULL) {
        *pl = p;
        *len = n;
    }
    return st;
}

static void status_line(const char *what, nacre_secmon_status s)
{
    out("NS: ");
    out(what);
    out(": ");
    const char *name = nacre_secmon_status_name(s);
    out(name != NULL ? name : "?");
    flush();
}

/* ---- the app ------------------------------------------------------------------ */

static int telemetry(void)
{
    const uint8_t *p;
    size_t n;
    int bad = 0;
    nacre_secmon_status s = call(NACRE_SECMON_CALL_PING, "hello", 5, &p, &n);
    bad |= s != NACRE_SECMON_OK || n != 5 || memcmp(p, "hello", 5) != 0;
    status_line("ping", s);
    s = call(NACRE_SECMON_CALL_IDENTITY, NULL, 0, &p, &n);
    bad |= s != NACRE_SECMON_OK || n != 133;
    if (s == NACRE_SECMON_OK && n >= 96) {
        out("NS: device id ");
        out_hex(p, 32);
        flush();
    }
    for (unsigned i = 0; i < 4; i++) { /* blinky: the LED is GPIO 0 */
        uint8_t g[5] = {1 /* GPIO */, 0 /* id */, 2 /* write */, (uint8_t)(i & 1), 0};
        s = call(NACRE_SECMON_CALL_PERIPHERAL, g, sizeof g, NULL, NULL);
        bad |= s != NACRE_SECMON_OK;
        out("NS: led ");
        out((i & 1) ? "on" : "off");
        flush();
    }
    uint8_t t[6] = {3 /* I2C */, 1 /* bus */, 1 /* read */, 0x48, 0x00, 0x00 /* register */};
    s = call(NACRE_SECMON_CALL_PERIPHERAL, t, sizeof t, &p, &n);
    bad |= s != NACRE_SECMON_OK || n != 2;
    if (s == NACRE_SECMON_OK && n == 2) {
        int16_t centi = (int16_t)(p[0] | (p[1] << 8));
        out("NS: telemetry temperature ");
        out_u32((uint32_t)(centi / 100));
        out(".");
        out_u32((uint32_t)((centi % 100) / 10));
        out(" C");
        flush();
    }
    static const char record[] = "telemetry:temp";
    s = call(NACRE_SECMON_CALL_SIGN, record, sizeof record - 1, &p, &n);
    bad |= s != NACRE_SECMON_OK || n != 64;
    status_line("signed telemetry", s);
    uint8_t lv[1 + 12] = {1};
    memcpy(lv + 1, "app started", 11);
    s = call(NACRE_SECMON_CALL_LOG_EVENT, lv, 12, NULL, NULL);
    bad |= s != NACRE_SECMON_OK;
    uint8_t id0[4] = {0, 0, 0, 0};
    s = call(NACRE_SECMON_CALL_COUNTER_READ, id0, 4, &p, &n);
    bad |= s != NACRE_SECMON_OK || n != 4;
    if (s == NACRE_SECMON_OK && n == 4) {
        out("NS: security counter ");
        out_u32((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        flush();
    }
    return bad;
}

static int update(void)
{
    const uint8_t *p;
    size_t n;
    int fd = sh_open("update.img", SH_MODE_RB);
    if (fd < 0) {
        out("NS: update: no update.img");
        flush();
        return 1;
    }
    long len = sh_flen(fd);
    nacre_secmon_status s = call(NACRE_SECMON_CALL_UPDATE_BEGIN, NULL, 0, &p, &n);
    uint32_t off = 0;
    if (s == NACRE_SECMON_OK && n == 4) {
        off = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
    while (s == NACRE_SECMON_OK && (long)off < len) {
        size_t k = (size_t)(len - (long)off) < sizeof chunk ? (size_t)(len - (long)off) : sizeof chunk;
        if (sh_seek(fd, off) != 0 || sh_read(fd, chunk, k) != 0) {
            s = NACRE_SECMON_ERR_IO;
            break;
        }
        s = call(NACRE_SECMON_CALL_UPDATE_WRITE, chunk, k, NULL, NULL);
        off += (uint32_t)k;
    }
    sh_close(fd);
    if (s == NACRE_SECMON_OK) {
        s = call(NACRE_SECMON_CALL_UPDATE_FINISH, NULL, 0, &p, &n);
    }
    status_line("update installed (pending, trial boot at the next reset)", s);
    return s != NACRE_SECMON_OK;
}

static int is(const char *scenario, const char *name)
{
    size_t n = strlen(name);
    return strncmp(scenario, name, n) == 0 && (scenario[n] == ' ' || scenario[n] == '\0');
}

static uint32_t number_after(const char *s)
{
    const char *p = strchr(s, ' ');
    uint32_t v = 0;
    if (p != NULL) {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            v = v * 10 + (uint32_t)(*p - '0');
        }
    }
    return v;
}

__attribute__((noreturn)) void ns_task_main(const char *s)
{
    out("NS: app task (unprivileged), scenario ");
    out(s);
    flush();
    if (is(s, "run") || is(s, "noconfirm")) {
        int bad = telemetry();
        if (!bad && is(s, "run")) {
            uint32_t c = nacre_nsc_update_confirm();
            status_line("confirm", (nacre_secmon_status)c);
        }
        out("NS: Secure stack high-water ");
        out_u32(nacre_nsc_stats(0));
        out(" bytes");
        flush();
        out(bad ? "NS: app FAILED" : "NS: app done");
        flush();
        svc_exit(bad);
    }
    if (is(s, "update")) {
        int r = update();
        out("NS: Secure stack high-water ");
        out_u32(nacre_nsc_stats(0));
        out(" bytes");
        flush();
        svc_exit(r);
    }
    if (is(s, "attack-secptr")) {
        uint32_t a = nacre_nsc_secmon_call((const void *)(uintptr_t)MPS2_S_RAM_BASE, NACRE_SECMON_MSG_BYTES, resp,
                                           sizeof resp);
        uint32_t b = nacre_nsc_secmon_call(req, sizeof req, (void *)(uintptr_t)MPS2_S_OTP_BASE,
                                           NACRE_SECMON_MSG_BYTES);
        status_line("attack: Secure request pointer", (nacre_secmon_status)a);
        status_line("attack: Secure response pointer", (nacre_secmon_status)b);
        svc_exit(a == NACRE_SECMON_OK || b == NACRE_SECMON_OK ? 1 : 0);
    }
    if (is(s, "attack-overflow")) {
        if (nacre_secmon_encode_request(req, NACRE_SECMON_CALL_PING, 1, NULL, 0) != NACRE_SECMON_OK) {
            svc_exit(1);
        }
        uint32_t a = nacre_nsc_secmon_call(req, 0xFFFFFF00u, resp, sizeof resp);
        uint32_t b = nacre_nsc_secmon_call(req, sizeof req, resp, 0xFFFFFFF0u);
        uint32_t c = nacre_nsc_secmon_call(req, sizeof req + 1, resp, sizeof resp);
        status_line("attack: wrapping request length", (nacre_secmon_status)a);
        status_line("attack: wrapping response length", (nacre_secmon_status)b);
        status_line("attack: request length past the message", (nacre_secmon_status)c);
        svc_exit(a == NACRE_SECMON_OK || b == NACRE_SECMON_OK || c == NACRE_SECMON_OK ? 1 : 0);
    }
    if (is(s, "attack-privptr")) {
        uint32_t a = nacre_nsc_secmon_call(req, sizeof req, (void *)(uintptr_t)MPS2_NS_KRAM_BASE,
                                           NACRE_SECMON_MSG_BYTES);
        status_line("attack: kernel memory as the response buffer", (nacre_secmon_status)a);
        svc_exit(a == NACRE_SECMON_OK ? 1 : 0);
    }
    if (is(s, "attack-priv")) {
        out("NS: attack: unprivileged read of kernel memory");
        flush();
        uint32_t v = ns_kernel_secret;
        out("NS: ATTACK NOT STOPPED: read ");
        out_u32(v);
        flush();
        svc_exit(1);
    }
    if (is(s, "attack-devkey")) {
        const uint8_t *p;
        size_t n;
        uint8_t ids[96];
        nacre_secmon_status a = call(NACRE_SECMON_CALL_IDENTITY, NULL, 0, &p, &n);
        if (a != NACRE_SECMON_OK || n < 96) {
            svc_exit(1);
        }
        memcpy(ids, p, 96);
        static const char msg[] = "pay 1000 to mallory";
        a = call(NACRE_SECMON_CALL_SIGN, msg, sizeof msg - 1, &p, &n);
        if (a != NACRE_SECMON_OK || n != 64) {
            svc_exit(1);
        }
        out("NS: devkey msg ");
        out_hex((const uint8_t *)msg, sizeof msg - 1);
        flush();
        out("NS: devkey sig ");
        out_hex(p, 64);
        flush();
        out("NS: devkey deviceid-pk ");
        out_hex(ids + 32, 32);
        flush();
        out("NS: devkey app-pk ");
        out_hex(ids + 64, 32);
        flush();
        /* No call takes a key or a handle; an undefined call is refused. */
        uint8_t forged[4] = {0x1D, 0x0D, 0, 0}; /* NACRE_PLUTON_KEY_DEVICE_ID */
        nacre_secmon_status b = call(NACRE_SECMON_CALL_COUNT_, forged, sizeof forged, NULL, NULL);
        status_line("attack: undefined call with a device-key handle", b);
        svc_exit(b == NACRE_SECMON_OK ? 1 : 0);
    }
    if (is(s, "bench")) {
        uint32_t n = number_after(s);
        for (uint32_t i = 0; i < n; i++) {
            if (call(NACRE_SECMON_CALL_PING, NULL, 0, NULL, NULL) != NACRE_SECMON_OK) {
                svc_exit(1);
            }
        }
        out("NS: bench pings ");
        out_u32(n);
        out(", Secure stack high-water ");
        out_u32(nacre_nsc_stats(0));
        out(" bytes");
        flush();
        svc_exit(0);
    }
    if (is(s, "bench-codec")) {
        /* What the codec costs without the veneer: the four passes one
         * round trip makes (encode/decode request, encode/decode response). */
        uint32_t n = number_after(s);
        for (uint32_t i = 0; i < n; i++) {
            unsigned c;
            uint32_t id;
            const uint8_t *p;
            size_t len;
            nacre_secmon_status st;
            if (nacre_secmon_encode_request(req, NACRE_SECMON_CALL_PING, i, NULL, 0) != NACRE_SECMON_OK ||
                nacre_secmon_decode_request(req, &c, &id, &p, &len) != NACRE_SECMON_OK ||
                nacre_secmon_encode_response(resp, c, id, NACRE_SECMON_OK, p, len) != NACRE_SECMON_OK ||
                nacre_secmon_decode_response(resp, &c, &id, &st, &p, &len) != NACRE_SECMON_OK) {
                svc_exit(1);
            }
        }
        svc_exit(0);
    }
    if (is(s, "bench-transport")) {
        uint32_t n = number_after(s);
        for (uint32_t i = 0; i < n; i++) {
            if (nacre_nsc_transport_echo(req, sizeof req, resp, sizeof resp) != NACRE_SECMON_OK) {
                svc_exit(1);
            }
        }
        svc_exit(0);
    }
    if (is(s, "bench-empty")) {
        uint32_t n = number_after(s);
        for (uint32_t i = 0; i < n; i++) {
            (void)nacre_nsc_stats(1);
        }
        svc_exit(0);
    }
    out("NS: unknown scenario");
    flush();
    svc_exit(2);
}
