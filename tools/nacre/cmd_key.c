/*
 * cmd_key.c - nacre key certify: the root key vouches for a signing key.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

static const char certify_name[] = "key certify";

static const char certify_usage[] =
    "usage: nacre key certify --root-key ROOT.pem --pub SIGNER.pub.pem --epoch N\n"
    "                         --out CERT [--force] [--json]\n"
    "\n"
    "Certify a signing key with the image-signing root key, so that the root key\n"
    "can stay offline: images signed by the signing key and carrying CERT are\n"
    "accepted by every device that trusts the root key. CERT is a 144-byte file\n"
    "(layout in docs/image-format.md), written with mode 0644.\n"
    "\n"
    "  --root-key ROOT.pem   the root private key (PKCS#8 PEM)\n"
    "  --pub SIGNER.pub.pem  the signing key to certify (SPKI PEM, or a private\n"
    "                        key PEM whose public half is used)\n"
    "  --epoch N             the certificate's epoch, 0..4294967295. A device that\n"
    "                        confirms an image signed under epoch N refuses every\n"
    "                        certificate below N from then on: certify a new key\n"
    "                        at a higher epoch to revoke the old ones\n"
    "  --out CERT            where to write the certificate\n"
    "  --force               replace an existing CERT (otherwise it is never touched)\n"
    "  --json                print JSON instead of text\n"
    "  -h, --help            show this help\n"
    "\n"
    "Then: nacre image sign --key SIGNER.pem --cert CERT ...\n"
    "\n"
    "exit status: 0 written, 1 failure, 2 usage error\n";

static int run_certify(int argc, char **argv)
{
    enum { OPT_ROOT_KEY = 256, OPT_PUB, OPT_EPOCH, OPT_OUT, OPT_FORCE, OPT_JSON };
    static const struct option opts[] = {
        {"root-key", required_argument, NULL, OPT_ROOT_KEY},
        {"pub", required_argument, NULL, OPT_PUB},
        {"epoch", required_argument, NULL, OPT_EPOCH},
        {"out", required_argument, NULL, OPT_OUT},
        {"force", no_argument, NULL, OPT_FORCE},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *root_key = NULL;
    const char *pub = NULL;
    const char *epoch_arg = NULL;
    const char *out = NULL;
    int force = 0;
    int json = 0;
    uint32_t epoch = 0;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_ROOT_KEY:
            root_key = optarg;
            break;
        case OPT_PUB:
            pub = optarg;
            break;
        case OPT_EPOCH:
            epoch_arg = optarg;
            break;
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_FORCE:
            force = 1;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_key_certify);
        default:
            return cli_bad_option(certify_name, c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage_error(certify_name, "unexpected argument '%s'", argv[optind]);
    }
    if (root_key == NULL || root_key[0] == '\0') {
        return cli_usage_error(certify_name, "--root-key ROOT.pem is required");
    }
    if (pub == NULL || pub[0] == '\0') {
        return cli_usage_error(certify_name, "--pub SIGNER.pub.pem is required");
    }
    if (epoch_arg == NULL) {
        return cli_usage_error(certify_name, "--epoch N is required");
    }
    if (cli_parse_u32(epoch_arg, &epoch) != 0) {
        return cli_usage_error(certify_name, "--epoch needs a value 0..4294967295, not '%s'",
                               epoch_arg);
    }
    if (out == NULL || out[0] == '\0') {
        return cli_usage_error(certify_name, "--out CERT is required");
    }
    /* Refuse before reading any key, so a refusal touches nothing. */
    if (!force && cli_path_exists(out)) {
        return cli_fail("%s: %s (use --force to replace it)", out,
                        nacre_keyfile_strerror(NACRE_KEYFILE_ERR_EXISTS));
    }

    uint8_t signer_pk[NACRE_IMAGE_PUBLICKEY_BYTES];
    int rc = cli_read_pub("reading signing public key", pub, signer_pk);
    if (rc != CLI_OK) {
        return rc;
    }
    uint8_t *seed = NULL;
    rc = cli_read_seed("reading root key", root_key, &seed);
    if (rc != CLI_OK) {
        return rc;
    }
    uint8_t cert[NACRE_KEYCERT_BYTES];
    nacre_update_status st = nacre_keycert_create(cert, seed, signer_pk, epoch);
    sodium_free(seed); /* wipes */
    if (st != NACRE_UPDATE_OK) {
        return cli_fail("certifying %s: %s", pub, nacre_update_strerror(st));
    }
    struct nacre_keycert kc;
    st = nacre_keycert_verify(cert, &kc);
    if (st != NACRE_UPDATE_OK) {
        return cli_fail("certifying %s: %s", pub, nacre_update_strerror(st));
    }
    rc = cli_write_file("writing", out, cert, sizeof cert, 0644);
    if (rc != CLI_OK) {
        return rc;
    }

    uint8_t signer_id[32], root_id[32];
    nacre_image_key_id(signer_id, kc.signer_pk);
    nacre_image_key_id(root_id, kc.root_pk);
    if (json) {
        json_t *obj = json_object();
        if (obj != NULL) {
            json_object_set_new(obj, "certificate", json_string(out));
            json_object_set_new(obj, "epoch", json_integer((json_int_t)kc.epoch));
            json_object_set_new(obj, "signer_key_id", cli_json_hex(signer_id, 32));
            json_object_set_new(obj, "root_key_id", cli_json_hex(root_id, 32));
        }
        return cli_print_json(obj);
    }
    char hex[65];
    cli_kv("certificate", "%s (%u bytes)", out, NACRE_KEYCERT_BYTES);
    cli_kv("epoch", "%lu", (unsigned long)kc.epoch);
    cli_hex32(hex, signer_id);
    cli_kv("signer key id", "%s", hex);
    cli_hex32(hex, root_id);
    cli_kv("root key id", "%s (= the root-key hash devices hold)", hex);
    return CLI_OK;
}

const struct cli_command cli_cmd_key_certify = {
    .name = certify_name,
    .summary = "certify a signing key with the root key (a key certificate)",
    .usage = certify_usage,
    .run = run_certify,
};
