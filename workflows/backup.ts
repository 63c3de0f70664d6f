// The logical backup of one database: check, dump into the first repository, copy to the others.
import { ApplicationFailure, CancellationScope, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { BACKUP_KINDS, type BackupInput, type BackupResult } from './messages.js';
import { discardFailedBackup } from './discard.js';
import { LONG, QUICK } from './policies.js';
import { compactTimestamp, tagRun } from './tags.js';

const quick = proxyActivities<Activities>(QUICK);
const long = proxyActivities<Activities>(LONG);

export async function backupWorkflow(input: BackupInput): Promise<BackupResult> {
  const kind = input.kind ?? 'manual';
  if (typeof input.database !== 'string' || !BACKUP_KINDS.includes(kind)) {
    throw ApplicationFailure.nonRetryable(`Backup input must be {"database": "<name from pgwarden.yaml>", "kind": "${BACKUP_KINDS.join('|')}"}.`, 'Usage');
  }
  tagRun(input.database, 'backup', kind);
  const info = workflowInfo();
  const startedAt = Date.now();
  // Sortable by time; the run id suffix keeps two backups within one second apart.
  const backupId = `${compactTimestamp(startedAt)}-${kind}-${info.runId.replace(/-/g, '').slice(0, 4)}`;

  const prepared = await quick.prepareBackup({ database: input.database });
  let dumped;
  try {
    dumped = await long.dumpLogical({
      database: input.database,
      backupId,
      kind,
      workflow: { namespace: info.namespace, workflowId: info.workflowId, runId: info.runId, startedAtMs: info.runStartTime.getTime() },
    });
    for (const to of prepared.repositories.slice(1)) {
      await long.replicateBackup({ database: input.database, backupId, from: prepared.repositories[0]!, to });
    }
  } catch (error) {
    // Whatever failed, no half backup stays visible and no multipart upload keeps costing money.
    await CancellationScope.nonCancellable(() => discardFailedBackup({ database: input.database, backupId, repositories: prepared.repositories }));
    throw error;
  }

  const finishedAt = Date.now();
  return {
    backupId,
    database: input.database,
    kind,
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
    workflowId: info.workflowId,
    runId: info.runId,
  };
}

