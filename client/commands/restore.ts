// pgwarden restore --db NAME --backup ID|latest --into NEWDB [--table T…] [--schema S…]: through Temporal, or
// --local when Temporal is down.
import { randomUUID } from 'node:crypto';
import { leaseActivities } from '../../activities/hold/index.js';
import { restoreActivities } from '../../activities/restore/index.js';
import { onLocalProgress } from '../../activities/progress.js';
import { connectClient } from '../../worker/temporal.js';
import type { RestoreInput, RestoreResult } from '../../domain/restore.js';
import { restoreSteps } from '../../workflows/restore.js';
import { startRestore } from '../api.js';
import type { CommandContext } from '../context.js';
import { formatDuration } from '../output.js';
import { followWorkflow, runInForeground } from '../follow.js';

export interface RestoreOptions {
  db: string;
  backup: string;
  into: string;
  replaceExisting?: string;
  owner: boolean;
  privileges: boolean;
  repository?: string;
  table: string[];
  schema: string[];
  local: boolean;
}

export async function restoreCommand(ctx: CommandContext, options: RestoreOptions): Promise<void> {
  const input: RestoreInput = {
    database: options.db,
    backup: options.backup,
    target: options.into,
    noOwner: !options.owner,
    ...(options.privileges === false ? { noPrivileges: true } : {}),
    ...(options.replaceExisting !== undefined ? { replaceExisting: options.replaceExisting } : {}),
    ...(options.repository !== undefined ? { repository: options.repository } : {}),
    ...(options.table.length ? { tables: options.table } : {}),
    ...(options.schema.length ? { schemas: options.schema } : {}),
  };
  const result = options.local ? await restoreLocally(ctx, input) : await restoreThroughTemporal(ctx, input);
  ctx.out.result(result, () => describeRestore(result));
}

async function restoreThroughTemporal(ctx: CommandContext, input: RestoreInput): Promise<RestoreResult> {
  const client = await connectClient(ctx.config);
  try {
    const handle = await startRestore(client, ctx.config, input);
    const link = ctx.workflowLink(handle.workflowId, handle.firstExecutionRunId);
    ctx.out.info(`Restore of ${input.database} (${input.backup}) into ${input.target} started: workflow ${handle.workflowId}${link ? `\n  ${link}` : ''}`);
    return await followWorkflow<RestoreResult>(ctx, client, handle, handle.firstExecutionRunId, `the restore of ${input.database} into ${input.target}`);
  } finally {
    await client.connection.close();
  }
}

/** The workflow's steps in this process: for when Temporal itself is what is broken. */
async function restoreLocally(ctx: CommandContext, input: RestoreInput): Promise<RestoreResult> {
  ctx.out.info(`Restoring ${input.database} (${input.backup}) into ${input.target} without Temporal (--local)`);
  const steps = { ...restoreActivities(ctx.config), ...leaseActivities(ctx.config) };
  try {
    // Ctrl-C or SIGTERM stops the restore: its staging database is dropped, nothing else has changed.
    return await runInForeground(
      ctx.out,
      (signal) => {
        onLocalProgress((progress) => ctx.out.progress({ activity: 'restoreLogical', attempt: 1, progress }), signal);
        return restoreSteps(steps, input, { workflowId: '(local)', runId: randomUUID(), now: () => Date.now(), protect: (fn) => fn() });
      },
      (signal) => `restore stopped (${signal}): the restored copy was discarded; "${input.target}" and everything else are as they were.`,
    );
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
    ...(r.warnings ?? []).map((w) => `  WARNING    ${w}`),
    ...(r.leftOut ?? []).map((l) => `  left out  ${l}`),
    `  connect    psql "postgresql://…@${r.server}/${r.target}"`,
    `  workflow   ${r.workflowId} run ${r.runId}`,
  ].join('\n');
}
