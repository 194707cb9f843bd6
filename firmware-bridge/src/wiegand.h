/*
 * Wiegand bit collector. The reader pulls D0 low for a 0 bit and D1 low for a 1 bit (~50 us pulses, 0.2-20 ms
 * apart); a gap of BRIDGE_WIEGAND_GAP_MS ends the read. The bits are kept as received, first bit = MSB of
 * data[0], unused trailing bits 0 (docs/serial-protocol.md, WIEGAND): the firmware does not interpret card
 * formats, parity included; the daemon does.
 *
 * wiegand_bit() runs in the D0/D1 interrupt handlers; wiegand_poll() in the main loop with those interrupts
 * masked (bridge_hal_t.irq_save).
 */
#ifndef BRIDGE_WIEGAND_H
#define BRIDGE_WIEGAND_H

#include <stdint.h>

#define WIEGAND_MAX_BITS 255u
#define WIEGAND_MAX_BYTES 32u

typedef struct {
    volatile uint8_t count;    /* bits collected in this read */
    volatile uint8_t overflow; /* more than WIEGAND_MAX_BITS: the read is dropped */
    volatile uint32_t last_ms; /* time of the last bit */
    volatile uint8_t data[WIEGAND_MAX_BYTES];
    volatile uint16_t lost;      /* reads not collected before the next one began (main loop stalled) */
    volatile uint16_t overflows; /* reads dropped for being longer than 255 bits */
} wiegand_t;

void wiegand_init(wiegand_t *w);

/** One bit (0 from D0, 1 from D1) received at `now_ms`. Interrupt context. */
void wiegand_bit(wiegand_t *w, uint8_t bit, uint32_t now_ms);

/**
 * When the read in progress has been silent for the gap, copies its bytes to `data` (WIEGAND_MAX_BYTES of
 * room), clears the collector and returns the bit count (1..255). Otherwise returns 0.
 */
uint8_t wiegand_poll(wiegand_t *w, uint32_t now_ms, uint8_t *data);

#endif
