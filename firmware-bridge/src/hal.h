/*
 * The hardware abstraction: everything the portable core needs from a board, as function pointers, so that
 * the core runs unchanged on the ATmega328P (hal_avr.c), on another MCU (a new hal_*.c) and on the host in
 * the unit tests (tests/fake_hal.c). All functions are called from the main loop, never from an interrupt.
 */
#ifndef BRIDGE_HAL_H
#define BRIDGE_HAL_H

#include <stdint.h>

typedef struct bridge_hal {
    void *ctx; /* passed to every function */

    /** Milliseconds since boot, wrapping modulo 2^32. */
    uint32_t (*millis)(void *ctx);

    /** The next received byte (0..255), or -1 when none is waiting. */
    int16_t (*uart_read)(void *ctx);
    /** Queues bytes for sending; may wait for room, never for the line to go idle. */
    void (*uart_write)(void *ctx, const uint8_t *data, uint16_t len);

    /** Relay `index` (0-based; wire channel index + 1): 1 = energised. */
    void (*relay_write)(void *ctx, uint8_t index, uint8_t on);
    /** Reader LED: BP_LED_OFF, _GREEN, _RED or _AMBER. */
    void (*led_write)(void *ctx, uint8_t colour);
    void (*beeper_write)(void *ctx, uint8_t on);

    /** Drives keypad row `row` (0..3), reads the columns and releases the row: bit c set = key (row, c) closed. */
    uint8_t (*keypad_scan_row)(void *ctx, uint8_t row);
    /** Raw electrical levels of the inputs: bit i = input i + 1 (1 = high). */
    uint8_t (*inputs_read)(void *ctx);

    /** Masks the interrupts that feed the Wiegand collector; returns what irq_restore needs. */
    uint8_t (*irq_save)(void *ctx);
    void (*irq_restore)(void *ctx, uint8_t saved);

    /** Tells the watchdog the main loop is alive. */
    void (*watchdog_kick)(void *ctx);
} bridge_hal_t;

#endif
