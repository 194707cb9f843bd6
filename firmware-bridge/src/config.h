/*
 * Build-time behaviour of the bridge. Every value can be overridden with -D on the compiler command line.
 * docs/firmware-bridge.md ("Behaviour", "Limits") explains each one.
 */
#ifndef BRIDGE_CONFIG_H
#define BRIDGE_CONFIG_H

/** The HELLO `firmware` text. */
#ifndef BRIDGE_FIRMWARE
#define BRIDGE_FIRMWARE "doorpass-bridge 0.1.0"
#endif

/** Relay channels, numbered 1..BRIDGE_RELAYS on the wire (RELAY `channel`); other channels are ACKed and ignored. */
#ifndef BRIDGE_RELAYS
#define BRIDGE_RELAYS 2u
#endif

/** Digital inputs, numbered 1..BRIDGE_INPUTS in INPUT frames: 1 door contact, 2 exit button, 3 tamper. */
#ifndef BRIDGE_INPUTS
#define BRIDGE_INPUTS 3u
#endif

/** The longest relay pulse: a RELAY asking for more is cut to this, so a pulse always ends. */
#ifndef BRIDGE_RELAY_MAX_MS
#define BRIDGE_RELAY_MAX_MS 30000u
#endif

/** No valid frame from the host for this long: every relay off, LED amber until the host speaks again. */
#ifndef BRIDGE_HOST_TIMEOUT_MS
#define BRIDGE_HOST_TIMEOUT_MS 5000u
#endif

/** HEARTBEAT period (docs/serial-protocol.md: every 1 s; the host calls the bridge offline after 3 s). */
#ifndef BRIDGE_HEARTBEAT_MS
#define BRIDGE_HEARTBEAT_MS 1000u
#endif

/** Silence on D0/D1 that ends a Wiegand read. Readers send bits 0.2-20 ms apart; 25 ms is the usual gap. */
#ifndef BRIDGE_WIEGAND_GAP_MS
#define BRIDGE_WIEGAND_GAP_MS 25u
#endif

/** A key must read pressed (or released) this long, continuously, before it counts. */
#ifndef BRIDGE_KEY_DEBOUNCE_MS
#define BRIDGE_KEY_DEBOUNCE_MS 20u
#endif

/** Same for the door contact, exit button and tamper inputs. */
#ifndef BRIDGE_INPUT_DEBOUNCE_MS
#define BRIDGE_INPUT_DEBOUNCE_MS 30u
#endif

/**
 * Receive buffer: the longest host -> bridge payload is 7 bytes (RELAY, LED). Longer runs are still
 * decoded and checksummed on the fly, so they are dropped with the host's reason, not merely "too long".
 */
#ifndef BRIDGE_RX_BUFFER
#define BRIDGE_RX_BUFFER 16u
#endif

/** Transmit buffer: the longest frame the bridge sends is a 255-bit WIEGAND (37-byte payload, 40 on the wire). */
#ifndef BRIDGE_TX_BUFFER
#define BRIDGE_TX_BUFFER 48u
#endif

/** Received bytes handled per bridge_poll() call, so that a flood cannot stall the main loop. */
#ifndef BRIDGE_RX_PER_POLL
#define BRIDGE_RX_PER_POLL 64u
#endif

#endif
