// pgwarden expire --db NAME [--dry-run]: retention as a workflow whose history says what was removed.
import { formatBytes } from '../../domain/format.js';
import { connectClient } from '../../worker/temporal.js';
import { expireWorkflowId } from '../../domain/ids.js';
import type { ExpireResult } from '../../domain/expire.js';
import { startLockedWorkflow } from '../api.js';
import type { CommandContext } from '../context.js';
import { followWorkflow } from '../follow.js';

export async function expireCommand(ctx: CommandContext, options: { db: string; dryRun: boolean }): Promise<void> {
  const client = await connectClient(ctx.config);
  try {
    const handle = await startLockedWorkflow(client, ctx.config, 'expireWorkflow', expireWorkflowId(options.db), `Retention of "${options.db}"`, [{ database: options.db, dryRun: options.dryRun }], [
      ['database', options.db],
      ['operation', 'expire'],
    ]);
    const r = await followWorkflow<ExpireResult>(ctx, client, handle, handle.firstExecutionRunId, `retention of ${options.db}`);
    ctx.out.result(r, () =>
      [
        `${r.dryRun ? 'Would remove' : 'Removed'} from ${r.database}: ${r.logical.length} logical backup(s), ${r.base.length} base backup(s), ${r.wal.count} WAL file(s) (${formatBytes(r.wal.bytes)})`,
        ...r.logical.map((l) => `  logical  ${l.id} in ${l.repository}: ${l.rule}`),
        ...r.base.map((b) => `  base     ${b.id} (consistent at ${b.stopTime}): before the PITR window`),
        ...(r.wal.count ? [`  wal      ${r.wal.first} … ${r.wal.last}: before ${r.wal.keepFrom}, where the oldest kept base backup starts`] : []),
        ...r.abandoned.map(
          (a) => `  abandoned ${a.type} ${a.id} in ${a.repository}: no manifest, last written ${a.lastWrittenAt} (${a.objects} objects, ${formatBytes(a.bytes)}): a backup that never finished`,
        ),
        ...r.held.map((h) => `  in use   ${h.type} ${h.id} in ${h.repository} stays: ${h.by.join('; ')}`),
        ...(r.neonBranches?.deleted ?? []).map((b) => `  neon     branch ${b.name} (${b.id}): ${b.reason}`),
        ...(r.locked ?? []).map((l) => `  skipped  ${l.what} in ${l.repository}: still locked (S3 Object Lock)${l.until ? ` until ${l.until}` : ''}; a later run removes it`),
        ...(r.damaged ?? []).map((d) => `  kept     ${d.type} backup ${d.id} in ${d.repository}, DAMAGED: ${d.reason}`),
        `Kept: ${r.kept.logical} logical, ${r.kept.base} base backup(s). Workflow ${r.workflowId} run ${r.runId} records it.`,
      ].join('\n'),
    );
  } finally {
    await client.connection.close();
  }
}
