// The per-database lock for runs not started under it: a backup or restore started from the Temporal UI gets a
// random workflow id, so "the workflow id is the lock" alone would let it run beside a CLI or scheduled one. Such a
// run holds the lock id with a child of its own (databaseLockWorkflow) for as long as it runs.
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  condition,
  ParentClosePolicy,
  patched,
  proxyActivities,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import type { DatabaseLockInput } from '../domain/ids.js';
import { QUICK } from './policies.js';
import { checkInput } from './input.js';
import { tagRun } from './tags.js';

/** Patch id: runs under another id than their lock's take the lock (runs from before did not). */
export const LOCK_FOR_ANY_ID = 'database-lock-for-any-workflow-id';

/** Patch id: a run refused by the lock of a run that has ended waits for that lock to go (runs from before were refused). */
export const LOCK_AFTER_ENDED_HOLDER = 'database-lock-waits-for-an-ended-holder';

const quick = proxyActivities<Activities>(QUICK);

/** Holds lock id (its own workflow id) until the run named `holder` ends: Temporal then terminates it (parent close policy). */
export async function databaseLockWorkflow(raw: DatabaseLockInput): Promise<void> {
  const input = checkInput<DatabaseLockInput>(
    'databaseLockWorkflow',
    raw,
    { database: { type: 'string', required: true }, operation: { type: 'string', required: true }, holder: { type: 'object', required: true } },
    '{"database": "cartly", "operation": "backup", "holder": {"workflowId": "…", "runId": "…", "workflowType": "backupWorkflow"}}',
  );
  tagRun(input.database, `lock-${input.operation}`);
  await condition(() => false);
}

/**
 * Takes the database lock `lockId` for this run unless the run is that id itself: a child under the lock id that
 * lives as long as this run. Another run holding it refuses this one (nothing done yet), naming the lock to look at.
 */
export async function holdDatabaseLock(lockId: string, database: string, operation: string, what: string): Promise<void> {
  const info = workflowInfo();
  if (info.workflowId === lockId || !patched(LOCK_FOR_ANY_ID)) return;
  const input: DatabaseLockInput = { database, operation, holder: { workflowId: info.workflowId, runId: info.runId, workflowType: info.workflowType } };
  for (let attempt = 1; ; attempt += 1) {
    try {
      // Not cancellable: a cancelled run keeps its lock while it cleans up; its end ends the child.
      await CancellationScope.nonCancellable(() =>
        startChild(databaseLockWorkflow, {
          workflowId: lockId,
          args: [input],
          taskQueue: info.taskQueue,
          parentClosePolicy: ParentClosePolicy.TERMINATE,
          cancellationType: ChildWorkflowCancellationType.ABANDON,
        }),
      );
      return;
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      // The holder may have just ended: Temporal terminates its lock a moment after it closed. Started in that
      // moment (a run from the UI right after another one), this run waits for it instead of being refused.
      if (attempt === 1 && patched(LOCK_AFTER_ENDED_HOLDER) && (await quick.lockReleased({ lockId }))) continue;
      throw ApplicationFailure.nonRetryable(
        `${what} of "${database}" is already running (workflow ${lockId}): one at a time per database, whatever the workflow id, so this run (${info.workflowId}) did nothing. ` +
          `Look at the running one: pgwarden status --db ${database}, or temporal workflow describe --workflow-id ${lockId}; start again once it has ended.`,
        'Refused',
      );
    }
  }
}
