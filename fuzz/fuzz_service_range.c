/*
 * Fuzz target: the HTTP Range header of image downloads (RFC 9110 §14.1.2,
 * one range) against an image size. The first 4 bytes are the size
 * (little-endian), the rest the header value. A satisfiable range must lie
 * inside the image.
 */
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4 || size > 4 + 256) {
        return 0;
    }
    uint64_t image_size = (uint64_t)data[0] | (uint64_t)data[1] << 8 | (uint64_t)data[2] << 16 |
                          (uint64_t)data[3] << 24;
    char value[257];
    memcpy(value, data + 4, size - 4);
    value[size - 4] = '\0';
    uint64_t first = 0;
    uint64_t last = 0;
    int rc = svc_range_parse(value, image_size, &first, &last);
    if (rc == 0 && !(first <= last && last < image_size)) {
        abort();
    }
    if (rc != 0 && rc != 1 && rc != -1) {
        abort();
    }
    return 0;
}
