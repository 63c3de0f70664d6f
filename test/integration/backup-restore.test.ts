// Logical backup and restore, end to end on real Temporal, PostgreSQL and S3 (versitygw): the data itself comes back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import pg from 'pg';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { listBackups } from '../../activities/catalog/list.js';
import { backupFolder, readManifest } from '../../activities/catalog/manifest.js';
import { openRepository } from '../../activities/storage/open.js';
import { startBackup, startRestore } from '../../client/api.js';
import { asPgwardenError, waitFor } from '../../client/watch.js';
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import { SEARCH_ATTRIBUTES } from '../../domain/ids.js';
import type { BackupResult } from '../../domain/backup.js';
import type { RestoreResult } from '../../domain/restore.js';
import { fingerprint, KITCHEN_SINK_SQL } from '../harness/fixtures.js';
import { startStack, type Stack } from '../harness/stack.js';

let stack: Stack;
let config: Config;
let first: BackupResult;

before(async () => {
  stack = await startStack();
  await stack.pg.query('postgres', 'CREATE DATABASE shop');
  await stack.pg.query('shop', KITCHEN_SINK_SQL);
  config = stack.config({ shop: { db: 'shop', repositories: ['s3', 'local'] } });
  await stack.worker(config);
});

after(async () => {
  await stack?.stop();
});

async function backup(kind: BackupResult['kind'] = 'manual'): Promise<BackupResult> {
  return waitFor<BackupResult>(await startBackup(stack.env.client, config, { database: 'shop', kind }));
}

async function restore(input: { backup: string; target: string; replaceExisting?: string; repository?: string }): Promise<RestoreResult> {
  return waitFor<RestoreResult>(await startRestore(stack.env.client, config, { database: 'shop', ...input }));
}

describe('a logical backup through Temporal', () => {
  test('stores every object with its sha256 and row counts, in both repositories, manifest last', async () => {
    first = await backup();
    assert.match(first.backupId, /^\d{8}T\d{6}Z-manual-[0-9a-f]{4}$/);
    assert.deepEqual(first.repositories, ['s3', 'local']);
    assert.ok(first.storedBytes > 0 && first.storedBytes < first.rawBytes, 'compressed');

    const source = await stack.pg.query<{ n: string }>('shop', 'SELECT count(*) AS n FROM big_rows');
    for (const repoName of ['s3', 'local']) {
      const repo = openRepository(config, repoName);
      const manifest = await readManifest(repo, backupFolder('shop', 'logical', first.backupId));
      assert.ok(manifest, `manifest in ${repoName}`);
      assert.equal(manifest.tables['public.big_rows'], Number(source.rows[0]!.n));
      assert.equal(manifest.tables['public.kitchen_sink'], 300);
      assert.equal(manifest.tables['"Weird Schema"."Order Items"'], 50);
      assert.equal(manifest.tables['public.empty_table'], 0);
      assert.equal(manifest.tables['public.events_2024'], 213);
      // Envelope encryption: the data key, wrapped for the passphrase (salted fingerprint), is in each copy.
      assert.equal(manifest.manifestVersion, 2);
      assert.ok(manifest.encryption.scheme === 'openpgp-envelope-v1');
      assert.deepEqual(manifest.encryption.keys.map((k) => k.type), ['passphrase']);
      assert.match(manifest.encryption.keys[0]!.fingerprint, /^scrypt:[0-9a-f]{32}:[0-9a-f]{16}$/);
      assert.ok(await repo.head(`${backupFolder('shop', 'logical', first.backupId)}${manifest.encryption.dataKey}`), `data key in ${repoName}`);
      assert.equal(manifest.temporal?.runId, first.runId);
      assert.ok(manifest.objects.filter((o) => o.role === 'data').length >= 3, 'large tables get streams of their own');
      const bigRowPieces = manifest.objects.filter((o) => o.tables?.includes('public.big_rows'));
      assert.ok(bigRowPieces.length >= 2, `the largest table is cut into block ranges (${bigRowPieces.length})`);
      for (const object of manifest.objects) {
        const stored = await repo.head(`${backupFolder('shop', 'logical', first.backupId)}${object.name}`);
        assert.equal(stored?.size, object.storedBytes, object.name);
      }
    }
    const uploads = await stack.s3.client.send(new ListMultipartUploadsCommand({ Bucket: stack.bucket }));
    assert.equal(uploads.Uploads?.length ?? 0, 0, 'no unfinished multipart uploads');
  });

  test('restores into a new database with identical rows, sequences, large objects and schema', async () => {
    const result = await restore({ backup: first.backupId, target: 'shop_copy' });
    assert.equal(result.rowCountsMatch, true);
    assert.deepEqual(result.mismatches, []);
    assert.equal(result.rtoMs, 3_600_000);
    assert.equal(result.withinRto, true);
    assert.deepEqual(await fingerprint(stack.pg.url('shop_copy')), await fingerprint(stack.pg.url('shop')));
    // Planner statistics from the first query on: every table with rows, and the expression index (its own).
    const unanalyzed = await stack.pg.query<{ name: string }>(
      'shop_copy',
      `SELECT c.oid::regclass::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
          AND pg_relation_size(c.oid) > 0
          AND NOT EXISTS (SELECT 1 FROM pg_statistic s WHERE s.starelid = c.oid) ORDER BY 1`,
    );
    assert.deepEqual(unanalyzed.rows.map((r) => r.name), [], 'tables with rows but no statistics');
    const expression = await stack.pg.query<{ n: string }>('shop_copy', "SELECT count(*)::text AS n FROM pg_statistic WHERE starelid = 'big_rows_payload_prefix_idx'::regclass");
    assert.equal(expression.rows[0]!.n, '1', 'the expression index has its statistics');
    assert.ok(result.phasesMs && Object.keys(result.phasesMs).includes('loading data'), `the restore reports its steps: ${JSON.stringify(result.phasesMs)}`);
    const comment = await stack.pg.query<{ c: string }>('postgres', "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = 'shop_copy'");
    assert.match(comment.rows[0]!.c, new RegExp(`backup ${first.backupId} of shop`));
  });

  test('restores "latest" from the second repository too', async () => {
    const result = await restore({ backup: 'latest', target: 'shop_from_fs', repository: 'local' });
    assert.equal(result.backupId, first.backupId);
    assert.deepEqual(await fingerprint(stack.pg.url('shop_from_fs')), await fingerprint(stack.pg.url('shop')));
  });

  test('is findable in Temporal by database and kind', async () => {
    const query = `${SEARCH_ATTRIBUTES.database.name} = "shop" AND ${SEARCH_ATTRIBUTES.kind.name} = "manual"`;
    let found: string[] = [];
    for (let i = 0; i < 50 && !found.includes(first.runId); i += 1) {
      found = [];
      for await (const run of stack.env.client.workflow.list({ query })) found.push(run.runId);
      if (!found.includes(first.runId)) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(found.includes(first.runId), `the backup's run is listed for: ${query}`);
  });

  test('refuses a second backup of the same database while one runs', async () => {
    const running = await startBackup(stack.env.client, config, { database: 'shop', kind: 'daily' });
    await assert.rejects(startBackup(stack.env.client, config, { database: 'shop', kind: 'manual' }), (error: unknown) => {
      assert.ok(error instanceof PgwardenError);
      assert.equal(error.kind, 'Refused');
      assert.match(error.message, /A backup of "shop" is already running/);
      return true;
    });
    const daily = await waitFor<BackupResult>(running);
    assert.equal(daily.kind, 'daily');
    const ids = (await listBackups(openRepository(config, 's3'), 'shop', 'logical')).map((m) => m.id);
    assert.deepEqual(ids, [first.backupId, daily.backupId], 'listed oldest first, the refused one never existed');
  });

  test('replaces an existing database only when its name is repeated, keeping the old one', async () => {
    await stack.pg.query('shop_copy', "INSERT INTO empty_table VALUES (1, 'written after the restore')");
    await assert.rejects(restore({ backup: first.backupId, target: 'shop_copy' }), (error: unknown) => {
      const e = asPgwardenError(error);
      assert.ok(e instanceof PgwardenError && e.kind === 'Refused');
      assert.match(e.message, /Database "shop_copy" already exists .* nothing was changed/);
      return true;
    });
    await assert.rejects(restore({ backup: first.backupId, target: 'shop_copy', replaceExisting: 'shop' }), /must repeat the target database's name/);
    const result = await restore({ backup: first.backupId, target: 'shop_copy', replaceExisting: 'shop_copy' });
    assert.ok(result.previousDatabaseKeptAs?.startsWith('shop_copy_before_'));
    const old = await stack.pg.query<{ v: string }>(result.previousDatabaseKeptAs!, 'SELECT v FROM empty_table');
    assert.equal(old.rows[0]?.v, 'written after the restore', 'the replaced database is kept as it was');
    const fresh = await stack.pg.query('shop_copy', 'SELECT * FROM empty_table');
    assert.equal(fresh.rowCount, 0, 'the target now holds the backup');
    const staging = (await stack.pg.databases()).filter((d) => d.includes('_pgwrestore_'));
    assert.deepEqual(staging, [], 'no staging database left behind');
  });
});

describe('a failing backup', () => {
  before(async () => {
    await stack.pg.query('postgres', 'CREATE DATABASE noisy');
    await stack.pg.query('noisy', 'CREATE EXTENSION pgcrypto; CREATE TABLE noise AS SELECT g AS id, gen_random_bytes(1000) AS junk FROM generate_series(1, 30000) g');
    // A large object: pg_dump's own data stream (sequences, large objects) is then big enough to die in the middle of.
    await stack.pg.query('noisy', "SELECT lo_from_bytea(0, string_agg(gen_random_bytes(1000), '')) FROM generate_series(1, 30000)");
  });

  /** A bin directory whose `tool` dies after 20 MB of its output (multipart uploads under way); the rest is real. */
  function failingBin(tool: 'pg_dump' | 'psql', when: string): string {
    const bin = mkdtempSync(join(tmpdir(), 'pgwarden-failing-bin-'));
    for (const name of ['pg_dump', 'psql']) {
      const real = `${serverBinDir()}/${name}`;
      const script =
        name === tool
          ? `#!/bin/bash\ncase "$*" in ${when}) ;; *) exec ${real} "$@" ;; esac\n${real} "$@" | head -c 20000000\necho "${name}: error: simulated failure" >&2\nexit 1\n`
          : `#!/bin/bash\nexec ${real} "$@"\n`;
      writeFileSync(join(bin, name), script);
      chmodSync(join(bin, name), 0o755);
    }
    return bin;
  }

  // pg_dump's data stream passes through Node (rows of extension tables counted); psql copies table rows out
  // (its script on stdin, its command tags into a pgwarden-copy-* directory).
  for (const [tool, when, chunkMiB] of [
    ['pg_dump', '*--section=data*', 0],
    ['psql', '*pgwarden-copy-*', 1],
  ] as const) {
    test(`${tool} dying mid-stream leaves no objects and no unfinished multipart upload, says why, and cancelling cleans up`, async (t) => {
      const failing = stack.config({ noisy: { db: 'noisy' } }, { postgres: { binDir: failingBin(tool, when) }, backup: { jobs: 2, splitTableMiB: 0.25, chunkMiB } });
      const worker = await stack.worker(failing);
      t.after(() => worker.stop()); // the next test's backups must not reach this worker
      const handle = await startBackup(stack.env.client, failing, { database: 'noisy', kind: 'manual' });

      let lastFailure = '';
      for (let i = 0; i < 300 && !lastFailure; i += 1) {
        const pending = (await handle.describe()).raw.pendingActivities?.[0];
        lastFailure = pending?.lastFailure?.message ?? '';
        if (!lastFailure) await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(lastFailure, new RegExp(`${tool === 'psql' ? 'psql \\(copying rows out\\)' : 'pg_dump'} failed for database "noisy"[^]*simulated failure`));
      const nothingStored = async (when: string) => {
        const objects = await stack.s3.client.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: 'backups/noisy/' }));
        assert.equal(objects.KeyCount ?? 0, 0, `${when}: no objects left: ${(objects.Contents ?? []).map((o) => o.Key).join(', ')}`);
        const uploads = await stack.s3.client.send(new ListMultipartUploadsCommand({ Bucket: stack.bucket, Prefix: 'backups/noisy/' }));
        assert.equal(uploads.Uploads?.length ?? 0, 0, `${when}: no unfinished multipart uploads`);
      };
      await nothingStored('after the failed attempt');

      await handle.cancel();
      await assert.rejects(waitFor(handle), /cancel/i);
      await nothingStored('after cancelling');
      assert.deepEqual(await listBackups(openRepository(failing, 's3'), 'noisy', 'logical'), []);
    });
  }
  test('a cancelled backup cleans up after its dump has stopped, and the dump ends as cancelled, not as given up on', async (t) => {
    // pg_dump writes part of the table data, then hangs until it is killed: the dump is running when it is cancelled.
    const bin = mkdtempSync(join(tmpdir(), 'pgwarden-stalling-bin-'));
    for (const name of ['pg_dump', 'psql']) {
      const real = `${serverBinDir()}/${name}`;
      const script = name === 'pg_dump' ? `#!/bin/bash\ncase "$*" in *--section=data*) ;; *) exec ${real} "$@" ;; esac\n${real} "$@" | head -c 2000000\nexec sleep 3600\n` : `#!/bin/bash\nexec ${real} "$@"\n`;
      writeFileSync(join(bin, name), script);
      chmodSync(join(bin, name), 0o755);
    }
    const stalling = stack.config({ noisy: { db: 'noisy' } }, { postgres: { binDir: bin }, backup: { jobs: 2, splitTableMiB: 0.25 } });
    const worker = await stack.worker(stalling);
    t.after(() => worker.stop());
    const handle = await startBackup(stack.env.client, stalling, { database: 'noisy', kind: 'manual' });
    for (let i = 0; ; i += 1) {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      if (pending.some((a) => a.activityType?.name === 'dumpLogical' && Number(a.state) === 2 /* STARTED */ && a.heartbeatDetails)) break;
      assert.ok(i < 600, 'the dump started');
      await new Promise((r) => setTimeout(r, 100));
    }
    await handle.cancel();
    await assert.rejects(waitFor(handle), /cancel/i);

    const events = (await handle.fetchHistory()).events ?? [];
    const id = (e: (typeof events)[number] | undefined) => Number(String(e?.eventId));
    const dump = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'dumpLogical');
    const cleanUp = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'discardIncompleteBackup');
    const dumpEnd = events.find((e) =>
      [e.activityTaskCanceledEventAttributes, e.activityTaskFailedEventAttributes, e.activityTaskCompletedEventAttributes, e.activityTaskTimedOutEventAttributes].some(
        (a) => a && String(a.scheduledEventId) === String(dump?.eventId),
      ),
    );
    assert.ok(dumpEnd, 'the dump ended while its workflow was still running (its end is in the history)');
    assert.ok(dumpEnd.activityTaskCanceledEventAttributes, `the dump ended as cancelled, not ${JSON.stringify(dumpEnd.activityTaskFailedEventAttributes?.failure?.message)}`);
    assert.ok(cleanUp && id(dumpEnd) < id(cleanUp), 'the clean-up was scheduled after the dump had stopped');
    const objects = await stack.s3.client.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: 'backups/noisy/' }));
    assert.equal(objects.KeyCount ?? 0, 0, `no objects left: ${(objects.Contents ?? []).map((o) => o.Key).join(', ')}`);
    const uploads = await stack.s3.client.send(new ListMultipartUploadsCommand({ Bucket: stack.bucket, Prefix: 'backups/noisy/' }));
    assert.equal(uploads.Uploads?.length ?? 0, 0, 'no unfinished multipart uploads');
  });
});

describe('several backups at once on one worker', () => {
  const names = ['fleet_a', 'fleet_b', 'fleet_c', 'fleet_d'];
  before(async () => {
    for (const name of names) {
      await stack.pg.query('postgres', `CREATE DATABASE ${name}`);
      await stack.pg.query(name, "CREATE TABLE t AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS v FROM generate_series(1, 150000) g");
    }
  });

  test('run at most worker.maxConcurrentJobs dumps at a time; the others wait in Temporal and all complete', async (t) => {
    const limited = stack.config(Object.fromEntries(names.map((n) => [n, { db: n }])), { worker: { maxConcurrentJobs: 2 } });
    const worker = await stack.worker(limited);
    t.after(() => worker.stop());
    assert.equal(worker.worker.maxConcurrentJobs, 2);
    const handles = await Promise.all(names.map((database) => startBackup(stack.env.client, limited, { database, kind: 'manual' })));
    // Sample the databases being dumped, as PostgreSQL sees them at one instant: a dump holds its snapshot session
    // ("pgwarden backup snapshot") from its start to its end. (Describing the four runs one after another is no
    // snapshot: under load, a dump that ended while the next run was asked about was counted beside its successor.)
    const watcher = new pg.Client({ connectionString: stack.pg.url('postgres') });
    await watcher.connect();
    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await watcher.query<{ n: number }>("SELECT count(DISTINCT datname)::int AS n FROM pg_stat_activity WHERE datname = ANY($1) AND application_name = 'pgwarden backup snapshot'", [names]);
        most = Math.max(most, rows[0]!.n);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const results = await Promise.all(handles.map((h) => waitFor<BackupResult>(h)));
    sampling = false;
    await sampler;
    await watcher.end();
    assert.deepEqual(results.map((r) => r.rows), names.map(() => 150000));
    assert.equal(most, 2, `at most 2 dumps ran at once, and 2 did (observed ${most})`);
  });
});
