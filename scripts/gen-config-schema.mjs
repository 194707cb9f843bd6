#!/usr/bin/env node
// Writes config/doorpass.schema.json, the JSON Schema of the configuration file, from the zod schema in
// src/app/config.ts (the single source of truth). Run after `npm run build`; a test keeps the file current.
// Editors with YAML language support can use it: `# yaml-language-server: $schema=doorpass.schema.json`.
import { writeFileSync } from 'node:fs';
import { z } from 'zod';

export async function buildConfigSchema() {
  const { configSchema } = await import('../dist/src/app/config.js');
  return {
    ...z.toJSONSchema(configSchema, { io: 'input' }),
    $id: 'https://doorpass.invalid/schemas/doorpass.schema.json',
    title: 'doorpass configuration (/etc/doorpass/doorpass.yaml)',
    description:
      'See docs/configuration.md. Generated from src/app/config.ts by scripts/gen-config-schema.mjs.',
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const schema = await buildConfigSchema();
  writeFileSync(
    new URL('../config/doorpass.schema.json', import.meta.url),
    `${JSON.stringify(schema, null, 2)}\n`,
  );
  console.log('wrote config/doorpass.schema.json');
}
