// What must never be deleted, and what must never be left: retention leaves a backup alone while a restore reads
// it; two restores of one database never run at once, with or without Temporal; a backup cut off by an S3
// outage is cleaned up once S3 is back; and retention sweeps folders that never became backups.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { utimesSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { WorkflowHandle } from '@temporalio/client';
import { execa } from 'execa';
import pg from 'pg';
import { writeLease } from '../../activities/catalog/leases.js';
import { openRepository } from '../../activities/storage/open.js';
import { startBackup, startLockedWorkflow, startRestore } from '../../client/api.js';
import { asPgwardenError, waitFor } from '../../client/watch.js';
import { EXIT_CODES, PgwardenError } from '../../domain/errors.js';
import type { Config, ConfigInput } from '../../config/schema.js';
import { discardWorkflowId, expireWorkflowId, jobTaskQueue } from '../../domain/ids.js';
import type { BackupResult } from '../../domain/backup.js';
import type { ExpireResult } from '../../domain/expire.js';
import type { RestoreResult } from '../../domain/restore.js';
import { CLI } from '../harness/archiving.js';
import { testConfig } from '../harness/config.js';
import { fingerprint, type DataFingerprint } from '../harness/fixtures.js';
import { startStack, type Stack } from '../harness/stack.js';
import { processEnvironment, writeConfigFile } from '../harness/worker-process.js';

let stack: Stack;
let input: ConfigInput;
let config: Config;
let configFile: string;
let source: DataFingerprint;
const backups: BackupResult[] = [];

before(async () => {
  stack = await startStack();
  await stack.pg.query('postgres', 'CREATE DATABASE shop');
  // About 80 MB that compresses only 2:1: backups and restores take seconds, long enough to act in the middle.
  await stack.pg.query(
    'shop',
    `CREATE TABLE orders_archive AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) || md5((g * 3)::text) || md5((g * 7)::text) AS payload FROM generate_series(1, 500000) g;
     CREATE TABLE customers (id int PRIMARY KEY, email text); INSERT INTO customers SELECT g, 'c' || g || '@test.cartly.de' FROM generate_series(1, 1000) g;`,
  );
  source = await fingerprint(stack.pg.url('shop'));
  // Manual backups expire after a second here: every backup but the newest is fair game for retention.
  input = stack.configInput({ shop: { db: 'shop' } }, { backup: { jobs: 1, splitTableMiB: 0.25, chunkMiB: 16 }, retention: { manual: '1s' } });
  config = testConfig(input);
  configFile = writeConfigFile(input);
  await stack.worker(config);
  for (let i = 0; i < 2; i += 1) backups.push(await waitFor<BackupResult>(await startBackup(stack.env.client, config, { database: 'shop', kind: 'manual' })));
  // The first is due once it is older than that second (a quick machine may get here sooner).
  const due = Date.parse(backups[0]!.finishedAt) + 1_200;
  if (Date.now() < due) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
});

after(async () => {
  await stack?.stop();
});

async function expire(): Promise<ExpireResult> {
  const handle = await startLockedWorkflow(stack.env.client, config, 'expireWorkflow', expireWorkflowId('shop'), 'Retention', [{ database: 'shop' }], [['database', 'shop']]);
  const result = await waitFor<ExpireResult>(handle);
  // Deleting is a job: it takes one of the worker's job slots (worker.maxConcurrentJobs), on the backups queue.
  const { events } = await handle.fetchHistory();
  const queues = events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'applyExpiry').map((e) => e.activityTaskScheduledEventAttributes!.taskQueue!.name);
  assert.deepEqual(queues, [jobTaskQueue(config.temporal.taskQueue, 'backups')], 'applyExpiry runs on the backups job queue');
  return result;
}

/**
 * Waits until rows are being copied into a staging database, then holds the restore there, half-way, for as long
 * as the test needs (as a slow disk or a big table would): a lock on the table it loads, taken between two of
 * its COPYs. Returns what lets it go on.
 */
async function holdRestoreHalfway(running: () => Promise<boolean>): Promise<() => Promise<void>> {
  for (;;) {
    const { rows } = await stack.pg.query<{ datname: string }>(
      'postgres',
      `SELECT d.datname FROM pg_stat_progress_copy p JOIN pg_database d ON d.oid = p.datid WHERE d.datname LIKE '%_pgwrestore_%' AND p.tuples_processed > 0 LIMIT 1`,
    );
    if (rows[0]) {
      const client = new pg.Client({ connectionString: stack.pg.url(rows[0].datname) });
      await client.connect();
      await client.query('BEGIN');
      await client.query('LOCK TABLE public.orders_archive IN ACCESS EXCLUSIVE MODE');
      return async () => {
        await client.query('COMMIT');
        await client.end();
      };
    }
    if (!(await running())) throw new Error('the restore ended before it was half-way: the test data is too small');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const workflowRuns = (handle: WorkflowHandle) => async () => (await handle.describe()).status.name === 'RUNNING';

async function objectKeys(prefix: string): Promise<string[]> {
  const listed = await stack.s3.client.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key!);
}

async function stagingDatabases(): Promise<string[]> {
  return (await stack.pg.databases()).filter((d) => d.includes('_pgwrestore_'));
}

describe('retention and a restore that reads the backup', () => {
  test('keeps an expired backup while a restore reads it, says why, and removes it after', async () => {
    const [old, newest] = backups as [BackupResult, BackupResult];
    const handle = await startRestore(stack.env.client, config, { database: 'shop', backup: old.backupId, target: 'shop_old' });
    const resume = await holdRestoreHalfway(workflowRuns(handle));
    let during: ExpireResult;
    try {
      during = await expire();
    } finally {
      await resume();
    }
    assert.deepEqual(during.logical.map((l) => l.id), [], 'nothing removed while it is read');
    assert.deepEqual(during.held.map((h) => h.id), [old.backupId]);
    assert.match(during.held[0]!.by.join(), /restore into shop_old \(workflow pgwarden-restore-shop run /);

    const restored = await waitFor<RestoreResult>(handle);
    assert.equal(restored.rowCountsMatch, true);
    assert.deepEqual(await fingerprint(stack.pg.url('shop_old')), source);
    assert.deepEqual(await objectKeys('backups/shop/leases/'), [], 'the restore let go of it');

    const later = await expire();
    assert.deepEqual(later.logical.map((l) => l.id), [old.backupId], 'removed once nobody reads it');
    assert.deepEqual(later.held, []);
    assert.deepEqual((await objectKeys(`backups/shop/logical/${old.backupId}/`)).length, 0);
    assert.ok((await objectKeys(`backups/shop/logical/${newest.backupId}/`)).length > 0, 'the newest backup always stays');

    // A lease its restore never let go of (the worker died right at the end): Temporal says the run is over.
    const now = Date.now();
    await writeLease(openRepository(config, 's3'), 'shop', 'left-behind', {
      leaseVersion: 1,
      holder: { workflow: { namespace: 'default', workflowId: restored.workflowId, runId: restored.runId } },
      purpose: 'restore into shop_old',
      backups: [{ type: 'logical', id: newest.backupId }],
      takenAt: new Date(now).toISOString(),
      expiresAt: new Date(now + 86_400_000).toISOString(),
    });
    await expire();
    assert.deepEqual(await objectKeys('backups/shop/leases/'), [], 'retention removed the lease of a restore that has ended');
  });
});

describe('two restores of one database', () => {
  /** `pgwarden restore --local` as a user runs it when Temporal is down (here Temporal is up, and ignored). */
  function restoreLocal(target: string) {
    return execa(process.execPath, [CLI, '--config', configFile, '--json', 'restore', '--db', 'shop', '--backup', 'latest', '--into', target, '--local'], { env: processEnvironment(), extendEnv: false, reject: false });
  }

  test('restore --local is refused while a restore through Temporal runs, and nothing is left of it', async () => {
    const handle = await startRestore(stack.env.client, config, { database: 'shop', backup: 'latest', target: 'shop_temporal' });
    const resume = await holdRestoreHalfway(workflowRuns(handle));
    const local = await restoreLocal('shop_local_refused').finally(resume);
    assert.equal(local.exitCode, EXIT_CODES.Refused, local.stderr);
    assert.match(JSON.parse(local.stdout).error.message, /A restore of "shop" is already running on .*pgwarden restore run [0-9a-f]{8}/);
    await waitFor<RestoreResult>(handle);
    assert.ok(!(await stack.pg.databases()).includes('shop_local_refused'));
    assert.deepEqual(await stagingDatabases(), []);
  });

  test('a restore through Temporal is refused while restore --local runs, and the local one completes', async () => {
    const local = restoreLocal('shop_local');
    const resume = await holdRestoreHalfway(async () => local.exitCode === null);
    const refused = startRestore(stack.env.client, config, { database: 'shop', backup: 'latest', target: 'shop_temporal2' }).then((handle) => waitFor(handle));
    await refused.catch(() => undefined).finally(resume);
    await assert.rejects(refused, (error: unknown) => {
      const e = asPgwardenError(error);
      assert.ok(e instanceof PgwardenError && e.kind === 'Refused', String(e));
      assert.match(e.message, /A restore of "shop" is already running/);
      return true;
    });
    const done = await local;
    assert.equal(done.exitCode, 0, done.stderr);
    assert.deepEqual(await fingerprint(stack.pg.url('shop_local')), source);
    assert.ok(!(await stack.pg.databases()).includes('shop_temporal2'));
    assert.deepEqual(await stagingDatabases(), []);
  });
});

describe('a backup cut off by an S3 outage', () => {
  test('is cleaned up once S3 is back, however long it was down', async () => {
    const before = new Set(await objectKeys('backups/shop/logical/'));
    const handle = await startBackup(stack.env.client, config, { database: 'shop', kind: 'manual' });
    let written: string[] = [];
    while (!written.some((key) => /data-\d+/.test(key))) {
      written = (await objectKeys('backups/shop/logical/')).filter((key) => !before.has(key));
      if (!(await workflowRuns(handle)())) throw new Error('the backup ended before S3 went down: the test data is too small');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const backupId = written[0]!.split('/')[3]!;
    await stack.s3.down();
    try {
      // The operator gives up on the backup. Its clean-up cannot reach S3 and, retried as long as before this
      // fix, gives up as well, before the backup workflow ends: longer than that, S3 stays down.
      await handle.cancel();
      await assert.rejects(waitFor(handle), /cancel/i);
      const cleanup = stack.env.client.workflow.getHandle(discardWorkflowId('shop', backupId));
      assert.equal((await cleanup.describe()).status.name, 'RUNNING', 'the clean-up goes on after the backup ended');
    } finally {
      await stack.s3.up();
    }
    await waitFor(stack.env.client.workflow.getHandle(discardWorkflowId('shop', backupId)));
    assert.deepEqual(await objectKeys(`backups/shop/logical/${backupId}/`), [], 'nothing of the cancelled backup is left');
    const uploads = await stack.s3.client.send(new ListMultipartUploadsCommand({ Bucket: stack.bucket, Prefix: 'backups/shop/' }));
    assert.equal(uploads.Uploads?.length ?? 0, 0, 'no unfinished multipart uploads');
  });
});

describe('retention and folders that never became backups', () => {
  test('removes a folder without a manifest untouched for two days, says so, and keeps a recent one', async () => {
    // What a crash long ago left (or a clean-up that gave up): objects, no manifest. And one just written.
    const put = (key: string) => stack.s3.client.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: Buffer.alloc(4096, 1) }));
    for (const name of ['pre-data.pgdump.zst.gpg', 'data-0000.sql.zst.gpg']) {
      await put(`backups/shop/logical/20200101T020000Z-daily-dead/${name}`);
      await put(`backups/shop/logical/29990101T020000Z-manual-busy/${name}`);
    }
    const threeDaysAgo = (Date.now() - 3 * 86_400_000) / 1000;
    const oldFolder = join(stack.s3.root, stack.bucket, 'backups/shop/logical/20200101T020000Z-daily-dead');
    for (const file of readdirSync(oldFolder)) utimesSync(join(oldFolder, file), threeDaysAgo, threeDaysAgo);
    assert.ok(statSync(join(oldFolder, 'data-0000.sql.zst.gpg')).mtimeMs < Date.now() - 2 * 86_400_000);

    const result = await expire();
    assert.deepEqual(
      result.abandoned.map((a) => ({ id: a.id, objects: a.objects, bytes: a.bytes })),
      [{ id: '20200101T020000Z-daily-dead', objects: 2, bytes: 8192 }],
    );
    assert.match(result.abandoned[0]!.lastWrittenAt, /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(await objectKeys('backups/shop/logical/20200101T020000Z-daily-dead/'), []);
    assert.equal((await objectKeys('backups/shop/logical/29990101T020000Z-manual-busy/')).length, 2, 'a folder written to lately may be a backup in progress');
  });
});
