// A physical base backup of one cluster into its WAL archive's repository: the starting point of every PITR.
import { CancellationScope, CancelledFailure, isCancellation, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { BaseBackupInput, BaseBackupResult } from '../domain/basebackup.js';
import { checkInput } from './input.js';
import { discardFailedBackup } from './discard.js';
import { JOB_QUEUES, jobOptions, QUICK, STOP_BEFORE_CLEAN_UP, stopBeforeCleanUp } from './policies.js';
import { compactTimestamp, tagRun } from './tags.js';
import { holdDatabaseLock } from './lock.js';
import { baseBackupWorkflowId } from '../domain/ids.js';

const quick = proxyActivities<Activities>(QUICK);

export async function baseBackupWorkflow(raw: BaseBackupInput): Promise<BaseBackupResult> {
  const input = checkInput<BaseBackupInput>('baseBackupWorkflow', raw, { database: { type: 'string', required: true } }, '{"database": "cartly"}');
  tagRun(input.database, 'basebackup', 'base');
  await holdDatabaseLock(baseBackupWorkflowId(input.database), input.database, 'basebackup', 'A base backup');
  const info = workflowInfo();
  const startedAt = Date.now();
  // As for logical backups: the end of the (UUIDv7) run id is random, its start is a timestamp. Runs that began
  // before this change keep the id they already use.
  const runHex = info.runId.replace(/-/g, '');
  const backupId = `${compactTimestamp(startedAt)}-base-${patched('base-backup-id-from-random-run-id-part') ? runHex.slice(-4) : runHex.slice(0, 4)}`;
  const onJobQueue = patched(JOB_QUEUES);
  const stopFirst = patched(STOP_BEFORE_CLEAN_UP);
  const long = proxyActivities<Activities>(stopBeforeCleanUp(jobOptions(info.taskQueue, 'backups', onJobQueue), stopFirst));
  const prepared = await quick.prepareBaseBackup({ database: input.database });
  let taken;
  try {
    taken = await long.takeBaseBackup({
      database: input.database,
      backupId,
      workflow: { namespace: info.namespace, workflowId: info.workflowId, runId: info.runId, startedAtMs: info.runStartTime.getTime() },
    });
  } catch (error) {
    await CancellationScope.nonCancellable(() => discardFailedBackup({ database: input.database, backupId, repositories: [prepared.repository], type: 'base' }));
    // Cancelled while its copy failed on its own: the run ends cancelled, as it was asked to.
    if (stopFirst && !isCancellation(error) && CancellationScope.current().consideredCancelled) throw new CancelledFailure(`Base backup ${backupId} cancelled: ${String((error as Error).message)}`);
    throw error;
  }
  const { repository, backupId: id, ...rest } = taken;
  return { ...rest, backupId: id, repository, database: input.database, durationMs: Date.now() - startedAt, workflowId: info.workflowId, runId: info.runId };
}
