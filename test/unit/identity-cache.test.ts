import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsRepository } from '../../activities/storage/fs.js';
import { checkArchiveIdentity } from '../../activities/wal/archive.js';

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
