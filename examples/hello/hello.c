/*
 * hello - the smallest Nacre app: no capabilities at all.
 *
 * It asks secmon who it is (device id, its own public key), has secmon sign
 * "hello from hello" with its app key, checks that signature itself with
 * libsodium against that public key, and writes an event into the device's
 * security-event log. Everything goes through the channel on fd 3.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "app.h"

#define APP_NAME "hello"

static int fail(const char *what, nacre_secmon_status st)
{
    printf("%s: %s failed: %s\n", APP_NAME, what, app_status_text(st));
    return 1;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (sodium_init() < 0) {
        printf("%s: libsodium failed to initialise\n", APP_NAME);
        return 1;
    }

    nacre_secmon_status st = app_ping("hi", 2);
    if (st != NACRE_SECMON_OK) {
        return fail("ping", st);
    }

    struct app_identity id;
    st = app_identity(&id);
    if (st != NACRE_SECMON_OK) {
        return fail("identity", st);
    }
    char hex[2 * APP_KEY_BYTES + 1];
    app_hex(hex, id.device_id, sizeof id.device_id);
    printf("device id: %s\n", hex);
    app_hex(hex, id.app_pk, sizeof id.app_pk);
    printf("app key: %s\n", hex);
    printf("component: %s\n", id.component_id);

    const char message[] = "hello from " APP_NAME;
    uint8_t sig[APP_SIGNATURE_BYTES];
    st = app_sign(message, strlen(message), sig);
    if (st != NACRE_SECMON_OK) {
        return fail("sign", st);
    }
    char sig_hex[2 * APP_SIGNATURE_BYTES + 1];
    app_hex(sig_hex, sig, sizeof sig);
    printf("signed \"%s\": %s\n", message, sig_hex);
    if (crypto_sign_verify_detached(sig, (const unsigned char *)message, strlen(message),
                                    id.app_pk) != 0) {
        printf("signature: INVALID under the app key\n");
        return 1;
    }
    printf("signature: verified with the app key\n");

    st = app_log(APP_LOG_INFO, "hello: signed and verified");
    if (st != NACRE_SECMON_OK) {
        return fail("log", st);
    }
    printf("logged an event; bye\n");
    return 0;
}
