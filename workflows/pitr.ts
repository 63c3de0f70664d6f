// Point-in-time restore: plan and check coverage before anything is written, restore a base backup into a new
// data directory, replay archived WAL to the target, promote and verify. A failed attempt leaves nothing behind.
import { CancellationScope, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { PitrInput, PitrResult } from './messages.js';
import { checkInput } from './input.js';
import { LISTING, LONG, QUICK } from './policies.js';
import { tagRun } from './tags.js';
import type { RunContext } from './run-context.js';

const quick = proxyActivities<Activities>(QUICK);
const long = proxyActivities<Activities>(LONG);
const listing = proxyActivities<Activities>(LISTING); // the plan lists the WAL archive
// Recovery is not retried blindly: a target the WAL does not reach stays unreached.
const recover = proxyActivities<Activities>({ ...LONG, retry: { ...LONG.retry, maximumAttempts: 2 } });

/** The activities a point-in-time restore uses: Temporal proxies in the workflow, plain functions with --local. */
export type PitrSteps = Pick<Activities, 'planPitr' | 'restoreBaseBackup' | 'recoverCluster' | 'discardRestoredCluster'>;

export async function pitrWorkflow(started: PitrInput): Promise<PitrResult> {
  const input = checkInput<PitrInput>(
    'pitrWorkflow',
    started,
    {
      database: { type: 'string', required: true },
      target: { type: 'string', required: true },
      datadir: { type: 'string' },
      port: { type: 'integer' },
      backup: { type: 'string' },
      archive: { type: 'boolean' },
    },
    '{"database": "cartly", "target": "2026-11-25T14:30:00+01:00" | "0/3000028" | "xid:N" | "name:POINT" | "latest"}',
  );
  tagRun(input.database, 'pitr');
  const info = workflowInfo();
  const steps: PitrSteps = { planPitr: listing.planPitr, restoreBaseBackup: long.restoreBaseBackup, recoverCluster: recover.recoverCluster, discardRestoredCluster: quick.discardRestoredCluster };
  return pitrSteps(steps, input, { workflowId: info.workflowId, runId: info.runId, now: () => Date.now(), protect: (fn) => CancellationScope.nonCancellable(fn) });
}

export async function pitrSteps(steps: PitrSteps, input: PitrInput, run: RunContext): Promise<PitrResult> {
  const startedAt = run.now();
  const plan = await steps.planPitr({
    database: input.database,
    target: input.target,
    runId: run.runId,
    ...(input.backup ? { backup: input.backup } : {}),
    ...(input.datadir ? { datadir: input.datadir } : {}),
    ...(input.port ? { port: input.port } : {}),
  });
  let base;
  let recovered;
  try {
    base = await steps.restoreBaseBackup({ database: input.database, baseBackupId: plan.baseBackupId, datadir: plan.datadir, stage: plan.stage, ...(plan.runAs ? { runAs: plan.runAs } : {}) });
    recovered = await steps.recoverCluster({
      database: input.database,
      datadir: plan.datadir,
      port: plan.port,
      serverMajor: plan.serverMajor,
      settings: plan.settings,
      target: plan.target,
      segments: plan.segments,
      archive: input.archive ?? false,
      ...(plan.runAs ? { runAs: plan.runAs } : {}),
    });
  } catch (error) {
    await run.protect(() => steps.discardRestoredCluster({ datadir: plan.datadir, serverMajor: plan.serverMajor, ...(plan.runAs ? { runAs: plan.runAs } : {}) }));
    throw error;
  }
  const durationMs = run.now() - startedAt;
  return {
    database: input.database,
    target: plan.targetDescription,
    baseBackupId: plan.baseBackupId,
    datadir: plan.datadir,
    port: plan.port,
    connection: `postgresql://${plan.connectAs.user}@localhost:${plan.port}/${plan.connectAs.database}`,
    timeline: recovered.timeline,
    ...(recovered.lastTransactionAt ? { lastTransactionAt: recovered.lastTransactionAt } : {}),
    ...(recovered.stoppedAt ? { stoppedAt: recovered.stoppedAt } : {}),
    reachedLsn: recovered.reachedLsn,
    ...(plan.note ? { note: plan.note } : {}),
    window: plan.window,
    segmentsRestored: recovered.segmentsRestored,
    durationMs,
    baseRestoreMs: base.restoreMs,
    recoveryMs: recovered.recoveryMs,
    ...(plan.rtoMs !== undefined ? { rtoMs: plan.rtoMs, withinRto: durationMs <= plan.rtoMs } : {}),
    workflowId: run.workflowId,
    runId: run.runId,
  };
}
