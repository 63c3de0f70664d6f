// The point-in-time restore's result says when the restored server became writable (promoted) apart from the whole
// recovery and the verification (issue 22): passed through from the activities' results, and absent, not invented,
// when the activities are of a worker from before (their results lack the fields; a replayed history too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PitrSteps } from '../../workflows/pitr.js';
import { pitrSteps } from '../../workflows/pitr.js';

const PLAN = {
  baseBackupId: 'base-1',
  datadir: '/restores/app',
  port: 6543,
  serverMajor: 15,
  settings: {},
  target: { kind: 'latest' },
  targetDescription: 'latest',
  timeline: 1,
  timelineReason: 'the current timeline',
  segments: 3,
  connectAs: { user: 'app', database: 'app' },
  notes: [],
  window: { from: '2026-12-01T00:00:00Z', to: '2026-12-02T00:00:00Z', fromLsn: '0/1000000', toLsn: '0/4000000' },
};

function steps(recovered: Record<string, unknown>, verified: Record<string, unknown>, base: Record<string, unknown> = {}): PitrSteps {
  return {
    planPitr: async () => PLAN,
    holdBackups: async () => ({ lease: 'l1' }),
    releaseBackups: async () => undefined,
    restoreBaseBackup: async () => ({ restoreMs: 10, bytes: 1, verified: true, ...base }),
    configureRecovery: async () => undefined,
    recoverCluster: async () => ({ recoveryMs: 20, segmentsRestored: 3, ...recovered }),
    verifyRestoredCluster: async () => ({ timeline: 2, reachedLsn: '0/4000100', databases: ['app', 'postgres'], ...verified }),
    discardRestoredCluster: async () => ({ removed: true }),
  } as unknown as PitrSteps;
}

const run = { workflowId: 'pitr-app', runId: 'r1', now: () => Date.now(), protect: <T>(fn: () => Promise<T>) => fn() };

test('the result has the time to writable, when, the verification apart from the recovery, and the WAL staged with the base backup', async () => {
  const result = await pitrSteps(
    steps({ promotedMs: 12, promotedAt: '2026-12-07T17:00:00.000Z' }, { verifyMs: 4 }, { staged: 5, filesMs: 6, stagedMs: 8 }),
    { database: 'app', target: 'latest' },
    run,
  );
  assert.equal(result.baseRestoreMs, 10);
  assert.equal(result.baseFilesMs, 6);
  assert.equal(result.walStagedMs, 8);
  assert.equal(result.walStaged, 5);
  assert.equal(result.recoveryMs, 20);
  assert.equal(result.promotedMs, 12);
  assert.equal(result.writableAt, '2026-12-07T17:00:00.000Z');
  assert.equal(result.verifyMs, 4);
});

test('activities of a worker from before (no such fields) give a result without them', async () => {
  const result = await pitrSteps(steps({}, {}), { database: 'app', target: 'latest' }, run);
  assert.equal(result.recoveryMs, 20);
  for (const field of ['promotedMs', 'writableAt', 'verifyMs', 'baseFilesMs', 'walStagedMs', 'walStaged']) assert.ok(!(field in result), `${field} absent`);
});
