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
#include "secure.h"
#include "semihost.h"
#include "tz.h"

#define EXIT_BOOT_REFUSED 10
#define EXIT_PAYLOAD 11
#define EXIT_PLATFORM 12

struct secure_world secure;

/* The secmon core's memory, sized at build time (nacre_secmon_core_size()
 * is checked against it at run time). Before the core starts, the boot
 * stage borrows it for the installer and the attestation claims: the
 * Secure image has one big RAM object, not three. */
#define CORE_BYTES 11072u
static unsigned char core_mem[CORE_BYTES] __attribute__((aligned(64)));
_Static_assert(sizeof(nacre_installer) <= CORE_BYTES, "installer fits the core's memory");
_Static_assert(sizeof(struct nacre_attest_claims) <= CORE_BYTES, "claims fit the core's memory");

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

static char cmdline[256];

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
static uint8_t factory[64];

static int factory_read(void)
{
    int fd = sh_open("factory.bin", SH_MODE_RB);
    int ok = fd >= 0 && sh_read(fd, factory, sizeof factory) == 0;
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
    if (nacre_mps2_board_set_entropy_seed(secure.board, factory + 32) != NACRE_BOARD_OK) {
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
    sodium_memzero(factory, sizeof factory);
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
    uint8_t *chunk = secure_msg; /* 2 KiB, free before the NS world runs */
    long len = sh_flen(fd);
    uint32_t resume = 0;
    nacre_update_status s = nacre_install_begin(inst, &secure.pluton, secure.board, &secure.cfg, &resume);
    for (long off = resume; s == NACRE_UPDATE_OK && off < len; off += 2048) {
        size_t n = (size_t)(len - off < 2048 ? len - off : 2048);
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
    const struct nacre_image_info *im = &secure.boot.image;
    if (im->payload_size > MPS2_NS_CODE_SIZE) {
        stop("payload larger than NS code memory", im->payload_size, EXIT_PAYLOAD);
    }
    unsigned area = secure.boot.slot == NACRE_UPDATE_SLOT_A ? NACRE_FLASH_AREA_SLOT_A : NACRE_FLASH_AREA_SLOT_B;
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
    const struct nacre_boot_result *r = &secure.boot;
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

/* Evidence for a verifier: nonce.bin (8..64 bytes) in, evidence.bin out. */
static void attest(void)
{
    uint8_t nonce[NACRE_ATTEST_NONCE_MAX];
    int fd = sh_open("nonce.bin", SH_MODE_RB);
    long n = fd >= 0 ? sh_flen(fd) : -1;
    if (n < (long)NACRE_ATTEST_NONCE_MIN || n > (long)sizeof nonce || sh_read(fd, nonce, (size_t)n) != 0) {
        stop("attest: no usable nonce.bin", 0, EXIT_PLATFORM);
    }
    sh_close(fd);
    struct nacre_attest_claims *claims = (struct nacre_attest_claims *)core_mem; /* core not started */
    struct nacre_attest_component c;
    memset(&c, 0, sizeof c);
    const struct nacre_image_info *im = &secure.boot.image;
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
        as = nacre_attest_evidence(&secure.pluton, claims, secure_msg, sizeof secure_msg, &len);
    }
    if (as != NACRE_ATTEST_OK) {
        stop("attest: evidence failed", as, EXIT_PLATFORM);
    }
    uint8_t pk[32];
    if (nacre_pluton_key_public(&secure.pluton, NACRE_PLUTON_KEY_DEVICE_ID, pk) != NACRE_PLUTON_OK ||
        write_file("evidence.bin", secure_msg, len) != 0 || write_file("deviceid.pub", pk, sizeof pk) != 0) {
        stop("attest: output", 0, EXIT_PLATFORM);
    }
    con_puts("attest: evidence.bin ");
    con_u32((uint32_t)len);
    con_puts(" bytes\n");
}

int main(void);
int main(void)
{
    sh_cmdline(cmdline, sizeof cmdline);
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

    if (has_arg("stop=pre-boot")) { /* benchmark baselines */
        sh_exit(0);
    }
    nacre_update_status us = nacre_boot_run(&secure.pluton, secure.board, &secure.cfg, &secure.boot);
    if (us != NACRE_UPDATE_OK) {
        con_puts("boot: REFUSED ");
        con_puts(nacre_update_strerror(us));
        if (secure.boot.rejected != NACRE_UPDATE_SLOT_NONE) {
            con_puts("; slot ");
            con_puts(nacre_update_slot_name(secure.boot.rejected));
            con_puts(": ");
            con_puts(nacre_update_strerror(secure.boot.rejected_why));
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

    sodium_memzero(core_mem, sizeof core_mem); /* what the installer left */
    if (nacre_secmon_core_size() > sizeof core_mem) {
        stop("secmon core larger than its memory", (uint32_t)nacre_secmon_core_size(), EXIT_PLATFORM);
    }
    secure.core = (struct nacre_secmon_core *)core_mem;
    nacre_secmon_status ss = nacre_secmon_core_init(secure.core, &secure.pluton, secure.board, 10000);
    if (ss == NACRE_SECMON_OK) {
        ss = nacre_secmon_core_add_app(secure.core, &ns_caps, &secure.ns_app);
    }
    if (ss != NACRE_SECMON_OK) {
        stop("secmon start", ss, EXIT_PLATFORM);
    }
    con_puts("secure: starting the Non-secure app\n");
    tz_start_ns(MPS2_NS_CODE_BASE);
}
