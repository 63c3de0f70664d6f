// Removing what a failed or cancelled backup wrote, for as long as the repository takes to come back: the
// backup fails at once (and frees its database's lock), while a workflow of its own keeps trying to clean up.
import { ApplicationFailure, ParentClosePolicy, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { checkInput } from './input.js';
import { discardWorkflowId } from '../domain/ids.js';
import type { DiscardInput } from '../domain/backup.js';
import { QUICK, UNTIL_STORAGE_IS_BACK } from './policies.js';
import { tagRun } from './tags.js';

const quick = proxyActivities<Activities>(QUICK);
const patient = proxyActivities<Activities>(UNTIL_STORAGE_IS_BACK);

/** Retries the clean-up until the repository answers (up to a week; retention sweeps what is left after that). */
export async function discardBackupWorkflow(raw: DiscardInput): Promise<{ removed: number }> {
  const example = '{"database": "cartly", "backupId": "20261125T020000Z-daily-1a2b", "repositories": ["b2"], "type": "logical"}';
  const input = checkInput<DiscardInput>(
    'discardBackupWorkflow',
    raw,
    { database: { type: 'string', required: true }, backupId: { type: 'string', required: true }, type: { type: 'string', oneOf: ['logical', 'base'] }, writtenBy: { type: 'object' } },
    example,
    ['repositories'],
  );
  if (!Array.isArray(input.repositories) || !input.repositories.every((r) => typeof r === 'string')) {
    throw ApplicationFailure.nonRetryable(`discardBackupWorkflow input needs "repositories": a list of repository names. Expected JSON like ${example}`, 'Usage');
  }
  tagRun(input.database, 'discard', input.type ?? 'logical');
  return patient.discardIncompleteBackup(input);
}

/**
 * For a failed backup workflow, inside a non-cancellable scope: cleans up at once when the repository answers;
 * when it does not (the outage may be why the backup failed), hands the clean-up to discardBackupWorkflow.
 */
export async function discardFailedBackup(failed: DiscardInput): Promise<void> {
  // Only the activity's input grows (no new command): runs from before this replay the same.
  const { workflowId, runId } = workflowInfo();
  const input: DiscardInput = { ...failed, writtenBy: { workflowId, runId } };
  try {
    await quick.discardIncompleteBackup(input);
  } catch {
    await startChild(discardBackupWorkflow, {
      workflowId: discardWorkflowId(input.database, input.backupId),
      args: [input],
      taskQueue: workflowInfo().taskQueue,
      parentClosePolicy: ParentClosePolicy.ABANDON, // outlives the failed backup
    });
  }
}
