/*
 * cmd_seal.c - nacre device seal | unseal: files sealed to a device.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

static const char seal_name[] = "device seal";
static const char unseal_name[] = "device unseal";

static const char seal_usage[] =
    "usage: nacre device seal DIR --in FILE --out FILE [--context TEXT] [--bind LIST]\n"
    "                         [--firmware FILE]\n"
    "\n"
    "Encrypt FILE (at most 65536 bytes) so that only this device can open it\n"
    "(XChaCha20-Poly1305 under a key only libpluton holds). The sealed file is\n"
    "the plaintext plus 104 bytes.\n"
    "\n"
    "  --in FILE        plaintext to seal\n"
    "  --out FILE       sealed output (replaced if it exists, mode 0644)\n"
    "  --context TEXT   bind to a context, e.g. an app id (0..64 bytes, default\n"
    "                   empty); unseal must give the same one\n"
    "  --bind LIST      bind to the current values of measurement registers, e.g.\n"
    "                   \"0\" or \"0,1\" (R0 = measured firmware); default: none\n"
    "  --firmware FILE  measure FILE into R0 before boot (see --bind 0)\n"
    "  -h, --help       show this help\n"
    "\n"
    "exit status: 0 sealed, 1 failure, 2 usage error\n";

static const char unseal_usage[] =
    "usage: nacre device unseal DIR --in FILE --out FILE [--context TEXT]\n"
    "                           [--firmware FILE]\n"
    "\n"
    "Open a file made by 'nacre device seal' on the same device. Fails (and writes\n"
    "nothing) if the file was sealed on another device, was modified, was sealed\n"
    "with another --context, or is bound to registers that now hold other values\n"
    "(e.g. sealed with --bind 0 under other firmware).\n"
    "\n"
    "  --in FILE        sealed input\n"
    "  --out FILE       plaintext output (replaced if it exists, mode 0600)\n"
    "  --context TEXT   the context given to seal (default empty)\n"
    "  --firmware FILE  measure FILE into R0 before boot\n"
    "  -h, --help       show this help\n"
    "\n"
    "exit status: 0 unsealed, 1 failure, 2 usage error\n";

/* parse_seal_args() printed the help: exit with CLI_OK. */
#define SEAL_ARGS_HELP (-1)

struct seal_args {
    const char *dir;
    const char *in;
    const char *out;
    const char *context;
    const char *firmware;
    uint32_t reg_mask;
};

static int parse_seal_args(const struct cli_command *cmd, int allow_bind, int argc, char **argv,
                           struct seal_args *a)
{
    enum { OPT_IN = 256, OPT_OUT, OPT_CONTEXT, OPT_BIND, OPT_FIRMWARE };
    static const struct option seal_opts[] = {
        {"in", required_argument, NULL, OPT_IN},
        {"out", required_argument, NULL, OPT_OUT},
        {"context", required_argument, NULL, OPT_CONTEXT},
        {"firmware", required_argument, NULL, OPT_FIRMWARE},
        {"help", no_argument, NULL, 'h'},
        {"bind", required_argument, NULL, OPT_BIND}, /* seal only: keep last */
        {NULL, 0, NULL, 0},
    };
    static const struct option unseal_opts[] = {
        {"in", required_argument, NULL, OPT_IN},
        {"out", required_argument, NULL, OPT_OUT},
        {"context", required_argument, NULL, OPT_CONTEXT},
        {"firmware", required_argument, NULL, OPT_FIRMWARE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    memset(a, 0, sizeof *a);
    a->context = "";

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", allow_bind ? seal_opts : unseal_opts, NULL)) != -1) {
        switch (c) {
        case OPT_IN:
            a->in = optarg;
            break;
        case OPT_OUT:
            a->out = optarg;
            break;
        case OPT_CONTEXT:
            a->context = optarg;
            break;
        case OPT_FIRMWARE:
            a->firmware = optarg;
            break;
        case OPT_BIND:
            if (cli_parse_reg_list(optarg, &a->reg_mask) != 0) {
                return cli_usage_error(cmd->name,
                                       "--bind needs register numbers 0..%u separated by commas, "
                                       "not '%s'",
                                       NACRE_PLUTON_REGISTER_COUNT - 1u, optarg);
            }
            break;
        case 'h':
            (void)cli_print_usage(cmd);
            return SEAL_ARGS_HELP;
        default:
            return cli_bad_option(cmd->name, c, argv);
        }
    }
    if (optind >= argc) {
        return cli_usage_error(cmd->name, "missing device directory DIR");
    }
    if (argc - optind > 1) {
        return cli_usage_error(cmd->name, "unexpected argument '%s'", argv[optind + 1]);
    }
    a->dir = argv[optind];
    if (a->dir[0] == '\0') {
        return cli_usage_error(cmd->name, "DIR must not be empty");
    }
    if (a->in == NULL || a->in[0] == '\0') {
        return cli_usage_error(cmd->name, "--in FILE is required");
    }
    if (a->out == NULL || a->out[0] == '\0') {
        return cli_usage_error(cmd->name, "--out FILE is required");
    }
    if (strlen(a->context) > NACRE_PLUTON_LABEL_MAX) {
        return cli_usage_error(cmd->name, "--context is %zu bytes, at most %u are allowed",
                               strlen(a->context), NACRE_PLUTON_LABEL_MAX);
    }
    return CLI_OK;
}

static int run_seal(int argc, char **argv)
{
    struct seal_args a;
    int rc = parse_seal_args(&cli_cmd_seal, 1, argc, argv, &a);
    if (rc != CLI_OK) {
        return rc == SEAL_ARGS_HELP ? CLI_OK : rc;
    }
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    rc = cli_read_file("reading", a.in, NACRE_PLUTON_SEAL_MAX_PLAINTEXT, 1, &pt, &pt_len);
    if (rc != CLI_OK) {
        return rc;
    }
    size_t blob_max = pt_len + NACRE_PLUTON_SEAL_OVERHEAD;
    uint8_t *blob = malloc(blob_max);
    if (blob == NULL) {
        cli_free_file(pt, pt_len, 1);
        return cli_fail("sealing: out of memory");
    }

    struct cli_device dev;
    rc = cli_device_boot(&dev, a.dir, a.firmware);
    if (rc == CLI_OK) {
        size_t blob_len = 0;
        nacre_pluton_status st = nacre_pluton_seal(dev.pluton, blob, blob_max, &blob_len, pt,
                                                   pt_len, a.context, strlen(a.context),
                                                   a.reg_mask);
        if (st != NACRE_PLUTON_OK) {
            rc = cli_pluton_fail(&dev, "sealing", st);
        }
        cli_device_close(&dev);
        if (rc == CLI_OK) {
            rc = cli_write_file("writing", a.out, blob, blob_len, 0644);
        }
    }
    free(blob);
    cli_free_file(pt, pt_len, 1);
    return rc;
}

static int run_unseal(int argc, char **argv)
{
    struct seal_args a;
    int rc = parse_seal_args(&cli_cmd_unseal, 0, argc, argv, &a);
    if (rc != CLI_OK) {
        return rc == SEAL_ARGS_HELP ? CLI_OK : rc;
    }
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    rc = cli_read_file("reading", a.in, CLI_SEALED_MAX, 0, &blob, &blob_len);
    if (rc != CLI_OK) {
        return rc;
    }
    size_t pt_max = blob_len > 0 ? blob_len : 1;
    uint8_t *pt = sodium_malloc(pt_max);
    if (pt == NULL) {
        cli_free_file(blob, blob_len, 0);
        return cli_fail("unsealing: out of memory");
    }

    struct cli_device dev;
    rc = cli_device_boot(&dev, a.dir, a.firmware);
    if (rc == CLI_OK) {
        size_t pt_len = 0;
        nacre_pluton_status st = nacre_pluton_unseal(dev.pluton, pt, pt_max, &pt_len, blob,
                                                     blob_len, a.context, strlen(a.context));
        if (st != NACRE_PLUTON_OK) {
            rc = cli_pluton_fail(&dev, "unsealing", st);
        }
        cli_device_close(&dev);
        if (rc == CLI_OK) {
            rc = cli_write_file("writing", a.out, pt, pt_len, 0600);
        }
    }
    sodium_free(pt); /* wipes */
    cli_free_file(blob, blob_len, 0);
    return rc;
}

const struct cli_command cli_cmd_seal = {
    .name = seal_name,
    .summary = "seal a file to the device (and optionally its firmware)",
    .usage = seal_usage,
    .run = run_seal,
};

const struct cli_command cli_cmd_unseal = {
    .name = unseal_name,
    .summary = "open a file sealed to the device",
    .usage = unseal_usage,
    .run = run_unseal,
};
