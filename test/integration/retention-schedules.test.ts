// Retention keeps what the PITR window and each kind's rule need and nothing more; the runbook's schedules run
// as Temporal Schedules and start real backups.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createActivities } from '../../activities/index.js';
import { listBackups } from '../../activities/catalog/list.js';
import { openRepository } from '../../activities/storage/open.js';
import { walFolder } from '../../activities/wal/archive.js';
import { openArchive } from '../../activities/wal/open.js';
import { walStatus } from '../../activities/wal/status.js';
import { startBackup, startBaseBackup, startLockedWorkflow } from '../../client/api.js';
import { applySchedules, plannedSchedules } from '../../client/schedules.js';
import { waitFor } from '../../client/watch.js';
import type { BackupResult } from '../../domain/backup.js';
import type { BaseBackupResult } from '../../domain/basebackup.js';
import type { ExpireResult } from '../../domain/expire.js';
import { startArchivingCluster, type ArchivingCluster } from '../harness/archiving.js';
import { startStack, type Stack } from '../harness/stack.js';

let stack: Stack;
let source: ArchivingCluster;
const DAY = 86_400_000;

before(async () => {
  stack = await startStack();
  source = await startArchivingCluster(stack, 'app');
  await stack.worker(source.config);
  await source.pg.query('postgres', 'CREATE TABLE t (id serial PRIMARY KEY, v text)');
});

after(async () => {
  await source?.pg.stop();
  await stack?.stop();
});

async function churn(): Promise<void> {
  await source.pg.query('postgres', "INSERT INTO t (v) SELECT md5(g::text) FROM generate_series(1, 1000) g");
  await source.pg.query('postgres', 'SELECT pg_switch_wal()');
}

async function walNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const object of openArchive(source.config, 'app').repo.list(walFolder('app'))) names.push(object.key.split('/').pop()!.replace('.zst.gpg', ''));
  return names.sort();
}

describe('retention', () => {
  let first: BaseBackupResult;
  let second: BaseBackupResult;
  let dailyId: string;
  let manualId: string;

  test('keeps the base backup that covers the window start and the WAL from its start; removes the rest', async () => {
    await churn();
    first = await waitFor<BaseBackupResult>(await startBaseBackup(stack.env.client, source.config, { database: 'app' }));
    await churn();
    await churn();
    second = await waitFor<BaseBackupResult>(await startBaseBackup(stack.env.client, source.config, { database: 'app' }));
    await churn();
    dailyId = (await waitFor<BackupResult>(await startBackup(stack.env.client, source.config, { database: 'app', kind: 'daily' }))).backupId;
    manualId = (await waitFor<BackupResult>(await startBackup(stack.env.client, source.config, { database: 'app', kind: 'manual' }))).backupId;

    // Eight days on, with the default 7-day window: both base backups are older than the window's start, and the
    // newer one is what restores the window's first moment.
    const activities = createActivities(source.config);
    const plan = await activities.planExpiry({ database: 'app', nowMs: Date.now() + 8 * DAY });
    assert.deepEqual(plan.base.map((b) => b.id), [first.backupId]);
    assert.equal(plan.kept.base, 1);
    assert.equal(plan.wal.keepFrom, second.startWal);
    assert.ok(plan.wal.count >= 2, `older WAL goes (${plan.wal.count})`);
    assert.ok(plan.wal.last! < second.startWal);
    assert.deepEqual(plan.logical, [], 'nothing is 30 days old yet');

    const before = await walNames();
    await activities.applyExpiry(plan);
    const afterNames = await walNames();
    assert.ok(afterNames.every((n) => n.endsWith('.history') || n >= second.startWal || n.startsWith('archive')), afterNames.join(','));
    assert.ok(afterNames.length < before.length);
    assert.deepEqual((await listBackups(openArchive(source.config, 'app').repo, 'app', 'base')).map((b) => b.id), [second.backupId]);
    const status = await walStatus(source.config, 'app');
    assert.deepEqual(status.gaps, []);
    assert.equal(status.baseBackups[0]?.restorable, true, 'what is kept is still restorable');
  });

  test('expires logical backups by kind, always keeping the newest; the workflow history records it', async () => {
    const activities = createActivities(source.config);
    const plan = await activities.planExpiry({ database: 'app', nowMs: Date.now() + 31 * DAY });
    assert.deepEqual(plan.logical.map((l) => [l.id, l.kind]), [[dailyId, 'daily']]);
    assert.match(plan.logical[0]!.rule, /daily backups are kept 30 days/);

    const dry = await waitFor<ExpireResult>(
      await startLockedWorkflow(stack.env.client, source.config, 'expireWorkflow', 'pgwarden-expire-app', 'Retention', [{ database: 'app', dryRun: true }], [['database', 'app']]),
    );
    assert.equal(dry.dryRun, true);
    assert.equal(dry.deletedObjects, 0);
    const ids = (await listBackups(openRepository(source.config, 's3'), 'app', 'logical')).map((m) => m.id);
    assert.deepEqual(ids, [dailyId, manualId], 'a dry run deletes nothing');
  });
});

describe('schedules', () => {
  test("the runbook's schedules are created, updated in place, and a triggered one runs a real backup", async () => {
    const planned = plannedSchedules(source.config, 'app');
    assert.deepEqual(planned.map((p) => p.job), ['daily', 'weekly', 'monthly', 'basebackup', 'expire', 'drill', 'verify', 'monitor']);
    const created = await applySchedules(stack.env.client, source.config, planned);
    assert.ok(created.every((r) => r.outcome === 'created'));
    assert.ok((await applySchedules(stack.env.client, source.config, planned)).every((r) => r.outcome === 'updated'));

    const monthly = await stack.env.client.schedule.getHandle('pgwarden-app-monthly').describe();
    const calendar = monthly.spec.calendars?.[0];
    assert.deepEqual(calendar?.dayOfWeek, [{ start: 'MONDAY', end: 'MONDAY', step: 1 }]);
    assert.deepEqual(calendar?.dayOfMonth, [{ start: 1, end: 7, step: 1 }]);
    assert.deepEqual(calendar?.hour, [{ start: 0, end: 0, step: 1 }]);
    const daily = await stack.env.client.schedule.getHandle('pgwarden-app-daily').describe();
    assert.deepEqual(daily.spec.calendars?.[0]?.hour, [{ start: 2, end: 2, step: 1 }]);

    const before = (await listBackups(openRepository(source.config, 's3'), 'app', 'logical')).length;
    await stack.env.client.schedule.getHandle('pgwarden-app-daily').trigger();
    let count = before;
    for (let i = 0; i < 600 && count === before; i += 1) {
      await new Promise((r) => setTimeout(r, 100));
      count = (await listBackups(openRepository(source.config, 's3'), 'app', 'logical')).length;
    }
    assert.equal(count, before + 1, 'the scheduled run made a backup');
    const newest = (await listBackups(openRepository(source.config, 's3'), 'app', 'logical')).at(-1)!;
    assert.equal(newest.kind, 'daily');
    assert.equal(newest.temporal?.workflowId, 'pgwarden-backup-app', 'run under the database lock id');
  });
});
