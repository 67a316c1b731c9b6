/*
 * httpsig.c - RFC 9421 HTTP Message Signatures (Ed25519) in Nacre's
 * profile, RFC 9530 Content-Digest, RFC 9110 dates, RFC 9440 Client-Cert.
 *
 * Parsing is deliberately narrow: a signature field that is not byte for
 * byte what nacre_httpsig_input_format() would produce (apart from the
 * values) is refused, so there is exactly one accepted serialisation.
 */
#include <nacre/httpsig.h>

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#define PROFILE_COMPONENTS "(\"@method\" \"@path\" \"date\" \"content-digest\")"
#define LABEL "nacre="

/* Append s to out[*pos..]; -1 if it does not fit (out stays NUL-terminated). */
static int put(char *out, size_t out_max, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (*pos + n + 1 > out_max) {
        return -1;
    }
    memcpy(out + *pos, s, n + 1);
    *pos += n;
    return 0;
}

static int has_line_break(const char *s)
{
    return strchr(s, '\n') != NULL || strchr(s, '\r') != NULL;
}

int nacre_httpsig_base_generic(const struct nacre_httpsig_component *components, size_t count,
                               const char *params, char *out, size_t out_max, size_t *out_len)
{
    size_t pos = 0;
    if (components == NULL || params == NULL || out == NULL || out_max == 0 ||
        has_line_break(params)) {
        return -1;
    }
    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        const struct nacre_httpsig_component *c = &components[i];
        if (c->name == NULL || c->value == NULL || has_line_break(c->name) ||
            has_line_break(c->value) || strchr(c->name, '"') != NULL) {
            return -1;
        }
        if (put(out, out_max, &pos, "\"") != 0 || put(out, out_max, &pos, c->name) != 0 ||
            put(out, out_max, &pos, "\": ") != 0 || put(out, out_max, &pos, c->value) != 0 ||
            put(out, out_max, &pos, "\n") != 0) {
            return -1;
        }
    }
    if (put(out, out_max, &pos, "\"@signature-params\": ") != 0 ||
        put(out, out_max, &pos, params) != 0) {
        return -1;
    }
    if (out_len != NULL) {
        *out_len = pos;
    }
    return 0;
}

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return s[n] == '\0';
}

static int params_valid(const struct nacre_httpsig_params *p)
{
    return p != NULL && strlen(p->keyid) == NACRE_HTTPSIG_KEYID_CHARS &&
           is_lower_hex(p->keyid, NACRE_HTTPSIG_KEYID_CHARS) &&
           strlen(p->nonce) == NACRE_HTTPSIG_NONCE_CHARS &&
           is_lower_hex(p->nonce, NACRE_HTTPSIG_NONCE_CHARS);
}

/* The inner list with parameters: what follows "nacre=". */
static int params_format(const struct nacre_httpsig_params *p, char *out, size_t out_max)
{
    if (!params_valid(p)) {
        return -1;
    }
    int n = snprintf(out, out_max,
                     PROFILE_COMPONENTS ";created=%llu;keyid=\"%s\";alg=\"ed25519\";nonce=\"%s\"",
                     (unsigned long long)p->created, p->keyid, p->nonce);
    return (n < 0 || (size_t)n >= out_max) ? -1 : 0;
}

int nacre_httpsig_input_format(const struct nacre_httpsig_params *params, char *out,
                               size_t out_max)
{
    char inner[NACRE_HTTPSIG_FIELD_MAX];
    if (out == NULL || params_format(params, inner, sizeof inner) != 0) {
        return -1;
    }
    int n = snprintf(out, out_max, LABEL "%s", inner);
    return (n < 0 || (size_t)n >= out_max) ? -1 : 0;
}

/* Consume the literal lit at *s. */
static int expect(const char **s, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(*s, lit, n) != 0) {
        return -1;
    }
    *s += n;
    return 0;
}

/* Copy exactly n lowercase hex characters followed by '"'. */
static int take_hex_quoted(const char **s, char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = (*s)[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return -1;
        }
        out[i] = c;
    }
    out[n] = '\0';
    *s += n;
    return expect(s, "\"");
}

int nacre_httpsig_input_parse(const char *value, struct nacre_httpsig_params *params)
{
    const char *s = value;
    uint64_t created = 0;
    if (value == NULL || params == NULL || strlen(value) >= NACRE_HTTPSIG_FIELD_MAX) {
        return -1;
    }
    memset(params, 0, sizeof *params);
    if (expect(&s, LABEL PROFILE_COMPONENTS ";created=") != 0) {
        return -1;
    }
    /* sf-integer: 1..15 digits, no leading zero unless the value is 0 */
    size_t digits = 0;
    while (s[digits] >= '0' && s[digits] <= '9') {
        digits++;
    }
    if (digits == 0 || digits > 15 || (digits > 1 && s[0] == '0')) {
        return -1;
    }
    for (size_t i = 0; i < digits; i++) {
        created = created * 10u + (uint64_t)(s[i] - '0');
    }
    s += digits;
    if (expect(&s, ";keyid=\"") != 0 ||
        take_hex_quoted(&s, params->keyid, NACRE_HTTPSIG_KEYID_CHARS) != 0 ||
        expect(&s, ";alg=\"ed25519\";nonce=\"") != 0 ||
        take_hex_quoted(&s, params->nonce, NACRE_HTTPSIG_NONCE_CHARS) != 0 || *s != '\0') {
        memset(params, 0, sizeof *params);
        return -1;
    }
    params->created = created;
    return 0;
}

int nacre_httpsig_base(const char *method, const char *path, const char *date,
                       const char *content_digest, const struct nacre_httpsig_params *params,
                       char *out, size_t out_max, size_t *out_len)
{
    char inner[NACRE_HTTPSIG_FIELD_MAX];
    if (method == NULL || path == NULL || date == NULL || content_digest == NULL ||
        path[0] != '/' || params_format(params, inner, sizeof inner) != 0) {
        return -1;
    }
    const struct nacre_httpsig_component c[4] = {
        {"@method", method},
        {"@path", path},
        {"date", date},
        {"content-digest", content_digest},
    };
    return nacre_httpsig_base_generic(c, 4, inner, out, out_max, out_len);
}

/* ":BASE64:" wrapper shared by Signature and Client-Cert. */
static int b64_colon_format(const uint8_t *bin, size_t len, const char *prefix, char *out,
                            size_t out_max)
{
    size_t plen = strlen(prefix);
    size_t b64 = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    if (out == NULL || bin == NULL || plen + 1 + b64 + 1 > out_max) {
        return -1;
    }
    memcpy(out, prefix, plen);
    out[plen] = ':';
    sodium_bin2base64(out + plen + 1, b64, bin, len, sodium_base64_VARIANT_ORIGINAL);
    size_t end = plen + 1 + strlen(out + plen + 1);
    out[end] = ':';
    out[end + 1] = '\0';
    return 0;
}

static int b64_colon_parse(const char *value, const char *prefix, uint8_t *bin, size_t bin_max,
                           size_t *bin_len)
{
    size_t plen = strlen(prefix);
    if (value == NULL || strncmp(value, prefix, plen) != 0 || value[plen] != ':') {
        return -1;
    }
    const char *b = value + plen + 1;
    const char *end = strchr(b, ':');
    if (end == NULL || end[1] != '\0' || end == b) {
        return -1;
    }
    const char *b64_end = NULL;
    size_t len = 0;
    if (sodium_base642bin(bin, bin_max, b, (size_t)(end - b), NULL, &len, &b64_end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        b64_end != end) {
        return -1;
    }
    *bin_len = len;
    return 0;
}

int nacre_httpsig_signature_format(const uint8_t signature[64], char *out, size_t out_max)
{
    return b64_colon_format(signature, 64, "nacre=", out, out_max);
}

int nacre_httpsig_signature_parse(const char *value, uint8_t signature[64])
{
    uint8_t tmp[64];
    size_t len = 0;
    if (signature == NULL || b64_colon_parse(value, "nacre=", tmp, sizeof tmp, &len) != 0 ||
        len != 64) {
        return -1;
    }
    memcpy(signature, tmp, 64);
    return 0;
}

int nacre_httpsig_verify(const char *method, const char *path, const char *date,
                         const char *content_digest, const struct nacre_httpsig_params *params,
                         const uint8_t signature[64], const uint8_t public_key[32])
{
    char base[NACRE_HTTPSIG_BASE_MAX];
    size_t len = 0;
    if (signature == NULL || public_key == NULL ||
        nacre_httpsig_base(method, path, date, content_digest, params, base, sizeof base,
                           &len) != 0) {
        return -1;
    }
    return crypto_sign_verify_detached(signature, (const unsigned char *)base, len, public_key) ==
                   0
               ? 0
               : -1;
}

int nacre_httpsig_content_digest(const void *body, size_t len, char *out, size_t out_max)
{
    uint8_t d[crypto_hash_sha256_BYTES];
    if (body == NULL && len != 0) {
        return -1;
    }
    crypto_hash_sha256(d, (const unsigned char *)(body != NULL ? body : ""), len);
    return b64_colon_format(d, sizeof d, "sha-256=", out, out_max);
}

static const char *const wdays[7] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's method). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int nacre_httpsig_date_format(uint64_t t, char out[NACRE_HTTPSIG_DATE_CHARS + 1])
{
    if (out == NULL || t > 253402300799ull) { /* 9999-12-31T23:59:59Z */
        return -1;
    }
    int64_t z = (int64_t)(t / 86400) + 719468;
    unsigned secs = (unsigned)(t % 86400);
    int64_t era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    int n = snprintf(out, NACRE_HTTPSIG_DATE_CHARS + 1, "%s, %02u %s %04lld %02u:%02u:%02u GMT",
                     wdays[(t / 86400) % 7], d, months[m - 1], (long long)y, secs / 3600,
                     (secs / 60) % 60, secs % 60);
    return n == (int)NACRE_HTTPSIG_DATE_CHARS ? 0 : -1;
}

static int two_digits(const char *s, unsigned *v)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9') {
        return -1;
    }
    *v = (unsigned)(s[0] - '0') * 10u + (unsigned)(s[1] - '0');
    return 0;
}

int nacre_httpsig_date_parse(const char *value, uint64_t *t)
{
    unsigned d, hh, mm, ss, yh, yl, m = 0;
    if (value == NULL || t == NULL || strlen(value) != NACRE_HTTPSIG_DATE_CHARS) {
        return -1;
    }
    /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (value[3] != ',' || value[4] != ' ' || value[7] != ' ' || value[11] != ' ' ||
        value[16] != ' ' || value[19] != ':' || value[22] != ':' ||
        strcmp(value + 25, " GMT") != 0) {
        return -1;
    }
    if (two_digits(value + 5, &d) != 0 || two_digits(value + 12, &yh) != 0 ||
        two_digits(value + 14, &yl) != 0 || two_digits(value + 17, &hh) != 0 ||
        two_digits(value + 20, &mm) != 0 || two_digits(value + 23, &ss) != 0) {
        return -1;
    }
    while (m < 12 && strncmp(value + 8, months[m], 3) != 0) {
        m++;
    }
    unsigned y = yh * 100u + yl;
    if (m == 12 || y < 1970 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 59) {
        return -1;
    }
    int64_t days = days_from_civil((int64_t)y, m + 1, d);
    uint64_t r = (uint64_t)days * 86400u + hh * 3600u + mm * 60u + ss;
    /* Round-trip: refuses impossible dates (31 Feb) and a wrong weekday. */
    char check[NACRE_HTTPSIG_DATE_CHARS + 1];
    if (nacre_httpsig_date_format(r, check) != 0 || strncmp(check, value, 5) != 0 ||
        strncmp(check + 5, value + 5, 20) != 0) {
        return -1;
    }
    *t = r;
    return 0;
}

void nacre_httpsig_nonce(char out[NACRE_HTTPSIG_NONCE_CHARS + 1])
{
    uint8_t r[NACRE_HTTPSIG_NONCE_CHARS / 2];
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(out, NACRE_HTTPSIG_NONCE_CHARS + 1, r, sizeof r);
}

int nacre_httpsig_client_cert_format(const uint8_t *der, size_t der_len, char *out,
                                     size_t out_max)
{
    if (der_len == 0) {
        return -1;
    }
    return b64_colon_format(der, der_len, "", out, out_max);
}

int nacre_httpsig_client_cert_parse(const char *value, uint8_t *der, size_t der_max,
                                    size_t *der_len)
{
    if (der == NULL || der_len == NULL) {
        return -1;
    }
    return b64_colon_parse(value, "", der, der_max, der_len);
}
