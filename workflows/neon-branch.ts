// The Neon part of a backup, as a saga of activities in the workflow history: make a branch of the parent with a
// read-only endpoint, wait for Neon's operations, check the branch through the connection the API gives, dump it
// (the caller's step), and delete the branch whatever happened, in a scope that cancellation cannot reach.
import { CancellationScope, patched, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { NeonBranchPoint, NeonDumpSource } from '../activities/providers/neon/backup-branch.js';
import type { NeonBackupBranch } from '../domain/backup.js';
import { NEON_API, NEON_API_STEP, NEON_HEARTBEATS, NEON_WAIT, NEON_WAIT_STEP, NON_RETRYABLE } from './policies.js';

export type { NeonDumpSource };

/** Deleting: tried longer, because a branch left behind costs money (retention and Neon's expiry catch it otherwise). */
const REMOVE: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE },
};

const before = { neon: proxyActivities<Activities>(NEON_API), wait: proxyActivities<Activities>(NEON_WAIT), remove: proxyActivities<Activities>(REMOVE) };
const beating = {
  neon: proxyActivities<Activities>(NEON_API_STEP),
  wait: proxyActivities<Activities>(NEON_WAIT_STEP),
  remove: proxyActivities<Activities>({ ...REMOVE, heartbeatTimeout: NEON_API_STEP.heartbeatTimeout! }),
};

/** The Neon steps' proxies: with heartbeat timeouts for runs from NEON_HEARTBEATS on, as their history says otherwise. */
export function neonSteps(): typeof beating {
  return patched(NEON_HEARTBEATS) ? beating : before;
}

/**
 * Runs `dump` against a branch made for backup `backupId` and deletes the branch afterwards, also when the dump
 * failed, was retried or the workflow was cancelled. The branch's fate is returned next to the dump's result: a
 * backup that succeeded is not failed by a delete that did not (retention deletes the branch later).
 */
export async function withNeonBackupBranch<T>(
  input: { database: string; backupId: string; workflowId: string; runId: string },
  dump: (source: NeonDumpSource) => Promise<T>,
): Promise<{ result: T; branch: NeonBackupBranch }> {
  const { neon, wait, remove } = neonSteps();
  let branchId: string | undefined;
  let point: NeonBranchPoint | undefined;
  let failure: unknown;
  let result: T | undefined;
  try {
    const branch = await neon.createNeonBackupBranch(input);
    branchId = branch.branchId;
    await wait.waitForNeonOperations({ database: input.database, branchId: branch.branchId, operationIds: branch.operationIds });
    point = await neon.inspectNeonBranch({ database: input.database, branchId: branch.branchId, endpointId: branch.endpointId });
    result = await dump({ branchId: branch.branchId, endpointId: branch.endpointId, point });
  } catch (error) {
    failure = error;
  }
  // Also when the create call failed after Neon made the branch: find it by its name and delete it.
  const cleanup = await CancellationScope.nonCancellable(() =>
    remove.deleteNeonBranch({ database: input.database, ...(branchId ? { branchId } : { branchName: `pgwarden-${input.database}-${input.backupId}` }) }),
  ).then(
    (r) => ({ deleted: r.deleted }),
    (error: Error) => ({ deleted: false, note: `the branch could not be deleted (${error.message}); retention deletes it later, Neon's expiry at the latest` }),
  );
  if (failure !== undefined) throw failure;
  return {
    result: result as T,
    branch: {
      branchId: point!.branchId,
      branchName: point!.branchName,
      parentBranchId: point!.parentId,
      ...(point!.parentLsn ? { parentLsn: point!.parentLsn } : {}),
      ...(point!.parentTimestamp ? { parentTimestamp: point!.parentTimestamp } : {}),
      createdAt: point!.createdAt,
      deleted: cleanup.deleted,
      ...('note' in cleanup ? { note: cleanup.note } : {}),
    },
  };
}
