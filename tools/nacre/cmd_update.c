/*
 * cmd_update.c - nacre device install | boot | confirm | status: signed
 * updates on a host device, through libupdate's installer and boot stage.
 *
 * These commands power the device on WITHOUT the boot of the other device
 * commands (cli_device_open): 'boot' runs the boot stage, which completes the
 * DICE boot itself; 'confirm' re-enters the running image with
 * nacre_boot_attach; 'install' and 'status' need no boot.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

static const char install_name[] = "device install";
static const char boot_name[] = "device boot";
static const char confirm_name[] = "device confirm";
static const char status_name[] = "device status";

#define DEFAULT_CHUNK 4096u
#define MAX_CHUNK (1024u * 1024u)

/* An args parser printed the help: exit with CLI_OK. */
#define ARGS_HELP (-1)

/* ---- shared --------------------------------------------------------------------- */

struct update_args {
    const char *dir;
    const char *image; /* install */
    const char *component;
    uint32_t chunk;    /* install */
    int json;
};

/*
 * DIR (and, for install, IMG), --component NAME, --json and, for install,
 * --chunk BYTES.
 */
static int parse_update_args(const struct cli_command *cmd, int install, int argc, char **argv,
                             struct update_args *a)
{
    enum { OPT_COMPONENT = 256, OPT_JSON, OPT_CHUNK };
    static const struct option install_opts[] = {
        {"component", required_argument, NULL, OPT_COMPONENT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {"chunk", required_argument, NULL, OPT_CHUNK},
        {NULL, 0, NULL, 0},
    };
    static const struct option opts[] = {
        {"component", required_argument, NULL, OPT_COMPONENT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *chunk = NULL;
    int c;
    memset(a, 0, sizeof *a);
    a->chunk = DEFAULT_CHUNK;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", install ? install_opts : opts, NULL)) != -1) {
        switch (c) {
        case OPT_COMPONENT:
            a->component = optarg;
            break;
        case OPT_JSON:
            a->json = 1;
            break;
        case OPT_CHUNK:
            chunk = optarg;
            break;
        case 'h':
            (void)cli_print_usage(cmd);
            return ARGS_HELP;
        default:
            return cli_bad_option(cmd->name, c, argv);
        }
    }
    int want = install ? 2 : 1;
    if (argc - optind < want) {
        return cli_usage_error(cmd->name, optind >= argc ? "missing device directory DIR"
                                                         : "missing image file IMG");
    }
    if (argc - optind > want) {
        return cli_usage_error(cmd->name, "unexpected argument '%s'", argv[optind + want]);
    }
    a->dir = argv[optind];
    if (a->dir[0] == '\0') {
        return cli_usage_error(cmd->name, "DIR must not be empty");
    }
    if (install) {
        a->image = argv[optind + 1];
        if (a->image[0] == '\0') {
            return cli_usage_error(cmd->name, "IMG must not be empty");
        }
    }
    if (a->component != NULL && cli_component_ok(a->component) != 0) {
        return cli_usage_error(cmd->name, "--component must be 1..%u of [a-z0-9._-], not '%s'",
                               NACRE_IMAGE_COMPONENT_MAX, a->component);
    }
    if (chunk != NULL && (cli_parse_u32(chunk, &a->chunk) != 0 || a->chunk == 0 ||
                          a->chunk > MAX_CHUNK)) {
        return cli_usage_error(cmd->name, "--chunk needs a size 1..%u bytes, not '%s'",
                               MAX_CHUNK, chunk);
    }
    return CLI_OK;
}

/* Power on without booting; a BLANK device has no counters and no root key. */
static int open_device(struct cli_device *dev, const char *dir, const char *what)
{
    int rc = cli_device_open(dev, dir);
    if (rc != CLI_OK) {
        return rc;
    }
    if (nacre_pluton_lifecycle_get(dev->pluton) == NACRE_PLUTON_LIFECYCLE_BLANK) {
        rc = cli_pluton_fail(dev, what, NACRE_PLUTON_ERR_NOT_PROVISIONED);
        cli_device_close(dev);
    }
    return rc;
}

static json_t *json_slot(nacre_update_slot slot)
{
    return slot == NACRE_UPDATE_SLOT_NONE ? json_null()
                                          : json_string(nacre_update_slot_name(slot));
}

/* The device's anti-rollback counters (after an operation that may raise them). */
static int read_counters(struct cli_device *dev, uint32_t *security, uint32_t *epoch)
{
    nacre_pluton_status st =
        nacre_pluton_counter_read(dev->pluton, NACRE_UPDATE_COUNTER_SECURITY, security);
    if (st == NACRE_PLUTON_OK) {
        st = nacre_pluton_counter_read(dev->pluton, NACRE_UPDATE_COUNTER_KEY_EPOCH, epoch);
    }
    if (st != NACRE_PLUTON_OK) {
        return cli_pluton_fail(dev, "reading the anti-rollback counters", st);
    }
    return CLI_OK;
}

/* ---- install -------------------------------------------------------------------- */

static const char install_usage[] =
    "usage: nacre device install DIR IMG [--chunk BYTES] [--component NAME] [--json]\n"
    "\n"
    "Stream the signed image IMG into the inactive slot of the device (the slot\n"
    "that holds neither the confirmed image nor, if any, the running one), the\n"
    "way an update agent would: chunk by chunk through libupdate's installer,\n"
    "which verifies the metadata (signature, signer, anti-rollback counter,\n"
    "component, size) as soon as it has arrived and the payload digest at the\n"
    "end. The image then is PENDING: the next 'nacre device boot' gives it a\n"
    "trial boot, and 'nacre device confirm' makes it the confirmed image.\n"
    "\n"
    "  --chunk BYTES     read and send IMG in chunks of BYTES (1..1048576,\n"
    "                    default 4096)\n"
    "  --component NAME  this device runs component NAME: refuse other images\n"
    "                    (default: any component)\n"
    "  --json            print JSON instead of text\n"
    "  -h, --help        show this help\n"
    "\n"
    "A refused image leaves the inactive slot empty and the confirmed image\n"
    "untouched (exit 1 with the reason, e.g. \"refused downgrade: security counter\n"
    "below the device's\"). A pending image in the inactive slot is cancelled.\n"
    "If an install was cut short (power lost, see NACRE_POWER_CUT_AFTER in\n"
    "'nacre help device'), running the same command again resumes it from the\n"
    "last byte safely in flash (\"resuming at byte N\"); another image restarts.\n"
    "Progress is shown on standard error when it is a terminal.\n"
    "\n"
    "exit status: 0 installed (pending), 1 refused or failure, 2 usage error\n";

/* Installer state: 5 KiB, 64-byte aligned, no secrets (it is not key material). */
static nacre_installer installer;

struct install_file {
    const char *path;
    int fd;
    uint64_t size;
    struct nacre_image_info info; /* what the file's metadata says */
};

/* Open IMG and parse its metadata: a file that is no image touches nothing. */
static int install_file_open(struct install_file *f, const char *path)
{
    uint8_t meta[NACRE_IMAGE_METADATA_MAX];
    struct stat sb;
    f->path = path;
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (f->fd < 0) {
        return cli_fail("reading image %s: %s", path, strerror(errno));
    }
    if (fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int err = errno;
        close(f->fd);
        f->fd = -1;
        return cli_fail("reading image %s: %s", path,
                        err != 0 ? strerror(err) : "not a regular file");
    }
    f->size = (uint64_t)sb.st_size;
    size_t len = 0;
    while (len < sizeof meta) {
        ssize_t n = pread(f->fd, meta + len, sizeof meta - len, (off_t)len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int err = errno;
            close(f->fd);
            f->fd = -1;
            return cli_fail("reading image %s: %s", path, strerror(err));
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    nacre_update_status st = nacre_image_parse(meta, len, &f->info);
    if (st != NACRE_UPDATE_OK) {
        close(f->fd);
        f->fd = -1;
        return cli_fail("installing %s: %s", path, nacre_update_strerror(st));
    }
    return CLI_OK;
}

/* Redrawn when the percentage changes (--chunk 1 would flood the terminal). */
static void progress(int tty, uint64_t done, uint64_t total, unsigned *last)
{
    if (!tty) {
        return;
    }
    unsigned pct = total > 0 ? (unsigned)(done * 100u / total) : 100u;
    pct = pct > 100u ? 100u : pct;
    if (pct == *last) {
        return;
    }
    *last = pct;
    fprintf(stderr, "\rinstalling: %llu / %llu bytes (%u%%)", (unsigned long long)done,
            (unsigned long long)total, pct);
}

static void progress_clear(int tty)
{
    if (tty) {
        fputs("\r\033[K", stderr);
    }
}

/* The refusal, with the numbers behind it where the CLI knows them. */
static int install_fail(struct cli_device *dev, const struct install_file *f, const char *what,
                        nacre_update_status st, const struct nacre_update_config *cfg)
{
    uint32_t sec = 0, epoch = 0;
    if (st == NACRE_UPDATE_ERR_ROLLBACK &&
        nacre_pluton_counter_read(dev->pluton, NACRE_UPDATE_COUNTER_SECURITY, &sec) ==
            NACRE_PLUTON_OK) {
        return cli_fail("%s: %s (image %lu, device %lu)", what, nacre_update_strerror(st),
                        (unsigned long)f->info.security_counter, (unsigned long)sec);
    }
    if (st == NACRE_UPDATE_ERR_KEY_REVOKED &&
        nacre_pluton_counter_read(dev->pluton, NACRE_UPDATE_COUNTER_KEY_EPOCH, &epoch) ==
            NACRE_PLUTON_OK) {
        return cli_fail("%s: %s (device epoch %lu)", what, nacre_update_strerror(st),
                        (unsigned long)epoch);
    }
    if (st == NACRE_UPDATE_ERR_WRONG_COMPONENT && cfg->component != NULL) {
        return cli_fail("%s: %s ('%s'; this device runs '%s')", what, nacre_update_strerror(st),
                        f->info.component, cfg->component);
    }
    return cli_update_fail(dev, what, st);
}

/*
 * The installer resumes whatever install into the inactive slot was cut
 * short; it trusts the caller to send the same image. Check that it is this
 * file's image (same measurement in the slot's metadata); if not, give the
 * old one up and start afresh. *offset is updated; *discarded set if so.
 */
static nacre_update_status check_resume(struct cli_device *dev,
                                        const struct nacre_update_config *cfg,
                                        const struct install_file *f, uint32_t *offset,
                                        int *discarded)
{
    struct nacre_update_state state;
    *discarded = 0;
    nacre_update_status st = nacre_update_state_get(dev->pluton, dev->board, cfg, &state);
    if (st != NACRE_UPDATE_OK) {
        return st; /* nothing written: the install stays resumable */
    }
    const struct nacre_update_slot_view *v = NULL;
    if (state.installing == NACRE_UPDATE_SLOT_A || state.installing == NACRE_UPDATE_SLOT_B) {
        v = &state.slots[state.installing == NACRE_UPDATE_SLOT_A ? 0 : 1];
    }
    if (v != NULL && v->has_image &&
        memcmp(v->info.measurement, f->info.measurement, NACRE_IMAGE_DIGEST_BYTES) == 0) {
        return NACRE_UPDATE_OK;
    }
    nacre_install_abort(&installer);
    *discarded = 1;
    return nacre_install_begin(&installer, dev->pluton, dev->board, cfg, offset);
}

/* Send the file from offset to its end. */
static nacre_update_status stream(const struct install_file *f, uint32_t offset, uint32_t chunk,
                                  int tty, int *read_err)
{
    uint8_t *buf = malloc(chunk);
    *read_err = 0;
    if (buf == NULL) {
        *read_err = ENOMEM;
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    nacre_update_status st = NACRE_UPDATE_OK;
    uint64_t pos = offset;
    unsigned last = ~0u;
    progress(tty, pos, f->size, &last);
    while (st == NACRE_UPDATE_OK) {
        ssize_t n = pread(f->fd, buf, chunk, (off_t)pos);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            *read_err = errno;
            break;
        }
        if (n == 0) {
            break;
        }
        st = nacre_install_write(&installer, buf, (size_t)n);
        pos += (uint64_t)n;
        progress(tty, pos, f->size, &last);
    }
    free(buf);
    return st;
}

static int print_installed(const struct update_args *a, const struct install_file *f,
                           nacre_update_slot slot, uint32_t resumed_at, int discarded,
                           const struct nacre_image_info *info)
{
    if (a->json) {
        json_t *obj = json_object();
        if (obj != NULL) {
            json_object_set_new(obj, "device", json_string(a->dir));
            json_object_set_new(obj, "image_file", json_string(f->path));
            json_object_set_new(obj, "slot", json_slot(slot));
            json_object_set_new(obj, "state", json_string("pending"));
            json_object_set_new(obj, "resumed_at", json_integer((json_int_t)resumed_at));
            json_object_set_new(obj, "discarded_other_install", json_boolean(discarded));
            json_object_set_new(obj, "image", cli_json_image(info));
        }
        return cli_print_json(obj);
    }
    char line[160];
    char hex[65];
    cli_image_line(line, sizeof line, info);
    cli_kv("installed", "%s", line);
    cli_kv("slot", "%s", nacre_update_slot_name(slot));
    cli_hex32(hex, info->measurement);
    cli_kv("measurement", "%s", hex);
    cli_kv("pending", "it gets a trial boot at the next 'nacre device boot'");
    return CLI_OK;
}

static int run_install(int argc, char **argv)
{
    struct update_args a;
    int rc = parse_update_args(&cli_cmd_install, 1, argc, argv, &a);
    if (rc != CLI_OK) {
        return rc == ARGS_HELP ? CLI_OK : rc;
    }
    struct install_file f;
    struct cli_device dev;
    struct nacre_update_config cfg = {.component = a.component, .max_trial_boots = 0};
    struct nacre_image_info info;
    struct nacre_update_state state;
    char what[4096 + 32];
    uint32_t offset = 0;
    int discarded = 0;
    int read_err = 0;
    int tty = isatty(STDERR_FILENO);
    nacre_update_status st;

    rc = install_file_open(&f, a.image);
    if (rc != CLI_OK) {
        return rc;
    }
    snprintf(what, sizeof what, "installing %s", a.image);
    rc = open_device(&dev, a.dir, what);
    if (rc != CLI_OK) {
        close(f.fd);
        return rc;
    }

    st = nacre_install_begin(&installer, dev.pluton, dev.board, &cfg, &offset);
    if (st == NACRE_UPDATE_OK && offset > 0) {
        st = check_resume(&dev, &cfg, &f, &offset, &discarded);
    }
    if (st != NACRE_UPDATE_OK) {
        rc = install_fail(&dev, &f, what, st, &cfg);
        goto out;
    }
    if (!a.json) {
        if (discarded) {
            printf("discarded an interrupted install of another image\n");
        }
        if (offset > 0) {
            printf("resuming at byte %lu of %llu\n", (unsigned long)offset,
                   (unsigned long long)f.size);
        }
        fflush(stdout);
    }

    st = stream(&f, offset, a.chunk, tty, &read_err);
    progress_clear(tty);
    if (read_err != 0) {
        /* The bytes in flash stay: the same command resumes later. */
        rc = cli_fail("%s: reading: %s", what, strerror(read_err));
        goto out;
    }
    if (st == NACRE_UPDATE_OK) {
        st = nacre_install_finish(&installer, &info);
    }
    if (st != NACRE_UPDATE_OK) {
        rc = install_fail(&dev, &f, what, st, &cfg);
        goto out;
    }
    /* Which slot it went to: the journal says (read-only). */
    st = nacre_update_state_get(dev.pluton, dev.board, &cfg, &state);
    if (st != NACRE_UPDATE_OK) {
        rc = cli_update_fail(&dev, "installed, but reading the slot state failed", st);
        goto out;
    }
    rc = print_installed(&a, &f, state.pending, offset, discarded, &info);
out:
    sodium_memzero(&installer, sizeof installer);
    cli_device_close(&dev);
    close(f.fd);
    return rc;
}

const struct cli_command cli_cmd_install = {
    .name = install_name,
    .summary = "stream a signed image into the inactive slot (pending until confirmed)",
    .usage = install_usage,
    .run = run_install,
};

/* ---- boot ------------------------------------------------------------------------ */

static const char boot_usage[] =
    "usage: nacre device boot DIR [--component NAME] [--json]\n"
    "\n"
    "Reset the device and run the boot stage (nacre_boot_run): verify the slots\n"
    "against the root-key hash in OTP and the anti-rollback counters, pick the\n"
    "image, measure it into R0 and complete the DICE boot. Prints the slot\n"
    "booted, the image, and why:\n"
    "  confirmed image                  nothing pending\n"
    "  trial boot of a pending update   \"trial n of 3\"; confirm it with\n"
    "                                   'nacre device confirm'\n"
    "  reverted                         the pending image had its 3 trial boots\n"
    "                                   without a confirm: the confirmed one runs\n"
    "  pending update failed verification, fallback: confirmed image invalid\n"
    "and, when a slot was passed over, which one and why.\n"
    "\n"
    "Later device commands (info, seal, ...) act on the device as this boot left\n"
    "it: R0 and the Alias key are those of the image it chose.\n"
    "\n"
    "  --component NAME  this device runs component NAME (default: any)\n"
    "  --json            print JSON instead of text\n"
    "  -h, --help        show this help\n"
    "\n"
    "exit status: 0 booted, 1 failure (e.g. no bootable image: the reason of the\n"
    "slot passed over), 2 usage error\n";

static const char *reason_word(nacre_boot_reason r)
{
    switch (r) {
    case NACRE_BOOT_CONFIRMED:
        return "confirmed";
    case NACRE_BOOT_TRIAL:
        return "trial";
    case NACRE_BOOT_REVERTED:
        return "reverted";
    case NACRE_BOOT_PENDING_REJECTED:
        return "pending_rejected";
    case NACRE_BOOT_FALLBACK:
        return "fallback";
    }
    return "unknown";
}

/* Why a slot was passed over. */
static void passed_over_why(char *out, size_t n, const struct nacre_boot_result *r)
{
    if (r->reason == NACRE_BOOT_REVERTED && r->rejected_why == NACRE_UPDATE_OK) {
        snprintf(out, n, "not confirmed after %u trial boots", r->max_trials);
    } else if (r->rejected_why == NACRE_UPDATE_ERR_BAD_MAGIC) {
        /* An erased slot reads 0xFF: it has no magic either. */
        snprintf(out, n, "empty, or %s", nacre_update_strerror(r->rejected_why));
    } else {
        snprintf(out, n, "%s", nacre_update_strerror(r->rejected_why));
    }
}

static int print_boot(const struct update_args *a, const struct nacre_boot_result *r)
{
    char why[160];
    if (r->rejected != NACRE_UPDATE_SLOT_NONE) {
        passed_over_why(why, sizeof why, r);
    }
    if (a->json) {
        json_t *obj = json_object();
        json_t *over = NULL;
        if (obj != NULL) {
            json_object_set_new(obj, "device", json_string(a->dir));
            json_object_set_new(obj, "slot", json_slot(r->slot));
            json_object_set_new(obj, "reason", json_string(reason_word(r->reason)));
            json_object_set_new(obj, "reason_text",
                                json_string(nacre_boot_reason_name(r->reason)));
            json_object_set_new(obj, "trial", r->reason == NACRE_BOOT_TRIAL
                                                  ? json_integer((json_int_t)r->trial)
                                                  : json_null());
            json_object_set_new(obj, "max_trials", json_integer((json_int_t)r->max_trials));
            json_object_set_new(obj, "image", cli_json_image(&r->image));
            if (r->rejected != NACRE_UPDATE_SLOT_NONE) {
                over = json_object();
                if (over != NULL) {
                    json_object_set_new(over, "slot", json_slot(r->rejected));
                    json_object_set_new(over, "reason", json_string(why));
                }
            }
            json_object_set_new(obj, "passed_over", over != NULL ? over : json_null());
        }
        return cli_print_json(obj);
    }
    char line[160];
    char hex[65];
    cli_image_line(line, sizeof line, &r->image);
    cli_kv("booted", "slot %s: %s", nacre_update_slot_name(r->slot), line);
    cli_kv("reason", "%s", nacre_boot_reason_name(r->reason));
    if (r->reason == NACRE_BOOT_TRIAL) {
        cli_kv("trial", "%u of %u: confirm with 'nacre device confirm'", r->trial,
               r->max_trials);
    }
    if (r->rejected != NACRE_UPDATE_SLOT_NONE) {
        cli_kv("passed over", "slot %s: %s", nacre_update_slot_name(r->rejected), why);
    }
    cli_hex32(hex, r->image.measurement);
    cli_kv("measurement", "%s (extended into R0)", hex);
    return CLI_OK;
}

static int run_boot(int argc, char **argv)
{
    struct update_args a;
    int rc = parse_update_args(&cli_cmd_boot, 0, argc, argv, &a);
    if (rc != CLI_OK) {
        return rc == ARGS_HELP ? CLI_OK : rc;
    }
    struct cli_device dev;
    rc = open_device(&dev, a.dir, "booting");
    if (rc != CLI_OK) {
        return rc;
    }
    struct nacre_update_config cfg = {.component = a.component, .max_trial_boots = 0};
    struct nacre_boot_result r;
    nacre_update_status st = nacre_boot_run(dev.pluton, dev.board, &cfg, &r);
    if (st == NACRE_UPDATE_ERR_NO_IMAGE && r.rejected != NACRE_UPDATE_SLOT_NONE) {
        char why[160];
        passed_over_why(why, sizeof why, &r);
        rc = cli_fail("booting: %s (slot %s: %s)", nacre_update_strerror(st),
                      nacre_update_slot_name(r.rejected), why);
    } else if (st == NACRE_UPDATE_ERR_NO_IMAGE) {
        rc = cli_fail("booting: %s (nothing installed)", nacre_update_strerror(st));
    } else if (st != NACRE_UPDATE_OK) {
        rc = cli_update_fail(&dev, "booting", st);
    } else {
        rc = print_boot(&a, &r);
    }
    cli_device_close(&dev);
    return rc;
}

const struct cli_command cli_cmd_boot = {
    .name = boot_name,
    .summary = "reset and run the boot stage: trial, confirmed, revert, fallback",
    .usage = boot_usage,
    .run = run_boot,
};

/* ---- confirm --------------------------------------------------------------------- */

static const char confirm_usage[] =
    "usage: nacre device confirm DIR [--component NAME] [--json]\n"
    "\n"
    "The running trial image is good: make it the confirmed image, then raise the\n"
    "device's anti-rollback counters to its security counter (and key epoch, for\n"
    "an image signed by a certified key). From then on older images are refused.\n"
    "The device is reset and re-enters the image its last boot chose\n"
    "(nacre_boot_attach), then nacre_update_confirm.\n"
    "\n"
    "  --component NAME  this device runs component NAME (default: any)\n"
    "  --json            print JSON instead of text\n"
    "  -h, --help        show this help\n"
    "\n"
    "exit status: 0 confirmed, 1 failure (e.g. \"nothing to confirm: the running\n"
    "image is not a trial boot\"), 2 usage error\n";

static int run_confirm(int argc, char **argv)
{
    struct update_args a;
    int rc = parse_update_args(&cli_cmd_confirm, 0, argc, argv, &a);
    if (rc != CLI_OK) {
        return rc == ARGS_HELP ? CLI_OK : rc;
    }
    struct cli_device dev;
    rc = open_device(&dev, a.dir, "confirming");
    if (rc != CLI_OK) {
        return rc;
    }
    struct nacre_update_config cfg = {.component = a.component, .max_trial_boots = 0};
    struct nacre_boot_result r;
    struct nacre_image_info info;
    char line[160];
    uint32_t sec = 0, epoch = 0;
    nacre_update_status st = nacre_boot_attach(dev.pluton, dev.board, &cfg, &r);
    if (st == NACRE_UPDATE_ERR_NO_IMAGE) {
        if (r.rejected != NACRE_UPDATE_SLOT_NONE) {
            rc = cli_fail("confirming: nothing to confirm: no image is running (slot %s: %s)",
                          nacre_update_slot_name(r.rejected),
                          nacre_update_strerror(r.rejected_why));
        } else {
            rc = cli_fail("confirming: nothing to confirm: no image is running (boot one with "
                          "'nacre device boot')");
        }
        goto out;
    }
    if (st != NACRE_UPDATE_OK) {
        rc = cli_update_fail(&dev, "confirming", st);
        goto out;
    }
    st = nacre_update_confirm(dev.pluton, dev.board, &cfg, &info);
    if (st == NACRE_UPDATE_ERR_NOT_PENDING) {
        cli_image_line(line, sizeof line, &r.image);
        rc = cli_fail("confirming: %s (slot %s runs %s, already confirmed)",
                      nacre_update_strerror(st), nacre_update_slot_name(r.slot), line);
        goto out;
    }
    if (st != NACRE_UPDATE_OK) {
        rc = cli_update_fail(&dev, "confirming", st);
        goto out;
    }
    rc = read_counters(&dev, &sec, &epoch);
    if (rc != CLI_OK) {
        goto out;
    }
    if (a.json) {
        json_t *obj = json_object();
        if (obj != NULL) {
            json_object_set_new(obj, "device", json_string(a.dir));
            json_object_set_new(obj, "slot", json_slot(r.slot));
            json_object_set_new(obj, "image", cli_json_image(&info));
            json_object_set_new(obj, "security_counter", json_integer((json_int_t)sec));
            json_object_set_new(obj, "key_epoch", json_integer((json_int_t)epoch));
        }
        rc = cli_print_json(obj);
    } else {
        cli_image_line(line, sizeof line, &info);
        cli_kv("confirmed", "slot %s: %s", nacre_update_slot_name(r.slot), line);
        cli_kv("anti-rollback", "security counter %lu, key epoch %lu", (unsigned long)sec,
               (unsigned long)epoch);
    }
out:
    cli_device_close(&dev);
    return rc;
}

const struct cli_command cli_cmd_confirm = {
    .name = confirm_name,
    .summary = "confirm the running trial image; raise the anti-rollback counters",
    .usage = confirm_usage,
    .run = run_confirm,
};

/* ---- status ---------------------------------------------------------------------- */

static const char status_usage[] =
    "usage: nacre device status DIR [--component NAME] [--json]\n"
    "\n"
    "Show the update state without booting (nacre_update_state_get, read-only):\n"
    "the anti-rollback counters; which slot is confirmed, which pending (and its\n"
    "trial boots so far), which ran at the last boot (and whether as a trial),\n"
    "an install in progress (bytes safely in flash); and for each slot, its\n"
    "image and whether it verifies NOW (\"valid\", or the reason).\n"
    "\n"
    "  --component NAME  this device runs component NAME (default: any)\n"
    "  --json            print JSON instead of text\n"
    "  -h, --help        show this help\n"
    "\n"
    "exit status: 0 shown, 1 failure, 2 usage error\n";

static void slot_text(char *out, size_t n, const struct nacre_update_slot_view *v)
{
    char line[160];
    if (!v->has_image) {
        if (v->verdict == NACRE_UPDATE_ERR_BAD_MAGIC) {
            snprintf(out, n, "empty");
        } else {
            snprintf(out, n, "no readable image: %s", nacre_update_strerror(v->verdict));
        }
        return;
    }
    cli_image_line(line, sizeof line, &v->info);
    snprintf(out, n, "%s: %s", line,
             v->verdict == NACRE_UPDATE_OK ? "valid" : nacre_update_strerror(v->verdict));
}

static json_t *slot_json(const struct nacre_update_slot_view *v)
{
    json_t *obj = json_object();
    if (obj == NULL) {
        return NULL;
    }
    json_object_set_new(obj, "image", v->has_image ? cli_json_image(&v->info) : json_null());
    json_object_set_new(obj, "valid", json_boolean(v->verdict == NACRE_UPDATE_OK));
    json_object_set_new(obj, "verdict", json_string(v->verdict == NACRE_UPDATE_OK
                                                        ? "valid"
                                                        : nacre_update_strerror(v->verdict)));
    return obj;
}

static int print_status(const struct update_args *a, const struct nacre_update_state *s)
{
    unsigned max = NACRE_UPDATE_DEFAULT_TRIAL_BOOTS;
    if (a->json) {
        json_t *obj = json_object();
        json_t *slots = json_object();
        if (obj == NULL || slots == NULL) {
            json_decref(obj);
            json_decref(slots);
            return cli_print_json(NULL);
        }
        json_object_set_new(obj, "device", json_string(a->dir));
        json_object_set_new(obj, "security_counter",
                            json_integer((json_int_t)s->security_counter));
        json_object_set_new(obj, "key_epoch", json_integer((json_int_t)s->key_epoch));
        json_object_set_new(obj, "confirmed", json_slot(s->confirmed));
        json_object_set_new(obj, "pending", json_slot(s->pending));
        json_object_set_new(obj, "trial_boots", json_integer((json_int_t)s->trial_boots));
        json_object_set_new(obj, "max_trial_boots", json_integer((json_int_t)max));
        if (s->last_boot != NACRE_UPDATE_SLOT_NONE) {
            json_t *run = json_object();
            if (run != NULL) {
                json_object_set_new(run, "slot", json_slot(s->last_boot));
                json_object_set_new(run, "trial", json_boolean(s->last_boot_trial));
            }
            json_object_set_new(obj, "running", run);
        } else {
            json_object_set_new(obj, "running", json_null());
        }
        if (s->installing != NACRE_UPDATE_SLOT_NONE) {
            json_t *ins = json_object();
            if (ins != NULL) {
                json_object_set_new(ins, "slot", json_slot(s->installing));
                json_object_set_new(ins, "progress",
                                    json_integer((json_int_t)s->install_progress));
            }
            json_object_set_new(obj, "installing", ins);
        } else {
            json_object_set_new(obj, "installing", json_null());
        }
        for (unsigned i = 0; i < 2; i++) {
            json_object_set_new(slots, nacre_update_slot_name(s->slots[i].slot),
                                slot_json(&s->slots[i]));
        }
        json_object_set_new(obj, "slots", slots);
        return cli_print_json(obj);
    }
    char text[320];
    cli_kv("device", "%s", a->dir);
    cli_kv("anti-rollback", "security counter %lu, key epoch %lu",
           (unsigned long)s->security_counter, (unsigned long)s->key_epoch);
    cli_kv("confirmed", "%s", s->confirmed != NACRE_UPDATE_SLOT_NONE
                                  ? nacre_update_slot_name(s->confirmed)
                                  : "none");
    if (s->pending != NACRE_UPDATE_SLOT_NONE) {
        cli_kv("pending", "%s (trial boots %u of %u)", nacre_update_slot_name(s->pending),
               s->trial_boots, max);
    } else {
        cli_kv("pending", "none");
    }
    if (s->last_boot != NACRE_UPDATE_SLOT_NONE) {
        cli_kv("running", "%s (%s at the last boot)", nacre_update_slot_name(s->last_boot),
               s->last_boot_trial ? "a trial" : "confirmed");
    } else {
        cli_kv("running", "none (never booted an image)");
    }
    if (s->installing != NACRE_UPDATE_SLOT_NONE) {
        cli_kv("installing", "%s: %lu bytes safely in flash (install the same image again "
               "to resume)", nacre_update_slot_name(s->installing),
               (unsigned long)s->install_progress);
    } else {
        cli_kv("installing", "none");
    }
    for (unsigned i = 0; i < 2; i++) {
        char label[8];
        snprintf(label, sizeof label, "slot %s", nacre_update_slot_name(s->slots[i].slot));
        slot_text(text, sizeof text, &s->slots[i]);
        cli_kv(label, "%s", text);
    }
    return CLI_OK;
}

static int run_status(int argc, char **argv)
{
    struct update_args a;
    int rc = parse_update_args(&cli_cmd_status, 0, argc, argv, &a);
    if (rc != CLI_OK) {
        return rc == ARGS_HELP ? CLI_OK : rc;
    }
    struct cli_device dev;
    rc = open_device(&dev, a.dir, "reading the update state");
    if (rc != CLI_OK) {
        return rc;
    }
    struct nacre_update_config cfg = {.component = a.component, .max_trial_boots = 0};
    struct nacre_update_state s;
    nacre_update_status st = nacre_update_state_get(dev.pluton, dev.board, &cfg, &s);
    if (st != NACRE_UPDATE_OK) {
        rc = cli_update_fail(&dev, "reading the update state", st);
    } else {
        rc = print_status(&a, &s);
    }
    cli_device_close(&dev);
    return rc;
}

const struct cli_command cli_cmd_status = {
    .name = status_name,
    .summary = "show the slots, what is confirmed / pending / running, the counters",
    .usage = status_usage,
    .run = run_status,
};
