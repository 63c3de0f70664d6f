// wal-push and wal-fetch as PostgreSQL runs them: archiving a real cluster's WAL, refusing what must not mix.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { openArchive } from '../../activities/wal/open.js';
import { readArchiveIdentity, walKey } from '../../activities/wal/archive.js';
import { walKeyObject } from '../../activities/keys/wal-keys.js';
import { WAL_FETCH_EXIT } from '../../client/commands/wal.js';
import { CLI, startArchivingCluster, type ArchivingCluster } from '../harness/archiving.js';
import { startCluster, type TestCluster } from '../harness/postgres.js';
import { startStack, type Stack } from '../harness/stack.js';

let stack: Stack;
let source: ArchivingCluster;
let other: TestCluster;

before(async () => {
  stack = await startStack();
  source = await startArchivingCluster(stack, 'app');
  other = await startCluster(['wal_level = replica']);
});

after(async () => {
  await other?.stop();
  await source?.pg.stop();
  await stack?.stop();
});

/** Writes a little, switches to a new segment, and returns the name of the segment that was closed. */
async function closeSegment(pg: TestCluster): Promise<string> {
  await pg.query('postgres', 'CREATE TABLE IF NOT EXISTS t (id serial, at timestamptz DEFAULT now()); INSERT INTO t DEFAULT VALUES');
  const { rows } = await pg.query<{ name: string }>('postgres', 'SELECT pg_walfile_name(pg_switch_wal()) AS name');
  return rows[0]!.name;
}

async function waitArchived(name: string, timeoutMs = 30_000): Promise<void> {
  const { repo } = openArchive(source.config, 'app');
  const deadline = Date.now() + timeoutMs;
  while (!(await repo.head(walKey('app', name)))) {
    if (Date.now() > deadline) throw new Error(`${name} was not archived within ${timeoutMs / 1000}s: ${readFileSync(source.pg.cluster.logFile, 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function pgwarden(args: string[], options: { cwd?: string } = {}) {
  return execa(process.execPath, [CLI, '--config', source.configFile, ...args], { reject: false, all: true, ...options });
}

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe('the WAL archive', () => {
  let segment: string;
  const scratch = mkdtempSync(join(tmpdir(), 'pgwarden-wal-'));

  test('archive_command archives closed segments and records whose they are', async () => {
    segment = await closeSegment(source.pg);
    await waitArchived(segment);
    const identity = await readArchiveIdentity(openArchive(source.config, 'app').repo, 'app');
    const { rows } = await source.pg.query<{ sysid: string }>('postgres', 'SELECT system_identifier::text AS sysid FROM pg_control_system()');
    assert.equal(identity?.systemIdentifier, rows[0]!.sysid);
    assert.equal(identity?.pgMajor, 15);
    assert.equal(identity?.segmentSize, 16 * 1024 * 1024);
    // Encrypted with the day's data key, which the segment names and the archive holds, wrapped.
    const { repo } = openArchive(source.config, 'app');
    const keyId = (await repo.head(walKey('app', segment)))?.metadata?.['data-key'];
    assert.match(keyId ?? '', /^\d{8}-[0-9a-f]{8}$/);
    assert.ok(await repo.head(walKeyObject('app', keyId!)), 'the data key is in the archive');
  });

  test('wal-fetch restores a segment byte for byte; a missing one exits 1 (end of recovery)', async () => {
    const fetched = join(scratch, 'fetched');
    const run = await pgwarden(['wal-fetch', '--db', 'app', '--prefetch', '0', segment, fetched]);
    assert.equal(run.exitCode, WAL_FETCH_EXIT.restored, run.all);
    const original = join(source.pg.cluster.dataDir, 'pg_wal', segment);
    assert.equal(sha(fetched), sha(original));
    const missing = await pgwarden(['wal-fetch', '--db', 'app', 'FFFFFFFF0000000000000001', join(scratch, 'nope')]);
    assert.equal(missing.exitCode, WAL_FETCH_EXIT.notArchived, missing.all);
  });

  test('pushing an identical segment again succeeds; a different one under the same name is refused, never overwritten', async () => {
    const copy = join(scratch, 'pg_wal', segment);
    await execa('mkdir', ['-p', join(scratch, 'pg_wal')]);
    copyFileSync(join(source.pg.cluster.dataDir, 'pg_wal', segment), copy);
    const again = await pgwarden(['wal-push', '--db', 'app', copy]);
    assert.equal(again.exitCode, 0, again.all);
    const bytes = readFileSync(copy);
    bytes[100_000]! ^= 0xff;
    writeFileSync(copy, bytes);
    const different = await pgwarden(['wal-push', '--db', 'app', copy]);
    assert.notEqual(different.exitCode, 0);
    assert.match(different.all ?? '', /already archived .* with different content .* not overwriting it/);
    const fetched = join(scratch, 'after-refusal');
    await pgwarden(['wal-fetch', '--db', 'app', '--prefetch', '0', segment, fetched]);
    assert.equal(sha(fetched), sha(join(source.pg.cluster.dataDir, 'pg_wal', segment)), 'the archived copy is untouched');
  });

  test("another cluster's WAL is refused", async () => {
    const foreign = await closeSegment(other);
    const run = await pgwarden(['wal-push', '--db', 'app', join('pg_wal', foreign)], { cwd: other.cluster.dataDir });
    assert.notEqual(run.exitCode, 0);
    assert.match(run.all ?? '', /holds the WAL archive of "app" from cluster \d+ \(PostgreSQL 15\); this WAL comes from cluster \d+ .* refusing to mix/);
  });

  test('a corrupted archived segment makes wal-fetch fail with an exit code that stops recovery', async () => {
    const { repo } = openArchive(source.config, 'app');
    const key = walKey('app', segment);
    const object = join(stack.s3.root, stack.bucket, 'backups', key);
    const original = readFileSync(object);
    const damaged = Buffer.from(original);
    damaged[damaged.length - 100]! ^= 0x01;
    writeFileSync(object, damaged);
    try {
      const run = await pgwarden(['wal-fetch', '--db', 'app', '--prefetch', '0', segment, join(scratch, 'corrupt')]);
      assert.equal(run.exitCode, WAL_FETCH_EXIT.error, run.all);
      assert.match(run.all ?? '', /corrupt/);
    } finally {
      writeFileSync(object, original);
    }
    assert.ok(await repo.head(key));
  });

  test('history files are archived and fetched', async () => {
    const history = join(scratch, 'pg_wal', '00000002.history');
    writeFileSync(history, '1\t0/3000158\tno recovery target specified\n');
    chmodSync(history, 0o644);
    const push = await pgwarden(['wal-push', '--db', 'app', history], { cwd: source.pg.cluster.dataDir });
    assert.equal(push.exitCode, 0, push.all);
    const fetched = join(scratch, 'history-fetched');
    const run = await pgwarden(['wal-fetch', '--db', 'app', '00000002.history', fetched]);
    assert.equal(run.exitCode, 0, run.all);
    assert.equal(readFileSync(fetched, 'utf8'), '1\t0/3000158\tno recovery target specified\n');
  });
});
