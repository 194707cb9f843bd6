import t from 'tap';
import path from 'node:path';
import { configPath, DEFAULT_CONFIG_PATH, loadConfig, parseConfig } from '../../src/app/config.js';
import { DoorpassError } from '../../src/core/errors.js';

function problems(text: string): string[] {
  try {
    parseConfig(text, '/etc/doorpass/doorpass.yaml');
  } catch (e) {
    if (e instanceof DoorpassError) return [...e.details];
    throw e;
  }
  return [];
}

const GOOD = `site: { id: tower-a, timezone: America/New_York, maxPassDays: 366 }
device: { id: panel-west }
storage: { dir: /var/lib/doorpass }
doors: [ { id: lobby, relay: { type: log } }, { id: garage, relay: { type: log } } ]
inputs: [ { type: console, door: lobby } ]
`;

t.test('the contract config from the issue is valid, with defaults filled in', async (t) => {
  const c = parseConfig(GOOD, '/etc/doorpass/doorpass.yaml');
  t.equal(c.site.timezone, 'America/New_York');
  t.equal(c.doors[0]?.relay.pulseMs, 3000);
  t.equal(c.log.level, 'info');
  t.equal(c.storage.dir, '/var/lib/doorpass');
  const noMax = parseConfig(GOOD.replace(', maxPassDays: 366', ''), 'x.yaml');
  t.equal(noMax.site.maxPassDays, 366);
});

t.test('the example config shipped in config/ is valid', async (t) => {
  const file = path.resolve(import.meta.dirname, '../../config/doorpass.example.yaml');
  const { config } = loadConfig(file);
  t.equal(config.inputs[0]?.type, 'console');
  t.equal(
    config.storage.dir,
    path.resolve(import.meta.dirname, '../../var/doorpass'),
    'relative paths resolve against the file',
  );
});

t.test('a bad time zone names the file, line, column and key', async (t) => {
  t.same(problems(GOOD.replace('America/New_York', 'Mars/Olympus_Mons')), [
    '/etc/doorpass/doorpass.yaml:1:32: site.timezone: "Mars/Olympus_Mons" is not an IANA time zone name (expected e.g. "America/New_York")',
  ]);
});

t.test('unknown keys are errors, with "did you mean"', async (t) => {
  const p = problems(GOOD.replace('timezone:', 'timzone:'));
  t.same(p, [
    '/etc/doorpass/doorpass.yaml:1:7: site.timezone: missing (expected string)',
    '/etc/doorpass/doorpass.yaml:1:22: site.timzone: unknown key (did you mean "timezone"?)',
  ]);
  const top = problems(`${GOOD}elevator: true\n`);
  t.same(top, ['/etc/doorpass/doorpass.yaml:6:1: elevator: unknown key']);
});

t.test('every problem is listed at once', async (t) => {
  const text = `site: { id: tower-a, timezone: Nowhere/Land, maxPassDays: -3 }
device: { }
storage: { dir: 7 }
doors: [ { id: lobby, relay: { type: solenoid } } ]
inputs: [ { type: console, door: attic } ]
`;
  const p = problems(text);
  t.match(p.join('\n'), /site\.timezone: "Nowhere\/Land" is not an IANA/);
  t.match(p.join('\n'), /site\.maxPassDays: /);
  t.match(p.join('\n'), /device\.id: missing \(expected string\)/);
  t.match(p.join('\n'), /storage\.dir: expected string, found number 7/);
  t.match(
    p.join('\n'),
    /doors\[0\]\.relay\.type: found string "solenoid", expected one of "log", "gpio", "bridge"/,
  );
  t.ok(p.length >= 5, `${p.length} problems reported`);
  for (const line of p)
    t.match(line, /^\/etc\/doorpass\/doorpass\.yaml(:\d+:\d+)?: \S+: /, 'each line names file and key');
});

t.test('cross-checks: inputs attach to existing doors; door ids are unique', async (t) => {
  t.same(problems(GOOD.replace('door: lobby', 'door: attic')), [
    '/etc/doorpass/doorpass.yaml:5:34: inputs[0].door: no door "attic" (expected one of: lobby, garage)',
  ]);
  t.match(
    problems(GOOD.replace('id: garage', 'id: lobby'))[0],
    /doors\[1\]\.id: door "lobby" is defined twice/,
  );
});

t.test('missing sections and wrong shapes', async (t) => {
  t.match(problems('')[0], /site: missing \(expected object\)/);
  t.match(problems('just a string')[0], /\(top level\): expected object/);
  t.match(
    problems(GOOD.replace(/doors: .*\n/, 'doors: []\n')).join('\n'),
    /doors: expected at least one door/,
  );
});

t.test('invalid YAML gives the position', async (t) => {
  const p = problems('site: { id: x\n  timezone: [\n');
  t.ok(p.length > 0);
  t.match(p[0], /^\/etc\/doorpass\/doorpass\.yaml:\d+:\d+: /);
  t.match(
    problems(`${GOOD}site: again\n`)[0],
    /doorpass\.yaml:6:1: .*[Uu]nique|doorpass\.yaml:6:1: .*already/,
  );
});

t.test('an unreadable config file is a clear error', async (t) => {
  t.throws(() => loadConfig('/nonexistent/doorpass.yaml'), {
    message: 'cannot read config file /nonexistent/doorpass.yaml: no such file',
    code: 'config.unreadable',
  });
});

t.test('config path: option, then $DOORPASS_CONFIG, then /etc', async (t) => {
  t.equal(configPath('a.yaml', { DOORPASS_CONFIG: 'b.yaml' }), 'a.yaml');
  t.equal(configPath(undefined, { DOORPASS_CONFIG: 'b.yaml' }), 'b.yaml');
  t.equal(configPath(undefined, {}), DEFAULT_CONFIG_PATH);
});

t.test('cross-checks are reported together with schema problems; one console input at most', async (t) => {
  const p = problems(
    GOOD.replace('maxPassDays: 366', 'maxPassDays: "many"').replace(
      'inputs: [ { type: console, door: lobby } ]',
      'inputs: [ { type: console, door: attic }, { type: console, door: lobby } ]',
    ),
  );
  t.match(p.join('\n'), /site\.maxPassDays: expected number/);
  t.match(p.join('\n'), /inputs\[0\]\.door: no door "attic"/);
  t.match(p.join('\n'), /inputs\[1\]\.type: only one console input is allowed/);
});
