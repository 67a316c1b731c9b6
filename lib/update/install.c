/*
 * install.c - the streaming installer: an image arrives in chunks of any
 * size and goes straight into the inactive slot.
 *
 * Memory is bounded: the metadata (at most NACRE_UPDATE_METADATA_MAX bytes),
 * one BLAKE2b state and less than one flash write unit are buffered; chunks
 * are programmed as they come.
 *
 * Verification as it streams: the metadata comes first in the format, so as
 * soon as it is complete the signature, signer, anti-rollback counter,
 * component and size are checked and a bad image is refused before its
 * payload is accepted; the payload is hashed on the way to flash and its
 * digest checked at the end.
 *
 * Reset safety:
 *  - Only the inactive slot is written; the confirmed image is never touched.
 *  - Each time a whole sector of the slot is programmed (past the metadata),
 *    the journal records the progress and the image's id. After a power cut,
 *    nacre_install_begin finds that record, re-verifies the metadata from
 *    flash, re-hashes the payload up to the recorded point, and asks the
 *    caller to resume from there; bytes past it are erased again.
 *  - The image becomes pending only by the journal record written after the
 *    digest matched. A refused image has its first sector erased (its header
 *    is gone, so no boot can take it) before the journal forgets the install.
 */
#include <string.h>

#include "update_priv.h"

#define INSTALL_MAGIC 0x494E5354u
#define WRITE_UNIT_MAX 64u

struct install_state {
    uint32_t magic;
    int done;                  /* finished or refused: only abort is allowed */
    nacre_pluton *p;
    struct nacre_board *board;
    struct journal j;
    nacre_update_slot slot;
    unsigned area;
    uint32_t slot_size, sector_size, write_size;
    uint32_t received;         /* image bytes accepted */
    uint32_t written;          /* bytes programmed, a multiple of write_size */
    uint32_t erased;           /* the slot is erased from `written` up to here */
    uint32_t recorded;         /* progress last put in the journal */
    int header_known;          /* payload_offset is known */
    int meta_ok;               /* metadata verified; info is valid */
    uint32_t partial_len;
    uint8_t partial[WRITE_UNIT_MAX];
    struct nacre_image_info info;
    struct device_policy dp;
    crypto_generichash_blake2b_state hash;
    uint8_t meta[NACRE_UPDATE_METADATA_MAX];
};

_Static_assert(sizeof(struct install_state) <= NACRE_INSTALL_STATE_BYTES,
               "NACRE_INSTALL_STATE_BYTES too small");
_Static_assert(_Alignof(struct install_state) <= 64, "installer alignment");
_Static_assert(NACRE_UPDATE_METADATA_MAX <= NACRE_IMAGE_METADATA_MAX &&
                   NACRE_UPDATE_METADATA_MAX >= 256u &&
                   NACRE_UPDATE_METADATA_MAX % NACRE_IMAGE_PAYLOAD_ALIGN == 0,
               "NACRE_UPDATE_METADATA_MAX: 256..NACRE_IMAGE_METADATA_MAX, payload-aligned");

static struct install_state *state_of(nacre_installer *in)
{
    return (struct install_state *)(void *)in->opaque;
}

static uint32_t round_up(uint32_t v, uint32_t unit)
{
    return (v + unit - 1) / unit * unit;
}

/* Programs len bytes (a multiple of write_size) at st->written, erasing
 * whole sectors just ahead of the data. */
static nacre_update_status program(struct install_state *st, const uint8_t *data, uint32_t len)
{
    uint32_t end = st->written + len;
    if (end > st->slot_size || end < st->written) {
        return NACRE_UPDATE_ERR_TOO_LARGE;
    }
    if (end > st->erased) {
        uint32_t to = round_up(end, st->sector_size);
        nacre_board_status b = nacre_board_flash_erase(st->board, st->area, st->erased, to - st->erased);
        if (b != NACRE_BOARD_OK) {
            return update_from_board(b);
        }
        st->erased = to;
    }
    nacre_board_status b = nacre_board_flash_write(st->board, st->area, st->written, data, len);
    if (b != NACRE_BOARD_OK) {
        return update_from_board(b);
    }
    st->written = end;

    /* Record progress at each completed sector past the metadata. */
    uint32_t mark = st->written / st->sector_size * st->sector_size;
    if (st->meta_ok && mark > st->recorded && mark >= st->info.payload_offset) {
        struct journal_record next = st->j.cur;
        next.installing = (uint8_t)st->slot;
        next.install_progress = mark;
        memcpy(next.install_id, st->info.measurement, sizeof next.install_id);
        nacre_update_status s = journal_commit(st->board, &st->j, next);
        if (s != NACRE_UPDATE_OK) {
            return s;
        }
        st->recorded = mark;
    }
    return NACRE_UPDATE_OK;
}

/* Appends bytes to flash through the write-unit buffer. */
static nacre_update_status append(struct install_state *st, const uint8_t *data, uint32_t len)
{
    nacre_update_status s = NACRE_UPDATE_OK;
    if (st->partial_len > 0) {
        uint32_t n = st->write_size - st->partial_len;
        n = n < len ? n : len;
        memcpy(st->partial + st->partial_len, data, n);
        st->partial_len += n;
        data += n;
        len -= n;
        if (st->partial_len == st->write_size) {
            s = program(st, st->partial, st->write_size);
            st->partial_len = 0;
        }
    }
    uint32_t aligned = len / st->write_size * st->write_size;
    if (s == NACRE_UPDATE_OK && aligned > 0) {
        s = program(st, data, aligned);
    }
    if (s == NACRE_UPDATE_OK && len > aligned) {
        memcpy(st->partial, data + aligned, len - aligned);
        st->partial_len = len - aligned;
    }
    return s;
}

/* Refuses the image: erase its header sector, then forget the install. */
static nacre_update_status refuse(struct install_state *st, nacre_update_status why)
{
    st->done = 1;
    nacre_board_status b = nacre_board_flash_erase(st->board, st->area, 0, st->sector_size);
    if (b != NACRE_BOARD_OK) {
        return b == NACRE_BOARD_ERR_POWER_LOST ? NACRE_UPDATE_ERR_POWER_LOST : why;
    }
    if (st->j.cur.installing == st->slot) {
        struct journal_record next = st->j.cur;
        next.installing = NACRE_UPDATE_SLOT_NONE;
        next.install_progress = 0;
        memset(next.install_id, 0, sizeof next.install_id);
        nacre_update_status s = journal_commit(st->board, &st->j, next);
        if (s == NACRE_UPDATE_ERR_POWER_LOST) {
            return s;
        }
    }
    return why;
}

/* The metadata is complete: verify it before accepting any payload. */
static nacre_update_status check_meta(struct install_state *st)
{
    struct nacre_image_policy policy = st->dp.policy;
    policy.max_image_size = st->slot_size;
    nacre_update_status s = nacre_image_check(st->meta, st->info.payload_offset, &policy, &st->info);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    st->meta_ok = 1;
    crypto_generichash_blake2b_init(&st->hash, NULL, 0, NACRE_IMAGE_DIGEST_BYTES);
    return NACRE_UPDATE_OK;
}

/* Picks up an install cut short; 0 if there is nothing valid to resume. */
static int try_resume(struct install_state *st)
{
    const struct journal_record *r = &st->j.cur;
    size_t meta_len = 0;
    if (r->installing != st->slot || r->install_progress == 0 ||
        update_read_meta(st->board, st->slot, st->meta, &meta_len) != NACRE_UPDATE_OK) {
        return 0;
    }
    st->info.payload_offset = (uint32_t)meta_len;
    if (check_meta(st) != NACRE_UPDATE_OK ||
        memcmp(st->info.measurement, r->install_id, sizeof r->install_id) != 0 ||
        r->install_progress < st->info.payload_offset || r->install_progress > st->info.image_size ||
        r->install_progress % st->sector_size != 0) {
        st->meta_ok = 0;
        return 0;
    }
    /* Re-hash what is already in flash, using the tail of the metadata
     * buffer (past payload_offset) as the read buffer. */
    uint8_t *buf = st->meta + st->info.payload_offset;
    uint32_t room = NACRE_UPDATE_METADATA_MAX - st->info.payload_offset;
    uint8_t small[256];
    if (room < sizeof small) {
        buf = small;
        room = sizeof small;
    }
    for (uint32_t off = st->info.payload_offset; off < r->install_progress;) {
        uint32_t n = r->install_progress - off < room ? r->install_progress - off : room;
        if (nacre_board_flash_read(st->board, st->area, off, buf, n) != NACRE_BOARD_OK) {
            st->meta_ok = 0;
            return 0;
        }
        crypto_generichash_blake2b_update(&st->hash, buf, n);
        off += n;
    }
    st->header_known = 1;
    st->received = st->written = st->erased = st->recorded = r->install_progress;
    return 1;
}

nacre_update_status nacre_install_begin(nacre_installer *in, nacre_pluton *p, struct nacre_board *board,
                                        const struct nacre_update_config *cfg, uint32_t *resume_offset)
{
    if (in == NULL || p == NULL || board == NULL || resume_offset == NULL) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    struct install_state *st = state_of(in);
    memset(st, 0, sizeof *st);
    st->p = p;
    st->board = board;
    nacre_update_status s = journal_load(board, &st->j);
    if (s == NACRE_UPDATE_OK) {
        s = update_device_policy(p, cfg, &st->dp);
    }
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    /*
     * The inactive slot. Running a trial: the pending slot itself (the new
     * install replaces it; the confirmed image stays). Otherwise the slot
     * that is not running: normally the other one than the confirmed image,
     * and after a fallback boot the damaged confirmed slot, so the one valid
     * image left is never overwritten.
     */
    const struct journal_record *r = &st->j.cur;
    if (r->last_boot != NACRE_UPDATE_SLOT_NONE && r->last_boot_trial) {
        st->slot = (nacre_update_slot)r->last_boot;
    } else if (r->last_boot != NACRE_UPDATE_SLOT_NONE) {
        st->slot = update_other_slot((nacre_update_slot)r->last_boot);
    } else if (r->confirmed != NACRE_UPDATE_SLOT_NONE) {
        st->slot = update_other_slot((nacre_update_slot)r->confirmed);
    } else {
        st->slot = NACRE_UPDATE_SLOT_A;
    }
    st->area = update_slot_area(st->slot);
    struct nacre_flash_area area;
    nacre_board_status b = nacre_board_flash_area(board, st->area, &area);
    if (b != NACRE_BOARD_OK) {
        return update_from_board(b);
    }
    if (area.write_size > WRITE_UNIT_MAX || area.sector_size == 0 || area.size == 0) {
        return NACRE_UPDATE_ERR_STORAGE;
    }
    st->slot_size = area.size;
    st->sector_size = area.sector_size;
    st->write_size = area.write_size;
    st->magic = INSTALL_MAGIC;

    if (try_resume(st)) {
        *resume_offset = st->received;
        return NACRE_UPDATE_OK;
    }
    /* A fresh install cancels a pending image in this slot and forgets any
     * older install, before the first byte of the slot is erased. */
    struct journal_record next = *r;
    if (next.pending == st->slot) {
        next.pending = NACRE_UPDATE_SLOT_NONE;
        next.trial_boots = 0;
    }
    if (next.confirmed == st->slot) {
        next.confirmed = NACRE_UPDATE_SLOT_NONE; /* replacing a damaged confirmed image */
    }
    next.installing = NACRE_UPDATE_SLOT_NONE;
    next.install_progress = 0;
    memset(next.install_id, 0, sizeof next.install_id);
    if (next.pending != r->pending || next.confirmed != r->confirmed ||
        next.installing != r->installing || next.install_progress != r->install_progress) {
        s = journal_commit(board, &st->j, next);
        if (s != NACRE_UPDATE_OK) {
            st->magic = 0;
            return s;
        }
    }
    memset(&st->info, 0, sizeof st->info);
    *resume_offset = 0;
    return NACRE_UPDATE_OK;
}

nacre_update_status nacre_install_write(nacre_installer *in, const void *chunk, size_t len)
{
    if (in == NULL || (chunk == NULL && len > 0)) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    struct install_state *st = state_of(in);
    if (st->magic != INSTALL_MAGIC || st->done) {
        return NACRE_UPDATE_ERR_INSTALL_STATE;
    }
    const uint8_t *data = chunk;
    nacre_update_status s = NACRE_UPDATE_OK;
    while (len > 0 && s == NACRE_UPDATE_OK) {
        uint32_t n;
        if (!st->meta_ok) {
            uint32_t limit = st->header_known ? st->info.payload_offset : NACRE_IMAGE_HEADER_BYTES;
            n = limit - st->received < len ? limit - st->received : (uint32_t)len;
            memcpy(st->meta + st->received, data, n);
        } else {
            uint32_t left = st->info.image_size - st->received;
            if (len > left) {
                /* More bytes than the header announced. */
                return refuse(st, NACRE_UPDATE_ERR_INSTALL_STATE);
            }
            n = (uint32_t)len;
            crypto_generichash_blake2b_update(&st->hash, data, n);
        }
        s = append(st, data, n);
        st->received += n;
        data += n;
        len -= n;
        if (s != NACRE_UPDATE_OK) {
            break;
        }
        if (!st->header_known && st->received == NACRE_IMAGE_HEADER_BYTES) {
            s = nacre_image_parse(st->meta, NACRE_IMAGE_HEADER_BYTES, &st->info);
            if (s == NACRE_UPDATE_ERR_TRUNCATED && st->info.payload_offset > NACRE_IMAGE_HEADER_BYTES &&
                st->info.payload_offset <= NACRE_UPDATE_METADATA_MAX) {
                s = NACRE_UPDATE_OK;
                st->header_known = 1;
            } else if (s == NACRE_UPDATE_ERR_TRUNCATED &&
                       st->info.payload_offset > NACRE_UPDATE_METADATA_MAX) {
                s = NACRE_UPDATE_ERR_TOO_LARGE; /* more metadata than this build holds */
            } else if (s == NACRE_UPDATE_OK) {
                s = NACRE_UPDATE_ERR_BAD_HEADER; /* a header alone cannot be a whole image */
            }
        }
        if (s == NACRE_UPDATE_OK && st->header_known && !st->meta_ok &&
            st->received == st->info.payload_offset) {
            s = check_meta(st);
        }
    }
    if (s == NACRE_UPDATE_ERR_POWER_LOST) {
        st->done = 1;
        return s;
    }
    return s == NACRE_UPDATE_OK ? s : refuse(st, s);
}

nacre_update_status nacre_install_finish(nacre_installer *in, struct nacre_image_info *info)
{
    if (in == NULL) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    struct install_state *st = state_of(in);
    if (st->magic != INSTALL_MAGIC || st->done) {
        return NACRE_UPDATE_ERR_INSTALL_STATE;
    }
    if (!st->meta_ok || st->received != st->info.image_size) {
        return refuse(st, NACRE_UPDATE_ERR_TRUNCATED);
    }
    nacre_update_status s = NACRE_UPDATE_OK;
    if (st->partial_len > 0) {
        /* Pad the last write unit; the bytes past the image are not part of it. */
        memset(st->partial + st->partial_len, NACRE_BOARD_FLASH_ERASED, st->write_size - st->partial_len);
        s = program(st, st->partial, st->write_size);
        st->partial_len = 0;
    }
    if (s == NACRE_UPDATE_ERR_POWER_LOST) {
        st->done = 1;
        return s;
    }
    if (s != NACRE_UPDATE_OK) {
        return refuse(st, s);
    }
    uint8_t digest[NACRE_IMAGE_DIGEST_BYTES];
    crypto_generichash_blake2b_final(&st->hash, digest, sizeof digest);
    if (memcmp(digest, st->info.payload_digest, sizeof digest) != 0) {
        return refuse(st, NACRE_UPDATE_ERR_PAYLOAD_DIGEST);
    }
    /* The commit point: from this record on the image is pending. */
    struct journal_record next = st->j.cur;
    next.pending = (uint8_t)st->slot;
    next.trial_boots = 0;
    next.installing = NACRE_UPDATE_SLOT_NONE;
    next.install_progress = 0;
    memset(next.install_id, 0, sizeof next.install_id);
    s = journal_commit(st->board, &st->j, next);
    st->done = 1;
    if (s == NACRE_UPDATE_OK && info != NULL) {
        *info = st->info;
    }
    return s;
}

void nacre_install_abort(nacre_installer *in)
{
    if (in == NULL) {
        return;
    }
    struct install_state *st = state_of(in);
    if (st->magic == INSTALL_MAGIC && !st->done) {
        (void)refuse(st, NACRE_UPDATE_ERR_ARGUMENT);
    }
    sodium_memzero(st, sizeof *st);
}
