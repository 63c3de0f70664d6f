// Point-in-time restores held to PostgreSQL's own precision and to the data directory given: a time target keeps
// its microseconds; a --datadir that is a symbolic link, or relative, is refused before anything is made; a failed
// restore removes every directory it made, the ones above its data directory too; `wal status` shows only the
// stretches of time a restore can reach when a hole splits the archive; a copy that archives nothing keeps no secret.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { clusterUser, LocalCluster } from '../../activities/postgres/cluster.js';
import { walKey } from '../../activities/wal/archive.js';
import { openArchive } from '../../activities/wal/open.js';
import { walStatus } from '../../activities/wal/status.js';
import { startBaseBackup, startPitr } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import { PgwardenError } from '../../domain/errors.js';
import type { BaseBackupResult } from '../../domain/basebackup.js';
import type { PitrInput, PitrResult } from '../../domain/pitr.js';
import { CLI, startArchivingCluster, type ArchivingCluster } from '../harness/archiving.js';
import { SUPERUSER } from '../harness/postgres.js';
import { startStack, type Stack } from '../harness/stack.js';

let stack: Stack;
let source: ArchivingCluster;
let base: BaseBackupResult;
const restored: PitrResult[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'pgwarden-pitr-targets-'));
chmodSync(scratch, 0o755);

before(async () => {
  stack = await startStack();
  source = await startArchivingCluster(stack, 'app', { extraConf: ['track_commit_timestamp = on'] });
  await stack.worker(source.config);
  await source.pg.query('postgres', 'CREATE TABLE markers (id int PRIMARY KEY, batch text NOT NULL)');
  base = await waitFor<BaseBackupResult>(await startBaseBackup(stack.env.client, source.config, { database: 'app' }));
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

async function archiveNow(): Promise<string> {
  const { rows } = await source.pg.query<{ name: string }>('postgres', 'SELECT pg_walfile_name(pg_switch_wal()) AS name');
  const { repo } = openArchive(source.config, 'app');
  for (let i = 0; !(await repo.head(walKey('app', rows[0]!.name))); i += 1) {
    if (i > 300) throw new Error(`${rows[0]!.name} not archived: ${readFileSync(source.pg.cluster.logFile, 'utf8').slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return rows[0]!.name;
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

async function pitr(input: Omit<PitrInput, 'database'>): Promise<PitrResult> {
  const result = await waitFor<PitrResult>(await startPitr(stack.env.client, source.config, { database: 'app', datadir: join(scratch, `restore-${restored.length}`), ...input }));
  restored.push(result);
  return result;
}

describe('point-in-time targets and data directories', () => {
  test('a time target keeps its microseconds: the transaction committed at exactly that time is restored', async () => {
    await write('a', 1, 10);
    // A commit whose time is not a whole millisecond (one in a thousand is: then another).
    let at = '';
    for (let id = 100; !at; id += 1) {
      await source.pg.query('postgres', `INSERT INTO markers (id, batch) VALUES (${id}, 'exact')`);
      // The commit timestamp is known only after the commit: read it back.
      const stamped = await source.pg.query<{ at: string; us: number }>(
        'postgres',
        `SELECT to_char(pg_xact_commit_timestamp(xmin) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at, ` +
          `extract(microseconds FROM pg_xact_commit_timestamp(xmin))::int % 1000 AS us FROM markers WHERE id = ${id}`,
      );
      if (stamped.rows[0]!.us !== 0) at = stamped.rows[0]!.at;
      else await source.pg.query('postgres', `DELETE FROM markers WHERE id = ${id}`);
    }
    await write('after', 1001, 10);
    await archiveNow();
    const result = await pitr({ target: at });
    assert.equal(result.target, `time ${at}`, 'the target as given, to the microsecond');
    assert.deepEqual(await batches(result), { a: 10, exact: 1 }, `the row committed at ${at} is there, the later ones are not`);
  });

  test('a restored copy that archives nothing keeps no secret in its environment once recovery has ended', async () => {
    const copy = restored[0]!;
    const pid = Number(readFileSync(join(copy.datadir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const names = readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .map((entry) => entry.slice(0, entry.indexOf('=')));
    assert.ok(names.length > 1, 'the environment was read');
    assert.deepEqual(
      names.filter((name) => /PASSPHRASE|S3_KEY|S3_SECRET|^AWS_/.test(name)),
      [],
      'no passphrase and no repository credentials in the postmaster of the copy',
    );
    assert.deepEqual(await batches(copy), { a: 10, exact: 1 }, 'the copy still answers, with its data');
  });

  test('a --datadir that is a symbolic link is refused before anything is written', async () => {
    const real = join(scratch, 'elsewhere');
    mkdirSync(real);
    const link = join(scratch, 'linked');
    symlinkSync(real, link);
    await assert.rejects(waitFor(await startPitr(stack.env.client, source.config, { database: 'app', target: 'latest', datadir: link })), (error: unknown) => {
      assert.ok(error instanceof PgwardenError, String(error));
      assert.equal(error.kind, 'Usage');
      assert.match(error.message, /symbolic link/);
      return true;
    });
    assert.deepEqual(readdirSync(real), [], 'nothing was written where the link points');
  });

  test('a relative --datadir is refused by the CLI, not resolved against its working directory', async () => {
    const file = join(scratch, 'pgwarden.yaml');
    writeFileSync(file, readFileSync(source.configFile));
    const run = await execa(process.execPath, [CLI, '--config', file, 'pitr', '--db', 'app', '--to', 'latest', '--datadir', 'relative/copy'], {
      cwd: scratch,
      reject: false,
      env: process.env,
    });
    assert.notEqual(run.exitCode, 0, run.stdout);
    assert.match(run.stderr, /--datadir must be an absolute path/);
    assert.equal(existsSync(join(scratch, 'relative')), false, 'nothing was created');
  });

  test('a failed restore removes what it made, the directories above its data directory too', async () => {
    // The segment the base backup starts in, damaged: recovery stops on it after the base backup was restored.
    const object = join(stack.s3.root, stack.bucket, 'backups', walKey('app', base.startWal));
    const original = readFileSync(object);
    const damaged = Buffer.from(original);
    damaged[Math.floor(damaged.length / 2)]! ^= 0x20;
    writeFileSync(object, damaged);
    const top = join(scratch, 'made-for-it');
    try {
      await assert.rejects(waitFor(await startPitr(stack.env.client, source.config, { database: 'app', target: 'latest', datadir: join(top, 'nested', 'data') })), /corrupt/);
    } finally {
      writeFileSync(object, original);
    }
    assert.equal(existsSync(top), false, 'the directories made for the data directory are gone too');
  });

  test('wal status shows only the stretches a restore can reach, not one window across a hole', async () => {
    await write('before-hole', 3001, 10);
    const lost = await archiveNow();
    await write('in-hole', 3101, 10);
    await archiveNow();
    const object = join(stack.s3.root, stack.bucket, 'backups', walKey('app', lost));
    renameSync(object, `${object}.away`);
    try {
      const after = await waitFor<BaseBackupResult>(await startBaseBackup(stack.env.client, source.config, { database: 'app' }));
      await write('after-hole', 3201, 10);
      await archiveNow();
      const status = await walStatus(source.config, 'app');
      assert.deepEqual(status.gaps, [lost]);
      assert.equal(status.window?.fromLsn, after.stopLsn, 'the window without a gap starts at the base backup after the hole');
      const shown = await execa(process.execPath, [CLI, '--config', source.configFile, 'wal', 'status', '--db', 'app'], { reject: false, env: process.env });
      assert.equal(shown.exitCode, 0, shown.stderr);
      assert.match(shown.stdout, /restore {4}any moment from \S+ to \S+ \(LSN [^)]+\); not \S+ to \S+ \(WAL missing, no base backup in between\)\n {2}restore {4}and from /);
      assert.equal(status.ranges.length, 2, JSON.stringify(status.ranges));
      assert.equal(status.ranges[0]!.fromLsn, base.stopLsn);
      assert.ok(Date.parse(status.ranges[0]!.to) < Date.parse(status.ranges[1]!.from), 'the hole lies between the two');
    } finally {
      renameSync(`${object}.away`, object);
    }
  });
});
