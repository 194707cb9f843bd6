import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { configSchema } from '../../src/app/config.js';

t.test('config/doorpass.schema.json is the JSON Schema of the zod config schema', async (t) => {
  const file = path.resolve(import.meta.dirname, '../../config/doorpass.schema.json');
  const shipped = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const { $id: _id, title: _title, description: _description, ...rest } = shipped;
  t.same(
    rest,
    JSON.parse(JSON.stringify(z.toJSONSchema(configSchema, { io: 'input' }))),
    'out of date: run `npm run build && node scripts/gen-config-schema.mjs && npx prettier --write config/doorpass.schema.json`',
  );
  t.same(shipped.required, ['site', 'device', 'storage', 'doors']);
});
