/*
 * cli_util.c - messages, option errors, value parsing, files, JSON.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#define KV_WIDTH 16

/* ---- messages ------------------------------------------------------------- */

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("nacre: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    if (cmd != NULL) {
        fprintf(stderr, "nacre: %s: ", cmd);
    } else {
        fputs("nacre: ", stderr);
    }
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd != NULL) {
        fprintf(stderr, "\nsee 'nacre %s --help'\n", cmd);
    } else {
        fputs("\nsee 'nacre --help'\n", stderr);
    }
    return CLI_USAGE;
}

int cli_print_usage(const struct cli_command *cmd)
{
    fputs(cmd->usage, stdout);
    return CLI_OK;
}

int cli_bad_option(const char *cmd, int opt, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (opt == ':') {
        return cli_usage_error(cmd, "option '%s' needs a value", arg);
    }
    if (optopt != 0 && optopt < 256 && strncmp(arg, "--", 2) != 0) {
        return cli_usage_error(cmd, "unknown option '-%c'", optopt);
    }
    return cli_usage_error(cmd, "unknown option '%s'", arg);
}

void cli_getopt_reset(void)
{
    optind = 0; /* glibc: full re-initialisation, parsing starts at argv[1] */
    opterr = 0; /* we print our own one-line messages */
}

void cli_kv(const char *label, const char *fmt, ...)
{
    va_list ap;
    int n = printf("%s:", label);
    if (n < 0) {
        return;
    }
    printf("%*s", n < KV_WIDTH ? KV_WIDTH - n : 1, "");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* ---- values --------------------------------------------------------------- */

int cli_parse_u32(const char *s, uint32_t *out)
{
    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }
    uint64_t v = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        v = v * 10u + (uint64_t)(*p - '0');
        if (v > UINT32_MAX) {
            return -1;
        }
    }
    *out = (uint32_t)v;
    return 0;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }
    uint64_t v = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10u) {
            return -1;
        }
        v = v * 10u + d;
    }
    *out = v;
    return 0;
}

int cli_parse_hex(const char *s, uint8_t *out, size_t max, size_t *len)
{
    size_t n = s != NULL ? strlen(s) : 0;
    size_t bin_len = 0;
    const char *end = NULL;
    if (n == 0 || n % 2 != 0 || n / 2 > max) {
        return -1;
    }
    if (sodium_hex2bin(out, max, s, n, NULL, &bin_len, &end) != 0 || end != s + n ||
        bin_len != n / 2) {
        return -1;
    }
    *len = bin_len;
    return 0;
}

void cli_time_str(char out[CLI_TIME_CHARS], uint64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if ((uint64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
        strftime(out, CLI_TIME_CHARS, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
        snprintf(out, CLI_TIME_CHARS, "%llu", (unsigned long long)t);
    }
}

int cli_parse_reg_list(const char *s, uint32_t *mask)
{
    uint32_t m = 0;
    const char *p = s;
    if (s == NULL || *s == '\0') {
        return -1;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char item[16];
        uint32_t reg = 0;
        if (n == 0 || n >= sizeof item) {
            return -1;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        if (cli_parse_u32(item, &reg) != 0 || reg >= NACRE_PLUTON_REGISTER_COUNT) {
            return -1;
        }
        m |= 1u << reg;
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    *mask = m;
    return 0;
}

void cli_hex32(char out[65], const uint8_t in[32])
{
    sodium_bin2hex(out, 65, in, 32);
}

json_t *cli_json_hex(const uint8_t *in, size_t n)
{
    char hex[129];
    if (n > 64) {
        return NULL;
    }
    sodium_bin2hex(hex, sizeof hex, in, n);
    return json_string(hex);
}

int cli_print_json(json_t *root)
{
    if (root == NULL) {
        return cli_fail("building JSON output: out of memory");
    }
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    if (text == NULL) {
        return cli_fail("building JSON output: out of memory");
    }
    puts(text);
    free(text);
    return CLI_OK;
}

/* ---- files ------------------------------------------------------------------ */

void cli_free_file(uint8_t *buf, size_t len, int secret)
{
    (void)len;
    if (buf == NULL) {
        return;
    }
    if (secret) {
        sodium_free(buf); /* wipes */
    } else {
        free(buf);
    }
}

int cli_read_file(const char *what, const char *path, size_t max, int secret, uint8_t **out,
                  size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        return cli_fail("%s %s: %s", what, path, strerror(errno));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int err = errno;
        close(fd);
        return cli_fail("%s %s: %s", what, path, err != 0 ? strerror(err) : "not a regular file");
    }
    /* One byte more than allowed, to tell "exactly max" from "too large". */
    size_t cap = max + 1;
    uint8_t *buf = secret ? sodium_malloc(cap) : malloc(cap);
    if (buf == NULL) {
        close(fd);
        return cli_fail("%s %s: out of memory", what, path);
    }
    size_t len = 0;
    int rc = CLI_OK;
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            rc = cli_fail("%s %s: %s", what, path, strerror(errno));
            break;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    if (rc == CLI_OK && len > max) {
        rc = cli_fail("%s %s: file too large (at most %zu bytes)", what, path, max);
    }
    if (rc != CLI_OK) {
        cli_free_file(buf, cap, secret);
        return rc;
    }
    *out = buf;
    *out_len = len;
    return CLI_OK;
}

int cli_write_file(const char *what, const char *path, const void *data, size_t len, unsigned mode)
{
    static const char suffix[] = ".tmp-XXXXXX";
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof suffix);
    if (tmp == NULL) {
        return cli_fail("%s %s: out of memory", what, path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, suffix, sizeof suffix);
    int fd = mkstemp(tmp); /* mode 0600 until the fchmod below */
    if (fd < 0) {
        int err = errno;
        free(tmp);
        return cli_fail("%s %s: %s", what, path, strerror(err));
    }
    const uint8_t *p = data;
    size_t left = len;
    int err = 0;
    if (fchmod(fd, (mode_t)mode) != 0) {
        err = errno;
    }
    while (err == 0 && left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno != EINTR) {
                err = errno;
            }
            continue;
        }
        p += n;
        left -= (size_t)n;
    }
    if (err == 0 && fsync(fd) != 0) {
        err = errno;
    }
    if (close(fd) != 0 && err == 0) {
        err = errno;
    }
    if (err == 0 && rename(tmp, path) != 0) {
        err = errno;
    }
    if (err != 0) {
        (void)unlink(tmp);
    }
    free(tmp);
    if (err != 0) {
        return cli_fail("%s %s: %s", what, path, strerror(err));
    }
    return CLI_OK;
}

int cli_hash_file(const char *what, const char *path, uint8_t out[32])
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return cli_fail("%s %s: %s", what, path, strerror(errno));
    }
    crypto_generichash_state st;
    unsigned char chunk[16384];
    int rc = CLI_OK;
    crypto_generichash_init(&st, NULL, 0, 32);
    for (;;) {
        size_t n = fread(chunk, 1, sizeof chunk, f);
        if (n > 0) {
            crypto_generichash_update(&st, chunk, n);
        }
        if (n < sizeof chunk) {
            if (ferror(f)) {
                rc = cli_fail("%s %s: %s", what, path, strerror(errno));
            }
            break;
        }
    }
    fclose(f);
    crypto_generichash_final(&st, out, 32);
    sodium_memzero(&st, sizeof st);
    return rc;
}

int cli_path_exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* ---- keys -------------------------------------------------------------------- */

int cli_read_seed(const char *what, const char *path, uint8_t **seed)
{
    *seed = sodium_malloc(NACRE_KEYFILE_SEED_BYTES);
    if (*seed == NULL) {
        return cli_fail("%s %s: out of memory", what, path);
    }
    nacre_keyfile_status st = nacre_keyfile_read_private(path, *seed);
    if (st != NACRE_KEYFILE_OK) {
        sodium_free(*seed); /* wipes */
        *seed = NULL;
        return cli_fail("%s %s: %s", what, path, nacre_keyfile_strerror(st));
    }
    return CLI_OK;
}

int cli_read_pub(const char *what, const char *path, uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES])
{
    nacre_keyfile_status st = nacre_keyfile_read_public(path, pk);
    if (st != NACRE_KEYFILE_OK) {
        return cli_fail("%s %s: %s", what, path, nacre_keyfile_strerror(st));
    }
    return CLI_OK;
}
