/* Provisions a host device in argv[1] and prints its DeviceID public key. */
#include <stdio.h>

#include <nacre/board_host.h>
#include <nacre/pluton.h>

int main(int argc, char **argv)
{
    static nacre_pluton p; /* static, as firmware would hold it */
    struct nacre_board *b = NULL;
    uint8_t pk[NACRE_PLUTON_PUBLICKEY_BYTES];
    if (argc != 2 || nacre_host_device_create(argv[1], NULL, NULL) != NACRE_BOARD_OK ||
        nacre_host_board_open(argv[1], &b, NULL) != NACRE_BOARD_OK ||
        nacre_pluton_init(&p, b) != NACRE_PLUTON_OK || nacre_pluton_provision(&p, NULL) != NACRE_PLUTON_OK ||
        nacre_pluton_boot_complete(&p) != NACRE_PLUTON_OK ||
        nacre_pluton_key_public(&p, NACRE_PLUTON_KEY_DEVICE_ID, pk) != NACRE_PLUTON_OK) {
        fprintf(stderr, "consumer: failed\n");
        return 1;
    }
    printf("nacre %s device id ", nacre_pluton_version());
    for (size_t i = 0; i < sizeof pk; i++) {
        printf("%02x", pk[i]);
    }
    printf("\n");
    nacre_pluton_deinit(&p);
    nacre_host_board_close(b);
    return 0;
}
