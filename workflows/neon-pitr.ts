// Point-in-time recovery of a Neon database: Neon keeps the history, so a restore is a branch of the parent at the
// target time (checked against the history window before anything is made), with a read-write endpoint, verified
// by counting rows. The branch stays until the user deletes it (`pgwarden branches delete`); a failed attempt
// deletes what it made.
import { ApplicationFailure, CancellationScope, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { NeonPitrResult, PitrInput } from '../domain/pitr.js';
import { neonSteps } from './neon-branch.js';
import type { RunContext } from './run-context.js';
import { tagRun } from './tags.js';

/** The activities a Neon point-in-time restore uses: Temporal proxies in the workflow, plain functions with --local. */
export type NeonPitrSteps = Pick<Activities, 'planNeonPitr' | 'createNeonPitrBranch' | 'waitForNeonOperations' | 'verifyNeonPitrBranch' | 'deleteNeonBranch'>;

export async function neonPitrWorkflow(input: PitrInput): Promise<NeonPitrResult> {
  if (typeof input?.database !== 'string' || typeof input?.target !== 'string') {
    throw ApplicationFailure.nonRetryable('PITR input needs {"database": "shop", "target": "2026-11-25T14:30:00Z" | "0/3000028" | "latest"}.', 'Usage');
  }
  tagRun(input.database, 'pitr');
  const info = workflowInfo();
  const { neon, wait } = neonSteps();
  const steps: NeonPitrSteps = {
    planNeonPitr: neon.planNeonPitr,
    createNeonPitrBranch: neon.createNeonPitrBranch,
    waitForNeonOperations: wait.waitForNeonOperations,
    verifyNeonPitrBranch: neon.verifyNeonPitrBranch,
    deleteNeonBranch: neon.deleteNeonBranch,
  };
  return neonPitrSteps(steps, input, { workflowId: info.workflowId, runId: info.runId, now: () => Date.now(), protect: (fn) => CancellationScope.nonCancellable(fn) });
}

export async function neonPitrSteps(steps: NeonPitrSteps, input: PitrInput, run: RunContext): Promise<NeonPitrResult> {
  const startedAt = run.now();
  const plan = await steps.planNeonPitr({ database: input.database, target: input.target, runId: run.runId, nowMs: startedAt });
  let branch: Awaited<ReturnType<NeonPitrSteps['createNeonPitrBranch']>> | undefined;
  let check: Awaited<ReturnType<NeonPitrSteps['verifyNeonPitrBranch']>>;
  try {
    branch = await steps.createNeonPitrBranch({ database: input.database, plan, workflowId: run.workflowId, runId: run.runId });
    await steps.waitForNeonOperations({ database: input.database, branchId: branch.branchId, operationIds: branch.operationIds });
    check = await steps.verifyNeonPitrBranch({ database: input.database, branchId: branch.branchId, endpointId: branch.endpointId });
  } catch (error) {
    // Nothing half-made stays: the branch (found by its name if its creation did not answer) is deleted.
    await run.protect(() => steps.deleteNeonBranch({ database: input.database, ...(branch ? { branchId: branch.branchId } : { branchName: plan.branchName }) })).catch(() => undefined);
    throw error;
  }
  const durationMs = run.now() - startedAt;
  return {
    database: input.database,
    target: plan.targetDescription,
    branchId: branch.branchId,
    branchName: branch.branchName,
    parentBranch: plan.parentName,
    connection: check.connection,
    tables: check.tables,
    ...(check.comparedWith ? { comparedWith: check.comparedWith } : {}),
    window: plan.window,
    durationMs,
    ...(plan.rtoMs !== undefined ? { rtoMs: plan.rtoMs, withinRto: durationMs <= plan.rtoMs } : {}),
    workflowId: run.workflowId,
    runId: run.runId,
  };
}
