#!/usr/bin/env node
/**
 * The doorpass command line. Exit codes: 0 ok (check: granted), 1 failure (import: something rejected),
 * 2 usage or configuration error, 3 check denied.
 */
import { readFileSync } from 'node:fs';
import { runCli } from './commands.js';

function packageVersion(): string {
  let dir = new URL('.', import.meta.url);
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'doorpass') return pkg.version ?? '0.0.0';
    } catch {
      // not here; look one folder up
    }
    dir = new URL('..', dir);
  }
  return '0.0.0';
}

const code = await runCli(process.argv.slice(2), {
  version: packageVersion(),
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
if (code !== undefined) process.exitCode = code;
