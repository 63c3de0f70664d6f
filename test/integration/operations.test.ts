// Operations that keep their word: `schedules apply` makes Temporal's schedules match the configuration (and removes
// only its own), and a restore of a database with 10,000 tables keeps its workflow history small.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { startBackup, startRestore } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import type { BackupResult } from '../../domain/backup.js';
import type { RestoreResult } from '../../domain/restore.js';
import { startCluster, type TestCluster } from '../harness/postgres.js';
import { startStack, type Stack } from '../harness/stack.js';
import { namespaceOf } from '../harness/temporal.js';

const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));
const TABLES = 10_000;

let stack: Stack;
let wide: TestCluster;
let dir: string;

before(async () => {
  // pg_dump locks every table it dumps in one transaction: 10,000 tables need a lock table larger than the
  // default (max_locks_per_transaction × max_connections = 6,400), as they would in production.
  [stack, wide] = await Promise.all([startStack(), startCluster(['max_locks_per_transaction = 256'])]);
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-operations-'));
});

after(async () => {
  await wide?.stop();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('schedules apply', () => {
  /** Runs `pgwarden schedules apply` with a configuration of these databases (job settings per database). */
  async function apply(databases: Record<string, { schedules?: Record<string, string | false> }>, args: string[] = []) {
    const file = join(dir, `pgwarden-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(
      file,
      stringify({
        temporal: { address: stack.env.address, namespace: namespaceOf(stack.env), taskQueue: 'pgwarden-operations' },
        repositories: { local: { type: 'fs', path: stack.fsPath } },
        databases: Object.fromEntries(Object.entries(databases).map(([name, d]) => [name, { connection: { env: 'UNUSED_DATABASE_URL' }, ...d }])),
      }),
    );
    const result = await execa('node', [CLI, '--config', file, '--json', 'schedules', 'apply', ...args], { reject: false });
    assert.equal(result.exitCode, 0, result.stderr + result.stdout);
    return JSON.parse(result.stdout).result;
  }

  async function scheduleIds(): Promise<string[]> {
    // Described one by one: the list is eventually consistent, a describe is not.
    const ids = [];
    for (const db of ['app', 'shop', 'legacy']) {
      for (const job of ['daily', 'weekly', 'monthly', 'basebackup', 'expire', 'drill', 'verify', 'monitor']) {
        const id = `pgwarden-${db}-${job}`;
        if (await stack.env.client.schedule.getHandle(id).describe().then(() => true, () => false)) ids.push(id);
      }
    }
    return ids;
  }

  test('removes the schedules a job set to false or a removed database left, and nothing it did not make', async () => {
    const created = await apply({ app: {}, shop: {} });
    assert.equal(created.filter((r: { outcome: string }) => r.outcome === 'created').length, 14);
    // Not pgwarden's to remove: another task queue's (another pgwarden installation), and a schedule of someone else.
    const action = { type: 'startWorkflow' as const, workflowType: 'scheduledWorkflow', args: [{ database: 'legacy', operation: 'backup', kind: 'daily' }] };
    await stack.env.client.schedule.create({ scheduleId: 'pgwarden-legacy-daily', spec: { intervals: [{ every: '1 day' }] }, action: { ...action, taskQueue: 'someone-elses-queue' }, memo: { pgwarden: 'daily' } });
    await stack.env.client.schedule.create({ scheduleId: 'pgwarden-legacy-weekly', spec: { intervals: [{ every: '7 days' }] }, action: { ...action, workflowType: 'theirWorkflow', taskQueue: 'pgwarden-operations' } });

    // app's weekly backups turned off, shop removed from the configuration.
    const dry = await apply({ app: { schedules: { weekly: false } } }, ['--dry-run']);
    assert.deepEqual(dry.remove.map((r: { scheduleId: string }) => r.scheduleId), ['pgwarden-app-weekly', 'pgwarden-shop-daily', 'pgwarden-shop-drill', 'pgwarden-shop-expire', 'pgwarden-shop-monitor', 'pgwarden-shop-monthly', 'pgwarden-shop-verify', 'pgwarden-shop-weekly']);
    assert.equal((await scheduleIds()).length, 16, 'a dry run removes nothing');

    const applied = await apply({ app: { schedules: { weekly: false } } });
    const removed = applied.filter((r: { outcome: string }) => r.outcome === 'removed');
    assert.deepEqual(removed.map((r: { scheduleId: string }) => r.scheduleId), dry.remove.map((r: { scheduleId: string }) => r.scheduleId));
    assert.match(removed[0].reason, /databases\.app\.schedules\.weekly is false/);
    assert.match(removed[1].reason, /database "shop" is no longer in the configuration/);
    assert.deepEqual(await scheduleIds(), ['pgwarden-app-daily', 'pgwarden-app-monthly', 'pgwarden-app-expire', 'pgwarden-app-drill', 'pgwarden-app-verify', 'pgwarden-app-monitor', 'pgwarden-legacy-daily', 'pgwarden-legacy-weekly']);

    // --db limits removals to that database: a database missing from this configuration is left alone.
    await apply({ app: {}, shop: {} }, ['--db', 'app']);
    const scoped = await apply({ shop: {} }, ['--db', 'shop']);
    assert.equal(scoped.filter((r: { outcome: string }) => r.outcome === 'removed').length, 0);
    assert.ok((await scheduleIds()).includes('pgwarden-app-weekly'));
  });
});

describe('paused schedules', () => {
  test('stay paused through schedules apply, which says so, and pgwarden status shows them as paused, not as next runs', async () => {
    const file = join(dir, 'pgwarden-paused.yaml');
    writeFileSync(
      file,
      stringify({
        temporal: { address: stack.env.address, namespace: namespaceOf(stack.env), taskQueue: 'pgwarden-operations-paused' },
        repositories: { local: { type: 'fs', path: stack.fsPath } },
        databases: { paused: { connection: { env: 'UNUSED_DATABASE_URL' } } },
      }),
    );
    const cli = (...args: string[]) => execa('node', [CLI, '--config', file, ...args], { reject: false });
    assert.equal((await cli('schedules', 'apply')).exitCode, 0);
    // The readable description where the Temporal UI shows one: the schedule's note, and a calendar's comment.
    const weekly = await stack.env.client.schedule.getHandle('pgwarden-paused-weekly').describe();
    assert.match(weekly.state.note ?? '', /weekly backup of paused, Sundays 01:00 UTC/);
    assert.match(weekly.spec.calendars?.[0]?.comment ?? '', /Sundays 01:00 UTC/);

    await stack.env.client.schedule.getHandle('pgwarden-paused-daily').pause('storage migration until Friday');
    const applied = await cli('schedules', 'apply');
    assert.equal(applied.exitCode, 0, applied.stderr);
    assert.match(applied.stdout, /pgwarden-paused-daily.*\n\s+KEPT PAUSED \(storage migration until Friday\): it starts nothing until resumed with: temporal schedule toggle --schedule-id pgwarden-paused-daily --unpause/);
    const json = JSON.parse((await cli('--json', 'schedules', 'apply')).stdout).result;
    assert.deepEqual(json.find((r: { scheduleId: string }) => r.scheduleId === 'pgwarden-paused-daily'), { scheduleId: 'pgwarden-paused-daily', outcome: 'updated', paused: true, pauseNote: 'storage migration until Friday' });
    assert.equal(json.find((r: { scheduleId: string }) => r.scheduleId === 'pgwarden-paused-weekly').paused, undefined);
    const daily = await stack.env.client.schedule.getHandle('pgwarden-paused-daily').describe();
    assert.equal(daily.state.paused, true, 'apply did not resume it');
    assert.equal(daily.state.note, 'storage migration until Friday', 'the reason for the pause is kept');

    // The schedule list is eventually consistent: asked until it shows the pause.
    let status;
    for (let i = 0; i < 100; i++) {
      status = JSON.parse((await cli('--json', 'status')).stdout).result.databases[0];
      if (status.pausedSchedules?.['pgwarden-paused-daily'] !== undefined) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(status.pausedSchedules?.['pgwarden-paused-daily'], 'storage migration until Friday', JSON.stringify(status));
    assert.equal(status.nextRuns['pgwarden-paused-daily'], undefined, 'a paused schedule is not listed as a next run');
    assert.ok(status.nextRuns['pgwarden-paused-weekly'], 'schedules that run are still listed');
    const text = (await cli('status')).stdout;
    assert.match(text, /PAUSED {4}daily \(storage migration until Friday\): starts nothing until resumed/);
    assert.doesNotMatch(text, /next .*daily/);
  });
});

describe('restore of a database with 10,000 tables', () => {
  test('the workflow history holds a summary of the row-count check, not one entry per table', async () => {
    await wide.query('postgres', 'CREATE DATABASE wide');
    await wide.query('wide', `DO $$ BEGIN FOR i IN 1..${TABLES} LOOP EXECUTE format('CREATE TABLE t%s (v int)', i); END LOOP; END $$`);
    await wide.query('wide', 'INSERT INTO t1 SELECT generate_series(1, 1000); INSERT INTO t9999 VALUES (1), (2)');
    const config = stack.config({ wide: { db: 'wide', url: wide.url('wide'), repositories: ['local'] } });
    await stack.worker(config);
    const backup = await waitFor<BackupResult>(await startBackup(stack.env.client, config, { database: 'wide', kind: 'manual' }));
    assert.equal(backup.tables, TABLES);

    const handle = await startRestore(stack.env.client, config, { database: 'wide', backup: backup.backupId, target: 'wide_restored' });
    const restored = await waitFor<RestoreResult>(handle);
    assert.equal(restored.tables, TABLES);
    assert.equal(restored.rows, 1002);
    assert.equal(restored.rowCountsMatch, true);

    // Every payload this restore put into its history stays small, whatever the number of tables.
    const history = await handle.fetchHistory();
    const sizes = (history.events ?? []).flatMap((event) => {
      const payloads = event.activityTaskCompletedEventAttributes?.result?.payloads ?? event.workflowExecutionCompletedEventAttributes?.result?.payloads ?? [];
      return payloads.map((p) => p.data?.length ?? 0);
    });
    assert.ok(sizes.length >= 2, 'activity results and the workflow result were found');
    assert.ok(Math.max(...sizes) < 4096, `largest result in the history: ${Math.max(...sizes)} bytes`);
  });
});
