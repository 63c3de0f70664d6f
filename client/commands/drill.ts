// pgwarden drill --db NAME: restores the latest backup (and, for PITR databases, the latest moment) into a drill
// database, checks it, drops it, and reports the times against the RTO and RPO.
import { connectClient } from '../../worker/temporal.js';
import type { DrillPart, DrillResult } from '../../domain/verify.js';
import { startDrill } from '../api.js';
import type { CommandContext } from '../context.js';
import { formatDuration } from '../output.js';
import { followWorkflow } from '../follow.js';
import { reportOfFailure } from './verify.js';

export async function drillCommand(ctx: CommandContext, options: { db: string; pitr?: boolean }): Promise<void> {
  const client = await connectClient(ctx.config);
  try {
    const handle = await startDrill(client, ctx.config, { database: options.db, ...(options.pitr === false ? { pitr: false } : {}) });
    const link = ctx.workflowLink(handle.workflowId, handle.firstExecutionRunId);
    ctx.out.info(`Restore drill of ${options.db} started: workflow ${handle.workflowId}${link ? `\n  ${link}` : ''}`);
    let result: DrillResult;
    try {
      result = await followWorkflow<DrillResult>(ctx, client, handle, handle.firstExecutionRunId, `the restore drill of ${options.db}`);
    } catch (error) {
      const report = await reportOfFailure<DrillResult>(handle.result());
      if (report) ctx.out.info(describeDrill(report));
      throw error;
    }
    ctx.out.result(result, () => describeDrill(result));
  } finally {
    await client.connection.close();
  }
}

function target(label: string, ms: number | undefined, limit: number | undefined, within: boolean | undefined): string {
  if (ms === undefined) return '';
  if (limit === undefined) return `${label} ${formatDuration(ms)}`;
  return `${label} ${formatDuration(ms)} (${within ? 'within' : 'OVER'} ${formatDuration(limit)})`;
}

function describePart(p: DrillPart): string[] {
  const head = p.type === 'logical' ? `logical   backup ${p.backupId ?? '?'}` : `pitr      to latest${p.backupId ? ` from base backup ${p.backupId}` : ''}`;
  const lines = [`  ${head}: ${p.passed ? 'passed' : 'FAILED'}`];
  const timing = [target('restore', p.restoreMs, p.rtoMs, p.withinRto), target('data age', p.dataAgeMs, p.rpoMs, p.withinRpo)].filter(Boolean).join(', ');
  if (timing) lines.push(`            ${timing}`);
  if (p.rowCountsMatch !== undefined) lines.push(`            ${p.tables} tables, ${(p.rows ?? 0).toLocaleString('en-US')} rows: ${p.rowCountsMatch ? 'every row count matches the manifest' : 'row counts DIFFER'}`);
  for (const a of p.assertions) lines.push(`            ${a.passed ? 'ok  ' : 'FAIL'} ${a.name}: ${a.detail}`);
  if (p.error) lines.push(`            error: ${p.error.split('\n')[0]}`);
  lines.push(`            ${p.cleanedUp ? `removed ${p.target ?? 'what it made'}` : `NOT removed: ${p.target}`}`);
  return lines;
}

export function describeDrill(r: DrillResult): string {
  return [
    `Restore drill of ${r.database}${r.server ? ` on ${r.server}` : ''}: ${r.passed ? 'PASSED' : 'FAILED'} in ${formatDuration(r.durationMs)}`,
    ...r.parts.flatMap(describePart),
    ...(r.passed ? [] : ['Why:', ...r.failures.map((f) => `  - ${f}`)]),
    `  workflow  ${r.workflowId} run ${r.runId}`,
  ].join('\n');
}
