// Waiting for a database's lock: each operation's workflow id is its lock (pgwarden-backup-<db>, …), so starting a
// child under that id while another run holds it fails with "already started"; the caller waits its turn.
import { executeChild, sleep, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';

/** How long a scheduled job waits for a run of the same operation on the database before it is skipped. */
export const SCHEDULED_WAIT_FOR_TURN_MS = 6 * 3_600_000;
/** How long a drill waits for a restore or PITR of the same database that someone else is running. */
export const DRILL_WAIT_FOR_TURN_MS = 2 * 3_600_000;
/** How long a pre-migration backup waits for other backups of the database before it gives up. */
export const PREMIGRATION_WAIT_FOR_TURN_MS = 6 * 3_600_000;
/** Between two tries to start a child whose lock another run holds. */
const TRY_AGAIN_EVERY = '1 minute';

/**
 * Runs child `type` as `workflowId` on this workflow's task queue, trying again while another run holds that id,
 * until `waitMs` have passed: then `tooLong` says what to throw (else the "already started" error itself).
 */
export async function childWhenFree<T>(type: string, workflowId: string, args: unknown[], waitMs: number, tooLong?: () => Error): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return (await executeChild(type, { workflowId, args, taskQueue: workflowInfo().taskQueue })) as T;
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      if (Date.now() > deadline) throw tooLong ? tooLong() : error;
      await sleep(TRY_AGAIN_EVERY);
    }
  }
}
