// A deploy replaces the workers while jobs run: a backup and a restore started on the last landed release, whose
// worker is stopped half-way, are finished by a worker of the current code, which replays their history first.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { WorkflowHandle } from '@temporalio/client';
import { backupFolder, readManifest } from '../../activities/catalog/manifest.js';
import { openRepository } from '../../activities/storage/open.js';
import { waitFor } from '../../client/watch.js';
import type { Config, ConfigInput } from '../../config/schema.js';
import type { BackupResult } from '../../domain/backup.js';
import { backupWorkflowId, restoreWorkflowId } from '../../domain/ids.js';
import type { RestoreResult } from '../../domain/restore.js';
import { testConfig } from '../harness/config.js';
import { fingerprint, KITCHEN_SINK_SQL, type DataFingerprint } from '../harness/fixtures.js';
import { oldRelease, type OldRelease } from '../harness/old-release.js';
import { startStack, type Stack } from '../harness/stack.js';
import { processEnvironment, startWorkerProcess, writeConfigFile, type WorkerProcess } from '../harness/worker-process.js';

/** The last release that landed before the current code: its runs must finish on this one. */
const LAST_RELEASE = '19f3943';

const release = oldRelease(LAST_RELEASE);
const skip = 'unavailable' in release ? release.unavailable : false;

let stack: Stack;
let input: ConfigInput;
let config: Config;
let configFile: string;
let source: DataFingerprint;
const processes: Array<WorkerProcess | ChildProcess> = [];

before(async () => {
  if (skip) return;
  stack = await startStack();
  await stack.pg.query('postgres', 'CREATE DATABASE shop');
  await stack.pg.query('shop', KITCHEN_SINK_SQL);
  // About 80 MB that compresses only 2:1, as in worker-takeover: a dump or a restore lasts long enough to stop its worker half-way.
  await stack.pg.query(
    'shop',
    `CREATE TABLE orders_archive AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) || md5((g * 3)::text) || md5((g * 7)::text) AS payload FROM generate_series(1, 500000) g`,
  );
  source = await fingerprint(stack.pg.url('shop'));
  // Only keys both releases know: the old worker reads this file too.
  input = stack.configInput({ shop: { db: 'shop' } }, { backup: { jobs: 1, splitTableMiB: 0.25, chunkMiB: 16 }, worker: { shutdownGraceTime: '0.2s' } });
  config = testConfig(input);
  configFile = writeConfigFile(input);
});

after(async () => {
  for (const p of processes) {
    if ('stop' in p) await p.stop('SIGKILL');
    else if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
  await stack?.stop();
});

/** Runs the old release's CLI in the background (its restore has no --no-wait); its output, once it has ended. */
function oldCli(old: OldRelease, args: string[]): { done: Promise<string> } {
  const child = spawn(process.execPath, [old.cli, '--config', configFile, '--json', ...args], { env: processEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
  processes.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { done: new Promise((resolve) => child.once('exit', () => resolve(output))) };
}

/** Waits until `activity` of the workflow `workflowId` runs on `worker` and `midway()` says the work is well under way. */
async function runningOn(workflowId: string, worker: WorkerProcess, activity: string, midway: () => Promise<boolean>): Promise<WorkflowHandle> {
  const handle = stack.env.client.workflow.getHandle(workflowId);
  for (;;) {
    const description = await handle.describe().catch(() => undefined);
    if (description && description.status.name !== 'RUNNING') {
      const why = await handle.result().then(() => 'completed', (error: Error) => `${error.message}: ${(error.cause as Error | undefined)?.message ?? ''}`);
      throw new Error(`${workflowId} ended (${description.status.name}) before its worker could be stopped: ${why}\n${worker.output()}`);
    }
    const pending = description?.raw.pendingActivities?.find((a) => a.activityType?.name === activity);
    if (pending?.lastWorkerIdentity === worker.identity && (await midway())) return handle;
    if (!worker.alive()) throw new Error(`the ${LAST_RELEASE} worker exited:\n${worker.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The run's result, or the nondeterminism error its replay met: Temporal retries a failed workflow task for ever,
 * so without this a failed replay would hang the test instead of failing it.
 */
async function finish<T>(handle: WorkflowHandle): Promise<T> {
  let ended = false;
  const replayFailed = (async () => {
    while (!ended) {
      const { events } = await handle.fetchHistory();
      const failed = events!.find((e) => e.workflowTaskFailedEventAttributes && /nondetermin|TMPRL1100/i.test(e.workflowTaskFailedEventAttributes.failure?.message ?? ''));
      if (failed) {
        // Ended, so that nothing waits for it any more (waitFor, the old CLI) and the test can report.
        await handle.terminate('its history does not replay on the current code').catch(() => undefined);
        throw new Error(`the current code could not replay the run started on ${LAST_RELEASE}: ${failed.workflowTaskFailedEventAttributes!.failure!.message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return undefined as never;
  })();
  try {
    return await Promise.race([waitFor<T>(handle).catch(async (error: unknown) => {
        // A run terminated for not replaying: the replay's own error, reported a moment later, says more.
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        throw error;
      }), replayFailed]);
  } finally {
    ended = true;
  }
}

/** Every workflow task of the run after the stop was completed by `worker`: the new code replayed the old history. */
async function finishedBy(handle: WorkflowHandle, worker: WorkerProcess, activity: string): Promise<void> {
  const { events } = await handle.fetchHistory();
  const completions = events!.filter((e) => e.activityTaskCompletedEventAttributes);
  const scheduledNames = new Map(
    events!.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [Number(e.eventId), e.activityTaskScheduledEventAttributes!.activityType!.name!]),
  );
  const done = completions.find((e) => scheduledNames.get(Number(e.activityTaskCompletedEventAttributes!.scheduledEventId)) === activity);
  assert.equal(done?.activityTaskCompletedEventAttributes?.identity, worker.identity, `${activity} was finished by the worker of the current code`);
  const lastTask = events!.filter((e) => e.workflowTaskCompletedEventAttributes).at(-1);
  assert.equal(lastTask?.workflowTaskCompletedEventAttributes?.identity, worker.identity, 'the run was completed by the worker of the current code');
}

describe(`an upgrade from ${LAST_RELEASE} while jobs run`, { skip }, () => {
  test(`a backup started on ${LAST_RELEASE}, its worker stopped half-way, is finished by a worker of the current code`, async () => {
    const old = release as OldRelease;
    const oldWorker = await startWorkerProcess(stack.env.client, input, configFile, old.cli);
    processes.push(oldWorker);
    const before = new Set(((await stack.s3.client.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: 'backups/shop/' }))).Contents ?? []).map((o) => o.Key));
    const started = await oldCli(old, ['backup', '--db', 'shop', '--no-wait']).done;
    assert.match(started, /"workflowId"/, `the old CLI started the backup:\n${started}`);
    const handle = await runningOn(backupWorkflowId('shop'), oldWorker, 'dumpLogical', async () => {
      const now = await stack.s3.client.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: 'backups/shop/' }));
      return (now.Contents ?? []).filter((o) => !before.has(o.Key) && /data-\d+/.test(o.Key!)).length >= 1;
    });
    const exit = await oldWorker.stop('SIGTERM');
    assert.equal(exit.code, 0, `the ${LAST_RELEASE} worker shut down on SIGTERM:\n${oldWorker.output()}`);
    const newWorker = await startWorkerProcess(stack.env.client, input, configFile);
    processes.push(newWorker);
    const result = await finish<BackupResult>(handle);
    await finishedBy(handle, newWorker, 'dumpLogical');
    const manifest = await readManifest(openRepository(config, 's3'), backupFolder('shop', 'logical', result.backupId));
    assert.equal(manifest?.tables['public.orders_archive'], 500_000, 'the backup is complete: every row counted once');
    assert.doesNotMatch(newWorker.output(), /TMPRL1100|[Nn]ondeterminism/, 'the new worker replayed the old history without a nondeterminism error');
    await newWorker.stop('SIGTERM');
  });

  test(`a restore started on ${LAST_RELEASE}, its worker stopped half-way, is finished by a worker of the current code`, async () => {
    const old = release as OldRelease;
    const oldWorker = await startWorkerProcess(stack.env.client, input, configFile, old.cli);
    processes.push(oldWorker);
    const seed = await oldCli(old, ['backup', '--db', 'shop']).done;
    assert.match(seed, /"backupId"/, `the old release made a backup to restore:\n${seed}`);
    const backupId = /"backupId":\s*"([^"]+)"/.exec(seed)![1]!;
    const restoring = oldCli(old, ['restore', '--db', 'shop', '--backup', backupId, '--into', 'shop_upgraded']);
    const handle = await runningOn(restoreWorkflowId('shop'), oldWorker, 'restoreLogical', async () => {
      const copying = await stack.pg.query<{ n: string }>(
        'postgres',
        `SELECT count(*) AS n FROM pg_stat_progress_copy p JOIN pg_database d ON d.oid = p.datid WHERE d.datname LIKE '%_pgwrestore_%' AND p.tuples_processed > 0`,
      );
      return Number(copying.rows[0]!.n) > 0;
    });
    const exit = await oldWorker.stop('SIGTERM');
    assert.equal(exit.code, 0, `the ${LAST_RELEASE} worker shut down on SIGTERM:\n${oldWorker.output()}`);
    const newWorker = await startWorkerProcess(stack.env.client, input, configFile);
    processes.push(newWorker);
    const result = await finish<RestoreResult>(handle);
    await finishedBy(handle, newWorker, 'restoreLogical');
    assert.equal(result.rowCountsMatch, true);
    assert.deepEqual(await fingerprint(stack.pg.url('shop_upgraded')), source, 'the restored database is the source');
    assert.doesNotMatch(newWorker.output(), /TMPRL1100|[Nn]ondeterminism/, 'the new worker replayed the old history without a nondeterminism error');
    // The old release's CLI, which waited all along, sees the same result.
    const printed = await restoring.done;
    assert.match(printed, /"rowCountsMatch":\s*true/, `the ${LAST_RELEASE} CLI saw the restore finish:\n${printed}`);
    await newWorker.stop('SIGTERM');
  });
});
