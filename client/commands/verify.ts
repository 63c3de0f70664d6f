// pgwarden verify --db NAME [--backup ID|latest|all] [--wal]: reads the backups back and checks every object.
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { connectClient } from '../../worker/temporal.js';
import type { VerifyResult } from '../../domain/verify.js';
import { startVerify } from '../api.js';
import type { CommandContext } from '../context.js';
import { formatBytes, formatDuration } from '../output.js';
import { followWorkflow } from '../follow.js';

export async function verifyCommand(ctx: CommandContext, options: { db: string; backup: string; wal: boolean }): Promise<void> {
  const client = await connectClient(ctx.config);
  try {
    const handle = await startVerify(client, ctx.config, { database: options.db, backup: options.backup, wal: options.wal });
    const link = ctx.workflowLink(handle.workflowId, handle.firstExecutionRunId);
    ctx.out.info(`Verification of ${options.db} (${options.backup}${options.wal ? ' + WAL' : ''}) started: workflow ${handle.workflowId}${link ? `\n  ${link}` : ''}`);
    let result: VerifyResult;
    try {
      result = await followWorkflow<VerifyResult>(ctx, client, handle, handle.firstExecutionRunId, `the verification of ${options.db}`);
    } catch (error) {
      const report = await reportOfFailure<VerifyResult>(handle.result());
      if (report) ctx.out.info(describeVerify(report));
      throw error;
    }
    ctx.out.result(result, () => describeVerify(result));
  } finally {
    await client.connection.close();
  }
}

/** The report a failed drill or verification carries in its failure's details. */
export async function reportOfFailure<T>(result: Promise<unknown>): Promise<T | undefined> {
  try {
    await result;
    return undefined;
  } catch (error) {
    if (!(error instanceof WorkflowFailedError)) return undefined;
    for (let cause: unknown = error.cause; cause instanceof TemporalFailure; cause = cause.cause) {
      if (cause instanceof ApplicationFailure && cause.details?.[0]) return cause.details[0] as T;
    }
    return undefined;
  }
}

export function describeVerify(r: VerifyResult): string {
  const repositories = [...new Set(r.backups.map((b) => b.repository))];
  const what = `${r.backups.length} backup(s) in ${repositories.length} repositor${repositories.length === 1 ? 'y' : 'ies'}${r.wal ? ` and ${r.wal.segmentsChecked.toLocaleString('en-US')} WAL segment(s)` : ''}`;
  const lines = [`${r.ok ? 'Verified' : 'Verification FAILED:'} ${what} of ${r.database} in ${formatDuration(r.durationMs)} (${formatBytes(r.bytesRead)} read)${r.ok ? ': all intact' : ''}`];
  for (const b of r.backups) lines.push(`  ${b.ok ? 'ok     ' : 'DAMAGED'}  ${b.type.padEnd(7)} ${b.id}  ${b.repository}  ${b.objects} object(s), ${formatBytes(b.storedBytes)}`);
  if (r.wal) lines.push(`  ${r.wal.ok ? 'ok     ' : 'DAMAGED'}  WAL     ${r.wal.segmentsChecked.toLocaleString('en-US')} segment(s) in ${r.wal.repository}`);
  if (r.findings.length) {
    lines.push('Found:');
    for (const f of r.findings.slice(0, 20)) lines.push(`  ${f.problem.padEnd(10)} ${f.repository}: ${f.object}: ${f.detail}`);
    if (r.findings.length > 20) lines.push(`  … and ${r.findings.length - 20} more (--json lists all)`);
  }
  if (r.broken.length) {
    lines.push('What this breaks:');
    for (const b of r.broken) lines.push(`  - ${b}`);
  }
  if (!r.complete && r.ok) lines.push('  (a partial check: `--backup all --wal` covers everything)');
  return lines.join('\n');
}
