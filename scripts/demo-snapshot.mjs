#!/usr/bin/env node
// Prints a demo snapshot whose passes are valid around "now", so the example config always has live passes.
// The version is the current day number: re-running on a later day refreshes the validity windows.
const day = 86_400_000;
const now = Date.now();
const version = Math.floor(now / day);
const iso = (ms) => new Date(ms).toISOString();
const issuer = { id: 'res-1204', name: 'Dana Whitfield', unit: '1204' };
const base = {
  version,
  issuer,
  doors: ['lobby'],
  validFrom: iso(now - day),
  validUntil: iso(now + 30 * day),
};
console.log(
  JSON.stringify(
    {
      accessGroups: [
        {
          id: 'couriers',
          name: 'Courier hours',
          schedule: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat'], start: '07:00', end: '21:00' }],
        },
      ],
      passes: [
        {
          ...base,
          id: 'demo-guest',
          kind: 'visitor',
          name: 'Weekend guest',
          recipient: { name: 'Sam Ortiz' },
          credentials: [
            { type: 'pin', value: '123456' },
            { type: 'qr', value: 'DEMO-VISITOR-QR' },
          ],
          repeat: { mode: 'never' },
        },
        {
          ...base,
          id: 'demo-single',
          kind: 'visitor',
          name: 'Plumber (single use)',
          credentials: [{ type: 'pin', value: '2468' }],
          repeat: { mode: 'never' },
          maxUses: 1,
        },
        {
          ...base,
          id: 'demo-courier',
          kind: 'courier',
          name: 'Parcel courier',
          doors: ['lobby', 'garage'],
          floors: [1, 12],
          credentials: [
            { type: 'pin', value: '97531' },
            { type: 'card', value: '3735928559' },
          ],
          repeat: { mode: 'never' },
          accessGroup: 'couriers',
        },
        {
          ...base,
          id: 'demo-cleaner',
          kind: 'staff',
          name: 'Cleaner (weekday mornings)',
          credentials: [{ type: 'pin', value: '5555' }],
          repeat: { mode: 'weekly', days: ['mon', 'wed', 'fri'], start: '06:00', end: '10:00' },
        },
      ],
    },
    null,
    2,
  ),
);
