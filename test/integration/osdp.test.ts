/**
 * The OSDP control panel against the independent reader simulator (test/helpers/osdp-sim) over real
 * pseudo-terminal pairs opened with the real serialport binding: cards, keypads, feedback, outputs and inputs,
 * faults on the line, reader restarts and the secure channel.
 */
import t, { type Test } from 'tap';
import { OsdpBus, type KeyInstallRecord, type OsdpReaderOptions } from '../../src/adapters/osdp/bus.js';
import {
  OsdpReaderInput,
  OsdpRelay,
  OsdpSensor,
  type ReaderCondition,
} from '../../src/adapters/osdp/devices.js';
import { systemClock } from '../../src/app/relay.js';
import { encodeWiegand } from '../../src/protocol/wiegand.js';
import type { InputHandler } from '../../src/ports/io.js';
import { Cmd, OsdpBusSim, type SimReaderOptions } from '../helpers/osdp-sim/index.js';
import { recordingLogger } from '../helpers/fakes.js';
import { haveSocat, ptyPair } from '../helpers/pty.js';

if (!haveSocat()) {
  t.fail('socat is not installed (scripts/test.sh installs it)');
  t.end();
}

const KEY = Buffer.from('000102030405060708090A0B0C0D0E0F', 'hex');
const OTHER_KEY = Buffer.from('F0E0D0C0B0A090807060504030201000', 'hex');

function bits(bitCount: number, data: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bitCount; i++) s += ((data[i >> 3] ?? 0) >> (7 - (i & 7))) & 1 ? '1' : '0';
  return s;
}
const card = encodeWiegand('h10301', 42, 1234);
const CARD_BITS = bits(card.bitCount, card.data);
const CARD_VALUE = String(42 * 65536 + 1234);

class Recorder implements InputHandler {
  events: string[] = [];
  key(key: string): void {
    this.events.push(`key ${key}`);
  }
  credential(type: string, value: string): void {
    this.events.push(`${type} ${value}`);
  }
  readError(detail: string): void {
    this.events.push(`error ${detail}`);
  }
  online(online: boolean, detail?: string): void {
    this.events.push(`${online ? 'online' : 'offline'} ${detail ?? ''}`);
  }
}

async function until(cond: () => boolean, what: string, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Setup {
  readonly bus: OsdpBus;
  readonly sim: OsdpBusSim;
  readonly inputs: Map<number, OsdpReaderInput>;
  readonly rec: Map<number, Recorder>;
  readonly log: ReturnType<typeof recordingLogger>;
}

async function setup(
  t: Test,
  readers: OsdpReaderOptions[],
  simReaders: SimReaderOptions[],
  extra: {
    offlineMs?: number;
    keyRecord?: KeyInstallRecord;
    handshakeRetryMs?: number;
    baudRate?: number;
  } = {},
): Promise<Setup> {
  const pty = await ptyPair();
  const baudRate = extra.baudRate ?? 115200;
  const sim = await OsdpBusSim.open(pty.device, baudRate, simReaders);
  const log = recordingLogger();
  const bus = new OsdpBus(
    {
      path: pty.host,
      baudRate,
      readers,
      ...(extra.offlineMs !== undefined && { offlineMs: extra.offlineMs }),
      ...(extra.keyRecord !== undefined && { keyRecord: extra.keyRecord }),
      handshakeRetryMs: extra.handshakeRetryMs ?? 300,
    },
    systemClock,
    log,
  );
  const inputs = new Map<number, OsdpReaderInput>();
  const rec = new Map<number, Recorder>();
  for (const r of readers) {
    const input = new OsdpReaderInput(bus, r.address, { wiegand: { format: 'auto', mapping: 'data' } });
    const recorder = new Recorder();
    inputs.set(r.address, input);
    rec.set(r.address, recorder);
    input.start(recorder);
  }
  t.teardown(async () => {
    for (const i of inputs.values()) await i.stop();
    await sim.close();
    await pty.close();
  });
  return { bus, sim, inputs, rec, log };
}

const plain = (address: number): OsdpReaderOptions => ({ address, secure: false });

t.test(
  'plain reader: card, keypad, LED/BUZ feedback, OUT as a relay, inputs as sensors, tamper/power',
  async (t) => {
    const { bus, sim, inputs, rec } = await setup(t, [plain(1)], [{ address: 1 }]);
    const r = sim.reader(1);
    const events = rec.get(1) as Recorder;
    await until(() => bus.isOnline(1), 'reader online');
    t.equal(bus.isSecure(1), false);
    t.match(bus.identity(1), { vendor: 'db0a55', serial: 0x1001 });
    t.same(
      r.received.slice(0, 2).map((c) => [c.name, c.seq]),
      [
        ['osdp_ID', 0],
        ['osdp_CAP', 1],
      ],
      'starts with sequence 0, then 1',
    );
    t.ok(
      r.received.every((c) => !c.secure),
      'plain mode: no security block',
    );

    r.presentCard(CARD_BITS);
    await until(() => events.events.includes(`card ${CARD_VALUE}`), 'card read');
    r.pressKeys('12*#');
    await until(() => events.events.filter((e) => e.startsWith('key')).length === 4, 'keys');
    t.same(
      events.events.filter((e) => e.startsWith('key')),
      ['key 1', 'key 2', 'key *', 'key #'],
    );

    const input = inputs.get(1) as OsdpReaderInput;
    input.feedback('accept');
    await until(() => r.led.color === 'green' && r.buzzer.tone === 'default', 'green LED and a beep');
    t.equal(r.buzzer.onTime, 1, 'a short beep (100 ms)');
    input.feedback('deny');
    await until(() => r.led.color === 'red' && r.buzzer.onTime === 10, 'red LED and a long beep');
    input.feedback('locked_out');
    await until(() => r.led.color === 'amber', 'amber LED');

    const relay = new OsdpRelay(bus, 1, 0);
    relay.pulse(3000);
    await until(() => r.outputs[0] === true, 'output 0 on');
    t.match(r.outputCommands.at(-1), { output: 0, controlCode: 5, timer: 30 });
    relay.release();
    await until(() => r.outputs[0] === false, 'output 0 off');

    const sensor = new OsdpSensor(bus, 1, 2, false);
    const levels: boolean[] = [];
    sensor.start((a) => levels.push(a));
    r.setInput(2, true);
    await until(() => levels.length === 1, 'input 2 active');
    r.setInput(2, false);
    await until(() => levels.length === 2, 'input 2 inactive');
    t.same(levels, [true, false]);
    sensor.stop();

    const conditions: ReaderCondition[] = [];
    input.onCondition((c) => conditions.push(c));
    r.setTamper(true);
    r.setPower(false);
    await until(() => conditions.length === 2, 'tamper and power reported');
    r.setTamper(false);
    await until(() => conditions.length === 3, 'tamper cleared');
    t.same(conditions, [
      { kind: 'tamper', active: true },
      { kind: 'power', active: true },
      { kind: 'tamper', active: false },
    ]);
    t.equal(events.events.filter((e) => e.startsWith('card')).length, 1);
  },
);

t.test(
  'a dropped reply, a bad CRC and a wrong sequence number: retransmitted, one card read each',
  async (t) => {
    const { bus, sim, rec } = await setup(t, [plain(1)], [{ address: 1 }]);
    const r = sim.reader(1);
    const events = rec.get(1) as Recorder;
    await until(() => bus.isOnline(1), 'online');
    const cards = (): number => events.events.filter((e) => e.startsWith('card')).length;

    r.dropNextReply();
    r.presentCard(CARD_BITS);
    await until(() => cards() === 1, 'card after a dropped reply');
    r.corruptNextReplyCrc();
    r.presentCard(CARD_BITS);
    await until(() => cards() === 2, 'card after a bad CRC');
    r.wrongSequenceOnNextReply();
    r.presentCard(CARD_BITS);
    await until(() => cards() === 3, 'card after a wrong sequence number');
    // Let the line settle: no read is ever delivered twice.
    await new Promise((res) => setTimeout(res, 300));
    t.equal(cards(), 3, 'each card once');
    t.ok(r.received.filter((c) => c.repeat).length >= 3, 'the reader saw retransmissions (same sequence)');
    t.ok((bus.counters.discarded.bad_check ?? 0) >= 1, 'the bad CRC was counted');
    t.ok(bus.counters.unexpected >= 1, 'the wrong sequence number was ignored');
    t.ok(bus.counters.retransmits >= 3);
    t.ok(
      events.events.every((e) => !e.startsWith('offline')),
      'never offline',
    );
  },
);

t.test('a reader that goes silent is offline, and comes back with sequence 0', async (t) => {
  const { bus, sim, rec } = await setup(t, [plain(1)], [{ address: 1 }], { offlineMs: 1500 });
  const r = sim.reader(1);
  const events = rec.get(1) as Recorder;
  await until(() => bus.isOnline(1), 'online');
  r.silent = true;
  await until(() => events.events.some((e) => e.startsWith('offline')), 'offline');
  t.match(
    events.events.find((e) => e.startsWith('offline')),
    /no reply/,
  );
  const since = r.received.length;
  r.silent = false;
  await until(() => events.events.at(-1)?.startsWith('online') === true, 'online again');
  t.same([r.received[since]?.name, r.received[since]?.seq], ['osdp_ID', 0], 'brought back with sequence 0');
  r.presentCard(CARD_BITS);
  await until(() => events.events.includes(`card ${CARD_VALUE}`), 'card after coming back');
});

t.test(
  'a reader restart (it NAKs the sequence) is resumed from sequence 0 without going offline',
  async (t) => {
    const { bus, sim, rec } = await setup(t, [plain(1)], [{ address: 1 }]);
    const r = sim.reader(1);
    const events = rec.get(1) as Recorder;
    await until(() => bus.isOnline(1), 'online');
    const since = r.received.length;
    r.restart();
    await until(() => r.received.slice(since).some((c) => c.seq === 0), 'sequence 0 after the restart');
    r.presentCard(CARD_BITS);
    await until(() => events.events.includes(`card ${CARD_VALUE}`), 'card after the restart');
    t.ok(bus.counters.naks >= 1, 'the sequence NAK was seen');
    t.ok(events.events.every((e) => !e.startsWith('offline')));
  },
);

t.test('secure channel: handshake with the reader key, sealed commands, encrypted card data', async (t) => {
  const { bus, sim, inputs, rec } = await setup(
    t,
    [{ address: 3, secure: true, scbk: KEY }],
    [{ address: 3, scbk: KEY, requireSecure: true }],
    { baudRate: 9600 },
  );
  const r = sim.reader(3);
  const events = rec.get(3) as Recorder;
  await until(() => bus.isOnline(3), 'online');
  t.equal(bus.isSecure(3), true);
  t.equal(r.secureEstablished, true);
  r.presentCard(CARD_BITS);
  r.pressKeys('9#');
  await until(
    () => events.events.includes(`card ${CARD_VALUE}`) && events.events.includes('key #'),
    'card, keys',
  );
  (inputs.get(3) as OsdpReaderInput).feedback('accept');
  await until(() => r.led.color === 'green', 'LED green');
  const after = r.received.filter((c) => c.name === 'osdp_POLL' || c.name === 'osdp_LED');
  t.ok(after.length > 0 && after.every((c) => c.secure), 'every command after the handshake is sealed');
  t.equal(r.received.filter((c) => c.code === Cmd.KEYSET).length, 0, 'no KEYSET without installKey');
});

t.test('secure channel: a wrong key fails, the reader is not used (no plain fallback)', async (t) => {
  const { bus, sim, rec } = await setup(
    t,
    [{ address: 1, secure: true, scbk: OTHER_KEY }],
    [{ address: 1, scbk: KEY }],
  );
  const r = sim.reader(1);
  const events = rec.get(1) as Recorder;
  await until(() => events.events.some((e) => e.startsWith('offline')), 'reported unusable');
  t.match(
    events.events.find((e) => e.startsWith('offline')),
    /secure channel failed/,
  );
  t.equal(bus.isOnline(1), false);
  t.equal(r.secureEstablished, false);
  t.equal(r.received.filter((c) => c.name === 'osdp_POLL').length, 0, 'never polled in plain mode');
});

t.test('secure channel: a reader that refuses it is reported, and never used in plain mode', async (t) => {
  const { bus, sim, rec } = await setup(
    t,
    [{ address: 1, secure: true, scbk: KEY }],
    [{ address: 1, scbk: KEY }],
  );
  const r = sim.reader(1);
  r.refuseSecureChannel = true;
  const events = rec.get(1) as Recorder;
  await until(() => events.events.some((e) => e.startsWith('offline')), 'reported');
  t.match(
    events.events.find((e) => e.startsWith('offline')),
    /refuses the secure channel/,
  );
  t.equal(bus.isOnline(1), false);
  t.equal(r.received.filter((c) => c.name === 'osdp_POLL').length, 0);
  // Once it accepts (e.g. reconfigured), the next attempt succeeds.
  r.refuseSecureChannel = false;
  await until(() => bus.isOnline(1) && bus.isSecure(1), 'secure after all');
});

t.test('installKey: KEYSET over SCBK-D once, recorded; then the reader key is used', async (t) => {
  const recorded = new Set<number>();
  const keyRecord: KeyInstallRecord = {
    installed: (a) => recorded.has(a),
    record: (a) => void recorded.add(a),
  };
  const { bus, sim, log } = await setup(
    t,
    [{ address: 1, secure: true, scbk: KEY, installKey: true }],
    [{ address: 1, installMode: true }],
    { keyRecord },
  );
  const r = sim.reader(1);
  await until(() => bus.isOnline(1) && bus.isSecure(1), 'secure with the new key');
  t.same(r.scbk, KEY, 'the reader now holds our key');
  t.equal(r.installMode, false);
  t.equal(r.received.filter((c) => c.code === Cmd.KEYSET).length, 1, 'one KEYSET');
  t.ok(recorded.has(1), 'recorded');
  t.ok(
    log.lines.some((l) => l.msg?.includes('KEYSET')),
    'logged',
  );
  // A restart of the reader: the handshake uses the installed key, no second KEYSET.
  r.restart();
  const since = r.received.length;
  await until(() => r.received.slice(since).some((c) => c.name === 'osdp_POLL' && c.secure), 'polling again');
  t.equal(r.received.filter((c) => c.code === Cmd.KEYSET).length, 1, 'still one KEYSET');
});

t.test('a checksum-only reader and two readers on one bus, polled in turn', async (t) => {
  const { bus, sim, rec } = await setup(
    t,
    [plain(1), plain(2)],
    [{ address: 1 }, { address: 2, checksumOnly: true }],
  );
  await until(() => bus.isOnline(1) && bus.isOnline(2), 'both online');
  sim.reader(1).presentCard(CARD_BITS);
  sim.reader(2).pressKeys('7');
  await until(
    () =>
      rec.get(1)?.events.includes(`card ${CARD_VALUE}`) === true &&
      rec.get(2)?.events.includes('key 7') === true,
    'each reader reports to its own input',
  );
  t.notOk(
    rec.get(2)?.events.some((e) => e.startsWith('card')),
    'no cross-talk',
  );
  t.notOk(rec.get(1)?.events.some((e) => e.startsWith('key')));
});

t.test('a bad card read is a read error, never a card', async (t) => {
  const { bus, sim, rec } = await setup(t, [plain(1)], [{ address: 1 }]);
  await until(() => bus.isOnline(1), 'online');
  const bad = CARD_BITS.slice(0, 5) + (CARD_BITS[5] === '1' ? '0' : '1') + CARD_BITS.slice(6);
  sim.reader(1).presentCard(bad);
  await until(() => rec.get(1)?.events.some((e) => e.startsWith('error')) === true, 'read error');
  t.notOk(rec.get(1)?.events.some((e) => e.startsWith('card')));
});
