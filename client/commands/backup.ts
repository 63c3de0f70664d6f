// pgwarden backup --db NAME [--kind K]: a logical backup through Temporal, with progress, waiting for the result.
import { BACKUP_KINDS, type BackupKind } from '../../domain/kinds.js';
import type { BackupResult } from '../../domain/backup.js';
import { PgwardenError } from '../../domain/errors.js';
import { startBackup, workerWarning } from '../api.js';
import type { CommandContext } from '../context.js';
import { formatBytes, formatDuration } from '../output.js';
import { followWorkflow } from '../follow.js';
import { connectClient } from '../../worker/temporal.js';

export async function backupCommand(ctx: CommandContext, options: { db: string; kind: string; wait: boolean }): Promise<void> {
  if (!BACKUP_KINDS.includes(options.kind as BackupKind)) {
    throw new PgwardenError('Usage', `--kind must be one of ${BACKUP_KINDS.join(', ')} (got "${options.kind}").`);
  }
  const client = await connectClient(ctx.config);
  try {
    const handle = await startBackup(client, ctx.config, { database: options.db, kind: options.kind as BackupKind });
    const link = ctx.workflowLink(handle.workflowId, handle.firstExecutionRunId);
    ctx.out.info(`Backup of ${options.db} started: workflow ${handle.workflowId}${link ? `\n  ${link}` : ''}`);
    if (!options.wait) {
      const warning = await workerWarning(client, ctx.config);
      if (warning) ctx.out.info(warning);
      ctx.out.result({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId }, () => `started; follow it with: temporal workflow show --workflow-id ${handle.workflowId} --follow`);
      return;
    }
    const result = await followWorkflow<BackupResult>(ctx, client, handle, handle.firstExecutionRunId, `the backup of ${options.db}`);
    ctx.out.result(result, () => describeBackup(result));
  } finally {
    await client.connection.close();
  }
}

export function describeBackup(r: BackupResult): string {
  const ratio = r.storedBytes > 0 ? (r.rawBytes / r.storedBytes).toFixed(1) : '-';
  return [
    `Backup ${r.backupId} of ${r.database} (${r.kind}) finished in ${formatDuration(r.durationMs)}`,
    `  stored     ${formatBytes(r.storedBytes)} in ${r.repositories.join(' + ')} (dump ${formatBytes(r.rawBytes)}, ${ratio}:1 compressed, encrypted)`,
    `  contents   ${r.tables} tables, ${r.rows.toLocaleString('en-US')} rows (counted while dumping)`,
    `  timing     dump ${formatDuration(r.dumpMs)}${r.firstByteMs !== undefined ? `, first byte ${formatDuration(r.firstByteMs)} after the workflow started` : ''}`,
    `  workflow   ${r.workflowId} run ${r.runId}`,
  ].join('\n');
}
