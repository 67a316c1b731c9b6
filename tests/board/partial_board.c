/*
 * A board that forgets one function of the contract: nacre_board_otp_lock_read,
 * the hook that read-locks the UDS after boot. It is only ever linked, never
 * run: test_missing_hook.sh checks that linking libpluton against it FAILS,
 * because the contract has no weak defaults.
 */
#include <nacre/board.h>

nacre_board_status nacre_board_otp_read(struct nacre_board *b, uint32_t o, void *p, size_t n)
{
    (void)b, (void)o, (void)p, (void)n;
    return NACRE_BOARD_ERR_IO;
}
nacre_board_status nacre_board_otp_program(struct nacre_board *b, uint32_t o, const void *p, size_t n)
{
    (void)b, (void)o, (void)p, (void)n;
    return NACRE_BOARD_ERR_IO;
}
nacre_board_status nacre_board_flash_area(struct nacre_board *b, unsigned id, struct nacre_flash_area *a)
{
    (void)b, (void)id, (void)a;
    return NACRE_BOARD_ERR_IO;
}
nacre_board_status nacre_board_flash_read(struct nacre_board *b, unsigned id, uint32_t o, void *p, size_t n)
{
    (void)b, (void)id, (void)o, (void)p, (void)n;
    return NACRE_BOARD_ERR_IO;
}
nacre_board_status nacre_board_flash_write(struct nacre_board *b, unsigned id, uint32_t o, const void *p,
                                           size_t n)
{
    (void)b, (void)id, (void)o, (void)p, (void)n;
    return NACRE_BOARD_ERR_IO;
}
nacre_board_status nacre_board_flash_erase(struct nacre_board *b, unsigned id, uint32_t o, size_t n)
{
    (void)b, (void)id, (void)o, (void)n;
    return NACRE_BOARD_ERR_IO;
}
nacre_board_status nacre_board_entropy(struct nacre_board *b, void *p, size_t n)
{
    (void)b, (void)p, (void)n;
    return NACRE_BOARD_ERR_ENTROPY;
}
