/* The ATmega328P implementation of bridge_hal_t (hal.h). */
#ifndef BRIDGE_HAL_AVR_H
#define BRIDGE_HAL_AVR_H

#include "hal.h"
#include "wiegand.h"

extern const bridge_hal_t hal_avr;

/** Pins, 1 ms timer, UART, watchdog; enables interrupts. `w` is the collector the D0/D1 interrupts feed. */
void hal_avr_init(wiegand_t *w);

/** Enables the Wiegand interrupts; call once the collector is initialised (after bridge_init). */
void hal_avr_start(void);

/** Sleeps (idle mode) until the next interrupt, unless received bytes are waiting. */
void hal_avr_idle(void);

#endif
