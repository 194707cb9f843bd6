import t from 'tap';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { ConsoleInput, parseConsoleLine } from '../../src/adapters/console-input.js';
import { HmacHasher, loadOrCreateKey } from '../../src/adapters/hasher.js';
import { UlidFactory } from '../../src/app/ids.js';

t.test(
  'console lines: bare digits are a PIN (# optional), prefixes force a type, anything else is QR text',
  async (t) => {
    t.same(parseConsoleLine('123456'), { type: 'pin', value: '123456' });
    t.same(parseConsoleLine(' 2468# '), { type: 'pin', value: '2468' });
    t.same(parseConsoleLine('card:0012345'), { type: 'card', value: '0012345' });
    t.same(parseConsoleLine('qr:1234'), { type: 'qr', value: '1234' });
    t.same(parseConsoleLine('pin:12'), { type: 'pin', value: '12' });
    t.same(parseConsoleLine('https://example.test/p/AbC?x=1'), {
      type: 'qr',
      value: 'https://example.test/p/AbC?x=1',
    });
    t.equal(parseConsoleLine('   '), undefined);
  },
);

t.test('console input delivers one credential per line', async (t) => {
  const stream = new PassThrough();
  const input = new ConsoleInput(stream);
  const got: [string, string][] = [];
  input.start({
    key: () => t.fail('the console delivers whole credentials'),
    credential: (type, value) => void got.push([type, value]),
    readError: () => t.fail('no read errors'),
    online: () => undefined,
  });
  stream.write('1234\n\nDEMO\r\ncard:77\n');
  await new Promise((r) => setImmediate(r));
  t.same(got, [
    ['pin', '1234'],
    ['qr', 'DEMO'],
    ['card', '77'],
  ]);
  input.feedback('accept');
  await input.stop();
});

t.test(
  'credential key: generated once with mode 0600, then reused; bad files are clear errors',
  async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'doorpass-key-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'credential.key');
    t.throws(() => loadOrCreateKey(file, false), { code: 'store.key_invalid', message: /does not exist/ });
    const k1 = loadOrCreateKey(file, true);
    t.equal(k1.length, 32);
    t.equal(statSync(file).mode & 0o777, 0o600);
    t.same(loadOrCreateKey(file, true), k1, 'the same key on the next start');
    t.match(readFileSync(file, 'utf8'), /^[0-9a-f]{64}\n$/);
    chmodSync(file, 0o644);
    t.throws(() => loadOrCreateKey(file, true), {
      message: /readable by other users \(mode 644\): run chmod 600/,
    });
    chmodSync(file, 0o600);
    writeFileSync(file, 'not hex');
    t.throws(() => loadOrCreateKey(file, true), { message: /expected 64 hexadecimal characters/ });
  },
);

t.test('HMAC hashing: keyed, type-separated, deterministic', async (t) => {
  const a = new HmacHasher(Buffer.alloc(32, 1));
  const b = new HmacHasher(Buffer.alloc(32, 2));
  t.same(a.hash('pin', '1234'), a.hash('pin', '1234'));
  t.notSame(a.hash('pin', '1234'), b.hash('pin', '1234'), 'another key, another hash');
  t.notSame(a.hash('pin', '1234'), a.hash('card', '1234'), 'type is part of the input');
  t.equal(a.hash('qr', 'x').length, 32);
  t.throws(() => new HmacHasher(Buffer.alloc(8)), { message: /shorter than 16 bytes/ });
});

t.test(
  'ULIDs: 26 Crockford characters, time-ordered, strictly increasing within one millisecond',
  async (t) => {
    const f = new UlidFactory();
    const ids = Array.from({ length: 1000 }, () => f.next(1_795_000_000_000));
    for (const id of ids) t.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    t.same([...ids].sort(), ids, 'sorted as generated');
    t.equal(new Set(ids).size, ids.length);
    const later = f.next(1_795_000_000_001);
    t.ok(later > (ids.at(-1) ?? ''));
    t.ok(f.next(1_000) > later, 'a clock that steps back never produces a smaller id');
    t.equal(new UlidFactory().next(0).slice(0, 10), '0000000000');
  },
);
