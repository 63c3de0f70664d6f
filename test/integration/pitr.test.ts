// Point-in-time recovery on real clusters: base backup, archived WAL, restore to a time, an LSN, the end; copies
// that archive (under their own name, or into the source's archive when asked) and the timelines they leave; the
// source's own timeline followed after that; restore points and transactions behind a newer base backup; a hole
// in the archive after the target; refusals before anything is written; a corrupt segment stops recovery.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { clusterUser, LocalCluster } from '../../activities/postgres/cluster.js';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities/index.js';
import { discardIncomplete } from '../../activities/catalog/discard.js';
import { backupFolder } from '../../activities/catalog/manifest.js';
import { DATA_KEY_FILE } from '../../activities/keys/data-key.js';
import { walKey } from '../../activities/wal/archive.js';
import { openArchive } from '../../activities/wal/open.js';
import { walStatus } from '../../activities/wal/status.js';
import { startBaseBackup, startPitr } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import { PgwardenError } from '../../domain/errors.js';
import type { BaseBackupResult } from '../../domain/basebackup.js';
import type { PitrInput, PitrResult } from '../../domain/pitr.js';
import { startArchivingCluster, type ArchivingCluster } from '../harness/archiving.js';
import { SUPERUSER } from '../harness/postgres.js';
import { startStack, type Stack } from '../harness/stack.js';

let stack: Stack;
let source: ArchivingCluster;
const restored: PitrResult[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'pgwarden-pitr-'));
chmodSync(scratch, 0o755);

before(async () => {
  stack = await startStack();
  source = await startArchivingCluster(stack, 'app');
  await stack.worker(source.config);
  await source.pg.query('postgres', 'CREATE TABLE markers (id int PRIMARY KEY, batch text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())');
});

after(async () => {
  const user = await clusterUser('pgwarden');
  for (const r of restored) {
    await new LocalCluster({ dataDir: r.datadir, binDir: serverBinDir(), port: r.port, ...(user ? { user } : {}) }).stop('immediate').catch(() => undefined);
  }
  await source?.pg.stop();
  await stack?.stop();
  rmSync(scratch, { recursive: true, force: true }); // the restored data directories (about 1 GB)
});

async function write(pg: { query: (db: string, sql: string) => Promise<unknown> }, batch: string, from: number, count: number): Promise<void> {
  await pg.query('postgres', `INSERT INTO markers (id, batch) SELECT g, '${batch}' FROM generate_series(${from}, ${from + count - 1}) g`);
}

async function archiveNow(): Promise<string> {
  const { rows } = await source.pg.query<{ name: string }>('postgres', 'SELECT pg_walfile_name(pg_switch_wal()) AS name');
  await waitArchived(rows[0]!.name);
  return rows[0]!.name;
}

/** Waits until WAL file `name` is in the archive of `database` (the source's, or a copy's own). */
async function waitArchived(name: string, database = 'app', log = source.pg.cluster.logFile): Promise<void> {
  const { repo } = openArchive(source.config, 'app');
  for (let i = 0; !(await repo.head(walKey(database, name))); i += 1) {
    if (i > 300) throw new Error(`${name} not archived in ${database}: ${readFileSync(log, 'utf8').slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function lsnNow(): Promise<string> {
  return (await source.pg.query<{ lsn: string }>('postgres', 'SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
}

async function baseBackup(): Promise<BaseBackupResult> {
  return waitFor<BaseBackupResult>(await startBaseBackup(stack.env.client, source.config, { database: 'app' }));
}

/** Runs SQL on a restored copy and switches its WAL; the name of the segment it closed. */
async function onCopy(result: PitrResult, sql: string): Promise<string> {
  const client = new pg.Client({ connectionString: `postgresql://${SUPERUSER}:${encodeURIComponent(source.pg.password)}@127.0.0.1:${result.port}/postgres` });
  await client.connect();
  try {
    await client.query(sql);
    return (await client.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name')).rows[0]!.name;
  } finally {
    await client.end();
  }
}

async function archivedNames(database: string): Promise<string[]> {
  const { repo } = openArchive(source.config, 'app');
  const names: string[] = [];
  for await (const object of repo.list(`${database}/wal/`)) names.push(object.key.slice(`${database}/wal/`.length));
  return names;
}

async function pitr(input: Omit<PitrInput, 'database'>): Promise<PitrResult> {
  const result = await waitFor<PitrResult>(await startPitr(stack.env.client, source.config, { database: 'app', datadir: join(scratch, `restore-${restored.length}`), ...input }));
  restored.push(result);
  return result;
}

async function batches(result: PitrResult): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: `postgresql://${SUPERUSER}:${encodeURIComponent(source.pg.password)}@127.0.0.1:${result.port}/postgres` });
  await client.connect();
  try {
    const { rows } = await client.query<{ batch: string; n: string }>('SELECT batch, count(*) AS n FROM markers GROUP BY batch ORDER BY batch');
    return Object.fromEntries(rows.map((r) => [r.batch, Number(r.n)]));
  } finally {
    await client.end();
  }
}

describe('point-in-time recovery', () => {
  let base: BaseBackupResult;
  let beforeB: string;
  let afterB: string;
  let afterA: string; // an LSN in the segment before `padding`
  let padding: string; // a whole segment of timeline 1 between batch a and the copies' switch to timeline 2
  let later: BaseBackupResult;

  test('a base backup completes once the WAL it needs is archived', async () => {
    await write(source.pg, 'a0', 1, 10);
    base = await waitFor<BaseBackupResult>(await startBaseBackup(stack.env.client, source.config, { database: 'app' }));
    assert.match(base.backupId, /-base-/);
    assert.equal(base.timeline, 1);
    assert.ok(base.storedBytes > 0);
    const { repo } = openArchive(source.config, 'app');
    assert.ok(await repo.head(walKey('app', base.stopWal)), 'the stop segment is archived');

    await write(source.pg, 'a', 11, 90);
    afterA = await lsnNow();
    await archiveNow();
    await source.pg.query('postgres', "SELECT pg_logical_emit_message(false, 'pgwarden-test', 'padding')");
    padding = await archiveNow();
    await new Promise((r) => setTimeout(r, 1_100));
    beforeB = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1_100));
    await write(source.pg, 'b', 101, 100);
    afterB = (await source.pg.query<{ lsn: string }>('postgres', 'SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
    await write(source.pg, 'c', 201, 100);
    await archiveNow();
  });

  test('restores to a time: exactly the rows written before it exist', async () => {
    const result = await pitr({ target: beforeB });
    assert.deepEqual(await batches(result), { a: 90, a0: 10 });
    assert.equal(result.timeline, 2, 'promoted onto a new timeline');
    assert.ok(result.lastTransactionAt && result.lastTransactionAt <= beforeB);
    assert.match(result.stoppedAt ?? '', /recovery stopping before commit/);
    assert.equal(result.withinRto, true);
    assert.ok(existsSync(join(result.datadir, 'PG_VERSION')));
  });

  test('restores to an LSN', async () => {
    const result = await pitr({ target: afterB });
    assert.deepEqual(await batches(result), { a: 90, a0: 10, b: 100 });
  });

  test('restores to the end of the archive (latest)', async () => {
    const result = await pitr({ target: 'latest' });
    assert.deepEqual(await batches(result), { a: 90, a0: 10, b: 100, c: 100 });
  });

  test('wal status shows the archive, the restore window and no gaps', async () => {
    const status = await walStatus(source.config, 'app');
    assert.deepEqual(status.gaps, []);
    assert.ok(status.newest && status.newest.ageMs < 60_000);
    assert.equal(status.withinRpo, true);
    assert.ok(status.window && status.window.from <= beforeB && status.window.to >= beforeB);
    assert.equal(status.baseBackups[0]?.restorable, true);
  });

  test('a target outside the archive fails before anything is written', async () => {
    const datadir = join(scratch, 'never');
    const future = new Date(Date.now() + 3_600_000).toISOString();
    await assert.rejects(waitFor(await startPitr(stack.env.client, source.config, { database: 'app', target: future, datadir })), (error: unknown) => {
      assert.ok(error instanceof PgwardenError);
      assert.equal(error.kind, 'NotFound');
      assert.match(error.message, /is outside what the archive covers: WAL is archived without a hole up to .* Restore window from base backup/);
      return true;
    });
    await assert.rejects(waitFor(await startPitr(stack.env.client, source.config, { database: 'app', target: '2001-01-01T00:00:00Z', datadir })), /is before the oldest base backup/);
    assert.equal(existsSync(datadir), false, 'no data directory was created');
  });

  test('a restored copy that archives does so under its own name, never into the source\'s archive', async () => {
    const copy = await pitr({ target: beforeB, archive: true });
    assert.match(copy.archivesAs ?? '', /^app-pitr-/, 'archives under a name of its own');
    const closed = await onCopy(copy, `INSERT INTO markers (id, batch) SELECT g, 'copy' FROM generate_series(2001, 2010) g`);
    await waitArchived(closed, copy.archivesAs!, join(copy.datadir, 'pgwarden', 'recovery.log'));
    const walFiles = (await archivedNames('app')).filter((n) => /^[0-9A-F]{8}/.test(n)); // not archive.json, not the data keys in keys/
    assert.deepEqual(walFiles.filter((n) => !n.startsWith('00000001')), [], 'nothing of the copy in the source\'s archive');
  });

  test('a copy asked to archive into the source\'s archive (the new primary) is followed when asked for its timeline', async () => {
    const primary = await pitr({ target: beforeB, archive: true, archiveAs: 'app' });
    assert.equal(primary.archivesAs, 'app');
    assert.equal(primary.timeline, 2);
    const closed = await onCopy(primary, `INSERT INTO markers (id, batch) SELECT g, 'd' FROM generate_series(1001, 1050) g`);
    assert.match(closed, /^00000002/);
    await waitArchived(closed, 'app', join(primary.datadir, 'pgwarden', 'recovery.log'));
    await waitArchived('00000002.history', 'app', join(primary.datadir, 'pgwarden', 'recovery.log'));
    const second = await pitr({ target: 'latest', timeline: 2 });
    assert.deepEqual(await batches(second), { a: 90, a0: 10, d: 50 }, 'timeline 2: batch d, not b and c');
    assert.equal(second.followedTimeline?.timeline, 2);
    assert.equal(second.timeline, 3, 'promoted onto the first timeline the archive does not have');
  });

  test('the source goes on on timeline 1: a later base backup restores along timeline 1, not the abandoned timeline 2', async () => {
    await write(source.pg, 'e', 301, 20);
    later = await baseBackup();
    assert.equal(later.timeline, 1);
    await write(source.pg, 'f', 321, 20);
    await archiveNow();
    const result = await pitr({ target: 'latest', datadir: join(scratch, 'restore with a space') });
    assert.equal(result.baseBackupId, later.backupId);
    assert.equal(result.followedTimeline?.timeline, 1);
    assert.match(result.followedTimeline?.reason ?? '', /source's current timeline/);
    assert.deepEqual(await batches(result), { a: 90, a0: 10, b: 100, c: 100, e: 20, f: 20 });
    assert.ok(result.window.from <= result.window.to, `the restore window ends after it starts: ${result.window.from} to ${result.window.to}`);
  });

  test('wal status shows the source\'s timeline and measures the RPO on it', async () => {
    const status = await walStatus(source.config, 'app');
    assert.match(status.newest?.name ?? '', /^00000001/, 'the newest WAL of timeline 1, not of the abandoned timeline 2');
    assert.equal(status.source?.timeline, 1);
    assert.equal(status.timeline.timeline, 1);
    assert.equal(status.withinRpo, true);
    const newest = status.baseBackups.find((b) => b.id === later.backupId);
    assert.equal(newest?.restorable, true);
    assert.ok(status.window && status.window.from <= status.window.to);
  });

  test('a restore point and a transaction behind a newer base backup restore from the base backup before them', async () => {
    const client = new pg.Client({ connectionString: source.pg.url('postgres') });
    await client.connect();
    let xid: string;
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO markers (id, batch) SELECT g, 'x' FROM generate_series(401, 405) g`);
      xid = (await client.query<{ xid: string }>('SELECT txid_current()::text AS xid')).rows[0]!.xid;
      await client.query('COMMIT');
      await client.query(`SELECT pg_create_restore_point('before-damage')`);
      await client.query(`DELETE FROM markers WHERE batch = 'a'`); // the damage, found the next day
    } finally {
      await client.end();
    }
    const nightly = await baseBackup(); // taken after the damage
    await write(source.pg, 'g', 501, 5);
    await archiveNow();
    const expected = { a: 90, a0: 10, b: 100, c: 100, e: 20, f: 20, x: 5 };
    const byName = await pitr({ target: 'name:before-damage' });
    assert.equal(byName.baseBackupId, later.backupId, `not the newest base backup ${nightly.backupId}, which comes after the restore point`);
    assert.deepEqual(await batches(byName), expected);
    const byXid = await pitr({ target: `xid:${xid}` });
    assert.equal(byXid.baseBackupId, later.backupId);
    assert.deepEqual(await batches(byXid), expected);
    await assert.rejects(waitFor(await startPitr(stack.env.client, source.config, { database: 'app', target: 'name:no-such-point', datadir: join(scratch, 'never') })), (error: unknown) => {
      assert.ok(error instanceof PgwardenError);
      assert.equal(error.kind, 'NotFound');
      assert.match(error.message, /restore point "no-such-point" is not in the archived WAL .* --backup/);
      return true;
    });
  });

  test('a segment missing after the target does not block restoring to before it, along any timeline', async () => {
    // The padding segment of timeline 1 lies between batch a and the switch to timeline 2.
    const object = join(stack.s3.root, stack.bucket, 'backups', walKey('app', padding));
    renameSync(object, `${object}.away`);
    try {
      const result = await pitr({ target: afterA, backup: base.backupId, timeline: 2 });
      assert.deepEqual(await batches(result), { a: 90, a0: 10 });
      // A target after the hole is refused before anything is written, and the message says why.
      await assert.rejects(waitFor(await startPitr(stack.env.client, source.config, { database: 'app', target: afterB, backup: base.backupId, datadir: join(scratch, 'never') })), (error: unknown) => {
        assert.ok(error instanceof PgwardenError);
        assert.match(error.message, new RegExp(`WAL segment ${padding} .*missing`));
        return true;
      });
    } finally {
      renameSync(`${object}.away`, object);
    }
    assert.equal(existsSync(join(scratch, 'never')), false);
  });

  test('a data directory that would run a command is refused before anything is written', async () => {
    const marker = join(tmpdir(), `pgwarden-test-pwned-${process.pid}`);
    const datadir = join(scratch, `evil$(touch ${marker})`);
    await assert.rejects(waitFor(await startPitr(stack.env.client, source.config, { database: 'app', target: 'latest', datadir })), (error: unknown) => {
      assert.ok(error instanceof PgwardenError, String(error));
      assert.equal(error.kind, 'Usage');
      assert.match(error.message, /--datadir .* has a character/);
      return true;
    });
    assert.equal(existsSync(marker), false, 'nothing ran');
    assert.equal(existsSync(join(scratch, 'evil$(touch ')), false, 'nothing was created');
    // A backup id that would leave the database's folder of the repository.
    await assert.rejects(waitFor(await startPitr(stack.env.client, source.config, { database: 'app', target: 'latest', backup: '../../elsewhere/base/x', datadir: join(scratch, 'never') })), (error: unknown) => {
      assert.ok(error instanceof PgwardenError, String(error));
      assert.equal(error.kind, 'Usage');
      return true;
    });
  });

  test('a corrupted archived segment stops recovery instead of ending it early', async () => {
    // The segment the base backup starts in: no recovery from it can skip it.
    const name = base.startWal;
    const object = join(stack.s3.root, stack.bucket, 'backups', walKey('app', name));
    const original = readFileSync(object);
    const damaged = Buffer.from(original);
    damaged[Math.floor(damaged.length / 2)]! ^= 0x20;
    writeFileSync(object, damaged);
    const datadir = join(scratch, 'corrupt');
    try {
      await assert.rejects(waitFor(await startPitr(stack.env.client, source.config, { database: 'app', target: 'latest', datadir, backup: base.backupId })), (error: unknown) => {
        assert.ok(error instanceof PgwardenError, String(error));
        assert.equal(error.kind, 'Integrity', error.message);
        assert.match(error.message, /corrupt/);
        return true;
      });
    } finally {
      writeFileSync(object, original);
    }
    assert.equal(existsSync(datadir), false, 'the failed restore was removed');
  });
});

describe('a base backup attempt Temporal gave up on', () => {
  test('leaves the folder to the attempt after it: no object and no data key in it is removed', async () => {
    const { repo } = openArchive(source.config, 'app');
    const folder = backupFolder('app', 'base', '20300101T000000Z-base-gone');
    // What the next attempt (on another worker, once this one's heartbeat timed out) has written by now.
    await repo.putBytes(`${folder}written-by-the-next-attempt`, Buffer.from('x'));
    // Archiving stops: pg_basebackup sends the files, then waits for its WAL to be archived, which does not happen.
    await source.pg.query('postgres', "ALTER SYSTEM SET archive_command = '/bin/false'");
    await source.pg.query('postgres', 'SELECT pg_reload_conf()');
    const env = new MockActivityEnvironment();
    // Given up (heartbeat timeout) in the middle of its copy: its data key is written, its upload under way.
    // The first report comes before the copy starts, the next ones while it hangs.
    let copying = 0;
    env.on('heartbeat', (progress: { phase?: string }) => {
      if (progress?.phase === 'copying files' && ++copying === 2) env.cancel('TIMED_OUT');
    });
    try {
      await assert.rejects(
        env.run(createActivities(source.config).takeBaseBackup, {
          database: 'app',
          backupId: '20300101T000000Z-base-gone',
          workflow: { namespace: 'default', workflowId: 'test-superseded', runId: 'test-superseded', startedAtMs: Date.now() },
        }),
      );
    } finally {
      await source.pg.query('postgres', 'ALTER SYSTEM RESET archive_command');
      await source.pg.query('postgres', 'SELECT pg_reload_conf()');
    }
    try {
      assert.ok(await repo.head(`${folder}written-by-the-next-attempt`), "the next attempt's object is still there");
      assert.ok(await repo.head(`${folder}${DATA_KEY_FILE}`), 'the data key is still there');
    } finally {
      await discardIncomplete(repo, folder);
    }
  });
});
