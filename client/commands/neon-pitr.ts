// pgwarden pitr for a Neon database: a branch of the parent at the target time, made and verified by a workflow.
import { randomUUID } from 'node:crypto';
import { neonActivities } from '../../activities/providers/neon/index.js';
import { parseNeonTarget } from '../../activities/providers/neon/pitr-branch.js';
import { connectClient } from '../../worker/temporal.js';
import { pitrWorkflowId } from '../../domain/ids.js';
import type { NeonPitrResult, PitrInput } from '../../domain/pitr.js';
import { neonPitrSteps, type neonPitrWorkflow } from '../../workflows/neon-pitr.js';
import { noWorkerWarning, startLockedWorkflow, workersPolling } from '../api.js';
import type { CommandContext } from '../context.js';
import { formatDuration } from '../output.js';
import { waitFor } from '../watch.js';
import { PgwardenError } from '../../domain/errors.js';

export async function neonPitrCommand(ctx: CommandContext, options: { db: string; to: string; datadir?: string; port?: number; backup?: string; archive: boolean; local: boolean }): Promise<void> {
  parseNeonTarget(options.to); // a malformed target fails here, before Temporal is involved
  const unusable = [options.datadir && '--datadir', options.port && '--port', options.backup && '--backup', options.archive && '--archive'].filter(Boolean);
  if (unusable.length) throw new PgwardenError('Usage', `${unusable.join(', ')} do not apply to a Neon database: its point-in-time restore is a branch that Neon makes.`);
  const input: PitrInput = { database: options.db, target: options.to };
  if (options.local) {
    ctx.out.info(`Point-in-time restore of ${options.db} to ${options.to} as a Neon branch, without Temporal (--local)`);
    const runId = randomUUID();
    const steps = neonActivities(ctx.config);
    // Outside Temporal the clean-up cannot ask whose run it is: it is told, so it deletes only this run's branch.
    const local = { ...steps, deleteNeonBranch: (i: Parameters<typeof steps.deleteNeonBranch>[0]) => steps.deleteNeonBranch({ ...i, runId }) };
    const r = await neonPitrSteps(local, input, { workflowId: '(local)', runId, now: () => Date.now(), protect: (fn) => fn() });
    ctx.out.result(r, () => describeNeonPitr(r));
    return;
  }
  const client = await connectClient(ctx.config);
  try {
    if (!(await workersPolling(client, ctx.config))) ctx.out.info(noWorkerWarning(ctx.config));
    const handle = await startLockedWorkflow<typeof neonPitrWorkflow>(client, ctx.config, 'neonPitrWorkflow', pitrWorkflowId(options.db), `A point-in-time restore of "${options.db}"`, [input], [
      ['database', options.db],
      ['operation', 'pitr'],
    ]);
    const link = ctx.workflowLink(handle.workflowId, handle.firstExecutionRunId);
    ctx.out.info(`Point-in-time restore of ${options.db} to ${options.to} started (a Neon branch): workflow ${handle.workflowId}${link ? `\n  ${link}` : ''}`);
    const r = await waitFor<NeonPitrResult>(handle, (status) => ctx.out.progress(status), undefined, undefined, ctx.config.temporal.outageWait);
    ctx.out.result(r, () => describeNeonPitr(r));
  } finally {
    await client.connection.close();
  }
}

export function describeNeonPitr(r: NeonPitrResult): string {
  const rto = r.rtoMs === undefined ? '' : `: ${r.withinRto ? 'within' : 'OVER'} the RTO of ${formatDuration(r.rtoMs)}`;
  const rows = r.tables.reduce((sum, t) => sum + t.rows, 0);
  return [
    `Restored ${r.database} to ${r.target} as Neon branch ${r.branchName} (${r.branchId}) in ${formatDuration(r.durationMs)}${rto}`,
    `  connect    psql "${r.connection}"  (the password of that role on ${r.parentBranch})`,
    `  verified   ${r.tables.length} table(s), ${rows} row(s)${r.comparedWith ? `: the tables of backup ${r.comparedWith}` : ''}`,
    ...r.tables.slice(0, 10).map((t) => `             ${t.table}: ${t.rows}`),
    `  window     Neon keeps history from ${r.window.from} to ${r.window.to}`,
    `  keep/drop  the branch stays until you delete it: pgwarden branches delete --db ${r.database} --branch ${r.branchName}`,
  ].join('\n');
}
