/** The CLI's commands (commander), run in-process by main.ts; returns the exit code. */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import {
  checkEnvironment,
  configPath,
  loadConfig,
  statusSocketPath,
  type LoadedConfig,
} from '../app/config.js';
import { openSite, readStatus, startDaemon, type LocalStatus, type Site } from '../app/compose.js';
import { Zone } from '../core/zone.js';
import { importSnapshotStaged, parseSnapshotShape, type ImportReport } from '../app/import.js';
import { revokeLocally } from '../app/revoke.js';
import type { CredentialType } from '../core/decide.js';
import { DoorpassError, ErrorCode, isDoorpassError } from '../core/errors.js';
import { eventDetail, eventToJson, isAccessEvent } from '../core/events.js';
import {
  keygen,
  publishDelta,
  publishFile,
  sendCommand,
  sendSnapshot,
  watch,
  type CloudConnection,
} from '../tools/cloud.js';
import { formatStatus, localTime, passStatus, passType, scheduleText, table, usesText } from './format.js';

export const EXIT = { ok: 0, failure: 1, usage: 2, denied: 3 } as const;

export interface CliIo {
  readonly version: string;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
}

function usage(message: string): DoorpassError {
  return new DoorpassError(ErrorCode.UsageInvalid, message);
}

/** Reads a JSON file (or "-" for stdin) with a message that gives the line and column of a syntax error. */
function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new DoorpassError(ErrorCode.SnapshotUnreadable, `cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /position (\d+)/.exec(msg);
    let where = '';
    if (pos) {
      const before = text.slice(0, Number(pos[1]));
      const line = before.split('\n').length;
      where = `:${line}:${Number(pos[1]) - before.lastIndexOf('\n')}`;
    }
    throw new DoorpassError(ErrorCode.SnapshotInvalid, `${file}${where} is not valid JSON: ${msg}`);
  }
}

function parseInstant(text: string): number {
  const ms = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(text)
    ? Date.parse(text)
    : NaN;
  if (Number.isNaN(ms))
    throw usage(
      `--at: "${text}" is not an ISO-8601 instant with a zone (expected e.g. 2026-05-01T09:00:00Z)`,
    );
  return ms;
}

function reportText(r: ImportReport): string[] {
  const lines = [
    `${r.added} added, ${r.updated} updated, ${r.ignored} ignored, ${r.rejected.length} rejected`,
  ];
  if (r.removed > 0) lines.push(`${r.removed} removed (not in the snapshot)`);
  const g = r.groups;
  if (g.added + g.updated + g.unchanged > 0)
    lines.push(`access groups: ${g.added} added, ${g.updated} updated, ${g.unchanged} unchanged`);
  for (const rej of r.rejected) {
    const at = `${rej.what === 'pass' ? 'passes' : 'accessGroups'}[${rej.index}]${rej.id !== null ? ` (id ${JSON.stringify(rej.id)})` : ''}`;
    for (const reason of rej.reasons) lines.push(`rejected ${at}: ${reason}`);
  }
  if (r.unknownFields.count > 0) {
    lines.push(
      `ignored ${r.unknownFields.count} unknown field(s), e.g. ${r.unknownFields.examples.join(', ')}`,
    );
  }
  return lines;
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number | undefined> {
  const out = (line: string): void => void io.stdout.write(`${line}\n`);
  let exitCode: number | undefined = EXIT.ok;
  const loadCfg = (opts: { config?: string }): LoadedConfig => loadConfig(configPath(opts.config, io.env));
  const withSite = <T>(opts: { config?: string }, fn: (site: Site) => T): T => {
    const site = openSite(loadCfg(opts));
    let result: T;
    try {
      result = fn(site);
    } catch (e) {
      site.close();
      throw e;
    }
    // An async body (a staged import) closes the site when it settles.
    if (result instanceof Promise) return result.finally(() => site.close()) as T;
    site.close();
    return result;
  };
  const configOption = (): Option =>
    new Option(
      '-c, --config <file>',
      `config file (default: $DOORPASS_CONFIG or /etc/doorpass/doorpass.yaml)`,
    );

  const program = new Command('doorpass')
    .description(
      'Credential validation for building door panels: passes, PINs, QR codes and cards, offline-first.',
    )
    .version(io.version, '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  program
    .command('run')
    .description('run the daemon: read credentials from the configured inputs, decide, open doors')
    .addOption(configOption())
    .addOption(
      new Option('--log-level <level>', 'override log.level').choices([
        'fatal',
        'error',
        'warn',
        'info',
        'debug',
        'trace',
        'silent',
      ]),
    )
    .action(async (opts: { config?: string; logLevel?: string }) => {
      const loaded = loadCfg(opts);
      const env = checkEnvironment(loaded);
      for (const w of env.warnings) io.stderr.write(`doorpass: warning: ${w}\n`);
      if (env.errors.length > 0) {
        throw new DoorpassError(
          ErrorCode.ConfigInvalid,
          `${loaded.file}: configuration problems`,
          env.errors,
        );
      }
      const daemon = startDaemon(loaded, {
        version: io.version,
        ...(opts.logLevel !== undefined && { logLevel: opts.logLevel }),
      });
      exitCode = undefined;
      await new Promise<void>((resolve) => {
        const shutdown = (): void => {
          process.off('SIGTERM', shutdown);
          process.off('SIGINT', shutdown);
          void daemon.stop().then(resolve);
        };
        process.on('SIGTERM', shutdown);
        process.on('SIGINT', shutdown);
        // A bug must not leave a door unlocked: release every relay synchronously, then exit non-zero so
        // systemd restarts the daemon (which releases the relays again at start).
        const crash = (err: unknown): void => {
          daemon.releaseAll();
          io.stderr.write(
            `doorpass: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
          );
          process.exit(EXIT.failure);
        };
        process.on('uncaughtException', crash);
        process.on('unhandledRejection', crash);
      });
      exitCode = EXIT.ok;
    });

  program
    .command('check-config')
    .description('check the configuration file: every problem at once, with file, line, column and key')
    .addOption(configOption())
    .action((opts: { config?: string }) => {
      const file = configPath(opts.config, io.env);
      let errors: string[];
      let warnings: string[] = [];
      try {
        const env = checkEnvironment(loadConfig(file));
        errors = env.errors;
        warnings = env.warnings;
      } catch (e) {
        if (
          !isDoorpassError(e) ||
          (e.code !== ErrorCode.ConfigInvalid && e.code !== ErrorCode.ConfigUnreadable)
        )
          throw e;
        errors = e.details.length > 0 ? [...e.details] : [e.message];
      }
      for (const w of warnings) out(`warning: ${w}`);
      for (const e of errors) out(`error: ${e}`);
      out(errors.length === 0 ? `${file}: ok` : `${file}: ${errors.length} error(s)`);
      exitCode = errors.length === 0 ? EXIT.ok : EXIT.failure;
    });

  program
    .command('status')
    .description(
      'ask the running daemon how it is: inputs, doors, broker, sync, passes, outbox, recent decisions',
    )
    .addOption(configOption())
    .option('--json', 'print the status document as JSON')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const { config } = loadCfg(opts);
      const socket = statusSocketPath(config, io.env, true);
      let st: LocalStatus;
      try {
        st = (await readStatus(socket)) as LocalStatus;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' || code === 'ECONNREFUSED' ? 'it is not running' : (e as Error).message;
        io.stderr.write(`doorpass: no answer from the daemon at ${socket}: ${why}\n`);
        exitCode = EXIT.failure;
        return;
      }
      if (opts.json) {
        out(JSON.stringify(st));
        return;
      }
      const zone = new Zone(config.site.timezone);
      formatStatus(st, (t) => localTime(zone, Date.parse(t))).forEach((l) => out(l));
    });

  const passes = program.command('passes').description('manage the local pass cache');
  passes
    .command('import')
    .description('import a snapshot document {"passes": [...], "accessGroups": [...]} ("-" reads stdin)')
    .argument('<file>', 'snapshot JSON file')
    .addOption(configOption())
    .option('--replace', 'remove cached passes that the snapshot does not contain')
    .option('--json', 'print the report as JSON')
    .action(async (file: string, opts: { config?: string; replace?: boolean; json?: boolean }) => {
      await withSite(opts, async (site) => {
        const snapshot = parseSnapshotShape(readJson(file), file);
        // Staged: a running daemon keeps deciding (it never waits for this process for more than a chunk).
        const report = await importSnapshotStaged(site.store, site.hasher, snapshot, {
          now: Date.now(),
          policy: { maxValidityMs: site.config.site.maxPassDays * 86_400_000 },
          replace: opts.replace === true,
        });
        if (opts.json) out(JSON.stringify(report));
        else reportText(report).forEach((l) => out(l));
        exitCode = report.rejected.length === 0 ? EXIT.ok : EXIT.failure;
      });
    });
  passes
    .command('list')
    .description('list passes: issuer, name, type, active from / expires, schedule, uses')
    .addOption(configOption())
    .option('--active', 'only passes not revoked, not expired and not used up')
    .option('--search <text>', 'match name, issuer, recipient or unit')
    .option('--json', 'print JSON (one array)')
    .action((opts: { config?: string; active?: boolean; search?: string; json?: boolean }) => {
      withSite(opts, (site) => {
        const now = Date.now();
        let rows = site.store.listPasses(opts.search !== undefined ? { search: opts.search } : {});
        if (opts.active)
          rows = rows.filter((r) => {
            const s = passStatus(r, now);
            return s === 'active' || s === 'upcoming';
          });
        if (opts.json) {
          out(
            JSON.stringify(
              rows.map((r) => ({
                ...r.doc,
                id: r.id,
                version: r.version,
                type: passType(r.rule),
                status: passStatus(r, now),
                revoked: r.revoked,
                uses: r.uses,
              })),
            ),
          );
          return;
        }
        if (rows.length === 0) {
          out('no passes');
          return;
        }
        const issuer = (r: (typeof rows)[number]): string => {
          const i = r.doc.issuer as { name?: string; unit?: string } | undefined;
          return [i?.name, i?.unit ? `(${i.unit})` : undefined].filter(Boolean).join(' ');
        };
        out(
          table(
            [
              'ID',
              'NAME',
              'KIND',
              'TYPE',
              'ISSUER',
              `FROM (${site.config.site.timezone})`,
              'EXPIRES',
              'SCHEDULE',
              'USES',
              'STATUS',
            ],
            rows.map((r) => [
              r.id,
              r.name,
              r.kind,
              passType(r.rule),
              issuer(r),
              localTime(site.zone, r.validFrom),
              localTime(site.zone, r.validUntil),
              scheduleText(r),
              usesText(r),
              passStatus(r, now),
            ]),
          ),
        );
      });
    });
  passes
    .command('revoke')
    .description('revoke a pass at once (final: a revoked pass is never valid again)')
    .argument('<id>', 'pass id')
    .addOption(configOption())
    .option('--force', 'revoke it even if no pass with this id is cached (e.g. after a rebuilt cache)')
    .action((id: string, opts: { config?: string; force?: boolean }) => {
      withSite(opts, (site) => {
        const r = revokeLocally(site.store, site.config.device.id, id, Date.now(), {
          force: opts.force === true,
        });
        out(
          r.inCache
            ? `revoked pass ${id}`
            : `revoked pass ${id} (not cached: it stays revoked when it arrives)`,
        );
      });
    });

  program
    .command('check')
    .description('run the access decision for a credential at a door; prints one JSON line')
    .addOption(configOption())
    .requiredOption('--door <id>', 'door id from the config')
    .option('--pin <digits>', 'a PIN')
    .option('--qr <text>', 'QR code text')
    .option('--card <number>', 'a card number (decimal)')
    .option('--at <instant>', 'decide at this ISO-8601 instant instead of now')
    .option('--dry-run', 'count no use and write no event')
    .action(
      (opts: {
        config?: string;
        door: string;
        pin?: string;
        qr?: string;
        card?: string;
        at?: string;
        dryRun?: boolean;
      }) => {
        const given = (['pin', 'qr', 'card'] as const).filter((t) => opts[t] !== undefined);
        if (given.length !== 1) throw usage('give exactly one of --pin, --qr or --card');
        const type: CredentialType = given[0] ?? 'pin';
        const value = opts[type] ?? '';
        const now = opts.at !== undefined ? parseInstant(opts.at) : Date.now();
        withSite(opts, (site) => {
          if (!site.config.doors.some((d) => d.id === opts.door)) {
            throw usage(
              `--door: no door "${opts.door}" in the config (expected one of: ${site.config.doors.map((d) => d.id).join(', ')})`,
            );
          }
          const attempt = { type, value, door: opts.door, now, source: 'cli' };
          const decision = opts.dryRun
            ? site.access.evaluate(attempt)
            : site.access.attempt(attempt).decision;
          out(
            JSON.stringify({
              granted: decision.granted,
              reason: decision.reason,
              passId: decision.passId,
              door: opts.door,
            }),
          );
          exitCode = decision.granted ? EXIT.ok : EXIT.denied;
        });
      },
    );

  const events = program.command('events').description('the local event journal');
  events
    .command('list')
    .description('list the most recent access events (oldest first)')
    .addOption(configOption())
    .option('--limit <n>', 'how many events', '50')
    .option('--json', 'one JSON object per line')
    .action((opts: { config?: string; limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw usage(`--limit: expected a positive whole number, found "${opts.limit}"`);
      withSite(opts, (site) => {
        const list = site.store.listEvents(limit);
        if (opts.json) {
          list.forEach((e) => out(JSON.stringify(eventToJson(e))));
          return;
        }
        if (list.length === 0) return out('no events');
        out(
          table(
            ['TIME', 'EVENT', 'DOOR', 'CREDENTIAL', 'PASS', 'REASON / DETAIL'],
            list.map((e) =>
              isAccessEvent(e)
                ? [
                    localTime(site.zone, e.at),
                    e.type,
                    e.door,
                    e.credentialType,
                    e.passId ?? '-',
                    e.reason ?? '-',
                  ]
                : e.type === 'pass.revoked'
                  ? [localTime(site.zone, e.at), e.type, '-', '-', e.passId, eventDetail(e)]
                  : [localTime(site.zone, e.at), e.type, e.door ?? '-', '-', '-', eventDetail(e)],
            ),
          ),
        );
      });
    });

  const cloud = program
    .command('cloud')
    .description('act as the cloud against any broker: keys, signed pass updates, commands, watching events');
  type CloudOpts = {
    config?: string;
    url?: string;
    site?: string;
    key: string;
    state: string;
    ca?: string;
    cert?: string;
    clientKey?: string;
    username?: string;
    passwordFile?: string;
  };
  const cloudOptions = (cmd: Command): Command =>
    cmd
      .option(
        '-c, --config <file>',
        'take the broker URL, TLS files, credentials and site id from a doorpass config',
      )
      .option('--url <url>', 'broker URL (mqtt://host:1883, mqtts://host:8883)')
      .option('--site <id>', 'site id')
      .option('--key <file>', "the cloud's Ed25519 private key (PEM)", 'cloud.key.pem')
      .option('--state <file>', 'where the stand-in keeps the site state and seq', 'cloud-state.json')
      .option('--ca <file>', 'CA certificate for mqtts')
      .option('--cert <file>', 'client certificate')
      .option('--client-key <file>', 'client certificate key')
      .option('--username <name>', 'broker username')
      .option('--password-file <file>', 'file holding the broker password');
  const connection = (o: CloudOpts): CloudConnection => {
    const cfg = o.config !== undefined ? loadConfig(o.config).config : undefined;
    const url = o.url ?? cfg?.mqtt?.url;
    const site = o.site ?? cfg?.site.id;
    if (url === undefined) throw usage('--url: missing (or give --config with an mqtt section)');
    if (site === undefined) throw usage('--site: missing (or give --config)');
    const m = cfg?.mqtt;
    // An option on the command line wins over the same setting in the config's mqtt section.
    return {
      url,
      site,
      keyFile: o.key,
      stateFile: o.state,
      caFile: o.ca ?? m?.caFile,
      certFile: o.cert ?? m?.certFile,
      clientKeyFile: o.clientKey ?? m?.keyFile,
      username: o.username ?? m?.username,
      passwordFile: o.passwordFile ?? m?.passwordFile,
    };
  };
  cloud
    .command('keygen')
    .description(
      'make an Ed25519 key pair: cloud.key.pem (private, 0600) and cloud.pub.pem (for cloud.publicKeyFile)',
    )
    .option('--out <dir>', 'folder to write them to', '.')
    .action((o: { out: string }) => {
      const k = keygen(o.out);
      out(`private key: ${k.privateFile}`);
      out(`public key:  ${k.publicFile}`);
    });
  cloudOptions(
    cloud
      .command('publish')
      .description(
        'sign and publish a delta {upsert, revoke, accessGroups} or a snapshot file {passes, accessGroups} with the next seq',
      )
      .argument('<file>', 'JSON file'),
  ).action(async (file: string, o: CloudOpts) => {
    const seq = await publishFile(connection(o), file);
    out(`published seq ${seq}`);
  });
  cloudOptions(
    cloud
      .command('revoke')
      .description('revoke a pass at every door (signed delta)')
      .argument('<id>', 'pass id'),
  ).action(async (id: string, o: CloudOpts) => {
    const seq = await publishDelta(connection(o), { upsert: [], revoke: [id] });
    out(`revoked ${id} (seq ${seq})`);
  });
  cloudOptions(
    cloud
      .command('snapshot')
      .description("send the full state (in parts) to one device's snapshot topic")
      .requiredOption('--device <id>', 'device id'),
  ).action(async (o: CloudOpts & { device: string }) => {
    const parts = await sendSnapshot(connection(o), o.device);
    out(`sent snapshot in ${parts} part(s)`);
  });
  cloudOptions(
    cloud
      .command('unlock')
      .description('open a door remotely (signed command); prints the result')
      .requiredOption('--device <id>', 'device id')
      .requiredOption('--door <id>', 'door id')
      .option('--expires-in <seconds>', 'the command is refused after this long', '60')
      .option('--id <id>', 'command id (default: a new UUID)'),
  ).action(async (o: CloudOpts & { device: string; door: string; expiresIn: string; id?: string }) => {
    const r = await sendCommand(connection(o), o.device, {
      type: 'unlock',
      door: o.door,
      expiresInMs: Number(o.expiresIn) * 1000,
      ...(o.id !== undefined && { id: o.id }),
    });
    out(JSON.stringify(r));
    exitCode = r.ok ? EXIT.ok : EXIT.failure;
  });
  cloudOptions(
    cloud
      .command('watch')
      .description('print events, status, command results and sync requests as JSON lines')
      .option('--serve', 'answer sync requests with a snapshot of the state file'),
  ).action(async (o: CloudOpts & { serve?: boolean }) => {
    const ac = new AbortController();
    process.once('SIGINT', () => ac.abort());
    process.once('SIGTERM', () => ac.abort());
    await watch(connection(o), { serve: o.serve === true, print: out, signal: ac.signal });
  });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      )
        return EXIT.ok;
      return EXIT.usage; // commander already printed the message
    }
    if (isDoorpassError(e)) {
      const lines = e.details.length > 0 ? e.details : [e.message];
      for (const l of lines) io.stderr.write(`doorpass: ${l}\n`);
      return e.code === ErrorCode.ConfigInvalid ||
        e.code === ErrorCode.ConfigUnreadable ||
        e.code === ErrorCode.UsageInvalid
        ? EXIT.usage
        : EXIT.failure;
    }
    // A user never sees a stack trace; DOORPASS_DEBUG=1 shows it for a bug report.
    const detail =
      e instanceof Error ? (io.env.DOORPASS_DEBUG ? (e.stack ?? e.message) : e.message) : String(e);
    io.stderr.write(`doorpass: ${detail}\n`);
    return EXIT.failure;
  }
}
