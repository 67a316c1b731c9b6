/*
 * secure_main.c - the Secure image of qemu-mps2-an505: the boot stage, then
 * the security monitor behind the veneers.
 *
 * One reset, in order:
 *   1. open the board (semihosted otp.bin / flash.bin), entropy, libsodium;
 *   2. factory provisioning on a BLANK part: factory.bin (root-key hash and
 *      entropy seed, 64 bytes, written by the factory / the test harness)
 *      -> entropy-seed fuse, then nacre_pluton_provision();
 *   3. an image delivered as install.img is streamed into the inactive slot
 *      by libupdate's installer (verified as it streams), then the file is
 *      consumed — the board's stand-in for a factory programmer;
 *   4. the boot stage: nacre_boot_run() verifies the slots, applies trial
 *      boot / revert / anti-rollback, measures the image into R0 and
 *      completes the DICE boot; nothing bootable stops here (exit 10);
 *   5. TrustZone: SAU, MPC, PPC (tz.c);
 *   6. the verified payload is copied to NS code memory and its digest is
 *      checked again *there* (so what runs is what was verified);
 *   7. optional attestation evidence (cmdline `attest`): nonce.bin in,
 *      evidence.bin and deviceid.pub (raw 32 bytes) out;
 *   8. secmon core up, the NS app registered, jump to the NS image.
 * Exit statuses (semihosting) are listed in the board README.
 */
#include <string.h>

#include <sodium.h>

#include <nacre/attest.h>
#include <nacre/board_mps2.h>
#include <nacre/mps2_an505_map.h>
#include <nacre/secmon.h>
#include <nacre/update.h>

#include "console.h"
#include "secmon_priv.h" /* sizeof the core; the request-buffer and idle-installer hooks */
#include "secure.h"
#include "semihost.h"
#include "tz.h"

#define EXIT_BOOT_REFUSED 10
#define EXIT_PAYLOAD 11
#define EXIT_PLATFORM 12

struct secure_world secure;

/*
 * The secmon core's memory, sized at build time for the capacities this
 * board sets (meson.build; nacre_secmon_core_size() is checked against it
 * at run time). Until the core starts, the boot stage borrows it, so the
 * Secure image has one big RAM object instead of seven:
 *
 *   0          installer + chunk (1 KiB)        install.img, before the boot
 *   0          libupdate's verify_buffer        nacre_boot_run: the slot
 *              (NACRE_UPDATE_METADATA_MAX)      metadata off the Secure stack
 *   0          attestation claims + evidence    after the boot
 *   BOOT_AT    the boot result                  nacre_boot_run .. core start
 *   CMDLINE_AT command line, factory.bin        the whole boot stage / first boot
 */
#define CORE_BYTES ((sizeof(struct nacre_secmon_core) + 63u) & ~(size_t)63u)
static unsigned char core_mem[CORE_BYTES] __attribute__((aligned(64)));
#define INSTALL_CHUNK 1024L
#define EVIDENCE_MAX 2048u
#define CLAIMS_BYTES ((sizeof(struct nacre_attest_claims) + 7u) & ~(size_t)7u)
#define ROUND64(x) (((x) + 63u) & ~(size_t)63u)
#define MAX2(a, b) ((a) > (b) ? (a) : (b))
/* The boot result lives past the verify buffer and past the claims and
 * evidence made while it is still needed. */
#define BOOT_AT ROUND64(MAX2((size_t)NACRE_UPDATE_METADATA_MAX, CLAIMS_BYTES + EVIDENCE_MAX))
/* The command line lives past the installer (first boot) and the boot result. */
#define CMDLINE_AT ROUND64(MAX2(sizeof(nacre_installer) + (size_t)INSTALL_CHUNK, \
                                BOOT_AT + sizeof(struct nacre_boot_result)))
#define CMDLINE_BYTES 256u
#define FACTORY_AT (CMDLINE_AT + CMDLINE_BYTES)
_Static_assert(sizeof(nacre_installer) + (size_t)INSTALL_CHUNK <= CMDLINE_AT, "installer + chunk below the command line");
_Static_assert(BOOT_AT + sizeof(struct nacre_boot_result) <= CMDLINE_AT, "boot result below the command line");
_Static_assert(CLAIMS_BYTES + EVIDENCE_MAX <= BOOT_AT, "claims + evidence below the boot result");
_Static_assert(NACRE_UPDATE_METADATA_MAX <= BOOT_AT, "verify buffer below the boot result");
_Static_assert(FACTORY_AT + 64u <= CORE_BYTES, "command line + factory.bin fit the core's memory");

/* The NS app's manifest, fixed in the Secure image for this board. */
static const struct nacre_secmon_caps ns_caps = {
    .component_id = "6f1c9a52-3e0b-4d8e-9b8a-2f6c1d7e5a40",
    .storage_bytes = 4096,
    .device_authentication = 0,
    .software_update = 1,
    .gpio_mask = 1u << 0,   /* the LED */
    .uart_mask = 0,
    .i2c_mask = 1u << 1,    /* the temperature sensor bus */
};

#define cmdline ((char *)core_mem + CMDLINE_AT)

/* The value of word `name` (as "name" or "name=value") on the command
 * line; NULL if absent. Words are separated by single spaces. */
static const char *arg_find(const char *name)
{
    size_t n = strlen(name);
    for (const char *p = cmdline; *p != '\0';) {
        if (strncmp(p, name, n) == 0 && (p[n] == ' ' || p[n] == '\0' || p[n] == '=')) {
            return p + n;
        }
        while (*p != '\0' && *p != ' ') {
            p++;
        }
        while (*p == ' ') {
            p++;
        }
    }
    return NULL;
}

static int has_arg(const char *name)
{
    return arg_find(name) != NULL;
}

static long arg_value(const char *name, long dflt)
{
    const char *p = arg_find(name);
    if (p == NULL || *p != '=') {
        return dflt;
    }
    long v = 0;
    for (p++; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
    }
    return v;
}

__attribute__((noreturn)) static void stop(const char *why, uint32_t code, int status)
{
    con_puts("secure: ");
    con_puts(why);
    con_puts(" (");
    con_u32(code);
    con_puts(")\n");
    sh_exit(status);
}

/* The factory's input on a blank part: factory.bin = root-key hash (32)
 * || entropy seed (32). The seed fuse comes first: libsodium's start-up
 * (inside nacre_pluton_init) already draws random bytes. */
#define factory (core_mem + FACTORY_AT)

static int factory_read(void)
{
    int fd = sh_open("factory.bin", SH_MODE_RB);
    int ok = fd >= 0 && sh_read(fd, factory, 64) == 0;
    if (fd >= 0) {
        sh_close(fd);
    }
    return ok;
}

static void factory_seed(void)
{
    if (nacre_mps2_board_entropy_ready(secure.board)) {
        return;
    }
    if (!factory_read()) {
        stop("no entropy seed fuse and no factory.bin", 0, EXIT_PLATFORM);
    }
    nacre_board_status bs = nacre_mps2_board_set_entropy_seed(secure.board, factory + 32);
    sodium_memzero(factory, 64);
    if (bs != NACRE_BOARD_OK) {
        stop("entropy seed", 0, EXIT_PLATFORM);
    }
}

static void provision_if_blank(void)
{
    if (nacre_pluton_lifecycle_get(&secure.pluton) != NACRE_PLUTON_LIFECYCLE_BLANK) {
        return;
    }
    if (!factory_read()) {
        stop("blank device and no factory.bin", 0, EXIT_PLATFORM);
    }
    nacre_pluton_status ps = nacre_pluton_provision(&secure.pluton, factory);
    sodium_memzero(factory, 64);
    if (ps != NACRE_PLUTON_OK) {
        stop("provisioning failed", ps, EXIT_PLATFORM);
    }
    con_puts("secure: provisioned\n");
}

/* Stream install.img into the inactive slot, if there is one. */
static void install_if_delivered(void)
{
    int fd = sh_open("install.img", SH_MODE_RB);
    if (fd < 0) {
        return;
    }
    nacre_installer *inst = (nacre_installer *)core_mem; /* the core is not started yet */
    uint8_t *chunk = core_mem + sizeof(nacre_installer);
    long len = sh_flen(fd);
    uint32_t resume = 0;
    nacre_update_status s = nacre_install_begin(inst, &secure.pluton, secure.board, &secure.cfg, &resume);
    for (long off = resume; s == NACRE_UPDATE_OK && off < len; off += INSTALL_CHUNK) {
        size_t n = (size_t)(len - off < INSTALL_CHUNK ? len - off : INSTALL_CHUNK);
        if (sh_seek(fd, (uint32_t)off) != 0 || sh_read(fd, chunk, n) != 0) {
            s = NACRE_UPDATE_ERR_STORAGE;
            nacre_install_abort(inst);
            break;
        }
        s = nacre_install_write(inst, chunk, n);
    }
    struct nacre_image_info info;
    if (s == NACRE_UPDATE_OK) {
        s = nacre_install_finish(inst, &info);
    }
    sh_close(fd);
    sh_remove("install.img");
    if (s == NACRE_UPDATE_OK) {
        con_puts("install: ");
        con_puts(info.component);
        con_puts(" ");
        con_u32(info.version.major);
        con_puts(".");
        con_u32(info.version.minor);
        con_puts(".");
        con_u32(info.version.patch);
        con_puts(" pending\n");
    } else {
        con_puts("install: REFUSED ");
        con_puts(nacre_update_strerror(s));
        con_puts("\n");
    }
}

/* Copy the booted payload to NS code memory; check its digest there. */
static void load_payload(void)
{
    const struct nacre_image_info *im = &secure.boot->image;
    if (im->payload_size > MPS2_NS_CODE_SIZE) {
        stop("payload larger than NS code memory", im->payload_size, EXIT_PAYLOAD);
    }
    unsigned area = secure.boot->slot == NACRE_UPDATE_SLOT_A ? NACRE_FLASH_AREA_SLOT_A : NACRE_FLASH_AREA_SLOT_B;
    uint8_t *dst = (uint8_t *)(uintptr_t)MPS2_NS_CODE_BASE;
    if (nacre_board_flash_read(secure.board, area, im->payload_offset, dst, im->payload_size) != NACRE_BOARD_OK) {
        stop("payload read", 0, EXIT_PAYLOAD);
    }
    uint8_t digest[32];
    crypto_generichash_blake2b(digest, sizeof digest, dst, im->payload_size, NULL, 0);
    if (sodium_memcmp(digest, im->payload_digest, sizeof digest) != 0) {
        stop("payload changed between verification and load", 0, EXIT_PAYLOAD);
    }
}

static void print_boot(void)
{
    const struct nacre_boot_result *r = secure.boot;
    con_puts("boot: slot ");
    con_puts(nacre_update_slot_name(r->slot));
    con_puts(", ");
    con_puts(nacre_boot_reason_name(r->reason));
    if (r->reason == NACRE_BOOT_TRIAL) {
        con_puts(" ");
        con_u32(r->trial);
        con_puts("/");
        con_u32(r->max_trials);
    }
    con_puts("; ");
    con_puts(r->image.component);
    con_puts(" ");
    con_u32(r->image.version.major);
    con_puts(".");
    con_u32(r->image.version.minor);
    con_puts(".");
    con_u32(r->image.version.patch);
    con_puts(" counter ");
    con_u32(r->image.security_counter);
    con_puts("\nboot: measurement ");
    con_hex(r->image.measurement, 32);
    con_puts("\n");
    if (r->rejected != NACRE_UPDATE_SLOT_NONE) {
        con_puts("boot: passed over slot ");
        con_puts(nacre_update_slot_name(r->rejected));
        if (r->rejected_why != NACRE_UPDATE_OK) {
            con_puts(": ");
            con_puts(nacre_update_strerror(r->rejected_why));
        }
        con_puts("\n");
    }
}

static int write_file(const char *name, const void *buf, size_t len)
{
    int fd = sh_open(name, SH_MODE_WPB);
    if (fd < 0) {
        return -1;
    }
    int r = sh_write(fd, buf, len);
    sh_close(fd);
    return r;
}

/* Evidence for a verifier: nonce.bin (8..64 bytes) in, evidence.bin out.
 * Out of line: its locals must not be on the stack during the boot stage. */
__attribute__((noinline)) static void attest(void)
{
    uint8_t nonce[NACRE_ATTEST_NONCE_MAX];
    int fd = sh_open("nonce.bin", SH_MODE_RB);
    long n = fd >= 0 ? sh_flen(fd) : -1;
    if (n < (long)NACRE_ATTEST_NONCE_MIN || n > (long)sizeof nonce || sh_read(fd, nonce, (size_t)n) != 0) {
        stop("attest: no usable nonce.bin", 0, EXIT_PLATFORM);
    }
    sh_close(fd);
    struct nacre_attest_claims *claims = (struct nacre_attest_claims *)core_mem; /* core not started */
    uint8_t *evidence = core_mem + CLAIMS_BYTES;
    struct nacre_attest_component c;
    memset(&c, 0, sizeof c);
    const struct nacre_image_info *im = &secure.boot->image;
    memcpy(c.name, im->component, sizeof c.name);
    char *v = c.version;
    uint32_t parts[3] = {im->version.major, im->version.minor, im->version.patch};
    for (int i = 0; i < 3; i++) {
        char tmp[11];
        int k = 10;
        tmp[k] = '\0';
        uint32_t x = parts[i];
        do {
            tmp[--k] = (char)('0' + x % 10);
            x /= 10;
        } while (x != 0);
        size_t l = strlen(tmp + k);
        memcpy(v, tmp + k, l);
        v += l;
        if (i < 2) {
            *v++ = '.';
        }
    }
    memcpy(c.measurement, im->measurement, 32);
    memcpy(c.signer_id, im->signer_key_id, 32);
    c.security_counter = im->security_counter;
    size_t len = 0;
    nacre_attest_status as = nacre_attest_claims_init(claims, &secure.pluton, nonce, (size_t)n, 0);
    if (as == NACRE_ATTEST_OK) {
        as = nacre_attest_claims_add_component(claims, &c);
    }
    if (as == NACRE_ATTEST_OK) {
        as = nacre_attest_evidence(&secure.pluton, claims, evidence, EVIDENCE_MAX, &len);
    }
    if (as != NACRE_ATTEST_OK) {
        stop("attest: evidence failed", as, EXIT_PLATFORM);
    }
    uint8_t pk[32];
    if (nacre_pluton_key_public(&secure.pluton, NACRE_PLUTON_KEY_DEVICE_ID, pk) != NACRE_PLUTON_OK ||
        write_file("evidence.bin", evidence, len) != 0 || write_file("deviceid.pub", pk, sizeof pk) != 0) {
        stop("attest: output", 0, EXIT_PLATFORM);
    }
    con_puts("attest: evidence.bin ");
    con_u32((uint32_t)len);
    con_puts(" bytes\n");
}

/* Board, entropy, libsodium, pluton, provisioning, delivered image. Out of
 * line so that its locals are not on the Secure stack during the boot
 * stage, the deepest use of that stack (docs/board-qemu-mps2-an505.md). */
__attribute__((noinline)) static void prepare(void)
{
    sh_cmdline(cmdline, CMDLINE_BYTES);
    con_puts("secure: nacre boot stage\n");
    if (nacre_mps2_board_open(&secure.board, arg_value("cut", -1)) != NACRE_BOARD_OK) {
        stop("board open failed", 0, EXIT_PLATFORM);
    }
    factory_seed();
    if (sodium_init() < 0) {
        stop("sodium_init", 0, EXIT_PLATFORM);
    }
    nacre_pluton_status ps = nacre_pluton_init(&secure.pluton, secure.board);
    if (ps != NACRE_PLUTON_OK) {
        stop("pluton init", ps, EXIT_PLATFORM);
    }
    provision_if_blank();
    secure.cfg.component = "ns-app";
    secure.cfg.max_trial_boots = 3;
    install_if_delivered();
}

/* The secmon core in its memory, the NS app registered. Out of line, like
 * prepare(): its locals must not be on the stack during the boot stage. */
__attribute__((noinline)) static void start_secmon(void)
{
    secure.boot = NULL;
    sodium_memzero(core_mem, sizeof core_mem); /* what the boot stage left */
    if (nacre_secmon_core_size() > sizeof core_mem) {
        stop("secmon core larger than its memory", (uint32_t)nacre_secmon_core_size(), EXIT_PLATFORM);
    }
    secure.core = (struct nacre_secmon_core *)core_mem;
    nacre_secmon_status ss = nacre_secmon_core_init(secure.core, &secure.pluton, secure.board, 10000);
    if (ss == NACRE_SECMON_OK) {
        ss = nacre_secmon_core_add_app(secure.core, &ns_caps, &secure.ns_app);
    }
    secure_req = secmon_core_request_buffer(secure.core);
    if (ss != NACRE_SECMON_OK) {
        stop("secmon start", ss, EXIT_PLATFORM);
    }
}

int main(void);
int main(void)
{
    prepare();
    if (has_arg("stop=pre-boot")) { /* benchmark baselines */
        sh_exit(0);
    }
    /* The slot metadata in the core's memory, not on the Secure stack (the
     * installer above is finished with it). */
    secure.cfg.verify_buffer = core_mem;
    secure.boot = (struct nacre_boot_result *)(void *)(core_mem + BOOT_AT);
    nacre_update_status us = nacre_boot_run(&secure.pluton, secure.board, &secure.cfg, secure.boot);
    secure.cfg.verify_buffer = NULL; /* the core's from here on: confirm borrows its idle installer */
    if (us != NACRE_UPDATE_OK) {
        con_puts("boot: REFUSED ");
        con_puts(nacre_update_strerror(us));
        if (secure.boot->rejected != NACRE_UPDATE_SLOT_NONE) {
            con_puts("; slot ");
            con_puts(nacre_update_slot_name(secure.boot->rejected));
            con_puts(": ");
            con_puts(nacre_update_strerror(secure.boot->rejected_why));
        }
        con_puts("\n");
        sh_exit(EXIT_BOOT_REFUSED);
    }
    print_boot();
    if (has_arg("stop=boot")) {
        sh_exit(0);
    }

    tz_configure();
    load_payload();
    if (has_arg("attest")) {
        attest();
    }

    con_puts("secure: boot stage stack high-water ");
    con_u32(secure_stack_high_water());
    con_puts(" bytes\n");
    start_secmon();
    con_puts("secure: starting the Non-secure app\n");
    secure_stack_repaint();
    tz_start_ns(MPS2_NS_CODE_BASE);
}
