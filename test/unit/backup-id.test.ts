// Backup ids: two backups of a database that start within one second still get different ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { backupIdOf } from '../../workflows/tags.js';

/** A UUIDv7 as Temporal servers make run ids: 48 bits of milliseconds first, then random bits. */
function uuidV7(ms: number): string {
  const hex = ms.toString(16).padStart(12, '0') + '7' + randomBytes(10).toString('hex').slice(0, 19);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

test('backups started in the same second by different runs get different ids (run ids are UUIDv7: time first)', () => {
  const at = Date.parse('2026-11-25T02:00:00.100Z');
  const ids = new Set(Array.from({ length: 20 }, (_, i) => backupIdOf(at + i * 40, 'pre-migration', uuidV7(at + i * 40))));
  assert.ok(ids.size >= 19, `${ids.size} distinct ids of 20: ${[...ids].join(', ')}`);
  for (const id of ids) assert.match(id, /^20261125T020000Z-pre-migration-[0-9a-f]{4}$/);
});

test('a retried run keeps its id', () => {
  const runId = uuidV7(Date.now());
  assert.equal(backupIdOf(0, 'daily', runId), backupIdOf(0, 'daily', runId));
});
