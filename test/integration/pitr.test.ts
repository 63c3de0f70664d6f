// Point-in-time recovery on real clusters: base backup, archived WAL, restore to a time, an LSN, the end,
// across a new timeline; refusals before anything is written; a corrupt segment stops recovery.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { clusterUser, LocalCluster } from '../../activities/postgres/cluster.js';
import { walKey } from '../../activities/wal/archive.js';
import { openArchive } from '../../activities/wal/open.js';
import { walStatus } from '../../activities/wal/status.js';
import { startBaseBackup, startPitr } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import { PgwardenError } from '../../config/errors.js';
import type { BaseBackupResult, PitrInput, PitrResult } from '../../workflows/messages.js';
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
});

async function write(pg: { query: (db: string, sql: string) => Promise<unknown> }, batch: string, from: number, count: number): Promise<void> {
  await pg.query('postgres', `INSERT INTO markers (id, batch) SELECT g, '${batch}' FROM generate_series(${from}, ${from + count - 1}) g`);
}

async function archiveNow(): Promise<void> {
  const { rows } = await source.pg.query<{ name: string }>('postgres', 'SELECT pg_walfile_name(pg_switch_wal()) AS name');
  await waitArchived(rows[0]!.name);
}

async function waitArchived(name: string): Promise<void> {
  const { repo } = openArchive(source.config, 'app');
  for (let i = 0; !(await repo.head(walKey('app', name))); i += 1) {
    if (i > 300) throw new Error(`${name} not archived: ${readFileSync(source.pg.cluster.logFile, 'utf8').slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
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

  test('a base backup completes once the WAL it needs is archived', async () => {
    await write(source.pg, 'a0', 1, 10);
    base = await waitFor<BaseBackupResult>(await startBaseBackup(stack.env.client, source.config, { database: 'app' }));
    assert.match(base.backupId, /-base-/);
    assert.equal(base.timeline, 1);
    assert.ok(base.storedBytes > 0);
    const { repo } = openArchive(source.config, 'app');
    assert.ok(await repo.head(walKey('app', base.stopWal)), 'the stop segment is archived');

    await write(source.pg, 'a', 11, 90);
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
      assert.match(error.message, /is outside what the archive covers: WAL is archived up to .* Restore window from base backup/);
      return true;
    });
    await assert.rejects(waitFor(await startPitr(stack.env.client, source.config, { database: 'app', target: '2001-01-01T00:00:00Z', datadir })), /is before the oldest base backup/);
    assert.equal(existsSync(datadir), false, 'no data directory was created');
  });

  test('a second PITR from a restored cluster follows its new timeline', async () => {
    // Restore to before batch b, let the copy archive (it becomes "the new primary"), write batch d there.
    const first = await pitr({ target: beforeB, archive: true });
    const url = `postgresql://${SUPERUSER}:${encodeURIComponent(source.pg.password)}@127.0.0.1:${first.port}/postgres`;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`INSERT INTO markers (id, batch) SELECT g, 'd' FROM generate_series(1001, 1050) g`);
    const { rows } = await client.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
    await client.end();
    assert.match(rows[0]!.name, /^00000002/);
    await waitArchived(rows[0]!.name);
    const second = await pitr({ target: 'latest' });
    assert.deepEqual(await batches(second), { a: 90, a0: 10, d: 50 }, 'timeline 2: batch d, not b and c');
    assert.equal(second.timeline, 3);
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
