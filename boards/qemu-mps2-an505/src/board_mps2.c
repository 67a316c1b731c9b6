/*
 * board_mps2.c - the board contract (nacre/board.h) on qemu-mps2-an505.
 *
 * Flash and OTP are host files reached through semihosting (see
 * nacre/board_mps2.h for their layout). Only the Secure image links this
 * file: the Non-secure world has no path to it except the secmon veneers.
 * (QEMU serves semihosting to both worlds; real silicon has no such
 * channel. That emulation artefact is documented, not a design property.)
 *
 * Checks come in the order docs/boards.md pins: NULL board, power lost, NULL
 * buffer / unknown area, range, lock, alignment, erased target. A refused
 * call changes nothing: writes check their whole target before writing.
 */
#include <nacre/board_mps2.h>
#include <nacre/mps2_an505_map.h>

#include <string.h>

#include <sodium.h>

#include "semihost.h"

#define LOCKS_MAX 4u
#define POWER_CUT_EXIT 40

struct lock_range {
    uint32_t offset, len;
};

struct nacre_board {
    int flash_fd;
    int otp_fd;
    int power_lost;
    long power_cut;           /* writes left before the torn one; -1 = none */
    unsigned long writes;
    unsigned lock_count;
    struct lock_range locks[LOCKS_MAX];
    uint8_t entropy_key[32];  /* BLAKE2b(entropy-seed fuse): never leaves the board */
    uint8_t boot_seed[32];    /* this reset's seed, ratcheted in the pool sector */
    uint64_t entropy_block;
    uint8_t entropy_buf[64];
    unsigned entropy_used;    /* bytes of entropy_buf handed out */
};

/* The fuses, in the Secure-only OTP shadow (secure.ld places .otp_shadow at
 * MPS2_S_OTP_BASE). Loaded from otp.bin at open, written through. */
static uint8_t otp_shadow[MPS2_OTP_TOTAL_BYTES] __attribute__((section(".otp_shadow"), aligned(32)));

static struct nacre_board the_board;
static uint8_t io_buf[256]; /* erase pattern / compare buffer */

static const uint32_t area_sectors[NACRE_FLASH_AREA_COUNT] = {2, 2, 96, 96, 4, 8};

static uint32_t area_first_sector(unsigned id)
{
    uint32_t s = 0;
    for (unsigned i = 0; i < id; i++) {
        s += area_sectors[i];
    }
    return s;
}

static int range_ok(uint32_t offset, size_t len, uint32_t size)
{
    return offset <= size && len <= (size_t)(size - offset);
}

/* ---- power cuts ------------------------------------------------------- */

/* Called before each persistent write: 1 if this write must be torn. */
static int cut_now(struct nacre_board *b)
{
    b->writes++;
    if (b->power_cut < 0) {
        return 0;
    }
    if (b->power_cut == 0) {
        return 1;
    }
    b->power_cut--;
    return 0;
}

static void power_off(void)
{
    sh_write0("board: power cut\n");
    sh_exit(POWER_CUT_EXIT);
}

/* ---- raw file access --------------------------------------------------- */

static nacre_board_status file_read(int fd, uint32_t pos, void *buf, size_t len)
{
    if (len == 0) {
        return NACRE_BOARD_OK;
    }
    if (sh_seek(fd, pos) != 0 || sh_read(fd, buf, len) != 0) {
        return NACRE_BOARD_ERR_IO;
    }
    return NACRE_BOARD_OK;
}

static nacre_board_status file_write(int fd, uint32_t pos, const void *buf, size_t len)
{
    if (len == 0) {
        return NACRE_BOARD_OK;
    }
    if (sh_seek(fd, pos) != 0 || sh_write(fd, buf, len) != 0) {
        return NACRE_BOARD_ERR_IO;
    }
    return NACRE_BOARD_OK;
}

static nacre_board_status file_fill_erased(int fd, uint32_t pos, size_t len)
{
    memset(io_buf, NACRE_BOARD_FLASH_ERASED, sizeof io_buf);
    while (len > 0) {
        size_t n = len < sizeof io_buf ? len : sizeof io_buf;
        nacre_board_status s = file_write(fd, pos, io_buf, n);
        if (s != NACRE_BOARD_OK) {
            return s;
        }
        pos += (uint32_t)n;
        len -= n;
    }
    return NACRE_BOARD_OK;
}

/* Open name read-write; create it as size bytes of fill if it is missing.
 * A file of another size is not this board's: -2 (CORRUPT), never wiped. */
static int open_or_create(const char *name, uint32_t size, uint8_t fill)
{
    int fd = sh_open(name, SH_MODE_RPB);
    if (fd >= 0) {
        if (sh_flen(fd) == (long)size) {
            return fd;
        }
        sh_close(fd);
        return -2;
    }
    fd = sh_open(name, SH_MODE_WPB);
    if (fd < 0) {
        return -1;
    }
    memset(io_buf, fill, sizeof io_buf);
    for (uint32_t pos = 0; pos < size; pos += sizeof io_buf) {
        if (sh_write(fd, io_buf, sizeof io_buf) != 0) {
            sh_close(fd);
            return -1;
        }
    }
    return fd;
}

/* ---- entropy ----------------------------------------------------------- */

static uint32_t timer_now(void)
{
    /* SysTick current value (Secure): free-running once started in open. */
    return *(volatile uint32_t *)0xE000E018u;
}

/* Derive this reset's boot seed and ratchet the pool sector. A power cut in
 * the ratchet at worst replays the previous pool, and the timer still
 * differs; the pool write is board-private, not a contract write. */
static nacre_board_status entropy_start(struct nacre_board *b)
{
    uint8_t seed[32], pool[32], next[32];
    static const uint8_t zero[32];
    memcpy(seed, otp_shadow + MPS2_OTP_ENTROPY_SEED, sizeof seed);
    if (sodium_memcmp(seed, zero, sizeof seed) == 0) {
        sodium_memzero(b->entropy_key, sizeof b->entropy_key);
        return NACRE_BOARD_OK; /* no seed fuse yet: entropy unavailable */
    }
    crypto_generichash_blake2b(b->entropy_key, sizeof b->entropy_key,
                               (const uint8_t *)"nacre/mps2/entropy-key", 22, seed, sizeof seed);
    sodium_memzero(seed, sizeof seed);
    nacre_board_status s = file_read(b->flash_fd, MPS2_FLASH_POOL_OFFSET, pool, sizeof pool);
    if (s != NACRE_BOARD_OK) {
        return s;
    }
    uint32_t t = timer_now();
    crypto_generichash_blake2b_state st;
    crypto_generichash_blake2b_init(&st, b->entropy_key, sizeof b->entropy_key, sizeof b->boot_seed);
    crypto_generichash_blake2b_update(&st, (const uint8_t *)"boot", 4);
    crypto_generichash_blake2b_update(&st, pool, sizeof pool);
    crypto_generichash_blake2b_update(&st, (const uint8_t *)&t, sizeof t);
    crypto_generichash_blake2b_final(&st, b->boot_seed, sizeof b->boot_seed);
    crypto_generichash_blake2b(next, sizeof next, pool, sizeof pool, b->entropy_key, sizeof b->entropy_key);
    s = file_write(b->flash_fd, MPS2_FLASH_POOL_OFFSET, next, sizeof next);
    sodium_memzero(pool, sizeof pool);
    sodium_memzero(&st, sizeof st);
    b->entropy_block = 0;
    b->entropy_used = sizeof b->entropy_buf;
    return s;
}

static int entropy_ready(const struct nacre_board *b)
{
    static const uint8_t zero[32];
    return sodium_memcmp(b->entropy_key, zero, sizeof zero) != 0;
}

/* Block i = BLAKE2b-512(key = entropy key, boot seed || i as u64 LE). */
static void entropy_fill(struct nacre_board *b, uint8_t *out, size_t len)
{
    while (len > 0) {
        if (b->entropy_used == sizeof b->entropy_buf) {
            uint8_t msg[40];
            memcpy(msg, b->boot_seed, 32);
            for (unsigned i = 0; i < 8; i++) {
                msg[32 + i] = (uint8_t)(b->entropy_block >> (8 * i));
            }
            crypto_generichash_blake2b(b->entropy_buf, sizeof b->entropy_buf, msg, sizeof msg,
                                       b->entropy_key, sizeof b->entropy_key);
            b->entropy_block++;
            b->entropy_used = 0;
        }
        size_t n = sizeof b->entropy_buf - b->entropy_used;
        if (n > len) {
            n = len;
        }
        memcpy(out, b->entropy_buf + b->entropy_used, n);
        sodium_memzero(b->entropy_buf + b->entropy_used, n);
        b->entropy_used += (unsigned)n;
        out += n;
        len -= n;
    }
}

static const char *rb_name(void)
{
    return "nacre-mps2-fuse-seeded";
}

static void rb_buf(void *buf, size_t len)
{
    /* libsodium's randombytes cannot fail; without a seed fuse it would be
     * predictable, so refuse to run instead. */
    if (!entropy_ready(&the_board)) {
        sh_write0("board: randombytes without an entropy seed\n");
        sh_exit(41);
    }
    entropy_fill(&the_board, buf, len);
}

static uint32_t rb_random(void)
{
    uint32_t v;
    rb_buf(&v, sizeof v);
    return v;
}

static randombytes_implementation rb_impl = {
    .implementation_name = rb_name,
    .random = rb_random,
    .stir = NULL,
    .uniform = NULL,
    .buf = rb_buf,
    .close = NULL,
};

/* ---- open ----------------------------------------------------------------- */

nacre_board_status nacre_mps2_board_open(struct nacre_board **out, long power_cut)
{
    struct nacre_board *b = &the_board;
    if (out == NULL) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    memset(b, 0, sizeof *b);
    b->power_cut = power_cut < 0 ? -1 : power_cut;
    /* SysTick free-running from the processor clock: the timer entropy. */
    *(volatile uint32_t *)0xE000E014u = 0x00FFFFFFu;
    *(volatile uint32_t *)0xE000E010u = 0x5u;
    b->otp_fd = open_or_create("otp.bin", MPS2_OTP_TOTAL_BYTES, 0x00);
    b->flash_fd = open_or_create("flash.bin", MPS2_FLASH_SECTORS * MPS2_FLASH_SECTOR, 0xFF);
    if (b->otp_fd == -2 || b->flash_fd == -2) {
        return NACRE_BOARD_ERR_CORRUPT;
    }
    if (b->otp_fd < 0 || b->flash_fd < 0) {
        return NACRE_BOARD_ERR_IO;
    }
    nacre_board_status s = file_read(b->otp_fd, 0, otp_shadow, sizeof otp_shadow);
    if (s == NACRE_BOARD_OK) {
        s = entropy_start(b);
    }
    if (s != NACRE_BOARD_OK) {
        return s;
    }
    randombytes_set_implementation(&rb_impl);
    *out = b;
    return NACRE_BOARD_OK;
}

int nacre_mps2_board_entropy_ready(const struct nacre_board *board)
{
    return board != NULL && entropy_ready(board);
}

unsigned long nacre_mps2_board_write_count(const struct nacre_board *board)
{
    return board != NULL ? board->writes : 0;
}

nacre_board_status nacre_mps2_board_set_entropy_seed(struct nacre_board *b, const uint8_t seed[32])
{
    if (b == NULL || seed == NULL) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    for (unsigned i = 0; i < 32; i++) {
        otp_shadow[MPS2_OTP_ENTROPY_SEED + i] |= seed[i];
    }
    nacre_board_status s = file_write(b->otp_fd, MPS2_OTP_ENTROPY_SEED,
                                      otp_shadow + MPS2_OTP_ENTROPY_SEED, 32);
    if (s == NACRE_BOARD_OK) {
        s = entropy_start(b);
    }
    return s;
}

/* ---- OTP ------------------------------------------------------------------- */

static int otp_locked(const struct nacre_board *b, uint32_t offset, size_t len)
{
    for (unsigned i = 0; i < b->lock_count; i++) {
        const struct lock_range *l = &b->locks[i];
        if (len > 0 && offset < l->offset + l->len && l->offset < offset + len) {
            return 1;
        }
    }
    return 0;
}

/* The checks an OTP read and an OTP program share, in the contract's order. */
static nacre_board_status otp_check(const struct nacre_board *b, uint32_t offset, const void *buf,
                                    size_t len)
{
    if (b == NULL) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    if (b->power_lost) {
        return NACRE_BOARD_ERR_POWER_LOST;
    }
    if (buf == NULL && len > 0) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    if (!range_ok(offset, len, MPS2_OTP_CONTRACT_BYTES)) {
        return NACRE_BOARD_ERR_RANGE;
    }
    if (otp_locked(b, offset, len)) {
        return NACRE_BOARD_ERR_LOCKED;
    }
    return NACRE_BOARD_OK;
}

nacre_board_status nacre_board_otp_read(struct nacre_board *b, uint32_t offset, void *buf, size_t len)
{
    nacre_board_status st = otp_check(b, offset, buf, len);
    if (st != NACRE_BOARD_OK) {
        return st;
    }
    if (len > 0) {
        memcpy(buf, otp_shadow + offset, len);
    }
    return NACRE_BOARD_OK;
}

nacre_board_status nacre_board_otp_program(struct nacre_board *b, uint32_t offset, const void *buf,
                                           size_t len)
{
    nacre_board_status st = otp_check(b, offset, buf, len);
    if (st != NACRE_BOARD_OK) {
        return st;
    }
    if (len == 0) {
        return NACRE_BOARD_OK;
    }
    size_t n = len;
    int torn = cut_now(b);
    if (torn) {
        n = len / 2;
    }
    const uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) {
        otp_shadow[offset + i] |= p[i];
    }
    nacre_board_status s = file_write(b->otp_fd, offset, otp_shadow + offset, n);
    if (torn) {
        b->power_lost = 1;
        power_off();
    }
    return s;
}

nacre_board_status nacre_board_otp_lock_read(struct nacre_board *b, uint32_t offset, size_t len)
{
    if (b == NULL) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    if (b->power_lost) {
        return NACRE_BOARD_ERR_POWER_LOST;
    }
    if (!range_ok(offset, len, MPS2_OTP_CONTRACT_BYTES)) {
        return NACRE_BOARD_ERR_RANGE;
    }
    for (unsigned i = 0; i < b->lock_count; i++) {
        const struct lock_range *l = &b->locks[i];
        if (offset >= l->offset && offset + len <= l->offset + l->len) {
            return NACRE_BOARD_OK; /* already covered */
        }
    }
    if (b->lock_count == LOCKS_MAX) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    b->locks[b->lock_count].offset = offset;
    b->locks[b->lock_count].len = (uint32_t)len;
    b->lock_count++;
    return NACRE_BOARD_OK;
}

/* ---- flash ------------------------------------------------------------------ */

static nacre_board_status area_get(struct nacre_board *b, unsigned id, uint32_t *base, uint32_t *size)
{
    if (b == NULL) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    if (b->power_lost) {
        return NACRE_BOARD_ERR_POWER_LOST;
    }
    if (id >= NACRE_FLASH_AREA_COUNT) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    *base = area_first_sector(id) * MPS2_FLASH_SECTOR;
    *size = area_sectors[id] * MPS2_FLASH_SECTOR;
    return NACRE_BOARD_OK;
}

nacre_board_status nacre_board_flash_area(struct nacre_board *b, unsigned id, struct nacre_flash_area *out)
{
    uint32_t base, size;
    nacre_board_status s = area_get(b, id, &base, &size);
    if (s != NACRE_BOARD_OK) {
        return s;
    }
    if (out == NULL) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    out->size = size;
    out->sector_size = MPS2_FLASH_SECTOR;
    out->write_size = MPS2_FLASH_WRITE;
    return NACRE_BOARD_OK;
}

nacre_board_status nacre_board_flash_read(struct nacre_board *b, unsigned id, uint32_t offset, void *buf,
                                          size_t len)
{
    uint32_t base, size;
    nacre_board_status s = area_get(b, id, &base, &size);
    if (s != NACRE_BOARD_OK) {
        return s;
    }
    if (buf == NULL && len > 0) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    if (!range_ok(offset, len, size)) {
        return NACRE_BOARD_ERR_RANGE;
    }
    return file_read(b->flash_fd, base + offset, buf, len);
}

static nacre_board_status check_erased(struct nacre_board *b, uint32_t pos, size_t len)
{
    while (len > 0) {
        size_t n = len < sizeof io_buf ? len : sizeof io_buf;
        nacre_board_status s = file_read(b->flash_fd, pos, io_buf, n);
        if (s != NACRE_BOARD_OK) {
            return s;
        }
        for (size_t i = 0; i < n; i++) {
            if (io_buf[i] != NACRE_BOARD_FLASH_ERASED) {
                return NACRE_BOARD_ERR_NOT_ERASED;
            }
        }
        pos += (uint32_t)n;
        len -= n;
    }
    return NACRE_BOARD_OK;
}

nacre_board_status nacre_board_flash_write(struct nacre_board *b, unsigned id, uint32_t offset,
                                           const void *buf, size_t len)
{
    uint32_t base, size;
    nacre_board_status s = area_get(b, id, &base, &size);
    if (s != NACRE_BOARD_OK) {
        return s;
    }
    if (buf == NULL && len > 0) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    if (!range_ok(offset, len, size)) {
        return NACRE_BOARD_ERR_RANGE;
    }
    if (offset % MPS2_FLASH_WRITE != 0 || len % MPS2_FLASH_WRITE != 0) {
        return NACRE_BOARD_ERR_ALIGNMENT;
    }
    if (len == 0) {
        return NACRE_BOARD_OK;
    }
    s = check_erased(b, base + offset, len);
    if (s != NACRE_BOARD_OK) {
        return s;
    }
    if (cut_now(b)) {
        size_t n = (len / 2) / MPS2_FLASH_WRITE * MPS2_FLASH_WRITE;
        (void)file_write(b->flash_fd, base + offset, buf, n);
        b->power_lost = 1;
        power_off();
    }
    return file_write(b->flash_fd, base + offset, buf, len);
}

nacre_board_status nacre_board_flash_erase(struct nacre_board *b, unsigned id, uint32_t offset, size_t len)
{
    uint32_t base, size;
    nacre_board_status s = area_get(b, id, &base, &size);
    if (s != NACRE_BOARD_OK) {
        return s;
    }
    if (!range_ok(offset, len, size)) {
        return NACRE_BOARD_ERR_RANGE;
    }
    if (offset % MPS2_FLASH_SECTOR != 0 || len % MPS2_FLASH_SECTOR != 0) {
        return NACRE_BOARD_ERR_ALIGNMENT;
    }
    if (len == 0) {
        return NACRE_BOARD_OK;
    }
    if (cut_now(b)) {
        size_t sectors = len / MPS2_FLASH_SECTOR;
        (void)file_fill_erased(b->flash_fd, base + offset, (sectors / 2) * MPS2_FLASH_SECTOR);
        b->power_lost = 1;
        power_off();
    }
    return file_fill_erased(b->flash_fd, base + offset, len);
}

nacre_board_status nacre_board_entropy(struct nacre_board *b, void *buf, size_t len)
{
    if (b == NULL) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    if (b->power_lost) {
        return NACRE_BOARD_ERR_POWER_LOST;
    }
    if (buf == NULL && len > 0) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    if (!entropy_ready(b)) {
        return NACRE_BOARD_ERR_ENTROPY;
    }
    entropy_fill(b, buf, len);
    return NACRE_BOARD_OK;
}
