/*
 * CRC-16/CCITT-FALSE (Greg Cook's catalogue: CRC-16/IBM-3740): width 16, poly 0x1021, init 0xFFFF,
 * not reflected, no final XOR. Check value: "123456789" -> 0x29B1. docs/serial-protocol.md, "Frame".
 */
#ifndef BRIDGE_CRC16_H
#define BRIDGE_CRC16_H

#include <stddef.h>
#include <stdint.h>

#define CRC16_INIT 0xFFFFu

/** Feeds one byte into a running CRC (start from CRC16_INIT). */
uint16_t crc16_update(uint16_t crc, uint8_t byte);

/** The CRC of `len` bytes. */
uint16_t crc16_ccitt_false(const uint8_t *data, size_t len);

#endif
