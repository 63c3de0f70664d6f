// pgwarden wal status --db NAME: the archive's range and gaps, the current RPO, and the restore window.
import { walStatus } from '../../activities/wal/status.js';
import type { CommandContext } from '../context.js';
import { databaseView } from '../../config/load.js';
import { neonRestoreWindow } from '../../activities/providers/neon/pitr-branch.js';
import { formatBytes, formatDuration } from '../output.js';

export async function walStatusCommand(ctx: CommandContext, options: { db: string }): Promise<void> {
  if (databaseView(ctx.config, options.db).settings.provider === 'neon') {
    const n = await neonRestoreWindow(ctx.config, options.db);
    ctx.out.result(n, () =>
      [
        `${n.database} is on Neon (project ${n.projectId}): Neon keeps its WAL, pgwarden archives none.`,
        `  history    ${formatDuration(n.historyRetentionSeconds * 1_000)} (the project's history window)${n.window.limitedBy === 'plan' ? `; the ${n.plan} plan keeps ${formatDuration(n.window.retentionSeconds * 1_000)}` : ''}`,
        `  restore    any moment from ${n.window.from} to ${n.window.to} of branch ${n.parentBranch.name}${n.window.limitedBy === 'project age' ? ` (the project was made ${n.projectCreatedAt})` : ''}: pgwarden pitr --db ${n.database} --to TIME`,
      ].join('\n'),
    );
    return;
  }
  const s = await walStatus(ctx.config, options.db);
  ctx.out.result(s, () => {
    const lines = [`WAL archive of ${s.database} in "${s.repository}" (${s.location}): ${s.files} files, ${formatBytes(s.storedBytes)}`];
    if (s.identity) lines.push(`  cluster    ${s.identity.systemIdentifier}, PostgreSQL ${s.identity.pgMajor ?? '?'}, ${formatBytes(s.identity.segmentSize)} segments`);
    if (s.timelines.length === 0) lines.push('  archived   nothing yet: is archive_command set to `pgwarden wal-push`?');
    for (const t of s.timelines) {
      const mark = t.timeline === s.timeline.timeline ? `  <- ${s.timeline.reason}` : '';
      lines.push(`  timeline ${t.timeline} ${t.first} … ${t.last} (${t.segments} segments)${mark}`);
    }
    if (s.sourceError) lines.push(`  source     not reachable (${s.sourceError}): measured on timeline ${s.timeline.timeline}, ${s.timeline.reason}`);
    else if (s.source?.walFile) lines.push(`  source     writes ${s.source.walFile} now (timeline ${s.source.timeline})`);
    lines.push(`  gaps       ${s.gaps.length === 0 ? 'none' : `${s.gaps.length}: ${s.gaps.slice(0, 5).join(', ')}${s.gaps.length > 5 ? ' …' : ''}`}`);
    const rpo = s.rpoMs === undefined ? '' : ` (RPO ${formatDuration(s.rpoMs)}: ${s.withinRpo ? 'met' : 'MISSED'})`;
    if (s.newest) lines.push(`  newest     ${s.newest.name}, closed ${formatDuration(s.newest.ageMs)} ago: that much could be lost now${rpo}`);
    else if (s.timelines.length > 0) lines.push(`  newest     nothing archived on timeline ${s.timeline.timeline}: is archive_command set on the server that writes it?${rpo}`);
    // Only what a restore can reach: a hole in the WAL that no base backup bridges splits the window.
    if (s.ranges.length === 0) lines.push('  restore    no window: take a base backup (`pgwarden basebackup`)');
    for (const [i, r] of s.ranges.entries()) {
      const gap = i < s.ranges.length - 1 ? `; not ${r.to} to ${s.ranges[i + 1]!.from} (WAL missing, no base backup in between)` : '';
      lines.push(`  restore    ${i === 0 ? 'any moment' : 'and'} from ${r.from} to ${r.to} (LSN ${r.fromLsn} to ${r.toLsn})${gap}`);
    }
    for (const b of s.baseBackups) {
      const state = !b.onTimeline
        ? `timeline ${b.timeline}, not on timeline ${s.timeline.timeline}'s history (--backup restores it along its own)`
        : b.restorable
          ? `restorable up to ${b.reachesTo}`
          : 'NOT restorable: WAL missing';
      lines.push(`  base       ${b.id}  consistent at ${b.stopTime}  ${state}`);
    }
    return lines.join('\n');
  });
}
