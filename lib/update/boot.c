/*
 * boot.c - the boot stage: pick, verify and measure the image to run.
 *
 * Order of every boot (each journal write happens BEFORE the action it
 * announces, so a power cut at any point repeats or completes the decision,
 * never skips it):
 *   1. read the slot state journal and the device policy (OTP root-key hash,
 *      pluton anti-rollback counters);
 *   2. a pending image: verify it; if it fails, drop it; if it has had its N
 *      trial boots without a confirm, revert (drop it) — unless no valid
 *      confirmed image exists to revert to; otherwise count one more trial
 *      boot and run it;
 *   3. else the confirmed image; if it no longer verifies, fall back to the
 *      other slot if that one verifies — booted, but NOT made the confirmed
 *      image and NOT raising the counters (nobody confirmed it);
 *   4. a confirmed image whose security counter / key epoch exceed the
 *      pluton counters means a confirm was cut before it raised them: raise
 *      them now (this is the only place besides confirm that raises them);
 *   5. extend R0 with the image measurement and complete the DICE boot.
 * The counters only ever rise to the values of an image that is confirmed,
 * so a revert can never land on an image below them.
 */
#include <string.h>

#include "update_priv.h"

#define READ_CHUNK (NACRE_UPDATE_METADATA_MAX < 1024u ? NACRE_UPDATE_METADATA_MAX : 1024u) /* fits the buffer */

nacre_update_status update_from_board(nacre_board_status status)
{
    switch (status) {
    case NACRE_BOARD_OK:
        return NACRE_UPDATE_OK;
    case NACRE_BOARD_ERR_POWER_LOST:
        return NACRE_UPDATE_ERR_POWER_LOST;
    default:
        return NACRE_UPDATE_ERR_STORAGE;
    }
}

nacre_update_status update_from_pluton(nacre_pluton_status status)
{
    switch (status) {
    case NACRE_PLUTON_OK:
        return NACRE_UPDATE_OK;
    case NACRE_PLUTON_ERR_POWER_LOST:
        return NACRE_UPDATE_ERR_POWER_LOST;
    case NACRE_PLUTON_ERR_STORAGE:
        return NACRE_UPDATE_ERR_STORAGE;
    default:
        return NACRE_UPDATE_ERR_PLUTON;
    }
}

unsigned update_slot_area(nacre_update_slot slot)
{
    return slot == NACRE_UPDATE_SLOT_A ? NACRE_FLASH_AREA_SLOT_A : NACRE_FLASH_AREA_SLOT_B;
}

nacre_update_slot update_other_slot(nacre_update_slot slot)
{
    return slot == NACRE_UPDATE_SLOT_A ? NACRE_UPDATE_SLOT_B : NACRE_UPDATE_SLOT_A;
}

nacre_update_status update_device_policy(nacre_pluton *p, const struct nacre_update_config *cfg,
                                         struct device_policy *out)
{
    memset(out, 0, sizeof *out);
    nacre_pluton_status ps = nacre_pluton_root_key_hash(p, out->root_key_hash);
    if (ps == NACRE_PLUTON_ERR_NOT_SET) {
        return NACRE_UPDATE_ERR_NO_ROOT_KEY;
    }
    if (ps == NACRE_PLUTON_OK) {
        ps = nacre_pluton_counter_read(p, NACRE_UPDATE_COUNTER_SECURITY,
                                       &out->policy.min_security_counter);
    }
    if (ps == NACRE_PLUTON_OK) {
        ps = nacre_pluton_counter_read(p, NACRE_UPDATE_COUNTER_KEY_EPOCH, &out->policy.min_key_epoch);
    }
    if (ps != NACRE_PLUTON_OK) {
        return update_from_pluton(ps);
    }
    out->policy.root_key_hash = out->root_key_hash;
    out->policy.component = cfg != NULL ? cfg->component : NULL;
    return NACRE_UPDATE_OK;
}

nacre_update_status update_read_meta(struct nacre_board *board, nacre_update_slot slot,
                                     uint8_t meta[NACRE_UPDATE_METADATA_MAX], size_t *meta_len)
{
    struct nacre_image_info info;
    unsigned area = update_slot_area(slot);
    nacre_board_status b = nacre_board_flash_read(board, area, 0, meta, NACRE_IMAGE_HEADER_BYTES);
    if (b != NACRE_BOARD_OK) {
        return update_from_board(b);
    }
    /* The header alone says how much metadata follows. */
    nacre_update_status s = nacre_image_parse(meta, NACRE_IMAGE_HEADER_BYTES, &info);
    if (s != NACRE_UPDATE_OK && s != NACRE_UPDATE_ERR_TRUNCATED) {
        return s;
    }
    if (info.payload_offset < NACRE_IMAGE_HEADER_BYTES || info.payload_offset > NACRE_IMAGE_METADATA_MAX) {
        return NACRE_UPDATE_ERR_BAD_HEADER;
    }
    if (info.payload_offset > NACRE_UPDATE_METADATA_MAX) {
        return NACRE_UPDATE_ERR_TOO_LARGE; /* more metadata than this build holds */
    }
    b = nacre_board_flash_read(board, area, NACRE_IMAGE_HEADER_BYTES, meta + NACRE_IMAGE_HEADER_BYTES,
                               info.payload_offset - NACRE_IMAGE_HEADER_BYTES);
    if (b != NACRE_BOARD_OK) {
        return b == NACRE_BOARD_ERR_RANGE ? NACRE_UPDATE_ERR_TOO_LARGE : update_from_board(b);
    }
    *meta_len = info.payload_offset;
    return NACRE_UPDATE_OK;
}

/* The verification itself, in meta (NACRE_UPDATE_METADATA_MAX bytes). */
static nacre_update_status verify_slot_in(struct nacre_board *board, nacre_update_slot slot,
                                          struct nacre_image_policy policy, struct nacre_image_info *info,
                                          uint8_t *meta)
{
    size_t meta_len = 0;
    struct nacre_flash_area area;
    unsigned area_id = update_slot_area(slot);
    nacre_board_status b = nacre_board_flash_area(board, area_id, &area);
    if (b != NACRE_BOARD_OK) {
        return update_from_board(b);
    }
    nacre_update_status s = update_read_meta(board, slot, meta, &meta_len);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    policy.max_image_size = area.size;
    s = nacre_image_check(meta, meta_len, &policy, info);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    /* The payload, streamed through the digest in small reads. */
    crypto_generichash_blake2b_state h;
    uint8_t digest[NACRE_IMAGE_DIGEST_BYTES];
    crypto_generichash_blake2b_init(&h, NULL, 0, sizeof digest);
    for (uint32_t off = 0; off < info->payload_size;) {
        uint32_t n = info->payload_size - off < READ_CHUNK ? info->payload_size - off : READ_CHUNK;
        b = nacre_board_flash_read(board, area_id, info->payload_offset + off, meta, n);
        if (b != NACRE_BOARD_OK) {
            return update_from_board(b);
        }
        crypto_generichash_blake2b_update(&h, meta, n);
        off += n;
    }
    crypto_generichash_blake2b_final(&h, digest, sizeof digest);
    if (memcmp(digest, info->payload_digest, sizeof digest) != 0) {
        return NACRE_UPDATE_ERR_PAYLOAD_DIGEST;
    }
    return NACRE_UPDATE_OK;
}

/*
 * The same with the buffer on the stack. Kept out of line so that the 4 KiB
 * frame exists only on this path: a board that lends a verify_buffer (a
 * microcontroller whose Secure stack is a few KiB) never pays for it.
 */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static nacre_update_status verify_slot_on_stack(struct nacre_board *board, nacre_update_slot slot,
                                                struct nacre_image_policy policy,
                                                struct nacre_image_info *info)
{
    uint8_t meta[NACRE_UPDATE_METADATA_MAX];
    return verify_slot_in(board, slot, policy, info, meta);
}

nacre_update_status update_verify_slot(struct nacre_board *board, nacre_update_slot slot,
                                       struct nacre_image_policy policy,
                                       struct nacre_image_info *info, uint8_t *buf)
{
    return buf != NULL ? verify_slot_in(board, slot, policy, info, buf)
                       : verify_slot_on_stack(board, slot, policy, info);
}

uint8_t *update_verify_buffer(const struct nacre_update_config *cfg)
{
    return cfg != NULL ? cfg->verify_buffer : NULL;
}

nacre_update_status update_raise_counters(nacre_pluton *p, const struct nacre_image_info *info)
{
    uint32_t v;
    nacre_pluton_status ps = nacre_pluton_counter_read(p, NACRE_UPDATE_COUNTER_SECURITY, &v);
    if (ps == NACRE_PLUTON_OK && info->security_counter > v) {
        ps = nacre_pluton_counter_advance(p, NACRE_UPDATE_COUNTER_SECURITY, info->security_counter);
    }
    if (ps == NACRE_PLUTON_OK) {
        ps = nacre_pluton_counter_read(p, NACRE_UPDATE_COUNTER_KEY_EPOCH, &v);
    }
    if (ps == NACRE_PLUTON_OK && !info->signed_by_root && info->key_epoch > v) {
        ps = nacre_pluton_counter_advance(p, NACRE_UPDATE_COUNTER_KEY_EPOCH, info->key_epoch);
    }
    return update_from_pluton(ps);
}

static unsigned max_trials(const struct nacre_update_config *cfg)
{
    return cfg != NULL && cfg->max_trial_boots != 0 ? cfg->max_trial_boots
                                                     : NACRE_UPDATE_DEFAULT_TRIAL_BOOTS;
}

/* Extend R0 with the image measurement and complete the DICE boot. */
static nacre_update_status measure_and_boot(nacre_pluton *p, const struct nacre_image_info *info)
{
    nacre_pluton_status ps = nacre_pluton_measure_extend(p, NACRE_PLUTON_BOOT_REGISTER, info->measurement);
    if (ps == NACRE_PLUTON_OK) {
        ps = nacre_pluton_boot_complete(p);
    }
    return update_from_pluton(ps);
}

/* Field by field: struct padding must not decide whether we write flash. */
static int record_same(const struct journal_record *a, const struct journal_record *b)
{
    return a->confirmed == b->confirmed && a->pending == b->pending &&
           a->trial_boots == b->trial_boots && a->last_boot == b->last_boot &&
           a->last_boot_trial == b->last_boot_trial && a->installing == b->installing &&
           a->install_progress == b->install_progress &&
           memcmp(a->install_id, b->install_id, sizeof a->install_id) == 0;
}

static int slot_valid(nacre_update_slot slot)
{
    return slot == NACRE_UPDATE_SLOT_A || slot == NACRE_UPDATE_SLOT_B;
}

/* Every entry point starts here: the journal and the device's policy. */
static nacre_update_status load_device(nacre_pluton *p, struct nacre_board *board,
                                       const struct nacre_update_config *cfg, struct journal *j,
                                       struct device_policy *dp)
{
    nacre_update_status s = journal_load(board, j);
    return s == NACRE_UPDATE_OK ? update_device_policy(p, cfg, dp) : s;
}

/* Verifies a slot; storage failures abort the boot, anything else is a verdict. */
static int fatal(nacre_update_status s)
{
    return s == NACRE_UPDATE_ERR_POWER_LOST || s == NACRE_UPDATE_ERR_STORAGE;
}

nacre_update_status nacre_boot_run(nacre_pluton *p, struct nacre_board *board,
                                   const struct nacre_update_config *cfg, struct nacre_boot_result *out)
{
    struct journal j;
    struct device_policy dp;
    struct nacre_image_info info, back_info;
    if (p == NULL || board == NULL || out == NULL) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    out->max_trials = max_trials(cfg);
    uint8_t *vbuf = update_verify_buffer(cfg);
    nacre_update_status s = load_device(p, board, cfg, &j, &dp);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    struct journal_record next = j.cur;
    nacre_update_slot confirmed = (nacre_update_slot)j.cur.confirmed;
    nacre_update_slot pending = (nacre_update_slot)j.cur.pending;

    /*
     * The slot to go back to: the other slot than the pending image, or, with
     * nothing pending, the confirmed one and failing that the other one.
     * Normally it is the confirmed image; when that is damaged it may be an
     * older valid image, booted as a FALLBACK: never marked confirmed and
     * never raising the counters, since nobody confirmed it.
     */
    nacre_update_slot back;
    nacre_update_status back_ok = NACRE_UPDATE_ERR_NO_IMAGE;
    if (slot_valid(pending)) {
        back = update_other_slot(pending);
    } else {
        back = slot_valid(confirmed) ? confirmed : NACRE_UPDATE_SLOT_A;
    }
    back_ok = update_verify_slot(board, back, dp.policy, &back_info, vbuf);
    if (fatal(back_ok)) {
        return back_ok;
    }
    if (back_ok != NACRE_UPDATE_OK && !slot_valid(pending)) {
        /* The first choice failed: report it, then try the other slot. */
        out->rejected = back;
        out->rejected_why = back_ok;
        back = update_other_slot(back);
        back_ok = update_verify_slot(board, back, dp.policy, &back_info, vbuf);
        if (fatal(back_ok)) {
            return back_ok;
        }
    }

    if (slot_valid(pending)) {
        nacre_update_status vp = update_verify_slot(board, pending, dp.policy, &info, vbuf);
        if (fatal(vp)) {
            return vp;
        }
        /* With nothing valid to go back to, a valid pending image keeps its trials. */
        int spent = j.cur.trial_boots >= out->max_trials && back_ok == NACRE_UPDATE_OK;
        if (vp == NACRE_UPDATE_OK && !spent) {
            /* Count the trial before running it: a crash mid-trial still counts. */
            next.trial_boots = (uint8_t)(j.cur.trial_boots < 255 ? j.cur.trial_boots + 1 : 255);
            next.last_boot = (uint8_t)pending;
            next.last_boot_trial = 1;
            s = journal_commit(board, &j, next);
            if (s != NACRE_UPDATE_OK) {
                return s;
            }
            out->slot = pending;
            out->reason = NACRE_BOOT_TRIAL;
            out->trial = next.trial_boots;
            out->image = info;
            return measure_and_boot(p, &info);
        }
        /* Drop the pending image: it is invalid, or its trials are spent. */
        out->rejected = pending;
        out->rejected_why = vp;
        out->reason = vp == NACRE_UPDATE_OK ? NACRE_BOOT_REVERTED : NACRE_BOOT_PENDING_REJECTED;
        next.pending = NACRE_UPDATE_SLOT_NONE;
        next.trial_boots = 0;
    }

    if (back_ok != NACRE_UPDATE_OK) {
        if (out->rejected == NACRE_UPDATE_SLOT_NONE) {
            out->rejected = back;
            out->rejected_why = back_ok;
        }
        /* Record the dropped pending image so it is not retried forever. */
        if (!record_same(&next, &j.cur)) {
            s = journal_commit(board, &j, next);
            if (s != NACRE_UPDATE_OK) {
                return s;
            }
        }
        return NACRE_UPDATE_ERR_NO_IMAGE;
    }
    int is_confirmed = back == confirmed;
    if (out->reason == 0) {
        out->reason = is_confirmed ? NACRE_BOOT_CONFIRMED : NACRE_BOOT_FALLBACK;
    }
    next.last_boot = (uint8_t)back;
    next.last_boot_trial = 0;
    if (!record_same(&next, &j.cur)) {
        s = journal_commit(board, &j, next);
        if (s != NACRE_UPDATE_OK) {
            return s;
        }
    }
    if (is_confirmed) {
        /* Completes a confirm that was cut before it raised the counters. */
        s = update_raise_counters(p, &back_info);
        if (s != NACRE_UPDATE_OK) {
            return s;
        }
    }
    out->slot = back;
    out->image = back_info;
    return measure_and_boot(p, &back_info);
}

nacre_update_status nacre_boot_attach(nacre_pluton *p, struct nacre_board *board,
                                      const struct nacre_update_config *cfg, struct nacre_boot_result *out)
{
    struct journal j;
    struct device_policy dp;
    if (p == NULL || board == NULL || out == NULL) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    out->max_trials = max_trials(cfg);
    nacre_update_status s = load_device(p, board, cfg, &j, &dp);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    uint8_t *vbuf = update_verify_buffer(cfg);
    nacre_update_slot slot = (nacre_update_slot)j.cur.last_boot;
    if (!slot_valid(slot)) {
        return NACRE_UPDATE_ERR_NO_IMAGE;
    }
    /* The counters may have risen since that boot (a confirm): an image
     * below them is not running any more, whatever the journal says. */
    s = update_verify_slot(board, slot, dp.policy, &out->image, vbuf);
    if (s != NACRE_UPDATE_OK) {
        out->rejected = slot;
        out->rejected_why = s;
        return s == NACRE_UPDATE_ERR_POWER_LOST || s == NACRE_UPDATE_ERR_STORAGE ? s : NACRE_UPDATE_ERR_NO_IMAGE;
    }
    out->slot = slot;
    if (j.cur.last_boot_trial) {
        out->reason = NACRE_BOOT_TRIAL;
        out->trial = j.cur.trial_boots;
    } else {
        out->reason = NACRE_BOOT_CONFIRMED;
    }
    return measure_and_boot(p, &out->image);
}

nacre_update_status nacre_update_confirm(nacre_pluton *p, struct nacre_board *board,
                                         const struct nacre_update_config *cfg,
                                         struct nacre_image_info *confirmed)
{
    struct journal j;
    struct device_policy dp;
    struct nacre_image_info info;
    if (p == NULL || board == NULL) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    nacre_update_status s = load_device(p, board, cfg, &j, &dp);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    nacre_update_slot pending = (nacre_update_slot)j.cur.pending;
    if (!slot_valid(pending) || !j.cur.last_boot_trial || j.cur.last_boot != pending) {
        return NACRE_UPDATE_ERR_NOT_PENDING;
    }
    uint8_t *vbuf = update_verify_buffer(cfg);
    s = update_verify_slot(board, pending, dp.policy, &info, vbuf);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    /* The journal first, the counters second: if power is cut in between,
     * the next boot raises the counters from the confirmed image. The other
     * order could leave a pending trial above counters its fallback is below. */
    struct journal_record next = j.cur;
    next.confirmed = (uint8_t)pending;
    next.pending = NACRE_UPDATE_SLOT_NONE;
    next.trial_boots = 0;
    next.last_boot_trial = 0;
    s = journal_commit(board, &j, next);
    if (s == NACRE_UPDATE_OK) {
        s = update_raise_counters(p, &info);
    }
    if (s == NACRE_UPDATE_OK && confirmed != NULL) {
        *confirmed = info;
    }
    return s;
}

nacre_update_status nacre_update_state_get(nacre_pluton *p, struct nacre_board *board,
                                           const struct nacre_update_config *cfg,
                                           struct nacre_update_state *out)
{
    struct journal j;
    struct device_policy dp;
    if (p == NULL || board == NULL || out == NULL) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    nacre_update_status s = load_device(p, board, cfg, &j, &dp);
    if (s != NACRE_UPDATE_OK) {
        return s;
    }
    out->confirmed = (nacre_update_slot)j.cur.confirmed;
    out->pending = (nacre_update_slot)j.cur.pending;
    out->trial_boots = j.cur.trial_boots;
    out->last_boot = (nacre_update_slot)j.cur.last_boot;
    out->last_boot_trial = j.cur.last_boot_trial;
    out->installing = (nacre_update_slot)j.cur.installing;
    out->install_progress = j.cur.install_progress;
    out->security_counter = dp.policy.min_security_counter;
    out->key_epoch = dp.policy.min_key_epoch;
    for (unsigned i = 0; i < 2; i++) {
        struct nacre_update_slot_view *v = &out->slots[i];
        uint8_t meta[NACRE_UPDATE_METADATA_MAX];
        size_t meta_len = 0;
        v->slot = i == 0 ? NACRE_UPDATE_SLOT_A : NACRE_UPDATE_SLOT_B;
        /* has_image: the metadata parses, whether or not it verifies. */
        if (update_read_meta(board, v->slot, meta, &meta_len) == NACRE_UPDATE_OK &&
            nacre_image_parse(meta, meta_len, &v->info) == NACRE_UPDATE_OK) {
            v->has_image = 1;
        }
        struct nacre_image_info checked;
        v->verdict = update_verify_slot(board, v->slot, dp.policy, &checked, NULL);
        if (v->verdict == NACRE_UPDATE_ERR_POWER_LOST) {
            return v->verdict;
        }
        if (v->verdict == NACRE_UPDATE_OK) {
            v->info = checked;
        }
    }
    return NACRE_UPDATE_OK;
}
