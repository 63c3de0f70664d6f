// The workflows under test, as the worker hosts them, beside fakes of the children they start: a fake child
// returns (or fails with) what the test's stub activity `fakeChild` says, so orchestration is tested without
// dumps, clusters or object storage.
import { ParentClosePolicy, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { Stubs } from './stubs.js';

export { drillWorkflow } from '../../workflows/drill.js';
export { pitrWorkflow, discardWhenBackWorkflow } from '../../workflows/pitr.js';
export { notifyWorkflow } from '../../workflows/notify.js';

const { fakeChild } = proxyActivities<Stubs>({ startToCloseTimeout: '1 minute', retry: { maximumAttempts: 1 } });

/** Stands in for the real restore (tested on the real stack): its result is the test's. */
export async function restoreWorkflow(input: unknown): Promise<unknown> {
  return fakeChild({ type: workflowInfo().workflowType, input });
}

export { databaseLockWorkflow } from '../../workflows/lock.js';

/**
 * A run that took database lock `lockId` and has ended, its lock still there: Temporal removes a real one (parent
 * close policy) a moment after its holder closed; here it stays until the test terminates it.
 */
export async function endedHolderWorkflow(lockId: string): Promise<void> {
  const info = workflowInfo();
  await startChild('databaseLockWorkflow', {
    workflowId: lockId,
    args: [{ database: 'app', operation: 'pitr', holder: { workflowId: info.workflowId, runId: info.runId, workflowType: info.workflowType } }],
    parentClosePolicy: ParentClosePolicy.ABANDON,
  });
}
