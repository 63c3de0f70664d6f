// pgwarden.yaml: what is accepted, the defaults, and errors that name the key and the fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDuration } from '../../config/duration.js';
import { formatDuration } from '../../domain/format.js';
import { PgwardenError } from '../../domain/errors.js';
import { databaseView, loadConfig, parseConfig } from '../../config/load.js';
import { resolveSecret } from '../../config/secrets.js';

const minimal = {
  repositories: { local: { type: 'fs', path: '/var/backups/pgwarden' } },
  databases: { cartly: { connection: { env: 'CARTLY_DATABASE_URL' } } },
};

function configError(input: unknown): string {
  try {
    parseConfig(input);
  } catch (error) {
    assert.ok(error instanceof PgwardenError);
    assert.equal(error.kind, 'Config');
    return error.message;
  }
  assert.fail('the configuration was accepted');
}

test('a minimal file gets the runbook defaults: production RTO 1 h / RPO 24 h, dev-server Temporal, BACKUP_PASSPHRASE', () => {
  const config = parseConfig(minimal);
  const db = databaseView(config, 'cartly');
  assert.equal(db.settings.environment, 'production');
  assert.equal(db.rtoMs, 3_600_000);
  assert.equal(db.rpoMs, 86_400_000);
  assert.deepEqual(db.repositories, ['local']);
  assert.equal(config.temporal.address, 'localhost:7233');
  assert.equal(config.temporal.taskQueue, 'pgwarden');
  assert.deepEqual(config.encryption, { passphraseEnv: 'BACKUP_PASSPHRASE', recipients: [], privateKeys: [], previous: [] });
});

test('staging defaults to RTO 4 h / RPO 1 week, development has no targets, explicit targets win', () => {
  const config = parseConfig({
    ...minimal,
    databases: {
      stage: { connection: { env: 'X' }, environment: 'staging' },
      dev: { connection: { env: 'X' }, environment: 'development' },
      fast: { connection: { env: 'X' }, rto: '15m', rpo: '1h' },
    },
  });
  assert.equal(databaseView(config, 'stage').rtoMs, 4 * 3_600_000);
  assert.equal(databaseView(config, 'stage').rpoMs, 7 * 86_400_000);
  assert.equal(databaseView(config, 'dev').rtoMs, undefined);
  assert.equal(databaseView(config, 'fast').rtoMs, 15 * 60_000);
  assert.equal(databaseView(config, 'fast').rpoMs, 3_600_000);
});

test('an inline connection string is refused with the key path and what to write instead', () => {
  const message = configError({ ...minimal, databases: { cartly: { connection: 'postgresql://u:secret@db/cartly' } } });
  assert.match(message, /databases\.cartly\.connection/);
  assert.match(message, /\{ env: VAR_NAME \}|\{ file:/);
  assert.doesNotMatch(message, /secret@db/, 'the error must not echo a secret');
});

test('a secret value where an env var NAME belongs is refused', () => {
  const message = configError({
    ...minimal,
    repositories: { b2: { type: 's3', bucket: 'cartly-db-backups', accessKeyIdEnv: 'K005abc/def+ghi' } },
  });
  assert.match(message, /repositories\.b2\.accessKeyIdEnv/);
  assert.match(message, /NAME of an environment variable/);
});

test('unknown keys, bad durations and undeclared repositories name their place', () => {
  assert.match(configError({ ...minimal, databses: {} }), /unknown key "databses"/);
  assert.match(configError({ ...minimal, databases: { cartly: { connection: { env: 'X' }, rto: 'soon' } } }), /databases\.cartly\.rto: "soon" is not a duration: write it like "1h"/);
  assert.match(
    configError({ ...minimal, databases: { cartly: { connection: { env: 'X' }, repositories: ['b2'] } } }),
    /databases\.cartly\.repositories\.0: repository "b2" is not declared/,
  );
  assert.match(configError({ ...minimal, repositories: { x: { type: 'ftp' } } }), /repositories\.x/);
});

test('several repositories require each database to say which it uses', () => {
  const message = configError({ ...minimal, repositories: { a: { type: 'fs', path: '/a' }, b: { type: 'fs', path: '/b' } } });
  assert.match(message, /databases\.cartly\.repositories: several repositories are declared/);
});

test('an unknown database lists the configured ones', () => {
  const config = parseConfig(minimal);
  assert.throws(() => databaseView(config, 'shop'), /Unknown database "shop": pgwarden\.yaml declares "cartly"/);
});

test('a YAML file loads; a missing file says how to provide one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-config-'));
  const file = join(dir, 'pgwarden.yaml');
  writeFileSync(file, 'repositories:\n  local: { type: fs, path: /tmp/x }\ndatabases:\n  cartly:\n    connection: { env: CARTLY_URL }\n    environment: staging\n');
  assert.equal(loadConfig(file).databases.cartly?.environment, 'staging');
  assert.throws(() => loadConfig(join(dir, 'nope.yaml')), /No configuration at .*nope\.yaml: create it/);
  writeFileSync(file, 'databases: [unclosed');
  assert.throws(() => loadConfig(file), /is not valid YAML/);
});

test('secrets resolve from env or file; a missing one names the variable', () => {
  process.env.PGWARDEN_UNIT_SECRET = 'hunter2';
  assert.equal(resolveSecret({ env: 'PGWARDEN_UNIT_SECRET' }, 'x'), 'hunter2');
  delete process.env.PGWARDEN_UNIT_MISSING;
  assert.throws(() => resolveSecret({ env: 'PGWARDEN_UNIT_MISSING' }, 'the connection of database "cartly"'), /PGWARDEN_UNIT_MISSING \(the connection of database "cartly"\) is not set/);
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-secret-'));
  writeFileSync(join(dir, 's'), 'from-file\n');
  assert.equal(resolveSecret({ file: join(dir, 's') }, 'x'), 'from-file');
});

test('durations parse and print', () => {
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('7d'), 604_800_000);
  assert.equal(parseDuration('1w'), 604_800_000);
  assert.equal(parseDuration('tomorrow'), undefined);
  assert.equal(formatDuration(3_600_000), '1h 00m 00s');
  assert.equal(formatDuration(4_200), '4.2s');
});
