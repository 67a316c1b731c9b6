/*
 * Fuzz target: the host board's device files. The input is split into an
 * otp.bin and a flash.bin (first two bytes: little-endian length of the OTP
 * part); opening the device must either succeed or fail with a reason,
 * never crash, hang or allocate without bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"

static char dir[512];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[600];
    if (dir[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/nacre-fuzz-dev-XXXXXX", tmp != NULL ? tmp : "/tmp");
        if (mkdtemp(dir) == NULL) {
            abort();
        }
    }
    if (size < 2) {
        return 0;
    }
    size_t otp_len = (size_t)data[0] | ((size_t)data[1] << 8);
    data += 2;
    size -= 2;
    if (otp_len > size) {
        otp_len = size;
    }
    snprintf(path, sizeof path, "%s/otp.bin", dir);
    fuzz_write_file(path, data, otp_len);
    snprintf(path, sizeof path, "%s/flash.bin", dir);
    fuzz_write_file(path, data + otp_len, size - otp_len);

    struct nacre_board *b = NULL;
    const char *detail = NULL;
    nacre_board_status s = nacre_host_board_open(dir, &b, &detail);
    if (s != NACRE_BOARD_OK) {
        if (detail == NULL || detail[0] == '\0') {
            abort(); /* every refusal must say why */
        }
        return 0;
    }
    nacre_pluton p;
    if (nacre_pluton_init(&p, b) == NACRE_PLUTON_OK) {
        uint32_t v;
        (void)nacre_pluton_counter_read(&p, 0, &v);
        nacre_pluton_deinit(&p);
    }
    nacre_host_board_close(b);
    return 0;
}
