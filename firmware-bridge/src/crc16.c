#include "crc16.h"

/* Bitwise rather than a 512-byte table: on the ATmega328P a table would cost flash, or RAM if not in
 * PROGMEM, and the bridge only checksums a few dozen bytes per frame. */
uint16_t crc16_update(uint16_t crc, uint8_t byte)
{
    uint8_t i;
    crc ^= (uint16_t)((uint16_t)byte << 8);
    for (i = 0; i < 8; i++) {
        if (crc & 0x8000u)
            crc = (uint16_t)((crc << 1) ^ 0x1021u);
        else
            crc = (uint16_t)(crc << 1);
    }
    return crc;
}

uint16_t crc16_ccitt_false(const uint8_t *data, size_t len)
{
    uint16_t crc = CRC16_INIT;
    size_t i;
    for (i = 0; i < len; i++)
        crc = crc16_update(crc, data[i]);
    return crc;
}
