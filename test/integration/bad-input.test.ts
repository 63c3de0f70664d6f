// Bad input ends in a clear error, the right kind (exit code), and nothing changed: no database, no object.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities/index.js';
import { startBackup, startRestore } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import { PgwardenError, type FailureKind } from '../../domain/errors.js';
import { parseConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import type { BackupResult } from '../../domain/backup.js';
import type { Progress } from '../../domain/progress.js';
import type { RestoreInput } from '../../domain/restore.js';
import { secretEnv } from '../harness/config.js';
import { startStack, type Stack } from '../harness/stack.js';

let stack: Stack;
let config: Config;
let backupId: string;

before(async () => {
  stack = await startStack();
  await stack.pg.query('postgres', 'CREATE DATABASE cartly');
  await stack.pg.query('cartly', "CREATE TABLE users (id serial PRIMARY KEY, email text); INSERT INTO users (email) SELECT 'u' || g || '@test.cartly.de' FROM generate_series(1, 500) g");
  await stack.pg.query('postgres', 'CREATE DATABASE cartly_existing');
  config = stack.config({ cartly: { db: 'cartly' } });
  await stack.worker(config);
  backupId = (await waitFor<BackupResult>(await startBackup(stack.env.client, config, { database: 'cartly', kind: 'manual' }))).backupId;
});

after(async () => {
  await stack?.stop();
});

/**
 * What a user could see change: databases on the server and objects in the bucket. Not the alert state in
 * `<db>/monitor/`: a refused job is recorded there on purpose, by a notification workflow that runs on its own time.
 */
async function world(): Promise<string> {
  const objects = await stack.s3.client.send(new ListObjectsV2Command({ Bucket: stack.bucket }));
  const keys = (objects.Contents ?? []).filter((o) => !o.Key?.includes('/monitor/')).map((o) => `${o.Key}:${o.Size}`).sort();
  return JSON.stringify({ databases: await stack.pg.databases(), keys });
}

/** Runs `work`, expects a PgwardenError of `kind` whose message matches, and that nothing changed. */
async function failsCleanly(work: () => Promise<unknown>, kind: FailureKind, message: RegExp): Promise<void> {
  const before = await world();
  await assert.rejects(work(), (error: unknown) => {
    assert.ok(error instanceof PgwardenError, `a PgwardenError, got ${String(error)}`);
    assert.equal(error.kind, kind, error.message);
    assert.match(error.message, message);
    return true;
  });
  assert.equal(await world(), before, 'nothing changed');
}

async function restoreVia(cfg: Config, input: Partial<RestoreInput>) {
  const handle = await startRestore(stack.env.client, cfg, { database: 'cartly', backup: backupId, target: 'cartly_new', ...input });
  return waitFor(handle);
}

async function backupVia(cfg: Config) {
  return waitFor(await startBackup(stack.env.client, cfg, { database: 'cartly', kind: 'manual' }));
}

describe('bad input', () => {
  test('an unknown database is refused before anything starts', async () => {
    await failsCleanly(() => startBackup(stack.env.client, config, { database: 'shop', kind: 'manual' }), 'Config', /Unknown database "shop": pgwarden\.yaml declares "cartly"/);
    await failsCleanly(() => restoreVia(config, { database: 'shop' }), 'Config', /Unknown database "shop"/);
  });

  test('a missing environment variable is named', async () => {
    const variable = secretEnv('x', 'PGWARDEN_TEST_UNSET');
    delete process.env[variable];
    const cfg = parseConfig({ ...structuredClone(rawConfig()), databases: { cartly: { connection: { env: variable }, repositories: ['s3'] } } });
    await stack.worker(cfg);
    await failsCleanly(() => backupVia(cfg), 'Config', new RegExp(`Environment variable ${variable} \\(the connection of database "cartly"\\) is not set`));
  });

  test('wrong S3 credentials say which variables to check', async () => {
    const raw = rawConfig();
    raw.repositories.s3.secretAccessKeyEnv = secretEnv('not-the-secret', 'PGWARDEN_TEST_BAD_SECRET');
    const cfg = parseConfig(raw);
    await stack.worker(cfg);
    await failsCleanly(() => backupVia(cfg), 'Config', /S3 refused the credentials .* check PGWARDEN_TEST_S3_KEY_\d+_\d+ \/ PGWARDEN_TEST_BAD_SECRET/);
  });

  test('a missing bucket says to create it', async () => {
    const raw = rawConfig();
    raw.repositories.s3.bucket = 'no-such-bucket';
    const cfg = parseConfig(raw);
    await stack.worker(cfg);
    await failsCleanly(() => backupVia(cfg), 'NotFound', /S3 bucket 'no-such-bucket' not found at http:\/\/127\.0\.0\.1:\d+: create it or fix repositories\.s3\.bucket/);
  });

  test('the wrong passphrase is caught before any work, by the key fingerprint', async () => {
    const raw = rawConfig();
    raw.encryption = { passphraseEnv: secretEnv('another passphrase', 'PGWARDEN_TEST_WRONG_PASS') };
    const cfg = parseConfig(raw);
    await stack.worker(cfg);
    await failsCleanly(() => restoreVia(cfg, {}), 'Integrity', /None of the configured keys opens backup .* wrapped for a passphrase \(fingerprint scrypt:.*Set the passphrase it was made with/);
  });

  test('a backup id that does not exist lists the ones that do', async () => {
    await failsCleanly(() => restoreVia(config, { backup: '20200101T000000Z-daily-0000' }), 'NotFound', new RegExp(`does not exist .* Newest: ${backupId}`));
  });

  test('a target database that exists is refused', async () => {
    await failsCleanly(() => restoreVia(config, { target: 'cartly_existing' }), 'Refused', /Database "cartly_existing" already exists .* nothing was changed/);
  });

  test('a target name that is not a plain database name is refused', async () => {
    await failsCleanly(() => restoreVia(config, { target: 'x; DROP DATABASE cartly' }), 'Usage', /"target" \(--into\) "x; DROP DATABASE cartly" is not a database name/);
  });

  test('a corrupted stored object fails the restore as corrupt, and no database is left', async () => {
    const folder = join(stack.s3.root, stack.bucket, 'backups', 'cartly', 'logical', backupId);
    const data = readdirSync(folder).filter((f) => f.startsWith('data-')).sort((a, b) => statSync(join(folder, b)).size - statSync(join(folder, a)).size)[0]!;
    const original = readFileSync(join(folder, data));
    const damaged = Buffer.from(original);
    damaged[Math.floor(damaged.length / 2)]! ^= 0xff;
    writeFileSync(join(folder, data), damaged);
    // With the SDK's CRC checks on (the default) S3 reports the damage; with them off (B2) pgwarden's sha256 does.
    const raw = rawConfig();
    raw.repositories.s3 = { ...raw.repositories.s3, requestChecksums: 'when_required' };
    const withoutCrc = parseConfig(raw);
    await stack.worker(withoutCrc);
    try {
      for (const cfg of [config, withoutCrc]) {
        await failsCleanly(() => restoreVia(cfg, {}), 'Integrity', new RegExp(`${data.replace(/\./g, '\\.')} in repository "s3" is corrupt`));
      }
    } finally {
      writeFileSync(join(folder, data), original);
    }
    const staging = (await stack.pg.databases()).filter((d) => d.includes('_pgwrestore_'));
    assert.deepEqual(staging, []);
  });
});

describe('progress', () => {
  test('the dump activity heartbeats its phase and the bytes done', async () => {
    const heartbeats: Progress[] = [];
    const env = new MockActivityEnvironment();
    env.on('heartbeat', (details: Progress) => heartbeats.push(details));
    const activities = createActivities(config);
    const output = await env.run(activities.dumpLogical, {
      database: 'cartly',
      backupId: '20300101T000000Z-manual-test',
      kind: 'manual' as const,
      workflow: { namespace: 'default', workflowId: 'test', runId: 'test', startedAtMs: Date.now() },
    }) as Awaited<ReturnType<typeof activities.dumpLogical>>;
    const phases = heartbeats.map((h) => h.phase);
    assert.equal(phases[0], 'planning');
    assert.ok(phases.includes('dumping') || phases.includes('writing manifest'), phases.join(','));
    const last = heartbeats.at(-1)!;
    assert.equal(last.bytesDone, output.rawBytes, 'the last heartbeat has every byte');
    assert.equal(last.storedBytes, output.storedBytes);
    assert.equal(last.itemsDone, last.itemsTotal);
  });
});

function rawConfig() {
  // The stack's configuration as plain input, to vary one key per test.
  const cfg = config;
  return {
    temporal: { ...cfg.temporal, taskQueue: `${cfg.temporal.taskQueue}-${Math.random().toString(36).slice(2, 8)}` },
    encryption: cfg.encryption as { passphraseEnv: string },
    backup: cfg.backup,
    repositories: { s3: { ...(cfg.repositories.s3 as Extract<Config['repositories'][string], { type: 's3' }>) } },
    databases: { cartly: { ...cfg.databases.cartly!, repositories: ['s3'] } },
  };
}

