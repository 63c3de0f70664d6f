// README.md's configuration table is the one the schema generates (config/reference.ts): a key, a default or a
// meaning changed in config/schema.ts without `npm run docs:config`, or the table edited by hand, fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configReference, configTable, TABLE_END, TABLE_START, withConfigTable } from '../../config/reference.js';
import { ConfigSchema } from '../../config/schema.js';

const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');

test("README.md's configuration table is the one config/schema.ts generates", () => {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  assert.ok(start >= 0 && end > start, 'README.md marks where its configuration table begins and ends');
  const written = readme.slice(start + TABLE_START.length, end).trim().split('\n');
  const generated = configTable().split('\n');
  const at = generated.findIndex((line, i) => line !== written[i]);
  const where = at >= 0 ? `; first difference, README.md:\n  ${written[at] ?? '(no row)'}\nthe schema:\n  ${generated[at]}` : '';
  assert.deepEqual(written, generated, `README.md and the schema disagree${where}\nChange the schema (.describe()/.meta()), then run npm run docs:config.`);
  assert.equal(withConfigTable(readme), readme, 'npm run docs:config would change nothing');
});

test('a key without a description fails the generation, naming the key', () => {
  const schema = z.strictObject({ backup: z.strictObject({ jobs: z.number().default(2).describe('streams'), fresh: z.boolean().default(false) }).prefault({}) });
  assert.throws(() => configReference(schema), /backup\.fresh has no description/);
});

test('a default the schema holds is shown as pgwarden.yaml writes it, and never written a second time by hand', () => {
  const seconds = z.union([z.string(), z.number()]).transform((v) => (typeof v === 'number' ? v : 120));
  const [row] = configReference(z.strictObject({ hostWait: seconds.prefault('2m').describe('how long') }));
  assert.deepEqual(row?.defaults, ['`2m`']);
  const twice = z.strictObject({ jobs: z.number().default(2).meta({ description: 'streams', defaultText: 'two' }) });
  assert.throws(() => configReference(twice), /jobs: the schema holds its default/);
});

/** Sets `value` at `path` wherever it is left out (`<name>`: in every entry, of the row's variant only). */
function writeDefault(target: Record<string, unknown>, path: string[], value: unknown, variant: string | undefined): void {
  const [head, ...rest] = path;
  if (head === '<name>') {
    for (const entry of Object.values(target)) writeDefault(entry as Record<string, unknown>, rest, value, variant);
  } else if (rest.length === 0) {
    if (target[head!] === undefined && (variant === undefined || target.type === variant)) target[head!] = value;
  } else if (typeof target[head!] === 'object' && target[head!] !== null) {
    writeDefault(target[head!] as Record<string, unknown>, rest, value, variant);
  }
}

test('every default the table shows is the one the schema applies: writing them all out changes nothing', () => {
  const minimal = {
    temporal: {},
    backup: {},
    retention: {},
    worker: {},
    postgres: {},
    alerts: { slack: { webhookUrlEnv: 'SLACK' }, pagerduty: { routingKeyEnv: 'PD' }, webhook: { urlEnv: 'HOOK' }, healthchecks: { pingKeyEnv: 'HC' } },
    repositories: { local: { type: 'fs', path: '/var/backups/pgwarden' }, b2: { type: 's3', bucket: 'backups' } },
    databases: {
      cartly: { connection: { env: 'CARTLY_URL' }, repositories: ['local'], pitr: {}, drill: {} },
      shop: { provider: 'neon', neon: { projectId: 'shiny-wind-028834' }, repositories: ['b2'] },
    },
  };
  const explicit = structuredClone(minimal) as Record<string, unknown>;
  let written = 0;
  for (const row of configReference()) {
    row.keys.forEach((key, i) => {
      if (row.values[i] === undefined) return;
      writeDefault(explicit, key.split('.'), row.values[i], row.variant);
      written += 1;
    });
  }
  assert.ok(written >= 40, `${written} defaults written out`);
  assert.notDeepEqual(explicit, minimal);
  assert.deepEqual(ConfigSchema.parse(explicit), ConfigSchema.parse(minimal));
});
