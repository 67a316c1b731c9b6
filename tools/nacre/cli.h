/*
 * cli.h - shared pieces of the nacre command-line tool.
 *
 * Conventions:
 *   - every command returns an exit status: CLI_OK, CLI_FAIL or CLI_USAGE;
 *   - failures print ONE line on stderr, "nacre: <what>: <reason>";
 *   - usage errors print the reason, then "see 'nacre COMMAND --help'";
 *   - --help prints the command's usage on stdout and returns CLI_OK.
 */
#ifndef NACRE_CLI_H
#define NACRE_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <nacre/attest.h>
#include <nacre/board.h>
#include <nacre/ca.h>
#include <nacre/image.h>
#include <nacre/keyfile.h>
#include <nacre/pluton.h>
#include <nacre/update.h>

#if defined(__GNUC__) || defined(__clang__)
#define CLI_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CLI_PRINTF(fmt, args)
#endif

/* Exit statuses. */
enum {
    CLI_OK = 0,
    CLI_FAIL = 1,
    CLI_USAGE = 2,
};

/* Environment variable of the power-cut test hook (see 'nacre help device'). */
#define CLI_POWER_CUT_ENV "NACRE_POWER_CUT_AFTER"

/* Largest file accepted by 'device unseal --in'. */
#define CLI_SEALED_MAX ((size_t)NACRE_PLUTON_SEAL_MAX_PLAINTEXT + NACRE_PLUTON_SEAL_OVERHEAD)

/* Largest payload or image file the image commands read into memory. */
#define CLI_IMAGE_MAX ((size_t)256u * 1024u * 1024u)

struct cli_device;

/* A command: name as typed ("keygen", "device seal"), its help, its body. */
struct cli_command {
    const char *name;
    const char *summary; /* one line for 'nacre help' */
    const char *usage;   /* full text for --help */
    int (*run)(int argc, char **argv);
};

/* cmd_keygen.c */
extern const struct cli_command cli_cmd_keygen;
/* cmd_device.c */
extern const struct cli_command cli_cmd_provision;
extern const struct cli_command cli_cmd_info;
extern const struct cli_command cli_cmd_secure;
extern const struct cli_command cli_cmd_counter;
/* cmd_seal.c */
extern const struct cli_command cli_cmd_seal;
extern const struct cli_command cli_cmd_unseal;
/* cmd_update.c */
extern const struct cli_command cli_cmd_install;
extern const struct cli_command cli_cmd_boot;
extern const struct cli_command cli_cmd_confirm;
extern const struct cli_command cli_cmd_status;
/* cmd_image.c */
extern const struct cli_command cli_cmd_image_sign;
extern const struct cli_command cli_cmd_image_create;
extern const struct cli_command cli_cmd_image_digest;
extern const struct cli_command cli_cmd_image_attach;
extern const struct cli_command cli_cmd_image_inspect;
extern const struct cli_command cli_cmd_image_verify;
extern const struct cli_command cli_cmd_image_refs;
/* cmd_key.c */
extern const struct cli_command cli_cmd_key_certify;
/* cmd_attest.c */
extern const struct cli_command cli_cmd_device_attest;
extern const struct cli_command cli_cmd_device_pubkey;
extern const struct cli_command cli_cmd_attest_verify;
/* cmd_ca.c */
extern const struct cli_command cli_cmd_ca_init;
extern const struct cli_command cli_cmd_ca_issue;
extern const struct cli_command cli_cmd_ca_check;
/* cmd_app.c */
extern const struct cli_command cli_cmd_app_package;
extern const struct cli_command cli_cmd_app_inspect;
extern const struct cli_command cli_cmd_device_run;
extern const struct cli_command cli_cmd_device_events;
/* cmd_svc.c, cmd_agent.c, cmd_fleet.c (built when libcurl is found: NACRE_CLI_SERVICE) */
extern const struct cli_command cli_cmd_svc;
extern const struct cli_command cli_cmd_agent_run;
extern const struct cli_command cli_cmd_fleet_run;
/* main.c */
extern const char cli_device_usage[];

/* ---- messages (cli_util.c) ------------------------------------------------ */

/* "nacre: " fmt "\n" on stderr; returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) CLI_PRINTF(1, 2);
/* "nacre: <cmd>: " fmt "\nsee 'nacre <cmd> --help'\n" on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
/* The usage text of cmd on stdout; returns CLI_OK. */
int cli_print_usage(const struct cli_command *cmd);
/*
 * Report what getopt_long() returned for a bad option ('?' or ':') as a
 * usage error of cmd; returns CLI_USAGE.
 */
int cli_bad_option(const char *cmd, int opt, char **argv);
/* Reset getopt for a fresh parse of a command's arguments. */
void cli_getopt_reset(void);

/* "label:" padded to a column, then the value. */
void cli_kv(const char *label, const char *fmt, ...) CLI_PRINTF(2, 3);

/* ---- values ---------------------------------------------------------------- */

/* Strict decimal (no sign, no spaces, no trailing text). 0 on success, -1 otherwise. */
int cli_parse_u32(const char *s, uint32_t *out);
int cli_parse_u64(const char *s, uint64_t *out);
/* Hex (even length, either case) into out; *len bytes. 0 on success, -1 if bad or > max. */
int cli_parse_hex(const char *s, uint8_t *out, size_t max, size_t *len);
/* Seconds since the epoch as "2026-11-21 08:45:01 UTC". */
#define CLI_TIME_CHARS 32
void cli_time_str(char out[CLI_TIME_CHARS], uint64_t t);
/* "0,3,5" -> bits 0, 3, 5 of *mask; registers must be < NACRE_PLUTON_REGISTER_COUNT. */
int cli_parse_reg_list(const char *s, uint32_t *mask);
/* Lowercase hex of 32 bytes into out[65]. */
void cli_hex32(char out[65], const uint8_t in[32]);
/* A JSON string holding the hex of n bytes (n <= 64), or NULL on allocation failure. */
json_t *cli_json_hex(const uint8_t *in, size_t n);
/* Print root on stdout (JSON_INDENT(2) | JSON_SORT_KEYS) and a newline; takes the reference. */
int cli_print_json(json_t *root);

/* ---- files ----------------------------------------------------------------- */

/*
 * Read a whole file of at most max bytes. With secret set the buffer comes
 * from sodium_malloc() and is wiped by cli_free_file(). On error prints the
 * message (what = e.g. "reading input") and returns CLI_FAIL.
 */
int cli_read_file(const char *what, const char *path, size_t max, int secret, uint8_t **out,
                  size_t *out_len);
void cli_free_file(uint8_t *buf, size_t len, int secret);
/*
 * Write a file through a temporary file in the same directory and rename(2),
 * replacing any existing file. Prints the message and returns CLI_FAIL on error.
 */
int cli_write_file(const char *what, const char *path, const void *data, size_t len, unsigned mode);
/* BLAKE2b-256 of a file's bytes, streamed. Prints the message on error. */
int cli_hash_file(const char *what, const char *path, uint8_t out[32]);
/* 1 if path exists (as anything, even a dangling symlink). */
int cli_path_exists(const char *path);

/* ---- keys ------------------------------------------------------------------ */

/*
 * Read a private key file into a sodium_malloc'd seed (free with
 * sodium_free, which wipes it). Prints "<what> <path>: <reason>" on error.
 */
int cli_read_seed(const char *what, const char *path, uint8_t **seed);
/* Read a public key file (SPKI, or a private key's public half). */
int cli_read_pub(const char *what, const char *path, uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES]);

/* ---- images (cli_image.c) -------------------------------------------------- */

#define CLI_VERSION_CHARS 36 /* "4294967295.4294967295.4294967295" + NUL */
/* "X.Y.Z" */
void cli_version_str(char out[CLI_VERSION_CHARS], const struct nacre_image_version *v);
/*
 * The image fields every command shows, as a JSON object: component,
 * version, security_counter, sizes, payload_digest, signer_key_id,
 * measurement, dependencies, signed. NULL on allocation failure.
 */
json_t *cli_json_image(const struct nacre_image_info *info);
/* "app 1.0.0, security counter 1" into out. */
void cli_image_line(char *out, size_t out_len, const struct nacre_image_info *info);
/* "nacre: <what>: <nacre_update_strerror(st)>[ (<board detail>)]"; returns CLI_FAIL. */
int cli_update_fail(const struct cli_device *dev, const char *what, nacre_update_status st);
/* --component NAME: 1..32 bytes of [a-z0-9._-]. 0 if valid. */
int cli_component_ok(const char *name);

/* ---- reference values (cli_refs.c) ------------------------------------------ */

#define CLI_REFS_VERSION 1
#define CLI_REFS_MAX 256u
/* {"version": 1, "components": []}; NULL on allocation failure. */
json_t *cli_refs_new(void);
/* Append an image's component (skipped if its measurement is already there). */
int cli_refs_add(json_t *refs, const struct nacre_image_info *info);
/* Write refs as indented JSON (replacing path, mode 0644). */
int cli_refs_write(const char *path, json_t *refs);
/* Read and validate a reference values file; *refs is calloc'd (free it). */
int cli_refs_read(const char *path, struct nacre_attest_ref **refs, size_t *count);

/* ---- evidence verification (cmd_attest.c), shared with 'ca issue' ------------- */

struct cli_attest_input {
    const char *evidence;    /* file */
    const char *nonce;       /* hex text */
    const char *device_pub;  /* DeviceID public key file */
    const char *refs;        /* reference values file */
    uint32_t min_counter;
    int require_secured;
};

struct cli_attest_outcome {
    int pass;                          /* verified with no failure */
    uint8_t device_pk[32];             /* the DeviceID key given */
    struct nacre_attest_result result;
};

/*
 * Read the inputs and run nacre_attest_verify. CLI_OK when the verifier gave
 * a verdict (pass or not: see out->pass); CLI_FAIL (message printed) when an
 * input could not be read; CLI_USAGE for a malformed --nonce (cmd names it).
 */
int cli_attest_run(const char *cmd, const struct cli_attest_input *in,
                   struct cli_attest_outcome *out);
/* "wrong nonce, unknown device" into out. */
void cli_attest_failure_list(char *out, size_t out_len, uint32_t failures);
/* The failure reasons, one per line ("  - wrong nonce") on stdout. */
void cli_attest_print_failures(uint32_t failures);
/* {"pass", "failures": [...], "claims": {...} | null, "alias_key", "code_hash"}. */
json_t *cli_attest_json(const struct cli_attest_outcome *o);

/* ---- devices (cli_device.c) ----------------------------------------------- */

/* An open, reset and (unless BLANK, or opened with cli_device_open) booted device. */
struct cli_device {
    const char *dir;
    struct nacre_board *board;
    nacre_pluton *pluton; /* sodium_malloc'd: holds secrets */
    int initialized;      /* nacre_pluton_init succeeded */
    int measured;         /* a firmware digest was extended into R0 */
    uint8_t firmware_digest[32];
    int attached;         /* nacre_boot_attach succeeded: `running` is the image in R0 */
    nacre_update_status attach_status; /* why not attached (when no --firmware) */
    struct nacre_boot_result running;  /* valid when attached */
};

/*
 * Boot the device in dir the way every device command except
 * install / boot / confirm / status does: open the host board (arming the
 * NACRE_POWER_CUT_AFTER hook), nacre_pluton_init, then
 *   - with firmware: extend R0 with BLAKE2b-256(firmware), boot_complete;
 *   - without: nacre_boot_attach (R0 = the image the last boot chose, which
 *     is verified again); if that finds no image or no root key, plain
 *     nacre_pluton_boot_complete with R0 zero;
 * nothing of this on a BLANK device. On error prints the message, leaves
 * nothing open and returns CLI_FAIL (CLI_USAGE for a bad hook value).
 */
int cli_device_boot(struct cli_device *dev, const char *dir, const char *firmware);
/*
 * Power on without booting: open the board (arming the hook) and
 * nacre_pluton_init, in the same guarded memory. For the commands that run
 * the boot stage or the installer themselves. Errors as cli_device_boot.
 */
int cli_device_open(struct cli_device *dev, const char *dir);
/* Power off: nacre_pluton_deinit (wipe), free, close the board. Safe twice. */
void cli_device_close(struct cli_device *dev);
/* Print "nacre: <what>: <pluton reason>[: <board detail>]"; returns CLI_FAIL. */
int cli_pluton_fail(const struct cli_device *dev, const char *what, nacre_pluton_status st);
/* Print a board failure with its detail; returns CLI_FAIL. */
int cli_board_fail(const char *what, nacre_board_status st, const char *detail);

/* ---- nacre-service (cmd_svc.c) ------------------------------------------------- */

struct cli_svc {
    const char *url;   /* "http://127.0.0.1:8443" */
    const char *token; /* bearer token, or NULL */
    const char *what;  /* for messages: "svc devices claim" */
};
/*
 * One operator request: a JSON body (reference taken) or raw bytes
 * (application/octet-stream). CLI_OK on 2xx with *out the parsed answer (or
 * NULL); else CLI_FAIL with "nacre: <what>: <code>: <message>" printed
 * unless quiet, *status the HTTP status (0: unreachable), *out the error body.
 */
int cli_svc_request(const struct cli_svc *s, const char *method, const char *path, json_t *body,
                    const uint8_t *raw, size_t raw_len, json_t **out, long *status, int quiet);
/* The DeviceID public key of the host device in dir (booted as 'device pubkey' does). */
int cli_device_id_key(const char *dir, uint8_t pk[32]);

#endif /* NACRE_CLI_H */
