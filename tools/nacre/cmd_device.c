/*
 * cmd_device.c - nacre device provision | info | secure | counter.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include <nacre/board_host.h>

static const char provision_name[] = "device provision";
static const char info_name[] = "device info";
static const char secure_name[] = "device secure";
static const char counter_name[] = "device counter";

/* ---- shared ------------------------------------------------------------------ */

/* 1 if dir already holds (part of) a host device. */
static int device_exists(const char *dir)
{
    static const char *const names[] = {"otp.bin", "flash.bin"};
    char path[4096];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct stat sb;
        int n = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (n > 0 && (size_t)n < sizeof path && lstat(path, &sb) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Exactly one positional argument, the device directory. */
static int one_dir(const char *cmd, int argc, char **argv, const char **dir)
{
    if (optind >= argc) {
        return cli_usage_error(cmd, "missing device directory DIR");
    }
    if (argc - optind > 1) {
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    }
    if (argv[optind][0] == '\0') {
        return cli_usage_error(cmd, "DIR must not be empty");
    }
    *dir = argv[optind];
    return CLI_OK;
}

/*
 * Root-key hash for the outputs: 1 and out filled if programmed, 0 if not
 * set; < 0 (with *why) if the OTP field cannot be read.
 */
static int root_hash(const struct cli_device *dev, uint8_t out[32], nacre_pluton_status *why)
{
    nacre_pluton_status st = nacre_pluton_root_key_hash(dev->pluton, out);
    *why = st;
    if (st == NACRE_PLUTON_OK) {
        return 1;
    }
    return st == NACRE_PLUTON_ERR_NOT_SET ? 0 : -1;
}

/* ---- provision ---------------------------------------------------------------- */

static const char provision_usage[] =
    "usage: nacre device provision DIR [--root-pub PUB.pem] [--json]\n"
    "\n"
    "Create a host device in DIR (unless DIR already holds one) and provision it:\n"
    "BLANK -> PROVISIONED. libpluton burns a fresh Unique Device Secret from the\n"
    "board's entropy and, with --root-pub, the root-key hash (BLAKE2b-256 of the\n"
    "raw Ed25519 public key). The device is then reset and booted, and its\n"
    "DeviceID public key and lifecycle are printed.\n"
    "\n"
    "  --root-pub PUB.pem  image-signing root public key: SPKI PEM, or a PKCS#8\n"
    "                      private key PEM whose public half is used\n"
    "  --json              print JSON instead of text\n"
    "  -h, --help          show this help\n"
    "\n"
    "On a device that is already PROVISIONED, --root-pub programs the root-key\n"
    "hash if it was left unset (OTP fields are write-once); anything else is\n"
    "refused. On a SECURED device OTP is closed and every write is refused.\n"
    "\n"
    "exit status: 0 provisioned, 1 failure, 2 usage error\n";

static int print_provisioned(const struct cli_device *dev, int json)
{
    uint8_t pk[32];
    uint8_t hash[32];
    nacre_pluton_status why;
    nacre_pluton_status st = nacre_pluton_key_public(dev->pluton, NACRE_PLUTON_KEY_DEVICE_ID, pk);
    if (st != NACRE_PLUTON_OK) {
        return cli_pluton_fail(dev, "reading the DeviceID key", st);
    }
    int has_hash = root_hash(dev, hash, &why);
    if (has_hash < 0) {
        return cli_pluton_fail(dev, "reading the root-key hash", why);
    }
    const char *lifecycle = nacre_pluton_lifecycle_name(nacre_pluton_lifecycle_get(dev->pluton));
    if (json) {
        json_t *root = json_object();
        if (root != NULL) {
            json_object_set_new(root, "device", json_string(dev->dir));
            json_object_set_new(root, "lifecycle", json_string(lifecycle));
            json_object_set_new(root, "device_id", cli_json_hex(pk, sizeof pk));
            json_object_set_new(root, "root_key_hash",
                                has_hash ? cli_json_hex(hash, sizeof hash) : json_null());
        }
        return cli_print_json(root);
    }
    char hex[65];
    cli_kv("device", "%s", dev->dir);
    cli_kv("lifecycle", "%s", lifecycle);
    if (has_hash) {
        cli_hex32(hex, hash);
        cli_kv("root-key hash", "%s", hex);
    } else {
        cli_kv("root-key hash", "not set");
    }
    cli_hex32(hex, pk);
    cli_kv("DeviceID key", "%s", hex);
    return CLI_OK;
}

static int run_provision(int argc, char **argv)
{
    enum { OPT_ROOT_PUB = 256, OPT_JSON };
    static const struct option opts[] = {
        {"root-pub", required_argument, NULL, OPT_ROOT_PUB},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *root_pub = NULL;
    const char *dir = NULL;
    int json = 0;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_ROOT_PUB:
            root_pub = optarg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_provision);
        default:
            return cli_bad_option(provision_name, c, argv);
        }
    }
    int rc = one_dir(provision_name, argc, argv, &dir);
    if (rc != CLI_OK) {
        return rc;
    }

    /* Read the key first: a bad key file must not leave a half-made device. */
    uint8_t hash[32];
    if (root_pub != NULL) {
        uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES];
        nacre_keyfile_status kst = nacre_keyfile_read_public(root_pub, pk);
        if (kst == NACRE_KEYFILE_OK) {
            kst = nacre_keyfile_root_key_hash(pk, hash);
        }
        if (kst != NACRE_KEYFILE_OK) {
            return cli_fail("reading root public key %s: %s", root_pub,
                            nacre_keyfile_strerror(kst));
        }
    }

    if (!device_exists(dir)) {
        const char *detail = NULL;
        nacre_board_status bst = nacre_host_device_create(dir, NULL, &detail);
        if (bst != NACRE_BOARD_OK) {
            return cli_board_fail("creating device", bst, detail);
        }
    }

    struct cli_device dev;
    rc = cli_device_boot(&dev, dir, NULL);
    if (rc != CLI_OK) {
        return rc;
    }
    nacre_pluton_status st;
    if (nacre_pluton_lifecycle_get(dev.pluton) == NACRE_PLUTON_LIFECYCLE_BLANK) {
        st = nacre_pluton_provision(dev.pluton, root_pub != NULL ? hash : NULL);
        if (st != NACRE_PLUTON_OK) {
            rc = cli_pluton_fail(&dev, "provisioning", st);
        }
    } else if (root_pub != NULL) {
        st = nacre_pluton_set_root_key_hash(dev.pluton, hash);
        if (st != NACRE_PLUTON_OK) {
            rc = cli_pluton_fail(&dev, "programming the root-key hash", st);
        }
    } else {
        rc = cli_pluton_fail(&dev, "provisioning", NACRE_PLUTON_ERR_ALREADY_PROVISIONED);
    }
    cli_device_close(&dev);
    if (rc != CLI_OK) {
        return rc;
    }

    /* Reset, then boot the way every later command will. */
    rc = cli_device_boot(&dev, dir, NULL);
    if (rc != CLI_OK) {
        return rc;
    }
    rc = print_provisioned(&dev, json);
    cli_device_close(&dev);
    return rc;
}

const struct cli_command cli_cmd_provision = {
    .name = provision_name,
    .summary = "create and provision a host device (BLANK -> PROVISIONED)",
    .usage = provision_usage,
    .run = run_provision,
};

/* ---- info ----------------------------------------------------------------------- */

static const char info_usage[] =
    "usage: nacre device info DIR [--firmware FILE] [--pub-out PUB.pem] [--json]\n"
    "\n"
    "Boot the device and show its state: lifecycle, whether debug is locked,\n"
    "the root-key hash (or \"not set\"), the DeviceID and Alias public keys, the\n"
    "running image, monotonic counters 0..7 and measurement registers R0..R7.\n"
    "\n"
    "The device boots as its last 'nacre device boot' left it: the image that\n"
    "boot chose is verified again and measured into R0, so the Alias key is that\n"
    "image's. With no image installed (or no root-key hash), R0 stays zero.\n"
    "\n"
    "  --firmware FILE    measure FILE into R0 instead, before boot completes (the\n"
    "                     Alias key and R0 depend on it; the DeviceID key does not)\n"
    "  --pub-out PUB.pem  write the DeviceID public key as SPKI PEM (replaces PUB.pem)\n"
    "  --json             print JSON instead of text\n"
    "  -h, --help         show this help\n"
    "\n"
    "A BLANK device has no keys and no counters: they show as \"none\" (null in JSON).\n"
    "Counters 0 and 1 are libupdate's anti-rollback counters (security counter,\n"
    "key epoch).\n"
    "\n"
    "exit status: 0 shown, 1 failure, 2 usage error\n";

struct info {
    const char *lifecycle;
    int debug_locked;
    int has_hash;
    int has_keys;
    uint8_t root_hash[32];
    uint8_t device_id[32];
    uint8_t alias[32];
    uint32_t counters[NACRE_PLUTON_COUNTER_COUNT];
    uint8_t regs[NACRE_PLUTON_REGISTER_COUNT][32];
};

static int gather_info(struct cli_device *dev, struct info *in)
{
    nacre_pluton_status st;
    nacre_pluton_status why;
    memset(in, 0, sizeof *in);
    nacre_pluton_lifecycle lc = nacre_pluton_lifecycle_get(dev->pluton);
    in->lifecycle = nacre_pluton_lifecycle_name(lc);
    in->debug_locked = nacre_pluton_debug_locked(dev->pluton);
    in->has_hash = root_hash(dev, in->root_hash, &why);
    if (in->has_hash < 0) {
        return cli_pluton_fail(dev, "reading the root-key hash", why);
    }
    if (lc != NACRE_PLUTON_LIFECYCLE_BLANK) {
        in->has_keys = 1;
        st = nacre_pluton_key_public(dev->pluton, NACRE_PLUTON_KEY_DEVICE_ID, in->device_id);
        if (st != NACRE_PLUTON_OK) {
            return cli_pluton_fail(dev, "reading the DeviceID key", st);
        }
        st = nacre_pluton_key_public(dev->pluton, NACRE_PLUTON_KEY_ALIAS, in->alias);
        if (st != NACRE_PLUTON_OK) {
            return cli_pluton_fail(dev, "reading the Alias key", st);
        }
        for (unsigned i = 0; i < NACRE_PLUTON_COUNTER_COUNT; i++) {
            st = nacre_pluton_counter_read(dev->pluton, i, &in->counters[i]);
            if (st != NACRE_PLUTON_OK) {
                char what[32];
                snprintf(what, sizeof what, "reading counter %u", i);
                return cli_pluton_fail(dev, what, st);
            }
        }
    }
    for (unsigned i = 0; i < NACRE_PLUTON_REGISTER_COUNT; i++) {
        st = nacre_pluton_measure_read(dev->pluton, i, in->regs[i]);
        if (st != NACRE_PLUTON_OK) {
            char what[32];
            snprintf(what, sizeof what, "reading register R%u", i);
            return cli_pluton_fail(dev, what, st);
        }
    }
    return CLI_OK;
}

static int print_info_json(const struct cli_device *dev, const struct info *in,
                           const char *firmware)
{
    json_t *root = json_object();
    json_t *counters = in->has_keys ? json_array() : json_null();
    json_t *regs = json_array();
    if (root == NULL || counters == NULL || regs == NULL) {
        json_decref(counters);
        json_decref(regs);
        json_decref(root);
        return cli_print_json(NULL);
    }
    json_object_set_new(root, "device", json_string(dev->dir));
    json_object_set_new(root, "lifecycle", json_string(in->lifecycle));
    json_object_set_new(root, "debug_locked", json_boolean(in->debug_locked));
    json_object_set_new(root, "root_key_hash",
                        in->has_hash ? cli_json_hex(in->root_hash, 32) : json_null());
    json_object_set_new(root, "device_id", in->has_keys ? cli_json_hex(in->device_id, 32)
                                                        : json_null());
    json_object_set_new(root, "alias", in->has_keys ? cli_json_hex(in->alias, 32) : json_null());
    if (in->has_keys) {
        for (unsigned i = 0; i < NACRE_PLUTON_COUNTER_COUNT; i++) {
            json_array_append_new(counters, json_integer((json_int_t)in->counters[i]));
        }
    }
    json_object_set_new(root, "counters", counters);
    for (unsigned i = 0; i < NACRE_PLUTON_REGISTER_COUNT; i++) {
        json_array_append_new(regs, cli_json_hex(in->regs[i], 32));
    }
    json_object_set_new(root, "registers", regs);
    if (dev->attached) {
        json_t *run = json_object();
        if (run != NULL) {
            const struct nacre_boot_result *r = &dev->running;
            json_object_set_new(run, "slot", json_string(nacre_update_slot_name(r->slot)));
            json_object_set_new(run, "trial", json_boolean(r->reason == NACRE_BOOT_TRIAL));
            json_object_set_new(run, "image", cli_json_image(&r->image));
        }
        json_object_set_new(root, "running", run);
    } else {
        json_object_set_new(root, "running", json_null());
    }
    if (firmware != NULL) {
        json_t *fw = json_object();
        if (fw != NULL) {
            json_object_set_new(fw, "path", json_string(firmware));
            json_object_set_new(fw, "digest", cli_json_hex(dev->firmware_digest, 32));
        }
        json_object_set_new(root, "firmware", fw);
    } else {
        json_object_set_new(root, "firmware", json_null());
    }
    return cli_print_json(root);
}

static void print_info_text(const struct cli_device *dev, const struct info *in,
                            const char *firmware)
{
    char hex[65];
    cli_kv("device", "%s", dev->dir);
    cli_kv("lifecycle", "%s", in->lifecycle);
    cli_kv("debug locked", "%s", in->debug_locked ? "yes" : "no");
    if (in->has_hash) {
        cli_hex32(hex, in->root_hash);
        cli_kv("root-key hash", "%s", hex);
    } else {
        cli_kv("root-key hash", "not set");
    }
    if (in->has_keys) {
        cli_hex32(hex, in->device_id);
        cli_kv("DeviceID key", "%s", hex);
        cli_hex32(hex, in->alias);
        cli_kv("Alias key", "%s", hex);
    } else {
        cli_kv("DeviceID key", "none (device is blank)");
        cli_kv("Alias key", "none (device is blank)");
    }
    if (dev->attached) {
        char line[160];
        cli_image_line(line, sizeof line, &dev->running.image);
        if (dev->running.reason == NACRE_BOOT_TRIAL) {
            cli_kv("running image", "slot %s: %s (trial %u of %u)",
                   nacre_update_slot_name(dev->running.slot), line, dev->running.trial,
                   dev->running.max_trials);
        } else {
            cli_kv("running image", "slot %s: %s", nacre_update_slot_name(dev->running.slot),
                   line);
        }
    } else if (firmware != NULL) {
        cli_kv("running image", "not attached: --firmware replaces it");
    } else if (in->has_keys && dev->attach_status == NACRE_UPDATE_ERR_NO_ROOT_KEY) {
        cli_kv("running image", "none (no root-key hash to verify images with)");
    } else if (in->has_keys && dev->running.rejected != NACRE_UPDATE_SLOT_NONE) {
        cli_kv("running image", "none (slot %s no longer verifies: %s)",
               nacre_update_slot_name(dev->running.rejected),
               nacre_update_strerror(dev->running.rejected_why));
    } else {
        cli_kv("running image", "none");
    }
    if (firmware != NULL) {
        cli_hex32(hex, dev->firmware_digest);
        cli_kv("firmware", "%s (BLAKE2b-256 %s)", firmware, hex);
    } else if (dev->attached) {
        cli_kv("firmware", "none given: R0 measures the running image");
    } else {
        cli_kv("firmware", "none measured");
    }
    if (in->has_keys) {
        char line[NACRE_PLUTON_COUNTER_COUNT * 11 + 1];
        size_t pos = 0;
        line[0] = '\0';
        for (unsigned i = 0; i < NACRE_PLUTON_COUNTER_COUNT; i++) {
            int n = snprintf(line + pos, sizeof line - pos, "%s%lu", i ? " " : "",
                             (unsigned long)in->counters[i]);
            if (n < 0 || (size_t)n >= sizeof line - pos) {
                break;
            }
            pos += (size_t)n;
        }
        cli_kv("counters 0..7", "%s", line);
    } else {
        cli_kv("counters 0..7", "none (device is blank)");
    }
    for (unsigned i = 0; i < NACRE_PLUTON_REGISTER_COUNT; i++) {
        char label[8];
        snprintf(label, sizeof label, "R%u", i);
        cli_hex32(hex, in->regs[i]);
        cli_kv(label, "%s", hex);
    }
}

static int run_info(int argc, char **argv)
{
    enum { OPT_FIRMWARE = 256, OPT_PUB_OUT, OPT_JSON };
    static const struct option opts[] = {
        {"firmware", required_argument, NULL, OPT_FIRMWARE},
        {"pub-out", required_argument, NULL, OPT_PUB_OUT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *firmware = NULL;
    const char *pub_out = NULL;
    const char *dir = NULL;
    int json = 0;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_FIRMWARE:
            firmware = optarg;
            break;
        case OPT_PUB_OUT:
            pub_out = optarg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_info);
        default:
            return cli_bad_option(info_name, c, argv);
        }
    }
    int rc = one_dir(info_name, argc, argv, &dir);
    if (rc != CLI_OK) {
        return rc;
    }
    if (pub_out != NULL && pub_out[0] == '\0') {
        return cli_usage_error(info_name, "--pub-out needs a file name");
    }

    struct cli_device dev;
    rc = cli_device_boot(&dev, dir, firmware);
    if (rc != CLI_OK) {
        return rc;
    }
    struct info in;
    rc = gather_info(&dev, &in);
    if (rc == CLI_OK && pub_out != NULL) {
        if (!in.has_keys) {
            rc = cli_fail("writing %s: %s", pub_out,
                          nacre_pluton_strerror(NACRE_PLUTON_ERR_NOT_PROVISIONED));
        } else {
            nacre_keyfile_status kst =
                nacre_keyfile_write_public(pub_out, in.device_id, NACRE_KEYFILE_FORCE);
            if (kst != NACRE_KEYFILE_OK) {
                rc = cli_fail("writing %s: %s", pub_out, nacre_keyfile_strerror(kst));
            }
        }
    }
    if (rc == CLI_OK) {
        if (json) {
            rc = print_info_json(&dev, &in, firmware);
        } else {
            print_info_text(&dev, &in, firmware);
        }
    }
    cli_device_close(&dev);
    return rc;
}

const struct cli_command cli_cmd_info = {
    .name = info_name,
    .summary = "show lifecycle, keys, counters and measurement registers",
    .usage = info_usage,
    .run = run_info,
};

/* ---- secure ------------------------------------------------------------------- */

static const char secure_usage[] =
    "usage: nacre device secure DIR\n"
    "\n"
    "PROVISIONED -> SECURED: lock debug and close OTP for good. IRREVERSIBLE.\n"
    "The root-key hash must be programmed first (nacre device provision DIR\n"
    "--root-pub PUB.pem), so that a secured device can verify its updates.\n"
    "\n"
    "  -h, --help   show this help\n"
    "\n"
    "exit status: 0 secured, 1 failure (e.g. already secured, no root-key hash),\n"
    "2 usage error\n";

static int run_secure(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') {
            return cli_print_usage(&cli_cmd_secure);
        }
        return cli_bad_option(secure_name, c, argv);
    }
    int rc = one_dir(secure_name, argc, argv, &dir);
    if (rc != CLI_OK) {
        return rc;
    }
    struct cli_device dev;
    rc = cli_device_boot(&dev, dir, NULL);
    if (rc != CLI_OK) {
        return rc;
    }
    nacre_pluton_status st = nacre_pluton_secure(dev.pluton);
    if (st != NACRE_PLUTON_OK) {
        rc = cli_pluton_fail(&dev, "securing", st);
    } else {
        cli_kv("device", "%s", dir);
        cli_kv("lifecycle",
               "%s", nacre_pluton_lifecycle_name(nacre_pluton_lifecycle_get(dev.pluton)));
        cli_kv("debug locked", "%s", nacre_pluton_debug_locked(dev.pluton) ? "yes" : "no");
    }
    cli_device_close(&dev);
    return rc;
}

const struct cli_command cli_cmd_secure = {
    .name = secure_name,
    .summary = "PROVISIONED -> SECURED: lock debug, close OTP (irreversible)",
    .usage = secure_usage,
    .run = run_secure,
};

/* ---- counter ------------------------------------------------------------------- */

static const char counter_usage[] =
    "usage: nacre device counter DIR ID [--increment | --advance N] [--json]\n"
    "\n"
    "Read monotonic counter ID (0..7), optionally after raising it, and print\n"
    "its value after the operation (plain decimal, or JSON).\n"
    "\n"
    "  --increment   add one\n"
    "  --advance N   raise the counter to N (0..4294967295); refused if N is\n"
    "                below the current value, a no-op if equal\n"
    "  --json        print {\"counter\": ID, \"value\": V}\n"
    "  -h, --help    show this help\n"
    "\n"
    "Counters only go up. If power is cut during an update the counter reads\n"
    "either the old or the new value afterwards, never less.\n"
    "\n"
    "exit status: 0 done, 1 failure (rollback refused, power lost, ...), 2 usage error\n";

static int run_counter(int argc, char **argv)
{
    enum { OPT_INCREMENT = 256, OPT_ADVANCE, OPT_JSON };
    static const struct option opts[] = {
        {"increment", no_argument, NULL, OPT_INCREMENT},
        {"advance", required_argument, NULL, OPT_ADVANCE},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int increment = 0;
    const char *advance = NULL;
    int json = 0;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_INCREMENT:
            increment = 1;
            break;
        case OPT_ADVANCE:
            advance = optarg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_counter);
        default:
            return cli_bad_option(counter_name, c, argv);
        }
    }
    if (argc - optind < 2) {
        return cli_usage_error(counter_name, optind >= argc ? "missing device directory DIR"
                                                           : "missing counter ID");
    }
    if (argc - optind > 2) {
        return cli_usage_error(counter_name, "unexpected argument '%s'", argv[optind + 2]);
    }
    const char *dir = argv[optind];
    uint32_t id = 0;
    uint32_t target = 0;
    if (dir[0] == '\0') {
        return cli_usage_error(counter_name, "DIR must not be empty");
    }
    if (cli_parse_u32(argv[optind + 1], &id) != 0 || id >= NACRE_PLUTON_COUNTER_COUNT) {
        return cli_usage_error(counter_name, "counter ID must be 0..%u, not '%s'",
                               NACRE_PLUTON_COUNTER_COUNT - 1u, argv[optind + 1]);
    }
    if (increment && advance != NULL) {
        return cli_usage_error(counter_name, "--increment and --advance exclude each other");
    }
    if (advance != NULL && cli_parse_u32(advance, &target) != 0) {
        return cli_usage_error(counter_name, "--advance needs a value 0..4294967295, not '%s'",
                               advance);
    }

    struct cli_device dev;
    int rc = cli_device_boot(&dev, dir, NULL);
    if (rc != CLI_OK) {
        return rc;
    }
    char what[48];
    uint32_t value = 0;
    nacre_pluton_status st;
    if (increment) {
        snprintf(what, sizeof what, "incrementing counter %lu", (unsigned long)id);
        st = nacre_pluton_counter_increment(dev.pluton, id, &value);
    } else if (advance != NULL) {
        snprintf(what, sizeof what, "advancing counter %lu to %lu", (unsigned long)id,
                 (unsigned long)target);
        st = nacre_pluton_counter_advance(dev.pluton, id, target);
        if (st == NACRE_PLUTON_OK) {
            snprintf(what, sizeof what, "reading counter %lu", (unsigned long)id);
            st = nacre_pluton_counter_read(dev.pluton, id, &value);
        }
    } else {
        snprintf(what, sizeof what, "reading counter %lu", (unsigned long)id);
        st = nacre_pluton_counter_read(dev.pluton, id, &value);
    }
    if (st != NACRE_PLUTON_OK) {
        rc = cli_pluton_fail(&dev, what, st);
    } else if (json) {
        json_t *root = json_object();
        if (root != NULL) {
            json_object_set_new(root, "counter", json_integer((json_int_t)id));
            json_object_set_new(root, "value", json_integer((json_int_t)value));
        }
        rc = cli_print_json(root);
    } else {
        printf("%lu\n", (unsigned long)value);
    }
    cli_device_close(&dev);
    return rc;
}

const struct cli_command cli_cmd_counter = {
    .name = counter_name,
    .summary = "read, increment or advance a monotonic counter",
    .usage = counter_usage,
    .run = run_counter,
};
