// Keys kept offline: a worker with public keys only (encryption.recipients, no passphrase) archives WAL and takes
// base backups without decrypting anything; a worker with the private key restores them to a point in time; what
// the public-keys-only worker cannot do, it refuses naming the operation and the key it needs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { clusterUser, LocalCluster } from '../../activities/postgres/cluster.js';
import { walKey } from '../../activities/wal/archive.js';
import { openArchive } from '../../activities/wal/open.js';
import { startBaseBackup, startPitr, startVerify } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import type { Config } from '../../config/schema.js';
import { PgwardenError } from '../../domain/errors.js';
import type { BaseBackupResult } from '../../domain/basebackup.js';
import type { PitrResult } from '../../domain/pitr.js';
import { startArchivingCluster, type ArchivingCluster } from '../harness/archiving.js';
import { testConfig } from '../harness/config.js';
import { makeKey, type TestKey } from '../harness/keys.js';
import { SUPERUSER } from '../harness/postgres.js';
import { startStack, type Stack } from '../harness/stack.js';

let stack: Stack;
let source: ArchivingCluster;
let ops: TestKey;
let restorer: Config;
const restored: PitrResult[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'pgwarden-pitr-offline-'));
chmodSync(scratch, 0o755);

before(async () => {
  stack = await startStack();
  ops = await makeKey('pgwarden ops offline');
  chmodSync(dirname(ops.publicFile), 0o711); // the cluster's OS user reads the public key (wal-push); the private key stays 0600
  // The source and its worker: public keys only, as on the database host of "keys kept offline".
  source = await startArchivingCluster(stack, 'app', { overrides: { encryption: { recipients: [{ file: ops.publicFile }] } } });
  await stack.worker(source.config);
  // Where restores run: the private key too, on a task queue of its own.
  const input = structuredClone(source.input);
  input.temporal = { ...input.temporal!, taskQueue: `${input.temporal!.taskQueue}-restorer` };
  input.encryption = { recipients: [{ file: ops.publicFile }], privateKeys: [{ file: ops.privateFile }] };
  restorer = testConfig(input);
  await stack.worker(restorer);
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

async function write(batch: string, from: number, count: number): Promise<void> {
  await source.pg.query('postgres', `INSERT INTO markers (id, batch) SELECT g, '${batch}' FROM generate_series(${from}, ${from + count - 1}) g`);
}

async function archiveNow(): Promise<void> {
  const { rows } = await source.pg.query<{ name: string }>('postgres', 'SELECT pg_walfile_name(pg_switch_wal()) AS name');
  const { repo } = openArchive(source.config, 'app');
  for (let i = 0; !(await repo.head(walKey('app', rows[0]!.name))); i += 1) {
    if (i > 300) throw new Error(`${rows[0]!.name} not archived: ${readFileSync(source.pg.cluster.logFile, 'utf8').slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
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

describe('keys kept offline', () => {
  let base: BaseBackupResult;
  let afterB: string;

  test('a worker with public keys only takes a base backup', async () => {
    await write('a', 1, 10);
    base = await waitFor<BaseBackupResult>(await startBaseBackup(stack.env.client, source.config, { database: 'app' }));
    assert.equal(base.timeline, 1);
    await write('b', 11, 10);
    afterB = (await source.pg.query<{ lsn: string }>('postgres', 'SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
    await write('c', 21, 10);
    await archiveNow();
  });

  test('a worker with the private key restores that base backup to a point in time', async () => {
    const result = await waitFor<PitrResult>(await startPitr(stack.env.client, restorer, { database: 'app', target: afterB, datadir: join(scratch, 'restore') }));
    restored.push(result);
    assert.equal(result.baseBackupId, base.backupId);
    assert.deepEqual(await batches(result), { a: 10, b: 10 });
  });

  test('what the public-keys-only worker cannot do it refuses, naming the operation and the key', async () => {
    await assert.rejects(waitFor(await startPitr(stack.env.client, source.config, { database: 'app', target: 'latest', datadir: join(scratch, 'never') })), (error: unknown) => {
      assert.ok(error instanceof PgwardenError, String(error));
      assert.equal(error.kind, 'Config');
      assert.match(error.message, new RegExp(`which a restore needs\\. Run a restore on a machine that has the private key of OpenPGP key [0-9A-F]{40}`));
      return true;
    });
    await assert.rejects(waitFor(await startVerify(stack.env.client, source.config, { database: 'app' })), (error: unknown) => {
      assert.ok(error instanceof PgwardenError, String(error));
      assert.doesNotMatch(error.message, /the private key of keys/);
      assert.match(error.message, /which `pgwarden verify` needs\. Run `pgwarden verify` on a machine that has a private key/);
      return true;
    });
  });
});
