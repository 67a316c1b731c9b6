/*
 * cmd_ca.c - nacre ca init | issue | check: a tenant certificate authority
 * (nacre/ca.h) that certifies a device's Alias key once its attestation
 * evidence verifies.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

static const char init_name[] = "ca init";
static const char issue_name[] = "ca issue";
static const char check_name[] = "ca check";

static int ca_fail(const char *what, const char *path, nacre_ca_status st)
{
    return cli_fail("%s %s: %s", what, path, nacre_ca_strerror(st));
}

/* --now SECONDS, default the clock. */
static int parse_now(const char *cmd, const char *text, uint64_t *now)
{
    *now = (uint64_t)time(NULL);
    if (text != NULL && cli_parse_u64(text, now) != 0) {
        return cli_usage_error(cmd, "--now needs seconds since the epoch, not '%s'", text);
    }
    return CLI_OK;
}

static int read_ca_cert(const char *dir, uint8_t buf[NACRE_CA_CERT_MAX + 1], size_t *len,
                        char *path, size_t path_len)
{
    snprintf(path, path_len, "%s/ca-cert.pem", dir);
    nacre_ca_status st = nacre_ca_read_file(path, buf, NACRE_CA_CERT_MAX + 1, len);
    if (st != NACRE_CA_OK) {
        return ca_fail("reading CA certificate", path, st);
    }
    return CLI_OK;
}

/* subject, serial, validity of a certificate we just made or checked. */
static void print_cert(const struct nacre_ca_cert_info *info)
{
    char from[CLI_TIME_CHARS];
    char until[CLI_TIME_CHARS];
    char hex[65];
    cli_time_str(from, info->not_before);
    cli_time_str(until, info->not_after);
    cli_kv("subject", "O = %s, CN = %s", info->subject_o, info->subject_cn);
    cli_kv("issuer", "%s", info->issuer_cn);
    cli_kv("serial", "%s", info->serial);
    cli_kv("valid", "%s .. %s", from, until);
    if (info->ed25519) {
        cli_hex32(hex, info->public_key);
        cli_kv("public key", "Ed25519 %s", hex);
    }
}

static json_t *cert_json(const char *path, const struct nacre_ca_cert_info *info)
{
    json_t *o = json_object();
    if (o == NULL) {
        return NULL;
    }
    json_object_set_new(o, "certificate", json_string(path));
    json_object_set_new(o, "subject_cn", json_string(info->subject_cn));
    json_object_set_new(o, "tenant", json_string(info->subject_o));
    json_object_set_new(o, "issuer_cn", json_string(info->issuer_cn));
    json_object_set_new(o, "serial", json_string(info->serial));
    json_object_set_new(o, "not_before", json_integer((json_int_t)info->not_before));
    json_object_set_new(o, "not_after", json_integer((json_int_t)info->not_after));
    json_object_set_new(o, "public_key", info->ed25519 ? cli_json_hex(info->public_key, 32)
                                                       : json_null());
    return o;
}

/* ---- ca init ---------------------------------------------------------------------------- */

static const char init_usage[] =
    "usage: nacre ca init DIR --tenant NAME [--json]\n"
    "\n"
    "Create a tenant certificate authority in DIR (created if missing, mode\n"
    "0700): a fresh Ed25519 key in DIR/ca-key.pem (PKCS#8, mode 0600) and a\n"
    "self-signed X.509 v3 CA certificate in DIR/ca-cert.pem, subject\n"
    "\"O = NAME, CN = NAME Nacre tenant CA\", valid for 10 years\n"
    "(docs/certificates.md). An existing CA is never overwritten.\n"
    "\n"
    "  --tenant NAME  1..40 of [A-Za-z0-9 ._-]\n"
    "  --json         print JSON instead of text\n"
    "  -h, --help     show this help\n"
    "\n"
    "Then: nacre ca issue --ca DIR ... (certify a device after attestation)\n"
    "\n"
    "exit status: 0 created, 1 failure (e.g. DIR already holds a CA), 2 usage error\n";

static int run_init(int argc, char **argv)
{
    enum { OPT_TENANT = 256, OPT_JSON };
    static const struct option opts[] = {
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *tenant = NULL;
    int json = 0;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_TENANT:
            tenant = optarg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_ca_init);
        default:
            return cli_bad_option(init_name, c, argv);
        }
    }
    if (optind >= argc) {
        return cli_usage_error(init_name, "missing CA directory DIR");
    }
    if (argc - optind > 1) {
        return cli_usage_error(init_name, "unexpected argument '%s'", argv[optind + 1]);
    }
    const char *dir = argv[optind];
    if (dir[0] == '\0') {
        return cli_usage_error(init_name, "DIR must not be empty");
    }
    if (tenant == NULL) {
        return cli_usage_error(init_name, "--tenant NAME is required");
    }
    size_t tlen = strlen(tenant);
    int ok = tlen >= 1 && tlen <= NACRE_CA_TENANT_MAX && tenant[0] != ' ' &&
             tenant[tlen - 1] != ' ' && strspn(tenant,
                                               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                               "0123456789 ._-") == tlen;
    if (!ok) {
        return cli_usage_error(init_name, "--tenant must be 1..%u of [A-Za-z0-9 ._-] (no "
                               "leading or trailing space), not '%s'", NACRE_CA_TENANT_MAX, tenant);
    }
    nacre_ca_status st = nacre_ca_init(dir, tenant, (uint64_t)time(NULL));
    if (st != NACRE_CA_OK) {
        return ca_fail("creating CA in", dir, st);
    }
    uint8_t cert[NACRE_CA_CERT_MAX + 1];
    size_t len = 0;
    char path[4200];
    int rc = read_ca_cert(dir, cert, &len, path, sizeof path);
    if (rc != CLI_OK) {
        return rc;
    }
    struct nacre_ca_cert_info info;
    st = nacre_ca_cert_info(cert, len, &info);
    if (st != NACRE_CA_OK) {
        return ca_fail("reading CA certificate", path, st);
    }
    if (json) {
        json_t *root = cert_json(path, &info);
        if (root != NULL) {
            json_object_set_new(root, "ca", json_string(dir));
        }
        return cli_print_json(root);
    }
    cli_kv("CA", "%s", dir);
    cli_kv("tenant", "%s", tenant);
    cli_kv("certificate", "%s", path);
    cli_kv("private key", "%s/ca-key.pem (mode 0600: keep it offline)", dir);
    print_cert(&info);
    return CLI_OK;
}

const struct cli_command cli_cmd_ca_init = {
    .name = init_name,
    .summary = "create a tenant CA (Ed25519 key, self-signed X.509 certificate)",
    .usage = init_usage,
    .run = run_init,
};

/* ---- ca issue --------------------------------------------------------------------------- */

static const char issue_usage[] =
    "usage: nacre ca issue --ca DIR --evidence EVIDENCE --nonce HEX --device-pub PUB.pem\n"
    "                      --refs REFS.json --out CERT.pem [--min-counter N]\n"
    "                      [--require-secured] [--now SECONDS] [--json]\n"
    "\n"
    "Certify a device that proved what it runs. The evidence is verified first,\n"
    "exactly as 'nacre attest verify' does; only if it passes does the CA in DIR\n"
    "issue an X.509 certificate for the device's attested ALIAS key (the key\n"
    "that signed the evidence), subject \"O = <tenant>, CN = <device id>\", with\n"
    "subjectAltName URI:urn:nacre:device:<device id>, valid for 24 hours\n"
    "(from 60 s before now). The device id is the hex BLAKE2b-256 of the\n"
    "DeviceID key. CERT.pem is replaced if it exists (renewal).\n"
    "\n"
    "  --ca DIR             the CA ('nacre ca init')\n"
    "  --evidence EVIDENCE  from 'nacre device attest'\n"
    "  --nonce, --device-pub, --refs, --min-counter, --require-secured\n"
    "                       as for 'nacre attest verify'\n"
    "  --out CERT.pem       where to write the certificate (PEM)\n"
    "  --now SECONDS        issue as if the time were SECONDS since the epoch\n"
    "  --json               print JSON instead of text\n"
    "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 issued, 1 refused (the evidence failed: reasons on standard\n"
    "output) or failure, 2 usage error\n";

static int run_issue(int argc, char **argv)
{
    enum { OPT_CA = 256, OPT_EVIDENCE, OPT_NONCE, OPT_DEVICE_PUB, OPT_REFS, OPT_OUT,
           OPT_MIN_COUNTER, OPT_SECURED, OPT_NOW, OPT_JSON };
    static const struct option opts[] = {
        {"ca", required_argument, NULL, OPT_CA},
        {"evidence", required_argument, NULL, OPT_EVIDENCE},
        {"nonce", required_argument, NULL, OPT_NONCE},
        {"device-pub", required_argument, NULL, OPT_DEVICE_PUB},
        {"refs", required_argument, NULL, OPT_REFS},
        {"out", required_argument, NULL, OPT_OUT},
        {"min-counter", required_argument, NULL, OPT_MIN_COUNTER},
        {"require-secured", no_argument, NULL, OPT_SECURED},
        {"now", required_argument, NULL, OPT_NOW},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cli_attest_input in;
    const char *ca = NULL;
    const char *out = NULL;
    const char *min_counter = NULL;
    const char *now_text = NULL;
    int json = 0;
    int c;
    memset(&in, 0, sizeof in);

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_CA:
            ca = optarg;
            break;
        case OPT_EVIDENCE:
            in.evidence = optarg;
            break;
        case OPT_NONCE:
            in.nonce = optarg;
            break;
        case OPT_DEVICE_PUB:
            in.device_pub = optarg;
            break;
        case OPT_REFS:
            in.refs = optarg;
            break;
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_MIN_COUNTER:
            min_counter = optarg;
            break;
        case OPT_SECURED:
            in.require_secured = 1;
            break;
        case OPT_NOW:
            now_text = optarg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_ca_issue);
        default:
            return cli_bad_option(issue_name, c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage_error(issue_name, "unexpected argument '%s'", argv[optind]);
    }
    static const char *const names[] = {"--ca DIR", "--evidence EVIDENCE", "--nonce HEX",
                                        "--device-pub PUB.pem", "--refs REFS.json",
                                        "--out CERT.pem"};
    const char *values[] = {ca, in.evidence, in.nonce, in.device_pub, in.refs, out};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        if (values[i] == NULL || values[i][0] == '\0') {
            return cli_usage_error(issue_name, "%s is required", names[i]);
        }
    }
    if (min_counter != NULL && cli_parse_u32(min_counter, &in.min_counter) != 0) {
        return cli_usage_error(issue_name, "--min-counter needs a value 0..4294967295, not '%s'",
                               min_counter);
    }
    uint64_t now = 0;
    int rc = parse_now(issue_name, now_text, &now);
    if (rc != CLI_OK) {
        return rc;
    }

    struct cli_attest_outcome *o = malloc(sizeof *o);
    if (o == NULL) {
        return cli_fail("issuing: out of memory");
    }
    rc = cli_attest_run(issue_name, &in, o);
    if (rc != CLI_OK) {
        free(o);
        return rc;
    }
    if (!o->pass) {
        char list[1024];
        if (json) {
            (void)cli_print_json(cli_attest_json(o));
        } else {
            cli_kv("verdict", "FAIL: no certificate issued");
            cli_attest_print_failures(o->result.failures);
        }
        cli_attest_failure_list(list, sizeof list, o->result.failures);
        free(o);
        return cli_fail("refusing to issue a certificate: attestation failed: %s", list);
    }

    char device_id[NACRE_CA_DEVICE_ID_CHARS + 1];
    char pem[NACRE_CA_PEM_MAX];
    size_t pem_len = 0;
    nacre_ca_status st = nacre_ca_device_id(o->device_pk, device_id);
    if (st == NACRE_CA_OK) {
        st = nacre_ca_issue(ca, o->result.alias_pk, device_id, now, pem, sizeof pem, &pem_len);
    }
    free(o);
    if (st == NACRE_CA_ERR_EXPIRED || st == NACRE_CA_ERR_NOT_YET_VALID) {
        char when[CLI_TIME_CHARS];
        cli_time_str(when, now);
        return cli_fail("issuing with CA %s: the CA certificate is %s at %s", ca,
                        st == NACRE_CA_ERR_EXPIRED ? "expired" : "not yet valid", when);
    }
    if (st != NACRE_CA_OK) {
        return ca_fail("issuing with CA", ca, st);
    }
    rc = cli_write_file("writing certificate", out, pem, pem_len, 0644);
    if (rc != CLI_OK) {
        return rc;
    }
    struct nacre_ca_cert_info info;
    st = nacre_ca_cert_info((const uint8_t *)pem, pem_len, &info);
    if (st != NACRE_CA_OK) {
        return ca_fail("reading back", out, st);
    }
    if (json) {
        json_t *root = cert_json(out, &info);
        if (root != NULL) {
            json_object_set_new(root, "device_id", json_string(device_id));
            json_object_set_new(root, "attestation", json_string("pass"));
        }
        return cli_print_json(root);
    }
    cli_kv("attestation", "pass");
    cli_kv("certificate", "%s", out);
    cli_kv("device id", "%s", device_id);
    print_cert(&info);
    return CLI_OK;
}

const struct cli_command cli_cmd_ca_issue = {
    .name = issue_name,
    .summary = "verify a device's evidence, then certify its Alias key for 24 hours",
    .usage = issue_usage,
    .run = run_issue,
};

/* ---- ca check --------------------------------------------------------------------------- */

static const char check_usage[] =
    "usage: nacre ca check --ca DIR CERT.pem [--now SECONDS] [--json]\n"
    "\n"
    "Check a device certificate against the tenant CA in DIR, the way a peer\n"
    "device or a service does (nacre_ca_check): issued by this CA, valid now,\n"
    "an Ed25519 key, the Nacre device profile. Exit status 0 ONLY if it passes;\n"
    "the reason otherwise: not issued by this CA (another tenant), expired, not\n"
    "yet valid, malformed, not Ed25519, not a device certificate.\n"
    "\n"
    "  --ca DIR        the CA (only DIR/ca-cert.pem is read)\n"
    "  --now SECONDS   check as if the time were SECONDS since the epoch\n"
    "  --json          print JSON: the certificate's fields and \"valid\": true\n"
    "  -h, --help      show this help\n"
    "\n"
    "exit status: 0 valid, 1 invalid or failure, 2 usage error\n";

static int run_check(int argc, char **argv)
{
    enum { OPT_CA = 256, OPT_NOW, OPT_JSON };
    static const struct option opts[] = {
        {"ca", required_argument, NULL, OPT_CA},
        {"now", required_argument, NULL, OPT_NOW},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ca = NULL;
    const char *now_text = NULL;
    int json = 0;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_CA:
            ca = optarg;
            break;
        case OPT_NOW:
            now_text = optarg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_ca_check);
        default:
            return cli_bad_option(check_name, c, argv);
        }
    }
    if (optind >= argc) {
        return cli_usage_error(check_name, "missing certificate file CERT.pem");
    }
    if (argc - optind > 1) {
        return cli_usage_error(check_name, "unexpected argument '%s'", argv[optind + 1]);
    }
    const char *path = argv[optind];
    if (ca == NULL || ca[0] == '\0') {
        return cli_usage_error(check_name, "--ca DIR is required");
    }
    uint64_t now = 0;
    int rc = parse_now(check_name, now_text, &now);
    if (rc != CLI_OK) {
        return rc;
    }
    uint8_t ca_cert[NACRE_CA_CERT_MAX + 1];
    size_t ca_len = 0;
    char ca_path[4200];
    rc = read_ca_cert(ca, ca_cert, &ca_len, ca_path, sizeof ca_path);
    if (rc != CLI_OK) {
        return rc;
    }
    uint8_t cert[NACRE_CA_CERT_MAX + 1];
    size_t len = 0;
    nacre_ca_status st = nacre_ca_read_file(path, cert, sizeof cert, &len);
    if (st != NACRE_CA_OK) {
        return ca_fail("reading certificate", path, st);
    }
    uint8_t pk[32];
    char device_id[NACRE_CA_DEVICE_ID_CHARS + 1];
    struct nacre_ca_cert_info info;
    int have_info = nacre_ca_cert_info(cert, len, &info) == NACRE_CA_OK;
    st = nacre_ca_check(ca_cert, ca_len, cert, len, now, pk, device_id);
    if (st != NACRE_CA_OK) {
        char detail[160] = "";
        char a[CLI_TIME_CHARS], b[CLI_TIME_CHARS];
        cli_time_str(b, now);
        if (have_info && st == NACRE_CA_ERR_EXPIRED) {
            cli_time_str(a, info.not_after);
            snprintf(detail, sizeof detail, " (not after %s; now %s)", a, b);
        } else if (have_info && st == NACRE_CA_ERR_NOT_YET_VALID) {
            cli_time_str(a, info.not_before);
            snprintf(detail, sizeof detail, " (not before %s; now %s)", a, b);
        } else if (have_info && st == NACRE_CA_ERR_WRONG_CA) {
            snprintf(detail, sizeof detail, "; its issuer is \"%s\"", info.issuer_cn);
        }
        if (json) {
            json_t *root = json_object();
            if (root != NULL) {
                json_object_set_new(root, "certificate", json_string(path));
                json_object_set_new(root, "valid", json_false());
                json_object_set_new(root, "reason", json_string(nacre_ca_strerror(st)));
            }
            (void)cli_print_json(root);
        }
        return cli_fail("checking %s: %s%s", path, nacre_ca_strerror(st), detail);
    }
    if (json) {
        json_t *root = cert_json(path, &info);
        if (root != NULL) {
            json_object_set_new(root, "valid", json_true());
            json_object_set_new(root, "device_id", json_string(device_id));
        }
        return cli_print_json(root);
    }
    cli_kv("verdict", "valid");
    cli_kv("certificate", "%s", path);
    cli_kv("device id", "%s", device_id);
    print_cert(&info);
    return CLI_OK;
}

const struct cli_command cli_cmd_ca_check = {
    .name = check_name,
    .summary = "check a device certificate against a tenant CA",
    .usage = check_usage,
    .run = run_check,
};
