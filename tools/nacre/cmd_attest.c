/*
 * cmd_attest.c - nacre device attest | device pubkey | attest verify:
 * attestation evidence from a host device (libattest) and its verification
 * against the device's DeviceID key, a nonce and reference values.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

static const char attest_name[] = "device attest";
static const char pubkey_name[] = "device pubkey";
static const char verify_name[] = "attest verify";

/* Evidence files larger than this are not read (the verifier caps at 2 KiB anyway). */
#define EVIDENCE_FILE_MAX ((size_t)1024u * 1024u)

/* Exactly one positional argument. */
static int one_arg(const char *cmd, int argc, char **argv, const char *what, const char **out)
{
    if (optind >= argc) {
        return cli_usage_error(cmd, "missing %s", what);
    }
    if (argc - optind > 1) {
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    }
    if (argv[optind][0] == '\0') {
        return cli_usage_error(cmd, "%s must not be empty", what);
    }
    *out = argv[optind];
    return CLI_OK;
}

static int parse_nonce(const char *cmd, const char *text, uint8_t nonce[NACRE_ATTEST_NONCE_MAX],
                       size_t *len)
{
    if (text == NULL) {
        return cli_usage_error(cmd, "--nonce HEX is required");
    }
    if (cli_parse_hex(text, nonce, NACRE_ATTEST_NONCE_MAX, len) != 0 ||
        *len < NACRE_ATTEST_NONCE_MIN) {
        return cli_usage_error(cmd, "--nonce needs %u..%u bytes in hex (%u..%u hex digits), "
                               "not '%s'", NACRE_ATTEST_NONCE_MIN, NACRE_ATTEST_NONCE_MAX,
                               2 * NACRE_ATTEST_NONCE_MIN, 2 * NACRE_ATTEST_NONCE_MAX, text);
    }
    return CLI_OK;
}

/* ---- device attest ------------------------------------------------------------------ */

static const char attest_usage[] =
    "usage: nacre device attest DIR --nonce HEX --out EVIDENCE [--iat SECONDS] [--json]\n"
    "\n"
    "Boot the device as its last 'nacre device boot' left it and produce\n"
    "attestation evidence (docs/attestation.md): the Alias certificate signed by\n"
    "the DeviceID key, and a token signed by the Alias key that claims the\n"
    "nonce, the device's UEID, lifecycle and debug state, boot seed, the\n"
    "anti-rollback counters and the running image (component, version,\n"
    "measurement, signer key id, security counter). Both signatures are made\n"
    "inside libpluton. If no image is booted the token lists no component.\n"
    "\n"
    "  --nonce HEX       the verifier's challenge, 8..64 bytes in hex\n"
    "  --out EVIDENCE    where to write the evidence (CBOR; replaced if it exists)\n"
    "  --iat SECONDS     issued-at claim, seconds since the epoch (default: now;\n"
    "                    0 = the device has no clock)\n"
    "  --json            print JSON instead of text\n"
    "  -h, --help        show this help\n"
    "\n"
    "Then, on the verifier: nacre attest verify EVIDENCE --nonce HEX\n"
    "  --device-pub DEVICE-ID.pub.pem --refs REFS.json\n"
    "\n"
    "exit status: 0 written, 1 failure, 2 usage error\n";

/* The running image as a libattest component. */
static void component_of(const struct nacre_image_info *img, struct nacre_attest_component *c)
{
    char version[CLI_VERSION_CHARS];
    memset(c, 0, sizeof *c);
    cli_version_str(version, &img->version);
    snprintf(c->name, sizeof c->name, "%s", img->component);
    size_t n = strlen(version); /* at most 32: "4294967295.4294967295.4294967295" */
    memcpy(c->version, version, n < NACRE_ATTEST_VERSION_MAX ? n : NACRE_ATTEST_VERSION_MAX);
    memcpy(c->measurement, img->measurement, sizeof c->measurement);
    memcpy(c->signer_id, img->signer_key_id, sizeof c->signer_id);
    c->security_counter = img->security_counter;
}

static int attest_fail(const char *what, nacre_attest_status st)
{
    return cli_fail("%s: %s", what, nacre_attest_strerror(st));
}

static json_t *component_json(const struct nacre_attest_component *c)
{
    json_t *o = json_object();
    if (o == NULL) {
        return NULL;
    }
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "version", json_string(c->version));
    json_object_set_new(o, "measurement", cli_json_hex(c->measurement, 32));
    json_object_set_new(o, "signer_id", cli_json_hex(c->signer_id, 32));
    json_object_set_new(o, "security_counter", json_integer((json_int_t)c->security_counter));
    return o;
}

static int run_attest(int argc, char **argv)
{
    enum { OPT_NONCE = 256, OPT_OUT, OPT_IAT, OPT_JSON };
    static const struct option opts[] = {
        {"nonce", required_argument, NULL, OPT_NONCE},
        {"out", required_argument, NULL, OPT_OUT},
        {"iat", required_argument, NULL, OPT_IAT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *nonce_text = NULL;
    const char *out = NULL;
    const char *iat_text = NULL;
    const char *dir = NULL;
    int json = 0;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_NONCE:
            nonce_text = optarg;
            break;
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_IAT:
            iat_text = optarg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_device_attest);
        default:
            return cli_bad_option(attest_name, c, argv);
        }
    }
    int rc = one_arg(attest_name, argc, argv, "device directory DIR", &dir);
    if (rc != CLI_OK) {
        return rc;
    }
    uint8_t nonce[NACRE_ATTEST_NONCE_MAX];
    size_t nonce_len = 0;
    rc = parse_nonce(attest_name, nonce_text, nonce, &nonce_len);
    if (rc != CLI_OK) {
        return rc;
    }
    if (out == NULL || out[0] == '\0') {
        return cli_usage_error(attest_name, "--out EVIDENCE is required");
    }
    uint64_t iat = (uint64_t)time(NULL);
    if (iat_text != NULL && cli_parse_u64(iat_text, &iat) != 0) {
        return cli_usage_error(attest_name, "--iat needs seconds since the epoch, not '%s'",
                               iat_text);
    }

    struct cli_device dev;
    rc = cli_device_boot(&dev, dir, NULL);
    if (rc != CLI_OK) {
        return rc;
    }
    if (nacre_pluton_lifecycle_get(dev.pluton) == NACRE_PLUTON_LIFECYCLE_BLANK) {
        cli_device_close(&dev);
        return cli_fail("attesting: %s", nacre_pluton_strerror(NACRE_PLUTON_ERR_NOT_PROVISIONED));
    }
    struct nacre_attest_claims claims;
    nacre_attest_status st = nacre_attest_claims_init(&claims, dev.pluton, nonce, nonce_len, iat);
    if (st != NACRE_ATTEST_OK) {
        cli_device_close(&dev);
        return attest_fail("collecting the claims", st);
    }
    if (dev.attached) {
        struct nacre_attest_component comp;
        component_of(&dev.running.image, &comp);
        st = nacre_attest_claims_add_component(&claims, &comp);
        if (st != NACRE_ATTEST_OK) {
            cli_device_close(&dev);
            return attest_fail("adding the running image to the claims", st);
        }
    }
    uint8_t evidence[NACRE_ATTEST_EVIDENCE_MAX];
    uint8_t part[NACRE_ATTEST_EVIDENCE_MAX];
    size_t len = 0;
    size_t cert_len = 0;
    size_t token_len = 0;
    st = nacre_attest_evidence(dev.pluton, &claims, evidence, sizeof evidence, &len);
    if (st == NACRE_ATTEST_OK) {
        st = nacre_attest_dice_cert(dev.pluton, part, sizeof part, &cert_len);
    }
    if (st == NACRE_ATTEST_OK) {
        st = nacre_attest_token(dev.pluton, &claims, part, sizeof part, &token_len);
    }
    uint8_t alias[32];
    nacre_pluton_status pst = nacre_pluton_key_public(dev.pluton, NACRE_PLUTON_KEY_ALIAS, alias);
    cli_device_close(&dev);
    if (st != NACRE_ATTEST_OK) {
        return attest_fail("signing the evidence", st);
    }
    if (pst != NACRE_PLUTON_OK) {
        return cli_pluton_fail(NULL, "reading the Alias key", pst);
    }
    rc = cli_write_file("writing evidence", out, evidence, len, 0644);
    if (rc != CLI_OK) {
        return rc;
    }

    char hex[2 * NACRE_ATTEST_UEID_BYTES + 1];
    if (json) {
        json_t *root = json_object();
        json_t *comps = json_array();
        if (root == NULL || comps == NULL) {
            json_decref(root);
            json_decref(comps);
            return cli_print_json(NULL);
        }
        json_object_set_new(root, "device", json_string(dir));
        json_object_set_new(root, "evidence", json_string(out));
        json_object_set_new(root, "size", json_integer((json_int_t)len));
        json_object_set_new(root, "alias_certificate_size", json_integer((json_int_t)cert_len));
        json_object_set_new(root, "token_size", json_integer((json_int_t)token_len));
        json_object_set_new(root, "nonce", cli_json_hex(nonce, nonce_len));
        json_object_set_new(root, "issued_at", json_integer((json_int_t)iat));
        json_object_set_new(root, "ueid", cli_json_hex(claims.ueid, NACRE_ATTEST_UEID_BYTES));
        json_object_set_new(root, "alias_key", cli_json_hex(alias, 32));
        for (unsigned i = 0; i < claims.component_count; i++) {
            json_array_append_new(comps, component_json(&claims.components[i]));
        }
        json_object_set_new(root, "components", comps);
        return cli_print_json(root);
    }
    cli_kv("device", "%s", dir);
    sodium_bin2hex(hex, sizeof hex, claims.ueid, NACRE_ATTEST_UEID_BYTES);
    cli_kv("UEID", "%s", hex);
    cli_hex32(hex, alias);
    cli_kv("Alias key", "%s", hex);
    if (claims.component_count > 0) {
        const struct nacre_attest_component *comp = &claims.components[0];
        cli_kv("component", "%s %s, security counter %lu", comp->name, comp->version,
               (unsigned long)comp->security_counter);
        cli_hex32(hex, comp->measurement);
        cli_kv("measurement", "%s", hex);
    } else {
        cli_kv("component", "none (no image booted: the claims list no component)");
    }
    cli_kv("evidence", "%s: %zu bytes (Alias certificate %zu, token %zu)", out, len, cert_len,
           token_len);
    return CLI_OK;
}

const struct cli_command cli_cmd_device_attest = {
    .name = attest_name,
    .summary = "produce attestation evidence (DICE chain + signed token) for a nonce",
    .usage = attest_usage,
    .run = run_attest,
};

/* ---- device pubkey -------------------------------------------------------------------- */

static const char pubkey_usage[] =
    "usage: nacre device pubkey DIR --out PUB.pem [--alias] [--json]\n"
    "\n"
    "Boot the device (as its last 'nacre device boot' left it) and write one of\n"
    "its DICE public keys as SPKI PEM (replaced if it exists).\n"
    "\n"
    "  --out PUB.pem   where to write the key\n"
    "  --alias         the Alias key (depends on the running image) instead of the\n"
    "                  DeviceID key (stable for the device's life; what\n"
    "                  'nacre attest verify --device-pub' wants)\n"
    "  --json          print JSON instead of text\n"
    "  -h, --help      show this help\n"
    "\n"
    "exit status: 0 written, 1 failure, 2 usage error\n";

static int run_pubkey(int argc, char **argv)
{
    enum { OPT_OUT = 256, OPT_ALIAS, OPT_JSON };
    static const struct option opts[] = {
        {"out", required_argument, NULL, OPT_OUT},
        {"alias", no_argument, NULL, OPT_ALIAS},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    const char *dir = NULL;
    int alias = 0;
    int json = 0;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_ALIAS:
            alias = 1;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_device_pubkey);
        default:
            return cli_bad_option(pubkey_name, c, argv);
        }
    }
    int rc = one_arg(pubkey_name, argc, argv, "device directory DIR", &dir);
    if (rc != CLI_OK) {
        return rc;
    }
    if (out == NULL || out[0] == '\0') {
        return cli_usage_error(pubkey_name, "--out PUB.pem is required");
    }
    struct cli_device dev;
    rc = cli_device_boot(&dev, dir, NULL);
    if (rc != CLI_OK) {
        return rc;
    }
    uint8_t pk[32];
    const char *which = alias ? "Alias" : "DeviceID";
    nacre_pluton_status st = NACRE_PLUTON_ERR_NOT_PROVISIONED;
    if (nacre_pluton_lifecycle_get(dev.pluton) != NACRE_PLUTON_LIFECYCLE_BLANK) {
        st = nacre_pluton_key_public(dev.pluton,
                                     alias ? NACRE_PLUTON_KEY_ALIAS : NACRE_PLUTON_KEY_DEVICE_ID,
                                     pk);
    }
    if (st != NACRE_PLUTON_OK) {
        char what[64];
        snprintf(what, sizeof what, "reading the %s key", which);
        rc = cli_pluton_fail(&dev, what, st);
        cli_device_close(&dev);
        return rc;
    }
    cli_device_close(&dev);
    nacre_keyfile_status kst = nacre_keyfile_write_public(out, pk, NACRE_KEYFILE_FORCE);
    if (kst != NACRE_KEYFILE_OK) {
        return cli_fail("writing %s: %s", out, nacre_keyfile_strerror(kst));
    }
    char hex[65];
    char id[NACRE_CA_DEVICE_ID_CHARS + 1];
    cli_hex32(hex, pk);
    if (json) {
        json_t *root = json_object();
        if (root != NULL) {
            json_object_set_new(root, "device", json_string(dir));
            json_object_set_new(root, "key", json_string(alias ? "alias" : "device_id"));
            json_object_set_new(root, "public_key", json_string(hex));
            json_object_set_new(root, "out", json_string(out));
            if (!alias && nacre_ca_device_id(pk, id) == NACRE_CA_OK) {
                json_object_set_new(root, "device_id", json_string(id));
            }
        }
        return cli_print_json(root);
    }
    cli_kv("device", "%s", dir);
    cli_kv(alias ? "Alias key" : "DeviceID key", "%s", hex);
    if (!alias && nacre_ca_device_id(pk, id) == NACRE_CA_OK) {
        cli_kv("device id", "%s", id);
    }
    cli_kv("written", "%s", out);
    return CLI_OK;
}

const struct cli_command cli_cmd_device_pubkey = {
    .name = pubkey_name,
    .summary = "write the DeviceID (or Alias) public key as PEM",
    .usage = pubkey_usage,
    .run = run_pubkey,
};

/* ---- evidence verification, shared with 'ca issue' ----------------------------------------- */

int cli_attest_run(const char *cmd, const struct cli_attest_input *in,
                   struct cli_attest_outcome *out)
{
    uint8_t nonce[NACRE_ATTEST_NONCE_MAX];
    size_t nonce_len = 0;
    memset(out, 0, sizeof *out);
    int rc = parse_nonce(cmd, in->nonce, nonce, &nonce_len);
    if (rc != CLI_OK) {
        return rc;
    }
    rc = cli_read_pub("reading DeviceID public key", in->device_pub, out->device_pk);
    if (rc != CLI_OK) {
        return rc;
    }
    struct nacre_attest_ref *refs = NULL;
    size_t ref_count = 0;
    rc = cli_refs_read(in->refs, &refs, &ref_count);
    if (rc != CLI_OK) {
        return rc;
    }
    uint8_t *ev = NULL;
    size_t ev_len = 0;
    rc = cli_read_file("reading evidence", in->evidence, EVIDENCE_FILE_MAX, 0, &ev, &ev_len);
    if (rc != CLI_OK) {
        free(refs);
        return rc;
    }
    struct nacre_attest_policy policy;
    memset(&policy, 0, sizeof policy);
    policy.device_id_pk = out->device_pk;
    policy.nonce = nonce;
    policy.nonce_len = nonce_len;
    policy.now = (uint64_t)time(NULL);
    policy.refs = refs;
    policy.ref_count = ref_count;
    policy.min_security_counter = in->min_counter;
    policy.require_secured = in->require_secured;
    nacre_attest_status st = nacre_attest_verify(ev, ev_len, &policy, &out->result);
    cli_free_file(ev, ev_len, 0);
    free(refs);
    if (st == NACRE_ATTEST_OK && out->result.failures == 0) {
        out->pass = 1;
        return CLI_OK;
    }
    if (st == NACRE_ATTEST_ERR_REFUSED || (st == NACRE_ATTEST_OK && out->result.failures != 0)) {
        if (out->result.failures == 0) {
            out->result.failures = NACRE_ATTEST_FAIL_FORMAT; /* refused without a reason */
        }
        return CLI_OK;
    }
    return cli_fail("verifying %s: %s", in->evidence, nacre_attest_strerror(st));
}

void cli_attest_failure_list(char *out, size_t out_len, uint32_t failures)
{
    size_t pos = 0;
    out[0] = '\0';
    for (unsigned b = 0; b < 32; b++) {
        uint32_t bit = UINT32_C(1) << b;
        if ((failures & bit) == 0) {
            continue;
        }
        int n = snprintf(out + pos, out_len - pos, "%s%s", pos > 0 ? ", " : "",
                         nacre_attest_failure_name(bit));
        if (n < 0 || (size_t)n >= out_len - pos) {
            break;
        }
        pos += (size_t)n;
    }
}

void cli_attest_print_failures(uint32_t failures)
{
    printf("failures:\n");
    for (unsigned b = 0; b < 32; b++) {
        uint32_t bit = UINT32_C(1) << b;
        if ((failures & bit) != 0) {
            printf("  - %s\n", nacre_attest_failure_name(bit));
        }
    }
}

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= p[i];
    }
    return acc == 0;
}

static json_t *claims_json(const struct nacre_attest_claims *c)
{
    json_t *o = json_object();
    json_t *comps = json_array();
    if (o == NULL || comps == NULL) {
        json_decref(o);
        json_decref(comps);
        return NULL;
    }
    json_object_set_new(o, "nonce", cli_json_hex(c->nonce, c->nonce_len <= NACRE_ATTEST_NONCE_MAX
                                                               ? c->nonce_len
                                                               : 0));
    json_object_set_new(o, "ueid", cli_json_hex(c->ueid, NACRE_ATTEST_UEID_BYTES));
    json_object_set_new(o, "issued_at", json_integer((json_int_t)c->issued_at));
    json_object_set_new(o, "lifecycle",
                        json_string(nacre_pluton_lifecycle_name((nacre_pluton_lifecycle)c->lifecycle)));
    json_object_set_new(o, "debug_state", json_integer((json_int_t)c->debug_state));
    json_object_set_new(o, "boot_seed", cli_json_hex(c->boot_seed, 32));
    json_object_set_new(o, "security_counter", json_integer((json_int_t)c->security_counter));
    json_object_set_new(o, "key_epoch", json_integer((json_int_t)c->key_epoch));
    for (unsigned i = 0; i < c->component_count && i < NACRE_ATTEST_COMPONENTS_MAX; i++) {
        json_array_append_new(comps, component_json(&c->components[i]));
    }
    json_object_set_new(o, "components", comps);
    return o;
}

json_t *cli_attest_json(const struct cli_attest_outcome *o)
{
    json_t *root = json_object();
    json_t *fails = json_array();
    if (root == NULL || fails == NULL) {
        json_decref(root);
        json_decref(fails);
        return NULL;
    }
    for (unsigned b = 0; b < 32; b++) {
        uint32_t bit = UINT32_C(1) << b;
        if ((o->result.failures & bit) != 0) {
            json_array_append_new(fails, json_string(nacre_attest_failure_name(bit)));
        }
    }
    json_object_set_new(root, "pass", json_boolean(o->pass));
    json_object_set_new(root, "failures", fails);
    json_object_set_new(root, "claims",
                        o->result.claims_valid ? claims_json(&o->result.claims) : json_null());
    json_object_set_new(root, "alias_key", all_zero(o->result.alias_pk, 32)
                                               ? json_null()
                                               : cli_json_hex(o->result.alias_pk, 32));
    json_object_set_new(root, "code_hash", all_zero(o->result.code_hash, 32)
                                               ? json_null()
                                               : cli_json_hex(o->result.code_hash, 32));
    return root;
}

/* ---- attest verify --------------------------------------------------------------------- */

static const char verify_usage[] =
    "usage: nacre attest verify EVIDENCE --nonce HEX --device-pub PUB.pem --refs REFS.json\n"
    "                           [--min-counter N] [--require-secured] [--json]\n"
    "\n"
    "Verify attestation evidence from 'nacre device attest' the way a service\n"
    "would: its structure and canonical CBOR, the chain from the DeviceID key\n"
    "PUB.pem to the Alias key, the token signature by that Alias key, that token\n"
    "and certificate agree, the nonce, every component against the reference\n"
    "values, the counters and the lifecycle. Exit status 0 ONLY if everything\n"
    "passes; otherwise every failure reason is listed on standard output, one\n"
    "line on standard error sums them up, and the exit status is 1.\n"
    "\n"
    "  --nonce HEX          the challenge the device was given (8..64 bytes, hex)\n"
    "  --device-pub PUB.pem the device's DeviceID public key ('nacre device pubkey',\n"
    "                       or 'nacre device info --pub-out'), from provisioning\n"
    "  --refs REFS.json     reference values ('nacre image sign --refs-out', 'nacre\n"
    "                       image refs'): the components the device may run\n"
    "  --min-counter N      the device's security counter must be at least N\n"
    "  --require-secured    the device must be SECURED (debug locked)\n"
    "  --json               print {\"pass\", \"failures\": [...], \"claims\": {...},\n"
    "                       \"alias_key\", \"code_hash\"}\n"
    "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 pass, 1 fail (or an input could not be read), 2 usage error\n";

static void print_claims(const struct nacre_attest_result *r)
{
    char hex[2 * NACRE_ATTEST_UEID_BYTES + 1];
    const struct nacre_attest_claims *c = &r->claims;
    sodium_bin2hex(hex, sizeof hex, c->ueid, NACRE_ATTEST_UEID_BYTES);
    cli_kv("UEID", "%s", hex);
    cli_hex32(hex, r->alias_pk);
    cli_kv("Alias key", "%s", hex);
    cli_kv("lifecycle", "%s (debug state %u)",
           nacre_pluton_lifecycle_name((nacre_pluton_lifecycle)c->lifecycle), c->debug_state);
    cli_kv("counters", "security %lu, key epoch %lu", (unsigned long)c->security_counter,
           (unsigned long)c->key_epoch);
    if (c->issued_at != 0) {
        char when[CLI_TIME_CHARS];
        cli_time_str(when, c->issued_at);
        cli_kv("issued at", "%s", when);
    } else {
        cli_kv("issued at", "unknown (the device has no clock)");
    }
    if (c->component_count == 0) {
        cli_kv("components", "none");
    }
    for (unsigned i = 0; i < c->component_count && i < NACRE_ATTEST_COMPONENTS_MAX; i++) {
        cli_hex32(hex, c->components[i].measurement);
        cli_kv("component", "%s %s, security counter %lu, measurement %.16s...",
               c->components[i].name, c->components[i].version,
               (unsigned long)c->components[i].security_counter, hex);
    }
}

static int run_verify(int argc, char **argv)
{
    enum { OPT_NONCE = 256, OPT_DEVICE_PUB, OPT_REFS, OPT_MIN_COUNTER, OPT_SECURED, OPT_JSON };
    static const struct option opts[] = {
        {"nonce", required_argument, NULL, OPT_NONCE},
        {"device-pub", required_argument, NULL, OPT_DEVICE_PUB},
        {"refs", required_argument, NULL, OPT_REFS},
        {"min-counter", required_argument, NULL, OPT_MIN_COUNTER},
        {"require-secured", no_argument, NULL, OPT_SECURED},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cli_attest_input in;
    const char *min_counter = NULL;
    int json = 0;
    int c;
    memset(&in, 0, sizeof in);

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_NONCE:
            in.nonce = optarg;
            break;
        case OPT_DEVICE_PUB:
            in.device_pub = optarg;
            break;
        case OPT_REFS:
            in.refs = optarg;
            break;
        case OPT_MIN_COUNTER:
            min_counter = optarg;
            break;
        case OPT_SECURED:
            in.require_secured = 1;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_attest_verify);
        default:
            return cli_bad_option(verify_name, c, argv);
        }
    }
    int rc = one_arg(verify_name, argc, argv, "evidence file EVIDENCE", &in.evidence);
    if (rc != CLI_OK) {
        return rc;
    }
    if (in.nonce == NULL) {
        return cli_usage_error(verify_name, "--nonce HEX is required");
    }
    if (in.device_pub == NULL || in.device_pub[0] == '\0') {
        return cli_usage_error(verify_name, "--device-pub PUB.pem is required");
    }
    if (in.refs == NULL || in.refs[0] == '\0') {
        return cli_usage_error(verify_name, "--refs REFS.json is required");
    }
    if (min_counter != NULL && cli_parse_u32(min_counter, &in.min_counter) != 0) {
        return cli_usage_error(verify_name, "--min-counter needs a value 0..4294967295, not '%s'",
                               min_counter);
    }
    struct cli_attest_outcome *o = malloc(sizeof *o);
    if (o == NULL) {
        return cli_fail("verifying: out of memory");
    }
    rc = cli_attest_run(verify_name, &in, o);
    if (rc != CLI_OK) {
        free(o);
        return rc;
    }
    if (json) {
        rc = cli_print_json(cli_attest_json(o));
    } else if (o->pass) {
        cli_kv("verdict", "pass");
        cli_kv("evidence", "%s", in.evidence);
        print_claims(&o->result);
    } else {
        cli_kv("verdict", "FAIL");
        cli_kv("evidence", "%s", in.evidence);
        cli_attest_print_failures(o->result.failures);
    }
    if (rc == CLI_OK && !o->pass) {
        char list[1024];
        cli_attest_failure_list(list, sizeof list, o->result.failures);
        rc = cli_fail("attestation failed: %s", list);
    }
    free(o);
    return rc;
}

const struct cli_command cli_cmd_attest_verify = {
    .name = verify_name,
    .summary = "verify attestation evidence against a DeviceID key, a nonce and reference values",
    .usage = verify_usage,
    .run = run_verify,
};
