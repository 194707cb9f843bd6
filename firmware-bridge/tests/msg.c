#include "msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    uint8_t code;
} TYPES[] = {
    {"hello", BP_HELLO}, {"key", BP_KEY},   {"wiegand", BP_WIEGAND}, {"scan", BP_SCAN},
    {"frame", BP_FRAME}, {"input", BP_INPUT}, {"heartbeat", BP_HEARTBEAT}, {"ack", BP_ACK},
    {"relay", BP_RELAY}, {"led", BP_LED},   {"beep", BP_BEEP},       {"ping", BP_PING},
};

uint8_t type_code(const char *name)
{
    size_t i;
    for (i = 0; name && i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (strcmp(TYPES[i].name, name) == 0)
            return TYPES[i].code;
    return 0;
}

const char *to_hex(const uint8_t *b, size_t n, char *out, size_t out_len)
{
    size_t i;
    if (out_len == 0)
        return out;
    out[0] = '\0';
    for (i = 0; i < n && 2 * i + 2 < out_len; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return out;
}

void msg_store_free(msg_store_t *store)
{
    free(store->bytes);
    store->bytes = NULL;
}

static uint16_t u16(const json_t *jm, const char *key)
{
    return (uint16_t)json_num(jm, key, 0);
}

int msg_from_json(const json_t *jm, uint8_t seq, bp_msg_t *m, msg_store_t *store)
{
    const char *type = json_str(jm, "type");
    const char *hex;
    const json_t *s;
    size_t n;

    memset(m, 0, sizeof *m);
    store->bytes = NULL;
    m->type = type_code(type);
    m->seq = seq;
    switch (m->type) {
    case BP_HELLO:
        s = json_get(jm, "firmware");
        if (!s || s->type != JSON_STRING)
            return -1;
        m->u.hello.protocol = (uint8_t)json_num(jm, "protocol", 0);
        m->u.hello.firmware = (const uint8_t *)s->str;
        m->u.hello.firmware_len = (uint16_t)s->len;
        return 0;
    case BP_KEY:
        hex = json_str(jm, "key");
        if (!hex || strlen(hex) != 1)
            return -1;
        m->u.key.key = (uint8_t)hex[0];
        return 0;
    case BP_WIEGAND:
        hex = json_str(jm, "data");
        if (!hex || !(store->bytes = hex_decode(hex, &n)))
            return -1;
        m->u.wiegand.bit_count = (uint8_t)json_num(jm, "bitCount", 0);
        m->u.wiegand.data = store->bytes;
        return 0;
    case BP_SCAN:
        s = json_get(jm, "text");
        if (!s || s->type != JSON_STRING)
            return -1;
        m->u.scan.text = (const uint8_t *)s->str;
        m->u.scan.len = (uint16_t)s->len;
        return 0;
    case BP_FRAME:
        hex = json_str(jm, "pixels");
        if (!hex || !(store->bytes = hex_decode(hex, &n)))
            return -1;
        m->u.frame.frame_id = u16(jm, "frameId");
        m->u.frame.chunk_index = u16(jm, "chunkIndex");
        m->u.frame.chunk_count = u16(jm, "chunkCount");
        m->u.frame.width = u16(jm, "width");
        m->u.frame.height = u16(jm, "height");
        m->u.frame.pixels = store->bytes;
        m->u.frame.pixel_count = (uint16_t)n;
        return 0;
    case BP_INPUT:
        m->u.input.input = (uint8_t)json_num(jm, "input", 0);
        m->u.input.level = (uint8_t)json_num(jm, "level", 0);
        return 0;
    case BP_HEARTBEAT:
        m->u.heartbeat.uptime_ms = (uint32_t)json_num(jm, "uptimeMs", 0);
        return 0;
    case BP_ACK:
        m->u.ack.seq = (uint8_t)json_num(jm, "seq", 0);
        return 0;
    case BP_RELAY:
        m->u.relay.channel = (uint8_t)json_num(jm, "channel", 0);
        m->u.relay.ms = u16(jm, "ms");
        return 0;
    case BP_LED:
        m->u.led.colour = (uint8_t)json_num(jm, "colour", 0);
        m->u.led.ms = u16(jm, "ms");
        return 0;
    case BP_BEEP:
        m->u.beep.pattern = (uint8_t)json_num(jm, "pattern", 0);
        return 0;
    case BP_PING:
        return 0;
    default:
        return -1;
    }
}

static int bytes_equal(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

int msg_equal(const bp_msg_t *a, const bp_msg_t *b, char *why, size_t why_len)
{
#define DIFF(what)                                                                                           \
    do {                                                                                                     \
        snprintf(why, why_len, "%s differs", what);                                                         \
        return 0;                                                                                            \
    } while (0)
    if (a->type != b->type)
        DIFF("type");
    if (a->seq != b->seq)
        DIFF("seq");
    switch (a->type) {
    case BP_HELLO:
        if (a->u.hello.protocol != b->u.hello.protocol)
            DIFF("protocol");
        if (!bytes_equal(a->u.hello.firmware, a->u.hello.firmware_len, b->u.hello.firmware,
                         b->u.hello.firmware_len))
            DIFF("firmware");
        break;
    case BP_KEY:
        if (a->u.key.key != b->u.key.key)
            DIFF("key");
        break;
    case BP_WIEGAND:
        if (a->u.wiegand.bit_count != b->u.wiegand.bit_count)
            DIFF("bitCount");
        if (!bytes_equal(a->u.wiegand.data, (a->u.wiegand.bit_count + 7u) / 8u, b->u.wiegand.data,
                         (b->u.wiegand.bit_count + 7u) / 8u))
            DIFF("data");
        break;
    case BP_SCAN:
        if (!bytes_equal(a->u.scan.text, a->u.scan.len, b->u.scan.text, b->u.scan.len))
            DIFF("text");
        break;
    case BP_FRAME:
        if (a->u.frame.frame_id != b->u.frame.frame_id || a->u.frame.chunk_index != b->u.frame.chunk_index ||
            a->u.frame.chunk_count != b->u.frame.chunk_count || a->u.frame.width != b->u.frame.width ||
            a->u.frame.height != b->u.frame.height)
            DIFF("frame header");
        if (!bytes_equal(a->u.frame.pixels, a->u.frame.pixel_count, b->u.frame.pixels, b->u.frame.pixel_count))
            DIFF("pixels");
        break;
    case BP_INPUT:
        if (a->u.input.input != b->u.input.input || a->u.input.level != b->u.input.level)
            DIFF("input");
        break;
    case BP_HEARTBEAT:
        if (a->u.heartbeat.uptime_ms != b->u.heartbeat.uptime_ms)
            DIFF("uptimeMs");
        break;
    case BP_ACK:
        if (a->u.ack.seq != b->u.ack.seq)
            DIFF("ack seq");
        break;
    case BP_RELAY:
        if (a->u.relay.channel != b->u.relay.channel || a->u.relay.ms != b->u.relay.ms)
            DIFF("relay");
        break;
    case BP_LED:
        if (a->u.led.colour != b->u.led.colour || a->u.led.ms != b->u.led.ms)
            DIFF("led");
        break;
    case BP_BEEP:
        if (a->u.beep.pattern != b->u.beep.pattern)
            DIFF("pattern");
        break;
    default:
        break;
    }
    return 1;
#undef DIFF
}
