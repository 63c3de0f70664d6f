import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsRepository } from '../../activities/storage/fs.js';
import { checkArchiveIdentity } from '../../activities/wal/archive.js';
import { takeLock } from '../../activities/wal/spool.js';

// The background pusher and a foreground wal-push share the spool's identity.json: one may read it while the other
// writes it. Seen in CI: "pgwarden: Unexpected end of JSON input" from wal-push --async.
test('an identity cache caught half written (empty) is asked of the archive again, and written whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-unit-'));
  try {
    const repo = new FsRepository('local', { type: 'fs', path: join(dir, 'repo') } as never);
    const local = { systemIdentifier: '7300000000000000001', walMagic: 0xd110, pgMajor: 15, segmentSize: 16 * 1024 * 1024 };
    const cache = join(dir, 'identity.json');
    writeFileSync(cache, ''); // another process has opened it for writing and not written yet
    await checkArchiveIdentity(repo, 'app', local, cache);
    assert.equal((JSON.parse(readFileSync(cache, 'utf8')) as { systemIdentifier: string }).systemIdentifier, local.systemIdentifier);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
    assert.ok(existsSync(cache));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The first segment reaches the archive from several pushes at once (wal-push --async in the foreground, the
// background pusher, its parallel pushes). Two create-only PUTs of the identity at the same moment are not atomic on
// every S3 server: versitygw kept one's bytes with the other's checksum, and every later read failed (CI, pitr-targets).
test('pushes that reach an empty archive at once write its identity once, one after another, never side by side', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-unit-'));
  try {
    let writing = 0;
    let mostAtOnce = 0;
    let identityWrites = 0;
    class SlowRepository extends FsRepository {
      override async putBytes(...args: Parameters<FsRepository['putBytes']>): Promise<boolean> {
        if (!args[0].endsWith('archive.json')) return super.putBytes(...args);
        identityWrites += 1;
        writing += 1;
        mostAtOnce = Math.max(mostAtOnce, writing);
        await new Promise((resolve) => setTimeout(resolve, 100)); // a slow server: the window two writers meet in
        try {
          return await super.putBytes(...args);
        } finally {
          writing -= 1;
        }
      }
    }
    const repo = new SlowRepository('local', { type: 'fs', path: join(dir, 'repo') } as never);
    const local = { systemIdentifier: '7300000000000000001', walMagic: 0xd110, pgMajor: 15, segmentSize: 16 * 1024 * 1024 };
    const cache = join(dir, 'identity.json');
    await Promise.all(Array.from({ length: 4 }, () => checkArchiveIdentity(repo, 'app', local, cache)));
    assert.equal(mostAtOnce, 1, 'two identity writes ran side by side');
    assert.equal(identityWrites, 1, 'the pushes that waited found the identity written and did not write it again');
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.lock')), [], 'the lock is released');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lock file still empty (its taker has not written its pid yet) is held, not taken as left by a crash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-unit-'));
  try {
    const lock = join(dir, 'push.lock');
    writeFileSync(lock, '');
    assert.equal(takeLock(lock), false);
    utimesSync(lock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    assert.equal(takeLock(lock), true, 'an empty lock a minute old was left by a crash');
    assert.equal(readFileSync(lock, 'utf8'), String(process.pid));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
