/* A minimal "firmware" that boots pluton; used only to test linking. */
#include <nacre/pluton.h>

int main(void)
{
    static nacre_pluton p;
    return nacre_pluton_init(&p, (struct nacre_board *)0) == NACRE_PLUTON_OK &&
                   nacre_pluton_boot_complete(&p) == NACRE_PLUTON_OK
               ? 0
               : 1;
}
