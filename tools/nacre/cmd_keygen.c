/*
 * cmd_keygen.c - nacre keygen: a new Ed25519 key pair as PEM files.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

static const char keygen_name[] = "keygen";

static const char keygen_usage[] =
    "usage: nacre keygen --out KEY.pem [--pub PUB.pem] [--force]\n"
    "\n"
    "Generate a new Ed25519 key pair, e.g. the image-signing root key.\n"
    "\n"
    "  --out KEY.pem   write the private key here (PKCS#8 PEM, mode 0600)\n"
    "  --pub PUB.pem   also write the public key here (SPKI PEM, mode 0644)\n"
    "  --force         replace existing files (otherwise they are never touched)\n"
    "  -h, --help      show this help\n"
    "\n"
    "Files are written to a temporary name and renamed into place. Both formats\n"
    "are the ones OpenSSL uses: 'openssl pkey -in KEY.pem' reads the key, and\n"
    "keys from 'openssl genpkey -algorithm ed25519' work wherever nacre takes one.\n"
    "\n"
    "Prints the public key and its root-key hash (BLAKE2b-256 of the 32-byte\n"
    "raw public key: the value 'nacre device provision --root-pub' burns into OTP).\n"
    "\n"
    "exit status: 0 written, 1 failure (nothing is left half-written), 2 usage error\n";

static int keyfile_fail(const char *path, nacre_keyfile_status st)
{
    if (st == NACRE_KEYFILE_ERR_EXISTS) {
        return cli_fail("%s: %s (use --force to replace it)", path, nacre_keyfile_strerror(st));
    }
    return cli_fail("%s: %s", path, nacre_keyfile_strerror(st));
}

static int run_keygen(int argc, char **argv)
{
    enum { OPT_OUT = 256, OPT_PUB, OPT_FORCE };
    static const struct option opts[] = {
        {"out", required_argument, NULL, OPT_OUT},
        {"pub", required_argument, NULL, OPT_PUB},
        {"force", no_argument, NULL, OPT_FORCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    const char *pub = NULL;
    int force = 0;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_PUB:
            pub = optarg;
            break;
        case OPT_FORCE:
            force = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_keygen);
        default:
            return cli_bad_option(keygen_name, c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage_error(keygen_name, "unexpected argument '%s'", argv[optind]);
    }
    if (out == NULL || out[0] == '\0') {
        return cli_usage_error(keygen_name, "--out KEY.pem is required");
    }
    if (pub != NULL && (pub[0] == '\0' || strcmp(pub, out) == 0)) {
        return cli_usage_error(keygen_name, "--pub must name a file other than --out");
    }
    /* Refuse before writing anything, so a refusal leaves no new file behind. */
    if (!force) {
        if (cli_path_exists(out)) {
            return keyfile_fail(out, NACRE_KEYFILE_ERR_EXISTS);
        }
        if (pub != NULL && cli_path_exists(pub)) {
            return keyfile_fail(pub, NACRE_KEYFILE_ERR_EXISTS);
        }
    }

    uint8_t *seed = sodium_malloc(NACRE_KEYFILE_SEED_BYTES);
    if (seed == NULL) {
        return cli_fail("generating key: out of memory");
    }
    uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES];
    uint8_t hash[NACRE_KEYFILE_HASH_BYTES];
    unsigned flags = force ? NACRE_KEYFILE_FORCE : 0u;
    int rc = CLI_OK;
    nacre_keyfile_status st = nacre_keyfile_keypair(pk, seed);
    if (st != NACRE_KEYFILE_OK) {
        rc = cli_fail("generating key: %s", nacre_keyfile_strerror(st));
    }
    if (rc == CLI_OK) {
        st = nacre_keyfile_write_private(out, seed, flags);
        if (st != NACRE_KEYFILE_OK) {
            rc = keyfile_fail(out, st);
        }
    }
    sodium_free(seed); /* wipes */
    if (rc == CLI_OK && pub != NULL) {
        st = nacre_keyfile_write_public(pub, pk, flags);
        if (st != NACRE_KEYFILE_OK) {
            rc = keyfile_fail(pub, st);
        }
    }
    if (rc == CLI_OK) {
        st = nacre_keyfile_root_key_hash(pk, hash);
        if (st != NACRE_KEYFILE_OK) {
            rc = cli_fail("hashing public key: %s", nacre_keyfile_strerror(st));
        }
    }
    if (rc == CLI_OK) {
        char hex[65];
        cli_kv("private key", "%s", out);
        if (pub != NULL) {
            cli_kv("public key", "%s", pub);
        }
        cli_hex32(hex, pk);
        cli_kv("Ed25519 public", "%s", hex);
        cli_hex32(hex, hash);
        cli_kv("root-key hash", "%s", hex);
    }
    return rc;
}

const struct cli_command cli_cmd_keygen = {
    .name = keygen_name,
    .summary = "generate an Ed25519 key pair (PKCS#8 / SPKI PEM files)",
    .usage = keygen_usage,
    .run = run_keygen,
};
