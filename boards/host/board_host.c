/*
 * board_host.c - the host board: emulated OTP fuses and NOR flash, backed by
 * two files in a directory (DIR/otp.bin, DIR/flash.bin).
 *
 * Byte layouts and power-cut semantics are documented in docs/boards.md; keep
 * that file in step with the constants below.
 *
 * Design rules:
 *   - Flash is never cached: every read is a pread() and every write a
 *     pwrite(), so the file IS the device. A process that is killed in the
 *     middle of a sequence leaves exactly the writes that completed, which is
 *     what the power-cut tests above this layer rely on.
 *   - OTP is small and only ever grows (bits 0 -> 1), so it is cached, but
 *     each program is written through to the file before the call returns.
 *   - Nothing read from a file is trusted: headers are checksummed, every
 *     field is range-checked with overflow-safe arithmetic, and the file size
 *     must match the geometry exactly. A crafted header yields
 *     NACRE_BOARD_ERR_CORRUPT, never a crash or a large allocation.
 */
#include <nacre/board.h>
#include <nacre/board_host.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <sodium.h>

/* otp.bin: 32-byte header, then the fuses. */
#define OTP_MAGIC "NACREOTP"
#define OTP_VERSION 1u
#define OTP_HEADER_BYTES 32u
#define OTP_HASHED_BYTES 16u /* magic, version, size */
#define OTP_FILE_BYTES (OTP_HEADER_BYTES + NACRE_BOARD_OTP_BYTES)

/* flash.bin: 128-byte header, then the sectors. */
#define FLASH_MAGIC "NACREFL1"
#define FLASH_VERSION 1u
#define FLASH_HEADER_BYTES 128u
#define FLASH_AREA_TABLE_OFFSET 24u
#define FLASH_AREA_TABLE_END (FLASH_AREA_TABLE_OFFSET + 8u * NACRE_FLASH_AREA_COUNT)
#define FLASH_HASHED_BYTES 112u /* everything before the checksum */

#define MAGIC_BYTES 8u
#define HEADER_HASH_BYTES 16u /* BLAKE2b-128 */
#define MIN_SECTOR_SIZE 256u
#define MIN_COUNTER_SECTORS 2u
#define MAX_OTP_LOCKS 8u
#define IO_CHUNK 4096u
#define DETAIL_BYTES 256u
#define SEED_BYTES 32u
#define ENTROPY_BLOCK_BYTES 64u /* BLAKE2b-512 */

static const char OTP_NAME[] = "otp.bin";
static const char FLASH_NAME[] = "flash.bin";
static const char OTP_TMP_NAME[] = ".otp.bin.tmp";
static const char FLASH_TMP_NAME[] = ".flash.bin.tmp";

struct otp_lock {
    uint32_t offset;
    uint32_t len;
};

struct nacre_board {
    int otp_fd;
    int flash_fd; /* holds the flock() that makes the device exclusive */
    uint32_t sector_size;
    uint32_t write_size;
    uint32_t area_first[NACRE_FLASH_AREA_COUNT];   /* in sectors */
    uint32_t area_sectors[NACRE_FLASH_AREA_COUNT]; /* in sectors */
    uint64_t write_count;
    long cut_after; /* writes that still succeed before the torn one; -1 = disarmed */
    bool power_lost;
    unsigned lock_count;
    struct otp_lock locks[MAX_OTP_LOCKS];
    bool seeded;
    uint64_t entropy_counter;
    size_t entropy_used; /* bytes of entropy_block already handed out */
    uint8_t entropy_seed[SEED_BYTES];
    uint8_t entropy_block[ENTROPY_BLOCK_BYTES];
    uint8_t otp[NACRE_BOARD_OTP_BYTES]; /* write-through cache of the fuses */
    char detail[DETAIL_BYTES];
};

/*
 * Detail of the last failed create/open on this thread. Those calls have no
 * board to keep it in (open frees its board on failure), so their detail
 * out-parameter points here; it stays valid until the next create/open on
 * the same thread.
 */
static _Thread_local char tls_detail[DETAIL_BYTES];

/* ---------------------------------------------------------------- helpers */

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static bool is_pow2(uint32_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

static void vdetail(char *dst, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void vdetail(char *dst, const char *fmt, va_list ap)
{
    (void)vsnprintf(dst, DETAIL_BYTES, fmt, ap);
}

static void set_detail(char *dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_detail(char *dst, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdetail(dst, fmt, ap);
    va_end(ap);
}

/* Record the reason in the board and return st. */
static nacre_board_status fail(struct nacre_board *b, nacre_board_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static nacre_board_status fail(struct nacre_board *b, nacre_board_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdetail(b->detail, fmt, ap);
    va_end(ap);
    return st;
}

/* errno text, with 0 meaning "the file ended early" (see pread_all). */
static const char *io_reason(int err)
{
    return err == 0 ? "unexpected end of file" : strerror(err);
}

/*
 * Read exactly len bytes at off. 0 on success; -1 with errno set otherwise
 * (errno 0: end of file, i.e. the file shrank under us).
 */
static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (r == 0) {
            errno = 0;
            return -1;
        }
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Write exactly len bytes at off, retrying on EINTR and short writes. */
static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t r = pwrite(fd, p, len, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (r == 0) {
            /* No progress and no error: give up rather than spin. */
            errno = EIO;
            return -1;
        }
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Write len copies of byte at off (0xFF to erase flash, 0x00 for blank OTP). */
static int fill_bytes(int fd, uint64_t off, uint64_t len, uint8_t byte)
{
    uint8_t fill[IO_CHUNK];
    memset(fill, byte, sizeof fill);
    while (len > 0) {
        size_t n = len < sizeof fill ? (size_t)len : sizeof fill;
        if (pwrite_all(fd, fill, n, off) != 0) {
            return -1;
        }
        off += n;
        len -= n;
    }
    return 0;
}

/* Largest flash data region we accept: area offsets are uint32_t, and the
 * whole file must be addressable by off_t. */
static uint64_t max_flash_data(void)
{
    if (sizeof(off_t) >= 8) {
        return UINT32_MAX;
    }
    return (uint64_t)INT32_MAX - FLASH_HEADER_BYTES;
}

/*
 * Check a geometry (shared by create and open). On success stores the size
 * of the flash data region in *data_bytes. Every product is guarded by a
 * division first, so no field value can overflow.
 */
static bool geometry_ok(uint32_t sector_size, uint32_t write_size,
                        const uint32_t sectors[NACRE_FLASH_AREA_COUNT], uint64_t *data_bytes,
                        char *why)
{
    if (sector_size < MIN_SECTOR_SIZE || !is_pow2(sector_size)) {
        set_detail(why, "sector_size %" PRIu32 " is not a power of two >= %u", sector_size,
                   MIN_SECTOR_SIZE);
        return false;
    }
    if (!is_pow2(write_size) || write_size > sector_size) {
        set_detail(why, "write_size %" PRIu32 " is not a power of two <= sector_size %" PRIu32,
                   write_size, sector_size);
        return false;
    }
    if (sectors[NACRE_FLASH_AREA_COUNTERS] < MIN_COUNTER_SECTORS) {
        set_detail(why, "counters area has %" PRIu32 " sectors, needs at least %u",
                   sectors[NACRE_FLASH_AREA_COUNTERS], MIN_COUNTER_SECTORS);
        return false;
    }
    uint64_t total = 0;
    for (unsigned i = 0; i < NACRE_FLASH_AREA_COUNT; i++) {
        /* An area's size in bytes must fit the uint32_t of struct nacre_flash_area. */
        if (sectors[i] > UINT32_MAX / sector_size) {
            set_detail(why, "area %u: %" PRIu32 " sectors of %" PRIu32 " bytes do not fit 32 bits",
                       i, sectors[i], sector_size);
            return false;
        }
        total += sectors[i]; /* at most 6 * 2^32: no overflow in 64 bits */
    }
    if (total > max_flash_data() / sector_size) {
        set_detail(why, "%" PRIu64 " sectors of %" PRIu32 " bytes exceed the %" PRIu64
                   "-byte flash limit", total, sector_size, max_flash_data());
        return false;
    }
    *data_bytes = total * sector_size;
    return true;
}

static void otp_header(uint8_t h[OTP_HEADER_BYTES])
{
    memset(h, 0, OTP_HEADER_BYTES);
    memcpy(h, OTP_MAGIC, MAGIC_BYTES);
    put_le32(h + 8, OTP_VERSION);
    put_le32(h + 12, NACRE_BOARD_OTP_BYTES);
    crypto_generichash(h + OTP_HASHED_BYTES, HEADER_HASH_BYTES, h, OTP_HASHED_BYTES, NULL, 0);
}

static void flash_header(uint8_t h[FLASH_HEADER_BYTES], const struct nacre_host_geometry *g)
{
    memset(h, 0, FLASH_HEADER_BYTES);
    memcpy(h, FLASH_MAGIC, MAGIC_BYTES);
    put_le32(h + 8, FLASH_VERSION);
    put_le32(h + 12, g->sector_size);
    put_le32(h + 16, g->write_size);
    put_le32(h + 20, NACRE_FLASH_AREA_COUNT);
    uint32_t first = 0; /* fits: geometry_ok bounded the total */
    for (unsigned i = 0; i < NACRE_FLASH_AREA_COUNT; i++) {
        put_le32(h + FLASH_AREA_TABLE_OFFSET + 8 * i, first);
        put_le32(h + FLASH_AREA_TABLE_OFFSET + 8 * i + 4, g->area_sectors[i]);
        first += g->area_sectors[i];
    }
    crypto_generichash(h + FLASH_HASHED_BYTES, HEADER_HASH_BYTES, h, FLASH_HASHED_BYTES, NULL, 0);
}

static bool header_hash_ok(const uint8_t *h, size_t hashed)
{
    uint8_t want[HEADER_HASH_BYTES];
    crypto_generichash(want, sizeof want, h, hashed, NULL, 0);
    return memcmp(want, h + hashed, sizeof want) == 0;
}

/* ---------------------------------------------------------- create / open */

void nacre_host_geometry_default(struct nacre_host_geometry *g)
{
    if (g == NULL) {
        return;
    }
    memset(g, 0, sizeof *g);
    g->sector_size = 4096;
    g->write_size = 8;
    g->area_sectors[NACRE_FLASH_AREA_COUNTERS] = 2;
    g->area_sectors[NACRE_FLASH_AREA_BOOT_STATE] = 2;
    g->area_sectors[NACRE_FLASH_AREA_SLOT_A] = 256;
    g->area_sectors[NACRE_FLASH_AREA_SLOT_B] = 256;
    g->area_sectors[NACRE_FLASH_AREA_EVENT_LOG] = 4;
    g->area_sectors[NACRE_FLASH_AREA_STORAGE] = 16;
}

/*
 * Write a complete file under a temporary name: header, then fill_len bytes
 * of fill (0x00 or 0xFF), then fsync, so that the rename that publishes it
 * can only ever expose a whole file.
 */
static int write_temp(int dfd, const char *name, const uint8_t *hdr, size_t hdr_len,
                      uint64_t fill_len, uint8_t fill, char *why, const char *dir)
{
    /* O_TRUNC: a stale temp file from a crashed create is simply redone.
     * O_NOFOLLOW: never write through a symlink planted under that name. */
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        set_detail(why, "%s/%s: %s", dir, name, strerror(errno));
        return -1;
    }
    int rc = 0;
    if (pwrite_all(fd, hdr, hdr_len, 0) != 0 || fill_bytes(fd, hdr_len, fill_len, fill) != 0) {
        rc = -1;
    }
    if (rc == 0 && fsync(fd) != 0) {
        rc = -1;
    }
    if (rc != 0) {
        set_detail(why, "%s/%s: write: %s", dir, name, strerror(errno));
    }
    if (close(fd) != 0 && rc == 0) {
        set_detail(why, "%s/%s: close: %s", dir, name, strerror(errno));
        rc = -1;
    }
    return rc;
}

nacre_board_status nacre_host_device_create(const char *dir, const struct nacre_host_geometry *g,
                                            const char **detail)
{
    char *why = tls_detail;
    why[0] = '\0';
    if (detail != NULL) {
        *detail = why;
    }
    if (dir == NULL || dir[0] == '\0') {
        set_detail(why, "device directory must be a non-empty path");
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    struct nacre_host_geometry geo;
    if (g != NULL) {
        geo = *g;
    } else {
        nacre_host_geometry_default(&geo);
    }
    uint64_t data_bytes = 0;
    char reason[DETAIL_BYTES];
    if (!geometry_ok(geo.sector_size, geo.write_size, geo.area_sectors, &data_bytes, reason)) {
        set_detail(why, "bad geometry: %s", reason);
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    if (sodium_init() < 0) {
        set_detail(why, "libsodium failed to initialise");
        return NACRE_BOARD_ERR_IO;
    }

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        set_detail(why, "%s: mkdir: %s", dir, strerror(errno));
        return NACRE_BOARD_ERR_IO;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        set_detail(why, "%s: %s", dir, strerror(errno));
        return NACRE_BOARD_ERR_IO;
    }
    const char *names[2] = {OTP_NAME, FLASH_NAME};
    for (unsigned i = 0; i < 2; i++) {
        struct stat st;
        if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
            set_detail(why, "%s: already holds a device (%s exists)", dir, names[i]);
            close(dfd);
            return NACRE_BOARD_ERR_IO;
        }
        if (errno != ENOENT) {
            set_detail(why, "%s/%s: %s", dir, names[i], strerror(errno));
            close(dfd);
            return NACRE_BOARD_ERR_IO;
        }
    }

    uint8_t fh[FLASH_HEADER_BYTES];
    uint8_t oh[OTP_HEADER_BYTES];
    flash_header(fh, &geo);
    otp_header(oh);
    nacre_board_status st = NACRE_BOARD_ERR_IO;
    if (write_temp(dfd, FLASH_TMP_NAME, fh, sizeof fh, data_bytes, NACRE_BOARD_FLASH_ERASED, why,
                   dir) != 0) {
        goto out;
    }
    if (write_temp(dfd, OTP_TMP_NAME, oh, sizeof oh, NACRE_BOARD_OTP_BYTES, 0x00, why, dir) != 0) {
        goto out;
    }
    /*
     * Publish flash.bin first and otp.bin last: open looks for otp.bin
     * first, so a crash between the renames leaves a directory that is
     * reported as "not a Nacre device", never a device with a missing or
     * partial file.
     */
    if (renameat(dfd, FLASH_TMP_NAME, dfd, FLASH_NAME) != 0) {
        set_detail(why, "%s/%s: rename: %s", dir, FLASH_NAME, strerror(errno));
        goto out;
    }
    if (renameat(dfd, OTP_TMP_NAME, dfd, OTP_NAME) != 0) {
        set_detail(why, "%s/%s: rename: %s", dir, OTP_NAME, strerror(errno));
        (void)unlinkat(dfd, FLASH_NAME, 0);
        goto out;
    }
    /* Make the new names durable too. */
    if (fsync(dfd) != 0) {
        set_detail(why, "%s: fsync: %s", dir, strerror(errno));
        goto out;
    }
    st = NACRE_BOARD_OK;
out:
    if (st != NACRE_BOARD_OK) {
        (void)unlinkat(dfd, FLASH_TMP_NAME, 0);
        (void)unlinkat(dfd, OTP_TMP_NAME, 0);
    }
    close(dfd);
    return st;
}

static void board_free(struct nacre_board *b)
{
    if (b->otp_fd >= 0) {
        close(b->otp_fd);
    }
    if (b->flash_fd >= 0) {
        close(b->flash_fd); /* releases the flock() */
    }
    /* The OTP cache holds the UDS and the seed makes entropy predictable. */
    sodium_memzero(b, sizeof *b);
    free(b);
}

static nacre_board_status open_files(struct nacre_board *b, const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        return fail(b, NACRE_BOARD_ERR_IO, "%s: %s", dir, strerror(errno));
    }
    nacre_board_status st = NACRE_BOARD_OK;
    b->otp_fd = openat(dfd, OTP_NAME, O_RDWR | O_CLOEXEC);
    if (b->otp_fd < 0) {
        st = errno == ENOENT
                 ? fail(b, NACRE_BOARD_ERR_IO, "%s: not a Nacre device (no %s)", dir, OTP_NAME)
                 : fail(b, NACRE_BOARD_ERR_IO, "%s/%s: %s", dir, OTP_NAME, strerror(errno));
        goto out;
    }
    b->flash_fd = openat(dfd, FLASH_NAME, O_RDWR | O_CLOEXEC);
    if (b->flash_fd < 0) {
        st = errno == ENOENT
                 ? fail(b, NACRE_BOARD_ERR_IO, "%s: not a Nacre device (no %s)", dir, FLASH_NAME)
                 : fail(b, NACRE_BOARD_ERR_IO, "%s/%s: %s", dir, FLASH_NAME, strerror(errno));
        goto out;
    }
    /*
     * One powered-on instance per device: two instances would each cache
     * OTP and interleave writes, which no real part can do. flock() locks
     * belong to the open file description, so this also catches a second
     * open from the same process.
     */
    int r;
    do {
        r = flock(b->flash_fd, LOCK_EX | LOCK_NB);
    } while (r != 0 && errno == EINTR);
    if (r != 0) {
        st = errno == EWOULDBLOCK
                 ? fail(b, NACRE_BOARD_ERR_IO, "%s: device is in use", dir)
                 : fail(b, NACRE_BOARD_ERR_IO, "%s/%s: flock: %s", dir, FLASH_NAME,
                        strerror(errno));
    }
out:
    close(dfd);
    return st;
}

/* Check that a file is a regular file of exactly want bytes. */
static nacre_board_status check_size(struct nacre_board *b, int fd, const char *name, uint64_t want)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return fail(b, NACRE_BOARD_ERR_IO, "%s: fstat: %s", name, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(b, NACRE_BOARD_ERR_CORRUPT, "%s: not a regular file", name);
    }
    if ((uint64_t)st.st_size < want) {
        return fail(b, NACRE_BOARD_ERR_CORRUPT, "%s: truncated: %jd bytes, expected %" PRIu64,
                    name, (intmax_t)st.st_size, want);
    }
    if ((uint64_t)st.st_size > want) {
        return fail(b, NACRE_BOARD_ERR_CORRUPT, "%s: extended: %jd bytes, expected %" PRIu64,
                    name, (intmax_t)st.st_size, want);
    }
    return NACRE_BOARD_OK;
}

static nacre_board_status load_otp(struct nacre_board *b)
{
    nacre_board_status st = check_size(b, b->otp_fd, OTP_NAME, OTP_FILE_BYTES);
    if (st != NACRE_BOARD_OK) {
        return st;
    }
    uint8_t file[OTP_FILE_BYTES];
    if (pread_all(b->otp_fd, file, sizeof file, 0) != 0) {
        st = fail(b, NACRE_BOARD_ERR_IO, "%s: read: %s", OTP_NAME, io_reason(errno));
    } else if (memcmp(file, OTP_MAGIC, MAGIC_BYTES) != 0) {
        st = fail(b, NACRE_BOARD_ERR_CORRUPT, "%s: bad magic", OTP_NAME);
    } else if (get_le32(file + 8) != OTP_VERSION) {
        st = fail(b, NACRE_BOARD_ERR_CORRUPT, "%s: unsupported version %" PRIu32, OTP_NAME,
                  get_le32(file + 8));
    } else if (!header_hash_ok(file, OTP_HASHED_BYTES)) {
        st = fail(b, NACRE_BOARD_ERR_CORRUPT, "%s: header checksum mismatch", OTP_NAME);
    } else if (get_le32(file + 12) != NACRE_BOARD_OTP_BYTES) {
        st = fail(b, NACRE_BOARD_ERR_CORRUPT, "%s: OTP size %" PRIu32 ", expected %u", OTP_NAME,
                  get_le32(file + 12), NACRE_BOARD_OTP_BYTES);
    } else {
        memcpy(b->otp, file + OTP_HEADER_BYTES, NACRE_BOARD_OTP_BYTES);
    }
    sodium_memzero(file, sizeof file); /* may hold the UDS */
    return st;
}

static nacre_board_status load_flash(struct nacre_board *b)
{
    struct stat sb;
    if (fstat(b->flash_fd, &sb) != 0) {
        return fail(b, NACRE_BOARD_ERR_IO, "%s: fstat: %s", FLASH_NAME, strerror(errno));
    }
    if (!S_ISREG(sb.st_mode)) {
        return fail(b, NACRE_BOARD_ERR_CORRUPT, "%s: not a regular file", FLASH_NAME);
    }
    if ((uint64_t)sb.st_size < FLASH_HEADER_BYTES) {
        return fail(b, NACRE_BOARD_ERR_CORRUPT,
                    "%s: truncated: %jd bytes, expected at least a %u-byte header", FLASH_NAME,
                    (intmax_t)sb.st_size, FLASH_HEADER_BYTES);
    }
    uint8_t h[FLASH_HEADER_BYTES];
    if (pread_all(b->flash_fd, h, sizeof h, 0) != 0) {
        return fail(b, NACRE_BOARD_ERR_IO, "%s: read: %s", FLASH_NAME, io_reason(errno));
    }
    if (memcmp(h, FLASH_MAGIC, MAGIC_BYTES) != 0) {
        return fail(b, NACRE_BOARD_ERR_CORRUPT, "%s: bad magic", FLASH_NAME);
    }
    if (get_le32(h + 8) != FLASH_VERSION) {
        return fail(b, NACRE_BOARD_ERR_CORRUPT, "%s: unsupported version %" PRIu32, FLASH_NAME,
                    get_le32(h + 8));
    }
    if (!header_hash_ok(h, FLASH_HASHED_BYTES)) {
        return fail(b, NACRE_BOARD_ERR_CORRUPT, "%s: header checksum mismatch", FLASH_NAME);
    }
    /* The checksum only proves the header is intact, not that it is sane. */
    if (get_le32(h + 20) != NACRE_FLASH_AREA_COUNT) {
        return fail(b, NACRE_BOARD_ERR_CORRUPT, "%s: %" PRIu32 " areas, expected %u", FLASH_NAME,
                    get_le32(h + 20), (unsigned)NACRE_FLASH_AREA_COUNT);
    }
    for (size_t i = FLASH_AREA_TABLE_END; i < FLASH_HASHED_BYTES; i++) {
        if (h[i] != 0) {
            return fail(b, NACRE_BOARD_ERR_CORRUPT, "%s: reserved header byte %zu is not zero",
                        FLASH_NAME, i);
        }
    }
    uint32_t sector_size = get_le32(h + 12);
    uint32_t write_size = get_le32(h + 16);
    uint32_t first[NACRE_FLASH_AREA_COUNT];
    uint32_t sectors[NACRE_FLASH_AREA_COUNT];
    for (unsigned i = 0; i < NACRE_FLASH_AREA_COUNT; i++) {
        first[i] = get_le32(h + FLASH_AREA_TABLE_OFFSET + 8 * i);
        sectors[i] = get_le32(h + FLASH_AREA_TABLE_OFFSET + 8 * i + 4);
    }
    uint64_t data_bytes = 0;
    char reason[DETAIL_BYTES];
    if (!geometry_ok(sector_size, write_size, sectors, &data_bytes, reason)) {
        return fail(b, NACRE_BOARD_ERR_CORRUPT, "%s: %s", FLASH_NAME, reason);
    }
    uint64_t next = 0; /* bounded by geometry_ok: no overflow */
    for (unsigned i = 0; i < NACRE_FLASH_AREA_COUNT; i++) {
        if (first[i] != next) {
            return fail(b, NACRE_BOARD_ERR_CORRUPT,
                        "%s: area %u starts at sector %" PRIu32 ", expected %" PRIu64
                        " (areas are contiguous, in order)",
                        FLASH_NAME, i, first[i], next);
        }
        next += sectors[i];
    }
    nacre_board_status st = check_size(b, b->flash_fd, FLASH_NAME, FLASH_HEADER_BYTES + data_bytes);
    if (st != NACRE_BOARD_OK) {
        return st;
    }
    b->sector_size = sector_size;
    b->write_size = write_size;
    memcpy(b->area_first, first, sizeof first);
    memcpy(b->area_sectors, sectors, sizeof sectors);
    return NACRE_BOARD_OK;
}

nacre_board_status nacre_host_board_open(const char *dir, struct nacre_board **out,
                                         const char **detail)
{
    tls_detail[0] = '\0';
    if (detail != NULL) {
        *detail = tls_detail;
    }
    if (out != NULL) {
        *out = NULL;
    }
    if (dir == NULL || dir[0] == '\0' || out == NULL) {
        set_detail(tls_detail, "device directory and out must not be NULL or empty");
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    if (sodium_init() < 0) {
        set_detail(tls_detail, "libsodium failed to initialise");
        return NACRE_BOARD_ERR_IO;
    }
    struct nacre_board *b = calloc(1, sizeof *b);
    if (b == NULL) {
        set_detail(tls_detail, "out of memory");
        return NACRE_BOARD_ERR_IO;
    }
    b->otp_fd = -1;
    b->flash_fd = -1;
    b->cut_after = -1;
    nacre_board_status st = open_files(b, dir);
    if (st == NACRE_BOARD_OK) {
        st = load_otp(b);
    }
    if (st == NACRE_BOARD_OK) {
        st = load_flash(b);
    }
    if (st != NACRE_BOARD_OK) {
        set_detail(tls_detail, "%s", b->detail);
        board_free(b);
        return st;
    }
    b->detail[0] = '\0';
    *out = b;
    return NACRE_BOARD_OK;
}

void nacre_host_board_close(struct nacre_board *b)
{
    if (b != NULL) {
        board_free(b);
    }
}

/* ------------------------------------------------------ host-only controls */

void nacre_host_board_set_power_cut(struct nacre_board *b, long n)
{
    if (b != NULL) {
        b->cut_after = n < 0 ? -1 : n;
    }
}

uint64_t nacre_host_board_write_count(const struct nacre_board *b)
{
    return b == NULL ? 0 : b->write_count;
}

int nacre_host_board_power_lost(const struct nacre_board *b)
{
    return b != NULL && b->power_lost ? 1 : 0;
}

void nacre_host_board_set_entropy_seed(struct nacre_board *b, const uint8_t seed[32])
{
    if (b == NULL) {
        return;
    }
    if (seed == NULL) {
        /* Back to the operating system's entropy. */
        b->seeded = false;
        sodium_memzero(b->entropy_seed, sizeof b->entropy_seed);
        sodium_memzero(b->entropy_block, sizeof b->entropy_block);
        return;
    }
    b->seeded = true;
    memcpy(b->entropy_seed, seed, SEED_BYTES);
    b->entropy_counter = 0;
    b->entropy_used = ENTROPY_BLOCK_BYTES; /* no block generated yet */
}

const char *nacre_host_board_detail(const struct nacre_board *b)
{
    return b == NULL ? "" : b->detail;
}

/* ------------------------------------------------------------ the contract */

/* Common entry check: after a power cut nothing works until reset. */
static nacre_board_status enter(struct nacre_board *b)
{
    if (b->power_lost) {
        return fail(b, NACRE_BOARD_ERR_POWER_LOST,
                    "power was lost; close and reopen the device (reset)");
    }
    return NACRE_BOARD_OK;
}

/*
 * Account for one persistent write. Returns true if this write is the one
 * the armed power cut tears. Only calls that would really change storage get
 * here (rejected and zero-length calls do not count).
 */
static bool persistent_write(struct nacre_board *b)
{
    b->write_count++;
    if (b->cut_after < 0) {
        return false;
    }
    if (b->cut_after == 0) {
        b->cut_after = -1;
        b->power_lost = true;
        return true;
    }
    b->cut_after--;
    return false;
}

static nacre_board_status otp_range(struct nacre_board *b, uint32_t offset, size_t len)
{
    if (offset > NACRE_BOARD_OTP_BYTES || len > NACRE_BOARD_OTP_BYTES - offset) {
        return fail(b, NACRE_BOARD_ERR_RANGE,
                    "OTP range [%" PRIu32 ", +%zu) is outside the %u-byte OTP", offset, len,
                    NACRE_BOARD_OTP_BYTES);
    }
    return NACRE_BOARD_OK;
}

/* Called after otp_range, so offset + len <= NACRE_BOARD_OTP_BYTES. */
static nacre_board_status otp_unlocked(struct nacre_board *b, uint32_t offset, size_t len)
{
    for (unsigned i = 0; i < b->lock_count; i++) {
        const struct otp_lock *l = &b->locks[i];
        if (len > 0 && offset < l->offset + l->len && l->offset < offset + len) {
            return fail(b, NACRE_BOARD_ERR_LOCKED,
                        "OTP range [%" PRIu32 ", +%zu) overlaps read-locked [%" PRIu32
                        ", +%" PRIu32 ")",
                        offset, len, l->offset, l->len);
        }
    }
    return NACRE_BOARD_OK;
}

nacre_board_status nacre_board_otp_read(struct nacre_board *b, uint32_t offset, void *buf,
                                        size_t len)
{
    if (b == NULL) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    nacre_board_status st = enter(b);
    if (st != NACRE_BOARD_OK) {
        return st;
    }
    if (buf == NULL && len > 0) {
        return fail(b, NACRE_BOARD_ERR_ARGUMENT, "otp_read: NULL buffer");
    }
    if ((st = otp_range(b, offset, len)) != NACRE_BOARD_OK ||
        (st = otp_unlocked(b, offset, len)) != NACRE_BOARD_OK) {
        return st;
    }
    if (len > 0) {
        memcpy(buf, b->otp + offset, len);
    }
    return NACRE_BOARD_OK;
}

nacre_board_status nacre_board_otp_program(struct nacre_board *b, uint32_t offset,
                                           const void *buf, size_t len)
{
    if (b == NULL) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    nacre_board_status st = enter(b);
    if (st != NACRE_BOARD_OK) {
        return st;
    }
    if (buf == NULL && len > 0) {
        return fail(b, NACRE_BOARD_ERR_ARGUMENT, "otp_program: NULL buffer");
    }
    if ((st = otp_range(b, offset, len)) != NACRE_BOARD_OK ||
        (st = otp_unlocked(b, offset, len)) != NACRE_BOARD_OK) {
        return st;
    }
    if (len == 0) {
        return NACRE_BOARD_OK;
    }
    bool torn = persistent_write(b);
    /* A torn program reaches only the first half of its bytes. */
    size_t n = torn ? len / 2 : len;
    uint8_t merged[NACRE_BOARD_OTP_BYTES];
    const uint8_t *src = buf;
    for (size_t i = 0; i < n; i++) {
        merged[i] = (uint8_t)(b->otp[offset + i] | src[i]); /* fuses only go 0 -> 1 */
    }
    if (n > 0 && pwrite_all(b->otp_fd, merged, n, (uint64_t)OTP_HEADER_BYTES + offset) != 0) {
        int err = errno;
        sodium_memzero(merged, sizeof merged);
        if (torn) {
            return fail(b, NACRE_BOARD_ERR_POWER_LOST, "power cut during OTP program (%s)",
                        strerror(err));
        }
        /* The cache is left untouched: a failed write must not look programmed. */
        return fail(b, NACRE_BOARD_ERR_IO, "%s: write: %s", OTP_NAME, strerror(err));
    }
    memcpy(b->otp + offset, merged, n);
    sodium_memzero(merged, sizeof merged);
    if (torn) {
        return fail(b, NACRE_BOARD_ERR_POWER_LOST,
                    "power cut during OTP program #%" PRIu64 ": %zu of %zu bytes programmed",
                    b->write_count, n, len);
    }
    return NACRE_BOARD_OK;
}

nacre_board_status nacre_board_otp_lock_read(struct nacre_board *b, uint32_t offset, size_t len)
{
    if (b == NULL) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    nacre_board_status st = enter(b);
    if (st != NACRE_BOARD_OK) {
        return st;
    }
    if ((st = otp_range(b, offset, len)) != NACRE_BOARD_OK) {
        return st;
    }
    if (len == 0) {
        return NACRE_BOARD_OK;
    }
    for (unsigned i = 0; i < b->lock_count; i++) {
        const struct otp_lock *l = &b->locks[i];
        if (offset >= l->offset && offset + len <= (size_t)l->offset + l->len) {
            return NACRE_BOARD_OK; /* already covered */
        }
    }
    if (b->lock_count == MAX_OTP_LOCKS) {
        return fail(b, NACRE_BOARD_ERR_ARGUMENT, "too many read-locked OTP ranges (max %u)",
                    MAX_OTP_LOCKS);
    }
    b->locks[b->lock_count].offset = offset;
    b->locks[b->lock_count].len = (uint32_t)len;
    b->lock_count++;
    return NACRE_BOARD_OK;
}

nacre_board_status nacre_board_flash_area(struct nacre_board *b, unsigned area_id,
                                          struct nacre_flash_area *out)
{
    if (b == NULL) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    nacre_board_status st = enter(b);
    if (st != NACRE_BOARD_OK) {
        return st;
    }
    if (out == NULL) {
        return fail(b, NACRE_BOARD_ERR_ARGUMENT, "flash_area: NULL output");
    }
    if (area_id >= NACRE_FLASH_AREA_COUNT) {
        return fail(b, NACRE_BOARD_ERR_ARGUMENT, "unknown flash area %u", area_id);
    }
    out->size = b->area_sectors[area_id] * b->sector_size; /* fits: checked at open */
    out->sector_size = b->sector_size;
    out->write_size = b->write_size;
    return NACRE_BOARD_OK;
}

/*
 * Check [offset, offset + len) against an area and compute the file offset
 * of its first byte. Written as "len <= size - offset" so that no sum can
 * wrap, whatever the caller passes.
 */
static nacre_board_status flash_range(struct nacre_board *b, unsigned area_id, uint32_t offset,
                                      size_t len, const char *op, uint64_t *file_off)
{
    if (area_id >= NACRE_FLASH_AREA_COUNT) {
        return fail(b, NACRE_BOARD_ERR_ARGUMENT, "%s: unknown flash area %u", op, area_id);
    }
    uint32_t size = b->area_sectors[area_id] * b->sector_size;
    if (offset > size || len > (size_t)(size - offset)) {
        return fail(b, NACRE_BOARD_ERR_RANGE,
                    "%s: [%" PRIu32 ", +%zu) is outside area %u (%" PRIu32 " bytes)", op, offset,
                    len, area_id, size);
    }
    *file_off = FLASH_HEADER_BYTES + (uint64_t)b->area_first[area_id] * b->sector_size + offset;
    return NACRE_BOARD_OK;
}

nacre_board_status nacre_board_flash_read(struct nacre_board *b, unsigned area_id, uint32_t offset,
                                          void *buf, size_t len)
{
    if (b == NULL) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    nacre_board_status st = enter(b);
    if (st != NACRE_BOARD_OK) {
        return st;
    }
    if (buf == NULL && len > 0) {
        return fail(b, NACRE_BOARD_ERR_ARGUMENT, "flash_read: NULL buffer");
    }
    uint64_t off = 0;
    if ((st = flash_range(b, area_id, offset, len, "flash_read", &off)) != NACRE_BOARD_OK) {
        return st;
    }
    if (len > 0 && pread_all(b->flash_fd, buf, len, off) != 0) {
        return fail(b, NACRE_BOARD_ERR_IO, "%s: read: %s", FLASH_NAME, io_reason(errno));
    }
    return NACRE_BOARD_OK;
}

nacre_board_status nacre_board_flash_write(struct nacre_board *b, unsigned area_id,
                                           uint32_t offset, const void *buf, size_t len)
{
    if (b == NULL) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    nacre_board_status st = enter(b);
    if (st != NACRE_BOARD_OK) {
        return st;
    }
    if (buf == NULL && len > 0) {
        return fail(b, NACRE_BOARD_ERR_ARGUMENT, "flash_write: NULL buffer");
    }
    uint64_t off = 0;
    if ((st = flash_range(b, area_id, offset, len, "flash_write", &off)) != NACRE_BOARD_OK) {
        return st;
    }
    if (offset % b->write_size != 0 || len % b->write_size != 0) {
        return fail(b, NACRE_BOARD_ERR_ALIGNMENT,
                    "flash_write: [%" PRIu32 ", +%zu) is not on the %" PRIu32 "-byte write unit",
                    offset, len, b->write_size);
    }
    if (len == 0) {
        return NACRE_BOARD_OK;
    }
    /*
     * Check the whole target before writing any of it, so that a refused
     * write leaves flash untouched (NOR would silently AND the bits).
     */
    uint8_t chunk[IO_CHUNK];
    for (size_t done = 0; done < len;) {
        size_t n = len - done < sizeof chunk ? len - done : sizeof chunk;
        if (pread_all(b->flash_fd, chunk, n, off + done) != 0) {
            return fail(b, NACRE_BOARD_ERR_IO, "%s: read: %s", FLASH_NAME, io_reason(errno));
        }
        for (size_t i = 0; i < n; i++) {
            if (chunk[i] != NACRE_BOARD_FLASH_ERASED) {
                return fail(b, NACRE_BOARD_ERR_NOT_ERASED,
                            "flash_write: area %u offset %" PRIu64 " is not erased", area_id,
                            (uint64_t)offset + done + i);
            }
        }
        done += n;
    }
    bool torn = persistent_write(b);
    /* A torn write reaches the first half, in whole write units. */
    size_t n = torn ? len / 2 / b->write_size * b->write_size : len;
    if (n > 0 && pwrite_all(b->flash_fd, buf, n, off) != 0) {
        int err = errno;
        if (torn) {
            return fail(b, NACRE_BOARD_ERR_POWER_LOST, "power cut during flash write (%s)",
                        strerror(err));
        }
        return fail(b, NACRE_BOARD_ERR_IO, "%s: write: %s", FLASH_NAME, strerror(err));
    }
    if (torn) {
        return fail(b, NACRE_BOARD_ERR_POWER_LOST,
                    "power cut during flash write #%" PRIu64 ": %zu of %zu bytes written",
                    b->write_count, n, len);
    }
    return NACRE_BOARD_OK;
}

nacre_board_status nacre_board_flash_erase(struct nacre_board *b, unsigned area_id,
                                           uint32_t offset, size_t len)
{
    if (b == NULL) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    nacre_board_status st = enter(b);
    if (st != NACRE_BOARD_OK) {
        return st;
    }
    uint64_t off = 0;
    if ((st = flash_range(b, area_id, offset, len, "flash_erase", &off)) != NACRE_BOARD_OK) {
        return st;
    }
    if (offset % b->sector_size != 0 || len % b->sector_size != 0) {
        return fail(b, NACRE_BOARD_ERR_ALIGNMENT,
                    "flash_erase: [%" PRIu32 ", +%zu) is not on %" PRIu32 "-byte sectors", offset,
                    len, b->sector_size);
    }
    if (len == 0) {
        return NACRE_BOARD_OK;
    }
    bool torn = persistent_write(b);
    /* A torn erase completes the first half of its sectors. */
    size_t n = torn ? len / b->sector_size / 2 * b->sector_size : len;
    if (fill_bytes(b->flash_fd, off, n, NACRE_BOARD_FLASH_ERASED) != 0) {
        int err = errno;
        if (torn) {
            return fail(b, NACRE_BOARD_ERR_POWER_LOST, "power cut during flash erase (%s)",
                        strerror(err));
        }
        return fail(b, NACRE_BOARD_ERR_IO, "%s: erase: %s", FLASH_NAME, strerror(err));
    }
    if (torn) {
        return fail(b, NACRE_BOARD_ERR_POWER_LOST,
                    "power cut during flash erase #%" PRIu64 ": %zu of %zu sectors erased",
                    b->write_count, n / b->sector_size, len / b->sector_size);
    }
    return NACRE_BOARD_OK;
}

/* Deterministic test stream: block i = BLAKE2b-512(key = seed, msg = LE64(i)). */
static void seeded_entropy(struct nacre_board *b, uint8_t *out, size_t len)
{
    while (len > 0) {
        if (b->entropy_used == ENTROPY_BLOCK_BYTES) {
            uint8_t ctr[8];
            for (unsigned i = 0; i < 8; i++) {
                ctr[i] = (uint8_t)(b->entropy_counter >> (8 * i));
            }
            crypto_generichash(b->entropy_block, ENTROPY_BLOCK_BYTES, ctr, sizeof ctr,
                               b->entropy_seed, SEED_BYTES);
            b->entropy_counter++;
            b->entropy_used = 0;
        }
        size_t n = ENTROPY_BLOCK_BYTES - b->entropy_used;
        if (n > len) {
            n = len;
        }
        memcpy(out, b->entropy_block + b->entropy_used, n);
        b->entropy_used += n;
        out += n;
        len -= n;
    }
}

nacre_board_status nacre_board_entropy(struct nacre_board *b, void *buf, size_t len)
{
    if (b == NULL) {
        return NACRE_BOARD_ERR_ARGUMENT;
    }
    nacre_board_status st = enter(b);
    if (st != NACRE_BOARD_OK) {
        return st;
    }
    if (buf == NULL && len > 0) {
        return fail(b, NACRE_BOARD_ERR_ARGUMENT, "entropy: NULL buffer");
    }
    if (b->seeded) {
        seeded_entropy(b, buf, len);
        return NACRE_BOARD_OK;
    }
    uint8_t *p = buf;
    while (len > 0) {
        /* getrandom() may return less than asked (large requests, signals). */
        ssize_t r = getrandom(p, len, 0);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail(b, NACRE_BOARD_ERR_ENTROPY, "getrandom: %s", strerror(errno));
        }
        p += r;
        len -= (size_t)r;
    }
    return NACRE_BOARD_OK;
}
