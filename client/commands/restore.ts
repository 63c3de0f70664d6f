// pgwarden restore --db NAME --backup ID|latest --into NEWDB: through Temporal, or --local when Temporal is down.
import { randomUUID } from 'node:crypto';
import { restoreActivities } from '../../activities/restore.js';
import { onLocalProgress } from '../../activities/progress.js';
import { databaseView } from '../../config/load.js';
import { connectClient } from '../../worker/temporal.js';
import type { RestoreInput, RestoreResult } from '../../workflows/messages.js';
import { noWorkerWarning, startRestore, workersPolling } from '../api.js';
import type { CommandContext } from '../context.js';
import { formatDuration } from '../output.js';
import { waitFor } from '../watch.js';

export interface RestoreOptions {
  db: string;
  backup: string;
  into: string;
  replaceExisting?: string;
  owner: boolean;
  repository?: string;
  local: boolean;
}

export async function restoreCommand(ctx: CommandContext, options: RestoreOptions): Promise<void> {
  const input: RestoreInput = {
    database: options.db,
    backup: options.backup,
    target: options.into,
    noOwner: !options.owner,
    ...(options.replaceExisting !== undefined ? { replaceExisting: options.replaceExisting } : {}),
    ...(options.repository !== undefined ? { repository: options.repository } : {}),
  };
  const result = options.local ? await restoreLocally(ctx, input) : await restoreThroughTemporal(ctx, input);
  ctx.out.result(result, () => describeRestore(result));
}

async function restoreThroughTemporal(ctx: CommandContext, input: RestoreInput): Promise<RestoreResult> {
  const client = await connectClient(ctx.config);
  try {
    if (!(await workersPolling(client, ctx.config))) ctx.out.info(noWorkerWarning(ctx.config));
    const handle = await startRestore(client, ctx.config, input);
    const link = ctx.workflowLink(handle.workflowId, handle.firstExecutionRunId);
    ctx.out.info(`Restore of ${input.database} (${input.backup}) into ${input.target} started: workflow ${handle.workflowId}${link ? `\n  ${link}` : ''}`);
    return await waitFor<RestoreResult>(handle, (status) => ctx.out.progress(status));
  } finally {
    await client.connection.close();
  }
}

/** The same steps as the workflow, in this process: for when Temporal itself is what is broken. */
async function restoreLocally(ctx: CommandContext, input: RestoreInput): Promise<RestoreResult> {
  const started = Date.now();
  const runId = randomUUID();
  const activities = restoreActivities(ctx.config);
  ctx.out.info(`Restoring ${input.database} (${input.backup}) into ${input.target} without Temporal (--local)`);
  onLocalProgress((progress) => ctx.out.progress({ activity: 'restoreLogical', attempt: 1, progress }));
  try {
    const plan = await activities.planRestore({ ...input, runId });
    let restored;
    try {
      restored = await activities.restoreLogical({
        database: input.database,
        backupId: plan.backupId,
        repository: plan.repository,
        staging: plan.staging,
        noOwner: input.noOwner ?? false,
        provenance: `Restored by pgwarden (--local) from backup ${plan.backupId} of ${input.database} at ${new Date(started).toISOString()}`,
      });
    } catch (error) {
      await activities.dropStagingDatabase({ database: input.database, staging: plan.staging }).catch(() => undefined);
      throw error;
    }
    const published = await activities.publishRestore({
      database: input.database,
      staging: plan.staging,
      target: input.target,
      keepSuffix: new Date(started).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z'),
      ...(input.replaceExisting !== undefined ? { replaceExisting: input.replaceExisting } : {}),
    });
    const durationMs = Date.now() - started;
    const rtoMs = databaseView(ctx.config, input.database).rtoMs;
    return {
      database: input.database,
      backupId: plan.backupId,
      target: input.target,
      server: plan.server,
      durationMs,
      restoreMs: restored.restoreMs,
      ...(rtoMs !== undefined ? { rtoMs, withinRto: durationMs <= rtoMs } : {}),
      tables: restored.checks.length,
      rows: restored.checks.reduce((sum, c) => sum + c.actual, 0),
      rowCountsMatch: restored.mismatches.length === 0,
      mismatches: restored.mismatches,
      ...published,
      workflowId: '(local)',
      runId,
    };
  } finally {
    onLocalProgress(undefined);
  }
}

export function describeRestore(r: RestoreResult): string {
  const rto =
    r.rtoMs === undefined
      ? 'no RTO target for this environment'
      : `${r.withinRto ? 'within' : 'OVER'} the RTO of ${formatDuration(r.rtoMs)} (${Math.round((100 * r.durationMs) / r.rtoMs)}% used)`;
  return [
    `Restored backup ${r.backupId} of ${r.database} into database "${r.target}" on ${r.server} in ${formatDuration(r.durationMs)}: ${rto}`,
    `  verified   ${r.tables} tables, ${r.rows.toLocaleString('en-US')} rows: ${r.rowCountsMatch ? 'every row count matches the backup' : `${r.mismatches.length} tables differ`}`,
    ...(r.previousDatabaseKeptAs ? [`  replaced   the previous "${r.target}" is kept as "${r.previousDatabaseKeptAs}"; drop it once you are sure`] : []),
    `  connect    psql "postgresql://…@${r.server}/${r.target}"`,
    `  workflow   ${r.workflowId} run ${r.runId}`,
  ].join('\n');
}
