// pgwarden pitr --db NAME --to TARGET: restores a base backup into a new data directory and replays WAL to TARGET.
import { randomUUID } from 'node:crypto';
import { leaseActivities } from '../../activities/hold/index.js';
import { checkPath } from '../../activities/pitr/commands.js';
import { pitrActivities } from '../../activities/pitr/index.js';
import { onLocalProgress } from '../../activities/progress.js';
import { parseRecoveryTarget } from '../../activities/wal/target.js';
import { connectClient } from '../../worker/temporal.js';
import type { PitrInput, PitrResult } from '../../domain/pitr.js';
import { pitrSteps } from '../../workflows/pitr.js';
import { startPitr } from '../api.js';
import type { CommandContext } from '../context.js';
import { databaseView } from '../../config/load.js';
import { neonPitrCommand } from './neon-pitr.js';
import { formatDuration } from '../output.js';
import { followWorkflow, runInForeground } from '../follow.js';

export interface PitrOptions {
  db: string;
  to: string;
  datadir?: string;
  port?: number;
  backup?: string;
  timeline?: number;
  archive: boolean;
  archiveAs?: string;
  local: boolean;
}

export async function pitrCommand(ctx: CommandContext, options: PitrOptions): Promise<void> {
  if (databaseView(ctx.config, options.db).settings.provider === 'neon') return neonPitrCommand(ctx, options);
  parseRecoveryTarget(options.to); // a malformed target fails here, before Temporal is involved
  const input: PitrInput = {
    database: options.db,
    target: options.to,
    archive: options.archive || options.archiveAs !== undefined,
    ...(options.archiveAs !== undefined ? { archiveAs: options.archiveAs } : {}),
    ...(options.timeline !== undefined ? { timeline: options.timeline } : {}),
    // Absolute only (as the README says): a relative path would mean the worker's directory, or the caller's.
    ...(options.datadir ? { datadir: checkPath(options.datadir, '--datadir') } : {}),
    ...(options.port ? { port: options.port } : {}),
    ...(options.backup ? { backup: options.backup } : {}),
  };
  if (options.local) {
    const r = await pitrLocally(ctx, input);
    ctx.out.result(r, () => describePitr(r));
    return;
  }
  const client = await connectClient(ctx.config);
  try {
    const handle = await startPitr(client, ctx.config, input);
    const link = ctx.workflowLink(handle.workflowId, handle.firstExecutionRunId);
    ctx.out.info(`Point-in-time restore of ${options.db} to ${options.to} started: workflow ${handle.workflowId}${link ? `\n  ${link}` : ''}`);
    const r = await followWorkflow<PitrResult>(ctx, client, handle, handle.firstExecutionRunId, `the point-in-time restore of ${options.db}`);
    ctx.out.result(r, () => describePitr(r));
  } finally {
    await client.connection.close();
  }
}

/** The workflow's steps in this process, for when Temporal itself is down. */
async function pitrLocally(ctx: CommandContext, input: PitrInput): Promise<PitrResult> {
  ctx.out.info(`Point-in-time restore of ${input.database} to ${input.target} without Temporal (--local)`);
  const steps = { ...pitrActivities(ctx.config), ...leaseActivities(ctx.config) };
  try {
    // Ctrl-C or SIGTERM stops it: the half-made data directory is removed.
    return await runInForeground(
      ctx.out,
      (signal) => {
        onLocalProgress((progress) => ctx.out.progress({ activity: 'pitr', attempt: 1, progress }), signal);
        return pitrSteps(steps, input, { workflowId: '(local)', runId: randomUUID(), now: () => Date.now(), protect: (fn) => fn() });
      },
      (signal) => `point-in-time restore stopped (${signal}): its data directory was removed.`,
    );
  } finally {
    onLocalProgress(undefined);
  }
}

export function describePitr(r: PitrResult): string {
  const rto = r.rtoMs === undefined ? '' : `: ${r.withinRto ? 'within' : 'OVER'} the RTO of ${formatDuration(r.rtoMs)}`;
  return [
    `Restored ${r.database} to ${r.target} in ${formatDuration(r.durationMs)}${r.attempts ? ` (${r.attempts} attempts: a worker stopped answering)` : ''}${rto}`,
    `  running    PostgreSQL on port ${r.port}, data directory ${r.datadir}, timeline ${r.timeline}` +
      (r.followedTimeline ? ` (recovered along timeline ${r.followedTimeline.timeline}: ${r.followedTimeline.reason})` : ''),
    `  connect    psql "${r.connection}"  (the source's users and passwords)`,
    `  reached    ${r.stoppedAt ?? `end of the archive at LSN ${r.reachedLsn}`}${r.lastTransactionAt ? `; last transaction ${r.lastTransactionAt}` : ''}`,
    ...(r.note ? [`  note       ${r.note}`] : []),
    `  timing     base backup ${formatDuration(r.baseRestoreMs)}, WAL replay ${formatDuration(r.recoveryMs)} (${r.segmentsRestored} segments)`,
    `  from       base backup ${r.baseBackupId}; restore window ${r.window.from} to ${r.window.to}`,
    r.archivesAs === r.database
      ? `  archives   into the archive of ${r.database} itself (--archive-as ${r.database}): it is meant to become the new primary`
      : r.archivesAs
        ? `  archives   as "${r.archivesAs}", beside ${r.database}'s archive (add it to pgwarden.yaml under databases: to take base backups of it)`
        : `  archives   nothing (--archive to archive under a name of its own)`,
    `  stop it    pg_ctl -D ${r.datadir} stop   (as the cluster's OS user)`,
    ...(r.leftBehind ?? []).map((l) => `  left       ${l.datadir} on ${l.host}, whose worker stopped answering: removed when that worker is back`),
  ].join('\n');
}
