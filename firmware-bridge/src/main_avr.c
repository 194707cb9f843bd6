/* Firmware entry point on the ATmega328P: the HAL, the bridge, and a main loop that sleeps between ticks. */
#include "bridge.h"
#include "hal_avr.h"

/* Lets simavr (sim/) pick the MCU and clock from the .elf. The section lives at 0x910000, outside flash;
 * the Makefile leaves it out of the .hex. */
#if defined(__has_include)
#if __has_include(<avr_mcu_section.h>)
#include <avr_mcu_section.h>
AVR_MCU(F_CPU, "atmega328p");
#endif
#endif

static bridge_t g_bridge;

int main(void)
{
    hal_avr_init(&g_bridge.wiegand);
    bridge_init(&g_bridge, &hal_avr);
    hal_avr_start();
    for (;;) {
        bridge_poll(&g_bridge);
        hal_avr_idle();
    }
}
