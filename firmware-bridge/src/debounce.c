#include "debounce.h"

void debounce_init(debounce_t *d, uint16_t initial)
{
    uint8_t i;
    d->stable = initial;
    for (i = 0; i < DEBOUNCE_MAX; i++)
        d->age[i] = 0;
}

uint16_t debounce_update(debounce_t *d, uint16_t raw, uint8_t count, uint8_t elapsed_ms, uint8_t threshold_ms)
{
    uint16_t changed = 0;
    uint8_t i;
    if (count > DEBOUNCE_MAX)
        count = DEBOUNCE_MAX;
    for (i = 0; i < count; i++) {
        uint16_t bit = (uint16_t)(1u << i);
        if ((raw ^ d->stable) & bit) {
            uint16_t age = (uint16_t)(d->age[i] + elapsed_ms);
            if (age >= threshold_ms) {
                d->stable ^= bit;
                changed |= bit;
                age = 0;
            }
            d->age[i] = (uint8_t)(age > 255u ? 255u : age);
        } else {
            d->age[i] = 0;
        }
    }
    return changed;
}
