#!/usr/bin/env node
// Writes the JSON Schemas of the zod-defined MQTT messages (docs/mqtt.md) to docs/schemas/:
//
//   npm run build && node scripts/gen-mqtt-schemas.mjs
//
// The schemas come from z.toJSONSchema(schema, { io: 'input' }) of the compiled src/protocol/mqtt.ts, with
// the pass document and access group schemas of src/protocol/pass.ts inlined where a message carries them.
// test/protocol/mqtt-schemas.test.ts builds the same with buildSchemas() from the TypeScript sources and
// fails when the files differ, so the docs cannot drift from the code. The other messages' schemas
// (sync request, command result, events batch, status) are written by hand in the same folder.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';

export const SCHEMA_DIR = 'docs/schemas';

/** JSON Schema of a zod schema as the cloud writes it (input side: defaults make a key optional). */
function json(schema) {
  return z.toJSONSchema(schema, { io: 'input' });
}

/** The same, without its own `$schema`, to be inlined in another schema. */
function inlined(schema) {
  const { $schema: _ignored, ...rest } = json(schema);
  return rest;
}

/** Puts the header keys first and replaces `items` of the named array properties. */
function document(schema, header, items) {
  const { $schema, ...rest } = json(schema);
  const properties = { ...rest.properties };
  for (const [key, item] of Object.entries(items)) {
    properties[key] = { ...properties[key], items: inlined(item) };
  }
  return {
    $schema,
    title: header.title,
    description: header.description,
    $comment: `Generated from src/protocol/${header.source} by scripts/gen-mqtt-schemas.mjs; do not edit.`,
    ...rest,
    properties,
  };
}

/**
 * The zod-derived schemas, by file name. `mqtt` and `pass` are the protocol modules (compiled from dist/ by
 * this script, the TypeScript sources in the test).
 */
export function buildSchemas(mqtt, pass) {
  return {
    'passes-delta.schema.json': document(
      mqtt.passDeltaSchema,
      {
        title: 'doorpass passes delta',
        description:
          'doorpass/v1/{site}/passes (cloud -> every device of the site, QoS 1, signed): one change set; seq grows by exactly 1 per message. Each upsert item is a pass document and each accessGroups item an access group document (docs/pass-format.md); the device judges them one by one. Contract minor 1: `issuedAt` (required by a device with cloud.requireBinding true, the default).',
        source: 'mqtt.ts (passDeltaSchema) and pass.ts (passSchema, accessGroupSchema)',
      },
      { upsert: pass.passSchema, accessGroups: pass.accessGroupSchema },
    ),
    'snapshot-part.schema.json': document(
      mqtt.snapshotPartSchema,
      {
        title: 'doorpass snapshot part',
        description:
          'doorpass/v1/{site}/devices/{device}/snapshot (cloud -> device, QoS 1, signed): part `part` of `parts` of the full state at `seq`; each part at most 256 KiB. Contract minor 1: `device` and `issuedAt` (required by a device with cloud.requireBinding true, the default). Also checked by the device, not expressible here: part <= parts; device is its own id; issuedAt is not older than cloud.maxMessageAgeHours (docs/mqtt.md, Binding).',
        source: 'mqtt.ts (snapshotPartSchema) and pass.ts (passSchema, accessGroupSchema)',
      },
      { passes: pass.passSchema, accessGroups: pass.accessGroupSchema },
    ),
    'command.schema.json': document(
      mqtt.commandSchema,
      {
        title: 'doorpass command',
        description:
          'doorpass/v1/{site}/devices/{device}/commands (cloud -> device, QoS 1, signed): executed at most once per id; refused once `expires` has passed. Contract minor 1: `device` and `issuedAt` (required by a device with cloud.requireBinding true, the default); a command for another device, or a stale one, is refused without a result (docs/mqtt.md, Binding).',
        source: 'mqtt.ts (commandSchema)',
      },
      {},
    ),
  };
}

/** Prettier-formatted text, so the files pass `prettier --check` (the test compares parsed JSON). */
async function format(file, value) {
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(JSON.stringify(value), { ...options, filepath: file });
}

async function main() {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const load = (name) => import(pathToFileURL(path.join(root, 'dist/src/protocol', name)).href);
  let mqtt, pass;
  try {
    [mqtt, pass] = await Promise.all([load('mqtt.js'), load('pass.js')]);
  } catch (e) {
    process.stderr.write(`gen-mqtt-schemas: ${e.message}\nrun \`npm run build\` first\n`);
    process.exit(1);
  }
  const dir = path.join(root, SCHEMA_DIR);
  mkdirSync(dir, { recursive: true });
  for (const [name, schema] of Object.entries(buildSchemas(mqtt, pass))) {
    const file = path.join(dir, name);
    writeFileSync(file, await format(file, schema));
    process.stdout.write(`wrote ${path.relative(root, file)}\n`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await main();
}
