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
    &cli_cmd_provision, &cli_cmd_info, &cli_cmd_secure,
    &cli_cmd_seal,      &cli_cmd_unseal, &cli_cmd_counter,
};
#define DEVICE_COMMAND_COUNT (sizeof device_commands / sizeof device_commands[0])

static const char main_usage[] =
    "usage: nacre COMMAND [ARGS...]\n"
    "\n"
    "The Nacre command-line tool: signing keys, and host devices (a device is a\n"
    "directory holding emulated OTP fuses and flash).\n"
    "\n"
    "commands:\n"
    "  keygen            generate an Ed25519 key pair (PKCS#8 / SPKI PEM files)\n"
    "  device provision  create and provision a host device (BLANK -> PROVISIONED)\n"
    "  device info       show lifecycle, keys, counters and measurement registers\n"
    "  device secure     PROVISIONED -> SECURED: lock debug, close OTP (irreversible)\n"
    "  device seal       seal a file to the device (and optionally its firmware)\n"
    "  device unseal     open a file sealed to the device\n"
    "  device counter    read, increment or advance a monotonic counter\n"
    "  version           print version information\n"
    "  help [COMMAND]    show help, e.g. 'nacre help device seal'\n"
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
    "\n"
    "Run 'nacre device SUBCOMMAND --help' for details.\n"
    "\n"
    "Every subcommand powers the device on and boots it the same way:\n"
    "  1. open the host board (a reset: registers zero, OTP re-read)\n"
    "  2. nacre_pluton_init\n"
    "  3. with --firmware FILE: R0 = extend(R0, BLAKE2b-256(FILE))\n"
    "  4. nacre_pluton_boot_complete (skipped on a BLANK device): derives the\n"
    "     DeviceID key (stable) and the Alias key (depends on R0), locks the UDS\n"
    "then does its work and powers the device off (every secret wiped).\n"
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
    "      counter reads the old or the new value, never less).\n"
    "\n"
    "exit status: 0 success, 1 failure, 2 usage error\n";

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

static const struct cli_command *find_device_command(const char *name)
{
    static const char prefix[] = "device ";
    for (size_t i = 0; i < DEVICE_COMMAND_COUNT; i++) {
        if (strcmp(device_commands[i]->name + sizeof prefix - 1, name) == 0) {
            return device_commands[i];
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
    if (strcmp(topic, "device") == 0) {
        if (argc == 2) {
            return print_text(cli_device_usage);
        }
        const struct cli_command *cmd = find_device_command(argv[2]);
        if (cmd != NULL && argc == 3) {
            return cli_print_usage(cmd);
        }
        if (cmd == NULL) {
            return cli_usage_error("help", "no help for 'device %s': unknown subcommand", argv[2]);
        }
    }
    if (find_device_command(topic) != NULL && argc == 2) {
        /* 'nacre help seal' is forgiven: show 'device seal'. */
        return cli_print_usage(find_device_command(topic));
    }
    if (argc > 3 || (argc == 3 && strcmp(topic, "device") != 0)) {
        return cli_usage_error("help", "too many arguments");
    }
    return cli_usage_error("help", "no help for '%s': unknown command", topic);
}

static int run_device(int argc, char **argv)
{
    if (argc < 2) {
        return cli_usage_error("device", "missing subcommand (provision, info, secure, seal, "
                                         "unseal, counter)");
    }
    if (is_help_flag(argv[1])) {
        return print_text(cli_device_usage);
    }
    const struct cli_command *cmd = find_device_command(argv[1]);
    if (cmd == NULL) {
        if (argv[1][0] == '-') {
            return cli_usage_error("device", "unknown option '%s'", argv[1]);
        }
        return cli_usage_error("device", "unknown subcommand '%s'", argv[1]);
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
    if (strcmp(name, "device") == 0) {
        return run_device(argc - 1, argv + 1);
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
