// pgwarden basebackup --db NAME: a physical base backup (the start of every point-in-time restore).
import { connectClient } from '../../worker/temporal.js';
import type { BaseBackupResult } from '../../domain/basebackup.js';
import { startBaseBackup, workerWarning } from '../api.js';
import type { CommandContext } from '../context.js';
import { formatBytes, formatDuration } from '../output.js';
import { followWorkflow } from '../follow.js';

export async function baseBackupCommand(ctx: CommandContext, options: { db: string; wait: boolean }): Promise<void> {
  const client = await connectClient(ctx.config);
  try {
    const handle = await startBaseBackup(client, ctx.config, { database: options.db });
    const link = ctx.workflowLink(handle.workflowId, handle.firstExecutionRunId);
    ctx.out.info(`Base backup of ${options.db} started: workflow ${handle.workflowId}${link ? `\n  ${link}` : ''}`);
    if (!options.wait) {
      const warning = await workerWarning(client, ctx.config);
      if (warning) ctx.out.info(warning);
      ctx.out.result({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId }, () => 'started');
      return;
    }
    const r = await followWorkflow<BaseBackupResult>(ctx, client, handle, handle.firstExecutionRunId, `the base backup of ${options.db}`);
    ctx.out.result(r, () =>
      [
        `Base backup ${r.backupId} of ${r.database} finished in ${formatDuration(r.durationMs)} (copy ${formatDuration(r.copyMs)}, waiting for its WAL ${formatDuration(r.walWaitMs)})`,
        `  stored     ${formatBytes(r.storedBytes)} in ${r.repository} (${formatBytes(r.rawBytes)} of files)`,
        `  WAL        timeline ${r.timeline}, LSN ${r.startLsn} to ${r.stopLsn} (${r.startWal} … ${r.stopWal}): archived`,
        `  workflow   ${r.workflowId} run ${r.runId}`,
      ].join('\n'),
    );
  } finally {
    await client.connection.close();
  }
}
