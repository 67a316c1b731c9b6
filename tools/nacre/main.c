/*
 * main.c - nacre: command dispatch, help and version.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#ifndef NACRE_VERSION
#define NACRE_VERSION "unknown"
#endif

static const struct cli_command *const device_commands[] = {
    &cli_cmd_provision, &cli_cmd_info,    &cli_cmd_secure,  &cli_cmd_seal,
    &cli_cmd_unseal,    &cli_cmd_counter, &cli_cmd_install, &cli_cmd_boot,
    &cli_cmd_confirm,   &cli_cmd_status,  &cli_cmd_device_attest, &cli_cmd_device_pubkey,
    &cli_cmd_device_run, &cli_cmd_device_events,
};

static const struct cli_command *const image_commands[] = {
    &cli_cmd_image_sign,   &cli_cmd_image_create,  &cli_cmd_image_digest,
    &cli_cmd_image_attach, &cli_cmd_image_inspect, &cli_cmd_image_verify,
    &cli_cmd_image_refs,
};

static const struct cli_command *const app_commands[] = {
    &cli_cmd_app_package,
    &cli_cmd_app_inspect,
};

static const struct cli_command *const key_commands[] = {
    &cli_cmd_key_certify,
};

static const struct cli_command *const attest_commands[] = {
    &cli_cmd_attest_verify,
};

static const struct cli_command *const ca_commands[] = {
    &cli_cmd_ca_init,
    &cli_cmd_ca_issue,
    &cli_cmd_ca_check,
};

#ifdef NACRE_CLI_SERVICE
static const struct cli_command *const agent_commands[] = {
    &cli_cmd_agent_run,
};

static const struct cli_command *const fleet_commands[] = {
    &cli_cmd_fleet_run,
};

static const char agent_usage[] =
    "usage: nacre agent run --device DIR --service URL [--once] [--cycles N]\n"
    "                       [--poll SECONDS] [--json]\n"
    "\n"
    "The device agent (docs/agent.md): keeps a host device attested with\n"
    "nacre-service, reports, uploads its security events and takes signed updates.\n"
    "Run 'nacre agent run --help' for details.\n";

static const char fleet_usage[] =
    "usage: nacre fleet run --service URL --devices N --dir DIR --token T --group G\n"
    "                       --root-pub ROOT.pub.pem --image V1.img [--timeout S]\n"
    "                       [--tamper-device K] [--json]\n"
    "\n"
    "A fleet of host devices, each with its agent in a thread, against\n"
    "nacre-service. Run 'nacre fleet run --help' for details.\n";
#endif

static const char main_usage[] =
    "usage: nacre COMMAND [ARGS...]\n"
    "\n"
    "The Nacre command-line tool: signing keys, signed images, and host devices\n"
    "(a device is a directory holding emulated OTP fuses and flash).\n"
    "\n"
    "commands:\n"
    "  keygen                  generate an Ed25519 key pair (PKCS#8 / SPKI PEM files)\n"
    "  key certify             certify a signing key with the root key\n"
    "  image sign              wrap a payload in a signed image\n"
    "  image create            wrap a payload in an unsigned image (offline / HSM signing)\n"
    "  image digest            the to-be-signed bytes of an image\n"
    "  image attach-signature  put an offline-made signature into an image\n"
    "  image inspect           show an image's metadata (verifies nothing)\n"
    "  image verify            verify an image against a root public key and a policy\n"
    "  image refs              write the attestation reference values of images\n"
    "  device provision        create and provision a host device (BLANK -> PROVISIONED)\n"
    "  device info             show lifecycle, keys, running image, counters, registers\n"
    "  device secure           PROVISIONED -> SECURED: lock debug, close OTP (irreversible)\n"
    "  device seal             seal a file to the device (and optionally its firmware)\n"
    "  device unseal           open a file sealed to the device\n"
    "  device counter          read, increment or advance a monotonic counter\n"
    "  device install          stream a signed image into the inactive slot\n"
    "  device boot             reset and run the boot stage (trial, revert, ...)\n"
    "  device confirm          confirm the running trial image (raises anti-rollback)\n"
    "  device status           show the slots and the update state\n"
    "  device attest           produce attestation evidence for a verifier's nonce\n"
    "  device pubkey           write the DeviceID (or Alias) public key as PEM\n"
    "  device run              run signed apps in their sandboxes under the security monitor\n"
    "  device events           show the device's security-event log\n"
    "  app package             check an app manifest and build an app package\n"
    "  app inspect             show an app image: image summary, manifest, executable\n"
    "  attest verify           verify evidence: DeviceID key, nonce, reference values\n"
    "  ca init                 create a tenant certificate authority\n"
    "  ca issue                verify evidence, then certify the Alias key (24 hours)\n"
    "  ca check                check a device certificate against a tenant CA\n"
#ifdef NACRE_CLI_SERVICE
    "  svc                     operate a fleet through nacre-service (tenants, tokens,\n"
    "                          images, groups, devices, deployments, failures, alerts)\n"
    "  agent run               run the device agent of a host device against nacre-service\n"
    "  fleet run               a fleet of host devices and their agents (demos, tests)\n"
#endif
    "  version                 print version information\n"
    "  help [COMMAND]          show help, e.g. 'nacre help device seal'\n"
    "\n"
    "Every command takes -h / --help.\n"
    "\n"
    "exit status: 0 success, 1 failure (one line on stderr: \"nacre: <what>: <reason>\"),\n"
    "2 usage error\n";

const char cli_device_usage[] =
    "usage: nacre device SUBCOMMAND DIR [OPTIONS]\n"
    "\n"
    "Operate on the host device in directory DIR (DIR/otp.bin, DIR/flash.bin).\n"
    "\n"
    "subcommands:\n"
    "  provision DIR [--root-pub PUB.pem] [--json]\n"
    "  info DIR [--firmware FILE] [--pub-out PUB.pem] [--json]\n"
    "  secure DIR\n"
    "  seal DIR --in FILE --out FILE [--context TEXT] [--bind LIST] [--firmware FILE]\n"
    "  unseal DIR --in FILE --out FILE [--context TEXT] [--firmware FILE]\n"
    "  counter DIR ID [--increment | --advance N] [--json]\n"
    "  install DIR IMG [--chunk BYTES] [--component NAME] [--json]\n"
    "  boot DIR [--component NAME] [--json]\n"
    "  confirm DIR [--component NAME] [--json]\n"
    "  status DIR [--component NAME] [--json]\n"
    "  attest DIR --nonce HEX --out EVIDENCE [--iat SECONDS] [--json]\n"
    "  pubkey DIR --out PUB.pem [--alias] [--json]\n"
    "  run DIR --app APP.img [--app APP.img]... [--seconds N] [--stagger MS]\n"
    "      [--cert CERT] [--degrade] [--json]\n"
    "  events DIR [--since SEQ] [--json]\n"
    "\n"
    "Run 'nacre device SUBCOMMAND --help' for details.\n"
    "\n"
    "Every subcommand is one power cycle: open the host board (a reset:\n"
    "registers zero, OTP re-read), nacre_pluton_init, then:\n"
    "  - boot: the boot stage (nacre_boot_run) picks and verifies an image,\n"
    "    measures it into R0 and completes the DICE boot;\n"
    "  - confirm: nacre_boot_attach (below), then nacre_update_confirm;\n"
    "  - install, status: no boot (the installer and the state need none);\n"
    "  - run: the security monitor boots the device itself (nacre_secmon_start)\n"
    "    and keeps it on while the apps run;\n"
    "  - events: no pluton, no boot: the event log is only read from flash;\n"
    "  - every other subcommand boots the device as its last 'device boot' left\n"
    "    it: nacre_boot_attach re-verifies the image that boot chose and measures\n"
    "    it into R0. With nothing installed (or no root-key hash), R0 stays zero.\n"
    "    --firmware FILE overrides this: R0 = extend(R0, BLAKE2b-256(FILE)).\n"
    "    Then nacre_pluton_boot_complete (skipped on a BLANK device) derives the\n"
    "    DeviceID key (stable) and the Alias key (depends on R0), locks the UDS;\n"
    "then the subcommand does its work and powers the device off (every secret\n"
    "wiped).\n"
    "\n"
    "Only one process can use a device at a time: a second one fails with\n"
    "\"device is in use\".\n"
    "\n"
    "environment (testing hook):\n"
    "  NACRE_POWER_CUT_AFTER=N  simulate a power cut: right after the board is\n"
    "      opened, arm nacre_host_board_set_power_cut(board, N). The next N\n"
    "      persistent writes (OTP programs, flash writes, flash erases) succeed,\n"
    "      the one after is torn (half written) and the command fails with\n"
    "      \"power lost\" (exit 1). N is a decimal number >= 0. FOR TESTS ONLY:\n"
    "      it lets scripts check what a cut at each write leaves behind (e.g. a\n"
    "      counter reads the old or the new value, never less; an install\n"
    "      resumes).\n"
    "\n"
    "exit status: 0 success, 1 failure, 2 usage error\n";

static const char image_usage[] =
    "usage: nacre image SUBCOMMAND [OPTIONS]\n"
    "\n"
    "Signed Nacre images (docs/image-format.md): a header and signed metadata\n"
    "(component, version, security counter, payload digest, signer), the\n"
    "signature (Ed25519) with the root public key or a key certificate, then the\n"
    "payload.\n"
    "\n"
    "subcommands:\n"
    "  sign --key KEY.pem --version X.Y.Z --counter N [--component NAME]\n"
    "       [--cert CERT] [--dep NAME@X.Y.Z]... [--refs-out REFS.json] [--json] IN OUT\n"
    "  create --pub SIGNER.pub.pem --version X.Y.Z --counter N [--component NAME]\n"
    "       [--dep NAME@X.Y.Z]... [--refs-out REFS.json] [--json] IN OUT\n"
    "  digest IMG [--out TBS.bin]\n"
    "  attach-signature IMG SIG (--cert CERT | --root-pub ROOT.pub.pem) [--out OUT]\n"
    "       [--refs-out REFS.json]\n"
    "  inspect IMG [--json]\n"
    "  verify --pub ROOT.pub.pem IMG [--counter MIN] [--epoch MIN] [--component NAME]\n"
    "       [--json]\n"
    "  refs IMG... [--image IMG]... --out REFS.json [--pub ROOT.pub.pem] [--json]\n"
    "\n"
    "Run 'nacre image SUBCOMMAND --help' for details.\n"
    "\n"
    "Offline signing (the key never meets nacre), e.g. with OpenSSL:\n"
    "  nacre image create --pub root.pub.pem --version 1.0.0 --counter 1 app.bin app.img\n"
    "  nacre image digest app.img --out tbs.bin\n"
    "  openssl pkeyutl -sign -rawin -inkey root.pem -in tbs.bin -out sig.bin\n"
    "  nacre image attach-signature app.img sig.bin --root-pub root.pub.pem\n"
    "\n"
    "exit status: 0 success, 1 failure, 2 usage error\n";

static const char app_usage[] =
    "usage: nacre app SUBCOMMAND [OPTIONS]\n"
    "\n"
    "Sandboxed apps (docs/apps.md): an app is an executable and a manifest (its\n"
    "capabilities), packaged, then signed like any image with 'nacre image sign'\n"
    "(component = the manifest's Name), and run on a device by\n"
    "'nacre device run' under the security monitor.\n"
    "\n"
    "subcommands:\n"
    "  package --manifest MANIFEST.json --exe EXECUTABLE --out PKG [--json]\n"
    "  inspect APP [--json]\n"
    "\n"
    "Run 'nacre app SUBCOMMAND --help' for details.\n"
    "\n"
    "exit status: 0 success, 1 failure, 2 usage error\n";

static const char key_usage[] =
    "usage: nacre key SUBCOMMAND [OPTIONS]\n"
    "\n"
    "subcommands:\n"
    "  certify --root-key ROOT.pem --pub SIGNER.pub.pem --epoch N --out CERT\n"
    "          [--force] [--json]\n"
    "\n"
    "Run 'nacre key SUBCOMMAND --help' for details. Key pairs are made by\n"
    "'nacre keygen' (or 'openssl genpkey -algorithm ed25519').\n"
    "\n"
    "exit status: 0 success, 1 failure, 2 usage error\n";

static const char attest_usage[] =
    "usage: nacre attest SUBCOMMAND [OPTIONS]\n"
    "\n"
    "Remote attestation (docs/attestation.md): a device proves with evidence\n"
    "signed inside its root of trust what it is (its DeviceID key) and what it\n"
    "runs (measured images); a verifier checks the evidence against the\n"
    "DeviceID key from provisioning, a fresh nonce and the reference values the\n"
    "build produced.\n"
    "\n"
    "subcommands:\n"
    "  verify EVIDENCE --nonce HEX --device-pub PUB.pem --refs REFS.json\n"
    "         [--min-counter N] [--require-secured] [--json]\n"
    "\n"
    "The device side is 'nacre device attest'. Run 'nacre attest verify --help'\n"
    "for details.\n"
    "\n"
    "exit status: 0 pass, 1 fail or failure, 2 usage error\n";

static const char ca_usage[] =
    "usage: nacre ca SUBCOMMAND [OPTIONS]\n"
    "\n"
    "A tenant certificate authority (docs/certificates.md): X.509 v3 with\n"
    "Ed25519. It certifies a device's Alias key for 24 hours once the device's\n"
    "attestation evidence verifies; devices of the tenant then authenticate\n"
    "each other (and services) with these certificates.\n"
    "\n"
    "subcommands:\n"
    "  init DIR --tenant NAME [--json]\n"
    "  issue --ca DIR --evidence EVIDENCE --nonce HEX --device-pub PUB.pem\n"
    "        --refs REFS.json --out CERT.pem [--min-counter N] [--require-secured]\n"
    "        [--now SECONDS] [--json]\n"
    "  check --ca DIR CERT.pem [--now SECONDS] [--json]\n"
    "\n"
    "Run 'nacre ca SUBCOMMAND --help' for details.\n"
    "\n"
    "exit status: 0 success, 1 failure or refusal, 2 usage error\n";

/* A command group: "device", "image", "app", "key", "attest", "ca". */
struct cli_group {
    const char *name;
    const char *usage;
    const char *list; /* for "missing subcommand (...)" */
    const struct cli_command *const *commands;
    size_t count;
};

static const struct cli_group groups[] = {
    {"device", cli_device_usage,
     "provision, info, secure, seal, unseal, counter, install, boot, confirm, status, "
     "attest, pubkey, run, events",
     device_commands, sizeof device_commands / sizeof device_commands[0]},
    {"image", image_usage, "sign, create, digest, attach-signature, inspect, verify, refs",
     image_commands, sizeof image_commands / sizeof image_commands[0]},
    {"app", app_usage, "package, inspect", app_commands,
     sizeof app_commands / sizeof app_commands[0]},
    {"key", key_usage, "certify", key_commands, sizeof key_commands / sizeof key_commands[0]},
    {"attest", attest_usage, "verify", attest_commands,
     sizeof attest_commands / sizeof attest_commands[0]},
    {"ca", ca_usage, "init, issue, check", ca_commands, sizeof ca_commands / sizeof ca_commands[0]},
#ifdef NACRE_CLI_SERVICE
    {"agent", agent_usage, "run", agent_commands, sizeof agent_commands / sizeof agent_commands[0]},
    {"fleet", fleet_usage, "run", fleet_commands, sizeof fleet_commands / sizeof fleet_commands[0]},
#endif
};
#define GROUP_COUNT (sizeof groups / sizeof groups[0])

static const char version_usage[] =
    "usage: nacre version\n"
    "\n"
    "Print the versions of nacre, libpluton, libsodium and jansson.\n";

static const char help_usage[] =
    "usage: nacre help [COMMAND [SUBCOMMAND]]\n"
    "\n"
    "Show the list of commands, or the help of one, e.g. 'nacre help device seal'.\n";

static int print_text(const char *text)
{
    fputs(text, stdout);
    return CLI_OK;
}

static const struct cli_group *find_group(const char *name)
{
    for (size_t i = 0; i < GROUP_COUNT; i++) {
        if (strcmp(groups[i].name, name) == 0) {
            return &groups[i];
        }
    }
    return NULL;
}

/* The subcommand of a group by its name after "GROUP " ("seal" in "device seal"). */
static const struct cli_command *find_command(const struct cli_group *g, const char *name)
{
    size_t skip = strlen(g->name) + 1;
    for (size_t i = 0; i < g->count; i++) {
        if (strcmp(g->commands[i]->name + skip, name) == 0) {
            return g->commands[i];
        }
    }
    return NULL;
}

/* A subcommand of any group by its bare name (names are unique across groups). */
static const struct cli_command *find_any_command(const char *name)
{
    for (size_t i = 0; i < GROUP_COUNT; i++) {
        const struct cli_command *cmd = find_command(&groups[i], name);
        if (cmd != NULL) {
            return cmd;
        }
    }
    return NULL;
}

static int is_help_flag(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

static int run_version(int argc, char **argv)
{
    if (argc > 1) {
        if (is_help_flag(argv[1])) {
            return print_text(version_usage);
        }
        return cli_usage_error("version", "unexpected argument '%s'", argv[1]);
    }
    printf("nacre %s\n", NACRE_VERSION);
    printf("libpluton %s\n", nacre_pluton_version());
    printf("libsodium %s\n", sodium_version_string());
    printf("jansson %s\n", jansson_version_str());
    return CLI_OK;
}

/* nacre help [COMMAND [SUBCOMMAND]] */
static int run_help(int argc, char **argv)
{
    if (argc == 1) {
        return print_text(main_usage);
    }
    const char *topic = argv[1];
    if (is_help_flag(topic)) {
        return print_text(help_usage);
    }
    if (strcmp(topic, "keygen") == 0 && argc == 2) {
        return cli_print_usage(&cli_cmd_keygen);
    }
    if (strcmp(topic, "version") == 0 && argc == 2) {
        return print_text(version_usage);
    }
    if (strcmp(topic, "help") == 0 && argc == 2) {
        return print_text(help_usage);
    }
#ifdef NACRE_CLI_SERVICE
    if (strcmp(topic, "svc") == 0) {
        return cli_print_usage(&cli_cmd_svc);
    }
#endif
    const struct cli_group *g = find_group(topic);
    if (g != NULL) {
        if (argc == 2) {
            return print_text(g->usage);
        }
        if (argc > 3) {
            return cli_usage_error("help", "too many arguments");
        }
        const struct cli_command *cmd = find_command(g, argv[2]);
        if (cmd == NULL) {
            return cli_usage_error("help", "no help for '%s %s': unknown subcommand", g->name,
                                   argv[2]);
        }
        return cli_print_usage(cmd);
    }
    if (find_any_command(topic) != NULL && argc == 2) {
        /* 'nacre help seal' is forgiven: show 'device seal'. */
        return cli_print_usage(find_any_command(topic));
    }
    if (argc > 2) {
        return cli_usage_error("help", "too many arguments");
    }
    return cli_usage_error("help", "no help for '%s': unknown command", topic);
}

static int run_group(const struct cli_group *g, int argc, char **argv)
{
    if (argc < 2) {
        return cli_usage_error(g->name, "missing subcommand (%s)", g->list);
    }
    if (is_help_flag(argv[1])) {
        return print_text(g->usage);
    }
    const struct cli_command *cmd = find_command(g, argv[1]);
    if (cmd == NULL) {
        if (argv[1][0] == '-') {
            return cli_usage_error(g->name, "unknown option '%s'", argv[1]);
        }
        return cli_usage_error(g->name, "unknown subcommand '%s'", argv[1]);
    }
    return cmd->run(argc - 1, argv + 1);
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        return cli_usage_error(NULL, "missing command");
    }
    const char *name = argv[1];
    if (is_help_flag(name)) {
        return print_text(main_usage);
    }
    if (strcmp(name, "--version") == 0) {
        return run_version(1, argv + 1);
    }
    if (strcmp(name, "help") == 0) {
        return run_help(argc - 1, argv + 1);
    }
    if (strcmp(name, "version") == 0) {
        return run_version(argc - 1, argv + 1);
    }
    if (strcmp(name, "keygen") == 0) {
        return cli_cmd_keygen.run(argc - 1, argv + 1);
    }
#ifdef NACRE_CLI_SERVICE
    if (strcmp(name, "svc") == 0) {
        return cli_cmd_svc.run(argc - 1, argv + 1);
    }
#endif
    const struct cli_group *g = find_group(name);
    if (g != NULL) {
        return run_group(g, argc - 1, argv + 1);
    }
    if (name[0] == '-') {
        return cli_usage_error(NULL, "unknown option '%s'", name);
    }
    return cli_usage_error(NULL, "unknown command '%s'", name);
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        return cli_fail("libsodium failed to initialise");
    }
    int rc = dispatch(argc, argv);
    /* Output that never reached its destination is a failure too. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int err = errno;
        if (rc == CLI_OK) {
            rc = cli_fail("writing to standard output: %s", err != 0 ? strerror(err) : "error");
        }
    }
    return rc;
}
