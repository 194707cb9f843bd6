#include "bridge.h"

#include <string.h>

/* On/off pattern of each BEEP (protocol values 1..4): `count` times on for on_ms, then off for off_ms. */
typedef struct {
    uint16_t on_ms, off_ms;
    uint8_t count;
} beep_pattern_t;

static const beep_pattern_t BEEP_PATTERNS[4] = {
    {200, 0, 1},   /* 1 accept: one long beep */
    {100, 100, 3}, /* 2 deny: three short beeps */
    {30, 0, 1},    /* 3 key click */
    {250, 250, 10} /* 4 alarm: 5 s of beeping; the protocol has no "alarm off", so it must end by itself */
};

/* Row-major, as wired: row 0 = 1 2 3, row 1 = 4 5 6, row 2 = 7 8 9, row 3 = * 0 #. */
static const char KEYMAP[BRIDGE_KEYPAD_ROWS * BRIDGE_KEYPAD_COLS + 1] = "123456789*0#";

static uint8_t elapsed_since(uint32_t now, uint32_t then, uint32_t period)
{
    return (uint32_t)(now - then) >= period;
}

static void send(bridge_t *b, bp_msg_t *m)
{
    uint16_t n;
    m->seq = b->seq;
    n = bp_encode_frame(m, b->tx_buf, (uint16_t)sizeof b->tx_buf);
    if (n == 0) {
        b->counters.tx_errors++;
        return;
    }
    b->hal->uart_write(b->hal->ctx, b->tx_buf, n);
    b->seq = (uint8_t)(b->seq + 1u);
}

static void send_input(bridge_t *b, uint8_t index)
{
    bp_msg_t m;
    m.type = BP_INPUT;
    m.u.input.input = (uint8_t)(index + 1u);
    m.u.input.level = (uint8_t)((b->inputs.stable >> index) & 1u);
    send(b, &m);
}

static void send_ack(bridge_t *b, uint8_t seq)
{
    bp_msg_t m;
    m.type = BP_ACK;
    m.u.ack.seq = seq;
    send(b, &m);
}

static void relay_set(bridge_t *b, uint8_t i, uint8_t on, uint16_t ms, uint32_t now)
{
    b->relay[i].ms = ms;
    b->relay[i].start = now;
    if (b->relay[i].on != on) {
        b->relay[i].on = on;
        b->hal->relay_write(b->hal->ctx, i, on);
    }
}

static void all_relays_off(bridge_t *b, uint32_t now)
{
    uint8_t i;
    for (i = 0; i < BRIDGE_RELAYS; i++)
        relay_set(b, i, 0, 0, now);
}

static void led_refresh(bridge_t *b)
{
    uint8_t want = b->led.timed ? b->led.colour : (b->host_lost ? BP_LED_AMBER : BP_LED_OFF);
    if (want != b->led.shown) {
        b->led.shown = want;
        b->hal->led_write(b->hal->ctx, want);
    }
}

static void beep_refresh(bridge_t *b, uint32_t now)
{
    uint8_t want;
    while (b->beep.pattern != 0) {
        const beep_pattern_t *p = &BEEP_PATTERNS[b->beep.pattern - 1u];
        uint16_t dur = (b->beep.step & 1u) ? p->off_ms : p->on_ms;
        if (!elapsed_since(now, b->beep.start, dur))
            break;
        b->beep.start += dur; /* exact steps, even if the loop was late */
        b->beep.step++;
        if (b->beep.step >= 2u * p->count)
            b->beep.pattern = 0;
    }
    want = (uint8_t)(b->beep.pattern != 0 && (b->beep.step & 1u) == 0);
    if (want != b->beep.on) {
        b->beep.on = want;
        b->hal->beeper_write(b->hal->ctx, want);
    }
}

static void carry_out(bridge_t *b, const bp_msg_t *m, uint32_t now)
{
    switch (m->type) {
    case BP_RELAY: {
        uint8_t ch = m->u.relay.channel;
        uint16_t ms = m->u.relay.ms;
        if (ch < 1 || ch > BRIDGE_RELAYS) {
            b->counters.bad_channel++;
            break;
        }
        if (ms > BRIDGE_RELAY_MAX_MS)
            ms = BRIDGE_RELAY_MAX_MS;
        /* ms 0 = off now (the host sends it on shutdown); otherwise (re)start the pulse. */
        relay_set(b, (uint8_t)(ch - 1u), (uint8_t)(ms != 0), ms, now);
        break;
    }
    case BP_LED:
        b->led.timed = (uint8_t)(m->u.led.ms != 0 && m->u.led.colour != BP_LED_OFF);
        b->led.colour = m->u.led.colour;
        b->led.ms = m->u.led.ms;
        b->led.start = now;
        led_refresh(b);
        break;
    case BP_BEEP:
        b->beep.pattern = m->u.beep.pattern;
        b->beep.step = 0;
        b->beep.start = now;
        beep_refresh(b, now);
        break;
    default: /* BP_PING: the ACK is the whole answer */
        break;
    }
}

static void host_frame(bridge_t *b, const bp_msg_t *m, uint32_t now)
{
    b->host_seen_ms = now;
    b->host_lost = 0; /* the host is back: the LED leaves amber at the next refresh */
    if ((int16_t)m->seq == b->last_host_seq) {
        /* A retransmission: our ACK was lost. ACK again; a relay must not pulse twice. */
        b->counters.duplicates++;
    } else {
        carry_out(b, m, now);
        b->last_host_seq = m->seq;
    }
    send_ack(b, m->seq);
}

static void scan(bridge_t *b, uint32_t now)
{
    uint32_t gap = now - b->last_scan_ms;
    uint8_t elapsed = (uint8_t)(gap > 255u ? 255u : gap);
    uint16_t raw = 0, changed;
    uint8_t r, i;

    b->last_scan_ms = now;
    for (r = 0; r < BRIDGE_KEYPAD_ROWS; r++) {
        uint8_t cols = b->hal->keypad_scan_row(b->hal->ctx, r);
        raw |= (uint16_t)((uint16_t)(cols & ((1u << BRIDGE_KEYPAD_COLS) - 1u)) << (r * BRIDGE_KEYPAD_COLS));
    }
    changed = debounce_update(&b->keys, raw, BRIDGE_KEYPAD_ROWS * BRIDGE_KEYPAD_COLS, elapsed,
                              BRIDGE_KEY_DEBOUNCE_MS);
    for (i = 0; i < BRIDGE_KEYPAD_ROWS * BRIDGE_KEYPAD_COLS; i++) {
        if ((changed & b->keys.stable) & (1u << i)) { /* pressed; a release sends nothing */
            bp_msg_t m;
            m.type = BP_KEY;
            m.u.key.key = (uint8_t)KEYMAP[i];
            send(b, &m);
        }
    }

    changed = debounce_update(&b->inputs, b->hal->inputs_read(b->hal->ctx), BRIDGE_INPUTS, elapsed,
                              BRIDGE_INPUT_DEBOUNCE_MS);
    for (i = 0; i < BRIDGE_INPUTS; i++)
        if (changed & (1u << i))
            send_input(b, i);
}

void bridge_init(bridge_t *b, const bridge_hal_t *hal)
{
    static const uint8_t lead_in = 0x00;
    uint32_t now;
    uint8_t i;
    bp_msg_t m;

    memset(b, 0, sizeof *b);
    b->hal = hal;
    for (i = 0; i < BRIDGE_RELAYS; i++)
        hal->relay_write(hal->ctx, i, 0);
    hal->led_write(hal->ctx, BP_LED_OFF);
    hal->beeper_write(hal->ctx, 0);

    bp_rx_init(&b->rx, b->rx_buf, (uint16_t)sizeof b->rx_buf, BP_DIR_HOST_TO_BRIDGE);
    wiegand_init(&b->wiegand);
    debounce_init(&b->keys, 0);
    debounce_init(&b->inputs, (uint16_t)(hal->inputs_read(hal->ctx) & ((1u << BRIDGE_INPUTS) - 1u)));
    b->last_host_seq = -1;
    now = hal->millis(hal->ctx);
    b->last_scan_ms = now;
    b->host_seen_ms = now; /* the host gets BRIDGE_HOST_TIMEOUT_MS from boot to speak */
    b->next_heartbeat_ms = now + BRIDGE_HEARTBEAT_MS;

    /* Terminates whatever half frame the host holds, so that it does not swallow the HELLO. */
    hal->uart_write(hal->ctx, &lead_in, 1);
    m.type = BP_HELLO;
    m.u.hello.protocol = BP_PROTOCOL_VERSION;
    m.u.hello.firmware = (const uint8_t *)BRIDGE_FIRMWARE;
    m.u.hello.firmware_len = (uint16_t)(sizeof BRIDGE_FIRMWARE - 1u);
    send(b, &m);
    for (i = 0; i < BRIDGE_INPUTS; i++)
        send_input(b, i);
}

void bridge_poll(bridge_t *b)
{
    const bridge_hal_t *hal = b->hal;
    uint32_t now = hal->millis(hal->ctx);
    uint16_t n;
    uint8_t i;

    /* 1. Host frames. */
    for (n = 0; n < BRIDGE_RX_PER_POLL; n++) {
        bp_msg_t m;
        int16_t c = hal->uart_read(hal->ctx);
        if (c < 0)
            break;
        if (bp_rx_push(&b->rx, (uint8_t)c, &m, NULL) == BP_RX_FRAME)
            host_frame(b, &m, now);
    }

    /* 2. Keypad and inputs, once per millisecond. */
    if (now != b->last_scan_ms)
        scan(b, now);

    /* 3. A finished Wiegand read. The clock is read with the D0/D1 interrupts masked, so that no bit can
     *    arrive between reading it and deciding that the line has been silent. */
    {
        uint8_t data[WIEGAND_MAX_BYTES];
        uint8_t saved = hal->irq_save(hal->ctx);
        uint8_t bits = wiegand_poll(&b->wiegand, hal->millis(hal->ctx), data);
        hal->irq_restore(hal->ctx, saved);
        if (bits != 0) {
            bp_msg_t m;
            m.type = BP_WIEGAND;
            m.u.wiegand.bit_count = bits;
            m.u.wiegand.data = data;
            send(b, &m);
        }
    }

    /* 4. Pulses end here, whatever the host does. */
    for (i = 0; i < BRIDGE_RELAYS; i++)
        if (b->relay[i].on && elapsed_since(now, b->relay[i].start, b->relay[i].ms))
            relay_set(b, i, 0, 0, now);
    if (b->led.timed && elapsed_since(now, b->led.start, b->led.ms))
        b->led.timed = 0;

    /* 5. Host silence: fail secure. */
    if (!b->host_lost && elapsed_since(now, b->host_seen_ms, BRIDGE_HOST_TIMEOUT_MS)) {
        b->host_lost = 1;
        b->counters.host_timeouts++;
        all_relays_off(b, now);
        b->led.timed = 0;
        /* A retry comes within a second; after this long a repeated seq is a restarted host, not a retry. */
        b->last_host_seq = -1;
    }
    led_refresh(b);
    beep_refresh(b, now);

    /* 6. Heartbeat. */
    if ((int32_t)(now - b->next_heartbeat_ms) >= 0) {
        bp_msg_t m;
        m.type = BP_HEARTBEAT;
        m.u.heartbeat.uptime_ms = now;
        send(b, &m);
        b->next_heartbeat_ms += BRIDGE_HEARTBEAT_MS;
        if ((int32_t)(now - b->next_heartbeat_ms) >= 0) /* fell behind (stalled): no burst of heartbeats */
            b->next_heartbeat_ms = now + BRIDGE_HEARTBEAT_MS;
    }

    hal->watchdog_kick(hal->ctx);
}
