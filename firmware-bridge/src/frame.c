#include "frame.h"

#include <string.h>

#include "crc16.h"

bool bp_type_known(uint8_t type)
{
    return (type >= BP_HELLO && type <= BP_ACK) || (type >= BP_RELAY && type <= BP_PING);
}

static bool type_accepted(uint8_t type, uint8_t dir)
{
    if (!bp_type_known(type))
        return false;
    if (dir == BP_DIR_BRIDGE_TO_HOST)
        return (type & 0x80u) == 0;
    if (dir == BP_DIR_HOST_TO_BRIDGE)
        return (type & 0x80u) != 0;
    return true;
}

static bool is_key(uint8_t k)
{
    return (k >= '0' && k <= '9') || k == '*' || k == '#';
}

/* The bits of a Wiegand message's last byte that lie after bit `bit_count` (0 for a multiple of 8). */
static uint8_t padding_mask(uint8_t bit_count)
{
    return (uint8_t)((1u << ((8u - (bit_count & 7u)) & 7u)) - 1u);
}

static uint16_t wiegand_bytes(uint8_t bit_count)
{
    return (uint16_t)((bit_count + 7u) / 8u);
}

bool bp_utf8_valid(const uint8_t *s, uint16_t len)
{
    uint16_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        uint8_t n, k;
        uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the first continuation byte */
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c == 0xE0) {
            n = 2;
            lo = 0xA0; /* overlong */
        } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
            n = 2;
        } else if (c == 0xED) {
            n = 2;
            hi = 0x9F; /* U+D800..U+DFFF: surrogates */
        } else if (c == 0xF0) {
            n = 3;
            lo = 0x90; /* overlong */
        } else if (c >= 0xF1 && c <= 0xF3) {
            n = 3;
        } else if (c == 0xF4) {
            n = 3;
            hi = 0x8F; /* above U+10FFFF */
        } else {
            return false; /* a continuation byte, C0/C1 (overlong) or F5..FF */
        }
        if ((uint16_t)(len - i - 1u) < n)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (k = 2; k <= n; k++)
            if ((s[i + k] & 0xC0u) != 0x80u)
                return false;
        i = (uint16_t)(i + n + 1u);
    }
    return true;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/*
 * The body's length rule, then its values; the same order as the host (src/protocol/bridge.ts, decodeBody).
 * Only `stored` of the `len` body bytes are in memory (the receiver keeps a prefix): when the checks need
 * bytes that were not kept, the run is too big for this receiver and is dropped as BP_OVERSIZE.
 */
static bp_reason_t decode_body(uint8_t type, uint8_t *body, uint16_t len, uint16_t stored, bp_msg_t *m)
{
    switch (type) {
    case BP_HELLO:
        if (len < 1)
            return BP_BAD_LENGTH;
        if (stored < len)
            return BP_OVERSIZE;
        if (!bp_utf8_valid(body + 1, (uint16_t)(len - 1u)))
            return BP_BAD_VALUE;
        m->u.hello.protocol = body[0];
        m->u.hello.firmware = body + 1;
        m->u.hello.firmware_len = (uint16_t)(len - 1u);
        return BP_OK;
    case BP_KEY:
        if (len != 1)
            return BP_BAD_LENGTH;
        if (!is_key(body[0]))
            return BP_BAD_VALUE;
        m->u.key.key = body[0];
        return BP_OK;
    case BP_WIEGAND: {
        uint8_t bits;
        if (len < 1)
            return BP_BAD_LENGTH;
        bits = body[0];
        if (bits == 0)
            return BP_BAD_VALUE;
        if (len != 1u + wiegand_bytes(bits))
            return BP_BAD_LENGTH;
        if (stored < len)
            return BP_OVERSIZE;
        /* Tolerant on receive: padding carries nothing; cleared so that a card always gives the same bytes. */
        body[len - 1u] = (uint8_t)(body[len - 1u] & (uint8_t)~padding_mask(bits));
        m->u.wiegand.bit_count = bits;
        m->u.wiegand.data = body + 1;
        return BP_OK;
    }
    case BP_SCAN:
        if (len < 1)
            return BP_BAD_LENGTH;
        if (stored < len)
            return BP_OVERSIZE;
        if (!bp_utf8_valid(body, len))
            return BP_BAD_VALUE;
        m->u.scan.text = body;
        m->u.scan.len = len;
        return BP_OK;
    case BP_FRAME:
        if (len < BP_FRAME_HEADER)
            return BP_BAD_LENGTH;
        if (stored < len)
            return BP_OVERSIZE;
        m->u.frame.frame_id = get16(body);
        m->u.frame.chunk_index = get16(body + 2);
        m->u.frame.chunk_count = get16(body + 4);
        m->u.frame.width = get16(body + 6);
        m->u.frame.height = get16(body + 8);
        if (m->u.frame.chunk_index >= m->u.frame.chunk_count)
            return BP_BAD_VALUE;
        m->u.frame.pixels = body + BP_FRAME_HEADER;
        m->u.frame.pixel_count = (uint16_t)(len - BP_FRAME_HEADER);
        return BP_OK;
    default:
        break;
    }

    /* Fixed-size bodies. */
    {
        uint16_t want;
        switch (type) {
        case BP_INPUT:
            want = 2;
            break;
        case BP_HEARTBEAT:
            want = 4;
            break;
        case BP_ACK:
        case BP_BEEP:
            want = 1;
            break;
        case BP_RELAY:
        case BP_LED:
            want = 3;
            break;
        default: /* BP_PING */
            want = 0;
            break;
        }
        if (len != want)
            return BP_BAD_LENGTH;
        if (stored < len)
            return BP_OVERSIZE;
    }
    switch (type) {
    case BP_INPUT:
        if (body[1] > 1)
            return BP_BAD_VALUE;
        m->u.input.input = body[0];
        m->u.input.level = body[1];
        break;
    case BP_HEARTBEAT:
        m->u.heartbeat.uptime_ms = ((uint32_t)get16(body) << 16) | get16(body + 2);
        break;
    case BP_ACK:
        m->u.ack.seq = body[0];
        break;
    case BP_RELAY:
        m->u.relay.channel = body[0];
        m->u.relay.ms = get16(body + 1);
        break;
    case BP_LED:
        if (body[0] > BP_LED_AMBER)
            return BP_BAD_VALUE;
        m->u.led.colour = body[0];
        m->u.led.ms = get16(body + 1);
        break;
    case BP_BEEP:
        if (body[0] < BP_BEEP_ACCEPT || body[0] > BP_BEEP_ALARM)
            return BP_BAD_VALUE;
        m->u.beep.pattern = body[0];
        break;
    default: /* BP_PING */
        break;
    }
    return BP_OK;
}

bp_reason_t bp_decode_payload(uint8_t *payload, uint16_t len, bp_dir_t dir, bp_msg_t *out)
{
    uint16_t end;
    if (len > BP_MAX_PAYLOAD)
        return BP_OVERSIZE;
    if (len < BP_MIN_PAYLOAD)
        return BP_TOO_SHORT;
    end = (uint16_t)(len - 2u);
    if (crc16_ccitt_false(payload, end) != get16(payload + end))
        return BP_BAD_CRC;
    if (!type_accepted(payload[0], (uint8_t)dir))
        return BP_UNKNOWN_TYPE;
    out->type = payload[0];
    out->seq = payload[1];
    return decode_body(payload[0], payload + 2, (uint16_t)(end - 2u), (uint16_t)(end - 2u), out);
}

/* Body length of a valid message, or -1 when a field is outside its values. */
static int32_t body_length(const bp_msg_t *m)
{
    switch (m->type) {
    case BP_HELLO:
        if (m->u.hello.firmware_len > BP_MAX_BODY - 1u ||
            !bp_utf8_valid(m->u.hello.firmware, m->u.hello.firmware_len))
            return -1;
        return 1 + (int32_t)m->u.hello.firmware_len;
    case BP_KEY:
        return is_key(m->u.key.key) ? 1 : -1;
    case BP_WIEGAND: {
        uint8_t bits = m->u.wiegand.bit_count;
        uint16_t n;
        if (bits == 0)
            return -1;
        n = wiegand_bytes(bits);
        /* Strict on send: padding must be 0, or equal credentials would differ on the wire. */
        if (m->u.wiegand.data[n - 1u] & padding_mask(bits))
            return -1;
        return 1 + (int32_t)n;
    }
    case BP_SCAN:
        if (m->u.scan.len == 0 || m->u.scan.len > BP_MAX_BODY || !bp_utf8_valid(m->u.scan.text, m->u.scan.len))
            return -1;
        return m->u.scan.len;
    case BP_FRAME:
        if (m->u.frame.chunk_count == 0 || m->u.frame.chunk_index >= m->u.frame.chunk_count ||
            m->u.frame.pixel_count > BP_MAX_BODY - BP_FRAME_HEADER)
            return -1;
        return (int32_t)BP_FRAME_HEADER + m->u.frame.pixel_count;
    case BP_INPUT:
        return m->u.input.level <= 1 ? 2 : -1;
    case BP_HEARTBEAT:
        return 4;
    case BP_ACK:
        return 1;
    case BP_RELAY:
        return 3;
    case BP_LED:
        return m->u.led.colour <= BP_LED_AMBER ? 3 : -1;
    case BP_BEEP:
        return (m->u.beep.pattern >= BP_BEEP_ACCEPT && m->u.beep.pattern <= BP_BEEP_ALARM) ? 1 : -1;
    case BP_PING:
        return 0;
    default:
        return -1;
    }
}

uint16_t bp_encode_payload(const bp_msg_t *m, uint8_t *out, uint16_t cap)
{
    int32_t body = body_length(m);
    uint16_t len, end;
    uint8_t *b = out + 2;

    if (body < 0 || (uint32_t)body + BP_MIN_PAYLOAD > cap)
        return 0;
    len = (uint16_t)(body + (int32_t)BP_MIN_PAYLOAD);
    out[0] = m->type;
    out[1] = m->seq;
    switch (m->type) {
    case BP_HELLO:
        b[0] = m->u.hello.protocol;
        memmove(b + 1, m->u.hello.firmware, m->u.hello.firmware_len);
        break;
    case BP_KEY:
        b[0] = m->u.key.key;
        break;
    case BP_WIEGAND:
        b[0] = m->u.wiegand.bit_count;
        memmove(b + 1, m->u.wiegand.data, wiegand_bytes(m->u.wiegand.bit_count));
        break;
    case BP_SCAN:
        memmove(b, m->u.scan.text, m->u.scan.len);
        break;
    case BP_FRAME:
        put16(b, m->u.frame.frame_id);
        put16(b + 2, m->u.frame.chunk_index);
        put16(b + 4, m->u.frame.chunk_count);
        put16(b + 6, m->u.frame.width);
        put16(b + 8, m->u.frame.height);
        memmove(b + BP_FRAME_HEADER, m->u.frame.pixels, m->u.frame.pixel_count);
        break;
    case BP_INPUT:
        b[0] = m->u.input.input;
        b[1] = m->u.input.level;
        break;
    case BP_HEARTBEAT:
        put16(b, (uint16_t)(m->u.heartbeat.uptime_ms >> 16));
        put16(b + 2, (uint16_t)m->u.heartbeat.uptime_ms);
        break;
    case BP_ACK:
        b[0] = m->u.ack.seq;
        break;
    case BP_RELAY:
        b[0] = m->u.relay.channel;
        put16(b + 1, m->u.relay.ms);
        break;
    case BP_LED:
        b[0] = m->u.led.colour;
        put16(b + 1, m->u.led.ms);
        break;
    case BP_BEEP:
        b[0] = m->u.beep.pattern;
        break;
    default: /* BP_PING: empty body */
        break;
    }
    end = (uint16_t)(len - 2u);
    put16(out + end, crc16_ccitt_false(out, end)); /* big-endian, like every integer on this wire */
    return len;
}

uint16_t bp_encode_frame(const bp_msg_t *m, uint8_t *out, uint16_t cap)
{
    int32_t body = body_length(m);
    uint16_t n;
    uint8_t *payload;
    size_t enc;

    if (body < 0)
        return 0;
    n = (uint16_t)(body + (int32_t)BP_MIN_PAYLOAD);
    if (cap < BP_FRAME_ROOM(n))
        return 0;
    /* Build the payload at the end of `out`, then COBS-encode it towards the start: the gap
     * (>= 2 + n / 254 bytes) is more than the encoder ever gets ahead of its input. */
    payload = out + (cap - n);
    if (bp_encode_payload(m, payload, n) != n)
        return 0;
    enc = cobs_encode(payload, n, out, (size_t)cap - 1u);
    out[enc] = 0x00; /* the delimiter */
    return (uint16_t)(enc + 1u);
}

static void rx_reset_run(bp_rx_t *rx)
{
    cobs_dec_init(&rx->cobs);
    rx->run_len = 0;
    rx->dec_len = 0;
    rx->crc = CRC16_INIT;
    rx->tail[0] = 0;
    rx->tail[1] = 0;
}

void bp_rx_init(bp_rx_t *rx, uint8_t *buf, uint16_t cap, bp_dir_t dir)
{
    memset(rx, 0, sizeof *rx);
    rx->buf = buf;
    rx->cap = cap < BP_MIN_PAYLOAD ? BP_MIN_PAYLOAD : cap;
    rx->dir = (uint8_t)dir;
    rx_reset_run(rx);
}

uint32_t bp_rx_pending(const bp_rx_t *rx)
{
    return rx->run_len;
}

static void rx_emit(bp_rx_t *rx, uint8_t b)
{
    if (rx->dec_len < rx->cap)
        rx->buf[rx->dec_len] = b;
    /* The CRC covers all but the last two bytes, which are only known once the run ends: keep them back. */
    if (rx->dec_len >= 2)
        rx->crc = crc16_update(rx->crc, rx->tail[0]);
    rx->tail[0] = rx->tail[1];
    rx->tail[1] = b;
    rx->dec_len++;
}

static bp_reason_t rx_finish(bp_rx_t *rx, bp_msg_t *msg)
{
    uint16_t body_len, stored;
    uint8_t type;

    if (rx->run_len > BP_MAX_ENCODED)
        return BP_OVERSIZE; /* checked first: such a run was never stored nor decoded */
    if (!cobs_dec_complete(&rx->cobs))
        return BP_BAD_COBS;
    if (rx->dec_len > BP_MAX_PAYLOAD)
        return BP_OVERSIZE;
    if (rx->dec_len < BP_MIN_PAYLOAD)
        return BP_TOO_SHORT;
    if (rx->crc != (uint16_t)(((uint16_t)rx->tail[0] << 8) | rx->tail[1]))
        return BP_BAD_CRC;
    type = rx->buf[0];
    if (!type_accepted(type, rx->dir))
        return BP_UNKNOWN_TYPE;
    body_len = (uint16_t)(rx->dec_len - BP_MIN_PAYLOAD);
    stored = (uint16_t)((rx->dec_len < rx->cap ? rx->dec_len : rx->cap) - 2u);
    if (stored > body_len)
        stored = body_len;
    msg->type = type;
    msg->seq = rx->buf[1];
    return decode_body(type, rx->buf + 2, body_len, stored, msg);
}

bp_rx_status_t bp_rx_push(bp_rx_t *rx, uint8_t byte, bp_msg_t *msg, bp_reason_t *why)
{
    bp_reason_t r;

    if (byte != 0x00) {
        if (rx->run_len != UINT32_MAX)
            rx->run_len++;
        if (rx->run_len <= BP_MAX_ENCODED) {
            int16_t b = cobs_dec_step(&rx->cobs, byte);
            if (b >= 0)
                rx_emit(rx, (uint8_t)b);
        }
        return BP_RX_NEED_MORE;
    }
    if (rx->run_len == 0)
        return BP_RX_SKIP;
    r = rx_finish(rx, msg);
    rx_reset_run(rx);
    if (r == BP_OK) {
        rx->frames++;
        return BP_RX_FRAME;
    }
    rx->dropped[r]++;
    if (why)
        *why = r;
    return BP_RX_DROP;
}
