// The logical backup of one database: check, dump into the first repository, copy to the others.
import { CancellationScope, CancelledFailure, isCancellation, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { BACKUP_KINDS } from '../domain/kinds.js';
import type { BackupInput, BackupResult, NeonBackupBranch } from '../domain/backup.js';
import { withNeonBackupBranch, type NeonDumpSource } from './neon-branch.js';
import { discardFailedBackup } from './discard.js';
import { JOB_QUEUES, jobOptions, QUICK, STOP_BEFORE_CLEAN_UP, stopBeforeCleanUp } from './policies.js';
import { checkInput } from './input.js';
import { compactTimestamp, tagRun } from './tags.js';
import { holdDatabaseLock } from './lock.js';
import { backupWorkflowId } from '../domain/ids.js';

const quick = proxyActivities<Activities>(QUICK);

export async function backupWorkflow(raw: BackupInput): Promise<BackupResult> {
  const input = checkInput<BackupInput>('backupWorkflow', raw, { database: { type: 'string', required: true }, kind: { type: 'string', oneOf: BACKUP_KINDS }, migrationId: { type: 'string' } }, `{"database": "cartly", "kind": "${BACKUP_KINDS.join('|')}"}`);
  const kind = input.kind ?? 'manual';
  tagRun(input.database, 'backup', kind);
  await holdDatabaseLock(backupWorkflowId(input.database), input.database, 'backup', 'A backup');
  const info = workflowInfo();
  const startedAt = Date.now();
  // Sortable by time; a piece of the run id keeps two backups within one second apart. Run ids are UUIDv7, whose
  // first characters are a timestamp (the same for backups minutes apart): the last ones are random. Runs that
  // began before this change keep the id they already use.
  const runHex = info.runId.replace(/-/g, '');
  const backupId = `${compactTimestamp(startedAt)}-${kind}-${patched('backup-id-from-random-run-id-part') ? runHex.slice(-4) : runHex.slice(0, 4)}`;

  // The dump and the copies run on the backups job queue, where each worker takes only as many as it may run.
  const onJobQueue = patched(JOB_QUEUES);
  const stopFirst = patched(STOP_BEFORE_CLEAN_UP);
  const long = proxyActivities<Activities>(stopBeforeCleanUp(jobOptions(info.taskQueue, 'backups', onJobQueue), stopFirst));
  const migration = input.migrationId !== undefined ? { migrationId: input.migrationId } : {};
  const prepared = await quick.prepareBackup({ database: input.database, kind });
  let dumped;
  let neonBranch: NeonBackupBranch | undefined;
  try {
    const dumpAndCopy = async (neon?: NeonDumpSource) => {
      const output = await long.dumpLogical({
        database: input.database,
        backupId,
        kind,
        ...migration,
        workflow: { namespace: info.namespace, workflowId: info.workflowId, runId: info.runId, startedAtMs: info.runStartTime.getTime() },
        ...(neon ? { neon } : {}),
        repository: prepared.repositories[0]!,
      });
      for (const to of prepared.repositories.slice(1)) {
        await long.replicateBackup({ database: input.database, backupId, from: prepared.repositories[0]!, to });
      }
      return output;
    };
    if (prepared.provider === 'neon') {
      // Neon: the dump reads a branch made for it (the database as of one instant), deleted afterwards.
      ({ result: dumped, branch: neonBranch } = await withNeonBackupBranch({ database: input.database, backupId, workflowId: info.workflowId, runId: info.runId }, dumpAndCopy));
    } else {
      dumped = await dumpAndCopy();
    }
  } catch (error) {
    // Whatever failed, no half backup stays visible and no multipart upload keeps costing money.
    await CancellationScope.nonCancellable(() => discardFailedBackup({ database: input.database, backupId, repositories: prepared.repositories }));
    // Cancelled while its dump failed on its own (a storage outage): the run ends cancelled, as it was asked to.
    if (stopFirst && !isCancellation(error) && CancellationScope.current().consideredCancelled) throw new CancelledFailure(`Backup ${backupId} cancelled: ${String((error as Error).message)}`);
    throw error;
  }

  const finishedAt = Date.now();
  return {
    backupId,
    database: input.database,
    kind,
    ...migration,
    repositories: prepared.repositories,
    rawBytes: dumped.rawBytes,
    storedBytes: dumped.storedBytes,
    tables: dumped.tables,
    rows: dumped.rows,
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: new Date(finishedAt).toISOString(),
    durationMs: finishedAt - startedAt,
    dumpMs: dumped.dumpMs,
    ...(dumped.firstByteMs !== undefined ? { firstByteMs: dumped.firstByteMs } : {}),
    ...(neonBranch ? { neonBranch } : {}),
    workflowId: info.workflowId,
    runId: info.runId,
  };
}

