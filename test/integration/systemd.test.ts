/**
 * What an installer gets: systemd/doorpass.service (verified by systemd-analyze and read setting by setting),
 * systemd/99-doorpass.rules (syntax) and scripts/install.sh (planned with --dry-run, then carried out into a
 * staging root with --root, twice, and uninstalled), none of it touching the machine running the tests.
 */
import t, { type Test } from 'tap';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/app/config.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const UNIT_FILE = path.join(REPO, 'systemd/doorpass.service');
const RULES_FILE = path.join(REPO, 'systemd/99-doorpass.rules');
const INSTALL = path.join(REPO, 'scripts/install.sh');

// Subprocesses run as on an installer's machine: without tap's loader and coverage hooks, which would make
// every node that install.sh starts (npm prune, the installed program) load and instrument TypeScript.
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && k !== 'NODE_V8_COVERAGE'),
);

function run(cmd: string, args: readonly string[]): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd: REPO, env, encoding: 'utf8', timeout: 60_000 });
}

function have(cmd: string): boolean {
  return run('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function tempDir(t: Test, prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A unit file as section -> key -> every value assigned, in order ("" for an empty assignment). */
type Unit = Map<string, Map<string, string[]>>;

function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  // systemd joins a line ending in a backslash with the next one.
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1] ?? '', section);
      return;
    }
    const eq = line.indexOf('=');
    if (section === undefined || eq < 1)
      throw new Error(`line ${i + 1}: not "Key=value" in a section: ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  });
  return unit;
}

function values(unit: Unit, section: string, key: string): string[] {
  return unit.get(section)?.get(key) ?? [];
}

/** The value a key ends up with when it is set once (the last assignment wins in systemd). */
function value(unit: Unit, section: string, key: string): string | undefined {
  return values(unit, section, key).at(-1);
}

/** A shell variable assigned at the top of scripts/install.sh, e.g. BIN=/usr/bin/doorpass. */
function installerVariable(name: string): string | undefined {
  return new RegExp(`^${name}=(\\S+)$`, 'm').exec(readFileSync(INSTALL, 'utf8'))?.[1];
}

t.test('doorpass.service: the settings the service depends on', async (t) => {
  const unit = parseUnit(readFileSync(UNIT_FILE, 'utf8'));
  const svc = (key: string): string | undefined => value(unit, 'Service', key);
  t.same([...unit.keys()], ['Unit', 'Service', 'Install']);
  t.ok(value(unit, 'Unit', 'Description'), 'has a Description');

  // Readiness and liveness: sd_notify from the daemon itself, a watchdog, restarts except on EX_CONFIG.
  t.equal(svc('Type'), 'notify');
  t.equal(svc('NotifyAccess'), 'main');
  t.equal(svc('WatchdogSec'), '20s');
  t.equal(svc('Restart'), 'always');
  t.equal(svc('RestartSec'), '2s');
  t.same(
    values(unit, 'Service', 'RestartPreventExitStatus').flatMap((v) => v.split(/\s+/)),
    ['2', '78'],
    'a configuration error (exit 2, as every doorpass command; or 78, EX_CONFIG) is not restarted',
  );
  t.equal(value(unit, 'Unit', 'StartLimitIntervalSec'), '0', 'restarts are never rate-limited to a stop');
  t.equal(svc('TimeoutStopSec'), '10');
  t.equal(svc('StandardOutput'), 'journal');
  t.ok(values(unit, 'Service', 'Environment').includes('NODE_ENV=production'));

  // ExecStart is the wrapper and the configuration the installer writes.
  const bin = installerVariable('BIN');
  const confDir = installerVariable('CONF_DIR');
  t.equal(bin, '/usr/bin/doorpass', 'install.sh writes the wrapper the unit runs');
  t.equal(confDir, '/etc/doorpass');
  t.equal(svc('ExecStart'), `${bin} run --config ${confDir}/doorpass.yaml`);

  // User, groups and directories.
  t.equal(svc('User'), 'doorpass');
  t.equal(svc('Group'), 'doorpass');
  t.same(svc('SupplementaryGroups')?.split(/\s+/), ['gpio', 'dialout', 'plugdev', 'input']);
  t.match(
    readFileSync(INSTALL, 'utf8'),
    /^DEVICE_GROUPS=\(gpio dialout plugdev input\)$/m,
    'install.sh creates the same groups (the unit fails with 216/GROUP on a missing one)',
  );
  t.equal(svc('StateDirectory'), 'doorpass');
  t.equal(svc('ConfigurationDirectory'), 'doorpass');
  t.equal(svc('RuntimeDirectory'), 'doorpass', 'the status socket lives in /run/doorpass');
  t.equal(svc('LogsDirectory'), undefined, 'logs go to journald');

  // Hardening.
  const yes = [
    'NoNewPrivileges',
    'ProtectHome',
    'PrivateTmp',
    'ProtectKernelTunables',
    'ProtectKernelModules',
    'ProtectControlGroups',
    'RestrictSUIDSGID',
    'LockPersonality',
    'RestrictRealtime',
    'RestrictNamespaces',
  ];
  for (const key of yes) t.equal(svc(key), 'yes', key);
  t.equal(svc('ProtectSystem'), 'strict');
  t.equal(svc('SystemCallArchitectures'), 'native');
  t.equal(svc('MemoryDenyWriteExecute'), 'no', "Node's JIT needs writable+executable memory");
  t.same(values(unit, 'Service', 'CapabilityBoundingSet'), [''], 'no capabilities at all');
  t.same(values(unit, 'Service', 'AmbientCapabilities'), ['']);
  t.not(svc('PrivateDevices'), 'yes', 'a private /dev would hide the bridge and the readers');
  t.not(svc('PrivateUsers'), 'yes', 'private users would drop the device groups');

  // Devices: a closed policy with the bridge, the HID readers and GPIO allowed.
  t.equal(svc('DevicePolicy'), 'closed');
  const allowed = values(unit, 'Service', 'DeviceAllow');
  for (const dev of ['char-ttyACM', 'char-ttyUSB', 'char-hidraw', 'char-gpiochip'])
    t.ok(allowed.includes(`${dev} rw`), `DeviceAllow=${dev} rw`);
  const rw = values(unit, 'Service', 'ReadWritePaths').flatMap((v) => v.split(/\s+/));
  t.ok(
    rw.some((p) => p.replace(/^-/, '') === '/sys/class/gpio'),
    'sysfs GPIO export/unexport is writable',
  );

  t.equal(value(unit, 'Install', 'WantedBy'), 'multi-user.target');
});

t.test(
  'systemd-analyze verify: no warning about doorpass.service',
  { skip: !have('systemd-analyze') && 'systemd-analyze is not installed (scripts/test.sh installs systemd)' },
  async (t) => {
    const dir = tempDir(t, 'doorpass-unit-');
    // systemd-analyze verify also checks that ExecStart's program exists and is executable, and
    // /usr/bin/doorpass only exists once doorpass is installed. Verify a copy, still named
    // doorpass.service, whose ExecStart runs /bin/true; every other line is the shipped unit's.
    const original = readFileSync(UNIT_FILE, 'utf8');
    const copy = original.replace(/^ExecStart=\/usr\/bin\/doorpass /m, 'ExecStart=/bin/true ');
    t.not(copy, original, 'ExecStart was replaced');
    const unitCopy = path.join(dir, 'doorpass.service');
    writeFileSync(unitCopy, copy);

    const verify = (file: string): { status: number | null; output: string[] } => {
      const r = run('systemd-analyze', ['verify', '--man=no', file]);
      return {
        status: r.status,
        output: `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== ''),
      };
    };
    const r = verify(unitCopy);
    t.comment(`systemd-analyze verify printed ${r.output.length} line(s)${r.output.length ? ':' : ''}`);
    for (const line of r.output) t.comment(`  ${line}`);
    // systemd-analyze exits 0 on unknown keys and bad values too, and only prints a warning: every line
    // about our unit is a failure.
    t.same(
      r.output.filter((l) => l.includes('doorpass.service')),
      [],
      'nothing printed about doorpass.service',
    );
    t.equal(r.status, 0, 'exit status 0');

    // The check above is not vacuous: the same verify does report a unit with a typo in it.
    const broken = path.join(dir, 'broken', 'doorpass.service');
    mkdirSync(path.dirname(broken));
    writeFileSync(broken, copy.replace(/^ProtectSystem=strict$/m, 'ProtectSytem=strict'));
    t.match(
      verify(broken).output.join('\n'),
      /doorpass\.service.*ProtectSytem/,
      'an unknown key is reported with the unit name',
    );
  },
);

t.test('99-doorpass.rules: valid udev syntax, names and groups', async (t) => {
  const text = readFileSync(RULES_FILE, 'utf8');
  const matchKeys = new Set(['ACTION', 'SUBSYSTEM', 'KERNEL', 'KERNELS', 'ATTRS', 'ENV']);
  const assignKeys = new Set(['GROUP', 'MODE', 'SYMLINK', 'RUN', 'ENV', 'GOTO', 'LABEL']);
  const rules: Map<string, string>[] = [];
  const gotos: string[] = [];
  const labels: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const where = `line ${i + 1}`;
    const pair = /^\s*([A-Z_]+)(\{[^}]+\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/;
    let rest = line;
    const rule = new Map<string, string>();
    while (rest.trim() !== '') {
      const m = pair.exec(rest);
      if (!m) {
        t.fail(`${where}: not KEY op "value", ...: ${rest}`);
        return;
      }
      const [whole, key = '', attr = '', op = '', val = ''] = m;
      const isMatch = op === '==' || op === '!=';
      if (!(isMatch ? matchKeys : assignKeys).has(key)) t.fail(`${where}: ${key} cannot be used with ${op}`);
      if ((key === 'ATTRS' || key === 'ENV') && attr === '') t.fail(`${where}: ${key} needs {name}`);
      if (key === 'GOTO') gotos.push(val);
      if (key === 'LABEL') labels.push(val);
      rule.set(`${key}${attr}${isMatch ? '==' : '='}`, val);
      rest = rest.slice(whole.length);
    }
    rules.push(rule);
  });
  for (const g of gotos) t.ok(labels.includes(g), `GOTO="${g}" has its LABEL`);

  const find = (vendor: string, product?: string): Map<string, string> | undefined =>
    rules.find(
      (r) =>
        r.get('ATTRS{idVendor}==') === vendor &&
        (product === undefined || r.get('ATTRS{idProduct}==') === product),
    );
  for (const [vendor, product] of [
    ['2341', '0043'],
    ['2341', '0001'],
    ['1a86', '7523'],
    ['0403', '6001'],
  ] as const) {
    const r = find(vendor, product);
    t.equal(r?.get('SUBSYSTEM=='), 'tty', `${vendor}:${product} is a serial bridge`);
    t.equal(r?.get('SYMLINK='), 'doorpass-bridge', `${vendor}:${product} -> /dev/doorpass-bridge`);
    t.equal(r?.get('GROUP='), 'dialout');
    t.equal(r?.get('MODE='), '0660');
  }
  for (const vendor of ['0c2e', '05e0', '08ff']) {
    const r = find(vendor);
    t.equal(r?.get('SUBSYSTEM=='), 'hidraw', `${vendor}: a HID reader`);
    t.equal(r?.get('SYMLINK='), 'doorpass-hid-%n');
    t.equal(r?.get('GROUP='), 'plugdev');
    t.equal(r?.get('MODE='), '0660');
  }
  const gpio = rules.find((r) => r.get('SUBSYSTEM==') === 'gpio' && r.has('GROUP='));
  t.equal(gpio?.get('GROUP='), 'gpio');
  t.equal(gpio?.get('MODE='), '0660');

  // udevadm verify exists from systemd 254 on (Debian 12 has 252).
  const verify = have('udevadm') ? run('udevadm', ['verify', RULES_FILE]) : undefined;
  if (verify !== undefined && !/unknown command|invalid/i.test(verify.stderr)) {
    t.equal(verify.status, 0, `udevadm verify: ${verify.stdout}${verify.stderr}`);
  } else t.comment('udevadm verify is not available: checked by the parser above only');
});

t.test('install.sh: shell syntax', async (t) => {
  const r = run('bash', ['-n', INSTALL]);
  t.equal(r.status, 0, r.stderr);
});

t.test('install.sh --dry-run --root: plans every file and changes nothing', async (t) => {
  const root = tempDir(t, 'doorpass-root-');
  const r = run('bash', [INSTALL, '--dry-run', '--root', root]);
  t.equal(r.status, 0, r.stderr);
  const plan = r.stdout;
  for (const file of [
    '/opt/doorpass',
    '/usr/bin/doorpass',
    '/etc/systemd/system/doorpass.service',
    '/etc/udev/rules.d/99-doorpass.rules',
    '/etc/doorpass/doorpass.yaml',
    '/etc/modules-load.d/doorpass.conf',
  ])
    t.ok(plan.includes(`${root}${file}`), `plans ${file}`);
  t.match(
    plan,
    /doorpass\.yaml.*storage\.dir: \/var\/lib\/doorpass/,
    'the config gets storage.dir on /var/lib',
  );
  t.match(plan, /npm ci/, 'plans the build');
  t.match(plan, /skip \(--root\): create the system user doorpass/, 'leaves users alone in a staging root');
  t.match(plan, /enable doorpass\.service/);
  t.same(readdirSync(root), [], 'a dry run creates nothing');

  const bad = run('bash', [INSTALL, '--purge']);
  t.not(bad.status, 0, '--purge alone is refused');
  t.match(bad.stderr, /--purge only goes with --uninstall/);
  const unknown = run('bash', [INSTALL, '--frobnicate']);
  t.not(unknown.status, 0);
  t.match(unknown.stderr, /unknown option: --frobnicate/);
});

const built =
  existsSync(path.join(REPO, 'dist/src/cli/main.js')) && existsSync(path.join(REPO, 'node_modules'));

t.test(
  'install.sh --root: installs, keeps the config on a second run, uninstalls, purges',
  { skip: !built && 'no build: run npm ci && npm run build first (npm test does)' },
  async (t) => {
    const root = tempDir(t, 'doorpass-root-');
    const at = (p: string): string => path.join(root, p);
    const install = (...args: string[]): SpawnSyncReturns<string> => {
      const r = run('bash', [INSTALL, '--no-build', '--root', root, ...args]);
      const what = `install.sh --no-build --root ROOT ${args.join(' ')}`.trim();
      if (r.status === 0) t.pass(what);
      else t.fail(`${what} exited ${r.status ?? r.signal}`, { stdout: r.stdout, stderr: r.stderr });
      return r;
    };

    install();
    t.equal(readFileSync(at('etc/systemd/system/doorpass.service'), 'utf8'), readFileSync(UNIT_FILE, 'utf8'));
    t.equal(readFileSync(at('etc/udev/rules.d/99-doorpass.rules'), 'utf8'), readFileSync(RULES_FILE, 'utf8'));
    t.match(readFileSync(at('etc/modules-load.d/doorpass.conf'), 'utf8'), /^cdc_acm$/m);
    t.equal(statSync(at('etc/doorpass')).mode & 0o777, 0o750);
    t.equal(statSync(at('var/lib/doorpass')).mode & 0o777, 0o750);

    const conf = at('etc/doorpass/doorpass.yaml');
    t.equal(statSync(conf).mode & 0o777, 0o640, 'the config is not world-readable');
    const config = parseConfig(readFileSync(conf, 'utf8'), '/etc/doorpass/doorpass.yaml');
    t.equal(config.storage.dir, '/var/lib/doorpass', 'the installed config is valid and stores in /var/lib');
    t.equal(
      config.status.socket,
      '/run/doorpass/doorpass.sock',
      'doorpass status from a shell finds the socket in the RuntimeDirectory',
    );

    const wrapper = at('usr/bin/doorpass');
    t.equal(statSync(wrapper).mode & 0o111, 0o111, 'the wrapper is executable');
    t.match(readFileSync(wrapper, 'utf8'), /^exec \S*node \/opt\/doorpass\/dist\/src\/cli\/main\.js "\$@"$/m);
    const version = run(process.execPath, [at('opt/doorpass/dist/src/cli/main.js'), '--version']);
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    t.equal(version.stdout.trim(), pkg.version, 'the installed program runs');
    t.ok(existsSync(at('opt/doorpass/node_modules/better-sqlite3')), 'runtime dependencies installed');
    t.notOk(existsSync(at('opt/doorpass/node_modules/typescript')), 'development dependencies pruned');
    if (have('systemctl')) {
      const link = at('etc/systemd/system/multi-user.target.wants/doorpass.service');
      t.ok(lstatSync(link).isSymbolicLink(), 'enabled');
    }

    // A second run (an upgrade) never overwrites the installer's configuration.
    appendFileSync(conf, '# edited by the installer\n');
    const again = install();
    t.match(again.stdout, /keeping the existing .*doorpass\.yaml/);
    t.match(readFileSync(conf, 'utf8'), /# edited by the installer/);
    t.notOk(existsSync(at('opt/doorpass.new')) || existsSync(at('opt/doorpass.old')), 'no leftovers');

    install('--uninstall');
    for (const gone of [
      'etc/systemd/system/doorpass.service',
      'etc/udev/rules.d/99-doorpass.rules',
      'etc/modules-load.d/doorpass.conf',
      'usr/bin/doorpass',
      'opt/doorpass',
      'etc/systemd/system/multi-user.target.wants/doorpass.service',
    ])
      t.notOk(existsSync(at(gone)), `--uninstall removes ${gone}`);
    t.ok(existsSync(conf), '--uninstall keeps the configuration');
    t.ok(existsSync(at('var/lib/doorpass')), '--uninstall keeps the state');

    install('--uninstall', '--purge');
    t.notOk(existsSync(at('etc/doorpass')), '--purge removes the configuration');
    t.notOk(existsSync(at('var/lib/doorpass')), '--purge removes the state');
  },
);
