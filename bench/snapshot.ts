/**
 * A deterministic, realistic 100k-pass snapshot for the benchmark (docs/pass-format.md shapes):
 * visitors with PIN + QR (some weekly windows, some single/limited use), couriers with PIN + card and an
 * access group, staff on weekly windows, residents with card + QR; a few expired, not-yet-valid and
 * revoked passes, and a few carrying use counts from other devices. All credential values are unique.
 */
import type { CredentialType } from '../src/core/decide.js';
import type { Weekday } from '../src/core/schedule.js';
import { Prng } from './stats.js';

const DAY = 86_400_000;
const QR_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
const DAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const FIRST = [
  'Sam',
  'Dana',
  'Alex',
  'Maria',
  'Jonas',
  'Priya',
  'Chen',
  'Lea',
  'Omar',
  'Ines',
  'Tom',
  'Yuki',
];
const LAST = ['Ortiz', 'Whitfield', 'Meyer', 'Novak', 'Rossi', 'Kim', 'Silva', 'Berg', 'Haddad', 'Costa'];
const CARRIERS = ['DHL', 'UPS', 'DPD', 'Hermes', 'GLS', 'FedEx', 'Amazon'];

export interface SampleCredential {
  readonly type: CredentialType;
  /** As a reader would present it (card numbers sometimes with leading zeros). */
  readonly value: string;
}

/** What kind of credential pair a pass holds, by pass index (a compact record kept for the draws). */
export const Pair = { PinQr: 0, PinCard: 1, CardQr: 2 } as const;
export type Pair = (typeof Pair)[keyof typeof Pair];

/**
 * The credentials of pass `i`: a pure function of the index, so the bench need not keep 100k credential
 * lists in memory. Values are unique by construction: PINs are 6 digits from a bijection of the index
 * (mod 10^6), card numbers 10 digits from a bijection mod 9*10^9, QR texts end with the index in base 32.
 */
export function credentialsOf(pair: Pair, i: number): SampleCredential[] {
  const pin = (): SampleCredential => ({
    type: 'pin',
    value: String((i * 7_919 + 271_828) % 1_000_000).padStart(6, '0'),
  });
  const card = (): SampleCredential => ({
    type: 'card',
    value: String(1_000_000_000 + ((i * 2_654_435_761 + 314_159_265) % 9_000_000_000)),
  });
  const qr = (): SampleCredential => {
    const r = new Prng(0x9e3779b9 ^ i);
    return { type: 'qr', value: `DP1-${r.text(20, QR_ALPHABET)}${i.toString(32).padStart(4, '0')}` };
  };
  return pair === Pair.PinQr ? [pin(), qr()] : pair === Pair.PinCard ? [pin(), card()] : [card(), qr()];
}

/**
 * A credential no pass holds: lengths no pass uses (7-digit PIN, 11-digit card, 29-character QR), so no
 * lookup table is needed to keep it unknown.
 */
export function unknownCredential(rng: Prng): SampleCredential {
  const type = rng.pick<CredentialType>(['pin', 'pin', 'card', 'qr']);
  const value =
    type === 'pin'
      ? rng.digits(7)
      : type === 'card'
        ? String(rng.int(1, 9)) + rng.digits(10)
        : `DP1-${rng.text(25, QR_ALPHABET)}`;
  return { type, value };
}

export interface GeneratedSnapshot {
  readonly snapshot: { accessGroups: unknown[]; passes: unknown[] };
  /** The credential pair of each pass, by pass index (see credentialsOf). */
  readonly pairs: Uint8Array;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export const ACCESS_GROUPS = [
  {
    id: 'couriers-day',
    name: 'Courier hours',
    schedule: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat'], start: '07:00', end: '21:00' }],
  },
  {
    id: 'couriers-early',
    name: 'Early deliveries',
    schedule: [
      { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '05:30', end: '12:00' },
      { days: ['sat'], start: '06:00', end: '10:00' },
    ],
  },
  {
    id: 'couriers-night',
    name: 'Night freight',
    schedule: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '21:00', end: '06:00' }],
  },
  {
    id: 'groceries',
    name: 'Grocery deliveries',
    schedule: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '08:00', end: '22:00' }],
  },
] as const;

/** Generates `count` passes valid around `now`, from `seed`. */
export function generateSnapshot(count: number, now: number, seed: number): GeneratedSnapshot {
  const rng = new Prng(seed);
  const pairs = new Uint8Array(count);
  const person = (): string => `${rng.pick(FIRST)} ${rng.pick(LAST)}`;
  const weeklyWindow = (): { mode: 'weekly'; days: Weekday[]; start: string; end: string } => {
    const days = DAYS.filter(() => rng.chance(0.55));
    const start = rng.int(5, 10);
    const end = rng.int(14, 22);
    return {
      mode: 'weekly',
      days: days.length > 0 ? days : ['wed'],
      start: `${String(start).padStart(2, '0')}:${rng.pick(['00', '30'])}`,
      end: `${end}:${rng.pick(['00', '15', '30', '45'])}`,
    };
  };

  const passes: unknown[] = [];
  for (let i = 0; i < count; i++) {
    const unit = `${rng.int(1, 40)}${String(rng.int(1, 12)).padStart(2, '0')}`;
    const issuer = { id: `res-${unit}`, name: person(), unit };
    // Validity: mostly live around now; ~3% expired, ~2% not yet valid.
    const roll = rng.next();
    const validFrom =
      roll < 0.03
        ? now - rng.int(20, 60) * DAY
        : roll < 0.05
          ? now + rng.int(1, 10) * DAY
          : now - rng.int(0, 20) * DAY;
    const validUntil = roll < 0.03 ? now - rng.int(1, 19) * DAY : validFrom + rng.int(21, 90) * DAY;
    const kindRoll = rng.next();
    const base = {
      id: `p-${String(i).padStart(6, '0')}`,
      version: rng.int(1, 5),
      issuer,
      building: 'A',
      apartment: unit,
      validFrom: iso(validFrom),
      validUntil: iso(validUntil),
      ...(rng.chance(0.01) && { revoked: true }),
    };
    let pass: Record<string, unknown>;
    let pair: Pair;
    if (kindRoll < 0.55) {
      pair = Pair.PinQr;
      const limitRoll = rng.next();
      pass = {
        ...base,
        kind: 'visitor',
        name: rng.pick(['Guest', 'Weekend guest', 'Family visit', 'Plumber', 'Babysitter', 'Dog walker']),
        recipient: {
          name: person(),
          email: `guest${i}@example.org`,
          phone: `+49 30 ${rng.digits(8)}`,
        },
        doors: rng.chance(0.8) ? ['lobby'] : ['lobby', 'garage'],
        credentials: credentialsOf(pair, i),
        repeat: rng.chance(0.3) ? weeklyWindow() : { mode: 'never' },
        ...(limitRoll < 0.15 && { maxUses: rng.int(1, 10) }),
        ...(limitRoll >= 0.15 && limitRoll < 0.2 && { maxUsesPerDevice: rng.int(1, 5) }),
        ...(rng.chance(0.02) && { uses: { 'door-2': rng.int(0, 3) } }),
      };
    } else if (kindRoll < 0.85) {
      pair = Pair.PinCard;
      pass = {
        ...base,
        kind: 'courier',
        name: `${rng.pick(CARRIERS)} courier`,
        doors: ['lobby', 'garage'],
        floors: [0, rng.int(1, 40)],
        credentials: credentialsOf(pair, i),
        repeat: { mode: 'never' },
        accessGroup: rng.pick(ACCESS_GROUPS).id,
        ...(rng.chance(0.1) && { maxUses: rng.int(5, 50) }),
      };
    } else if (kindRoll < 0.95) {
      pair = Pair.PinCard;
      pass = {
        ...base,
        kind: 'staff',
        name: rng.pick(['Cleaner', 'Caretaker', 'Nurse', 'Gardener']),
        doors: '*',
        credentials: credentialsOf(pair, i),
        repeat: weeklyWindow(),
      };
    } else {
      pair = Pair.CardQr;
      pass = {
        ...base,
        kind: 'resident',
        name: person(),
        doors: '*',
        floors: [0, rng.int(1, 40)],
        credentials: credentialsOf(pair, i),
        repeat: { mode: 'daily', start: '00:00', end: '00:00' },
      };
    }
    passes.push(pass);
    pairs[i] = pair;
  }

  return { snapshot: { accessGroups: ACCESS_GROUPS.map((g) => structuredClone(g)), passes }, pairs };
}
