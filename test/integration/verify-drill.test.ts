// Integrity verification and restore drills of a PITR database on real clusters: a drill restores the latest
// backup and the latest moment and removes both; verification reads everything back, and finds a flipped byte
// in a stored object and a missing WAL segment, naming the restores they break and what still works.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { openAlertStore } from '../../activities/catalog/monitor-records.js';
import { walKey } from '../../activities/wal/archive.js';
import { openArchive } from '../../activities/wal/open.js';
import { startBackup, startBaseBackup, startDrill, startVerify } from '../../client/api.js';
import { reportOfFailure } from '../../client/commands/verify.js';
import { waitFor } from '../../client/watch.js';
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import { jobTaskQueue, monitorWorkflowId } from '../../domain/ids.js';
import type { BackupResult } from '../../domain/backup.js';
import type { BaseBackupResult } from '../../domain/basebackup.js';
import type { DrillResult, VerifyResult } from '../../domain/verify.js';
import type { MonitorResult } from '../../domain/health.js';
import { testConfig } from '../harness/config.js';
import { startArchivingCluster, type ArchivingCluster } from '../harness/archiving.js';
import { startStack, type Stack } from '../harness/stack.js';

let stack: Stack;
let source: ArchivingCluster;
let config: Config;

before(async () => {
  stack = await startStack();
  source = await startArchivingCluster(stack, 'app');
  const app = source.input.databases.app!;
  config = testConfig({
    ...source.input,
    databases: {
      app: {
        ...app,
        repositories: ['s3', 'local'], // logical backups in both; the WAL archive stays in s3
        drill: { assertions: [{ table: 'markers', minRows: 100 }, { name: 'markers as in production', sql: 'SELECT batch, count(*) FROM markers GROUP BY batch', equalsSource: true }] },
      },
    },
  });
  await stack.worker(config);
  await source.pg.query('postgres', 'CREATE TABLE markers (id int PRIMARY KEY, batch text NOT NULL)');
});

after(async () => {
  await source?.pg.stop();
  await stack?.stop();
});

async function write(batch: string, from: number, count: number): Promise<void> {
  await source.pg.query('postgres', `INSERT INTO markers SELECT g, '${batch}' FROM generate_series(${from}, ${from + count - 1}) g`);
}

/** Closes the current segment and waits until it is archived; returns its name. */
async function archiveNow(): Promise<string> {
  const { rows } = await source.pg.query<{ name: string }>('postgres', 'SELECT pg_walfile_name(pg_switch_wal()) AS name');
  const name = rows[0]!.name;
  const { repo } = openArchive(config, 'app');
  for (let i = 0; !(await repo.head(walKey('app', name))); i += 1) {
    if (i > 300) throw new Error(`${name} not archived: ${readFileSync(source.pg.cluster.logFile, 'utf8').slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return name;
}

const baseBackup = async () => waitFor<BaseBackupResult>(await startBaseBackup(stack.env.client, config, { database: 'app' }));

describe('restore drill and verification of a PITR database', () => {
  let base1: BaseBackupResult;
  let logical: BackupResult;
  let afterBase1: string;

  test('a drill restores the latest backup and the latest moment, checks both against the RTO, RPO and assertions, and removes both', async () => {
    await write('a', 1, 100);
    base1 = await baseBackup();
    await write('b', 101, 100);
    afterBase1 = await archiveNow();
    await write('c', 201, 100);
    await archiveNow();
    logical = await waitFor<BackupResult>(await startBackup(stack.env.client, config, { database: 'app', kind: 'manual' }));

    const drill = await waitFor<DrillResult>(await startDrill(stack.env.client, config, { database: 'app' }));
    assert.equal(drill.passed, true, drill.failures.join('; '));
    assert.deepEqual(drill.parts.map((p) => p.type), ['logical', 'pitr']);
    const [logicalPart, pitrPart] = drill.parts as [DrillResult['parts'][0], DrillResult['parts'][0]];
    assert.equal(logicalPart.backupId, logical.backupId);
    assert.equal(logicalPart.rowCountsMatch, true);
    assert.equal(pitrPart.backupId, base1.backupId);
    for (const part of drill.parts) {
      assert.equal(part.withinRto, true);
      assert.equal(part.withinRpo, true);
      assert.deepEqual(part.assertions.map((a) => a.passed), [true, true], JSON.stringify(part.assertions));
      assert.equal(part.cleanedUp, true);
    }
    assert.equal(existsSync(pitrPart.target!), false, 'the PITR data directory is gone');
    assert.deepEqual((await source.pg.databases()).filter((d) => d.includes('pgwdrill')), []);
    console.log(`drill: logical restore ${logicalPart.restoreMs} ms, PITR restore ${pitrPart.restoreMs} ms, whole drill ${drill.durationMs} ms`);
  });

  test('the monitor judges the WAL archive: caught up (no lag), and a window that is short only because the archive is new', async () => {
    const result = await stack.env.client.workflow.execute<() => Promise<MonitorResult>>('monitorWorkflow', {
      taskQueue: config.temporal.taskQueue,
      workflowId: monitorWorkflowId('app'),
      args: [{ database: 'app' }] as never,
    });
    const byRule = Object.fromEntries(result.observations.map((o) => [o.rule, o]));
    assert.equal(byRule['wal-lag']?.firing, false, byRule['wal-lag']?.summary);
    assert.match(byRule['wal-lag']!.summary, /^WAL archive lag 0s$/, 'every completed segment is archived');
    assert.equal(byRule['restore-window']?.firing, false);
    assert.match(byRule['restore-window']!.summary, /archive still filling/);
    assert.equal(byRule['backup-too-old']?.firing, false);
  });

  test('verification reads every backup in every repository and the WAL each base backup needs: all intact', async () => {
    const handle = await startVerify(stack.env.client, config, { database: 'app', backup: 'all', wal: true });
    const result = await waitFor<VerifyResult>(handle);
    assert.equal(result.ok, true, JSON.stringify(result.findings));
    // Reading every object back is a restore's work: each read takes one of the worker's job slots.
    const { events } = await handle.fetchHistory();
    const queues = events!.filter((e) => /^verify(Backup|Wal)$/.test(e.activityTaskScheduledEventAttributes?.activityType?.name ?? '')).map((e) => e.activityTaskScheduledEventAttributes!.taskQueue!.name);
    assert.ok(queues.length >= 1, "reads were scheduled");
    assert.deepEqual(new Set(queues), new Set([jobTaskQueue(config.temporal.taskQueue, 'restores')]), 'every read runs on the restores job queue');
    assert.equal(result.complete, true);
    assert.deepEqual(result.backups.map((b) => `${b.type}:${b.repository}:${b.ok}`).sort(), ['base:s3:true', 'logical:local:true', 'logical:s3:true']);
    assert.ok(result.wal!.segmentsChecked >= 3, `${result.wal!.segmentsChecked} segments checked`);
    console.log(`verify: ${result.durationMs} ms for ${result.backups.length} backups and ${result.wal!.segmentsChecked} WAL segments`);
  });

  test('verification finds a flipped byte in a stored object and a missing WAL segment, and names the backups that no longer restore', async () => {
    const base2 = await baseBackup();
    await write('d', 301, 100);
    await archiveNow();
    assert.ok(afterBase1 > base1.stopWal && afterBase1 < base2.startWal, `${afterBase1} lies between the two base backups`);

    // One byte of a data object of the logical backup, in the S3 repository only.
    const folder = join(stack.s3.root, stack.bucket, 'backups', 'app', 'logical', logical.backupId);
    const object = readdirSync(folder).find((f) => f.startsWith('data-'))!;
    const bytes = readFileSync(join(folder, object));
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(join(folder, object), bytes);
    // One archived WAL segment that base backup 1 needs after its consistency point.
    await stack.s3.client.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: `backups/${walKey('app', afterBase1)}` }));

    const handle = await startVerify(stack.env.client, config, { database: 'app', backup: 'all', wal: true });
    await assert.rejects(waitFor<VerifyResult>(handle), (error: unknown) => error instanceof PgwardenError && error.kind === 'Integrity');
    const report = (await reportOfFailure<VerifyResult>(handle.result()))!;
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.findings.map((f) => [f.repository, f.object.split('/').slice(-1)[0], f.problem]).sort(),
      [
        ['s3', `${afterBase1}.zst.gpg`, 'missing'],
        ['s3', object, 'checksum'],
      ],
      JSON.stringify(report.findings),
    );
    assert.ok(
      report.broken.includes(`restoring backup ${logical.backupId} from repository "s3" fails (${object} (checksum)); its copy in "local" is intact: restore with --repository local`),
      report.broken.join('\n'),
    );
    const pitrLine = report.broken.find((line) => line.includes(`base backup ${base1.backupId}`));
    assert.match(pitrLine ?? '', new RegExp(`point-in-time restores from base backup ${base1.backupId} reach only to \\S+: WAL segment ${afterBase1} is missing; moments after that restore only from base backup ${base2.backupId} on`));
    assert.ok(!report.broken.some((line) => line.includes(`base backup ${base2.backupId} can no longer`)), 'the newer base backup still restores');

    // Raised by the abandoned notification workflow the failure started: it may take a moment.
    const store = (await openAlertStore(config, 'app'))!;
    let alert = await store.read('verify-failed');
    for (let i = 0; i < 100 && !alert?.firing; i += 1) {
      await new Promise((r) => setTimeout(r, 100));
      alert = await store.read('verify-failed');
    }
    assert.equal(alert?.firing, true);
    assert.match(alert!.summary, /integrity verification failed: Verification of app found 2 problem\(s\)/);
  });
});
