/*
 * package.c - app packages (nacre/sandbox.h, docs/sandbox.md):
 *
 *   "NAPP" | u32 LE manifest length | manifest | u32 LE exe length | exe
 *
 * A package is the payload of a signed image, so its bytes are already
 * authenticated when this code sees them; it is strict all the same (one
 * accepted form, no slack anywhere) because a signed-but-malformed package
 * is still a bug to refuse, not to interpret, and because the fuzzer feeds
 * it arbitrary bytes. Lengths are compared against what is left of the
 * buffer, never added up, so no attacker-chosen length can wrap.
 */
#include <stdlib.h>
#include <string.h>

#include <nacre/sandbox.h>
#include "nacre_le.h"
#include "sandbox_priv.h"

static const uint8_t package_magic[4] = {'N', 'A', 'P', 'P'};
static const uint8_t elf_magic[4] = {0x7f, 'E', 'L', 'F'};

#define MAGIC_BYTES 4u
#define LENGTH_BYTES 4u
#define FRAMING_BYTES (MAGIC_BYTES + 2u * LENGTH_BYTES)

const char *nacre_sandbox_strerror(nacre_sandbox_status status)
{
    switch (status) {
    case NACRE_SANDBOX_OK:
        return "ok";
    case NACRE_SANDBOX_ERR_ARGUMENT:
        return "invalid argument";
    case NACRE_SANDBOX_ERR_MANIFEST:
        return "manifest refused";
    case NACRE_SANDBOX_ERR_PACKAGE:
        return "malformed app package";
    case NACRE_SANDBOX_ERR_UNSUPPORTED:
        return "sandbox mechanism not supported by the kernel";
    case NACRE_SANDBOX_ERR_SYSTEM:
        return "system call failed";
    }
    return "unknown status";
}

/*
 * Strict UTF-8 (RFC 3629): shortest form only, no surrogates, nothing above
 * U+10FFFF, and no NUL (the manifest is text; a NUL would end it early for
 * any C consumer that later treats it as a string).
 */
static int utf8_text_ok(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c == 0) {
            return 0;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t extra;
        uint32_t cp;
        uint32_t min;
        if (c >= 0xc2 && c <= 0xdf) {
            extra = 1;
            cp = c & 0x1fu;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2;
            cp = c & 0x0fu;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3;
            cp = c & 0x07u;
            min = 0x10000;
        } else {
            return 0; /* continuation byte first, 0xc0/0xc1 overlong, or > 0xf4 */
        }
        if (extra > len - i - 1) {
            return 0;
        }
        for (size_t k = 1; k <= extra; k++) {
            uint8_t cc = s[i + k];
            if ((cc & 0xc0u) != 0x80u) {
                return 0;
            }
            cp = (cp << 6) | (cc & 0x3fu);
        }
        if (cp < min || cp > 0x10ffffu || (cp >= 0xd800u && cp <= 0xdfffu)) {
            return 0;
        }
        i += extra + 1;
    }
    return 1;
}

static int manifest_ok(const uint8_t *manifest, size_t len)
{
    return len >= 1 && len <= NACRE_MANIFEST_BYTES_MAX && utf8_text_ok(manifest, len);
}

static int exe_ok(const uint8_t *exe, size_t len)
{
    return len >= sizeof elf_magic && memcmp(exe, elf_magic, sizeof elf_magic) == 0;
}

nacre_sandbox_status nacre_app_package_parse(const uint8_t *payload, size_t len, const char **manifest,
                                             size_t *manifest_len, const uint8_t **exe, size_t *exe_len)
{
    if (manifest == NULL || manifest_len == NULL || exe == NULL || exe_len == NULL) {
        return NACRE_SANDBOX_ERR_ARGUMENT;
    }
    *manifest = NULL;
    *manifest_len = 0;
    *exe = NULL;
    *exe_len = 0;
    if (payload == NULL && len > 0) {
        return NACRE_SANDBOX_ERR_ARGUMENT;
    }
    if (len < FRAMING_BYTES || memcmp(payload, package_magic, MAGIC_BYTES) != 0) {
        return NACRE_SANDBOX_ERR_PACKAGE;
    }
    /* len >= FRAMING_BYTES, so "room" cannot wrap. */
    size_t room = len - FRAMING_BYTES;
    uint32_t m_len = le32_get(payload + MAGIC_BYTES);
    if (m_len > room) {
        return NACRE_SANDBOX_ERR_PACKAGE;
    }
    const uint8_t *m = payload + MAGIC_BYTES + LENGTH_BYTES;
    room -= m_len;
    uint32_t e_len = le32_get(m + m_len);
    /* Exact: no byte after the executable. */
    if (e_len != room) {
        return NACRE_SANDBOX_ERR_PACKAGE;
    }
    const uint8_t *e = m + m_len + LENGTH_BYTES;
    if (!manifest_ok(m, m_len) || !exe_ok(e, e_len)) {
        return NACRE_SANDBOX_ERR_PACKAGE;
    }
    *manifest = (const char *)m;
    *manifest_len = m_len;
    *exe = e;
    *exe_len = e_len;
    return NACRE_SANDBOX_OK;
}

nacre_sandbox_status nacre_app_package_build(uint8_t **out, size_t *out_len, const char *manifest,
                                             size_t manifest_len, const uint8_t *exe, size_t exe_len)
{
    if (out == NULL || out_len == NULL) {
        return NACRE_SANDBOX_ERR_ARGUMENT;
    }
    *out = NULL;
    *out_len = 0;
    if (manifest == NULL || exe == NULL) {
        return NACRE_SANDBOX_ERR_ARGUMENT;
    }
    /* Build only what parse accepts, so a package that leaves the build
     * machine is one a device will take apart. */
    if (!manifest_ok((const uint8_t *)manifest, manifest_len) || !exe_ok(exe, exe_len) ||
        exe_len > UINT32_MAX || exe_len > SIZE_MAX - FRAMING_BYTES - manifest_len) {
        return NACRE_SANDBOX_ERR_PACKAGE;
    }
    size_t total = FRAMING_BYTES + manifest_len + exe_len;
    uint8_t *p = malloc(total);
    if (p == NULL) {
        return NACRE_SANDBOX_ERR_SYSTEM;
    }
    memcpy(p, package_magic, MAGIC_BYTES);
    le32_put(p + MAGIC_BYTES, (uint32_t)manifest_len);
    memcpy(p + MAGIC_BYTES + LENGTH_BYTES, manifest, manifest_len);
    le32_put(p + MAGIC_BYTES + LENGTH_BYTES + manifest_len, (uint32_t)exe_len);
    memcpy(p + FRAMING_BYTES + manifest_len, exe, exe_len);
    *out = p;
    *out_len = total;
    return NACRE_SANDBOX_OK;
}
