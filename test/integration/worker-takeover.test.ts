// Workers are stopped on every deploy and die on bad days: a backup or a restore whose worker is stopped with
// SIGTERM or killed with -9 half-way is finished by the other worker on the queue, correct, with nothing left behind.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { WorkflowHandle } from '@temporalio/client';
import { backupFolder, readManifest } from '../../activities/catalog/manifest.js';
import { openRepository } from '../../activities/storage/open.js';
import { startBackup, startRestore } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import type { Config, ConfigInput } from '../../config/schema.js';
import type { BackupResult } from '../../domain/backup.js';
import type { RestoreResult } from '../../domain/restore.js';
import { testConfig } from '../harness/config.js';
import { fingerprint, KITCHEN_SINK_SQL, type DataFingerprint } from '../harness/fixtures.js';
import { startStack, type Stack } from '../harness/stack.js';
import { startWorkerProcess, writeConfigFile, type WorkerProcess } from '../harness/worker-process.js';

let stack: Stack;
let input: ConfigInput;
let config: Config;
let configFile: string;
let source: DataFingerprint;
let workers: WorkerProcess[] = [];
/** A backup to restore, made beforehand by a worker of its own (on another task queue). */
let seed: BackupResult;

before(async () => {
  stack = await startStack();
  await stack.pg.query('postgres', 'CREATE DATABASE shop');
  await stack.pg.query('shop', KITCHEN_SINK_SQL);
  // About 80 MB that compresses only 2:1: a dump or a restore takes seconds here, long enough to stop its worker
  // half-way; its 16 MiB pieces are stored as multipart uploads, which a killed worker leaves unfinished.
  await stack.pg.query(
    'shop',
    `CREATE TABLE orders_archive AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) || md5((g * 3)::text) || md5((g * 7)::text) AS payload FROM generate_series(1, 500000) g`,
  );
  source = await fingerprint(stack.pg.url('shop'));
  // A short grace time: what remains of a job half-way takes longer than that even on a quick machine (with a
  // second, an idle machine finished the whole dump within it, which is right, but then nothing is handed over).
  // A short grace time: what remains of a job half-way takes longer than that even on an idle machine (which
  // finished the whole rest of the dump within a second: right, but then nothing is handed over to test).
  input = stack.configInput({ shop: { db: 'shop' } }, { backup: { jobs: 1, splitTableMiB: 0.25, chunkMiB: 16 }, worker: { shutdownGraceTime: '0.2s' } });
  config = testConfig(input);
  configFile = writeConfigFile(input);
  const seeding = stack.config({ shop: { db: 'shop' } }, { backup: { jobs: 1, splitTableMiB: 0.25, chunkMiB: 16 } });
  const seeder = await stack.worker(seeding);
  seed = await waitFor<BackupResult>(await startBackup(stack.env.client, seeding, { database: 'shop', kind: 'manual' }));
  await seeder.stop();
  await twoWorkers();
});

after(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await stack?.stop();
});

/** Two workers on the queue, as the README recommends: replaces the ones a test stopped. */
async function twoWorkers(): Promise<void> {
  workers = workers.filter((w) => w.alive());
  while (workers.length < 2) workers.push(await startWorkerProcess(stack.env.client, input, configFile));
}

/** The worker running `activity` of `handle`, once `midway()` says the work is well under way. */
async function workerRunning(handle: WorkflowHandle, activity: string, midway: () => Promise<boolean>): Promise<WorkerProcess> {
  for (;;) {
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') throw new Error(`${handle.workflowId} ended (${description.status.name}) before its worker could be stopped: the test data is too small`);
    const pending = description.raw.pendingActivities?.find((a) => a.activityType?.name === activity && a.lastWorkerIdentity);
    const worker = workers.find((w) => w.identity === pending?.lastWorkerIdentity);
    if (worker && (await midway())) return worker;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A protobuf Duration in seconds. */
const seconds = (d: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(d?.seconds ?? 0) + (d?.nanos ?? 0) / 1e9;

/** What the history says about the one run of `activity`: how many attempts, why the last one was needed, who ran it. */
async function attempts(handle: WorkflowHandle, activity: string) {
  const { events } = await handle.fetchHistory();
  const scheduled = events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity)!;
  const started = events!.find((e) => Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === Number(scheduled.eventId))!;
  const completed = events!.find((e) => Number(e.activityTaskCompletedEventAttributes?.scheduledEventId) === Number(scheduled.eventId));
  const options = scheduled.activityTaskScheduledEventAttributes!;
  return {
    attempt: started.activityTaskStartedEventAttributes!.attempt!,
    lastFailure: started.activityTaskStartedEventAttributes!.lastFailure,
    startedAtMs: seconds(started.eventTime) * 1000,
    completedBy: completed?.activityTaskCompletedEventAttributes?.identity,
    heartbeatTimeoutS: seconds(options.heartbeatTimeout),
    firstRetryS: seconds(options.retryPolicy?.initialInterval),
  };
}

/** Stops the worker, checks that the job was handed over and how, and says how long the hand-over took. */
async function stopMidway(t: TestContext, handle: WorkflowHandle, activity: string, signal: 'SIGTERM' | 'SIGKILL', midway: () => Promise<boolean>) {
  const victim = await workerRunning(handle, activity, midway);
  const stoppedAt = Date.now();
  const exit = await victim.stop(signal);
  if (signal === 'SIGTERM') {
    assert.equal(exit.code, 0, `the worker shuts down cleanly on SIGTERM:\n${victim.output()}`);
    assert.match(victim.output(), /SIGTERM: no new work; running activities get 200ms \(worker\.shutdownGraceTime\)/);
  }
  return async () => {
    const run = await attempts(handle, activity);
    assert.ok(run.attempt >= 2, `${activity} ran again after its worker was stopped (attempt ${run.attempt})`);
    assert.notEqual(run.completedBy, victim.identity, 'another worker finished it');
    if (signal === 'SIGTERM') {
      assert.equal(run.lastFailure?.applicationFailureInfo?.type, 'WorkerStopped', `stopped by the shutdown, retryable: ${run.lastFailure?.message}`);
      // Nothing is wrong with the job: it is retried after a second, not after the policy's back-off.
      assert.equal(seconds(run.lastFailure?.applicationFailureInfo?.nextRetryDelay), 1, 'retried after a second');
    } else {
      assert.ok(run.lastFailure?.timeoutFailureInfo, `noticed by its heartbeat timing out: ${run.lastFailure?.message}`);
    }
    // A dead worker's job moves on within about 30 s: heartbeat timeout plus the first retry interval.
    assert.ok(run.heartbeatTimeoutS + run.firstRetryS <= 30, `heartbeat timeout ${run.heartbeatTimeoutS} s + first retry ${run.firstRetryS} s`);
    t.diagnostic(`${signal}: ${activity} started again on another worker ${((run.startedAtMs - stoppedAt) / 1000).toFixed(1)} s after its worker was stopped`);
  };
}

/** Nothing but complete backups in the repository, no unfinished upload, no lease, no staging database. */
async function nothingOrphaned(): Promise<void> {
  const repo = openRepository(config, 's3');
  const listed = await stack.s3.client.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: 'backups/shop/' }));
  // Backups, leases and what a job may leave lie here; the alert state under shop/monitor/ is pgwarden's own.
  const keys = (listed.Contents ?? []).map((o) => o.Key!.slice('backups/'.length)).filter((k) => !k.startsWith('shop/monitor/'));
  const folders = new Set(keys.map((k) => k.split('/').slice(0, 3).join('/')));
  for (const folder of folders) {
    assert.match(folder, /^shop\/logical\//, `only backups under shop/ (no lease, no half backup): ${folder}`);
    const manifest = await readManifest(repo, `${folder}/`);
    assert.ok(manifest, `${folder} has a manifest`);
    const dataKey = manifest.encryption.scheme === 'openpgp-envelope-v1' ? [manifest.encryption.dataKey] : [];
    const expected = [...manifest.objects.map((o) => o.name), ...dataKey, 'SHA256SUMS', 'manifest.json'].sort();
    assert.deepEqual(keys.filter((k) => k.startsWith(`${folder}/`)).map((k) => k.slice(folder.length + 1)).sort(), expected, `${folder} holds exactly its backup`);
  }
  const uploads = await stack.s3.client.send(new ListMultipartUploadsCommand({ Bucket: stack.bucket, Prefix: 'backups/' }));
  assert.equal(uploads.Uploads?.length ?? 0, 0, 'no unfinished multipart uploads');
  assert.deepEqual((await stack.pg.databases()).filter((d) => d.includes('_pgwrestore_')), [], 'no staging database');
}

describe('a backup whose worker stops half-way', () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    test(`is finished by the other worker when its worker is ${signal === 'SIGTERM' ? 'stopped with SIGTERM' : 'killed with -9'}, with nothing orphaned`, async (t) => {
      await twoWorkers();
      const before = new Set(((await stack.s3.client.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: 'backups/shop/' }))).Contents ?? []).map((o) => o.Key));
      const handle = await startBackup(stack.env.client, config, { database: 'shop', kind: 'manual' });
      // Half-way: the schema and at least one piece of data are stored, more are being written.
      const check = await stopMidway(t, handle, 'dumpLogical', signal, async () => {
        const now = await stack.s3.client.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: 'backups/shop/' }));
        return (now.Contents ?? []).filter((o) => !before.has(o.Key) && /data-\d+/.test(o.Key!)).length >= 1;
      });
      const result = await waitFor<BackupResult>(handle);
      await check();
      const manifest = await readManifest(openRepository(config, 's3'), backupFolder('shop', 'logical', result.backupId));
      assert.equal(manifest?.tables['public.orders_archive'], 500_000, 'every row counted once');
      await nothingOrphaned();
    });
  }
});

describe('a restore whose worker stops half-way', () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    test(`is finished by the other worker when its worker is ${signal === 'SIGTERM' ? 'stopped with SIGTERM' : 'killed with -9'}: the data is exact, nothing orphaned`, async (t) => {
      await twoWorkers();
      const target = `shop_after_${signal.toLowerCase()}`;
      const handle = await startRestore(stack.env.client, config, { database: 'shop', backup: seed.backupId, target });
      // Half-way: rows are being copied into the staging database.
      const check = await stopMidway(t, handle, 'restoreLogical', signal, async () => {
        const copying = await stack.pg.query<{ n: string }>(
          'postgres',
          `SELECT count(*) AS n FROM pg_stat_progress_copy p JOIN pg_database d ON d.oid = p.datid WHERE d.datname LIKE '%_pgwrestore_%' AND p.tuples_processed > 0`,
        );
        return Number(copying.rows[0]!.n) > 0;
      });
      const result = await waitFor<RestoreResult>(handle);
      await check();
      assert.equal(result.rowCountsMatch, true);
      assert.deepEqual(await fingerprint(stack.pg.url(target)), source, 'the restored database is the source');
      await nothingOrphaned();
      const leases = await stack.s3.client.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: 'backups/shop/leases/' }));
      assert.equal(leases.KeyCount ?? 0, 0, 'the restore let go of the backup it read');
    });
  }
});

describe('a backup whose database server restarts half-way', () => {
  test('loses that attempt, is retried once the server is back, and stores a complete backup with every row', async () => {
    await twoWorkers();
    const handle = await startBackup(stack.env.client, config, { database: 'shop', kind: 'manual' });
    // Half-way: rows of the big table are being copied out of the server.
    await workerRunning(handle, 'dumpLogical', async () => {
      const copying = await stack.pg.query<{ n: string }>(
        'postgres',
        `SELECT count(*) AS n FROM pg_stat_progress_copy p JOIN pg_database d ON d.oid = p.datid WHERE d.datname = 'shop' AND p.tuples_processed > 0`,
      );
      return Number(copying.rows[0]!.n) > 0;
    });
    // A restart as a deploy or a failover does it: every session ends, the server is back a moment later.
    await stack.pg.cluster.stop('fast');
    await stack.pg.cluster.start();
    const result = await waitFor<BackupResult>(handle);
    const run = await attempts(handle, 'dumpLogical');
    assert.ok(run.attempt >= 2, `the dump was tried again after the restart (attempt ${run.attempt})`);
    assert.match(run.lastFailure?.message ?? '', /terminat|connection|server closed|shut ?down/i, 'the lost attempt says it lost the server');
    const manifest = await readManifest(openRepository(config, 's3'), backupFolder('shop', 'logical', result.backupId));
    assert.equal(manifest?.tables['public.orders_archive'], 500_000, 'every row, counted once');
    await nothingOrphaned();
  });
});
