// Restored copies that live on: a copy restored with --archive ends as a plain primary (no recovery settings left,
// no WAL left in its spool), its own base backups restore to its latest state, and a copy promoted to be the new
// primary (--archive-as the source's name, the old primary stopped) is backed up and restored in the source's place.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { clusterUser, LocalCluster } from '../../activities/postgres/cluster.js';
import { walKey } from '../../activities/wal/archive.js';
import { openArchive } from '../../activities/wal/open.js';
import { startBaseBackup, startPitr } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import type { Config } from '../../config/schema.js';
import type { BaseBackupResult } from '../../domain/basebackup.js';
import type { PitrInput, PitrResult } from '../../domain/pitr.js';
import { secretEnv, testConfig } from '../harness/config.js';
import { startArchivingCluster, type ArchivingCluster } from '../harness/archiving.js';
import { SUPERUSER } from '../harness/postgres.js';
import { startStack, type Stack } from '../harness/stack.js';

let stack: Stack;
let source: ArchivingCluster;
const restored: PitrResult[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'pgwarden-pitr-copies-'));
chmodSync(scratch, 0o755);

before(async () => {
  stack = await startStack();
  source = await startArchivingCluster(stack, 'app');
  await stack.worker(source.config);
  await source.pg.query('postgres', 'CREATE TABLE markers (id int PRIMARY KEY, batch text NOT NULL)');
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

function urlOf(copy: PitrResult, database = 'postgres'): string {
  return `postgresql://${SUPERUSER}:${encodeURIComponent(source.pg.password)}@127.0.0.1:${copy.port}/${database}`;
}

/** Runs SQL on a cluster (the source or a copy); with `switchWal`, closes its WAL segment and returns its name. */
async function run(url: string, sql: string, switchWal = false): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query(sql);
    if (switchWal) return (await client.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name')).rows[0]!.name;
    return (result.rows[0] as { v?: string } | undefined)?.v;
  } finally {
    await client.end();
  }
}

async function write(url: string, batch: string, from: number, count: number): Promise<void> {
  await run(url, `INSERT INTO markers (id, batch) SELECT g, '${batch}' FROM generate_series(${from}, ${from + count - 1}) g`);
}

async function waitArchived(name: string, archive: string, log: string): Promise<void> {
  const { repo } = openArchive(source.config, 'app');
  for (let i = 0; !(await repo.head(walKey(archive, name))); i += 1) {
    if (i > 300) throw new Error(`${name} not archived in ${archive}: ${readFileSync(log, 'utf8').slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function batches(copy: PitrResult): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: urlOf(copy) });
  await client.connect();
  try {
    const { rows } = await client.query<{ batch: string; n: string }>('SELECT batch, count(*) AS n FROM markers GROUP BY batch ORDER BY batch');
    return Object.fromEntries(rows.map((r) => [r.batch, Number(r.n)]));
  } finally {
    await client.end();
  }
}

async function pitr(config: Config, input: PitrInput): Promise<PitrResult> {
  const result = await waitFor<PitrResult>(await startPitr(stack.env.client, config, { datadir: join(scratch, `restore-${restored.length}`), ...input }));
  restored.push(result);
  return result;
}

/** The settings of postgresql.auto.conf that only recovery reads: a primary has none. */
function recoverySettingsLeft(copy: PitrResult): string[] {
  return readFileSync(join(copy.datadir, 'postgresql.auto.conf'), 'utf8')
    .split('\n')
    .filter((line) => /^\s*(recovery_target\w*|restore_command)\s*=/.test(line));
}

/** WAL segments left in the restore spool of a copy. */
function spooledWal(copy: PitrResult): string[] {
  const incoming = join(copy.datadir, 'pgwarden', 'spool', 'in');
  let files: string[] = [];
  try {
    files = readdirSync(incoming);
  } catch {
    /* no spool at all */
  }
  return files.filter((f) => /^[0-9A-F]{24}/.test(f));
}

/** A transaction on the source that inserts `batch`; its xid. */
async function xidOf(batch: string, from: number, count: number): Promise<string> {
  const client = new pg.Client({ connectionString: source.pg.url('postgres') });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query(`INSERT INTO markers (id, batch) SELECT g, '${batch}' FROM generate_series(${from}, ${from + count - 1}) g`);
    const xid = (await client.query<{ xid: string }>('SELECT txid_current()::text AS xid')).rows[0]!.xid;
    await client.query('COMMIT');
    return xid;
  } finally {
    await client.end();
  }
}

describe('restored copies that live on', () => {
  let copy: PitrResult;
  let copyConfig: Config;
  let xid: string;

  test('a copy restored with --archive to a transaction ends as a primary: no recovery settings, no spooled WAL', async () => {
    await write(source.pg.url('postgres'), 'a', 1, 10);
    await waitFor<BaseBackupResult>(await startBaseBackup(stack.env.client, source.config, { database: 'app' }));
    xid = await xidOf('x', 11, 5);
    // Several segments after the target: recovery's prefetching fetches some of them and stops before using them.
    for (let i = 0; i < 6; i += 1) {
      await write(source.pg.url('postgres'), 'later', 100 + i * 10, 10);
      const closed = await run(source.pg.url('postgres'), 'SELECT 1', true);
      await waitArchived(closed!, 'app', source.pg.cluster.logFile);
    }
    copy = await pitr(source.config, { database: 'app', target: `xid:${xid}`, archive: true });
    assert.deepEqual(await batches(copy), { a: 10, x: 5 });
    assert.match(copy.archivesAs ?? '', /^app-pitr-/);
    assert.deepEqual(spooledWal(copy), [], 'the WAL fetched ahead of recovery is gone once it ended');
    assert.deepEqual(recoverySettingsLeft(copy), [], 'postgresql.auto.conf keeps no recovery target and no restore_command');
  });

  test("a base backup of the copy restores to the copy's latest state, with the rows written on it", async () => {
    const input = structuredClone(source.input);
    input.temporal = { ...input.temporal!, taskQueue: `${input.temporal!.taskQueue}-copy` };
    input.databases![copy.archivesAs!] = {
      ...input.databases!.app!,
      connection: { env: secretEnv(urlOf(copy), 'PGWARDEN_TEST_DB_URL') },
    };
    copyConfig = testConfig(input);
    await stack.worker(copyConfig);

    await write(urlOf(copy), 'copy-1', 1001, 20);
    const backup = await waitFor<BaseBackupResult>(await startBaseBackup(stack.env.client, copyConfig, { database: copy.archivesAs! }));
    assert.equal(backup.timeline, 2);
    await write(urlOf(copy), 'copy-2', 1101, 30);
    const closed = await run(urlOf(copy), 'SELECT 1', true);
    await waitArchived(closed!, copy.archivesAs!, join(copy.datadir, 'pgwarden', 'recovery.log'));

    const again = await pitr(copyConfig, { database: copy.archivesAs!, target: 'latest' });
    assert.equal(again.baseBackupId, backup.backupId);
    assert.deepEqual(await batches(again), { a: 10, x: 5, 'copy-1': 20, 'copy-2': 30 }, 'every row written on the copy, not the first restore\'s target');
    assert.deepEqual(recoverySettingsLeft(again), []);
  });

  test('a copy promoted to be the new primary (--archive-as the source) is backed up and restored in its place', async () => {
    const primary = await pitr(source.config, { database: 'app', target: `xid:${xid}`, archive: true, archiveAs: 'app' });
    assert.equal(primary.archivesAs, 'app');
    assert.deepEqual(recoverySettingsLeft(primary), []);
    // The old primary is gone; pgwarden.yaml now points at the new one.
    await source.pg.cluster.stop('fast');
    const input = structuredClone(source.input);
    input.temporal = { ...input.temporal!, taskQueue: `${input.temporal!.taskQueue}-promoted` };
    input.databases!.app = { ...input.databases!.app!, connection: { env: secretEnv(urlOf(primary), 'PGWARDEN_TEST_DB_URL') } };
    const promoted = testConfig(input);
    await stack.worker(promoted);

    await write(urlOf(primary), 'promoted-1', 2001, 20);
    const backup = await waitFor<BaseBackupResult>(await startBaseBackup(stack.env.client, promoted, { database: 'app' }));
    assert.equal(backup.timeline, primary.timeline);
    await write(urlOf(primary), 'promoted-2', 2101, 30);
    const closed = await run(urlOf(primary), 'SELECT 1', true);
    await waitArchived(closed!, 'app', join(primary.datadir, 'pgwarden', 'recovery.log'));

    const again = await pitr(promoted, { database: 'app', target: 'latest' });
    assert.equal(again.baseBackupId, backup.backupId);
    assert.equal(again.followedTimeline?.timeline, primary.timeline, "the new primary's timeline");
    assert.deepEqual(await batches(again), { a: 10, x: 5, 'promoted-1': 20, 'promoted-2': 30 });
    assert.deepEqual(recoverySettingsLeft(again), []);
  });
});
