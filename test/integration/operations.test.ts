/**
 * The installer's and property manager's view: check-config on broken files, `doorpass status` against a
 * running daemon, systemd notifications on a real datagram socket, and no credential in any log line.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, runCli, startDaemon } from '../helpers/cli.js';
import { BASE_CONFIG, pass, tempSite } from '../helpers/fixtures.js';

const haveSocat = spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0;

t.test(
  'check-config: every problem at once, each with file, line, column, key and what is expected',
  async (t) => {
    const site = tempSite();
    t.teardown(site.cleanup);
    const good = await runCli(['check-config', '--config', site.configFile]);
    t.equal(good.code, 0);
    t.match(good.stdout, /doorpass\.yaml: ok/);
    const cases: [string, RegExp[]][] = [
      [
        BASE_CONFIG(path.join(site.dir, 's'))
          .replace('timezone: America/New_York', 'timezon: Europe/Paris')
          .replace('door: lobby', 'door: attic'),
        [
          /error: .*doorpass-bad\.yaml:1:\d+: site\.timezone: missing \(expected string\)/,
          /error: .*doorpass-bad\.yaml:1:\d+: site\.timezon: unknown key \(did you mean "timezone"\?\)/,
          /error: .*doorpass-bad\.yaml:5:\d+: inputs\[0\]\.door: no door "attic" \(expected one of: lobby, garage\)/,
        ],
      ],
      [
        `site: { id: s, timezone: Moon/Tycho }
device: { id: d }
storage: { dir: ./x }
doors:
  - { id: a, relay: { type: gpio, line: 17 } }
  - { id: b, relay: { type: gpio, line: 17 }, contact: { type: bridge, input: 1 } }
inputs: [ { type: hid, role: keypad, door: a } ]
`,
        [
          /site\.timezone: "Moon\/Tycho" is not an IANA time zone name/,
          /doors\[1\]\.relay\.line: gpio 17 is already used by doors\[0\]\.relay/,
          /doors\[1\]\.contact: no bridge input attached to door "b"/,
          /inputs\[0\]: a hid input needs vendorId and productId, or path/,
        ],
      ],
    ];
    for (const [text, expected] of cases) {
      const file = path.join(site.dir, 'doorpass-bad.yaml');
      writeFileSync(file, text);
      const r = await runCli(['check-config', '--config', file]);
      t.equal(r.code, 1);
      for (const re of expected) t.match(r.stdout, re);
      t.match(r.stdout, /doorpass-bad\.yaml: \d+ error\(s\)/);
    }
    // Files the config names: a world-readable key, a missing cloud key; a serial port that is not there yet.
    const key = path.join(site.dir, 'credential.key');
    writeFileSync(key, `${'ab'.repeat(32)}\n`);
    chmodSync(key, 0o644);
    const file = path.join(site.dir, 'doorpass-files.yaml');
    writeFileSync(
      file,
      `site: { id: s, timezone: UTC }
device: { id: d }
storage: { dir: ./x, credentialKeyFile: ./credential.key }
doors: [ { id: a, relay: { type: bridge, channel: 1 } } ]
inputs: [ { type: bridge, path: /dev/ttyDOESNOTEXIST, door: a } ]
mqtt: { url: "mqtt://127.0.0.1:1" }
cloud: { publicKeyFile: ./nope.pem }
`,
    );
    const r = await runCli(['check-config', '--config', file]);
    t.equal(r.code, 1);
    t.match(
      r.stdout,
      /error: .*:3:\d+: storage\.credentialKeyFile: .* is readable by every user \(mode 644\)/,
    );
    t.match(r.stdout, /error: .*:7:\d+: cloud\.publicKeyFile: .*nope\.pem does not exist/);
    t.match(r.stdout, /warning: .*:5:\d+: inputs\[0\]\.path: \/dev\/ttyDOESNOTEXIST does not exist \(yet\)/);
    const run = await runCli(['run', '--config', file]);
    t.equal(run.code, 2, 'the daemon refuses to start on the same errors');
    t.match(run.stderr, /storage\.credentialKeyFile: .* is readable by every user/);
  },
);

t.test('doorpass status against a running daemon, and a clear message when it is not running', async (t) => {
  const site = tempSite();
  t.teardown(site.cleanup);
  const c = ['--config', site.configFile];
  const down = await runCli(['status', ...c]);
  t.equal(down.code, 1);
  t.match(down.stderr, /no answer from the daemon at .*doorpass\.sock: it is not running/);
  const now = Date.now();
  const snap = path.join(site.dir, 'p.json');
  writeFileSync(
    snap,
    JSON.stringify({
      passes: [
        pass({
          validFrom: new Date(now - 3_600_000).toISOString(),
          validUntil: new Date(now + 3_600_000).toISOString(),
        }),
      ],
    }),
  );
  await runCli(['passes', 'import', snap, ...c]);
  const daemon = await startDaemon(site.configFile);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  daemon.child.stdin.write('123456\n000000\n');
  await daemon.waitFor(/access denied/);
  const json = await runCli(['status', '--json', ...c]);
  t.equal(json.code, 0, json.stderr);
  const st = JSON.parse(json.stdout) as Record<string, unknown>;
  t.match(st, {
    site: 'tower-a',
    device: 'panel-west',
    inputs: [{ name: 'console', door: 'lobby', online: true, lockedOut: false }],
    doors: [{ id: 'lobby', state: 'unknown' }, { id: 'garage' }],
    broker: { configured: false },
    passes: { active: 1, total: 1 },
    outbox: { depth: 2 },
  });
  t.same(
    (st.recent as { granted: boolean; reason: string | null }[]).map((r) => [r.granted, r.reason]),
    [
      [true, null],
      [false, 'unknown_credential'],
    ],
  );
  const human = await runCli(['status', ...c]);
  t.match(human.stdout, /inputs:\n {2}console -> lobby: connected/);
  t.match(human.stdout, /passes: 1 active of 1/);
  t.match(human.stdout, /\nclock: (trusted|NOT TRUSTED \([a-z-]+\), policy allow-non-expiring)/);
  t.match(human.stdout, /\nstorage: writable\n/);
  t.notMatch(human.stdout, /REBUILT/);
  t.match(human.stdout, /last decisions:\n.*lobby {2}pin {2}granted {2}p1\n.*denied \(unknown_credential\)/);
});

t.test('no credential value in any log line: PIN, card number and QR text are redacted', async (t) => {
  const site = tempSite();
  t.teardown(site.cleanup);
  const daemon = await startDaemon(site.configFile);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  daemon.child.stdin.write(
    '13579246\ncard:8675309123\nqr:https://example.test/pass/SECRET-TOKEN-XYZ\npin:24680\n',
  );
  for (let i = 0; i < 400 && daemon.lines.filter((l) => l.includes('access denied')).length < 4; i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  daemon.child.kill('SIGTERM');
  await new Promise((r) => daemon.child.once('exit', r));
  const all = daemon.lines.join('\n');
  t.equal(daemon.lines.filter((l) => l.includes('access denied')).length, 4);
  for (const secret of ['13579246', '8675309123', 'SECRET-TOKEN-XYZ', '24680'])
    t.notOk(all.includes(secret), `${secret} is not logged`);
});

t.test(
  'systemd notifications: READY, WATCHDOG and STOPPING arrive on the notify socket',
  { skip: !haveSocat && 'socat is not installed' },
  async (t) => {
    const site = tempSite();
    t.teardown(site.cleanup);
    const sock = path.join(site.dir, 'notify.sock');
    const listener = spawn('socat', ['-u', `UNIX-RECVFROM:${sock},fork`, 'STDOUT'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    t.teardown(() => listener.kill('SIGKILL'));
    let received = '';
    listener.stdout.on('data', (d: Buffer) => (received += `${d.toString()}\n`));
    const { existsSync } = await import('node:fs');
    for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 10));
    const daemon = spawn(process.execPath, [CLI, 'run', '--config', site.configFile], {
      env: { ...process.env, NOTIFY_SOCKET: sock, WATCHDOG_USEC: '1000000' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    t.teardown(() => daemon.kill('SIGKILL'));
    const until = async (re: RegExp): Promise<void> => {
      for (let i = 0; i < 400 && !re.test(received); i++) await new Promise((r) => setTimeout(r, 25));
    };
    await until(/READY=1/);
    t.match(received, /READY=1/);
    t.match(received, /STATUS=\d+ passes, 2 door\(s\), 1 input\(s\)/);
    await until(/WATCHDOG=1/);
    t.match(received, /WATCHDOG=1/, 'pinged at half of WATCHDOG_USEC');
    daemon.kill('SIGTERM');
    await until(/STOPPING=1/);
    t.match(received, /STOPPING=1/);
  },
);
