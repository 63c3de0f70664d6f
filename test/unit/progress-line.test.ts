// The CLI's progress line: counts of things done never read as more than there are, and name what they count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Output } from '../../client/output.js';
import type { Progress } from '../../domain/progress.js';

function line(progress: Progress): string {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    new Output(false).progress({ activity: 'recoverCluster', attempt: 1, progress });
  } finally {
    process.stderr.write = write;
  }
  return written.join('');
}

test('a count past its estimate is shown as a count, not as "7/4"', () => {
  const text = line({ phase: 'replaying WAL', bytesDone: 0, itemsDone: 7, itemsTotal: 4, itemsName: 'WAL segments' });
  assert.doesNotMatch(text, /7\/4/);
  assert.match(text, /7 WAL segments/);
  assert.match(line({ phase: 'restoring', bytesDone: 0, itemsDone: 3, itemsTotal: 4 }), /3\/4 objects/);
});

test('a step whose worker stopped heartbeating says so, instead of its last (old) progress or "queued"', async () => {
  const { statusesOf } = await import('../../client/watch.js');
  const { defaultPayloadConverter } = await import('@temporalio/common');
  const old = defaultPayloadConverter.toPayload({ phase: 'replaying WAL', bytesDone: 0, itemsDone: 3 });
  const pending = (state: number, lastFailure?: string) => ({
    raw: { pendingActivities: [{ activityType: { name: 'recoverCluster' }, attempt: 2, state, heartbeatDetails: { payloads: [old] }, ...(lastFailure ? { lastFailure: { message: lastFailure } } : {}) }] },
  });
  const [lost] = statusesOf(pending(1, 'activity Heartbeat timeout') as never);
  assert.match(lost!.progress!.phase, /its worker stopped answering/);
  assert.equal(lost!.lastFailure, 'activity Heartbeat timeout');
  const [running] = statusesOf(pending(2) as never);
  assert.equal(running!.progress!.phase, 'replaying WAL', 'a running step shows what it reports');
});
