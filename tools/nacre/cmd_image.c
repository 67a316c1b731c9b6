/*
 * cmd_image.c - nacre image sign | create | digest | attach-signature |
 * inspect | verify: signed images (nacre/image.h) on the host.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

static const char sign_name[] = "image sign";
static const char create_name[] = "image create";
static const char digest_name[] = "image digest";
static const char attach_name[] = "image attach-signature";
static const char inspect_name[] = "image inspect";
static const char verify_name[] = "image verify";
static const char refs_name[] = "image refs";

/* A parse_*_args() printed the help: exit with CLI_OK. */
#define ARGS_HELP (-1)

/* ---- who signed: the unprotected area ---------------------------------------- */

enum signer_kind {
    SIGNER_NONE = 0, /* neither ROOT_KEY nor KEY_CERT */
    SIGNER_ROOT = 1,
    SIGNER_CERT = 2,
};

struct signer_desc {
    enum signer_kind kind;
    int cert_ok;                   /* SIGNER_CERT: the certificate verifies */
    uint32_t epoch;                /* SIGNER_CERT, cert_ok */
    uint8_t root_key_id[32];       /* root: its key; cert: the certifying root (cert_ok) */
};

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/*
 * nacre_image_parse() does not say whether an image carries a key
 * certificate, nor its epoch (those are set by nacre_image_check, which needs
 * the device's root key). For display only, find the ROOT_KEY / KEY_CERT TLV
 * in the unprotected area of an image that nacre_image_parse() accepted.
 */
static void describe_signer(const uint8_t *image, const struct nacre_image_info *info,
                            struct signer_desc *out)
{
    memset(out, 0, sizeof *out);
    size_t off = NACRE_IMAGE_HEADER_BYTES + (size_t)le32(image + 8);
    size_t end = info->payload_offset;
    while (off < end && end - off >= 4) {
        uint16_t type = le16(image + off);
        uint16_t len = le16(image + off + 2);
        if (type == NACRE_IMAGE_TLV_END || len > end - off - 4) {
            break;
        }
        const uint8_t *v = image + off + 4;
        if (type == NACRE_IMAGE_TLV_ROOT_KEY && len == NACRE_IMAGE_PUBLICKEY_BYTES) {
            out->kind = SIGNER_ROOT;
            nacre_image_key_id(out->root_key_id, v);
        } else if (type == NACRE_IMAGE_TLV_KEY_CERT && len == NACRE_KEYCERT_BYTES) {
            struct nacre_keycert cert;
            out->kind = SIGNER_CERT;
            if (nacre_keycert_verify(v, &cert) == NACRE_UPDATE_OK) {
                out->cert_ok = 1;
                out->epoch = cert.epoch;
                nacre_image_key_id(out->root_key_id, cert.root_pk);
            }
        }
        off += 4u + len;
    }
}

static const char *signer_word(const struct signer_desc *s)
{
    switch (s->kind) {
    case SIGNER_ROOT:
        return "root";
    case SIGNER_CERT:
        return "certified";
    case SIGNER_NONE:
        break;
    }
    return NULL;
}

/* The image object plus who signed it. */
static json_t *image_json(const char *path, const struct nacre_image_info *info,
                          const struct signer_desc *sd)
{
    json_t *obj = cli_json_image(info);
    if (obj == NULL) {
        return NULL;
    }
    const char *word = signer_word(sd);
    json_object_set_new(obj, "image", json_string(path));
    json_object_set_new(obj, "signer", word != NULL ? json_string(word) : json_null());
    json_object_set_new(obj, "key_epoch", sd->kind == SIGNER_CERT && sd->cert_ok
                                              ? json_integer((json_int_t)sd->epoch)
                                              : json_null());
    json_object_set_new(obj, "root_key_id",
                        sd->kind == SIGNER_ROOT || (sd->kind == SIGNER_CERT && sd->cert_ok)
                            ? cli_json_hex(sd->root_key_id, 32)
                            : json_null());
    if (sd->kind == SIGNER_CERT) {
        json_object_set_new(obj, "certificate_valid", json_boolean(sd->cert_ok));
    }
    return obj;
}

static void print_signer(const struct signer_desc *sd, const struct nacre_image_info *info)
{
    char hex[65];
    switch (sd->kind) {
    case SIGNER_ROOT:
        cli_hex32(hex, sd->root_key_id);
        cli_kv("signer", "root key (key id %s)", hex);
        break;
    case SIGNER_CERT:
        if (sd->cert_ok) {
            cli_hex32(hex, sd->root_key_id);
            cli_kv("signer", "certified key, epoch %lu (certified by root key id %s)",
                   (unsigned long)sd->epoch, hex);
        } else {
            cli_kv("signer", "certified key (the certificate is INVALID)");
        }
        break;
    case SIGNER_NONE:
        cli_hex32(hex, info->signer_key_id);
        cli_kv("signer", "none attached; to be signed by key id %s", hex);
        break;
    }
}

/* full: every field (inspect); otherwise the summary of sign / create / verify. */
static void print_image(const char *path, const struct nacre_image_info *info,
                        const struct signer_desc *sd, int full)
{
    char hex[65];
    char version[CLI_VERSION_CHARS];
    cli_version_str(version, &info->version);
    cli_kv("image", "%s", path);
    cli_kv("component", "%s", info->component);
    cli_kv("version", "%s", version);
    cli_kv("counter", "%lu", (unsigned long)info->security_counter);
    cli_kv("size", "%lu bytes (metadata %lu, payload %lu)", (unsigned long)info->image_size,
           (unsigned long)info->payload_offset, (unsigned long)info->payload_size);
    if (full) {
        cli_hex32(hex, info->payload_digest);
        cli_kv("payload digest", "%s", hex);
        cli_hex32(hex, info->signer_key_id);
        cli_kv("signer key id", "%s", hex);
    }
    cli_hex32(hex, info->measurement);
    cli_kv("measurement", "%s", hex);
    if (full || info->dependency_count > 0) {
        char deps[NACRE_IMAGE_DEPENDENCY_MAX * (NACRE_IMAGE_COMPONENT_MAX + CLI_VERSION_CHARS + 8)];
        size_t pos = 0;
        deps[0] = '\0';
        for (unsigned i = 0; i < info->dependency_count && i < NACRE_IMAGE_DEPENDENCY_MAX; i++) {
            cli_version_str(version, &info->dependencies[i].min_version);
            int n = snprintf(deps + pos, sizeof deps - pos, "%s%s >= %s", i > 0 ? ", " : "",
                             info->dependencies[i].component, version);
            if (n < 0 || (size_t)n >= sizeof deps - pos) {
                break;
            }
            pos += (size_t)n;
        }
        cli_kv("dependencies", "%s", info->dependency_count == 0 ? "none" : deps);
    }
    cli_kv("signed", "%s", info->has_signature ? "yes" : "no");
    print_signer(sd, info);
}

/* ---- files ------------------------------------------------------------------- */

/* Read an image file and parse its metadata. */
static int read_image(const char *what, const char *path, uint8_t **img, size_t *len,
                      struct nacre_image_info *info)
{
    int rc = cli_read_file(what, path, CLI_IMAGE_MAX, 0, img, len);
    if (rc != CLI_OK) {
        return rc;
    }
    nacre_update_status st = nacre_image_parse(*img, *len, info);
    if (st != NACRE_UPDATE_OK) {
        cli_free_file(*img, *len, 0);
        *img = NULL;
        return cli_fail("%s %s: %s", what, path, nacre_update_strerror(st));
    }
    return CLI_OK;
}

/* A file of exactly n bytes into buf. */
static int read_exact(const char *what, const char *path, uint8_t *buf, size_t n,
                      const char *kind)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = cli_read_file(what, path, n, 0, &data, &len);
    if (rc != CLI_OK) {
        return rc;
    }
    if (len != n) {
        rc = cli_fail("%s %s: not %s (%zu bytes, expected %zu)", what, path, kind, len, n);
    } else {
        memcpy(buf, data, n);
    }
    cli_free_file(data, len, 0);
    return rc;
}

/* Read a key certificate and check its root signature. */
static int read_cert(const char *path, uint8_t cert[NACRE_KEYCERT_BYTES], struct nacre_keycert *kc)
{
    int rc = read_exact("reading certificate", path, cert, NACRE_KEYCERT_BYTES,
                        "a key certificate");
    if (rc != CLI_OK) {
        return rc;
    }
    nacre_update_status st = nacre_keycert_verify(cert, kc);
    if (st != NACRE_UPDATE_OK) {
        return cli_fail("reading certificate %s: %s", path, nacre_update_strerror(st));
    }
    return CLI_OK;
}

/* ---- sign / create ------------------------------------------------------------- */

static const char sign_usage[] =
    "usage: nacre image sign --key KEY.pem --version X.Y.Z --counter N\n"
    "                        [--component NAME] [--cert CERT] [--dep NAME@X.Y.Z]...\n"
    "                        [--refs-out REFS.json] [--json] IN OUT\n"
    "\n"
    "Wrap the payload file IN in a signed Nacre image and write it to OUT (replaced\n"
    "if it exists, mode 0644). docs/image-format.md describes the bytes.\n"
    "\n"
    "  --key KEY.pem      the Ed25519 private key that signs (PKCS#8 PEM). Without\n"
    "                     --cert it must be the ROOT key: the image then carries\n"
    "                     the root public key, and a device whose root-key hash\n"
    "                     matches accepts it\n"
    "  --cert CERT        the key certificate of KEY (from 'nacre key certify'):\n"
    "                     KEY is a signing key certified by the root key, and the\n"
    "                     image carries the certificate\n"
    "  --version X.Y.Z    the image version (decimal parts, no leading zeros)\n"
    "  --counter N        the security (anti-rollback) counter, 0..4294967295: once\n"
    "                     a device confirms this image, images with a lower\n"
    "                     counter are refused\n"
    "  --component NAME   what the image is (1..32 of [a-z0-9._-]; default \"app\")\n"
    "  --dep NAME@X.Y.Z   a dependency: component NAME at least X.Y.Z (up to 4)\n"
    "  --refs-out REFS.json  also write the image's reference values for\n"
    "                     attestation verifiers (replaced if it exists):\n"
    "                     {\"version\": 1, \"components\": [{\"name\", \"version\",\n"
    "                     \"measurement\", \"signer_id\", \"security_counter\"}]}\n"
    "  --json             print JSON instead of text\n"
    "  -h, --help         show this help\n"
    "\n"
    "For a key kept offline or in an HSM, use 'nacre image create', 'nacre image\n"
    "digest' and 'nacre image attach-signature' instead.\n"
    "\n"
    "exit status: 0 signed, 1 failure, 2 usage error\n";

static const char create_usage[] =
    "usage: nacre image create --pub SIGNER.pub.pem --version X.Y.Z --counter N\n"
    "                          [--component NAME] [--dep NAME@X.Y.Z]...\n"
    "                          [--refs-out REFS.json] [--json] IN OUT\n"
    "\n"
    "Wrap the payload file IN in an UNSIGNED Nacre image, for offline or HSM\n"
    "signing, and write it to OUT (replaced if it exists, mode 0644). The image\n"
    "names its signer (the key id of SIGNER.pub.pem) in its signed metadata and\n"
    "has room for the signature. Then:\n"
    "  nacre image digest OUT --out tbs.bin\n"
    "  openssl pkeyutl -sign -rawin -inkey KEY.pem -in tbs.bin -out sig.bin\n"
    "  nacre image attach-signature OUT sig.bin --root-pub ROOT.pub.pem  (or --cert CERT)\n"
    "\n"
    "  --pub SIGNER.pub.pem  the public key that will sign: the root key, or a\n"
    "                        certified signing key (SPKI PEM, or a private key PEM)\n"
    "  --version, --counter, --component, --dep, --refs-out, --json\n"
    "                        as for 'nacre image sign' (the measurement does not\n"
    "                        depend on the signature: the reference values hold)\n"
    "  -h, --help            show this help\n"
    "\n"
    "exit status: 0 written, 1 failure, 2 usage error\n";

struct build_args {
    const char *key;  /* sign */
    const char *cert; /* sign */
    const char *pub;  /* create */
    const char *in;
    const char *out;
    const char *refs_out;
    int json;
    struct nacre_image_params params;
};

/* "NAME@X.Y.Z" into a dependency. */
static int parse_dep(const char *cmd, const char *arg, struct nacre_image_params *p)
{
    const char *at = strrchr(arg, '@');
    if (p->dependency_count >= NACRE_IMAGE_DEPENDENCY_MAX) {
        return cli_usage_error(cmd, "at most %u --dep options", NACRE_IMAGE_DEPENDENCY_MAX);
    }
    struct nacre_image_dependency *d = &p->dependencies[p->dependency_count];
    size_t n = at != NULL ? (size_t)(at - arg) : 0;
    if (at == NULL || n == 0 || n > NACRE_IMAGE_COMPONENT_MAX) {
        return cli_usage_error(cmd, "--dep needs NAME@X.Y.Z, not '%s'", arg);
    }
    memcpy(d->component, arg, n);
    d->component[n] = '\0';
    if (cli_component_ok(d->component) != 0) {
        return cli_usage_error(cmd, "--dep: component name '%s' must be 1..%u of [a-z0-9._-]",
                               d->component, NACRE_IMAGE_COMPONENT_MAX);
    }
    if (nacre_image_version_parse(at + 1, &d->min_version) != NACRE_UPDATE_OK) {
        return cli_usage_error(cmd, "--dep: version must be X.Y.Z (decimal, no leading zeros), "
                               "not '%s'", at + 1);
    }
    for (unsigned i = 0; i < p->dependency_count; i++) {
        if (strcmp(p->dependencies[i].component, d->component) == 0) {
            return cli_usage_error(cmd, "--dep: '%s' is given twice", d->component);
        }
    }
    p->dependency_count++;
    return CLI_OK;
}

static int parse_build_args(const struct cli_command *cmd, int sign, int argc, char **argv,
                            struct build_args *a)
{
    enum { OPT_KEY = 256, OPT_CERT, OPT_PUB, OPT_VERSION, OPT_COUNTER, OPT_COMPONENT, OPT_DEP,
           OPT_REFS_OUT, OPT_JSON };
    static const struct option sign_opts[] = {
        {"key", required_argument, NULL, OPT_KEY},
        {"cert", required_argument, NULL, OPT_CERT},
        {"version", required_argument, NULL, OPT_VERSION},
        {"counter", required_argument, NULL, OPT_COUNTER},
        {"component", required_argument, NULL, OPT_COMPONENT},
        {"dep", required_argument, NULL, OPT_DEP},
        {"refs-out", required_argument, NULL, OPT_REFS_OUT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const struct option create_opts[] = {
        {"pub", required_argument, NULL, OPT_PUB},
        {"version", required_argument, NULL, OPT_VERSION},
        {"counter", required_argument, NULL, OPT_COUNTER},
        {"component", required_argument, NULL, OPT_COMPONENT},
        {"dep", required_argument, NULL, OPT_DEP},
        {"refs-out", required_argument, NULL, OPT_REFS_OUT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *version = NULL;
    const char *counter = NULL;
    int rc;
    int c;
    memset(a, 0, sizeof *a);
    a->params.component = "app";

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", sign ? sign_opts : create_opts, NULL)) != -1) {
        switch (c) {
        case OPT_KEY:
            a->key = optarg;
            break;
        case OPT_CERT:
            a->cert = optarg;
            break;
        case OPT_PUB:
            a->pub = optarg;
            break;
        case OPT_VERSION:
            version = optarg;
            break;
        case OPT_COUNTER:
            counter = optarg;
            break;
        case OPT_COMPONENT:
            a->params.component = optarg;
            break;
        case OPT_DEP:
            rc = parse_dep(cmd->name, optarg, &a->params);
            if (rc != CLI_OK) {
                return rc;
            }
            break;
        case OPT_REFS_OUT:
            a->refs_out = optarg;
            break;
        case OPT_JSON:
            a->json = 1;
            break;
        case 'h':
            (void)cli_print_usage(cmd);
            return ARGS_HELP;
        default:
            return cli_bad_option(cmd->name, c, argv);
        }
    }
    if (argc - optind < 2) {
        return cli_usage_error(cmd->name, optind >= argc ? "missing payload file IN"
                                                         : "missing output file OUT");
    }
    if (argc - optind > 2) {
        return cli_usage_error(cmd->name, "unexpected argument '%s'", argv[optind + 2]);
    }
    a->in = argv[optind];
    a->out = argv[optind + 1];
    if (a->in[0] == '\0' || a->out[0] == '\0') {
        return cli_usage_error(cmd->name, "IN and OUT must not be empty");
    }
    if (sign && (a->key == NULL || a->key[0] == '\0')) {
        return cli_usage_error(cmd->name, "--key KEY.pem is required");
    }
    if (!sign && (a->pub == NULL || a->pub[0] == '\0')) {
        return cli_usage_error(cmd->name, "--pub SIGNER.pub.pem is required");
    }
    if (version == NULL) {
        return cli_usage_error(cmd->name, "--version X.Y.Z is required");
    }
    if (nacre_image_version_parse(version, &a->params.version) != NACRE_UPDATE_OK) {
        return cli_usage_error(cmd->name, "--version must be X.Y.Z (decimal parts below 2^32, "
                               "no leading zeros), not '%s'", version);
    }
    if (counter == NULL) {
        return cli_usage_error(cmd->name, "--counter N is required");
    }
    if (cli_parse_u32(counter, &a->params.security_counter) != 0) {
        return cli_usage_error(cmd->name, "--counter needs a value 0..4294967295, not '%s'",
                               counter);
    }
    if (cli_component_ok(a->params.component) != 0) {
        return cli_usage_error(cmd->name, "--component must be 1..%u of [a-z0-9._-], not '%s'",
                               NACRE_IMAGE_COMPONENT_MAX, a->params.component);
    }
    if (a->refs_out != NULL && a->refs_out[0] == '\0') {
        return cli_usage_error(cmd->name, "--refs-out needs a file name");
    }
    return CLI_OK;
}

/* The reference values of one image into path. */
static int write_refs(const char *path, const struct nacre_image_info *info)
{
    json_t *refs = cli_refs_new();
    if (refs == NULL) {
        return cli_fail("writing %s: out of memory", path);
    }
    int rc = cli_refs_add(refs, info);
    if (rc == CLI_OK) {
        rc = cli_refs_write(path, refs);
    }
    json_decref(refs);
    return rc;
}

/* Both sign and create end here: parse what was built, write it, show it. */
static int finish_build(const struct build_args *a, const uint8_t *img, size_t len)
{
    struct nacre_image_info info;
    struct signer_desc sd;
    nacre_update_status st = nacre_image_parse(img, len, &info);
    if (st != NACRE_UPDATE_OK) {
        return cli_fail("building %s: %s", a->out, nacre_update_strerror(st));
    }
    describe_signer(img, &info, &sd);
    int rc = cli_write_file("writing", a->out, img, len, 0644);
    if (rc == CLI_OK && a->refs_out != NULL) {
        rc = write_refs(a->refs_out, &info);
    }
    if (rc != CLI_OK) {
        return rc;
    }
    if (a->json) {
        json_t *obj = image_json(a->out, &info, &sd);
        if (obj != NULL && a->refs_out != NULL) {
            json_object_set_new(obj, "refs", json_string(a->refs_out));
        }
        return cli_print_json(obj);
    }
    print_image(a->out, &info, &sd, 0);
    if (a->refs_out != NULL) {
        cli_kv("reference values", "%s", a->refs_out);
    }
    return CLI_OK;
}

static int run_sign(int argc, char **argv)
{
    struct build_args a;
    int rc = parse_build_args(&cli_cmd_image_sign, 1, argc, argv, &a);
    if (rc != CLI_OK) {
        return rc == ARGS_HELP ? CLI_OK : rc;
    }
    uint8_t cert[NACRE_KEYCERT_BYTES];
    struct nacre_keycert kc;
    if (a.cert != NULL) {
        rc = read_cert(a.cert, cert, &kc);
        if (rc != CLI_OK) {
            return rc;
        }
    }
    uint8_t *seed = NULL;
    rc = cli_read_seed("reading signing key", a.key, &seed);
    if (rc != CLI_OK) {
        return rc;
    }
    nacre_keyfile_status kst = nacre_keyfile_seed_to_public(a.params.signer_pk, seed);
    if (kst != NACRE_KEYFILE_OK) {
        sodium_free(seed);
        return cli_fail("reading signing key %s: %s", a.key, nacre_keyfile_strerror(kst));
    }
    if (a.cert != NULL &&
        memcmp(kc.signer_pk, a.params.signer_pk, NACRE_IMAGE_PUBLICKEY_BYTES) != 0) {
        char want[65], have[65];
        uint8_t id[32];
        nacre_image_key_id(id, kc.signer_pk);
        cli_hex32(want, id);
        nacre_image_key_id(id, a.params.signer_pk);
        cli_hex32(have, id);
        sodium_free(seed);
        return cli_fail("signing with %s: %s certifies another key (key id %s; %s has key id %s)",
                        a.key, a.cert, want, a.key, have);
    }

    uint8_t *payload = NULL;
    size_t payload_len = 0;
    rc = cli_read_file("reading payload", a.in, CLI_IMAGE_MAX, 0, &payload, &payload_len);
    if (rc != CLI_OK) {
        sodium_free(seed);
        return rc;
    }
    uint8_t *img = NULL;
    size_t len = 0;
    nacre_update_status st = nacre_image_create(&img, &len, payload, payload_len, &a.params);
    cli_free_file(payload, payload_len, 0);
    if (st == NACRE_UPDATE_OK) {
        st = nacre_image_sign(img, len, seed, a.cert != NULL ? cert : NULL);
    }
    sodium_free(seed); /* wipes */
    if (st != NACRE_UPDATE_OK) {
        free(img);
        return cli_fail("signing %s: %s", a.in, nacre_update_strerror(st));
    }
    rc = finish_build(&a, img, len);
    free(img);
    return rc;
}

static int run_create(int argc, char **argv)
{
    struct build_args a;
    int rc = parse_build_args(&cli_cmd_image_create, 0, argc, argv, &a);
    if (rc != CLI_OK) {
        return rc == ARGS_HELP ? CLI_OK : rc;
    }
    rc = cli_read_pub("reading signer public key", a.pub, a.params.signer_pk);
    if (rc != CLI_OK) {
        return rc;
    }
    uint8_t *payload = NULL;
    size_t payload_len = 0;
    rc = cli_read_file("reading payload", a.in, CLI_IMAGE_MAX, 0, &payload, &payload_len);
    if (rc != CLI_OK) {
        return rc;
    }
    uint8_t *img = NULL;
    size_t len = 0;
    nacre_update_status st = nacre_image_create(&img, &len, payload, payload_len, &a.params);
    cli_free_file(payload, payload_len, 0);
    if (st != NACRE_UPDATE_OK) {
        return cli_fail("creating an image from %s: %s", a.in, nacre_update_strerror(st));
    }
    rc = finish_build(&a, img, len);
    free(img);
    return rc;
}

const struct cli_command cli_cmd_image_sign = {
    .name = sign_name,
    .summary = "wrap a payload in an image signed by the root key or a certified key",
    .usage = sign_usage,
    .run = run_sign,
};

const struct cli_command cli_cmd_image_create = {
    .name = create_name,
    .summary = "wrap a payload in an unsigned image, for offline / HSM signing",
    .usage = create_usage,
    .run = run_create,
};

/* ---- digest -------------------------------------------------------------------- */

static const char digest_usage[] =
    "usage: nacre image digest IMG [--out TBS.bin]\n"
    "\n"
    "The to-be-signed bytes of image IMG (its header and signed metadata, a few\n"
    "hundred bytes), for signing offline or in an HSM. The signature is Ed25519\n"
    "in its \"pure\" form (RFC 8032): the signer signs THESE BYTES THEMSELVES, not\n"
    "a hash of them. With OpenSSL:\n"
    "  nacre image digest IMG --out tbs.bin\n"
    "  openssl pkeyutl -sign -rawin -inkey KEY.pem -in tbs.bin -out sig.bin\n"
    "  nacre image attach-signature IMG sig.bin --root-pub ROOT.pub.pem  (or --cert CERT)\n"
    "\n"
    "  --out TBS.bin  write the bytes, raw, to TBS.bin (replaced if it exists);\n"
    "                 without it they are printed as lowercase hex on one line\n"
    "  -h, --help     show this help\n"
    "\n"
    "exit status: 0 done, 1 failure (e.g. not an image), 2 usage error\n";

static int run_digest(int argc, char **argv)
{
    enum { OPT_OUT = 256 };
    static const struct option opts[] = {
        {"out", required_argument, NULL, OPT_OUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_OUT:
            out = optarg;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_image_digest);
        default:
            return cli_bad_option(digest_name, c, argv);
        }
    }
    if (optind >= argc) {
        return cli_usage_error(digest_name, "missing image file IMG");
    }
    if (argc - optind > 1) {
        return cli_usage_error(digest_name, "unexpected argument '%s'", argv[optind + 1]);
    }
    if (out != NULL && out[0] == '\0') {
        return cli_usage_error(digest_name, "--out needs a file name");
    }
    const char *path = argv[optind];
    uint8_t *img = NULL;
    size_t len = 0;
    struct nacre_image_info info;
    int rc = read_image("reading image", path, &img, &len, &info);
    if (rc != CLI_OK) {
        return rc;
    }
    const uint8_t *tbs = NULL;
    size_t tbs_len = 0;
    nacre_update_status st = nacre_image_tbs(img, len, &tbs, &tbs_len);
    if (st != NACRE_UPDATE_OK) {
        rc = cli_fail("reading image %s: %s", path, nacre_update_strerror(st));
    } else if (out != NULL) {
        rc = cli_write_file("writing", out, tbs, tbs_len, 0644);
    } else {
        char *hex = malloc(tbs_len * 2 + 1);
        if (hex == NULL) {
            rc = cli_fail("reading image %s: out of memory", path);
        } else {
            sodium_bin2hex(hex, tbs_len * 2 + 1, tbs, tbs_len);
            puts(hex);
            free(hex);
        }
    }
    cli_free_file(img, len, 0);
    return rc;
}

const struct cli_command cli_cmd_image_digest = {
    .name = digest_name,
    .summary = "the to-be-signed bytes of an image (for openssl pkeyutl / an HSM)",
    .usage = digest_usage,
    .run = run_digest,
};

/* ---- attach-signature ---------------------------------------------------------- */

static const char attach_usage[] =
    "usage: nacre image attach-signature IMG SIG (--cert CERT | --root-pub ROOT.pub.pem)\n"
    "                                    [--out OUT] [--refs-out REFS.json]\n"
    "\n"
    "Put a signature made offline (over the bytes of 'nacre image digest') into\n"
    "image IMG. The signature is checked against the signer first: a wrong one\n"
    "is refused and nothing is written.\n"
    "\n"
    "  SIG                   the raw 64-byte Ed25519 signature, e.g. from\n"
    "                        'openssl pkeyutl -sign -rawin'\n"
    "  --root-pub ROOT.pub.pem  the image is signed by the root key itself: the\n"
    "                        image then carries this public key\n"
    "  --cert CERT           the image is signed by a certified signing key: the\n"
    "                        image then carries its certificate ('nacre key certify')\n"
    "  --out OUT             write the signed image to OUT; default: replace IMG\n"
    "  --refs-out REFS.json  also write the image's reference values (as for\n"
    "                        'nacre image sign')\n"
    "  -h, --help            show this help\n"
    "\n"
    "exit status: 0 attached, 1 failure (e.g. bad signature), 2 usage error\n";

/* The key id the image names vs the key that was given, for UNKNOWN_KEY. */
static int unknown_key_fail(const char *what, const struct nacre_image_info *info,
                            const uint8_t given_pk[32], const char *given, int is_cert)
{
    char want[65], have[65];
    uint8_t id[32];
    cli_hex32(want, info->signer_key_id);
    nacre_image_key_id(id, given_pk);
    cli_hex32(have, id);
    return cli_fail("%s: %s (the image names signer key id %s; %s %s key id %s)", what,
                    nacre_update_strerror(NACRE_UPDATE_ERR_UNKNOWN_KEY), want, given,
                    is_cert ? "certifies" : "has", have);
}

static int run_attach(int argc, char **argv)
{
    enum { OPT_CERT = 256, OPT_ROOT_PUB, OPT_OUT, OPT_REFS_OUT };
    static const struct option opts[] = {
        {"cert", required_argument, NULL, OPT_CERT},
        {"root-pub", required_argument, NULL, OPT_ROOT_PUB},
        {"out", required_argument, NULL, OPT_OUT},
        {"refs-out", required_argument, NULL, OPT_REFS_OUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cert_path = NULL;
    const char *root_pub = NULL;
    const char *out = NULL;
    const char *refs_out = NULL;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_CERT:
            cert_path = optarg;
            break;
        case OPT_ROOT_PUB:
            root_pub = optarg;
            break;
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_REFS_OUT:
            refs_out = optarg;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_image_attach);
        default:
            return cli_bad_option(attach_name, c, argv);
        }
    }
    if (argc - optind < 2) {
        return cli_usage_error(attach_name, optind >= argc ? "missing image file IMG"
                                                           : "missing signature file SIG");
    }
    if (argc - optind > 2) {
        return cli_usage_error(attach_name, "unexpected argument '%s'", argv[optind + 2]);
    }
    if ((cert_path == NULL) == (root_pub == NULL)) {
        return cli_usage_error(attach_name, "give exactly one of --cert CERT and "
                                            "--root-pub ROOT.pub.pem");
    }
    if (out != NULL && out[0] == '\0') {
        return cli_usage_error(attach_name, "--out needs a file name");
    }
    if (refs_out != NULL && refs_out[0] == '\0') {
        return cli_usage_error(attach_name, "--refs-out needs a file name");
    }
    const char *path = argv[optind];
    const char *sig_path = argv[optind + 1];
    if (out == NULL) {
        out = path;
    }

    uint8_t sig[NACRE_IMAGE_SIGNATURE_BYTES];
    uint8_t cert[NACRE_KEYCERT_BYTES];
    uint8_t pk[NACRE_IMAGE_PUBLICKEY_BYTES];
    struct nacre_keycert kc;
    int rc = read_exact("reading signature", sig_path, sig, sizeof sig,
                        "a raw Ed25519 signature");
    if (rc == CLI_OK && cert_path != NULL) {
        rc = read_cert(cert_path, cert, &kc);
        memcpy(pk, kc.signer_pk, sizeof pk);
    } else if (rc == CLI_OK) {
        rc = cli_read_pub("reading root public key", root_pub, pk);
    }
    if (rc != CLI_OK) {
        return rc;
    }
    uint8_t *img = NULL;
    size_t len = 0;
    struct nacre_image_info info;
    rc = read_image("reading image", path, &img, &len, &info);
    if (rc != CLI_OK) {
        return rc;
    }
    char what[64 + 4096];
    snprintf(what, sizeof what, "attaching signature to %s", path);
    nacre_update_status st = nacre_image_attach_signature(img, len, sig,
                                                          cert_path != NULL ? cert : NULL,
                                                          cert_path != NULL ? NULL : pk);
    if (st == NACRE_UPDATE_ERR_UNKNOWN_KEY) {
        rc = unknown_key_fail(what, &info, pk, cert_path != NULL ? cert_path : root_pub,
                              cert_path != NULL);
    } else if (st != NACRE_UPDATE_OK) {
        rc = cli_fail("%s: %s", what, nacre_update_strerror(st));
    } else {
        st = nacre_image_parse(img, len, &info);
        if (st != NACRE_UPDATE_OK) {
            rc = cli_fail("%s: %s", what, nacre_update_strerror(st));
        }
    }
    if (rc == CLI_OK) {
        rc = cli_write_file("writing", out, img, len, 0644);
    }
    if (rc == CLI_OK && refs_out != NULL) {
        rc = write_refs(refs_out, &info);
    }
    if (rc == CLI_OK) {
        struct signer_desc sd;
        describe_signer(img, &info, &sd);
        print_image(out, &info, &sd, 0);
        if (refs_out != NULL) {
            cli_kv("reference values", "%s", refs_out);
        }
    }
    cli_free_file(img, len, 0);
    return rc;
}

const struct cli_command cli_cmd_image_attach = {
    .name = attach_name,
    .summary = "put an offline-made signature into an image",
    .usage = attach_usage,
    .run = run_attach,
};

/* ---- inspect ------------------------------------------------------------------- */

static const char inspect_usage[] =
    "usage: nacre image inspect IMG [--json]\n"
    "\n"
    "Show what image IMG says about itself, signed or not; NOTHING IS VERIFIED\n"
    "(use 'nacre image verify'): sizes, component, version, security counter,\n"
    "payload digest, signer key id, measurement (what a device extends into R0\n"
    "when it boots the image), dependencies, whether a signature is attached\n"
    "and who signs: the root key, or a certified key and its epoch.\n"
    "\n"
    "  --json      print JSON instead of text\n"
    "  -h, --help  show this help\n"
    "\n"
    "exit status: 0 shown, 1 failure (not a well-formed image), 2 usage error\n";

/* IMG, then options with --json; shared by inspect and verify. */
static int one_image(const char *cmd, int argc, char **argv, const char **path)
{
    if (optind >= argc) {
        return cli_usage_error(cmd, "missing image file IMG");
    }
    if (argc - optind > 1) {
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    }
    *path = argv[optind];
    return CLI_OK;
}

static int run_inspect(int argc, char **argv)
{
    enum { OPT_JSON = 256 };
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    int json = 0;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_image_inspect);
        default:
            return cli_bad_option(inspect_name, c, argv);
        }
    }
    int rc = one_image(inspect_name, argc, argv, &path);
    if (rc != CLI_OK) {
        return rc;
    }
    uint8_t *img = NULL;
    size_t len = 0;
    struct nacre_image_info info;
    rc = read_image("inspecting", path, &img, &len, &info);
    if (rc != CLI_OK) {
        return rc;
    }
    struct signer_desc sd;
    describe_signer(img, &info, &sd);
    if (json) {
        json_t *obj = image_json(path, &info, &sd);
        if (obj != NULL) {
            json_object_set_new(obj, "file_size", json_integer((json_int_t)len));
        }
        rc = cli_print_json(obj);
    } else {
        print_image(path, &info, &sd, 1);
        if (len != info.image_size) {
            cli_kv("file size", "%zu bytes: NOT the %lu bytes the header says", len,
                   (unsigned long)info.image_size);
        }
    }
    cli_free_file(img, len, 0);
    return rc;
}

const struct cli_command cli_cmd_image_inspect = {
    .name = inspect_name,
    .summary = "show an image's metadata (signed or not; verifies nothing)",
    .usage = inspect_usage,
    .run = run_inspect,
};

/* ---- verify -------------------------------------------------------------------- */

static const char verify_usage[] =
    "usage: nacre image verify --pub ROOT.pub.pem IMG [--counter MIN] [--epoch MIN]\n"
    "                          [--component NAME] [--json]\n"
    "\n"
    "Check image IMG the way a device whose root-key hash is that of\n"
    "ROOT.pub.pem would: structure, signature, signer (the root key, or a key\n"
    "certified by it), payload digest, then the policy below. Exit status 0\n"
    "ONLY if the image is valid; otherwise the reason, and exit status 1.\n"
    "\n"
    "  --pub ROOT.pub.pem  the image-signing ROOT public key (not a signing key)\n"
    "  --counter MIN       refuse a security counter below MIN (a device's\n"
    "                      anti-rollback counter; default 0)\n"
    "  --epoch MIN         refuse key certificates below epoch MIN (default 0)\n"
    "  --component NAME    refuse images for another component\n"
    "  --json              print JSON: the image fields and \"valid\": true; when\n"
    "                      invalid, {\"valid\": false, \"reason\": ...} (exit 1)\n"
    "  -h, --help          show this help\n"
    "\n"
    "exit status: 0 valid, 1 invalid or failure, 2 usage error\n";

/* The numbers behind a policy refusal, for the message. */
static void policy_detail(char *out, size_t n, nacre_update_status st,
                          const struct nacre_image_info *info, const struct signer_desc *sd,
                          const struct nacre_image_policy *policy, const uint8_t pub_id[32],
                          const char *pub_path, int parsed, size_t file_len)
{
    char a[65], b[65];
    out[0] = '\0';
    switch (st) {
    case NACRE_UPDATE_ERR_TRUNCATED:
    case NACRE_UPDATE_ERR_BAD_HEADER:
        if (parsed && file_len != info->image_size) {
            snprintf(out, n, " (the file has %zu bytes, the header says %lu)", file_len,
                     (unsigned long)info->image_size);
        }
        break;
    case NACRE_UPDATE_ERR_ROLLBACK:
        snprintf(out, n, " (image counter %lu, minimum %lu)",
                 (unsigned long)info->security_counter,
                 (unsigned long)policy->min_security_counter);
        break;
    case NACRE_UPDATE_ERR_KEY_REVOKED:
        snprintf(out, n, " (certificate epoch %lu, minimum %lu)", (unsigned long)sd->epoch,
                 (unsigned long)policy->min_key_epoch);
        break;
    case NACRE_UPDATE_ERR_WRONG_COMPONENT:
        snprintf(out, n, " (image is for '%s', wanted '%s')", info->component,
                 policy->component != NULL ? policy->component : "");
        break;
    case NACRE_UPDATE_ERR_UNKNOWN_KEY:
        if (sd->kind == SIGNER_ROOT || (sd->kind == SIGNER_CERT && sd->cert_ok)) {
            cli_hex32(a, sd->root_key_id);
            cli_hex32(b, pub_id);
            snprintf(out, n, " (its root key id is %s; %s has key id %s)", a, pub_path, b);
        }
        break;
    default:
        break;
    }
}

static int run_verify(int argc, char **argv)
{
    enum { OPT_PUB = 256, OPT_COUNTER, OPT_EPOCH, OPT_COMPONENT, OPT_JSON };
    static const struct option opts[] = {
        {"pub", required_argument, NULL, OPT_PUB},
        {"counter", required_argument, NULL, OPT_COUNTER},
        {"epoch", required_argument, NULL, OPT_EPOCH},
        {"component", required_argument, NULL, OPT_COMPONENT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *pub = NULL;
    const char *counter = NULL;
    const char *epoch = NULL;
    const char *path = NULL;
    struct nacre_image_policy policy;
    int json = 0;
    int c;
    memset(&policy, 0, sizeof policy);

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_PUB:
            pub = optarg;
            break;
        case OPT_COUNTER:
            counter = optarg;
            break;
        case OPT_EPOCH:
            epoch = optarg;
            break;
        case OPT_COMPONENT:
            policy.component = optarg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_image_verify);
        default:
            return cli_bad_option(verify_name, c, argv);
        }
    }
    int rc = one_image(verify_name, argc, argv, &path);
    if (rc != CLI_OK) {
        return rc;
    }
    if (pub == NULL || pub[0] == '\0') {
        return cli_usage_error(verify_name, "--pub ROOT.pub.pem is required");
    }
    if (counter != NULL && cli_parse_u32(counter, &policy.min_security_counter) != 0) {
        return cli_usage_error(verify_name, "--counter needs a value 0..4294967295, not '%s'",
                               counter);
    }
    if (epoch != NULL && cli_parse_u32(epoch, &policy.min_key_epoch) != 0) {
        return cli_usage_error(verify_name, "--epoch needs a value 0..4294967295, not '%s'",
                               epoch);
    }
    if (policy.component != NULL && cli_component_ok(policy.component) != 0) {
        return cli_usage_error(verify_name, "--component must be 1..%u of [a-z0-9._-], not '%s'",
                               NACRE_IMAGE_COMPONENT_MAX, policy.component);
    }

    uint8_t pk[NACRE_IMAGE_PUBLICKEY_BYTES];
    uint8_t root_hash[NACRE_IMAGE_DIGEST_BYTES];
    rc = cli_read_pub("reading root public key", pub, pk);
    if (rc != CLI_OK) {
        return rc;
    }
    nacre_image_key_id(root_hash, pk);
    policy.root_key_hash = root_hash;

    uint8_t *img = NULL;
    size_t len = 0;
    rc = cli_read_file("reading image", path, CLI_IMAGE_MAX, 0, &img, &len);
    if (rc != CLI_OK) {
        return rc;
    }
    /* What the image says (for the output), then the verdict. */
    struct nacre_image_info shown;
    struct signer_desc sd;
    memset(&sd, 0, sizeof sd);
    int parsed = nacre_image_parse(img, len, &shown) == NACRE_UPDATE_OK;
    if (parsed) {
        describe_signer(img, &shown, &sd);
    }
    struct nacre_image_info info;
    nacre_update_status st = nacre_image_verify(img, len, &policy, &info);
    if (st != NACRE_UPDATE_OK) {
        char detail[256];
        policy_detail(detail, sizeof detail, st, &shown, &sd, &policy, root_hash, pub, parsed,
                      len);
        if (json) {
            json_t *obj = json_object();
            if (obj != NULL) {
                char reason[512];
                snprintf(reason, sizeof reason, "%s%s", nacre_update_strerror(st), detail);
                json_object_set_new(obj, "image", json_string(path));
                json_object_set_new(obj, "valid", json_false());
                json_object_set_new(obj, "reason", json_string(reason));
            }
            (void)cli_print_json(obj);
        }
        rc = cli_fail("verifying %s: %s%s", path, nacre_update_strerror(st), detail);
    } else if (json) {
        json_t *obj = image_json(path, &info, &sd);
        if (obj != NULL) {
            json_object_set_new(obj, "valid", json_true());
        }
        rc = cli_print_json(obj);
    } else {
        cli_kv("verdict", "valid");
        print_image(path, &info, &sd, 0);
    }
    cli_free_file(img, len, 0);
    return rc;
}

const struct cli_command cli_cmd_image_verify = {
    .name = verify_name,
    .summary = "verify an image against a root public key and a policy",
    .usage = verify_usage,
    .run = run_verify,
};

/* ---- refs ------------------------------------------------------------------------------ */

static const char refs_usage[] =
    "usage: nacre image refs IMG... [--image IMG]... --out REFS.json [--pub ROOT.pub.pem]\n"
    "                        [--json]\n"
    "\n"
    "Write the reference values of one or more existing images into REFS.json\n"
    "(replaced if it exists): for each image its component, version,\n"
    "measurement (what a device extends into R0 when it boots it), signer key id\n"
    "and security counter. An attestation verifier ('nacre attest verify --refs')\n"
    "accepts a device only if it runs one of them. Images with the same\n"
    "measurement are listed once.\n"
    "\n"
    "  IMG, --image IMG    the images (any number, up to 256; positional or not)\n"
    "  --out REFS.json     where to write the reference values\n"
    "  --pub ROOT.pub.pem  verify each image against this root public key first\n"
    "                      (signature, signer, payload digest); without it the\n"
    "                      images are only parsed: take them from your own build\n"
    "  --json              print the reference values on standard output as well\n"
    "  -h, --help          show this help\n"
    "\n"
    "exit status: 0 written, 1 failure, 2 usage error\n";

static int run_refs(int argc, char **argv)
{
    enum { OPT_IMAGE = 256, OPT_OUT, OPT_PUB, OPT_JSON };
    static const struct option opts[] = {
        {"image", required_argument, NULL, OPT_IMAGE},
        {"out", required_argument, NULL, OPT_OUT},
        {"pub", required_argument, NULL, OPT_PUB},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **images = calloc((size_t)argc + 1, sizeof *images);
    size_t count = 0;
    const char *out = NULL;
    const char *pub = NULL;
    int json = 0;
    int c;
    if (images == NULL) {
        return cli_fail("%s: out of memory", refs_name);
    }

    cli_getopt_reset();
    /* "-": positional IMG arguments come back as 1, in command-line order with --image. */
    while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
        switch (c) {
        case 1:
        case OPT_IMAGE:
            images[count++] = optarg;
            break;
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_PUB:
            pub = optarg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            free(images);
            return cli_print_usage(&cli_cmd_image_refs);
        default:
            free(images);
            return cli_bad_option(refs_name, c, argv);
        }
    }
    for (int i = optind; i < argc; i++) {
        images[count++] = argv[i];
    }
    int rc = CLI_OK;
    if (count == 0) {
        rc = cli_usage_error(refs_name, "missing image file IMG");
    } else if (count > CLI_REFS_MAX) {
        rc = cli_usage_error(refs_name, "at most %u images", CLI_REFS_MAX);
    } else if (out == NULL || out[0] == '\0') {
        rc = cli_usage_error(refs_name, "--out REFS.json is required");
    } else if (pub != NULL && pub[0] == '\0') {
        rc = cli_usage_error(refs_name, "--pub needs a file name");
    }
    for (size_t i = 0; rc == CLI_OK && i < count; i++) {
        if (images[i][0] == '\0') {
            rc = cli_usage_error(refs_name, "IMG must not be empty");
        }
    }
    if (rc != CLI_OK) {
        free(images);
        return rc;
    }

    struct nacre_image_policy policy;
    uint8_t pk[NACRE_IMAGE_PUBLICKEY_BYTES];
    uint8_t root_hash[NACRE_IMAGE_DIGEST_BYTES];
    memset(&policy, 0, sizeof policy);
    if (pub != NULL) {
        rc = cli_read_pub("reading root public key", pub, pk);
        if (rc != CLI_OK) {
            free(images);
            return rc;
        }
        nacre_image_key_id(root_hash, pk);
        policy.root_key_hash = root_hash;
    }
    json_t *refs = cli_refs_new();
    if (refs == NULL) {
        free(images);
        return cli_fail("%s: out of memory", refs_name);
    }
    for (size_t i = 0; rc == CLI_OK && i < count; i++) {
        uint8_t *img = NULL;
        size_t len = 0;
        struct nacre_image_info info;
        rc = read_image("reading image", images[i], &img, &len, &info);
        if (rc != CLI_OK) {
            break;
        }
        if (pub != NULL) {
            nacre_update_status st = nacre_image_verify(img, len, &policy, &info);
            if (st != NACRE_UPDATE_OK) {
                rc = cli_fail("verifying %s: %s", images[i], nacre_update_strerror(st));
            }
        }
        if (rc == CLI_OK) {
            rc = cli_refs_add(refs, &info);
        }
        cli_free_file(img, len, 0);
    }
    if (rc == CLI_OK) {
        rc = cli_refs_write(out, refs);
    }
    if (rc == CLI_OK) {
        if (json) {
            json_incref(refs);
            rc = cli_print_json(refs);
        } else {
            size_t i;
            json_t *comp;
            cli_kv("reference values", "%s", out);
            json_array_foreach(json_object_get(refs, "components"), i, comp)
            {
                cli_kv("component", "%s %s, security counter %lld, measurement %.16s...",
                       json_string_value(json_object_get(comp, "name")),
                       json_string_value(json_object_get(comp, "version")),
                       (long long)json_integer_value(json_object_get(comp, "security_counter")),
                       json_string_value(json_object_get(comp, "measurement")));
            }
        }
    }
    json_decref(refs);
    free(images);
    return rc;
}

const struct cli_command cli_cmd_image_refs = {
    .name = refs_name,
    .summary = "write the attestation reference values of images (JSON)",
    .usage = refs_usage,
    .run = run_refs,
};
