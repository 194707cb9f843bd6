/*
 * The bridge application: a non-blocking main-loop step that speaks the serial bridge protocol
 * (docs/serial-protocol.md) to the host and runs the door hardware through a bridge_hal_t.
 *
 * - Link: a lead-in 0x00 and HELLO at boot, then the level of every input; HEARTBEAT every second; every
 *   decoded host frame is ACKed by its seq; a frame repeating the seq of the last one carried out is ACKed
 *   again but not carried out again (a retry after a lost ACK); runs that fail a check are dropped and
 *   counted by reason (bridge_t.rx.dropped).
 * - Host silence: no valid frame for BRIDGE_HOST_TIMEOUT_MS -> every relay off and the LED amber, until the
 *   host sends a valid frame again.
 * - RELAY: timed here, so a pulse ends even if the host dies; capped at BRIDGE_RELAY_MAX_MS; ms 0 = off now;
 *   a RELAY while energised restarts the pulse with the new length.
 * - LED: a colour for `ms`, then back to off (amber while the host is silent); ms 0 = off now.
 * - BEEP: one of four on/off patterns; a new one replaces the one playing.
 * - Keypad: 3x4 matrix scanned every millisecond, debounced, one KEY frame per press.
 * - Inputs: debounced, one INPUT frame per change.
 * - Wiegand: one WIEGAND frame per read, raw bits.
 */
#ifndef BRIDGE_BRIDGE_H
#define BRIDGE_BRIDGE_H

#include <stdint.h>

#include "config.h"
#include "debounce.h"
#include "frame.h"
#include "hal.h"
#include "wiegand.h"

#define BRIDGE_KEYPAD_ROWS 4u
#define BRIDGE_KEYPAD_COLS 3u

typedef struct {
    uint32_t duplicates;    /* host frames repeating the last seq: ACKed, not carried out again */
    uint32_t bad_channel;   /* RELAY for a channel this board does not have (ACKed, ignored) */
    uint32_t host_timeouts; /* times the host fell silent for BRIDGE_HOST_TIMEOUT_MS */
    uint32_t tx_errors;     /* frames that could not be encoded: a bug, never expected */
} bridge_counters_t;

typedef struct bridge {
    const bridge_hal_t *hal;
    bp_rx_t rx; /* rx.frames, rx.dropped[reason]: the receive accounting */
    uint8_t rx_buf[BRIDGE_RX_BUFFER];
    uint8_t tx_buf[BRIDGE_TX_BUFFER];
    uint8_t seq;           /* seq of the next frame sent */
    int16_t last_host_seq; /* seq of the last host frame carried out; -1: none (boot, or after host silence) */
    uint32_t last_scan_ms;
    uint32_t host_seen_ms;
    uint8_t host_lost;
    uint32_t next_heartbeat_ms;
    struct {
        uint8_t on;
        uint16_t ms;
        uint32_t start;
    } relay[BRIDGE_RELAYS];
    struct {
        uint8_t colour; /* colour of the timed display */
        uint8_t timed;  /* a LED command is showing */
        uint8_t shown;  /* what the LED shows now */
        uint16_t ms;
        uint32_t start;
    } led;
    struct {
        uint8_t pattern; /* 0 = silent */
        uint8_t step;    /* even = on, odd = off */
        uint8_t on;
        uint32_t start; /* start of the current step */
    } beep;
    wiegand_t wiegand; /* fed by the platform's D0/D1 interrupt handlers */
    debounce_t keys;
    debounce_t inputs;
    bridge_counters_t counters;
} bridge_t;

/**
 * Drives every output to its safe state, sends the lead-in 0x00, HELLO and every input's level. The
 * platform should already have de-energised the relays at reset (hal_avr.c does, before C start-up).
 */
void bridge_init(bridge_t *b, const bridge_hal_t *hal);

/** One pass of the main loop; never blocks (except briefly in uart_write when its queue is full). */
void bridge_poll(bridge_t *b);

#endif
